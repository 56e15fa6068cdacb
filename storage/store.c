/* The store's loop side: open and close, queueing changes, handing done
 * changes back to their callbacks, and reads. The writer thread is in
 * store_writer.c, LMDB setup in store_env.c. */

#include "storage/store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/base/tc_err.h"
#include "storage/store_int.h"

#define STORE_DEFAULT_MAX_BATCH 8192
#define STORE_DEFAULT_MAX_QUEUE 262144
#define STORE_LOCK_FILE         "tcnode.lock"
/* store_scan() drops the pages it read from the process every this many
 * records (a few MB of data). */
#define STORE_SCAN_UNMAP_RECORDS 8192

/* Create dir (mode 0700) unless it exists. Its parent must exist. Returns 1
 * when it was created, 0 when it existed, or a negative errno. */
static int dir_create(const char *dir)
{
    if (mkdir(dir, 0700) == 0)
        return 1;
    if (errno == EEXIST)
        return 0;
    return -errno;
}

static int dir_fsync(const char *path)
{
    int fd, rc = 0;

    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fsync(fd) != 0)
        rc = -errno;
    close(fd);
    return rc;
}

/* LMDB fsyncs its files but not the directories that name them: without
 * this, a power cut soon after creating a store could lose data.mdb along
 * with changes already acknowledged. Syncs dir, and its parent when dir is
 * new. */
static int dir_sync(const char *dir, bool created)
{
    char parent[PATH_MAX];
    char *slash;
    int rc, n;

    rc = dir_fsync(dir);
    if (rc != 0 || !created)
        return rc;
    n = snprintf(parent, sizeof(parent), "%s", dir);
    if (n < 0 || (size_t)n >= sizeof(parent))
        return -ENAMETOOLONG;
    while (n > 1 && parent[n - 1] == '/')
        parent[--n] = '\0';
    slash = strrchr(parent, '/');
    if (slash == NULL)
        return dir_fsync(".");
    slash[slash == parent ? 1 : 0] = '\0';
    return dir_fsync(parent);
}

/* Lock DIR/tcnode.lock for this process and write our pid in it. flock()
 * locks belong to the open file, so a second open in this same process is
 * refused as well as another process. */
static int lock_take(struct store *s, const char *dir)
{
    char path[PATH_MAX];
    char pid[32];
    int fd, n, rc;

    n = snprintf(path, sizeof(path), "%s/%s", dir, STORE_LOCK_FILE);
    if (n < 0 || (size_t)n >= sizeof(path))
        return -ENAMETOOLONG;
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK ? TC_ELOCKED : -errno;
        goto out_close;
    }
    n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        rc = errno != 0 ? -errno : -EIO;
        goto out_close;
    }
    s->lock_fd = fd;
    return 0;

out_close:
    close(fd);
    return rc;
}

static void lock_release(struct store *s)
{
    if (s->lock_fd < 0)
        return;
    /* Clear the pid while still holding the lock; closing releases it. */
    if (ftruncate(s->lock_fd, 0) != 0) {
        /* Harmless: the lock, not the pid, says who holds the dir. */
    }
    close(s->lock_fd);
    s->lock_fd = -1;
}

static int sync_init(struct store *s)
{
    pthread_condattr_t ca;
    int rc;

    rc = pthread_mutex_init(&s->mu, NULL);
    if (rc != 0)
        return -rc;
    rc = pthread_condattr_init(&ca);
    if (rc != 0)
        goto out_mutex;
    /* The writer's sync deadline is on the monotonic clock. */
    rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0)
        goto out_mutex;
    return 0;

out_mutex:
    pthread_mutex_destroy(&s->mu);
    return -rc;
}

static void sync_destroy(struct store *s)
{
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
}

static void on_async_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Call the done callbacks of every change taken from the writer, in queue
 * order, and on_commit after the last change of each transaction. A callback
 * may queue more changes or close the store: the list lives in s, so a
 * nested store_close() carries on where this left off. */
static void ready_run(struct store *s)
{
    struct store_change *c;

    while ((c = store__list_pop(&s->ready)) != NULL) {
        s->pending--;
        if (c->done != NULL)
            c->done(c->arg, c->status);
        if (c->batch_n > 0 && c->status == 0 && s->on_commit != NULL)
            s->on_commit(s->on_commit_arg, c->batch_n, c->commit_ns);
        free(c);
    }
}

