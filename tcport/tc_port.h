#ifndef TC_TCPORT_TC_PORT_H
#define TC_TCPORT_TC_PORT_H

#include <uv.h>

#include "server/base/buf.h"

struct config;
struct core;

/* The TC port (DESIGN §5): the cluster view for Stat Server, tcctl and
 * tcwatch. Subscribe gives a snapshot of every DN ended by a marker, then
 * every change and link event with its sequence number; a subscriber may
 * resume from a sequence it saw. A slow subscriber never blocks the node
 * and never grows its memory without bound: pending changes coalesce per
 * DN. Operator queries (nodes, one DN, DN lists, summary) are answered
 * here too. Loop thread only. */

struct tc_port;

/* Listen on cfg->tc_listen and hear the core's changes; a DN query shows
 * the bindings the core holds. Logs the failing address and returns a
 * negative errno on failure. */
int tc_port_start(struct tc_port **out, uv_loop_t *loop, const struct config *cfg,
                  struct core *core);

/* Close the listener and every connection; freed once the loop has run. */
void tc_port_stop(struct tc_port *p);

/* Append the TC port's families (subscribers, events, queries) to b in
 * Prometheus text. Returns 0 or -ENOMEM. Loop thread. */
int tc_port_metrics(const struct tc_port *p, struct tc_buf *b);

#endif
