#include "server/sip/sip_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "server/base/log.h"
#include "server/base/metrics.h"
#include "server/base/tc_err.h"
#include "server/config/config.h"
#include "server/registrar/registrar.h"
#include "server/sip/sip_invite.h"
#include "server/sip/sip_resp.h"
#include "server/sip/sip_server_int.h"
#include "server/sip/sip_transport.h"

#define SIP_ALLOW  "Allow: REGISTER, OPTIONS, INVITE, ACK, CANCEL\r\n"
#define TC_STR_(x) #x
#define TC_STR(x)  TC_STR_(x)

static const char *const method_names[] = {
        [SIP_METHOD_OTHER] = "other",   [SIP_METHOD_REGISTER] = "REGISTER",
        [SIP_METHOD_INVITE] = "INVITE", [SIP_METHOD_OPTIONS] = "OPTIONS",
        [SIP_METHOD_ACK] = "ACK",       [SIP_METHOD_CANCEL] = "CANCEL",
        [SIP_METHOD_BYE] = "BYE",
};

static void count(struct sip_server *s, enum sip_method method, int code)
{
    for (unsigned i = 0; i < s->n_counts; i++) {
        if (s->counts[i].method == method && s->counts[i].code == code) {
            s->counts[i].n++;
            return;
        }
    }
    if (s->n_counts < SIP_SERVER_MAX_CODES) {
        s->counts[s->n_counts].method = (uint8_t)method;
        s->counts[s->n_counts].code = (uint16_t)code;
        s->counts[s->n_counts++].n = 1;
    }
}

/* Send bytes to where the answer to a message from src goes. */
static void send_answer(struct sip_server *s, const struct sip_src *src,
                        const struct sockaddr_storage *dest, const char *buf, size_t len)
{
    int rc;

    if (src->proto == SIP_PROTO_UDP)
        rc = sip_transport_send_to(s->transport, src->listener, (const struct sockaddr *)dest, buf,
                                   len);
    else
        rc = sip_transport_send(s->transport, src, buf, len);
    if (rc != 0) {
        s->dropped[SIP_DROP_SEND_FAILED]++;
        tc_log(DEBUG, "sip: answer not sent: %s", tc_strerror(rc));
    }
}

void sip_server__respond(struct sip_server *s, const struct sip_msg *m, const struct sip_src *src,
                         int code, const char *reason, const char *extra)
{
    struct sockaddr_storage dest;

    tc_buf_reset(&s->scratch);
    if (sip_resp_build(m, src, code, reason, NULL, extra, &s->scratch) != 0) {
        s->dropped[SIP_DROP_SEND_FAILED]++;
        return;
    }
    count(s, m->method_id, code);
    sip_resp_dest(m, src, &dest);
    send_answer(s, src, &dest, s->scratch.data, s->scratch.len);
}

static void respond(struct sip_server *s, const struct sip_msg *m, const struct sip_src *src,
                    int code, const char *reason, const char *extra)
{
    sip_server__respond(s, m, src, code, reason, extra);
}

/* Bounds of the REGISTER latency histograms: fine below 10 ms, where the
 * targets are. */
static const double reg_bounds[] = {0.0005, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0075,
                                    0.01,   0.015, 0.02,   0.03,  0.05,  0.1,   0.25,  1};

/* An answer waiting for the store to make a REGISTER durable. */
struct sip_waiting {
    struct sip_server *s;
    uint64_t received_ns; /* uv_hrtime() when the REGISTER was taken in */
    struct sip_src src;
    struct sockaddr_storage dest;
    char *bytes; /* the answer; NULL if it could not be built */
    size_t len;
};

/* The 500 for a REGISTER whose change the store refused, from the 200 that
 * was waiting for it: the same headers but its Contacts, since no binding
 * was kept (DESIGN §2 rule 7). Returns 0 or -ENOMEM / -EINVAL. */
static int store_error_answer(const char *ok, size_t len, struct tc_buf *b)
{
    const char *p = memchr(ok, '\n', len), *end = ok + len, *eol;
    int rc;

    if (p == NULL)
        return -EINVAL;
    rc = tc_buf_puts(b, "SIP/2.0 500 Store Error\r\n");
    for (p++; rc == 0 && p < end; p = eol + 1) {
        eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end - 1;
        if ((size_t)(end - p) >= 8 && strncasecmp(p, "Contact:", 8) == 0)
            continue;
        rc = tc_buf_append(b, p, (size_t)(eol + 1 - p));
    }
    return rc;
}

