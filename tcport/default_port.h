#ifndef TC_TCPORT_DEFAULT_PORT_H
#define TC_TCPORT_DEFAULT_PORT_H

#include <uv.h>

#include "server/base/buf.h"

struct config;
struct core;

/* The default port (DESIGN §3, §5): the local view for URS and GWS. A
 * client opens with an application name; RegisterAddress from a client
 * named in gws-client-names claims the DN for this node (source tlib,
 * acknowledged once durable) and its disconnection releases its claims;
 * from other clients it subscribes to the DN's events. A DN is in service
 * here only while this node owns it. Loop thread only. */

struct default_port;

int default_port_start(struct default_port **out, uv_loop_t *loop, const struct config *cfg,
                       struct core *core);
void default_port_stop(struct default_port *p);
int default_port_metrics(const struct default_port *p, struct tc_buf *b);

#endif
