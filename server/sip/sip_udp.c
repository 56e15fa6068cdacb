/* sip_udp: SIP over UDP on a listener of sip_transport: answers queued
 * during a loop turn and sent with one sendmmsg(), datagrams read with
 * recvmmsg(), and the age of what waits on the socket (the backlog that
 * load shedding reads). */
#define _GNU_SOURCE /* sendmmsg */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/base/log.h"
#include "server/sip/sip_transport_int.h"

#define SIP_UDP_DGRAM_MAX 65536     /* libuv's recvmmsg slot */
#define SIP_UDP_MMSG      16        /* datagrams per recvmmsg */
#define SIP_UDP_OUT_MAX   64        /* datagrams per sendmmsg */
#define SIP_UDP_OUT_BYTES 65536     /* bytes queued per listener before a flush */
#define SIP_UDP_RCVBUF    (4 << 20) /* receive queue asked for (bytes) */

struct sip_udp_send {
    uv_udp_send_t req;
    char data[];
};

/* Datagrams queued on one listener during a loop turn, sent together with
 * one sendmmsg() when the turn's callbacks are done: a commit of the store
 * releases tens of REGISTER answers at once, and a system call costs more
 * than the send itself. */
struct sip_udp_out {
    unsigned n;
    size_t used;
    struct sockaddr_storage to[SIP_UDP_OUT_MAX];
    struct iovec iov[SIP_UDP_OUT_MAX];
    struct mmsghdr msgs[SIP_UDP_OUT_MAX];
    char bytes[SIP_UDP_OUT_BYTES];
};

/* Sending --------------------------------------------------------------------- */

static void on_udp_sent(uv_udp_send_t *req, int status)
{
    struct sip_udp_send *s = (struct sip_udp_send *)req;
    struct sip_listener *l = req->handle->data;

    if (status < 0 && status != UV_ECANCELED) {
        tc_log(DEBUG, "sip: udp send: %s", uv_strerror(status));
        l->t->stats.send_failed++;
    }
    free(s);
}

