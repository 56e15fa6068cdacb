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

#define HTTP_DEFAULT_MAX_HEADER      8192
#define HTTP_DEFAULT_MAX_BODY        65536
#define HTTP_DEFAULT_MAX_CONNECTIONS 256
#define HTTP_DEFAULT_IDLE_MS         30000
#define HTTP_BACKLOG                 128
#define HTTP_READ_SIZE               65536
/* Responses queued on one connection before we stop parsing its pipeline. */
#define HTTP_MAX_PIPELINE 16
/* How long a connection we are closing may keep sending before we cut it. */
#define HTTP_LINGER_MS 2000
/* Request line bytes the parser does not hand us (method, spaces, version). */
#define HTTP_LINE_OVERHEAD 16

enum conn_state {
    CONN_OPEN,   /* reading requests */
    CONN_FLUSH,  /* no more requests; shut down once queued answers are written */
    CONN_DRAIN,  /* write side shut down; input discarded until EOF or linger */
    CONN_CLOSED, /* uv_close called on both handles */
};

struct http_conn {
    struct http_server *srv;
    struct http_conn *prev, *next;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown;
    http_parser parser;
    enum conn_state state;
    int open_handles;  /* closes to wait for before freeing */
    unsigned pending;  /* writes in flight */
    uint32_t head;     /* bytes of the current request head, roughly */
    int reject;        /* status to answer when a callback stopped the parser */
    const char *why;   /* its reason, static */
    bool in_field;     /* last header callback was a field name */
    bool paused;       /* parser paused on HTTP_MAX_PIPELINE; rest is in stash */
    bool reading;      /* uv_read_start is in effect */
    bool eof;          /* the peer shut down its side */
    bool counted;      /* holds one of max_connections */
    struct tc_buf url; /* the request target as received */
    struct tc_buf body;
    struct tc_buf stash; /* input not parsed yet while paused */
};

struct http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    http_parser_settings settings;
    http_handler handler;
    void *arg;
    uint32_t max_header, max_body, max_conns, idle_ms;
    struct http_conn *conns; /* every connection not yet freed */
    uint32_t n_open;         /* connections counted against max_conns */
    uint64_t rejected, refused;
    bool listener_open; /* its close callback has not run yet */
    bool stopping;
    char rbuf[HTTP_READ_SIZE]; /* shared: each read is consumed before the next */
};

struct http_write {
    uv_write_t req;
    struct http_conn *conn;
    struct tc_buf head;
    struct tc_buf body;
};

/* Arm c's idle (or linger) timer for ms from now. */
void http_conn_touch(struct http_conn *c, uint64_t ms);

/* Queue res (taken) as the answer to the current request; head_only for
 * HEAD; keep: the connection stays open after it. */
void http_conn_respond(struct http_conn *c, struct http_response *res, bool head_only, bool keep);

/* Answer bad input with status and close after it. */
void http_conn_reject(struct http_conn *c, int status, const char *why);

/* The parser callbacks of a connection (parser->data is the http_conn). */
void http_request_settings(http_parser_settings *st);

#endif
