#include "tcport/peer/peer_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/config/config.h"
#include "tcport/peer/peer_net_int.h"

uint64_t peer_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int peer_nng_errno(int rv)
{
    switch (rv) {
    case 0:
        return 0;
    case NNG_ENOMEM:
        return -ENOMEM;
    case NNG_EINVAL:
    case NNG_EADDRINVAL:
        return -EINVAL;
    case NNG_EADDRINUSE:
        return -EADDRINUSE;
    case NNG_EPERM:
        return -EACCES;
    case NNG_ECONNREFUSED:
        return -ECONNREFUSED;
    case NNG_ECONNRESET:
        return -ECONNRESET;
    case NNG_ECONNSHUT:
        return -EPIPE;
    case NNG_ETIMEDOUT:
        return -ETIMEDOUT;
    case NNG_EUNREACHABLE:
        return -EHOSTUNREACH;
    case NNG_ECLOSED:
        return -ESHUTDOWN;
    default:
        return -EIO;
    }
}

struct peer_ev *peer_net__ev_new(enum peer_ev_type type, size_t len)
{
    struct peer_ev *ev = calloc(1, sizeof(*ev) + len);

    if (ev != NULL) {
        ev->type = type;
        ev->len = len;
    }
    return ev;
}

/* Append the list first..last to the queue and wake the loop. Any thread. */
void peer_net__push_locked(struct peer_net *n, struct peer_ev *first, struct peer_ev *last)
{
    last->next = NULL;
    *n->tail = first;
    n->tail = &last->next;
}

void peer_net__push(struct peer_net *n, struct peer_ev *ev)
{
    pthread_mutex_lock(&n->mtx);
    peer_net__push_locked(n, ev, ev);
    pthread_mutex_unlock(&n->mtx);
    uv_async_send(&n->async);
}

/* ---- nng's threads ---- */

static void on_accept(void *arg)
{
    struct peer_net *n = arg;
    struct peer_ev *ev = n->accept_ev;

    ev->rc = peer_nng_errno(nng_aio_result(n->accept_aio));
    ev->type = ev->rc == 0 ? PEER_EV_ACCEPTED : PEER_EV_ACCEPT_ERR;
    ev->stream = ev->rc == 0 ? nng_aio_get_output(n->accept_aio, 0) : NULL;
    peer_net__push(n, ev);
}

static void on_dial(void *arg)
{
    struct peer_dialer *d = arg;
    struct peer_ev *ev = d->ev;

    ev->rc = peer_nng_errno(nng_aio_result(d->aio));
    ev->stream = ev->rc == 0 ? nng_aio_get_output(d->aio, 0) : NULL;
    peer_net__push(d->net, ev);
}

/* ---- the loop ---- */

struct peer_conn *peer_net__find_conn(struct peer_net *n, uint64_t id)
{
    for (struct peer_conn *c = n->conns; c != NULL; c = c->next) {
        if (c->id == id)
            return c;
    }
    return NULL;
}

static void ev_release(struct peer_ev *ev)
{
    if (ev->stream != NULL && (ev->type == PEER_EV_ACCEPTED || ev->type == PEER_EV_DIALED)) {
        nng_stream_close(ev->stream);
        nng_stream_free(ev->stream);
    }
    ev->stream = NULL;
    if (!ev->prealloc)
        free(ev);
}

/* What the net does itself before the handler sees an event: a write
 * done frees the buffer and starts the next one; a dial done frees its
 * dialer for the next try. */
static void before_handler(struct peer_net *n, struct peer_ev *ev, struct peer_conn *c)
{
    if (ev->type == PEER_EV_DIALED) {
        n->dialers[ev->tag].busy = false;
    } else if (ev->type == PEER_EV_SENT && c != NULL) {
        c->tx_busy = false;
        if (c->tx_flight.cap > PEER_NET_TX_KEEP)
            tc_buf_free(&c->tx_flight);
        tc_buf_reset(&c->tx_flight);
        peer_conn_flush(c);
    }
}

/* A frame handed over no longer counts against its connection's bound. */
static void after_handler(struct peer_net *n, struct peer_ev *ev)
{
    struct peer_conn *c;

    if (ev->type != PEER_EV_FRAME)
        return;
    c = peer_net__find_conn(n, ev->conn_id); /* the handler may have closed it */
    if (c == NULL)
        return;
    pthread_mutex_lock(&n->mtx);
    c->q_frames--;
    c->q_bytes -= ev->len;
    pthread_mutex_unlock(&n->mtx);
}

static struct peer_ev *pop(struct peer_net *n)
{
    struct peer_ev *ev;

    pthread_mutex_lock(&n->mtx);
    ev = n->head;
    if (ev != NULL) {
        n->head = ev->next;
        if (n->head == NULL)
            n->tail = &n->head;
    }
    pthread_mutex_unlock(&n->mtx);
    return ev;
}

static void push_front(struct peer_net *n, struct peer_ev *ev)
{
    pthread_mutex_lock(&n->mtx);
    ev->next = n->head;
    if (n->head == NULL)
        n->tail = &ev->next;
    n->head = ev;
    pthread_mutex_unlock(&n->mtx);
}

/* Events are handled in turns of at most PEER_NET_DRAIN_BATCH events or
 * PEER_NET_TURN_MS: a peer whose frames keep arriving while the loop works
 * on them (a snapshot, acknowledged chunk by chunk) must not hold the loop
 * for the whole snapshot. */
