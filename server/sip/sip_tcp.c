/* sip_tcp: the SIP transport's TCP connections (RFC 3261 §18.3): accepting,
 * reading and framing with sip_frame_scan(), writing, idle and linger
 * timers, and the map from connection id to connection. The listeners and
 * the public API are in sip_transport.c; the shared state is in
 * sip_transport_int.h. Loop thread only. */
#include "server/sip/sip_transport_int.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "server/base/log.h"

#define SIP_TCP_MIN_BUF  4096 /* first size of a connection's buffer */
#define SIP_TCP_MIN_READ 1024 /* grow a connection's buffer when less is free */
#define SIP_LINGER_MS    2000 /* how long a closing connection may keep sending */

struct sip_write {
    uv_write_t req;
    char data[];
};

/* Connections by id ------------------------------------------------------- */

static uint32_t map_slot(const struct sip_transport *t, uint64_t id)
{
    return (uint32_t)((id * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & t->map_mask;
}

static struct sip_conn *map_find(const struct sip_transport *t, uint64_t id)
{
    uint32_t i;

    for (i = map_slot(t, id); t->map[i] != NULL; i = (i + 1) & t->map_mask) {
        if (t->map[i]->src.conn_id == id)
            return t->map[i];
    }
    return NULL;
}

/* The map holds at most max_conns entries in twice as many slots: never full. */
static void map_insert(struct sip_transport *t, struct sip_conn *c)
{
    uint32_t i;

    for (i = map_slot(t, c->src.conn_id); t->map[i] != NULL; i = (i + 1) & t->map_mask)
        ;
    t->map[i] = c;
    c->in_map = true;
}

/* Remove c, shifting back the entries that probed past its slot. */
static void map_remove(struct sip_transport *t, struct sip_conn *c)
{
    uint32_t i, j, k;

    for (i = map_slot(t, c->src.conn_id); t->map[i] != c; i = (i + 1) & t->map_mask)
        assert(t->map[i] != NULL);
    t->map[i] = NULL;
    c->in_map = false;
    for (j = (i + 1) & t->map_mask; t->map[j] != NULL; j = (j + 1) & t->map_mask) {
        k = map_slot(t, t->map[j]->src.conn_id);
        /* Leave the entry if its home slot lies cyclically in (i, j]. */
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
            continue;
        t->map[i] = t->map[j];
        t->map[j] = NULL;
        i = j;
    }
}

/* Teardown ------------------------------------------------------------------ */

static void conn_buf_drop(struct sip_conn *c)
{
    free(c->buf);
    c->buf = NULL;
    c->len = 0;
    c->cap = 0;
}

static void on_conn_close(uv_handle_t *h)
{
    struct sip_conn *c = h->data;
    struct sip_transport *t = c->t;

    if (--c->open_handles > 0)
        return;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        t->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    if (c->counted)
        t->stats.conns_open--;
    conn_buf_drop(c);
    free(c);
    sip_transport_maybe_free(t);
}

static void conn_close(struct sip_conn *c)
{
    if (c->state == CONN_CLOSED)
        return;
    if (c->in_map)
        map_remove(c->t, c);
    c->state = CONN_CLOSED;
    uv_close((uv_handle_t *)&c->tcp, on_conn_close);
    if (c->open_handles == 2)
        uv_close((uv_handle_t *)&c->timer, on_conn_close);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct sip_conn *c = req->handle->data;

    if (c->state == CONN_CLOSED)
        return;
    if (status < 0 || c->eof)
        conn_close(c);
}

static void on_timer(uv_timer_t *h);

/* Flush what was sent, then send FIN and read until the peer's EOF or the
 * linger timeout, so that our last answer is not lost to a reset. */
static void conn_shutdown(struct sip_conn *c)
{
    if (c->state != CONN_OPEN)
        return;
    if (c->in_map)
        map_remove(c->t, c);
    c->state = CONN_DRAIN;
    if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        conn_close(c);
        return;
    }
    uv_timer_start(&c->timer, on_timer, SIP_LINGER_MS, 0);
}

static void on_timer(uv_timer_t *h)
{
    struct sip_conn *c = h->data;
    struct sip_transport *t = c->t;
    uint64_t quiet;

    if (c->state == CONN_OPEN) {
        quiet = uv_now(t->loop) - c->last_read;
        if (quiet < t->idle_ms) {
            uv_timer_start(h, on_timer, t->idle_ms - quiet, 0);
            return;
        }
        t->stats.conns_idle_closed++;
        tc_log(DEBUG, "sip: tcp connection %llu: idle, closing",
               (unsigned long long)c->src.conn_id);
    }
    conn_close(c);
}

/* Sending --------------------------------------------------------------------- */

static void on_write(uv_write_t *req, int status)
{
    struct sip_write *w = (struct sip_write *)req;
    struct sip_conn *c = req->handle->data;

    free(w);
    if (status < 0 && c->state != CONN_CLOSED) {
        tc_log(DEBUG, "sip: tcp connection %llu: write: %s", (unsigned long long)c->src.conn_id,
               uv_strerror(status));
        c->t->stats.send_failed++;
        conn_close(c);
    }
}

/* Write buf on c, copying what the socket does not take at once. On failure
 * the connection is closed: a stream that lost part of a message is useless. */
static int conn_send(struct sip_conn *c, const char *buf, size_t len)
{
    struct sip_write *w;
    uv_buf_t b;
    int n;

    if (len > INT_MAX)
        return -EMSGSIZE;
    b = uv_buf_init((char *)buf, (unsigned)len);
    n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == UV_EAGAIN)
        n = 0;
    if (n < 0)
        goto out_close;
    if ((size_t)n < len) {
        if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) + len - (size_t)n >
            SIP_TRANSPORT_MAX_TCP_QUEUE) {
            n = -ENOBUFS;
            goto out_close;
        }
        w = malloc(sizeof(*w) + len - (size_t)n);
        if (w == NULL) {
            n = -ENOMEM;
            goto out_close;
        }
        memcpy(w->data, buf + n, len - (size_t)n);
        b = uv_buf_init(w->data, (unsigned)(len - (size_t)n));
        n = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
        if (n < 0) {
            free(w);
            goto out_close;
        }
    }
    c->t->stats.tx_bytes += len;
    return 0;

