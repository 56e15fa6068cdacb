#ifndef TC_STORAGE_STORE_INT_H
#define TC_STORAGE_STORE_INT_H

/* Private to storage/: the store's state, shared by store.c (the loop side),
 * store_env.c (opening LMDB) and store_writer.c (the writer thread). */

#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "storage/store.h"

enum store_op {
    STORE_OP_PUT = 0,
    STORE_OP_DEL,
    STORE_OP_BARRIER, /* writes nothing; done once everything before it is */
};

/* One queued change, allocated by store_put()/store_del() with its key and
 * value inline, freed on the loop thread after its done callback. */
struct store_change {
    struct store_change *next;
    store_done_cb done;
    void *arg;
    int status;         /* set by the writer: 0 or a negative code */
    uint32_t batch_n;   /* on the last change of a transaction: its size; else 0 */
    uint64_t commit_ns; /* on the last change of a transaction: write + commit time */
    uint8_t db;         /* enum store_db */
    uint8_t op;         /* enum store_op */
    uint8_t more;       /* another change of the same group follows */
    uint8_t cancelled;  /* its group was cancelled: written as nothing, -ECANCELED */
    uint16_t klen;
    uint32_t vlen;
    unsigned char data[]; /* key, then value */
};

/* A FIFO of changes; tail points at the last next pointer. */
struct store_list {
    struct store_change *head;
    struct store_change **tail;
    uint32_t n;
};

struct store_handoff;

struct store {
    uv_loop_t *loop;
    /* Not sent any more (store_handoff.c wakes the loop): its close
     * callback frees s, after every other handle of s is closed. */
    uv_async_t async;
    struct store_handoff *handoff; /* set from writer start to writer stop */
    MDB_env *env;
    void *map; /* where LMDB mapped the data file, or NULL if not found */
    MDB_dbi dbi[STORE_DB_COUNT];
    int lock_fd;
    enum store_durability durability;
    uint32_t max_batch;
    uint32_t max_queue;
    uint64_t window_ns; /* commit window (store_options.commit_window_us) */
    void (*on_commit)(void *arg, uint32_t changes, uint64_t commit_ns);
    void *on_commit_arg;

    /* Loop thread only. */
    uint32_t pending;         /* put/del accepted, done callback not yet called */
    bool closing;             /* store_close() has begun: put/del refuse */
    struct store_list ready;  /* taken from done, callbacks not yet called */
    struct store_list staged; /* queued, not yet handed to the writer */
    unsigned group_depth;     /* store_group_begin() calls not yet ended */
    struct store_list group;  /* changes of the open group, not yet staged */

    /* Shared with the writer thread, under mu. */
    pthread_mutex_t mu;
    pthread_cond_t cv;       /* signalled when queue grows or stopping is set */
    struct store_list queue; /* waiting for the writer, in put order */
    struct store_list done;  /* written (or failed), waiting for the loop */
    bool stopping;           /* store_close(): drain the queue, then exit */
    bool windowing;          /* the writer waits out a commit window */
    int fail_status;         /* store_test_fail(): commits fail with it; 0: none */
    bool writer_running;     /* the thread was started and not yet joined */
    pthread_t writer;
};

/* Empty a list. */
static inline void store__list_init(struct store_list *l)
{
    l->head = NULL;
    l->tail = &l->head;
    l->n = 0;
}

/* Append one change. */
static inline void store__list_push(struct store_list *l, struct store_change *c)
{
    c->next = NULL;
    *l->tail = c;
    l->tail = &c->next;
    l->n++;
}

/* Move every change of from to the end of to; from becomes empty. */
static inline void store__list_splice(struct store_list *to, struct store_list *from)
{
    if (from->head == NULL)
        return;
    *to->tail = from->head;
    to->tail = from->tail;
    to->n += from->n;
    store__list_init(from);
}

/* Take the first change, or NULL when empty. */
static inline struct store_change *store__list_pop(struct store_list *l)
{
    struct store_change *c = l->head;

    if (c == NULL)
        return NULL;
    l->head = c->next;
    if (l->head == NULL)
        l->tail = &l->head;
    l->n--;
    c->next = NULL;
    return c;
}

/* Convert an LMDB return code (or a positive errno from LMDB) to 0, a
 * negative errno or a TC_E* code. Any thread. */
int store__err(int mdb_rc);

/* Open (or create) the LMDB environment of s in dir, check it is whole, and
 * open or create the named databases and the schema record. s->durability
 * must be set. On success s->env and s->dbi are valid; on failure s->env is
 * NULL and the return is negative. Loop thread, before the writer starts. */
int store__env_open(struct store *s, const char *dir, const char *node_name, uint64_t map_size);

/* Unmap the pages of the data file that reads brought in (LMDB reads
 * through its mmap; the kernel also maps up to 16 cached neighbours of each
 * page read), at most once a second: *last_ns holds the time of the last
 * one (0 at first); with last_ns NULL, now. The data stays in the page
 * cache, so the next read is a minor fault; only the process's resident set
 * shrinks. Any thread. */
void store__env_unmap(struct store *s, uint64_t *last_ns);

/* Tell the kernel that reads of the map are random from now on, so that a
 * page read does not bring its neighbours in (the effect of MDB_NORDAHEAD,
 * after the startup scans, which read in key order and gain from
 * readahead on a cold start). Any thread. */
void store__env_random(struct store *s);

/* Take the changes the writer handed back and call their done callbacks
 * (store.c). Loop thread. */
void store__ready(struct store *s);

/* store_handoff.c: the wake-ups between loop and writer. */

/* Set up s->handoff (an eventfd, its uv_poll and a uv_idle on s->loop).
 * Loop thread, before the writer starts. Returns 0 or a negative errno. */
int store__handoff_start(struct store *s);

/* Close the handles of s->handoff (their memory goes in their close
 * callbacks) and clear it; changes still staged are not touched. Loop
 * thread, after the writer is joined. */
void store__handoff_stop(struct store *s);

/* Stage change c for the writer; it gets it before the loop next polls.
 * Loop thread. */
void store__stage(struct store *s, struct store_change *c);

/* Stage every change of l (emptied) for the writer, in order. Loop
 * thread. */
void store__stage_list(struct store *s, struct store_list *l);

/* Hand everything staged to the writer now. Loop thread. */
void store__stage_flush(struct store *s);

/* Append batch b (emptied) to s->done and wake the loop unless it was told
 * already. Writer thread. */
void store__handoff_done(struct store *s, struct store_list *b);

/* Start the writer thread of s. Returns 0 or a negative errno. */
int store__writer_start(struct store *s);

/* Ask the writer to commit everything queued, sync and exit; wait for it.
 * Returns at once if it was never started. Loop thread. */
void store__writer_stop(struct store *s);

#endif