static void on_register_durable(void *arg, int status)
{
    struct sip_waiting *w = arg;
    struct sip_server *s = w->s;

    s->waiting--;
    metrics_histogram_observe(&s->reg_durable, (double)(uv_hrtime() - w->received_ns) / 1e9);
    if (s->transport == NULL || w->bytes == NULL) {
        s->dropped[SIP_DROP_SEND_FAILED]++;
    } else if (status != 0) {
        /* The change is not on disk: say so instead of the 200. */
        struct tc_buf b = TC_BUF_INIT;

        if (store_error_answer(w->bytes, w->len, &b) == 0)
            send_answer(s, &w->src, &w->dest, b.data, b.len);
        tc_buf_free(&b);
        count(s, SIP_METHOD_REGISTER, 500);
    } else {
        send_answer(s, &w->src, &w->dest, w->bytes, w->len);
        count(s, SIP_METHOD_REGISTER, 200);
        metrics_histogram_observe(&s->reg_answered, (double)(uv_hrtime() - w->received_ns) / 1e9);
    }
    free(w->bytes);
    free(w);
}

static void format_received(const struct sip_src *src, char *buf, size_t size)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;

    if (src->peer.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&src->peer;

        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
        port = ntohs(a->sin_port);
        snprintf(buf, size, "%s:%s:%u", src->proto == SIP_PROTO_TCP ? "tcp" : "udp", ip, port);
    } else {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&src->peer;

        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
        port = ntohs(a->sin6_port);
        snprintf(buf, size, "%s:[%s]:%u", src->proto == SIP_PROTO_TCP ? "tcp" : "udp", ip, port);
    }
}

/* Contact and Authorization, read now that a REGISTER needs them, into q.
 * Returns 0, or -1 after answering the request. */
static int read_register(struct sip_server *s, struct sip_msg *m, const struct sip_src *src,
                         struct reg_request *q)
{
    const struct sip_contacts *cs;
    const struct sip_auth *auth = NULL;
    int rc;

    rc = sip_msg_contacts(m, &cs);
    if (rc == 0 && cs->n > REG_MAX_CONTACTS) {
        respond(s, m, src, 400, "Too Many Contacts In One Request", NULL);
        return -1;
    }
    if (rc == 0)
        rc = sip_msg_auth(m, &auth);
    if (rc != 0) {
        if (rc == -ENOMEM)
            respond(s, m, src, 500, "Server Internal Error", NULL);
        else if (rc == -EDOM)
            respond(s, m, src, 400, "Bad Contact Expires", NULL);
        else
            respond(s, m, src, 400, cs == NULL ? "Bad Contact" : "Bad Authorization Header", NULL);
        return -1;
    }
    q->star = cs->star;
    q->n_contacts = (unsigned)cs->n;
    for (unsigned i = 0; i < q->n_contacts; i++) {
        q->contacts[i].uri = cs->v[i].uri;
        q->contacts[i].len = strlen(cs->v[i].uri);
        q->contacts[i].expires = cs->v[i].has_expires ? (long)cs->v[i].expires : -1;
        q->contacts[i].params = cs->v[i].params != NULL ? cs->v[i].params : "";
        q->contacts[i].params_len = strlen(q->contacts[i].params);
    }
    /* Only Digest is understood; another scheme is answered like none: 401. */
    if (auth != NULL)
        q->auth = auth->digest;
    return 0;
}

/* Past the shedding threshold: 503 now, before the REGISTER costs a
 * table lookup, a store change and a wait. Returns true if m was shed. */
static bool shed_register(struct sip_server *s, const struct sip_msg *m, const struct sip_src *src)
{
    uint64_t backlog = sip_transport_backlog_ns(s->transport, src);

    if (backlog <= s->shed_ns)
        return false;
    s->shed[src->proto == SIP_PROTO_TCP]++;
    respond(s, m, src, 503, "Service Unavailable",
            "Retry-After: " TC_STR(SIP_SHED_RETRY_AFTER) "\r\n");
    tc_log_limited(WARN,
                   "sip: overloaded: requests wait %" PRIu64
                   " ms before they are read (sip-shed-delay %" PRIu64
                   " ms): REGISTERs answered 503",
                   backlog / 1000000u, s->shed_ns / 1000000u);
    return true;
}

