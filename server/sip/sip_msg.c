#include "server/sip/sip_msg.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/sip/sip_fields.h"
#include "server/sip/sip_scan.h"

/* A header parsed on demand: done once, then the same answer. */
enum lazy_state {
    LAZY_NOT_YET = 0,
    LAZY_DONE,
};

/* What the parse keeps beside the public fields: the header index, the
 * copy of the bytes, the storage behind the strings it exposes and the
 * headers read on demand. */
struct sip_msg_priv {
    char *raw; /* our copy of the input, NUL-terminated */
    size_t raw_len;
    size_t start_off; /* where the start line starts in raw */
    size_t body_off;  /* where the body starts in raw */
    struct sip_hdr *hdrs;
    unsigned n_hdrs;
    unsigned first[SIP_HDR_COUNT_]; /* index of the first header per id */
    unsigned count[SIP_HDR_COUNT_];
    struct sip_span uri; /* the Request-URI as received */
    struct sip_fields_mem mem;
    uint64_t tag_key;
    enum lazy_state contacts_state, auth_state;
    int contacts_rc, auth_rc;
    struct sip_contacts contacts;
    struct sip_auth auth;
};

/* Reasons per header id: missing, repeated, malformed. */
static const char *const missing_reason[SIP_HDR_COUNT_] = {
        [SIP_HDR_VIA] = "Missing Via",   [SIP_HDR_FROM] = "Missing From",
        [SIP_HDR_TO] = "Missing To",     [SIP_HDR_CALL_ID] = "Missing Call-ID",
        [SIP_HDR_CSEQ] = "Missing CSeq",
};

static const char *const multiple_reason[SIP_HDR_COUNT_] = {
        [SIP_HDR_FROM] = "Multiple From",
        [SIP_HDR_TO] = "Multiple To",
        [SIP_HDR_CALL_ID] = "Multiple Call-ID",
        [SIP_HDR_CSEQ] = "Multiple CSeq",
        [SIP_HDR_CONTENT_LENGTH] = "Multiple Content-Length",
        [SIP_HDR_EXPIRES] = "Multiple Expires",
        [SIP_HDR_MAX_FORWARDS] = "Multiple Max-Forwards",
        [SIP_HDR_CONTENT_TYPE] = "Multiple Content-Type",
};

enum sip_method sip_msg_method_id(const char *method)
{
    static const struct {
        const char *name;
        enum sip_method id;
    } methods[] = {
            {"REGISTER", SIP_METHOD_REGISTER}, {"INVITE", SIP_METHOD_INVITE},
            {"OPTIONS", SIP_METHOD_OPTIONS},   {"ACK", SIP_METHOD_ACK},
            {"CANCEL", SIP_METHOD_CANCEL},     {"BYE", SIP_METHOD_BYE},
    };
    size_t i;

    for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strcmp(method, methods[i].name) == 0)
            return methods[i].id;
    }
    return SIP_METHOD_OTHER;
}

static int refuse(struct sip_msg_err *err, int code, const char *reason)
{
    err->code = code;
    err->reason = reason;
    return code == 513 ? -EMSGSIZE : -EPROTO;
}

/* "SIP/" 1*DIGIT "." 1*DIGIT */
static bool version_ok(struct sip_span v)
{
    size_t i = 4, d;

    if (v.len < 7 || strncasecmp(v.p, "SIP/", 4) != 0)
        return false;
    for (d = i; i < v.len && v.p[i] >= '0' && v.p[i] <= '9'; i++)
        ;
    if (i == d || i == v.len || v.p[i] != '.')
        return false;
    for (d = ++i; i < v.len && v.p[i] >= '0' && v.p[i] <= '9'; i++)
        ;
    return i > d && i == v.len;
}

/* The scheme of a URI span, or an empty span when it has none. */
static struct sip_span uri_scheme(struct sip_span u)
{
    struct sip_span s = {u.p, 0};
    const char *colon = memchr(u.p, ':', u.len);

    if (colon != NULL && sip_scan_uri_ok(u))
        s.len = (size_t)(colon - u.p);
    return s;
}

