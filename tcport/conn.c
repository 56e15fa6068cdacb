/* One framed connection: reading and decoding frames, queueing and
 * writing events, the idle timer, finishing and closing. The listener and
 * the loop phases that flush output are in conn_server.c. */
#include "tcport/conn.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/base/log.h"
#include "tcport/conn_int.h"
#include "tcport/frame.h"

/* Output buffers bigger than this are released once written. */
#define CONN_KEEP_BUF 65536

static void conn_parse_stash(struct conn *c);

static size_t queued(const struct conn *c)
{
    return c->out.len + tcp_conn_queued(c->tc);
}

/* True while the port may queue output on c. */
static bool sendable(const struct conn *c)
{
    return (c->state == CONN_OPEN || c->state == CONN_FINISH) && !tcp_conn_closed(c->tc);
}

void conn__on_close(void *arg, struct tcp_conn *tc)
{
    struct conn *c = tcp_conn_data(tc);
    struct conn_server *s = arg;

    s->h.on_close(s->arg, c);
    s->st.bytes_queued -= c->out.len;
    tc_buf_free(&c->out);
    tc_buf_free(&c->wbuf);
    free(c->in);
    conn__forget(c);
}

void conn_close(struct conn *c)
{
    c->state = CONN_DONE;
    tcp_conn_close(c->tc);
}

/* Everything is written: the TCP server sends FIN and discards what the
 * client still sends, so closing does not reset the connection under our
 * last event. */
static void conn_shutdown(struct conn *c)
{
    c->state = CONN_DONE;
    tcp_conn_shutdown(c->tc);
}

static void on_write(uv_write_t *req, int status);

/* Release an output buffer that grew past CONN_KEEP_BUF once written, so a
 * connection that sent a snapshot does not keep its peak. */
static void buf_done(struct tc_buf *b)
{
    if (b->cap > CONN_KEEP_BUF)
        tc_buf_free(b);
    tc_buf_reset(b);
}

/* The output written so far is out: go on. A finishing connection shuts
 * down once all is written; under half the bound, a paused one reads
 * again and the port may queue more: at once from a write's callback, or
 * with a kick (before the loop polls again) when the write completed
 * inside a flush phase, where queueing more could be left unflushed. */
static void after_write(struct conn *c, bool in_flush)
{
    struct conn_server *s = c->srv;

    if (c->state == CONN_OPEN)
        tcp_conn_touch(c->tc);
    if (c->state == CONN_FINISH && !c->writing && c->out.len == 0) {
        conn_shutdown(c);
        return;
    }
    if (c->state != CONN_OPEN || queued(c) >= s->o.queue_bytes / 2)
        return;
    if (in_flush) {
        conn_kick(c);
        return;
    }
    if (c->paused) {
        c->paused = false;
        conn_parse_stash(c);
        if (c->state == CONN_OPEN && !c->paused)
            tcp_conn_read_start(c->tc);
    }
    if (c->state == CONN_OPEN)
        s->h.on_writable(s->arg, c);
}

/* Write what the socket takes now. Returns true when that was all of it
 * (after_write() has run), false when the rest waits for a uv_write, or
 * when c was closed on an error. */
static bool write_now(struct conn *c)
{
    struct conn_server *s = c->srv;
    uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
    int n;

    /* A paused connection resumes reading from a write's callback. */
    if (c->paused)
        return false;
    n = uv_try_write(tcp_conn_stream(c->tc), &b, 1);
    if (n == UV_EAGAIN)
        return false;
    if (n < 0) {
        s->st.write_errors++;
        tc_log(DEBUG, "%s: %s: write: %s", s->o.name, conn_peer(c), uv_strerror(n));
        conn_close(c);
        return false;
    }
    s->st.bytes_queued -= (size_t)n;
    s->st.bytes_sent += (size_t)n;
    if ((size_t)n < c->out.len) {
        tc_buf_consume(&c->out, (size_t)n);
        return false;
    }
    buf_done(&c->out);
    after_write(c, true);
    return true;
}

void conn__flush(struct conn *c)
{
    struct tc_buf t;
    uv_buf_t b;

    if (c->writing || c->out.len == 0 || !sendable(c))
        return;
    /* Most writes complete at once: one write(2), and no request, callback
     * or epoll_ctl(2) as a uv_write would cost. */
    if (write_now(c) || tcp_conn_closed(c->tc))
        return;
    t = c->wbuf;
    c->wbuf = c->out;
    c->out = t;
    b = uv_buf_init(c->wbuf.data, (unsigned)c->wbuf.len);
    c->wreq.data = c;
    if (uv_write(&c->wreq, tcp_conn_stream(c->tc), &b, 1, on_write) != 0) {
        c->srv->st.write_errors++;
        c->out = c->wbuf; /* freed with the connection */
        c->wbuf = t;
        conn_close(c);
        return;
    }
    c->writing = true;
}

