/* The TCP connection server on a real loop: 127.0.0.1, an ephemeral port,
 * raw client sockets in the same thread. The test pumps the loop until a
 * condition holds or a deadline passes; nothing sleeps. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "server/net/tcp_server.h"
#include "tests/tc_test.h"

TestSuite(tcp_server, .fini = tc_test_leak_check, .timeout = 60);

#define DEADLINE_MS 10000
#define BIG         (8 << 20) /* more than the socket buffers hold */

struct h {
    uv_loop_t loop;
    struct tcp_server *srv;
    unsigned accepts, closes, idles, stopped;
    uint64_t last_id;
    struct tcp_conn *last;
    bool echo, close_on_idle;
    bool lines;     /* a message is a line: input not ending in \n is partial */
    unsigned reads; /* on_read calls */
};

/* The user area of one connection. */
struct user {
    struct h *h;
    uint64_t id;
    unsigned closes;
};

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define PUMP_UNTIL(h, cond)                                                  \
    do {                                                                     \
        int64_t end_ = now_ms() + DEADLINE_MS;                               \
        while (!(cond)) {                                                    \
            cr_assert_lt(now_ms(), end_, "timed out waiting for %s", #cond); \
            uv_run(&(h)->loop, UV_RUN_NOWAIT);                               \
            poll(NULL, 0, 1);                                                \
        }                                                                    \
    } while (0)

static int on_accept(void *arg, struct tcp_conn *c)
{
    struct h *h = arg;
    struct user *u = tcp_conn_data(c);

    u->h = h;
    u->id = tcp_conn_id(c);
    h->accepts++;
    h->last_id = u->id;
    h->last = c;
    return 0;
}

static void on_read(void *arg, struct tcp_conn *c, char *data, size_t len)
{
    struct h *h = arg;

    h->reads++;
    if (h->lines)
        tcp_conn_message(c, data[len - 1] != '\n');
    if (h->echo)
        tcp_conn_write(c, data, len);
}

static void on_close(void *arg, struct tcp_conn *c)
{
    struct h *h = arg;
    struct user *u = tcp_conn_data(c);

    cr_assert_eq(u->h, h);
    cr_assert_eq(u->closes, 0, "on_close twice");
    u->closes++;
    h->closes++;
    if (h->last == c)
        h->last = NULL;
}

static void on_idle(void *arg, struct tcp_conn *c)
{
    struct h *h = arg;

    h->idles++;
    tcp_conn_write(c, "bye\n", 4);
    tcp_conn_shutdown(c);
}

static void on_stopped(void *arg)
{
    struct h *h = arg;

    h->stopped++;
}

static struct tcp_server_options options(struct h *h)
{
    return (struct tcp_server_options){
            .name = "test",
            .max_conns = 4,
            .conn_size = sizeof(struct user),
            .by_id = true,
            .busy = "busy\n",
            .busy_len = 5,
            .h = {.on_accept = on_accept, .on_read = on_read, .on_close = on_close},
            .arg = h,
    };
}

static void h_start(struct h *h, struct tcp_server_options o)
{
    signal(SIGPIPE, SIG_IGN);
    memset(h, 0, sizeof(*h));
    h->echo = true;
    cr_assert_eq(uv_loop_init(&h->loop), 0);
    o.arg = h;
    cr_assert_eq(tcp_server_new(&h->srv, &h->loop, &o), 0);
    cr_assert_eq(tcp_server_listen(h->srv, "127.0.0.1", 0), 0);
    cr_assert_gt(tcp_server_port(h->srv, 0), 0);
}

/* Stop the server, run the loop until everything is freed, close it. */
static void h_stop(struct h *h)
{
    tcp_server_stop(h->srv, on_stopped);
    h->srv = NULL;
    PUMP_UNTIL(h, h->stopped == 1);
    cr_assert_eq(uv_run(&h->loop, UV_RUN_DEFAULT), 0);
    cr_assert_eq(uv_loop_close(&h->loop), 0);
    cr_assert_eq(h->closes, h->accepts, "every accepted connection is closed once");
}

/* A client from src, a loopback address other than 127.0.0.1. */
static int client_from(struct h *h, const char *src)
{
    struct sockaddr_in me = {.sin_family = AF_INET}, sa = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

    cr_assert_geq(fd, 0);
    cr_assert_eq(inet_pton(AF_INET, src, &me.sin_addr), 1);
    cr_assert_eq(bind(fd, (struct sockaddr *)&me, sizeof(me)), 0);
    sa.sin_port = htons((uint16_t)tcp_server_port(h->srv, 0));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EINPROGRESS);
    return fd;
}