static int check_request_uri(struct sip_span uri, struct sip_msg_err *err)
{
    struct sip_span scheme = uri_scheme(uri);
    bool sip = sip_scan_ieq(scheme, "sip") || sip_scan_ieq(scheme, "sips");

    if (scheme.len == 0)
        return refuse(err, 400, "Bad Request-URI");
    if (!sip && !sip_scan_ieq(scheme, "tel"))
        return refuse(err, 416, "Unsupported URI Scheme");
    /* RFC 4475 §3.1.2.11: header fields have no place in a Request-URI. A
     * '?' may appear in the user part (§25.1 user-unreserved), so look
     * after the '@', which the user part cannot hold unescaped. */
    if (sip) {
        const char *host = memchr(uri.p, '@', uri.len);

        host = host != NULL ? host : uri.p;
        if (memchr(host, '?', (size_t)(uri.p + uri.len - host)) != NULL)
            return refuse(err, 400, "Bad Request-URI");
    }
    return 0;
}

/* Request-Line = Method SP Request-URI SP SIP-Version (single spaces). */
static int check_request_line(struct sip_msg *m, struct sip_span line, struct sip_span *uri,
                              struct sip_msg_err *err)
{
    const char *p = line.p, *e = line.p + line.len, *sp1, *sp2;
    struct sip_span version;
    size_t i;

    sp1 = memchr(p, ' ', line.len);
    if (sp1 == NULL || sp1 == p)
        return refuse(err, 400, "Bad Request Line");
    for (i = 0; p + i < sp1; i++) {
        if (!sip_scan_is_token((unsigned char)p[i]))
            return refuse(err, 400, "Bad Request Line");
    }
    sp2 = memchr(sp1 + 1, ' ', (size_t)(e - sp1 - 1));
    if (sp2 == NULL || sp2 == sp1 + 1)
        return refuse(err, 400, "Bad Request Line");
    version.p = sp2 + 1;
    version.len = (size_t)(e - sp2 - 1);
    if (!version_ok(version))
        return refuse(err, 400, "Bad Request Line");
    if (!sip_scan_ieq(version, "SIP/2.0"))
        return refuse(err, 505, "Version Not Supported");
    uri->p = sp1 + 1;
    uri->len = (size_t)(sp2 - sp1 - 1);
    m->is_request = true;
    m->method = sip_fields_str(&m->priv->mem, p, (size_t)(sp1 - p));
    m->method_id = sip_msg_method_id(m->method);
    return check_request_uri(*uri, err);
}

