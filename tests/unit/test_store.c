/* storage/store: durability, group commit, locking and damaged files. Each
 * test runs a real libuv loop on a store in its own temporary directory. */

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lmdb.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "proto/store.pb-c.h"
#include "server/base/tc_err.h"
#include "storage/store.h"
#include "tests/tc_test.h"

TestSuite(store, .fini = tc_test_leak_check, .timeout = 120);

#define NODE "sip1"

/* One test's world: a loop, a temporary root and the data-dir under it. */
struct fx {
    uv_loop_t loop;
    char *root;
    char dir[PATH_MAX];
    struct store_options opt;
    uint32_t txns;        /* on_commit calls */
    uint32_t txn_changes; /* sum of their change counts */
    uint32_t max_txn;     /* largest transaction seen */
};

static void on_commit(void *arg, uint32_t changes, uint64_t commit_ns)
{
    struct fx *f = arg;

    (void)commit_ns;
    f->txns++;
    f->txn_changes += changes;
    if (changes > f->max_txn)
        f->max_txn = changes;
}

static void fx_init(struct fx *f, const char *tag)
{
    memset(f, 0, sizeof(*f));
    cr_assert_eq(uv_loop_init(&f->loop), 0);
    f->root = tc_test_tmpdir(tag);
    snprintf(f->dir, sizeof(f->dir), "%s/data", f->root);
    f->opt.dir = f->dir;
    f->opt.node_name = NODE;
    f->opt.durability = STORE_SYNC;
    f->opt.on_commit = on_commit;
    f->opt.on_commit_arg = f;
}

/* Run the loop until every handle is closed, close it, remove the files. */
static void fx_fini(struct fx *f)
{
    uv_run(&f->loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&f->loop), 0, "a handle was left open");
    tc_test_rmrf(f->root);
    free(f->root);
}

static struct store *fx_open(struct fx *f)
{
    struct store *s = NULL;
    int rc = store_open(&s, &f->loop, &f->opt);

    cr_assert_eq(rc, 0, "store_open %s: %s", f->dir, tc_strerror(rc));
    cr_assert_not_null(s);
    return s;
}

static int fx_open_err(struct fx *f)
{
    struct store *s = NULL;
    int rc = store_open(&s, &f->loop, &f->opt);

    if (rc == 0) {
        store_close(s);
        uv_run(&f->loop, UV_RUN_DEFAULT);
    }
    return rc;
}

/* Close s and let the loop free it. */
static void fx_close(struct fx *f, struct store *s)
{
    store_close(s);
    uv_run(&f->loop, UV_RUN_DEFAULT);
}

/* Run the loop until every accepted change was reported. */
static void drain(struct fx *f, struct store *s)
{
    while (store_pending(s) > 0)
        uv_run(&f->loop, UV_RUN_ONCE);
}

/* Done-callback bookkeeping: slot i expects to be the i-th call. */
struct tally {
    int calls;
    int out_of_order;
    int failed;
    int last_status;
    bool in_put; /* set around store_put(): a call then is synchronous */
    int sync_calls;
};

struct slot {
    struct tally *t;
    int i;
};

static void on_done(void *arg, int status)
{
    struct slot *sl = arg;
    struct tally *t = sl->t;

    if (t->in_put)
        t->sync_calls++;
    if (sl->i != t->calls)
        t->out_of_order++;
    if (status != 0)
        t->failed++;
    t->last_status = status;
    t->calls++;
}

static int put_str(struct store *s, enum store_db db, const char *k, const char *v, struct slot *sl)
{
    int rc;

    if (sl != NULL)
        sl->t->in_put = true;
    rc = store_put(s, db, k, strlen(k), v, strlen(v), sl != NULL ? on_done : NULL, sl);
    if (sl != NULL)
        sl->t->in_put = false;
    return rc;
}

/* Scan results: up to 16 records as strings. */
struct seen {
    int n;
    char key[16][64];
    char val[16][64];
};

static int on_scan(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct seen *r = arg;

    cr_assert_lt(r->n, 16);
    cr_assert_lt(klen, 64);
    cr_assert_lt(vlen, 64);
    memcpy(r->key[r->n], key, klen);
    r->key[r->n][klen] = '\0';
    memcpy(r->val[r->n], val, vlen);
    r->val[r->n][vlen] = '\0';
    r->n++;
    return 0;
}

static int on_count(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    (void)key;
    (void)klen;
    (void)val;
    (void)vlen;
    (*(int *)arg)++;
    return 0;
}

Test(store, round_trip)
{
    struct fx f;
    struct store *s;
    struct seen r = {0};

    fx_init(&f, "store-rt");
    s = fx_open(&f);
    cr_assert_eq(put_str(s, STORE_DB_DN, "1002", "two", NULL), 0);
    cr_assert_eq(put_str(s, STORE_DB_DN, "1001", "one", NULL), 0);
    cr_assert_eq(put_str(s, STORE_DB_BINDING, "1001", "contact", NULL), 0);
    drain(&f, s);
    fx_close(&f, s);

    s = fx_open(&f);
    cr_assert_eq(store_scan(s, STORE_DB_DN, on_scan, &r), 0);
    cr_assert_eq(r.n, 2);
    cr_expect_str_eq(r.key[0], "1001");
    cr_expect_str_eq(r.val[0], "one");
    cr_expect_str_eq(r.key[1], "1002");
    cr_expect_str_eq(r.val[1], "two");
    memset(&r, 0, sizeof(r));
    cr_assert_eq(store_scan(s, STORE_DB_BINDING, on_scan, &r), 0);
    cr_assert_eq(r.n, 1);
    cr_expect_str_eq(r.val[0], "contact");
    memset(&r, 0, sizeof(r));
    cr_assert_eq(store_scan(s, STORE_DB_PEER, on_scan, &r), 0);
    cr_expect_eq(r.n, 0);
    fx_close(&f, s);
    fx_fini(&f);
}

