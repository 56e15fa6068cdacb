#include "server/sip/sip_transport.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "tests/tc_test.h"

TestSuite(sip_transport, .fini = tc_test_leak_check);

#define MAX_SEEN    64
#define DEADLINE_MS 5000

struct seen {
    struct sip_src src;
    enum sip_transport_error err; /* 0 for a message */
    char *buf;
    size_t len;
};

/* One transport on its own loop, and what its callbacks saw. */
struct h {
    uv_loop_t loop;
    uv_timer_t tick;
    struct sip_transport *t;
    struct seen msgs[MAX_SEEN];
    unsigned n_msgs;
    struct seen errs[MAX_SEEN];
    unsigned n_errs;
    const char *reply;     /* sent back on each message when not NULL */
    const char *err_reply; /* sent back on each error when not NULL */
    bool stop_in_cb;       /* stop the transport from on_message */
    /* count_only: messages are counted, not kept; each costs spin_us of
     * loop time, and every ask_every-th asks sip_transport_backlog_ns(). */
    bool count_only;
    unsigned n_counted, spin_us, ask_every;
    uint64_t max_backlog_ns;
};

static void record(struct seen *s, const struct sip_src *src, enum sip_transport_error err,
                   const char *buf, size_t len)
{
    s->src = *src;
    s->err = err;
    s->buf = malloc(len + 1);
    cr_assert_not_null(s->buf);
    memcpy(s->buf, buf, len);
    s->buf[len] = '\0';
    s->len = len;
}

static void on_message(void *arg, const struct sip_src *src, const char *buf, size_t len)
{
    struct h *h = arg;
    uint64_t t0, backlog;

    if (h->count_only) {
        t0 = uv_hrtime();
        while (uv_hrtime() - t0 < h->spin_us * 1000ull)
            ;
        if (++h->n_counted % h->ask_every == 0) {
            backlog = sip_transport_backlog_ns(h->t, src);
            if (backlog > h->max_backlog_ns)
                h->max_backlog_ns = backlog;
        }
        return;
    }
    cr_assert_lt(h->n_msgs, MAX_SEEN);
    record(&h->msgs[h->n_msgs++], src, 0, buf, len);
    if (h->reply != NULL)
        cr_assert_eq(sip_transport_send(h->t, src, h->reply, strlen(h->reply)), 0);
    if (h->stop_in_cb) {
        sip_transport_stop(h->t);
        h->t = NULL;
    }
}