static void ready_take(struct store *s)
{
    pthread_mutex_lock(&s->mu);
    store__list_splice(&s->ready, &s->done);
    pthread_mutex_unlock(&s->mu);
}

void store__ready(struct store *s)
{
    ready_take(s);
    ready_run(s);
}

static void on_async(uv_async_t *h)
{
    store__ready(h->data);
}

static int options_check(uv_loop_t *loop, const struct store_options *opt)
{
    if (loop == NULL || opt == NULL || opt->dir == NULL || opt->dir[0] == '\0')
        return -EINVAL;
    if (opt->node_name == NULL || opt->node_name[0] == '\0')
        return -EINVAL;
    if (opt->durability != STORE_SYNC && opt->durability != STORE_ASYNC)
        return -EINVAL;
    return 0;
}

static struct store *store_alloc(uv_loop_t *loop, const struct store_options *opt)
{
    struct store *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    s->loop = loop;
    s->lock_fd = -1;
    s->durability = opt->durability;
    s->max_batch = opt->max_batch != 0 ? opt->max_batch : STORE_DEFAULT_MAX_BATCH;
    s->max_queue = opt->max_queue != 0 ? opt->max_queue : STORE_DEFAULT_MAX_QUEUE;
    s->window_ns = (uint64_t)opt->commit_window_us * 1000;
    s->on_commit = opt->on_commit;
    s->on_commit_arg = opt->on_commit_arg;
    store__list_init(&s->ready);
    store__list_init(&s->staged);
    store__list_init(&s->queue);
    store__list_init(&s->group);
    store__list_init(&s->done);
    return s;
}

int store_open(struct store **out, uv_loop_t *loop, const struct store_options *opt)
{
    struct store *s;
    bool created;
    int rc;

    rc = options_check(loop, opt);
    if (rc != 0)
        return rc;
    s = store_alloc(loop, opt);
    if (s == NULL)
        return -ENOMEM;
    rc = sync_init(s);
    if (rc != 0)
        goto out_free;
    rc = dir_create(opt->dir);
    if (rc < 0)
        goto out_sync;
    created = rc == 1;
    rc = lock_take(s, opt->dir);
    if (rc != 0)
        goto out_sync;
    rc = store__env_open(s, opt->dir, opt->node_name, opt->map_size);
    if (rc != 0)
        goto out_unlock;
    rc = dir_sync(opt->dir, created);
    if (rc != 0)
        goto out_close_env;
    rc = uv_async_init(loop, &s->async, on_async);
    if (rc != 0)
        goto out_close_env;
    s->async.data = s;
    rc = store__writer_start(s);
    if (rc != 0)
        goto out_close_async;
    *out = s;
    return 0;

out_close_async:
    /* The handle is on the loop now: s is freed by its close callback. */
    mdb_env_close(s->env);
    lock_release(s);
    sync_destroy(s);
    uv_close((uv_handle_t *)&s->async, on_async_closed);
    return rc;
out_close_env:
    mdb_env_close(s->env);
out_unlock:
    lock_release(s);
out_sync:
    sync_destroy(s);
out_free:
    free(s);
    return rc;
}

/* Check, copy and queue one change. */
static int change_queue(struct store *s, enum store_op op, enum store_db db, const void *key,
                        size_t klen, const void *val, size_t vlen, store_done_cb done, void *arg)
{
    struct store_change *c;

    if (s->closing)
        return -ECANCELED;
    if (op != STORE_OP_BARRIER &&
        ((unsigned)db >= STORE_DB_COUNT || key == NULL || klen == 0 || klen > STORE_MAX_KEY))
        return -EINVAL;
    if (vlen > STORE_MAX_VALUE)
        return -EMSGSIZE;
    if (vlen > 0 && val == NULL)
        return -EINVAL;
    if (s->pending >= s->max_queue)
        return -EBUSY;
    c = malloc(sizeof(*c) + klen + vlen);
    if (c == NULL)
        return -ENOMEM;
    c->done = done;
    c->arg = arg;
    c->status = 0;
    c->batch_n = 0;
    c->commit_ns = 0;
    c->db = (uint8_t)db;
    c->op = (uint8_t)op;
    c->more = 0;
    c->cancelled = 0;
    c->klen = (uint16_t)klen;
    c->vlen = (uint32_t)vlen;
    if (klen > 0)
        memcpy(c->data, key, klen);
    if (vlen > 0)
        memcpy(c->data + klen, val, vlen);
    s->pending++;
    if (s->group_depth > 0) {
        if (s->group.head != NULL)
            ((struct store_change *)((char *)s->group.tail - offsetof(struct store_change, next)))
                    ->more = 1;
        store__list_push(&s->group, c);
        return 0;
    }
    store__stage(s, c);
    return 0;
}

