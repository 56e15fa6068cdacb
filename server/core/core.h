#ifndef TC_SERVER_CORE_CORE_H
#define TC_SERVER_CORE_CORE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "server/core/dn_table.h"

struct store;
struct bindings;
struct binding;
struct core_bwait;

/* The node's decisions as ports and peer links see them (DESIGN §2, "how a
 * change flows"). A port or link asks the core to claim, release or apply a
 * peer's decision; the core decides in the DN table, makes the change
 * durable in the store, and only then publishes it, with the node's change
 * sequence number, to every listener (TC port, default port, peers) and
 * calls the waiting port back. Listeners never edit the table. The core
 * also holds this node's SIP bindings and their records (the registrar
 * asks, core_bindings.c decides what they mean for ownership), and
 * restores the state of the last run after a restart (core_restore.c).
 * Loop thread only. */

#define CORE_MAX_LISTENERS 8

/* One call-delivery decision (DESIGN §5, §6): which INVITE, for which DN,
 * what was answered and where the call was sent. Made on the SIP path of
 * the deciding node (origin DN_NODE_SELF) or received from a peer (origin
 * that peer's node id). Strings are borrowed for the duration of the
 * core_call() that publishes it; a listener copies what it keeps. */
struct core_call {
    const char *call_id;  /* the INVITE's Call-ID */
    dn_key dn;            /* the Request-URI's DN (DN_KEY_NONE: not a DN) */
    uint16_t code;        /* the answer: 302, 404, 403, 480, 483 */
    const char *outcome;  /* "local", "forwarded", "not_found", ... (a metrics label) */
    uint16_t origin;      /* the node that decided */
    uint16_t target;      /* the node the call goes to; DN_NODE_NONE when none */
    const char *contact;  /* the first Contact of the answer, or NULL */
    const char *other_dn; /* forwarded: the target peer's access-number, else NULL */
    bool outbound;        /* forwarded to a peer: call type "outbound" */
    uint64_t time_ms;     /* wall clock of the decision */
};

/* What a listener hears. seq grows by one per published change, link or
 * call event, so a TC subscriber can resume from the last one it saw.
 * c->status and c->old_status tell whether the DN changed service state.
 * Any callback may be NULL. */
struct core_listener {
    void (*on_change)(void *arg, const struct dn_change *c, uint64_t seq);
    void (*on_link)(void *arg, uint16_t node, bool up, uint64_t seq);
    void (*on_call)(void *arg, const struct core_call *call, uint64_t seq);
    void *arg;
};

/* Called on the loop when a claim or release asked for is durable (status
 * 0) or failed (negative). A failed change was never published and is
 * already undone in the table (DESIGN §2 rule 7); c describes the change
 * as it was decided. */
typedef void (*core_done_cb)(void *arg, int status, const struct dn_change *c);

/* Called on the loop when a binding's record is durable (status 0) or
 * failed (negative). */
typedef void (*core_store_cb)(void *arg, int status);

/* A link change still being published, a chunk per loop turn. */
struct core_sweep {
    struct core_sweep *next;
    uint16_t node;
    bool up;
    dn_key *keys; /* the node's DNs when the link changed */
    size_t n, i;
};

#define CORE_SWEEP_CHUNK 4096 /* DNs published per loop turn */

/* What core_restore() found. */
struct core_restore_stats {
    uint64_t bindings; /* unexpired bindings back in memory */
    uint64_t dropped;  /* binding records deleted: expired, unreadable, DN gone */
    uint64_t owned;    /* DNs restored as owned here, at their stored version */
    uint64_t standby;  /* DNs with bindings here, owned elsewhere or by nobody */
    uint64_t released; /* DNs stored as owned here without a live binding */
    unsigned bad;      /* DN records that did not parse */
};

