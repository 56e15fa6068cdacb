/* sip_tcp: the SIP transport's TCP connections (RFC 3261 §18.3) on the
 * node's TCP server (server/net/tcp_server.h), which accepts, caps,
 * times out and closes them: here is what is SIP, reading and framing
 * with sip_frame_scan(), and writing answers by connection id. The
 * listeners and the public API are in sip_transport.c; the shared state
 * is in sip_transport_int.h. Loop thread only. */
#include "server/sip/sip_transport_int.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "server/base/log.h"
#include "server/net/tcp_server.h"

#define SIP_TCP_MIN_BUF  4096 /* first size of a connection's buffer */
#define SIP_TCP_MIN_READ 1024 /* grow a connection's buffer when less is free */
#define SIP_LINGER_MS    2000 /* how long a closing connection may keep sending */
#define SIP_TCP_TIMED    2048 /* reads shorter than this are too short to time */

/* The user area of a struct tcp_conn. */
struct sip_conn {
    struct sip_transport *t;
    struct tcp_conn *tc;
    struct sip_src src;
    char *buf; /* an incomplete unit, NULL when there is none */
    size_t len, cap;
    struct sip_frame_state frame;
};

static void conn_buf_drop(struct sip_conn *c)
{
    free(c->buf);
    c->buf = NULL;
    c->len = 0;
    c->cap = 0;
}

/* Write buf on c; the TCP server closes c on failure. */
static int conn_send(struct sip_conn *c, const char *buf, size_t len)
{
    int rc = tcp_conn_write(c->tc, buf, len);

    if (rc == 0)
        c->t->stats.tx_bytes += len;
    return rc;
}

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
    tcp_conn_shutdown(c->tc);
}

/* Deliver the units that are complete at the start of buf[0..n). Returns the
 * bytes consumed. Stops early when a callback closed c or stopped t. */
static size_t conn_feed(struct sip_conn *c, const char *buf, size_t n)
{
    struct sip_transport *t = c->t;
    size_t off = 0, len = 0;
    enum sip_frame f;

    while (off < n && !tcp_conn_closing(c->tc) && !t->stopping) {
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

/* Read into the incomplete unit's buffer when there is one, so a message
 * in pieces is copied once; else into the server's shared buffer. */
static void on_alloc(void *arg, struct tcp_conn *tc, uv_buf_t *buf)
{
    struct sip_conn *c = tcp_conn_data(tc);
    size_t cap;
    char *p;

    (void)arg;
    if (c->buf == NULL)
        return;
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

/* Input in the shared buffer: deliver, keep the incomplete rest. */
static void read_shared(struct sip_conn *c, const char *data, size_t n)
{
    size_t used = conn_feed(c, data, n);

    if (used < n && !tcp_conn_closing(c->tc) && !c->t->stopping &&
        conn_keep(c, data + used, n - used) != 0) {
        tc_log(WARN, "sip: tcp connection %llu: out of memory, closing",
               (unsigned long long)c->src.conn_id);
        tcp_conn_close(c->tc);
    }
}

/* Before delivering n bytes read into a buffer of offered bytes: a read
 * that filled its buffer may have left more on the socket, and the bytes
 * still there wait at least as long as the loop takes to deliver them at
 * the rate it delivered TCP input lately (parsing and handling up to the
 * store's queue; commits and answers come later in the turn, so this is a
 * lower bound). TCP has no receive timestamps: this is what shedding sees
 * of a connection's backlog. One FIONREAD per full read, none otherwise. */
static void read_begin(struct sip_conn *c, size_t n, size_t offered)
{
    struct sip_transport *t = c->t;
    size_t pending = 0;

    if (n >= offered && t->tcp_ns_per_kib > 0)
        pending = tcp_conn_pending(c->tc);
    t->tcp_read_conn = c->src.conn_id;
    t->tcp_read_backlog_ns = (uint64_t)pending * t->tcp_ns_per_kib / 1024u;
    t->stats.tcp_backlog_ns = t->tcp_read_backlog_ns;
}

/* After delivering n bytes from t0 (uv_hrtime()): average the loop time
 * per KiB (weight 1/8 to the newest read). */
static void read_end(struct sip_transport *t, size_t n, uint64_t t0)
{
    uint64_t per_kib;

    t->tcp_read_conn = 0;
    if (n < SIP_TCP_TIMED)
        return;
    per_kib = (uv_hrtime() - t0) * 1024u / n;
    if (t->tcp_ns_per_kib == 0)
        t->tcp_ns_per_kib = per_kib;
    else
        t->tcp_ns_per_kib = t->tcp_ns_per_kib - t->tcp_ns_per_kib / 8 + per_kib / 8;
}

static void on_read(void *arg, struct tcp_conn *tc, char *data, size_t n)
{
    struct sip_conn *c = tcp_conn_data(tc);
    struct sip_transport *t = arg;
    uint64_t t0 = uv_hrtime();
    size_t used;

    t->stats.rx_bytes += n;
    if (c->buf == NULL || data != c->buf + c->len) {
        read_begin(c, n, SIP_TCP_READ_SIZE);
        read_shared(c, data, n);
    } else {
        read_begin(c, n, c->cap - c->len);
        c->len += n;
        used = conn_feed(c, c->buf, c->len);
        if (used == c->len || tcp_conn_closing(tc)) {
            conn_buf_drop(c);
        } else {
            memmove(c->buf, c->buf + used, c->len - used);
            c->len -= used;
        }
    }
    read_end(t, n, t0);
    /* What is kept is an incomplete message: its deadline runs. */
    tcp_conn_message(tc, c->buf != NULL);
}

static int on_accept(void *arg, struct tcp_conn *tc)
{
    struct sip_conn *c = tcp_conn_data(tc);
    struct sip_transport *t = arg;

    c->t = t;
    c->tc = tc;
    c->src.proto = SIP_PROTO_TCP;
    c->src.conn_id = tcp_conn_id(tc);
    c->src.listener = tcp_conn_listener(tc);
    c->src.local = t->listeners[c->src.listener].addr;
    c->src.peer = *tcp_conn_peer_addr(tc);
    return 0;
}

static void on_close(void *arg, struct tcp_conn *tc)
{
    (void)arg;
    conn_buf_drop(tcp_conn_data(tc));
}

int sip_transport__tcp_new(struct sip_transport *t)
{
    struct tcp_server_options o = {
            .name = "sip",
            .max_conns = t->max_conns,
            .idle_ms = t->idle_ms,
            .message_ms = t->message_ms,
            .max_per_source = t->max_per_source,
            .linger_ms = SIP_LINGER_MS,
            .read_size = SIP_TCP_READ_SIZE,
            .conn_size = sizeof(struct sip_conn),
            .max_queue = SIP_TRANSPORT_MAX_TCP_QUEUE,
            .by_id = true,
            .h = {.on_accept = on_accept,
                  .on_alloc = on_alloc,
                  .on_read = on_read,
                  .on_close = on_close},
            .arg = t,
    };

    return tcp_server_new(&t->tcp, t->loop, &o);
}

int sip_transport__tcp_send(struct sip_transport *t, uint64_t conn_id, const char *buf, size_t len)
{
    struct tcp_conn *tc = tcp_server_find(t->tcp, conn_id);

    return tc == NULL ? -ENOTCONN : conn_send(tcp_conn_data(tc), buf, len);
}
