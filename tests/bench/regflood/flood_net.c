/* flood_net: regflood's sockets. UDP: one connected socket per source
 * port; a batch of requests for one socket leaves in one sendmsg with
 * UDP_SEGMENT (GSO; sendmmsg where the kernel refuses it); answers are read
 * with recvmmsg. TCP: persistent connections, opened before the clock
 * starts; a tick's requests for one connection leave in one send. */
#define _GNU_SOURCE /* recvmmsg, sendmmsg, epoll_pwait2 */
#include <errno.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "regflood.h"

#define RECV_MMSG    32
#define RECV_SLOT    2048
#define TCP_READ     65536
#define TCP_IN_MAX   4096 /* bytes of one answer kept between reads */
#define CONNECT_WAVE 256
#define CONNECT_SECS 10
#define UDP_RCVBUF   (4 << 20)
#define EPOLL_EVENTS 256
#define RECV_ROUNDS  16 /* recvmmsg calls per ready socket per poll */

/* The wall clock, in the kernel's receive timestamps' terms (SO_TIMESTAMPNS
 * is CLOCK_REALTIME): answers are read once per tick, yet each is timed
 * when it arrived. A run is seconds long; a clock step during it shows as
 * a latency outlier. */
uint64_t flood_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* When the message of mh arrived, in us since the run started: its kernel
 * timestamp, else now. */
static uint32_t arrival_us(const struct flood *f, const struct msghdr *mh)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *)mh); c != NULL;
         c = CMSG_NXTHDR((struct msghdr *)mh, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            uint64_t ns;

            memcpy(&ts, CMSG_DATA(c), sizeof(ts));
            ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
            if (ns >= f->t0_ns)
                return (uint32_t)((ns - f->t0_ns) / 1000u);
        }
    }
    return (uint32_t)((flood_now_ns() - f->t0_ns) / 1000u);
}

static void stamp(int fd)
{
    int one = 1;

    (void)setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
}

static int udp_open(struct flood *f)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    struct epoll_event ev = {.events = EPOLLIN};
    socklen_t alen = sizeof(a);
    int buf = UDP_RCVBUF;

    f->udp_fd = calloc(f->n_paths, sizeof(*f->udp_fd));
    f->udp_port = calloc(f->n_paths, sizeof(*f->udp_port));
    if (f->udp_fd == NULL || f->udp_port == NULL)
        return -1;
    for (unsigned i = 0; i < f->n_paths; i++)
        f->udp_fd[i] = -1;
    for (unsigned i = 0; i < f->n_paths; i++) {
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

        if (fd < 0) {
            perror("regflood: socket");
            return -1;
        }
        f->udp_fd[i] = fd;
        stamp(fd);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = 0;
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
        if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
            connect(fd, (const struct sockaddr *)&f->server, sizeof(f->server)) != 0 ||
            getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
            perror("regflood: udp socket");
            return -1;
        }
        f->udp_port[i] = ntohs(a.sin_port);
        ev.data.u32 = i;
        if (epoll_ctl(f->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            perror("regflood: epoll_ctl");
            return -1;
        }
    }
    return 0;
}

/* Connect conns [from, to) and wait until each is up. */
static int tcp_connect_wave(struct flood *f, unsigned from, unsigned to)
{
    struct epoll_event ev = {.events = EPOLLOUT}, evs[EPOLL_EVENTS];
    uint64_t deadline = flood_now_ns() + (uint64_t)CONNECT_SECS * 1000000000u;
    unsigned up = 0, n = to - from;
    int one = 1;

    for (unsigned i = from; i < to; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

        if (fd < 0) {
            perror("regflood: socket (raise the open-files limit, or fewer --conns)");
            return -1;
        }
        f->conns[i].fd = fd;
        stamp(fd);
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(fd, (const struct sockaddr *)&f->server, sizeof(f->server)) != 0 &&
            errno != EINPROGRESS) {
            perror("regflood: connect");
            return -1;
        }
        ev.data.u32 = i;
        if (epoll_ctl(f->ep, EPOLL_CTL_ADD, fd, &ev) != 0)
            return -1;
    }
    while (up < n) {
        int k = epoll_wait(f->ep, evs, EPOLL_EVENTS, 100);

        for (int j = 0; j < k; j++) {
            struct flood_conn *c = &f->conns[evs[j].data.u32];
            struct sockaddr_in a;
            socklen_t el = sizeof(int), al = sizeof(a);
            int err = 0;

            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
            if (err != 0 || (evs[j].events & (EPOLLERR | EPOLLHUP))) {
                fprintf(stderr, "regflood: connect: %s\n", strerror(err ? err : ECONNRESET));
                return -1;
            }
            if (getsockname(c->fd, (struct sockaddr *)&a, &al) == 0)
                c->port = ntohs(a.sin_port);
            ev.events = EPOLLIN | EPOLLRDHUP;
            ev.data.u32 = evs[j].data.u32;
            epoll_ctl(f->ep, EPOLL_CTL_MOD, c->fd, &ev);
            up++;
        }
        if (flood_now_ns() > deadline) {
            fprintf(stderr, "regflood: %u of %u connections up after %d s\n", up, n, CONNECT_SECS);
            return -1;
        }
    }
    return 0;
}

