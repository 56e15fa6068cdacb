#include "server/core/dn_store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/store.pb-c.h"
#include "server/core/pb_arena.h"

int dn_store_put(struct store *s, const struct dn_table *t, const struct dn_change *c,
                 store_done_cb done, void *arg)
{
    Tc__DnRecord rec = TC__DN_RECORD__INIT;
    Tc__Version ver = TC__VERSION__INIT;
    char dn[DN_DIR_MAX_DIGITS + 1];
    uint8_t buf[256];
    size_t len;

    dn_key_format(c->key, dn, sizeof(dn));
    rec.dn = dn;
    rec.owner = (char *)dn_table_node_name(t, c->owner);
    rec.source = (Tc__Source)c->source;
    ver.hlc = c->version.hlc;
    ver.node = (char *)dn_table_node_name(t, c->version.node);
    rec.version = &ver;
    rec.since_unix_ms = c->since_ms;
    len = tc__dn_record__get_packed_size(&rec);
    if (len > sizeof(buf))
        return -EMSGSIZE;
    tc__dn_record__pack(&rec, buf);
    return store_put(s, STORE_DB_DN, dn, strlen(dn), buf, len, done, arg);
}

struct load_ctx {
    void (*fn)(void *arg, const struct dn_store_record *r);
    void *arg;
    unsigned bad;
    struct pb_arena arena;
};

static int on_record(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct load_ctx *ctx = arg;
    struct dn_store_record r;
    Tc__DnRecord *rec;

    rec = tc__dn_record__unpack(&ctx->arena.pb, vlen, val);
    if (rec == NULL || dn_key_parse(key, klen, &r.dn) != 0) {
        ctx->bad++;
        pb_arena_free(&ctx->arena, rec != NULL ? &rec->base : NULL);
        return 0;
    }
    r.owner = rec->owner;
    r.source = (enum dn_source)rec->source;
    r.hlc = rec->version != NULL ? rec->version->hlc : 0;
    r.version_node = rec->version != NULL ? rec->version->node : "";
    r.since_ms = rec->since_unix_ms;
    ctx->fn(ctx->arg, &r);
    pb_arena_free(&ctx->arena, &rec->base);
    return 0;
}

int dn_store_load(struct store *s, void (*fn)(void *arg, const struct dn_store_record *r),
                  void *arg, unsigned *bad)
{
    struct load_ctx ctx = {.fn = fn, .arg = arg};
    int rc;

    pb_arena_init(&ctx.arena);
    rc = store_scan(s, STORE_DB_DN, on_record, &ctx);

    if (bad != NULL)
        *bad = ctx.bad;
    return rc;
}