static void handle_register(struct sip_server *s, struct sip_msg *m, const struct sip_src *src,
                            uint64_t received_ns)
{
    struct reg_answer ans = {0, NULL, TC_BUF_INIT};
    struct reg_request q;
    char received[80];
    struct sip_waiting *w;
    int rc;

    if (shed_register(s, m, src))
        return;
    memset(&q, 0, sizeof(q));
    if (read_register(s, m, src, &q) < 0)
        return;
    q.to_user = m->to.user != NULL ? m->to.user : "";
    q.to_user_len = strlen(q.to_user);
    q.call_id = m->call_id;
    q.request_uri = m->ruri.raw;
    q.cseq = m->cseq;
    q.expires = m->has_expires ? (long)m->expires : -1;
    format_received(src, received, sizeof(received));
    q.received = received;
    q.proto = (uint8_t)src->proto;

    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        respond(s, m, src, 500, "Server Internal Error", NULL);
        return;
    }
    rc = registrar_register(s->reg, &q, &ans, on_register_durable, w);
    if (rc < 0) {
        respond(s, m, src, 500, "Server Internal Error", NULL);
    } else if (rc == 0) {
        respond(s, m, src, ans.code, ans.reason, ans.headers.data);
    } else {
        /* The change is queued; the answer waits for the disk. */
        w->s = s;
        w->received_ns = received_ns;
        w->src = *src;
        sip_resp_dest(m, src, &w->dest);
        tc_buf_reset(&s->scratch);
        if (sip_resp_build(m, src, ans.code, ans.reason, NULL, ans.headers.data, &s->scratch) ==
                    0 &&
            (w->bytes = malloc(s->scratch.len)) != NULL) {
            memcpy(w->bytes, s->scratch.data, s->scratch.len);
            w->len = s->scratch.len;
        }
        s->waiting++;
        w = NULL;
    }
    free(w);
    tc_buf_free(&ans.headers);
}

/* Dispatch by method. Only what a method needs is read from m: an
 * OPTIONS is answered whatever its Contact or Authorization hold. */
static void handle_request(struct sip_server *s, struct sip_msg *m, const struct sip_src *src,
                           uint64_t received_ns)
{
    switch (m->method_id) {
    case SIP_METHOD_REGISTER:
        handle_register(s, m, src, received_ns);
        break;
    case SIP_METHOD_OPTIONS:
        respond(s, m, src, 200, "OK", SIP_ALLOW "Accept: application/sdp\r\n");
        break;
    case SIP_METHOD_INVITE:
        sip_invite_handle(s, m, src);
        break;
    case SIP_METHOD_ACK:
        /* The ACK of a 3xx-6xx we sent (RFC 3261 §17.1.1.3): nothing to do. */
        break;
    case SIP_METHOD_CANCEL:
        /* A stateless redirect server has nothing to cancel: the INVITE was
         * answered at once (RFC 3261 §9.2, §16.10). */
        respond(s, m, src, 200, "OK", NULL);
        break;
    default:
        respond(s, m, src, 405, "Method Not Allowed", SIP_ALLOW);
        break;
    }
}

static void on_message(void *arg, const struct sip_src *src, const char *buf, size_t len)
{
    struct sip_server *s = arg;
    struct sockaddr_storage dest;
    struct sip_msg_err err;
    uint64_t received_ns = uv_hrtime();
    struct sip_msg *m;
    int rc;

    rc = sip_msg_parse(buf, len, &s->conf, &m, &err);
    if (rc != 0) {
        if (err.code == 0 && rc != -ENOMEM)
            return; /* nothing to answer, e.g. a keep-alive */
        if (!err.can_respond) {
            s->dropped[SIP_DROP_UNANSWERABLE]++;
            return;
        }
        tc_buf_reset(&s->scratch);
        if (sip_resp_error(&err, src, &s->scratch) == 0 &&
            sip_resp_error_dest(&err, src, &dest) == 0) {
            count(s, SIP_METHOD_OTHER, err.code);
            send_answer(s, src, &dest, s->scratch.data, s->scratch.len);
        }
        tc_log(DEBUG, "sip: refused a message: %d %s", err.code, err.reason);
        return;
    }
    if (!m->is_request)
        s->dropped[SIP_DROP_RESPONSE]++;
    else
        handle_request(s, m, src, received_ns);
    sip_msg_free(m);
}

/* Over TCP a refused unit can always be answered, the connection being
 * the address: when its head holds no usable Via (or is not SIP at all),
 * a bare status line with the reason goes out before the close, so the
 * client learns why instead of seeing the connection drop. */
static void answer_bare(struct sip_server *s, const struct sip_src *src, int code,
                        const char *reason)
{
    char buf[128];
    int n = snprintf(buf, sizeof(buf), "SIP/2.0 %d %s\r\nContent-Length: 0\r\n\r\n", code, reason);

    count(s, SIP_METHOD_OTHER, code);
    send_answer(s, src, &src->peer, buf, (size_t)n);
}

