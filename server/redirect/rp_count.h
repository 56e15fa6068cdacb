#ifndef TC_SERVER_REDIRECT_RP_COUNT_H
#define TC_SERVER_REDIRECT_RP_COUNT_H

#include <stdbool.h>
#include <stdint.h>

#include "server/base/u64map.h"
#include "server/config/dn_dir.h"
#include "server/core/dn_table.h"

/* Routing-point groups and their agents, counted per node (DESIGN §6,
 * issue 11 §3), for redirect.c. Loop thread only.
 *
 * A group is what a routing point's `group` names: a DN range (its agents
 * are the extensions of the directory in it) or a name (the extensions
 * whose section says `group = NAME`). Routing points naming the same group
 * share it. An extension may be an agent of several groups.
 *
 * Counts are kept incrementally from the core's published changes
 * (rp_count_change(), O(groups) per change) and never by a scan at call
 * time. What is counted is the agents each node *owns*; whether a peer's
 * agents are InSrv is read from the table's link state when asked
 * (rp_count_insrv()), which is exactly the table's rule (InSrv = owned here,
 * or owned by a peer whose link is up). So a link going down or up changes
 * no count, and the core's chunked publication of a link change can never
 * leave the counts out of step with the table.
 *
 * The agents owned here are also kept, per group, in least-recently-offered
 * order (agents never offered first, in the order they arrived), so
 * rp_count_offer() picks one in O(1). */

#define RP_NO_GROUP UINT32_MAX
/* Agents rp_count_offer() looks at per call before giving up. */
#define RP_COUNT_OFFER_TRIES 16

struct rp_ring; /* one local agent's place in one group's order */

struct rp_group {
    const char *name;               /* the group value; borrowed from the directory */
    dn_key lo, hi;                  /* a range group; lo == DN_KEY_NONE: a name group */
    uint32_t owned[DN_TABLE_NODES]; /* agents owned per node id */
    struct rp_ring *head, *tail;    /* local agents, least recently offered first */
    struct rp_ring *fresh;          /* last never-offered agent of that list, or NULL */
    uint32_t n_local;               /* agents in that list */
};

struct rp_count {
    const struct dn_dir *dir; /* borrowed; must outlive the count */
    struct rp_group *groups;
    uint32_t n_groups;
    /* Per profile of dir: a routing point's group, an extension's name
     * group, or RP_NO_GROUP. Loop thread. */
    uint32_t *profile_group;
    struct u64map agents; /* of struct rp_agent: agents that have an owner */
};

/* Build the groups of dir's routing points and count the owners the table
 * holds now (one pass over its entries: at start and on reload, never per
 * call). t must already be over dir (dn_table_reload()). Returns 0, or
 * -ENOMEM with rc left empty (rp_count_free() is then harmless). Loop
 * thread. */
int rp_count_init(struct rp_count *rc, const struct dn_dir *dir, const struct dn_table *t);

/* Release everything rc holds. Loop thread. */
void rp_count_free(struct rp_count *rc);

/* dn is now owned by owner (DN_NODE_NONE: released). Moves dn's count
 * between nodes in each group it is an agent of, and in or out of the
 * local orders. Idempotent: a change already counted is ignored, so
 * changes published after rp_count_init() saw them do no harm. DNs that
 * are no agent cost one directory lookup. Returns 0, or -ENOMEM when dn
 * could not be recorded (it is then not counted anywhere, consistently).
 * Loop thread. */
int rp_count_change(struct rp_count *rc, dn_key dn, uint16_t owner);

/* The group a routing point's profile serves (p from rc->dir), or
 * RP_NO_GROUP. Loop thread. */
uint32_t rp_count_group(const struct rp_count *rc, const struct dn_profile *p);

/* InSrv agents of group g at node as t sees them: those it owns, when it
 * is this node or a peer whose link is up; else 0. Loop thread. */
uint32_t rp_count_insrv(const struct rp_count *rc, uint32_t g, const struct dn_table *t,
                        uint16_t node);

/* Offer a local agent of group g: the least recently offered agent for
 * which usable(arg, dn) is true, looking at most RP_COUNT_OFFER_TRIES
 * agents. Each agent looked at goes to the end of the order (an unusable
 * one too, so those never pile up at the front). Returns its DN, or
 * DN_KEY_NONE. Loop thread. */
dn_key rp_count_offer(struct rp_count *rc, uint32_t g, bool (*usable)(void *arg, dn_key dn),
                      void *arg);

/* Local agents of group g in offer order, for tests and tcctl: set
 * *cursor to NULL, then call until DN_KEY_NONE. The order must not
 * change meanwhile. Loop thread. */
dn_key rp_count_local_next(const struct rp_count *rc, uint32_t g, const struct rp_ring **cursor);

#endif
