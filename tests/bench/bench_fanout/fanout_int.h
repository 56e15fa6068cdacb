#ifndef TC_TESTS_BENCH_BENCH_FANOUT_FANOUT_INT_H
#define TC_TESTS_BENCH_BENCH_FANOUT_FANOUT_INT_H

/* bench_fanout (tests/bench/bench_fanout/, run by tests/bench/fanout): what
 * its files share. fanout.c holds the options, the run and the report;
 * fanout_hist.c the clock and the delay histograms; fanout_wire.c the TC
 * port connections, frames and a small protobuf reader; fanout_sub.c the
 * subscribers (threads, and the stopped child processes); fanout_driver.c
 * the GWS client that makes the changes; fanout_node.c the node seen from
 * outside (/proc, /metrics). */

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* Delay histogram: 10 us buckets up to 100 ms, then 1 ms buckets to 10 s. */
#define FANOUT_HIST_FINE_US 10
#define FANOUT_HIST_FINE_N  10000
#define FANOUT_HIST_N       (FANOUT_HIST_FINE_N + 9900)
#define FANOUT_READ_BUF     (1 << 20)

struct fanout__opts {
    uint16_t tc, dflt, http;
    pid_t pid;
    unsigned subs, stopped, rate, seconds, lo, hi;
    unsigned threads; /* reading the subscribers; 0: one each */
};

/* A thread reading subscribers first, first + step, ... (n of them). */
struct fanout__reader {
    pthread_t thread;
    struct fanout__sub *subs;
    unsigned first, step, n;
};

struct fanout__hist {
    uint32_t b[FANOUT_HIST_N];
    uint64_t n, max_us;
};

struct fanout__sub {
    int fd;
    uint8_t *buf; /* FANOUT_READ_BUF bytes: a partial frame between reads */
    size_t len;
    atomic_bool snapshot_done;
    atomic_uint_fast64_t events; /* change events after the snapshot */
    uint64_t snap_seq;
    uint64_t now_us; /* when the bytes being parsed were read */
    uint64_t before_ack, unmatched;
    struct fanout__hist *from_ack, *from_decision;
};

/* The answered changes, in the order the node answered (and published)
 * them: entry k is the change of sequence seq0 + k + 1. Written by the
 * driver's reader only; n published with release order. */
struct fanout__acks {
    uint64_t seq0;
    uint64_t cap;
    uint64_t *at_us;
    uint32_t *dn;
    atomic_uint_fast64_t n;
};

/* What a subscriber needs of an Event. */
struct fanout__ev_view {
    unsigned body; /* TC__EVENT__BODY_*: oneof cases are the field numbers */
    uint64_t seq;
    uint32_t dn;       /* a DnState's DN as a number, 0 if none */
    uint64_t since_ms; /* a DnState's since_unix_ms */
    uint64_t snap_seq; /* EventSnapshotEnd.seq */
};

/* fanout.c ----------------------------------------------------------------- */

/* Set: the readers and the driver's reader stop. */
extern atomic_bool fanout__stopping;
extern struct fanout__acks fanout__acks;
extern uint64_t fanout__mono_to_wall_us; /* CLOCK_REALTIME - CLOCK_MONOTONIC at the start */

/* fanout_hist.c ------------------------------------------------------------ */

/* Clock id's time in microseconds. */
uint64_t fanout__clock_us(clockid_t id);
uint64_t fanout__mono_us(void);
void fanout__hist_add(struct fanout__hist *h, uint64_t us);
void fanout__hist_merge(struct fanout__hist *to, const struct fanout__hist *from);
/* The value at quantile q, in us (the bucket's upper end). */
uint64_t fanout__hist_at(const struct fanout__hist *h, double q);

/* fanout_wire.c ------------------------------------------------------------ */

/* A TCP connection to 127.0.0.1:port (TCP_NODELAY); exits on failure. */
int fanout__dial(uint16_t port);
/* Send all n bytes of p; exits on failure. */
void fanout__send_all(int fd, const void *p, size_t n);
/* Send the TC port's Subscribe. */
void fanout__subscribe(int fd);
/* Make recv() on fd give up after 100 ms, so readers see fanout__stopping. */
void fanout__recv_timeout(int fd);
/* Read from fd (recv() flags) into buf and call fn for each whole frame's
 * payload; when at_us is not NULL, *at_us is the monotonic time the read
 * returned. Returns false at end of file or on an error (not on a timeout
 * or EAGAIN). */
bool fanout__read_frames(int fd, int flags, uint8_t *buf, size_t *len, uint64_t *at_us,
                         void (*fn)(void *, const uint8_t *, uint32_t), void *arg);
/* Read what a subscriber needs of the Event in payload into e. Returns
 * false when it does not parse. */
bool fanout__view_event(struct fanout__ev_view *e, const uint8_t *payload, uint32_t plen);

/* fanout_sub.c ------------------------------------------------------------- */

/* A reader thread (arg: its struct fanout__reader). */
void *fanout__reader_main(void *arg);
/* A subscriber process: read the snapshot, say so on ready, then read
 * (until stopped by the parent, then killed). Never returns. */
void fanout__stopped_child(uint16_t port, int ready);

/* fanout_driver.c ---------------------------------------------------------- */

/* Claim then release lo..hi in turn at o->rate per second for o->seconds.
 * Returns the changes answered; *rate_out gets the answered rate, *fd_out
 * the GWS connection, left open (closing it releases the DNs). */
uint64_t fanout__drive(const struct fanout__opts *o, double *rate_out, int *fd_out);

/* fanout_node.c ------------------------------------------------------------ */

/* VmRSS of pid in KiB, or -1. */
long fanout__rss_kib(pid_t pid);
/* utime + stime of pid in clock ticks, or 0. */
unsigned long long fanout__cpu_ticks(pid_t pid);
/* This process's CPU time in seconds. */
double fanout__self_cpu_s(void);
/* GET /metrics from 127.0.0.1:port into buf (NUL-terminated). */
void fanout__get_metrics(uint16_t port, char *buf, size_t cap);
/* The value of the sample "name value" in a /metrics page, or -1. */
double fanout__metric(const char *page, const char *name);

#endif
