/* One peer connection: a TCP stream read and written by nng's threads,
 * cut into frames for the loop (tcport/peer_net.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcport/peer/peer_net_int.h"

/* ---- nng's threads ---- */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void arm_rx(struct peer_conn *c)
{
    nng_iov iov = {.iov_buf = c->rx_buf + c->rx_len, .iov_len = c->rx_cap - c->rx_len};

    nng_aio_set_iov(c->rx_aio, 1, &iov);
    nng_stream_recv(c->stream, c->rx_aio);
}

/* Cut whole frames out of the read buffer into events. Returns the fatal
 * event to send after them (TOOBIG, CLOSED on -ENOMEM), or NULL. */
static struct peer_ev *cut_frames(struct peer_conn *c, struct peer_ev **head, struct peer_ev **last,
                                  uint32_t *frames, size_t *bytes)
{
    struct peer_ev *fatal = NULL;
    size_t off = 0;

    while (c->rx_len - off >= PEER_NET_HDR) {
        uint32_t len = be32(c->rx_buf + off);
        struct peer_ev *ev;

        if (len > c->net->o.max_frame) {
            fatal = c->rx_fatal;
            fatal->type = PEER_EV_TOOBIG;
            fatal->len = len;
            break;
        }
        if (c->rx_len - off - PEER_NET_HDR < len)
            break;
        ev = peer_net__ev_new(PEER_EV_FRAME, len);
        if (ev == NULL) {
            fatal = c->rx_fatal;
            fatal->type = PEER_EV_CLOSED;
            fatal->rc = -ENOMEM;
            break;
        }
        ev->conn_id = c->id;
        memcpy(ev->data, c->rx_buf + off + PEER_NET_HDR, len);
        if (*head == NULL)
            *head = ev;
        else
            (*last)->next = ev;
        *last = ev;
        (*frames)++;
        *bytes += len;
        off += PEER_NET_HDR + len;
    }
    memmove(c->rx_buf, c->rx_buf + off, c->rx_len - off);
    c->rx_len -= off;
    return fatal;
}

static void on_rx(void *arg)
{
    struct peer_conn *c = arg;
    struct peer_net *n = c->net;
    struct peer_ev *head = NULL, *last = NULL, *fatal = NULL;
    uint32_t frames = 0;
    size_t bytes = 0;
    int rv = nng_aio_result(c->rx_aio);
    bool go_on;

    if (rv != 0) {
        fatal = c->rx_fatal;
        fatal->type = PEER_EV_CLOSED;
        fatal->rc = peer_nng_errno(rv);
    } else {
        c->rx_len += nng_aio_count(c->rx_aio);
        fatal = cut_frames(c, &head, &last, &frames, &bytes);
    }
    pthread_mutex_lock(&n->mtx);
    c->last_rx_ms = peer_now_ms();
    c->q_frames += frames;
    c->q_bytes += bytes;
    if (fatal == NULL && (c->q_frames > n->o.rx_max_frames || c->q_bytes > n->o.rx_max_bytes)) {
        fatal = c->rx_fatal;
        fatal->type = PEER_EV_FLOOD;
    }
    if (head != NULL)
        peer_net__push_locked(n, head, last);
    if (fatal != NULL)
        peer_net__push_locked(n, fatal, fatal);
    go_on = fatal == NULL && !c->closing;
    pthread_mutex_unlock(&n->mtx);
    if (head != NULL || fatal != NULL)
        uv_async_send(&n->async);
    if (go_on)
        arm_rx(c);
}

static void arm_tx(struct peer_conn *c)
{
    nng_iov iov = {.iov_buf = c->tx_flight.data + c->tx_off,
                   .iov_len = c->tx_flight.len - c->tx_off};

    nng_aio_set_iov(c->tx_aio, 1, &iov);
    nng_stream_send(c->stream, c->tx_aio);
}

static void on_tx(void *arg)
{
    struct peer_conn *c = arg;
    struct peer_ev *ev;
    int rv = nng_aio_result(c->tx_aio);
    bool closing;

    if (rv == 0) {
        c->tx_off += nng_aio_count(c->tx_aio);
        if (c->tx_off < c->tx_flight.len) {
            pthread_mutex_lock(&c->net->mtx);
            closing = c->closing;
            pthread_mutex_unlock(&c->net->mtx);
            if (!closing)
                arm_tx(c);
            return;
        }
        ev = peer_net__ev_new(PEER_EV_SENT, 0);
        if (ev != NULL) {
            ev->conn_id = c->id;
            peer_net__push(c->net, ev);
            return;
        }
        rv = NNG_ENOMEM;
    }
    ev = c->tx_fatal;
    ev->type = PEER_EV_CLOSED;
    ev->rc = peer_nng_errno(rv);
    peer_net__push(c->net, ev);
}

/* ---- the loop ---- */

static void addr_str(nng_stream *s, char *buf, size_t size)
{
    nng_sockaddr sa;
    char ip[INET6_ADDRSTRLEN];

    snprintf(buf, size, "?");
    if (nng_stream_get_addr(s, NNG_OPT_REMADDR, &sa) != 0)
        return;
    if (sa.s_family == NNG_AF_INET) {
        inet_ntop(AF_INET, &sa.s_in.sa_addr, ip, sizeof(ip));
        snprintf(buf, size, "%s:%u", ip, ntohs(sa.s_in.sa_port));
    } else if (sa.s_family == NNG_AF_INET6) {
        inet_ntop(AF_INET6, sa.s_in6.sa_addr, ip, sizeof(ip));
        snprintf(buf, size, "[%s]:%u", ip, ntohs(sa.s_in6.sa_port));
    }
}

