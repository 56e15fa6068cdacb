/* Opening the LMDB environment: error conversion, the whole-file check, the
 * named databases and the schema record. */

#include "storage/store_int.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "proto/store.pb-c.h"
#include "server/base/tc_err.h"

#define STORE_DEFAULT_MAP_SIZE (1ULL << 30)
#define STORE_MAXDBS           (STORE_DB_COUNT + 4)
#define STORE_META_KEY         "schema"

static const char *const store_db_names[STORE_DB_COUNT] = {
        [STORE_DB_META] = "meta",
        [STORE_DB_DN] = "dn",
        [STORE_DB_BINDING] = "binding",
        [STORE_DB_PEER] = "peer",
};

int store__err(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:
        return 0;
    case MDB_MAP_FULL:
        return TC_EFULL;
    case MDB_INVALID:
    case MDB_CORRUPTED:
    case MDB_VERSION_MISMATCH:
    case MDB_PAGE_NOTFOUND:
    case MDB_INCOMPATIBLE:
    case MDB_CURSOR_FULL:
        return TC_ECORRUPT;
    case MDB_NOTFOUND:
        return -ENOENT;
    case MDB_KEYEXIST:
        return -EEXIST;
    case MDB_BAD_VALSIZE:
        return -EINVAL;
    case MDB_READERS_FULL:
    case MDB_MAP_RESIZED:
        return -EAGAIN;
    case MDB_TXN_FULL:
        return -E2BIG;
    case MDB_DBS_FULL:
        return -EMFILE;
    default:
        break;
    }
    if (rc > 0 && rc < 4096)
        return -rc;
    return -EIO;
}

/* The fault guard below needs process-wide state: a signal handler can only
 * find its context through globals. The jump buffer is per thread, so a fault
 * in any other thread is not mistaken for ours. */
static _Thread_local sigjmp_buf *store_fault_jmp;
static struct sigaction store_old_bus;
static struct sigaction store_old_segv;

static void on_fault(int sig)
{
    sigjmp_buf *jb = store_fault_jmp;

    if (jb != NULL) {
        store_fault_jmp = NULL;
        siglongjmp(*jb, sig);
    }
    /* Another thread faulted: give the signal back to whoever had it; the
     * faulting instruction runs again and meets that handler. */
    sigaction(sig, sig == SIGBUS ? &store_old_bus : &store_old_segv, NULL);
}

/* Read one byte of every page of v, so that a page the file lacks faults here
 * and not later in the writer. */
static unsigned touch_val(const MDB_val *v, size_t psize)
{
    const volatile unsigned char *p = v->mv_data;
    unsigned sum = 0;
    size_t off;

    for (off = 0; off < v->mv_size; off += psize)
        sum += p[off];
    if (v->mv_size > 0)
        sum += p[v->mv_size - 1];
    return sum;
}

/* Walk every record of the database under cur. Returns an LMDB code. */
static int walk_cursor(MDB_cursor *cur, size_t psize)
{
    MDB_val k;
    MDB_val v;
    int rc;

    while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
        touch_val(&k, psize);
        touch_val(&v, psize);
    }
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* What the walk holds, so that the fault path can release it. */
struct store_walk {
    MDB_txn *txn;
    MDB_cursor *cur;
};

/* Walk the free list (dbi 0), the main database and those of ours that
 * exist. Returns an LMDB code. */
