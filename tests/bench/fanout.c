/* bench_fanout: TC port fan-out under a stream of DN changes.
 *
 *   bench_fanout --tc PORT --default PORT --pid PID [--http PORT] [--subs 100]
 *                [--stopped 0] [--rate 10000] [--seconds 5] [--lo 10000]
 *                [--hi 19999]
 *
 * Connects `subs` TC subscribers to 127.0.0.1 (threads, raw sockets) and
 * `stopped` more that read their snapshot and are then SIGSTOPped (child
 * processes), then drives DN changes through one GWS client of the default
 * port (claims then releases of DNs lo..hi, paced at `rate` per second for
 * `seconds`). Prints one line: changes made, events delivered per second
 * to the live subscribers, delay from change to delivery (the DnState's
 * since_unix_ms against the wall clock at receipt: p50, p99, max) and the
 * node's RSS before and after; with --http, the TC port's slow-subscriber
 * figures from /metrics while the stopped ones still are. Not a test: it never fails on figures.
 * The node must list GWS in gws-client-names. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto/tcport.pb-c.h"
#include "server/buf.h"
#include "tcport/frame.h"

#define HIST_MS   10000 /* delays counted per ms up to 10 s */
#define READ_BUF  (1 << 20)
#define WINDOW    2048 /* GWS requests in flight */
#define MAX_FRAME (1u << 20)

struct opts {
    uint16_t tc, dflt, http;
    pid_t pid;
    unsigned subs, stopped, rate, seconds, lo, hi;
};

struct sub {
    pthread_t thread;
    int fd;
    atomic_bool snapshot_done;
    atomic_uint_fast64_t events; /* change events after the snapshot */
    uint32_t *hist;
};

static atomic_bool stopping;

static uint64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
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

/* Read frames from fd into buf, calling fn for each event. Returns false
 * at end of file. */
static bool read_events(int fd, uint8_t *buf, size_t *len, void (*fn)(void *, Tc__Event *),
                        void *arg)
{
    const uint8_t *payload;
    uint32_t plen;
    size_t off = 0;
    ssize_t n = recv(fd, buf + *len, READ_BUF - *len, 0);

    if (n <= 0)
        return n < 0 && errno == EINTR;
    *len += (size_t)n;
    while (frame_next(buf + off, *len - off, MAX_FRAME, &payload, &plen) == FRAME_READY) {
        Tc__Event *ev = tc__event__unpack(NULL, plen, payload);

        if (ev != NULL) {
            fn(arg, ev);
            tc__event__free_unpacked(ev, NULL);
        }
        off += FRAME_HEADER + plen;
    }
    memmove(buf, buf + off, *len - off);
    *len -= off;
    return true;
}

static void on_sub_event(void *arg, Tc__Event *ev)
{
    struct sub *s = arg;
    const Tc__DnState *st = NULL;

    if (ev->body_case == TC__EVENT__BODY_SNAPSHOT_END)
        atomic_store(&s->snapshot_done, true);
    else if (ev->body_case == TC__EVENT__BODY_DN_BACK_IN_SERVICE)
        st = ev->dn_back_in_service->state;
    else if (ev->body_case == TC__EVENT__BODY_DN_OUT_OF_SERVICE)
        st = ev->dn_out_of_service->state;
    else if (ev->body_case == TC__EVENT__BODY_ADDRESS_INFO && atomic_load(&s->snapshot_done))
        st = ev->address_info->state;
    if (st == NULL)
        return;
    if (st->since_unix_ms != 0) {
        uint64_t now = wall_ms();
        uint64_t d = now > st->since_unix_ms ? now - st->since_unix_ms : 0;

        s->hist[d < HIST_MS ? d : HIST_MS - 1]++;
    }
    atomic_fetch_add(&s->events, 1);
}

static void *sub_main(void *arg)
{
    struct sub *s = arg;
    uint8_t *buf = malloc(READ_BUF);
    size_t len = 0;

    while (!atomic_load(&stopping)) {
        struct pollfd pfd = {.fd = s->fd, .events = POLLIN};

        if (poll(&pfd, 1, 100) <= 0)
            continue;
        if (!read_events(s->fd, buf, &len, on_sub_event, s))
            break;
    }
    free(buf);
    return NULL;
}

