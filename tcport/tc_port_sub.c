/* TC port subscriptions (DESIGN §5): a snapshot of every DN ended by a
 * marker, or a resume from a sequence still in the ring of recent changes;
 * then every change and link event as published. A subscriber whose
 * output is full gets nothing more written: its changed DNs go into its
 * pending set (coalesce.h) and are sent with their state of the moment once
 * it reads again; if the set overflows, a whole snapshot is sent again.
 *
 * Sequence numbers on the wire: a live event carries its own; snapshot
 * items carry 0 and the marker the sequence the snapshot covers; pending
 * DNs carry the last sequence the client is known to hold, except the one
 * that empties the set, which carries the current sequence. So the highest
 * sequence a client has seen is always a safe place to resume from.
 *
 * Call events (DESIGN §5) are events, not state: not in the snapshot, not
 * in the pending set, not replayed by a resume. Each goes out at once to
 * every subscriber whose output has room - the output bound
 * (TC_PORT_QUEUE_BYTES, thousands of calls) is their backlog - and is
 * dropped and counted for one whose output is full. It carries its own
 * sequence when the subscriber holds every change before it, else (a
 * snapshot or pending changes still to send) the last sequence the client
 * is known to hold, like a pending DN, so resuming stays safe. */
#include <errno.h>
#include <stdlib.h>

#include "server/base/log.h"
#include "server/config/config.h"
#include "server/core/core.h"
#include "tcport/dn_event.h"
#include "tcport/frame.h"
#include "tcport/tc_port_int.h"

static bool pending(const struct tc_client *cl)
{
    return cl->resnap || cl->link_dirty != 0 || cl->dirty.n > 0;
}

static void ring_add(struct tc_port *p, uint64_t seq, uint64_t what)
{
    struct tc_ring_entry *e = &p->ring[p->ring_head];

    if (p->ring_n == TC_PORT_RING)
        p->ring_floor = e->seq;
    else
        p->ring_n++;
    e->seq = seq;
    e->what = what;
    p->ring_head = (p->ring_head + 1) % TC_PORT_RING;
}

static void set_slow(struct tc_client *cl, bool slow)
{
    struct tc_port *p = cl->p;

    if (cl->slow == slow)
        return;
    cl->slow = slow;
    if (slow) {
        p->n_slow++;
        p->st.slow_episodes++;
        tc_log(INFO, "tc port: %s: subscriber not reading, coalescing its changes",
               conn_peer(cl->c));
    } else {
        p->n_slow--;
        tc_log(INFO, "tc port: %s: subscriber caught up", conn_peer(cl->c));
    }
}

/* Remember that k changed for cl, shown last with status seen. */
static void mark_dirty(struct tc_client *cl, dn_key k, enum dn_status seen)
{
    if (cl->resnap)
        return;
    cl->p->st.coalesced++;
    if (coalesce_add(&cl->dirty, k, seen) < 0) {
        /* Too many to remember one by one: send everything again. */
        tc_log(NOTICE, "tc port: %s: over %zu pending DNs, a new snapshot will follow",
               conn_peer(cl->c), cl->dirty.cap);
        coalesce_clear(&cl->dirty);
        cl->resnap = true;
    }
}

static void send_state(struct tc_client *cl, dn_key k, enum dn_event_kind kind, uint32_t ref,
                       uint64_t seq)
{
    Tc__Event ev = TC__EVENT__INIT;
    union dn_event_body body;
    struct dn_event_state s;

    dn_event_current(&s, cl->p->core->table, k);
    ev.ref_id = ref;
    ev.seq = seq;
    dn_event_set(&ev, &body, kind, &s.st);
    conn_send(cl->c, &ev);
}

union link_body {
    Tc__EventLinkConnected up;
    Tc__EventLinkDisconnected down;
};

static void pack_link(Tc__Event *ev, union link_body *m, const struct dn_table *t, uint16_t node,
                      bool up)
{
    if (up) {
        tc__event_link_connected__init(&m->up);
        m->up.node = (char *)dn_table_node_name(t, node);
        ev->body_case = TC__EVENT__BODY_LINK_CONNECTED;
        ev->link_connected = &m->up;
    } else {
        tc__event_link_disconnected__init(&m->down);
        m->down.node = (char *)dn_table_node_name(t, node);
        ev->body_case = TC__EVENT__BODY_LINK_DISCONNECTED;
        ev->link_disconnected = &m->down;
    }
}

