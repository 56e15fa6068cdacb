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
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto/tcport.pb-c.h"
#include "server/base/buf.h"
#include "tcport/frame.h"

/* Delay histogram: 10 us buckets up to 100 ms, then 1 ms buckets to 10 s. */
#define HIST_FINE_US 10
#define HIST_FINE_N  10000
#define HIST_N       (HIST_FINE_N + 9900)
#define READ_BUF     (1 << 20)
#define WINDOW       2048 /* GWS requests in flight */
#define MAX_FRAME    (1u << 20)
#define REF_FIRST    2 /* ref_id of change 0; 1 is the OpenApp */

struct opts {
    uint16_t tc, dflt, http;
    pid_t pid;
    unsigned subs, stopped, rate, seconds, lo, hi;
    unsigned threads; /* reading the subscribers; 0: one each */
};

/* A thread reading subscribers first, first + step, ... (n of them). */
struct reader {
    pthread_t thread;
    struct sub *subs;
    unsigned first, step, n;
};

struct hist {
    uint32_t b[HIST_N];
    uint64_t n, max_us;
};

struct sub {
    int fd;
    uint8_t *buf; /* READ_BUF bytes: a partial frame between reads */
    size_t len;
    atomic_bool snapshot_done;
    atomic_uint_fast64_t events; /* change events after the snapshot */
    uint64_t snap_seq;
    uint64_t now_us; /* when the bytes being parsed were read */
    uint64_t before_ack, unmatched;
    struct hist *from_ack, *from_decision;
};

/* The answered changes, in the order the node answered (and published)
 * them: entry k is the change of sequence seq0 + k + 1. Written by the
 * driver's reader only; n published with release order. */
struct acks {
    uint64_t seq0;
    uint64_t cap;
    uint64_t *at_us;
    uint32_t *dn;
    atomic_uint_fast64_t n;
};

static atomic_bool stopping;
static struct acks acks;
static uint64_t mono_to_wall_us; /* CLOCK_REALTIME - CLOCK_MONOTONIC at the start */

static uint64_t clock_us(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t mono_us(void)
{
    return clock_us(CLOCK_MONOTONIC);
}

static void hist_add(struct hist *h, uint64_t us)
{
    size_t i =
            us < HIST_FINE_N * HIST_FINE_US ? us / HIST_FINE_US : HIST_FINE_N + (us / 1000 - 100);

    h->b[i < HIST_N ? i : HIST_N - 1]++;
    h->n++;
    if (us > h->max_us)
        h->max_us = us;
}

static void hist_merge(struct hist *to, const struct hist *from)
{
    for (size_t i = 0; i < HIST_N; i++)
        to->b[i] += from->b[i];
    to->n += from->n;
    if (from->max_us > to->max_us)
        to->max_us = from->max_us;
}

/* The value at quantile q, in us (the bucket's upper end). */
static uint64_t hist_at(const struct hist *h, double q)
{
    uint64_t want = (uint64_t)((double)h->n * q), seen = 0;

    for (size_t i = 0; i < HIST_N; i++) {
        seen += h->b[i];
        if (seen > want) {
            uint64_t top =
                    i < HIST_FINE_N ? (i + 1) * HIST_FINE_US : (i - HIST_FINE_N + 101) * 1000;

            return top < h->max_us ? top : h->max_us;
        }
    }
    return h->max_us;
}

static int dial(uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        perror("bench_fanout: connect");
        exit(2);
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
    const char *s = p;

    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            perror("bench_fanout: send");
            exit(2);
        }
        s += w;
        n -= (size_t)w;
    }
}

static void subscribe(int fd)
{
    Tc__Request rq = TC__REQUEST__INIT;
    Tc__Subscribe s = TC__SUBSCRIBE__INIT;
    struct tc_buf b = TC_BUF_INIT;

    rq.ref_id = 1;
    rq.body_case = TC__REQUEST__BODY_SUBSCRIBE;
    rq.subscribe = &s;
    frame_pack(&b, &rq.base);
    send_all(fd, b.data, b.len);
    tc_buf_free(&b);
}

