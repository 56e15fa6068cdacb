/* Call events between nodes (DESIGN §5: every node's TC port shows every
 * call decided in the cluster): this node's decisions go to each peer
 * whose link is up, one Call frame each, the frames of a loop turn in one
 * write (an nng send per INVITE woke nng's threads at the INVITE rate),
 * best effort - never queued past
 * the link's soft send bound (PEER_TX_SOFT), never numbered or resent; a
 * peer's arrive here and are published into the core as that peer's.
 * Only Call-speaking peers (proto_minor >= PEER_MINOR_CALL) get them: a
 * minor-0 node resets the link on a Msg member it does not know. Loop
 * thread only. */
#include <errno.h>
#include <stdlib.h>

#include "server/base/log.h"
#include "server/core/core.h"
#include "tcport/peer/peer_int.h"
#include "tcport/peer/peer_net.h"

/* A peer's call decision: published here as made by that peer, never
 * sent on (only a node's own decisions go to peers: no loops). A
 * malformed one is counted and ignored; calls are best effort. */
void peer__call_received(struct peer_session *s, const Tc__Peer__Call *pb)
{
    struct peer_link *l = &s->p->links[s->link];
    struct core_call call;
    int rc = peer_wire_call_parse(s->p->core->table, pb, &call);

    if (rc != 0) {
        peer__count_error(s->p, PEER_ERR_CALL);
        tc_log(DEBUG, "peer %s: call event ignored: %s", l->name,
               rc == -ENOENT ? "unknown target node" : "malformed");
        return;
    }
    call.origin = l->node;
    l->rx_calls++;
    core_call(s->p->core, &call);
}

void peer__session_send_call(struct peer_session *s, const struct core_call *call)
{
    struct peer_link *l = &s->p->links[s->link];
    struct peer_wire_call *w;
    Tc__Peer__Msg m = TC__PEER__MSG__INIT;

    if (s->peer_minor < PEER_MINOR_CALL)
        return; /* it would reset the link on a member it does not know */
    if (peer_conn_backlog(s->conn) > PEER_TX_SOFT) {
        l->calls_dropped++;
        return;
    }
    /* About 900 bytes: off the stack of a listener callback. */
    w = malloc(sizeof(*w));
    if (w == NULL) {
        l->calls_dropped++;
        return;
    }
    peer_wire_call_fill(w, s->p->core->table, call);
    m.body_case = TC__PEER__MSG__BODY_CALL;
    m.call = &w->pb;
    if (peer__session_queue(s, &m) == 0)
        l->tx_calls++;
    else
        l->calls_dropped++;
    free(w);
}
