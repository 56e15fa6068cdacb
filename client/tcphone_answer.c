/* A phone answering calls. Over UDP each phone has a second socket, its
 * Contact: unbound to any peer (the registration socket stays connected
 * to its server so that an ICMP error fails it at once), so INVITEs come
 * from any caller. An INVITE gets 180 Ringing at once and 200 OK with an
 * SDP offer after --answer-ms; the ACK is absorbed, a BYE gets 200 and
 * ends the call, a CANCEL before the 200 gets 200 and the INVITE 487.
 * Answers go to the request's source address (RFC 3581). A phone answers
 * TCPHONE_MAX_INCALLS calls at once and says 486 Busy Here to more. The
 * 200 is sent once, not retransmitted until the ACK (loopback does not
 * lose it). Over TCP phones do not answer calls. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/tcphone_int.h"
#include "server/sip/sip_msg.h"

/* An answered call lives at most this long without a BYE. */
#define INCALL_MAX_MS (3600 * 1000)

struct tcphone__incall {
    struct tcphone__incall *next;
    struct tcphone__phone *ph;
    struct sip_msg *inv; /* the INVITE, owned */
    struct sockaddr_in peer;
    uv_timer_t timer;
    int last; /* the last status sent */
};

static void on_answer_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct tcphone__phone *ph = h->data;

    (void)hint;
    buf->base = ph->app->rx;
    buf->len = TCPHONE_MAX_MSG;
}

static void send_reply(struct tcphone__phone *ph, struct sip_msg *req, const struct sockaddr_in *to,
                       int code, const char *reason)
{
    struct tc_buf b = {0};
    uv_buf_t buf;

    if (tcphone__sip_reply(&b, ph, req, code, reason) == 0) {
        buf = uv_buf_init(b.data, (unsigned)b.len);
        /* A full socket buffer loses it; the caller retransmits. */
        uv_udp_try_send(&ph->lis, &buf, 1, (const struct sockaddr *)to);
    }
    tc_buf_free(&b);
}

static struct tcphone__incall *find(struct tcphone__phone *ph, const char *call_id)
{
    for (struct tcphone__incall *c = ph->incall; c != NULL; c = c->next) {
        if (strcmp(c->inv->call_id, call_id) == 0)
            return c;
    }
    return NULL;
}

static void on_incall_closed(uv_handle_t *h)
{
    struct tcphone__incall *c = h->data;

    sip_msg_free(c->inv);
    free(c);
}

/* Unlink c and free it once its timer is closed. */
static void incall_end(struct tcphone__incall *c)
{
    struct tcphone__incall **pp = &c->ph->incall;

    while (*pp != NULL && *pp != c)
        pp = &(*pp)->next;
    if (*pp == c)
        *pp = c->next;
    uv_close((uv_handle_t *)&c->timer, on_incall_closed);
}

static void on_incall_timer(uv_timer_t *t)
{
    struct tcphone__incall *c = t->data;

    if (c->last >= 200) {
        incall_end(c);
        return;
    }
    c->last = 200;
    c->ph->app->st.answered++;
    send_reply(c->ph, c->inv, &c->peer, 200, "OK");
    uv_timer_start(&c->timer, on_incall_timer, INCALL_MAX_MS, 0);
}

static unsigned incalls(const struct tcphone__phone *ph)
{
    unsigned n = 0;

    for (const struct tcphone__incall *c = ph->incall; c != NULL; c = c->next)
        n++;
    return n;
}

/* A new INVITE; takes m on success (returns true). */
static bool on_invite(struct tcphone__phone *ph, struct sip_msg *m, const struct sockaddr_in *from)
{
    struct tcphone__incall *c = find(ph, m->call_id);

    if (c != NULL) {
        /* A retransmission: the same answer again. */
        send_reply(ph, c->inv, from, c->last, c->last == 180 ? "Ringing" : "OK");
        return false;
    }
    if (incalls(ph) >= TCPHONE_MAX_INCALLS || ph->app->stopping ||
        (c = calloc(1, sizeof(*c))) == NULL) {
        ph->app->st.busy++;
        send_reply(ph, m, from, 486, "Busy Here");
        return false;
    }
    c->ph = ph;
    c->inv = m;
    c->peer = *from;
    c->last = 180;
    c->timer.data = c;
    uv_timer_init(ph->app->loop, &c->timer);
    c->next = ph->incall;
    ph->incall = c;
    send_reply(ph, m, from, 180, "Ringing");
    uv_timer_start(&c->timer, on_incall_timer, ph->app->o.answer_ms, 0);
    return true;
}