static socklen_t sa_len(const struct sockaddr *sa)
{
    return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

/* Send one datagram now, or queue a copy in libuv when the socket is full. */
static int udp_send_now(struct sip_listener *l, const struct sockaddr *to, const char *buf,
                        size_t len)
{
    struct sip_udp_send *s;
    uv_buf_t b;
    int rc;

    b = uv_buf_init((char *)buf, (unsigned)len);
    rc = uv_udp_try_send(&l->udp, &b, 1, to);
    if (rc >= 0)
        return 0;
    if (rc != UV_EAGAIN)
        return rc;
    if (uv_udp_get_send_queue_size(&l->udp) + len > SIP_TRANSPORT_MAX_UDP_QUEUE)
        return -ENOBUFS;
    s = malloc(sizeof(*s) + len);
    if (s == NULL)
        return -ENOMEM;
    memcpy(s->data, buf, len);
    b = uv_buf_init(s->data, (unsigned)len);
    rc = uv_udp_send(&s->req, &l->udp, &b, 1, to, on_udp_sent);
    if (rc < 0) {
        free(s);
        return rc;
    }
    return 0;
}

/* Hand l's queued datagrams to the kernel: sendmmsg() while it takes
 * them; what a full socket refuses goes through libuv's queue. */
static void udp_flush(struct sip_listener *l)
{
    struct sip_udp_out *o = l->out;
    uv_os_fd_t fd;
    unsigned i = 0;
    int rc;

    if (o == NULL || o->n == 0)
        return;
    /* libuv's queue goes first: datagrams keep their order. */
    if (uv_udp_get_send_queue_count(&l->udp) == 0 && uv_fileno((uv_handle_t *)&l->udp, &fd) == 0) {
        while (i < o->n) {
            rc = sendmmsg(fd, &o->msgs[i], o->n - i, 0);
            if (rc > 0) {
                i += (unsigned)rc;
                continue;
            }
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            /* This datagram cannot go (e.g. no route): drop it alone. */
            tc_log(DEBUG, "sip: udp send: %s", strerror(errno));
            l->t->stats.send_failed++;
            i++;
        }
    }
    for (; i < o->n; i++) {
        rc = udp_send_now(l, (const struct sockaddr *)&o->to[i], o->iov[i].iov_base,
                          o->iov[i].iov_len);
        if (rc != 0) {
            tc_log(DEBUG, "sip: udp send: %s", uv_strerror(rc));
            l->t->stats.send_failed++;
        }
    }
    o->n = 0;
    o->used = 0;
}

void sip_transport__udp_flush_all(struct sip_transport *t)
{
    unsigned i;

    for (i = 0; i < t->n_listeners; i++)
        udp_flush(&t->listeners[i]);
    uv_check_stop(&t->flush_check);
    uv_idle_stop(&t->flush_idle);
}

static void on_flush_check(uv_check_t *h)
{
    sip_transport__udp_flush_all(h->data);
}

static void on_flush_idle(uv_idle_t *h)
{
    sip_transport__udp_flush_all(h->data);
}

/* Queue one datagram on l for the end of this loop turn. */
int sip_transport__udp_send(struct sip_listener *l, const struct sockaddr *to, const char *buf,
                            size_t len)
{
    struct sip_transport *t = l->t;
    struct sip_udp_out *o = l->out;
    int rc;

    if (len > SIP_UDP_DGRAM_MAX)
        return -EMSGSIZE;
    if (o == NULL || len > SIP_UDP_OUT_BYTES / 4) {
        udp_flush(l);
        rc = udp_send_now(l, to, buf, len);
        goto out_counted;
    }
    if (o->n == SIP_UDP_OUT_MAX || o->used + len > SIP_UDP_OUT_BYTES)
        udp_flush(l);
    memcpy(&o->to[o->n], to, sa_len(to));
    memcpy(o->bytes + o->used, buf, len);
    o->iov[o->n] = (struct iovec){o->bytes + o->used, len};
    o->msgs[o->n] = (struct mmsghdr){.msg_hdr = {.msg_name = &o->to[o->n],
                                                 .msg_namelen = sa_len(to),
                                                 .msg_iov = &o->iov[o->n],
                                                 .msg_iovlen = 1}};
    o->used += len;
    o->n++;
    if (o->n == 1) {
        uv_check_start(&t->flush_check, on_flush_check);
        uv_idle_start(&t->flush_idle, on_flush_idle);
    }
    rc = 0;
out_counted:
    if (rc == 0)
        t->stats.tx_bytes += len;
    return rc;
}

/* UDP input --------------------------------------------------------------- */

static void on_udp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct sip_listener *l = h->data;

    (void)hint;
    *buf = uv_buf_init(l->udp_buf, (unsigned)l->udp_buf_len);
}

static bool only_crlf(const char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (p[i] != '\r' && p[i] != '\n')
            return false;
    }
    return true;
}

static uint64_t realtime_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The age of the oldest datagram queued on l's socket, from its kernel
 * receive timestamp (CLOCK_REALTIME, as SO_TIMESTAMPNS gives it), without
 * taking it; 0 when none is queued. */
static uint64_t udp_head_age(struct sip_listener *l)
{
    char byte, ctl[CMSG_SPACE(sizeof(struct timespec))];
    struct iovec iov = {&byte, 1};
    struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)};
    struct cmsghdr *c;
    struct timespec ts;
    uint64_t now, then;
    uv_os_fd_t fd;

    if (uv_fileno((uv_handle_t *)&l->udp, &fd) != 0 ||
        recvmsg(fd, &mh, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC) < 0)
        return 0;
    for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS)
            continue;
        memcpy(&ts, CMSG_DATA(c), sizeof(ts));
        then = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        now = realtime_ns();
        return now > then ? now - then : 0;
    }
    return 0;
}

/* A recvmmsg batch was delivered: when it was full, more wait behind it,
 * and the oldest of them says how far behind the loop is. */
static void udp_batch_end(struct sip_listener *l)
{
    if (l->batch_n == 0 && l->head_age_ns == 0)
        return; /* an empty read on a drained socket: nothing changed */
    l->head_age_ns = l->batch_n >= SIP_UDP_MMSG ? udp_head_age(l) : 0;
    l->t->stats.udp_backlog_ns = l->head_age_ns;
    l->batch_n = 0;
}