/* Status-Line = SIP-Version SP Status-Code SP Reason-Phrase */
static int check_status_line(struct sip_msg *m, struct sip_span line, struct sip_msg_err *err)
{
    const char *p = line.p, *sp = memchr(p, ' ', line.len);
    uint32_t code;
    size_t i;

    if (sp == NULL || !sip_scan_ieq((struct sip_span){p, (size_t)(sp - p)}, "SIP/2.0") ||
        line.len < 8 + 3 || (line.len > 8 + 3 && sp[4] != ' ') ||
        sip_scan_u32((struct sip_span){sp + 1, 3}, 699, &code) < 0 || code < 100)
        return refuse(err, 400, "Bad Status Line");
    /* Reason-Phrase: no control characters but HTAB (RFC 3261 §25.1). */
    for (i = 8 + 4; i < line.len; i++) {
        if (((unsigned char)p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f)
            return refuse(err, 400, "Bad Status Line");
    }
    m->status = (int)code;
    return 0;
}

/* Index the header fields; undo folding in our copy so values are single
 * lines for the fields below and sip_msg_header(). */
static int scan_headers(struct sip_msg *m, struct sip_scan *s, const struct sip_msg_conf *conf,
                        unsigned cap, struct sip_msg_err *err)
{
    struct sip_msg_priv *pv = m->priv;
    struct sip_hdr h;
    size_t i;

    while (sip_scan_next(s, &h) == 1) {
        if (pv->n_hdrs >= conf->max_headers || pv->n_hdrs >= cap)
            return refuse(err, 400, "Too Many Headers");
        if (h.line_len > conf->max_line)
            return refuse(err, 400, "Header Too Long");
        if (h.bad)
            return refuse(err, 400, "Bad Header");
        if (h.folded) {
            char *v = pv->raw + (h.value.p - pv->raw);

            for (i = 0; i < h.value.len; i++) {
                if (v[i] == '\r' || v[i] == '\n')
                    v[i] = ' ';
            }
        }
        if (pv->count[h.id]++ == 0)
            pv->first[h.id] = pv->n_hdrs;
        pv->hdrs[pv->n_hdrs++] = h;
    }
    if (s->body == NULL)
        return refuse(err, 400, "Missing Header End");
    pv->body_off = (size_t)(s->body - pv->raw);
    return 0;
}

static struct sip_span hdr_value(const struct sip_msg *m, enum sip_hdr_id id)
{
    const struct sip_msg_priv *pv = m->priv;

    if (pv->count[id] == 0)
        return (struct sip_span){"", 0};
    return pv->hdrs[pv->first[id]].value;
}

static int check_presence(struct sip_msg *m, struct sip_msg_err *err)
{
    static const enum sip_hdr_id required[] = {SIP_HDR_VIA, SIP_HDR_FROM, SIP_HDR_TO,
                                               SIP_HDR_CALL_ID, SIP_HDR_CSEQ};
    const struct sip_msg_priv *pv = m->priv;
    size_t i;

    for (i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        if (pv->count[required[i]] == 0)
            return refuse(err, 400, missing_reason[required[i]]);
    }
    for (i = 0; i < SIP_HDR_COUNT_; i++) {
        if (multiple_reason[i] != NULL && pv->count[i] > 1)
            return refuse(err, 400, multiple_reason[i]);
    }
    return 0;
}

/* RFC 3261 §18.3: a datagram shorter than its Content-Length is refused;
 * bytes past it are ignored. Without the header the body is the rest. */
static int check_length(struct sip_msg *m, struct sip_msg_err *err)
{
    struct sip_msg_priv *pv = m->priv;
    size_t avail = pv->raw_len - pv->body_off;
    uint32_t cl;

    m->body = pv->raw + pv->body_off;
    m->body_len = avail;
    if (pv->count[SIP_HDR_CONTENT_LENGTH] == 0)
        return 0;
    if (sip_scan_u32(hdr_value(m, SIP_HDR_CONTENT_LENGTH), UINT32_MAX, &cl) < 0 || cl > avail)
        return refuse(err, 400, "Bad Content-Length");
    m->content_length = cl;
    m->body_len = cl;
    return 0;
}

/* A NUL is legal only as a quoted-pair (RFC 4475 §3.1.1.2): refuse any
 * other in the start line and headers, which are read as C strings. */
static int check_nul(const struct sip_msg *m, struct sip_msg_err *err)
{
    const struct sip_msg_priv *pv = m->priv;
    const char *p = pv->raw + pv->start_off, *e = pv->raw + pv->body_off;

    while ((p = memchr(p, '\0', (size_t)(e - p))) != NULL) {
        if (p == pv->raw + pv->start_off || p[-1] != '\\')
            return refuse(err, 400, "Bad Header");
        p++;
    }
    return 0;
}

static struct sip_fields_src fields_src(const struct sip_msg *m)
{
    const struct sip_msg_priv *pv = m->priv;

    return (struct sip_fields_src){pv->hdrs, pv->n_hdrs, pv->first, pv->count, pv->uri};
}

static int read_fields(struct sip_msg *m, struct sip_msg_err *err)
{
    struct sip_fields_src src = fields_src(m);

    return sip_fields_read(m, &src, &m->priv->mem, err);
}

/* Fill err's addressing from the caller's bytes, whatever stopped the
 * parse: a request other than ACK with a top Via we can read. */
static void fallback_scan(struct sip_msg_err *err, const char *data, size_t len)
{
    struct sip_scan s;
    struct sip_span line, sp;
    struct sip_hdr h;
    struct sip_via_elem ve;
    struct sip_param prm;
    const char *blank;

    err->can_respond = false;
    if (sip_scan_start(&s, data, len, &line) < 0)
        return;
    blank = memchr(line.p, ' ', line.len);
    sp.p = line.p;
    sp.len = blank != NULL ? (size_t)(blank - line.p) : line.len;
    if (blank == NULL || (sp.len >= 4 && strncasecmp(sp.p, "SIP/", 4) == 0) ||
        (sp.len == 3 && memcmp(sp.p, "ACK", 3) == 0))
        return;
    while (sip_scan_next(&s, &h) == 1) {
        if (h.bad || h.id != SIP_HDR_VIA)
            continue;
        if (sip_scan_via(h.value, false, &ve, NULL) == 0) {
            err->can_respond = true;
            err->via_port = ve.port;
            err->via_rport = sip_scan_param_find(ve.params, "rport", &prm);
        }
        return;
    }
}

/* Nothing but line ends: a keep-alive (RFC 5626 §3.5.1) or noise. */
static bool only_crlf(const char *p, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (p[i] != '\r' && p[i] != '\n')
            return false;
    }
    return true;
}