static void on_cancel(struct tcphone__phone *ph, struct sip_msg *m, const struct sockaddr_in *from)
{
    struct tcphone__incall *c = find(ph, m->call_id);

    if (c == NULL) {
        send_reply(ph, m, from, 481, "Call/Transaction Does Not Exist");
        return;
    }
    send_reply(ph, m, from, 200, "OK");
    if (c->last < 200) {
        send_reply(ph, c->inv, &c->peer, 487, "Request Terminated");
        incall_end(c);
    }
}

static void on_bye(struct tcphone__phone *ph, struct sip_msg *m, const struct sockaddr_in *from)
{
    struct tcphone__incall *c = find(ph, m->call_id);

    if (c == NULL) {
        send_reply(ph, m, from, 481, "Call/Transaction Does Not Exist");
        return;
    }
    send_reply(ph, m, from, 200, "OK");
    incall_end(c);
}

/* One request; returns whether it took m. */
static bool on_request(struct tcphone__phone *ph, struct sip_msg *m, const struct sockaddr_in *from)
{
    switch (m->method_id) {
    case SIP_METHOD_INVITE:
        return on_invite(ph, m, from);
    case SIP_METHOD_ACK:
        break;
    case SIP_METHOD_CANCEL:
        on_cancel(ph, m, from);
        break;
    case SIP_METHOD_BYE:
        on_bye(ph, m, from);
        break;
    case SIP_METHOD_OPTIONS:
        send_reply(ph, m, from, 200, "OK");
        break;
    default:
        send_reply(ph, m, from, 405, "Method Not Allowed");
        break;
    }
    return false;
}

static void on_answer_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *addr,
                           unsigned flags)
{
    const struct sip_msg_conf conf = SIP_MSG_CONF_DEFAULT;
    struct tcphone__phone *ph = h->data;
    struct sip_msg_err err;
    struct sip_msg *m;

    if (n <= 0 || addr == NULL || addr->sa_family != AF_INET || (flags & UV_UDP_PARTIAL) != 0)
        return;
    buf->base[n] = '\0';
    if (sip_msg_parse(buf->base, (size_t)n, &conf, &m, &err) != 0)
        return;
    if (!m->is_request || !on_request(ph, m, (const struct sockaddr_in *)addr))
        sip_msg_free(m);
}

int tcphone__answer_open(struct tcphone__phone *ph)
{
    struct sockaddr_in any, sa;
    int len = sizeof(sa), rc;

    if (ph->lis_open)
        return 0;
    rc = uv_udp_init(ph->app->loop, &ph->lis);
    if (rc != 0)
        return rc;
    ph->lis_open = true;
    ph->lis.data = ph;
    uv_ip4_addr("127.0.0.1", 0, &any);
    rc = uv_udp_bind(&ph->lis, (const struct sockaddr *)&any, 0);
    if (rc == 0)
        rc = uv_udp_getsockname(&ph->lis, (struct sockaddr *)&sa, &len);
    if (rc == 0)
        rc = uv_udp_recv_start(&ph->lis, on_answer_alloc, on_answer_recv);
    if (rc != 0) {
        uv_close((uv_handle_t *)&ph->lis, NULL);
        ph->lis_open = false;
        return rc;
    }
    ph->lis_port = ntohs(sa.sin_port);
    return 0;
}

void tcphone__answer_close(struct tcphone__phone *ph)
{
    while (ph->incall != NULL)
        incall_end(ph->incall);
    if (ph->lis_open && !uv_is_closing((uv_handle_t *)&ph->lis))
        uv_close((uv_handle_t *)&ph->lis, NULL);
}
