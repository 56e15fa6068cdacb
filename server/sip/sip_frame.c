/* memmem() */
#define _GNU_SOURCE

#include "server/sip/sip_frame.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

static bool is_ws(char c)
{
    return c == ' ' || c == '\t';
}

/* If line [p, e) is a Content-Length header, parse its value into *v (clamped
 * to UINT32_MAX + 1) and return 1; return 0 for another header, -EPROTO for a
 * Content-Length whose value is not a number. */
static int header_content_length(const char *p, const char *e, uint64_t *v)
{
    const char *colon = memchr(p, ':', (size_t)(e - p));
    const char *n;

    if (colon == NULL)
        return 0;
    for (n = colon; n > p && is_ws(n[-1]); n--)
        ;
    if (!((n - p == 14 && strncasecmp(p, "content-length", 14) == 0) ||
          (n - p == 1 && (*p == 'l' || *p == 'L'))))
        return 0;
    for (p = colon + 1; p < e && is_ws(*p); p++)
        ;
    if (p == e || *p < '0' || *p > '9')
        return -EPROTO;
    for (*v = 0; p < e && *p >= '0' && *p <= '9'; p++) {
        *v = *v * 10 + (uint64_t)(*p - '0');
        if (*v > UINT32_MAX)
            *v = (uint64_t)UINT32_MAX + 1;
    }
    for (; p < e && is_ws(*p); p++)
        ;
    return p == e ? 1 : -EPROTO;
}

/* The Content-Length of the head buf[0..n), which ends with CRLFCRLF. Returns
 * 0 and *out, or -EPROTO if it is missing, malformed or given twice with
 * different values. */
static int content_length(const char *buf, size_t n, uint64_t *out)
{
    const char *p = memchr(buf, '\n', n) + 1; /* past the start line */
    const char *end = buf + n;
    const char *eol, *e;
    bool found = false;
    uint64_t v;
    int rc;

    for (; p < end; p = eol + 1) {
        eol = memchr(p, '\n', (size_t)(end - p));
        e = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
        if (e == p || is_ws(*p))
            continue; /* the blank line, or a folded continuation */
        rc = header_content_length(p, e, &v);
        if (rc < 0)
            return rc;
        if (rc == 0)
            continue;
        if (found && v != *out)
            return -EPROTO;
        found = true;
        *out = v;
    }
    return found ? 0 : -EPROTO;
}

enum sip_frame sip_frame_scan(const char *buf, size_t n, size_t max, struct sip_frame_state *st,
                              size_t *len)
{
    static const char ping[] = "\r\n\r\n";
    const char *end;
    size_t lim, head;
    uint64_t body = 0;

    if (n > 0 && buf[0] == '\r' && st->total == 0) {
        if (memcmp(buf, ping, n < 4 ? n : 4) == 0) {
            if (n < 4)
                return SIP_FRAME_MORE;
            *len = 4;
            return SIP_FRAME_PING;
        }
        if (n >= 2 && buf[1] == '\n') {
            *len = 2;
            return SIP_FRAME_CRLF;
        }
    }
    if (st->total == 0) {
        lim = n < max ? n : max;
        end = st->scanned < lim ? memmem(buf + st->scanned, lim - st->scanned, ping, 4) : NULL;
        if (end == NULL) {
            if (n >= max) {
                *len = lim;
                return SIP_FRAME_TOO_LARGE;
            }
            st->scanned = lim > 3 ? lim - 3 : 0;
            return SIP_FRAME_MORE;
        }
        head = (size_t)(end - buf) + 4;
        if (content_length(buf, head, &body) != 0) {
            *len = head;
            return SIP_FRAME_BAD_FRAMING;
        }
        if (body > max - head) {
            *len = head;
            return SIP_FRAME_TOO_LARGE;
        }
        st->total = head + (size_t)body;
    }
    if (n < st->total)
        return SIP_FRAME_MORE;
    *len = st->total;
    return SIP_FRAME_MESSAGE;
}
