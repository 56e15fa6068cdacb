/* The writer thread: takes queued changes in batches, writes each batch in
 * one LMDB transaction (group commit) and hands it back to the loop. It
 * never touches loop state; it talks to the loop only through s->done and
 * uv_async_send(). */

#include "storage/store_int.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <time.h>

/* With durability async, how long a commit may stay unsynced. */
#define STORE_SYNC_INTERVAL_NS 1000000000ULL

/* With durability sync, a committed batch waits for more work (whose
 * commit makes it durable: one fdatasync instead of two) when work has
 * been coming at least this often, and at most this long; otherwise it is
 * synced on its own at once. A sync costs tens of microseconds of CPU
 * (more in a VM, where each block request exits to the host), the wait
 * adds up to this much to the latency of the batch. */
#define STORE_META_WAIT_MAX_NS 2000000ULL

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Apply one change in txn. Returns an LMDB code. */
static int change_apply(const struct store *s, MDB_txn *txn, struct store_change *c)
{
    MDB_val k = {c->klen, c->data};
    MDB_val v = {c->vlen, c->data + c->klen};
    int rc;

    if (c->op == STORE_OP_BARRIER)
        return 0;
    if (c->op == STORE_OP_DEL) {
        rc = mdb_del(txn, s->dbi[c->db], &k, NULL);
        return rc == MDB_NOTFOUND ? 0 : rc;
    }
    return mdb_put(txn, s->dbi[c->db], &k, &v, 0);
}

/* Write batch b in one transaction and record the outcome in each change.
 * A failure fails the whole batch: nothing of it was committed. Returns 0
 * or the negative status; *wrote tells whether the commit wrote anything
 * (LMDB commits a transaction that changed nothing, e.g. barriers only,
 * without a write or a sync). */
static int batch_write(struct store *s, struct store_list *b, bool *wrote, int fail)
{
    struct store_change *c;
    MDB_envinfo info;
    MDB_txn *txn;
    size_t id = 0;
    int rc, status;

    *wrote = false;
    if (fail != 0) {
        for (c = b->head; c != NULL; c = c->next)
            c->status = c->cancelled ? -ECANCELED : fail;
        return fail;
    }
    rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc == 0) {
        id = mdb_txn_id(txn);
        for (c = b->head; c != NULL && rc == 0; c = c->next)
            rc = change_apply(s, txn, c);
        if (rc == 0)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
        *wrote = rc == 0 && mdb_env_info(s->env, &info) == 0 && info.me_last_txnid == id;
    }
    status = store__err(rc);
    for (c = b->head; c != NULL; c = c->next)
        c->status = c->cancelled ? -ECANCELED : status;
    return status;
}

/* Hand batch b, whose write began at t0, back to the loop: its last change
 * carries the batch size and the time from t0 to now (durable, or failed). */
static void batch_done(struct store *s, struct store_list *b, uint64_t t0)
{
    struct store_change *last;

    if (b->head == NULL)
        return;
    last = (struct store_change *)((char *)b->tail - offsetof(struct store_change, next));
    last->batch_n = b->n;
    last->commit_ns = now_ns() - t0;
    store__handoff_done(s, b);
}

/* Make the meta page of the committed batch b durable (one fdatasync), then
 * hand it back; a failed sync fails the batch. */
static void batch_sync_done(struct store *s, struct store_list *b, uint64_t t0)
{
    struct store_change *c;
    int rc = mdb_env_sync(s->env, 1);

    if (rc != 0) {
        for (c = b->head; c != NULL; c = c->next)
            c->status = c->cancelled ? -ECANCELED : store__err(rc);
    }
    batch_done(s, b, t0);
}

/* Move up to max_batch changes from the queue to b, and past it to the end
 * of a group (store_group_begin()), which one transaction holds whole.
 * Under s->mu. */
static void batch_take(struct store *s, struct store_list *b)
{
    struct store_change *c = NULL;
    uint32_t i;

    store__list_init(b);
    if (s->queue.n <= s->max_batch) {
        store__list_splice(b, &s->queue);
        return;
    }
    for (i = 0; i < s->max_batch || (c != NULL && c->more); i++) {
        c = store__list_pop(&s->queue);
        if (c == NULL)
            break;
        store__list_push(b, c);
    }
}

