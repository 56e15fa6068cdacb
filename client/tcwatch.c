/* tcwatch: subscribe to a node's TC port and print its snapshot, the
 * marker that ends it, then every change and link event, one line each,
 * until SIGINT or SIGTERM (DESIGN §10). */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "client/tcclient.h"
#include "client/tcclient_fmt.h"

#define TCWATCH_DEFAULT_SERVER "127.0.0.1:15012"
#define TCWATCH_CONNECT_MS     5000
#define TCWATCH_SEND_MS        5000

enum tcwatch_exit {
    TCWATCH_OK = 0,
    TCWATCH_USAGE = 1,
    TCWATCH_UNREACHABLE = 2,
};

struct tcwatch {
    const char *server;
    uint64_t from;
    bool json;
    struct tcclient *c;
    struct tc_buf line;
};

static const char usage_text[] =
        "usage: tcwatch [-s HOST:PORT] [--from SEQ] [--json]\n"
        "\n"
        "Subscribe to a tcnode's TC port and print, one line each: the snapshot\n"
        "of every DN (info), the snapshot-end marker, then every change with its\n"
        "sequence number (back-in-service, out-of-service, info, link-connected,\n"
        "link-disconnected) and every call the cluster's redirect servers decide\n"
        "(call: DN, SIP code, outcome, call type, origin->target node, contact,\n"
        "other DN, Call-ID), until interrupted.\n"
        "\n"
        "options:\n"
        "  -s, --server HOST:PORT  the node's TC port ([v6addr]:PORT for IPv6);\n"
        "                          default $TCCTL_SERVER, else " TCWATCH_DEFAULT_SERVER "\n"
        "  --from SEQ              resume after sequence SEQ instead of a snapshot\n"
        "  --json                  one JSON object per line\n"
        "  -h, --help              this text\n"
        "  --version               the version of tcwatch\n"
        "\n"
        "Exit codes: 0 after SIGINT or SIGTERM, 1 usage error, 2 the node cannot be\n"
        "reached or the connection dropped.\n";

#define usage_error(...) tcclient_usage_error("tcwatch", TCWATCH_USAGE, __VA_ARGS__)

/* The name of an event's kind, as printed; NULL for what is not printed. */
static const char *event_name(const Tc__Event *ev)
{
    switch (ev->body_case) {
    case TC__EVENT__BODY_ADDRESS_INFO:
        return "info";
    case TC__EVENT__BODY_DN_BACK_IN_SERVICE:
        return "back-in-service";
    case TC__EVENT__BODY_DN_OUT_OF_SERVICE:
        return "out-of-service";
    case TC__EVENT__BODY_REGISTERED:
        return "registered";
    case TC__EVENT__BODY_UNREGISTERED:
        return "unregistered";
    case TC__EVENT__BODY_LINK_CONNECTED:
        return "link-connected";
    case TC__EVENT__BODY_LINK_DISCONNECTED:
        return "link-disconnected";
    case TC__EVENT__BODY_SNAPSHOT_END:
        return "snapshot-end";
    case TC__EVENT__BODY_CALL_DELIVERED:
        return "call";
    default:
        return NULL;
    }
}

static const char *event_node(const Tc__Event *ev)
{
    if (ev->body_case == TC__EVENT__BODY_LINK_CONNECTED)
        return ev->link_connected->node;
    return ev->link_disconnected->node;
}

static void line_json(struct tc_buf *b, const Tc__Event *ev, const char *name)
{
    const Tc__DnState *s = tcclient_event_state(ev);

    tc_buf_printf(b, "{\"seq\":\"%" PRIu64 "\",\"event\":\"%s\"", ev->seq, name);
    if (s != NULL) {
        tc_buf_puts(b, ",");
        tcclient_json_dn(b, s, s->n_bindings > 0);
    } else if (ev->body_case == TC__EVENT__BODY_SNAPSHOT_END) {
        tc_buf_printf(b, ",\"count\":%" PRIu64, ev->snapshot_end->count);
    } else if (ev->body_case == TC__EVENT__BODY_CALL_DELIVERED) {
        tc_buf_puts(b, ",");
        tcclient_json_call(b, ev->call_delivered);
    } else {
        tc_buf_puts(b, ",\"node\":");
        tcclient_json_str(b, event_node(ev));
    }
    tc_buf_puts(b, "}\n");
}

static const char *dash(const char *s)
{
    return s != NULL && *s != '\0' ? s : "-";
}

/* DN, code, outcome, call type, origin -> target, contact, other DN,
 * Call-ID. */
static void line_call(struct tc_buf *b, const Tc__EventCallDelivered *c)
{
    tc_buf_printf(b, "  %-8s %3u %-10s %-8s %s->%s %s %s %s", dash(c->dn), (unsigned)c->code,
                  dash(c->outcome), tcclient_call_type_name(c->call_type), dash(c->origin),
                  dash(c->target), dash(c->contact), dash(c->other_dn), dash(c->call_id));
}

static void line_text(struct tc_buf *b, const Tc__Event *ev, const char *name)
{
    const Tc__DnState *s = tcclient_event_state(ev);
    char since[TCCLIENT_TIME_MAX], version[TCCLIENT_VERSION_MAX];

    tc_buf_printf(b, "%8" PRIu64 "  %-17s", ev->seq, name);
    if (s != NULL) {
        tc_buf_printf(b, "  %-8s %-5s %-8s %-4s %-24s %s", dash(s->dn),
                      tcclient_status_name(s->status), dash(s->owner),
                      dash(tcclient_source_name(s->source)),
                      tcclient_iso8601(s->since_unix_ms, since, sizeof(since)),
                      tcclient_dn_version(s, version, sizeof(version)));
    } else if (ev->body_case == TC__EVENT__BODY_SNAPSHOT_END) {
        tc_buf_printf(b, "  %" PRIu64 " DNs", ev->snapshot_end->count);
    } else if (ev->body_case == TC__EVENT__BODY_CALL_DELIVERED) {
        line_call(b, ev->call_delivered);
    } else {
        tc_buf_printf(b, "  %s", dash(event_node(ev)));
    }
    tc_buf_puts(b, "\n");
}

