#ifndef TC_TESTS_CHAOS_CHAOS_CHECK_H
#define TC_TESTS_CHAOS_CHAOS_CHECK_H

#include <stdbool.h>

#include "tests/chaos/chaos_phones.h"
#include "tests/integration/harness_cluster.h"

/* The chaos test's verdict on a healed cluster (every node up, every link
 * up), from the phones' history:
 *  - every node agrees on every phone DN's status, owner, source and
 *    version (TC port snapshots, retried until converge_ms);
 *  - a binding acknowledged with 200 and not since removed or expired is
 *    still held: the DN is InSrv, owned by a node where the phone may hold
 *    a binding (a later REGISTER elsewhere moves ownership; a standby
 *    binding may take over, DESIGN §3), and when that node is one where
 *    the binding is certain, its contacts (QueryDn at the owner) hold the
 *    phone's Contact;
 *  - nothing acknowledged as removed (200 to Expires: 0) comes back: a DN
 *    with no possible binding is OOS with no owner, and no DN is owned by
 *    a node where its binding was removed;
 *  - a 200 to a REGISTER names the phone's Contact with its expiry.
 * A request that timed out makes its node's binding unknown until a later
 * acknowledged request there; a binding expiring within a few seconds of
 * the check is unknown too. A refused request (500, 503) changes nothing,
 * unless refused_unknown: then it counts as a timeout. */

struct chaos_verdict {
    unsigned dns;           /* DNs checked */
    unsigned live, removed; /* bindings held as certain / removed as certain */
    unsigned unknown;       /* bindings left unknown (timeouts, expiring) */
    unsigned violations;
    uint64_t converge_ms; /* from the heal to agreement */
};

/* Compare and print each violation (the first 40 in full). */
void chaos_check(const struct hcluster *c, const struct chaos_phones *w, int converge_ms,
                 bool refused_unknown, struct chaos_verdict *v);

#endif
