#ifndef TC_STORAGE_STORE_H
#define TC_STORAGE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Durable key/value state in LMDB (DESIGN §7), written off the loop.
 *
 * The loop thread queues changes with store_put()/store_del(). A writer
 * thread takes everything queued (up to max_batch changes), writes it in one
 * LMDB transaction (group commit), commits, and - with durability sync -
 * the commit is on disk before anything is acknowledged: LMDB runs with
 * MDB_NOMETASYNC (one fdatasync per commit), and a batch is acknowledged
 * once the next commit's fdatasync, or a sync of its own, has put its meta
 * page on disk too (the writer waits up to 2 ms for that next work when work
 * has been coming that often, else syncs at once). Changes queued during a
 * loop turn reach the writer together before the loop next polls. The
 * writer hands the batch back through an eventfd, and the loop calls each
 * change's done callback in queue order. With durability async the commit
 * is not fsync'd (MDB_NOSYNC); the writer syncs the file at least once a second.
 *
 * Values are serialized protobuf messages from proto/store.proto; the store
 * does not look inside them. The store never calls a port or logs: it
 * returns codes and the caller decides. */

struct store;

enum store_db {
    STORE_DB_META = 0, /* schema record and node identity */
    STORE_DB_DN,       /* DN ownership records (proto DnRecord) */
    STORE_DB_BINDING,  /* SIP bindings (proto Binding) */
    STORE_DB_PEER,     /* per-peer replication progress */
    STORE_DB_COUNT,
};

enum store_durability {
    STORE_SYNC = 0,
    STORE_ASYNC,
};

#define STORE_SCHEMA_VERSION 1
#define STORE_MAX_KEY        511        /* bytes; LMDB's default key limit */
#define STORE_MAX_VALUE      (1u << 20) /* bytes per value */
#define STORE_WINDOW_FULL    256        /* queued changes that end a commit window */

struct store_options {
    const char *dir;       /* data-dir; created if missing (its parent must exist) */
    const char *node_name; /* recorded on creation, checked on every open */
    enum store_durability durability;
    uint64_t map_size;  /* LMDB map size in bytes; 0: 1 GiB */
    uint32_t max_batch; /* changes per transaction; 1 = no group commit; 0: 8192 */
    /* Changes accepted and not yet reported (queued, being written, or
     * waiting for their done callback, as store_pending() counts them);
     * put/del beyond give -EBUSY; 0: 262144. */
    uint32_t max_queue;
    /* Commit window, microseconds (0: none): a change that finds the writer
     * idle waits up to this long for others, or until STORE_WINDOW_FULL
     * are queued, so that one commit and one sync serve them all: fewer
     * syncs (each costs tens of microseconds of CPU, more in a VM) for at
     * most this much more latency. Work that queues while the writer is
     * busy never waits: it has waited already. */
    uint32_t commit_window_us;
    /* Called on the loop thread once per committed transaction, after the
     * done callbacks of its changes, with the number of changes it held and
     * the time from the start of its write to its hand-back: write + commit
     * (with durability sync, until it is durable). A failed
     * transaction is reported only through the done callbacks. May be NULL. */
    void (*on_commit)(void *arg, uint32_t changes, uint64_t commit_ns);
    void *on_commit_arg;
};

/* Called on the loop thread when the change is durable (status 0) or failed
 * (negative: TC_EFULL when the map is full, -EIO or another negative errno).
 * A failure fails the whole transaction the change was part of. Every
 * accepted change gets exactly one call, at the latest inside store_close(). */
typedef void (*store_done_cb)(void *arg, int status);

/* Open or create the store in opt->dir and start its writer thread. Takes an
 * exclusive lock on the data-dir (flock on DIR/tcnode.lock, which holds the
 * pid) for the life of the store; a second open of the same dir, in this
 * process or another, gets TC_ELOCKED. Checks that the data file holds
 * every page its meta page counts (a truncated file is TC_ECORRUPT; one
 * fstat, the data is not read), and fsyncs the data-dir (and its parent when it was created). Loop thread; the
 * store registers a uv_async_t, a uv_poll_t and a uv_idle_t on loop. opt and its strings are only
 * borrowed during the call.
 * Returns 0 and fills *out, or: -EINVAL (missing dir or node name),
 * -ENOENT (parent of dir missing), -ENOTDIR (a path element is a file),
 * -EACCES, TC_ELOCKED (the data-dir is held), TC_ECORRUPT (a file is
 * damaged, or not an LMDB store of ours), TC_ESCHEMA (newer schema),
 * TC_EFOREIGN (created by another node name), -ENOMEM, -EIO. A failed open
 * releases everything it took and never changes an existing store; it may
 * leave the data-dir, its lock file and an empty new store behind. */
