#ifndef TC_SERVER_SIP_SIP_FRAME_H
#define TC_SERVER_SIP_SIP_FRAME_H

#include <stddef.h>

/* SIP message framing on a stream (RFC 3261 §18.3): a message is a head
 * ended by CRLFCRLF plus Content-Length bytes of body. Leading CRLFs between
 * messages are skipped and a CRLFCRLF keepalive is told apart (RFC 5626
 * §4.4.1). No other SIP grammar is known here. The TCP transport uses it;
 * it is its own module so it can be tested and fuzzed without sockets. */

/* What sip_frame_scan() found at the start of a TCP stream. */
enum sip_frame {
    SIP_FRAME_MORE = 0,    /* no complete unit yet: read more */
    SIP_FRAME_MESSAGE,     /* a message of *len bytes */
    SIP_FRAME_CRLF,        /* a lone CRLF to skip (*len = 2) */
    SIP_FRAME_PING,        /* a CRLFCRLF keepalive (*len = 4): answer CRLF */
    SIP_FRAME_TOO_LARGE,   /* over max bytes; *len: bytes worth giving the caller */
    SIP_FRAME_BAD_FRAMING, /* no valid Content-Length; *len: the head's length */
};

/* Where sip_frame_scan() left off in an incomplete unit, so that a stream
 * fed byte by byte is scanned once. Zero it before each new unit. */
struct sip_frame_state {
    size_t scanned; /* bytes searched for the end of the head, not found */
    size_t total;   /* length of the message once its head is parsed; 0 before */
};

/* Look at buf[0..n), the start of a stream or the bytes after the last unit,
 * and say what comes first; *len is set for every result but MORE. st
 * carries work over calls on the same growing unit: pass the same bytes
 * again, with more appended, until the result is not MORE, then zero st.
 * Content-Length (or compact "l") must be present, once or repeated with the
 * same value, with only digits; the message, head and body, must fit in max
 * bytes. buf is borrowed for the call and need not be NUL-terminated. Pure
 * function; any thread. */
enum sip_frame sip_frame_scan(const char *buf, size_t n, size_t max, struct sip_frame_state *st,
                              size_t *len);

#endif