static void on_error(void *arg, const struct sip_src *src, enum sip_transport_error err,
                     const char *buf, size_t len)
{
    struct h *h = arg;

    cr_assert_lt(h->n_errs, MAX_SEEN);
    record(&h->errs[h->n_errs++], src, err, buf, len);
    if (h->err_reply != NULL)
        cr_assert_eq(sip_transport_send(h->t, src, h->err_reply, strlen(h->err_reply)), 0);
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

static void h_init(struct h *h)
{
    memset(h, 0, sizeof(*h));
    cr_assert_eq(uv_loop_init(&h->loop), 0);
    /* Wakes the loop so that pump() returns often enough to check deadlines. */
    cr_assert_eq(uv_timer_init(&h->loop, &h->tick), 0);
    cr_assert_eq(uv_timer_start(&h->tick, on_tick, 5, 5), 0);
}

static struct sip_transport_options h_options(struct h *h, const struct sip_transport_addr *addrs,
                                              unsigned n)
{
    return (struct sip_transport_options){
            .addrs = addrs,
            .n_addrs = n,
            .on_message = on_message,
            .on_error = on_error,
            .arg = h,
    };
}

/* Start on 127.0.0.1, any port, with opt's limits. */
static void h_start(struct h *h, struct sip_transport_options opt)
{
    static const struct sip_transport_addr lo = {"127.0.0.1", 0};

    if (opt.addrs == NULL) {
        opt.addrs = &lo;
        opt.n_addrs = 1;
    }
    opt.on_message = on_message;
    opt.on_error = on_error;
    opt.arg = h;
    cr_assert_eq(sip_transport_start(&h->t, &h->loop, &opt, NULL), 0);
}

static void h_fini(struct h *h)
{
    unsigned i;

    if (h->t != NULL)
        sip_transport_stop(h->t);
    h->t = NULL;
    uv_close((uv_handle_t *)&h->tick, NULL);
    cr_assert_eq(uv_run(&h->loop, UV_RUN_DEFAULT), 0);
    cr_assert_eq(uv_loop_close(&h->loop), 0);
    for (i = 0; i < h->n_msgs; i++)
        free(h->msgs[i].buf);
    for (i = 0; i < h->n_errs; i++)
        free(h->errs[i].buf);
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct sip_transport_stats stats(struct h *h)
{
    struct sip_transport_stats s;

    sip_transport_stats(h->t, &s);
    return s;
}

/* Run the loop until expr holds, failing the test after DEADLINE_MS. */
#define PUMP_UNTIL(h, expr)                                                 \
    do {                                                                    \
        uint64_t dl_ = now_ms() + DEADLINE_MS;                              \
        while (!(expr)) {                                                   \
            cr_assert_lt(now_ms(), dl_, "timed out waiting for %s", #expr); \
            uv_run(&(h)->loop, UV_RUN_ONCE);                                \
        }                                                                   \
    } while (0)

/* Client sockets ----------------------------------------------------------- */

static void set_nonblock(int fd)
{
    cr_assert_eq(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
}

static socklen_t make_addr(struct sockaddr_storage *ss, int family, int port)
{
    memset(ss, 0, sizeof(*ss));
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        a->sin6_addr = in6addr_loopback;
        return sizeof(*a);
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;

    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sizeof(*a);
}

static int udp_client(int family)
{
    struct sockaddr_storage ss;
    socklen_t len = make_addr(&ss, family, 0);
    int fd = socket(family, SOCK_DGRAM, 0);

    cr_assert_geq(fd, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&ss, len), 0);
    set_nonblock(fd);
    return fd;
}

static void udp_send(int fd, int family, int port, const char *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t alen = make_addr(&ss, family, port);

    cr_assert_eq(sendto(fd, buf, len, 0, (struct sockaddr *)&ss, alen), (ssize_t)len);
}

static int tcp_client(int family, int port)
{
    struct sockaddr_storage ss;
    socklen_t len = make_addr(&ss, family, port);
    int one = 1;
    int fd = socket(family, SOCK_STREAM, 0);

    cr_assert_geq(fd, 0);
    /* The kernel completes the handshake on its own; accept comes later. */
    cr_assert_eq(connect(fd, (struct sockaddr *)&ss, len), 0, "connect: %s", strerror(errno));
    cr_assert_eq(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
    set_nonblock(fd);
    return fd;
}

static void tcp_send(int fd, const char *buf, size_t len)
{
    cr_assert_eq(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
}

static void tcp_puts(int fd, const char *s)
{
    tcp_send(fd, s, strlen(s));
}

/* What a client socket received so far. */
struct rx {
    char buf[8192];
    size_t len;
    bool eof; /* EOF or reset */
};

/* Read what is there without blocking; true once rx holds want (or, when want
 * is NULL, once the peer closed). */
static bool rx_poll(int fd, struct rx *rx, const char *want)
{
    ssize_t n;

    while (!rx->eof && rx->len < sizeof(rx->buf) - 1) {
        n = recv(fd, rx->buf + rx->len, sizeof(rx->buf) - 1 - rx->len, 0);
        if (n > 0) {
            rx->len += (size_t)n;
            rx->buf[rx->len] = '\0';
        } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            rx->eof = true;
        } else {
            break;
        }
    }
    return want == NULL ? rx->eof : strstr(rx->buf, want) != NULL;
}

/* Poll, and return how many bytes rx holds. */
static size_t rx_len(int fd, struct rx *rx)
{
    rx_poll(fd, rx, NULL);
    return rx->len;
}

static int h_port(struct h *h)
{
    int port = sip_transport_port(h->t, 0);

    cr_assert_gt(port, 0);
    return port;
}

static const char REGISTER[] = "REGISTER sip:example.com SIP/2.0\r\n"
                               "Via: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK1\r\n"
                               "Call-ID: a1\r\n"
                               "CSeq: 1 REGISTER\r\n"
                               "Content-Length: 0\r\n"
                               "\r\n";

static const char OPTIONS[] = "OPTIONS sip:example.com SIP/2.0\r\n"
                              "Call-ID: b2\r\n"
                              "l: 0\r\n"
                              "\r\n";

static bool ipv6_available(void)
{
    struct sockaddr_storage ss;
    socklen_t len = make_addr(&ss, AF_INET6, 0);
    int fd = socket(AF_INET6, SOCK_DGRAM, 0);
    bool ok;

    if (fd < 0)
        return false;
    ok = bind(fd, (struct sockaddr *)&ss, len) == 0;
    close(fd);
    return ok;
}

/* UDP ---------------------------------------------------------------------- */

static void check_udp_message(int family, const char *host)
{
    const struct sip_transport_addr addr = {host, 0};
    struct sockaddr_storage me;
    socklen_t melen = sizeof(me);
    struct h h;
    int fd;

    h_init(&h);
    h_start(&h, (struct sip_transport_options){.addrs = &addr, .n_addrs = 1});
    fd = udp_client(family);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&me, &melen), 0);
    udp_send(fd, family, h_port(&h), OPTIONS, strlen(OPTIONS));
    PUMP_UNTIL(&h, h.n_msgs == 1);

    struct seen *m = &h.msgs[0];
    cr_assert_eq(m->len, strlen(OPTIONS));
    cr_assert_str_eq(m->buf, OPTIONS);
    cr_assert_eq(m->src.proto, SIP_PROTO_UDP);
    cr_assert_eq(m->src.conn_id, 0);
    cr_assert_eq(m->src.listener, 0);
    cr_assert_eq(m->src.peer.ss_family, family);
    if (family == AF_INET) {
        struct sockaddr_in *p = (struct sockaddr_in *)&m->src.peer;
        struct sockaddr_in *c = (struct sockaddr_in *)&me;

        cr_assert_eq(p->sin_port, c->sin_port);
        cr_assert_eq(p->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
        cr_assert_eq(ntohs(((struct sockaddr_in *)&m->src.local)->sin_port), h_port(&h));
    } else {
        struct sockaddr_in6 *p = (struct sockaddr_in6 *)&m->src.peer;
        struct sockaddr_in6 *c = (struct sockaddr_in6 *)&me;

        cr_assert_eq(p->sin6_port, c->sin6_port);
        cr_assert_eq(memcmp(&p->sin6_addr, &in6addr_loopback, sizeof(p->sin6_addr)), 0);
        cr_assert_eq(ntohs(((struct sockaddr_in6 *)&m->src.local)->sin6_port), h_port(&h));
    }
    struct sip_transport_stats s = stats(&h);
    cr_assert_eq(s.udp_datagrams, 1);
    cr_assert_eq(s.udp_messages, 1);
    cr_assert_eq(s.rx_bytes, strlen(OPTIONS));
    close(fd);
    h_fini(&h);
}

Test(sip_transport, udp_message_has_source_address)
{
    check_udp_message(AF_INET, "127.0.0.1");
}

Test(sip_transport, udp_message_ipv6)
{
    if (!ipv6_available())
        cr_skip_test("no IPv6 loopback");
    check_udp_message(AF_INET6, "::1");
}

Test(sip_transport, udp_reply_reaches_client)
{
    struct sockaddr_storage me;
    socklen_t melen = sizeof(me);
    struct rx rx = {0};
    struct h h;
    int fd;

    h_init(&h);
    h.reply = "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n";
    h_start(&h, (struct sip_transport_options){0});
    fd = udp_client(AF_INET);
    udp_send(fd, AF_INET, h_port(&h), OPTIONS, strlen(OPTIONS));
    PUMP_UNTIL(&h, rx_poll(fd, &rx, "\r\n\r\n"));
    cr_assert_str_eq(rx.buf, h.reply);

    /* The send-to variant, to an address computed by the caller. */
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&me, &melen), 0);
    memset(&rx, 0, sizeof(rx));
    cr_assert_eq(sip_transport_send_to(h.t, 0, (struct sockaddr *)&me, "hello", 5), 0);
    PUMP_UNTIL(&h, rx_poll(fd, &rx, "hello"));
    cr_assert_eq(rx.len, 5);

    /* No listener of that family. */
    struct sockaddr_storage v6;
    make_addr(&v6, AF_INET6, 5060);
    cr_assert_eq(sip_transport_send_to(h.t, 0, (struct sockaddr *)&v6, "x", 1), -EAFNOSUPPORT);
    cr_assert_eq(stats(&h).send_failed, 1);
    close(fd);
    h_fini(&h);
}

Test(sip_transport, udp_oversize_datagram_flagged)
{
    char big[601];
    struct h h;
    int fd;

    memset(big, 'x', sizeof(big));
    memcpy(big, "OPTIONS sip:a SIP/2.0\r\n", 23);
    h_init(&h);
    h_start(&h, (struct sip_transport_options){.max_message = 512});
    fd = udp_client(AF_INET);
    udp_send(fd, AF_INET, h_port(&h), big, 513);
    udp_send(fd, AF_INET, h_port(&h), big, 512);
    udp_send(fd, AF_INET, h_port(&h), big, sizeof(big));
    udp_send(fd, AF_INET, h_port(&h), "\r\n\r\n", 4);
    PUMP_UNTIL(&h, stats(&h).udp_datagrams == 4);
    cr_assert_eq(h.n_errs, 2);
    cr_assert_eq(h.errs[0].err, SIP_TRANSPORT_TOO_LARGE);
    cr_assert_eq(h.errs[0].len, 513);
    cr_assert_eq(h.errs[0].src.proto, SIP_PROTO_UDP);
    cr_assert_eq(h.errs[1].len, sizeof(big));
    cr_assert_eq(h.n_msgs, 1);
    cr_assert_eq(h.msgs[0].len, 512);
    cr_assert_eq(stats(&h).too_large, 2);
    cr_assert_eq(stats(&h).keepalives, 1);
    close(fd);
    h_fini(&h);
}

/* TCP ---------------------------------------------------------------------- */

Test(sip_transport, tcp_one_message)
{
    struct sockaddr_storage me;
    socklen_t melen = sizeof(me);
    struct h h;
    int fd;

    h_init(&h);
    h_start(&h, (struct sip_transport_options){0});
    fd = tcp_client(AF_INET, h_port(&h));
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&me, &melen), 0);
    tcp_puts(fd, REGISTER);
    PUMP_UNTIL(&h, h.n_msgs == 1);
    cr_assert_str_eq(h.msgs[0].buf, REGISTER);
    cr_assert_eq(h.msgs[0].src.proto, SIP_PROTO_TCP);
    cr_assert_neq(h.msgs[0].src.conn_id, 0);
    cr_assert_eq(((struct sockaddr_in *)&h.msgs[0].src.peer)->sin_port,
                 ((struct sockaddr_in *)&me)->sin_port);
    struct sip_transport_stats s = stats(&h);
    cr_assert_eq(s.tcp_messages, 1);
    cr_assert_eq(s.conns_accepted, 1);
    cr_assert_eq(s.conns_open, 1);
    close(fd);
    h_fini(&h);
}

