/* A phone placing calls, one at a time, every --call-interval (spread at
 * random over half to one and a half of it), registered or not (a phone
 * whose servers are all down still reaches the last resort). The INVITE goes to the phone's working
 * server, then the next ones in the phone's order on a 503, an ICMP error or no answer within 64×T1
 * (one try per server); when every server failed, to --last-resort if
 * set. A 302 is followed to its first Contact as a new INVITE (same
 * Call-ID, next CSeq, that URI as Request-URI, tc-fwd included) up to
 * TCPHONE_MAX_HOPS times; failures after a redirect end the call. The
 * callee's 200 is ACKed, the call talks --call-ms, then a BYE ends it.
 * A 401 or 407 is ACKed and the INVITE sent once more to the same target
 * with credentials (with --password); a second challenge or a 403 to the
 * credentials is an auth failure.
 *
 * Each call has its own UDP socket, connected to the current target so
 * that an ICMP error comes back (UDP only). Its handles are closed at the
 * end; struct tcphone__call is freed when both are closed. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/tcphone_int.h"
#include "server/sip/sip_msg.h"
#include "server/sip/sip_uri.h"

enum call_state {
    CALL_WAIT = 0, /* until the next call */
    CALL_INVITING, /* INVITE sent, nothing heard */
    CALL_RINGING,  /* a 1xx heard */
    CALL_TALKING,  /* 200 ACKed, BYE after call-ms */
    CALL_BYE,      /* BYE sent */
    CALL_STOPPED,
};

struct tcphone__call {
    struct tcphone__phone *ph;
    enum call_state st;
    uv_udp_t udp;
    uv_timer_t timer;
    bool udp_open;
    unsigned closing; /* handles whose close callback is pending */
    struct sockaddr_in dst;
    int srv;        /* position in the phone's order; -1 past a redirect */
    unsigned tried; /* servers tried for this call */
    unsigned hops;  /* 302s followed */
    unsigned n;     /* calls placed, for the Call-ID */
    uint32_t cseq;
    uint64_t t_start; /* of the current transaction */
    unsigned rto;
    char callee[TCPHONE_DN_MAX];
    char ruri[TCPHONE_URI_MAX];
    char to[TCPHONE_URI_MAX + 64]; /* To header with the callee's tag */
    char call_id[96];
    struct tcphone__auth *auth; /* the target's challenge being answered, or NULL */
    unsigned challenges;        /* answered at this target */
    struct tc_buf req;
};

static const char *const fail_names[TCPHONE_CALL_FAIL_COUNT] = {
        "404", "480", "486", "5xx", "other", "timeout", "icmp", "redirect",
};

const char *tcphone__call_fail_name(enum tcphone_call_fail f)
{
    return fail_names[f];
}

static void on_call_timer(uv_timer_t *t);
static void send_invite(struct tcphone__call *c);

/* A new target: no credentials until it challenges. */
static void auth_forget(struct tcphone__call *c)
{
    tcphone__auth_free(c->auth);
    c->auth = NULL;
    c->challenges = 0;
}

static bool picked(const struct tcphone *app, unsigned idx)
{
    double f = app->o.calls;

    return (unsigned)((idx + 1) * f) > (unsigned)(idx * f);
}

static void schedule(struct tcphone__call *c)
{
    unsigned iv = c->ph->app->o.call_interval;
    uint64_t delay = iv / 2 + (uint64_t)iv * (unsigned)(rand() % 1000) / 1000;

    c->st = CALL_WAIT;
    uv_timer_start(&c->timer, on_call_timer, delay > 0 ? delay : 1, 0);
}

static void end_call(struct tcphone__call *c)
{
    struct tcphone *app = c->ph->app;

    if (app->st.calls_active > 0)
        app->st.calls_active--;
    if (c->udp_open)
        uv_udp_connect(&c->udp, NULL);
    if (app->stopping) {
        c->st = CALL_STOPPED;
        uv_timer_stop(&c->timer);
        return;
    }
    schedule(c);
}

