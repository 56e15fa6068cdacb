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

#define SIP_TCP_READ_SIZE 65536 /* the TCP server's shared read buffer */

struct sip_udp_out;
struct tcp_server;

struct sip_listener {
    struct sip_transport *t;
    struct sip_udp_out *out; /* UDP answers not yet handed to the kernel */
    uv_udp_t udp;
    struct sockaddr_storage addr; /* as bound */
    char *udp_buf;
    size_t udp_buf_len;
    bool udp_init;        /* handle initialized, its close callback not run */
    unsigned batch_n;     /* datagrams of the recvmmsg batch being delivered */
    uint64_t head_age_ns; /* age of the oldest datagram queued after the last batch */
};

struct sip_transport {
    uv_loop_t *loop;
    sip_transport_message_cb on_message;
    sip_transport_error_cb on_error;
    void *arg;
    uint32_t max_message, max_conns, idle_ms, message_ms, max_per_source;
    unsigned n_listeners;
    unsigned listener_handles; /* listener handles not closed yet */
    bool stopping;
    struct sip_listener listeners[SIP_TRANSPORT_MAX_LISTEN];
    struct tcp_server *tcp; /* the TCP side of every listener: listener i is its i */
    struct sip_transport_stats stats;
    /* The TCP read being delivered: its connection and how long the bytes
     * left behind it on the socket wait at least (see sip_tcp.c). */
    uint64_t tcp_read_conn; /* 0: none */
    uint64_t tcp_read_backlog_ns;
    uint64_t tcp_ns_per_kib; /* loop time per KiB delivered from TCP, an average */
    uint64_t turn_ms;        /* uv_now() of the turn sip_transport_backlog_ns() last saw */
    unsigned turn_asked;     /* its calls in that turn */
    /* Flush the listeners' out queues after this turn's I/O callbacks
     * (check), or before the next poll when queued elsewhere (idle). */
    uv_check_t flush_check;
    uv_idle_t flush_idle;
    bool flush_init;
};

/* sip_transport.c ---------------------------------------------------------- */

/* Free t if it is stopping and its last handle is gone (the TCP server
 * counts as one). */
void sip_transport__maybe_free(struct sip_transport *t);

/* sip_udp.c ---------------------------------------------------------------- */

/* Queue buf (copied) for to on l; the turn's datagrams go out together when
 * the loop's callbacks are done. Returns 0 or a negative error. */
int sip_transport__udp_send(struct sip_listener *l, const struct sockaddr *to, const char *buf,
                            size_t len);

/* Send every datagram queued on t's listeners now. */
void sip_transport__udp_flush_all(struct sip_transport *t);

/* Give l's opened UDP handle its receive queue, timestamps and buffers,
 * and start reading. Returns 0 or a negative error. */
int sip_transport__udp_start(struct sip_listener *l);

/* sip_tcp.c ---------------------------------------------------------------- */

/* Make t->tcp, the TCP server of t's listeners (max_conns, idle_ms and
 * the read bound from t), with no listener yet. Returns 0 or -ENOMEM. */
int sip_transport__tcp_new(struct sip_transport *t);

/* Write buf on connection conn_id, copying what the socket does not take at
 * once; buf is borrowed. Returns 0, -ENOTCONN if the connection is gone or
 * closing, or the error that made the connection close (-ENOBUFS past
 * SIP_TRANSPORT_MAX_TCP_QUEUE, -ENOMEM, -EMSGSIZE or a write error). Does
 * not count send_failed: the caller does. */
int sip_transport__tcp_send(struct sip_transport *t, uint64_t conn_id, const char *buf, size_t len);

#endif
