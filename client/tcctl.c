/* tcctl: query a node's TC port (DESIGN §10). One connection, one request,
 * its answers printed as an aligned table or as JSON lines. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client/tcclient.h"
#include "client/tcclient_fmt.h"

#define TCCTL_DEFAULT_SERVER "127.0.0.1:15012"
#define TCCTL_CONNECT_MS     5000
#define TCCTL_ANSWER_MS      10000
#define TCCTL_MAX_ARGS       64
#define TCCTL_DNS_PAGE       100 /* DNs that dns lists without --limit or --all */

enum tcctl_exit {
    TCCTL_OK = 0,
    TCCTL_USAGE = 1,
    TCCTL_UNREACHABLE = 2,
    TCCTL_UNKNOWN_DN = 3, /* or an unknown node */
};

struct tcctl {
    const char *server;
    bool json;
    struct tcclient *c;
    const char *what; /* the DN asked about, for messages */
};

static const char usage_text[] =
        "usage: tcctl [-s HOST:PORT] [--json] COMMAND\n"
        "\n"
        "Query a tcnode's TC port (the cluster view).\n"
        "\n"
        "commands:\n"
        "  nodes                      every node, its link (up/down) and since when, its\n"
        "                             DN count\n"
        "  dn DN...                   DNs: status, owner, source, version, since (the last\n"
        "                             status change), bindings (contact, transport, source\n"
        "                             address, expiry; for a peer's DN, who holds them)\n"
        "  dns [--state insrv|oos] [--owner NODE] [--limit N | --all]\n"
        "                             DNs matching the filters: the first 100, or N, or all;\n"
        "                             a cut list ends with how many more match (on stderr)\n"
        "  summary                    DN counts by status and by owner\n"
        "\n"
        "options:\n"
        "  -s, --server HOST:PORT     the node's TC port ([v6addr]:PORT for IPv6);\n"
        "                             default $TCCTL_SERVER, else " TCCTL_DEFAULT_SERVER "\n"
        "                             (node 1 of deploy/local-cluster)\n"
        "  --json                     one JSON object per line instead of a table\n"
        "  -h, --help, help           this text\n"
        "  --version                  the version of tcctl\n"
        "\n"
        "Times are ISO-8601 UTC. Exit codes: 0 success, 1 usage error, 2 the node\n"
        "cannot be reached (or broke the connection), 3 unknown DN or node.\n";

#define usage_error(...) tcclient_usage_error("tcctl", TCCTL_USAGE, __VA_ARGS__)

/* Report a client library error and map it to an exit code. */
static int fail(const struct tcctl *t, const char *doing, int err)
{
    if (err == -ETIMEDOUT && strcmp(doing, "reading the answer") == 0) {
        fprintf(stderr, "tcctl: %s: no answer in %d s: is it a node's TC port?\n", t->server,
                TCCTL_ANSWER_MS / 1000);
        return TCCTL_UNREACHABLE;
    }
    fprintf(stderr, "tcctl: %s: %s: %s\n", t->server, doing, tcclient_strerror(err));
    return TCCTL_UNREACHABLE;
}

/* Report an EventError and map it to an exit code. */
static int node_error(const struct tcctl *t, const Tc__EventError *e)
{
    if (e != NULL && e->code == TC__ERROR_CODE__ERROR_UNKNOWN_DN) {
        fprintf(stderr, "tcctl: DN %s unknown\n", t->what != NULL ? t->what : "?");
        return TCCTL_UNKNOWN_DN;
    }
    fprintf(stderr, "tcctl: %s: node answered error %d: %s\n", t->server,
            e != NULL ? (int)e->code : -1, e != NULL && e->text != NULL ? e->text : "");
    return TCCTL_UNREACHABLE;
}

/* Write the JSON line in b to stdout and reset b. */
static void put_json(struct tc_buf *b)
{
    if (b->data != NULL)
        printf("%s}\n", b->data);
    tc_buf_reset(b);
}

/* Read the next answer to ref into *ev. Returns TCCTL_OK or an exit code
 * (already reported); an EventError is reported and freed here. */
static int answer(struct tcctl *t, uint32_t ref, Tc__Event **ev)
{
    int rc = tcclient_next_for(t->c, ref, TCCTL_ANSWER_MS, ev);

    if (rc != 0)
        return fail(t, "reading the answer", rc);
    if ((*ev)->body_case == TC__EVENT__BODY_ERROR) {
        rc = node_error(t, (*ev)->error);
        tcclient_event_free(*ev);
        *ev = NULL;
        return rc;
    }
    return TCCTL_OK;
}

