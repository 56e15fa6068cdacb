/* The client library against a fake node: a thread with a listening socket
 * on loopback that speaks the framing and plays a script. Framing, ref ids,
 * timeouts, bounds, error classes, and the text helpers of the tools. */
#include "client/tcclient.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/tcclient_fmt.h"
#include "server/base/buf.h"
#include "tcport/frame.h"
#include "tests/tc_test.h"

TestSuite(tcclient, .fini = tc_test_leak_check, .timeout = 30);

#define WAIT_MS 5000

struct fake;
typedef void (*fake_script)(struct fake *f, int fd);

/* A fake node: accepts one connection and runs script on it. Failures in
 * the thread are counted in errors and checked by the test after the join. */
struct fake {
    int lfd;
    uint16_t port;
    pthread_t th;
    fake_script script;
    int errors;
    char addr[64];
};

static void *fake_main(void *arg)
{
    struct fake *f = arg;
    int fd = accept(f->lfd, NULL, NULL);

    if (fd < 0) {
        f->errors++;
        return NULL;
    }
    f->script(f, fd);
    close(fd);
    return NULL;
}

/* Listen on family's loopback; returns false when it is not available. */
static bool fake_start_on(struct fake *f, int family, fake_script script)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    int one = 1;

    memset(f, 0, sizeof(*f));
    f->script = script;
    f->lfd = socket(family, SOCK_STREAM, 0);
    cr_assert_geq(f->lfd, 0);
    setsockopt(f->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        len = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;

        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof(*a);
    }
    if (bind(f->lfd, (struct sockaddr *)&ss, len) != 0) {
        close(f->lfd);
        return false;
    }
    cr_assert_eq(listen(f->lfd, 4), 0);
    cr_assert_eq(getsockname(f->lfd, (struct sockaddr *)&ss, &len), 0);
    f->port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                       : ((struct sockaddr_in *)&ss)->sin_port);
    snprintf(f->addr, sizeof(f->addr), family == AF_INET6 ? "[::1]:%u" : "127.0.0.1:%u", f->port);
    cr_assert_eq(pthread_create(&f->th, NULL, fake_main, f), 0);
    return true;
}

static void fake_start(struct fake *f, fake_script script)
{
    cr_assert(fake_start_on(f, AF_INET, script));
}

static void fake_join(struct fake *f)
{
    pthread_join(f->th, NULL);
    close(f->lfd);
    cr_assert_eq(f->errors, 0, "the fake node saw %d errors", f->errors);
}

static bool read_all(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;

    while (len > 0) {
        ssize_t r = recv(fd, p, len, 0);

        if (r <= 0)
            return false;
        p += r;
        len -= (size_t)r;
    }
    return true;
}

static void write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;

    while (len > 0) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);

        if (w <= 0)
            return;
        p += w;
        len -= (size_t)w;
    }
}

/* Read one framed Request, or NULL when the client is gone. */
static Tc__Request *fake_read(struct fake *f, int fd)
{
    uint8_t hdr[4], *payload;
    Tc__Request *rq;
    uint32_t n;

    if (!read_all(fd, hdr, 4))
        return NULL;
    n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    payload = malloc(n + 1);
    if (!read_all(fd, payload, n)) {
        free(payload);
        f->errors++;
        return NULL;
    }
    rq = tc__request__unpack(NULL, n, payload);
    free(payload);
    if (rq == NULL)
        f->errors++;
    return rq;
}

static void pack_event(struct tc_buf *b, const Tc__Event *ev)
{
    frame_pack(b, &ev->base);
}

static void fake_send(int fd, const Tc__Event *ev)
{
    struct tc_buf b = TC_BUF_INIT;

    pack_event(&b, ev);
    write_all(fd, b.data, b.len);
    tc_buf_free(&b);
}

