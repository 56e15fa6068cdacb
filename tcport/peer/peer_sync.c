/* Claims and snapshots: this node's decisions going out as they are made;
 * what a node sends when a link comes up (the entries of its DN table the
 * peer lacks, releases included, in chunks the receiver acknowledges);
 * how a peer's claims are applied. Loop thread only.
 *
 * Why entries of the whole table and not only the DNs this node owns: a
 * snapshot must also correct what the receiver believes about the
 * sender's DNs, and a DN the sender lost to a third node, or released,
 * carries a version the receiver may not have seen (the third node's link
 * may be down). Entries of the receiver's own making come back too, so a
 * node that lost recent decisions (durability async, a new data-dir)
 * learns of them and makes a newer one. Versions decide; applying a
 * snapshot twice changes nothing. Which entries the peer lacks, it says
 * in its SyncRequest (peer_cover.c): at a restart, the decisions made
 * while it was away; a peer of an older minor, or one that cannot vouch
 * for what it holds, gets every entry. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "server/base/log.h"
#include "server/base/tc_err.h"
#include "server/core/bindings.h"
#include "server/core/core.h"
#include "tcport/peer/peer_int.h"
#include "tcport/peer/peer_net.h"

/* The snapshot walks the table by element position (peer__sync_pump), which
 * needs the u64map whose elements live densely and never move as it grows;
 * U64MAP_MAX_COUNT came with it. */
#ifndef U64MAP_MAX_COUNT
#error "peer_sync.c needs a u64map whose elements never move (server/u64map.h)"
#endif

uint64_t peer_wall_us(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000000 + (uint64_t)tv.tv_usec;
}

static uint64_t wall_ms(void)
{
    return peer_wall_us() / 1000;
}

void peer__sync_stop(struct peer_session *s)
{
    free(s->sync.buf);
    s->sync.buf = NULL;
    s->sync.active = false;
}

void peer__sync_start(struct peer_session *s, const Tc__Peer__SyncRequest *r)
{
    struct peers *p = s->p;
    struct peer_sync_tx *y = &s->sync;
    const struct dn_table *t = p->core->table;

    if (y->buf == NULL) {
        y->buf = malloc(PEER_SYNC_CHUNK_MAX * sizeof(*y->buf));
        if (y->buf == NULL) {
            /* Without a snapshot the link never comes up: start over. */
            peer__session_close(s, ERR, "link reset: snapshot: out of memory");
            return;
        }
    }
    /* Chunk numbers go on across snapshots, so late acks of an abandoned
     * one are told apart. */
    y->active = true;
    y->ranges = t->dir->ranges;
    y->n_dns = t->dir->n_dns;
    y->pos = 0;
    y->acked = y->sent;
    y->entries = 0;
    y->started_ms = peer_now_ms();
    y->kind = PEER_RESYNC_FULL;
    memset(y->want, 0, sizeof(y->want));
    if (r != NULL && r->by_difference) {
        y->kind = PEER_RESYNC_DIFFERENCE;
        peer__cover_parse(p, r->have, r->n_have, y->want);
    }
    y->cover_ok = peer__cover_check(p);
    y->clears = p->cover_clears;
    memcpy(y->covered, p->cover, sizeof(y->covered));
    peer__sync_pump(s);
}

static void send_chunk(struct peer_session *s, size_t n, bool last)
{
    struct peer_sync_tx *y = &s->sync;
    Tc__Peer__Claim *ptrs[PEER_SYNC_CHUNK_MAX];
    Tc__Peer__SyncChunk c = TC__PEER__SYNC_CHUNK__INIT;
    Tc__Peer__Msg m = TC__PEER__MSG__INIT;

    for (size_t i = 0; i < n; i++)
        ptrs[i] = &y->buf[i].pb;
    c.chunk = ++y->sent;
    c.claims = ptrs;
    c.n_claims = n;
    c.last = last;
    m.body_case = TC__PEER__MSG__BODY_SYNC_CHUNK;
    m.sync_chunk = &c;
    peer__session_send(s, &m);
    y->entries += n;
    s->p->links[s->link].tx_claims += n;
}