void peer_net_stream_host(nng_stream *stream, char *buf, size_t size)
{
    nng_sockaddr sa;

    snprintf(buf, size, "?");
    if (nng_stream_get_addr(stream, NNG_OPT_REMADDR, &sa) != 0)
        return;
    if (sa.s_family == NNG_AF_INET)
        inet_ntop(AF_INET, &sa.s_in.sa_addr, buf, (socklen_t)size);
    else if (sa.s_family == NNG_AF_INET6)
        inet_ntop(AF_INET6, sa.s_in6.sa_addr, buf, (socklen_t)size);
}

static void conn_free(struct peer_conn *c)
{
    if (c->rx_aio != NULL)
        nng_aio_free(c->rx_aio);
    if (c->tx_aio != NULL)
        nng_aio_free(c->tx_aio);
    nng_stream_free(c->stream);
    free(c->rx_fatal);
    free(c->tx_fatal);
    free(c->rx_buf);
    tc_buf_free(&c->tx_out);
    tc_buf_free(&c->tx_flight);
    free(c);
}

struct peer_conn *peer_net_conn(struct peer_net *n, nng_stream *stream)
{
    struct peer_conn *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        nng_stream_close(stream);
        nng_stream_free(stream);
        return NULL;
    }
    c->net = n;
    c->stream = stream;
    c->rx_cap = (size_t)n->o.max_frame + PEER_NET_HDR;
    if (c->rx_cap < PEER_NET_RX_MIN)
        c->rx_cap = PEER_NET_RX_MIN;
    c->rx_buf = malloc(c->rx_cap);
    c->rx_fatal = peer_net__ev_new(PEER_EV_CLOSED, 0);
    c->tx_fatal = peer_net__ev_new(PEER_EV_CLOSED, 0);
    if (c->rx_buf == NULL || c->rx_fatal == NULL || c->tx_fatal == NULL ||
        nng_aio_alloc(&c->rx_aio, on_rx, c) != 0 || nng_aio_alloc(&c->tx_aio, on_tx, c) != 0) {
        nng_stream_close(stream);
        conn_free(c);
        return NULL;
    }
    c->id = n->next_id++;
    c->rx_fatal->prealloc = c->tx_fatal->prealloc = true;
    c->rx_fatal->conn_id = c->tx_fatal->conn_id = c->id;
    c->last_rx_ms = peer_now_ms();
    addr_str(stream, c->remote, sizeof(c->remote));
    nng_stream_set_bool(stream, NNG_OPT_TCP_NODELAY, true);
    c->next = n->conns;
    n->conns = c;
    arm_rx(c);
    return c;
}

static void drop_event(struct peer_conn *c, struct peer_ev *ev)
{
    if (ev == c->rx_fatal)
        c->rx_fatal = NULL;
    else if (ev == c->tx_fatal)
        c->tx_fatal = NULL;
    free(ev);
}

/* Unlink c and drop the events queued for it. The event being handled
 * stays with on_async, which frees it. */
static void conn_forget(struct peer_net *n, struct peer_conn *c)
{
    struct peer_ev **pp;
    struct peer_ev *cur = n->current;

    for (struct peer_conn **p = &n->conns; *p != NULL; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    if (cur != NULL && cur->prealloc && (cur == c->rx_fatal || cur == c->tx_fatal)) {
        cur->prealloc = false;
        if (cur == c->rx_fatal)
            c->rx_fatal = NULL;
        else
            c->tx_fatal = NULL;
    }
    pthread_mutex_lock(&n->mtx);
    pp = &n->head;
    while (*pp != NULL) {
        struct peer_ev *ev = *pp;

        if (ev->type >= PEER_EV_FRAME && ev->conn_id == c->id) {
            *pp = ev->next;
            drop_event(c, ev);
        } else {
            pp = &ev->next;
        }
    }
    n->tail = &n->head;
    while (*n->tail != NULL)
        n->tail = &(*n->tail)->next;
    pthread_mutex_unlock(&n->mtx);
}

void peer_conn_close(struct peer_conn *c)
{
    struct peer_net *n = c->net;

    pthread_mutex_lock(&n->mtx);
    c->closing = true;
    pthread_mutex_unlock(&n->mtx);
    nng_stream_close(c->stream);
    /* After these no callback of c runs any more. */
    nng_aio_stop(c->rx_aio);
    nng_aio_stop(c->tx_aio);
    conn_forget(n, c);
    conn_free(c);
}

struct tc_buf *peer_conn_out(struct peer_conn *c)
{
    return &c->tx_out;
}

void peer_conn_flush(struct peer_conn *c)
{
    struct tc_buf t;

    if (c->tx_busy || c->tx_out.len == 0)
        return;
    t = c->tx_flight;
    c->tx_flight = c->tx_out;
    c->tx_out = t;
    c->tx_off = 0;
    c->tx_busy = true;
    arm_tx(c);
}

size_t peer_conn_backlog(const struct peer_conn *c)
{
    return c->tx_out.len + (c->tx_busy ? c->tx_flight.len : 0);
}

uint64_t peer_conn_last_rx(struct peer_conn *c)
{
    uint64_t t;

    pthread_mutex_lock(&c->net->mtx);
    t = c->last_rx_ms;
    pthread_mutex_unlock(&c->net->mtx);
    return t;
}

const char *peer_conn_remote(const struct peer_conn *c)
{
    return c->remote;
}
