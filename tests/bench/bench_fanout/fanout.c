/* bench_fanout: TC port fan-out under a stream of DN changes.
 *
 *   bench_fanout --tc PORT --default PORT --pid PID [--http PORT] [--subs 100]
 *                [--stopped 0] [--rate 10000] [--seconds 5] [--lo 10000]
 *                [--hi 19999] [--threads 0]
 *
 * Connects `subs` TC subscribers to 127.0.0.1 (raw sockets, read by a thread
 * each, or spread over `threads` threads that epoll them) and
 * `stopped` more that read their snapshot and are then SIGSTOPped (child
 * processes), then drives DN changes through one GWS client of the default
 * port (claims then releases of DNs lo..hi, paced at `rate` per second for
 * `seconds`). Prints: changes made, events delivered per second to the live
 * subscribers, the node's RSS before and after and its CPU; the delay from
 * change to delivery, twice:
 *
 *   - from the acknowledgement: a change is made when its answer
 *     (EventRegistered or EventUnregistered) reaches the GWS client. The
 *     node sends that answer in the loop turn that publishes the change to
 *     the TC port (once the change is durable), so this is the fan-out's
 *     own delay. The driver's reader and the subscribers share one
 *     monotonic clock (microseconds, taken when recv() returns); the k-th
 *     successful answer is the change of sequence seq0 + k (seq0 from the
 *     GWS client's EventOpened), and a subscriber checks the DN it got
 *     against the one answered. An event read before its answer counts as
 *     0 (before_ack); an event whose DN does not match (a coalesced one) is
 *     left out (unmatched).
 *   - from the decision: the DnState's since_unix_ms (stamped when the
 *     table decided, before the fsync) against the wall clock at receipt,
 *     so it includes the group commit. since_unix_ms has ms resolution.
 *
 * With --http, the TC port's slow-subscriber figures from /metrics while the
 * stopped ones still are. Not a test: it never fails on figures. The node
 * must list GWS in gws-client-names. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/bench/bench_fanout/fanout_int.h"

atomic_bool fanout__stopping;
struct fanout__acks fanout__acks;
uint64_t fanout__mono_to_wall_us;

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_fanout --tc PORT --default PORT --pid PID [--http PORT] [--subs N] "
            "[--stopped N] [--rate R] [--seconds S] [--lo DN] [--hi DN] [--threads N]\n");
    exit(1);
}

static void parse(int argc, char **argv, struct fanout__opts *o)
{
    static const struct option lo[] = {
            {"tc", 1, NULL, 't'},      {"default", 1, NULL, 'd'}, {"pid", 1, NULL, 'p'},
            {"subs", 1, NULL, 's'},    {"stopped", 1, NULL, 'x'}, {"rate", 1, NULL, 'r'},
            {"seconds", 1, NULL, 'S'}, {"lo", 1, NULL, 'l'},      {"hi", 1, NULL, 'h'},
            {"http", 1, NULL, 'H'},    {"threads", 1, NULL, 'T'}, {NULL, 0, NULL, 0},
    };
    int c;

    *o = (struct fanout__opts){0, 0, 0, 0, 100, 0, 10000, 5, 10000, 19999, 0};
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        unsigned long v;

        if (c == '?')
            usage();
        v = strtoul(optarg, NULL, 10);
        switch (c) {
        case 't':
            o->tc = (uint16_t)v;
            break;
        case 'd':
            o->dflt = (uint16_t)v;
            break;
        case 'p':
            o->pid = (pid_t)v;
            break;
        case 's':
            o->subs = (unsigned)v;
            break;
        case 'x':
            o->stopped = (unsigned)v;
            break;
        case 'r':
            o->rate = (unsigned)v;
            break;
        case 'S':
            o->seconds = (unsigned)v;
            break;
        case 'l':
            o->lo = (unsigned)v;
            break;
        case 'h':
            o->hi = (unsigned)v;
            break;
        case 'H':
            o->http = (uint16_t)v;
            break;
        case 'T':
            o->threads = (unsigned)v;
            break;
        }
    }
    if (o->tc == 0 || o->dflt == 0 || o->pid == 0 || o->rate == 0 || o->hi < o->lo)
        usage();
}

/* Fork the stopped subscribers (before any thread exists), wait for their
 * snapshots, stop them. Returns their pids (n + 1 entries). */
