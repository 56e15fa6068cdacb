/* The TC port: listener, requests and metrics. Subscriptions are in
 * tc_port_sub.c, operator queries in tc_port_query.c. */
#include "tcport/tc_port.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/base/clock.h"
#include "server/base/log.h"
#include "server/base/metrics.h"
#include "server/config/config.h"
#include "server/core/core.h"
#include "tcport/tc_port_int.h"

static void on_open(void *arg, struct conn *c)
{
    struct tc_port *p = arg;
    struct tc_client *cl = calloc(1, sizeof(*cl));

    if (cl == NULL) {
        tc_log(WARN, "tc port: %s: out of memory, closing", conn_peer(c));
        conn_close(c);
        return;
    }
    cl->p = p;
    cl->c = c;
    coalesce_init(&cl->dirty, p->cfg->limits.subscriber_backlog);
    conn_set_data(c, cl);
    tc_log(DEBUG, "tc port: %s: connected", conn_peer(c));
}

static void on_request(void *arg, struct conn *c, const Tc__Request *rq)
{
    struct tc_client *cl = conn_data(c);

    (void)arg;
    switch (rq->body_case) {
    case TC__REQUEST__BODY_SUBSCRIBE:
        tc_port__sub_start(cl, rq->ref_id, rq->subscribe);
        break;
    case TC__REQUEST__BODY_QUERY_NODES:
        tc_port__query_nodes(cl, rq->ref_id);
        break;
    case TC__REQUEST__BODY_QUERY_DN:
        tc_port__query_dn(cl, rq->ref_id, rq->query_dn);
        break;
    case TC__REQUEST__BODY_QUERY_DNS:
        tc_port__query_dns_start(cl, rq->ref_id, rq->query_dns);
        break;
    case TC__REQUEST__BODY_QUERY_SUMMARY:
        tc_port__query_summary(cl, rq->ref_id);
        break;
    default:
        tc_log(DEBUG, "tc port: %s: request %d not served here", conn_peer(c), (int)rq->body_case);
        conn_send_error(c, rq->ref_id, TC__ERROR_CODE__ERROR_UNKNOWN_REQUEST,
                        "request not served on the TC port", CONN_REFUSED_UNKNOWN);
        break;
    }
}

static void on_writable(void *arg, struct conn *c)
{
    (void)arg;
    tc_port__pump(conn_data(c));
}

static void on_close(void *arg, struct conn *c)
{
    struct tc_client *cl = conn_data(c);

    (void)arg;
    if (cl == NULL)
        return;
    tc_log(DEBUG, "tc port: %s: closed", conn_peer(c));
    tc_port__sub_drop(cl);
    coalesce_free(&cl->dirty);
    free(cl);
}

static void on_stopped(void *arg)
{
    struct tc_port *p = arg;

    tc_buf_free(&p->scratch);
    free(p->ring);
    free(p);
}

static void on_change(void *arg, const struct dn_change *c, uint64_t seq)
{
    tc_port__sub_on_change(arg, c, seq);
}

static void on_link(void *arg, uint16_t node, bool up, uint64_t seq)
{
    tc_port__sub_on_link(arg, node, up, seq);
}

/* Count call under its outcome and origin. */
static void count_call(struct tc_port *p, const struct core_call *call)
{
    char label[CALL_EVENT_OUTCOME_MAX + 1];
    struct tc_call_count *n = &p->calls[TC_PORT_OUTCOMES];

    call_event_outcome_label(call->outcome, label);
    for (unsigned i = 0; i < TC_PORT_OUTCOMES && strcmp(label, "other") != 0; i++) {
        if (p->calls[i].outcome[0] == '\0')
            snprintf(p->calls[i].outcome, sizeof(p->calls[i].outcome), "%s", label);
        if (strcmp(p->calls[i].outcome, label) == 0) {
            n = &p->calls[i];
            break;
        }
    }
    n->n[call->origin == DN_NODE_SELF ? 0 : 1]++;
}

static void on_call(void *arg, const struct core_call *call, uint64_t seq)
{
    count_call(arg, call);
    tc_port__sub_on_call(arg, call, seq);
}

int tc_port_start(struct tc_port **out, uv_loop_t *loop, const struct config *cfg,
                  struct core *core)
{
    static const struct conn_handler h = {on_open, on_request, on_writable, on_close, on_stopped};
    struct core_listener l = {.on_change = on_change, .on_link = on_link, .on_call = on_call};
    struct conn_options o = {
            .name = "tc port",
            .addr = &cfg->tc_listen,
            .max_frame = cfg->limits.max_frame,
            .max_conns = cfg->limits.max_connections,
            .idle_ms = cfg->limits.idle_timeout_ms,
            .message_ms = cfg->limits.message_timeout_ms,
            .max_per_source = cfg->limits.max_connections_per_source,
            .metrics_name = "tc_port",
            .queue_bytes = TC_PORT_QUEUE_BYTES,
    };
    struct tc_port *p;
    int rc;

    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    p->ring = malloc(TC_PORT_RING * sizeof(*p->ring));
    if (p->ring == NULL) {
        free(p);
        return -ENOMEM;
    }
    p->loop = loop;
    p->cfg = cfg;
    p->core = core;
    p->epoch = tc_now_ms();
    p->ring_floor = core->seq;
    snprintf(p->calls[TC_PORT_OUTCOMES].outcome, sizeof(p->calls[0].outcome), "other");
    l.arg = p;
    rc = core_listen(core, &l);
    if (rc != 0) {
        tc_log(ERR, "tc port: %s", strerror(-rc));
        goto out_free;
    }
    rc = conn_server_start(&p->srv, loop, &o, &h, p);
    if (rc != 0)
        goto out_unlisten;
    *out = p;
    return 0;

out_unlisten:
    core_unlisten(core, p);
out_free:
    free(p->ring);
    free(p);
    return rc;
}

