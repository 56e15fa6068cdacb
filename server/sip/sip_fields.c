#include "server/sip/sip_fields.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/sip/sip_auth.h"
#include "server/sip/sip_uri.h"

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
    if (p != NULL)
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
    free(mem->digest);
    mem->digest = NULL;
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

/* A URI's user part unescaped, unless it holds %00: then as received, so
 * "1001%00x" never reads as "1001". tel numbers stay as received. */
static const char *user_str(struct fctx *c, const struct sip_uri_parts *u)
{
    char *s;

    if (u->kind == SIP_URI_TEL || memchr(u->user.p, '%', u->user.len) == NULL ||
        sip_uri_has_escaped_nul(u->user))
        return span_str(c, u->user);
    /* A copy of a non-empty span starts with a byte of it; "" means no
     * memory (mem->oom is set). */
    s = (char *)span_str(c, u->user);
    if (s[0] != '\0')
        s[sip_uri_unescape((struct sip_span){s, u->user.len}, s)] = '\0';
    return s;
}

/* A sip_uri from the raw text, checked by sip_uri. */
static int read_uri(struct fctx *c, struct sip_span raw, struct sip_uri *out)
{
    struct sip_uri_parts u;

    out->raw = span_str(c, raw);
    if (sip_uri_parse(raw, &u) < 0)
        return -EPROTO;
    out->scheme = span_str(c, u.scheme);
    if (u.kind == SIP_URI_SIP || u.kind == SIP_URI_SIPS)
        out->host = span_str(c, u.host);
    if (u.has_user)
        out->user = user_str(c, &u);
    out->port = u.port;
    return 0;
}

/* Every element of every Via header, checked strictly and counted. */
static int count_vias(struct fctx *c)
{
    const struct sip_fields_src *src = c->src;
    struct sip_via_elem ve;
    struct sip_span rest;
    unsigned i, n = 0;

    for (i = 0; i < src->n_hdrs; i++) {
        if (src->hdrs[i].id != SIP_HDR_VIA)
            continue;
        rest = src->hdrs[i].value;
        do {
            if (sip_scan_via(rest, true, &ve, &rest) < 0)
                return -EPROTO;
            n++;
        } while (rest.len > 0);
    }
    c->m->n_vias = n;
    return 0;
}

static int read_via(struct fctx *c)
{
    struct sip_msg *m = c->m;
    struct sip_via_elem ve;
    struct sip_param prm;

    if (sip_scan_via(value(c, SIP_HDR_VIA), true, &ve, NULL) < 0 || count_vias(c) < 0)
        return refuse(c, "Bad Via");
    m->via.transport = span_str(c, ve.transport);
    m->via.host = span_str(c, ve.host);
    m->via.port = ve.port;
    if (sip_scan_param_find(ve.params, "branch", &prm))
        m->via.branch = span_str(c, prm.value);
    m->via.has_rport = sip_scan_param_find(ve.params, "rport", &prm);
    return 0;
}

/* From or To: the name-addr, its URI, the tag. */
static int read_party(struct fctx *c, enum sip_hdr_id id, struct sip_uri *uri, const char **tag)
{
    const char *bad = id == SIP_HDR_FROM ? "Bad From" : "Bad To";
    struct sip_naddr na;
    struct sip_param prm;

    if (sip_scan_naddr(value(c, id), false, &na, NULL) < 0 || read_uri(c, na.uri, uri) < 0)
        return refuse(c, bad);
    if (sip_scan_param_find(na.params, "tag", &prm)) {
        if (!prm.has_value)
            return refuse(c, bad);
        *tag = span_str(c, prm.value);
    }
    return 0;
}

/* Call-ID = word [ "@" word ] (RFC 3261 §25.1): visible characters, at
 * most one '@', with a word on each side. */
static int read_call_id(struct fctx *c)
{
    struct sip_span v = value(c, SIP_HDR_CALL_ID);
    const char *at = memchr(v.p, '@', v.len);
    size_t i;

    if (v.len == 0 || at == v.p || (at != NULL && at == v.p + v.len - 1))
        return refuse(c, "Bad Call-ID");
    for (i = 0; i < v.len; i++) {
        if ((unsigned char)v.p[i] <= 0x20 || (unsigned char)v.p[i] >= 0x7f ||
            (v.p[i] == '@' && v.p + i != at))
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
        if (sip_scan_delta(value(c, SIP_HDR_EXPIRES), &m->expires) < 0)
            return refuse(c, "Bad Expires");
        m->has_expires = true;
    }
    return 0;
}

