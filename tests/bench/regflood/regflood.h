#ifndef TC_TESTS_BENCH_REGFLOOD_H
#define TC_TESTS_BENCH_REGFLOOD_H

/* regflood: a cheap open-loop REGISTER driver (tests/bench/regflood/).
 * regflood.c holds the options, the pacing loop and the report;
 * flood_msg.c the fixed-width request template, answer parsing and the
 * latency histogram; flood_net.c the UDP sockets and TCP connections.
 * One thread, no libuv: epoll, sendmsg with UDP_SEGMENT (GSO) or
 * sendmmsg, recvmmsg. */

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FLOOD_MAX_REQUESTS 50000000u /* per run */
#define FLOOD_MAX_SOCKETS  4096      /* UDP source ports */
#define FLOOD_MAX_CONNS    60000     /* TCP connections */
#define FLOOD_MAX_RETX     6         /* UDP: T1, 2T1, 4T1, 4T1... until 64*T1 */
#define FLOOD_BATCH        64        /* datagrams per sendmsg/sendmmsg */
#define FLOOD_HIST_BUCKETS 1792
#define FLOOD_MSG_MAX      640        /* bytes of one request */
#define FLOOD_TCP_OUT_MAX  (1u << 20) /* unsent bytes per connection */

enum flood_state {
    REQ_PENDING = 0,
    REQ_ANSWERED,
    REQ_BLOCKED, /* never sent: the TCP connection was full or closed */
};

/* One REGISTER sent (16 bytes; its index is its sequence number, carried
 * in the Via branch and the From tag). */
struct flood_req {
    uint32_t t_us; /* first send, microseconds since the run started */
    uint32_t dn;   /* index into the DN range */
    uint32_t cseq;
    uint16_t path; /* UDP socket or TCP connection it went on */
    uint8_t state; /* enum flood_state */
    uint8_t retx;  /* retransmissions so far */
};

struct flood_hist {
    uint64_t n;
    uint64_t b[FLOOD_HIST_BUCKETS];
};

/* The request template: every REGISTER has the same length, so a batch of
 * them is one GSO send. */
struct flood_tmpl {
    char text[FLOOD_MSG_MAX];
    size_t len;
    unsigned dn_digits;
    size_t off_port, off_seq[2], off_dn[4], off_cseq; /* where the variable fields go */
};

struct flood_conn {
    int fd;
    uint16_t port; /* local port, for the Via */
    bool closed, dirty;
    char *out; /* unsent bytes */
    size_t out_len, out_cap;
    char *in; /* an answer's start, waiting for its end */
    size_t in_len;
};

struct flood {
    /* options */
    struct sockaddr_in server;
    bool tcp;
    double rate, duration, wait_s;
    uint32_t count, dn_first, n_dns, refresh_pct, expires, t1_ms, tick_us;
    double warmup_rate; /* > 0: register every DN once at this rate first */
    uint32_t hold_ms;   /* TCP: pause once every connection is up */
    unsigned n_paths;   /* UDP sockets or TCP connections */
    bool gso;
    const char *ok_file, *unanswered_file;
    /* state */
    struct flood_tmpl tmpl;
    struct flood_req *reqs;
    uint32_t n_sent;   /* requests made (index of the next one) */
    uint32_t seq_base; /* the first request of this phase (warm-up, then the run) */
    uint32_t *dn_cseq;
    uint8_t *dn_flags; /* FLOOD_DN_* */
    uint32_t next_first, next_refresh;
    uint32_t run_id;
    uint64_t t0_ns;
    int ep;
    int *udp_fd;
    uint16_t *udp_port;
    struct flood_conn *conns;
    uint32_t *dirty;
    unsigned n_dirty;
    /* UDP batch being built */
    char batch[FLOOD_BATCH * FLOOD_MSG_MAX];
    unsigned batch_n, batch_path;
    /* retransmission FIFOs, one per level */
    uint32_t *retx_q[FLOOD_MAX_RETX];
    uint32_t retx_head[FLOOD_MAX_RETX], retx_tail[FLOOD_MAX_RETX];
    /* results */
    uint64_t first, refresh, retrans, answered, dup_answers, stray, blocked, send_errors;
    uint64_t codes[700];
    uint64_t with_retry_after; /* 503s carrying Retry-After */
    uint64_t conns_closed;
    uint32_t last_ok_us;
    struct flood_hist lat_ok, lat_all;
};

#define FLOOD_DN_FIRST_SENT 1
#define FLOOD_DN_OK         2
#define FLOOD_DN_ANSWERED   4

/* flood_msg.c */

/* Build f->tmpl for f's server, transport, DN width and expires. Returns 0,
 * or -1 when the DNs of the range have different numbers of digits. */
int flood_tmpl_init(struct flood *f);

/* Write request seq (f->reqs[seq] filled) into out, from UDP source port
 * port (0 for TCP); out holds f->tmpl.len bytes. */
void flood_msg_write(const struct flood *f, uint32_t seq, uint16_t port, char *out);

/* Account one answer of len bytes at now_us: match its branch to the
 * request, count its code, record latency. Malformed or unknown answers
 * count as stray. */
void flood_answer(struct flood *f, const char *buf, size_t len, uint32_t now_us);

void flood_hist_add(struct flood_hist *h, uint32_t us);
/* The value (microseconds) below which fraction q of the samples lie. */
double flood_hist_quantile(const struct flood_hist *h, double q);

/* flood_net.c */

/* Open f->n_paths UDP sockets (connected to the server) or TCP connections
 * (connected, before the clock starts), registered with f->ep. Returns 0 or
 * -1 after printing why. */
int flood_net_open(struct flood *f);
void flood_net_close(struct flood *f);

/* Queue request seq for sending on its path (f->reqs[seq].path). */
void flood_net_queue(struct flood *f, uint32_t seq);

/* Send what is queued. */
void flood_net_flush(struct flood *f);

/* Sleep until until_ns (flood_now_ns()'s clock), then account the answers
 * that arrived. */
void flood_net_poll(struct flood *f, uint64_t until_ns);

uint64_t flood_now_ns(void);

#endif
