#ifndef TC_SERVER_REDIRECT_REDIRECT_H
#define TC_SERVER_REDIRECT_REDIRECT_H

#include <stdbool.h>
#include <stdint.h>

#include "server/config/dn_dir.h"
#include "server/redirect/rp_count.h"

struct binding;
struct bindings;
struct config;
struct config_peer;
struct core_listener;
struct dn_change;
struct dn_table;
struct tc_buf;

/* Call delivery: where an INVITE for a DN should go, decided from the
 * replicated DN table, the bindings held here and the configuration only
 * (DESIGN §6, issue 11 §1-3), as a stateless redirect server answers. No
 * SIP here: the SIP side turns a decision into a response (302 Contacts,
 * the tc-fwd marker, Expires) and a call event. Loop thread only.
 *
 * The rules, in order:
 *  - not a DN of the directory: 404; neither an extension nor a routing
 *    point: 403;
 *  - "local state only" when the request is marked (forwarded once
 *    already: it is never forwarded again, whatever this node's view) or
 *    dr-forward is off (the DN section's, else the node's): a DN answered
 *    elsewhere gives 480;
 *  - extension owned here: 302 with its live bindings (480 when it has
 *    none, e.g. owned through a GWS client); owned by a peer whose link is
 *    up: 302 to that peer's sip-address, forwarded; OOS everywhere: 480;
 *  - shared line: sca-preferred-site names a peer whose link is up: 302 to
 *    it, forwarded; else (this node, unset, unknown, link down) the live
 *    bindings of the members owned here, or 480 when none is;
 *  - routing point: most-agents sends to the node with the most InSrv
 *    agents of its group (ties: this node first, then the lower node id);
 *    local-first to a local agent first, else the node with the most. A
 *    local agent is offered least recently offered first and must hold a
 *    live binding here (an agent owned through a GWS client has no Contact
 *    to give); none InSrv: 480.
 * A peer without sip-address is never a target. */

/* Most Contacts one decision carries; further bindings are left out. */
#define REDIRECT_MAX_CONTACTS 32

/* What a decision amounts to; also the metrics label. */
enum redirect_outcome {
    REDIRECT_LOCAL = 0,   /* 302 with bindings held here */
    REDIRECT_FORWARDED,   /* 302 to a peer's sip-address, to be marked */
    REDIRECT_NOT_FOUND,   /* 404: not a DN of the directory */
    REDIRECT_FORBIDDEN,   /* 403: a DN calls cannot be delivered to */
    REDIRECT_UNAVAILABLE, /* 480: nowhere to send it now */
};

#define REDIRECT_N_OUTCOMES 5

struct redirect_contact {
    const struct binding *binding; /* borrowed: see struct redirect_decision */
    uint32_t expires;              /* remaining seconds, at least 1 */
};

/* A decision. The caller owns the struct (it is about 600 bytes: the stack
 * is fine). Everything it points to is borrowed: profile and peer from the
 * configuration, valid until redirect_reload(); target_name from the
 * table; the bindings of contacts[] until the bindings next change, that
 * is until the loop next runs or the caller changes them. Use it at once. */
struct redirect_decision {
    int code; /* SIP status: 302, 403, 404 or 480 */
    enum redirect_outcome outcome;
    const char *reason;               /* a static phrase for logs and tests */
    const struct dn_profile *profile; /* the DN's options; NULL when 404 */
    uint16_t target;                  /* DN_NODE_SELF (local), the peer (forwarded), else NONE */
    const char *target_name;          /* its name; "" for DN_NODE_NONE */
    const struct config_peer *peer;   /* forwarded: sip-address, access-number; else NULL */
    dn_key agent;                     /* local: whose bindings (the DN, or a routing point's
                                       * agent); else DN_KEY_NONE */
    struct redirect_contact contacts[REDIRECT_MAX_CONTACTS];
    unsigned n_contacts; /* local: 1 or more; else 0 */
};

struct redirect {
    const struct config *cfg;  /* borrowed; replaced by redirect_reload() */
    struct dn_table *table;    /* borrowed */
    struct bindings *bindings; /* borrowed */
    struct rp_count rp;
    uint64_t (*now_ms)(void); /* tc_now_ms(); a test may set its own clock */
    uint64_t decisions[REDIRECT_N_OUTCOMES];
};

/* Start r over cfg, the table t (already over cfg->dir, with its peers
 * added) and the bindings held here, all borrowed: they must outlive r.
 * Counts the routing-point agents the table holds now. Returns 0 or
 * -ENOMEM (r is then empty; redirect_free() is harmless). Loop thread,
 * after the table and the bindings are set up. */
int redirect_init(struct redirect *r, const struct config *cfg, struct dn_table *t,
                  struct bindings *bs);

/* Release what r holds (not what it borrows). Loop thread. */
void redirect_free(struct redirect *r);

/* Take a new configuration (SIGHUP: "changes take effect for the next
 * call"), after the table was switched to cfg->dir (dn_table_reload()).
 * Rebuilds the routing-point groups with one pass over the table; the
 * offer order starts afresh. cfg is borrowed; the old one may be freed once
 * this returns 0. Returns 0, or -ENOMEM with r still on its old
 * configuration (which must then be kept). The counters survive. Loop
 * thread. */
int redirect_reload(struct redirect *r, const struct config *cfg);

/* Fill *l with r's listener for core_listen(): each published change moves
 * the routing-point counts. The caller registers it; r must stay listening
 * (or be unlistened with core_unlisten(core, r)) until redirect_free().
 * The callbacks run on the loop thread, as the core's do. */
void redirect_listener(struct redirect *r, struct core_listener *l);

/* The same as the listener's change callback, for callers without a core
 * (tests, restore): dn's owner and status are now c's. Loop thread. */
void redirect_on_change(struct redirect *r, const struct dn_change *c);

/* Decide where a call to dn goes. dn is DN_KEY_NONE when the Request-URI
 * user is not a DN at all (dn_key_parse() failed): that is a 404 too, and
 * counted. marked: the request carries the forwarding marker of another
 * node. Fills *d (see above for how long its pointers live) and counts its
 * outcome; cannot fail. Offering a routing point's local agent moves it to
 * the end of its group's order. Loop thread only. */
void redirect_decide(struct redirect *r, dn_key dn, bool marked, struct redirect_decision *d);

/* "local", "forwarded", "not_found", "forbidden", "unavailable"; a static
 * string. Any thread. */
const char *redirect_outcome_name(enum redirect_outcome o);

/* Append the counters in Prometheus text: tcluster_redirect_decisions_total
 * {outcome=...}, every outcome. Returns 0 or -ENOMEM (b may then hold
 * part of it). Loop thread (the counters are the loop's). */
int redirect_metrics(const struct redirect *r, struct tc_buf *b);

#endif