struct core {
    struct dn_table *table;    /* borrowed */
    struct store *store;       /* borrowed; NULL once the store closed */
    struct bindings *bindings; /* owned: the SIP bindings held here */
    struct core_listener listeners[CORE_MAX_LISTENERS];
    unsigned n_listeners;
    uint32_t store_queue; /* the store's max_queue: decide only with room left */
    uint64_t seq;         /* last sequence number published */
    uint64_t published, store_errors;
    uint64_t rollbacks; /* changes undone in the table: the store refused them */
    /* Of struct core_inflight (core.c): for each DN with a change on its
     * way to the disk, the newest such change. */
    struct u64map inflight;
    /* Binding records on their way to the disk, in queue order
     * (core_bindings.c). */
    struct core_bwait *bw_head, **bw_tail;
    uint64_t calls; /* call events published, made here or received */
    uv_idle_t idle; /* runs the sweeps */
    struct core_sweep *sweeps, **sweeps_tail;
    /* DNs whose last binding expired while the store was full: their
     * release is retried by the next core_expire(). */
    dn_key *unreleased;
    size_t n_unreleased, cap_unreleased;
};

/* Set up the core over table and store (both borrowed, outliving the
 * core) with an empty set of bindings (owned, c->bindings). store_queue is
 * the store's max_queue (config store-queue): a decision is refused with
 * -EBUSY, before the table changes, when the store has no room left to make
 * it durable. Returns 0 or -ENOMEM. Loop thread. */
int core_init(struct core *c, uv_loop_t *loop, struct dn_table *table, struct store *store,
              uint32_t store_queue);

/* Drop sweeps not yet published, free the bindings (c->bindings becomes
 * NULL) and close the idle handle (the loop must run for it to close). */
void core_close(struct core *c);

/* Add a listener (copied). Returns 0 or -ENOSPC. */
int core_listen(struct core *c, const struct core_listener *l);

/* Remove the listener whose arg is arg. */
void core_unlisten(struct core *c, void *arg);

/* This node claims k for source (sip: a phone's initial registration,
 * through core_registered(); tlib: a GWS client's RegisterAddress).
 * done is called once the claim is durable and published, or refused by
 * the store: then the table is put back as it was before the claim (see
 * on_durable() in core.c for a newer change decided on top of it) and
 * nothing is published. Returns 0 (done will be called), TC_EUNKNOWN_DN,
 * -EBUSY when the store queue is full, -ENOMEM, or another store error
 * (for each error the table is unchanged and done is not called). */
int core_claim(struct core *c, dn_key k, enum dn_source source, core_done_cb done, void *arg);

/* This node releases k, which it owns. Returns 0 (done will be called),
 * TC_ESTALE when it does not own k, TC_EUNKNOWN_DN, -EBUSY, -ENOMEM. */
int core_release(struct core *c, dn_key k, core_done_cb done, void *arg);

/* Whether the store can take n more changes now (an idle store always
 * can, so a batch larger than the queue still goes through one at a
 * time). A port that will ask for n decisions in a row checks this first
 * and retries later rather than having each refused with -EBUSY. */
bool core_has_room(const struct core *c, size_t n);

/* A change of k is on its way to the disk: what the table holds for k is
 * not durable yet (and is undone should the store refuse it). */
bool core_in_flight(const struct core *c, dn_key k);

/* A live SIP binding for k is held here (a phone registered to this node). */
bool core_holds_binding(struct core *c, dn_key k);

/* --- SIP bindings (core_bindings.c) --- */

/* Number of k's bindings held here that expire after now_ms. */
unsigned core_live_bindings(struct core *c, dn_key k, uint64_t now_ms);

/* Queue the record of b (made by binding_new() on c->bindings), then add b
 * to the bindings held here; the core takes b, also on failure (then b is
 * freed). A binding with the same contact is replaced. done (may be NULL)
 * is called once the record is durable or refused; refused, b is taken out
 * of memory again and the binding it replaced put back (unless a newer
 * record of the same contact is on its way: then that one decides), and a
 * DN left without a live binding is released. Returns 0 (done will be
 * called), -EINVAL (key too long), -EBUSY (store queue full), -ESHUTDOWN,
 * -ENOMEM. */
int core_bind(struct core *c, struct binding *b, core_store_cb done, void *arg);

/* Queue the deletion of b's record, then remove b from the bindings held
 * here; it is freed once the deletion is durable, and put back if the
 * store refuses it. On an error at once b stays held. done (may be NULL)
 * as core_bind(). Returns 0 or core_bind()'s errors. */
int core_unbind(struct core *c, struct binding *b, core_store_cb done, void *arg);