/* Wait for work. With unsynced commits, wake up by their sync deadline and
 * sync. Under s->mu; returns with it held. */
static void writer_wait(struct store *s, bool *dirty, uint64_t *last_sync)
{
    uint64_t deadline;
    struct timespec ts;

    if (!*dirty) {
        pthread_cond_wait(&s->cv, &s->mu);
        return;
    }
    deadline = *last_sync + STORE_SYNC_INTERVAL_NS;
    ts.tv_sec = (time_t)(deadline / 1000000000ULL);
    ts.tv_nsec = (long)(deadline % 1000000000ULL);
    if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) != ETIMEDOUT)
        return;
    pthread_mutex_unlock(&s->mu);
    /* Nobody waits for this sync, so a failure has nowhere to go; the next
     * commit or sync tries again. */
    mdb_env_sync(s->env, 1);
    *dirty = false;
    *last_sync = now_ns();
    pthread_mutex_lock(&s->mu);
}

/* The writer's estimate of how often work comes: an average of the time
 * between the batches it takes (weight 1/4 to the newest). */
struct writer_pace {
    uint64_t last_take; /* when the last batch was taken */
    uint64_t gap;       /* the average gap, ns */
};

static void pace_take(struct writer_pace *p, uint64_t now)
{
    uint64_t gap = now - p->last_take;

    p->gap = p->gap - p->gap / 4 + gap / 4;
    p->last_take = now;
}

/* How long (ns from now) to wait for the next batch before syncing a
 * committed one on its own: until half a gap after the next batch is due,
 * or 0 when work comes too seldom for the wait to pay. */
static uint64_t pace_wait(const struct writer_pace *p, uint64_t now)
{
    uint64_t due = p->last_take + p->gap + p->gap / 2;

    if (p->gap >= STORE_META_WAIT_MAX_NS || due <= now)
        return 0;
    return due - now < STORE_META_WAIT_MAX_NS ? due - now : STORE_META_WAIT_MAX_NS;
}

/* Wait on s->cv until deadline (monotonic ns) at the latest. Under s->mu. */
static void deadline_wait(struct store *s, uint64_t deadline)
{
    struct timespec ts;

    ts.tv_sec = (time_t)(deadline / 1000000000ULL);
    ts.tv_nsec = (long)(deadline % 1000000000ULL);
    (void)pthread_cond_timedwait(&s->cv, &s->mu, &ts);
}

/* The commit window (store_options.commit_window_us): work that found the
 * writer idle waits until its window ends or fills. *since is 0 when the
 * writer was busy (work queued meanwhile has waited already: no window),
 * else when the window started, or 1 before the writer first saw the work.
 * Returns true after a wait (the caller looks at the queue again), false
 * when the batch is due now. Under s->mu. */
static bool window_wait(struct store *s, uint64_t *since)
{
    uint64_t now;

    if (s->window_ns == 0 || *since == 0 || s->stopping || s->queue.n >= STORE_WINDOW_FULL)
        return false;
    now = now_ns();
    if (*since == 1)
        *since = now;
    if (now >= *since + s->window_ns)
        return false;
    s->windowing = true;
    deadline_wait(s, *since + s->window_ns);
    s->windowing = false;
    return true;
}

/* With durability sync the writer runs LMDB with MDB_NOMETASYNC: a commit
 * fdatasyncs its data pages, then writes its meta page without syncing it,
 * so a crash may undo that last commit (LMDB keeps the previous meta page
 * and stays consistent). Nothing is acknowledged before its meta page is on
 * disk: a committed batch waits in "unsynced" until the next commit's
 * fdatasync (which flushes the whole file, that meta page too) or, when no
 * more work is queued, an explicit mdb_env_sync(). One fdatasync per commit
 * instead of LMDB's two (data, then an O_DSYNC meta write); under load
 * every commit also makes the previous one durable. Batches are handed back
 * in queue order. */