/* Print one event as one line and flush it, so a pipe sees it at once.
 * Opened and error events go to stderr. */
static void print_event(struct tcwatch *w, const Tc__Event *ev)
{
    const char *name = event_name(ev);

    if (ev->body_case == TC__EVENT__BODY_OPENED) {
        char epoch[TCCLIENT_TIME_MAX];

        /* The epoch is when the node's sequence began (its start). */
        fprintf(stderr, "tcwatch: subscribed to %s at seq %" PRIu64 " (sequence of %s)\n",
                dash(ev->opened->node), ev->opened->seq,
                tcclient_iso8601(ev->opened->epoch, epoch, sizeof(epoch)));
        return;
    }
    if (ev->body_case == TC__EVENT__BODY_ERROR) {
        fprintf(stderr, "tcwatch: %s: node error %d: %s\n", w->server, (int)ev->error->code,
                ev->error->text != NULL ? ev->error->text : "");
        return;
    }
    if (name == NULL)
        return;
    tc_buf_reset(&w->line);
    if (w->json)
        line_json(&w->line, ev, name);
    else
        line_text(&w->line, ev, name);
    if (w->line.data != NULL) {
        fputs(w->line.data, stdout);
        fflush(stdout);
    }
}

/* Block SIGINT and SIGTERM and return a signalfd that reads them. */
static int signals_fd(void)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
        return -errno;
    return signalfd(-1, &set, SFD_CLOEXEC);
}

/* Print events until a signal (0) or a connection error (negative). */
static int watch(struct tcwatch *w, int sfd)
{
    Tc__Event *ev;
    int rc;

    for (;;) {
        if (!tcclient_pending(w->c)) {
            struct pollfd p[2] = {{.fd = tcclient_fd(w->c), .events = POLLIN},
                                  {.fd = sfd, .events = POLLIN}};

            if (poll(p, 2, -1) < 0 && errno != EINTR)
                return -errno;
            if (p[1].revents != 0)
                return 0;
            if (p[0].revents == 0)
                continue;
        }
        rc = tcclient_next(w->c, 0, &ev);
        if (rc == -ETIMEDOUT)
            continue; /* part of a frame: wait for the rest */
        if (rc != 0)
            return rc;
        print_event(w, ev);
        tcclient_event_free(ev);
    }
}

static int parse_seq(const char *s, uint64_t *out)
{
    char *end;

    if (*s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return errno != 0 || *end != '\0' ? -EINVAL : 0;
}

/* Returns TCWATCH_OK, TCWATCH_USAGE, or -1 after printing the help. */
static int parse_args(int argc, char **argv, struct tcwatch *w)
{
    for (int i = 1; i < argc; i++) {
        bool missing = false;
        const char *v;

        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage_text, stdout);
            return -1;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("tcwatch %s (%s)\n", TC_VERSION, TC_GIT_REV);
            return -1;
        } else if (strcmp(argv[i], "--json") == 0) {
            w->json = true;
        } else if ((v = tcclient_opt_value(argc, argv, &i, "--server", &missing)) != NULL ||
                   (v = tcclient_opt_value(argc, argv, &i, "-s", &missing)) != NULL) {
            w->server = v;
        } else if ((v = tcclient_opt_value(argc, argv, &i, "--from", &missing)) != NULL) {
            if (parse_seq(v, &w->from) != 0)
                return usage_error("--from takes a sequence number, not '%s'", v);
        } else if (missing) {
            return usage_error("%s needs a value", argv[i]);
        } else {
            return usage_error("unknown argument '%s'", argv[i]);
        }
    }
    return TCWATCH_OK;
}

static int run(struct tcwatch *w)
{
    int sfd, rc;

    sfd = signals_fd();
    if (sfd < 0) {
        fprintf(stderr, "tcwatch: signalfd: %s\n", strerror(errno));
        return TCWATCH_UNREACHABLE;
    }
    rc = tcclient_connect(&w->c, w->server, TCWATCH_CONNECT_MS);
    if (rc == TCCLIENT_EADDRESS) {
        rc = usage_error("'%s' is not HOST:PORT", w->server);
        goto out_sfd;
    }
    if (rc != 0) {
        fprintf(stderr, "tcwatch: %s: cannot connect: %s\n", w->server, tcclient_strerror(rc));
        rc = TCWATCH_UNREACHABLE;
        goto out_sfd;
    }
    rc = tcclient_subscribe(w->c, w->from, NULL, TCWATCH_SEND_MS);
    if (rc == 0)
        rc = watch(w, sfd);
    if (rc != 0) {
        fprintf(stderr, "tcwatch: %s: connection lost: %s\n", w->server, tcclient_strerror(rc));
        rc = TCWATCH_UNREACHABLE;
    }
    tcclient_close(w->c);
out_sfd:
    close(sfd);
    return rc;
}

int main(int argc, char **argv)
{
    struct tcwatch w = {.server = getenv("TCCTL_SERVER"), .line = TC_BUF_INIT};
    int rc;

    if (w.server == NULL || *w.server == '\0')
        w.server = TCWATCH_DEFAULT_SERVER;
    rc = parse_args(argc, argv, &w);
    if (rc < 0)
        return TCWATCH_OK;
    if (rc == TCWATCH_OK)
        rc = run(&w);
    tc_buf_free(&w.line);
    return rc;
}
