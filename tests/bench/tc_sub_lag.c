/* tc_sub_lag: a TC port subscriber (the client library, as Stat Server
 * would use it) that measures when a peer's DNs reach it as OOS events
 * after that peer's link went down, and checks them: tests/bench/tcport_lag
 * runs it. A measurement, not a test: exit 0 when it ran, 2 when it could
 * not connect or the connection broke.
 *
 *   bench_tc_sub_lag -s HOST:PORT --owner NODE [--timeout S]
 *
 * It subscribes, reads the snapshot (printing "ready ..." once it is in),
 * then reads events until every DN the snapshot showed InSrv and owned by
 * NODE was reported OOS and NODE's link-disconnected event came, or until
 * the timeout. Then one line: the wall-clock times (ms since the epoch,
 * microsecond precision) of the first and the last of those OOS events
 * and of the link event, how many came, and the checks: seq never going
 * back, no DN reported OOS twice in a row (a duplicate or a reordering),
 * none missing. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/tcclient.h"

#define MAX_DNS (1u << 24)

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static const Tc__DnState *state_of(const Tc__Event *ev)
{
    switch (ev->body_case) {
    case TC__EVENT__BODY_ADDRESS_INFO:
        return ev->address_info->state;
    case TC__EVENT__BODY_DN_OUT_OF_SERVICE:
        return ev->dn_out_of_service->state;
    case TC__EVENT__BODY_DN_BACK_IN_SERVICE:
        return ev->dn_back_in_service->state;
    default:
        return NULL;
    }
}

/* Per DN (index dn - lo): 1 watched (InSrv, owned by the node), 2 reported OOS. */
struct lag {
    unsigned char *dn;
    uint64_t lo, n;
    const char *owner;
    uint64_t watched, oos, dup, regress, other, last_seq;
    uint64_t same_seq; /* events carrying the seq of the one before: sent from a pending set */
    double first_ms, last_ms, link_ms, half_ms;
};

static int dn_index(struct lag *l, const char *dn, uint64_t *i)
{
    char *end;
    unsigned long long v = strtoull(dn, &end, 10);

    if (*end != '\0' || v < l->lo || v - l->lo >= l->n)
        return -1;
    *i = v - l->lo;
    return 0;
}

static int snapshot(struct lag *l, struct tcclient *c)
{
    Tc__Event *ev;
    uint32_t ref;
    int rc = tcclient_subscribe(c, 0, &ref, 5000);

    while (rc == 0 && (rc = tcclient_next(c, 60000, &ev)) == 0) {
        const Tc__DnState *s = state_of(ev);
        uint64_t i;
        bool end = ev->body_case == TC__EVENT__BODY_SNAPSHOT_END;

        if (end)
            l->last_seq = ev->seq;
        if (s != NULL && s->status == TC__DN_STATUS__DN_STATUS_INSRV &&
            strcmp(s->owner, l->owner) == 0 && dn_index(l, s->dn, &i) == 0) {
            l->dn[i] = 1;
            l->watched++;
        }
        tcclient_event_free(ev);
        if (end)
            return 0;
    }
    return rc;
}

static void on_event(struct lag *l, const Tc__Event *ev, double t)
{
    const Tc__DnState *s = state_of(ev);
    uint64_t i;

    if (ev->seq != 0 && ev->seq < l->last_seq)
        l->regress++;
    if (ev->seq != 0 && ev->seq == l->last_seq)
        l->same_seq++;
    if (ev->seq > l->last_seq)
        l->last_seq = ev->seq;
    if (ev->body_case == TC__EVENT__BODY_LINK_DISCONNECTED &&
        strcmp(ev->link_disconnected->node, l->owner) == 0 && l->link_ms == 0)
        l->link_ms = t;
    if (s == NULL || dn_index(l, s->dn, &i) != 0 || l->dn[i] == 0) {
        l->other++;
        return;
    }
    if (s->status != TC__DN_STATUS__DN_STATUS_OOS) {
        l->other++;
        return;
    }
    if (l->dn[i] == 2) {
        l->dup++;
        return;
    }
    l->dn[i] = 2;
    if (l->oos++ == 0)
        l->first_ms = t;
    l->last_ms = t;
    if (l->oos == l->watched / 2)
        l->half_ms = t;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"server", required_argument, NULL, 's'},
                                         {"owner", required_argument, NULL, 'o'},
                                         {"dns", required_argument, NULL, 'D'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {NULL, 0, NULL, 0}};
    struct lag l = {0};
    const char *server = NULL;
    unsigned long long lo = 0, hi = 0;
    double timeout_s = 30, end;
    struct tcclient *c;
    Tc__Event *ev;
    int o, rc;

    while ((o = getopt_long(argc, argv, "s:", opts, NULL)) != -1) {
        if (o == 's')
            server = optarg;
        else if (o == 'o')
            l.owner = optarg;
        else if (o == 'D' && sscanf(optarg, "%llu-%llu", &lo, &hi) == 2 && hi >= lo &&
                 hi - lo < MAX_DNS)
            continue;
        else if (o == 't')
            timeout_s = strtod(optarg, NULL);
        else
            goto usage;
    }
    if (server == NULL || l.owner == NULL || hi == 0 || optind != argc)
        goto usage;
    l.lo = lo;
    l.n = hi - lo + 1;
    l.dn = calloc(l.n, 1);
    if (l.dn == NULL)
        return 2;
    rc = tcclient_connect(&c, server, 5000);
    if (rc == 0) {
        tcclient_set_max_frame(c, 1u << 24);
        rc = snapshot(&l, c);
    }
    if (rc != 0) {
        fprintf(stderr, "tc_sub_lag: %s: %s\n", server, tcclient_strerror(rc));
        return 2;
    }
    printf("ready watched=%" PRIu64 " seq=%" PRIu64 "\n", l.watched, l.last_seq);
    fflush(stdout);
    end = now_ms() + timeout_s * 1e3;
    while ((l.oos < l.watched || l.link_ms == 0) && now_ms() < end) {
        rc = tcclient_next(c, 100, &ev);
        if (rc == -ETIMEDOUT)
            continue;
        if (rc != 0) {
            fprintf(stderr, "tc_sub_lag: %s\n", tcclient_strerror(rc));
            break;
        }
        on_event(&l, ev, now_ms());
        tcclient_event_free(ev);
    }
    printf("lag watched=%" PRIu64 " oos=%" PRIu64 " missing=%" PRIu64 " dup=%" PRIu64
           " regress=%" PRIu64 " other=%" PRIu64 " same_seq=%" PRIu64
           " first_ms=%.3f half_ms=%.3f last_ms=%.3f link_ms=%.3f\n",
           l.watched, l.oos, l.watched - l.oos, l.dup, l.regress, l.other, l.same_seq, l.first_ms,
           l.half_ms, l.last_ms, l.link_ms);
    tcclient_close(c);
    free(l.dn);
    return rc == 0 || rc == -ETIMEDOUT ? 0 : 2;
usage:
    fprintf(stderr, "usage: bench_tc_sub_lag -s HOST:PORT --owner NODE --dns FIRST-LAST "
                    "[--timeout S]\n");
    return 1;
}