/* Lines in the header section: enough slots for the header index. */
static size_t count_lines(const char *p, size_t len)
{
    const char *e = p + len, *lf;
    size_t n = 1;

    while (p < e && (lf = memchr(p, '\n', (size_t)(e - p))) != NULL) {
        n++;
        p = lf + 1;
        if (p < e && (*p == '\n' || (*p == '\r' && p + 1 < e && p[1] == '\n')))
            break;
    }
    return n;
}

/* Four blocks rather than one: each stays under glibc's 1 KiB small-bin
 * limit for common messages, so it comes from the thread cache. */
static struct sip_msg *msg_alloc(const char *data, size_t len, unsigned cap)
{
    struct sip_msg *m = calloc(1, sizeof(*m) + sizeof(struct sip_msg_priv));
    struct sip_msg_priv *pv;

    if (m == NULL)
        return NULL;
    pv = (struct sip_msg_priv *)(m + 1);
    m->priv = pv;
    /* The strings exposed are mostly disjoint pieces of the message,
     * rarely more than half of it; sip_fields_str() copes with the rest. */
    pv->mem.arena_cap = len / 2 + 256;
    pv->hdrs = malloc(cap * sizeof(*pv->hdrs));
    pv->raw = malloc(len + 1);
    pv->mem.arena = malloc(pv->mem.arena_cap);
    if (pv->hdrs == NULL || pv->raw == NULL || pv->mem.arena == NULL) {
        sip_msg_free(m);
        return NULL;
    }
    memcpy(pv->raw, data, len);
    pv->raw[len] = '\0';
    pv->raw_len = len;
    return m;
}

/* Every check, in the order of the reasons a sender most needs. */
static int check_all(struct sip_msg *m, struct sip_scan *s, struct sip_span line,
                     const struct sip_msg_conf *conf, unsigned cap, struct sip_msg_err *err)
{
    int rc;

    if (line.len > conf->max_line)
        rc = refuse(err, 400, "Request Line Too Long");
    else if (line.len >= 4 && strncasecmp(line.p, "SIP/", 4) == 0)
        rc = check_status_line(m, line, err);
    else
        rc = check_request_line(m, line, &m->priv->uri, err);
    if (rc == 0)
        rc = scan_headers(m, s, conf, cap, err);
    if (rc == 0)
        rc = check_presence(m, err);
    if (rc == 0)
        rc = check_length(m, err);
    if (rc == 0)
        rc = check_nul(m, err);
    if (rc == 0)
        rc = read_fields(m, err);
    return rc;
}

int sip_msg_parse(const char *data, size_t len, const struct sip_msg_conf *conf,
                  struct sip_msg **out, struct sip_msg_err *err)
{
    struct sip_msg *m = NULL;
    struct sip_scan s;
    struct sip_span line;
    size_t cap;
    int rc;

