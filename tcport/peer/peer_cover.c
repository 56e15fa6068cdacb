/* The resync by difference (DESIGN §4, link up: "what changed since the
 * last sequence each saw"). The per-origin sequence is the version every
 * decision carries and every DN record keeps: a hybrid logical clock that
 * grows with each decision of its node. This node's coverage, cover[id],
 * is the highest version of node id's decisions it vouches for: every
 * decision of id up to it is in the table here, or a newer version of
 * the same DN is. At link up a node tells its peer its coverage
 * (SyncRequest have), and the peer sends only the entries of its table
 * whose version is past the coverage of the version's node - the
 * decisions made while the asker was away, whoever made them and through
 * whichever node they came - instead of its whole table.
 *
 * How the coverage grows, and why each step is sound:
 * - a snapshot that ends (SyncEnd) carries the sender's coverage as it was
 *   when the snapshot began; the receiver then holds everything the sender
 *   held then (the snapshot sent what the receiver lacked, by its own
 *   coverage), so the sender's coverage is the receiver's too;
 * - after that, each live claim of the sender's own, received in order
 *   (no gap since), covers the sender's decisions up to its version: its
 *   later decisions all come on this connection, in version order;
 * - this node's own decisions, once durable, cover themselves (a snapshot
 *   never carries an own decision still on its way to the disk, so no
 *   peer holds one this node may lose).
 * What is stored (core_cover_save(), STORE_DB_PEER) is queued after the
 * changes it counts, so it never claims more than is durable. Anything
 * that may have taken a change back out of the table - the store refused
 * one (the core undid it), a directory reload - clears the coverage: the
 * next resync is whole.
 *
 * Own decisions a node lost (durability async and a machine crash, a
 * wiped data-dir) are asked back from each peer once per run: until a
 * link's first snapshot of this run has come, the request for this node's
 * own decisions says no more than was stored when it started. A peer that
 * speaks an older minor gets and sends whole snapshots. Loop thread
 * only. */
#include <string.h>

#include "server/base/log.h"
#include "server/core/core.h"
#include "tcport/peer/peer_int.h"
#include "tcport/peer/peer_net.h"

#define COVER_SAVE_MS 250 /* coverage stored at most this often (and at each snapshot's end) */

static const void *dir_ranges(const struct peers *p)
{
    return p->core->table->dir->ranges;
}

/* A fingerprint of the directory's DNs (FNV-1a over its ranges): a node
 * restarted with another directory may lack DNs it ignored before. */
static uint64_t dir_fingerprint(const struct dn_dir *d)
{
    uint64_t h = 1469598103934665603ull;

    for (size_t i = 0; i < d->n_ranges; i++) {
        uint64_t v[2] = {d->ranges[i].lo, d->ranges[i].hi};
        const unsigned char *b = (const unsigned char *)v;

        for (size_t k = 0; k < sizeof(v); k++)
            h = (h ^ b[k]) * 1099511628211ull;
    }
    return h;
}

void peer__cover_init(struct peers *p)
{
    uint64_t stored_dir;
    int rc = core_cover_load(p->core, p->cover, &stored_dir);

    if (rc != 0)
        tc_log(WARN, "peers: stored resync coverage unreadable (%d); next resyncs are whole", rc);
    if (stored_dir != dir_fingerprint(p->core->table->dir)) {
        if (stored_dir != 0)
            tc_log(NOTICE, "peers: the DN directory changed since the last run; next resyncs "
                           "are whole");
        memset(p->cover, 0, sizeof(p->cover));
    }
    p->self_floor = p->cover[DN_NODE_SELF];
    p->cover_rollbacks = p->core->rollbacks;
    p->cover_ranges = dir_ranges(p);
    p->cover_n_dns = p->core->table->dir->n_dns;
}

/* Store the coverage now (queued after every change queued so far). */
static void save(struct peers *p)
{
    uint64_t v[DN_TABLE_NODES];
    bool all = true;
    int rc;

    for (unsigned i = 0; i < p->n_links; i++)
        all = all && p->links[i].synced_run;
    memcpy(v, p->cover, sizeof(v));
    if (!all && v[DN_NODE_SELF] > p->self_floor)
        v[DN_NODE_SELF] = p->self_floor;
    rc = core_cover_save(p->core, v, dir_fingerprint(p->core->table->dir));
    if (rc != 0) {
        tc_log(DEBUG, "peers: resync coverage not stored yet: %d", rc);
        return;
    }
    p->cover_dirty = false;
    p->cover_saved_ms = peer_now_ms();
}

void peer__cover_clear(struct peers *p, const char *why)
{
    bool had = false;

    for (unsigned i = 0; i < DN_TABLE_NODES; i++)
        had = had || p->cover[i] != 0;
    memset(p->cover, 0, sizeof(p->cover));
    p->self_floor = 0;
    p->cover_clears++;
    for (struct peer_session *s = p->sessions; s != NULL; s = s->next)
        s->cover_live = false;
    if (had)
        tc_log(NOTICE, "peers: %s; the next resyncs are whole", why);
    p->cover_dirty = true;
    save(p); /* the store full: the tick tries again */
}