/* An accepted REGISTER took k's live bindings here from before to after
 * (DESIGN §3): claim k when it is an initial registration - no live binding
 * before, or k is marked claim_next (bindings_claim_next(): restored after a
 * restart, or an earlier claim refused) while not owned here -, release it
 * when the last binding went, else nothing. done is called when the change
 * is durable. Returns 1 (a claim or release is queued, done will be
 * called; the mark is cleared), 0 (nothing to change; cleared too), or
 * core_claim()'s / core_release()'s errors (a refused claim sets the mark,
 * so the phone's next REGISTER claims again; so does a claim whose commit
 * fails later, while a release whose commit fails is retried by
 * core_expire()). */
int core_registered(struct core *c, dn_key k, unsigned before, unsigned after, core_done_cb done,
                    void *arg);

/* Make the changes queued from core_group_begin() to core_group_end() one
 * store transaction, durable whole or not at all (store_group_begin()): a
 * REGISTER's bindings and its claim or release. With commit false (one of
 * them was refused at once), none is written and each done callback gets
 * -ECANCELED, which undoes it like any refusal. */
void core_group_begin(struct core *c);
void core_group_end(struct core *c, bool commit);

/* Remove every binding expired at now_ms, delete its record, and release
 * each DN owned here whose last binding went (retried on the next call
 * while the store is full). Returns the number of bindings expired; adds
 * the releases queued to *released (may be NULL). */
size_t core_expire(struct core *c, uint64_t now_ms, uint64_t *released);

/* --- restart (core_restore.c) --- */

/* Restore the node's state from the store after a start (DESIGN §3
 * "Restart", §7): every unexpired binding comes back, its DN marked claim_next;
 * every DN record is applied with its stored version and role (owner or
 * standby), and nothing is claimed anew; a DN stored as owned here without
 * a live SIP binding (expired, or a tlib claim) is released; expired
 * binding records are deleted. Call once, after core_init() and before any
 * port starts. Fills *st (may be NULL). Returns 0 or a store error. */
int core_restore(struct core *c, struct core_restore_stats *st);

/* A peer's claim or release of k (owner DN_NODE_NONE) at version v. Applied,
 * persisted and published when newer than what the table holds; a release
 * of a DN for which this node holds a live SIP binding is followed by this
 * node's claim (standby, DESIGN §3). done (may be NULL) is called once the
 * change is durable or was refused by the store (then it is undone in the
 * table, as for core_claim()). Returns 0 when applied (done will be
 * called), TC_ESTALE when not newer, TC_EUNKNOWN_DN, or an error (nothing
 * changed; done is not called). */
int core_apply(struct core *c, dn_key k, uint16_t owner, enum dn_source source, struct tc_version v,
               uint64_t since_ms, core_done_cb done, void *arg);

/* Publish a call-delivery decision to every listener with the next
 * sequence number: the SIP server calls it once per INVITE it decides
 * (origin DN_NODE_SELF), the peer link once per call event a peer sent
 * (origin that peer). Nothing is stored: calls are events, not state.
 * call and its strings are borrowed for the call. */
void core_call(struct core *c, const struct core_call *call);

/* A peer's link went up or down. The table changes at once (queries see
 * the new state); every DN the peer owns is then published as a change
 * (status/old_status differ, owner unchanged), CORE_SWEEP_CHUNK per loop
 * turn so a million DNs never stall the loop, and the link event last.
 * Going down, DNs for which this node holds a live SIP binding are claimed
 * instead (standby takeover, DESIGN §3). */
void core_set_link(struct core *c, uint16_t node, bool up);

/* --- peer resync by difference (core_cover.c) --- */

/* The coverage of the peer links: hlc[id], per node id of the table, is
 * the highest version of that node's decisions this node vouches it holds
 * (proto/store.proto Cover; 0: none), for the DN directory whose
 * fingerprint is directory. Queue its record after the changes queued so
 * far, so that it is durable only after them. Returns 0, -EBUSY (store
 * queue full: try later), -ESHUTDOWN, -ENOMEM or the store's error. */
int core_cover_save(struct core *c, const uint64_t hlc[DN_TABLE_NODES], uint64_t directory);

/* Read the stored coverage into hlc and its directory's fingerprint into
 * *directory: zeros when none is stored or it does not parse; names the
 * table does not know are left out. Startup only (a store scan). Returns
 * 0 or an error (hlc is then all zeros). */
int core_cover_load(struct core *c, uint64_t hlc[DN_TABLE_NODES], uint64_t *directory);

#endif
