#ifndef TC_SERVER_NET_TCP_SERVER_H
#define TC_SERVER_NET_TCP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

/* One TCP connection server on the loop, for every protocol that listens:
 * SIP over TCP, HTTP, the TC and default ports. It binds the listeners,
 * accepts, enforces the connection cap, runs the idle timer, reads, and
 * frees a connection in one place: tcp_conn_close() stops reading and
 * closes the handles, and their close callback calls on_close once, then
 * frees the connection. The protocol plugs in with callbacks and writes
 * on tcp_conn_stream() or with tcp_conn_write().
 *
 * A connection's life: accepted (over max_per_source from its source:
 * refused; at max_conns: a connection in the middle of a message is
 * closed to make room, from the source with the most connections, the
 * one whose message began first, and when none is the new connection is
 * refused; a refused one gets busy and is closed with no
 * callback) -> open (on_accept, then on_read for input) ->
 * optionally ending (tcp_conn_linger(): input discarded, closed after
 * linger_ms) -> optionally draining (tcp_conn_shutdown(): FIN sent after
 * the queued writes, input discarded until the peer's end of file) ->
 * closed (on_close). Every callback runs on the loop thread, and every
 * function here must be called from it. The process must ignore SIGPIPE. */

#define TCP_SERVER_MAX_LISTEN 8     /* listeners of one server */
#define TCP_SERVER_BACKLOG    511   /* listen() backlog when options give 0 */
#define TCP_SERVER_READ_SIZE  65536 /* shared read buffer when options give 0 */
/* Connections one server accepts in one turn of the loop; the rest wait in
 * the backlog until the loop has read its input and run its timers, so a
 * client reconnecting as fast as it is closed cannot hold the loop. */
#define TCP_SERVER_ACCEPT_BATCH 32
/* File descriptors the node needs beside one server's connections (store,
 * listeners, nng, logs): tcp_server_new() warns when max_conns and these
 * do not fit under the open-files limit. */
#define TCP_SERVER_FD_RESERVE 64

struct tcp_server;
struct tcp_conn;
struct tc_buf;

/* The protocol's side. arg is tcp_server_options.arg. c is valid until
 * on_close returns; its user area (tcp_conn_data()) too. */
struct tcp_handler {
    /* A connection was accepted under max_conns: set up the user area.
     * Return 0 to keep it, or a negative errno to have it closed. on_close
     * follows in both cases. Required. */
    int (*on_accept)(void *arg, struct tcp_conn *c);
    /* Where to read into, for a protocol that keeps a partial message in
     * its own buffer: set buf, or leave buf->len 0 for the server's shared
     * buffer (valid only during the on_read that follows). May be NULL. */
    void (*on_alloc)(void *arg, struct tcp_conn *c, uv_buf_t *buf);
    /* len > 0 bytes of input at data (in the buffer on_alloc gave, or the
     * shared one) while the connection is open. Required. */
    void (*on_read)(void *arg, struct tcp_conn *c, char *data, size_t len);
    /* The peer's end of file while open; reading has stopped. NULL: close
     * once the queued writes are out (tcp_conn_shutdown()), or at once. */
    void (*on_eof)(void *arg, struct tcp_conn *c);
    /* idle_ms passed without activity (counted in idle_closed). The
     * protocol ends the connection. NULL: tcp_conn_close(). */
    void (*on_idle)(void *arg, struct tcp_conn *c);
    /* A message was not complete message_ms after its first byte (or, for
     * the first message, after the accept); counted in message_timeouts
     * and logged. The protocol ends the connection. NULL:
     * tcp_conn_close(). */
    void (*on_message_timeout)(void *arg, struct tcp_conn *c);
    /* The last call about c: release what the user area holds. The
     * server frees c and its user area when this returns. Required. */
    void (*on_close)(void *arg, struct tcp_conn *c);
};

