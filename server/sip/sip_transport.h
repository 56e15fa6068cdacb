#ifndef TC_SERVER_SIP_SIP_TRANSPORT_H
#define TC_SERVER_SIP_SIP_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "server/sip/sip_src.h"

/* SIP over UDP and TCP on the loop (RFC 3261 §18). Each listen address gets a
 * UDP socket and a TCP listener on the same port. The transport frames
 * messages and nothing more: one datagram is one message; on TCP a message is
 * a head ended by CRLFCRLF plus Content-Length bytes of body (§18.3; see
 * sip_frame.h). It knows no other SIP grammar: the caller parses, answers and
 * picks where answers go.
 *
 * Bounds: a message (head and body) is at most max_message bytes; a larger
 * datagram, or a TCP message whose head or Content-Length would pass the
 * bound, is reported as SIP_TRANSPORT_TOO_LARGE so the caller may answer 513.
 * A TCP message without a valid Content-Length is SIP_TRANSPORT_BAD_FRAMING.
 * After either error on TCP the connection is closed, once whatever the caller
 * sent from the error callback is written. A TCP connection's read buffer never
 * grows past max_message bytes; a connection that received nothing for
 * idle_timeout_ms is closed, and so is one whose message (the first: from the
 * accept) is not complete within message_timeout_ms, however steadily its
 * bytes come; at most max_connections are open, max_per_source from one
 * source, and further ones are closed at once (see server/net/tcp_server.h
 * for the eviction of a late message at the cap). When the peer closes or
 * half-closes, the connection is closed once bytes already queued are
 * written; later sends get -ENOTCONN.
 * Leading CRLFs between TCP messages are skipped, and a CRLFCRLF keepalive is
 * answered with CRLF (RFC 5626 §4.4.1). UDP datagrams holding only CR and LF
 * are dropped as keepalives.
 *
 * Everything here runs on the loop thread and never blocks. */

#define SIP_TRANSPORT_MAX_LISTEN          8     /* listen addresses */
#define SIP_TRANSPORT_DEFAULT_MAX_MESSAGE 65535 /* bytes */
#define SIP_TRANSPORT_DEFAULT_MAX_CONNS   1024
#define SIP_TRANSPORT_MAX_CONNS           (1u << 20) /* largest max_connections accepted */
#define SIP_TRANSPORT_DEFAULT_IDLE_MS     60000
#define SIP_TRANSPORT_MIN_MESSAGE         64         /* smallest max_message accepted */
#define SIP_TRANSPORT_MAX_TCP_QUEUE       (1u << 20) /* unsent bytes per connection */
#define SIP_TRANSPORT_MAX_UDP_QUEUE       (4u << 20) /* unsent bytes per UDP socket */
#define SIP_TRANSPORT_BUSY_TURN           32 /* messages before a long turn counts as backlog */

struct sip_transport;
struct tc_buf;

/* Why a message was refused. */
enum sip_transport_error {
    SIP_TRANSPORT_TOO_LARGE = 1, /* over max_message: the caller may answer 513 */
    SIP_TRANSPORT_BAD_FRAMING,   /* TCP: Content-Length missing or invalid */
};

/* One complete message, on the loop thread. src and buf are borrowed for the
 * call only (copy src to answer later). buf is not NUL-terminated. The
 * callback may call sip_transport_send() and sip_transport_stop(). */
typedef void (*sip_transport_message_cb)(void *arg, const struct sip_src *src, const char *buf,
                                         size_t len);

/* A refused message, on the loop thread. buf holds what was received of it,
 * borrowed for the call: for TOO_LARGE its start (at most max_message bytes on
 * TCP; the datagram as read on UDP), for BAD_FRAMING its head. It is not a
 * whole message; it is given so the caller can answer (Via, Call-ID, CSeq).
 * On TCP the connection is still open during the call, so an answer sent from
 * here goes out before the close. */
typedef void (*sip_transport_error_cb)(void *arg, const struct sip_src *src,
                                       enum sip_transport_error err, const char *buf, size_t len);

/* A listen address. */
struct sip_transport_addr {
    const char *host; /* numeric IPv4 or IPv6 address, no brackets */
    uint16_t port;    /* 0: any free port, the same for UDP and TCP */
};

struct sip_transport_options {
    const struct sip_transport_addr *addrs; /* borrowed for the call only */
    unsigned n_addrs;                       /* 1..SIP_TRANSPORT_MAX_LISTEN */
    uint32_t max_message;                   /* bytes; 0: SIP_TRANSPORT_DEFAULT_MAX_MESSAGE */
    uint32_t max_connections;               /* TCP, all listeners; 0: the default */
    uint32_t idle_timeout_ms;               /* TCP; 0: SIP_TRANSPORT_DEFAULT_IDLE_MS */
    uint32_t message_timeout_ms;            /* TCP: whole-message deadline; 0: none */
    uint32_t max_per_source;                /* TCP connections per source; 0: no cap */
    sip_transport_message_cb on_message;    /* required */
    sip_transport_error_cb on_error;        /* may be NULL: errors are only counted */
    void *arg;                              /* passed to both callbacks */
};

