/* Restore after a start (DESIGN §3 "Restart", §7): unexpired bindings come
 * back, every DN comes back with its stored version and role, and nothing
 * is claimed anew; expired bindings and local claims without a binding are
 * cleaned up. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/store.pb-c.h"
#include "server/base/clock.h"
#include "server/base/log.h"
#include "server/base/tc_err.h"
#include "server/core/bindings.h"
#include "server/core/core_int.h"
#include "server/core/dn_store.h"
#include "server/core/pb_arena.h"
#include "storage/store.h"

struct restore_ctx {
    struct core *c;
    struct core_restore_stats st;
    uint64_t now;
    int error;
    /* Keys of expired or unusable binding records, deleted after the scan. */
    char **stale;
    size_t *stale_len;
    size_t n_stale, cap_stale;
    struct pb_arena arena; /* for each binding record's unpack */
    /* Both scans read DNs in increasing order (of their digits as strings,
     * LMDB's key order). Into tables empty at the start, a DN past every
     * one added so far is new: it goes in without a look-up (a cache miss
     * or more each, at a million DNs). Out-of-order records (a binding
     * whose dn field is not its key's) take the look-up. */
    bool bind_empty;             /* the bindings were empty at the start */
    bool bind_sorted;            /* ... and every entry made went in in order */
    dn_key bind_max;             /* the last entry made in order */
    struct bindings_dn *bind_last; /* the entry of the last binding added */
    bool table_empty;            /* the DN table was empty at the start */
    dn_key table_max;            /* the last entry loaded in order */
    /* The DN scan walks the bindings' entries alongside (they are in
     * scan order while bind_sorted) to find each DN's bindings. */
    size_t walk_cursor;
    struct bindings_dn *walk;
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
static struct bindings_dn *restore_dn_entry(struct restore_ctx *ctx, dn_key dn)
{
    struct bindings *bs = ctx->c->bindings;
    struct bindings_dn *d;