static void send_summary(int fd, uint32_t ref, uint64_t total)
{
    Tc__Event ev = TC__EVENT__INIT;
    Tc__EventSummary s = TC__EVENT_SUMMARY__INIT;

    s.total = total;
    s.insrv = 1;
    s.oos = total - 1;
    ev.ref_id = ref;
    ev.body_case = TC__EVENT__BODY_SUMMARY;
    ev.summary = &s;
    fake_send(fd, &ev);
}

static void send_link(int fd, uint32_t ref, uint64_t seq, const char *node)
{
    Tc__Event ev = TC__EVENT__INIT;
    Tc__EventLinkConnected l = TC__EVENT_LINK_CONNECTED__INIT;

    l.node = (char *)node;
    ev.ref_id = ref;
    ev.seq = seq;
    ev.body_case = TC__EVENT__BODY_LINK_CONNECTED;
    ev.link_connected = &l;
    fake_send(fd, &ev);
}

static struct tcclient *connect_to(const struct fake *f)
{
    struct tcclient *c = NULL;

    cr_assert_eq(tcclient_connect(&c, f->addr, WAIT_MS), 0, "connect %s", f->addr);
    return c;
}

/* Answer each request with a summary whose total is the request's ref id. */
static void script_echo(struct fake *f, int fd)
{
    Tc__Request *rq;

    while ((rq = fake_read(f, fd)) != NULL) {
        if (rq->ref_id == 0)
            f->errors++;
        send_summary(fd, rq->ref_id, 100 + rq->ref_id);
        tc__request__free_unpacked(rq, NULL);
    }
}

Test(tcclient, query_summary_round_trip)
{
    struct fake f;
    struct tcclient *c;
    Tc__Event *ev;
    uint32_t ref = 0;

    fake_start(&f, script_echo);
    c = connect_to(&f);
    cr_assert_eq(tcclient_query_summary(c, &ref, WAIT_MS), 0);
    cr_assert_neq(ref, 0);
    cr_assert_eq(tcclient_next_for(c, ref, WAIT_MS, &ev), 0);
    cr_assert_eq(ev->body_case, TC__EVENT__BODY_SUMMARY);
    cr_assert_eq(ev->ref_id, ref);
    cr_assert_eq(ev->summary->total, 100 + ref);
    tcclient_event_free(ev);
    tcclient_close(c);
    fake_join(&f);
}

Test(tcclient, ref_ids_are_automatic_distinct_and_kept_when_set)
{
    Tc__Request rq = TC__REQUEST__INIT;
    Tc__QuerySummary qs = TC__QUERY_SUMMARY__INIT;
    uint32_t refs[3];
    struct fake f;
    struct tcclient *c;
    Tc__Event *ev;

    fake_start(&f, script_echo);
    c = connect_to(&f);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(tcclient_query_nodes(c, &refs[i], WAIT_MS), 0);
    cr_assert(refs[0] != 0 && refs[1] != refs[0] && refs[2] != refs[1] && refs[2] != refs[0]);
    rq.ref_id = 4242;
    rq.body_case = TC__REQUEST__BODY_QUERY_SUMMARY;
    rq.query_summary = &qs;
    cr_assert_eq(tcclient_send(c, &rq, WAIT_MS), 0);
    cr_assert_eq(rq.ref_id, 4242);
    /* Answers come in order; waiting for the last skips the others. */
    cr_assert_eq(tcclient_next_for(c, 4242, WAIT_MS, &ev), 0);
    cr_assert_eq(ev->summary->total, 100 + 4242);
    tcclient_event_free(ev);
    tcclient_close(c);
    fake_join(&f);
}

/* Unsolicited events, then the answer split one byte per write. */
static void script_split(struct fake *f, int fd)
{
    Tc__Request *rq = fake_read(f, fd);
    struct tc_buf b = TC_BUF_INIT;
    Tc__Event ev = TC__EVENT__INIT;
    Tc__EventSummary s = TC__EVENT_SUMMARY__INIT;

    if (rq == NULL)
        return;
    send_link(fd, 0, 7, "sip2");
    ev.ref_id = rq->ref_id;
    ev.body_case = TC__EVENT__BODY_SUMMARY;
    ev.summary = &s;
    s.total = 1000;
    pack_event(&b, &ev);
    for (size_t i = 0; i < b.len; i++)
        write_all(fd, b.data + i, 1);
    tc_buf_free(&b);
    tc__request__free_unpacked(rq, NULL);
}

