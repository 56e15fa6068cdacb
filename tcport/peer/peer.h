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

int peers_start(struct peers **out, uv_loop_t *loop, const struct config *cfg,
                struct core *core);
void peers_stop(struct peers *p);
int peers_metrics(const struct peers *p, struct tc_buf *b);

#endif