static void send_end(struct peer_session *s)
{
    struct peers *p = s->p;
    struct peer_sync_tx *y = &s->sync;
    Tc__Peer__SyncEnd e = TC__PEER__SYNC_END__INIT;
    Tc__Peer__Msg m = TC__PEER__MSG__INIT;
    Tc__Cover buf[DN_TABLE_NODES], *ptrs[DN_TABLE_NODES];

    e.entries = y->entries;
    e.chunks = y->sent;
    e.by_difference = y->kind == PEER_RESYNC_DIFFERENCE;
    /* What this node held when the walk began, its own entry always (the
     * base its live claims build on), unless something may have left the
     * table since (then nothing: the receiver counts nothing). */
    if (y->cover_ok && peer__cover_check(p) && y->clears == p->cover_clears) {
        e.n_covered = peer__cover_wire(p, y->covered, true, buf, ptrs);
        e.covered = ptrs;
    }
    m.body_case = TC__PEER__MSG__BODY_SYNC_END;
    m.sync_end = &e;
    peer__session_send(s, &m);
    p->resync_entries[1][y->kind] += y->entries;
    tc_log(INFO, "peer %s: %s snapshot sent: %llu entries, %llu ms", peer__session_name(s),
           y->kind == PEER_RESYNC_DIFFERENCE ? "difference" : "full",
           (unsigned long long)y->entries, (unsigned long long)(peer_now_ms() - y->started_ms));
    peer__sync_stop(s);
}

/* Whether the walk sends e: a version past what the peer holds of its
 * node, and durable when it is this node's own (an own decision on its
 * way to the disk goes out live once durable, and never if the store
 * refuses it: no peer ever holds an own decision this node may lose). */
static bool wanted(const struct peers *p, const struct peer_sync_tx *y, const struct dn_entry *e)
{
    if (e->hlc == 0 || e->vnode >= DN_TABLE_NODES || e->hlc <= y->want[e->vnode])
        return false;
    return e->vnode != DN_NODE_SELF || !core_in_flight(p->core, e->key);
}

/* Fill one chunk from the walk, up to PEER_SYNC_CHUNK_MAX claims and
 * max-frame bytes, looking at PEER_SYNC_SCAN_MAX entries at most. Returns
 * the number of claims. */
static size_t fill_chunk(struct peer_session *s)
{
    struct peer_sync_tx *y = &s->sync;
    const struct dn_table *t = s->p->core->table;
    size_t n = 0, bytes = 64, limit = s->p->max_frame, scanned = 0;
    const struct dn_entry *e;

    while (n < PEER_SYNC_CHUNK_MAX && scanned < PEER_SYNC_SCAN_MAX &&
           (e = dn_table_next(t, &y->pos)) != NULL) {
        size_t sz;

        scanned++;
        if (!wanted(s->p, y, e))
            continue;
        peer_wire_entry_fill(&y->buf[n], t, e);
        sz = peer_wire_claim_size(&y->buf[n].pb);
        if (bytes + sz > limit && n > 0) {
            y->pos--; /* first in the next chunk */
            break;
        }
        bytes += sz;
        n++;
    }
    return n;
}

/* The walk goes over the table's entries in the order they were added:
 * they are stored densely and never move as the table grows (only a
 * directory reload removes and moves some, and restarts the walk), so the
 * walk reads memory in order, looks up nothing, and sees idle directory
 * DNs not at all. Entries added during the walk are at its end; decisions
 * made meanwhile also go out live. One chunk per call: with room left in
 * the window, the next one goes out on the next loop turn, so the loop
 * never spends more than a chunk's work here at once. */