static void on_transport_error(void *arg, const struct sip_src *src, enum sip_transport_error e,
                               const char *buf, size_t len)
{
    struct sip_server *s = arg;
    struct sockaddr_storage dest;
    struct sip_msg_err err;
    struct sip_msg *m = NULL;
    struct sip_msg_conf conf = s->conf;

    /* Parse what arrived only to learn where an error answer goes. */
    conf.max_bytes = len + 1;
    if (sip_msg_parse(buf, len, &conf, &m, &err) == 0) {
        respond(s, m, src, e == SIP_TRANSPORT_TOO_LARGE ? 513 : 400,
                e == SIP_TRANSPORT_TOO_LARGE ? "Message Too Large" : "Bad Content-Length", NULL);
        sip_msg_free(m);
        return;
    }
    if (!err.can_respond && src->proto == SIP_PROTO_TCP) {
        answer_bare(s, src, e == SIP_TRANSPORT_TOO_LARGE ? 513 : 400,
                    e == SIP_TRANSPORT_TOO_LARGE ? "Message Too Large" : "Bad Content-Length");
        return;
    }
    if (!err.can_respond) {
        s->dropped[SIP_DROP_UNANSWERABLE]++;
        return;
    }
    err.code = e == SIP_TRANSPORT_TOO_LARGE ? 513 : 400;
    err.reason = e == SIP_TRANSPORT_TOO_LARGE ? "Message Too Large" : "Bad Content-Length";
    tc_buf_reset(&s->scratch);
    if (sip_resp_error(&err, src, &s->scratch) == 0 && sip_resp_error_dest(&err, src, &dest) == 0) {
        count(s, SIP_METHOD_OTHER, err.code);
        send_answer(s, src, &dest, s->scratch.data, s->scratch.len);
    }
}

int sip_server_start(struct sip_server *s, uv_loop_t *loop, const struct config *cfg,
                     struct registrar *reg, struct redirect *redirect, struct core *core)
{
    struct sip_transport_addr addrs[CONFIG_MAX_LISTEN];
    struct sip_transport_options o = {0};
    unsigned failed = 0;
    char buf[96];
    int rc;

    memset(s, 0, sizeof(*s));
    s->reg = reg;
    s->redirect = redirect;
    s->core = core;
    s->self = cfg->name;
    s->shed_ns = (uint64_t)cfg->limits.sip_shed_delay_ms * 1000000u;
    metrics_histogram_init(&s->reg_durable, reg_bounds, sizeof(reg_bounds) / sizeof(reg_bounds[0]));
    metrics_histogram_init(&s->reg_answered, reg_bounds,
                           sizeof(reg_bounds) / sizeof(reg_bounds[0]));
    s->conf = (struct sip_msg_conf)SIP_MSG_CONF_DEFAULT;
    s->conf.max_bytes = cfg->limits.max_sip_message;
    s->conf.max_headers = cfg->limits.max_sip_headers;
    if (getrandom(&s->conf.tag_key, sizeof(s->conf.tag_key), 0) != sizeof(s->conf.tag_key))
        s->conf.tag_key = (uint64_t)(uintptr_t)s ^ (uint64_t)time(NULL);
    for (unsigned i = 0; i < cfg->n_sip_listen; i++) {
        addrs[i].host = cfg->sip_listen[i].host;
        addrs[i].port = cfg->sip_listen[i].port;
    }
    o.addrs = addrs;
    o.n_addrs = cfg->n_sip_listen;
    o.max_message = cfg->limits.max_sip_message;
    o.max_connections = cfg->limits.max_connections;
    o.idle_timeout_ms = cfg->limits.idle_timeout_ms;
    o.message_timeout_ms = cfg->limits.message_timeout_ms;
    o.max_per_source = cfg->limits.max_connections_per_source;
    o.on_message = on_message;
    o.on_error = on_transport_error;
    o.arg = s;
    rc = sip_transport_start(&s->transport, loop, &o, &failed);
    if (rc != 0) {
        s->transport = NULL;
        tc_log(ERR, "sip-listen %s: %s",
               config_addr_str(&cfg->sip_listen[failed < cfg->n_sip_listen ? failed : 0], buf,
                               sizeof(buf)),
               tc_strerror(rc));
        return rc;
    }
    return 0;
}

