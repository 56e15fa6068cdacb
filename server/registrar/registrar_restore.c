/* Restore after a start (DESIGN §7): unexpired bindings come back and their
 * DNs are claimed again without the phones re-registering; expired
 * bindings and stale local claims are cleaned up. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/store.pb-c.h"
#include "server/base/clock.h"
#include "server/base/log.h"
#include "server/base/tc_err.h"
#include "server/core/bindings.h"
#include "server/core/dn_store.h"
#include "server/registrar/registrar.h"
#include "storage/store.h"

struct restore_ctx {
    struct registrar *r;
    uint64_t now;
    int error;
    /* Keys of expired or unusable records, deleted after the scan. */
    char **stale;
    size_t *stale_len;
    size_t n_stale, cap_stale;
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
    struct registrar *r = ctx->r;
    Tc__Binding *rec = tc__binding__unpack(NULL, vlen, val);
    struct binding *b;
    dn_key dn;

    if (rec == NULL || dn_key_parse(rec->dn, strlen(rec->dn), &dn) != 0 ||
        !dn_dir_contains(r->table->dir, dn) || rec->expires_unix_ms <= ctx->now) {
        r->stats.restore_dropped++;
        remember_stale(ctx, key, klen);
        if (rec != NULL)
            tc__binding__free_unpacked(rec, NULL);
        return 0;
    }
    b = binding_new(&r->bindings, dn, rec->contact, strlen(rec->contact), rec->call_id,
                    strlen(rec->call_id), rec->received,
                    strcmp(rec->transport, "tcp") == 0 ? BINDING_TCP : BINDING_UDP, rec->cseq,
                    rec->expires_unix_ms, rec->registered_unix_ms);
    tc__binding__free_unpacked(rec, NULL);
    if (b == NULL || bindings_add(&r->bindings, b) != 0) {
        ctx->error = -ENOMEM;
        return -ENOMEM;
    }
    r->stats.restored++;
    return 0;
}

/* A DN record: keep the version knowledge; our own claims stand only while
 * we still hold bindings for the DN (tlib claims are never restored). */
static void on_dn_record(void *arg, const struct dn_store_record *rec)
{
    struct restore_ctx *ctx = arg;
    struct registrar *r = ctx->r;
    struct bindings_dn *d = bindings_dn(&r->bindings, rec->dn, false);
    bool live = d != NULL && d->count > 0;
    uint16_t owner = rec->owner[0] ? dn_table_node_id(r->table, rec->owner) : DN_NODE_NONE;
    struct tc_version v = {rec->hlc, dn_table_node_id(r->table, rec->version_node)};
    struct dn_change c;

    if (v.node == DN_NODE_NONE || (rec->owner[0] && owner == DN_NODE_NONE))
        return; /* a node no longer configured */
    if (owner == DN_NODE_SELF && !(live && rec->source == DN_SOURCE_SIP)) {
        /* Held here before the stop, and no binding survived: record the
         * version, then release it anew. */
        dn_table_apply(r->table, rec->dn, owner, rec->source, v, rec->since_ms, &c);
        if (dn_table_release(r->table, rec->dn, ctx->now, &c) == 0 &&
            dn_store_put(r->store, r->table, &c, NULL, NULL) != 0)
            ctx->error = -EIO;
        return;
    }
    dn_table_apply(r->table, rec->dn, owner, rec->source, v, rec->since_ms, &c);
}

/* Every DN with live bindings must be owned here: claim those the records
 * did not give us. */
static int claim_bound(struct restore_ctx *ctx)
{
    struct registrar *r = ctx->r;
    struct bindings_dn *d;
    size_t cursor = 0;

    /* Claims change the DN table, not the bindings: the iteration holds. */
    while ((d = bindings_next_dn(&r->bindings, &cursor)) != NULL) {
        const struct dn_entry *e;
        struct dn_change c;
        int rc;

        if (d->count == 0)
            continue;
        e = dn_table_get(r->table, d->dn);
        if (e != NULL && e->owner == DN_NODE_SELF)
            continue;
        rc = dn_table_claim(r->table, d->dn, DN_SOURCE_SIP, ctx->now, &c);
        if (rc == 0)
            rc = dn_store_put(r->store, r->table, &c, NULL, NULL);
        if (rc != 0)
            return rc;
        r->stats.claims++;
    }
    return 0;
}

int registrar_restore(struct registrar *r)
{
    struct restore_ctx ctx = {.r = r, .now = tc_now_ms()};
    unsigned bad = 0;
    int rc;

    rc = store_scan(r->store, STORE_DB_BINDING, on_binding_record, &ctx);
    if (rc == 0)
        rc = ctx.error;
    if (rc == 0)
        rc = dn_store_load(r->store, on_dn_record, &ctx, &bad);
    if (rc == 0)
        rc = ctx.error;
    if (rc == 0)
        rc = claim_bound(&ctx);
    for (size_t i = 0; i < ctx.n_stale; i++) {
        if (rc == 0)
            rc = store_del(r->store, STORE_DB_BINDING, ctx.stale[i], ctx.stale_len[i], NULL, NULL);
        free(ctx.stale[i]);
    }
    free(ctx.stale);
    free(ctx.stale_len);
    if (rc != 0)
        return rc;
    tc_log(NOTICE, "registrar: restored %llu bindings on %llu DNs, dropped %llu expired%s",
           (unsigned long long)r->stats.restored, (unsigned long long)r->table->owned[DN_NODE_SELF],
           (unsigned long long)r->stats.restore_dropped,
           bad ? " (some DN records unreadable)" : "");
    return 0;
}