static void fail(struct tcphone__call *c, enum tcphone_call_fail why)
{
    struct tcphone *app = c->ph->app;

    app->st.calls_failed++;
    app->st.call_fail[why]++;
    end_call(c);
}

static void pick_callee(struct tcphone__call *c)
{
    const struct tcphone_opts *o = &c->ph->app->o;
    unsigned long first = o->call_to_first, last = o->call_to_last, dn;

    if (last == 0) {
        first = o->dn_first;
        last = o->dn_last;
    }
    do {
        dn = first + (unsigned long)rand() % (last - first + 1);
    } while (last > first && dn == o->dn_first + c->ph->idx);
    snprintf(c->callee, sizeof(c->callee), "%lu", dn);
}

/* Aim at addr with Request-URI sip:CALLEE@addr. */
static void aim(struct tcphone__call *c, const struct sockaddr_in *addr)
{
    char host[INET_ADDRSTRLEN];

    c->dst = *addr;
    inet_ntop(AF_INET, &addr->sin_addr, host, sizeof(host));
    snprintf(c->ruri, sizeof(c->ruri), "sip:%s@%s:%u", c->callee, host, ntohs(addr->sin_port));
}

static void begin(struct tcphone__call *c)
{
    struct tcphone__phone *ph = c->ph;
    struct tcphone *app = ph->app;
    const struct tcphone__leg *m = tcphone__phone_main(ph);

    if (app->stopping) {
        schedule(c);
        return;
    }
    c->n++;
    snprintf(c->call_id, sizeof(c->call_id), "%s-%u-c%u@tcphone", app->nonce, ph->idx, c->n);
    pick_callee(c);
    c->srv = m->srv >= 0 ? m->srv : 0;
    c->tried = 0;
    c->hops = 0;
    c->cseq = 0;
    auth_forget(c);
    app->st.calls_attempted++;
    app->st.calls_active++;
    aim(c, tcphone__srv_addr(ph, c->srv));
    send_invite(c);
}

/* Build a request of c into c->req. ACK of a non-2xx reuses the INVITE's
 * branch (RFC 3261 §17.1.1.3); every other request gets its own. */
static int build(struct tcphone__call *c, const char *method, bool same_branch)
{
    struct tcphone__phone *ph = c->ph;
    bool invite = strcmp(method, "INVITE") == 0;
    char sdp[256], port[8];
    int sdp_len = invite ? tcphone__sip_sdp(ph, sdp, sizeof(sdp)) : 0;
    const char *pw = ph->app->o.password;
    int rc;

    snprintf(port, sizeof(port), "%u", ph->lis_port);
    tc_buf_reset(&c->req);
    rc = tc_buf_printf(&c->req,
                       "%s %s SIP/2.0\r\n"
                       "Via: SIP/2.0/UDP 127.0.0.1:%s;branch=z9hG4bK-%s-%u-c%u-%u%s;rport\r\n"
                       "Max-Forwards: 70\r\n"
                       "From: <sip:%s@127.0.0.1>;tag=%s-%u-c%u\r\n"
                       "To: %s\r\n"
                       "Call-ID: %s\r\n"
                       "CSeq: %u %s\r\n"
                       "Contact: <sip:%s@127.0.0.1:%s>\r\n"
                       "User-Agent: tcphone/%s\r\n",
                       method, c->ruri, port, ph->app->nonce, ph->idx, c->n, c->cseq,
                       same_branch ? "" : method, ph->dn, ph->app->nonce, ph->idx, c->n, c->to,
                       c->call_id, c->cseq, method, ph->dn, port, TC_VERSION);
    if (rc == 0 && invite && c->auth != NULL && pw != NULL)
        rc = tcphone__auth_header(c->auth, ph->dn, pw, method, c->ruri, &c->req);
    if (rc == 0)
        rc = tc_buf_printf(&c->req, "%sContent-Length: %d\r\n\r\n%s",
                           invite ? "Content-Type: application/sdp\r\n" : "", sdp_len,
                           invite ? sdp : "");
    if (rc != 0)
        return rc;
    return c->req.len > TCPHONE_MAX_MSG ? -EMSGSIZE : 0;
}

