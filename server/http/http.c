#include "server/http/http.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/base/log.h"
#include "server/http/http_int.h"

static void conn_close(struct http_conn *c);
static void conn_feed(struct http_conn *c, const char *data, size_t len);
static void conn_read_start(struct http_conn *c);

static const struct {
    int status;
    const char *reason;
} reasons[] = {{200, "OK"},
               {201, "Created"},
               {202, "Accepted"},
               {204, "No Content"},
               {301, "Moved Permanently"},
               {302, "Found"},
               {304, "Not Modified"},
               {400, "Bad Request"},
               {401, "Unauthorized"},
               {403, "Forbidden"},
               {404, "Not Found"},
               {405, "Method Not Allowed"},
               {408, "Request Timeout"},
               {413, "Content Too Large"},
               {414, "URI Too Long"},
               {429, "Too Many Requests"},
               {431, "Request Header Fields Too Large"},
               {500, "Internal Server Error"},
               {501, "Not Implemented"},
               {503, "Service Unavailable"}};

static const char *reason_phrase(int status)
{
    size_t i;

    for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        if (reasons[i].status == status)
            return reasons[i].reason;
    }
    return status < 400 ? "OK" : status < 500 ? "Client Error" : "Server Error";
}

/* Free the server once its listener and every connection have closed. */
static void server_maybe_free(struct http_server *s)
{
    if (s->stopping && !s->listener_open && s->conns == NULL)
        free(s);
}

static void on_conn_close(uv_handle_t *h)
{
    struct http_conn *c = h->data;
    struct http_server *s = c->srv;

    if (--c->open_handles > 0)
        return;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    if (c->counted)
        s->n_open--;
    tc_buf_free(&c->url);
    tc_buf_free(&c->body);
    tc_buf_free(&c->stash);
    free(c);
    server_maybe_free(s);
}

static void conn_close(struct http_conn *c)
{
    if (c->state == CONN_CLOSED)
        return;
    c->state = CONN_CLOSED;
    uv_close((uv_handle_t *)&c->tcp, on_conn_close);
    uv_close((uv_handle_t *)&c->timer, on_conn_close);
}

static void on_timeout(uv_timer_t *t)
{
    struct http_conn *c = t->data;

    tc_log(DEBUG, "http: connection %p: %s, closing", (void *)c,
           c->state == CONN_DRAIN ? "linger over" : "idle");
    conn_close(c);
}

void http_conn_touch(struct http_conn *c, uint64_t ms)
{
    uv_timer_start(&c->timer, on_timeout, ms, 0);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct http_conn *c = h->data;

    (void)hint;
    buf->base = c->srv->rbuf;
    buf->len = sizeof(c->srv->rbuf);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct http_conn *c = req->data;

    if (c->state == CONN_CLOSED)
        return;
    if (status < 0 || c->eof)
        conn_close(c);
}

/* Everything is answered: send FIN and read what the peer still sends, so
 * that closing does not reset the connection under our last answer. */
static void conn_shutdown(struct http_conn *c)
{
    c->state = CONN_DRAIN;
    c->shutdown.data = c;
    if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        conn_close(c);
        return;
    }
    http_conn_touch(c, c->srv->idle_ms < HTTP_LINGER_MS ? c->srv->idle_ms : HTTP_LINGER_MS);
    if (!c->reading && !c->eof)
        conn_read_start(c);
}

/* Take no more requests; close once the queued answers are out. */
static void conn_finish(struct http_conn *c)
{
    if (c->state != CONN_OPEN)
        return;
    c->state = CONN_FLUSH;
    tc_buf_free(&c->stash);
    if (c->pending == 0)
        conn_shutdown(c);
}

static void on_write(uv_write_t *req, int status)
{
    struct http_write *w = req->data;
    struct http_conn *c = w->conn;

    tc_buf_free(&w->head);
    tc_buf_free(&w->body);
    free(w);
    c->pending--;
    if (c->state == CONN_CLOSED)
        return;
    if (status < 0) {
        tc_log(DEBUG, "http: connection %p: write: %s", (void *)c, uv_strerror(status));
        conn_close(c);
        return;
    }
    if (c->state == CONN_FLUSH) {
        if (c->pending == 0)
            conn_shutdown(c);
        return;
    }
    if (c->state != CONN_OPEN)
        return;
    http_conn_touch(c, c->srv->idle_ms);
    if (c->paused && c->pending < HTTP_MAX_PIPELINE / 2) {
        struct tc_buf in = c->stash;

        c->stash = (struct tc_buf)TC_BUF_INIT;
        c->paused = false;
        http_parser_pause(&c->parser, 0);
        if (in.len > 0)
            conn_feed(c, in.data, in.len);
        tc_buf_free(&in);
        if (c->state == CONN_OPEN && !c->paused)
            conn_read_start(c);
    }
}

