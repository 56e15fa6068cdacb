#include "tcport/cluster_view.h"

#include <stdlib.h>
#include <string.h>

#include "server/core/bindings.h"
#include "server/core/core.h"

static const struct config_addr *peer_address(const struct config_peer *cp)
{
    return cp->tc_address.port != 0 ? &cp->tc_address : &cp->address;
}

void cluster_view_nodes(struct cluster_view_nodes *v, const struct config *cfg,
                        const struct dn_table *t, uint64_t start_ms)
{
    size_t n = 0;

    tc__event_node_info__init(&v->msg);
    tc__node_info__init(&v->infos[0]);
    v->infos[0].name = (char *)cfg->name;
    v->infos[0].self = true;
    v->infos[0].link_up = true;
    v->infos[0].dns_owned = t->owned[DN_NODE_SELF];
    v->infos[0].address =
            (char *)config_addr_str(&cfg->tc_listen, v->addrs[0], CLUSTER_VIEW_ADDR_MAX);
    v->infos[0].since_unix_ms = start_ms;
    v->ptrs[n++] = &v->infos[0];
    for (unsigned i = 0; i < cfg->n_peers; i++) {
        const struct config_peer *cp = &cfg->peers[i];
        uint16_t id = dn_table_node_id(t, cp->name);
        Tc__NodeInfo *x = &v->infos[n];

        tc__node_info__init(x);
        x->name = (char *)cp->name;
        x->link_up = id != DN_NODE_NONE && t->link_up[id];
        x->dns_owned = id != DN_NODE_NONE ? t->owned[id] : 0;
        x->address = (char *)config_addr_str(peer_address(cp), v->addrs[n], CLUSTER_VIEW_ADDR_MAX);
        /* A link that never changed has been down since the start. */
        x->since_unix_ms =
                id != DN_NODE_NONE && t->link_since_ms[id] != 0 ? t->link_since_ms[id] : start_ms;
        v->ptrs[n++] = x;
    }
    v->msg.n_nodes = n;
    v->msg.nodes = v->ptrs;
}

void cluster_view_summary(struct cluster_view_summary *v, const struct dn_table *t)
{
    size_t n = 0;

    tc__event_summary__init(&v->msg);
    v->msg.total = t->dir->n_dns;
    v->msg.insrv = dn_table_insrv(t);
    v->msg.oos = v->msg.total - v->msg.insrv;
    for (uint16_t id = DN_NODE_SELF; id < t->n_nodes && id < DN_TABLE_NODES; id++) {
        if (t->owned[id] == 0)
            continue;
        tc__event_summary__by_owner_entry__init(&v->entries[n]);
        v->entries[n].key = (char *)dn_table_node_name(t, id);
        v->entries[n].value = t->owned[id];
        v->ptrs[n] = &v->entries[n];
        n++;
    }
    v->msg.n_by_owner = n;
    v->msg.by_owner = v->ptrs;
}

/* The address of a binding's source: the registrar keeps it as
 * "udp:IP:PORT" or "tcp:[IP6]:PORT", and the transport has its own field. */
static const char *source_addr(const char *received)
{
    if (strncmp(received, "udp:", 4) == 0 || strncmp(received, "tcp:", 4) == 0)
        return received + 4;
    return received;
}

void cluster_view_dn(struct cluster_view_dn *v, struct core *c, dn_key k)
{
    const struct dn_entry *e = dn_table_get(c->table, k);
    const struct dn_entry *bd = NULL;
    unsigned count = 0;
    size_t n = 0;

    dn_event_current(&v->s, c->table, k);
    v->contacts = NULL;
    v->infos = NULL;
    v->ptrs = NULL;
    v->received = NULL;
    if (e != NULL && e->owner == DN_NODE_SELF && c->bindings != NULL)
        bd = e;
    else if (e != NULL && e->owner > DN_NODE_SELF && e->source == DN_SOURCE_SIP)
        v->s.st.bindings_at = (char *)dn_table_node_name(c->table, e->owner);
    if (bd != NULL)
        count = bindings_count(c->bindings, bd);
    if (count == 0)
        return;
    v->contacts = calloc(count, sizeof(*v->contacts));
    v->infos = calloc(count, sizeof(*v->infos));
    v->ptrs = calloc(count, sizeof(*v->ptrs));
    v->received = calloc(count, BINDING_RECEIVED_MAX);
    if (v->contacts == NULL || v->infos == NULL || v->ptrs == NULL || v->received == NULL) {
        cluster_view_dn_free(v);
        return;
    }
    for (const struct binding *b = bindings_first(c->bindings, bd); b != NULL && n < count;
         b = binding_next(c->bindings, b), n++) {
        v->contacts[n] = (char *)binding_contact(b);
        tc__binding_info__init(&v->infos[n]);
        v->infos[n].contact = v->contacts[n];
        v->infos[n].expires_unix_ms = binding_expires_ms(b);
        v->infos[n].transport = b->proto == BINDING_TCP ? "tcp" : "udp";
        v->infos[n].received =
                (char *)source_addr(binding_received(b, v->received + n * BINDING_RECEIVED_MAX));
        v->ptrs[n] = &v->infos[n];
    }
    v->s.st.n_bindings = n;
    v->s.st.bindings = v->contacts;
    v->s.st.n_binding_info = n;
    v->s.st.binding_info = v->ptrs;
}

void cluster_view_dn_free(struct cluster_view_dn *v)
{
    free(v->contacts);
    free(v->infos);
    free(v->ptrs);
    free(v->received);
    v->contacts = NULL;
    v->infos = NULL;
    v->ptrs = NULL;
    v->received = NULL;
    v->s.st.n_bindings = 0;
    v->s.st.bindings = NULL;
    v->s.st.n_binding_info = 0;
    v->s.st.binding_info = NULL;
}