/* Make recv() on fd give up after 100 ms, so readers see `stopping`. */
static void recv_timeout(int fd)
{
    struct timeval tv = {.tv_sec = 0, .tv_usec = 100000};

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* Read from fd (recv() flags) into buf and call fn for each whole frame's
 * payload; when at_us is not NULL, *at_us is the monotonic time the read
 * returned. Returns false at end of file or on an error (not on a timeout
 * or EAGAIN). */
static bool read_frames(int fd, int flags, uint8_t *buf, size_t *len, uint64_t *at_us,
                        void (*fn)(void *, const uint8_t *, uint32_t), void *arg)
{
    const uint8_t *payload;
    uint32_t plen;
    size_t off = 0;
    ssize_t n = recv(fd, buf + *len, READ_BUF - *len, flags);

    if (n <= 0)
        return n < 0 && (errno == EINTR || errno == EAGAIN);
    if (at_us != NULL)
        *at_us = mono_us();
    *len += (size_t)n;
    while (frame_next(buf + off, *len - off, MAX_FRAME, &payload, &plen) == FRAME_READY) {
        fn(arg, payload, plen);
        off += FRAME_HEADER + plen;
    }
    memmove(buf, buf + off, *len - off);
    *len -= off;
    return true;
}

/* --- a small protobuf reader for the subscribers' hot path: a million
 * events a second through tc__event__unpack() would cost the bench more CPU
 * than the node spends sending them, on the same two cores --- */

struct pb {
    const uint8_t *p, *end;
};

static bool pb_varint(struct pb *r, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; r->p < r->end && shift < 64; shift += 7) {
        uint8_t b = *r->p++;

        *v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0)
            return true;
    }
    return false;
}

/* The next field: its number, and its varint value or its bytes. Fixed-size
 * fields are skipped (reported with no value). */
static bool pb_next(struct pb *r, unsigned *field, uint64_t *v, struct pb *bytes)
{
    uint64_t tag;

    if (r->p >= r->end || !pb_varint(r, &tag))
        return false;
    *field = (unsigned)(tag >> 3);
    switch (tag & 7) {
    case 0:
        return pb_varint(r, v);
    case 1:
    case 5: {
        size_t n = (tag & 7) == 1 ? 8 : 4;

        if ((size_t)(r->end - r->p) < n)
            return false;
        r->p += n;
        *v = 0;
        return true;
    }
    case 2:
        if (!pb_varint(r, v) || *v > (uint64_t)(r->end - r->p))
            return false;
        bytes->p = r->p;
        bytes->end = r->p + *v;
        r->p += *v;
        return true;
    default:
        return false;
    }
}

/* What a subscriber needs of an Event. */
struct ev_view {
    unsigned body; /* TC__EVENT__BODY_*: oneof cases are the field numbers */
    uint64_t seq;
    uint32_t dn;       /* a DnState's DN as a number, 0 if none */
    uint64_t since_ms; /* a DnState's since_unix_ms */
    uint64_t snap_seq; /* EventSnapshotEnd.seq */
};

static void view_state(struct ev_view *e, struct pb r)
{
    struct pb b;
    unsigned f;
    uint64_t v;

    while (pb_next(&r, &f, &v, &b)) {
        if (f == 1) {
            for (const uint8_t *p = b.p; p < b.end && *p >= '0' && *p <= '9'; p++)
                e->dn = e->dn * 10 + (uint32_t)(*p - '0');
        } else if (f == 6) {
            e->since_ms = v;
        }
    }
}

static bool view_event(struct ev_view *e, const uint8_t *payload, uint32_t plen)
{
    struct pb r = {payload, payload + plen}, body = {NULL, NULL}, b;
    unsigned f;
    uint64_t v;

    memset(e, 0, sizeof(*e));
    while (pb_next(&r, &f, &v, &b)) {
        if (f == 2) {
            e->seq = v;
        } else if (f >= TC__EVENT__BODY_ERROR && f <= TC__EVENT__BODY_QUERY_END) {
            e->body = f;
            body = b;
        }
    }
    if (r.p != r.end)
        return false;
    if (e->body == TC__EVENT__BODY_SNAPSHOT_END) {
        while (pb_next(&body, &f, &v, &b)) {
            if (f == 1)
                e->snap_seq = v;
        }
    } else if (e->body == TC__EVENT__BODY_ADDRESS_INFO ||
               e->body == TC__EVENT__BODY_DN_OUT_OF_SERVICE ||
               e->body == TC__EVENT__BODY_DN_BACK_IN_SERVICE) {
        while (pb_next(&body, &f, &v, &b)) {
            if (f == 1)
                view_state(e, b);
        }
    }
    return true;
}

