#ifndef TC_TCPORT_CONN_H
#define TC_TCPORT_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "proto/tcport.pb-c.h"
#include "server/base/buf.h"

/* Framed TCP connections on the loop, shared by the TC port and the default
 * port (DESIGN §5): a listener with a cap on connections, frames of a 4-byte
 * length and one protobuf Request in, Events out. Every input is bounded:
 *
 *   - over max_conns open connections, a new one gets EventError
 *     ERROR_TOO_MANY_CONNECTIONS and is closed;
 *   - a frame announcing more than max_frame bytes gets
 *     ERROR_FRAME_TOO_LARGE and the connection closes after it (the read
 *     buffer never holds more than max_frame + 4 bytes);
 *   - a frame that does not decode gets ERROR_BAD_FRAME, the connection
 *     stays;
 *   - while the idle timer is on (from the accept until the port turns it
 *     off), idle_ms without a byte either way gives ERROR_TIMEOUT and a
 *     close;
 *   - a frame must arrive whole within message_ms of its first byte (the
 *     first frame: of the accept), however steadily its bytes come, else
 *     ERROR_TIMEOUT and a close; over max_per_source connections from one
 *     source, a new one gets ERROR_TOO_MANY_CONNECTIONS (server/net);
 *   - the write queue has a byte bound: past queue_bytes the connection is
 *     not writable (conn_writable() false) and reading stops, so a client
 *     that does not read holds at most about queue_bytes of memory plus
 *     what its port coalesces.
 *
 * Writes are deferred: conn_send() appends to the connection's output and
 * the bytes go to the socket before the loop polls again, one write in
 * flight per connection. The handler's callbacks run on the loop thread.
 * A connection's memory is freed only in its close callback, after
 * on_close. Loop thread only. */

struct conn;
struct conn_server;
struct config_addr;

/* Why frames or connections were refused, for metrics. */
enum conn_refusal {
    CONN_REFUSED_TOO_LARGE = 0, /* frame over max_frame */
    CONN_REFUSED_BAD_FRAME,     /* did not decode */
    CONN_REFUSED_UNKNOWN,       /* request type the port does not serve */
    CONN_REFUSED_TIMEOUT,       /* silent client */
    CONN_REFUSED_TOO_MANY,      /* connection over max_conns */
    CONN_REFUSED_OTHER,         /* refused by the port for another reason */
    CONN_REFUSED_N,
};

/* The connection counts (open, accepted, refused at the cap, timed out)
 * are the TCP server's. */
struct conn_stats {
    uint64_t refused[CONN_REFUSED_N];
    uint64_t requests;    /* frames decoded */
    uint64_t events_sent; /* frames queued */
    uint64_t bytes_sent;  /* bytes handed to the socket */
    uint64_t write_errors;
    uint64_t bytes_queued; /* output not yet written, over every connection */
};

struct conn_handler {
    /* A connection was accepted and counted; set its data here. */
    void (*on_open)(void *arg, struct conn *c);
    /* One decoded request; rq is freed after the call returns. */
    void (*on_request)(void *arg, struct conn *c, const Tc__Request *rq);
    /* The output went under half its bound after a write (for a write
     * the socket took at once, before the loop polls again), or the port
     * asked with conn_kick(): queue more if there is more to send. */
    void (*on_writable)(void *arg, struct conn *c);
    /* The connection is closed: the last call about it. Release its data;
     * the connection itself is freed when this returns. */
    void (*on_close)(void *arg, struct conn *c);
    /* conn_server_stop() has finished: listener and connections closed,
     * the server freed. May be NULL. */
    void (*on_stopped)(void *arg);
};

struct conn_options {
    const char *name;               /* for logs, e.g. "tc port"; static */
    const struct config_addr *addr; /* where to listen (numeric host) */
    uint32_t max_frame;             /* payload bytes of one frame */
    uint32_t max_conns;             /* open connections */
    uint32_t idle_ms;               /* silence allowed while the idle timer is on */
    uint32_t message_ms;            /* a whole frame's deadline; 0: none */
    uint32_t max_per_source;        /* open connections from one source; 0: no cap */
    size_t queue_bytes;             /* write queue bound per connection */
    const char *metrics_name;       /* tcluster_<it>_* families, e.g. "tc_port"; static */
};

/* Listen on o->addr. h and arg are kept; o is copied. Logs and returns a
 * negative errno (libuv's) on failure. Loop thread. */
int conn_server_start(struct conn_server **out, uv_loop_t *loop, const struct conn_options *o,
                      const struct conn_handler *h, void *arg);

/* Close the listener and every connection (on_close for each, then
 * on_stopped once all are closed). Queued output is dropped. */
void conn_server_stop(struct conn_server *s);

/* The bound port (useful with port 0), or a negative errno. */
int conn_server_port(const struct conn_server *s);

/* Append the connection families of /metrics named prefix_* (e.g.
 * "tcluster_tc_port"), and tcluster_<metrics_name>_*. Returns 0 or -ENOMEM. */
int conn_server_metrics(const struct conn_server *s, const char *prefix, struct tc_buf *b);

/* The port's data for c (NULL until set). */
void *conn_data(const struct conn *c);
void conn_set_data(struct conn *c, void *data);

/* "ip:port" of the client, for logs. Valid while c is. */
const char *conn_peer(const struct conn *c);

/* The client's address. Valid while c is. */
const struct sockaddr_storage *conn_peer_addr(const struct conn *c);

/* Pack ev as a frame and queue it. The output may go past the bound (an
 * answer is never dropped): ports check conn_writable() before sending
 * what can wait. Returns 0, -EPIPE when c is closing (nothing queued), or
 * -ENOMEM (c is then closed). */
int conn_send(struct conn *c, const Tc__Event *ev);

/* Queue len bytes that already form whole frames (the same event sent to
 * many connections is packed once); frames counts them for metrics. Same
 * returns as conn_send(). */
int conn_send_raw(struct conn *c, const void *bytes, size_t len, unsigned frames);

/* Queue EventError{code, text} answering ref_id and count it under why.
 * Same returns as conn_send(). */
int conn_send_error(struct conn *c, uint32_t ref_id, Tc__ErrorCode code, const char *text,
                    enum conn_refusal why);

/* True when c is open and its output is under the bound. */
bool conn_writable(const struct conn *c);

/* Bytes queued on c and not yet written to the socket. */
size_t conn_queued(const struct conn *c);

/* Ask for on_writable soon (before the loop polls again) if c is then
 * writable: for a port that stopped a long answer to let others run. */
void conn_kick(struct conn *c);

/* Turn the idle timer on or off; on, it restarts from now. */
void conn_idle(struct conn *c, bool on);

/* Take no more requests: once the queued output is written, shut down the
 * sending side and close (after the client's end of file, or a short
 * linger). */
void conn_finish(struct conn *c);

/* Close now, dropping queued output. */
void conn_close(struct conn *c);

/* True once conn_finish() or conn_close() was called. */
bool conn_closing(const struct conn *c);

#endif