Test(store, async_round_trip)
{
    struct fx f;
    struct store *s;
    struct seen r = {0};

    fx_init(&f, "store-art");
    f.opt.durability = STORE_ASYNC;
    s = fx_open(&f);
    cr_assert_eq(put_str(s, STORE_DB_DN, "1001", "one", NULL), 0);
    drain(&f, s);
    fx_close(&f, s);
    f.opt.durability = STORE_SYNC;
    s = fx_open(&f);
    cr_assert_eq(store_scan(s, STORE_DB_DN, on_scan, &r), 0);
    cr_assert_eq(r.n, 1);
    cr_expect_str_eq(r.val[0], "one");
    fx_close(&f, s);
    fx_fini(&f);
}

Test(store, delete)
{
    struct fx f;
    struct store *s;
    struct seen r = {0};
    struct tally t = {0};
    struct slot sl[2] = {{&t, 0}, {&t, 1}};

    fx_init(&f, "store-del");
    s = fx_open(&f);
    cr_assert_eq(put_str(s, STORE_DB_DN, "1001", "one", NULL), 0);
    cr_assert_eq(put_str(s, STORE_DB_DN, "1002", "two", NULL), 0);
    drain(&f, s);
    cr_assert_eq(store_del(s, STORE_DB_DN, "1001", 4, on_done, &sl[0]), 0);
    cr_assert_eq(store_del(s, STORE_DB_DN, "9999", 4, on_done, &sl[1]), 0, "absent key");
    drain(&f, s);
    cr_expect_eq(t.calls, 2);
    cr_expect_eq(t.failed, 0);
    fx_close(&f, s);

    s = fx_open(&f);
    cr_assert_eq(store_scan(s, STORE_DB_DN, on_scan, &r), 0);
    cr_assert_eq(r.n, 1);
    cr_expect_str_eq(r.key[0], "1002");
    fx_close(&f, s);
    fx_fini(&f);
}

Test(store, last_put_wins)
{
    struct fx f;
    struct store *s;
    struct seen r = {0};

    fx_init(&f, "store-last");
    s = fx_open(&f);
    cr_assert_eq(put_str(s, STORE_DB_DN, "1001", "first", NULL), 0);
    cr_assert_eq(put_str(s, STORE_DB_DN, "1001", "second", NULL), 0);
    cr_assert_eq(store_del(s, STORE_DB_DN, "1002", 4, NULL, NULL), 0);
    cr_assert_eq(put_str(s, STORE_DB_DN, "1002", "kept", NULL), 0);
    drain(&f, s);
    cr_assert_eq(store_scan(s, STORE_DB_DN, on_scan, &r), 0);
    cr_assert_eq(r.n, 2);
    cr_expect_str_eq(r.val[0], "second");
    cr_expect_str_eq(r.val[1], "kept");
    fx_close(&f, s);
    fx_fini(&f);
}

#define ORDER_N 300

Test(store, done_in_order_never_inside_put)
{
    struct fx f;
    struct store *s;
    struct tally t = {0};
    struct slot sl[ORDER_N];
    char key[32];
    int i;

    fx_init(&f, "store-order");
    s = fx_open(&f);
    for (i = 0; i < ORDER_N; i++) {
        sl[i].t = &t;
        sl[i].i = i;
        snprintf(key, sizeof(key), "%05d", i);
        cr_assert_eq(put_str(s, STORE_DB_BINDING, key, "v", &sl[i]), 0);
    }
    cr_expect_eq(t.calls, 0, "a done callback ran before the loop did");
    cr_expect_eq(store_pending(s), ORDER_N);
    drain(&f, s);
    cr_expect_eq(t.calls, ORDER_N);
    cr_expect_eq(t.out_of_order, 0);
    cr_expect_eq(t.failed, 0);
    cr_expect_eq(t.sync_calls, 0);
    cr_expect_eq(store_pending(s), 0);
    cr_expect_eq(f.txn_changes, ORDER_N);
    fx_close(&f, s);
    fx_fini(&f);
}

/* Queue n puts before running the loop; return the transactions reported. */
static uint32_t run_batch(struct fx *f, uint32_t max_batch, int n)
{
    struct store *s;
    char key[32];
    int i, count = 0;

    f->opt.max_batch = max_batch;
    s = fx_open(f);
    for (i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "%06d", i);
        cr_assert_eq(put_str(s, STORE_DB_DN, key, "value", NULL), 0);
    }
    drain(f, s);
    cr_assert_eq(f->txn_changes, (uint32_t)n);
    cr_assert_eq(store_scan(s, STORE_DB_DN, on_count, &count), 0);
    cr_assert_eq(count, n);
    fx_close(f, s);
    return f->txns;
}

Test(store, group_commit_batches)
{
    struct fx f;
    uint32_t txns;

    fx_init(&f, "store-group");
    txns = run_batch(&f, 0, 1000);
    cr_expect_lt(txns, 100, "1000 queued changes took %u transactions", txns);
    cr_expect_gt(f.max_txn, 10);
    fx_fini(&f);
}

/* Changes queued in one loop turn reach the writer together, when the loop
 * next polls: one transaction, not the first change alone and the rest in
 * the next one (one fdatasync saved per turn, two with durability sync). */
