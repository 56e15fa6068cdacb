/* regflood: REGISTERs open-loop at a fixed rate, cheaply, to a registrar
 * on loopback, and one line of what came back (see usage() and the
 * README's benchmark section). A measurement, not a
 * test: it exits 0 when the run happened (whatever the answers), 1 on a
 * usage error, 2 when it could not run (sockets, connections). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

#include "regflood.h"

static void usage(FILE *out)
{
    fputs("usage: regflood -s 127.0.0.1:PORT --rate N --duration S --dns FIRST-LAST [options]\n"
          "  -s, --server ADDR:PORT  the registrar (loopback IPv4 only)\n"
          "  -t, --transport udp|tcp (default udp)\n"
          "  -r, --rate N            REGISTERs per second, open loop (1..10000000)\n"
          "  -d, --duration S        seconds of sending (at most 3600)\n"
          "  -n, --count N           at most N REGISTERs (default rate x duration)\n"
          "      --dns FIRST-LAST    phones' DNs (same number of digits)\n"
          "      --refresh PCT       share of REGISTERs that refresh a DN already sent\n"
          "                          (same Call-ID, CSeq+1); the rest register DNs not\n"
          "                          yet sent, until none is left (default 0; 100: each\n"
          "                          DN once, then refreshes only)\n"
          "      --paths N           UDP source ports or TCP connections (default 32 / 16);\n"
          "                          TCP: a DN always uses connection DN % N\n"
          "      --expires S         Expires asked for (default 3600)\n"
          "      --t1 MS             UDP retransmission T1 (default 500; doubles up to 4 s)\n"
          "      --warmup-rate N     first register every DN once at N/s (one line of its\n"
          "                          own, regflood-warmup), then the run: refreshes only\n"
          "      --hold-ms MS        TCP: once every connection is up, say so on stderr\n"
          "                          and wait MS before sending (a server's memory per\n"
          "                          connection can be read then)\n"
          "      --wait S            after the last send, wait at most S s for answers\n"
          "                          (default 3)\n"
          "      --tick-us US        pacing tick (default: 8 requests' worth, 1000 to 8000)\n"
          "      --no-gso            sendmmsg instead of UDP_SEGMENT\n"
          "      --ok-file FILE      write the DNs answered 200, one per line\n"
          "      --unanswered-file FILE  the DNs sent and never answered\n"
          "Prints one line of key=value pairs: offered rate, sent (first/refresh),\n"
          "retrans, answers by code, 503s with Retry-After, unanswered, achieved 200/s,\n"
          "latency p50/p99/p99.9 of 200s and p99 of all answers (ms, from the first send),\n"
          "and regflood's own CPU per REGISTER (getrusage, us).\n",
          out);
}

static int parse_server(struct flood *f, const char *s)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    char *end;
    unsigned long port;

    if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    port = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || port == 0 || port > 65535)
        return -1;
    f->server.sin_family = AF_INET;
    f->server.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &f->server.sin_addr) != 1)
        return -1;
    /* Loopback only: this is a flood. */
    return (ntohl(f->server.sin_addr.s_addr) >> 24) == 127 ? 0 : -1;
}