void tc_port_stop(struct tc_port *p)
{
    core_unlisten(p->core, p);
    conn_server_stop(p->srv);
}

static int render_calls(const struct tc_port *p, struct tc_buf *b)
{
    static const char *const origin[2] = {"local", "peer"};
    char labels[96];
    int rc = 0;

    rc |= metrics_header(b, "tcluster_calls_total", "counter",
                         "call decisions published here, made by this node (local) or a peer, "
                         "by outcome");
    for (unsigned i = 0; i <= TC_PORT_OUTCOMES; i++) {
        if (p->calls[i].outcome[0] == '\0')
            continue;
        for (int o = 0; o < 2; o++) {
            snprintf(labels, sizeof(labels), "origin=\"%s\",outcome=\"%s\"", origin[o],
                     p->calls[i].outcome);
            rc |= metrics_sample_u64(b, "tcluster_calls_total", labels, p->calls[i].n[o]);
        }
    }
    rc |= metrics_header(b, "tcluster_tc_port_call_events_total", "counter",
                         "call events sent to subscribers, or dropped for a full output");
    rc |= metrics_sample_u64(b, "tcluster_tc_port_call_events_total", "result=\"sent\"",
                             p->st.call_events);
    rc |= metrics_sample_u64(b, "tcluster_tc_port_call_events_total", "result=\"dropped\"",
                             p->st.calls_dropped);
    return rc;
}

int tc_port_metrics(const struct tc_port *p, struct tc_buf *b)
{
    const struct tc_port_stats *st = &p->st;
    uint64_t pending = 0, bytes = 0;
    int rc = 0;

    for (const struct tc_client *cl = p->subs; cl != NULL; cl = cl->next) {
        pending += cl->dirty.n;
        bytes += coalesce_bytes(&cl->dirty);
    }
    rc |= conn_server_metrics(p->srv, "tcluster_tc_port", b);
    rc |= metrics_header(b, "tcluster_tc_port_subscribers", "gauge", "TC port subscribers");
    rc |= metrics_sample_u64(b, "tcluster_tc_port_subscribers", NULL, p->n_subs);
    rc |= metrics_header(b, "tcluster_tc_port_slow_subscribers", "gauge",
                         "subscribers whose changes coalesce because they do not read");
    rc |= metrics_sample_u64(b, "tcluster_tc_port_slow_subscribers", NULL, p->n_slow);
    rc |= metrics_header(b, "tcluster_tc_port_slow_total", "counter", "times a subscriber became slow");
    rc |= metrics_sample_u64(b, "tcluster_tc_port_slow_total", NULL, st->slow_episodes);
    rc |= metrics_header(b, "tcluster_tc_port_snapshots_total", "counter",
                         "subscriptions started, by kind");
    rc |= metrics_sample_u64(b, "tcluster_tc_port_snapshots_total", "kind=\"full\"", st->snapshots);
    rc |= metrics_sample_u64(b, "tcluster_tc_port_snapshots_total", "kind=\"resume\"", st->resumes);
    rc |= metrics_sample_u64(b, "tcluster_tc_port_snapshots_total", "kind=\"resend\"", st->resends);
    rc |= metrics_header(b, "tcluster_tc_port_live_events_total", "counter",
                         "change and link events sent as they happened");
    rc |= metrics_sample_u64(b, "tcluster_tc_port_live_events_total", NULL, st->live_events);
    rc |= metrics_header(b, "tcluster_tc_port_coalesced_total", "counter",
                         "changes held in a subscriber's pending set instead of sent");
    rc |= metrics_sample_u64(b, "tcluster_tc_port_coalesced_total", NULL, st->coalesced);
    rc |= metrics_header(b, "tcluster_tc_port_pending_dns", "gauge",
                         "DNs waiting in subscribers' pending sets");
    rc |= metrics_sample_u64(b, "tcluster_tc_port_pending_dns", NULL, pending);
    rc |= metrics_header(b, "tcluster_tc_port_pending_bytes", "gauge",
                         "memory held by subscribers' pending sets");
    rc |= metrics_sample_u64(b, "tcluster_tc_port_pending_bytes", NULL, bytes);
    rc |= render_calls(p, b);
    return rc ? -ENOMEM : 0;
}