Test(sip_transport, tcp_two_messages_in_one_write)
{
    char both[sizeof(REGISTER) + sizeof(OPTIONS)];
    struct h h;
    int fd;

    snprintf(both, sizeof(both), "%s%s", REGISTER, OPTIONS);
    h_init(&h);
    h_start(&h, (struct sip_transport_options){0});
    fd = tcp_client(AF_INET, h_port(&h));
    tcp_puts(fd, both);
    PUMP_UNTIL(&h, h.n_msgs == 2);
    cr_assert_str_eq(h.msgs[0].buf, REGISTER);
    cr_assert_str_eq(h.msgs[1].buf, OPTIONS);
    cr_assert_eq(h.msgs[0].src.conn_id, h.msgs[1].src.conn_id);
    close(fd);
    h_fini(&h);
}

/* Requests queued in a TCP socket's receive buffer have no kernel
 * timestamp; the transport dates them from what a full read left on the
 * socket (FIONREAD) and the loop's time per byte. Asked seldom (fewer than
 * SIP_TRANSPORT_BUSY_TURN times in a turn), the turn's length alone says
 * nothing, so the backlog seen here is the socket's. */
Test(sip_transport, tcp_backlog_on_the_socket_is_seen)
{
    size_t len = strlen(REGISTER);
    unsigned sent = 0;
    struct h h;
    ssize_t n;
    int fd;

    h_init(&h);
    h.count_only = true;
    h.spin_us = 20;
    h.ask_every = 64;
    h_start(&h, (struct sip_transport_options){0});
    fd = tcp_client(AF_INET, h_port(&h));
    set_nonblock(fd);
    /* Queue what the sockets take before the loop reads anything: whole
     * requests only; a partial one stays undelivered. */
    while (sent < 4000 && (n = send(fd, REGISTER, len, MSG_NOSIGNAL)) == (ssize_t)len)
        sent++;
    cr_assert_gt(sent, 600, "only %u requests queued", sent);
    PUMP_UNTIL(&h, h.n_counted == sent);
    cr_expect_gt(h.max_backlog_ns, 1000000,
                 "%u requests queued on one connection, %u us of "
                 "work each: the backlog seen was %llu ns",
                 sent, h.spin_us, (unsigned long long)h.max_backlog_ns);
    close(fd);
    h_fini(&h);
}

