/* sip_transport: SIP over UDP and TCP on the loop. This file holds the
 * listeners, UDP input and output, and the public API; TCP connections are
 * in sip_tcp.c, framing in sip_frame.c. */
#define _GNU_SOURCE /* sendmmsg */
#include "server/sip/sip_transport.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/base/log.h"
#include "server/net/tcp_server.h"
#include "server/sip/sip_transport_int.h"

#define SIP_BACKLOG       511
#define SIP_BIND_ATTEMPTS 16        /* port 0: tries to find a port free for UDP and TCP */
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

/* Teardown ------------------------------------------------------------------ */

static void transport_free(struct sip_transport *t)
{
    unsigned i;

    for (i = 0; i < t->n_listeners; i++) {
        free(t->listeners[i].udp_buf);
        free(t->listeners[i].out);
    }
    free(t);
}

void sip_transport__maybe_free(struct sip_transport *t)
{
    if (t->stopping && t->listener_handles == 0)
        transport_free(t);
}

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

static void udp_flush_all(struct sip_transport *t)
{
    unsigned i;

    for (i = 0; i < t->n_listeners; i++)
        udp_flush(&t->listeners[i]);
    uv_check_stop(&t->flush_check);
    uv_idle_stop(&t->flush_idle);
}

static void on_flush_check(uv_check_t *h)
{
    udp_flush_all(h->data);
}

static void on_flush_idle(uv_idle_t *h)
{
    udp_flush_all(h->data);
}

/* Queue one datagram on l for the end of this loop turn. */
static int udp_send(struct sip_listener *l, const struct sockaddr *to, const char *buf, size_t len)
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

int sip_transport_send_to(struct sip_transport *t, unsigned listener, const struct sockaddr *addr,
                          const char *buf, size_t len)
{
    struct sip_listener *l = NULL;
    unsigned i;
    int rc = -EAFNOSUPPORT;

    if (t->stopping) {
        rc = -ESHUTDOWN;
        goto out_fail;
    }
    if (listener < t->n_listeners && t->listeners[listener].addr.ss_family == addr->sa_family)
        l = &t->listeners[listener];
    for (i = 0; l == NULL && i < t->n_listeners; i++) {
        if (t->listeners[i].addr.ss_family == addr->sa_family)
            l = &t->listeners[i];
    }
    if (l != NULL)
        rc = udp_send(l, addr, buf, len);
    if (rc == 0)
        return 0;
out_fail:
    tc_log(DEBUG, "sip: udp send: %s", uv_strerror(rc));
    t->stats.send_failed++;
    return rc;
}

