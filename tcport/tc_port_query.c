/* TC port queries for operators (tcctl): nodes, one DN, DN lists and the
 * summary. Each answer carries the request's ref_id. A DN list is streamed
 * a chunk at a time while the client's output has room. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/config/config.h"
#include "server/core/bindings.h"
#include "server/core/core.h"
#include "tcport/dn_event.h"
#include "tcport/tc_port_int.h"

#define ADDR_MAX 96

static void answer_unknown_dn(struct tc_client *cl, uint32_t ref_id)
{
    conn_send_error(cl->c, ref_id, TC__ERROR_CODE__ERROR_UNKNOWN_DN, "unknown DN",
                    CONN_REFUSED_OTHER);
}

static const struct config_addr *peer_address(const struct config_peer *cp)
{
    return cp->tc_address.port != 0 ? &cp->tc_address : &cp->address;
}

void tc_port__query_nodes(struct tc_client *cl, uint32_t ref_id)
{
    const struct config *cfg = cl->p->cfg;
    const struct dn_table *t = cl->p->core->table;
    Tc__NodeInfo infos[CONFIG_MAX_PEERS + 1];
    Tc__NodeInfo *ptrs[CONFIG_MAX_PEERS + 1];
    char addrs[CONFIG_MAX_PEERS + 1][ADDR_MAX];
    Tc__EventNodeInfo ni = TC__EVENT_NODE_INFO__INIT;
    Tc__Event ev = TC__EVENT__INIT;
    size_t n = 0;

    tc__node_info__init(&infos[0]);
    infos[0].name = (char *)cfg->name;
    infos[0].self = true;
    infos[0].link_up = true;
    infos[0].dns_owned = t->owned[DN_NODE_SELF];
    infos[0].address = (char *)config_addr_str(&cfg->tc_listen, addrs[0], ADDR_MAX);
    infos[0].since_unix_ms = cl->p->epoch;
    ptrs[n++] = &infos[0];
    for (unsigned i = 0; i < cfg->n_peers; i++) {
        const struct config_peer *cp = &cfg->peers[i];
        uint16_t id = dn_table_node_id(t, cp->name);
        Tc__NodeInfo *x = &infos[n];

        tc__node_info__init(x);
        x->name = (char *)cp->name;
        x->link_up = id != DN_NODE_NONE && t->link_up[id];
        x->dns_owned = id != DN_NODE_NONE ? t->owned[id] : 0;
        x->address = (char *)config_addr_str(peer_address(cp), addrs[n], ADDR_MAX);
        /* A link that never changed has been down since the start. */
        x->since_unix_ms = id != DN_NODE_NONE && t->link_since_ms[id] != 0 ? t->link_since_ms[id]
                                                                           : cl->p->epoch;
        ptrs[n++] = x;
    }
    ni.n_nodes = n;
    ni.nodes = ptrs;
    ev.ref_id = ref_id;
    ev.body_case = TC__EVENT__BODY_NODE_INFO;
    ev.node_info = &ni;
    conn_send(cl->c, &ev);
}

/* Parse a DN of the directory. */
static bool lookup(const struct tc_client *cl, const char *dn, dn_key *k)
{
    return dn != NULL && dn_key_parse(dn, strlen(dn), k) == 0 &&
           dn_dir_contains(cl->p->core->table->dir, *k);
}

/* The address of a binding's source: the registrar keeps it as
 * "udp:IP:PORT" or "tcp:[IP6]:PORT", and the transport has its own field. */
static const char *source_addr(const char *received)
{
    if (strncmp(received, "udp:", 4) == 0 || strncmp(received, "tcp:", 4) == 0)
        return received + 4;
    return received;
}

/* Put bd's bindings in s: the contacts (the older field) and in full, in
 * infos and ptrs (bd->count each, the caller's). Strings are borrowed from
 * the bindings. Returns the contact array (the caller frees it), or NULL
 * when out of memory (s then lists none). */
static char **fill_bindings(struct dn_event_state *s, const struct bindings_dn *bd,
                            Tc__BindingInfo *infos, Tc__BindingInfo **ptrs)
{
    char **contacts = calloc(bd->count, sizeof(*contacts));
    size_t n = 0;

    if (contacts == NULL)
        return NULL;
    for (const struct binding *b = bd->head; b != NULL && n < bd->count; b = b->next, n++) {
        contacts[n] = (char *)binding_contact(b);
        tc__binding_info__init(&infos[n]);
        infos[n].contact = contacts[n];
        infos[n].expires_unix_ms = b->expires_ms;
        infos[n].transport = b->proto == BINDING_TCP ? "tcp" : "udp";
        infos[n].received = (char *)source_addr(binding_received(b));
        ptrs[n] = &infos[n];
    }
    s->st.n_bindings = n;
    s->st.bindings = contacts;
    s->st.n_binding_info = n;
    s->st.binding_info = ptrs;
    return contacts;
}

