#include "tests/integration/harness_tc.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/base/buf.h"
#include "tcport/frame.h"
#include "tests/integration/harness.h"

#define HTC_MAX_FRAME (4u << 20)

static int do_connect(struct htc *c, uint16_t port, int rcvbuf)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    int one = 1;

    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -errno;
    if (rcvbuf > 0)
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int e = errno;

        close(c->fd);
        c->fd = -1;
        return -e;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return 0;
}

int htc_try_connect(struct htc *c, uint16_t port)
{
    return do_connect(c, port, 0);
}

void htc_connect(struct htc *c, uint16_t port)
{
    int rc = do_connect(c, port, 0);

    cr_assert_eq(rc, 0, "connect to port %u: %s", port, strerror(-rc));
}

void htc_connect_rcvbuf(struct htc *c, uint16_t port, int rcvbuf)
{
    int rc = do_connect(c, port, rcvbuf);

    cr_assert_eq(rc, 0, "connect to port %u: %s", port, strerror(-rc));
}

void htc_close(struct htc *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = c->off = 0;
}

int htc_write(struct htc *c, const void *p, size_t n)
{
    const char *s = p;

    while (n > 0) {
        ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

int htc_send(struct htc *c, const Tc__Request *rq)
{
    struct tc_buf b = TC_BUF_INIT;
    int rc = frame_pack(&b, &rq->base);

    if (rc == 0)
        rc = htc_write(c, b.data, b.len);
    tc_buf_free(&b);
    return rc;
}

/* An event from the bytes read, if they hold a whole frame. */
static Tc__Event *take(struct htc *c)
{
    const uint8_t *payload;
    uint32_t plen;
    Tc__Event *ev;
    int rc = frame_next(c->buf + c->off, c->len - c->off, HTC_MAX_FRAME, &payload, &plen);

    cr_assert_geq(rc, 0, "frame over %u bytes from the node", HTC_MAX_FRAME);
    if (rc != FRAME_READY)
        return NULL;
    ev = tc__event__unpack(NULL, plen, payload);
    cr_assert_not_null(ev, "an event that does not decode");
    c->off += FRAME_HEADER + plen;
    return ev;
}

Tc__Event *htc_next(struct htc *c, int ms)
{
    uint64_t deadline = harness_now_ms() + (uint64_t)harness_ms(ms < 0 ? 0 : ms);

    for (;;) {
        Tc__Event *ev = take(c);
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        uint64_t now = harness_now_ms();
        ssize_t n;

        if (ev != NULL)
            return ev;
        if (c->eof)
            return NULL;
        if (poll(&pfd, 1, now >= deadline ? 0 : (int)(deadline - now)) == 0)
            return NULL;
        /* Keep what is left at the start, then make room. */
        if (c->off > 0) {
            memmove(c->buf, c->buf + c->off, c->len - c->off);
            c->len -= c->off;
            c->off = 0;
        }
        if (c->cap - c->len < 65536) {
            c->cap = c->cap ? c->cap * 2 : 131072;
            c->buf = realloc(c->buf, c->cap);
            cr_assert_not_null(c->buf);
        }
        n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            c->eof = true;
            continue;
        }
        c->len += (size_t)n;
    }
}

static const char *body_name(int b)
{
    static char unknown[32];

    switch (b) {
    case TC__EVENT__BODY_ERROR:
        return "error";
    case TC__EVENT__BODY_OPENED:
        return "opened";
    case TC__EVENT__BODY_REGISTERED:
        return "registered";
    case TC__EVENT__BODY_UNREGISTERED:
        return "unregistered";
    case TC__EVENT__BODY_ADDRESS_INFO:
        return "address_info";
    case TC__EVENT__BODY_DN_OUT_OF_SERVICE:
        return "out_of_service";
    case TC__EVENT__BODY_DN_BACK_IN_SERVICE:
        return "back_in_service";
    case TC__EVENT__BODY_SNAPSHOT_END:
        return "snapshot_end";
    case TC__EVENT__BODY_QUERY_END:
        return "query_end";
    default:
        snprintf(unknown, sizeof(unknown), "body %d", b);
        return unknown;
    }
}

Tc__Event *htc_expect(struct htc *c, Tc__Event__BodyCase want, int ms)
{
    Tc__Event *ev = htc_next(c, ms);

    cr_assert_not_null(ev, "no %s event within %d ms%s", body_name(want), ms,
                       c->eof ? " (connection closed)" : "");
    cr_assert_eq(ev->body_case, want, "got %s (code %d: %s), want %s", body_name(ev->body_case),
                 ev->body_case == TC__EVENT__BODY_ERROR ? (int)ev->error->code : 0,
                 ev->body_case == TC__EVENT__BODY_ERROR ? ev->error->text : "", body_name(want));
    return ev;
}

bool htc_wait_eof(struct htc *c, int ms)
{
    uint64_t deadline = harness_now_ms() + (uint64_t)harness_ms(ms);

    while (!c->eof && harness_now_ms() < deadline) {
        Tc__Event *ev = htc_next(c, (int)(deadline - harness_now_ms()));

        if (ev != NULL)
            tc__event__free_unpacked(ev, NULL);
    }
    return c->eof;
}

int htc_subscribe(struct htc *c, uint32_t ref, uint64_t from_seq, uint64_t epoch)
{
    Tc__Request rq = TC__REQUEST__INIT;
    Tc__Subscribe s = TC__SUBSCRIBE__INIT;

    s.from_seq = from_seq;
    s.epoch = epoch;
    rq.ref_id = ref;
    rq.body_case = TC__REQUEST__BODY_SUBSCRIBE;
    rq.subscribe = &s;
    return htc_send(c, &rq);
}

int htc_open_app(struct htc *c, uint32_t ref, const char *app)
{
    Tc__Request rq = TC__REQUEST__INIT;
    Tc__OpenApp o = TC__OPEN_APP__INIT;

    o.application = (char *)app;
    rq.ref_id = ref;
    rq.body_case = TC__REQUEST__BODY_OPEN_APP;
    rq.open_app = &o;
    return htc_send(c, &rq);
}

int htc_register(struct htc *c, uint32_t ref, const char *dn)
{
    Tc__Request rq = TC__REQUEST__INIT;
    Tc__RegisterAddress m = TC__REGISTER_ADDRESS__INIT;

    m.dn = (char *)dn;
    rq.ref_id = ref;
    rq.body_case = TC__REQUEST__BODY_REGISTER_ADDRESS;
    rq.register_address = &m;
    return htc_send(c, &rq);
}

int htc_unregister(struct htc *c, uint32_t ref, const char *dn)
{
    Tc__Request rq = TC__REQUEST__INIT;
    Tc__UnregisterAddress m = TC__UNREGISTER_ADDRESS__INIT;

    m.dn = (char *)dn;
    rq.ref_id = ref;
    rq.body_case = TC__REQUEST__BODY_UNREGISTER_ADDRESS;
    rq.unregister_address = &m;
    return htc_send(c, &rq);
}

int htc_query_address(struct htc *c, uint32_t ref, const char *dn)
{
    Tc__Request rq = TC__REQUEST__INIT;
    Tc__QueryAddress m = TC__QUERY_ADDRESS__INIT;

    m.dn = (char *)dn;
    rq.ref_id = ref;
    rq.body_case = TC__REQUEST__BODY_QUERY_ADDRESS;
    rq.query_address = &m;
    return htc_send(c, &rq);
}

int htc_query_dn(struct htc *c, uint32_t ref, const char *dn)
{
    Tc__Request rq = TC__REQUEST__INIT;
    Tc__QueryDn m = TC__QUERY_DN__INIT;

    m.dn = (char *)dn;
    rq.ref_id = ref;
    rq.body_case = TC__REQUEST__BODY_QUERY_DN;
    rq.query_dn = &m;
    return htc_send(c, &rq);
}

int htc_query_summary(struct htc *c, uint32_t ref)
{
    Tc__Request rq = TC__REQUEST__INIT;
    Tc__QuerySummary m = TC__QUERY_SUMMARY__INIT;

    rq.ref_id = ref;
    rq.body_case = TC__REQUEST__BODY_QUERY_SUMMARY;
    rq.query_summary = &m;
    return htc_send(c, &rq);
}

uint64_t htc_snapshot(struct htc *c, uint64_t *seq)
{
    Tc__Event *ev;
    uint64_t n = 0;

    cr_assert_eq(htc_subscribe(c, 1, 0, 0), 0);
    ev = htc_expect(c, TC__EVENT__BODY_OPENED, 10000);
    if (seq != NULL)
        *seq = ev->opened->seq;
    tc__event__free_unpacked(ev, NULL);
    for (;;) {
        ev = htc_next(c, 30000);
        cr_assert_not_null(ev, "snapshot stopped after %llu DNs", (unsigned long long)n);
        if (ev->body_case == TC__EVENT__BODY_SNAPSHOT_END) {
            cr_assert_eq(ev->snapshot_end->count, n);
            tc__event__free_unpacked(ev, NULL);
            return n;
        }
        cr_assert_eq(ev->body_case, TC__EVENT__BODY_ADDRESS_INFO);
        n++;
        tc__event__free_unpacked(ev, NULL);
    }
}

Tc__Event *htc_wait_dn(struct htc *c, const char *dn, bool insrv, int ms)
{
    uint64_t deadline = harness_now_ms() + (uint64_t)harness_ms(ms);
    Tc__DnStatus want = insrv ? TC__DN_STATUS__DN_STATUS_INSRV : TC__DN_STATUS__DN_STATUS_OOS;

    while (harness_now_ms() < deadline) {
        Tc__Event *ev = htc_next(c, (int)(deadline - harness_now_ms()));
        const Tc__DnState *st;

        if (ev == NULL)
            return NULL;
        st = tcclient_event_state(ev);
        if (st != NULL && strcmp(st->dn, dn) == 0 && st->status == want)
            return ev;
        tc__event__free_unpacked(ev, NULL);
    }
    return NULL;
}

long htc_rss_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    }
    fclose(f);
    return kib;
}

