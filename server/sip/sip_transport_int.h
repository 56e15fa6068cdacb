#ifndef TC_SERVER_SIP_SIP_TRANSPORT_INT_H
#define TC_SERVER_SIP_SIP_TRANSPORT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "server/sip/sip_frame.h"
#include "server/sip/sip_src.h"
#include "server/sip/sip_transport.h"

/* Private to the SIP transport: the state sip_transport.c (UDP, listeners,
 * the public API) and sip_tcp.c (TCP connections) share, and what each calls
 * in the other. Nothing outside those two files includes this. Loop thread
 * only, like the rest of the transport. */

#define SIP_TCP_READ_SIZE 65536 /* shared read buffer */

enum conn_state {
    CONN_OPEN,   /* reading messages; in the id map */
    CONN_DRAIN,  /* shutting down after an error; input discarded until EOF or linger */
    CONN_CLOSED, /* uv_close called */
};

struct sip_udp_out;

struct sip_listener {
    struct sip_transport *t;
    struct sip_udp_out *out; /* UDP answers not yet handed to the kernel */
    uv_udp_t udp;
    uv_tcp_t tcp;
    struct sockaddr_storage addr; /* as bound */
    char *udp_buf;
    size_t udp_buf_len;
    bool udp_init, tcp_init; /* handle initialized, its close callback not run */
};

struct sip_conn {
    struct sip_transport *t;
    struct sip_conn *prev, *next;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown;
    struct sip_src src;
    enum conn_state state;
    int open_handles; /* closes to wait for before freeing */
    bool counted;     /* holds one of max_connections */
    bool in_map;      /* findable by id: open, not closing */
    bool eof;         /* the peer shut down its side */
    uint64_t last_read;
    char *buf; /* an incomplete unit, NULL when there is none */
    size_t len, cap;
    struct sip_frame_state frame;
};

struct sip_transport {
    uv_loop_t *loop;
    sip_transport_message_cb on_message;
    sip_transport_error_cb on_error;
    void *arg;
    uint32_t max_message, max_conns, idle_ms;
    unsigned n_listeners;
    unsigned listener_handles; /* listener handles not closed yet */
    bool stopping;
    struct sip_listener listeners[SIP_TRANSPORT_MAX_LISTEN];
    struct sip_conn *conns; /* every connection not freed yet */
    struct sip_conn **map;  /* open connections by id: linear probing */
    uint32_t map_mask;      /* slots - 1; map is allocated by sip_transport.c */
    uint64_t next_id;
    struct sip_transport_stats stats;
    /* Flush the listeners' out queues after this turn's I/O callbacks
     * (check), or before the next poll when queued elsewhere (idle). */
    uv_check_t flush_check;
    uv_idle_t flush_idle;
    bool flush_init;
    char rbuf[SIP_TCP_READ_SIZE]; /* shared: each read is consumed before the next */
};

/* sip_transport.c ---------------------------------------------------------- */

/* Free t if it is stopping and its last handle and connection are gone. Called
 * by sip_tcp.c once a connection is freed. */
void sip_transport_maybe_free(struct sip_transport *t);

/* sip_tcp.c ---------------------------------------------------------------- */

/* The uv_connection_cb of a listener's TCP handle (server->data is the
 * struct sip_listener): accept, or refuse past max_connections. */
void sip_tcp_on_connection(uv_stream_t *server, int status);

/* Write buf on connection conn_id, copying what the socket does not take at
 * once; buf is borrowed. Returns 0, -ENOTCONN if the connection is gone or
 * closing, or the error that made the connection close (-ENOBUFS past
 * SIP_TRANSPORT_MAX_TCP_QUEUE, -ENOMEM, -EMSGSIZE or a write error). Does
 * not count send_failed: the caller does. */
int sip_tcp_send(struct sip_transport *t, uint64_t conn_id, const char *buf, size_t len);

/* Close every connection of t now, unsent bytes dropped; each is freed in
 * its close callback, which then calls sip_transport_maybe_free(). */
void sip_tcp_close_all(struct sip_transport *t);

#endif
