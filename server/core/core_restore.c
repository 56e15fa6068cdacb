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
};

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
    if (b == NULL || bindings_add(c->bindings, b) != 0 ||
        (d = bindings_dn(c->bindings, dn, false)) == NULL) {
        ctx->error = -ENOMEM;
        return -ENOMEM;
    }
    d->claim_next = true;
    ctx->st.bindings++;
    return 0;
}

/* A DN record: the DN comes back with its stored version and role. A claim
 * of this node stands only while a SIP binding for it survived (tlib claims
 * are never restored): otherwise it is released, a real change. */
static void on_dn_record(void *arg, const struct dn_store_record *rec)
{
    struct restore_ctx *ctx = arg;
    struct core *c = ctx->c;
    struct dn_table *t = c->table;
    bool live = core_live_bindings(c, rec->dn, ctx->now) > 0;
    uint16_t owner = rec->owner[0] ? dn_table_node_id(t, rec->owner) : DN_NODE_NONE;
    struct tc_version v = {rec->hlc, dn_table_node_id(t, rec->version_node)};
    struct dn_change ch;
    int rc;

    if (v.node == DN_NODE_NONE || (rec->owner[0] && owner == DN_NODE_NONE))
        return; /* a node no longer configured */
    if (dn_table_apply(t, rec->dn, owner, rec->source, v, rec->since_ms, &ch) != 0)
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
    rc = store_scan(c->store, STORE_DB_BINDING, on_binding_record, &ctx);
    if (rc == 0)
        rc = ctx.error;
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
