/* The TC and default ports on the wire: connections, requests, frames,
 * and a small protobuf reader for the subscribers' hot path: a million
 * events a second through tc__event__unpack() would cost the bench more
 * CPU than the node spends sending them, on the same two cores. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proto/tcport.pb-c.h"
#include "server/base/buf.h"
#include "tcport/frame.h"
#include "tests/bench/bench_fanout/fanout_int.h"

#define MAX_FRAME (1u << 20)

int fanout__dial(uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        perror("bench_fanout: connect");
        exit(2);
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

void fanout__send_all(int fd, const void *p, size_t n)
{
    const char *s = p;

    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            perror("bench_fanout: send");
            exit(2);
        }
        s += w;
        n -= (size_t)w;
    }
}

void fanout__subscribe(int fd)
{
    Tc__Request rq = TC__REQUEST__INIT;
    Tc__Subscribe s = TC__SUBSCRIBE__INIT;
    struct tc_buf b = TC_BUF_INIT;

    rq.ref_id = 1;
    rq.body_case = TC__REQUEST__BODY_SUBSCRIBE;
    rq.subscribe = &s;
    frame_pack(&b, &rq.base);
    fanout__send_all(fd, b.data, b.len);
    tc_buf_free(&b);
}

void fanout__recv_timeout(int fd)
{
    struct timeval tv = {.tv_sec = 0, .tv_usec = 100000};

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

bool fanout__read_frames(int fd, int flags, uint8_t *buf, size_t *len, uint64_t *at_us,
                         void (*fn)(void *, const uint8_t *, uint32_t), void *arg)
{
    const uint8_t *payload;
    uint32_t plen;
    size_t off = 0;
    ssize_t n = recv(fd, buf + *len, FANOUT_READ_BUF - *len, flags);

    if (n <= 0)
        return n < 0 && (errno == EINTR || errno == EAGAIN);
    if (at_us != NULL)
        *at_us = fanout__mono_us();
    *len += (size_t)n;
    while (frame_next(buf + off, *len - off, MAX_FRAME, &payload, &plen) == FRAME_READY) {
        fn(arg, payload, plen);
        off += FRAME_HEADER + plen;
    }
    memmove(buf, buf + off, *len - off);
    *len -= off;
    return true;
}

struct pb {
    const uint8_t *p, *end;
};

static bool pb_varint(struct pb *r, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; r->p < r->end && shift < 64; shift += 7) {
        uint8_t b = *r->p++;

        *v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0)
            return true;
    }
    return false;
}

/* The next field: its number, and its varint value or its bytes. Fixed-size
 * fields are skipped (reported with no value). */
static bool pb_next(struct pb *r, unsigned *field, uint64_t *v, struct pb *bytes)
{
    uint64_t tag;

    if (r->p >= r->end || !pb_varint(r, &tag))
        return false;
    *field = (unsigned)(tag >> 3);
    switch (tag & 7) {
    case 0:
        return pb_varint(r, v);
    case 1:
    case 5: {
        size_t n = (tag & 7) == 1 ? 8 : 4;

        if ((size_t)(r->end - r->p) < n)
            return false;
        r->p += n;
        *v = 0;
        return true;
    }
    case 2:
        if (!pb_varint(r, v) || *v > (uint64_t)(r->end - r->p))
            return false;
        bytes->p = r->p;
        bytes->end = r->p + *v;
        r->p += *v;
        return true;
    default:
        return false;
    }
}

static void view_state(struct fanout__ev_view *e, struct pb r)
{
    struct pb b;
    unsigned f;
    uint64_t v;

    while (pb_next(&r, &f, &v, &b)) {
        if (f == 1) {
            for (const uint8_t *p = b.p; p < b.end && *p >= '0' && *p <= '9'; p++)
                e->dn = e->dn * 10 + (uint32_t)(*p - '0');
        } else if (f == 6) {
            e->since_ms = v;
        }
    }
}

bool fanout__view_event(struct fanout__ev_view *e, const uint8_t *payload, uint32_t plen)
{
    struct pb r = {payload, payload + plen}, body = {NULL, NULL}, b;
    unsigned f;
    uint64_t v;

    memset(e, 0, sizeof(*e));
    while (pb_next(&r, &f, &v, &b)) {
        if (f == 2) {
            e->seq = v;
        } else if (f >= TC__EVENT__BODY_ERROR && f <= TC__EVENT__BODY_QUERY_END) {
            e->body = f;
            body = b;
        }
    }
    if (r.p != r.end)
        return false;
    if (e->body == TC__EVENT__BODY_SNAPSHOT_END) {
        while (pb_next(&body, &f, &v, &b)) {
            if (f == 1)
                e->snap_seq = v;
        }
    } else if (e->body == TC__EVENT__BODY_ADDRESS_INFO ||
               e->body == TC__EVENT__BODY_DN_OUT_OF_SERVICE ||
               e->body == TC__EVENT__BODY_DN_BACK_IN_SERVICE) {
        while (pb_next(&body, &f, &v, &b)) {
            if (f == 1)
                view_state(e, b);
        }
    }
    return true;
}
