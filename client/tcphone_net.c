/* A leg's transport. UDP: one socket per leg on its own loopback port,
 * connected to the leg's server so that an ICMP port unreachable comes
 * back as ECONNREFUSED (fail at once). TCP: one connection per leg, opened
 * when a request is sent; a connect, send or read failure fails the leg.
 * A TCP connection's memory is freed in its close callback only. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/tcphone_int.h"

struct tcphone__conn {
    uv_tcp_t h;
    uv_connect_t creq;
    struct tcphone__leg *leg; /* NULL once detached */
    bool connected;
    bool want_send; /* send leg->req once connected */
    struct tc_buf rx;
    struct sip_frame_state fs;
};

struct wreq {
    uv_write_t w;
    char data[];
};

static const struct sockaddr *server_addr(const struct tcphone__leg *leg)
{
    return (const struct sockaddr *)tcphone__srv_addr(leg->ph, leg->srv);
}

static void on_udp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct tcphone__leg *leg = h->data;

    (void)hint;
    buf->base = leg->ph->app->rx;
    buf->len = TCPHONE_MAX_MSG;
}

static void on_udp_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *addr,
                        unsigned flags)
{
    struct tcphone__leg *leg = h->data;

    (void)addr;
    if (n == UV_ECONNREFUSED && leg->st == TCPHONE_LEG_TRYING) {
        tcphone__leg_on_fail(leg, TCPHONE_FAIL_ICMP);
        return;
    }
    if (n <= 0 || (flags & UV_UDP_PARTIAL) != 0)
        return;
    buf->base[n] = '\0';
    tcphone__leg_on_data(leg, buf->base, (size_t)n);
}

static int local_port(const uv_handle_t *h, bool udp, uint16_t *port)
{
    struct sockaddr_in sa;
    int len = sizeof(sa);
    int rc = udp ? uv_udp_getsockname((const uv_udp_t *)h, (struct sockaddr *)&sa, &len)
                 : uv_tcp_getsockname((const uv_tcp_t *)h, (struct sockaddr *)&sa, &len);

    if (rc == 0)
        *port = ntohs(sa.sin_port);
    return rc;
}

static int udp_prepare(struct tcphone__leg *leg)
{
    struct tcphone *app = leg->ph->app;
    struct sockaddr_in any;
    int rc;

    if (!leg->udp_open) {
        rc = uv_udp_init(app->loop, &leg->udp);
        if (rc != 0)
            return rc;
        leg->udp_open = true;
        leg->udp.data = leg;
        uv_ip4_addr("127.0.0.1", 0, &any);
        rc = uv_udp_bind(&leg->udp, (const struct sockaddr *)&any, 0);
        if (rc == 0)
            rc = local_port((uv_handle_t *)&leg->udp, true, &leg->port);
        if (rc == 0)
            rc = uv_udp_recv_start(&leg->udp, on_udp_alloc, on_udp_recv);
        if (rc != 0)
            return rc;
    }
    if (!leg->udp_connected) {
        rc = uv_udp_connect(&leg->udp, server_addr(leg));
        if (rc != 0)
            return rc;
        leg->udp_connected = true;
    }
    return 0;
}

static void on_conn_closed(uv_handle_t *h)
{
    struct tcphone__conn *c = h->data;

    tc_buf_free(&c->rx);
    free(c);
}

static void conn_detach(struct tcphone__conn *c)
{
    if (c->leg != NULL && c->leg->tcp == c)
        c->leg->tcp = NULL;
    c->leg = NULL;
    if (!uv_is_closing((uv_handle_t *)&c->h))
        uv_close((uv_handle_t *)&c->h, on_conn_closed);
}

/* The connection failed or closed under the leg. */
static void conn_failed(struct tcphone__conn *c)
{
    struct tcphone__leg *leg = c->leg;

    conn_detach(c);
    if (leg != NULL && (leg->st == TCPHONE_LEG_TRYING || leg->st == TCPHONE_LEG_REGISTERED))
        tcphone__leg_on_fail(leg, TCPHONE_FAIL_TCP);
}

static void on_written(uv_write_t *w, int status)
{
    struct tcphone__conn *c = w->handle->data;

    free(w);
    if (status != 0 && status != UV_ECANCELED)
        conn_failed(c);
}

static int tcp_write(struct tcphone__conn *c, const struct tc_buf *b)
{
    struct wreq *w = malloc(sizeof(*w) + b->len);
    uv_buf_t buf;
    int rc;

    if (w == NULL)
        return -ENOMEM;
    memcpy(w->data, b->data, b->len);
    buf = uv_buf_init(w->data, (unsigned)b->len);
    rc = uv_write(&w->w, (uv_stream_t *)&c->h, &buf, 1, on_written);
    if (rc != 0)
        free(w);
    return rc;
}