static int client(struct h *h)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

    cr_assert_geq(fd, 0);
    sa.sin_port = htons((uint16_t)tcp_server_port(h->srv, 0));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EINPROGRESS);
    return fd;
}

static void send_all(struct h *h, int fd, const char *s)
{
    size_t len = strlen(s), off = 0;
    ssize_t n;

    PUMP_UNTIL(h,
               (n = send(fd, s + off, len - off, 0), n > 0 ? (off += (size_t)n) : 0, off == len));
}

/* Read what is there into buf; returns true at end of file or reset. */
static bool drain(int fd, char *buf, size_t cap, size_t *len)
{
    ssize_t n;

    for (;;) {
        n = recv(fd, buf + *len, cap - *len - 1, 0);
        if (n > 0) {
            *len += (size_t)n;
            buf[*len] = '\0';
            continue;
        }
        return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
    }
}

Test(tcp_server, accept_and_echo)
{
    char buf[256];
    size_t len = 0;
    struct h h;
    int fd;

    h_start(&h, options(&h));
    fd = client(&h);
    send_all(&h, fd, "hello\n");
    PUMP_UNTIL(&h, (drain(fd, buf, sizeof(buf), &len), len == 6));
    cr_assert_str_eq(buf, "hello\n");
    cr_assert_eq(h.accepts, 1);
    cr_assert_eq(h.last_id, 1);
    cr_assert_eq(tcp_server_find(h.srv, 1), h.last);
    cr_assert_eq(strncmp(tcp_conn_peer(h.last), "127.0.0.1:", 10), 0);
    cr_assert_eq(tcp_conn_listener(h.last), 0);
    cr_assert_eq(tcp_server_stats(h.srv)->accepted, 1);
    cr_assert_eq(tcp_server_stats(h.srv)->open, 1);

    /* The peer's end of file closes the connection: on_close once. */
    close(fd);
    PUMP_UNTIL(&h, h.closes == 1);
    cr_assert_null(tcp_server_find(h.srv, 1));
    cr_assert_eq(tcp_server_stats(h.srv)->open, 0);
    h_stop(&h);
}

Test(tcp_server, cap_refuses_the_extra_connection)
{
    struct tcp_server_options o;
    char buf[64];
    size_t len = 0;
    struct h h;
    int fd[3];

    o = options(&h);
    o.max_conns = 2;
    h_start(&h, o);
    fd[0] = client(&h);
    fd[1] = client(&h);
    PUMP_UNTIL(&h, h.accepts == 2);
    fd[2] = client(&h);
    PUMP_UNTIL(&h, drain(fd[2], buf, sizeof(buf), &len));
    cr_assert_str_eq(buf, "busy\n");
    cr_assert_eq(tcp_server_stats(h.srv)->refused, 1);
    cr_assert_eq(tcp_server_stats(h.srv)->open, 2);
    cr_assert_eq(h.accepts, 2, "no on_accept for a refused connection");

    /* A freed slot is taken again, under a new id. */
    close(fd[0]);
    PUMP_UNTIL(&h, h.closes == 1);
    close(fd[2]);
    fd[2] = client(&h);
    PUMP_UNTIL(&h, h.accepts == 3);
    cr_assert_eq(h.last_id, 3);
    close(fd[1]);
    close(fd[2]);
    h_stop(&h);
}

Test(tcp_server, idle_timeout_closes)
{
    struct tcp_server_options o;
    char buf[64];
    size_t len = 0;
    int64_t t0;
    struct h h;
    int fd;

    o = options(&h);
    o.idle_ms = 50;
    h_start(&h, o);
    fd = client(&h);
    PUMP_UNTIL(&h, h.accepts == 1);
    t0 = now_ms();
    PUMP_UNTIL(&h, drain(fd, buf, sizeof(buf), &len));
    cr_assert_geq(now_ms() - t0 + 20, 50, "closed too early");
    cr_assert_eq(len, 0);
    cr_assert_eq(tcp_server_stats(h.srv)->idle_closed, 1);
    PUMP_UNTIL(&h, h.closes == 1);
    close(fd);
    h_stop(&h);
}