/* --- subscribers --- */

static void on_sub_frame(void *arg, const uint8_t *payload, uint32_t plen)
{
    struct sub *s = arg;
    struct ev_view e;
    uint64_t n, idx;

    if (!view_event(&e, payload, plen))
        return;
    if (e.body == TC__EVENT__BODY_SNAPSHOT_END) {
        s->snap_seq = e.snap_seq;
        atomic_store(&s->snapshot_done, true);
        return;
    }
    if (e.dn == 0 || e.seq == 0 || !atomic_load_explicit(&s->snapshot_done, memory_order_relaxed))
        return;
    if (e.since_ms != 0) {
        uint64_t since_us = e.since_ms * 1000, wall_us = s->now_us + mono_to_wall_us;

        hist_add(s->from_decision, wall_us > since_us ? wall_us - since_us : 0);
    }
    n = atomic_load_explicit(&acks.n, memory_order_acquire);
    idx = e.seq - acks.seq0 - 1;
    if (e.seq <= acks.seq0 || idx >= acks.cap) {
        s->unmatched++;
    } else if (idx >= n) {
        s->before_ack++;
        hist_add(s->from_ack, 0);
    } else if (acks.dn[idx] != e.dn) {
        s->unmatched++;
    } else {
        hist_add(s->from_ack, s->now_us > acks.at_us[idx] ? s->now_us - acks.at_us[idx] : 0);
    }
    atomic_fetch_add_explicit(&s->events, 1, memory_order_relaxed);
}

/* One subscriber: a blocking recv() and no poll(), one system call per
 * wake-up, for the bench takes the same two cores as the node. */
static void read_one(struct sub *s)
{
    recv_timeout(s->fd);
    while (!atomic_load(&stopping)) {
        if (!read_frames(s->fd, 0, s->buf, &s->len, &s->now_us, on_sub_frame, s))
            break;
    }
}

/* Several: epoll, then each ready one in turn (its time is when its own
 * recv() returned). */
static void read_many(struct reader *r)
{
    struct epoll_event evs[64];
    int ep = epoll_create1(0);

    for (unsigned i = 0; i < r->n; i++) {
        struct sub *s = &r->subs[r->first + i * r->step];
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};

        epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev);
    }
    while (!atomic_load(&stopping)) {
        int n = epoll_wait(ep, evs, 64, 100);

        for (int i = 0; i < n; i++) {
            struct sub *s = evs[i].data.ptr;

            if (!read_frames(s->fd, MSG_DONTWAIT, s->buf, &s->len, &s->now_us, on_sub_frame, s))
                epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
        }
    }
    close(ep);
}

static void *reader_main(void *arg)
{
    struct reader *r = arg;

    if (r->n == 1)
        read_one(&r->subs[r->first]);
    else
        read_many(r);
    return NULL;
}

static void on_ignore(void *arg, const uint8_t *payload, uint32_t plen)
{
    bool *done = arg;
    struct ev_view e;

    if (view_event(&e, payload, plen) && e.body == TC__EVENT__BODY_SNAPSHOT_END)
        *done = true;
}

/* A subscriber process: read the snapshot, say so on ready, then read
 * (until stopped by the parent, then killed). */
static void stopped_child(uint16_t port, int ready)
{
    uint8_t *buf = malloc(READ_BUF);
    size_t len = 0;
    bool done = false;
    int fd = dial(port);

    subscribe(fd);
    while (!done && read_frames(fd, 0, buf, &len, NULL, on_ignore, &done))
        ;
    if (write(ready, "R", 1) != 1)
        _exit(1);
    while (read_frames(fd, 0, buf, &len, NULL, on_ignore, &done))
        ;
    _exit(0);
}

/* --- the GWS driver --- */

struct driver {
    int fd;
    unsigned lo, span;
    uint64_t now_us; /* when the bytes being parsed were read */
    atomic_uint_fast64_t sent, answered, errors;
};