out_close:
    tc_log(DEBUG, "sip: tcp connection %llu: send: %s", (unsigned long long)c->src.conn_id,
           uv_strerror(n));
    conn_close(c);
    return n;
}

/* TCP input --------------------------------------------------------------- */

/* Report a refused message, then close the connection once answered. */
static void conn_refuse(struct sip_conn *c, enum sip_transport_error err, const char *buf,
                        size_t len)
{
    struct sip_transport *t = c->t;

    if (err == SIP_TRANSPORT_TOO_LARGE)
        t->stats.too_large++;
    else
        t->stats.bad_framing++;
    tc_log(DEBUG, "sip: tcp connection %llu: %s, closing", (unsigned long long)c->src.conn_id,
           err == SIP_TRANSPORT_TOO_LARGE ? "message too large" : "bad framing");
    if (t->on_error != NULL)
        t->on_error(t->arg, &c->src, err, buf, len);
    conn_shutdown(c);
}

/* Deliver the units that are complete at the start of buf[0..n). Returns the
 * bytes consumed. Stops early when a callback closed c or stopped t. */
static size_t conn_feed(struct sip_conn *c, const char *buf, size_t n)
{
    struct sip_transport *t = c->t;
    size_t off = 0, len = 0;
    enum sip_frame f;

    while (off < n && c->state == CONN_OPEN && !t->stopping) {
        f = sip_frame_scan(buf + off, n - off, t->max_message, &c->frame, &len);
        switch (f) {
        case SIP_FRAME_MORE:
            return off;
        case SIP_FRAME_MESSAGE:
            t->stats.tcp_messages++;
            t->on_message(t->arg, &c->src, buf + off, len);
            break;
        case SIP_FRAME_PING:
            t->stats.keepalives++;
            conn_send(c, "\r\n", 2);
            break;
        case SIP_FRAME_CRLF:
            break;
        case SIP_FRAME_TOO_LARGE:
            conn_refuse(c, SIP_TRANSPORT_TOO_LARGE, buf + off, len);
            return n;
        case SIP_FRAME_BAD_FRAMING:
            conn_refuse(c, SIP_TRANSPORT_BAD_FRAMING, buf + off, len);
            return n;
        }
        off += len;
        memset(&c->frame, 0, sizeof(c->frame));
    }
    return off;
}