/* Append the status line and headers for res (body_len bytes of body). */
static int put_head(struct tc_buf *b, const http_parser *p, const struct http_response *res,
                    size_t body_len, bool keep)
{
    const char *type = res->content_type ? res->content_type : "text/plain; charset=utf-8";
    int rc;

    rc = tc_buf_printf(b, "HTTP/1.1 %d %s\r\n", res->status, reason_phrase(res->status));
    if (rc == 0 && res->status != 204 && res->status != 304)
        rc = tc_buf_printf(b, "Content-Type: %s\r\nContent-Length: %zu\r\n", type, body_len);
    if (rc == 0)
        rc = tc_buf_puts(b, "Cache-Control: no-store\r\n");
    if (rc == 0 && !keep)
        rc = tc_buf_puts(b, "Connection: close\r\n");
    else if (rc == 0 && p->http_major == 1 && p->http_minor == 0)
        rc = tc_buf_puts(b, "Connection: keep-alive\r\n");
    if (rc == 0)
        rc = tc_buf_puts(b, "\r\n");
    return rc;
}

/* Queue res on c; takes res->body. When keep is false, the connection
 * closes after this answer. */
void http_conn_respond(struct http_conn *c, struct http_response *res, bool head_only, bool keep)
{
    struct http_write *w;
    uv_buf_t bufs[2];
    unsigned n = 1;

    if (res->status < 200 || res->status > 599)
        res->status = 500;
    if (res->status == 204 || res->status == 304)
        tc_buf_reset(&res->body);
    w = calloc(1, sizeof(*w));
    if (w == NULL || c->state == CONN_CLOSED)
        goto out_free;
    w->conn = c;
    w->req.data = w;
    w->body = res->body;
    res->body = (struct tc_buf)TC_BUF_INIT;
    if (put_head(&w->head, &c->parser, res, w->body.len, keep) != 0)
        goto out_free;
    bufs[0] = uv_buf_init(w->head.data, (unsigned)w->head.len);
    if (!head_only && w->body.len > 0)
        bufs[n++] = uv_buf_init(w->body.data, (unsigned)w->body.len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, bufs, n, on_write) != 0)
        goto out_free;
    c->pending++;
    if (!keep)
        conn_finish(c);
    return;

out_free:
    tc_buf_free(&res->body);
    if (w != NULL) {
        tc_buf_free(&w->head);
        tc_buf_free(&w->body);
        free(w);
    }
    conn_close(c);
}

/* Answer bad input with status and close after it. */
void http_conn_reject(struct http_conn *c, int status, const char *why)
{
    struct http_response res = {status, NULL, TC_BUF_INIT};

    if (status >= 400 && status < 500)
        c->srv->rejected++;
    tc_log(DEBUG, "http: connection %p: %d %s", (void *)c, status, why);
    if (tc_buf_printf(&res.body, "%s\n", why) != 0) {
        conn_close(c);
        return;
    }
    http_conn_respond(c, &res, false, false);
}

static void conn_read_stop(struct http_conn *c)
{
    if (c->reading)
        uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
}

/* Parse len bytes of input and answer every request they complete. */
static void conn_feed(struct http_conn *c, const char *data, size_t len)
{
    size_t n = http_parser_execute(&c->parser, &c->srv->settings, data, len);
    enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);

    if (c->state != CONN_OPEN)
        return;
    if (err == HPE_PAUSED && c->paused) {
        /* Bounded by one read: reading stays off until the queue drains. */
        if (tc_buf_append(&c->stash, data + n, len - n) != 0) {
            conn_close(c);
            return;
        }
        conn_read_stop(c);
        return;
    }
    if (err == HPE_HEADER_OVERFLOW)
        http_conn_reject(c, 431, "request header fields too large");
    else if (c->reject != 0)
        http_conn_reject(c, c->reject, c->why);
    else if (err != HPE_OK)
        http_conn_reject(c, 400, http_errno_description(err));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct http_conn *c = stream->data;

    if (nread == 0 || c->state == CONN_CLOSED)
        return;
    if (nread == UV_EOF) {
        c->eof = true;
        c->reading = false;
        /* Answer what was asked in full; a half-sent request is dropped. */
        if (c->state == CONN_OPEN && c->pending > 0)
            conn_finish(c);
        else if (c->state != CONN_FLUSH)
            conn_close(c);
        return;
    }
    if (nread < 0) {
        tc_log(DEBUG, "http: connection %p: read: %s", (void *)c, uv_strerror((int)nread));
        conn_close(c);
        return;
    }
    if (c->state == CONN_OPEN)
        conn_feed(c, buf->base, (size_t)nread);
}