    *out = NULL;
    memset(err, 0, sizeof(*err));
    err->raw = data;
    err->raw_len = len;
    err->tag_key = conf->tag_key;
    if (len > conf->max_bytes) {
        rc = refuse(err, 513, "Message Too Large");
        goto out_refuse;
    }
    if (sip_scan_start(&s, data, len, &line) < 0) {
        rc = refuse(err, only_crlf(data, len) ? 0 : 400,
                    only_crlf(data, len) ? "Empty Message" : "Bad Request Line");
        goto out_refuse;
    }
    cap = count_lines(line.p, len - (size_t)(line.p - data));
    if (cap > (size_t)conf->max_headers + 1)
        cap = (size_t)conf->max_headers + 1;
    m = msg_alloc(data, len, (unsigned)cap);
    if (m == NULL)
        return -ENOMEM;
    m->priv->tag_key = conf->tag_key;
    /* The same bytes as above: this cannot fail. */
    (void)sip_scan_start(&s, m->priv->raw, len, &line);
    m->priv->start_off = (size_t)(line.p - m->priv->raw);
    rc = check_all(m, &s, line, conf, (unsigned)cap, err);
    if (rc == 0) {
        *out = m;
        return 0;
    }
    if (rc == -ENOMEM) {
        sip_msg_free(m);
        return rc;
    }

out_refuse:
    sip_msg_free(m);
    if (err->code != 0)
        fallback_scan(err, data, len);
    return rc;
}

void sip_msg_free(struct sip_msg *m)
{
    if (m == NULL)
        return;
    sip_fields_release(&m->priv->mem);
    free(m->priv->mem.arena);
    free(m->priv->raw);
    free(m->priv->hdrs);
    free(m);
}

int sip_msg_contacts(struct sip_msg *m, const struct sip_contacts **out)
{
    struct sip_msg_priv *pv = m->priv;
    struct sip_fields_src src;

    if (pv->contacts_state == LAZY_NOT_YET) {
        src = fields_src(m);
        pv->contacts_rc = sip_fields_contacts(m, &src, &pv->mem, &pv->contacts);
        pv->contacts_state = LAZY_DONE;
    }
    *out = pv->contacts_rc == 0 ? &pv->contacts : NULL;
    return pv->contacts_rc;
}

int sip_msg_auth(struct sip_msg *m, const struct sip_auth **out)
{
    struct sip_msg_priv *pv = m->priv;
    struct sip_fields_src src;

    if (pv->auth_state == LAZY_NOT_YET) {
        src = fields_src(m);
        pv->auth_rc = sip_fields_auth(&src, &pv->mem, &pv->auth);
        pv->auth_state = LAZY_DONE;
    }
    *out = pv->auth_rc == 0 && pv->auth.scheme != NULL ? &pv->auth : NULL;
    return pv->auth_rc;
}

const char *sip_msg_header(const struct sip_msg *m, const char *name, unsigned idx, size_t *len)
{
    const struct sip_msg_priv *pv = m->priv;
    size_t qlen = strlen(name), hlen;
    const char *q = sip_scan_long_name(name, &qlen), *h;
    unsigned i;

    for (i = 0; i < pv->n_hdrs; i++) {
        hlen = pv->hdrs[i].name.len;
        h = sip_scan_long_name(pv->hdrs[i].name.p, &hlen);
        if (hlen == qlen && strncasecmp(h, q, qlen) == 0 && idx-- == 0) {
            *len = pv->hdrs[i].value.len;
            return pv->hdrs[i].value.p;
        }
    }
    return NULL;
}

const char *sip_msg_raw(const struct sip_msg *m, size_t *len)
{
    *len = m->priv->raw_len;
    return m->priv->raw;
}

const struct sip_hdr *sip_msg_hdrs(const struct sip_msg *m, unsigned *n)
{
    *n = m->priv->n_hdrs;
    return m->priv->hdrs;
}

uint64_t sip_msg_tag_key(const struct sip_msg *m)
{
    return m->priv->tag_key;
}