/* Wait for the answer of type want to ref. */
static int answer_of(struct tcctl *t, uint32_t ref, Tc__Event__BodyCase want, Tc__Event **ev)
{
    for (;;) {
        int rc = answer(t, ref, ev);

        if (rc != TCCTL_OK || (*ev)->body_case == want)
            return rc;
        tcclient_event_free(*ev);
    }
}

static void print_node_json(struct tc_buf *b, const Tc__NodeInfo *n)
{
    tc_buf_puts(b, "{");
    tcclient_json_node(b, n);
    put_json(b);
}

/* Ask for every node; *ev (free it) holds the answer on TCCTL_OK. */
static int query_nodes(struct tcctl *t, Tc__Event **ev)
{
    uint32_t ref;
    int rc = tcclient_query_nodes(t->c, &ref, TCCTL_ANSWER_MS);

    if (rc != 0)
        return fail(t, "sending the query", rc);
    return answer_of(t, ref, TC__EVENT__BODY_NODE_INFO, ev);
}

static int cmd_nodes(struct tcctl *t)
{
    static const char *const header[] = {"NODE", "LINK", "SINCE", "DNS", "ADDRESS"};
    struct tcclient_table tab;
    struct tc_buf b = TC_BUF_INIT;
    Tc__Event *ev;
    int rc;

    rc = query_nodes(t, &ev);
    if (rc != TCCTL_OK)
        return rc;
    tcclient_table_init(&tab, stdout, 5, header);
    for (size_t i = 0; i < ev->node_info->n_nodes; i++) {
        const Tc__NodeInfo *n = ev->node_info->nodes[i];
        char dns[24], since[TCCLIENT_TIME_MAX];

        snprintf(dns, sizeof(dns), "%" PRIu64, n->dns_owned);
        if (t->json) {
            print_node_json(&b, n);
        } else {
            const char *row[] = {n->name,
                                 n->self      ? "self"
                                 : n->link_up ? "up"
                                              : "down",
                                 n->since_unix_ms != 0
                                         ? tcclient_iso8601(n->since_unix_ms, since, sizeof(since))
                                         : "-",
                                 dns, n->address};
            tcclient_table_row(&tab, row);
        }
    }
    if (t->json)
        tcclient_table_drop(&tab);
    else
        tcclient_table_end(&tab);
    tc_buf_free(&b);
    tcclient_event_free(ev);
    return TCCTL_OK;
}

/* A DN's bindings as one cell in bj: each contact with its transport,
 * source and expiry, joined by commas; for a DN a peer owns, where its
 * bindings are; "-" when there are none. */
static void bindings_text(struct tc_buf *bj, const Tc__DnState *s)
{
    char when[TCCLIENT_TIME_MAX];

    tc_buf_reset(bj);
    for (size_t i = 0; i < s->n_binding_info; i++) {
        const Tc__BindingInfo *x = s->binding_info[i];

        tc_buf_printf(bj, "%s%s (%s from %s, expires %s)", i > 0 ? ", " : "", x->contact,
                      x->transport, x->received != NULL && *x->received ? x->received : "?",
                      tcclient_iso8601(x->expires_unix_ms, when, sizeof(when)));
    }
    /* A node that sends only the contacts. */
    for (size_t i = 0; s->n_binding_info == 0 && i < s->n_bindings; i++)
        tc_buf_printf(bj, "%s%s", i > 0 ? ", " : "", s->bindings[i]);
    if (bj->data == NULL || bj->len == 0) {
        if (s->bindings_at != NULL && *s->bindings_at != '\0')
            tc_buf_printf(bj, "bindings held by %s", s->bindings_at);
        else
            tc_buf_puts(bj, "-");
    }
}

/* One DN as a table row: its bindings (when bj is given) in bj. */
static void dn_row(struct tcclient_table *tab, const Tc__DnState *s, struct tc_buf *bj)
{
    char since[TCCLIENT_TIME_MAX], version[TCCLIENT_VERSION_MAX];
    const char *row[7] = {s->dn,
                          tcclient_status_name(s->status),
                          s->owner,
                          tcclient_source_name(s->source),
                          tcclient_iso8601(s->since_unix_ms, since, sizeof(since)),
                          tcclient_dn_version(s, version, sizeof(version)),
                          NULL};

    if (bj != NULL) {
        bindings_text(bj, s);
        row[6] = bj->data != NULL ? bj->data : "-";
    }
    tcclient_table_row(tab, row);
}

