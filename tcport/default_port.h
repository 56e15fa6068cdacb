#ifndef TC_TCPORT_DEFAULT_PORT_H
#define TC_TCPORT_DEFAULT_PORT_H

#include <uv.h>

#include "server/base/buf.h"

struct config;
struct core;

/* The default port (DESIGN §3, §5): the local view for URS and GWS. A
 * client opens with an application name; a name of gws-client-names must
 * prove the credential of its [gws NAME] section (allow-from, and the
 * secret through EventChallenge/Authenticate) or is refused with
 * ERROR_AUTH and closed. RegisterAddress from a proved GWS client claims
 * the DN for this node (source tlib,
 * acknowledged once durable) and its disconnection releases its claims;
 * from other clients it subscribes to the DN's events. A DN is in service
 * here only while this node owns it. Loop thread only. */

struct default_port;

/* Listen on cfg->default_listen and hear the core's changes. cfg and core
 * are borrowed and must outlive the port. Sets *out and returns 0, or logs
 * the cause (the address that cannot be bound) and returns a negative
 * errno (-ENOMEM, -ENOSPC when the core has no room for another listener,
 * a bind error), with nothing left open. Loop thread. */
int default_port_start(struct default_port **out, uv_loop_t *loop, const struct config *cfg,
                       struct core *core);

/* Stop hearing the core, close the listener and every client (their tlib
 * claims are not released: the node is stopping), and free p once the
 * loop has run its close callbacks. Loop thread. */
void default_port_stop(struct default_port *p);

/* Append the default port's families (clients, registrations, claims,
 * events) to b in Prometheus text. Returns 0 or -ENOMEM. Loop thread. */
int default_port_metrics(const struct default_port *p, struct tc_buf *b);

#endif