static void *writer_main(void *arg)
{
    struct store *s = arg;
    struct store_list b, unsynced;
    struct writer_pace pace = {now_ns(), STORE_META_WAIT_MAX_NS};
    uint64_t last_sync = now_ns(), wait;
    uint64_t last_unmap = 0;
    uint64_t t0, unsynced_t0 = 0, window = 1;
    bool dirty = false, waited = false, wrote, meta_nosync;
    unsigned flags = 0;
    int status, fail;

    meta_nosync = mdb_env_get_flags(s->env, &flags) == 0 && (flags & MDB_NOMETASYNC) != 0 &&
                  s->durability == STORE_SYNC;
    store__list_init(&unsynced);
    pthread_mutex_lock(&s->mu);
    for (;;) {
        if (s->queue.head == NULL) {
            if (unsynced.head != NULL && !s->stopping && !waited) {
                /* A change queued soon is cheaper to commit than a sync of
                 * its own, and makes the batch durable nearly as fast. */
                waited = true;
                t0 = now_ns();
                wait = pace_wait(&pace, t0);
                if (wait > 0)
                    deadline_wait(s, t0 + wait);
                continue;
            }
            if (unsynced.head != NULL) {
                pthread_mutex_unlock(&s->mu);
                batch_sync_done(s, &unsynced, unsynced_t0);
                store__list_init(&unsynced);
                pthread_mutex_lock(&s->mu);
                continue;
            }
            if (s->stopping)
                break;
            writer_wait(s, &dirty, &last_sync);
            window = 1; /* work that comes now finds the writer idle */
            continue;
        }
        if (window_wait(s, &window))
            continue;
        window = 0;
        batch_take(s, &b);
        fail = s->fail_status;
        pthread_mutex_unlock(&s->mu);
        waited = false;

        t0 = now_ns();
        pace_take(&pace, t0);
        status = batch_write(s, &b, &wrote, fail);
        store__env_unmap(s, &last_unmap);
        if (s->durability == STORE_ASYNC) {
            dirty = true;
            if (now_ns() - last_sync >= STORE_SYNC_INTERVAL_NS) {
                mdb_env_sync(s->env, 1);
                dirty = false;
                last_sync = now_ns();
            }
        }
        if (meta_nosync && status == 0 && wrote) {
            /* This commit's fdatasync ran before it wrote its own meta
             * page: the previous batch's meta page is on disk now. */
            batch_done(s, &unsynced, unsynced_t0);
            store__list_init(&unsynced);
            store__list_splice(&unsynced, &b);
            unsynced_t0 = t0;
        } else {
            /* A failed or empty commit may not have synced anything. */
            if (unsynced.head != NULL)
                batch_sync_done(s, &unsynced, unsynced_t0);
            store__list_init(&unsynced);
            batch_done(s, &b, t0);
        }
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    if (dirty)
        mdb_env_sync(s->env, 1);
    return NULL;
}

int store__writer_start(struct store *s)
{
    sigset_t all, old;
    int rc;

    /* See writer_main(). The flag may change at any time (lmdb.h); without
     * it the writer works as well, only with two syncs per commit. */
    if (s->durability == STORE_SYNC)
        (void)mdb_env_set_flags(s->env, MDB_NOMETASYNC, 1);
    rc = store__handoff_start(s);
    if (rc != 0)
        return rc;

    /* The writer inherits a mask that leaves process signals (SIGTERM,
     * SIGHUP...) to the loop thread; faults stay deliverable so sanitizers
     * and core dumps still see them. */
    sigfillset(&all);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGFPE);
    sigdelset(&all, SIGILL);
    sigdelset(&all, SIGABRT);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&s->writer, NULL, writer_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        store__handoff_stop(s);
        return -rc;
    }
    s->writer_running = true;
    return 0;
}

void store__writer_stop(struct store *s)
{
    if (!s->writer_running)
        return;
    store__stage_flush(s);
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->writer, NULL);
    s->writer_running = false;
    store__handoff_stop(s);
}
