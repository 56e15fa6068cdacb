#ifndef TC_TCPORT_PEER_PEER_H
#define TC_TCPORT_PEER_PEER_H

#include <uv.h>

#include "server/base/buf.h"

struct config;
struct core;

/* Replication between nodes (DESIGN §4) over nng with protobuf: one link
 * per configured peer, mutual authentication with the cluster secret,
 * heartbeats, every claim and release sent with a per-origin sequence,
 * resync on link up, and link events to the core. nng's threads only hand
 * frames to the loop. Loop thread only, except where said. */

struct peers;

/* Start replication for cfg's [peer] sections on loop: read the cluster
 * secret, listen on peer-listen, dial every peer, and hear the core's
 * changes (core_listen) to send them on. cfg and core are borrowed and must
 * outlive the peers. Sets *out and returns 0; with no peer configured sets
 * *out to NULL and returns 0 (nothing to replicate). On failure logs the
 * cause (missing or empty secret file, the address that cannot be bound)
 * and returns a negative errno or TC_E* code, with nothing left open.
 * Loop thread. */
int peers_start(struct peers **out, uv_loop_t *loop, const struct config *cfg, struct core *core);

/* Close every link (a shutdown is not a link failure: no link-down
 * events, no standby takeover), stop hearing the core, and free p once
 * the loop has run its close callbacks. NULL is fine. Loop thread. */
void peers_stop(struct peers *p);

/* Append the replication families (link state, bytes, claims, delays) to
 * b in Prometheus text. Returns 0 or -ENOMEM. Loop thread. */
int peers_metrics(const struct peers *p, struct tc_buf *b);

#endif