static void send_link(struct tc_client *cl, uint16_t node, uint64_t seq)
{
    const struct dn_table *t = cl->p->core->table;
    Tc__Event ev = TC__EVENT__INIT;
    union link_body m;

    ev.seq = seq;
    pack_link(&ev, &m, t, node, t->link_up[node]);
    conn_send(cl->c, &ev);
}

static void snapshot_begin(struct tc_client *cl)
{
    cl->mode = TC_SUB_SNAPSHOT;
    cl->snap_next = 1; /* the lowest key: DN_KEY_NONE is 0 */
    cl->snap_count = 0;
    cl->snap_seq = cl->p->core->seq;
}

static void snapshot_end(struct tc_client *cl)
{
    Tc__Event ev = TC__EVENT__INIT;
    Tc__EventSnapshotEnd end = TC__EVENT_SNAPSHOT_END__INIT;

    end.seq = cl->snap_seq;
    end.count = cl->snap_count;
    ev.ref_id = cl->sub_ref;
    ev.seq = cl->snap_seq;
    ev.body_case = TC__EVENT__BODY_SNAPSHOT_END;
    ev.snapshot_end = &end;
    conn_send(cl->c, &ev);
    cl->mode = TC_SUB_LIVE;
    cl->safe_seq = cl->snap_seq;
    tc_log(DEBUG, "tc port: %s: snapshot of %llu DNs sent", conn_peer(cl->c),
           (unsigned long long)cl->snap_count);
}

static unsigned snapshot_step(struct tc_client *cl, unsigned budget)
{
    const struct dn_dir *d = cl->p->core->table->dir;

    while (budget > 0 && conn_writable(cl->c)) {
        dn_key hi, k = dn_event_dir_from(d, cl->snap_next, &hi);

        if (k == DN_KEY_NONE) {
            snapshot_end(cl);
            return budget;
        }
        for (; k <= hi && budget > 0 && conn_writable(cl->c); k++, budget--) {
            send_state(cl, k, DN_EVENT_INFO, cl->sub_ref, 0);
            cl->snap_count++;
        }
        cl->snap_next = k;
    }
    return budget;
}

/* Send one pending item. */
static void drain_one(struct tc_client *cl)
{
    const struct dn_table *t = cl->p->core->table;
    uint64_t seq = cl->safe_seq;
    uint16_t node = 0;
    dn_key k = DN_KEY_NONE;
    unsigned seen = 0;

    if (cl->link_dirty != 0) {
        node = (uint16_t)__builtin_ctzll(cl->link_dirty);
        cl->link_dirty &= cl->link_dirty - 1;
    } else if (!coalesce_pop(&cl->dirty, &k, &seen)) {
        return;
    }
    if (!pending(cl)) {
        /* The last one: the client now holds every change so far. */
        seq = cl->safe_seq = cl->p->core->seq;
        set_slow(cl, false);
    }
    if (k == DN_KEY_NONE)
        send_link(cl, node, seq);
    else
        send_state(cl, k, dn_event_kind_for((enum dn_status)seen, dn_table_status(t, k)), 0, seq);
}

static unsigned drain_step(struct tc_client *cl, unsigned budget)
{
    if (cl->resnap) {
        cl->resnap = false;
        cl->p->st.resends++;
        snapshot_begin(cl);
        return budget;
    }
    while (budget > 0 && conn_writable(cl->c) && pending(cl) && !cl->resnap) {
        drain_one(cl);
        budget--;
    }
    return budget;
}

void tc_port__pump(struct tc_client *cl)
{
    unsigned budget = TC_PORT_CHUNK;

    while (conn_writable(cl->c)) {
        if (budget == 0) {
            /* Let the loop serve others; go on before it polls again. */
            conn_kick(cl->c);
            return;
        }
        if (cl->q.active)
            budget = tc_port__query_dns_step(cl, budget);
        else if (cl->mode == TC_SUB_SNAPSHOT)
            budget = snapshot_step(cl, budget);
        else if (cl->mode == TC_SUB_LIVE && pending(cl))
            budget = drain_step(cl, budget);
        else
            return;
    }
}