    if (ctx->bind_last != NULL && ctx->bind_last->dn == dn)
        return ctx->bind_last;
    if (ctx->bind_sorted && (ctx->bind_max == DN_KEY_NONE || dn_lex_cmp(dn, ctx->bind_max) > 0)) {
        d = bindings_dn_append(bs, dn);
        if (d != NULL)
            ctx->bind_max = dn;
    } else {
        /* A DN out of order may be new: the entries are no longer in
         * scan order. */
        if (bindings_dn(bs, dn, false) == NULL)
            ctx->bind_sorted = false;
        d = bindings_dn(bs, dn, true);
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

static int on_binding_record(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct restore_ctx *ctx = arg;
    struct core *c = ctx->c;
    struct bindings_dn *d;
    struct binding *b;
    Tc__Binding *rec;
    dn_key dn;

    pb_arena_reset(&ctx->arena);
    rec = tc__binding__unpack(&ctx->arena.pb, vlen, val);
    if (rec == NULL || dn_key_parse(rec->dn, strlen(rec->dn), &dn) != 0 ||
        !dn_dir_contains(c->table->dir, dn) || rec->expires_unix_ms <= ctx->now) {
        ctx->st.dropped++;
        remember_stale(ctx, key, klen);
        if (rec != NULL)
            tc__binding__free_unpacked(rec, &ctx->arena.pb);
        return 0;
    }
    b = binding_new(c->bindings, dn, rec->contact, strlen(rec->contact), rec->call_id,
                    strlen(rec->call_id), rec->received,
                    strcmp(rec->transport, "tcp") == 0 ? BINDING_TCP : BINDING_UDP, rec->cseq,
                    rec->expires_unix_ms, rec->registered_unix_ms);
    tc__binding__free_unpacked(rec, &ctx->arena.pb);
    d = b != NULL ? restore_dn_entry(ctx, dn) : NULL;
    if (d == NULL) {
        binding_free(c->bindings, b);
        ctx->error = -ENOMEM;
        return -ENOMEM;
    }
    bindings_add_to(c->bindings, d, b);
    d->claim_next = true;
    ctx->st.bindings++;
    return 0;
}

/* A DN record: the DN comes back with its stored version and role. A claim
 * of this node stands only while a SIP binding for it survived (tlib claims
 * are never restored): otherwise it is released, a real change. */
/* Whether k has a binding that has not expired. */
static bool restore_live(struct restore_ctx *ctx, dn_key k)
{
    struct bindings_dn *d;

    if (!ctx->bind_empty || !ctx->bind_sorted)
        return core_live_bindings(ctx->c, k, ctx->now) > 0;
    /* Both in increasing order: the entry of k, if any, is next. */
    while (ctx->walk != NULL && dn_lex_cmp(ctx->walk->dn, k) < 0)
        ctx->walk = bindings_next_dn(ctx->c->bindings, &ctx->walk_cursor);
    d = ctx->walk != NULL && ctx->walk->dn == k ? ctx->walk : NULL;
    for (struct binding *b = d != NULL ? d->head : NULL; b != NULL; b = b->next) {
        if (b->expires_ms > ctx->now)
            return true;
    }
    return false;
}

/* Put the stored state of k in the table. Returns 0 or what
 * dn_table_apply() returns. */
static int restore_apply(struct restore_ctx *ctx, dn_key k, uint16_t owner, enum dn_source source,
                         struct tc_version v, uint64_t since_ms, struct dn_change *ch)
{
    struct dn_table *t = ctx->c->table;
    int rc;

    if (!ctx->table_empty || (ctx->table_max != DN_KEY_NONE && dn_lex_cmp(k, ctx->table_max) <= 0))
        return dn_table_apply(t, k, owner, source, v, since_ms, ch);
    rc = dn_table_load(t, k, owner, source, v, since_ms, ch);
    if (rc == 0)
        ctx->table_max = k;
    return rc;
}

static void on_dn_record(void *arg, const struct dn_store_record *rec)
{
    struct restore_ctx *ctx = arg;
    struct core *c = ctx->c;
    struct dn_table *t = c->table;
    bool live = restore_live(ctx, rec->dn);
    uint16_t owner = rec->owner[0] ? dn_table_node_id(t, rec->owner) : DN_NODE_NONE;
    struct tc_version v = {rec->hlc, dn_table_node_id(t, rec->version_node)};
    struct dn_change ch;
    int rc;

    if (v.node == DN_NODE_NONE || (rec->owner[0] && owner == DN_NODE_NONE))
        return; /* a node no longer configured */
    if (restore_apply(ctx, rec->dn, owner, rec->source, v, rec->since_ms, &ch) != 0)
        return; /* a DN no longer in the directory */
    if (owner != DN_NODE_SELF) {
        ctx->st.standby += live;
        return;
    }
    if (live && rec->source == DN_SOURCE_SIP) {
        ctx->st.owned++;
        return;
    }
    rc = dn_table_release(t, rec->dn, ctx->now, &ch);
    if (rc == 0)
        rc = core__persist(c, &ch, NULL, NULL);
    if (rc != 0)
        ctx->error = rc;
    else
        ctx->st.released++;
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
    if (bindings_reserve(c->bindings, n_bind < n_dn ? n_bind : n_dn) != 0 ||
        dn_table_reserve(c->table, n_dn) != 0)
        tc_log(WARN, "core: no memory to size the tables for %llu DN records",
               (unsigned long long)n_dn);
}

int core_restore(struct core *c, struct core_restore_stats *st)
{
    struct restore_ctx ctx = {.c = c, .now = tc_now_ms()};
    int rc;

    if (c->store == NULL)
        return -ESHUTDOWN;
    pb_arena_init(&ctx.arena);
    reserve_tables(c);
    ctx.bind_empty = ctx.bind_sorted = bindings_next_dn(c->bindings, &ctx.walk_cursor) == NULL;
    ctx.table_empty = dn_table_count(c->table) == 0;
    rc = store_scan(c->store, STORE_DB_BINDING, on_binding_record, &ctx);
    if (rc == 0)
        rc = ctx.error;
    ctx.walk_cursor = 0;
    ctx.walk = bindings_next_dn(c->bindings, &ctx.walk_cursor);
    if (rc == 0)
        rc = dn_store_load(c->store, on_dn_record, &ctx, &ctx.st.bad);
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