static pid_t *start_stopped(const struct fanout__opts *o)
{
    pid_t *kids = calloc(o->stopped + 1, sizeof(*kids));
    int ready[2];

    if (kids == NULL || pipe(ready) != 0)
        exit(2);
    for (unsigned i = 0; i < o->stopped; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            close(ready[0]);
            fanout__stopped_child(o->tc, ready[1]);
        }
    }
    for (unsigned i = 0; i < o->stopped; i++) {
        char r;

        if (read(ready[0], &r, 1) != 1)
            exit(2);
    }
    for (unsigned i = 0; i < o->stopped; i++)
        kill(kids[i], SIGSTOP);
    close(ready[0]);
    close(ready[1]);
    return kids;
}

/* Connect and subscribe o->subs subscribers, start the threads reading
 * them, wait for every snapshot. */
static struct fanout__sub *start_subs(const struct fanout__opts *o, struct fanout__reader **readers,
                                      unsigned *n_readers)
{
    struct fanout__sub *subs = calloc(o->subs, sizeof(*subs));
    unsigned t = o->threads == 0 || o->threads > o->subs ? o->subs : o->threads;
    struct fanout__reader *r = calloc(t + 1, sizeof(*r));

    for (unsigned i = 0; i < o->subs; i++) {
        subs[i].from_ack = calloc(1, sizeof(struct fanout__hist));
        subs[i].from_decision = calloc(1, sizeof(struct fanout__hist));
        subs[i].buf = malloc(FANOUT_READ_BUF);
        subs[i].fd = fanout__dial(o->tc);
        fanout__subscribe(subs[i].fd);
    }
    for (unsigned i = 0; i < t; i++) {
        r[i] = (struct fanout__reader){
                .subs = subs, .first = i, .step = t, .n = (o->subs - i + t - 1) / t};
        pthread_create(&r[i].thread, NULL, fanout__reader_main, &r[i]);
    }
    for (unsigned i = 0; i < o->subs; i++) {
        while (!atomic_load(&subs[i].snapshot_done))
            usleep(1000);
    }
    *readers = r;
    *n_readers = t;
    return subs;
}

static uint64_t events_so_far(const struct fanout__sub *subs, unsigned n)
{
    uint64_t events = 0;

    for (unsigned i = 0; i < n; i++)
        events += atomic_load(&subs[i].events);
    return events;
}

static void print_delays(const struct fanout__sub *subs, unsigned n)
{
    struct fanout__hist *ack = calloc(1, sizeof(*ack)), *dec = calloc(1, sizeof(*dec));
    uint64_t before = 0, unmatched = 0;

    for (unsigned i = 0; i < n; i++) {
        fanout__hist_merge(ack, subs[i].from_ack);
        fanout__hist_merge(dec, subs[i].from_decision);
        before += subs[i].before_ack;
        unmatched += subs[i].unmatched;
        if (subs[i].snap_seq != fanout__acks.seq0)
            fprintf(stderr, "bench_fanout: subscriber %u: snapshot at %llu, driver at %llu\n", i,
                    (unsigned long long)subs[i].snap_seq, (unsigned long long)fanout__acks.seq0);
    }
    printf("fanout delay from ack (us): p50=%llu p90=%llu p99=%llu p99.9=%llu max=%llu "
           "samples=%llu before_ack=%llu (counted as 0) unmatched=%llu\n",
           (unsigned long long)fanout__hist_at(ack, 0.5),
           (unsigned long long)fanout__hist_at(ack, 0.9),
           (unsigned long long)fanout__hist_at(ack, 0.99),
           (unsigned long long)fanout__hist_at(ack, 0.999), (unsigned long long)ack->max_us,
           (unsigned long long)ack->n, (unsigned long long)before, (unsigned long long)unmatched);
    printf("fanout delay from decision, incl. fsync (ms): p50=%.1f p99=%.1f max=%.1f\n",
           (double)fanout__hist_at(dec, 0.5) / 1000, (double)fanout__hist_at(dec, 0.99) / 1000,
           (double)dec->max_us / 1000);
    free(ack);
    free(dec);
}

