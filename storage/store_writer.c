/* The writer thread: takes queued changes in batches, writes each batch in
 * one LMDB transaction (group commit) and hands it back to the loop. It
 * never touches loop state; it talks to the loop only through s->done and
 * uv_async_send(). */

#include "storage/store_int.h"

#include <errno.h>
#include <signal.h>
#include <time.h>

/* With durability async, how long a commit may stay unsynced. */
#define STORE_SYNC_INTERVAL_NS 1000000000ULL

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

/* Write batch b in one transaction and record the outcome in each change;
 * the last one also carries the batch size and the time it took. A failure
 * fails the whole batch: nothing of it was committed. */
static void batch_write(struct store *s, struct store_list *b)
{
    struct store_change *c;
    struct store_change *last = NULL;
    uint64_t t0 = now_ns();
    MDB_txn *txn;
    int rc, status;

    rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc == 0) {
        for (c = b->head; c != NULL && rc == 0; c = c->next)
            rc = change_apply(s, txn, c);
        if (rc == 0)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
    }
    status = store__err(rc);
    for (c = b->head; c != NULL; c = c->next) {
        c->status = status;
        last = c;
    }
    if (last != NULL) {
        last->batch_n = b->n;
        last->commit_ns = now_ns() - t0;
    }
}

/* Move up to max_batch changes from the queue to b. Under s->mu. */
static void batch_take(struct store *s, struct store_list *b)
{
    uint32_t i;

    store__list_init(b);
    if (s->queue.n <= s->max_batch) {
        store__list_splice(b, &s->queue);
        return;
    }
    for (i = 0; i < s->max_batch; i++)
        store__list_push(b, store__list_pop(&s->queue));
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

static void *writer_main(void *arg)
{
    struct store *s = arg;
    struct store_list b;
    uint64_t last_sync = now_ns();
    bool dirty = false;

    pthread_mutex_lock(&s->mu);
    for (;;) {
        if (s->queue.head == NULL) {
            if (s->stopping)
                break;
            writer_wait(s, &dirty, &last_sync);
            continue;
        }
        batch_take(s, &b);
        pthread_mutex_unlock(&s->mu);

        batch_write(s, &b);
        if (s->durability == STORE_ASYNC) {
            dirty = true;
            if (now_ns() - last_sync >= STORE_SYNC_INTERVAL_NS) {
                mdb_env_sync(s->env, 1);
                dirty = false;
                last_sync = now_ns();
            }
        }

        pthread_mutex_lock(&s->mu);
        store__list_splice(&s->done, &b);
        pthread_mutex_unlock(&s->mu);
        uv_async_send(&s->async);
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
    if (rc != 0)
        return -rc;
    s->writer_running = true;
    return 0;
}

void store__writer_stop(struct store *s)
{
    if (!s->writer_running)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->writer, NULL);
    s->writer_running = false;
}
