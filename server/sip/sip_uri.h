#ifndef TC_SERVER_SIP_SIP_URI_H
#define TC_SERVER_SIP_SIP_URI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/sip/sip_scan.h"

/* sip_uri: the URIs of a SIP message (RFC 3261 §19.1, §25.1; RFC 3966 for
 * tel), read from a span without allocating. sip and sips URIs are checked
 * against the grammar: userinfo, host (name, IPv4 or [IPv6]), port,
 * parameters and headers, with every %HH escape well formed. A tel URI
 * gives its number as the user. Other schemes (isbn:, http:, ...) are kept
 * opaque: only sip_scan_uri_ok()'s syntax is asked of them.
 *
 * Spans point into the input and live as long as it. Pure functions: any
 * thread. */

enum sip_uri_kind {
    SIP_URI_OTHER = 0,
    SIP_URI_SIP,
    SIP_URI_SIPS,
    SIP_URI_TEL,
};

/* The parts of one URI, as received (still escaped). */
struct sip_uri_parts {
    enum sip_uri_kind kind;
    struct sip_span scheme;   /* before the first ':' */
    struct sip_span user;     /* sip/sips: before ':' password or '@'; tel: the number */
    struct sip_span password; /* sip/sips: after the ':' in userinfo */
    struct sip_span host;     /* sip/sips: IPv6 without brackets */
    struct sip_span params;   /* from the first ';' after the host (tel: the number), or empty */
    struct sip_span headers;  /* sip/sips: after '?', or empty */
    uint16_t port;            /* 0 when absent */
    bool has_user;
    bool has_password;
    bool host_v6;
};

/* Parse the URI u (no surrounding <> or LWS). Returns 0 and fills *out, or
 * -EPROTO for a URI RFC 3261 §25 refuses: no scheme, an empty or bad host,
 * a port that is not 1*DIGIT up to 65535, a character outside its part's
 * set, a bad escape, an empty parameter or header name. */
int sip_uri_parse(struct sip_span u, struct sip_uri_parts *out);

/* Whether s holds the escape %00 (an escaped NUL). */
bool sip_uri_has_escaped_nul(struct sip_span s);

/* Write s with its %HH escapes decoded to dst (at least s.len bytes; no
 * terminator added). Returns the length written. s must be well formed
 * (sip_uri_parse() checked it); a '%' without two hex digits is copied. */
size_t sip_uri_unescape(struct sip_span s, char *dst);

#endif