static void on_write(uv_write_t *req, int status)
{
    struct conn *c = req->data;
    struct conn_server *s = c->srv;

    s->st.bytes_queued -= c->wbuf.len;
    if (status == 0)
        s->st.bytes_sent += c->wbuf.len;
    buf_done(&c->wbuf);
    c->writing = false;
    if (tcp_conn_closed(c->tc))
        return;
    if (status < 0) {
        s->st.write_errors++;
        tc_log(DEBUG, "%s: %s: write: %s", s->o.name, conn_peer(c), uv_strerror(status));
        conn_close(c);
        return;
    }
    if (c->out.len > 0 && c->state != CONN_DONE) {
        conn__flush(c);
        if (tcp_conn_closed(c->tc) || (!c->writing && c->out.len == 0))
            return; /* closed, or written at once: after_write() has run */
    }
    after_write(c, false);
}

int conn_send_raw(struct conn *c, const void *bytes, size_t len, unsigned frames)
{
    struct conn_server *s = c->srv;

    if (!sendable(c))
        return -EPIPE;
    if (tc_buf_append(&c->out, bytes, len) != 0) {
        tc_log(WARN, "%s: %s: out of memory, closing", s->o.name, conn_peer(c));
        conn_close(c);
        return -ENOMEM;
    }
    s->st.bytes_queued += len;
    s->st.events_sent += frames;
    conn__mark_flush(c);
    return 0;
}

int conn_send(struct conn *c, const Tc__Event *ev)
{
    struct conn_server *s = c->srv;
    size_t before = c->out.len;

    if (!sendable(c))
        return -EPIPE;
    if (frame_pack(&c->out, &ev->base) != 0) {
        tc_log(WARN, "%s: %s: out of memory, closing", s->o.name, conn_peer(c));
        conn_close(c);
        return -ENOMEM;
    }
    s->st.bytes_queued += c->out.len - before;
    s->st.events_sent++;
    conn__mark_flush(c);
    return 0;
}

int conn_send_error(struct conn *c, uint32_t ref_id, Tc__ErrorCode code, const char *text,
                    enum conn_refusal why)
{
    Tc__Event ev = TC__EVENT__INIT;
    Tc__EventError err = TC__EVENT_ERROR__INIT;

    c->srv->st.refused[why]++;
    err.code = code;
    err.text = (char *)text;
    ev.ref_id = ref_id;
    ev.body_case = TC__EVENT__BODY_ERROR;
    ev.error = &err;
    return conn_send(c, &ev);
}

bool conn_writable(const struct conn *c)
{
    return c->state == CONN_OPEN && !tcp_conn_closing(c->tc) && queued(c) < c->srv->o.queue_bytes;
}

size_t conn_queued(const struct conn *c)
{
    return queued(c);
}

void *conn_data(const struct conn *c)
{
    return c->data;
}

void conn_set_data(struct conn *c, void *data)
{
    c->data = data;
}

const struct sockaddr_storage *conn_peer_addr(const struct conn *c)
{
    return tcp_conn_peer_addr(c->tc);
}

const char *conn_peer(const struct conn *c)
{
    return tcp_conn_peer(c->tc);
}

bool conn_closing(const struct conn *c)
{
    return c->state != CONN_OPEN || tcp_conn_closing(c->tc);
}

/* Silent while the idle timer was on: say so, then finish. */
void conn__on_idle(void *arg, struct tcp_conn *tc)
{
    struct conn *c = tcp_conn_data(tc);
    struct conn_server *s = arg;

    tc_log(DEBUG, "%s: %s: silent for %u ms, closing", s->o.name, conn_peer(c), s->o.idle_ms);
    conn_send_error(c, 0, TC__ERROR_CODE__ERROR_TIMEOUT, "no request in time",
                    CONN_REFUSED_TIMEOUT);
    conn_finish(c);
}

/* A frame not whole in time (the TCP server counted and logged it). */
void conn__on_message_timeout(void *arg, struct tcp_conn *tc)
{
    struct conn *c = tcp_conn_data(tc);

    (void)arg;
    conn_send_error(c, 0, TC__ERROR_CODE__ERROR_TIMEOUT, "frame not complete in time",
                    CONN_REFUSED_TIMEOUT);
    conn_finish(c);
}

/* Tell the TCP server whether a partial frame waits, so its deadline runs.
 * Complete frames held while the output is over its bound are the
 * server's delay, not the client's. */
static void note_partial(struct conn *c)
{
    if (c->state == CONN_OPEN)
        tcp_conn_message(c->tc, c->in_len > 0 && !c->paused);
}

void conn_idle(struct conn *c, bool on)
{
    if (c->state == CONN_OPEN)
        tcp_conn_idle(c->tc, on);
}