static void on_answer(void *arg, const uint8_t *payload, uint32_t plen)
{
    struct driver *d = arg;
    Tc__Event *ev = tc__event__unpack(NULL, plen, payload);

    if (ev == NULL)
        return;
    if (ev->ref_id == 0)
        goto out;
    if (ev->body_case == TC__EVENT__BODY_OPENED) {
        acks.seq0 = ev->opened->seq;
    } else if (ev->body_case == TC__EVENT__BODY_REGISTERED ||
               ev->body_case == TC__EVENT__BODY_UNREGISTERED) {
        uint64_t k = atomic_load_explicit(&acks.n, memory_order_relaxed);

        if (k < acks.cap && ev->ref_id >= REF_FIRST) {
            acks.at_us[k] = d->now_us;
            acks.dn[k] = d->lo + (ev->ref_id - REF_FIRST) % d->span;
            atomic_store_explicit(&acks.n, k + 1, memory_order_release);
        }
    } else if (ev->body_case == TC__EVENT__BODY_ERROR) {
        atomic_fetch_add(&d->errors, 1);
    }
    atomic_fetch_add(&d->answered, 1);
out:
    tc__event__free_unpacked(ev, NULL);
}

static void *driver_reader(void *arg)
{
    struct driver *d = arg;
    uint8_t *buf = malloc(READ_BUF);
    size_t len = 0;

    recv_timeout(d->fd);
    while (!atomic_load(&stopping) || atomic_load(&d->answered) < atomic_load(&d->sent)) {
        uint64_t before = atomic_load(&d->answered);

        if (!read_frames(d->fd, 0, buf, &len, &d->now_us, on_answer, d))
            break;
        if (atomic_load(&stopping) && atomic_load(&d->answered) == before)
            break;
    }
    free(buf);
    return NULL;
}

static void pack_request(struct tc_buf *b, bool claim, unsigned dn, uint32_t ref)
{
    Tc__Request rq = TC__REQUEST__INIT;
    Tc__RegisterAddress ra = TC__REGISTER_ADDRESS__INIT;
    Tc__UnregisterAddress ua = TC__UNREGISTER_ADDRESS__INIT;
    Tc__OpenApp oa = TC__OPEN_APP__INIT;
    char s[24];

    snprintf(s, sizeof(s), "%u", dn);
    rq.ref_id = ref;
    if (dn == 0) {
        oa.application = "GWS";
        rq.body_case = TC__REQUEST__BODY_OPEN_APP;
        rq.open_app = &oa;
    } else if (claim) {
        ra.dn = s;
        rq.body_case = TC__REQUEST__BODY_REGISTER_ADDRESS;
        rq.register_address = &ra;
    } else {
        ua.dn = s;
        rq.body_case = TC__REQUEST__BODY_UNREGISTER_ADDRESS;
        rq.unregister_address = &ua;
    }
    frame_pack(b, &rq.base);
}

/* Claim then release lo..hi in turn at o->rate per second for o->seconds.
 * Returns the changes answered. */
static uint64_t drive(const struct opts *o, double *rate_out, int *fd_out)
{
    struct driver d = {.fd = dial(o->dflt), .lo = o->lo, .span = o->hi - o->lo + 1};
    struct tc_buf b = TC_BUF_INIT;
    uint64_t total = (uint64_t)o->rate * o->seconds, i = 0;
    uint64_t t0, t1;
    pthread_t reader;

    pack_request(&b, false, 0, 1);
    send_all(d.fd, b.data, b.len);
    atomic_store(&d.sent, 1);
    pthread_create(&reader, NULL, driver_reader, &d);
    while (atomic_load(&d.answered) < 1)
        usleep(1000);
    t0 = mono_us();
    while (i < total) {
        uint64_t due = (i * 1000000) / o->rate;
        uint64_t now = mono_us() - t0;

        tc_buf_reset(&b);
        /* Everything due now, as one write, within the window. */
        while (i < total && (i * 1000000) / o->rate <= now &&
               atomic_load(&d.sent) - atomic_load(&d.answered) < WINDOW) {
            uint64_t round = i / d.span;

            pack_request(&b, round % 2 == 0, o->lo + (unsigned)(i % d.span),
                         (uint32_t)(i + REF_FIRST));
            atomic_fetch_add(&d.sent, 1);
            i++;
        }
        if (b.len > 0)
            send_all(d.fd, b.data, b.len);
        else
            usleep(due > now && due - now < 1000 ? (useconds_t)(due - now) : 200);
    }
    /* Wait for the last answers (bounded). */
    for (int w = 0; w < 1000 && atomic_load(&d.answered) < atomic_load(&d.sent); w++)
        usleep(10000);
    t1 = mono_us();
    *rate_out = (double)(atomic_load(&d.answered) - 1) * 1e6 / (double)(t1 - t0);
    atomic_store(&stopping, true);
    pthread_join(reader, NULL);
    atomic_store(&stopping, false);
    if (atomic_load(&d.errors) > 0)
        fprintf(stderr, "bench_fanout: %llu requests refused\n",
                (unsigned long long)atomic_load(&d.errors));
    /* Closing would release the DNs still claimed: the caller closes
     * after measuring. */
    *fd_out = d.fd;
    tc_buf_free(&b);
    return atomic_load(&d.answered) - 1 - atomic_load(&d.errors);
}

