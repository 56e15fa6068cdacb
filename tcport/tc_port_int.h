#ifndef TC_TCPORT_TC_PORT_INT_H
#define TC_TCPORT_TC_PORT_INT_H

/* The TC port's insides, shared by tc_port.c (listener, requests, metrics),
 * tc_port_sub.c (subscriptions: snapshot, resume, live events, coalescing)
 * and tc_port_query.c (operator queries). Loop thread only. */

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "proto/tcport.pb-c.h"
#include "server/base/buf.h"
#include "server/core/dn_table.h"
#include "tcport/call_event.h"
#include "tcport/coalesce.h"
#include "tcport/conn.h"

struct config;
struct core;
struct core_call;

/* Output a subscriber may have queued before it counts as slow and its
 * changes coalesce instead. */
#define TC_PORT_QUEUE_BYTES (1u << 20)
/* DNs sent (snapshot, pending set) or examined (DN query) per loop turn
 * for one client, so a million DNs never stall the loop. */
#define TC_PORT_CHUNK 4096
/* Recent changes kept for Subscribe{from_seq}. */
#define TC_PORT_RING 65536
/* A ring entry's what: a DN key with the status before the change in bit
 * 62, TC_RING_LINK | node id, or TC_RING_CALL (a call event: it takes a
 * sequence number, so it takes a slot, but a resume does not replay it). */
#define TC_RING_LINK      (UINT64_C(1) << 63)
#define TC_RING_OLD_INSRV (UINT64_C(1) << 62)
#define TC_RING_KEY_MASK  (TC_RING_OLD_INSRV - 1)
#define TC_RING_CALL      (TC_RING_LINK | TC_RING_OLD_INSRV)
/* Call outcomes counted apart in tcluster_calls_total; later ones count as
 * "other". */
#define TC_PORT_OUTCOMES 16

struct tc_ring_entry {
    uint64_t seq;
    uint64_t what;
};

enum tc_sub_mode {
    TC_SUB_NONE = 0, /* not subscribed */
    TC_SUB_SNAPSHOT, /* sending the snapshot */
    TC_SUB_LIVE,     /* live; pending changes (if any) go first */
};

/* A DN query streaming its answer. */
struct tc_query_dns {
    bool active;
    uint32_t ref_id;
    dn_key next; /* next key to examine */
    uint64_t count, limit;
    uint64_t more; /* matches past the limit, counted not sent */
    bool any_state;
    enum dn_status state;
    int owner; /* -1: any; else a node id (DN_NODE_NONE matches no owner) */
};

/* One TC port connection. */
struct tc_client {
    struct tc_port *p;
    struct conn *c;
    struct tc_client *prev, *next; /* p->subs, while subscribed */
    enum tc_sub_mode mode;
    uint32_t sub_ref;      /* the Subscribe's ref_id */
    dn_key snap_next;      /* snapshot: the next key to send */
    uint64_t snap_count;   /* snapshot: DNs sent */
    uint64_t snap_seq;     /* snapshot: the sequence it covers */
    uint64_t safe_seq;     /* the client has every change up to here */
    struct coalesce dirty; /* DNs changed and not sent; tag: status last shown */
    uint64_t link_dirty;   /* node ids whose link changed and was not sent */
    bool resnap;           /* dirty overflowed: send a whole snapshot again */
    bool slow;             /* coalescing because its output was full */
    struct tc_query_dns q;
};

struct tc_port_stats {
    uint64_t snapshots, resumes, resends; /* full, from a sequence, after overflow */
    uint64_t live_events;                 /* change and link events sent live */
    uint64_t coalesced;                   /* changes put in a pending set */
    uint64_t slow_episodes;
    uint64_t call_events;   /* call events sent to subscribers */
    uint64_t calls_dropped; /* call events not sent: the subscriber's output was full */
};

/* Calls published on this node by outcome, decided here ([0]) or by a
 * peer ([1]). */
struct tc_call_count {
    char outcome[CALL_EVENT_OUTCOME_MAX + 1]; /* "" : slot free */
    uint64_t n[2];
};

struct tc_port {
    uv_loop_t *loop;
    const struct config *cfg;
    struct core *core;
    struct conn_server *srv;
    struct tc_client *subs;
    uint32_t n_subs, n_slow;
    uint64_t epoch; /* start time, ms: names this run's sequences */
    struct tc_ring_entry *ring;
    size_t ring_head; /* next entry written */
    size_t ring_n;
    uint64_t ring_floor;   /* every change after this sequence is in the ring */
    struct tc_buf scratch; /* a live event, packed once for every subscriber */
    struct tc_port_stats st;
    struct tc_call_count calls[TC_PORT_OUTCOMES + 1]; /* the last: "other" */
};

/* tc_port_sub.c */

/* Handle Subscribe from cl. */
void tc_port__sub_start(struct tc_client *cl, uint32_t ref_id, const Tc__Subscribe *s);

/* The core published a change or a link event. */
void tc_port__sub_on_change(struct tc_port *p, const struct dn_change *c, uint64_t seq);
void tc_port__sub_on_link(struct tc_port *p, uint16_t node, bool up, uint64_t seq);

/* The core published a call event: to every subscriber now, or never
 * (dropped and counted when its output is full: calls are events, not
 * state, and are neither coalesced nor replayed). */
void tc_port__sub_on_call(struct tc_port *p, const struct core_call *call, uint64_t seq);

/* Send what cl is waiting for (DN query, snapshot, pending changes) while
 * its output has room, a chunk at a time. */
void tc_port__pump(struct tc_client *cl);

/* cl is closing: forget its subscription. */
void tc_port__sub_drop(struct tc_client *cl);

/* tc_port_query.c */

void tc_port__query_nodes(struct tc_client *cl, uint32_t ref_id);
void tc_port__query_dn(struct tc_client *cl, uint32_t ref_id, const Tc__QueryDn *q);
void tc_port__query_summary(struct tc_client *cl, uint32_t ref_id);
void tc_port__query_dns_start(struct tc_client *cl, uint32_t ref_id, const Tc__QueryDns *q);

/* Go on with cl's DN query for at most budget DNs; returns what is left
 * of the budget. */
unsigned tc_port__query_dns_step(struct tc_client *cl, unsigned budget);

#endif
