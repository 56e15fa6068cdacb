#ifndef TC_TCPORT_CLUSTER_VIEW_H
#define TC_TCPORT_CLUSTER_VIEW_H

#include "proto/tcport.pb-c.h"
#include "server/config/config.h"
#include "server/core/dn_table.h"
#include "tcport/dn_event.h"

struct core;

/* The cluster view as operators see it, shared by the TC port's queries
 * (tcctl) and the live page: every node with its link and its DN count,
 * the DN counts by status and by owner, and one DN with the contacts bound
 * here. Each fills a protobuf message and the storage it points to;
 * strings borrow the config, the table's node names and the bindings, so
 * use the message before any of them changes. Loop thread only. */

#define CLUSTER_VIEW_ADDR_MAX 96

struct cluster_view_nodes {
    Tc__EventNodeInfo msg; /* this node first, then the peers in config order */
    Tc__NodeInfo infos[CONFIG_MAX_PEERS + 1];
    Tc__NodeInfo *ptrs[CONFIG_MAX_PEERS + 1];
    char addrs[CONFIG_MAX_PEERS + 1][CLUSTER_VIEW_ADDR_MAX];
};

struct cluster_view_summary {
    Tc__EventSummary msg; /* by_owner: the nodes that own at least one DN */
    Tc__EventSummary__ByOwnerEntry entries[DN_TABLE_NODES];
    Tc__EventSummary__ByOwnerEntry *ptrs[DN_TABLE_NODES];
};

struct cluster_view_dn {
    struct dn_event_state s; /* s.st is the DnState */
    char **contacts;         /* owned; s.st.bindings points here */
    Tc__BindingInfo *infos;  /* owned: the bindings in full */
    Tc__BindingInfo **ptrs;  /* owned; s.st.binding_info points here */
    char *received;          /* owned: the received addresses' text */
};

/* Each node with since when its link is as it is (start_ms, when this
 * node started, for a link that never changed). */

void cluster_view_nodes(struct cluster_view_nodes *v, const struct config *cfg,
                        const struct dn_table *t, uint64_t start_ms);

void cluster_view_summary(struct cluster_view_summary *v, const struct dn_table *t);

/* k's state now, with its contacts, their expiry, transport and source
 * when this node owns it (only the owner knows them), else, for a DN a
 * peer owns by SIP, the name of the node that holds them. The bindings are
 * not changed. Free with
 * cluster_view_dn_free(). Without memory the contacts are left out. */
void cluster_view_dn(struct cluster_view_dn *v, struct core *c, dn_key k);

void cluster_view_dn_free(struct cluster_view_dn *v);

#endif
