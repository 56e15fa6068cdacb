#ifndef TC_SERVER_SIP_SIP_SCAN_INT_H
#define TC_SERVER_SIP_SIP_SCAN_INT_H

#include <stdbool.h>

#include "server/sip/sip_scan.h"

/* Private to sip_scan: the character classes and skips its files share
 * (sip_scan.c the header lines, sip_scan_text.c, sip_scan_param.c,
 * sip_scan_naddr.c, sip_scan_via.c). Nothing outside them includes this.
 * Pure functions on [p, e): any thread. The smallest are inline: they run
 * once per byte of every message. */

/* sip_scan_text.c ---------------------------------------------------------- */

/* token characters (RFC 3261 §25.1): 1 for each, else 0. */
extern const unsigned char sip_scan__token_chars[256];

static inline bool sip_scan__is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline bool sip_scan__is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static inline const char *sip_scan__skip_lws(const char *p, const char *e)
{
    while (p < e && sip_scan_is_lws(*p))
        p++;
    return p;
}

static inline const char *sip_scan__skip_token(const char *p, const char *e)
{
    while (p < e && sip_scan__token_chars[(unsigned char)*p])
        p++;
    return p;
}

/* p is at '"'; return the closing quote, or NULL when unterminated. */
static inline const char *sip_scan__quoted_end(const char *p, const char *e)
{
    for (p++; p < e; p++) {
        if (*p == '\\') {
            p++;
            continue;
        }
        if (*p == '"')
            return p;
    }
    return NULL;
}

/* The first c at the top level (outside quotes and, with angle, outside
 * <...>) in [p, e), or e. */
static inline const char *sip_scan__find_top(const char *p, const char *e, char c, bool angle)
{
    bool in_angle = false;

    for (; p < e; p++) {
        if (*p == '"') {
            const char *q = sip_scan__quoted_end(p, e);

            if (q == NULL)
                return e;
            p = q;
        } else if (angle && *p == '<') {
            in_angle = true;
        } else if (angle && *p == '>') {
            in_angle = false;
        } else if (*p == c && !in_angle) {
            return p;
        }
    }
    return e;
}

/* sip_scan_param.c --------------------------------------------------------- */

/* Check every parameter of a list. Returns 0 or -EPROTO. */
int sip_scan__params_ok(struct sip_span params);

#endif
