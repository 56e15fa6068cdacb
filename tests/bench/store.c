/* bench_store: durable changes per second through storage/store, with group
 * commit and without, as clients that each wait for their acknowledgement
 * see it. A fixed number of changes is outstanding at any time: when one is
 * acknowledged (its done callback runs) the next is queued. One line per
 * configuration, then the group/none ratio. Never pass/fail.
 *
 * Usage: bench_store [-n changes] [-c outstanding] [-t seconds per config]
 * (defaults 100000, 256, 5: whichever of count and time ends first).
 * Temporary stores go under $TMPDIR (or /tmp) and are removed. */

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "server/base/tc_err.h"
#include "storage/store.h"

#define BENCH_KEYS 10000 /* distinct DNs: later changes update earlier records */
#define BENCH_VLEN 120   /* about one serialized Binding */

struct bench_cfg {
    const char *name;
    enum store_durability durability;
    uint32_t max_batch;
};

struct bench_result {
    uint32_t acked;
    uint32_t failed;
    uint32_t txns;
    double secs;
    uint32_t p50_us;
    uint32_t p99_us;
};

struct bench;

struct bench_slot {
    struct bench *b;
    uint64_t t_put;
};

struct bench {
    struct store *s;
    uint32_t total;    /* changes to issue */
    uint64_t deadline; /* stop issuing after this (ns, monotonic) */
    uint32_t issued;
    uint32_t acked;
    uint32_t failed;
    uint32_t txns;
    uint32_t *lat_us; /* one per acknowledged change */
    char val[BENCH_VLEN];
};

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void on_commit(void *arg, uint32_t changes, uint64_t commit_ns)
{
    struct bench *b = arg;

    (void)changes;
    (void)commit_ns;
    b->txns++;
}

static int bench_put(struct bench_slot *sl);

static void on_done(void *arg, int status)
{
    struct bench_slot *sl = arg;
    struct bench *b = sl->b;

    if (status != 0)
        b->failed++;
    else
        b->lat_us[b->acked++] = (uint32_t)((now_ns() - sl->t_put) / 1000);
    if (b->issued < b->total && now_ns() < b->deadline)
        bench_put(sl);
}

