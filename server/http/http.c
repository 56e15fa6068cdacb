#include "server/http/http.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "server/base/log.h"
#include "server/http/http_int.h"

static void conn_feed(struct http_conn *c, const char *data, size_t len);

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

static void conn_close(struct http_conn *c)
{
    c->state = CONN_DONE;
    tcp_conn_close(c->tc);
}

void http__conn_touch(struct http_conn *c)
{
    tcp_conn_touch(c->tc);
}

/* Everything is answered: the TCP server sends FIN and reads what the peer
 * still sends, so that closing does not reset the connection under our
 * last answer. */
static void conn_shutdown(struct http_conn *c)
{
    c->state = CONN_DONE;
    tcp_conn_shutdown(c->tc);
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

/* The pipeline went under half its bound: parse what waited, read again. */
static void conn_resume(struct http_conn *c)
{
    struct tc_buf in = c->stash;

    c->stash = (struct tc_buf)TC_BUF_INIT;
    c->paused = false;
    http_parser_pause(&c->parser, 0);
    if (in.len > 0)
        conn_feed(c, in.data, in.len);
    tc_buf_free(&in);
    if (c->state == CONN_OPEN && !c->paused)
        tcp_conn_read_start(c->tc);
}

static void on_write(uv_write_t *req, int status)
{
    struct http_write *w = req->data;
    struct http_conn *c = w->conn;

    tc_buf_free(&w->head);
    tc_buf_free(&w->body);
    free(w);
    c->pending--;
    if (status < 0) {
        if (status != UV_ECANCELED)
            tc_log(DEBUG, "http: %s: write: %s", tcp_conn_peer(c->tc), uv_strerror(status));
        conn_close(c);
        return;
    }
    if (c->state == CONN_DONE || c->state == CONN_STREAM || tcp_conn_closing(c->tc))
        return;
    if (c->state == CONN_FLUSH) {
        if (c->pending == 0)
            conn_shutdown(c);
        return;
    }
    http__conn_touch(c);
    if (c->paused && c->pending < HTTP_MAX_PIPELINE / 2)
        conn_resume(c);
}

/* Append the status line and headers for res (body_len bytes of body; an
 * event stream has no length and ends when the connection closes). */
static int put_head(struct tc_buf *b, const http_parser *p, const struct http_response *res,
                    size_t body_len, bool keep, bool stream)
{
    const char *type = res->content_type ? res->content_type : "text/plain; charset=utf-8";
    int rc;

    rc = tc_buf_printf(b, "HTTP/1.1 %d %s\r\n", res->status, reason_phrase(res->status));
    if (rc == 0 && stream)
        rc = tc_buf_puts(b, "Content-Type: text/event-stream\r\n");
    else if (rc == 0 && res->status != 204 && res->status != 304)
        rc = tc_buf_printf(b, "Content-Type: %s\r\nContent-Length: %zu\r\n", type, body_len);
    if (rc == 0)
        rc = tc_buf_puts(b, "Cache-Control: no-store\r\n");
    if (rc == 0 && (!keep || stream))
        rc = tc_buf_puts(b, "Connection: close\r\n");
    else if (rc == 0 && p->http_major == 1 && p->http_minor == 0)
        rc = tc_buf_puts(b, "Connection: keep-alive\r\n");
    if (rc == 0)
        rc = tc_buf_puts(b, "\r\n");
    return rc;
}

/* Queue res on c; takes res->body. When keep is false, the connection
 * closes after this answer. */
void http__conn_respond(struct http_conn *c, struct http_response *res, bool head_only, bool keep)
{
    struct http_write *w;
    uv_buf_t bufs[2];
    unsigned n = 1;
    bool stream = res->events && !head_only && res->status == 200;

    if (res->status < 200 || res->status > 599)
        res->status = 500;
    if (res->status == 204 || res->status == 304)
        tc_buf_reset(&res->body);
    w = calloc(1, sizeof(*w));
    if (w == NULL || c->state == CONN_DONE || tcp_conn_closing(c->tc))
        goto out_free;
    w->conn = c;
    w->req.data = w;
    w->body = res->body;
    res->body = (struct tc_buf)TC_BUF_INIT;
    if (put_head(&w->head, &c->parser, res, w->body.len, keep, stream) != 0)
        goto out_free;
    bufs[0] = uv_buf_init(w->head.data, (unsigned)w->head.len);
    if (!head_only && w->body.len > 0)
        bufs[n++] = uv_buf_init(w->body.data, (unsigned)w->body.len);
    if (uv_write(&w->req, tcp_conn_stream(c->tc), bufs, n, on_write) != 0)
        goto out_free;
    c->pending++;
    if (stream)
        http__events_attach(c);
    else if (!keep)
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
void http__conn_reject(struct http_conn *c, int status, const char *why)
{
    struct http_response res = {.status = status, .body = TC_BUF_INIT};

    if (status >= 400 && status < 500)
        c->srv->rejected++;
    tc_log(DEBUG, "http: %s: %d %s", tcp_conn_peer(c->tc), status, why);
    if (tc_buf_printf(&res.body, "%s\n", why) != 0) {
        conn_close(c);
        return;
    }
    http__conn_respond(c, &res, c->head_req, false);
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
        tcp_conn_read_stop(c->tc);
        return;
    }
    if (err == HPE_HEADER_OVERFLOW)
        http__conn_reject(c, 431, "request header fields too large");
    else if (c->reject != 0)
        http__conn_reject(c, c->reject, c->why);
    else if (err != HPE_OK)
        http__conn_reject(c, 400, http_errno_description(err));
}

static void on_read(void *arg, struct tcp_conn *tc, char *data, size_t len)
{
    struct http_conn *c = tcp_conn_data(tc);

    (void)arg;
    if (c->state == CONN_OPEN)
        conn_feed(c, data, len);
}

/* The client shut down its side: answer what was asked in full; a
 * half-sent request is dropped. */
static void on_eof(void *arg, struct tcp_conn *tc)
{
    struct http_conn *c = tcp_conn_data(tc);

    (void)arg;
    if (c->state == CONN_STREAM)
        conn_close(c);
    else if (c->state == CONN_OPEN && c->pending > 0)
        conn_finish(c);
    else if (c->state != CONN_FLUSH)
        conn_close(c);
}

static int on_accept(void *arg, struct tcp_conn *tc)
{
    struct http_conn *c = tcp_conn_data(tc);

    c->srv = arg;
    c->tc = tc;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    return 0;
}

static void on_close(void *arg, struct tcp_conn *tc)
{
    struct http_conn *c = tcp_conn_data(tc);

    (void)arg;
    http__events_detach(c);
    tc_buf_free(&c->url);
    tc_buf_free(&c->body);
    tc_buf_free(&c->stash);
}

static uint32_t or_default(uint32_t v, uint32_t def)
{
    return v != 0 ? v : def;
}

/* Over max_connections: said if the socket takes it at once, then closed. */
static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
                           "Content-Type: text/plain; charset=utf-8\r\n"
                           "Content-Length: 20\r\n"
                           "Cache-Control: no-store\r\n"
                           "Connection: close\r\n\r\n"
                           "too many connections";

static struct tcp_server_options tcp_options(struct http_server *s, const struct http_options *opt)
{
    uint32_t idle = or_default(opt->idle_timeout_ms, HTTP_DEFAULT_IDLE_MS);

    return (struct tcp_server_options){
            .name = "http",
            .max_conns = or_default(opt->max_connections, HTTP_DEFAULT_MAX_CONNECTIONS),
            /* A request must arrive in full within idle_ms of the last
             * answer: input alone does not restart the clock. */
            .idle_ms = idle,
            .idle_by_user = true,
            .max_per_source = opt->max_per_source,
            .linger_ms = idle < HTTP_LINGER_MS ? idle : HTTP_LINGER_MS,
            .backlog = HTTP_BACKLOG,
            .conn_size = sizeof(struct http_conn),
            /* Only event streams write with tcp_conn_write(): their bound. */
            .max_queue = or_default(opt->max_event_queue, HTTP_DEFAULT_EVENT_QUEUE),
            .busy = busy,
            .busy_len = sizeof(busy) - 1,
            .h = {.on_accept = on_accept,
                  .on_read = on_read,
                  .on_eof = on_eof,
                  .on_close = on_close},
            .arg = s,
    };
}

int http_server_start(struct http_server **out, uv_loop_t *loop, const struct http_options *opt)
{
    struct tcp_server_options to;
    struct http_server *s;
    int rc;

    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    s->handler = opt->handler;
    s->arg = opt->arg;
    s->max_header = or_default(opt->max_header, HTTP_DEFAULT_MAX_HEADER);
    s->max_body = or_default(opt->max_body, HTTP_DEFAULT_MAX_BODY);
    s->ev_max = or_default(opt->max_event_clients, HTTP_DEFAULT_EVENT_CLIENTS);
    http_parser_settings_init(&s->settings);
    http__request_settings(&s->settings);
    to = tcp_options(s, opt);
    rc = tcp_server_new(&s->tcp, loop, &to);
    if (rc != 0)
        goto out_free;
    rc = tcp_server_listen(s->tcp, opt->host, opt->port);
    if (rc != 0)
        goto out_stop;
    http__events_init(s, loop, or_default(opt->event_heartbeat_ms, HTTP_DEFAULT_EVENT_HEARTBEAT));
    *out = s;
    return 0;

out_stop:
    /* The listener goes with its close callback, on the next loop run. */
    tcp_server_stop(s->tcp, NULL);
out_free:
    free(s);
    return rc;
}

int http_server_port(const struct http_server *s)
{
    return tcp_server_port(s->tcp, 0);
}

uint64_t http_server_rejected(const struct http_server *s)
{
    return s->rejected;
}

uint64_t http_server_refused(const struct http_server *s)
{
    return tcp_server_stats(s->tcp)->refused;
}

uint32_t http_server_connections(const struct http_server *s)
{
    return tcp_server_stats(s->tcp)->open;
}

/* The TCP server and the heartbeat timer both closed: s goes. */
void http__server_release(struct http_server *s)
{
    if (--s->closing == 0)
        free(s);
}

int http_server_metrics(const struct http_server *s, struct tc_buf *b)
{
    return tcp_server_metrics(s->tcp, "http", b);
}

static void on_stopped(void *arg)
{
    http__server_release(arg);
}

void http_server_stop(struct http_server *s)
{
    s->closing = 2;
    tcp_server_stop(s->tcp, on_stopped);
    http__events_close(s);
}