static int transmit(struct tcphone__call *c)
{
    uv_buf_t buf = uv_buf_init(c->req.data, (unsigned)c->req.len);
    int rc = uv_udp_try_send(&c->udp, &buf, 1, NULL);

    return rc == UV_ECONNREFUSED ? rc : 0;
}

/* The current target did not answer or refused: the next server, the
 * last resort, or the end. */
static void target_failed(struct tcphone__call *c, enum tcphone_call_fail why)
{
    struct tcphone *app = c->ph->app;

    auth_forget(c);
    if (c->srv >= 0 && ++c->tried < app->o.n_servers) {
        c->srv = (c->srv + 1) % (int)app->o.n_servers;
        aim(c, tcphone__srv_addr(c->ph, c->srv));
        send_invite(c);
        return;
    }
    if (c->srv >= 0 && app->o.last_resort.sin_port != 0) {
        c->srv = -1;
        app->st.last_resort++;
        aim(c, &app->o.last_resort);
        send_invite(c);
        return;
    }
    fail(c, why);
}

static void send_invite(struct tcphone__call *c)
{
    struct tcphone *app = c->ph->app;

    c->cseq++;
    snprintf(c->to, sizeof(c->to), "<sip:%s@127.0.0.1>", c->callee);
    uv_udp_connect(&c->udp, NULL);
    if (uv_udp_connect(&c->udp, (const struct sockaddr *)&c->dst) != 0 ||
        build(c, "INVITE", false) != 0 || transmit(c) != 0) {
        target_failed(c, TCPHONE_CALL_ICMP);
        return;
    }
    c->st = CALL_INVITING;
    c->t_start = uv_now(app->loop);
    c->rto = app->o.t1_ms;
    uv_timer_start(&c->timer, on_call_timer, c->rto, 0);
}

/* Send an in-dialog request (ACK, BYE) or the ACK of a non-2xx. */
static void send_simple(struct tcphone__call *c, const char *method, bool same_branch)
{
    if (build(c, method, same_branch) == 0)
        transmit(c);
}

static void send_bye(struct tcphone__call *c)
{
    struct tcphone *app = c->ph->app;

    c->cseq++;
    c->st = CALL_BYE;
    c->t_start = uv_now(app->loop);
    c->rto = app->o.t1_ms;
    send_simple(c, "BYE", false);
    uv_timer_start(&c->timer, on_call_timer, c->rto, 0);
}

/* Timer A/B (INVITE, no T2 cap) or E/F (BYE, capped at T2). */
static void retransmit(struct tcphone__call *c)
{
    struct tcphone *app = c->ph->app;
    uint64_t elapsed = uv_now(app->loop) - c->t_start, limit = 64 * (uint64_t)app->o.t1_ms;

    if (elapsed >= limit) {
        if (c->st == CALL_BYE)
            end_call(c);
        else
            target_failed(c, TCPHONE_CALL_TIMEOUT);
        return;
    }
    if (transmit(c) != 0) {
        target_failed(c, TCPHONE_CALL_ICMP);
        return;
    }
    c->rto *= 2;
    if (c->st == CALL_BYE && c->rto > TCPHONE_T2_MS)
        c->rto = TCPHONE_T2_MS;
    uv_timer_start(&c->timer, on_call_timer, c->rto < limit - elapsed ? c->rto : limit - elapsed,
                   0);
}

static void on_call_timer(uv_timer_t *t)
{
    struct tcphone__call *c = t->data;

    switch (c->st) {
    case CALL_WAIT:
        begin(c);
        break;
    case CALL_INVITING:
    case CALL_BYE:
        retransmit(c);
        break;
    case CALL_RINGING:
        target_failed(c, TCPHONE_CALL_TIMEOUT);
        break;
    case CALL_TALKING:
        send_bye(c);
        break;
    case CALL_STOPPED:
        break;
    }
}