static void conn_read_start(struct http_conn *c)
{
    int rc;

    if (c->reading)
        return;
    rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc != 0) {
        conn_close(c);
        return;
    }
    c->reading = true;
}

/* Over the cap: say so if the socket takes it at once, then close. */
static void conn_refuse(struct http_conn *c)
{
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
                               "Content-Type: text/plain; charset=utf-8\r\n"
                               "Content-Length: 20\r\n"
                               "Cache-Control: no-store\r\n"
                               "Connection: close\r\n\r\n"
                               "too many connections";
    uv_buf_t b = uv_buf_init((char *)busy, sizeof(busy) - 1);

    c->srv->refused++;
    uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    conn_close(c);
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct http_server *s = listener->data;
    struct http_conn *c;

    if (status < 0) {
        tc_log(WARN, "http: accept: %s", uv_strerror(status));
        return;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        tc_log(ERR, "http: accept: out of memory");
        return;
    }
    c->srv = s;
    c->open_handles = 2;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    if (s->n_open >= s->max_conns) {
        conn_refuse(c);
        return;
    }
    c->counted = true;
    s->n_open++;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    uv_tcp_nodelay(&c->tcp, 1);
    http_conn_touch(c, s->idle_ms);
    conn_read_start(c);
}

static void on_listener_close(uv_handle_t *h)
{
    struct http_server *s = h->data;

    s->listener_open = false;
    server_maybe_free(s);
}

static int parse_addr(const char *host, uint16_t port, struct sockaddr_storage *ss)
{
    if (host == NULL)
        return -EINVAL;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0)
        return 0;
    if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0)
        return 0;
    return -EINVAL;
}

static uint32_t or_default(uint32_t v, uint32_t def)
{
    return v != 0 ? v : def;
}

int http_server_start(struct http_server **out, uv_loop_t *loop, const struct http_options *opt)
{
    struct sockaddr_storage ss;
    struct http_server *s;
    int rc;

    memset(&ss, 0, sizeof(ss));
    rc = parse_addr(opt->host, opt->port, &ss);
    if (rc != 0)
        return rc;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    s->loop = loop;
    s->handler = opt->handler;
    s->arg = opt->arg;
    s->max_header = or_default(opt->max_header, HTTP_DEFAULT_MAX_HEADER);
    s->max_body = or_default(opt->max_body, HTTP_DEFAULT_MAX_BODY);
    s->max_conns = or_default(opt->max_connections, HTTP_DEFAULT_MAX_CONNECTIONS);
    s->idle_ms = or_default(opt->idle_timeout_ms, HTTP_DEFAULT_IDLE_MS);
    http_parser_settings_init(&s->settings);
    http_request_settings(&s->settings);
    rc = uv_tcp_init(loop, &s->listener);
    if (rc != 0)
        goto out_free;
    s->listener.data = s;
    s->listener_open = true;
    /* libuv reports EADDRINUSE from bind only at listen. */
    rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->listener, HTTP_BACKLOG, on_connection);
    if (rc != 0)
        goto out_close;
    tc_log(INFO, "http: listening on %s port %d", opt->host, http_server_port(s));
    *out = s;
    return 0;

out_close:
    /* s goes with the listener's close callback, on the next loop run. */
    s->stopping = true;
    uv_close((uv_handle_t *)&s->listener, on_listener_close);
    return rc;
out_free:
    free(s);
    return rc;
}

int http_server_port(const struct http_server *s)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    int rc;

    rc = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len);
    if (rc != 0)
        return rc;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

uint64_t http_server_rejected(const struct http_server *s)
{
    return s->rejected;
}

uint64_t http_server_refused(const struct http_server *s)
{
    return s->refused;
}

uint32_t http_server_connections(const struct http_server *s)
{
    return s->n_open;
}

void http_server_stop(struct http_server *s)
{
    struct http_conn *c;

    assert(!s->stopping);
    s->stopping = true;
    uv_close((uv_handle_t *)&s->listener, on_listener_close);
    for (c = s->conns; c != NULL; c = c->next) {
        conn_close(c);
    }
}
