/* Restore after a start (DESIGN §3 "Restart", §7): unexpired bindings come
 * back, every DN comes back with its stored version and role, and nothing
 * is claimed anew; expired bindings and local claims without a binding are
 * cleaned up. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/base/clock.h"
#include "server/base/log.h"
#include "server/base/tc_err.h"
#include "server/core/bindings.h"
#include "server/core/core_int.h"
#include "server/core/dn_store.h"
#include "server/core/record_wire.h"
#include "storage/store.h"

#define RESTORE_AHEAD 8

/* A DN record read, waiting to go in. */
struct restore_dn {
    dn_key dn;
    uint16_t owner;
    enum dn_source source;
    struct tc_version v;
    uint64_t since_ms;
};

struct restore_ctx {
    struct core *c;
    struct core_restore_stats st;
    uint64_t now;
    int error;
    /* Keys of expired or unusable binding records, deleted after the scan. */
    char **stale;
    size_t *stale_len;
    size_t n_stale, cap_stale;
    /* Both scans read DNs in increasing order (of their digits as strings,
     * LMDB's key order). Into tables empty at the start, a DN past every
     * one added so far is new: it goes in without a look-up (a cache miss
     * or more each, at a million DNs). Out-of-order records (a binding
     * whose dn field is not its key's) take the look-up. */
    bool bind_empty;             /* the bindings were empty at the start */
    bool bind_sorted;            /* ... and every entry made went in in order */
    dn_key bind_max;             /* the last entry made in order */
    struct dn_entry *bind_last;  /* the entry of the last binding added */
    uint32_t bind_last_pos;      /* ... at this position */
    bool table_empty;            /* the DN table was empty at the start */
    dn_key table_max;            /* the last entry loaded in order */
    /* The DN scan walks the bindings' entries alongside (they are in
     * scan order while bind_sorted, before walk_end) to find each DN's
     * bindings, and its entry: the table and the bindings share them. */
    size_t walk_cursor, walk_end;
    struct dn_entry *walk;
    /* Each record waits RESTORE_AHEAD records before it goes in, while its
     * slot of the index (a cache miss at a million DNs) is prefetched. */
    struct binding *bind_ring[RESTORE_AHEAD];
    dn_key bind_ring_dn[RESTORE_AHEAD];
    unsigned bind_head, bind_n;
    struct restore_dn dn_ring[RESTORE_AHEAD];
    unsigned dn_head, dn_n;
};

/* Compare a and b as LMDB orders their digits: as strings. */
static int dn_lex_cmp(dn_key a, dn_key b)
{
    unsigned wa = dn_key_width(a), wb = dn_key_width(b);
    uint64_t na = dn_key_number(a), nb = dn_key_number(b);

    /* Compare the first min(wa, wb) digits, then the shorter is first. */
    for (unsigned w = wa; w > wb; w--)
        na /= 10;
    for (unsigned w = wb; w > wa; w--)
        nb /= 10;
    if (na != nb)
        return na < nb ? -1 : 1;
    return wa < wb ? -1 : wa > wb;
}

/* The bindings entry of dn, made if absent. NULL: -ENOMEM. */
static struct dn_entry *restore_dn_entry(struct restore_ctx *ctx, dn_key dn)
{
    struct bindings *bs = ctx->c->bindings;
    struct dn_entry *d;

    if (ctx->bind_last != NULL && ctx->bind_last->key == dn)
        return ctx->bind_last;
    if (ctx->bind_sorted && (ctx->bind_max == DN_KEY_NONE || dn_lex_cmp(dn, ctx->bind_max) > 0)) {
        d = bindings_dn_append(bs, dn, &ctx->bind_last_pos);
        if (d != NULL)
            ctx->bind_max = dn;
    } else {
        /* A DN out of order may be new: the entries are no longer in
         * scan order. */
        if (bindings_dn(bs, dn) == NULL)
            ctx->bind_sorted = false;
        d = bindings_dn_make(bs, dn, &ctx->bind_last_pos);
    }
    ctx->bind_last = d;
    return d;
}