/* Keep the answer's To (with the callee's tag) for the ACK and BYE. */
static void keep_to(struct tcphone__call *c, struct sip_msg *m)
{
    size_t len;
    const char *v = sip_msg_header(m, "To", 0, &len);

    if (v != NULL && len < sizeof(c->to))
        snprintf(c->to, sizeof(c->to), "%.*s", (int)len, v);
}

/* The first Contact of m as target: c->ruri and c->dst. */
static int contact_target(struct tcphone__call *c, struct sip_msg *m)
{
    const struct sip_contacts *cs;
    struct sip_uri_parts u;
    char host[INET_ADDRSTRLEN];
    size_t len;

    if (sip_msg_contacts(m, &cs) != 0 || cs->n == 0)
        return -EPROTO;
    len = strlen(cs->v[0].uri);
    if (len >= sizeof(c->ruri) || sip_uri_parse((struct sip_span){cs->v[0].uri, len}, &u) != 0 ||
        u.kind != SIP_URI_SIP || u.host.len >= sizeof(host))
        return -EPROTO;
    memcpy(host, u.host.p, u.host.len);
    host[u.host.len] = '\0';
    if (uv_ip4_addr(host, u.port != 0 ? u.port : 5060, &c->dst) != 0)
        return -EPROTO;
    memcpy(c->ruri, cs->v[0].uri, len + 1);
    return 0;
}

static void on_redirect(struct tcphone__call *c, struct sip_msg *m)
{
    if (++c->hops > TCPHONE_MAX_HOPS || contact_target(c, m) != 0) {
        fail(c, TCPHONE_CALL_REDIRECT);
        return;
    }
    c->ph->app->st.redirects++;
    c->srv = -1;
    auth_forget(c);
    send_invite(c);
}

static void on_answered(struct tcphone__call *c, struct sip_msg *m)
{
    struct tcphone *app = c->ph->app;
    struct sockaddr_in keep = c->dst;

    app->st.calls_completed++;
    /* ACK and BYE go where the INVITE went (the callee's Contact is that
     * address), with the Contact URI as Request-URI when there is one. */
    (void)contact_target(c, m); /* none usable: the INVITE's Request-URI */
    c->dst = keep;
    keep_to(c, m);
    send_simple(c, "ACK", false);
    c->st = CALL_TALKING;
    uv_timer_start(&c->timer, on_call_timer, app->o.call_ms, 0);
}

static enum tcphone_call_fail fail_of(int status)
{
    switch (status) {
    case 404:
        return TCPHONE_CALL_404;
    case 480:
        return TCPHONE_CALL_480;
    case 486:
        return TCPHONE_CALL_486;
    default:
        return status >= 500 && status < 600 ? TCPHONE_CALL_5XX : TCPHONE_CALL_OTHER;
    }
}

static void auth_failed(struct tcphone__call *c)
{
    c->ph->app->st.auth_failed++;
    auth_forget(c);
    fail(c, TCPHONE_CALL_OTHER);
}

/* The INVITE once more, to the same target, with credentials; unless
 * there is no password, no usable challenge, or it had them already. */
static void on_challenge(struct tcphone__call *c, struct sip_msg *m)
{
    struct tcphone *app = c->ph->app;
    bool stale = false, had = c->auth != NULL;

    if (app->o.password == NULL || tcphone__auth_challenge(&c->auth, m, &stale) != 0 ||
        (had && !stale) || ++c->challenges > TCPHONE_MAX_CHALLENGES) {
        auth_failed(c);
        return;
    }
    app->st.challenges++;
    send_invite(c);
}