struct tcp_server_options {
    const char *name;   /* for logs, e.g. "http"; static */
    uint32_t max_conns; /* connections open at once, over every listener; > 0 */
    uint32_t idle_ms;   /* 0: no idle timer */
    bool idle_by_user;  /* input does not reset the idle timer; tcp_conn_touch() does */
    uint32_t linger_ms; /* how long an ending connection lives; 0: 2000 */
    uint32_t backlog;   /* 0: TCP_SERVER_BACKLOG */
    size_t read_size;   /* bytes of the shared read buffer; 0: TCP_SERVER_READ_SIZE */
    size_t conn_size;   /* bytes of user area per connection, zeroed at accept */
    size_t max_queue;   /* bytes tcp_conn_write() may leave queued; 0: no bound */
    bool by_id;         /* open connections can be found with tcp_server_find() */
    const void *busy;   /* written, if the socket takes it at once, to a refused */
    size_t busy_len;    /* connection; borrowed for the server's life */
    /* Whole-message deadline: a connection must deliver its first whole
     * message within message_ms of the accept, and each later one within
     * message_ms of its first byte, whatever the pace of the bytes; the
     * protocol says after each read whether a message is incomplete
     * (tcp_conn_message()). 0: no deadline. Independent of idle_ms. */
    uint32_t message_ms;
    /* Connections open at once from one source: an IPv4 address, or an
     * IPv6 /64 (one host's share). Over it a connection gets busy and is
     * closed. 0: no cap but max_conns. */
    uint32_t max_per_source;
    struct tcp_handler h; /* copied */
    void *arg;            /* passed to every callback */
};

struct tcp_server_stats {
    uint64_t accepted;           /* connections taken under max_conns */
    uint64_t refused;            /* closed at once: max_conns were open */
    uint64_t idle_closed;        /* idle timer expiries */
    uint64_t read_errors;        /* socket read errors (end of file excluded) */
    uint64_t write_errors;       /* tcp_conn_write() bytes that failed once queued */
    uint64_t refused_per_source; /* closed at once: max_per_source from its source */
    uint64_t message_timeouts;   /* closed: a message not complete within message_ms */
    uint64_t evicted;            /* closed at the cap to let a new one in: its message was late */
    uint32_t open;               /* connections holding a slot now (closing ones too) */
};

/* Make a server with no listener. opt is copied (its strings and busy are
 * borrowed for the server's life). Raises the process's soft limit of open
 * files to its hard limit, and logs a warning when max_conns does not fit
 * under it. Returns 0 and fills *out, -EINVAL for a bad option (max_conns
 * 0, a required callback NULL) or -ENOMEM. */
int tcp_server_new(struct tcp_server **out, uv_loop_t *loop, const struct tcp_server_options *opt);

/* Bind host:port (a numeric IPv4 or IPv6 address; port 0: an ephemeral
 * port) and listen. Listeners are numbered from 0 in the order they were
 * added. Returns 0, -EINVAL when host is not a numeric address, -ENOSPC
 * past TCP_SERVER_MAX_LISTEN, or the bind or listen error (-EADDRINUSE,
 * -EADDRNOTAVAIL, -EACCES); a failure is logged with the address. */
int tcp_server_listen(struct tcp_server *s, const char *host, uint16_t port);

/* Listen on fd, a bound and listening TCP socket the server takes (it is
 * closed with the server, or at once on failure): for a protocol that
 * binds its own, e.g. SIP's TCP and UDP on one port. Returns as
 * tcp_server_listen(). */
int tcp_server_listen_fd(struct tcp_server *s, uv_os_sock_t fd);

/* The port listener i is bound to, or a negative errno. */
int tcp_server_port(const struct tcp_server *s, unsigned i);

/* Close the listeners and every connection (on_close for each); queued
 * writes are dropped. s is freed once every handle has closed, then
 * on_stopped(arg) runs if not NULL: run the loop before uv_loop_close().
 * Do not use s after this call. May be called from a callback. */
void tcp_server_stop(struct tcp_server *s, void (*on_stopped)(void *arg));

/* The counters. Valid while s is. */
const struct tcp_server_stats *tcp_server_stats(const struct tcp_server *s);

