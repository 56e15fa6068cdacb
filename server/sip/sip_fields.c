#include "server/sip/sip_fields.h"

#include <errno.h>
#include <osipparser2/osip_parser.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct sip_arena_chunk {
    struct sip_arena_chunk *next;
    char data[];
};

/* One message being read. */
struct fctx {
    struct sip_msg *m;
    const struct sip_fields_src *src;
    struct sip_fields_mem *mem;
    struct sip_msg_err *err;
};

static int refuse(struct fctx *c, const char *reason)
{
    c->err->code = 400;
    c->err->reason = reason;
    return -EPROTO;
}

const char *sip_fields_str(struct sip_fields_mem *mem, const char *p, size_t n)
{
    struct sip_arena_chunk *chunk;
    char *s;

    if (n == 0)
        return "";
    if (n + 1 <= mem->arena_cap - mem->arena_used) {
        s = mem->arena + mem->arena_used;
        mem->arena_used += n + 1;
    } else {
        chunk = malloc(sizeof(*chunk) + n + 1);
        if (chunk == NULL) {
            mem->oom = true;
            return "";
        }
        chunk->next = mem->extra;
        mem->extra = chunk;
        s = chunk->data;
    }
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

void sip_fields_release(struct sip_fields_mem *mem)
{
    while (mem->extra != NULL) {
        struct sip_arena_chunk *chunk = mem->extra;

        mem->extra = chunk->next;
        free(chunk);
    }
    free(mem->contacts);
    mem->contacts = NULL;
}

static const char *span_str(struct fctx *c, struct sip_span s)
{
    return sip_fields_str(c->mem, s.p, s.len);
}

/* The value of the first header with id; "" when absent. */
static struct sip_span value(const struct fctx *c, enum sip_hdr_id id)
{
    if (c->src->count[id] == 0)
        return (struct sip_span){"", 0};
    return c->src->hdrs[c->src->first[id]].value;
}

/* The user part as libosip2 unescaped it, unless the escaped form holds
 * %00: then the escaped form, so "1001%00x" never reads as "1001". */
static const char *uri_user(struct fctx *c, struct sip_span raw, const char *user)
{
    const char *colon = memchr(raw.p, ':', raw.len), *at;
    struct sip_span u;
    size_t i;

    if (user == NULL || colon == NULL)
        return user;
    u.p = colon + 1;
    at = memchr(u.p, '@', (size_t)(raw.p + raw.len - u.p));
    if (at == NULL)
        return user;
    u.len = (size_t)(at - u.p);
    for (i = 0; i + 2 < u.len; i++) {
        if (u.p[i] == '%' && u.p[i + 1] == '0' && u.p[i + 2] == '0')
            return span_str(c, u);
    }
    return user;
}

/* A sip_uri from the raw text and libosip2's parse of it. */
static int read_uri(struct fctx *c, struct sip_span raw, const osip_uri_t *ou, struct sip_uri *out)
{
    uint32_t port = 0;

    out->raw = span_str(c, raw);
    if (ou == NULL || ou->scheme == NULL)
        return -EPROTO;
    out->scheme = ou->scheme;
    out->host = ou->host;
    out->user = uri_user(c, raw, ou->username);
    if (ou->port != NULL && ou->port[0] != '\0' &&
        sip_scan_u32((struct sip_span){ou->port, strlen(ou->port)}, 65535, &port) < 0)
        return -EPROTO;
    out->port = (uint16_t)port;
    if (out->user == NULL && ou->string != NULL && strcasecmp(ou->scheme, "tel") == 0)
        out->user = sip_fields_str(c->mem, ou->string, strcspn(ou->string, ";"));
    return 0;
}

static int read_via(struct fctx *c)
{
    struct sip_msg *m = c->m;
    struct sip_via_elem ve;
    struct sip_param prm;

    if (sip_scan_via(value(c, SIP_HDR_VIA), true, &ve, NULL) < 0)
        return refuse(c, "Bad Via");
    m->via.transport = span_str(c, ve.transport);
    m->via.host = span_str(c, ve.host);
    m->via.port = ve.port;
    if (sip_scan_param_find(ve.params, "branch", &prm))
        m->via.branch = span_str(c, prm.value);
    m->via.has_rport = sip_scan_param_find(ve.params, "rport", &prm);
    m->n_vias = (unsigned)osip_list_size(&m->osip->vias);
    return 0;
}

/* From or To: our syntax check, libosip2's URI, the tag. */
static int read_party(struct fctx *c, enum sip_hdr_id id, const osip_from_t *of,
                      struct sip_uri *uri, const char **tag)
{
    const char *bad = id == SIP_HDR_FROM ? "Bad From" : "Bad To";
    struct sip_naddr na;
    struct sip_param prm;

    if (sip_scan_naddr(value(c, id), false, &na, NULL) < 0 || of == NULL ||
        read_uri(c, na.uri, of->url, uri) < 0)
        return refuse(c, bad);
    if (sip_scan_param_find(na.params, "tag", &prm)) {
        if (!prm.has_value)
            return refuse(c, bad);
        *tag = span_str(c, prm.value);
    }
    return 0;
}

/* Call-ID = word [ "@" word ]: visible characters only. */
static int read_call_id(struct fctx *c)
{
    struct sip_span v = value(c, SIP_HDR_CALL_ID);
    size_t i;

    if (v.len == 0)
        return refuse(c, "Bad Call-ID");
    for (i = 0; i < v.len; i++) {
        if ((unsigned char)v.p[i] <= 0x20 || (unsigned char)v.p[i] >= 0x7f)
            return refuse(c, "Bad Call-ID");
    }
    c->m->call_id = span_str(c, v);
    return 0;
}

/* CSeq = 1*DIGIT LWS Method; the number below 2^31 (RFC 3261 §8.1.1.5),
 * the method the request's (§8.2, RFC 4475 §3.1.2.17). */
static int read_cseq(struct fctx *c)
{
    struct sip_msg *m = c->m;
    struct sip_span v = value(c, SIP_HDR_CSEQ), num = {v.p, 0}, meth;
    size_t i;

    while (num.len < v.len && v.p[num.len] >= '0' && v.p[num.len] <= '9')
        num.len++;
    meth.p = v.p + num.len;
    meth.len = v.len - num.len;
    if (meth.len == 0 || !sip_scan_is_lws(meth.p[0]))
        return refuse(c, "Bad CSeq");
    meth = sip_scan_trim(meth);
    for (i = 0; i < meth.len; i++) {
        if (!sip_scan_is_token((unsigned char)meth.p[i]))
            return refuse(c, "Bad CSeq");
    }
    if (meth.len == 0 || sip_scan_u32(num, 0x7fffffff, &m->cseq) < 0)
        return refuse(c, "Bad CSeq");
    if (!m->is_request) {
        m->cseq_method = span_str(c, meth);
        return 0;
    }
    if (meth.len != strlen(m->method) || memcmp(meth.p, m->method, meth.len) != 0)
        return refuse(c, "CSeq Method Mismatch");
    m->cseq_method = m->method;
    return 0;
}

static int read_numbers(struct fctx *c)
{
    struct sip_msg *m = c->m;
    uint32_t v;

    m->max_forwards = -1;
    if (c->src->count[SIP_HDR_MAX_FORWARDS] > 0) {
        if (sip_scan_u32(value(c, SIP_HDR_MAX_FORWARDS), 255, &v) < 0)
            return refuse(c, "Bad Max-Forwards");
        m->max_forwards = (int)v;
    }
    if (c->src->count[SIP_HDR_EXPIRES] > 0) {
        if (sip_scan_u32(value(c, SIP_HDR_EXPIRES), UINT32_MAX, &m->expires) < 0)
            return refuse(c, "Bad Expires");
        m->has_expires = true;
    }
    return 0;
}

/* q = "0" [ "." 0*3DIGIT ] / "1" [ "." 0*3("0") ], as thousandths. */
static bool parse_q(struct sip_span v, uint16_t *q)
{
    unsigned val, scale = 100;
    size_t i;

    if (v.len == 0 || v.len > 5 || (v.p[0] != '0' && v.p[0] != '1'))
        return false;
    val = (unsigned)(v.p[0] - '0') * 1000;
    if (v.len > 1 && v.p[1] != '.')
        return false;
    for (i = 2; i < v.len; i++, scale /= 10) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return false;
        val += (unsigned)(v.p[i] - '0') * scale;
    }
    if (val > 1000)
        return false;
    *q = (uint16_t)val;
    return true;
}

