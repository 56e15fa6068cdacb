#ifndef TC_TCPORT_CONN_INT_H
#define TC_TCPORT_CONN_INT_H

/* conn.h's insides, shared by conn.c (one connection: reading, frames,
 * writing, closing) and conn_server.c (listener, accept, the flush and
 * kick phases, stop, metrics). Loop thread only. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "server/base/buf.h"
#include "tcport/conn.h"

enum conn_state {
    CONN_OPEN,   /* reading requests */
    CONN_FINISH, /* no more requests; shut down once the output is written */
    CONN_DRAIN,  /* sending side shut down; input discarded until EOF or linger */
    CONN_CLOSED, /* uv_close called on both handles */
};

struct conn {
    struct conn_server *srv;
    struct conn *prev, *next; /* every connection not yet freed */
    struct conn *flush_next;  /* on srv->flush */
    struct conn *kick_next;   /* on srv->kicks */
    uv_tcp_t tcp;
    uv_timer_t timer; /* idle, then linger */
    uv_write_t wreq;
    uv_shutdown_t sreq;
    enum conn_state state;
    int open_handles;
    bool counted;  /* accepted under max_conns: on_open and on_close apply */
    bool reading;  /* uv_read_start in effect */
    bool paused;   /* reading stopped: output over its bound */
    bool writing;  /* wreq in flight with wbuf */
    bool eof;      /* the client shut down its side */
    bool on_flush; /* on srv->flush */
    bool on_kick;  /* on srv->kicks */
    bool idle_on;
    struct tc_buf out;  /* queued, not yet handed to libuv */
    struct tc_buf wbuf; /* the write in flight */
    uint8_t *in;        /* a partial frame: at most srv->rcap bytes */
    size_t in_len;
    void *data;
    char peer[64];
};

struct conn_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_idle_t idle;       /* runs kicks without letting the loop block */
    uv_prepare_t prepare; /* flushes output queued before polling */
    uv_check_t check;     /* flushes output queued by I/O callbacks */
    struct conn_handler h;
    void *arg;
    struct conn_options o;
    struct conn *conns;
    struct conn *flush;
    struct conn *kicks;
    struct conn_stats st;
    int open_handles;
    bool stopping;
    size_t rcap;      /* max_frame + FRAME_HEADER */
    uint8_t *rbuf;    /* shared read buffer, rcap bytes: each read is parsed at once */
    uint8_t busy[96]; /* the packed ERROR_TOO_MANY_CONNECTIONS frame */
    size_t busy_len;
};

/* conn_server.c */

/* Flush c's output before the loop polls again. */
void conn_mark_flush(struct conn *c);

/* c's handles are closed: take it off the server's lists, then free the
 * server if it was waiting for that. */
void conn_server_forget(struct conn_server *s, struct conn *c);

/* conn.c */

/* Hand c's queued output to libuv if no write is in flight. */
void conn_flush(struct conn *c);

/* c was accepted and counted: arm the idle timer, tell the port, read. */
void conn_begin(struct conn *c);

/* Close callback of c's two handles. */
void conn_on_handle_close(uv_handle_t *h);

#endif