static void on_ignore(void *arg, Tc__Event *ev)
{
    bool *done = arg;

    if (ev->body_case == TC__EVENT__BODY_SNAPSHOT_END)
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
    while (!done && read_events(fd, buf, &len, on_ignore, &done))
        ;
    if (write(ready, "R", 1) != 1)
        _exit(1);
    while (read_events(fd, buf, &len, on_ignore, &done))
        ;
    _exit(0);
}

/* --- the GWS driver --- */

struct driver {
    int fd;
    atomic_uint_fast64_t sent, answered, errors;
};

static void on_answer(void *arg, Tc__Event *ev)
{
    struct driver *d = arg;

    if (ev->ref_id == 0)
        return;
    if (ev->body_case == TC__EVENT__BODY_ERROR)
        atomic_fetch_add(&d->errors, 1);
    atomic_fetch_add(&d->answered, 1);
}

static void *driver_reader(void *arg)
{
    struct driver *d = arg;
    uint8_t *buf = malloc(READ_BUF);
    size_t len = 0;

    while (!atomic_load(&stopping) || atomic_load(&d->answered) < atomic_load(&d->sent)) {
        struct pollfd pfd = {.fd = d->fd, .events = POLLIN};

        if (poll(&pfd, 1, 100) <= 0) {
            if (atomic_load(&stopping))
                break;
            continue;
        }
        if (!read_events(d->fd, buf, &len, on_answer, d))
            break;
    }
    free(buf);
    return NULL;
}

static void pack_request(struct tc_buf *b, bool claim, unsigned dn)
{
    Tc__Request rq = TC__REQUEST__INIT;
    Tc__RegisterAddress ra = TC__REGISTER_ADDRESS__INIT;
    Tc__UnregisterAddress ua = TC__UNREGISTER_ADDRESS__INIT;
    Tc__OpenApp oa = TC__OPEN_APP__INIT;
    char s[24];

    snprintf(s, sizeof(s), "%u", dn);
    rq.ref_id = 2;
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
    struct driver d = {.fd = dial(o->dflt)};
    struct tc_buf b = TC_BUF_INIT;
    uint64_t total = (uint64_t)o->rate * o->seconds, i = 0;
    unsigned span = o->hi - o->lo + 1;
    uint64_t t0, t1;
    pthread_t reader;

    pack_request(&b, false, 0);
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
            uint64_t round = i / span;

            pack_request(&b, round % 2 == 0, o->lo + (unsigned)(i % span));
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

static unsigned percentile(const uint64_t *hist, uint64_t n, double p)
{
    uint64_t want = (uint64_t)((double)n * p), seen = 0;

    for (unsigned i = 0; i < HIST_MS; i++) {
        seen += hist[i];
        if (seen > want)
            return i;
    }
    return HIST_MS;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_fanout --tc PORT --default PORT --pid PID [--http PORT] [--subs N] "
            "[--stopped N] [--rate R] [--seconds S] [--lo DN] [--hi DN]\n");
    exit(1);
}

static void parse(int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = {
            {"tc", 1, NULL, 't'},      {"default", 1, NULL, 'd'}, {"pid", 1, NULL, 'p'},
            {"subs", 1, NULL, 's'},    {"stopped", 1, NULL, 'x'}, {"rate", 1, NULL, 'r'},
            {"seconds", 1, NULL, 'S'}, {"lo", 1, NULL, 'l'},      {"hi", 1, NULL, 'h'},
            {"http", 1, NULL, 'H'},    {NULL, 0, NULL, 0},
    };
    int c;

    *o = (struct opts){0, 0, 0, 0, 100, 0, 10000, 5, 10000, 19999};
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
        }
    }
    if (o->tc == 0 || o->dflt == 0 || o->pid == 0 || o->rate == 0 || o->hi < o->lo)
        usage();
}