Test(tcp_server, input_keeps_idle_away_and_on_idle_ends_gracefully)
{
    struct tcp_server_options o;
    char buf[256];
    size_t len = 0;
    struct h h;
    int fd, i;

    o = options(&h);
    o.idle_ms = 100;
    o.h.on_idle = on_idle;
    h_start(&h, o);
    fd = client(&h);
    for (i = 0; i < 5; i++) {
        int64_t t0 = now_ms();

        PUMP_UNTIL(&h, now_ms() - t0 >= 40);
        send_all(&h, fd, "x");
    }
    cr_assert_eq(h.idles, 0);
    PUMP_UNTIL(&h, drain(fd, buf, sizeof(buf), &len));
    cr_assert_str_eq(buf, "xxxxxbye\n", "the answer from on_idle goes out before the close");
    cr_assert_eq(h.idles, 1);
    close(fd);
    PUMP_UNTIL(&h, h.closes == 1);
    h_stop(&h);
}

Test(tcp_server, close_while_a_write_is_pending)
{
    struct h h;
    char *big;
    int fd;

    h_start(&h, options(&h));
    fd = client(&h);
    PUMP_UNTIL(&h, h.accepts == 1);
    big = malloc(BIG);
    memset(big, 'x', BIG);
    /* The client does not read: most of it stays queued. */
    cr_assert_eq(tcp_conn_write(h.last, big, BIG), 0);
    free(big);
    cr_assert_gt(tcp_conn_queued(h.last), 0);
    tcp_conn_close(h.last);
    tcp_conn_close(h.last); /* idempotent */
    PUMP_UNTIL(&h, h.closes == 1);
    cr_assert_eq(tcp_server_stats(h.srv)->write_errors, 0, "a cancelled write is no error");
    close(fd);
    h_stop(&h);
}

Test(tcp_server, write_past_max_queue_closes)
{
    struct tcp_server_options o;
    struct h h;
    char *big;
    int fd;

    o = options(&h);
    o.max_queue = 4096;
    h_start(&h, o);
    fd = client(&h);
    PUMP_UNTIL(&h, h.accepts == 1);
    big = malloc(BIG);
    memset(big, 'x', BIG);
    cr_assert_eq(tcp_conn_write(h.last, big, BIG), -ENOBUFS);
    free(big);
    PUMP_UNTIL(&h, h.closes == 1);
    close(fd);
    h_stop(&h);
}

Test(tcp_server, stop_with_open_connections_frees_everything)
{
    struct h h;
    char *big;
    int fd[3], i;

    h_start(&h, options(&h));
    for (i = 0; i < 3; i++)
        fd[i] = client(&h);
    PUMP_UNTIL(&h, h.accepts == 3);
    big = malloc(BIG);
    memset(big, 'y', BIG);
    cr_assert_eq(tcp_conn_write(h.last, big, BIG), 0);
    free(big);
    send_all(&h, fd[0], "partial");
    h_stop(&h);
    cr_assert_eq(h.closes, 3);
    for (i = 0; i < 3; i++)
        close(fd[i]);
}

Test(tcp_server, shutdown_sends_fin_after_queued_bytes)
{
    char buf[64];
    size_t len = 0;
    struct h h;
    int fd;

    h_start(&h, options(&h));
    fd = client(&h);
    PUMP_UNTIL(&h, h.accepts == 1);
    cr_assert_eq(tcp_conn_write(h.last, "last words\n", 11), 0);
    tcp_conn_shutdown(h.last);
    cr_assert(tcp_conn_closing(h.last));
    cr_assert_null(tcp_server_find(h.srv, 1), "an ending connection is not found");
    cr_assert_eq(tcp_conn_write(h.last, "more", 4), -ENOTCONN);
    PUMP_UNTIL(&h, drain(fd, buf, sizeof(buf), &len));
    cr_assert_str_eq(buf, "last words\n");
    close(fd);
    PUMP_UNTIL(&h, h.closes == 1);
    h_stop(&h);
}

Test(tcp_server, listen_errors_name_the_address)
{
    struct tcp_server *s;
    struct h h;

    h_start(&h, options(&h));
    cr_assert_eq(tcp_server_listen(h.srv, "not-an-address", 0), -EINVAL);
    cr_assert_eq(tcp_server_listen(h.srv, "127.0.0.1", (uint16_t)tcp_server_port(h.srv, 0)),
                 -EADDRINUSE);
    /* A second address, IPv6 where the host has it: listener 2 (1 failed). */
    if (tcp_server_listen(h.srv, "::1", 0) == 0)
        cr_assert_gt(tcp_server_port(h.srv, 2), 0);
    cr_assert_eq(tcp_server_port(h.srv, 1), -EINVAL);
    h_stop(&h);

    cr_assert_eq(uv_loop_init(&h.loop), 0);
    struct tcp_server_options o = options(&h);
    o.max_conns = 0;
    cr_assert_eq(tcp_server_new(&s, &h.loop, &o), -EINVAL);
    cr_assert_eq(uv_loop_close(&h.loop), 0);
}