int main(int argc, char **argv)
{
    struct fanout__opts o;
    struct fanout__sub *subs;
    struct fanout__reader *readers;
    unsigned n_readers;
    pid_t *kids;
    uint64_t changes, events = 0;
    unsigned long long ticks0, ticks1;
    long rss0, rss1;
    double rate, secs, cpu0;
    uint64_t t0;
    static char page[1 << 20];
    int gws;

    parse(argc, argv, &o);
    signal(SIGPIPE, SIG_IGN);
    fanout__mono_to_wall_us = fanout__clock_us(CLOCK_REALTIME) - fanout__mono_us();
    fanout__acks.cap = (uint64_t)o.rate * o.seconds;
    fanout__acks.at_us = calloc(fanout__acks.cap + 1, sizeof(*fanout__acks.at_us));
    fanout__acks.dn = calloc(fanout__acks.cap + 1, sizeof(*fanout__acks.dn));
    kids = start_stopped(&o);
    subs = start_subs(&o, &readers, &n_readers);
    rss0 = fanout__rss_kib(o.pid);
    ticks0 = fanout__cpu_ticks(o.pid);
    cpu0 = fanout__self_cpu_s();
    t0 = fanout__mono_us();
    changes = fanout__drive(&o, &rate, &gws);
    /* Let the last events arrive (bounded). */
    for (int w = 0; w < 500; w++) {
        events = events_so_far(subs, o.subs);
        if (events >= changes * o.subs)
            break;
        usleep(10000);
    }
    secs = (double)(fanout__mono_us() - t0) / 1e6;
    ticks1 = fanout__cpu_ticks(o.pid);
    cpu0 = fanout__self_cpu_s() - cpu0;
    rss1 = fanout__rss_kib(o.pid);
    if (o.http != 0)
        fanout__get_metrics(o.http, page, 1 << 20);
    atomic_store(&fanout__stopping, true);
    for (unsigned i = 0; i < n_readers; i++)
        pthread_join(readers[i].thread, NULL);
    for (unsigned i = 0; i < o.subs; i++)
        close(subs[i].fd);
    printf("fanout subscribers=%u threads=%u stopped=%u changes=%llu change_rate=%.0f/s "
           "events=%llu "
           "missing=%lld delivered=%.0f/s node_rss_kib before=%ld after=%ld "
           "cpu node=%.0f%% bench=%.0f%% (of one core)\n",
           o.subs, n_readers, o.stopped, (unsigned long long)changes, rate,
           (unsigned long long)events, (long long)(changes * o.subs) - (long long)events,
           (double)events / secs, rss0, rss1,
           (double)(ticks1 - ticks0) / (double)sysconf(_SC_CLK_TCK) / secs * 100,
           cpu0 / secs * 100);
    print_delays(subs, o.subs);
    if (o.http != 0)
        printf("fanout node: slow_subscribers=%.0f coalesced=%.0f pending_dns=%.0f "
               "pending_bytes=%.0f bytes_queued=%.0f live_events=%.0f resends=%.0f\n",
               fanout__metric(page, "tcluster_tc_port_slow_subscribers"),
               fanout__metric(page, "tcluster_tc_port_coalesced_total"),
               fanout__metric(page, "tcluster_tc_port_pending_dns"),
               fanout__metric(page, "tcluster_tc_port_pending_bytes"),
               fanout__metric(page, "tcluster_tc_port_bytes_queued"),
               fanout__metric(page, "tcluster_tc_port_live_events_total"),
               fanout__metric(page, "tcluster_tc_port_snapshots_total{kind=\"resend\"}"));
    if (o.http != 0) {
        double commits = fanout__metric(page, "tcluster_store_commits_total");

        printf("fanout store: commits=%.0f changes_per_commit=%.1f commit_ms_mean=%.2f\n", commits,
               fanout__metric(page, "tcluster_store_changes_total") / commits,
               fanout__metric(page, "tcluster_store_commit_seconds_sum") / commits * 1000);
    }
    fflush(stdout);
    close(gws);
    for (unsigned i = 0; i < o.stopped; i++) {
        kill(kids[i], SIGKILL);
        waitpid(kids[i], NULL, 0);
    }
    for (unsigned i = 0; i < o.subs; i++) {
        free(subs[i].from_ack);
        free(subs[i].from_decision);
        free(subs[i].buf);
    }
    free(readers);
    free(subs);
    free(kids);
    free(fanout__acks.at_us);
    free(fanout__acks.dn);
    return 0;
}