Test(sip_transport, tcp_message_in_one_byte_writes)
{
    struct h h;
    size_t i;
    int fd;

    h_init(&h);
    h_start(&h, (struct sip_transport_options){0});
    fd = tcp_client(AF_INET, h_port(&h));
    for (i = 0; i < strlen(REGISTER); i++) {
        tcp_send(fd, REGISTER + i, 1);
        /* Each byte is read on its own before the next is sent. */
        PUMP_UNTIL(&h, stats(&h).rx_bytes == i + 1);
        cr_assert_eq(h.n_msgs, i + 1 == strlen(REGISTER) ? 1 : 0);
    }
    cr_assert_str_eq(h.msgs[0].buf, REGISTER);
    close(fd);
    h_fini(&h);
}

Test(sip_transport, tcp_body_framed_by_content_length)
{
    static const char body[] = "v=0\r\n\r\no=- 1 1 IN IP4 127.0.0.1\r\n";
    char msg[512], two[1024];
    struct h h;
    int fd, n;

    n = snprintf(msg, sizeof(msg),
                 "MESSAGE sip:a SIP/2.0\r\nContent-Type: text/plain\r\ncontent-length : %zu \r\n"
                 "\r\n%s",
                 strlen(body), body);
    snprintf(two, sizeof(two), "%s%s", msg, OPTIONS);
    h_init(&h);
    h_start(&h, (struct sip_transport_options){0});
    fd = tcp_client(AF_INET, h_port(&h));
    /* Split inside the body, then the rest with the next message. */
    tcp_send(fd, two, (size_t)n - 10);
    PUMP_UNTIL(&h, stats(&h).rx_bytes == (uint64_t)n - 10);
    cr_assert_eq(h.n_msgs, 0);
    tcp_puts(fd, two + n - 10);
    PUMP_UNTIL(&h, h.n_msgs == 2);
    cr_assert_eq(h.msgs[0].len, (size_t)n);
    cr_assert_str_eq(h.msgs[0].buf, msg);
    cr_assert_str_eq(h.msgs[1].buf, OPTIONS);
    close(fd);
    h_fini(&h);
}