static void send_opened(struct tc_client *cl, uint32_t ref_id)
{
    Tc__Event ev = TC__EVENT__INIT;
    Tc__EventOpened o = TC__EVENT_OPENED__INIT;

    o.node = (char *)cl->p->cfg->name;
    o.seq = cl->p->core->seq;
    o.epoch = cl->p->epoch;
    ev.ref_id = ref_id;
    ev.seq = o.seq;
    ev.body_case = TC__EVENT__BODY_OPENED;
    ev.opened = &o;
    conn_send(cl->c, &ev);
}

/* Put every DN and link changed after from in cl's pending set. Returns
 * false when the ring no longer holds them all or the set overflows. */
static bool resume_from(struct tc_client *cl, uint64_t from, uint64_t epoch)
{
    struct tc_port *p = cl->p;
    uint64_t now = p->core->seq, n;

    if (from == 0 || (epoch != 0 && epoch != p->epoch) || from > now || from < p->ring_floor)
        return false;
    n = now - from;
    for (uint64_t i = 0; i < n; i++) {
        const struct tc_ring_entry *e =
                &p->ring[(p->ring_head + TC_PORT_RING - n + i) % TC_PORT_RING];

        if (e->what == TC_RING_CALL)
            continue;
        if (e->what & TC_RING_LINK)
            cl->link_dirty |= UINT64_C(1) << (e->what & 63);
        else if (coalesce_add(&cl->dirty, e->what & TC_RING_KEY_MASK,
                              (e->what & TC_RING_OLD_INSRV) ? DN_INSRV : DN_OOS) < 0)
            break;
    }
    if (cl->dirty.overflow) {
        coalesce_clear(&cl->dirty);
        cl->link_dirty = 0;
        return false;
    }
    cl->mode = TC_SUB_LIVE;
    cl->safe_seq = from;
    return true;
}

void tc_port__sub_start(struct tc_client *cl, uint32_t ref_id, const Tc__Subscribe *s)
{
    struct tc_port *p = cl->p;

    if (cl->mode != TC_SUB_NONE) {
        conn_send_error(cl->c, ref_id, TC__ERROR_CODE__ERROR_BUSY, "already subscribed",
                        CONN_REFUSED_OTHER);
        return;
    }
    cl->next = p->subs;
    if (p->subs != NULL)
        p->subs->prev = cl;
    p->subs = cl;
    p->n_subs++;
    cl->sub_ref = ref_id;
    conn_idle(cl->c, false);
    send_opened(cl, ref_id);
    if (resume_from(cl, s->from_seq, s->epoch)) {
        p->st.resumes++;
        tc_log(DEBUG, "tc port: %s: resumed after %llu, %zu DNs to send", conn_peer(cl->c),
               (unsigned long long)s->from_seq, cl->dirty.n);
    } else {
        p->st.snapshots++;
        snapshot_begin(cl);
        tc_log(DEBUG, "tc port: %s: subscribed%s, snapshot of %llu DNs", conn_peer(cl->c),
               s->from_seq != 0 ? " (sequence not held)" : "",
               (unsigned long long)p->core->table->dir->n_dns);
    }
    tc_port__pump(cl);
}

void tc_port__sub_drop(struct tc_client *cl)
{
    struct tc_port *p = cl->p;

    if (cl->mode == TC_SUB_NONE)
        return;
    set_slow(cl, false);
    if (cl->prev != NULL)
        cl->prev->next = cl->next;
    else
        p->subs = cl->next;
    if (cl->next != NULL)
        cl->next->prev = cl->prev;
    p->n_subs--;
    cl->mode = TC_SUB_NONE;
}

/* Queue the event packed in p->scratch on cl if it is live and keeping up;
 * returns false when it must wait in the pending set instead. */
static bool send_live(struct tc_client *cl)
{
    if (pending(cl) || !conn_writable(cl->c)) {
        if (!conn_closing(cl->c) && !conn_writable(cl->c))
            set_slow(cl, true);
        return false;
    }
    conn_send_raw(cl->c, cl->p->scratch.data, cl->p->scratch.len, 1);
    cl->p->st.live_events++;
    return true;
}