Test(store, one_turn_is_one_txn)
{
    struct fx f;
    uint32_t txns;

    fx_init(&f, "store-turn");
    txns = run_batch(&f, 0, 200);
    cr_expect_eq(txns, 1, "200 changes of one turn took %u transactions", txns);
    cr_expect_eq(f.max_txn, 200);
    fx_fini(&f);
}

/* A change queued from any phase of the loop goes to the writer before
 * the loop blocks in its next poll: here from a prepare callback, which
 * runs after the store's own handles of that phase could. Nothing else
 * would wake the loop for two seconds. */
struct from_prepare {
    struct store *s;
    uv_prepare_t prepare;
    uv_timer_t guard;
    struct tally t;
    struct slot sl;
    bool put, guard_fired;
};

static void on_put_prepare(uv_prepare_t *h)
{
    struct from_prepare *p = h->data;

    uv_prepare_stop(h);
    if (!p->put) {
        p->put = true;
        cr_assert_eq(put_str(p->s, STORE_DB_DN, "k", "v", &p->sl), 0);
    }
}

static void on_guard(uv_timer_t *h)
{
    struct from_prepare *p = h->data;

    p->guard_fired = true;
}

Test(store, put_from_a_prepare_callback_is_not_held)
{
    struct from_prepare p = {0};
    struct fx f;

    fx_init(&f, "store-prepare");
    p.s = fx_open(&f);
    p.sl = (struct slot){&p.t, 0};
    /* Let the store's open settle first. */
    drain(&f, p.s);
    cr_assert_eq(uv_prepare_init(&f.loop, &p.prepare), 0);
    p.prepare.data = &p;
    cr_assert_eq(uv_prepare_start(&p.prepare, on_put_prepare), 0);
    cr_assert_eq(uv_timer_init(&f.loop, &p.guard), 0);
    p.guard.data = &p;
    cr_assert_eq(uv_timer_start(&p.guard, on_guard, 2000, 0), 0);
    while (p.t.calls == 0 && !p.guard_fired)
        uv_run(&f.loop, UV_RUN_ONCE);
    cr_expect_eq(p.t.calls, 1, "the change waited for the 2 s timer");
    uv_close((uv_handle_t *)&p.prepare, NULL);
    uv_close((uv_handle_t *)&p.guard, NULL);
    drain(&f, p.s);
    fx_close(&f, p.s);
    fx_fini(&f);
}

Test(store, max_batch_one_is_one_txn_per_change)
{
    struct fx f;
    uint32_t txns;

    fx_init(&f, "store-nogroup");
    txns = run_batch(&f, 1, 1000);
    cr_expect_eq(txns, 1000);
    cr_expect_eq(f.max_txn, 1);
    fx_fini(&f);
}

Test(store, max_batch_bounds_txn)
{
    struct fx f;
    uint32_t txns;

    fx_init(&f, "store-batch7");
    txns = run_batch(&f, 7, 500);
    cr_expect_geq(txns, 500 / 7 + 1);
    cr_expect_leq(f.max_txn, 7);
    fx_fini(&f);
}

Test(store, busy_when_queue_full)
{
    struct fx f;
    struct store *s;
    char key[32];
    int i;

    fx_init(&f, "store-busy");
    f.opt.max_queue = 8;
    s = fx_open(&f);
    for (i = 0; i < 8; i++) {
        snprintf(key, sizeof(key), "%d", i);
        cr_assert_eq(put_str(s, STORE_DB_DN, key, "v", NULL), 0);
    }
    cr_expect_eq(put_str(s, STORE_DB_DN, "x", "v", NULL), -EBUSY);
    cr_expect_eq(store_del(s, STORE_DB_DN, "x", 1, NULL, NULL), -EBUSY);
    drain(&f, s);
    cr_expect_eq(put_str(s, STORE_DB_DN, "x", "v", NULL), 0);
    drain(&f, s);
    fx_close(&f, s);
    fx_fini(&f);
}

Test(store, bad_arguments)
{
    struct fx f;
    struct store *s = NULL;
    char key[STORE_MAX_KEY + 1];
    char *big;

    fx_init(&f, "store-args");
    f.opt.node_name = "";
    cr_expect_eq(store_open(&s, &f.loop, &f.opt), -EINVAL);
    f.opt.node_name = NODE;
    s = fx_open(&f);
    memset(key, 'k', sizeof(key));
    cr_expect_eq(store_put(s, STORE_DB_DN, key, 0, "v", 1, NULL, NULL), -EINVAL);
    cr_expect_eq(store_put(s, STORE_DB_DN, key, sizeof(key), "v", 1, NULL, NULL), -EINVAL);
    cr_expect_eq(store_put(s, STORE_DB_COUNT, key, 1, "v", 1, NULL, NULL), -EINVAL);
    cr_expect_eq(store_put(s, STORE_DB_DN, key, STORE_MAX_KEY, "v", 1, NULL, NULL), 0);
    big = calloc(1, STORE_MAX_VALUE + 1);
    cr_assert_not_null(big);
    cr_expect_eq(store_put(s, STORE_DB_DN, key, 1, big, STORE_MAX_VALUE + 1, NULL, NULL),
                 -EMSGSIZE);
    free(big);
    cr_expect_eq(store_pending(s), 1);
    drain(&f, s);
    fx_close(&f, s);
    fx_fini(&f);
}

/* A group is one transaction even past max_batch, and reaches the writer
 * only at its end. */
