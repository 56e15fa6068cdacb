#ifndef TC_TCPORT_PEER_PEER_NET_H
#define TC_TCPORT_PEER_PEER_NET_H

#include <nng/nng.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "server/base/buf.h"

struct config_addr;

/* The nng side of the peer links: TCP byte streams (nng_stream) with
 * 4-byte length framing, one listener and one dialer per peer.
 *
 * nng completes accepts, dials, reads and writes on its own threads. Those
 * callbacks only cut frames out of the byte stream and hand them, with
 * every other event, to a mutex-protected queue and wake the loop with
 * uv_async_send(); everything else runs on the loop thread, which drains
 * the queue through one handler. The queue is bounded per connection:
 * frames waiting beyond rx_max_frames or rx_max_bytes end that
 * connection's reading with a PEER_EV_FLOOD event. A frame longer than
 * max_frame ends it with PEER_EV_TOOBIG.
 *
 * Why streams and not an SP socket: a pair1 socket holds one pipe, and the
 * polyamorous mode, which could hold one per peer on a single listener,
 * silently drops messages when a pipe's two-slot queue is full; a snapshot
 * of a million DNs needs back-pressure instead. Streams give it: a write
 * completes when TCP took the bytes. */

struct peer_net;
struct peer_conn;

enum peer_ev_type {
    PEER_EV_ACCEPTED,   /* stream: a new inbound connection; the handler takes it by
                         * setting ev->stream to NULL, else it is closed. The next
                         * accept starts after the handler. */
    PEER_EV_ACCEPT_ERR, /* rc: accept failed; call peer_net_accept() again later */
    PEER_EV_DIALED,     /* tag; stream (taken) or rc */
    PEER_EV_FRAME,      /* conn; data[len]: one frame body */
    PEER_EV_SENT,       /* conn: everything flushed so far was written */
    PEER_EV_CLOSED,     /* conn: read or write failed with rc (negative errno) */
    PEER_EV_TOOBIG,     /* conn: a frame of len bytes was announced */
    PEER_EV_FLOOD,      /* conn: too many frames waiting for the loop */
};

struct peer_ev {
    struct peer_ev *next;
    enum peer_ev_type type;
    bool prealloc; /* owned by its dialer, listener or conn; never freed */
    uint64_t conn_id;
    int tag;
    int rc; /* 0 or a negative errno: nng codes are converted where nng answers */
    nng_stream *stream;
    size_t len;
    uint8_t data[];
};

/* Called on the loop for each event, in order. conn is the connection the
 * event is about (NULL for accepts, dials, or when it was closed since).
 * Return 0 when done with it, or -EAGAIN to stop draining and keep it at
 * the head of the queue until peer_net_kick(). */
typedef int (*peer_net_cb)(void *arg, struct peer_ev *ev, struct peer_conn *conn);

struct peer_net_options {
    uint32_t max_frame;     /* longest frame body accepted */
    uint32_t rx_max_frames; /* frames waiting per connection */
    size_t rx_max_bytes;    /* bytes waiting per connection */
    peer_net_cb handler;
    void *arg;
};

/* Make the event queue and its uv_async_t on loop. Returns 0 or -ENOMEM. */
int peer_net_init(struct peer_net **out, uv_loop_t *loop, const struct peer_net_options *o);

/* Listen on a and start accepting. Returns 0 or a negative errno
 * (-EADDRINUSE, -EADDRNOTAVAIL, -EACCES, -EINVAL, -ENOMEM, -EIO). */
int peer_net_listen(struct peer_net *n, const struct config_addr *a);

/* Accept the next connection (after PEER_EV_ACCEPT_ERR). */
void peer_net_accept(struct peer_net *n);

/* Prepare a dialer for a, named by tag (0 <= tag < 64). Returns 0 or a
 * negative errno. */
int peer_net_dialer(struct peer_net *n, int tag, const struct config_addr *a);

/* Start one dial of tag's address unless one is under way; it ends with
 * PEER_EV_DIALED. */
void peer_net_dial(struct peer_net *n, int tag, uint32_t timeout_ms);

/* Take stream and start reading it. Returns the connection, or NULL on
 * -ENOMEM (the stream is then closed). */
struct peer_conn *peer_net_conn(struct peer_net *n, nng_stream *stream);

/* The remote address of stream without the port ("127.0.0.2", "::1"), as
 * config_addr spells a numeric host, into buf; "?" when unknown. Borrows
 * stream. Loop thread. */
void peer_net_stream_host(nng_stream *stream, char *buf, size_t size);

/* Drain the queue again (after the handler returned -EAGAIN). */
void peer_net_kick(struct peer_net *n);

/* Close everything: listener, dialers, connections, queued events. The
 * memory goes once the loop ran the async handle's close callback. */
void peer_net_free(struct peer_net *n);

/* Bytes to send; append frames, then peer_conn_flush(). */
struct tc_buf *peer_conn_out(struct peer_conn *c);

/* Start writing what was appended, unless a write is under way (the next
 * starts when it completes). */
void peer_conn_flush(struct peer_conn *c);

/* Bytes appended and not yet written. */
size_t peer_conn_backlog(const struct peer_conn *c);

/* Monotonic ms when bytes last arrived (or when the connection opened). */
uint64_t peer_conn_last_rx(struct peer_conn *c);

/* "HOST:PORT" of the other end. */
const char *peer_conn_remote(const struct peer_conn *c);

/* Stop and free the connection now; events still queued for it are
 * dropped. May wait for an nng callback in progress (they are short). */
void peer_conn_close(struct peer_conn *c);

/* Monotonic clock in ms, the one the connections stamp. Any thread. */
uint64_t peer_now_ms(void);

/* An nng error as a negative errno (NNG_ECLOSED: -ESHUTDOWN, NNG_ECONNSHUT:
 * -EPIPE, unknown codes: -EIO). Any thread. */
int peer_nng_errno(int rv);

#endif