static void dn_json(struct tc_buf *b, const Tc__DnState *s, int with_bindings)
{
    tc_buf_puts(b, "{");
    tcclient_json_dn(b, s, with_bindings);
    put_json(b);
}

static const char *const dn_header[] = {"DN",    "STATUS",  "OWNER",   "SOURCE",
                                        "SINCE", "VERSION", "BINDINGS"};

/* Ask for one DN and add it to tab, or print it as JSON with b. */
static int show_dn(struct tcctl *t, const char *dn, struct tcclient_table *tab, struct tc_buf *b,
                   struct tc_buf *bj)
{
    Tc__Event *ev;
    uint32_t ref;
    int rc;

    t->what = dn;
    rc = tcclient_query_dn(t->c, dn, &ref, TCCTL_ANSWER_MS);
    if (rc != 0)
        return fail(t, "sending the query", rc);
    rc = answer_of(t, ref, TC__EVENT__BODY_ADDRESS_INFO, &ev);
    if (rc != TCCTL_OK)
        return rc;
    if (ev->address_info->state == NULL) {
        fprintf(stderr, "tcctl: %s: answer without a DN state\n", t->server);
        rc = TCCTL_UNREACHABLE;
    } else if (t->json) {
        dn_json(b, ev->address_info->state, 1);
    } else {
        dn_row(tab, ev->address_info->state, bj);
    }
    tcclient_event_free(ev);
    return rc;
}

/* Show each DN of dns (n of them) in one table. An unknown DN is reported
 * and the others are still shown; a lost connection stops. */
static int cmd_dn(struct tcctl *t, int n, char **dns)
{
    struct tc_buf b = TC_BUF_INIT, bj = TC_BUF_INIT;
    struct tcclient_table tab;
    int rc = TCCTL_OK;

    tcclient_table_init(&tab, stdout, 7, dn_header);
    for (int i = 0; i < n && rc != TCCTL_UNREACHABLE; i++) {
        int r = show_dn(t, dns[i], &tab, &b, &bj);

        if (r != TCCTL_OK)
            rc = r;
    }
    if (t->json || tab.nheld <= 1)
        tcclient_table_drop(&tab);
    else
        tcclient_table_end(&tab);
    tc_buf_free(&b);
    tc_buf_free(&bj);
    return rc;
}

/* After a list the limit cut: how many more, and how to see them (on
 * stderr, so JSON lines on stdout stay clean). A node that does not
 * count them only says there are more. */
static void print_more(const Tc__EventQueryEnd *end)
{
    if (end->more > 0)
        fprintf(stderr,
                "tcctl: ... %" PRIu64 " more DN%s match; use --limit N for more, or --all\n",
                end->more, end->more == 1 ? "" : "s");
    else
        fprintf(stderr, "tcctl: ... more DNs match; use --limit N for more, or --all\n");
}

/* Print the stream of EventAddressInfo answering ref until EventQueryEnd. */
static int print_dns(struct tcctl *t, uint32_t ref)
{
    struct tc_buf b = TC_BUF_INIT;
    struct tcclient_table tab;
    Tc__Event *ev;
    int rc;

    tcclient_table_init(&tab, stdout, 6, dn_header);
    for (;;) {
        rc = answer(t, ref, &ev);
        if (rc != TCCTL_OK)
            break;
        if (ev->body_case == TC__EVENT__BODY_QUERY_END) {
            if (ev->query_end->truncated)
                print_more(ev->query_end);
            tcclient_event_free(ev);
            break;
        }
        if (ev->body_case == TC__EVENT__BODY_ADDRESS_INFO && ev->address_info->state != NULL) {
            if (t->json)
                dn_json(&b, ev->address_info->state, 0);
            else
                dn_row(&tab, ev->address_info->state, NULL);
        }
        tcclient_event_free(ev);
    }
    if (t->json)
        tcclient_table_drop(&tab);
    else
        tcclient_table_end(&tab);
    tc_buf_free(&b);
    return rc;
}

/* A count of 1 or more: 0 would read as "none" to some and "all" to
 * others, so all is spelt --all. */
static int parse_limit(const char *s, uint32_t *out)
{
    char *end;
    unsigned long v;

    if (*s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v == 0 || v > UINT32_MAX)
        return -EINVAL;
    *out = (uint32_t)v;
    return 0;
}