static int tcp_open(struct flood *f)
{
    f->conns = calloc(f->n_paths, sizeof(*f->conns));
    f->dirty = calloc(f->n_paths, sizeof(*f->dirty));
    if (f->conns == NULL || f->dirty == NULL)
        return -1;
    for (unsigned i = 0; i < f->n_paths; i++)
        f->conns[i].fd = -1;
    for (unsigned i = 0; i < f->n_paths; i += CONNECT_WAVE) {
        unsigned to = i + CONNECT_WAVE < f->n_paths ? i + CONNECT_WAVE : f->n_paths;

        if (tcp_connect_wave(f, i, to) != 0)
            return -1;
    }
    return 0;
}

int flood_net_open(struct flood *f)
{
    f->ep = epoll_create1(EPOLL_CLOEXEC);
    if (f->ep < 0) {
        perror("regflood: epoll_create1");
        return -1;
    }
    return f->tcp ? tcp_open(f) : udp_open(f);
}

void flood_net_close(struct flood *f)
{
    for (unsigned i = 0; f->udp_fd != NULL && i < f->n_paths; i++) {
        if (f->udp_fd[i] >= 0)
            close(f->udp_fd[i]);
    }
    for (unsigned i = 0; f->conns != NULL && i < f->n_paths; i++) {
        if (f->conns[i].fd >= 0)
            close(f->conns[i].fd);
        free(f->conns[i].out);
        free(f->conns[i].in);
    }
    free(f->udp_fd);
    free(f->udp_port);
    free(f->conns);
    free(f->dirty);
    if (f->ep >= 0)
        close(f->ep);
}

/* UDP ------------------------------------------------------------------- */

static void udp_send_batch(struct flood *f)
{
    size_t len = f->tmpl.len;
    int fd = f->udp_fd[f->batch_path];
    unsigned n = f->batch_n, done = 0;

    f->batch_n = 0;
    if (n == 0)
        return;
    if (f->gso && n > 1) {
        char ctl[CMSG_SPACE(sizeof(uint16_t))] = {0};
        struct iovec iov = {f->batch, n * len};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = ctl,
                            .msg_controllen = sizeof(ctl)};
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        uint16_t seg = (uint16_t)len;

        cm->cmsg_level = SOL_UDP;
        cm->cmsg_type = UDP_SEGMENT;
        cm->cmsg_len = CMSG_LEN(sizeof(seg));
        memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
        if (sendmsg(fd, &mh, 0) >= 0)
            return;
        if (errno != EINVAL && errno != EIO && errno != EOPNOTSUPP) {
            f->send_errors += n;
            return;
        }
        f->gso = false; /* the kernel cannot: sendmmsg from now on */
    }
    while (done < n) {
        struct mmsghdr m[FLOOD_BATCH];
        struct iovec iov[FLOOD_BATCH];
        int k;

        for (unsigned i = done; i < n; i++) {
            iov[i - done] = (struct iovec){f->batch + i * len, len};
            m[i - done] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i - done], .msg_iovlen = 1}};
        }
        k = sendmmsg(fd, m, n - done, 0);
        if (k <= 0) {
            /* Lost here: the retransmission timer sends them again. */
            f->send_errors += n - done;
            return;
        }
        done += (unsigned)k;
    }
}

static void udp_queue(struct flood *f, uint32_t seq)
{
    unsigned path = f->reqs[seq].path;

    if (f->batch_n > 0 && (path != f->batch_path || f->batch_n == FLOOD_BATCH))
        udp_send_batch(f);
    f->batch_path = path;
    flood_msg_write(f, seq, f->udp_port[path], f->batch + f->batch_n * f->tmpl.len);
    f->batch_n++;
}

static void udp_read(struct flood *f, unsigned path)
{
    static char bufs[RECV_MMSG][RECV_SLOT];
    static char ctl[RECV_MMSG][CMSG_SPACE(sizeof(struct timespec))];
    struct mmsghdr m[RECV_MMSG];
    struct iovec iov[RECV_MMSG];

    for (unsigned round = 0; round < RECV_ROUNDS; round++) {
        int k;

        for (unsigned i = 0; i < RECV_MMSG; i++) {
            iov[i] = (struct iovec){bufs[i], RECV_SLOT};
            m[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i],
                                                .msg_iovlen = 1,
                                                .msg_control = ctl[i],
                                                .msg_controllen = sizeof(ctl[i])}};
        }
        k = recvmmsg(f->udp_fd[path], m, RECV_MMSG, MSG_DONTWAIT, NULL);
        if (k <= 0)
            return;
        for (int i = 0; i < k; i++)
            flood_answer(f, bufs[i], m[i].msg_len, arrival_us(f, &m[i].msg_hdr));
        if (k < RECV_MMSG)
            return;
    }
}

/* TCP ------------------------------------------------------------------- */