void tc_port__query_dn(struct tc_client *cl, uint32_t ref_id, const Tc__QueryDn *q)
{
    const struct dn_table *t = cl->p->core->table;
    const struct dn_entry *e;
    const struct bindings_dn *bd = NULL;
    Tc__Event ev = TC__EVENT__INIT;
    union dn_event_body body;
    struct dn_event_state s;
    Tc__BindingInfo *infos = NULL;
    Tc__BindingInfo **ptrs = NULL;
    char **contacts = NULL;
    dn_key k;

    if (!lookup(cl, q->dn, &k)) {
        answer_unknown_dn(cl, ref_id);
        return;
    }
    dn_event_current(&s, t, k);
    e = dn_table_get(t, k);
    /* Only the owner knows the contacts; the others say who holds them.
     * The bindings are not changed: bindings_dn() creates nothing when
     * asked not to. */
    if (e != NULL && e->owner == DN_NODE_SELF && cl->p->core->bindings != NULL)
        bd = bindings_dn(cl->p->core->bindings, k, false);
    else if (e != NULL && e->owner > DN_NODE_SELF && e->source == DN_SOURCE_SIP)
        s.st.bindings_at = (char *)dn_table_node_name(t, e->owner);
    if (bd != NULL && bd->count > 0) {
        infos = calloc(bd->count, sizeof(*infos));
        ptrs = calloc(bd->count, sizeof(*ptrs));
        if (infos != NULL && ptrs != NULL)
            contacts = fill_bindings(&s, bd, infos, ptrs);
    }
    ev.ref_id = ref_id;
    dn_event_set(&ev, &body, DN_EVENT_INFO, &s.st);
    conn_send(cl->c, &ev);
    free(contacts);
    free(infos);
    free(ptrs);
}

void tc_port__query_summary(struct tc_client *cl, uint32_t ref_id)
{
    const struct dn_table *t = cl->p->core->table;
    Tc__EventSummary__ByOwnerEntry entries[DN_TABLE_NODES];
    Tc__EventSummary__ByOwnerEntry *ptrs[DN_TABLE_NODES];
    Tc__EventSummary sum = TC__EVENT_SUMMARY__INIT;
    Tc__Event ev = TC__EVENT__INIT;
    size_t n = 0;

    sum.total = t->dir->n_dns;
    sum.insrv = dn_table_insrv(t);
    sum.oos = sum.total - sum.insrv;
    for (uint16_t id = DN_NODE_SELF; id < t->n_nodes && id < DN_TABLE_NODES; id++) {
        if (t->owned[id] == 0)
            continue;
        tc__event_summary__by_owner_entry__init(&entries[n]);
        entries[n].key = (char *)dn_table_node_name(t, id);
        entries[n].value = t->owned[id];
        ptrs[n] = &entries[n];
        n++;
    }
    sum.n_by_owner = n;
    sum.by_owner = ptrs;
    ev.ref_id = ref_id;
    ev.body_case = TC__EVENT__BODY_SUMMARY;
    ev.summary = &sum;
    conn_send(cl->c, &ev);
}

static void query_end(struct tc_client *cl)
{
    Tc__Event ev = TC__EVENT__INIT;
    Tc__EventQueryEnd end = TC__EVENT_QUERY_END__INIT;

    end.count = cl->q.count;
    end.truncated = cl->q.more > 0;
    end.more = cl->q.more;
    ev.ref_id = cl->q.ref_id;
    ev.body_case = TC__EVENT__BODY_QUERY_END;
    ev.query_end = &end;
    conn_send(cl->c, &ev);
    cl->q.active = false;
    if (cl->mode == TC_SUB_NONE)
        conn_idle(cl->c, true);
}

void tc_port__query_dns_start(struct tc_client *cl, uint32_t ref_id, const Tc__QueryDns *q)
{
    const struct dn_table *t = cl->p->core->table;

    if (cl->q.active) {
        conn_send_error(cl->c, ref_id, TC__ERROR_CODE__ERROR_BUSY,
                        "a DN query is already running on this connection", CONN_REFUSED_OTHER);
        return;
    }
    memset(&cl->q, 0, sizeof(cl->q));
    cl->q.active = true;
    cl->q.ref_id = ref_id;
    cl->q.next = 1;
    cl->q.limit = q->limit;
    cl->q.any_state = q->any_state;
    cl->q.state = q->state == TC__DN_STATUS__DN_STATUS_INSRV ? DN_INSRV : DN_OOS;
    cl->q.owner = -1;
    if (q->owner != NULL && q->owner[0] != '\0') {
        cl->q.owner = dn_table_node_id(t, q->owner);
        if (cl->q.owner == DN_NODE_NONE) {
            /* No node of that name owns anything. */
            query_end(cl);
            return;
        }
    }
    /* It runs for a while: the idle timer must not cut it. */
    conn_idle(cl->c, false);
    tc_port__pump(cl);
}

static bool matches(const struct tc_query_dns *q, const struct dn_table *t, dn_key k)
{
    const struct dn_entry *e;

    if (q->owner >= 0) {
        e = dn_table_get(t, k);
        if (e == NULL || e->owner != q->owner)
            return false;
    }
    return q->any_state || dn_table_status(t, k) == q->state;
}

unsigned tc_port__query_dns_step(struct tc_client *cl, unsigned budget)
{
    const struct dn_table *t = cl->p->core->table;
    struct tc_query_dns *q = &cl->q;

    while (budget > 0 && conn_writable(cl->c)) {
        dn_key hi, k = dn_event_dir_from(t->dir, q->next, &hi);

        if (k == DN_KEY_NONE) {
            query_end(cl);
            return budget;
        }
        for (; k <= hi && budget > 0 && conn_writable(cl->c); k++, budget--) {
            Tc__Event ev = TC__EVENT__INIT;
            union dn_event_body body;
            struct dn_event_state s;

            if (!matches(q, t, k))
                continue;
            if (q->limit != 0 && q->count == q->limit) {
                /* Past the limit: counted, so the operator learns how many
                 * more there are; the budget keeps the scan in chunks. */
                q->more++;
                continue;
            }
            dn_event_current(&s, t, k);
            ev.ref_id = q->ref_id;
            dn_event_set(&ev, &body, DN_EVENT_INFO, &s.st);
            conn_send(cl->c, &ev);
            q->count++;
        }
        q->next = k;
    }
    return budget;
}