bool peer__cover_check(struct peers *p)
{
    const struct dn_table *t = p->core->table;

    if (p->core->rollbacks != p->cover_rollbacks) {
        p->cover_rollbacks = p->core->rollbacks;
        peer__cover_clear(p, "the store refused a change");
        return false;
    }
    if (dir_ranges(p) != p->cover_ranges || t->dir->n_dns != p->cover_n_dns) {
        p->cover_ranges = dir_ranges(p);
        p->cover_n_dns = t->dir->n_dns;
        peer__cover_clear(p, "the DN directory was reloaded");
        return false;
    }
    return true;
}

void peer__cover_raise(struct peers *p, uint16_t node, uint64_t hlc)
{
    if (node < DN_TABLE_NODES && hlc > p->cover[node]) {
        p->cover[node] = hlc;
        p->cover_dirty = true;
    }
}

void peer__cover_tick(struct peers *p, uint64_t now)
{
    peer__cover_check(p);
    if (p->cover_dirty && now - p->cover_saved_ms >= COVER_SAVE_MS)
        save(p);
}

void peer__cover_stop(struct peers *p)
{
    if (p->cover_dirty && peer__cover_check(p))
        save(p);
}

size_t peer__cover_wire(const struct peers *p, const uint64_t v[DN_TABLE_NODES], bool with_self,
                        Tc__Cover buf[DN_TABLE_NODES], Tc__Cover *ptrs[DN_TABLE_NODES])
{
    const struct dn_table *t = p->core->table;
    size_t n = 0;

    for (uint16_t id = DN_NODE_SELF; id < t->n_nodes && id < DN_TABLE_NODES; id++) {
        if (v[id] == 0 && !(with_self && id == DN_NODE_SELF))
            continue;
        tc__cover__init(&buf[n]);
        /* The generated struct wants char *; the name is only read. */
        buf[n].node = (char *)dn_table_node_name(t, id);
        buf[n].hlc = v[id];
        ptrs[n] = &buf[n];
        n++;
    }
    return n;
}

void peer__cover_parse(const struct peers *p, Tc__Cover *const *v, size_t n,
                       uint64_t out[DN_TABLE_NODES])
{
    const struct dn_table *t = p->core->table;

    memset(out, 0, DN_TABLE_NODES * sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        uint16_t id = v[i]->node != NULL ? dn_table_node_id(t, v[i]->node) : DN_NODE_NONE;

        if (id != DN_NODE_NONE && id < DN_TABLE_NODES)
            out[id] = v[i]->hlc;
    }
}

void peer__cover_request(struct peer_session *s, uint64_t since_seq)
{
    struct peers *p = s->p;
    const struct peer_link *l = &p->links[s->link];
    Tc__Peer__SyncRequest r = TC__PEER__SYNC_REQUEST__INIT;
    Tc__Peer__Msg m = TC__PEER__MSG__INIT;
    Tc__Cover buf[DN_TABLE_NODES], *ptrs[DN_TABLE_NODES];
    uint64_t v[DN_TABLE_NODES];

    s->cover_live = false;
    r.since_seq = since_seq;
    s->req_clears = p->cover_clears;
    if (s->peer_minor >= PEER_MINOR_RESYNC && peer__cover_check(p)) {
        memcpy(v, p->cover, sizeof(v));
        if (!l->synced_run && v[DN_NODE_SELF] > p->self_floor)
            v[DN_NODE_SELF] = p->self_floor;
        r.n_have = peer__cover_wire(p, v, false, buf, ptrs);
        r.have = ptrs;
        r.by_difference = r.n_have > 0;
    }
    m.body_case = TC__PEER__MSG__BODY_SYNC_REQUEST;
    m.sync_request = &r;
    peer__session_send(s, &m);
}

void peer__cover_sync_end(struct peer_session *s, const Tc__Peer__SyncEnd *e)
{
    struct peers *p = s->p;
    struct peer_link *l = &p->links[s->link];
    uint64_t v[DN_TABLE_NODES];

    l->synced_run = true;
    /* What was asked for must still stand: no clear since the request
     * (the entries not sent were held here then). */
    if (e->n_covered == 0 || !peer__cover_check(p) || s->req_clears != p->cover_clears) {
        s->cover_live = false;
        return;
    }
    peer__cover_parse(p, e->covered, e->n_covered, v);
    for (uint16_t id = DN_NODE_SELF; id < DN_TABLE_NODES; id++)
        peer__cover_raise(p, id, v[id]);
    /* The base the sender's live claims build on: its own decisions up
     * to v[its id] are here (the sender always says, 0 included). */
    s->cover_live = true;
    p->cover_dirty = true;
    save(p);
}