Test(store, group_is_one_transaction_past_max_batch)
{
    struct fx f;
    struct store *s;
    struct tally t = {0};
    struct slot sl[12];
    char key[32];

    fx_init(&f, "store-grp");
    f.opt.max_batch = 3;
    s = fx_open(&f);
    store_group_begin(s);
    store_group_begin(s); /* nested: the outermost counts */
    for (int i = 0; i < 10; i++) {
        sl[i] = (struct slot){&t, i};
        snprintf(key, sizeof(key), "g%02d", i);
        cr_assert_eq(put_str(s, STORE_DB_BINDING, key, "v", &sl[i]), 0);
    }
    store_group_end(s, true);
    cr_expect_eq(store_pending(s), 10);
    store_group_end(s, true);
    drain(&f, s);
    cr_expect_eq(t.calls, 10);
    cr_expect_eq(t.failed, 0);
    cr_expect_eq(t.out_of_order, 0);
    cr_expect_eq(f.txns, 1, "the group took %u transactions", f.txns);
    cr_expect_eq(f.max_txn, 10);
    fx_close(&f, s);
    fx_fini(&f);
}

/* A cancelled group writes nothing; its callbacks get -ECANCELED in order,
 * after the changes queued before it. */
Test(store, cancelled_group_writes_nothing)
{
    struct fx f;
    struct store *s;
    struct tally t = {0};
    struct slot sl[3] = {{&t, 0}, {&t, 1}, {&t, 2}};
    int count = 0;

    fx_init(&f, "store-grpx");
    s = fx_open(&f);
    cr_assert_eq(put_str(s, STORE_DB_DN, "before", "v", &sl[0]), 0);
    store_group_begin(s);
    cr_assert_eq(put_str(s, STORE_DB_BINDING, "b1", "v", &sl[1]), 0);
    cr_assert_eq(put_str(s, STORE_DB_DN, "claim", "v", &sl[2]), 0);
    store_group_end(s, false);
    drain(&f, s);
    cr_expect_eq(t.calls, 3);
    cr_expect_eq(t.out_of_order, 0);
    cr_expect_eq(t.failed, 2);
    cr_expect_eq(t.last_status, -ECANCELED);
    cr_assert_eq(store_scan(s, STORE_DB_BINDING, on_count, &count), 0);
    cr_expect_eq(count, 0, "a cancelled change was written");
    count = 0;
    cr_assert_eq(store_scan(s, STORE_DB_DN, on_count, &count), 0);
    cr_expect_eq(count, 1, "only the change before the group");
    fx_close(&f, s);
    fx_fini(&f);
}

/* A group left open at close is committed like the rest of the queue. */
Test(store, close_commits_an_open_group)
{
    struct fx f;
    struct store *s;
    struct tally t = {0};
    struct slot sl[1] = {{&t, 0}};

    fx_init(&f, "store-grpc");
    s = fx_open(&f);
    store_group_begin(s);
    cr_assert_eq(put_str(s, STORE_DB_DN, "k", "v", &sl[0]), 0);
    fx_close(&f, s);
    cr_expect_eq(t.calls, 1);
    cr_expect_eq(t.failed, 0);
    fx_fini(&f);
}

Test(store, map_full_fails_the_batch)
{
    struct fx f;
    struct store *s;
    struct tally t = {0};
    struct slot sl[2] = {{&t, 0}, {&t, 1}};
    char *big;

    fx_init(&f, "store-full");
    f.opt.map_size = 256 * 1024;
    s = fx_open(&f);
    big = calloc(1, STORE_MAX_VALUE);
    cr_assert_not_null(big);
    cr_assert_eq(store_put(s, STORE_DB_DN, "big", 3, big, STORE_MAX_VALUE, on_done, &sl[0]), 0);
    free(big);
    drain(&f, s);
    cr_expect_eq(t.last_status, TC_EFULL, "status %d", t.last_status);
    cr_expect_eq(f.txns, 0, "a failed transaction reached on_commit");
    cr_assert_eq(put_str(s, STORE_DB_DN, "small", "v", &sl[1]), 0);
    drain(&f, s);
    cr_expect_eq(t.last_status, 0);
    cr_expect_eq(t.calls, 2);
    fx_close(&f, s);
    fx_fini(&f);
}

#define DRAIN_N 500

Test(store, close_drains_queue)
{
    struct fx f;
    struct store *s;
    struct tally t = {0};
    struct slot sl[DRAIN_N];
    char key[32];
    int i, count = 0;

    fx_init(&f, "store-drain");
    s = fx_open(&f);
    for (i = 0; i < DRAIN_N; i++) {
        sl[i].t = &t;
        sl[i].i = i;
        snprintf(key, sizeof(key), "%05d", i);
        cr_assert_eq(put_str(s, STORE_DB_DN, key, "v", &sl[i]), 0);
    }
    store_close(s);
    cr_expect_eq(t.calls, DRAIN_N, "store_close left callbacks uncalled");
    cr_expect_eq(t.out_of_order, 0);
    cr_expect_eq(t.failed, 0);
    uv_run(&f.loop, UV_RUN_DEFAULT);

    s = fx_open(&f);
    cr_assert_eq(store_scan(s, STORE_DB_DN, on_count, &count), 0);
    cr_expect_eq(count, DRAIN_N);
    fx_close(&f, s);
    fx_fini(&f);
}

/* A done callback that closes the store, and one that queues more. */
struct reenter {
    struct store *s;
    struct tally t;
    struct slot sl[10];
    int close_at;
    int put_after_close;
};