static void remember_stale(struct restore_ctx *ctx, const void *key, size_t klen)
{
    if (ctx->n_stale == ctx->cap_stale) {
        size_t cap = ctx->cap_stale ? ctx->cap_stale * 2 : 64;
        char **s = realloc(ctx->stale, cap * sizeof(*s));
        size_t *l = s ? realloc(ctx->stale_len, cap * sizeof(*l)) : NULL;

        if (s != NULL)
            ctx->stale = s;
        if (l == NULL) {
            ctx->error = -ENOMEM;
            return;
        }
        ctx->stale_len = l;
        ctx->cap_stale = cap;
    }
    ctx->stale[ctx->n_stale] = malloc(klen);
    if (ctx->stale[ctx->n_stale] == NULL) {
        ctx->error = -ENOMEM;
        return;
    }
    memcpy(ctx->stale[ctx->n_stale], key, klen);
    ctx->stale_len[ctx->n_stale++] = klen;
}

/* Add b (made from a record) to its DN's entry. Returns 0 or -ENOMEM (b is
 * then freed). */
static int restore_binding(struct restore_ctx *ctx, struct binding *b, dn_key dn)
{
    struct dn_entry *d = restore_dn_entry(ctx, dn);

    if (d == NULL) {
        binding_free(ctx->c->bindings, b);
        return -ENOMEM;
    }
    bindings_add_to(ctx->c->bindings, d, ctx->bind_last_pos, b);
    bindings_set_claim_next(d, true);
    ctx->st.bindings++;
    return 0;
}

/* Add the oldest binding waiting in the ring. */
static int bind_ring_pop(struct restore_ctx *ctx)
{
    struct binding *b = ctx->bind_ring[ctx->bind_head];
    dn_key dn = ctx->bind_ring_dn[ctx->bind_head];

    ctx->bind_head = (ctx->bind_head + 1) % RESTORE_AHEAD;
    ctx->bind_n--;
    return restore_binding(ctx, b, dn);
}

/* Add every binding waiting in the ring; after a failure, free the rest. */
static int bind_ring_flush(struct restore_ctx *ctx)
{
    int rc = 0;

    while (ctx->bind_n > 0) {
        if (rc == 0) {
            rc = bind_ring_pop(ctx);
        } else {
            binding_free(ctx->c->bindings, ctx->bind_ring[ctx->bind_head]);
            ctx->bind_head = (ctx->bind_head + 1) % RESTORE_AHEAD;
            ctx->bind_n--;
        }
    }
    return rc;
}

static int on_binding_record(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct restore_ctx *ctx = arg;
    struct core *c = ctx->c;
    struct binding_wire w;
    struct binding *b;
    dn_key dn;

    if (binding_wire_decode(val, vlen, &w) != 0 || dn_key_parse(w.dn.p, w.dn.len, &dn) != 0 ||
        !dn_dir_contains(c->table->dir, dn) || w.expires_unix_ms <= ctx->now) {
        ctx->st.dropped++;
        remember_stale(ctx, key, klen);
        return 0;
    }
    /* The DN's slot in the index (the table's: the bindings share it) is
     * read RESTORE_AHEAD records later. */
    dn_table_prefetch(c->table, dn);
    b = binding_new_n(c->bindings, dn, w.contact.p, w.contact.len, w.call_id.p, w.call_id.len,
                      w.received.p, w.received.len, w.params.p, w.params.len,
                      w.transport.len == 3 && memcmp(w.transport.p, "tcp", 3) == 0 ? BINDING_TCP
                                                                                   : BINDING_UDP,
                      w.cseq, w.expires_unix_ms, w.registered_unix_ms);
    if (b == NULL) {
        ctx->error = -ENOMEM;
        return -ENOMEM;
    }
    if (ctx->bind_n == RESTORE_AHEAD && bind_ring_pop(ctx) != 0) {
        binding_free(c->bindings, b);
        ctx->error = -ENOMEM;
        return -ENOMEM;
    }
    ctx->bind_ring_dn[(ctx->bind_head + ctx->bind_n) % RESTORE_AHEAD] = dn;
    ctx->bind_ring[(ctx->bind_head + ctx->bind_n++) % RESTORE_AHEAD] = b;
    return 0;
}

