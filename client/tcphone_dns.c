/* Server discovery for --domain, in the PBX guide's order: DNS SRV records
 * (_sip._udp.NAME, or _sip._tcp.NAME over TCP) ordered by priority, and
 * within a priority by weight as RFC 2782 says (a weighted random order per
 * phone, so phones spread in proportion to the weights); when there are no
 * SRV records, the A records of NAME on --sip-port (5060), round robin (phone
 * i starts at record i mod k). c-ares asks --resolver; its sockets are
 * served from a loop timer (ares_fds + a zero-timeout select + ares_process),
 * so nothing blocks the loop. Only 127.0.0.0/8 answers are used. */
#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include "client/tcphone_int.h"

#define DNS_POLL_MS    5
#define DNS_TIMEOUT_MS 5000
#define DNS_NAME_MAX   256

struct dns_srv {
    char target[DNS_NAME_MAX];
    uint16_t port, prio, weight;
};

struct dns {
    uv_timer_t poll; /* first: its close callback frees the struct */
    struct tcphone *app;
    ares_channel ch;
    struct dns_srv srv[TCPHONE_MAX_SERVERS];
    unsigned n_srv, next; /* SRV targets found, and the next to resolve */
    bool by_srv, done, failed;
};

static void fail(struct dns *d, const char *what, int status)
{
    fprintf(stderr, "tcphone: dns %s for %s: %s\n", what, d->app->o.domain, ares_strerror(status));
    d->done = d->failed = true;
}

/* RFC 2782: within one priority, order by repeated weighted random choice;
 * zero weights first so that they get a small chance too. */
static void weighted_order(const struct dns *d, unsigned from, unsigned to, uint8_t *out)
{
    bool used[TCPHONE_MAX_SERVERS] = {false};
    unsigned k = 0;

    while (from + k < to) {
        unsigned sum = 0, r, run = 0, pick = to;

        for (unsigned i = from; i < to; i++)
            sum += used[i] ? 0 : d->srv[i].weight;
        r = sum > 0 ? (unsigned)rand() % (sum + 1) : 0;
        for (unsigned i = from; i < to && pick == to; i++) {
            if (used[i])
                continue;
            run += d->srv[i].weight;
            if (run >= r)
                pick = i;
        }
        used[pick] = true;
        out[k++] = (uint8_t)pick;
    }
}

static int by_prio(const void *a, const void *b)
{
    const struct dns_srv *x = a, *y = b;

    if (x->prio != y->prio)
        return x->prio < y->prio ? -1 : 1;
    /* Zero weights first within a priority (RFC 2782). */
    return (x->weight == 0) == (y->weight == 0) ? 0 : (x->weight == 0 ? -1 : 1);
}

static void assign_orders(struct dns *d)
{
    struct tcphone *app = d->app;
    unsigned n = app->o.n_servers;

    for (unsigned p = 0; p < app->o.n; p++) {
        uint8_t *order = app->phones[p].order;

        if (!d->by_srv) {
            for (unsigned j = 0; j < n; j++)
                order[j] = (uint8_t)((p + j) % n);
            continue;
        }
        for (unsigned from = 0; from < n;) {
            unsigned to = from + 1;

            while (to < n && d->srv[to].prio == d->srv[from].prio)
                to++;
            weighted_order(d, from, to, order + from);
            from = to;
        }
    }
}

static void resolved(struct dns *d)
{
    if (d->app->o.n_servers == 0) {
        fprintf(stderr, "tcphone: dns: no usable 127.0.0.0/8 server for %s\n", d->app->o.domain);
        d->done = d->failed = true;
        return;
    }
    assign_orders(d);
    d->done = true;
    tcphone__go(d->app);
}

/* Add one address (network order) with port; loopback only. */
static void add_server(struct dns *d, const void *in_addr, uint16_t port)
{
    struct tcphone_opts *o = &d->app->o;
    struct sockaddr_in *sa = &o->servers[o->n_servers];

    if (o->n_servers == TCPHONE_MAX_SERVERS)
        return;
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    memcpy(&sa->sin_addr, in_addr, sizeof(sa->sin_addr));
    sa->sin_port = htons(port);
    if ((ntohl(sa->sin_addr.s_addr) >> 24) != 127)
        return;
    o->n_servers++;
}

static void resolve_next(struct dns *d);

