#include "server/core/dn_store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/store.pb-c.h"
#include "server/core/record_wire.h"

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
};

static int on_record(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct load_ctx *ctx = arg;
    struct dn_record_wire w;
    struct dn_store_record r;

    if (dn_record_wire_decode(val, vlen, &w) != 0 || dn_key_parse(key, klen, &r.dn) != 0) {
        ctx->bad++;
        return 0;
    }
    r.owner = w.owner.p;
    r.owner_len = w.owner.len;
    r.source = (enum dn_source)w.source;
    r.hlc = w.hlc;
    r.version_node = w.version_node.p;
    r.version_node_len = w.version_node.len;
    r.since_ms = w.since_unix_ms;
    ctx->fn(ctx->arg, &r);
    return 0;
}

int dn_store_load(struct store *s, void (*fn)(void *arg, const struct dn_store_record *r),
                  void *arg, unsigned *bad)
{
    struct load_ctx ctx = {.fn = fn, .arg = arg};
    int rc = store_scan(s, STORE_DB_DN, on_record, &ctx);

    if (bad != NULL)
        *bad = ctx.bad;
    return rc;
}