int main(int argc, char **argv)
{
    struct opts o;
    struct sub *subs;
    pid_t *kids;
    uint64_t *hist, changes, events = 0, n = 0;
    long rss0, rss1;
    double rate, secs;
    uint64_t t0;
    static char page[1 << 20];
    int ready[2], gws;

    parse(argc, argv, &o);
    signal(SIGPIPE, SIG_IGN);
    /* Stopped subscribers first: fork before any thread exists. */
    kids = calloc(o.stopped + 1, sizeof(*kids));
    if (pipe(ready) != 0)
        return 2;
    for (unsigned i = 0; i < o.stopped; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            close(ready[0]);
            stopped_child(o.tc, ready[1]);
        }
    }
    for (unsigned i = 0; i < o.stopped; i++) {
        char r;

        if (read(ready[0], &r, 1) != 1)
            return 2;
    }
    for (unsigned i = 0; i < o.stopped; i++)
        kill(kids[i], SIGSTOP);

    subs = calloc(o.subs, sizeof(*subs));
    for (unsigned i = 0; i < o.subs; i++) {
        subs[i].hist = calloc(HIST_MS, sizeof(uint32_t));
        subs[i].fd = dial(o.tc);
        subscribe(subs[i].fd);
        pthread_create(&subs[i].thread, NULL, sub_main, &subs[i]);
    }
    for (unsigned i = 0; i < o.subs; i++) {
        while (!atomic_load(&subs[i].snapshot_done))
            usleep(1000);
    }
    rss0 = rss_kib(o.pid);
    t0 = mono_us();
    changes = drive(&o, &rate, &gws);
    /* Let the last events arrive (bounded). */
    for (int w = 0; w < 500; w++) {
        events = 0;
        for (unsigned i = 0; i < o.subs; i++)
            events += atomic_load(&subs[i].events);
        if (events >= changes * o.subs)
            break;
        usleep(10000);
    }
    secs = (double)(mono_us() - t0) / 1e6;
    rss1 = rss_kib(o.pid);
    if (o.http != 0)
        get_metrics(o.http, page, 1 << 20);
    atomic_store(&stopping, true);
    hist = calloc(HIST_MS, sizeof(*hist));
    for (unsigned i = 0; i < o.subs; i++) {
        pthread_join(subs[i].thread, NULL);
        close(subs[i].fd);
        for (unsigned j = 0; j < HIST_MS; j++) {
            hist[j] += subs[i].hist[j];
            n += subs[i].hist[j];
        }
        free(subs[i].hist);
    }
    printf("fanout subscribers=%u stopped=%u changes=%llu change_rate=%.0f/s events=%llu "
           "missing=%lld delivered=%.0f/s delay_ms p50=%u p99=%u max=%u node_rss_kib "
           "before=%ld after=%ld\n",
           o.subs, o.stopped, (unsigned long long)changes, rate, (unsigned long long)events,
           (long long)(changes * o.subs) - (long long)events, (double)events / secs,
           percentile(hist, n, 0.5), percentile(hist, n, 0.99), percentile(hist, n, 0.999999), rss0,
           rss1);
    if (o.http != 0)
        printf("fanout node: slow_subscribers=%.0f coalesced=%.0f pending_dns=%.0f "
               "pending_bytes=%.0f bytes_queued=%.0f live_events=%.0f resends=%.0f\n",
               metric(page, "tc_tc_port_slow_subscribers"),
               metric(page, "tc_tc_port_coalesced_total"), metric(page, "tc_tc_port_pending_dns"),
               metric(page, "tc_tc_port_pending_bytes"), metric(page, "tc_tc_port_bytes_queued"),
               metric(page, "tc_tc_port_live_events_total"),
               metric(page, "tc_tc_port_snapshots_total{kind=\"resend\"}"));
    fflush(stdout);
    close(gws);
    for (unsigned i = 0; i < o.stopped; i++) {
        kill(kids[i], SIGKILL);
        waitpid(kids[i], NULL, 0);
    }
    free(hist);
    free(subs);
    free(kids);
    return 0;
}
