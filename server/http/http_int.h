#ifndef TC_SERVER_HTTP_HTTP_INT_H
#define TC_SERVER_HTTP_HTTP_INT_H

/* Inside the HTTP server: the connection and server state shared by
 * http.c (listening, connections, writing answers) and http_request.c
 * (parsing requests). Not for other modules. */

#include <http_parser.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "server/base/buf.h"
#include "server/http/http.h"
#include "server/net/tcp_server.h"

#define HTTP_DEFAULT_MAX_HEADER      8192
#define HTTP_DEFAULT_MAX_BODY        65536
#define HTTP_DEFAULT_MAX_CONNECTIONS 256
#define HTTP_DEFAULT_IDLE_MS         30000
#define HTTP_BACKLOG                 128
/* Responses queued on one connection before we stop parsing its pipeline. */
#define HTTP_MAX_PIPELINE 16
/* How long a connection we are closing may keep sending before we cut it. */
#define HTTP_LINGER_MS 2000
/* Request line bytes the parser does not hand us (method, spaces, version). */
#define HTTP_LINE_OVERHEAD           16
#define HTTP_DEFAULT_EVENT_CLIENTS   16
#define HTTP_DEFAULT_EVENT_QUEUE     (256 * 1024)
#define HTTP_DEFAULT_EVENT_HEARTBEAT 15000

enum conn_state {
    CONN_OPEN,   /* reading requests */
    CONN_FLUSH,  /* no more requests; shut down once queued answers are written */
    CONN_STREAM, /* an event stream: no more requests, broadcasts go out */
    CONN_DONE,   /* handed to the TCP server: shut down or closed */
};

/* The user area of a struct tcp_conn (see server/net/tcp_server.h). */
struct http_conn {
    struct http_server *srv;
    struct tcp_conn *tc;
    http_parser parser;
    enum conn_state state;
    unsigned pending;  /* writes in flight */
    uint32_t head;     /* bytes of the current request head, roughly */
    int reject;        /* status to answer when a callback stopped the parser */
    const char *why;   /* its reason, static */
    bool in_field;     /* last header callback was a field name */
    bool paused;       /* parser paused on HTTP_MAX_PIPELINE; rest is in stash */
    bool head_req;     /* the request being read is a HEAD (known from its URL on) */
    struct tc_buf url; /* the request target as received */
    struct tc_buf body;
    struct tc_buf stash; /* input not parsed yet while paused */
    /* On the server's list of event streams (CONN_STREAM) until closed. */
    struct http_conn *ev_prev, *ev_next;
    bool ev_linked;
};

struct http_server {
    struct tcp_server *tcp;
    http_parser_settings settings;
    http_handler handler;
    void *arg;
    uint32_t max_header, max_body;
    uint64_t rejected;
    /* Event streams (http_events.c). */
    struct http_conn *ev_head;
    uint32_t ev_clients, ev_max;
    uint64_t ev_dropped;
    uv_timer_t heartbeat;
    int closing; /* handles still to close before the server is freed */
};

struct http_write {
    uv_write_t req;
    struct http_conn *conn;
    struct tc_buf head;
    struct tc_buf body;
};

/* Restart c's idle timer: an answer went out or a request came in full. */
void http__conn_touch(struct http_conn *c);

/* Queue res (taken) as the answer to the current request; head_only for
 * HEAD; keep: the connection stays open after it. */
void http__conn_respond(struct http_conn *c, struct http_response *res, bool head_only, bool keep);

/* Answer bad input with status and close after it. */
void http__conn_reject(struct http_conn *c, int status, const char *why);

/* Event streams (http_events.c): start the heartbeat timer; make c, whose
 * answer was just queued, a stream; take it off the list when it closes;
 * close the timer (http__server_release(s) runs once it has closed). */
void http__events_init(struct http_server *s, uv_loop_t *loop, uint32_t heartbeat_ms);
void http__events_attach(struct http_conn *c);
void http__events_detach(struct http_conn *c);
void http__events_close(struct http_server *s);

/* One of the server's handles (TCP server, heartbeat timer) has closed:
 * the last one frees s. */
void http__server_release(struct http_server *s);

/* The parser callbacks of a connection (parser->data is the http_conn). */
void http__request_settings(http_parser_settings *st);

#endif