/* --- the node, from outside --- */

static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    }
    fclose(f);
    return kib;
}

/* utime + stime of pid in clock ticks, or 0. */
static unsigned long long cpu_ticks(pid_t pid)
{
    char path[64], line[1024], *p;
    unsigned long long ut = 0, st = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return 0;
    p = fgets(line, sizeof(line), f) != NULL ? strrchr(line, ')') : NULL;
    fclose(f);
    /* After the name: state ppid pgrp session tty tpgid flags minflt
     * cminflt majflt cmajflt utime stime. */
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return 0;
    return ut + st;
}

static double self_cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* GET /metrics from 127.0.0.1:port into buf (NUL-terminated). */
static void get_metrics(uint16_t port, char *buf, size_t cap)
{
    static const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
    int fd = dial(port);
    size_t len = 0;
    ssize_t n;

    send_all(fd, req, sizeof(req) - 1);
    while (len + 1 < cap && (n = recv(fd, buf + len, cap - 1 - len, 0)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    close(fd);
}

/* The value of the sample "name value" in a /metrics page, or -1. */
static double metric(const char *page, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = page; (p = strstr(p, name)) != NULL; p += n) {
        if ((p == page || p[-1] == '\n') && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    }
    return -1;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_fanout --tc PORT --default PORT --pid PID [--http PORT] [--subs N] "
            "[--stopped N] [--rate R] [--seconds S] [--lo DN] [--hi DN] [--threads N]\n");
    exit(1);
}

static void parse(int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = {
            {"tc", 1, NULL, 't'},      {"default", 1, NULL, 'd'}, {"pid", 1, NULL, 'p'},
            {"subs", 1, NULL, 's'},    {"stopped", 1, NULL, 'x'}, {"rate", 1, NULL, 'r'},
            {"seconds", 1, NULL, 'S'}, {"lo", 1, NULL, 'l'},      {"hi", 1, NULL, 'h'},
            {"http", 1, NULL, 'H'},    {"threads", 1, NULL, 'T'}, {NULL, 0, NULL, 0},
    };
    int c;

    *o = (struct opts){0, 0, 0, 0, 100, 0, 10000, 5, 10000, 19999, 0};
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
static pid_t *start_stopped(const struct opts *o)
{
    pid_t *kids = calloc(o->stopped + 1, sizeof(*kids));
    int ready[2];

    if (kids == NULL || pipe(ready) != 0)
        exit(2);
    for (unsigned i = 0; i < o->stopped; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            close(ready[0]);
            stopped_child(o->tc, ready[1]);
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
static struct sub *start_subs(const struct opts *o, struct reader **readers, unsigned *n_readers)
{
    struct sub *subs = calloc(o->subs, sizeof(*subs));
    unsigned t = o->threads == 0 || o->threads > o->subs ? o->subs : o->threads;
    struct reader *r = calloc(t + 1, sizeof(*r));

    for (unsigned i = 0; i < o->subs; i++) {
        subs[i].from_ack = calloc(1, sizeof(struct hist));
        subs[i].from_decision = calloc(1, sizeof(struct hist));
        subs[i].buf = malloc(READ_BUF);
        subs[i].fd = dial(o->tc);
        subscribe(subs[i].fd);
    }
    for (unsigned i = 0; i < t; i++) {
        r[i] = (struct reader){.subs = subs, .first = i, .step = t, .n = (o->subs - i + t - 1) / t};
        pthread_create(&r[i].thread, NULL, reader_main, &r[i]);
    }
    for (unsigned i = 0; i < o->subs; i++) {
        while (!atomic_load(&subs[i].snapshot_done))
            usleep(1000);
    }
    *readers = r;
    *n_readers = t;
    return subs;
}

static uint64_t events_so_far(const struct sub *subs, unsigned n)
{
    uint64_t events = 0;

    for (unsigned i = 0; i < n; i++)
        events += atomic_load(&subs[i].events);
    return events;
}

static void print_delays(const struct sub *subs, unsigned n)
{
    struct hist *ack = calloc(1, sizeof(*ack)), *dec = calloc(1, sizeof(*dec));
    uint64_t before = 0, unmatched = 0;

    for (unsigned i = 0; i < n; i++) {
        hist_merge(ack, subs[i].from_ack);
        hist_merge(dec, subs[i].from_decision);
        before += subs[i].before_ack;
        unmatched += subs[i].unmatched;
        if (subs[i].snap_seq != acks.seq0)
            fprintf(stderr, "bench_fanout: subscriber %u: snapshot at %llu, driver at %llu\n", i,
                    (unsigned long long)subs[i].snap_seq, (unsigned long long)acks.seq0);
    }
    printf("fanout delay from ack (us): p50=%llu p90=%llu p99=%llu p99.9=%llu max=%llu "
           "samples=%llu before_ack=%llu (counted as 0) unmatched=%llu\n",
           (unsigned long long)hist_at(ack, 0.5), (unsigned long long)hist_at(ack, 0.9),
           (unsigned long long)hist_at(ack, 0.99), (unsigned long long)hist_at(ack, 0.999),
           (unsigned long long)ack->max_us, (unsigned long long)ack->n, (unsigned long long)before,
           (unsigned long long)unmatched);
    printf("fanout delay from decision, incl. fsync (ms): p50=%.1f p99=%.1f max=%.1f\n",
           (double)hist_at(dec, 0.5) / 1000, (double)hist_at(dec, 0.99) / 1000,
           (double)dec->max_us / 1000);
    free(ack);
    free(dec);
}

int main(int argc, char **argv)
{
    struct opts o;
    struct sub *subs;
    struct reader *readers;
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
    mono_to_wall_us = clock_us(CLOCK_REALTIME) - mono_us();
    acks.cap = (uint64_t)o.rate * o.seconds;
    acks.at_us = calloc(acks.cap + 1, sizeof(*acks.at_us));
    acks.dn = calloc(acks.cap + 1, sizeof(*acks.dn));
    kids = start_stopped(&o);
    subs = start_subs(&o, &readers, &n_readers);
    rss0 = rss_kib(o.pid);
    ticks0 = cpu_ticks(o.pid);
    cpu0 = self_cpu_s();
    t0 = mono_us();
    changes = drive(&o, &rate, &gws);
    /* Let the last events arrive (bounded). */
    for (int w = 0; w < 500; w++) {
        events = events_so_far(subs, o.subs);
        if (events >= changes * o.subs)
            break;
        usleep(10000);
    }
    secs = (double)(mono_us() - t0) / 1e6;
    ticks1 = cpu_ticks(o.pid);
    cpu0 = self_cpu_s() - cpu0;
    rss1 = rss_kib(o.pid);
    if (o.http != 0)
        get_metrics(o.http, page, 1 << 20);
    atomic_store(&stopping, true);
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
               metric(page, "tcluster_tc_port_slow_subscribers"),
               metric(page, "tcluster_tc_port_coalesced_total"), metric(page, "tcluster_tc_port_pending_dns"),
               metric(page, "tcluster_tc_port_pending_bytes"), metric(page, "tcluster_tc_port_bytes_queued"),
               metric(page, "tcluster_tc_port_live_events_total"),
               metric(page, "tcluster_tc_port_snapshots_total{kind=\"resend\"}"));
    if (o.http != 0) {
        double commits = metric(page, "tcluster_store_commits_total");

        printf("fanout store: commits=%.0f changes_per_commit=%.1f commit_ms_mean=%.2f\n", commits,
               metric(page, "tcluster_store_changes_total") / commits,
               metric(page, "tcluster_store_commit_seconds_sum") / commits * 1000);
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
    free(acks.at_us);
    free(acks.dn);
    return 0;
}
