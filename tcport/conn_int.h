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
#include "server/net/tcp_server.h"
#include "tcport/conn.h"

enum conn_state {
    CONN_OPEN,   /* reading requests */
    CONN_FINISH, /* no more requests; shut down once the output is written */
    CONN_DONE,   /* handed to the TCP server: shut down or closed */
};

/* The user area of a struct tcp_conn (server/net/tcp_server.h), which
 * accepts, caps, times out and frees the connection. */
struct conn {
    struct conn_server *srv;
    struct tcp_conn *tc;
    struct conn *flush_next; /* on srv->flush */
    struct conn *kick_next;  /* on srv->kicks */
    uv_write_t wreq;
    enum conn_state state;
    bool paused;        /* reading stopped: output over its bound */
    bool writing;       /* wreq in flight with wbuf */
    bool on_flush;      /* on srv->flush */
    bool on_kick;       /* on srv->kicks */
    struct tc_buf out;  /* queued, not yet handed to libuv */
    struct tc_buf wbuf; /* the write in flight */
    uint8_t *in;        /* a partial frame: at most srv->rcap bytes */
    size_t in_len;
    void *data;
};

struct conn_server {
    struct tcp_server *tcp;
    uv_idle_t idle;       /* runs kicks without letting the loop block */
    uv_prepare_t prepare; /* flushes output queued before polling */
    uv_check_t check;     /* flushes output queued by I/O callbacks */
    struct conn_handler h;
    void *arg;
    struct conn_options o;
    struct conn *flush;
    struct conn *kicks;
    struct conn_stats st;
    int open_handles; /* the three above and the TCP server */
    bool stopping;
    size_t rcap;      /* max_frame + FRAME_HEADER: the TCP server's read buffer */
    uint8_t busy[96]; /* the packed ERROR_TOO_MANY_CONNECTIONS frame */
    size_t busy_len;
};

/* conn_server.c */

/* Flush c's output before the loop polls again. */
void conn__mark_flush(struct conn *c);

/* c is closing: take it off the server's flush and kick lists. */
void conn__forget(struct conn *c);

/* conn.c */

/* Hand c's queued output to libuv if no write is in flight. */
void conn__flush(struct conn *c);

/* The TCP server's callbacks for framed connections (arg is the struct
 * conn_server). */
int conn__on_accept(void *arg, struct tcp_conn *tc);
void conn__on_alloc(void *arg, struct tcp_conn *tc, uv_buf_t *buf);
void conn__on_read(void *arg, struct tcp_conn *tc, char *data, size_t len);
void conn__on_eof(void *arg, struct tcp_conn *tc);
void conn__on_idle(void *arg, struct tcp_conn *tc);
void conn__on_message_timeout(void *arg, struct tcp_conn *tc);
void conn__on_close(void *arg, struct tcp_conn *tc);

#endif
