#ifndef TC_SERVER_HTTP_HTTP_H
#define TC_SERVER_HTTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "server/base/buf.h"

/* A small HTTP/1.1 server on the loop for /healthz, /metrics and the live
 * page. Requests are parsed with http-parser; every input is bounded: the
 * request head (line + headers) by max_header bytes (over it: 431; http-parser
 * itself caps a head at 80 KiB), the URL by HTTP_MAX_URL (over it: 414), a
 * body by max_body (over it: 413), malformed requests get 400 with the reason
 * in the body; each of these closes the connection after the answer. A
 * request must arrive in full within idle_timeout_ms of the connection's last
 * answer (or its opening), else the connection is closed. At most
 * max_connections are open; further ones get a best-effort 503 and are closed
 * at once. Keep-alive and pipelining are honoured, answers in request order.
 * HEAD is answered without a body. A handler may instead make its answer
 * the start of a Server-Sent Events stream (http_server_events()): the
 * connection then takes no more requests, and events broadcast by
 * http_server_broadcast() follow, with a comment line every heartbeat. A
 * stream whose unsent output would pass max_event_queue bytes (a client
 * that does not read) is closed rather than held in memory; at most
 * max_event_clients streams are open. Loop thread only. The process must
 * ignore SIGPIPE: libuv writes with write(2), which raises it when a client
 * has reset the connection. */

#define HTTP_MAX_URL 2048 /* bytes of request target */

struct http_server;

struct http_request {
    const char *method; /* "GET", ... */
    const char *path;   /* decoded path without query, e.g. "/metrics" */
    const char *query;  /* raw query string without '?', or "" */
    const char *body;   /* NUL-terminated, may be "" */
    size_t body_len;
};

struct http_response {
    int status;               /* default 200 */
    const char *content_type; /* static string; default "text/plain; charset=utf-8" */
    struct tc_buf body;       /* the handler appends; the server frees */
    bool events;              /* set by http_server_events(): start an event stream */
};

/* Handles one request, synchronously, on the loop thread. Fill res. req and
 * its strings are borrowed for the call only. Every method reaches the
 * handler; it answers 405 to those it does not take. */
typedef void (*http_handler)(void *arg, const struct http_request *req, struct http_response *res);

struct http_options {
    const char *host; /* numeric IPv4 or IPv6 address */
    uint16_t port;
    uint32_t max_header;         /* bytes; 0: 8192 */
    uint32_t max_body;           /* bytes; 0: 65536 */
    uint32_t max_connections;    /* 0: 256 */
    uint32_t idle_timeout_ms;    /* 0: 30000 */
    uint32_t max_event_clients;  /* event streams open at once; 0: 16 */
    uint32_t max_event_queue;    /* bytes a stream may leave unsent; 0: 262144 */
    uint32_t event_heartbeat_ms; /* comment line on every stream; 0: 15000 */
    uint32_t max_per_source;     /* connections from one source; 0: no cap */
    http_handler handler;        /* NULL: every request gets 404 */
    void *arg;                   /* passed to handler */
};

/* Bind and listen (port 0: an ephemeral port, see http_server_port()).
 * opt is copied; host is not kept. Returns 0 and fills *out, or a negative
 * errno (-EADDRINUSE, -EADDRNOTAVAIL, -EACCES, -EINVAL for a bad address).
 * On failure after the listener was opened, its memory is released by its
 * close callback: run the loop before uv_loop_close(), as for any handle. */
int http_server_start(struct http_server **out, uv_loop_t *loop, const struct http_options *opt);

/* The bound port, or a negative errno. */
int http_server_port(const struct http_server *s);

/* Number of requests answered with a 4xx because of bad or oversized input. */
uint64_t http_server_rejected(const struct http_server *s);

/* Number of connections refused because max_connections were open. */
uint64_t http_server_refused(const struct http_server *s);

/* Connections open now (counted against max_connections). */
uint32_t http_server_connections(const struct http_server *s);

/* Make res, the answer the handler is filling, the start of an event
 * stream: 200 with Content-Type text/event-stream, no length, whatever
 * res->body holds as its first bytes (e.g. "retry: 2000\n\n"), then the
 * broadcasts. Returns 0, or -EBUSY when max_event_clients streams are open:
 * res is then a 503 saying so. A HEAD request gets the head alone. Loop
 * thread, from the handler. */
int http_server_events(struct http_server *s, struct http_response *res);

/* Send the event "event: NAME\ndata: DATA\n\n" (a line of data per line of
 * data) to every open stream. A stream that cannot take it within
 * max_event_queue is closed and counted (http_server_event_dropped()).
 * Returns the number of streams it was queued on. */
unsigned http_server_broadcast(struct http_server *s, const char *name, const char *data,
                               size_t len);

/* Event streams open now, and streams closed because they fell behind. */
uint32_t http_server_event_clients(const struct http_server *s);
uint64_t http_server_event_dropped(const struct http_server *s);

/* Append the TCP server's tcluster_http_* families to b. Returns 0 or
 * -ENOMEM. */
int http_server_metrics(const struct http_server *s, struct tc_buf *b);

/* Close the listener and every connection; answers not yet written are
 * dropped. s is freed once their handles have closed (run the loop); do not
 * use s after this call. May be called from the handler. */
void http_server_stop(struct http_server *s);

#endif
