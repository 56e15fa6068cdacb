/* libFuzzer target for sip_frame: scan a TCP stream with a small max, once
 * whole and once as sip_tcp.c does (reads of varying sizes, an incomplete
 * unit kept in a buffer of at most max bytes, the scan state carried over),
 * and check that both see the same units and that every result keeps the
 * bounds the transport relies on.
 *
 * Input: the stream, then three control bytes at the end: two for max
 * (SIP_FRAME_FUZZ_MIN_MAX and up), one seeding the read sizes. The stream
 * keeps its start, so SIP messages make good seeds. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/sip/sip_frame.h"

#define SIP_FRAME_FUZZ_MIN_MAX  64   /* the transport's SIP_TRANSPORT_MIN_MESSAGE */
#define SIP_FRAME_FUZZ_MAX_SPAN 2048 /* max is MIN_MAX + 0..SPAN-1 */
#define SIP_FRAME_FUZZ_CTL      3

struct unit {
    enum sip_frame f;
    size_t len;
};

/* The units of a whole stream, as sip_tcp.c would deliver them. */
struct units {
    struct unit *u;
    size_t n, cap;
    size_t check; /* chunked pass: next unit to compare */
};

/* Abort unless the result f with *len for buf[0..n) keeps the contract. */
static void check_result(enum sip_frame f, size_t n, size_t max, size_t len)
{
    switch (f) {
    case SIP_FRAME_MORE:
        /* sip_tcp.c keeps the unit in a buffer of at most max bytes and
         * asserts there is room left to read into. */
        if (n >= max)
            abort();
        return;
    case SIP_FRAME_MESSAGE:
        if (len == 0 || len > n || len > max)
            abort();
        return;
    case SIP_FRAME_CRLF:
        if (len != 2 || len > n)
            abort();
        return;
    case SIP_FRAME_PING:
        if (len != 4 || len > n)
            abort();
        return;
    case SIP_FRAME_TOO_LARGE:
    case SIP_FRAME_BAD_FRAMING:
        if (len > n || len > max)
            abort();
        return;
    }
    abort();
}

static void record(struct units *us, enum sip_frame f, size_t len)
{
    if (us->n == us->cap) {
        us->cap = us->cap ? 2 * us->cap : 16;
        us->u = realloc(us->u, us->cap * sizeof(*us->u));
        if (us->u == NULL)
            abort();
    }
    us->u[us->n].f = f;
    us->u[us->n].len = len;
    us->n++;
}

/* Scan all of buf[0..n) at once. Ends with MORE or an error. */
static void scan_whole(const char *buf, size_t n, size_t max, struct units *us)
{
    struct sip_frame_state st;
    size_t off = 0, len;
    enum sip_frame f;

    for (;;) {
        memset(&st, 0, sizeof(st));
        len = 0;
        f = sip_frame_scan(buf + off, n - off, max, &st, &len);
        check_result(f, n - off, max, len);
        if (f == SIP_FRAME_MORE)
            return;
        record(us, f, len);
        if (f == SIP_FRAME_TOO_LARGE || f == SIP_FRAME_BAD_FRAMING)
            return;
        off += len;
    }
}

/* The chunked pass found unit f of len: it must be the whole pass's next. */
static void expect(struct units *us, enum sip_frame f, size_t len)
{
    if (us->check >= us->n || us->u[us->check].f != f || us->u[us->check].len != len)
        abort();
    us->check++;
}

/* As sip_tcp.c's conn_feed(): deliver the complete units at the start of
 * buf[0..n). Returns the bytes used, or SIZE_MAX after an error. */
static size_t feed(const char *buf, size_t n, size_t max, struct sip_frame_state *st,
                   struct units *us)
{
    size_t off = 0, len;
    enum sip_frame f;

    while (off < n) {
        len = 0;
        f = sip_frame_scan(buf + off, n - off, max, st, &len);
        check_result(f, n - off, max, len);
        if (f == SIP_FRAME_MORE)
            return off;
        expect(us, f, len);
        if (f == SIP_FRAME_TOO_LARGE || f == SIP_FRAME_BAD_FRAMING)
            return SIZE_MAX;
        off += len;
        memset(st, 0, sizeof(*st));
    }
    return off;
}

static uint32_t next_rand(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* Bytes the next read returns: often one, sometimes many. */
static size_t read_size(uint32_t *rng, size_t left)
{
    uint32_t r = next_rand(rng);
    size_t k;

    switch (r & 3) {
    case 0:
        k = 1;
        break;
    case 1:
        k = 1 + (r >> 2) % 8;
        break;
    case 2:
        k = 1 + (r >> 2) % 512;
        break;
    default:
        k = left;
        break;
    }
    return k < left ? k : left;
}

/* Copy p[0..n) into a fresh block of exactly n bytes (so that ASan sees any
 * read past the end), after the old block's old_n bytes. */
static char *grow(char *old, size_t old_n, const char *p, size_t n)
{
    char *b = malloc(old_n + n ? old_n + n : 1);

    if (b == NULL)
        abort();
    if (old_n > 0)
        memcpy(b, old, old_n);
    if (n > 0)
        memcpy(b + old_n, p, n);
    free(old);
    return b;
}

/* Deliver the stream in reads as sip_tcp.c's on_read() gets them. */
static void scan_chunked(const char *buf, size_t n, size_t max, uint32_t rng, struct units *us)
{
    struct sip_frame_state st = {0};
    char *keep = NULL, *rd;
    size_t off = 0, klen = 0, k, used;

    while (off < n) {
        k = read_size(&rng, n - off);
        if (klen == 0) {
            /* The shared read buffer: scan the read itself, keep the rest. */
            rd = grow(NULL, 0, buf + off, k);
            used = feed(rd, k, max, &st, us);
            if (used != SIZE_MAX && used < k) {
                keep = grow(NULL, 0, rd + used, k - used);
                klen = k - used;
            }
            free(rd);
        } else {
            /* The connection's buffer: it never holds more than max bytes. */
            if (k > max - klen)
                k = max - klen;
            keep = grow(keep, klen, buf + off, k);
            klen += k;
            used = feed(keep, klen, max, &st, us);
            if (used == SIZE_MAX || used == klen) {
                /* As conn_buf_drop(). */
                free(keep);
                keep = NULL;
                klen = 0;
            } else {
                memmove(keep, keep + used, klen - used);
                klen -= used;
                keep = grow(keep, klen, NULL, 0);
            }
        }
        off += k;
        if (used == SIZE_MAX)
            break;
    }
    free(keep);
    /* Both passes stop at the same point: an error, or a trailing unit
     * that is not complete. */
    if (us->check != us->n)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct units us = {0};
    size_t n, max;
    uint32_t rng;

    if (size < SIP_FRAME_FUZZ_CTL)
        return 0;
    n = size - SIP_FRAME_FUZZ_CTL;
    max = SIP_FRAME_FUZZ_MIN_MAX + (((size_t)data[n] << 8 | data[n + 1]) % SIP_FRAME_FUZZ_MAX_SPAN);
    rng = 0x9e3779b9u ^ data[n + 2] ^ (uint32_t)n << 8;
    scan_whole((const char *)data, n, max, &us);
    scan_chunked((const char *)data, n, max, rng, &us);
    free(us.u);
    return 0;
}