static void on_done_close(void *arg, int status)
{
    struct slot *sl = arg;
    struct reenter *r = (struct reenter *)((char *)sl->t - offsetof(struct reenter, t));

    on_done(arg, status);
    if (sl->i == r->close_at) {
        store_close(r->s);
        r->put_after_close = store_put(r->s, STORE_DB_DN, "late", 4, "v", 1, NULL, NULL);
    }
}

Test(store, close_from_done_callback)
{
    struct fx f;
    struct reenter r;
    char key[32];
    int i;

    memset(&r, 0, sizeof(r));
    fx_init(&f, "store-reenter");
    r.s = fx_open(&f);
    r.close_at = 3;
    for (i = 0; i < 10; i++) {
        r.sl[i].t = &r.t;
        r.sl[i].i = i;
        snprintf(key, sizeof(key), "%d", i);
        cr_assert_eq(store_put(r.s, STORE_DB_DN, key, strlen(key), "v", 1, on_done_close, &r.sl[i]),
                     0);
    }
    while (r.t.calls < 4)
        uv_run(&f.loop, UV_RUN_ONCE);
    cr_expect_eq(r.t.calls, 10);
    cr_expect_eq(r.t.out_of_order, 0);
    cr_expect_eq(r.t.failed, 0);
    cr_expect_eq(r.put_after_close, -ECANCELED);
    fx_fini(&f);
}

struct chain {
    struct store *s;
    int left;
    int done;
};

static void on_chain(void *arg, int status)
{
    struct chain *c = arg;
    char key[32];

    cr_assert_eq(status, 0);
    c->done++;
    if (c->left-- > 0) {
        snprintf(key, sizeof(key), "%d", c->left);
        cr_assert_eq(store_put(c->s, STORE_DB_DN, key, strlen(key), "v", 1, on_chain, c), 0);
    }
}

Test(store, put_from_done_callback)
{
    struct fx f;
    struct chain c = {0};
    int count = 0;

    fx_init(&f, "store-chain");
    c.s = fx_open(&f);
    c.left = 50;
    cr_assert_eq(store_put(c.s, STORE_DB_DN, "start", 5, "v", 1, on_chain, &c), 0);
    drain(&f, c.s);
    cr_expect_eq(c.done, 51);
    cr_assert_eq(store_scan(c.s, STORE_DB_DN, on_count, &count), 0);
    cr_expect_eq(count, 51);
    fx_close(&f, c.s);
    fx_fini(&f);
}

static int on_scan_stop(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    (void)key;
    (void)klen;
    (void)val;
    (void)vlen;
    return ++*(int *)arg == 2 ? 42 : 0;
}

Test(store, scan_stops_on_callback_value)
{
    struct fx f;
    struct store *s;
    int n = 0;

    fx_init(&f, "store-scanstop");
    s = fx_open(&f);
    put_str(s, STORE_DB_PEER, "a", "1", NULL);
    put_str(s, STORE_DB_PEER, "b", "2", NULL);
    put_str(s, STORE_DB_PEER, "c", "3", NULL);
    drain(&f, s);
    cr_expect_eq(store_scan(s, STORE_DB_PEER, on_scan_stop, &n), 42);
    cr_expect_eq(n, 2);
    fx_close(&f, s);
    fx_fini(&f);
}

static void read_file(const char *path, char *buf, size_t cap)
{
    FILE *fp = fopen(path, "r");
    size_t n;

    cr_assert_not_null(fp, "open %s", path);
    n = fread(buf, 1, cap - 1, fp);
    buf[n] = '\0';
    fclose(fp);
}

Test(store, second_open_same_process_is_locked)
{
    struct fx f;
    struct store *s;
    char path[PATH_MAX + 32];
    char text[64];
    char want[64];

    fx_init(&f, "store-lock1");
    s = fx_open(&f);
    cr_expect_eq(fx_open_err(&f), TC_ELOCKED);
    snprintf(path, sizeof(path), "%s/tcnode.lock", f.dir);
    read_file(path, text, sizeof(text));
    snprintf(want, sizeof(want), "%ld\n", (long)getpid());
    cr_expect_str_eq(text, want);
    fx_close(&f, s);
    /* Released on close: the next open succeeds. */
    s = fx_open(&f);
    fx_close(&f, s);
    fx_fini(&f);
}

Test(store, other_process_is_locked)
{
    struct fx f;
    struct store *s;
    pid_t pid;
    int st;

    fx_init(&f, "store-lock2");
    s = fx_open(&f);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        uv_loop_t loop;
        struct store *s2 = NULL;
        int rc;

        if (uv_loop_init(&loop) != 0)
            _exit(2);
        rc = store_open(&s2, &loop, &f.opt);
        _exit(rc == TC_ELOCKED ? 0 : 1);
    }
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child did not get TC_ELOCKED");
    fx_close(&f, s);
    fx_fini(&f);
}

static void write_bytes(const char *path, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    cr_assert_geq(fd, 0, "open %s", path);
    cr_assert_eq(write(fd, buf, len), (ssize_t)len);
    close(fd);
}

Test(store, garbage_file_is_corrupt)
{
    struct fx f;
    char path[PATH_MAX + 32];
    unsigned char *buf;
    size_t i;

    fx_init(&f, "store-garbage");
    cr_assert_eq(mkdir(f.dir, 0700), 0);
    snprintf(path, sizeof(path), "%s/data.mdb", f.dir);
    buf = malloc(65536);
    cr_assert_not_null(buf);
    srand(7);
    for (i = 0; i < 65536; i++)
        buf[i] = (unsigned char)rand();
    write_bytes(path, buf, 65536);
    cr_expect_eq(fx_open_err(&f), TC_ECORRUPT);
    write_bytes(path, "not an lmdb file\n", 17);
    cr_expect_eq(fx_open_err(&f), TC_ECORRUPT);
    free(buf);
    fx_fini(&f);
}