void conn_finish(struct conn *c)
{
    if (c->state != CONN_OPEN || tcp_conn_closing(c->tc))
        return;
    c->state = CONN_FINISH;
    /* Closed at the linger deadline if the output does not get out; the
     * TCP server keeps reading to discard input and see the end of file. */
    tcp_conn_linger(c->tc);
    free(c->in);
    c->in = NULL;
    c->in_len = 0;
    c->paused = false;
    if (!c->writing && c->out.len == 0)
        conn_shutdown(c);
}

/* Decode and dispatch the whole frames at the start of buf; returns the
 * bytes used. Stops at a partial frame, when the output is over its bound
 * (the connection pauses), or when the connection stops taking requests. */
static size_t conn_parse(struct conn *c, const uint8_t *buf, size_t len)
{
    struct conn_server *s = c->srv;
    size_t off = 0;

    while (off < len && c->state == CONN_OPEN) {
        const uint8_t *payload;
        uint32_t plen;
        Tc__Request *rq;
        int rc;

        if (queued(c) >= s->o.queue_bytes) {
            c->paused = true;
            break;
        }
        rc = frame_next(buf + off, len - off, s->o.max_frame, &payload, &plen);
        if (rc == FRAME_MORE)
            break;
        if (rc < 0) {
            tc_log(DEBUG, "%s: %s: frame over %u bytes, closing", s->o.name, conn_peer(c),
                   s->o.max_frame);
            conn_send_error(c, 0, TC__ERROR_CODE__ERROR_FRAME_TOO_LARGE, "frame too large",
                            CONN_REFUSED_TOO_LARGE);
            conn_finish(c);
            return len;
        }
        off += FRAME_HEADER + plen;
        rq = tc__request__unpack(NULL, plen, payload);
        if (rq == NULL) {
            tc_log(DEBUG, "%s: %s: frame of %u bytes does not decode", s->o.name, conn_peer(c),
                   plen);
            conn_send_error(c, 0, TC__ERROR_CODE__ERROR_BAD_FRAME, "frame does not decode",
                            CONN_REFUSED_BAD_FRAME);
            continue;
        }
        s->st.requests++;
        s->h.on_request(s->arg, c, rq);
        tc__request__free_unpacked(rq, NULL);
    }
    return off;
}

/* Keep the n bytes at p (at most rcap) as the start of the next frame. */
static int conn_stash(struct conn *c, const uint8_t *p, size_t n)
{
    if (c->in == NULL) {
        c->in = malloc(c->srv->rcap);
        if (c->in == NULL)
            return -ENOMEM;
    }
    assert(n <= c->srv->rcap);
    memmove(c->in, p, n);
    c->in_len = n;
    return 0;
}

/* Parse what the stash holds; free it once empty. */
static void conn_parse_stash(struct conn *c)
{
    size_t used;

    if (c->in_len == 0)
        return;
    used = conn_parse(c, c->in, c->in_len);
    if (c->state != CONN_OPEN)
        return;
    c->in_len -= used;
    if (c->in_len > 0) {
        memmove(c->in, c->in + used, c->in_len);
    } else {
        free(c->in);
        c->in = NULL;
    }
    note_partial(c);
}

/* Read into the partial frame's buffer when there is one. */
void conn__on_alloc(void *arg, struct tcp_conn *tc, uv_buf_t *buf)
{
    struct conn *c = tcp_conn_data(tc);
    struct conn_server *s = arg;

    if (c->in_len > 0 && c->state == CONN_OPEN)
        *buf = uv_buf_init((char *)c->in + c->in_len, (unsigned)(s->rcap - c->in_len));
}

/* A client that sent its requests and shut down still gets its answers. */
void conn__on_eof(void *arg, struct tcp_conn *tc)
{
    (void)arg;
    conn_finish(tcp_conn_data(tc));
}

void conn__on_read(void *arg, struct tcp_conn *tc, char *data, size_t len)
{
    struct conn *c = tcp_conn_data(tc);
    struct conn_server *s = arg;
    size_t used;

    if (c->state != CONN_OPEN)
        return;
    if (c->in_len > 0 && (uint8_t *)data == c->in + c->in_len) {
        c->in_len += len;
        conn_parse_stash(c);
    } else {
        used = conn_parse(c, (uint8_t *)data, len);
        if (c->state == CONN_OPEN && used < len &&
            conn_stash(c, (uint8_t *)data + used, len - used) != 0) {
            tc_log(WARN, "%s: %s: out of memory, closing", s->o.name, conn_peer(c));
            conn_close(c);
            return;
        }
    }
    if (c->state == CONN_OPEN && c->paused)
        tcp_conn_read_stop(tc);
    note_partial(c);
}

/* Accepted under max_conns, the idle timer on: tell the port; the TCP
 * server reads once this returns. */
int conn__on_accept(void *arg, struct tcp_conn *tc)
{
    struct conn *c = tcp_conn_data(tc);
    struct conn_server *s = arg;

    c->srv = s;
    c->tc = tc;
    s->h.on_open(s->arg, c);
    return 0;
}