Test(sip_transport, tcp_large_body_in_pieces)
{
    static char msg[40000];
    size_t head, len, off;
    struct h h;
    int fd;

    head = (size_t)snprintf(msg, sizeof(msg), "MESSAGE sip:a SIP/2.0\r\nl: %d\r\n\r\n", 30000);
    memset(msg + head, 'b', 30000);
    len = head + 30000;
    h_init(&h);
    h_start(&h, (struct sip_transport_options){0});
    fd = tcp_client(AF_INET, h_port(&h));
    for (off = 0; off < len; off += 700) {
        size_t k = len - off < 700 ? len - off : 700;

        tcp_send(fd, msg + off, k);
        PUMP_UNTIL(&h, stats(&h).rx_bytes == off + k);
    }
    cr_assert_eq(h.n_msgs, 1);
    cr_assert_eq(h.msgs[0].len, len);
    cr_assert_eq(memcmp(h.msgs[0].buf, msg, len), 0);
    close(fd);
    h_fini(&h);
}

static void check_bad_framing(const char *msg)
{
    struct rx rx = {0};
    struct h h;
    int fd;

    h_init(&h);
    h.err_reply = "SIP/2.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    h_start(&h, (struct sip_transport_options){0});
    fd = tcp_client(AF_INET, h_port(&h));
    tcp_puts(fd, msg);
    PUMP_UNTIL(&h, rx_poll(fd, &rx, NULL));
    cr_assert_str_eq(rx.buf, h.err_reply);
    cr_assert_eq(h.n_msgs, 0);
    cr_assert_eq(h.n_errs, 1);
    cr_assert_eq(h.errs[0].err, SIP_TRANSPORT_BAD_FRAMING);
    cr_assert_eq(h.errs[0].src.proto, SIP_PROTO_TCP);
    cr_assert_eq(stats(&h).bad_framing, 1);
    /* The server lingers for our EOF before it closes. */
    close(fd);
    PUMP_UNTIL(&h, stats(&h).conns_open == 0);
    h_fini(&h);
}

Test(sip_transport, tcp_missing_content_length)
{
    check_bad_framing("OPTIONS sip:a SIP/2.0\r\nCall-ID: x\r\n\r\n");
}

Test(sip_transport, tcp_invalid_content_length)
{
    check_bad_framing("OPTIONS sip:a SIP/2.0\r\nContent-Length: 12x\r\n\r\n");
}

Test(sip_transport, tcp_conflicting_content_length)
{
    check_bad_framing("OPTIONS sip:a SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nab");
}

