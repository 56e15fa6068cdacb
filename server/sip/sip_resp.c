#include "server/sip/sip_resp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>

#include "server/sip/sip_msg.h"
#include "server/sip/sip_scan.h"

#ifndef TC_VERSION
#define TC_VERSION "0"
#endif

#define SERVER_LINE "Server: tcluster/" TC_VERSION "\r\n"

static const struct {
    int code;
    const char *reason;
} reasons[] = {
        {100, "Trying"},
        {180, "Ringing"},
        {200, "OK"},
        {300, "Multiple Choices"},
        {301, "Moved Permanently"},
        {302, "Moved Temporarily"},
        {305, "Use Proxy"},
        {380, "Alternative Service"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {406, "Not Acceptable"},
        {407, "Proxy Authentication Required"},
        {408, "Request Timeout"},
        {410, "Gone"},
        {413, "Request Entity Too Large"},
        {414, "Request-URI Too Long"},
        {415, "Unsupported Media Type"},
        {416, "Unsupported URI Scheme"},
        {420, "Bad Extension"},
        {421, "Extension Required"},
        {423, "Interval Too Brief"},
        {480, "Temporarily Unavailable"},
        {481, "Call/Transaction Does Not Exist"},
        {482, "Loop Detected"},
        {483, "Too Many Hops"},
        {484, "Address Incomplete"},
        {485, "Ambiguous"},
        {486, "Busy Here"},
        {487, "Request Terminated"},
        {488, "Not Acceptable Here"},
        {491, "Request Pending"},
        {500, "Server Internal Error"},
        {501, "Not Implemented"},
        {503, "Service Unavailable"},
        {504, "Server Time-out"},
        {505, "Version Not Supported"},
        {513, "Message Too Large"},
        {600, "Busy Everywhere"},
        {603, "Decline"},
        {604, "Does Not Exist Anywhere"},
        {606, "Not Acceptable"},
};

static const char *const class_reasons[] = {
        "Unknown",      "Progress",       "OK", "Redirection", "Client Error",
        "Server Error", "Global Failure",
};

const char *sip_resp_reason(int code)
{
    size_t i;

    for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        if (reasons[i].code == code)
            return reasons[i].reason;
    }
    return code >= 100 && code <= 699 ? class_reasons[code / 100] : class_reasons[0];
}

/* The request's source, as the Via rewrite needs it. */
struct src_addr {
    int family; /* AF_INET for IPv4-mapped IPv6 too */
    unsigned char bytes[16];
    char text[INET6_ADDRSTRLEN];
    uint16_t port;
};

static void src_addr(const struct sip_src *src, struct src_addr *sa)
{
    char *t;
    int i;

    memset(sa, 0, sizeof(*sa));
    if (src->peer.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&src->peer;

        sa->family = AF_INET;
        memcpy(sa->bytes, &in->sin_addr, 4);
        sa->port = ntohs(in->sin_port);
    } else if (src->peer.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&src->peer;

        sa->port = ntohs(in6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            sa->family = AF_INET;
            memcpy(sa->bytes, &in6->sin6_addr.s6_addr[12], 4);
        } else {
            sa->family = AF_INET6;
            memcpy(sa->bytes, &in6->sin6_addr, 16);
        }
    } else {
        return;
    }
    if (sa->family == AF_INET6) {
        inet_ntop(AF_INET6, sa->bytes, sa->text, sizeof(sa->text));
        return;
    }
    /* inet_ntop() costs a fifth of a response; IPv4 is easy by hand. */
    for (i = 0, t = sa->text; i < 4; i++) {
        unsigned v = sa->bytes[i];

        if (v >= 100)
            *t++ = (char)('0' + v / 100);
        if (v >= 10)
            *t++ = (char)('0' + v / 10 % 10);
        *t++ = (char)('0' + v % 10);
        *t++ = i < 3 ? '.' : '\0';
    }
}

