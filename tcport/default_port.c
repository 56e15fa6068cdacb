/* The default port: listener, OpenApp, request dispatch and metrics.
 * Registrations, claims and their events are in default_port_reg.c. */
#include "tcport/default_port.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/base/log.h"
#include "server/base/metrics.h"
#include "server/config/config.h"
#include "server/core/core.h"
#include "tcport/call_event.h"
#include "tcport/default_port_int.h"
#include "tcport/frame.h"

static void on_open(void *arg, struct conn *c)
{
    struct default_port *p = arg;
    struct dp_client *cl = calloc(1, sizeof(*cl));

    if (cl == NULL) {
        tc_log(WARN, "default port: %s: out of memory, closing", conn_peer(c));
        conn_close(c);
        return;
    }
    cl->p = p;
    cl->c = c;
    coalesce_init(&cl->dirty, DP_MAX_REGS);
    conn_set_data(c, cl);
}

static void on_request(void *arg, struct conn *c, const Tc__Request *rq)
{
    struct dp_client *cl = conn_data(c);

    (void)arg;
    if (rq->body_case == TC__REQUEST__BODY_OPEN_APP) {
        default_port__open_app(cl, rq->ref_id, rq->open_app);
        return;
    }
    if (rq->body_case == TC__REQUEST__BODY_AUTHENTICATE) {
        default_port__authenticate(cl, rq->ref_id, rq->authenticate);
        return;
    }
    switch (rq->body_case) {
    case TC__REQUEST__BODY_REGISTER_ADDRESS:
    case TC__REQUEST__BODY_UNREGISTER_ADDRESS:
    case TC__REQUEST__BODY_QUERY_ADDRESS:
        if (!cl->open) {
            conn_send_error(c, rq->ref_id, TC__ERROR_CODE__ERROR_NOT_OPEN,
                            cl->challenged ? "Authenticate first (answer the EventChallenge)"
                                           : "OpenApp first",
                            CONN_REFUSED_OTHER);
            return;
        }
        break;
    default:
        tc_log(DEBUG, "default port: %s: request %d not served here", conn_peer(c),
               (int)rq->body_case);
        conn_send_error(c, rq->ref_id, TC__ERROR_CODE__ERROR_UNKNOWN_REQUEST,
                        "request not served on the default port", CONN_REFUSED_UNKNOWN);
        return;
    }
    if (rq->body_case == TC__REQUEST__BODY_REGISTER_ADDRESS)
        default_port__register(cl, rq->ref_id, rq->register_address->dn);
    else if (rq->body_case == TC__REQUEST__BODY_UNREGISTER_ADDRESS)
        default_port__unregister(cl, rq->ref_id, rq->unregister_address->dn);
    else
        default_port__query(cl, rq->ref_id, rq->query_address->dn);
}

static void on_writable(void *arg, struct conn *c)
{
    (void)arg;
    default_port__pump(conn_data(c));
}

static void on_close(void *arg, struct conn *c)
{
    struct default_port *p = arg;
    struct dp_client *cl = conn_data(c);

    if (cl == NULL)
        return;
    if (cl->open) {
        if (cl->gws)
            p->n_gws--;
        else
            p->n_other--;
    }
    default_port__client_drop(cl);
    coalesce_free(&cl->dirty);
    free(cl);
}

void default_port__maybe_free(struct default_port *p)
{
    if (!p->srv_closed || !p->timer_closed || p->n_waits > 0)
        return;
    coalesce_free(&p->releases);
    tc_buf_free(&p->scratch);
    default_port__auth_wipe(p);
    free(p->slots);
    free(p);
}

static void on_stopped(void *arg)
{
    struct default_port *p = arg;

    p->srv_closed = true;
    default_port__maybe_free(p);
}

static void on_timer_close(uv_handle_t *h)
{
    struct default_port *p = h->data;

    p->timer_closed = true;
    default_port__maybe_free(p);
}

static void on_change(void *arg, const struct dn_change *c, uint64_t seq)
{
    default_port__on_change(arg, c, seq);
}

/* Calls are T-Library events on a DN: like EventRinging, they go to the
 * clients that registered the DN (URS registers its routing points, GWS
 * its agents' DNs), subscribed or claiming, and only for calls this node
 * decided (the local view, DESIGN §5). They are events, not state: sent
 * at once, dropped and counted for a client whose output is full, never
 * coalesced. */
void default_port__on_call(struct default_port *p, const struct core_call *call, uint64_t seq)
{
    bool packed = false;

    if (call->origin != DN_NODE_SELF || call->dn == DN_KEY_NONE)
        return;
    for (struct dp_reg *r = default_port__regs_of(p, call->dn); r != NULL; r = r->key_next) {
        struct dp_client *cl = r->cl;

        if (conn_closing(cl->c))
            continue;
        if (!conn_writable(cl->c)) {
            p->st.calls_dropped++;
            continue;
        }
        if (!packed) {
            Tc__Event ev = TC__EVENT__INIT;
            struct call_event e;

            call_event_fill(&e, p->core->table, call);
            ev.seq = seq;
            call_event_set(&ev, &e);
            tc_buf_reset(&p->scratch);
            if (frame_pack(&p->scratch, &ev.base) != 0)
                return;
            packed = true;
        }
        conn_send_raw(cl->c, p->scratch.data, p->scratch.len, 1);
        p->st.call_events++;
    }
}

static void on_call(void *arg, const struct core_call *call, uint64_t seq)
{
    default_port__on_call(arg, call, seq);
}