static unsigned char *slurp(const char *path, size_t *len)
{
    struct stat st;
    unsigned char *buf;
    int fd = open(path, O_RDONLY);

    cr_assert_geq(fd, 0);
    cr_assert_eq(fstat(fd, &st), 0);
    buf = malloc((size_t)st.st_size);
    cr_assert_not_null(buf);
    cr_assert_eq(read(fd, buf, (size_t)st.st_size), st.st_size);
    close(fd);
    *len = (size_t)st.st_size;
    return buf;
}

Test(store, truncated_file_is_corrupt)
{
    struct fx f;
    struct store *s;
    char path[PATH_MAX + 32];
    char key[32];
    char val[200];
    unsigned char *data;
    size_t len, cuts[3];
    int i;

    fx_init(&f, "store-trunc");
    s = fx_open(&f);
    memset(val, 'x', sizeof(val));
    for (i = 0; i < 3000; i++) {
        snprintf(key, sizeof(key), "%06d", i);
        cr_assert_eq(store_put(s, STORE_DB_DN, key, strlen(key), val, sizeof(val), NULL, NULL), 0);
    }
    drain(&f, s);
    fx_close(&f, s);
    snprintf(path, sizeof(path), "%s/data.mdb", f.dir);
    data = slurp(path, &len);
    cr_assert_gt(len, 100 * 4096);

    /* One meta page only; both meta pages but no tree; half the tree. */
    cuts[0] = 4096;
    cuts[1] = 8192;
    cuts[2] = len / 2;
    for (i = 0; i < 3; i++) {
        write_bytes(path, data, cuts[i]);
        cr_expect_eq(fx_open_err(&f), TC_ECORRUPT, "cut at %zu of %zu", cuts[i], len);
    }
    /* The whole file again opens fine: the failures released everything. */
    write_bytes(path, data, len);
    cr_expect_eq(fx_open_err(&f), 0);
    free(data);
    fx_fini(&f);
}