Test(tcclient, next_for_skips_other_events_and_joins_split_frames)
{
    struct fake f;
    struct tcclient *c;
    Tc__Event *ev;
    uint32_t ref;

    fake_start(&f, script_split);
    c = connect_to(&f);
    cr_assert_eq(tcclient_query_summary(c, &ref, WAIT_MS), 0);
    cr_assert_eq(tcclient_next_for(c, ref, WAIT_MS, &ev), 0);
    cr_assert_eq(ev->body_case, TC__EVENT__BODY_SUMMARY);
    cr_assert_eq(ev->summary->total, 1000);
    tcclient_event_free(ev);
    tcclient_close(c);
    fake_join(&f);
}

/* Three events in one write. */
static void script_batch(struct fake *f, int fd)
{
    struct tc_buf b = TC_BUF_INIT;
    Tc__Event ev = TC__EVENT__INIT;
    Tc__EventLinkConnected l = TC__EVENT_LINK_CONNECTED__INIT;
    Tc__Request *rq = fake_read(f, fd);

    if (rq == NULL)
        return;
    ev.body_case = TC__EVENT__BODY_LINK_CONNECTED;
    ev.link_connected = &l;
    l.node = "sip2";
    for (uint64_t seq = 1; seq <= 3; seq++) {
        ev.seq = seq;
        pack_event(&b, &ev);
    }
    write_all(fd, b.data, b.len);
    tc_buf_free(&b);
    tc__request__free_unpacked(rq, NULL);
    fake_read(f, fd); /* until the client closes */
}

Test(tcclient, several_frames_in_one_read_come_out_in_order)
{
    struct fake f;
    struct tcclient *c;
    Tc__Event *ev;

    fake_start(&f, script_batch);
    c = connect_to(&f);
    cr_assert_eq(tcclient_subscribe(c, 0, NULL, WAIT_MS), 0);
    for (uint64_t seq = 1; seq <= 3; seq++) {
        cr_assert_eq(tcclient_next(c, WAIT_MS, &ev), 0);
        cr_assert_eq(ev->seq, seq);
        cr_assert_str_eq(ev->link_connected->node, "sip2");
        tcclient_event_free(ev);
        cr_assert_eq(tcclient_pending(c), seq < 3);
    }
    tcclient_close(c);
    fake_join(&f);
}

/* Answer nothing until a second request comes, then answer both. */
static void script_late(struct fake *f, int fd)
{
    Tc__Request *a = fake_read(f, fd), *b;

    if (a == NULL)
        return;
    b = fake_read(f, fd);
    if (b != NULL) {
        send_summary(fd, a->ref_id, 1);
        send_summary(fd, b->ref_id, 2);
        tc__request__free_unpacked(b, NULL);
    }
    tc__request__free_unpacked(a, NULL);
}

Test(tcclient, read_timeout_leaves_the_connection_usable)
{
    struct fake f;
    struct tcclient *c;
    Tc__Event *ev = NULL;
    uint32_t r1, r2;

    fake_start(&f, script_late);
    c = connect_to(&f);
    cr_assert_eq(tcclient_query_summary(c, &r1, WAIT_MS), 0);
    cr_assert_eq(tcclient_next(c, 50, &ev), -ETIMEDOUT);
    cr_assert_null(ev);
    cr_assert_eq(tcclient_err_class(-ETIMEDOUT), TCCLIENT_ERR_TIMEOUT);
    cr_assert_eq(tcclient_query_summary(c, &r2, WAIT_MS), 0);
    cr_assert_eq(tcclient_next_for(c, r1, WAIT_MS, &ev), 0);
    cr_assert_eq(ev->summary->total, 1);
    tcclient_event_free(ev);
    cr_assert_eq(tcclient_next_for(c, r2, WAIT_MS, &ev), 0);
    cr_assert_eq(ev->summary->total, 2);
    tcclient_event_free(ev);
    tcclient_close(c);
    fake_join(&f);
}