int sip_transport_send(struct sip_transport *t, const struct sip_src *dst, const char *buf,
                       size_t len)
{
    int rc;

    if (dst->proto == SIP_PROTO_UDP)
        return sip_transport_send_to(t, dst->listener, (const struct sockaddr *)&dst->peer, buf,
                                     len);
    rc = t->stopping ? -ENOTCONN : sip_transport__tcp_send(t, dst->conn_id, buf, len);
    if (rc < 0)
        t->stats.send_failed++;
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

/* Starting --------------------------------------------------------------------- */

static socklen_t addr_len(const struct sockaddr_storage *ss)
{
    return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
    if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
    else
        ((struct sockaddr_in *)ss)->sin_port = htons(port);
}

static uint16_t get_port(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

/* A bound socket of type, non-blocking, IPv6-only when IPv6. Returns the fd
 * or a negative errno. */
static int open_socket(const struct sockaddr_storage *ss, int type)
{
    int on = 1;
    int fd, rc;

    fd = socket(ss->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (type == SOCK_STREAM && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0)
        goto out_close;
    if (ss->ss_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) != 0)
        goto out_close;
    if (bind(fd, (const struct sockaddr *)ss, addr_len(ss)) != 0)
        goto out_close;
    if (type == SOCK_STREAM && listen(fd, SIP_BACKLOG) != 0)
        goto out_close;
    return fd;

out_close:
    rc = -errno;
    close(fd);
    return rc;
}

/* A listening TCP socket and a UDP socket on the same port of *ss, which gets
 * the bound address. Port 0 picks a port free for both. */
static int bind_pair(struct sockaddr_storage *ss, int *tcp_fd, int *udp_fd)
{
    bool any = get_port(ss) == 0;
    socklen_t len;
    int attempt, tfd, ufd = -EADDRINUSE;

    for (attempt = 0; attempt < SIP_BIND_ATTEMPTS; attempt++) {
        if (any)
            set_port(ss, 0);
        tfd = open_socket(ss, SOCK_STREAM);
        if (tfd < 0)
            return tfd;
        len = sizeof(*ss);
        if (getsockname(tfd, (struct sockaddr *)ss, &len) != 0) {
            ufd = -errno;
            close(tfd);
            return ufd;
        }
        ufd = open_socket(ss, SOCK_DGRAM);
        if (ufd >= 0) {
            *tcp_fd = tfd;
            *udp_fd = ufd;
            return 0;
        }
        close(tfd);
        if (ufd != -EADDRINUSE || !any)
            break;
    }
    return ufd;
}

static void on_listener_close(uv_handle_t *h)
{
    struct sip_listener *l = h->data;

    l->udp_init = false;
    l->t->listener_handles--;
    sip_transport__maybe_free(l->t);
}

static void on_flush_closed(uv_handle_t *h)
{
    struct sip_transport *t = h->data;

    t->listener_handles--;
    sip_transport__maybe_free(t);
}

static void on_tcp_stopped(void *arg)
{
    struct sip_transport *t = arg;

    t->listener_handles--;
    sip_transport__maybe_free(t);
}

/* Open listener l on the parsed address ss: both sockets and their handles. */
static int listener_open(struct sip_listener *l, struct sockaddr_storage *ss)
{
    struct sip_transport *t = l->t;
    int tfd = -1, ufd = -1, rc, rcvbuf, on = 1;
    uv_os_fd_t fd;

    rc = bind_pair(ss, &tfd, &ufd);
    if (rc < 0)
        return rc;
    l->addr = *ss;
    /* The TCP server takes tfd, and numbers it as l: listener i is its i. */
    rc = tcp_server_listen_fd(t->tcp, tfd);
    tfd = -1;
    if (rc < 0)
        goto out_close_fds;
    rc = uv_udp_init_ex(t->loop, &l->udp, AF_UNSPEC | UV_UDP_RECVMMSG);
    if (rc < 0)
        goto out_close_fds;
    l->udp.data = l;
    l->udp_init = true;
    t->listener_handles++;
    rc = uv_udp_open(&l->udp, ufd);
    if (rc < 0)
        goto out_close_fds;
    ufd = -1;
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

out_close_fds:
    if (tfd >= 0)
        close(tfd);
    if (ufd >= 0)
        close(ufd);
    return rc;
}

static int parse_addr(const struct sip_transport_addr *a, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (a->host == NULL)
        return -EINVAL;
    if (uv_ip4_addr(a->host, a->port, (struct sockaddr_in *)ss) == 0)
        return 0;
    if (uv_ip6_addr(a->host, a->port, (struct sockaddr_in6 *)ss) == 0)
        return 0;
    return -EINVAL;
}

static int transport_new(struct sip_transport **out, uv_loop_t *loop,
                         const struct sip_transport_options *opt)
{
    struct sip_transport *t;

    if (opt->n_addrs == 0 || opt->n_addrs > SIP_TRANSPORT_MAX_LISTEN || opt->addrs == NULL ||
        opt->on_message == NULL)
        return -EINVAL;
    if (opt->max_message != 0 && opt->max_message < SIP_TRANSPORT_MIN_MESSAGE)
        return -EINVAL;
    if (opt->max_connections > SIP_TRANSPORT_MAX_CONNS)
        return -EINVAL;
    t = calloc(1, sizeof(*t));
    if (t == NULL)
        return -ENOMEM;
    t->loop = loop;
    t->on_message = opt->on_message;
    t->on_error = opt->on_error;
    t->arg = opt->arg;
    t->max_message = opt->max_message ? opt->max_message : SIP_TRANSPORT_DEFAULT_MAX_MESSAGE;
    t->max_conns = opt->max_connections ? opt->max_connections : SIP_TRANSPORT_DEFAULT_MAX_CONNS;
    t->idle_ms = opt->idle_timeout_ms ? opt->idle_timeout_ms : SIP_TRANSPORT_DEFAULT_IDLE_MS;
    t->message_ms = opt->message_timeout_ms;
    t->max_per_source = opt->max_per_source;
    if (sip_transport__tcp_new(t) != 0) {
        free(t);
        return -ENOMEM;
    }
    uv_check_init(loop, &t->flush_check);
    uv_idle_init(loop, &t->flush_idle);
    t->flush_check.data = t;
    t->flush_idle.data = t;
    t->flush_init = true;
    t->listener_handles += 3; /* the flush handles and the TCP server */
    *out = t;
    return 0;
}

int sip_transport_start(struct sip_transport **out, uv_loop_t *loop,
                        const struct sip_transport_options *opt, unsigned *failed)
{
    struct sockaddr_storage ss;
    struct sip_transport *t;
    unsigned i;
    int rc;

    rc = transport_new(&t, loop, opt);
    if (rc < 0)
        return rc;
    for (i = 0; i < opt->n_addrs; i++) {
        t->listeners[i].t = t;
        t->n_listeners = i + 1;
        rc = parse_addr(&opt->addrs[i], &ss);
        if (rc < 0)
            goto out_stop;
        rc = listener_open(&t->listeners[i], &ss);
        if (rc < 0)
            goto out_stop;
    }
    *out = t;
    return 0;

out_stop:
    if (failed != NULL)
        *failed = i;
    sip_transport_stop(t);
    return rc;
}

unsigned sip_transport_listeners(const struct sip_transport *t)
{
    return t->n_listeners;
}

int sip_transport_port(const struct sip_transport *t, unsigned i)
{
    if (i >= t->n_listeners)
        return -EINVAL;
    return get_port(&t->listeners[i].addr);
}

void sip_transport_stats(const struct sip_transport *t, struct sip_transport_stats *out)
{
    const struct tcp_server_stats *tcp = tcp_server_stats(t->tcp);

    *out = t->stats;
    out->conns_accepted = tcp->accepted;
    out->conns_refused = tcp->refused;
    out->conns_idle_closed = tcp->idle_closed;
    out->conns_open = tcp->open;
    out->recv_errors += tcp->read_errors;
    out->send_failed += tcp->write_errors;
}

int sip_transport_metrics(const struct sip_transport *t, struct tc_buf *b)
{
    return tcp_server_metrics(t->tcp, "sip_tcp", b);
}

void sip_transport_stop(struct sip_transport *t)
{
    struct sip_listener *l;
    unsigned i;

    if (t->stopping)
        return;
    /* Answers queued this turn (the store's last ones at shutdown) go out. */
    udp_flush_all(t);
    t->stopping = true;
    if (t->flush_init) {
        uv_close((uv_handle_t *)&t->flush_check, on_flush_closed);
        uv_close((uv_handle_t *)&t->flush_idle, on_flush_closed);
        t->flush_init = false;
    }
    for (i = 0; i < t->n_listeners; i++) {
        l = &t->listeners[i];
        if (l->udp_init)
            uv_close((uv_handle_t *)&l->udp, on_listener_close);
    }
    tcp_server_stop(t->tcp, on_tcp_stopped);
}