static int bench_put(struct bench_slot *sl)
{
    struct bench *b = sl->b;
    char key[16];
    int n, rc;

    n = snprintf(key, sizeof(key), "%u", 100000 + b->issued % BENCH_KEYS);
    sl->t_put = now_ns();
    rc = store_put(b->s, STORE_DB_BINDING, key, (size_t)n, b->val, sizeof(b->val), on_done, sl);
    if (rc != 0) {
        fprintf(stderr, "bench_store: put: %s\n", tc_strerror(rc));
        return rc;
    }
    b->issued++;
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a;
    uint32_t y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

static void rm_store(const char *dir)
{
    static const char *const files[] = {"data.mdb", "lock.mdb", "tcnode.lock"};
    char path[PATH_MAX + 16];
    size_t i;

    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* Drive total changes (or as many as fit in secs) with window outstanding
 * through a fresh store. Returns 0 or a negative code. */
static int bench_run(const struct bench_cfg *cfg, uint32_t total, uint32_t window, double secs,
                     struct bench_result *res)
{
    struct store_options opt = {0};
    struct bench_slot *slots;
    struct bench b = {0};
    char dir[PATH_MAX];
    const char *tmp = getenv("TMPDIR");
    uv_loop_t loop;
    uint64_t t0;
    uint32_t i;
    int rc;

    snprintf(dir, sizeof(dir), "%s/bench-store-XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL)
        return -errno;
    b.total = total;
    b.lat_us = calloc(total, sizeof(*b.lat_us));
    slots = calloc(window, sizeof(*slots));
    memset(b.val, 'v', sizeof(b.val));
    rc = uv_loop_init(&loop);
    if (rc != 0 || b.lat_us == NULL || slots == NULL) {
        rc = rc != 0 ? rc : -ENOMEM;
        goto out_free;
    }
    opt.dir = dir;
    opt.node_name = "bench";
    opt.durability = cfg->durability;
    opt.max_batch = cfg->max_batch;
    opt.on_commit = on_commit;
    opt.on_commit_arg = &b;
    rc = store_open(&b.s, &loop, &opt);
    if (rc != 0)
        goto out_loop;

    t0 = now_ns();
    b.deadline = t0 + (uint64_t)(secs * 1e9);
    for (i = 0; i < window && b.issued < total && rc == 0; i++) {
        slots[i].b = &b;
        rc = bench_put(&slots[i]);
    }
    while (store_pending(b.s) > 0)
        uv_run(&loop, UV_RUN_ONCE);
    res->secs = (double)(now_ns() - t0) / 1e9;
    store_close(b.s);
    uv_run(&loop, UV_RUN_DEFAULT);

    res->acked = b.acked;
    res->failed = b.failed;
    res->txns = b.txns;
    qsort(b.lat_us, b.acked, sizeof(*b.lat_us), cmp_u32);
    res->p50_us = b.acked > 0 ? b.lat_us[b.acked / 2] : 0;
    res->p99_us = b.acked > 0 ? b.lat_us[(uint32_t)((uint64_t)b.acked * 99 / 100)] : 0;
out_loop:
    uv_loop_close(&loop);
out_free:
    free(slots);
    free(b.lat_us);
    rm_store(dir);
    return rc;
}

static double rate(const struct bench_result *r)
{
    return r->secs > 0 ? r->acked / r->secs : 0;
}

static void print_result(const struct bench_cfg *cfg, uint32_t window, const struct bench_result *r)
{
    printf("store %-5s %-5s window %u: %.0f %s commits/s, %u changes in %.2f s, "
           "%u txns, %.1f changes/txn, ack p50 %u us p99 %u us%s\n",
           cfg->durability == STORE_SYNC ? "sync" : "async", cfg->name, window, rate(r),
           cfg->durability == STORE_SYNC ? "durable" : "unsynced", r->acked, r->secs, r->txns,
           r->txns > 0 ? (double)r->acked / r->txns : 0.0, r->p50_us, r->p99_us,
           r->failed > 0 ? " (some failed)" : "");
}

int main(int argc, char **argv)
{
    static const struct bench_cfg cfgs[] = {
            {"group", STORE_SYNC, 0},
            {"none", STORE_SYNC, 1},
            {"group", STORE_ASYNC, 0},
            {"none", STORE_ASYNC, 1},
    };
    struct bench_result res[sizeof(cfgs) / sizeof(cfgs[0])];
    uint32_t total = 100000;
    uint32_t window = 256;
    double secs = 5;
    size_t i;
    int opt, rc;

    while ((opt = getopt(argc, argv, "n:c:t:")) != -1) {
        switch (opt) {
        case 'n':
            total = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'c':
            window = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 't':
            secs = strtod(optarg, NULL);
            break;
        default:
            fprintf(stderr, "usage: %s [-n changes] [-c outstanding] [-t seconds]\n", argv[0]);
            return 1;
        }
    }
    if (total == 0 || window == 0 || secs <= 0) {
        fprintf(stderr, "bench_store: -n, -c and -t must be positive\n");
        return 1;
    }
    for (i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++) {
        memset(&res[i], 0, sizeof(res[i]));
        rc = bench_run(&cfgs[i], total, window, secs, &res[i]);
        if (rc != 0) {
            fprintf(stderr, "bench_store: %s: %s\n", cfgs[i].name, tc_strerror(rc));
            return 1;
        }
        print_result(&cfgs[i], window, &res[i]);
        fflush(stdout);
    }
    printf("store sync  group/none: %.1fx durable commits/s, p99 ack %.2fx\n",
           rate(&res[1]) > 0 ? rate(&res[0]) / rate(&res[1]) : 0.0,
           res[1].p99_us > 0 ? (double)res[0].p99_us / res[1].p99_us : 0.0);
    printf("store async group/none: %.1fx commits/s\n",
           rate(&res[3]) > 0 ? rate(&res[2]) / rate(&res[3]) : 0.0);
    return 0;
}