static int add_contact(struct fctx *c, const struct sip_naddr *na)
{
    struct sip_fields_mem *mem = c->mem;
    struct sip_msg *m = c->m;
    struct sip_contact *ct;
    struct sip_param prm;

    if (m->n_contacts == mem->contacts_cap) {
        size_t cap = mem->contacts_cap ? mem->contacts_cap * 2 : 4;

        ct = realloc(mem->contacts, cap * sizeof(*ct));
        if (ct == NULL)
            return -ENOMEM;
        mem->contacts = ct;
        mem->contacts_cap = cap;
        m->contacts = ct;
    }
    ct = &mem->contacts[m->n_contacts++];
    memset(ct, 0, sizeof(*ct));
    ct->uri = span_str(c, na->uri);
    if (sip_scan_param_find(na->params, "expires", &prm) &&
        sip_scan_u32(prm.value, UINT32_MAX, &ct->expires) == 0)
        ct->has_expires = true;
    if (sip_scan_param_find(na->params, "q", &prm))
        ct->has_q = parse_q(prm.value, &ct->q);
    return 0;
}

/* Every Contact entry; "*" only alone, in a REGISTER with Expires: 0
 * (RFC 3261 §10.3 step 6). */
static int read_contacts(struct fctx *c)
{
    const struct sip_fields_src *src = c->src;
    struct sip_msg *m = c->m;
    struct sip_naddr na;
    unsigned i, stars = 0;
    int rc;

    for (i = 0; i < src->n_hdrs; i++) {
        struct sip_span rest = src->hdrs[i].value;

        if (src->hdrs[i].id != SIP_HDR_CONTACT)
            continue;
        if (rest.len == 1 && rest.p[0] == '*') {
            stars++;
            continue;
        }
        do {
            if (sip_scan_naddr(rest, true, &na, &rest) < 0)
                return refuse(c, "Bad Contact");
            rc = add_contact(c, &na);
            if (rc < 0)
                return rc;
        } while (rest.len > 0);
    }
    m->contact_star = stars > 0;
    if (stars > 0 && (stars > 1 || m->n_contacts > 0 || m->method_id != SIP_METHOD_REGISTER ||
                      !m->has_expires || m->expires != 0))
        return refuse(c, "Bad Contact");
    /* Both parsers must see the same entries. */
    if ((size_t)osip_list_size(&m->osip->contacts) != m->n_contacts + stars)
        return refuse(c, "Bad Contact");
    return 0;
}