static int walk_all(MDB_env *env, volatile struct store_walk *w)
{
    MDB_dbi dbis[STORE_DB_COUNT + 2];
    MDB_cursor *cur;
    MDB_txn *txn;
    MDB_stat st;
    int n = 0;
    int rc, i;

    rc = mdb_env_stat(env, &st);
    if (rc != 0)
        return rc;
    rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return rc;
    w->txn = txn;
    dbis[n++] = 0;
    rc = mdb_dbi_open(txn, NULL, 0, &dbis[n++]);
    for (i = 0; i < STORE_DB_COUNT && rc == 0; i++) {
        rc = mdb_dbi_open(txn, store_db_names[i], 0, &dbis[n]);
        if (rc == 0)
            n++;
        else if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    for (i = 0; i < n && rc == 0; i++) {
        rc = mdb_cursor_open(txn, dbis[i], &cur);
        if (rc != 0)
            break;
        w->cur = cur;
        rc = walk_cursor(cur, st.ms_psize);
        w->cur = NULL;
        mdb_cursor_close(cur);
    }
    return rc;
}

/* Read every page a reader or the writer can reach. LMDB maps the file and
 * trusts its meta page: a truncated file opens fine and then dies of SIGBUS
 * at the first missing page. Faults during the walk are caught and reported
 * as corruption. Costs one sequential read of the data at startup. Returns
 * 0 or a negative code. */
static int env_verify(MDB_env *env)
{
    volatile struct store_walk w = {NULL, NULL};
    volatile int rc;
    struct sigaction sa;
    sigjmp_buf jb;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_fault;
    sigemptyset(&sa.sa_mask);
    if (sigsetjmp(jb, 1) == 0) {
        sigaction(SIGBUS, &sa, &store_old_bus);
        sigaction(SIGSEGV, &sa, &store_old_segv);
        store_fault_jmp = &jb;
        rc = store__err(walk_all(env, &w));
    } else {
        rc = TC_ECORRUPT;
    }
    store_fault_jmp = NULL;
    sigaction(SIGBUS, &store_old_bus, NULL);
    sigaction(SIGSEGV, &store_old_segv, NULL);
    if (w.cur != NULL)
        mdb_cursor_close(w.cur);
    if (w.txn != NULL)
        mdb_txn_abort(w.txn);
    return rc;
}

#define STORE_UNMAP_INTERVAL_NS 1000000000ULL

static uint64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Where LMDB mapped the data file, or NULL. LMDB does not say (its
 * me_mapaddr is set only with MDB_FIXEDMAP), so look for the mapping of
 * the file's inode at offset 0 in /proc/self/maps, once at open. */
static void *env_map_addr(MDB_env *env)
{
    unsigned long start, end, offset, ino;
    unsigned maj, min;
    mdb_filehandle_t fd;
    char line[512];
    void *addr = NULL;
    struct stat st;
    FILE *f;

    if (mdb_env_get_fd(env, &fd) != 0 || fstat(fd, &st) != 0)
        return NULL;
    f = fopen("/proc/self/maps", "re");
    if (f == NULL)
        return NULL;
    while (addr == NULL && fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "%lx-%lx %*s %lx %x:%x %lu", &start, &end, &offset, &maj, &min, &ino) ==
                    6 &&
            offset == 0 && ino == st.st_ino && maj == major(st.st_dev) && min == minor(st.st_dev))
            addr = (void *)start;
    }
    fclose(f);
    return addr;
}

/* Drop the process's mappings of the data file's pages; see
 * store__env_unmap(). Safe while other threads read: the mapping is shared
 * and read-only (no MDB_WRITEMAP), so a page read after this faults the
 * same bytes back from the page cache. */
static void env_unmap(struct store *s)
{
    MDB_envinfo info;
    MDB_stat st;

    if (s->map == NULL || mdb_env_info(s->env, &info) != 0 || mdb_env_stat(s->env, &st) != 0)
        return;
    /* Failure only leaves the pages mapped. */
    (void)madvise(s->map, (info.me_last_pgno + 1) * (size_t)st.ms_psize, MADV_DONTNEED);
}

/* Tell the kernel reads of the map are random. */
static void env_random(struct store *s)
{
    MDB_envinfo info;

    if (s->map != NULL && mdb_env_info(s->env, &info) == 0)
        (void)madvise(s->map, info.me_mapsize, MADV_RANDOM);
}

void store__env_unmap(struct store *s, uint64_t *last_ns)
{
    uint64_t now = mono_ns();

    if (last_ns != NULL) {
        if (*last_ns != 0 && now - *last_ns < STORE_UNMAP_INTERVAL_NS)
            return;
        *last_ns = now;
    }
    env_unmap(s);
}

static uint64_t unix_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Write the schema record of a new store. Returns an LMDB code. */
static int meta_write(MDB_txn *txn, MDB_dbi dbi, const char *node_name)
{
    Tc__StoreMeta m = TC__STORE_META__INIT;
    MDB_val k = {sizeof(STORE_META_KEY) - 1, STORE_META_KEY};
    MDB_val v;
    int rc;

    m.schema_version = STORE_SCHEMA_VERSION;
    m.node_name = (char *)node_name;
    m.created_unix_ms = unix_ms();
    m.created_by = "tcnode " TC_VERSION;
    v.mv_size = tc__store_meta__get_packed_size(&m);
    v.mv_data = NULL;
    rc = mdb_put(txn, dbi, &k, &v, MDB_RESERVE);
    if (rc != 0)
        return rc;
    tc__store_meta__pack(&m, v.mv_data);
    return 0;
}