int store_open(struct store **out, uv_loop_t *loop, const struct store_options *opt);

/* Queue a write of key -> val in db. key and val are copied; the caller keeps
 * its buffers. done (may be NULL) is called later on the loop thread, never
 * from inside this call; on failure it is never called. Changes are written
 * in call order, so of two puts of one key the later wins. Loop thread; done
 * callbacks may call it. Returns 0, -EBUSY when max_queue changes are already
 * pending, -EINVAL for a bad db or an empty or over-long key (more than
 * STORE_MAX_KEY bytes), -EMSGSIZE for a value over STORE_MAX_VALUE bytes,
 * -ECANCELED once store_close() has begun (from a done callback), -ENOMEM. */
int store_put(struct store *s, enum store_db db, const void *key, size_t klen, const void *val,
              size_t vlen, store_done_cb done, void *arg);

/* Queue a delete of key in db (absent keys are not an error). Same rules as
 * store_put(). */
int store_del(struct store *s, enum store_db db, const void *key, size_t klen, store_done_cb done,
              void *arg);

/* Queue a barrier: done is called, in queue order, once every change
 * queued before it is durable; it writes nothing. Same rules and returns as
 * store_put(). */
int store_barrier(struct store *s, store_done_cb done, void *arg);

/* Group the changes queued from now until the matching store_group_end()
 * (groups may nest; the outermost counts): the writer writes a group in one
 * transaction, whole or not at all, even past max_batch, so that what one
 * request changed is never half durable. The group's changes reach the
 * writer only at its end. With commit false (a change of the group was
 * refused and the request gives up), nothing of it is written and each of
 * its done callbacks gets -ECANCELED, in queue order. Loop thread. */
void store_group_begin(struct store *s);
void store_group_end(struct store *s, bool commit);

/* Called once per record by store_scan(); the bytes are valid only during the
 * call. Return 0 to go on, anything else to stop (store_scan returns it). */
typedef int (*store_scan_cb)(void *arg, const void *key, size_t klen, const void *val, size_t vlen);

/* Read every committed record of db in key order, in a read transaction
 * (changes still queued are not seen). Meant for startup; loop thread; the
 * writer goes on meanwhile. Returns 0, the callback's non-zero value, or a
 * negative error. */
int store_scan(struct store *s, enum store_db db, store_scan_cb cb, void *arg);

/* The number of committed records of db, in *n (changes still queued are
 * not counted): for sizing tables before a store_scan(). Loop thread.
 * Returns 0 or a negative error. */
int store_count(struct store *s, enum store_db db, uint64_t *n);

/* Number of changes accepted by store_put()/store_del() whose done callback
 * has not run yet (the count max_queue bounds). Loop thread. */
uint32_t store_pending(const struct store *s);

/* Test hook: from now on every transaction the writer takes fails with
 * status (a negative code, e.g. TC_EFULL, as a full map would give: no
 * change of it is written), until called again with 0. Changes still
 * accepted; their done callbacks get status. For tests that need a refusal
 * whatever LMDB would still fit (an overwrite in place may fit a full
 * map). Loop thread. */
void store_test_fail(struct store *s, int status);

/* Commit everything queued, wait for it to be durable, call every pending
 * done callback (with its status, in order), stop the writer, close LMDB
 * and release the lock; the dir may be opened again as soon as this
 * returns. Loop thread, also from inside a done callback; blocks until the
 * writer is done (shutdown only). s must not be used afterwards.
 * The memory of s is freed by the close callback of its uv_async_t, which
 * runs the next time the loop runs: the caller must run the loop (e.g.
 * uv_run(loop, UV_RUN_DEFAULT) until it returns) before uv_loop_close().
 * This function does not run the loop itself, because uv_run() must not be
 * called from inside a loop callback. */
void store_close(struct store *s);

#endif
