#ifndef TC_SERVER_CORE_CORE_H
#define TC_SERVER_CORE_CORE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "server/core/dn_table.h"

struct store;
struct bindings;

/* The node's decisions as ports and peer links see them (DESIGN §2, "how a
 * change flows"). A port or link asks the core to claim, release or apply a
 * peer's decision; the core decides in the DN table, makes the change
 * durable in the store, and only then publishes it, with the node's change
 * sequence number, to every listener (TC port, default port, peers) and
 * calls the waiting port back. Listeners never edit the table. Loop thread
 * only. */

#define CORE_MAX_LISTENERS 8

/* What a listener hears. seq grows by one per published change or link
 * event, so a TC subscriber can resume from the last one it saw. c->status
 * and c->old_status tell whether the DN changed service state. */
struct core_listener {
    void (*on_change)(void *arg, const struct dn_change *c, uint64_t seq);
    void (*on_link)(void *arg, uint16_t node, bool up, uint64_t seq);
    void *arg;
};

/* Called on the loop when a claim or release asked for is durable (status
 * 0) or failed (negative). */
typedef void (*core_done_cb)(void *arg, int status, const struct dn_change *c);

/* A link change still being published, a chunk per loop turn. */
struct core_sweep {
    struct core_sweep *next;
    uint16_t node;
    bool up;
    dn_key *keys; /* the node's DNs when the link changed */
    size_t n, i;
};

#define CORE_SWEEP_CHUNK 4096 /* DNs published per loop turn */

struct core {
    struct dn_table *table;    /* borrowed */
    struct store *store;       /* borrowed; NULL once the store closed */
    struct bindings *bindings; /* borrowed: SIP bindings held here (standby) */
    struct core_listener listeners[CORE_MAX_LISTENERS];
    unsigned n_listeners;
    uint32_t store_queue; /* the store's max_queue: decide only with room left */
    uint64_t seq;         /* last sequence number published */
    uint64_t published, store_errors;
    uv_idle_t idle; /* runs the sweeps */
    struct core_sweep *sweeps, **sweeps_tail;
};

/* store_queue is the store's max_queue (config store-queue): a decision is
 * refused with -EBUSY, before the table changes, when the store has no room
 * left to make it durable. */
void core_init(struct core *c, uv_loop_t *loop, struct dn_table *table, struct store *store,
               struct bindings *bindings, uint32_t store_queue);

/* Drop sweeps not yet published and close the idle handle (the loop must
 * run for it to close). */
void core_close(struct core *c);

/* Add a listener (copied). Returns 0 or -ENOSPC. */
int core_listen(struct core *c, const struct core_listener *l);

/* Remove the listener whose arg is arg. */
void core_unlisten(struct core *c, void *arg);

/* Publish a change that is already durable (the registrar's). */
void core_publish(struct core *c, const struct dn_change *ch);

/* This node claims k for source (a GWS client's RegisterAddress: tlib).
 * done is called once the claim is durable and published. Returns 0 (done
 * will be called), TC_EUNKNOWN_DN, -EBUSY when the store queue is full, or
 * -ENOMEM. */
int core_claim(struct core *c, dn_key k, enum dn_source source, core_done_cb done, void *arg);

/* This node releases k, which it owns. Returns 0 (done will be called),
 * TC_ESTALE when it does not own k, TC_EUNKNOWN_DN, -EBUSY, -ENOMEM. */
int core_release(struct core *c, dn_key k, core_done_cb done, void *arg);

/* Whether the store can take n more changes now (an idle store always
 * can, so a batch larger than the queue still goes through one at a
 * time). A port that will ask for n decisions in a row checks this first
 * and retries later rather than having each refused with -EBUSY. */
bool core_has_room(const struct core *c, size_t n);

/* A live SIP binding for k is held here (a phone registered to this node). */
bool core_holds_binding(struct core *c, dn_key k);

/* A peer's claim or release of k (owner DN_NODE_NONE) at version v. Applied,
 * persisted and published when newer than what the table holds; a release
 * of a DN for which this node holds a live SIP binding is followed by this
 * node's claim (standby, DESIGN §3). Returns 0 when applied, TC_ESTALE when
 * not newer, TC_EUNKNOWN_DN, or an error. */
int core_apply(struct core *c, dn_key k, uint16_t owner, enum dn_source source, struct tc_version v,
               uint64_t since_ms);

/* A peer's link went up or down. The table changes at once (queries see
 * the new state); every DN the peer owns is then published as a change
 * (status/old_status differ, owner unchanged), CORE_SWEEP_CHUNK per loop
 * turn so a million DNs never stall the loop, and the link event last.
 * Going down, DNs for which this node holds a live SIP binding are claimed
 * instead (standby takeover, DESIGN §3). */
void core_set_link(struct core *c, uint16_t node, bool up);

#endif