/* A frame of exactly 64 payload bytes, then a header announcing 65. */
static void script_sizes(struct fake *f, int fd)
{
    uint8_t frame[4 + 64] = {0, 0, 0, 64};
    uint8_t over[4] = {0, 0, 0, 65};
    Tc__Event ev = TC__EVENT__INIT;
    Tc__EventError e = TC__EVENT_ERROR__INIT;
    size_t n;

    (void)f;
    /* A valid event padded to 64 bytes with its text. */
    char text[64];
    memset(text, 'x', sizeof(text));
    text[sizeof(text) - 1] = '\0';
    ev.body_case = TC__EVENT__BODY_ERROR;
    ev.error = &e;
    e.text = text;
    for (size_t len = sizeof(text) - 1;; len--) {
        text[len] = '\0';
        n = tc__event__get_packed_size(&ev);
        if (n <= 64)
            break;
    }
    frame[3] = (uint8_t)n;
    tc__event__pack(&ev, frame + 4);
    write_all(fd, frame, 4 + n);
    write_all(fd, over, sizeof(over));
    /* Stay until the client closes, so that the failure is the bound. */
    char sink[16];
    while (recv(fd, sink, sizeof(sink), 0) > 0) {
    }
}

Test(tcclient, frames_over_the_bound_kill_the_connection)
{
    struct fake f;
    struct tcclient *c;
    Tc__Event *ev;

    fake_start(&f, script_sizes);
    c = connect_to(&f);
    tcclient_set_max_frame(c, 64);
    cr_assert_eq(tcclient_next(c, WAIT_MS, &ev), 0);
    cr_assert_eq(ev->body_case, TC__EVENT__BODY_ERROR);
    tcclient_event_free(ev);
    cr_assert_eq(tcclient_next(c, WAIT_MS, &ev), -EMSGSIZE);
    cr_assert_eq(tcclient_err_class(-EMSGSIZE), TCCLIENT_ERR_PROTOCOL);
    /* Dead: every later call says the same without touching the socket. */
    cr_assert_eq(tcclient_next(c, WAIT_MS, &ev), -EMSGSIZE);
    cr_assert_eq(tcclient_query_summary(c, NULL, WAIT_MS), -EMSGSIZE);
    tcclient_close(c);
    fake_join(&f);
}

static void script_huge(struct fake *f, int fd)
{
    uint8_t over[4] = {0xff, 0xff, 0xff, 0xff};

    (void)f;
    write_all(fd, over, sizeof(over));
    char sink[16];
    while (recv(fd, sink, sizeof(sink), 0) > 0) {
    }
}

Test(tcclient, default_bound_refuses_a_4_gib_announcement)
{
    struct fake f;
    struct tcclient *c;
    Tc__Event *ev;

    fake_start(&f, script_huge);
    c = connect_to(&f);
    cr_assert_eq(tcclient_next(c, WAIT_MS, &ev), -EMSGSIZE);
    tcclient_close(c);
    fake_join(&f);
}

static void script_garbage(struct fake *f, int fd)
{
    /* Field 10 (error) as a length-delimited field claiming 100 bytes. */
    uint8_t frame[] = {0, 0, 0, 3, 0x52, 100, 0};

    (void)f;
    write_all(fd, frame, sizeof(frame));
    char sink[16];
    while (recv(fd, sink, sizeof(sink), 0) > 0) {
    }
}