Test(sip_transport, tcp_oversize_head_refused_and_closed)
{
    char big[400];
    struct rx rx = {0};
    struct h h;
    int fd;

    memset(big, 'h', sizeof(big));
    memcpy(big, "OPTIONS sip:a SIP/2.0\r\nX: ", 26);
    h_init(&h);
    h.err_reply = "SIP/2.0 513 Message Too Large\r\nContent-Length: 0\r\n\r\n";
    h_start(&h, (struct sip_transport_options){.max_message = 256});
    fd = tcp_client(AF_INET, h_port(&h));
    tcp_send(fd, big, 200);
    PUMP_UNTIL(&h, stats(&h).rx_bytes == 200);
    cr_assert_eq(h.n_errs, 0);
    tcp_send(fd, big + 200, 200);
    PUMP_UNTIL(&h, rx_poll(fd, &rx, NULL));
    cr_assert_str_eq(rx.buf, h.err_reply);
    cr_assert_eq(h.n_errs, 1);
    cr_assert_eq(h.errs[0].err, SIP_TRANSPORT_TOO_LARGE);
    cr_assert_leq(h.errs[0].len, 256);
    cr_assert_eq(memcmp(h.errs[0].buf, big, h.errs[0].len), 0);
    cr_assert_eq(stats(&h).too_large, 1);
    close(fd);
    PUMP_UNTIL(&h, stats(&h).conns_open == 0);
    h_fini(&h);
}

Test(sip_transport, tcp_oversize_body_refused)
{
    static const char msg[] = "MESSAGE sip:a SIP/2.0\r\nContent-Length: 300\r\n\r\n";
    struct rx rx = {0};
    struct h h;
    int fd;

    h_init(&h);
    h_start(&h, (struct sip_transport_options){.max_message = 256});
    fd = tcp_client(AF_INET, h_port(&h));
    tcp_puts(fd, msg);
    PUMP_UNTIL(&h, rx_poll(fd, &rx, NULL));
    cr_assert_eq(h.n_errs, 1);
    cr_assert_eq(h.errs[0].err, SIP_TRANSPORT_TOO_LARGE);
    cr_assert_str_eq(h.errs[0].buf, msg);
    close(fd);
    h_fini(&h);
}

Test(sip_transport, tcp_reply_on_same_connection)
{
    struct rx rx = {0};
    struct h h;
    int fd;

    h_init(&h);
    h.reply = "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n";
    h_start(&h, (struct sip_transport_options){0});
    fd = tcp_client(AF_INET, h_port(&h));
    tcp_puts(fd, REGISTER);
    tcp_puts(fd, REGISTER);
    PUMP_UNTIL(&h, rx_len(fd, &rx) == 2 * strlen(h.reply));
    cr_assert_eq(strncmp(rx.buf, h.reply, strlen(h.reply)), 0);
    cr_assert_eq(stats(&h).tx_bytes, 2 * strlen(h.reply));
    close(fd);
    h_fini(&h);
}

Test(sip_transport, tcp_send_after_client_closed)
{
    struct sip_src src;
    struct h h;
    int fd;

    h_init(&h);
    h_start(&h, (struct sip_transport_options){0});
    fd = tcp_client(AF_INET, h_port(&h));
    tcp_puts(fd, REGISTER);
    PUMP_UNTIL(&h, h.n_msgs == 1);
    src = h.msgs[0].src;
    close(fd);
    PUMP_UNTIL(&h, stats(&h).conns_open == 0);
    cr_assert_eq(sip_transport_send(h.t, &src, "x", 1), -ENOTCONN);
    cr_assert_eq(stats(&h).send_failed, 1);
    h_fini(&h);
}

Test(sip_transport, tcp_idle_connection_closed)
{
    struct rx rx = {0};
    struct h h;
    int fd;

    h_init(&h);
    h_start(&h, (struct sip_transport_options){.idle_timeout_ms = 50});
    fd = tcp_client(AF_INET, h_port(&h));
    PUMP_UNTIL(&h, stats(&h).conns_accepted == 1);
    uint64_t t0 = now_ms();
    PUMP_UNTIL(&h, rx_poll(fd, &rx, NULL));
    cr_assert_geq(now_ms() - t0 + 20, 50, "closed too early");
    cr_assert_eq(stats(&h).conns_idle_closed, 1);
    PUMP_UNTIL(&h, stats(&h).conns_open == 0);
    close(fd);
    h_fini(&h);
}

Test(sip_transport, tcp_traffic_keeps_connection)
{
    struct h h;
    int fd, i;

    h_init(&h);
    h_start(&h, (struct sip_transport_options){.idle_timeout_ms = 100});
    fd = tcp_client(AF_INET, h_port(&h));
    for (i = 0; i < 6; i++) {
        uint64_t t0 = now_ms();

        PUMP_UNTIL(&h, now_ms() - t0 >= 40);
        tcp_puts(fd, REGISTER);
        PUMP_UNTIL(&h, h.n_msgs == (unsigned)i + 1);
    }
    cr_assert_eq(stats(&h).conns_idle_closed, 0);
    close(fd);
    h_fini(&h);
}

