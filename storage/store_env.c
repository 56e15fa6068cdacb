/* Opening the LMDB environment: error conversion, the whole-file check, the
 * named databases and the schema record. */

#include "storage/store_int.h"

#include <errno.h>
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

/* LMDB maps the file and trusts its meta page: a truncated file opens fine
 * and then dies of SIGBUS at the first missing page. Every page a reader
 * or the writer can reach is numbered at most me_last_pgno (the newest
 * meta page's last used page; LMDB writes each page it allocates before
 * the meta page that counts it), so the file must hold that many pages.
 * Costs one fstat, not a read of the data. Returns 0 or a negative code. */
static int env_verify(MDB_env *env)
{
    mdb_filehandle_t fd;
    MDB_envinfo info;
    MDB_stat st;
    struct stat fst;
    int rc;

    rc = mdb_env_info(env, &info);
    if (rc == 0)
        rc = mdb_env_stat(env, &st);
    if (rc == 0)
        rc = mdb_env_get_fd(env, &fd);
    if (rc != 0)
        return store__err(rc);
    if (fstat(fd, &fst) != 0)
        return -errno;
    if ((uint64_t)fst.st_size < ((uint64_t)info.me_last_pgno + 1) * st.ms_psize)
        return TC_ECORRUPT;
    return 0;
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

void store__env_random(struct store *s)
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
    s->map = env_map_addr(s->env);
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