/* A copy without the quotes and backslashes of a quoted string. */
static const char *unquote(struct fctx *c, const char *s)
{
    size_t n, i, o = 0;
    char *d;

    if (s == NULL || s[0] != '"')
        return s;
    n = strlen(s);
    if (n < 2 || s[n - 1] != '"')
        return s;
    if (n == 2)
        return "";
    /* A copy starts with s[1], never NUL; "" means memory ran out. */
    d = (char *)sip_fields_str(c->mem, s + 1, n - 2);
    if (d[0] == '\0')
        return "";
    for (i = 0; i < n - 2; i++) {
        if (d[i] == '\\' && i + 1 < n - 2)
            i++;
        d[o++] = d[i];
    }
    d[o] = '\0';
    return d;
}

static void read_auth(struct fctx *c)
{
    osip_authorization_t *a = osip_list_get(&c->m->osip->authorizations, 0);
    struct sip_auth *o = &c->mem->auth;

    if (a == NULL)
        return;
    o->scheme = a->auth_type;
    o->username = unquote(c, a->username);
    o->realm = unquote(c, a->realm);
    o->nonce = unquote(c, a->nonce);
    o->uri = unquote(c, a->uri);
    o->response = unquote(c, a->response);
    o->algorithm = unquote(c, a->algorithm);
    o->qop = unquote(c, a->message_qop);
    o->nc = unquote(c, a->nonce_count);
    o->cnonce = unquote(c, a->cnonce);
    o->opaque = unquote(c, a->opaque);
    c->m->auth = o;
}

int sip_fields_read(struct sip_msg *m, const struct sip_fields_src *src, struct sip_fields_mem *mem,
                    struct sip_msg_err *err)
{
    struct fctx c = {m, src, mem, err};
    osip_message_t *om = m->osip;
    int rc;

    if (m->is_request && read_uri(&c, src->uri, om->req_uri, &m->ruri) < 0)
        return refuse(&c, "Bad Request-URI");
    rc = read_via(&c);
    if (rc == 0)
        rc = read_party(&c, SIP_HDR_FROM, om->from, &m->from, &m->from_tag);
    if (rc == 0)
        rc = read_party(&c, SIP_HDR_TO, om->to, &m->to, &m->to_tag);
    if (rc == 0)
        rc = read_call_id(&c);
    if (rc == 0)
        rc = read_cseq(&c);
    if (rc == 0)
        rc = read_numbers(&c);
    if (rc == 0 && m->is_request)
        rc = read_contacts(&c);
    if (rc < 0)
        return rc;
    read_auth(&c);
    if (src->count[SIP_HDR_USER_AGENT] > 0)
        m->user_agent = span_str(&c, value(&c, SIP_HDR_USER_AGENT));
    return mem->oom ? -ENOMEM : 0;
}
