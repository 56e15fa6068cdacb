/* tcp_conn: one connection of the TCP server: reading, writing, the idle
 * and linger timer, ending and the one close path. Accepting and the
 * listeners are in tcp_server.c. Loop thread only. */
#include "server/net/tcp_server.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "server/base/log.h"
#include "server/net/tcp_server_int.h"

/* Teardown ------------------------------------------------------------------ */

static void map_remove(struct tcp_conn *c)
{
    if (!c->in_map)
        return;
    u64map_remove(&c->srv->map, c->id);
    c->in_map = false;
}

/* The one place a connection is freed: after both its handles closed. */
static void on_conn_close(uv_handle_t *h)
{
    struct tcp_conn *c = h->data;
    struct tcp_server *s = c->srv;

    if (--c->open_handles > 0)
        return;
    if (c->accepted)
        s->o.h.on_close(s->o.arg, c);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    tcp_server__release(c);
    free(c);
    tcp_server__maybe_free(s);
}

void tcp_conn_close(struct tcp_conn *c)
{
    if (c->state == CONN_CLOSED)
        return;
    map_remove(c);
    c->state = CONN_CLOSED;
    c->reading = false;
    uv_close((uv_handle_t *)&c->tcp, on_conn_close);
    if (c->open_handles == 2)
        uv_close((uv_handle_t *)&c->timer, on_conn_close);
}

/* Timer and ending -------------------------------------------------------- */

/* The message deadline passed: count, log, let the protocol end c. */
static void message_timeout(struct tcp_conn *c)
{
    struct tcp_server *s = c->srv;

    s->st.message_timeouts++;
    tc_log_limited(NOTICE, "%s: connection from %s: message not complete within %u ms, closing",
                   s->o.name, c->peer_str, s->o.message_ms);
    c->msg_start = 0;
    if (s->o.h.on_message_timeout != NULL)
        s->o.h.on_message_timeout(s->o.arg, c);
    else
        tcp_conn_close(c);
}

static void idle_timeout(struct tcp_conn *c)
{
    struct tcp_server *s = c->srv;

    s->st.idle_closed++;
    tc_log(DEBUG, "%s: %s: silent for %u ms", s->o.name, c->peer_str, s->o.idle_ms);
    if (s->o.h.on_idle != NULL)
        s->o.h.on_idle(s->o.arg, c);
    else
        tcp_conn_close(c);
}

static void on_timer(uv_timer_t *h);

void tcp_conn__arm(struct tcp_conn *c)
{
    struct tcp_server *s = c->srv;
    uint64_t now = uv_now(s->loop), due = 0;

    if (c->idle_on)
        due = c->last + s->o.idle_ms;
    if (c->msg_start != 0 && (due == 0 || c->msg_start + s->o.message_ms < due))
        due = c->msg_start + s->o.message_ms;
    c->due = due;
    if (due == 0) {
        uv_timer_stop(&c->timer);
        return;
    }
    uv_timer_start(&c->timer, on_timer, due > now ? due - now : 0, 0);
}

static void on_timer(uv_timer_t *h)
{
    struct tcp_conn *c = h->data;
    struct tcp_server *s = c->srv;
    uint64_t now = uv_now(s->loop);

    if (c->state != CONN_OPEN) {
        tc_log(DEBUG, "%s: %s: linger over, closing", s->o.name, c->peer_str);
        tcp_conn_close(c);
        return;
    }
    c->due = 0;
    if (c->msg_start != 0 && now - c->msg_start >= s->o.message_ms)
        message_timeout(c);
    else if (c->idle_on && now - c->last >= s->o.idle_ms)
        idle_timeout(c);
    else
        tcp_conn__arm(c);
}

void tcp_conn_idle(struct tcp_conn *c, bool on)
{
    struct tcp_server *s = c->srv;

    if (c->state != CONN_OPEN || s->o.idle_ms == 0 || c->idle_on == on)
        return;
    c->idle_on = on;
    if (on)
        c->last = uv_now(s->loop);
    tcp_conn__arm(c);
}

void tcp_conn_message(struct tcp_conn *c, bool partial)
{
    struct tcp_server *s = c->srv;

    if (c->state != CONN_OPEN || s->o.message_ms == 0)
        return;
    if (!partial) {
        /* The timer may fire early; it re-arms for what is left. */
        c->msg_start = 0;
        return;
    }
    if (c->msg_start != 0)
        return;
    c->msg_start = uv_now(s->loop);
    if (c->due == 0 || c->msg_start + s->o.message_ms < c->due)
        tcp_conn__arm(c);
}

void tcp_conn_touch(struct tcp_conn *c)
{
    if (c->idle_on)
        c->last = uv_now(c->srv->loop);
}

void tcp_conn_linger(struct tcp_conn *c)
{
    if (c->state != CONN_OPEN)
        return;
    map_remove(c);
    c->state = CONN_ENDING;
    c->idle_on = false;
    c->msg_start = 0;
    uv_timer_start(&c->timer, on_timer, c->srv->o.linger_ms, 0);
    tcp_conn_read_start(c);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct tcp_conn *c = req->data;

    if (c->state == CONN_CLOSED)
        return;
    if (status < 0 || c->eof)
        tcp_conn_close(c);
}

void tcp_conn_shutdown(struct tcp_conn *c)
{
    if (c->state != CONN_OPEN && c->state != CONN_ENDING)
        return;
    tcp_conn_linger(c);
    c->state = CONN_DRAIN;
    c->sreq.data = c;
    if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
        tcp_conn_close(c);
}