int default_port_start(struct default_port **out, uv_loop_t *loop, const struct config *cfg,
                       struct core *core)
{
    static const struct conn_handler h = {on_open, on_request, on_writable, on_close, on_stopped};
    struct core_listener l = {.on_change = on_change, .on_call = on_call};
    struct conn_options o = {
            .name = "default port",
            .addr = &cfg->default_listen,
            .max_frame = cfg->limits.max_frame,
            .max_conns = cfg->limits.max_connections,
            .idle_ms = cfg->limits.idle_timeout_ms,
            .message_ms = cfg->limits.message_timeout_ms,
            .max_per_source = cfg->limits.max_connections_per_source,
            .metrics_name = "default_port",
            .queue_bytes = DP_QUEUE_BYTES,
    };
    struct default_port *p;
    int rc;

    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    p->loop = loop;
    p->cfg = cfg;
    p->core = core;
    coalesce_init(&p->releases, SIZE_MAX);
    rc = default_port__auth_load(p);
    if (rc != 0) {
        default_port__auth_wipe(p);
        free(p);
        return rc;
    }
    l.arg = p;
    rc = core_listen(core, &l);
    if (rc != 0) {
        tc_log(ERR, "default port: %s", strerror(-rc));
        default_port__auth_wipe(p);
        free(p);
        return rc;
    }
    rc = conn_server_start(&p->srv, loop, &o, &h, p);
    if (rc != 0) {
        core_unlisten(core, p);
        default_port__auth_wipe(p);
        free(p);
        return rc;
    }
    uv_timer_init(loop, &p->retry);
    p->retry.data = p;
    *out = p;
    return 0;
}

void default_port_stop(struct default_port *p)
{
    p->stopping = true;
    core_unlisten(p->core, p);
    uv_close((uv_handle_t *)&p->retry, on_timer_close);
    conn_server_stop(p->srv);
}

int default_port_metrics(const struct default_port *p, struct tc_buf *b)
{
    const struct dp_stats *st = &p->st;
    int rc = 0;

    rc |= conn_server_metrics(p->srv, "tcluster_default_port", b);
    rc |= metrics_header(b, "tcluster_default_port_clients", "gauge",
                         "clients that opened, GWS (claiming) or other");
    rc |= metrics_sample_u64(b, "tcluster_default_port_clients", "kind=\"gws\"", p->n_gws);
    rc |= metrics_sample_u64(b, "tcluster_default_port_clients", "kind=\"other\"", p->n_other);
    rc |= metrics_header(b, "tcluster_default_port_gws_auth_total", "counter",
                         "clients that opened with a GWS name: opened, or refused for a wrong "
                         "secret or a source outside allow-from");
    rc |= metrics_sample_u64(b, "tcluster_default_port_gws_auth_total", "result=\"ok\"",
                             st->auth[DP_AUTH_OK]);
    rc |= metrics_sample_u64(b, "tcluster_default_port_gws_auth_total", "result=\"wrong_secret\"",
                             st->auth[DP_AUTH_WRONG_SECRET]);
    rc |= metrics_sample_u64(b, "tcluster_default_port_gws_auth_total", "result=\"source_refused\"",
                             st->auth[DP_AUTH_SOURCE_REFUSED]);
    rc |= metrics_header(b, "tcluster_default_port_registrations", "gauge",
                         "DNs registered by clients, as claims or subscriptions");
    rc |= metrics_sample_u64(b, "tcluster_default_port_registrations", "kind=\"claim\"", p->n_claimed);
    rc |= metrics_sample_u64(b, "tcluster_default_port_registrations", "kind=\"subscribe\"",
                             p->n_subscribed);
    rc |= metrics_header(b, "tcluster_default_port_claims_total", "counter",
                         "GWS claims made durable or failed");
    rc |= metrics_sample_u64(b, "tcluster_default_port_claims_total", "result=\"ok\"", st->claims_ok);
    rc |= metrics_sample_u64(b, "tcluster_default_port_claims_total", "result=\"error\"",
                             st->claims_failed);
    rc |= metrics_header(b, "tcluster_default_port_releases_total", "counter",
                         "GWS claims released (unregister or disconnection)");
    rc |= metrics_sample_u64(b, "tcluster_default_port_releases_total", NULL, st->releases);
    rc |= metrics_header(b, "tcluster_default_port_release_backlog", "gauge",
                         "releases waiting for room in the store queue");
    rc |= metrics_sample_u64(b, "tcluster_default_port_release_backlog", NULL, p->releases.n);
    rc |= metrics_header(b, "tcluster_default_port_live_events_total", "counter",
                         "status events sent as they happened");
    rc |= metrics_sample_u64(b, "tcluster_default_port_live_events_total", NULL, st->live_events);
    rc |= metrics_header(b, "tcluster_default_port_coalesced_total", "counter",
                         "status changes held for a client that does not read");
    rc |= metrics_sample_u64(b, "tcluster_default_port_coalesced_total", NULL, st->coalesced);
    rc |= metrics_header(b, "tcluster_default_port_slow_clients", "gauge",
                         "clients whose status changes coalesce because they do not read");
    rc |= metrics_sample_u64(b, "tcluster_default_port_slow_clients", NULL, p->n_slow);
    rc |= metrics_header(b, "tcluster_default_port_call_events_total", "counter",
                         "call events (decided here) sent to clients that registered the DN, or "
                         "dropped for a full output");
    rc |= metrics_sample_u64(b, "tcluster_default_port_call_events_total", "result=\"sent\"",
                             st->call_events);
    rc |= metrics_sample_u64(b, "tcluster_default_port_call_events_total", "result=\"dropped\"",
                             st->calls_dropped);
    return rc ? -ENOMEM : 0;
}