static int parse_dns(int argc, char **argv, struct tcclient_dns_filter *f)
{
    const char *v;

    *f = (struct tcclient_dns_filter){.any_state = true, .limit = TCCTL_DNS_PAGE};
    for (int i = 1; i < argc; i++) {
        bool missing = false;

        if (strcmp(argv[i], "--all") == 0) {
            f->limit = 0;
            continue;
        }
        if ((v = tcclient_opt_value(argc, argv, &i, "--state", &missing)) != NULL) {
            f->any_state = false;
            /* Case-insensitive: the table prints InSrv and OOS. */
            if (strcasecmp(v, "insrv") == 0)
                f->state = TC__DN_STATUS__DN_STATUS_INSRV;
            else if (strcasecmp(v, "oos") == 0)
                f->state = TC__DN_STATUS__DN_STATUS_OOS;
            else
                return usage_error("--state takes insrv or oos, not '%s'", v);
        } else if ((v = tcclient_opt_value(argc, argv, &i, "--owner", &missing)) != NULL) {
            f->owner = v;
        } else if ((v = tcclient_opt_value(argc, argv, &i, "--limit", &missing)) != NULL) {
            if (parse_limit(v, &f->limit) != 0)
                return usage_error("--limit takes a count of 1 or more (--all lists every DN), "
                                   "not '%s'",
                                   v);
        } else if (missing) {
            return usage_error("%s needs a value", argv[i]);
        } else {
            return usage_error("dns: unknown argument '%s'", argv[i]);
        }
    }
    return TCCTL_OK;
}

/* Whether the cluster knows a node called name: an unknown --owner is a
 * mistake to report (exit 3), not an empty list. */
static int check_owner(struct tcctl *t, const char *name)
{
    Tc__Event *ev;
    bool known = false;
    int rc;

    rc = query_nodes(t, &ev);
    if (rc != TCCTL_OK)
        return rc;
    for (size_t i = 0; i < ev->node_info->n_nodes && !known; i++)
        known = ev->node_info->nodes[i]->name != NULL &&
                strcmp(ev->node_info->nodes[i]->name, name) == 0;
    tcclient_event_free(ev);
    if (known)
        return TCCTL_OK;
    fprintf(stderr, "tcctl: node %s unknown (tcctl nodes lists them)\n", name);
    return TCCTL_UNKNOWN_DN;
}

static int cmd_dns(struct tcctl *t, const struct tcclient_dns_filter *f)
{
    uint32_t ref;
    int rc;

    if (f->owner != NULL && (rc = check_owner(t, f->owner)) != TCCTL_OK)
        return rc;
    rc = tcclient_query_dns(t->c, f, &ref, TCCTL_ANSWER_MS);
    if (rc != 0)
        return fail(t, "sending the query", rc);
    return print_dns(t, ref);
}

static int cmp_owner(const void *a, const void *b)
{
    const Tc__EventSummary__ByOwnerEntry *x = *(Tc__EventSummary__ByOwnerEntry *const *)a;
    const Tc__EventSummary__ByOwnerEntry *y = *(Tc__EventSummary__ByOwnerEntry *const *)b;

    return strcmp(x->key != NULL ? x->key : "", y->key != NULL ? y->key : "");
}

static void summary_json(const Tc__EventSummary *s)
{
    struct tc_buf b = TC_BUF_INIT;

    tc_buf_puts(&b, "{");
    tcclient_json_summary(&b, s);
    put_json(&b);
    tc_buf_free(&b);
}

static void summary_row(struct tcclient_table *tab, const char *by, const char *name, uint64_t n)
{
    char count[24];
    const char *row[] = {by, name, count};

    snprintf(count, sizeof(count), "%" PRIu64, n);
    tcclient_table_row(tab, row);
}

static void summary_table(const Tc__EventSummary *s)
{
    static const char *const header[] = {"BY", "NAME", "DNS"};
    struct tcclient_table tab;

    tcclient_table_init(&tab, stdout, 3, header);
    summary_row(&tab, "status", "insrv", s->insrv);
    summary_row(&tab, "status", "oos", s->oos);
    summary_row(&tab, "status", "total", s->total);
    for (size_t i = 0; i < s->n_by_owner; i++)
        summary_row(&tab, "owner", s->by_owner[i]->key, s->by_owner[i]->value);
    tcclient_table_end(&tab);
}