void sip_server_stop(struct sip_server *s)
{
    if (s->transport != NULL) {
        sip_transport_stop(s->transport);
        s->transport = NULL;
    }
    tc_buf_free(&s->scratch);
    tc_buf_free(&s->extra);
    sip_invite_recent_free(&s->recent);
}

int sip_server_metrics(const struct sip_server *s, struct tc_buf *b)
{
    static const char *const drop_names[] = {"unanswerable", "response", "send_failed"};
    struct sip_transport_stats st = {0};
    char labels[96];
    int rc = 0;

    rc |= metrics_header(b, "tcluster_sip_responses_total", "counter",
                         "SIP responses sent, by request method and status code");
    for (unsigned i = 0; i < s->n_counts; i++) {
        snprintf(labels, sizeof(labels), "method=\"%s\",code=\"%u\"",
                 method_names[s->counts[i].method], s->counts[i].code);
        rc |= metrics_sample_u64(b, "tcluster_sip_responses_total", labels, s->counts[i].n);
    }
    rc |= metrics_header(b, "tcluster_sip_dropped_total", "counter",
                         "SIP messages dropped without an answer, by reason");
    for (unsigned i = 0; i < SIP_DROP_COUNT; i++) {
        snprintf(labels, sizeof(labels), "reason=\"%s\"", drop_names[i]);
        rc |= metrics_sample_u64(b, "tcluster_sip_dropped_total", labels, s->dropped[i]);
    }
    rc |= metrics_histogram_render(
            b, "tcluster_sip_register_durable_seconds",
            "REGISTERs that changed bindings: from receipt to durable in the store",
            &s->reg_durable);
    rc |= metrics_histogram_render(b, "tcluster_sip_register_answered_seconds",
                                   "REGISTERs that changed bindings: from receipt to the 200 sent",
                                   &s->reg_answered);
    rc |= metrics_header(b, "tcluster_sip_waiting_answers", "gauge",
                         "REGISTER answers waiting for the store");
    rc |= metrics_sample_u64(b, "tcluster_sip_waiting_answers", NULL, s->waiting);
    rc |= metrics_header(b, "tcluster_sip_shed_total", "counter",
                         "REGISTERs answered 503 with Retry-After because requests waited "
                         "longer than sip-shed-delay before they were read");
    rc |= metrics_sample_u64(b, "tcluster_sip_shed_total", "transport=\"udp\"", s->shed[0]);
    rc |= metrics_sample_u64(b, "tcluster_sip_shed_total", "transport=\"tcp\"", s->shed[1]);
    if (s->transport != NULL)
        sip_transport_stats(s->transport, &st);
    rc |= metrics_header(b, "tcluster_sip_udp_backlog_seconds", "gauge",
                         "age of the oldest SIP datagram left queued after the last read");
    rc |= metrics_sample(b, "tcluster_sip_udp_backlog_seconds", NULL,
                         (double)st.udp_backlog_ns / 1e9);
    rc |= metrics_header(b, "tcluster_sip_tcp_backlog_seconds", "gauge",
                         "estimated wait of the SIP bytes the last TCP read left on its socket");
    rc |= metrics_sample(b, "tcluster_sip_tcp_backlog_seconds", NULL,
                         (double)st.tcp_backlog_ns / 1e9);
    rc |= metrics_header(b, "tcluster_sip_received_total", "counter", "SIP messages received");
    rc |= metrics_sample_u64(b, "tcluster_sip_received_total", "transport=\"udp\"",
                             st.udp_messages);
    rc |= metrics_sample_u64(b, "tcluster_sip_received_total", "transport=\"tcp\"",
                             st.tcp_messages);
    rc |= metrics_header(b, "tcluster_sip_tcp_connections", "gauge", "open SIP TCP connections");
    rc |= metrics_sample_u64(b, "tcluster_sip_tcp_connections", NULL, st.conns_open);
    rc |= metrics_header(b, "tcluster_sip_tcp_refused_total", "counter",
                         "SIP TCP connections refused at max-connections");
    rc |= metrics_sample_u64(b, "tcluster_sip_tcp_refused_total", NULL, st.conns_refused);
    rc |= metrics_header(b, "tcluster_sip_send_failed_total", "counter",
                         "SIP messages the transport could not send, including UDP answers "
                         "the kernel refused after they were queued");
    rc |= metrics_sample_u64(b, "tcluster_sip_send_failed_total", NULL, st.send_failed);
    if (s->transport != NULL)
        rc |= sip_transport_metrics(s->transport, b);
    return rc ? -ENOMEM : 0;
}