/* The next entry of the walk, or NULL past the bindings' entries. */
static struct dn_entry *walk_next(struct restore_ctx *ctx)
{
    if (ctx->walk_cursor >= ctx->walk_end)
        return NULL;
    return u64map_next(ctx->c->bindings->dns, &ctx->walk_cursor);
}

/* Whether the walk can be used: both tables were empty, and the bindings'
 * entries were made in scan order. */
static bool walking(const struct restore_ctx *ctx)
{
    return ctx->bind_empty && ctx->bind_sorted && ctx->table_empty;
}

/* Whether k has a binding that has not expired. *e gets k's entry when the
 * walk knows it (else NULL: none, when walking). */
static bool restore_live(struct restore_ctx *ctx, dn_key k, struct dn_entry **e)
{
    const struct bindings *bs = ctx->c->bindings;

    *e = NULL;
    if (!walking(ctx))
        return core_live_bindings(ctx->c, k, ctx->now) > 0;
    /* Both in increasing order: the entry of k, if any, is next. */
    while (ctx->walk != NULL && dn_lex_cmp(ctx->walk->key, k) < 0)
        ctx->walk = walk_next(ctx);
    if (ctx->walk != NULL && ctx->walk->key == k)
        *e = ctx->walk;
    for (struct binding *b = bindings_first(bs, *e); b != NULL; b = binding_next(bs, b)) {
        if (binding_expires_ms(b) > ctx->now)
            return true;
    }
    return false;
}

/* Put the stored state of k (its entry e, from the walk, or NULL) in the
 * table. Returns 0 or what dn_table_apply() returns. */
static int restore_apply(struct restore_ctx *ctx, const struct restore_dn *r, struct dn_entry *e,
                         struct dn_change *ch)
{
    struct dn_table *t = ctx->c->table;
    int rc;

    if (!walking(ctx) ||
        (ctx->table_max != DN_KEY_NONE && dn_lex_cmp(r->dn, ctx->table_max) <= 0))
        return dn_table_apply(t, r->dn, r->owner, r->source, r->v, r->since_ms, ch);
    rc = dn_table_load(t, r->dn, e, r->owner, r->source, r->v, r->since_ms, ch);
    if (rc == 0)
        ctx->table_max = r->dn;
    return rc;
}

/* A DN record: the DN comes back with its stored version and role. A claim
 * of this node stands only while a SIP binding for it survived (tlib claims
 * are never restored): otherwise it is released, a real change. */
static void restore_dn(struct restore_ctx *ctx, const struct restore_dn *r)
{
    struct core *c = ctx->c;
    struct dn_entry *e;
    bool live = restore_live(ctx, r->dn, &e);
    struct dn_change ch;
    int rc;

    if (restore_apply(ctx, r, e, &ch) != 0)
        return; /* a DN no longer in the directory */
    if (r->owner != DN_NODE_SELF) {
        ctx->st.standby += live;
        return;
    }
    if (live && r->source == DN_SOURCE_SIP) {
        ctx->st.owned++;
        return;
    }
    rc = dn_table_release(c->table, r->dn, ctx->now, &ch);
    if (rc == 0)
        rc = core__persist(c, &ch, NULL, NULL);
    if (rc != 0)
        ctx->error = rc;
    else
        ctx->st.released++;
}

static void dn_ring_pop(struct restore_ctx *ctx)
{
    struct restore_dn *r = &ctx->dn_ring[ctx->dn_head];

    ctx->dn_head = (ctx->dn_head + 1) % RESTORE_AHEAD;
    ctx->dn_n--;
    restore_dn(ctx, r);
}