Test(tcp_server, per_source_cap)
{
    struct tcp_server_options o;
    char buf[64];
    size_t len = 0;
    struct h h;
    int fd[4];

    o = options(&h);
    o.max_per_source = 2;
    h_start(&h, o);
    fd[0] = client(&h);
    fd[1] = client(&h);
    PUMP_UNTIL(&h, h.accepts == 2);
    fd[2] = client(&h);
    PUMP_UNTIL(&h, drain(fd[2], buf, sizeof(buf), &len));
    cr_assert_str_eq(buf, "busy\n");
    cr_assert_eq(tcp_server_stats(h.srv)->refused_per_source, 1);
    cr_assert_eq(tcp_server_stats(h.srv)->refused, 0);
    /* Another source still has its share. */
    fd[3] = client_from(&h, "127.0.0.2");
    PUMP_UNTIL(&h, h.accepts == 3);
    /* A closed connection gives its source's slot back. */
    close(fd[0]);
    PUMP_UNTIL(&h, h.closes == 1);
    close(fd[2]);
    fd[2] = client(&h);
    PUMP_UNTIL(&h, h.accepts == 4);
    for (int i = 1; i < 4; i++)
        close(fd[i]);
    h_stop(&h);
}

Test(tcp_server, message_deadline_whatever_the_pace)
{
    struct tcp_server_options o;
    char buf[64];
    size_t len = 0;
    int64_t t0, next = 0;
    struct h h;
    int fd, quiet, good;

    o = options(&h);
    o.message_ms = 200;
    o.idle_ms = 5000;
    h_start(&h, o);
    h.lines = true;
    h.echo = false;
    /* A byte every 20 ms, never a whole line: closed at the deadline. */
    fd = client(&h);
    PUMP_UNTIL(&h, h.accepts == 1);
    t0 = now_ms();
    PUMP_UNTIL(&h, (now_ms() >= next ? (send(fd, "x", 1, MSG_NOSIGNAL), next = now_ms() + 20) : 0,
                    drain(fd, buf, sizeof(buf), &len)));
    cr_assert_geq(now_ms() - t0 + 20, 200, "closed too early");
    cr_assert_lt(now_ms() - t0, 1000, "not closed at the deadline");
    cr_assert_eq(tcp_server_stats(h.srv)->message_timeouts, 1);
    close(fd);
    /* Silent from the accept: the first message's clock runs too. */
    quiet = client(&h);
    /* Whole lines: the clock stops between messages. */
    good = client(&h);
    send_all(&h, good, "one\n");
    PUMP_UNTIL(&h, tcp_server_stats(h.srv)->message_timeouts == 2);
    t0 = now_ms();
    PUMP_UNTIL(&h, now_ms() - t0 > 300);
    send_all(&h, good, "two\n");
    cr_assert_eq(tcp_server_stats(h.srv)->message_timeouts, 2);
    cr_assert_eq(h.closes, 2);
    close(quiet);
    close(good);
    h_stop(&h);
}

Test(tcp_server, full_server_evicts_the_oldest_late_message)
{
    struct tcp_server_options o;
    char buf[64];
    size_t len = 0;
    struct h h;
    int fd[4];

    o = options(&h);
    o.max_conns = 2;
    o.message_ms = 60000;
    h_start(&h, o);
    h.lines = true;
    h.echo = false;
    fd[0] = client(&h);
    PUMP_UNTIL(&h, h.accepts == 1);
    send_all(&h, fd[0], "whole\n");
    fd[1] = client(&h);
    PUMP_UNTIL(&h, h.accepts == 2);
    send_all(&h, fd[1], "part");
    /* fd[0] is between messages, fd[1] in the middle of one: fd[1] goes. */
    fd[2] = client(&h);
    PUMP_UNTIL(&h, h.accepts == 3);
    PUMP_UNTIL(&h, drain(fd[1], buf, sizeof(buf), &len));
    cr_assert_eq(tcp_server_stats(h.srv)->evicted, 1);
    cr_assert_eq(tcp_server_stats(h.srv)->open, 2);
    /* fd[2]'s first message is pending since its accept: it goes next;
     * once it sent a whole line, nobody is late and a newcomer is refused. */
    h.reads = 0;
    send_all(&h, fd[2], "hi\n");
    PUMP_UNTIL(&h, h.reads == 1);
    fd[3] = client(&h);
    len = 0;
    PUMP_UNTIL(&h, drain(fd[3], buf, sizeof(buf), &len));
    cr_assert_str_eq(buf, "busy\n");
    cr_assert_eq(tcp_server_stats(h.srv)->refused, 1);
    for (int i = 0; i < 4; i++)
        close(fd[i]);
    h_stop(&h);
}