bool tcp_conn_closing(const struct tcp_conn *c)
{
    return c->state != CONN_OPEN;
}

bool tcp_conn_closed(const struct tcp_conn *c)
{
    return c->state == CONN_CLOSED;
}

/* Writing ------------------------------------------------------------------- */

static void on_write(uv_write_t *req, int status)
{
    struct tcp_conn *c = req->handle->data;

    free(req);
    if (status < 0 && c->state != CONN_CLOSED) {
        c->srv->st.write_errors++;
        tc_log(DEBUG, "%s: %s: write: %s", c->srv->o.name, c->peer_str, uv_strerror(status));
        tcp_conn_close(c);
    }
}

/* Queue a copy of the len bytes the socket did not take. */
static int write_rest(struct tcp_conn *c, const char *buf, size_t len)
{
    size_t max = c->srv->o.max_queue;
    struct tcp_write *w;
    uv_buf_t b;
    int rc;

    if (max != 0 && tcp_conn_queued(c) + len > max)
        return -ENOBUFS;
    w = malloc(sizeof(*w) + len);
    if (w == NULL)
        return -ENOMEM;
    memcpy(w->data, buf, len);
    b = uv_buf_init(w->data, (unsigned)len);
    rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0)
        free(w);
    return rc;
}

int tcp_conn_write(struct tcp_conn *c, const char *buf, size_t len)
{
    uv_buf_t b;
    int n;

    if (c->state != CONN_OPEN && c->state != CONN_ENDING)
        return -ENOTCONN;
    if (len > INT_MAX) {
        n = -EMSGSIZE;
        goto out_close;
    }
    b = uv_buf_init((char *)buf, (unsigned)len);
    n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == UV_EAGAIN)
        n = 0;
    if (n >= 0 && (size_t)n < len)
        n = write_rest(c, buf + n, len - (size_t)n);
    if (n >= 0)
        return 0;
out_close:
    tc_log(DEBUG, "%s: %s: send: %s", c->srv->o.name, c->peer_str, uv_strerror(n));
    tcp_conn_close(c);
    return n;
}

size_t tcp_conn_queued(const struct tcp_conn *c)
{
    return uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
}

size_t tcp_conn_pending(const struct tcp_conn *c)
{
    uv_os_fd_t fd;
    int n = 0;

    if (c->state == CONN_CLOSED || uv_fileno((const uv_handle_t *)&c->tcp, &fd) != 0 ||
        ioctl(fd, FIONREAD, &n) != 0 || n < 0)
        return 0;
    return (size_t)n;
}

/* Reading ------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct tcp_conn *c = h->data;
    struct tcp_server *s = c->srv;

    (void)hint;
    buf->len = 0;
    if (c->state == CONN_OPEN && s->o.h.on_alloc != NULL)
        s->o.h.on_alloc(s->o.arg, c, buf);
    if (buf->len == 0)
        *buf = uv_buf_init(s->rbuf, (unsigned)s->o.read_size);
}

static void on_eof(struct tcp_conn *c)
{
    struct tcp_server *s = c->srv;

    c->eof = true;
    c->reading = false;
    if (c->state == CONN_DRAIN && tcp_conn_queued(c) == 0)
        tcp_conn_close(c);
    if (c->state != CONN_OPEN)
        return;
    if (s->o.h.on_eof != NULL)
        s->o.h.on_eof(s->o.arg, c);
    else if (tcp_conn_queued(c) > 0)
        tcp_conn_shutdown(c);
    else
        tcp_conn_close(c);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct tcp_conn *c = stream->data;
    struct tcp_server *s = c->srv;

    if (nread == 0 || c->state == CONN_CLOSED)
        return;
    if (nread == UV_EOF) {
        on_eof(c);
        return;
    }
    if (nread < 0) {
        s->st.read_errors++;
        tc_log(DEBUG, "%s: %s: read: %s", s->o.name, c->peer_str, uv_strerror((int)nread));
        tcp_conn_close(c);
        return;
    }
    if (c->state != CONN_OPEN)
        return;
    if (!s->o.idle_by_user)
        c->last = uv_now(s->loop);
    s->o.h.on_read(s->o.arg, c, buf->base, (size_t)nread);
}

void tcp_conn_read_start(struct tcp_conn *c)
{
    if (c->reading || c->eof || c->state == CONN_CLOSED)
        return;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        tcp_conn_close(c);
        return;
    }
    c->reading = true;
}

void tcp_conn_read_stop(struct tcp_conn *c)
{
    if (c->reading)
        uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
}

/* A connection's accessors ------------------------------------------------------ */

void *tcp_conn_data(const struct tcp_conn *c)
{
    return c->srv->o.conn_size > 0 ? (void *)c->data : NULL;
}

uint64_t tcp_conn_id(const struct tcp_conn *c)
{
    return c->id;
}

unsigned tcp_conn_listener(const struct tcp_conn *c)
{
    return c->listener;
}

const struct sockaddr_storage *tcp_conn_peer_addr(const struct tcp_conn *c)
{
    return &c->peer;
}

const char *tcp_conn_peer(const struct tcp_conn *c)
{
    return c->peer_str;
}

uv_stream_t *tcp_conn_stream(struct tcp_conn *c)
{
    return (uv_stream_t *)&c->tcp;
}
