#ifndef TC_SERVER_SIP_SIP_SERVER_H
#define TC_SERVER_SIP_SIP_SERVER_H

#include <stdint.h>
#include <uv.h>

#include "server/base/buf.h"
#include "server/base/metrics.h"
#include "server/sip/sip_invite.h"
#include "server/sip/sip_msg.h"

struct config;
struct core;
struct redirect;
struct registrar;
struct sip_transport;

/* The SIP port (DESIGN §5): takes framed messages from the transport,
 * parses them, and answers by method: REGISTER through the registrar,
 * OPTIONS 200, INVITE as a stateless redirect server (sip_invite.h), ACK
 * nothing, CANCEL 200, anything else 405 with Allow. Malformed requests get 400 (or 505, 513,
 * 416) with a reason naming the problem; a message nothing can be sent back
 * to is dropped and counted. Past sip-shed-delay of backlog (how long
 * requests wait before the loop reads them), REGISTERs are answered 503
 * with Retry-After at once instead of waiting in the socket buffers.
 * Loop thread only. */

#define SIP_SERVER_MAX_CODES 48 /* distinct (method, code) pairs counted */
#define SIP_SHED_RETRY_AFTER 5  /* seconds, in a shed REGISTER's 503 */

enum sip_server_drop {
    SIP_DROP_UNANSWERABLE = 0, /* malformed without a usable Via */
    SIP_DROP_RESPONSE,         /* a response sent to us */
    SIP_DROP_SEND_FAILED,      /* the answer could not be sent */
    SIP_DROP_COUNT,
};

struct sip_server_count {
    uint8_t method; /* enum sip_method of the request */
    uint16_t code;
    uint64_t n;
};

struct sip_server {
    struct sip_transport *transport;
    struct registrar *reg;           /* borrowed */
    struct redirect *redirect;       /* borrowed; NULL: INVITEs get 503 */
    struct core *core;               /* borrowed: call events; NULL: none published */
    const char *self;                /* this node's name (the cfg's), borrowed */
    struct sip_invite_recent recent; /* INVITEs answered lately */
    struct sip_msg_conf conf;
    struct sip_server_count counts[SIP_SERVER_MAX_CODES];
    unsigned n_counts;
    uint64_t dropped[SIP_DROP_COUNT];
    uint64_t waiting; /* answers waiting for the store */
    /* Load shedding: a REGISTER that waited longer than shed_ns before
     * the loop read it (sip_transport_backlog_ns()) gets 503 with
     * Retry-After, and the table and store never see it. */
    uint64_t shed_ns;
    uint64_t shed[2]; /* by enum sip_proto */
    struct tc_buf scratch;
    struct tc_buf extra; /* an INVITE answer's extra headers */
    /* REGISTERs that changed bindings: from receipt to durable in the
     * store, and to the answer handed to the transport. */
    struct metrics_histogram reg_durable, reg_answered;
};

/* Listen on cfg's sip-listen addresses. reg answers REGISTERs; redirect
 * decides INVITEs (NULL: they get 503) and core publishes their call
 * events (NULL: none). cfg (its name), reg, redirect and core are
 * borrowed and must outlive the server (until sip_server_stop()). Logs
 * the failing address and returns a negative errno on failure. Loop
 * thread. */
int sip_server_start(struct sip_server *s, uv_loop_t *loop, const struct config *cfg,
                     struct registrar *reg, struct redirect *redirect, struct core *core);

/* Stop listening. Answers still waiting for the store are dropped when it
 * reports, so close the store first to flush them. The transport is freed
 * when the loop runs. */
void sip_server_stop(struct sip_server *s);

/* Append the SIP families of /metrics. */
int sip_server_metrics(const struct sip_server *s, struct tc_buf *b);

#endif