void peer__sync_pump(struct peer_session *s)
{
    struct peer_sync_tx *y = &s->sync;
    const struct dn_table *t = s->p->core->table;
    size_t n;

    if (!y->active || y->sent - y->acked >= PEER_SYNC_WINDOW ||
        peer_conn_backlog(s->conn) >= PEER_TX_SOFT / 2)
        return;
    if (t->dir->ranges != y->ranges || t->dir->n_dns != y->n_dns) {
        tc_log(DEBUG, "peer %s: snapshot: the directory was reloaded; walking the table again",
               peer__session_name(s));
        y->ranges = t->dir->ranges;
        y->n_dns = t->dir->n_dns;
        y->pos = 0;
        y->cover_ok = false;
    }
    n = fill_chunk(s);
    if (n > 0)
        send_chunk(s, n, y->pos >= dn_table_count(t));
    if (y->pos >= dn_table_count(t)) {
        send_end(s);
        return;
    }
    if (y->sent - y->acked < PEER_SYNC_WINDOW || n == 0)
        peer__retry(s->p, 0);
}

bool peer__sync_store_ready(const struct peers *p, size_t n)
{
    return core_has_room(p->core, n + PEER_STORE_SPARE);
}

/* A peer's change handed to the core, on its way to the disk. */
struct peer_store_wait {
    struct peers *p;
    const struct peer_session *s; /* only compared: it may be gone */
    int link;
    uint64_t seq; /* the claim's origin_seq; 0 from a snapshot */
};

/* The store could not keep a change s's peer sent (the core undid it):
 * this node does not hold it, so the link must not count it as received.
 * Its per-origin sequence goes back to before the claim (or, for a
 * snapshot entry, one before the last live claim), and the next claim or
 * heartbeat finds the gap and asks the peer for a snapshot, which carries
 * the change again; while the store keeps refusing, at most one snapshot
 * per heartbeat is asked for. A snapshot entry refused before any live
 * claim came is applied again at the next snapshot (the next link up, or
 * the next gap). */
static void store_refused(struct peer_session *s, uint64_t seq, int err)
{
    uint64_t back = seq != 0 ? seq - 1 : s->rx_seq > 0 ? s->rx_seq - 1 : 0;

    peer__count_error(s->p, PEER_ERR_STORE);
    tc_log(DEBUG, "peer %s: a claim was not stored: %s", peer__session_name(s), tc_strerror(err));
    peer__cover_clear(s->p, "the store refused a peer's change");
    if (back < s->rx_seq)
        s->rx_seq = back;
}

static void on_peer_change_done(void *arg, int status, const struct dn_change *ch)
{
    struct peer_store_wait *w = arg;
    struct peer_session *s;

    (void)ch;
    if (status != 0 && w->link >= 0 && (s = w->p->links[w->link].s) == w->s && s != NULL)
        store_refused(s, w->seq, status);
    free(w);
}

/* core_apply() for a claim of s's peer, with origin_seq seq: a refused
 * change, at once or when its commit fails, is asked for again. */
static int apply_peer_change(struct peer_session *s, const struct peer_claim *c, uint16_t owner,
                             enum dn_source source, struct tc_version v, uint64_t since_ms)
{
    struct peer_store_wait *w = malloc(sizeof(*w));
    int rc;

    if (w == NULL)
        return -ENOMEM;
    *w = (struct peer_store_wait){.p = s->p, .s = s, .link = s->link, .seq = c->seq};
    rc = core_apply(s->p->core, c->dn, owner, source, v, since_ms, on_peer_change_done, w);
    if (rc != 0)
        free(w);
    if (rc != 0 && rc != TC_ESTALE && rc != TC_EUNKNOWN_DN)
        store_refused(s, c->seq, rc);
    return rc;
}

/* The peer holds a decision of this node's newer than any this node has:
 * it was lost here (durability async, a new data-dir). Make a newer one:
 * claim when a phone is registered here, else release. */