static void on_target(void *arg, int status, int timeouts, struct hostent *h)
{
    struct dns *d = arg;

    (void)timeouts;
    if (status == ARES_SUCCESS && h->h_addr_list[0] != NULL) {
        /* Keep the SRV entry's index equal to its server's. */
        if (d->app->o.n_servers != d->next)
            memmove(&d->srv[d->app->o.n_servers], &d->srv[d->next], sizeof(d->srv[0]));
        add_server(d, h->h_addr_list[0], d->srv[d->next].port);
    }
    d->next++;
    resolve_next(d);
}

static void resolve_next(struct dns *d)
{
    if (d->next == d->n_srv) {
        resolved(d);
        return;
    }
    ares_gethostbyname(d->ch, d->srv[d->next].target, AF_INET, on_target, d);
}

static void on_a(void *arg, int status, int timeouts, struct hostent *h)
{
    struct dns *d = arg;

    (void)timeouts;
    if (status != ARES_SUCCESS) {
        fail(d, "A query", status);
        return;
    }
    for (char **a = h->h_addr_list; *a != NULL; a++)
        add_server(d, *a, (uint16_t)d->app->o.sip_port);
    resolved(d);
}

static void on_srv(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct dns *d = arg;
    struct ares_srv_reply *r = NULL;

    (void)timeouts;
    if (status != ARES_SUCCESS || ares_parse_srv_reply(abuf, alen, &r) != ARES_SUCCESS) {
        ares_gethostbyname(d->ch, d->app->o.domain, AF_INET, on_a, d);
        return;
    }
    d->by_srv = true;
    for (struct ares_srv_reply *p = r; p != NULL && d->n_srv < TCPHONE_MAX_SERVERS; p = p->next) {
        struct dns_srv *s = &d->srv[d->n_srv++];

        snprintf(s->target, sizeof(s->target), "%s", p->host);
        s->port = p->port;
        s->prio = p->priority;
        s->weight = p->weight;
    }
    ares_free_data(r);
    qsort(d->srv, d->n_srv, sizeof(d->srv[0]), by_prio);
    resolve_next(d);
}

static void on_poll(uv_timer_t *t)
{
    struct dns *d = t->data;
    fd_set r, w;
    struct timeval zero = {0, 0};
    int nfds;

    if (!d->done) {
        FD_ZERO(&r);
        FD_ZERO(&w);
        nfds = ares_fds(d->ch, &r, &w);
        if (nfds > 0)
            select(nfds, &r, &w, NULL, &zero);
        ares_process(d->ch, &r, &w);
        return;
    }
    /* Done: tear down outside c-ares's callbacks. */
    uv_timer_stop(t);
    ares_destroy(d->ch);
    ares_library_cleanup();
    uv_close((uv_handle_t *)t, (uv_close_cb)free);
    if (d->failed) {
        d->app->exit_code = 2;
        uv_kill(getpid(), SIGTERM);
    }
}

int tcphone__dns_start(struct tcphone *app)
{
    struct ares_options opts = {.timeout = DNS_TIMEOUT_MS, .tries = 2};
    char name[DNS_NAME_MAX + 16], server[64], host[INET_ADDRSTRLEN];
    struct dns *d;
    int rc;

    d = calloc(1, sizeof(*d));
    if (d == NULL)
        return -ENOMEM;
    d->app = app;
    rc = ares_library_init(ARES_LIB_INIT_ALL);
    if (rc == ARES_SUCCESS)
        rc = ares_init_options(&d->ch, &opts, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
    if (rc != ARES_SUCCESS) {
        fprintf(stderr, "tcphone: c-ares: %s\n", ares_strerror(rc));
        free(d);
        return -EIO;
    }
    inet_ntop(AF_INET, &app->o.resolver.sin_addr, host, sizeof(host));
    snprintf(server, sizeof(server), "%s:%u", host, ntohs(app->o.resolver.sin_port));
    ares_set_servers_ports_csv(d->ch, server);
    uv_timer_init(app->loop, &d->poll);
    d->poll.data = d;
    uv_timer_start(&d->poll, on_poll, DNS_POLL_MS, DNS_POLL_MS);
    snprintf(name, sizeof(name), "_sip._%s.%s", app->o.tcp ? "tcp" : "udp", app->o.domain);
    ares_query(d->ch, name, 1 /* C_IN */, 33 /* T_SRV */, on_srv, d);
    return 0;
}