Test(sip_transport, tcp_connection_cap)
{
    struct rx rx = {0};
    struct h h;
    int fd[3];

    h_init(&h);
    h_start(&h, (struct sip_transport_options){.max_connections = 2});
    fd[0] = tcp_client(AF_INET, h_port(&h));
    fd[1] = tcp_client(AF_INET, h_port(&h));
    PUMP_UNTIL(&h, stats(&h).conns_accepted == 2);
    fd[2] = tcp_client(AF_INET, h_port(&h));
    PUMP_UNTIL(&h, rx_poll(fd[2], &rx, NULL));
    cr_assert_eq(stats(&h).conns_refused, 1);
    cr_assert_eq(stats(&h).conns_open, 2);
    tcp_puts(fd[0], REGISTER);
    tcp_puts(fd[1], OPTIONS);
    PUMP_UNTIL(&h, h.n_msgs == 2);
    cr_assert_neq(h.msgs[0].src.conn_id, h.msgs[1].src.conn_id);

    /* A slot freed is a slot taken again, under a new id. */
    close(fd[0]);
    PUMP_UNTIL(&h, stats(&h).conns_open == 1);
    close(fd[2]);
    fd[2] = tcp_client(AF_INET, h_port(&h));
    tcp_puts(fd[2], REGISTER);
    PUMP_UNTIL(&h, h.n_msgs == 3);
    cr_assert_gt(h.msgs[2].src.conn_id, h.msgs[0].src.conn_id);
    cr_assert_gt(h.msgs[2].src.conn_id, h.msgs[1].src.conn_id);
    close(fd[1]);
    close(fd[2]);
    h_fini(&h);
}

Test(sip_transport, tcp_crlf_keepalive)
{
    struct rx rx = {0};
    struct h h;
    int fd;

    h_init(&h);
    h_start(&h, (struct sip_transport_options){0});
    fd = tcp_client(AF_INET, h_port(&h));
    tcp_puts(fd, "\r\n\r\n");
    PUMP_UNTIL(&h, rx_poll(fd, &rx, "\r\n"));
    cr_assert_eq(rx.len, 2);
    /* A lone CRLF before a message is skipped, a ping after one answered. */
    tcp_puts(fd, "\r\n");
    tcp_puts(fd, REGISTER);
    tcp_puts(fd, "\r\n\r\n");
    PUMP_UNTIL(&h, h.n_msgs == 1 && rx_len(fd, &rx) == 4);
    cr_assert_str_eq(h.msgs[0].buf, REGISTER);
    cr_assert_eq(stats(&h).keepalives, 2);
    close(fd);
    h_fini(&h);
}

Test(sip_transport, tcp_ipv6)
{
    const struct sip_transport_addr addrs[] = {{"127.0.0.1", 0}, {"::1", 0}};
    struct h h;
    int fd;

    if (!ipv6_available())
        cr_skip_test("no IPv6 loopback");
    h_init(&h);
    h_start(&h, (struct sip_transport_options){.addrs = addrs, .n_addrs = 2});
    cr_assert_eq(sip_transport_listeners(h.t), 2);
    fd = tcp_client(AF_INET6, sip_transport_port(h.t, 1));
    tcp_puts(fd, REGISTER);
    PUMP_UNTIL(&h, h.n_msgs == 1);
    cr_assert_eq(h.msgs[0].src.listener, 1);
    cr_assert_eq(h.msgs[0].src.peer.ss_family, AF_INET6);
    close(fd);
    h_fini(&h);
}

Test(sip_transport, stop_from_callback)
{
    struct h h;
    int fd;

    h_init(&h);
    h.stop_in_cb = true;
    h_start(&h, (struct sip_transport_options){0});
    fd = tcp_client(AF_INET, h_port(&h));
    tcp_puts(fd, REGISTER);
    tcp_puts(fd, REGISTER);
    PUMP_UNTIL(&h, h.n_msgs >= 1);
    cr_assert_eq(h.n_msgs, 1);
    close(fd);
    h_fini(&h);
}

Test(sip_transport, stop_with_partial_message_and_queued_writes)
{
    static char chunk[65536];
    struct h h;
    int fd, rc, i;

    h_init(&h);
    h_start(&h, (struct sip_transport_options){0});
    fd = tcp_client(AF_INET, h_port(&h));
    tcp_puts(fd, REGISTER);
    static const char part[] = "OPTIONS sip:a SIP/2.0\r\nl: 10\r\n\r\npart";
    tcp_puts(fd, part);
    PUMP_UNTIL(&h, stats(&h).rx_bytes == strlen(REGISTER) + strlen(part));
    cr_assert_eq(h.n_msgs, 1);
    /* The client does not read: answers pile up until the bound. */
    for (i = 0, rc = 0; rc == 0 && i < 4096; i++)
        rc = sip_transport_send(h.t, &h.msgs[0].src, chunk, sizeof(chunk));
    cr_assert_eq(rc, -ENOBUFS);
    cr_assert_eq(sip_transport_send(h.t, &h.msgs[0].src, "x", 1), -ENOTCONN);
    cr_assert_eq(stats(&h).send_failed, 2);
    close(fd);
    h_fini(&h);
}