/* Content-Type = m-type "/" m-subtype *( ";" m-parameter ), the
 * parameters with values (RFC 3261 §20.15). */
static int read_content_type(struct fctx *c)
{
    struct sip_span v = value(c, SIP_HDR_CONTENT_TYPE), params;
    struct sip_param prm;
    size_t i = 0, t;
    int rc;

    if (c->src->count[SIP_HDR_CONTENT_TYPE] == 0)
        return 0;
    for (t = 0; t < 2; t++) {
        size_t start = i;

        while (i < v.len && sip_scan_is_token((unsigned char)v.p[i]))
            i++;
        if (i == start)
            return refuse(c, "Bad Header");
        while (i < v.len && sip_scan_is_lws(v.p[i]))
            i++;
        if (t == 0 && (i == v.len || v.p[i++] != '/'))
            return refuse(c, "Bad Header");
        while (t == 0 && i < v.len && sip_scan_is_lws(v.p[i]))
            i++;
    }
    params = (struct sip_span){v.p + i, v.len - i};
    while ((rc = sip_scan_param_next(&params, &prm)) == 1) {
        if (!prm.has_value)
            return refuse(c, "Bad Header");
    }
    return rc < 0 ? refuse(c, "Bad Header") : 0;
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

/* The parameters of a Contact entry but expires, rebuilt as
 * ";name[=value]" each (so no LWS, folded or not, reaches an answer that
 * echoes them). A quoted value holding CR or LF is refused: it could only
 * come from a folded line. Returns 0 with *out set ("" when none), -EPROTO
 * or -ENOMEM. */
static int contact_params(struct sip_fields_mem *mem, struct sip_span params, const char **out)
{
    struct sip_span cur = params;
    struct sip_param prm;
    size_t len = 0;
    char *buf, *w;
    int rc;

    *out = "";
    while ((rc = sip_scan_param_next(&cur, &prm)) == 1) {
        if (sip_scan_ieq(prm.name, "expires"))
            continue;
        if (prm.has_value && (memchr(prm.value.p, '\r', prm.value.len) != NULL ||
                              memchr(prm.value.p, '\n', prm.value.len) != NULL))
            return -EPROTO;
        len += 1 + prm.name.len + (prm.has_value ? 1 + prm.value.len : 0);
    }
    if (rc < 0)
        return -EPROTO;
    if (len == 0)
        return 0;
    buf = (char *)sip_fields_str(mem, NULL, len);
    if (mem->oom)
        return -ENOMEM;
    w = buf;
    cur = params;
    while (sip_scan_param_next(&cur, &prm) == 1) {
        if (sip_scan_ieq(prm.name, "expires"))
            continue;
        *w++ = ';';
        memcpy(w, prm.name.p, prm.name.len);
        w += prm.name.len;
        if (prm.has_value) {
            *w++ = '=';
            memcpy(w, prm.value.p, prm.value.len);
            w += prm.value.len;
        }
    }
    *w = '\0';
    *out = buf;
    return 0;
}

static int add_contact(struct sip_fields_mem *mem, struct sip_contacts *out,
                       const struct sip_naddr *na)
{
    int rc;

    struct sip_contact *ct;
    struct sip_param prm;

    if (out->n == mem->contacts_cap) {
        size_t cap = mem->contacts_cap ? mem->contacts_cap * 2 : 4;

        ct = realloc(mem->contacts, cap * sizeof(*ct));
        if (ct == NULL)
            return -ENOMEM;
        mem->contacts = ct;
        mem->contacts_cap = cap;
        out->v = ct;
    }
    ct = &mem->contacts[out->n++];
    memset(ct, 0, sizeof(*ct));
    ct->uri = sip_fields_str(mem, na->uri.p, na->uri.len);
    /* The same rule as the Expires header: malformed is refused (RFC 3261
     * §20.10 would take it as 3600, which registers what was not asked). */
    if (sip_scan_param_find(na->params, "expires", &prm)) {
        if (sip_scan_delta(prm.value, &ct->expires) < 0)
            return -EDOM;
        ct->has_expires = true;
    }
    if (sip_scan_param_find(na->params, "q", &prm))
        ct->has_q = parse_q(prm.value, &ct->q);
    rc = contact_params(mem, na->params, &ct->params);
    return rc;
}

/* The entries of one Contact header value (not "*"). */
static int contact_list(struct sip_span rest, struct sip_fields_mem *mem, struct sip_contacts *out)
{
    struct sip_uri_parts u;
    struct sip_naddr na;
    int rc;

    do {
        if (sip_scan_naddr(rest, true, &na, &rest) < 0 || sip_uri_parse(na.uri, &u) < 0)
            return -EPROTO;
        rc = add_contact(mem, out, &na);
        if (rc < 0)
            return rc;
    } while (rest.len > 0);
    return 0;
}

/* Every Contact entry; "*" only alone, in a REGISTER with Expires: 0
 * (RFC 3261 §10.3 step 6). */
int sip_fields_contacts(const struct sip_msg *m, const struct sip_fields_src *src,
                        struct sip_fields_mem *mem, struct sip_contacts *out)
{
    unsigned i, stars = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    for (i = 0; i < src->n_hdrs; i++) {
        struct sip_span v = src->hdrs[i].value;

        if (src->hdrs[i].id != SIP_HDR_CONTACT)
            continue;
        if (v.len == 1 && v.p[0] == '*') {
            stars++;
            continue;
        }
        rc = contact_list(v, mem, out);
        if (rc < 0)
            return rc;
    }
    out->star = stars > 0;
    if (stars > 0 && (stars > 1 || out->n > 0 || m->method_id != SIP_METHOD_REGISTER ||
                      !m->has_expires || m->expires != 0))
        return -EPROTO;
    return mem->oom ? -ENOMEM : 0;
}

int sip_fields_auth(const struct sip_fields_src *src, struct sip_fields_mem *mem,
                    struct sip_auth *out)
{
    struct sip_span v;
    size_t skip, n;
    int rc;

    memset(out, 0, sizeof(*out));
    if (src->count[SIP_HDR_AUTHORIZATION] == 0)
        return 0;
    v = src->hdrs[src->first[SIP_HDR_AUTHORIZATION]].value;
    n = sip_auth_scheme(v.p, v.len, &skip);
    if (n == 0)
        return -EPROTO;
    out->scheme = sip_fields_str(mem, v.p + skip, n);
    if (mem->oom)
        return -ENOMEM;
    /* Another scheme is the registrar's to answer (401): its name is
     * enough (RFC 4475 §3.3.11). */
    if (n != 6 || strncasecmp(out->scheme, "Digest", 6) != 0)
        return 0;
    mem->digest = malloc(sizeof(*mem->digest));
    if (mem->digest == NULL)
        return -ENOMEM;
    rc = sip_auth_parse_digest(v.p, v.len, mem->digest);
    if (rc < 0)
        return -EPROTO;
    out->digest = &mem->digest->params;
    return 0;
}

int sip_fields_read(struct sip_msg *m, const struct sip_fields_src *src, struct sip_fields_mem *mem,
                    struct sip_msg_err *err)
{
    struct fctx c = {m, src, mem, err};
    int rc;

    if (m->is_request && read_uri(&c, src->uri, &m->ruri) < 0)
        return refuse(&c, "Bad Request-URI");
    rc = read_via(&c);
    if (rc == 0)
        rc = read_party(&c, SIP_HDR_FROM, &m->from, &m->from_tag);
    if (rc == 0)
        rc = read_party(&c, SIP_HDR_TO, &m->to, &m->to_tag);
    if (rc == 0)
        rc = read_call_id(&c);
    if (rc == 0)
        rc = read_cseq(&c);
    if (rc == 0)
        rc = read_numbers(&c);
    if (rc == 0)
        rc = read_content_type(&c);
    if (rc < 0)
        return rc;
    if (src->count[SIP_HDR_USER_AGENT] > 0)
        m->user_agent = span_str(&c, value(&c, SIP_HDR_USER_AGENT));
    return mem->oom ? -ENOMEM : 0;
}