/* A client alone at its address, however slow its message, is not the
 * one evicted while another source holds more late messages. */
Test(tcp_server, eviction_spares_a_lone_source)
{
    struct tcp_server_options o;
    char buf[64];
    size_t len = 0;
    struct h h;
    int lone, crowd[2], newcomer;
    int64_t t0;

    o = options(&h);
    o.max_conns = 3;
    o.max_per_source = 3;
    o.message_ms = 60000;
    h_start(&h, o);
    h.lines = true;
    h.echo = false;
    lone = client(&h);
    PUMP_UNTIL(&h, h.accepts == 1);
    send_all(&h, lone, "slow");
    /* The lone message is the oldest by a few ms. */
    t0 = now_ms();
    PUMP_UNTIL(&h, now_ms() - t0 > 5);
    crowd[0] = client_from(&h, "127.0.0.2");
    crowd[1] = client_from(&h, "127.0.0.2");
    PUMP_UNTIL(&h, h.accepts == 3);
    newcomer = client_from(&h, "127.0.0.3");
    PUMP_UNTIL(&h, h.accepts == 4);
    PUMP_UNTIL(&h, h.closes == 1);
    cr_assert_eq(tcp_server_stats(h.srv)->evicted, 1);
    PUMP_UNTIL(&h,
               drain(crowd[0], buf, sizeof(buf), &len) || drain(crowd[1], buf, sizeof(buf), &len));
    cr_assert_not(drain(lone, buf, sizeof(buf), &len), "the lone source was evicted");
    close(lone);
    close(crowd[0]);
    close(crowd[1]);
    close(newcomer);
    h_stop(&h);
}

/* A client that reconnects as soon as it is accepted (as one does whose
 * connections are evicted or refused) keeps the backlog full: the loop
 * still turns, so a timer due meanwhile runs after a batch of accepts,
 * not after the storm. */
#define STORM 200

struct storm {
    struct h *h;
    int fds[STORM];
    unsigned n;
    uv_timer_t timer;
    unsigned accepts_at_timer; /* 0: not fired */
};

static struct storm storm;

static void on_storm_timer(uv_timer_t *t)
{
    struct storm *st = t->data;

    st->accepts_at_timer = st->h->accepts;
}

static int on_accept_reconnect(void *arg, struct tcp_conn *c)
{
    struct h *h = arg;

    on_accept(arg, c);
    if (h->accepts == 1)
        uv_timer_start(&storm.timer, on_storm_timer, 0, 0);
    if (storm.n < STORM)
        storm.fds[storm.n++] = client(h);
    return 0;
}

Test(tcp_server, reconnect_storm_does_not_hold_the_loop)
{
    struct tcp_server_options o;
    struct h h;

    o = options(&h);
    o.max_conns = STORM + 1;
    o.h.on_accept = on_accept_reconnect;
    h_start(&h, o);
    memset(&storm, 0, sizeof(storm));
    storm.h = &h;
    uv_timer_init(&h.loop, &storm.timer);
    storm.timer.data = &storm;
    storm.fds[storm.n++] = client(&h);
    PUMP_UNTIL(&h, storm.accepts_at_timer > 0);
    cr_assert_leq(storm.accepts_at_timer, 2 * TCP_SERVER_ACCEPT_BATCH,
                  "the timer ran only after %u accepts", storm.accepts_at_timer);
    PUMP_UNTIL(&h, h.accepts == STORM);
    uv_close((uv_handle_t *)&storm.timer, NULL);
    for (unsigned i = 0; i < storm.n; i++)
        close(storm.fds[i]);
    h_stop(&h);
}