Test(tcclient, undecodable_frame_is_a_protocol_error)
{
    struct fake f;
    struct tcclient *c;
    Tc__Event *ev;

    fake_start(&f, script_garbage);
    c = connect_to(&f);
    cr_assert_eq(tcclient_next(c, WAIT_MS, &ev), -EPROTO);
    cr_assert_eq(tcclient_err_class(-EPROTO), TCCLIENT_ERR_PROTOCOL);
    tcclient_close(c);
    fake_join(&f);
}

/* Half a frame, then close. */
static void script_cut(struct fake *f, int fd)
{
    uint8_t part[] = {0, 0, 0, 10, 0x08};

    (void)f;
    write_all(fd, part, sizeof(part));
}

Test(tcclient, node_closing_mid_frame_is_a_connection_error)
{
    struct fake f;
    struct tcclient *c;
    Tc__Event *ev;

    fake_start(&f, script_cut);
    c = connect_to(&f);
    cr_assert_eq(tcclient_next(c, WAIT_MS, &ev), TCCLIENT_ECLOSED);
    cr_assert_eq(tcclient_err_class(TCCLIENT_ECLOSED), TCCLIENT_ERR_CONNECT);
    cr_assert_str_eq(tcclient_strerror(TCCLIENT_ECLOSED), "connection closed by the node");
    cr_assert_eq(tcclient_query_summary(c, NULL, WAIT_MS), TCCLIENT_ECLOSED);
    tcclient_close(c);
    fake_join(&f);
}

/* Check that each helper puts its arguments in the right fields. */
static void script_fields(struct fake *f, int fd)
{
    Tc__Request *rq;
    int i = 0;

    while ((rq = fake_read(f, fd)) != NULL) {
        bool ok = false;

        switch (i++) {
        case 0:
            ok = rq->body_case == TC__REQUEST__BODY_SUBSCRIBE && rq->subscribe->from_seq == 77;
            break;
        case 1:
            ok = rq->body_case == TC__REQUEST__BODY_QUERY_DN &&
                 strcmp(rq->query_dn->dn, "1001") == 0;
            break;
        case 2:
            ok = rq->body_case == TC__REQUEST__BODY_QUERY_DNS && !rq->query_dns->any_state &&
                 rq->query_dns->state == TC__DN_STATUS__DN_STATUS_INSRV &&
                 strcmp(rq->query_dns->owner, "sip2") == 0 && rq->query_dns->limit == 5;
            break;
        case 3:
            ok = rq->body_case == TC__REQUEST__BODY_QUERY_DNS && rq->query_dns->any_state &&
                 rq->query_dns->owner[0] == '\0' && rq->query_dns->limit == 0;
            break;
        case 4:
            ok = rq->body_case == TC__REQUEST__BODY_OPEN_APP &&
                 strcmp(rq->open_app->application, "URS") == 0;
            break;
        case 5:
            ok = rq->body_case == TC__REQUEST__BODY_REGISTER_ADDRESS &&
                 strcmp(rq->register_address->dn, "1002") == 0;
            break;
        case 6:
            ok = rq->body_case == TC__REQUEST__BODY_QUERY_NODES;
            break;
        }
        if (!ok)
            f->errors++;
        tc__request__free_unpacked(rq, NULL);
    }
    if (i != 7)
        f->errors++;
}

Test(tcclient, request_helpers_fill_their_fields)
{
    struct tcclient_dns_filter insrv = {
            .state = TC__DN_STATUS__DN_STATUS_INSRV, .owner = "sip2", .limit = 5};
    struct tcclient_dns_filter any = {.any_state = true};
    struct fake f;
    struct tcclient *c;

    fake_start(&f, script_fields);
    c = connect_to(&f);
    cr_assert_eq(tcclient_subscribe(c, 77, NULL, WAIT_MS), 0);
    cr_assert_eq(tcclient_query_dn(c, "1001", NULL, WAIT_MS), 0);
    cr_assert_eq(tcclient_query_dns(c, &insrv, NULL, WAIT_MS), 0);
    cr_assert_eq(tcclient_query_dns(c, &any, NULL, WAIT_MS), 0);
    cr_assert_eq(tcclient_open_app(c, "URS", NULL, WAIT_MS), 0);
    cr_assert_eq(tcclient_register_address(c, "1002", NULL, WAIT_MS), 0);
    cr_assert_eq(tcclient_query_nodes(c, NULL, WAIT_MS), 0);
    tcclient_close(c);
    fake_join(&f);
}