/* Whether the sent-by host is the source address itself. */
static bool host_is_source(const struct sip_via_elem *ve, const struct src_addr *sa)
{
    char host[INET6_ADDRSTRLEN];
    unsigned char bytes[16];
    int family = ve->host_v6 ? AF_INET6 : AF_INET;

    if (sa->family != family || ve->host.len >= sizeof(host))
        return false;
    memcpy(host, ve->host.p, ve->host.len);
    host[ve->host.len] = '\0';
    return inet_pton(family, host, bytes) == 1 &&
           memcmp(bytes, sa->bytes, family == AF_INET ? 4 : 16) == 0;
}

/* Append a received value: folded CR LF become spaces. */
static int put_value(struct tc_buf *b, struct sip_span v)
{
    size_t i;
    char *d;
    int rc;

    if (v.len == 0)
        return 0;
    rc = tc_buf_reserve(b, v.len);
    if (rc != 0)
        return rc;
    d = b->data + b->len;
    memcpy(d, v.p, v.len);
    for (i = 0; i < v.len; i++) {
        if (d[i] == '\r' || d[i] == '\n')
            d[i] = ' ';
    }
    b->len += v.len;
    b->data[b->len] = '\0';
    return 0;
}

static int put_uint(struct tc_buf *b, unsigned v)
{
    char d[10];
    size_t n = sizeof(d);

    do {
        d[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return tc_buf_append(b, d + n, sizeof(d) - n);
}

static int put_str(struct tc_buf *b, const char *s)
{
    return tc_buf_append(b, s, strlen(s));
}

/* "Name: value" CRLF */
static int put_hdr(struct tc_buf *b, const char *name, struct sip_span v)
{
    int rc = put_str(b, name);

    if (rc == 0)
        rc = tc_buf_append(b, ": ", 2);
    if (rc == 0)
        rc = put_value(b, v);
    if (rc == 0)
        rc = tc_buf_append(b, "\r\n", 2);
    return rc;
}

/* The top Via: parameters as received but an empty rport gets the source
 * port and received= the source address (RFC 3261 §18.2.1, RFC 3581 §4);
 * an old received is dropped. Then the header's other values. */
static int put_top_via(struct tc_buf *b, struct sip_span v, const struct src_addr *sa)
{
    struct sip_via_elem ve;
    struct sip_span rest, params;
    struct sip_param prm;
    bool rport = false;
    const char *pend;
    int rc, more;

    if (sip_scan_via(v, false, &ve, &rest) < 0)
        return -EINVAL;
    pend = ve.params.len > 0 ? ve.params.p : ve.elem.p + ve.elem.len;
    while (pend > ve.elem.p && sip_scan_is_lws(pend[-1]))
        pend--;
    rc = put_str(b, "Via: ");
    if (rc == 0)
        rc = put_value(b, (struct sip_span){ve.elem.p, (size_t)(pend - ve.elem.p)});
    params = ve.params;
    while (rc == 0 && (more = sip_scan_param_next(&params, &prm)) != 0) {
        if (more < 0) {
            /* Not ours to fix: keep the rest as it came. */
            rc = put_value(b, params);
            break;
        }
        if (sip_scan_ieq(prm.name, "received"))
            continue;
        if (sip_scan_ieq(prm.name, "rport")) {
            rport = true;
            if (!prm.has_value && sa->family != 0) {
                rc = put_str(b, ";rport=");
                if (rc == 0)
                    rc = put_uint(b, sa->port);
                continue;
            }
        }
        rc = tc_buf_append(b, ";", 1);
        if (rc == 0)
            rc = put_value(b, prm.text);
    }
    if (rc == 0 && sa->family != 0 && (rport || !host_is_source(&ve, sa))) {
        rc = put_str(b, ";received=");
        if (rc == 0)
            rc = put_str(b, sa->text);
    }
    if (rc == 0 && rest.len > 0) {
        rc = tc_buf_append(b, ",", 1);
        if (rc == 0)
            rc = put_value(b, rest);
    }
    if (rc == 0)
        rc = tc_buf_append(b, "\r\n", 2);
    return rc;
}

/* The tag parameter of a From or To value, or an empty span. *ok is false
 * when the value does not parse. */
static struct sip_span party_tag(struct sip_span v, bool *ok)
{
    struct sip_naddr na;
    struct sip_param prm;
    struct sip_span none = {"", 0};

    *ok = sip_scan_naddr(v, false, &na, NULL) == 0;
    if (*ok && sip_scan_param_find(na.params, "tag", &prm))
        return prm.value;
    return none;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= c[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* A To tag from Call-ID and From tag: the same request gives the same tag.
 * Keyed so tags are not guessable across nodes; not a MAC. */
static void derive_tag(uint64_t key, struct sip_span call_id, struct sip_span from_tag,
                       char out[17])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t h = 0xcbf29ce484222325ULL;
    unsigned char sep = 0xff;
    int i;

    h = fnv1a(h, &key, sizeof(key));
    h = fnv1a(h, call_id.p, call_id.len);
    h = fnv1a(h, &sep, 1);
    h = fnv1a(h, from_tag.p, from_tag.len);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    for (i = 15; i >= 0; i--, h >>= 4)
        out[i] = hex[h & 15];
    out[16] = '\0';
}

/* The request's header lines: a parsed message's index, or a scan of the
 * raw bytes of a refused one. */
struct req {
    const struct sip_msg *m; /* NULL for a refused message */
    const struct sip_hdr *hdrs;
    unsigned n_hdrs, next;
    struct sip_scan scan;
    uint64_t key;
    struct sip_span from, to, call_id, cseq; /* the first of each */
};

static int req_next(struct req *r, struct sip_hdr *h)
{
    if (r->m == NULL)
        return sip_scan_next(&r->scan, h);
    if (r->next >= r->n_hdrs)
        return 0;
    *h = r->hdrs[r->next++];
    return 1;
}

static struct sip_span str_span(const char *s)
{
    struct sip_span sp = {"", 0};

    if (s != NULL) {
        sp.p = s;
        sp.len = strlen(s);
    }
    return sp;
}

/* To, with ";tag=" when it has none and the code is above 100 (RFC 3261
 * §8.2.6.2). A To that does not parse is copied as it is. */
static int put_to(struct tc_buf *b, const struct req *r, int code, const char *to_tag)
{
    struct sip_span call_id = r->call_id, from_tag;
    char tag[17];
    bool has_tag, ok = true;
    int rc;

    if (r->m != NULL)
        has_tag = r->m->to_tag != NULL;
    else
        has_tag = party_tag(r->to, &ok).len > 0;
    if (code == 100 || has_tag || !ok)
        return put_hdr(b, "To", r->to);
    if (to_tag == NULL) {
        if (r->m != NULL) {
            call_id = str_span(r->m->call_id);
            from_tag = str_span(r->m->from_tag);
        } else {
            from_tag = party_tag(r->from, &ok);
        }
        derive_tag(r->key, call_id, from_tag, tag);
        to_tag = tag;
    }
    rc = put_str(b, "To: ");
    if (rc == 0)
        rc = put_value(b, r->to);
    if (rc == 0)
        rc = put_str(b, ";tag=");
    if (rc == 0)
        rc = put_str(b, to_tag);
    if (rc == 0)
        rc = tc_buf_append(b, "\r\n", 2);
    return rc;
}

static int put_copied(struct tc_buf *b, const struct req *r, int code, const char *to_tag)
{
    int rc = 0;

    if (r->from.p != NULL)
        rc = put_hdr(b, "From", r->from);
    if (rc == 0 && r->to.p != NULL)
        rc = put_to(b, r, code, to_tag);
    if (rc == 0 && r->call_id.p != NULL)
        rc = put_hdr(b, "Call-ID", r->call_id);
    if (rc == 0 && r->cseq.p != NULL)
        rc = put_hdr(b, "CSeq", r->cseq);
    return rc;
}

static void remember(struct sip_span *slot, struct sip_span v)
{
    if (slot->p == NULL)
        *slot = v;
}

/* The Vias in order, remembering the headers that follow them. */
static int put_vias(struct tc_buf *b, struct req *r, const struct src_addr *sa)
{
    struct sip_hdr h;
    bool via = false;
    int rc = 0;

    while (rc == 0 && req_next(r, &h) == 1) {
        if (h.bad)
            continue;
        if (h.id == SIP_HDR_VIA) {
            rc = via ? put_hdr(b, "Via", h.value) : put_top_via(b, h.value, sa);
            via = true;
        } else if (h.id == SIP_HDR_FROM) {
            remember(&r->from, h.value);
        } else if (h.id == SIP_HDR_TO) {
            remember(&r->to, h.value);
        } else if (h.id == SIP_HDR_CALL_ID) {
            remember(&r->call_id, h.value);
        } else if (h.id == SIP_HDR_CSEQ) {
            remember(&r->cseq, h.value);
        }
    }
    return rc == 0 && !via ? -EINVAL : rc;
}

static int build(struct req *r, size_t hint, const struct sip_src *src, int code,
                 const char *reason, const char *to_tag, const char *extra, struct tc_buf *out)
{
    struct src_addr sa;
    size_t mark = out->len;
    int rc;

    if (code < 100 || code > 699)
        return -EINVAL;
    if (reason == NULL)
        reason = sip_resp_reason(code);
    src_addr(src, &sa);
    rc = tc_buf_reserve(out, hint + (extra != NULL ? strlen(extra) : 0) + 160);
    if (rc == 0)
        rc = put_str(out, "SIP/2.0 ");
    if (rc == 0)
        rc = put_uint(out, (unsigned)code);
    if (rc == 0)
        rc = tc_buf_append(out, " ", 1);
    if (rc == 0)
        rc = put_str(out, reason);
    if (rc == 0)
        rc = tc_buf_append(out, "\r\n", 2);
    if (rc == 0)
        rc = put_vias(out, r, &sa);
    if (rc == 0)
        rc = put_copied(out, r, code, to_tag);
    if (rc == 0 && extra != NULL)
        rc = put_str(out, extra);
    if (rc == 0)
        rc = put_str(out, SERVER_LINE "Content-Length: 0\r\n\r\n");
    if (rc != 0 && out->data != NULL) {
        out->len = mark;
        out->data[mark] = '\0';
    }
    return rc;
}

int sip_resp_build(const struct sip_msg *m, const struct sip_src *src, int code, const char *reason,
                   const char *to_tag, const char *extra, struct tc_buf *out)
{
    struct req r;
    size_t len;

    if (!m->is_request || m->method_id == SIP_METHOD_ACK)
        return -EINVAL;
    memset(&r, 0, sizeof(r));
    r.m = m;
    r.hdrs = sip_msg_hdrs(m, &r.n_hdrs);
    r.key = sip_msg_tag_key(m);
    (void)sip_msg_raw(m, &len);
    return build(&r, len, src, code, reason, to_tag, extra, out);
}

int sip_resp_error(const struct sip_msg_err *err, const struct sip_src *src, struct tc_buf *out)
{
    struct sip_span line;
    struct req r;

    if (!err->can_respond)
        return -EINVAL;
    memset(&r, 0, sizeof(r));
    r.key = err->tag_key;
    if (sip_scan_start(&r.scan, err->raw, err->raw_len, &line) < 0)
        return -EINVAL;
    return build(&r, err->raw_len, src, err->code, err->reason, NULL, NULL, out);
}

static int dest(const struct sip_src *src, uint16_t via_port, bool rport,
                struct sockaddr_storage *out)
{
    in_port_t port = htons(via_port != 0 ? via_port : 5060);

    *out = src->peer;
    if (src->proto != SIP_PROTO_UDP || rport)
        return 0;
    if (out->ss_family == AF_INET)
        ((struct sockaddr_in *)out)->sin_port = port;
    else if (out->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)out)->sin6_port = port;
    return 0;
}

int sip_resp_dest(const struct sip_msg *m, const struct sip_src *src, struct sockaddr_storage *out)
{
    return dest(src, m->via.port, m->via.has_rport, out);
}

int sip_resp_error_dest(const struct sip_msg_err *err, const struct sip_src *src,
                        struct sockaddr_storage *out)
{
    if (!err->can_respond)
        return -EINVAL;
    return dest(src, err->via_port, err->via_rport, out);
}
