#include "tcport/dn_event.h"

#include <string.h>

static Tc__Source source_of(uint8_t s)
{
    switch (s) {
    case DN_SOURCE_SIP:
        return TC__SOURCE__SOURCE_SIP;
    case DN_SOURCE_TLIB:
        return TC__SOURCE__SOURCE_TLIB;
    default:
        return TC__SOURCE__SOURCE_NONE;
    }
}

static void init(struct dn_event_state *s, dn_key k)
{
    tc__dn_state__init(&s->st);
    tc__version__init(&s->ver);
    dn_key_format(k, s->dn, sizeof(s->dn));
    s->st.dn = s->dn;
}

static void fill(struct dn_event_state *s, const struct dn_table *t, uint16_t owner, uint8_t source,
                 uint64_t hlc, uint16_t vnode, uint64_t since, bool insrv)
{
    s->st.status = insrv ? TC__DN_STATUS__DN_STATUS_INSRV : TC__DN_STATUS__DN_STATUS_OOS;
    s->st.owner = (char *)dn_table_node_name(t, owner);
    s->st.source = source_of(source);
    s->st.since_unix_ms = since;
    if (hlc != 0) {
        s->ver.hlc = hlc;
        s->ver.node = (char *)dn_table_node_name(t, vnode);
        s->st.version = &s->ver;
    }
}

void dn_event_current(struct dn_event_state *s, const struct dn_table *t, dn_key k)
{
    const struct dn_entry *e = dn_table_get(t, k);

    init(s, k);
    if (e != NULL)
        fill(s, t, e->owner, e->source, e->hlc, e->vnode, dn_table_since(t, e),
             dn_table_status(t, k) == DN_INSRV);
}

void dn_event_change(struct dn_event_state *s, const struct dn_table *t, const struct dn_change *c)
{
    init(s, c->key);
    fill(s, t, c->owner, (uint8_t)c->source, c->version.hlc, c->version.node, c->since_ms,
         c->status == DN_INSRV);
}

void dn_event_local(struct dn_event_state *s, const struct dn_table *t, dn_key k)
{
    const struct dn_entry *e = dn_table_get(t, k);

    init(s, k);
    if (e != NULL && e->owner == DN_NODE_SELF)
        fill(s, t, e->owner, e->source, e->hlc, e->vnode, e->since_ms, true);
}

void dn_event_local_change(struct dn_event_state *s, const struct dn_table *t,
                           const struct dn_change *c)
{
    init(s, c->key);
    if (c->owner == DN_NODE_SELF)
        fill(s, t, c->owner, (uint8_t)c->source, c->version.hlc, c->version.node, c->since_ms,
             true);
}

enum dn_event_kind dn_event_kind_for(enum dn_status seen, enum dn_status now)
{
    if (seen == now)
        return DN_EVENT_INFO;
    return now == DN_INSRV ? DN_EVENT_BACK_IN_SERVICE : DN_EVENT_OUT_OF_SERVICE;
}

void dn_event_set(Tc__Event *ev, union dn_event_body *body, enum dn_event_kind kind,
                  Tc__DnState *st)
{
    switch (kind) {
    case DN_EVENT_BACK_IN_SERVICE:
        tc__event_dnback_in_service__init(&body->back);
        body->back.state = st;
        ev->body_case = TC__EVENT__BODY_DN_BACK_IN_SERVICE;
        ev->dn_back_in_service = &body->back;
        break;
    case DN_EVENT_OUT_OF_SERVICE:
        tc__event_dnout_of_service__init(&body->out);
        body->out.state = st;
        ev->body_case = TC__EVENT__BODY_DN_OUT_OF_SERVICE;
        ev->dn_out_of_service = &body->out;
        break;
    case DN_EVENT_REGISTERED:
        tc__event_registered__init(&body->registered);
        body->registered.state = st;
        ev->body_case = TC__EVENT__BODY_REGISTERED;
        ev->registered = &body->registered;
        break;
    case DN_EVENT_UNREGISTERED:
        tc__event_unregistered__init(&body->unregistered);
        body->unregistered.state = st;
        ev->body_case = TC__EVENT__BODY_UNREGISTERED;
        ev->unregistered = &body->unregistered;
        break;
    default:
        tc__event_address_info__init(&body->info);
        body->info.state = st;
        ev->body_case = TC__EVENT__BODY_ADDRESS_INFO;
        ev->address_info = &body->info;
        break;
    }
}

dn_key dn_event_dir_from(const struct dn_dir *d, dn_key k, dn_key *hi)
{
    size_t lo = 0, n = d->n_ranges;

    /* The first range whose hi is >= k: ranges are sorted and disjoint. */
    while (lo < n) {
        size_t mid = lo + (n - lo) / 2;

        if (d->ranges[mid].hi < k)
            lo = mid + 1;
        else
            n = mid;
    }
    if (lo == d->n_ranges)
        return DN_KEY_NONE;
    *hi = d->ranges[lo].hi;
    return k > d->ranges[lo].lo ? k : d->ranges[lo].lo;
}