static void on_invite_answer(struct tcphone__call *c, struct sip_msg *m)
{
    struct tcphone *app = c->ph->app;

    if (m->status < 200) {
        c->st = CALL_RINGING;
        uv_timer_start(&c->timer, on_call_timer, 64 * (uint64_t)app->o.t1_ms, 0);
        return;
    }
    uv_timer_stop(&c->timer);
    if (m->status < 300) {
        on_answered(c, m);
        return;
    }
    keep_to(c, m);
    send_simple(c, "ACK", true);
    if (m->status == 401 || m->status == 407)
        on_challenge(c, m);
    else if (m->status == 403 && c->auth != NULL)
        auth_failed(c);
    else if (m->status == 302)
        on_redirect(c, m);
    else if (m->status == 503)
        target_failed(c, TCPHONE_CALL_5XX);
    else
        fail(c, fail_of(m->status));
}

static void on_response(struct tcphone__call *c, struct sip_msg *m)
{
    bool invite = strcmp(m->cseq_method, "INVITE") == 0;

    if (m->is_request || strcmp(m->call_id, c->call_id) != 0 || m->cseq != c->cseq)
        return;
    if (invite && (c->st == CALL_INVITING || c->st == CALL_RINGING)) {
        on_invite_answer(c, m);
    } else if (!invite && c->st == CALL_BYE && m->status >= 200) {
        uv_timer_stop(&c->timer);
        end_call(c);
    }
}

static void on_call_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct tcphone__call *c = h->data;

    (void)hint;
    buf->base = c->ph->app->rx;
    buf->len = TCPHONE_MAX_MSG;
}

static void on_call_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *addr,
                         unsigned flags)
{
    const struct sip_msg_conf conf = SIP_MSG_CONF_DEFAULT;
    struct tcphone__call *c = h->data;
    struct sip_msg_err err;
    struct sip_msg *m;

    (void)addr;
    if (n == UV_ECONNREFUSED && (c->st == CALL_INVITING || c->st == CALL_RINGING)) {
        uv_timer_stop(&c->timer);
        target_failed(c, TCPHONE_CALL_ICMP);
        return;
    }
    if (n <= 0 || (flags & UV_UDP_PARTIAL) != 0)
        return;
    buf->base[n] = '\0';
    if (sip_msg_parse(buf->base, (size_t)n, &conf, &m, &err) != 0)
        return;
    on_response(c, m);
    sip_msg_free(m);
}

static int open_socket(struct tcphone__call *c)
{
    struct sockaddr_in any;
    int rc;

    rc = uv_udp_init(c->ph->app->loop, &c->udp);
    if (rc != 0)
        return rc;
    c->udp_open = true;
    c->udp.data = c;
    uv_ip4_addr("127.0.0.1", 0, &any);
    rc = uv_udp_bind(&c->udp, (const struct sockaddr *)&any, 0);
    if (rc == 0)
        rc = uv_udp_recv_start(&c->udp, on_call_alloc, on_call_recv);
    return rc;
}

int tcphone__call_init(struct tcphone__phone *ph)
{
    struct tcphone__call *c;
    int rc;

    if (ph->app->o.calls <= 0 || !picked(ph->app, ph->idx) || ph->call != NULL)
        return 0;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    c->ph = ph;
    ph->call = c;
    uv_timer_init(ph->app->loop, &c->timer);
    c->timer.data = c;
    rc = open_socket(c);
    if (rc != 0) {
        c->st = CALL_STOPPED;
        return rc;
    }
    schedule(c);
    return 0;
}

void tcphone__call_stop(struct tcphone__phone *ph)
{
    if (ph->call == NULL)
        return;
    uv_timer_stop(&ph->call->timer);
    ph->call->st = CALL_STOPPED;
}

static void on_call_closed(uv_handle_t *h)
{
    struct tcphone__call *c = h->data;

    if (--c->closing == 0) {
        tc_buf_free(&c->req);
        tcphone__auth_free(c->auth);
        free(c);
    }
}

void tcphone__call_close(struct tcphone__phone *ph)
{
    struct tcphone__call *c = ph->call;

    if (c == NULL)
        return;
    ph->call = NULL;
    c->closing = c->udp_open ? 2 : 1;
    uv_close((uv_handle_t *)&c->timer, on_call_closed);
    if (c->udp_open)
        uv_close((uv_handle_t *)&c->udp, on_call_closed);
}