static void on_async(uv_async_t *h)
{
    struct peer_net *n = h->data;
    uint64_t start = peer_now_ms();

    for (int i = 0; i < PEER_NET_DRAIN_BATCH && peer_now_ms() - start < PEER_NET_TURN_MS; i++) {
        struct peer_ev *ev = pop(n);
        struct peer_conn *c = NULL;
        enum peer_ev_type type;
        int rc;

        if (ev == NULL)
            return;
        if (ev->type >= PEER_EV_FRAME)
            c = peer_net__find_conn(n, ev->conn_id);
        if (ev->type != PEER_EV_FRAME)
            before_handler(n, ev, c);
        n->current = ev;
        rc = n->o.handler(n->o.arg, ev, c);
        n->current = NULL;
        /* Only frames may be refused (-EAGAIN): they wait at the head. */
        if (rc == -EAGAIN && ev->type == PEER_EV_FRAME &&
            peer_net__find_conn(n, ev->conn_id) == c) {
            push_front(n, ev);
            return;
        }
        type = ev->type;
        after_handler(n, ev);
        ev_release(ev);
        /* Only now is the accept event free for the next connection. */
        if (type == PEER_EV_ACCEPTED)
            peer_net_accept(n);
    }
    uv_async_send(&n->async); /* more next turn: others get the loop meanwhile */
}

int peer_net_init(struct peer_net **out, uv_loop_t *loop, const struct peer_net_options *o)
{
    struct peer_net *n = calloc(1, sizeof(*n));
    int rc;

    if (n == NULL)
        return -ENOMEM;
    n->o = *o;
    n->tail = &n->head;
    n->next_id = 1;
    pthread_mutex_init(&n->mtx, NULL);
    rc = uv_async_init(loop, &n->async, on_async);
    if (rc != 0) {
        pthread_mutex_destroy(&n->mtx);
        free(n);
        return rc;
    }
    n->async.data = n;
    *out = n;
    return 0;
}

static void url_of(const struct config_addr *a, char *buf, size_t size)
{
    char addr[96];

    snprintf(buf, size, "tcp://%s", config_addr_str(a, addr, sizeof(addr)));
}

int peer_net_listen(struct peer_net *n, const struct config_addr *a)
{
    char url[128];
    int rv;

    url_of(a, url, sizeof(url));
    n->accept_ev = peer_net__ev_new(PEER_EV_ACCEPTED, 0);
    if (n->accept_ev == NULL)
        return -ENOMEM;
    n->accept_ev->prealloc = true;
    rv = nng_aio_alloc(&n->accept_aio, on_accept, n);
    if (rv == 0)
        rv = nng_stream_listener_alloc(&n->listener, url);
    if (rv == 0)
        rv = nng_stream_listener_listen(n->listener);
    if (rv != 0)
        return peer_nng_errno(rv);
    nng_stream_listener_accept(n->listener, n->accept_aio);
    return 0;
}

void peer_net_accept(struct peer_net *n)
{
    if (n->listener != NULL)
        nng_stream_listener_accept(n->listener, n->accept_aio);
}

int peer_net_dialer(struct peer_net *n, int tag, const struct config_addr *a)
{
    struct peer_dialer *d;
    char url[128];
    int rv;

    if (tag < 0 || tag >= PEER_NET_DIALERS)
        return -EINVAL;
    d = &n->dialers[tag];
    d->net = n;
    url_of(a, url, sizeof(url));
    d->ev = peer_net__ev_new(PEER_EV_DIALED, 0);
    if (d->ev == NULL)
        return -ENOMEM;
    d->ev->prealloc = true;
    d->ev->tag = tag;
    rv = nng_aio_alloc(&d->aio, on_dial, d);
    if (rv == 0)
        rv = nng_stream_dialer_alloc(&d->d, url);
    return peer_nng_errno(rv);
}

void peer_net_dial(struct peer_net *n, int tag, uint32_t timeout_ms)
{
    struct peer_dialer *d = &n->dialers[tag];

    if (d->d == NULL || d->busy)
        return;
    d->busy = true;
    d->ev->type = PEER_EV_DIALED;
    nng_aio_set_timeout(d->aio, (nng_duration)timeout_ms);
    nng_stream_dialer_dial(d->d, d->aio);
}

void peer_net_kick(struct peer_net *n)
{
    uv_async_send(&n->async);
}

static void on_async_closed(uv_handle_t *h)
{
    struct peer_net *n = h->data;

    pthread_mutex_destroy(&n->mtx);
    free(n);
}

void peer_net_free(struct peer_net *n)
{
    struct peer_ev *ev;

    if (n->listener != NULL)
        nng_stream_listener_close(n->listener);
    if (n->accept_aio != NULL)
        nng_aio_stop(n->accept_aio);
    for (int i = 0; i < PEER_NET_DIALERS; i++) {
        struct peer_dialer *d = &n->dialers[i];

        if (d->d != NULL)
            nng_stream_dialer_close(d->d);
        if (d->aio != NULL)
            nng_aio_stop(d->aio);
    }
    while (n->conns != NULL)
        peer_conn_close(n->conns);
    /* No nng callback runs any more: the queue is the loop's alone. */
    while ((ev = n->head) != NULL) {
        n->head = ev->next;
        ev_release(ev);
    }
    n->tail = &n->head;
    for (int i = 0; i < PEER_NET_DIALERS; i++) {
        struct peer_dialer *d = &n->dialers[i];

        if (d->aio != NULL)
            nng_aio_free(d->aio);
        if (d->d != NULL)
            nng_stream_dialer_free(d->d);
        free(d->ev);
    }
    if (n->accept_aio != NULL)
        nng_aio_free(n->accept_aio);
    if (n->listener != NULL)
        nng_stream_listener_free(n->listener);
    free(n->accept_ev);
    uv_close((uv_handle_t *)&n->async, on_async_closed);
}