/* Keep the incomplete unit buf[0..n) (n < max_message) for the next read. */
static int conn_keep(struct sip_conn *c, const char *buf, size_t n)
{
    size_t cap = SIP_TCP_MIN_BUF;

    while (cap < n + SIP_TCP_MIN_READ)
        cap *= 2;
    if (cap > c->t->max_message)
        cap = c->t->max_message;
    c->buf = malloc(cap);
    if (c->buf == NULL)
        return -ENOMEM;
    c->cap = cap;
    memcpy(c->buf, buf, n);
    c->len = n;
    return 0;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct sip_conn *c = h->data;
    size_t cap;
    char *p;

    (void)hint;
    if (c->buf == NULL || c->state != CONN_OPEN) {
        *buf = uv_buf_init(c->t->rbuf, sizeof(c->t->rbuf));
        return;
    }
    if (c->cap - c->len < SIP_TCP_MIN_READ && c->cap < c->t->max_message) {
        cap = c->cap * 2 < c->t->max_message ? c->cap * 2 : c->t->max_message;
        p = realloc(c->buf, cap);
        if (p != NULL) {
            c->buf = p;
            c->cap = cap;
        }
    }
    /* An incomplete unit is shorter than max_message, so there is room. */
    assert(c->len < c->cap);
    *buf = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct sip_conn *c = s->data;
    struct sip_transport *t = c->t;
    size_t used;

    if (nread == 0 || c->state == CONN_CLOSED)
        return;
    if (nread < 0) {
        if (nread != UV_EOF) {
            t->stats.recv_errors++;
            tc_log(DEBUG, "sip: tcp connection %llu: read: %s", (unsigned long long)c->src.conn_id,
                   uv_strerror((int)nread));
        }
        c->eof = true;
        if (nread == UV_EOF && uv_stream_get_write_queue_size(s) > 0)
            conn_shutdown(c);
        else
            conn_close(c);
        return;
    }
    if (c->state != CONN_OPEN)
        return;
    t->stats.rx_bytes += (uint64_t)nread;
    c->last_read = uv_now(t->loop);
    if (buf->base == t->rbuf) {
        used = conn_feed(c, buf->base, (size_t)nread);
        if (used < (size_t)nread && c->state == CONN_OPEN && !t->stopping &&
            conn_keep(c, buf->base + used, (size_t)nread - used) != 0) {
            tc_log(WARN, "sip: tcp connection %llu: out of memory, closing",
                   (unsigned long long)c->src.conn_id);
            conn_close(c);
        }
        return;
    }
    c->len += (size_t)nread;
    used = conn_feed(c, c->buf, c->len);
    if (used == c->len || c->state != CONN_OPEN) {
        conn_buf_drop(c);
        return;
    }
    memmove(c->buf, c->buf + used, c->len - used);
    c->len -= used;
}

/* Accepting ------------------------------------------------------------------ */

static int conn_open(struct sip_conn *c, struct sip_listener *l)
{
    struct sip_transport *t = c->t;
    int alen = sizeof(c->src.peer);
    int rc;

    rc = uv_timer_init(t->loop, &c->timer);
    if (rc < 0)
        return rc;
    c->timer.data = c;
    c->open_handles++;
    c->counted = true;
    t->stats.conns_open++;
    c->src.proto = SIP_PROTO_TCP;
    c->src.conn_id = t->next_id++;
    c->src.listener = (unsigned)(l - t->listeners);
    c->src.local = l->addr;
    rc = uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->src.peer, &alen);
    if (rc < 0)
        return rc;
    map_insert(t, c);
    uv_tcp_nodelay(&c->tcp, 1);
    rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc < 0)
        return rc;
    c->last_read = uv_now(t->loop);
    return uv_timer_start(&c->timer, on_timer, t->idle_ms, 0);
}

void sip_tcp_on_connection(uv_stream_t *server, int status)
{
    struct sip_listener *l = server->data;
    struct sip_transport *t = l->t;
    struct sip_conn *c;
    int rc;

    if (status < 0) {
        tc_log(DEBUG, "sip: tcp accept: %s", uv_strerror(status));
        return;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        tc_log(ERR, "sip: tcp accept: out of memory");
        return;
    }
    c->t = t;
    uv_tcp_init(t->loop, &c->tcp);
    c->tcp.data = c;
    c->open_handles = 1;
    c->next = t->conns;
    if (t->conns != NULL)
        t->conns->prev = c;
    t->conns = c;
    rc = uv_accept(server, (uv_stream_t *)&c->tcp);
    if (rc == 0 && t->stats.conns_open >= t->max_conns) {
        t->stats.conns_refused++;
        tc_log(DEBUG, "sip: tcp accept: %u connections open, refusing", t->stats.conns_open);
        rc = -EMFILE;
    } else if (rc == 0) {
        rc = conn_open(c, l);
        t->stats.conns_accepted++;
    }
    if (rc < 0) {
        if (rc != -EMFILE)
            tc_log(DEBUG, "sip: tcp accept: %s", uv_strerror(rc));
        conn_close(c);
    }
}

int sip_tcp_send(struct sip_transport *t, uint64_t conn_id, const char *buf, size_t len)
{
    struct sip_conn *c = map_find(t, conn_id);

    return c == NULL ? -ENOTCONN : conn_send(c, buf, len);
}

void sip_tcp_close_all(struct sip_transport *t)
{
    struct sip_conn *c;

    for (c = t->conns; c != NULL; c = c->next)
        conn_close(c);
}