Test(tcclient, refused_connect_is_a_connect_error)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    struct tcclient *c = NULL;
    char addr[64];
    int fd = socket(AF_INET, SOCK_STREAM, 0), rc;

    /* A port that was just free: bound, never listened on. */
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(sa.sin_port));
    rc = tcclient_connect(&c, addr, WAIT_MS);
    close(fd);
    cr_assert_eq(rc, -ECONNREFUSED);
    cr_assert_null(c);
    cr_assert_eq(tcclient_err_class(rc), TCCLIENT_ERR_CONNECT);
}

Test(tcclient, connect_times_out_when_nothing_accepts)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    struct tcclient *held[8] = {0};
    struct tcclient *c = NULL;
    char addr[64];
    int lfd = socket(AF_INET, SOCK_STREAM, 0), rc = 0, n;

    /* A listener that never accepts, with the smallest backlog: once its
     * queue is full the kernel drops new SYNs and connect() hangs. */
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(lfd, 0), 0);
    cr_assert_eq(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(sa.sin_port));
    for (n = 0; n < 8; n++) {
        rc = tcclient_connect(&held[n], addr, 300);
        if (rc != 0)
            break;
    }
    cr_assert_eq(rc, -ETIMEDOUT, "connect %d gave %d", n, rc);
    cr_assert_eq(tcclient_connect(&c, addr, 100), -ETIMEDOUT);
    for (int i = 0; i < n; i++)
        tcclient_close(held[i]);
    close(lfd);
}

Test(tcclient, addresses_that_are_not_host_port)
{
    static const char *const bad[] = {
            "",       "host",    "host:",  ":80",   "host:0",   "host:65536", "host:8x",
            "::1:80", "[::1]80", "[::1]:", "[]:80", "h:123456", "host:-1"};
    struct tcclient *c = NULL;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(tcclient_connect(&c, bad[i], 100), TCCLIENT_EADDRESS, "'%s'", bad[i]);
    cr_assert_eq(tcclient_connect(&c, NULL, 100), TCCLIENT_EADDRESS);
    cr_assert_null(c);
}

Test(tcclient, names_resolve_and_ipv6_literals_connect)
{
    struct fake f;
    struct tcclient *c = NULL;
    char addr[64];

    /* "localhost" may give ::1 first: the next address is tried. */
    fake_start(&f, script_echo);
    snprintf(addr, sizeof(addr), "localhost:%u", f.port);
    cr_assert_eq(tcclient_connect(&c, addr, WAIT_MS), 0);
    tcclient_close(c);
    fake_join(&f);
    if (!fake_start_on(&f, AF_INET6, script_echo)) {
        cr_log_warn("no IPv6 loopback here: the [::1] case is skipped");
        return;
    }
    c = connect_to(&f);
    cr_assert_eq(tcclient_query_summary(c, NULL, WAIT_MS), 0);
    tcclient_close(c);
    fake_join(&f);
}

Test(tcclient, dn_syntax)
{
    cr_assert(tcclient_dn_valid("1001"));
    cr_assert(tcclient_dn_valid("0"));
    cr_assert(tcclient_dn_valid("12345678901234567"));
    cr_assert_not(tcclient_dn_valid("123456789012345678"));
    cr_assert_not(tcclient_dn_valid(""));
    cr_assert_not(tcclient_dn_valid("10a1"));
    cr_assert_not(tcclient_dn_valid("-1"));
    cr_assert_not(tcclient_dn_valid(NULL));
}