/* Append the families tcluster_<port>_refused_per_source_total,
 * _message_timeouts_total and _evicted_total to b (port e.g. "sip_tcp").
 * Returns 0 or -ENOMEM. */
int tcp_server_metrics(const struct tcp_server *s, const char *port, struct tc_buf *b);

/* The open connection with this id, or NULL (closed, ending or never
 * seen). Needs by_id. */
struct tcp_conn *tcp_server_find(const struct tcp_server *s, uint64_t id);

/* The user area of c, conn_size bytes, suitably aligned; NULL when
 * conn_size is 0. Valid until on_close returns. */
void *tcp_conn_data(const struct tcp_conn *c);

/* c's id: 1 for the server's first connection, then increasing; never
 * reused. */
uint64_t tcp_conn_id(const struct tcp_conn *c);

/* Index of the listener c came in on. */
unsigned tcp_conn_listener(const struct tcp_conn *c);

/* The peer's address, and "ip:port" for logs. Valid while c is. */
const struct sockaddr_storage *tcp_conn_peer_addr(const struct tcp_conn *c);
const char *tcp_conn_peer(const struct tcp_conn *c);

/* The stream to write on, for a protocol that writes itself. Its write
 * callbacks run before on_close (with UV_ECANCELED once closing). Do not
 * close it, read from it or change its data. */
uv_stream_t *tcp_conn_stream(struct tcp_conn *c);

/* Write buf (borrowed) on c: what the socket does not take at once is
 * copied and queued. Returns 0, -ENOTCONN when c is not open or ending,
 * -ENOBUFS past max_queue, -EMSGSIZE, -ENOMEM or the write error; on any
 * failure c is closed, as a stream that lost part of a message is useless.
 * A queued write that fails later counts in write_errors and closes c. */
int tcp_conn_write(struct tcp_conn *c, const char *buf, size_t len);

/* Bytes written on c's stream and not yet taken by the socket. */
size_t tcp_conn_queued(const struct tcp_conn *c);

/* Bytes received on c's socket and not read yet (FIONREAD: one system
 * call); 0 when none or unknown. */
size_t tcp_conn_pending(const struct tcp_conn *c);

/* Stop or restart reading (a protocol whose output is over its bound);
 * idempotent. Input is read from the start on. */
void tcp_conn_read_stop(struct tcp_conn *c);
void tcp_conn_read_start(struct tcp_conn *c);

/* Turn the idle timer on (restarting it from now) or off. Open only. */
void tcp_conn_idle(struct tcp_conn *c, bool on);

/* After a read: whether c holds an incomplete message (partial). The
 * first call with partial after a complete one starts the message_ms
 * clock; a call without clears it. Cheap: a timestamp, and a timer
 * restarted only when a message starts. Open only; no effect without
 * message_ms. */
void tcp_conn_message(struct tcp_conn *c, bool partial);

/* Restart the idle timer from now (activity the server does not see, e.g.
 * output written). Cheap: a timestamp. */
void tcp_conn_touch(struct tcp_conn *c);

/* End c: no more on_read (input is discarded, reading goes on to see the
 * peer's end of file), it leaves tcp_server_find(), and it is closed
 * linger_ms from now unless closed before. The protocol still writes what
 * it owes, then calls tcp_conn_shutdown(). No effect unless open. */
void tcp_conn_linger(struct tcp_conn *c);

/* Send FIN once the writes queued on the stream are out, then discard
 * input until the peer's end of file and close; tcp_conn_linger() applies
 * if not yet done. So closing does not reset the connection under the last
 * answer. No effect once draining or closed. */
void tcp_conn_shutdown(struct tcp_conn *c);

/* Close c now: reading stops, queued writes are dropped, on_close runs
 * from the close callback. Idempotent. */
void tcp_conn_close(struct tcp_conn *c);

/* True once c is ending, draining or closed. */
bool tcp_conn_closing(const struct tcp_conn *c);

/* True once c is closed (by anyone): its on_close is coming. */
bool tcp_conn_closed(const struct tcp_conn *c);

#endif