/* Counters since start, for /metrics. */
struct sip_transport_stats {
    uint64_t udp_datagrams;     /* datagrams received, keepalives and refused ones included */
    uint64_t udp_messages;      /* datagrams delivered to on_message */
    uint64_t tcp_messages;      /* TCP messages delivered to on_message */
    uint64_t rx_bytes;          /* bytes received, UDP and TCP */
    uint64_t tx_bytes;          /* bytes accepted for sending, UDP and TCP */
    uint64_t too_large;         /* SIP_TRANSPORT_TOO_LARGE reported */
    uint64_t bad_framing;       /* SIP_TRANSPORT_BAD_FRAMING reported */
    uint64_t keepalives;        /* CRLFCRLF pings on TCP and CRLF-only datagrams */
    uint64_t conns_accepted;    /* TCP connections taken */
    uint64_t conns_refused;     /* closed at once: max_connections were open */
    uint64_t conns_idle_closed; /* closed for idle_timeout_ms of silence */
    uint64_t send_failed;       /* sends refused or failed, -ENOTCONN included */
    uint64_t recv_errors;       /* socket read errors */
    uint32_t conns_open;        /* TCP connections holding a slot now (closing ones too) */
    uint64_t udp_backlog_ns;    /* the oldest datagram left queued by the last batch read */
    uint64_t tcp_backlog_ns;    /* the wait of the bytes a full TCP read left behind, last seen */
};

/* Open the listeners of opt->addrs, in order, and start reading. opt is
 * copied; its strings are not kept. Returns 0 and fills *out, or a negative
 * errno: -EINVAL for a bad option, or for an address an error with *failed
 * (when not NULL) set to its index in opt->addrs: -EINVAL when it is not a
 * numeric address, else the bind or listen error (-EADDRINUSE,
 * -EADDRNOTAVAIL, -EACCES, ...). On failure the
 * handles already opened are closed and their memory is released by their
 * close callbacks: run the loop before uv_loop_close(). Loop thread. */
int sip_transport_start(struct sip_transport **out, uv_loop_t *loop,
                        const struct sip_transport_options *opt, unsigned *failed);

/* Number of listeners (opt->n_addrs). */
unsigned sip_transport_listeners(const struct sip_transport *t);

/* The port listener i is bound to (UDP and TCP alike), or -EINVAL if there is
 * no listener i. Useful after starting with port 0. */
int sip_transport_port(const struct sip_transport *t, unsigned i);

/* Send one message to where src says, as an answer: on UDP a datagram to
 * dst->peer from listener dst->listener's socket, on TCP on connection
 * dst->conn_id. buf is copied when it cannot be written at once; the caller
 * keeps it. Returns 0 once the bytes are written or queued, -ENOTCONN if the
 * TCP connection is gone or closing, -ENOBUFS if too much is already queued
 * (SIP_TRANSPORT_MAX_TCP_QUEUE: the connection is then closed, its peer does
 * not read; SIP_TRANSPORT_MAX_UDP_QUEUE), or another negative errno. Failures
 * are counted in send_failed. UDP datagrams of one loop turn are queued and
 * leave together (sendmmsg) once its callbacks are done, or at
 * sip_transport_stop(); a later failure counts in send_failed only.
 * Loop thread. */
int sip_transport_send(struct sip_transport *t, const struct sip_src *dst, const char *buf,
                       size_t len);

/* Send one UDP datagram to addr (IPv4 or IPv6, a sockaddr_in or sockaddr_in6)
 * from listener's socket, for answers that go elsewhere than the source
 * (RFC 3261 §18.2.2: maddr, received, rport; the caller computes addr). When
 * listener's family differs from addr's, the first listener of addr's family
 * is used. Returns as sip_transport_send(), or -EAFNOSUPPORT when no listener
 * has addr's family. Loop thread. */
int sip_transport_send_to(struct sip_transport *t, unsigned listener, const struct sockaddr *addr,
                          const char *buf, size_t len);

/* How long the message being delivered, from src, waited at least before
 * the loop read it: the time this loop turn has run so far (once the turn
 * asked about more than SIP_TRANSPORT_BUSY_TURN messages: a short turn that
 * ran long was preempted, not behind) and,
 * on UDP, the age of the oldest datagram left queued on its socket when its
 * recvmmsg batch was read (kernel receive timestamps, SO_TIMESTAMPNS; one
 * peek per full batch, none when the socket was drained), and on TCP,
 * when the read that brought the message filled its buffer, the bytes
 * still on the connection's socket (FIONREAD) times the loop's recent time
 * per byte of TCP input (no receive timestamps on TCP). The loop's
 * backlog, for shedding load before it turns into latency. Loop thread,
 * from the message callback. */
uint64_t sip_transport_backlog_ns(struct sip_transport *t, const struct sip_src *src);

/* Copy the counters into *out. Loop thread. */
/* Append the TCP server's tcluster_sip_tcp_* families (slow-client
 * defences) to b. Returns 0 or -ENOMEM. */
int sip_transport_metrics(const struct sip_transport *t, struct tc_buf *b);

void sip_transport_stats(const struct sip_transport *t, struct sip_transport_stats *out);

/* Close every socket and connection; unsent bytes are dropped. No callback
 * runs after this call returns. t is freed once every handle has closed,
 * which takes running the loop: the caller runs it (e.g. uv_run() until it
 * returns 0) before uv_loop_close(). Do not use t after this call. May be
 * called from a callback. Loop thread. */
void sip_transport_stop(struct sip_transport *t);

#endif