#define HTC_WINDOW 256

/* Read one answer (ref_id != 0) of the two kinds a GWS request gets. */
static void gws_answer(struct htc *c)
{
    for (;;) {
        Tc__Event *ev = htc_next(c, 30000);

        cr_assert_not_null(ev, "no answer from the default port%s", c->eof ? " (closed)" : "");
        if (ev->ref_id == 0) {
            tc__event__free_unpacked(ev, NULL);
            continue;
        }
        cr_assert(ev->body_case == TC__EVENT__BODY_REGISTERED ||
                          ev->body_case == TC__EVENT__BODY_UNREGISTERED,
                  "answer %d (%s)", ev->body_case,
                  ev->body_case == TC__EVENT__BODY_ERROR ? ev->error->text : "");
        tc__event__free_unpacked(ev, NULL);
        return;
    }
}

static void gws_op(struct htc *c, unsigned *out, bool claim, unsigned dn)
{
    char s[16];

    snprintf(s, sizeof(s), "%u", dn);
    if (*out == HTC_WINDOW) {
        gws_answer(c);
        (*out)--;
    }
    cr_assert_eq(claim ? htc_register(c, 7, s) : htc_unregister(c, 7, s), 0);
    (*out)++;
}

uint64_t htc_gws_churn(struct htc *gws, unsigned lo, unsigned hi, unsigned rounds)
{
    unsigned out = 0;
    uint64_t n = 0;

    for (unsigned r = 0; r < rounds; r++) {
        for (unsigned dn = lo; dn <= hi; dn++, n++)
            gws_op(gws, &out, true, dn);
        for (unsigned dn = lo; dn <= hi; dn++, n++)
            gws_op(gws, &out, false, dn);
    }
    while (out-- > 0)
        gws_answer(gws);
    return n;
}

void htc_gws_set(struct htc *gws, unsigned lo, unsigned hi, unsigned step, bool claim)
{
    unsigned out = 0;

    for (unsigned dn = lo; dn <= hi; dn++) {
        if (dn % step == 0)
            gws_op(gws, &out, claim, dn);
    }
    while (out-- > 0)
        gws_answer(gws);
}