/* Check the schema record of an existing store. Returns 0 or a TC_E* code. */
static int meta_check(MDB_txn *txn, MDB_dbi dbi, const char *node_name)
{
    MDB_val k = {sizeof(STORE_META_KEY) - 1, STORE_META_KEY};
    Tc__StoreMeta *m;
    MDB_val v;
    int rc;

    rc = mdb_get(txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND)
        return TC_ECORRUPT;
    if (rc != 0)
        return store__err(rc);
    m = tc__store_meta__unpack(NULL, v.mv_size, v.mv_data);
    if (m == NULL)
        return TC_ECORRUPT;
    if (m->schema_version == 0)
        rc = TC_ECORRUPT;
    else if (m->schema_version > STORE_SCHEMA_VERSION)
        rc = TC_ESCHEMA;
    else if (m->node_name == NULL || strcmp(m->node_name, node_name) != 0)
        rc = TC_EFOREIGN;
    else
        rc = 0;
    tc__store_meta__free_unpacked(m, NULL);
    return rc;
}

/* Open every named database with flags. Returns an LMDB code. */
static int dbis_open(MDB_txn *txn, MDB_dbi *dbi, unsigned flags)
{
    int rc;
    int i;

    for (i = 0; i < STORE_DB_COUNT; i++) {
        rc = mdb_dbi_open(txn, store_db_names[i], flags, &dbi[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* In one write txn: a new environment (empty main database) gets our
 * databases and its schema record; an existing one must hold a schema record
 * we accept. Returns 0 or a negative code. */
static int env_schema(struct store *s, const char *node_name)
{
    MDB_txn *txn;
    MDB_dbi main_dbi;
    MDB_stat st;
    int rc;

    rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != 0)
        return store__err(rc);
    rc = mdb_dbi_open(txn, NULL, 0, &main_dbi);
    if (rc == 0)
        rc = mdb_stat(txn, main_dbi, &st);
    if (rc != 0)
        goto out_abort_mdb;
    if (st.ms_entries == 0) {
        rc = dbis_open(txn, s->dbi, MDB_CREATE);
        if (rc == 0)
            rc = meta_write(txn, s->dbi[STORE_DB_META], node_name);
        if (rc != 0)
            goto out_abort_mdb;
    } else {
        /* A store always has "meta"; an LMDB file without it is not ours. */
        rc = mdb_dbi_open(txn, store_db_names[STORE_DB_META], 0, &s->dbi[STORE_DB_META]);
        if (rc == MDB_NOTFOUND)
            rc = MDB_INCOMPATIBLE;
        if (rc != 0)
            goto out_abort_mdb;
        rc = meta_check(txn, s->dbi[STORE_DB_META], node_name);
        if (rc != 0)
            goto out_abort;
        rc = dbis_open(txn, s->dbi, MDB_CREATE);
        if (rc != 0)
            goto out_abort_mdb;
    }
    return store__err(mdb_txn_commit(txn));

out_abort_mdb:
    rc = store__err(rc);
out_abort:
    mdb_txn_abort(txn);
    return rc;
}

int store__env_open(struct store *s, const char *dir, const char *node_name, uint64_t map_size)
{
    unsigned flags = MDB_NOTLS;
    int rc;

    if (s->durability == STORE_ASYNC)
        flags |= MDB_NOSYNC;
    rc = mdb_env_create(&s->env);
    if (rc != 0) {
        s->env = NULL;
        return store__err(rc);
    }
    rc = mdb_env_set_maxdbs(s->env, STORE_MAXDBS);
    if (rc == 0)
        rc = mdb_env_set_mapsize(s->env, map_size != 0 ? map_size : STORE_DEFAULT_MAP_SIZE);
    if (rc == 0)
        rc = mdb_env_open(s->env, dir, flags, 0600);
    if (rc != 0) {
        rc = store__err(rc);
        goto out_close_env;
    }
    /* store_put() promises keys up to STORE_MAX_KEY bytes. */
    if (mdb_env_get_maxkeysize(s->env) < STORE_MAX_KEY) {
        rc = -ENOTSUP;
        goto out_close_env;
    }
    rc = env_verify(s->env);
    if (rc != 0)
        goto out_close_env;
    /* The check read every page (with the kernel's readahead, so a cold
     * start reads the file in large blocks, and warms the page cache for
     * the restore that follows): do not keep them all mapped. From now on
     * records are read at random, where readahead would only bring
     * neighbouring pages in: the effect of MDB_NORDAHEAD, after the check. */
    s->map = env_map_addr(s->env);
    env_random(s);
    env_unmap(s);
    rc = env_schema(s, node_name);
    if (rc != 0)
        goto out_close_env;
    return 0;

out_close_env:
    mdb_env_close(s->env);
    s->env = NULL;
    s->map = NULL;
    return rc;
}