/* Datagrams sent in one loop turn go out together, in order, past the
 * size of one batch. */
Test(sip_transport, udp_many_sends_in_one_turn)
{
    struct sockaddr_storage me;
    socklen_t melen = sizeof(me);
    struct rx rx = {0};
    char want[16], d[16];
    struct h h;
    int fd, i;

    h_init(&h);
    h_start(&h, (struct sip_transport_options){0});
    fd = udp_client(AF_INET);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&me, &melen), 0);
    for (i = 0; i < 150; i++) {
        snprintf(d, sizeof(d), "<%03d>", i);
        cr_assert_eq(sip_transport_send_to(h.t, 0, (struct sockaddr *)&me, d, strlen(d)), 0);
    }
    snprintf(want, sizeof(want), "<%03d>", 149);
    PUMP_UNTIL(&h, rx_poll(fd, &rx, want));
    cr_assert_eq(rx.len, 150 * 5);
    for (i = 0; i < 150; i++) {
        snprintf(d, sizeof(d), "<%03d>", i);
        cr_assert_eq(memcmp(rx.buf + i * 5, d, 5), 0, "datagram %d out of order", i);
    }
    cr_assert_eq(stats(&h).tx_bytes, 150 * 5);
    cr_assert_eq(stats(&h).send_failed, 0);
    close(fd);
    h_fini(&h);
}

/* What was queued before a stop still goes out. */
Test(sip_transport, udp_send_then_stop_delivers)
{
    struct sockaddr_storage me;
    socklen_t melen = sizeof(me);
    struct rx rx = {0};
    uint64_t dl;
    struct h h;
    int fd;

    h_init(&h);
    h_start(&h, (struct sip_transport_options){0});
    fd = udp_client(AF_INET);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&me, &melen), 0);
    cr_assert_eq(sip_transport_send_to(h.t, 0, (struct sockaddr *)&me, "bye", 3), 0);
    sip_transport_stop(h.t);
    h.t = NULL;
    dl = now_ms() + DEADLINE_MS;
    while (!rx_poll(fd, &rx, "bye"))
        cr_assert_lt(now_ms(), dl, "the queued datagram never came");
    close(fd);
    h_fini(&h);
}

Test(sip_transport, udp_stop_from_callback)
{
    struct h h;
    int fd, i;

    h_init(&h);
    h.stop_in_cb = true;
    h_start(&h, (struct sip_transport_options){0});
    fd = udp_client(AF_INET);
    for (i = 0; i < 8; i++)
        udp_send(fd, AF_INET, h_port(&h), OPTIONS, strlen(OPTIONS));
    PUMP_UNTIL(&h, h.n_msgs >= 1);
    cr_assert_eq(h.n_msgs, 1);
    close(fd);
    h_fini(&h);
}

/* Starting ------------------------------------------------------------------ */

Test(sip_transport, bind_error_names_the_address)
{
    struct sockaddr_storage ss;
    socklen_t len = make_addr(&ss, AF_INET, 0);
    struct sip_transport_addr addrs[2] = {{"127.0.0.1", 0}, {"127.0.0.1", 0}};
    struct sip_transport_options opt;
    struct sip_transport *t = NULL;
    unsigned failed = 99;
    struct h h;
    int fd;

    /* Hold a TCP port so that the second address cannot have it. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&ss, len), 0);
    cr_assert_eq(listen(fd, 1), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
    addrs[1].port = ntohs(((struct sockaddr_in *)&ss)->sin_port);

    h_init(&h);
    opt = h_options(&h, addrs, 2);
    cr_assert_eq(sip_transport_start(&t, &h.loop, &opt, &failed), -EADDRINUSE);
    cr_assert_eq(failed, 1);
    cr_assert_null(t);

    addrs[1].host = "not-an-address";
    failed = 99;
    cr_assert_eq(sip_transport_start(&t, &h.loop, &opt, &failed), -EINVAL);
    cr_assert_eq(failed, 1);

    opt.n_addrs = 0;
    cr_assert_eq(sip_transport_start(&t, &h.loop, &opt, NULL), -EINVAL);
    close(fd);
    h_fini(&h);
}