/* Replace the schema record with val, with LMDB directly. */
static void meta_overwrite(const char *dir, const void *val, size_t len)
{
    MDB_val k = {6, "schema"};
    MDB_val v = {len, (void *)val};
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;

    cr_assert_eq(mdb_env_create(&env), 0);
    cr_assert_eq(mdb_env_set_maxdbs(env, 8), 0);
    cr_assert_eq(mdb_env_open(env, dir, MDB_NOTLS, 0600), 0);
    cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    cr_assert_eq(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    cr_assert_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static void meta_write(const char *dir, uint32_t version, const char *node)
{
    Tc__StoreMeta m = TC__STORE_META__INIT;
    uint8_t buf[256];
    size_t n;

    m.schema_version = version;
    m.node_name = (char *)node;
    m.created_by = "test";
    n = tc__store_meta__get_packed_size(&m);
    cr_assert_leq(n, sizeof(buf));
    tc__store_meta__pack(&m, buf);
    meta_overwrite(dir, buf, n);
}

static void make_store(struct fx *f)
{
    struct store *s = fx_open(f);

    fx_close(f, s);
}

Test(store, newer_schema_is_refused)
{
    struct fx f;

    fx_init(&f, "store-schema");
    make_store(&f);
    meta_write(f.dir, STORE_SCHEMA_VERSION + 1, NODE);
    cr_expect_eq(fx_open_err(&f), TC_ESCHEMA);
    meta_write(f.dir, STORE_SCHEMA_VERSION, NODE);
    cr_expect_eq(fx_open_err(&f), 0);
    fx_fini(&f);
}

Test(store, other_node_is_foreign)
{
    struct fx f;

    fx_init(&f, "store-foreign");
    make_store(&f);
    f.opt.node_name = "sip2";
    cr_expect_eq(fx_open_err(&f), TC_EFOREIGN);
    f.opt.node_name = NODE;
    cr_expect_eq(fx_open_err(&f), 0);
    fx_fini(&f);
}

Test(store, unparseable_schema_is_corrupt)
{
    struct fx f;
    /* Field 2 (node_name) says 16 bytes follow; 2 do. */
    static const uint8_t bad[] = {0x08, 0x01, 0x12, 0x10, 'a', 'b'};
    static const uint8_t zero[] = {0x12, 0x04, 's', 'i', 'p', '1'};

    fx_init(&f, "store-badmeta");
    make_store(&f);
    meta_overwrite(f.dir, bad, sizeof(bad));
    cr_expect_eq(fx_open_err(&f), TC_ECORRUPT);
    meta_overwrite(f.dir, zero, sizeof(zero));
    cr_expect_eq(fx_open_err(&f), TC_ECORRUPT, "schema version 0");
    fx_fini(&f);
}

Test(store, foreign_lmdb_is_corrupt)
{
    struct fx f;
    MDB_val k = {3, "key"};
    MDB_val v = {3, "val"};
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;

    fx_init(&f, "store-otherlmdb");
    cr_assert_eq(mkdir(f.dir, 0700), 0);
    cr_assert_eq(mdb_env_create(&env), 0);
    cr_assert_eq(mdb_env_open(env, f.dir, 0, 0600), 0);
    cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    cr_assert_eq(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
    cr_assert_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    cr_expect_eq(fx_open_err(&f), TC_ECORRUPT);
    fx_fini(&f);
}

Test(store, missing_parent)
{
    struct fx f;

    fx_init(&f, "store-noparent");
    snprintf(f.dir, sizeof(f.dir), "%s/no/data", f.root);
    cr_expect_eq(fx_open_err(&f), -ENOENT);
    fx_fini(&f);
}

Test(store, data_dir_under_a_file)
{
    struct fx f;
    char file[PATH_MAX / 2];

    /* Tests run as root, which chmod cannot stop: a file in the path can. */
    fx_init(&f, "store-notdir");
    snprintf(file, sizeof(file), "%s/file", f.root);
    tc_test_write_file(file, "x");
    snprintf(f.dir, sizeof(f.dir), "%s/sub", file);
    cr_expect_eq(fx_open_err(&f), -ENOTDIR);
    snprintf(f.dir, sizeof(f.dir), "%s", file);
    cr_expect_eq(fx_open_err(&f), -ENOTDIR, "data-dir is a file");
    fx_fini(&f);
}

/* Crash safety: a child writes numbered records and reports each number on
 * a pipe once its done callback says it is durable; the parent kills it
 * with SIGKILL and checks that every reported number is in the store. */

#define CRASH_WINDOW 64
#define CRASH_ACKS   2000
#define CRASH_VLEN   100

struct crash_child {
    struct store *s;
    uint32_t next;
    int fd;
};

struct crash_slot {
    struct crash_child *c;
    uint32_t n;
};

static void crash_put(struct crash_slot *sl);

static void on_crash_done(void *arg, int status)
{
    struct crash_slot *sl = arg;

    if (status != 0)
        _exit(5);
    if (write(sl->c->fd, &sl->n, sizeof(sl->n)) != sizeof(sl->n))
        _exit(6);
    crash_put(sl);
}

static void crash_put(struct crash_slot *sl)
{
    char key[32];
    char val[CRASH_VLEN];

    sl->n = sl->c->next++;
    snprintf(key, sizeof(key), "%010u", sl->n);
    memset(val, (int)('a' + sl->n % 26), sizeof(val));
    if (store_put(sl->c->s, STORE_DB_DN, key, strlen(key), val, sizeof(val), on_crash_done, sl) !=
        0)
        _exit(7);
}

static void crash_child_run(const struct store_options *opt, int fd)
{
    static struct crash_slot slots[CRASH_WINDOW];
    struct crash_child c = {NULL, 0, fd};
    uv_loop_t loop;
    int i;

    if (uv_loop_init(&loop) != 0 || store_open(&c.s, &loop, opt) != 0)
        _exit(3);
    for (i = 0; i < CRASH_WINDOW; i++) {
        slots[i].c = &c;
        crash_put(&slots[i]);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    _exit(4);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct acks {
    uint32_t *n;
    size_t len;
    size_t cap;
    uint32_t max;
};

static void acks_add(struct acks *a, uint32_t n)
{
    if (a->len == a->cap) {
        a->cap = a->cap != 0 ? a->cap * 2 : 4096;
        a->n = realloc(a->n, a->cap * sizeof(*a->n));
        cr_assert_not_null(a->n);
    }
    a->n[a->len++] = n;
    if (n > a->max)
        a->max = n;
}

/* Read acknowledgements until want have come, the deadline passes, or EOF
 * (then *eof). Whole 4-byte numbers only: pipe writes of 4 bytes are atomic. */
static void acks_read(int fd, struct acks *a, size_t want, double deadline, bool *eof)
{
    uint32_t buf[1024];
    struct pollfd p = {fd, POLLIN, 0};
    ssize_t n;
    ssize_t i;

    *eof = false;
    while (a->len < want && now_s() < deadline) {
        if (poll(&p, 1, 100) <= 0)
            continue;
        n = read(fd, buf, sizeof(buf));
        if (n <= 0) {
            *eof = true;
            return;
        }
        cr_assert_eq(n % 4, 0);
        for (i = 0; i < n / 4; i++)
            acks_add(a, buf[i]);
    }
}

struct present {
    uint8_t *bit;
    uint32_t size;
    int bad_values;
};

static int on_present(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct present *p = arg;
    char k[32];
    unsigned long n;

    if (klen >= sizeof(k))
        return -EINVAL;
    memcpy(k, key, klen);
    k[klen] = '\0';
    n = strtoul(k, NULL, 10);
    if (n < p->size) {
        p->bit[n] = 1;
        if (vlen != CRASH_VLEN || ((const char *)val)[0] != (char)('a' + n % 26))
            p->bad_values++;
    }
    return 0;
}

static void crash_test(enum store_durability d)
{
    struct fx f;
    struct acks a = {0};
    struct present p = {0};
    struct store *s;
    int fds[2];
    pid_t pid;
    bool eof;
    size_t i;
    int st, missing = 0;

    fx_init(&f, "store-crash");
    f.opt.durability = d;
    f.opt.on_commit = NULL;
    cr_assert_eq(pipe(fds), 0);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        crash_child_run(&f.opt, fds[1]);
    }
    close(fds[1]);
    acks_read(fds[0], &a, CRASH_ACKS, now_s() + 60, &eof);
    cr_assert(!eof, "the child stopped on its own");
    kill(pid, SIGKILL);
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child status %d", st);
    /* What the child sent before it died was acknowledged too. */
    acks_read(fds[0], &a, SIZE_MAX, now_s() + 10, &eof);
    cr_assert(eof);
    close(fds[0]);
    cr_assert_geq(a.len, CRASH_ACKS);

    p.size = a.max + 1;
    p.bit = calloc(p.size, 1);
    cr_assert_not_null(p.bit);
    s = fx_open(&f);
    cr_assert_eq(store_scan(s, STORE_DB_DN, on_present, &p), 0);
    fx_close(&f, s);
    for (i = 0; i < a.len; i++) {
        if (!p.bit[a.n[i]])
            missing++;
    }
    cr_expect_eq(missing, 0, "%d of %zu acknowledged records lost", missing, a.len);
    cr_expect_eq(p.bad_values, 0);
    free(p.bit);
    free(a.n);
    fx_fini(&f);
}

Test(store, kill9_loses_no_acknowledged_change_sync)
{
    crash_test(STORE_SYNC);
}

Test(store, kill9_loses_no_acknowledged_change_async)
{
    crash_test(STORE_ASYNC);
}

static void on_barrier(void *arg, int status)
{
    int *order = arg;

    cr_assert_eq(status, 0);
    *order = 1;
}

Test(store, barrier_completes_after_earlier_changes)
{
    char *dir = tc_test_tmpdir("barrier");
    struct store_options o = {.dir = dir, .node_name = "sip1"};
    struct store *s;
    uv_loop_t loop;
    int done = 0;

    uv_loop_init(&loop);
    cr_assert_eq(store_open(&s, &loop, &o), 0);
    cr_assert_eq(store_put(s, STORE_DB_DN, "k", 1, "v", 1, NULL, NULL), 0);
    cr_assert_eq(store_barrier(s, on_barrier, &done), 0);
    cr_assert_eq(store_pending(s), 2);
    while (!done)
        uv_run(&loop, UV_RUN_ONCE);
    cr_assert_eq(store_pending(s), 0);
    store_close(s);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    tc_test_rmrf(dir);
    free(dir);
}

/* The commit window: two changes queued 200 ms apart, while the writer was
 * idle, go in one transaction when the window is longer. */
struct window_fx {
    struct fx *f;
    struct store *s;
    struct tally t;
    struct slot sl[2];
    uv_timer_t timer;
};

static void on_window_timer(uv_timer_t *tm)
{
    struct window_fx *w = tm->data;

    cr_assert_eq(put_str(w->s, STORE_DB_DN, "b", "2", &w->sl[1]), 0);
    uv_close((uv_handle_t *)tm, NULL);
}

static uint32_t window_txns(uint32_t window_us)
{
    struct fx f;
    struct window_fx w = {0};
    uint32_t txns;

    fx_init(&f, "store-window");
    f.opt.commit_window_us = window_us;
    w.f = &f;
    w.s = fx_open(&f);
    for (int i = 0; i < 2; i++) {
        w.sl[i].t = &w.t;
        w.sl[i].i = i;
    }
    cr_assert_eq(put_str(w.s, STORE_DB_DN, "a", "1", &w.sl[0]), 0);
    uv_timer_init(&f.loop, &w.timer);
    w.timer.data = &w;
    uv_timer_start(&w.timer, on_window_timer, 200, 0);
    while (w.t.calls < 2)
        uv_run(&f.loop, UV_RUN_ONCE);
    cr_expect_eq(w.t.failed, 0);
    cr_expect_eq(w.t.out_of_order, 0);
    fx_close(&f, w.s); /* on_commit runs after the done callbacks */
    txns = f.txns;
    fx_fini(&f);
    return txns;
}

Test(store, commit_window_gathers_changes)
{
    /* Without the window the writer takes "a" alone as soon as it wakes
     * (one_turn_is_one_txn shows the loop hands it over at once). */
    uint32_t n = window_txns(2000000);

    cr_expect_eq(n, 1, "a 2 s window: the two changes should share a commit (%u commits)", n);
    n = window_txns(0);
    cr_expect_eq(n, 2, "no window: each change should commit alone (%u commits)", n);
}

/* A full window, or a close, ends the wait: the changes do not sit out a
 * window of a minute. */
Test(store, commit_window_ends_when_full_or_closed)
{
    struct fx f;
    struct store *s;
    struct tally t = {0};
    static struct slot sl[STORE_WINDOW_FULL];
    char key[32];
    double t0;
    int i;

    fx_init(&f, "store-window-full");
    f.opt.commit_window_us = 60u * 1000000u;
    s = fx_open(&f);
    t0 = now_s();
    for (i = 0; i < STORE_WINDOW_FULL; i++) {
        sl[i].t = &t;
        sl[i].i = i;
        snprintf(key, sizeof(key), "%05d", i);
        cr_assert_eq(put_str(s, STORE_DB_DN, key, "v", &sl[i]), 0);
    }
    drain(&f, s);
    cr_expect_lt(now_s() - t0, 30.0, "a full window waited %.3f s", now_s() - t0);
    cr_expect_eq(t.failed, 0);

    /* One change alone waits in its window; closing the store commits it. */
    t0 = now_s();
    sl[0].i = t.calls;
    cr_assert_eq(put_str(s, STORE_DB_DN, "alone", "v", &sl[0]), 0);
    for (i = 0; i < 3; i++)
        uv_run(&f.loop, UV_RUN_NOWAIT);
    store_close(s);
    cr_expect_eq(t.calls, STORE_WINDOW_FULL + 1, "close left the windowed change uncalled");
    cr_expect_eq(t.failed, 0);
    cr_expect_lt(now_s() - t0, 30.0, "close waited out the window");
    uv_run(&f.loop, UV_RUN_DEFAULT);
    fx_fini(&f);
}