static int pack_change(struct tc_port *p, const struct dn_change *c, uint64_t seq)
{
    Tc__Event ev = TC__EVENT__INIT;
    union dn_event_body body;
    struct dn_event_state s;

    dn_event_change(&s, p->core->table, c);
    ev.seq = seq;
    dn_event_set(&ev, &body, dn_event_kind_for(c->old_status, c->status), &s.st);
    tc_buf_reset(&p->scratch);
    return frame_pack(&p->scratch, &ev.base);
}

void tc_port__sub_on_change(struct tc_port *p, const struct dn_change *c, uint64_t seq)
{
    bool packed = false;

    ring_add(p, seq, c->key | (c->old_status == DN_INSRV ? TC_RING_OLD_INSRV : 0));
    for (struct tc_client *cl = p->subs; cl != NULL; cl = cl->next) {
        if (cl->mode == TC_SUB_SNAPSHOT) {
            /* DNs not reached yet go out with their state of the moment. */
            if (c->key < cl->snap_next)
                mark_dirty(cl, c->key, c->old_status);
            continue;
        }
        if (!packed && !pending(cl) && conn_writable(cl->c)) {
            if (pack_change(p, c, seq) != 0) {
                mark_dirty(cl, c->key, c->old_status);
                continue;
            }
            packed = true;
        }
        if (send_live(cl))
            cl->safe_seq = seq;
        else
            mark_dirty(cl, c->key, c->old_status);
    }
}

void tc_port__sub_on_link(struct tc_port *p, uint16_t node, bool up, uint64_t seq)
{
    bool packed = false;

    ring_add(p, seq, TC_RING_LINK | node);
    for (struct tc_client *cl = p->subs; cl != NULL; cl = cl->next) {
        if (cl->mode == TC_SUB_LIVE && !packed && !pending(cl) && conn_writable(cl->c)) {
            Tc__Event ev = TC__EVENT__INIT;
            union link_body m;

            ev.seq = seq;
            pack_link(&ev, &m, p->core->table, node, up);
            tc_buf_reset(&p->scratch);
            packed = frame_pack(&p->scratch, &ev.base) == 0;
        }
        if (cl->mode == TC_SUB_LIVE && packed && send_live(cl))
            cl->safe_seq = seq;
        else
            cl->link_dirty |= UINT64_C(1) << (node & 63);
    }
}

static int pack_call(struct tc_port *p, const struct core_call *call, uint64_t seq)
{
    Tc__Event ev = TC__EVENT__INIT;
    struct call_event e;

    call_event_fill(&e, p->core->table, call);
    ev.seq = seq;
    call_event_set(&ev, &e);
    tc_buf_reset(&p->scratch);
    return frame_pack(&p->scratch, &ev.base);
}

/* Send call to cl, which is behind: it carries the last sequence cl holds. */
static void send_call_behind(struct tc_client *cl, const struct core_call *call)
{
    Tc__Event ev = TC__EVENT__INIT;
    struct call_event e;

    call_event_fill(&e, cl->p->core->table, call);
    ev.seq = cl->safe_seq;
    call_event_set(&ev, &e);
    conn_send(cl->c, &ev);
}

void tc_port__sub_on_call(struct tc_port *p, const struct core_call *call, uint64_t seq)
{
    bool packed = false;

    ring_add(p, seq, TC_RING_CALL);
    for (struct tc_client *cl = p->subs; cl != NULL; cl = cl->next) {
        if (!conn_writable(cl->c)) {
            if (!conn_closing(cl->c))
                p->st.calls_dropped++;
            continue;
        }
        p->st.call_events++;
        if (cl->mode != TC_SUB_LIVE || pending(cl)) {
            send_call_behind(cl, call);
            continue;
        }
        if (!packed) {
            if (pack_call(p, call, seq) != 0) {
                p->st.calls_dropped++;
                continue;
            }
            packed = true;
        }
        conn_send_raw(cl->c, p->scratch.data, p->scratch.len, 1);
        cl->safe_seq = seq;
    }
}