void store_group_begin(struct store *s)
{
    s->group_depth++;
}

void store_group_end(struct store *s, bool commit)
{
    struct store_change *c;

    if (s->group_depth == 0 || --s->group_depth > 0 || s->group.head == NULL)
        return;
    if (!commit) {
        /* Still handed to the writer, so that the callbacks keep queue
         * order; it writes nothing of them. */
        for (c = s->group.head; c != NULL; c = c->next) {
            c->op = STORE_OP_BARRIER;
            c->cancelled = 1;
        }
    }
    store__stage_list(s, &s->group);
}

int store_put(struct store *s, enum store_db db, const void *key, size_t klen, const void *val,
              size_t vlen, store_done_cb done, void *arg)
{
    return change_queue(s, STORE_OP_PUT, db, key, klen, val, vlen, done, arg);
}

int store_del(struct store *s, enum store_db db, const void *key, size_t klen, store_done_cb done,
              void *arg)
{
    return change_queue(s, STORE_OP_DEL, db, key, klen, NULL, 0, done, arg);
}

int store_barrier(struct store *s, store_done_cb done, void *arg)
{
    return change_queue(s, STORE_OP_BARRIER, STORE_DB_META, NULL, 0, NULL, 0, done, arg);
}

int store_scan(struct store *s, enum store_db db, store_scan_cb cb, void *arg)
{
    MDB_cursor *cur;
    MDB_txn *txn;
    MDB_val k, v;
    uint64_t n = 0;
    int rc, mrc;

    if ((unsigned)db >= STORE_DB_COUNT || cb == NULL || s->closing)
        return -EINVAL;
    mrc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (mrc != 0)
        return store__err(mrc);
    mrc = mdb_cursor_open(txn, s->dbi[db], &cur);
    if (mrc != 0) {
        rc = store__err(mrc);
        goto out_abort;
    }
    while ((mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
        rc = cb(arg, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
        if (rc != 0)
            goto out_cursor;
        /* Do not keep what was read mapped: a scan of a million records
         * would otherwise add the whole file to the process's peak RSS. */
        if (++n % STORE_SCAN_UNMAP_RECORDS == 0)
            store__env_unmap(s, NULL);
    }
    rc = mrc == MDB_NOTFOUND ? 0 : store__err(mrc);
out_cursor:
    mdb_cursor_close(cur);
out_abort:
    mdb_txn_abort(txn);
    /* The scan read the whole database: do not keep its pages mapped. */
    store__env_unmap(s, NULL);
    store__env_random(s);
    return rc;
}

int store_count(struct store *s, enum store_db db, uint64_t *n)
{
    MDB_txn *txn;
    MDB_stat st;
    int mrc;

    if ((unsigned)db >= STORE_DB_COUNT || n == NULL || s->closing)
        return -EINVAL;
    mrc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (mrc != 0)
        return store__err(mrc);
    mrc = mdb_stat(txn, s->dbi[db], &st);
    mdb_txn_abort(txn);
    if (mrc != 0)
        return store__err(mrc);
    *n = st.ms_entries;
    return 0;
}

uint32_t store_pending(const struct store *s)
{
    return s->pending;
}

void store_close(struct store *s)
{
    if (s == NULL || s->closing)
        return;
    s->closing = true;
    /* A group left open is committed with everything else. */
    s->group_depth = 1;
    store_group_end(s, true);
    store__writer_stop(s);
    ready_take(s);
    ready_run(s);
    mdb_env_close(s->env);
    s->env = NULL;
    lock_release(s);
    sync_destroy(s);
    uv_close((uv_handle_t *)&s->async, on_async_closed);
}

void store_test_fail(struct store *s, int status)
{
    pthread_mutex_lock(&s->mu);
    s->fail_status = status;
    pthread_mutex_unlock(&s->mu);
}