static void on_tcp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct tcphone__conn *c = h->data;

    (void)hint;
    if (tc_buf_reserve(&c->rx, TCPHONE_MAX_MSG) != 0) {
        buf->base = NULL;
        buf->len = 0;
        return;
    }
    buf->base = c->rx.data + c->rx.len;
    buf->len = c->rx.cap - c->rx.len - 1;
}

/* Hand every complete message in c->rx to the leg. */
static void tcp_frames(struct tcphone__conn *c)
{
    size_t len;

    while (c->leg != NULL && c->rx.len > 0) {
        enum sip_frame f = sip_frame_scan(c->rx.data, c->rx.len, TCPHONE_MAX_MSG, &c->fs, &len);

        if (f == SIP_FRAME_MORE)
            return;
        memset(&c->fs, 0, sizeof(c->fs));
        if (f == SIP_FRAME_TOO_LARGE || f == SIP_FRAME_BAD_FRAMING) {
            conn_failed(c);
            return;
        }
        if (f == SIP_FRAME_MESSAGE)
            tcphone__leg_on_data(c->leg, c->rx.data, len);
        tc_buf_consume(&c->rx, len);
    }
}

static void on_tcp_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct tcphone__conn *c = s->data;

    (void)buf;
    if (n < 0 || c->rx.len + (size_t)n > TCPHONE_MAX_RX) {
        conn_failed(c);
        return;
    }
    c->rx.len += (size_t)n;
    c->rx.data[c->rx.len] = '\0';
    tcp_frames(c);
}

static void on_connected(uv_connect_t *req, int status)
{
    struct tcphone__conn *c = req->handle->data;

    if (c->leg == NULL)
        return;
    if (status != 0 || uv_read_start((uv_stream_t *)&c->h, on_tcp_alloc, on_tcp_read) != 0) {
        conn_failed(c);
        return;
    }
    c->connected = true;
    if (c->want_send) {
        c->want_send = false;
        if (tcp_write(c, &c->leg->req) != 0)
            conn_failed(c);
    }
}

static int tcp_prepare(struct tcphone__leg *leg)
{
    struct tcphone__conn *c;
    struct sockaddr_in any;
    int rc;

    if (leg->tcp != NULL)
        return 0;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    rc = uv_tcp_init(leg->ph->app->loop, &c->h);
    if (rc != 0) {
        free(c);
        return rc;
    }
    c->h.data = c;
    c->leg = leg;
    leg->tcp = c;
    uv_ip4_addr("127.0.0.1", 0, &any);
    rc = uv_tcp_bind(&c->h, (const struct sockaddr *)&any, 0);
    if (rc == 0)
        rc = local_port((uv_handle_t *)&c->h, false, &leg->port);
    if (rc == 0)
        rc = uv_tcp_connect(&c->creq, &c->h, server_addr(leg), on_connected);
    if (rc != 0)
        conn_detach(c);
    return rc;
}

int tcphone__net_prepare(struct tcphone__leg *leg)
{
    if (leg->srv < 0)
        return -EINVAL;
    return leg->ph->app->o.tcp ? tcp_prepare(leg) : udp_prepare(leg);
}

int tcphone__net_send(struct tcphone__leg *leg)
{
    uv_buf_t buf = uv_buf_init(leg->req.data, (unsigned)leg->req.len);
    int rc;

    if (!leg->ph->app->o.tcp) {
        rc = uv_udp_try_send(&leg->udp, &buf, 1, NULL);
        /* A full socket buffer loses the datagram; the retransmission
         * covers it, as it covers a loss on the wire. */
        return rc == UV_ECONNREFUSED ? rc : 0;
    }
    if (leg->tcp == NULL)
        return -ENOTCONN;
    if (!leg->tcp->connected) {
        leg->tcp->want_send = true;
        return 0;
    }
    return tcp_write(leg->tcp, &leg->req);
}

void tcphone__net_reset(struct tcphone__leg *leg)
{
    if (leg->udp_connected) {
        uv_udp_connect(&leg->udp, NULL);
        leg->udp_connected = false;
    }
    if (leg->tcp != NULL)
        conn_detach(leg->tcp);
}

void tcphone__net_close(struct tcphone__leg *leg)
{
    if (leg->tcp != NULL)
        conn_detach(leg->tcp);
    if (leg->udp_open && !uv_is_closing((uv_handle_t *)&leg->udp))
        uv_close((uv_handle_t *)&leg->udp, NULL);
}