static int grow(char **p, size_t *cap, size_t need)
{
    size_t n = *cap ? *cap : 4096;
    char *q;

    while (n < need)
        n *= 2;
    if (n == *cap)
        return 0;
    q = realloc(*p, n);
    if (q == NULL)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

static void tcp_queue(struct flood *f, uint32_t seq)
{
    struct flood_req *r = &f->reqs[seq];
    struct flood_conn *c = &f->conns[r->path];
    size_t len = f->tmpl.len;

    if (c->closed || c->out_len + len > FLOOD_TCP_OUT_MAX ||
        grow(&c->out, &c->out_cap, c->out_len + len) != 0) {
        r->state = REQ_BLOCKED;
        f->blocked++;
        return;
    }
    flood_msg_write(f, seq, c->port, c->out + c->out_len);
    c->out_len += len;
    if (!c->dirty) {
        c->dirty = true;
        f->dirty[f->n_dirty++] = r->path;
    }
}

static void tcp_flush(struct flood *f)
{
    unsigned keep = 0;

    for (unsigned i = 0; i < f->n_dirty; i++) {
        struct flood_conn *c = &f->conns[f->dirty[i]];
        ssize_t k = c->closed ? -1 : send(c->fd, c->out, c->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);

        if (k > 0) {
            memmove(c->out, c->out + k, c->out_len - (size_t)k);
            c->out_len -= (size_t)k;
        } else if (k < 0 && (c->closed || (errno != EAGAIN && errno != EINTR))) {
            c->closed = true;
            c->out_len = 0;
        }
        if (c->out_len > 0)
            f->dirty[keep++] = f->dirty[i];
        else
            c->dirty = false;
    }
    f->n_dirty = keep;
}

/* The end of the SIP message at p (head and Content-Length body), or 0 if
 * it is not all there. */
static size_t message_end(const char *p, size_t n)
{
    const char *e = memmem(p, n, "\r\n\r\n", 4), *cl;
    size_t head, body = 0;

    if (e == NULL)
        return 0;
    head = (size_t)(e - p) + 4;
    cl = memmem(p, head, "\nContent-Length:", 16);
    if (cl != NULL)
        body = strtoul(cl + 16, NULL, 10);
    return head + body <= n ? head + body : 0;
}

static void tcp_closed(struct flood *f, struct flood_conn *c)
{
    if (c->closed)
        return;
    c->closed = true;
    f->conns_closed++;
    epoll_ctl(f->ep, EPOLL_CTL_DEL, c->fd, NULL);
}

static void tcp_read(struct flood *f, unsigned path)
{
    static char buf[TCP_IN_MAX + TCP_READ];
    struct flood_conn *c = &f->conns[path];

    for (unsigned round = 0; round < RECV_ROUNDS && !c->closed; round++) {
        char ctl[CMSG_SPACE(sizeof(struct timespec))];
        size_t have = c->in_len, at = 0, e;
        struct iovec iov;
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        ssize_t k;
        uint32_t t;

        if (have > 0)
            memcpy(buf, c->in, have);
        iov = (struct iovec){buf + have, TCP_READ};
        mh.msg_control = ctl;
        mh.msg_controllen = sizeof(ctl);
        k = recvmsg(c->fd, &mh, MSG_DONTWAIT);
        if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) {
            tcp_closed(f, c);
            return;
        }
        if (k < 0)
            return;
        have += (size_t)k;
        t = arrival_us(f, &mh);
        while ((e = message_end(buf + at, have - at)) > 0) {
            flood_answer(f, buf + at, e, t);
            at += e;
        }
        c->in_len = have - at;
        if (c->in_len > TCP_IN_MAX) {
            f->stray++;
            tcp_closed(f, c);
            return;
        }
        if (c->in_len > 0) {
            if (c->in == NULL && (c->in = malloc(TCP_IN_MAX)) == NULL) {
                tcp_closed(f, c);
                return;
            }
            memcpy(c->in, buf + at, c->in_len);
        }
        if ((size_t)k < TCP_READ)
            return;
    }
}

/* Both ----------------------------------------------------------------------- */

void flood_net_queue(struct flood *f, uint32_t seq)
{
    if (f->tcp)
        tcp_queue(f, seq);
    else
        udp_queue(f, seq);
}

void flood_net_flush(struct flood *f)
{
    if (f->tcp)
        tcp_flush(f);
    else
        udp_send_batch(f);
}

void flood_net_poll(struct flood *f, uint64_t until_ns)
{
    struct epoll_event evs[EPOLL_EVENTS];
    struct timespec ts = {(time_t)(until_ns / 1000000000u), (long)(until_ns % 1000000000u)};
    int k;

    /* One wake per tick: sleep to its start, then take every answer that
     * came meanwhile (each timed by the kernel when it arrived). */
    while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
    k = epoll_wait(f->ep, evs, EPOLL_EVENTS, 0);
    for (int i = 0; i < k; i++) {
        unsigned path = evs[i].data.u32;

        if (f->tcp) {
            tcp_read(f, path);
            if (evs[i].events & (EPOLLHUP | EPOLLERR))
                tcp_closed(f, &f->conns[path]);
        } else {
            udp_read(f, path);
        }
    }
}