static int cmd_summary(struct tcctl *t)
{
    Tc__EventSummary *s;
    Tc__Event *ev;
    uint32_t ref;
    int rc;

    rc = tcclient_query_summary(t->c, &ref, TCCTL_ANSWER_MS);
    if (rc != 0)
        return fail(t, "sending the query", rc);
    rc = answer_of(t, ref, TC__EVENT__BODY_SUMMARY, &ev);
    if (rc != TCCTL_OK)
        return rc;
    s = ev->summary;
    if (s->n_by_owner > 1)
        qsort(s->by_owner, s->n_by_owner, sizeof(*s->by_owner), cmp_owner);
    if (t->json)
        summary_json(s);
    else
        summary_table(s);
    tcclient_event_free(ev);
    return TCCTL_OK;
}

/* Take the global options out of argv (anywhere on the line), leaving the
 * command and its arguments in rest. Returns TCCTL_OK, TCCTL_USAGE, or -1
 * after printing the help. */
static int parse_global(int argc, char **argv, struct tcctl *t, int *nrest, char **rest)
{
    *nrest = 0;
    for (int i = 1; i < argc; i++) {
        bool missing = false;
        const char *v;

        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0 ||
            (*nrest == 0 && strcmp(argv[i], "help") == 0)) {
            fputs(usage_text, stdout);
            return -1;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("tcctl %s (%s)\n", TC_VERSION, TC_GIT_REV);
            return -1;
        } else if (strcmp(argv[i], "--json") == 0) {
            t->json = true;
        } else if ((v = tcclient_opt_value(argc, argv, &i, "--server", &missing)) != NULL ||
                   (v = tcclient_opt_value(argc, argv, &i, "-s", &missing)) != NULL) {
            t->server = v;
        } else if (missing) {
            return usage_error("%s needs HOST:PORT", argv[i]);
        } else if (*nrest < TCCTL_MAX_ARGS) {
            rest[(*nrest)++] = argv[i];
        } else {
            return usage_error("too many arguments");
        }
    }
    if (*nrest == 0)
        return usage_error("no command given");
    return TCCTL_OK;
}

/* Check the command line of the command before connecting. */
static int check_command(int n, char **rest, struct tcclient_dns_filter *f)
{
    const char *cmd = rest[0];

    if (strcmp(cmd, "nodes") == 0 || strcmp(cmd, "summary") == 0) {
        if (n != 1)
            return usage_error("%s takes no arguments", cmd);
    } else if (strcmp(cmd, "dn") == 0) {
        if (n < 2)
            return usage_error("usage: tcctl dn DN...");
        for (int i = 1; i < n; i++) {
            if (!tcclient_dn_valid(rest[i]))
                return usage_error("'%s' is not a DN (1 to 17 digits)", rest[i]);
        }
    } else if (strcmp(cmd, "dns") == 0) {
        return parse_dns(n, rest, f);
    } else if (rest[0][0] == '-') {
        return usage_error("unknown option '%s'", cmd);
    } else {
        return usage_error("unknown command '%s'", cmd);
    }
    return TCCTL_OK;
}

static int run(struct tcctl *t, int n, char **rest, const struct tcclient_dns_filter *f)
{
    int rc = tcclient_connect(&t->c, t->server, TCCTL_CONNECT_MS);

    if (rc == TCCLIENT_EADDRESS)
        return usage_error("'%s' is not HOST:PORT", t->server);
    if (rc != 0)
        return fail(t, "cannot connect", rc);
    if (strcmp(rest[0], "nodes") == 0)
        rc = cmd_nodes(t);
    else if (strcmp(rest[0], "dn") == 0)
        rc = cmd_dn(t, n - 1, rest + 1);
    else if (strcmp(rest[0], "dns") == 0)
        rc = cmd_dns(t, f);
    else
        rc = cmd_summary(t);
    tcclient_close(t->c);
    return rc;
}

int main(int argc, char **argv)
{
    struct tcctl t = {.server = getenv("TCCTL_SERVER")};
    struct tcclient_dns_filter f = {.any_state = true};
    char *rest[TCCTL_MAX_ARGS];
    int n, rc;

    if (t.server == NULL || *t.server == '\0')
        t.server = TCCTL_DEFAULT_SERVER;
    rc = parse_global(argc, argv, &t, &n, rest);
    if (rc < 0)
        return TCCTL_OK;
    if (rc == TCCTL_OK)
        rc = check_command(n, rest, &f);
    if (rc == TCCTL_OK)
        rc = run(&t, n, rest, &f);
    return rc;
}