static int own_decision(struct peer_session *s, const struct peer_claim *c, bool *applied)
{
    struct core *core = s->p->core;
    struct dn_table *t = core->table;
    const struct dn_entry *e = dn_table_get(t, c->dn);
    struct tc_version v;
    bool mine;
    char dn[DN_DIR_MAX_DIGITS + 1];
    int rc;

    if (e != NULL) {
        struct tc_version cur = {.hlc = e->hlc, .node = e->vnode};

        if (dn_table_version_cmp(t, cur, c->version) >= 0)
            return 0;
    }
    v = dn_table_next_version(t, wall_ms());
    if (v.hlc <= c->version.hlc)
        v.hlc = c->version.hlc + 1;
    mine = core_holds_binding(core, c->dn);
    rc = apply_peer_change(s, c, mine ? DN_NODE_SELF : DN_NODE_NONE,
                           mine ? DN_SOURCE_SIP : DN_SOURCE_NONE, v, wall_ms());
    dn_key_format(c->dn, dn, sizeof(dn));
    tc_log(NOTICE, "peer %s: knows a newer decision of this node on %s than this node; %s it again",
           peer__session_name(s), dn, mine ? "claiming" : "releasing");
    *applied = rc == 0;
    return rc == TC_ESTALE ? 0 : rc;
}

int peer__sync_apply(struct peer_session *s, const Tc__Peer__Claim *pb, bool *applied)
{
    struct peers *p = s->p;
    struct peer_claim c;
    int rc = peer_wire_claim_parse(p->core->table, pb, &c);

    *applied = false;
    if (rc == 0 && c.version.node == DN_NODE_SELF)
        return own_decision(s, &c, applied);
    if (rc != 0 || c.owner == DN_NODE_SELF) {
        /* A peer cannot hand this node a DN: only this node claims for
         * itself. */
        peer__count_error(p, PEER_ERR_CLAIM);
        tc_log(DEBUG, "peer %s: claim of dn \"%.20s\" ignored: %s", peer__session_name(s),
               pb->dn != NULL ? pb->dn : "", rc == -ENOENT ? "unknown node" : "malformed");
        return rc != 0 ? rc : -EINVAL;
    }
    rc = apply_peer_change(s, &c, c.owner, c.source, c.version, c.since_ms);
    if (rc == TC_ESTALE || rc == TC_EUNKNOWN_DN)
        return 0;
    if (rc != 0) {
        tc_log(WARN, "peer %s: applying a claim: %s", peer__session_name(s), tc_strerror(rc));
        return rc;
    }
    *applied = true;
    return 0;
}

/* Live claims: this node's decisions as it made them, batched per loop
 * turn. */
void peer__session_flush_claims(struct peer_session *s)
{
    struct peer_pending *q = &s->pending;
    struct peer_wire_claim *w;
    Tc__Peer__Claim **ptrs;
    size_t done = 0;

    if (q->n == 0)
        return;
    if (peer_conn_backlog(s->conn) > PEER_TX_SOFT) {
        /* Their numbers are spent: the peer sees the gap and resyncs. */
        peer__count_error(s->p, PEER_ERR_OVERFLOW);
        tc_log(WARN, "peer %s: send backlog over %u bytes: %zu claims dropped",
               peer__session_name(s), PEER_TX_SOFT, q->n);
        q->n = 0;
        return;
    }
    w = malloc(PEER_BATCH_MAX * sizeof(*w));
    ptrs = malloc(PEER_BATCH_MAX * sizeof(*ptrs));
    while (w != NULL && ptrs != NULL && done < q->n) {
        Tc__Peer__Claims c = TC__PEER__CLAIMS__INIT;
        Tc__Peer__Msg m = TC__PEER__MSG__INIT;
        size_t n = 0, bytes = 32;

        for (; done < q->n && n < PEER_BATCH_MAX; n++, done++) {
            peer_wire_claim_fill(&w[n], s->p->core->table, &q->v[done]);
            bytes += peer_wire_claim_size(&w[n].pb);
            if (bytes > s->p->max_frame && n > 0)
                break;
            ptrs[n] = &w[n].pb;
        }
        c.claims = ptrs;
        c.n_claims = n;
        c.sent_unix_us = peer_wall_us();
        m.body_case = TC__PEER__MSG__BODY_CLAIMS;
        m.claims = &c;
        peer__session_send(s, &m);
        s->p->links[s->link].tx_claims += n;
    }
    if (done < q->n) {
        peer__count_error(s->p, PEER_ERR_OVERFLOW);
        tc_log(ERR, "peer %s: out of memory: %zu claims dropped", peer__session_name(s),
               q->n - done);
    }
    free(w);
    free(ptrs);
    q->n = 0;
}
