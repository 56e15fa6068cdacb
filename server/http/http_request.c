/* Reading one request: http_parser's callbacks, with the bounds on the
 * head, the URL and the body, and the handler's call when a request is
 * complete. */
#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include "server/http/http_int.h"
#include "server/http/http_url.h"

/* Stop the parser from a callback; the connection answers status. */
static int stop_parse(struct http_conn *c, int status, const char *why)
{
    c->reject = status;
    c->why = why;
    return -1;
}

static int head_grow(struct http_conn *c, size_t n)
{
    if (n > c->srv->max_header || c->head + n > c->srv->max_header)
        return stop_parse(c, 431, "request header fields too large");
    c->head += (uint32_t)n;
    return 0;
}

static int on_message_begin(http_parser *p)
{
    struct http_conn *c = p->data;

    tc_buf_reset(&c->url);
    tc_buf_reset(&c->body);
    c->head = 0;
    c->in_field = false;
    c->head_req = false;
    return head_grow(c, HTTP_LINE_OVERHEAD);
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;

    /* The method is whole once the URL starts: a refusal from here on
     * answers a HEAD without a body. */
    c->head_req = p->method == HTTP_HEAD;
    if (len > HTTP_MAX_URL || c->url.len + len > HTTP_MAX_URL)
        return stop_parse(c, 414, "uri too long");
    if (head_grow(c, len) != 0)
        return -1;
    if (tc_buf_append(&c->url, at, len) != 0)
        return stop_parse(c, 503, "out of memory");
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;

    (void)at;
    /* A new field: count its ": " and CRLF too. */
    if (!c->in_field && head_grow(c, 4) != 0)
        return -1;
    c->in_field = true;
    return head_grow(c, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;

    (void)at;
    c->in_field = false;
    return head_grow(c, len);
}

static int on_headers_complete(http_parser *p)
{
    struct http_conn *c = p->data;

    if (!(p->flags & F_CHUNKED) && p->content_length != ULLONG_MAX &&
        p->content_length > c->srv->max_body)
        return stop_parse(c, 413, "content too large");
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;

    if (len > c->srv->max_body || c->body.len + len > c->srv->max_body)
        return stop_parse(c, 413, "content too large");
    if (tc_buf_append(&c->body, at, len) != 0)
        return stop_parse(c, 503, "out of memory");
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct http_conn *c = p->data;
    struct http_server *s = c->srv;
    struct http_request req = {http_method_str(p->method), "/", "", "", 0};
    struct http_response res = {.status = 200, .body = TC_BUF_INIT};
    bool keep = http_should_keep_alive(p) && !p->upgrade;
    int rc;

    rc = http_url_split(c->url.data, c->url.len, p->method == HTTP_CONNECT, &req.path, &req.query);
    if (rc != 0) {
        /* The parser could go on, but a client this confused gets closed. */
        http__conn_reject(c, 400, "invalid URL or percent-encoding");
        http_parser_pause(p, 1);
        return 0;
    }
    if (c->body.data != NULL)
        req.body = c->body.data;
    req.body_len = c->body.len;
    if (s->handler != NULL)
        s->handler(s->arg, &req, &res);
    else
        res.status = 404;
    http__conn_respond(c, &res, p->method == HTTP_HEAD, keep);
    /* The parser refuses a bad method before on_message_begin: the next
     * request is no HEAD until its URL says so. */
    c->head_req = false;
    /* Keep small buffers for the next request, not a max_body one. */
    if (c->body.cap > 4096)
        tc_buf_free(&c->body);
    if (c->state != CONN_OPEN) {
        http_parser_pause(p, 1);
        return 0;
    }
    http__conn_touch(c);
    if (c->pending >= HTTP_MAX_PIPELINE) {
        c->paused = true;
        http_parser_pause(p, 1);
    }
    return 0;
}

void http__request_settings(http_parser_settings *st)
{
    st->on_message_begin = on_message_begin;
    st->on_url = on_url;
    st->on_header_field = on_header_field;
    st->on_header_value = on_header_value;
    st->on_headers_complete = on_headers_complete;
    st->on_body = on_body;
    st->on_message_complete = on_message_complete;
}