static void check_json(const char *in, const char *want)
{
    struct tc_buf b = TC_BUF_INIT;

    cr_assert_eq(tcclient_json_str(&b, in), 0);
    cr_assert_str_eq(b.data, want);
    tc_buf_free(&b);
}

Test(tcclient, json_strings_are_escaped)
{
    check_json(NULL, "null");
    check_json("", "\"\"");
    check_json("sip1", "\"sip1\"");
    check_json("a\"b\\c", "\"a\\\"b\\\\c\"");
    check_json("l1\nl2\r\t", "\"l1\\nl2\\r\\t\"");
    check_json("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"");
    check_json("<sip:1001@h;x=\"q\">", "\"<sip:1001@h;x=\\\"q\\\">\"");
    /* Valid UTF-8 passes; invalid bytes, overlongs and surrogates become U+FFFD. */
    check_json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
               "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    check_json("a\xff"
               "b",
               "\"a\\ufffdb\"");
    check_json("\xc0\xaf", "\"\\ufffd\\ufffd\"");
    check_json("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
    check_json("\xe2\x82", "\"\\ufffd\\ufffd\"");
}

Test(tcclient, times_are_iso8601_utc)
{
    char buf[TCCLIENT_TIME_MAX];

    cr_assert_str_eq(tcclient_iso8601(1714560000123ull, buf, sizeof(buf)),
                     "2024-05-01T10:40:00.123Z");
    cr_assert_str_eq(tcclient_iso8601(1000, buf, sizeof(buf)), "1970-01-01T00:00:01.000Z");
    cr_assert_str_eq(tcclient_iso8601(0, buf, sizeof(buf)), "-");
}

Test(tcclient, dn_as_json_fields)
{
    Tc__DnState s = TC__DN_STATE__INIT;
    Tc__Version v = TC__VERSION__INIT;
    char *bindings[] = {"<sip:1001@10.0.0.1:5060>", "sip:a\"b@h"};
    Tc__BindingInfo bi = TC__BINDING_INFO__INIT, *bis[] = {&bi};
    struct tc_buf b = TC_BUF_INIT;

    s.dn = "1001";
    s.status = TC__DN_STATUS__DN_STATUS_INSRV;
    s.owner = "sip1";
    s.source = TC__SOURCE__SOURCE_SIP;
    s.version = &v;
    v.hlc = (1714560000123ull << 16) | 3; /* wall ms, counter 3 */
    v.node = "sip1";
    s.since_unix_ms = 1714560000123ull;
    s.bindings = bindings;
    s.n_bindings = 2;
    cr_assert_eq(tcclient_json_dn(&b, &s, 1), 0);
    cr_assert_str_eq(b.data, "\"dn\":\"1001\",\"status\":\"insrv\",\"owner\":\"sip1\","
                             "\"source\":\"sip\",\"version\":{\"text\":"
                             "\"2024-05-01T10:40:00.123Z#3@sip1\",\"hlc\":\"112365404168060931\","
                             "\"node\":\"sip1\"},\"since\":\"2024-05-01T10:40:00.123Z\","
                             "\"since_unix_ms\":\"1714560000123\",\"bindings\":"
                             "[\"<sip:1001@10.0.0.1:5060>\",\"sip:a\\\"b@h\"],"
                             "\"binding_info\":[],\"bindings_at\":null");
    tc_buf_reset(&b);
    /* In full: each binding's expiry (also as a string of ms), transport
     * and source; a peer's DN says which node holds them. */
    bi.contact = bindings[0];
    bi.expires_unix_ms = 1714560300123ull;
    bi.transport = "tcp";
    bi.received = "[::1]:5070";
    s.binding_info = bis;
    s.n_binding_info = 1;
    s.n_bindings = 0;
    s.bindings_at = "sip2";
    cr_assert_eq(tcclient_json_dn(&b, &s, 1), 0);
    cr_assert_not_null(strstr(b.data, "\"bindings\":[],\"binding_info\":[{\"contact\":"
                                      "\"<sip:1001@10.0.0.1:5060>\",\"expires\":"
                                      "\"2024-05-01T10:45:00.123Z\",\"expires_unix_ms\":"
                                      "\"1714560300123\",\"transport\":\"tcp\",\"received\":"
                                      "\"[::1]:5070\"}],\"bindings_at\":\"sip2\""),
                       "%s", b.data);
    s.binding_info = NULL;
    s.n_binding_info = 0;
    s.bindings_at = NULL;
    tc_buf_reset(&b);
    s.status = TC__DN_STATUS__DN_STATUS_OOS;
    s.owner = "";
    s.source = TC__SOURCE__SOURCE_NONE;
    s.version = NULL;
    s.since_unix_ms = 0;
    cr_assert_eq(tcclient_json_dn(&b, &s, 0), 0);
    cr_assert_str_eq(b.data, "\"dn\":\"1001\",\"status\":\"oos\",\"owner\":null,\"source\":null,"
                             "\"version\":null,\"since\":null,\"since_unix_ms\":\"0\"");
    tc_buf_free(&b);
}

Test(tcclient, versions_read_as_time_counter_node)
{
    Tc__Version v = TC__VERSION__INIT;
    char buf[TCCLIENT_VERSION_MAX];

    v.hlc = (1714560000123ull << 16) | 65535;
    v.node = "sip12";
    cr_assert_str_eq(tcclient_version_text(&v, buf, sizeof(buf)),
                     "2024-05-01T10:40:00.123Z#65535@sip12");
    cr_assert_str_eq(tcclient_version_text(NULL, buf, sizeof(buf)), "-");
    v.hlc = 0;
    v.node = "";
    cr_assert_str_eq(tcclient_version_text(&v, buf, sizeof(buf)), "-");
}

Test(tcclient, tables_align_their_columns)
{
    static const char *const header[] = {"DN", "STATUS", "OWNER"};
    static const char *const r1[] = {"1001", "InSrv", "sip1"};
    static const char *const r2[] = {"100000", "OOS", NULL};
    struct tcclient_table t;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    cr_assert_not_null(out);
    cr_assert_eq(tcclient_table_init(&t, out, 3, header), 0);
    cr_assert_eq(tcclient_table_row(&t, r1), 0);
    cr_assert_eq(tcclient_table_row(&t, r2), 0);
    tcclient_table_end(&t);
    fclose(out);
    cr_assert_str_eq(text, "DN      STATUS  OWNER\n"
                           "1001    InSrv   sip1\n"
                           "100000  OOS     -\n");
    free(text);
}

Test(tcclient, long_tables_print_every_row)
{
    static const char *const header[] = {"N", "WHAT"};
    struct tcclient_table t;
    char *text = NULL, num[16];
    size_t len = 0;
    int lines = 0;
    FILE *out = open_memstream(&text, &len);

    cr_assert_not_null(out);
    cr_assert_eq(tcclient_table_init(&t, out, 2, header), 0);
    for (int i = 0; i < 3 * TCCLIENT_TABLE_HOLD; i++) {
        const char *row[] = {num, i == 2 * TCCLIENT_TABLE_HOLD ? "wide-cell" : "x"};

        snprintf(num, sizeof(num), "%d", i == TCCLIENT_TABLE_HOLD + 1 ? 123456789 : i);
        cr_assert_eq(tcclient_table_row(&t, row), 0);
    }
    tcclient_table_end(&t);
    fclose(out);
    for (const char *p = text; (p = strchr(p, '\n')) != NULL; p++)
        lines++;
    cr_assert_eq(lines, 1 + 3 * TCCLIENT_TABLE_HOLD);
    /* Widths come from the held rows; a longer cell later pushes its line only. */
    cr_assert(strstr(text, "N    WHAT\n0    x\n") == text, "%.40s", text);
    cr_assert_not_null(strstr(text, "\n123456789  x\n"));
    cr_assert_not_null(strstr(text, "\n512  wide-cell\n"));
    free(text);
}
