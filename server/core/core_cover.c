/* The stored coverage of the peer resync by difference (proto/store.proto
 * PeerCoverage): for each origin node, the highest version of its
 * decisions this node vouches it holds. The peer links decide what it
 * says (tcport/peer/peer_cover.c); this is only its way to and from the
 * store. Loop thread only. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/store.pb-c.h"
#include "server/core/core_int.h"
#include "storage/store.h"

#define COVER_KEY "coverage"

int core_cover_save(struct core *c, const uint64_t hlc[DN_TABLE_NODES], uint64_t directory)
{
    const struct dn_table *t = c->table;
    Tc__Cover covers[DN_TABLE_NODES], *ptrs[DN_TABLE_NODES];
    Tc__PeerCoverage rec = TC__PEER_COVERAGE__INIT;
    size_t n = 0, len;
    uint8_t *buf;
    int rc = core__store_room(c);

    if (rc != 0)
        return rc;
    for (uint16_t id = DN_NODE_SELF; id < t->n_nodes; id++) {
        if (hlc[id] == 0)
            continue;
        tc__cover__init(&covers[n]);
        /* The generated struct wants char *; the name is only read. */
        covers[n].node = (char *)dn_table_node_name(t, id);
        covers[n].hlc = hlc[id];
        ptrs[n] = &covers[n];
        n++;
    }
    rec.origins = ptrs;
    rec.n_origins = n;
    rec.directory = directory;
    len = tc__peer_coverage__get_packed_size(&rec);
    buf = malloc(len + 1);
    if (buf == NULL)
        return -ENOMEM;
    tc__peer_coverage__pack(&rec, buf);
    rc = store_put(c->store, STORE_DB_PEER, COVER_KEY, strlen(COVER_KEY), buf, len, NULL, NULL);
    free(buf);
    return rc;
}

struct cover_load {
    const struct dn_table *t;
    uint64_t *hlc;
    uint64_t directory;
    int rc;
};

static int on_record(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct cover_load *ctx = arg;
    Tc__PeerCoverage *rec;

    if (klen != strlen(COVER_KEY) || memcmp(key, COVER_KEY, klen) != 0)
        return 0;
    rec = tc__peer_coverage__unpack(NULL, vlen, val);
    if (rec == NULL) {
        ctx->rc = -EINVAL; /* unreadable: nothing is vouched for */
        return 0;
    }
    for (size_t i = 0; i < rec->n_origins; i++) {
        uint16_t id = rec->origins[i]->node != NULL
                              ? dn_table_node_id(ctx->t, rec->origins[i]->node)
                              : DN_NODE_NONE;

        if (id != DN_NODE_NONE)
            ctx->hlc[id] = rec->origins[i]->hlc;
    }
    ctx->directory = rec->directory;
    tc__peer_coverage__free_unpacked(rec, NULL);
    return 0;
}

int core_cover_load(struct core *c, uint64_t hlc[DN_TABLE_NODES], uint64_t *directory)
{
    struct cover_load ctx = {.t = c->table, .hlc = hlc};
    int rc;

    memset(hlc, 0, DN_TABLE_NODES * sizeof(*hlc));
    *directory = 0;
    if (c->store == NULL)
        return 0;
    rc = store_scan(c->store, STORE_DB_PEER, on_record, &ctx);
    if (rc == 0)
        rc = ctx.rc;
    if (rc != 0)
        memset(hlc, 0, DN_TABLE_NODES * sizeof(*hlc));
    else
        *directory = ctx.directory;
    return rc;
}