static int parse_options(struct flood *f, int argc, char **argv)
{
    static const struct option opts[] = {
            {"server", required_argument, NULL, 's'},
            {"transport", required_argument, NULL, 't'},
            {"rate", required_argument, NULL, 'r'},
            {"duration", required_argument, NULL, 'd'},
            {"count", required_argument, NULL, 'n'},
            {"dns", required_argument, NULL, 'D'},
            {"refresh", required_argument, NULL, 'R'},
            {"paths", required_argument, NULL, 'p'},
            {"expires", required_argument, NULL, 'e'},
            {"t1", required_argument, NULL, 'T'},
            {"wait", required_argument, NULL, 'w'},
            {"tick-us", required_argument, NULL, 'k'},
            {"no-gso", no_argument, NULL, 'G'},
            {"ok-file", required_argument, NULL, 'O'},
            {"unanswered-file", required_argument, NULL, 'U'},
            {"warmup-rate", required_argument, NULL, 'W'},
            {"hold-ms", required_argument, NULL, 'H'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
    };
    unsigned long first = 0, last = 0, count = 0;
    bool have_server = false, have_dns = false;
    int c;

    f->rate = 0;
    f->duration = 0;
    f->wait_s = 3;
    f->expires = 3600;
    f->t1_ms = 500;
    f->tick_us = 0;
    f->gso = true;
    while ((c = getopt_long(argc, argv, "s:t:r:d:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (parse_server(f, optarg) != 0) {
                fprintf(stderr, "regflood: --server %s: want 127.x.y.z:PORT\n", optarg);
                return -1;
            }
            have_server = true;
            break;
        case 't':
            if (strcmp(optarg, "udp") != 0 && strcmp(optarg, "tcp") != 0) {
                fprintf(stderr, "regflood: --transport udp or tcp\n");
                return -1;
            }
            f->tcp = strcmp(optarg, "tcp") == 0;
            break;
        case 'r':
            f->rate = strtod(optarg, NULL);
            break;
        case 'd':
            f->duration = strtod(optarg, NULL);
            break;
        case 'n':
            count = strtoul(optarg, NULL, 10);
            break;
        case 'D':
            if (sscanf(optarg, "%lu-%lu", &first, &last) != 2 || first == 0 || last < first ||
                last > 999999999) {
                fprintf(stderr, "regflood: --dns FIRST-LAST, e.g. 100000-199999\n");
                return -1;
            }
            have_dns = true;
            break;
        case 'R':
            f->refresh_pct = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'p':
            f->n_paths = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'e':
            f->expires = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'T':
            f->t1_ms = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'w':
            f->wait_s = strtod(optarg, NULL);
            break;
        case 'k':
            f->tick_us = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'G':
            f->gso = false;
            break;
        case 'O':
            f->ok_file = optarg;
            break;
        case 'U':
            f->unanswered_file = optarg;
            break;
        case 'W':
            f->warmup_rate = strtod(optarg, NULL);
            break;
        case 'H':
            f->hold_ms = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (!have_server || !have_dns || !(f->rate >= 1 && f->rate <= 1e7) ||
        !(f->duration > 0 && f->duration <= 3600) || !(f->wait_s >= 0 && f->wait_s <= 60) ||
        f->refresh_pct > 100 || f->t1_ms == 0 || (f->tick_us != 0 && f->tick_us < 50) ||
        f->tick_us > 100000 || !(f->warmup_rate >= 0 && f->warmup_rate <= 1e7) ||
        f->hold_ms > 60000 || optind != argc) {
        usage(stderr);
        return -1;
    }
    if (f->n_paths == 0)
        f->n_paths = f->tcp ? 16 : 32;
    /* Each wake costs tens of us on a VM: at low rates, a few requests
     * per tick keep the driver's CPU per REGISTER low. */
    if (f->tick_us == 0) {
        double t = 8e6 / f->rate;

        f->tick_us = t < 1000 ? 1000 : t > 8000 ? 8000 : (uint32_t)t;
    }
    if (f->n_paths > (f->tcp ? FLOOD_MAX_CONNS : FLOOD_MAX_SOCKETS)) {
        fprintf(stderr, "regflood: --paths: at most %u\n",
                f->tcp ? FLOOD_MAX_CONNS : FLOOD_MAX_SOCKETS);
        return -1;
    }
    f->dn_first = (uint32_t)first;
    f->n_dns = (uint32_t)(last - first + 1);
    f->count = (uint32_t)(f->rate * f->duration + 0.5);
    if (count > 0 && count < f->count)
        f->count = (uint32_t)count;
    if (f->count == 0 || f->count > FLOOD_MAX_REQUESTS ||
        (f->warmup_rate > 0 && f->n_dns > FLOOD_MAX_REQUESTS - f->count)) {
        fprintf(stderr, "regflood: 1 to %u REGISTERs per run\n", FLOOD_MAX_REQUESTS);
        return -1;
    }
    return 0;
}

/* Make request seq: a refresh of a DN already sent, or the next new DN. */
static void make_request(struct flood *f, uint32_t now)
{
    uint32_t seq = f->n_sent++;
    struct flood_req *r = &f->reqs[seq];
    bool refresh =
            (uint64_t)(seq + 1) * f->refresh_pct / 100 > (uint64_t)seq * f->refresh_pct / 100;

    /* A refresh goes to a DN already answered 200, so that it never
     * overtakes its own first REGISTER (a 500 for a CSeq out of order). */
    if (refresh && f->next_first > 0 && f->next_first < f->n_dns &&
        (f->refresh_pct == 100 || !(f->dn_flags[f->next_refresh % f->next_first] & FLOOD_DN_OK)))
        refresh = false;
    if ((refresh && f->next_first > 0) || f->next_first == f->n_dns) {
        r->dn = f->next_refresh++ % f->next_first;
        f->refresh++;
    } else {
        r->dn = f->next_first++;
        f->first++;
    }
    r->cseq = ++f->dn_cseq[r->dn];
    r->t_us = now;
    /* UDP: 64 requests in a row from one source port, then the next port;
     * TCP: a DN's own connection. */
    r->path = (uint16_t)(f->tcp ? r->dn % f->n_paths : (seq / FLOOD_BATCH) % f->n_paths);
    flood_net_queue(f, seq);
    if (!f->tcp && r->state == REQ_PENDING)
        f->retx_q[0][f->retx_tail[0]++] = seq;
}

/* RFC 3261 §17.1.2 for the UDP requests still unanswered: resend at T1,
 * 2T1, 4T1... (at most 4 s apart), FLOOD_MAX_RETX times. Each level's queue
 * is in first-send order, so its head is the next one due. */
static void retransmit(struct flood *f, uint32_t now)
{
    uint32_t due = 0, gap = f->t1_ms * 1000u;

    for (unsigned k = 0; k < FLOOD_MAX_RETX; k++) {
        due += gap;
        gap = gap * 2 > 4000000u ? 4000000u : gap * 2;
        while (f->retx_head[k] < f->retx_tail[k]) {
            uint32_t seq = f->retx_q[k][f->retx_head[k]];
            struct flood_req *r = &f->reqs[seq];

            if (r->state == REQ_PENDING && now - r->t_us < due)
                break;
            f->retx_head[k]++;
            if (r->state != REQ_PENDING)
                continue;
            r->retx++;
            f->retrans++;
            flood_net_queue(f, seq);
            if (k + 1 < FLOOD_MAX_RETX)
                f->retx_q[k + 1][f->retx_tail[k + 1]++] = seq;
        }
    }
}

static uint32_t us_since(const struct flood *f, uint64_t ns)
{
    return (uint32_t)((ns - f->t0_ns) / 1000u);
}

static double cpu_us(const struct rusage *a, const struct rusage *b)
{
    return (double)(b->ru_utime.tv_sec - a->ru_utime.tv_sec) * 1e6 +
           (double)(b->ru_utime.tv_usec - a->ru_utime.tv_usec) +
           (double)(b->ru_stime.tv_sec - a->ru_stime.tv_sec) * 1e6 +
           (double)(b->ru_stime.tv_usec - a->ru_stime.tv_usec);
}

/* Send count requests from f->n_sent on at rate, then wait for answers;
 * bounded by the duration, the wait and a margin. Returns the wall time
 * used, in s. */
static double run(struct flood *f, double rate, uint32_t count)
{
    uint64_t tick = (uint64_t)f->tick_us * 1000u, now, last_send = 0, next_tick;
    uint64_t hard_end;
    double ns_per_req = 1e9 / rate;
    uint32_t end = f->n_sent + count;

    f->seq_base = f->n_sent;
    f->t0_ns = flood_now_ns();
    hard_end = f->t0_ns + (uint64_t)((count / rate + f->wait_s + 5) * 1e9);
    next_tick = f->t0_ns;
    for (;;) {
        uint32_t t;

        now = flood_now_ns();
        t = us_since(f, now);
        if (f->n_sent < end) {
            uint64_t due = f->seq_base + (uint64_t)((double)(now - f->t0_ns) / ns_per_req) + 1;

            if (due > end)
                due = end;
            while (f->n_sent < due)
                make_request(f, t);
            last_send = now;
        }
        if (!f->tcp)
            retransmit(f, t);
        flood_net_flush(f);
        if (f->n_sent == end &&
            (f->answered + f->blocked == count || now - last_send >= (uint64_t)(f->wait_s * 1e9)))
            break;
        if (now > hard_end)
            break;
        next_tick += tick;
        if (next_tick < now)
            next_tick = now; /* late: no burst to catch up ticks, the rate does */
        flood_net_poll(f, next_tick);
    }
    return (double)(now - f->t0_ns) / 1e9;
}

/* Forget the counts of a phase (the warm-up) before the next. */
static void reset_results(struct flood *f)
{
    f->first = f->refresh = f->retrans = f->answered = f->dup_answers = f->stray = 0;
    f->blocked = f->send_errors = f->with_retry_after = f->conns_closed = 0;
    memset(f->codes, 0, sizeof(f->codes));
    memset(&f->lat_ok, 0, sizeof(f->lat_ok));
    memset(&f->lat_all, 0, sizeof(f->lat_all));
    f->last_ok_us = 0;
    for (unsigned k = 0; k < FLOOD_MAX_RETX; k++)
        f->retx_head[k] = f->retx_tail[k] = f->n_sent;
}

static int write_dns(const struct flood *f, const char *path, uint8_t want, uint8_t mask)
{
    FILE *out = fopen(path, "w");

    if (out == NULL) {
        fprintf(stderr, "regflood: %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (uint32_t i = 0; i < f->n_dns; i++) {
        if (f->dn_cseq[i] > 0 && (f->dn_flags[i] & mask) == want)
            fprintf(out, "%u\n", f->dn_first + i);
    }
    return fclose(out) == 0 ? 0 : -1;
}

static void report(const struct flood *f, const char *name, double rate, double wall, double cpu)
{
    uint32_t sent = f->n_sent - f->seq_base;
    uint64_t other = f->answered - f->codes[200] - f->codes[503];
    uint64_t unanswered = sent - f->answered - f->blocked;
    double ok_secs = f->last_ok_us / 1e6;

    printf("%s transport=%s paths=%u rate=%.0f sent=%u first=%" PRIu64 " refresh=%" PRIu64
           " retrans=%" PRIu64 " answered=%" PRIu64 " c200=%" PRIu64 " c503=%" PRIu64
           " c503_retry_after=%" PRIu64 " c_other=%" PRIu64 " unanswered=%" PRIu64
           " blocked=%" PRIu64 " send_errors=%" PRIu64 " dup=%" PRIu64 " stray=%" PRIu64
           " conns_closed=%" PRIu64 " achieved=%.0f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f"
           " all_p99_ms=%.3f wall_s=%.2f cpu_us=%.2f gso=%d\n",
           name, f->tcp ? "tcp" : "udp", f->n_paths, rate, sent, f->first, f->refresh, f->retrans,
           f->answered, f->codes[200], f->codes[503], f->with_retry_after, other, unanswered,
           f->blocked, f->send_errors, f->dup_answers, f->stray, f->conns_closed,
           ok_secs > 0 ? (double)f->codes[200] / ok_secs : 0.0,
           flood_hist_quantile(&f->lat_ok, 0.5) / 1000,
           flood_hist_quantile(&f->lat_ok, 0.99) / 1000,
           flood_hist_quantile(&f->lat_ok, 0.999) / 1000,
           flood_hist_quantile(&f->lat_all, 0.99) / 1000, wall, sent > 0 ? cpu / sent : 0.0,
           f->gso ? 1 : 0);
    for (unsigned c = 100; c < 700; c++) {
        if (f->codes[c] > 0 && c != 200 && c != 503)
            printf("regflood code=%u n=%" PRIu64 "\n", c, f->codes[c]);
    }
}

static int alloc_state(struct flood *f)
{
    uint32_t total = f->count + (f->warmup_rate > 0 ? f->n_dns : 0);

    f->reqs = calloc(total, sizeof(*f->reqs));
    f->dn_cseq = calloc(f->n_dns, sizeof(*f->dn_cseq));
    f->dn_flags = calloc(f->n_dns, sizeof(*f->dn_flags));
    if (f->reqs == NULL || f->dn_cseq == NULL || f->dn_flags == NULL)
        return -1;
    for (unsigned k = 0; !f->tcp && k < FLOOD_MAX_RETX; k++) {
        /* Untouched pages of a large calloc cost nothing. */
        f->retx_q[k] = calloc(total, sizeof(uint32_t));
        if (f->retx_q[k] == NULL)
            return -1;
    }
    return 0;
}

static void free_state(struct flood *f)
{
    free(f->reqs);
    free(f->dn_cseq);
    free(f->dn_flags);
    for (unsigned k = 0; k < FLOOD_MAX_RETX; k++)
        free(f->retx_q[k]);
}

int main(int argc, char **argv)
{
    static struct flood f;
    struct rusage ru0, ru1;
    struct rlimit rl;
    double wall;
    int rc = 2;

    f.ep = -1;
    if (parse_options(&f, argc, argv) != 0)
        return 1;
    if (getrandom(&f.run_id, sizeof(f.run_id), 0) != sizeof(f.run_id))
        f.run_id = (uint32_t)getpid();
    if (flood_tmpl_init(&f) != 0) {
        fprintf(stderr, "regflood: --dns: every DN must have the same number of digits\n");
        return 1;
    }
    /* Thousands of connections: take the hard limit of open files. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (alloc_state(&f) != 0) {
        fprintf(stderr, "regflood: out of memory for %u requests\n", f.count);
        goto out;
    }
    if (flood_net_open(&f) != 0)
        goto out;
    if (f.tcp && f.hold_ms > 0) {
        fprintf(stderr, "regflood: %u connections up, holding %u ms\n", f.n_paths, f.hold_ms);
        usleep(f.hold_ms * 1000u);
    }
    if (f.warmup_rate > 0) {
        uint32_t pct = f.refresh_pct;

        f.refresh_pct = 0;
        getrusage(RUSAGE_SELF, &ru0);
        wall = run(&f, f.warmup_rate, f.n_dns);
        getrusage(RUSAGE_SELF, &ru1);
        report(&f, "regflood-warmup", f.warmup_rate, wall, cpu_us(&ru0, &ru1));
        fflush(stdout);
        f.refresh_pct = pct;
        reset_results(&f);
    }
    getrusage(RUSAGE_SELF, &ru0);
    wall = run(&f, f.rate, f.count);
    getrusage(RUSAGE_SELF, &ru1);
    report(&f, "regflood", f.rate, wall, cpu_us(&ru0, &ru1));
    rc = 0;
    if (f.ok_file != NULL && write_dns(&f, f.ok_file, FLOOD_DN_OK, FLOOD_DN_OK) != 0)
        rc = 2;
    if (f.unanswered_file != NULL && write_dns(&f, f.unanswered_file, 0, FLOOD_DN_ANSWERED) != 0)
        rc = 2;
out:
    flood_net_close(&f);
    free_state(&f);
    return rc;
}
