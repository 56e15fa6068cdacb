#ifndef TC_SERVER_SIP_SIP_SCAN_H
#define TC_SERVER_SIP_SIP_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* sip_scan: the raw-text layer under sip_msg and sip_resp. It walks a SIP
 * message's header lines and reads Via, name-addr and parameter syntax
 * (RFC 3261 §7.3, §20, §25) without allocating, so the same code
 * validates parsed messages, answers messages it refused and copies
 * headers into responses.
 *
 * Input is bytes, not C strings: NUL is an ordinary byte, nothing needs a
 * terminator. Spans point into the input and live as long as it. Values
 * may still hold the CR LF of folded lines; the readers here treat CR and
 * LF as white space. Pure functions: any thread. */

/* A slice of the input. */
struct sip_span {
    const char *p;
    size_t len;
};

/* Headers the rest of tcsip looks at; compact forms map to the same id. */
enum sip_hdr_id {
    SIP_HDR_OTHER = 0,
    SIP_HDR_VIA,
    SIP_HDR_FROM,
    SIP_HDR_TO,
    SIP_HDR_CALL_ID,
    SIP_HDR_CSEQ,
    SIP_HDR_CONTACT,
    SIP_HDR_CONTENT_LENGTH,
    SIP_HDR_EXPIRES,
    SIP_HDR_MAX_FORWARDS,
    SIP_HDR_AUTHORIZATION,
    SIP_HDR_USER_AGENT,
    SIP_HDR_CONTENT_TYPE,
    SIP_HDR_COUNT_,
};

/* One header field, folded lines joined. */
struct sip_hdr {
    struct sip_span name;  /* as received, never empty unless bad */
    struct sip_span value; /* LWS trimmed at both ends; may hold folded CR LF */
    size_t line_len;       /* the whole field, name to end, without the last CR LF */
    enum sip_hdr_id id;
    bool folded; /* spans more than one line */
    bool bad;    /* no colon, a name that is not a token, or a CR without LF */
};

/* A cursor over the header lines. */
struct sip_scan {
    const char *p;    /* next line */
    const char *end;  /* end of input */
    const char *body; /* after the empty line once seen, else NULL */
};

/* Start on data: skip leading CR LFs (RFC 3261 §7.5), set *line to the
 * start line without its line end. Returns 0, or -EPROTO when there is no
 * complete start line. */
int sip_scan_start(struct sip_scan *s, const char *data, size_t len, struct sip_span *line);

/* Read the next header into *h. Returns 1, or 0 at the end of the header
 * section: s->body then points after the empty line, or is NULL when the
 * input ended without one. */
int sip_scan_next(struct sip_scan *s, struct sip_hdr *h);

/* The id of a header name (case-insensitive, compact forms included). */
enum sip_hdr_id sip_scan_hdr_id(struct sip_span name);

/* The long form of a header name: "v" gives "Via" (RFC 3261 §7.3.3 and
 * later compact forms); other names are returned as they are. *len gets
 * the length. */
const char *sip_scan_long_name(const char *name, size_t *len);

/* Character classes of RFC 3261 §25.1. */
bool sip_scan_is_token(unsigned char c);
static inline bool sip_scan_is_lws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trim LWS from both ends. */
struct sip_span sip_scan_trim(struct sip_span s);

/* Case-insensitive comparison with a C string. */
bool sip_scan_ieq(struct sip_span s, const char *lit);

/* Read a decimal number: digits only (leading zeros allowed), at most max.
 * Returns 0 or -EINVAL. */
int sip_scan_u32(struct sip_span s, uint32_t max, uint32_t *out);

/* Read delta-seconds (RFC 3261 §25.1: 1*DIGIT), the value of an Expires
 * header and of a Contact's expires parameter alike: a value past
 * 2^32-1 is taken as 2^32-1 (the registrar shortens it to max-expires
 * anyway). Returns 0, or -EINVAL when s is not digits ("1e20", "-1"). */
int sip_scan_delta(struct sip_span s, uint32_t *out);

/* One ";name[=value]" parameter. */
struct sip_param {
    struct sip_span name;
    struct sip_span value; /* empty without '=' */
    struct sip_span text;  /* name[=value] as received, trimmed */
    bool has_value;
};

/* Take the next parameter from *cur (which starts at ';' or is empty) and
 * advance it. Values are tokens, hosts ([v6] too) or quoted strings; LWS
 * may surround ';' and '='. Returns 1, 0 at the end, or -EPROTO (an empty
 * name, a bad value, junk). */
int sip_scan_param_next(struct sip_span *cur, struct sip_param *prm);

/* Find parameter name (case-insensitive) in a valid parameter list. */
bool sip_scan_param_find(struct sip_span params, const char *name, struct sip_param *prm);

/* A name-addr or addr-spec (RFC 3261 §20.10) as in From, To and Contact. */
struct sip_naddr {
    struct sip_span display; /* display name with its quotes; may be empty */
    struct sip_span uri;     /* between < and >, or the bare addr-spec */
    struct sip_span params;  /* header parameters from the first ';', or empty */
    bool bracketed;
};

/* Parse one name-addr at the start of v. With list (Contact), a ',' at the
 * top level ends it and *rest gets what follows; otherwise the whole value
 * must be one name-addr. Checks the display name (quoted string or
 * tokens), the URI (a scheme, no LWS; no ',' ';' '?' unless in <>) and the
 * parameters. Returns 0 or -EPROTO. */
int sip_scan_naddr(struct sip_span v, bool list, struct sip_naddr *na, struct sip_span *rest);

/* Whether u looks like an absolute URI: scheme ":" something, no LWS, no
 * '<', '>' or '"'. */
bool sip_scan_uri_ok(struct sip_span u);

/* The top element of a Via value (RFC 3261 §20.42). */
struct sip_via_elem {
    struct sip_span elem;      /* the whole element, trimmed */
    struct sip_span version;   /* "2.0" */
    struct sip_span transport; /* "UDP", "TCP", ... */
    struct sip_span host;      /* sent-by host, IPv6 without brackets */
    struct sip_span params;    /* from the first ';', or empty */
    uint16_t port;             /* 0 when absent */
    bool host_v6;
};

/* Parse the first element of a Via value. strict also checks the version
 * (2.0) and every parameter; lenient mode only needs a sent-protocol and a
 * sent-by, enough to send a response. *rest gets the other elements (after
 * the ','), may be NULL. Returns 0 or -EPROTO. */
int sip_scan_via(struct sip_span v, bool strict, struct sip_via_elem *ve, struct sip_span *rest);

#endif