uint64_t sip_transport_backlog_ns(struct sip_transport *t, const struct sip_src *src)
{
    /* uv_now() is when this turn's poll returned (ms, maybe a coarse
     * clock a millisecond behind uv_hrtime()'s). A long turn is a backlog
     * only when it handled many requests: a turn of a few that ran long
     * was preempted (a busy machine), and shedding would not help. */
    uint64_t now_ms, turn_ms = uv_now(t->loop), age = 0;

    if (turn_ms != t->turn_ms) {
        t->turn_ms = turn_ms;
        t->turn_asked = 0;
    }
    if (++t->turn_asked > SIP_TRANSPORT_BUSY_TURN) {
        now_ms = uv_hrtime() / 1000000u;
        age = now_ms > turn_ms ? (now_ms - turn_ms) * 1000000u : 0;
    }
    if (src->proto == SIP_PROTO_UDP && src->listener < t->n_listeners &&
        t->listeners[src->listener].head_age_ns > age)
        age = t->listeners[src->listener].head_age_ns;
    if (src->proto == SIP_PROTO_TCP && src->conn_id == t->tcp_read_conn &&
        t->tcp_read_backlog_ns > age)
        age = t->tcp_read_backlog_ns;
    return age;
}

static void on_udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                        const struct sockaddr *addr, unsigned flags)
{
    struct sip_listener *l = h->data;
    struct sip_transport *t = l->t;
    struct sip_src src = {.proto = SIP_PROTO_UDP};

    if (t->stopping)
        return;
    if (nread < 0) {
        t->stats.recv_errors++;
        tc_log(DEBUG, "sip: udp read: %s", uv_strerror((int)nread));
        return;
    }
    if (addr == NULL) {
        /* Nothing more to read, or the end of a recvmmsg batch: what the
         * batch answered goes out now rather than after libuv's next reads
         * (it reads up to 32 batches in one turn). */
        udp_flush(l);
        udp_batch_end(l);
        return;
    }
    l->batch_n++;
    t->stats.udp_datagrams++;
    t->stats.rx_bytes += (uint64_t)nread;
    if (only_crlf(buf->base, (size_t)nread)) {
        t->stats.keepalives++;
        return;
    }
    memcpy(&src.peer, addr,
           addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
    src.local = l->addr;
    src.listener = (unsigned)(l - t->listeners);
    if ((size_t)nread > t->max_message || (flags & UV_UDP_PARTIAL)) {
        t->stats.too_large++;
        tc_log(DEBUG, "sip: udp datagram of %zd bytes: too large", nread);
        if (t->on_error != NULL)
            t->on_error(t->arg, &src, SIP_TRANSPORT_TOO_LARGE, buf->base, (size_t)nread);
        return;
    }
    t->stats.udp_messages++;
    t->on_message(t->arg, &src, buf->base, (size_t)nread);
}

int sip_transport__udp_start(struct sip_listener *l)
{
    struct sip_transport *t = l->t;
    int rcvbuf, on = 1;
    uv_os_fd_t fd;

    /* A deep receive queue rides out a stall of the loop (a slow disk
     * sync, the CPU taken by others) instead of dropping REGISTERs the
     * phones then retransmit into the same backlog. The kernel caps it at
     * net.core.rmem_max; failure keeps the default. */
    rcvbuf = SIP_UDP_RCVBUF;
    (void)uv_recv_buffer_size((uv_handle_t *)&l->udp, &rcvbuf);
    /* Receive timestamps date the oldest queued datagram (the backlog);
     * without them the backlog is measured by the loop turn alone. */
    if (uv_fileno((uv_handle_t *)&l->udp, &fd) == 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
    /* recvmmsg cuts the buffer into 64 KiB slots; plain recvmsg takes one
     * byte more than a message may have, to see that it is too large. */
    l->udp_buf_len = uv_udp_using_recvmmsg(&l->udp) ? SIP_UDP_MMSG * SIP_UDP_DGRAM_MAX
                                                    : (size_t)t->max_message + 1;
    l->udp_buf = malloc(l->udp_buf_len);
    l->out = malloc(sizeof(*l->out));
    if (l->udp_buf == NULL || l->out == NULL)
        return -ENOMEM;
    l->out->n = 0;
    l->out->used = 0;
    return uv_udp_recv_start(&l->udp, on_udp_alloc, on_udp_recv);
}