static void on_dn_record(void *arg, const struct dn_store_record *rec)
{
    struct restore_ctx *ctx = arg;
    struct dn_table *t = ctx->c->table;
    uint16_t owner = rec->owner_len > 0 ? dn_table_node_id_n(t, rec->owner, rec->owner_len)
                                         : DN_NODE_NONE;
    struct tc_version v = {rec->hlc,
                           dn_table_node_id_n(t, rec->version_node, rec->version_node_len)};
    struct restore_dn *r;

    if (v.node == DN_NODE_NONE || (rec->owner_len > 0 && owner == DN_NODE_NONE))
        return; /* a node no longer configured */
    /* The DN's slot in the index is read RESTORE_AHEAD records later. */
    dn_table_prefetch(t, rec->dn);
    if (ctx->dn_n == RESTORE_AHEAD)
        dn_ring_pop(ctx);
    r = &ctx->dn_ring[(ctx->dn_head + ctx->dn_n++) % RESTORE_AHEAD];
    r->dn = rec->dn;
    r->owner = owner;
    r->source = rec->source;
    r->v = v;
    r->since_ms = rec->since_ms;
}

static void log_restored(const struct core_restore_stats *st)
{
    tc_log(NOTICE,
           "core: restored %llu bindings; %llu DNs owned here, %llu on standby, %llu released; "
           "dropped %llu expired bindings%s",
           (unsigned long long)st->bindings, (unsigned long long)st->owned,
           (unsigned long long)st->standby, (unsigned long long)st->released,
           (unsigned long long)st->dropped, st->bad ? " (some DN records unreadable)" : "");
}

/* Size the bindings and the DN table for what the store holds, so that the
 * restore inserts without growing them: DNs with bindings are at most
 * the binding records and at most the DN records (a binding's DN is
 * claimed). A failed count or reserve only leaves the tables to grow. */
static void reserve_tables(struct core *c)
{
    uint64_t n_bind = 0, n_dn = 0;

    if (store_count(c->store, STORE_DB_BINDING, &n_bind) != 0 ||
        store_count(c->store, STORE_DB_DN, &n_dn) != 0)
        return;
    /* One map for both: the DNs of the DN records, and those of bindings
     * without one (few). */
    (void)n_bind;
    if (dn_table_reserve(c->table, n_dn) != 0)
        tc_log(WARN, "core: no memory to size the tables for %llu DN records",
               (unsigned long long)n_dn);
}

int core_restore(struct core *c, struct core_restore_stats *st)
{
    struct restore_ctx ctx = {.c = c, .now = tc_now_ms()};
    int rc;

    if (c->store == NULL)
        return -ESHUTDOWN;
    reserve_tables(c);
    /* The bindings' entries are the table's: one map. */
    ctx.bind_empty = ctx.bind_sorted = ctx.table_empty = dn_table_count(c->table) == 0;
    rc = store_scan(c->store, STORE_DB_BINDING, on_binding_record, &ctx);
    if (rc == 0)
        rc = ctx.error;
    if (bind_ring_flush(&ctx) != 0 && rc == 0)
        rc = -ENOMEM;
    ctx.walk_cursor = 0;
    ctx.walk_end = dn_table_count(c->table);
    ctx.walk = walk_next(&ctx);
    if (rc == 0)
        rc = dn_store_load(c->store, on_dn_record, &ctx, &ctx.st.bad);
    while (rc == 0 && ctx.dn_n > 0)
        dn_ring_pop(&ctx);
    if (rc == 0)
        rc = ctx.error;
    for (size_t i = 0; i < ctx.n_stale; i++) {
        if (rc == 0)
            rc = store_del(c->store, STORE_DB_BINDING, ctx.stale[i], ctx.stale_len[i], NULL, NULL);
        free(ctx.stale[i]);
    }
    free(ctx.stale);
    free(ctx.stale_len);
    if (st != NULL)
        *st = ctx.st;
    if (rc != 0)
        return rc;
    log_restored(&ctx.st);
    return 0;
}
