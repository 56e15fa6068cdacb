#include "server/sip/sip_scan.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

/* token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~") */
static const unsigned char token_chars[256] = {
        ['-'] = 1,  ['.'] = 1, ['!'] = 1, ['%'] = 1, ['*'] = 1, ['_'] = 1, ['+'] = 1, ['`'] = 1,
        ['\''] = 1, ['~'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
        ['6'] = 1,  ['7'] = 1, ['8'] = 1, ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1,
        ['E'] = 1,  ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
        ['M'] = 1,  ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1,
        ['U'] = 1,  ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1,
        ['c'] = 1,  ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1,
        ['k'] = 1,  ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
        ['s'] = 1,  ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

bool sip_scan_is_token(unsigned char c)
{
    return token_chars[c] != 0;
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static const char *skip_lws(const char *p, const char *e)
{
    while (p < e && sip_scan_is_lws(*p))
        p++;
    return p;
}

static const char *skip_token(const char *p, const char *e)
{
    while (p < e && token_chars[(unsigned char)*p])
        p++;
    return p;
}

/* p is at '"'; return the closing quote, or NULL when unterminated. */
static const char *quoted_end(const char *p, const char *e)
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
static const char *find_top(const char *p, const char *e, char c, bool angle)
{
    bool in_angle = false;

    for (; p < e; p++) {
        if (*p == '"') {
            const char *q = quoted_end(p, e);

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

struct sip_span sip_scan_trim(struct sip_span s)
{
    while (s.len > 0 && sip_scan_is_lws(s.p[0])) {
        s.p++;
        s.len--;
    }
    while (s.len > 0 && sip_scan_is_lws(s.p[s.len - 1]))
        s.len--;
    return s;
}

bool sip_scan_ieq(struct sip_span s, const char *lit)
{
    size_t n = strlen(lit);

    return s.len == n && strncasecmp(s.p, lit, n) == 0;
}

int sip_scan_u32(struct sip_span s, uint32_t max, uint32_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (s.len == 0)
        return -EINVAL;
    for (i = 0; i < s.len; i++) {
        if (!is_digit(s.p[i]))
            return -EINVAL;
        v = v * 10 + (uint64_t)(s.p[i] - '0');
        if (v > max)
            return -EINVAL;
    }
    *out = (uint32_t)v;
    return 0;
}

int sip_scan_delta(struct sip_span s, uint32_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (s.len == 0)
        return -EINVAL;
    for (i = 0; i < s.len; i++) {
        if (!is_digit(s.p[i]))
            return -EINVAL;
        if (v <= UINT32_MAX)
            v = v * 10 + (uint64_t)(s.p[i] - '0');
    }
    *out = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
    return 0;
}

int sip_scan_start(struct sip_scan *s, const char *data, size_t len, struct sip_span *line)
{
    const char *p = data, *e = data + len, *lf;

    while (p < e && (*p == '\r' || *p == '\n'))
        p++;
    lf = memchr(p, '\n', (size_t)(e - p));
    if (p == e || lf == NULL)
        return -EPROTO;
    line->p = p;
    line->len = (size_t)(lf - p);
    if (line->len > 0 && lf[-1] == '\r')
        line->len--;
    s->p = lf + 1;
    s->end = e;
    s->body = NULL;
    return 0;
}

int sip_scan_next(struct sip_scan *s, struct sip_hdr *h)
{
    const char *p = s->p, *e = s->end, *q = p, *lf, *line_end, *colon;
    struct sip_span name;

    if (p >= e)
        return 0;
    if (*p == '\n' || (*p == '\r' && p + 1 < e && p[1] == '\n')) {
        s->body = p + (*p == '\n' ? 1 : 2);
        s->p = e;
        return 0;
    }
    memset(h, 0, sizeof(*h));
    for (;;) {
        size_t n;

        lf = memchr(q, '\n', (size_t)(e - q));
        n = (size_t)((lf != NULL ? lf : e) - q);
        if (lf != NULL && n > 0 && lf[-1] == '\r')
            n--;
        if (memchr(q, '\r', n) != NULL)
            h->bad = true;
        if (lf == NULL) {
            line_end = e;
            s->p = e;
            break;
        }
        if (lf + 1 < e && (lf[1] == ' ' || lf[1] == '\t')) {
            h->folded = true;
            q = lf + 1;
            continue;
        }
        line_end = lf;
        s->p = lf + 1;
        break;
    }
    if (line_end > p && line_end[-1] == '\r')
        line_end--;
    h->line_len = (size_t)(line_end - p);
    colon = memchr(p, ':', h->line_len);
    if (colon == NULL) {
        h->bad = true;
        h->name.p = p;
        h->name.len = h->line_len;
        return 1;
    }
    name.p = p;
    name.len = (size_t)(colon - p);
    while (name.len > 0 && (p[name.len - 1] == ' ' || p[name.len - 1] == '\t'))
        name.len--;
    if (name.len == 0 || skip_token(p, p + name.len) != p + name.len)
        h->bad = true;
    h->name = name;
    h->value.p = colon + 1;
    h->value.len = (size_t)(line_end - colon - 1);
    h->value = sip_scan_trim(h->value);
    h->id = h->bad ? SIP_HDR_OTHER : sip_scan_hdr_id(name);
    return 1;
}

/* Called once per header line: dispatch on length before comparing. */
enum sip_hdr_id sip_scan_hdr_id(struct sip_span name)
{
    const char *n = name.p;

    switch (name.len) {
    case 1:
        switch (n[0] | 0x20) {
        case 'v':
            return SIP_HDR_VIA;
        case 'f':
            return SIP_HDR_FROM;
        case 't':
            return SIP_HDR_TO;
        case 'i':
            return SIP_HDR_CALL_ID;
        case 'm':
            return SIP_HDR_CONTACT;
        case 'l':
            return SIP_HDR_CONTENT_LENGTH;
        case 'c':
            return SIP_HDR_CONTENT_TYPE;
        }
        break;
    case 2:
        if (strncasecmp(n, "to", 2) == 0)
            return SIP_HDR_TO;
        break;
    case 3:
        if (strncasecmp(n, "via", 3) == 0)
            return SIP_HDR_VIA;
        break;
    case 4:
        if (strncasecmp(n, "from", 4) == 0)
            return SIP_HDR_FROM;
        if (strncasecmp(n, "cseq", 4) == 0)
            return SIP_HDR_CSEQ;
        break;
    case 7:
        if (strncasecmp(n, "call-id", 7) == 0)
            return SIP_HDR_CALL_ID;
        if (strncasecmp(n, "contact", 7) == 0)
            return SIP_HDR_CONTACT;
        if (strncasecmp(n, "expires", 7) == 0)
            return SIP_HDR_EXPIRES;
        break;
    case 10:
        if (strncasecmp(n, "user-agent", 10) == 0)
            return SIP_HDR_USER_AGENT;
        break;
    case 12:
        if (strncasecmp(n, "max-forwards", 12) == 0)
            return SIP_HDR_MAX_FORWARDS;
        if (strncasecmp(n, "content-type", 12) == 0)
            return SIP_HDR_CONTENT_TYPE;
        break;
    case 13:
        if (strncasecmp(n, "authorization", 13) == 0)
            return SIP_HDR_AUTHORIZATION;
        break;
    case 14:
        if (strncasecmp(n, "content-length", 14) == 0)
            return SIP_HDR_CONTENT_LENGTH;
        break;
    }
    return SIP_HDR_OTHER;
}

/* RFC 3261 §7.3.3 and the compact forms registered since, by letter. */
static const char *const compact_names[26] = {
        ['a' - 'a'] = "Accept-Contact",
        ['b' - 'a'] = "Referred-By",
        ['c' - 'a'] = "Content-Type",
        ['d' - 'a'] = "Request-Disposition",
        ['e' - 'a'] = "Content-Encoding",
        ['f' - 'a'] = "From",
        ['i' - 'a'] = "Call-ID",
        ['j' - 'a'] = "Reject-Contact",
        ['k' - 'a'] = "Supported",
        ['l' - 'a'] = "Content-Length",
        ['m' - 'a'] = "Contact",
        ['n' - 'a'] = "Identity-Info",
        ['o' - 'a'] = "Event",
        ['r' - 'a'] = "Refer-To",
        ['s' - 'a'] = "Subject",
        ['t' - 'a'] = "To",
        ['u' - 'a'] = "Allow-Events",
        ['v' - 'a'] = "Via",
        ['x' - 'a'] = "Session-Expires",
        ['y' - 'a'] = "Identity",
};

const char *sip_scan_long_name(const char *name, size_t *len)
{
    if (*len == 1 && is_alpha(name[0])) {
        const char *l = compact_names[(name[0] | 0x20) - 'a'];

        if (l != NULL) {
            *len = strlen(l);
            return l;
        }
    }
    return name;
}

/* A parameter value: token chars plus what hosts need (':' '[' ']'). */
static const char *skip_value(const char *p, const char *e)
{
    while (p < e && (token_chars[(unsigned char)*p] || *p == ':' || *p == '[' || *p == ']'))
        p++;
    return p;
}

int sip_scan_param_next(struct sip_span *cur, struct sip_param *prm)
{
    const char *p, *e, *start, *v;

    if (cur->len == 0)
        return 0;
    p = skip_lws(cur->p, cur->p + cur->len);
    e = cur->p + cur->len;
    if (p == e) {
        cur->p = e;
        cur->len = 0;
        return 0;
    }
    if (*p != ';')
        return -EPROTO;
    p = skip_lws(p + 1, e);
    start = p;
    p = skip_token(p, e);
    if (p == start)
        return -EPROTO;
    memset(prm, 0, sizeof(*prm));
    prm->name.p = start;
    prm->name.len = (size_t)(p - start);
    p = skip_lws(p, e);
    if (p < e && *p == '=') {
        p = skip_lws(p + 1, e);
        v = p;
        if (p < e && *p == '"') {
            const char *q = quoted_end(p, e);

            if (q == NULL)
                return -EPROTO;
            p = q + 1;
        } else {
            p = skip_value(p, e);
        }
        if (p == v)
            return -EPROTO;
        prm->value.p = v;
        prm->value.len = (size_t)(p - v);
        prm->has_value = true;
    }
    prm->text.p = start;
    prm->text.len = (size_t)(p - start);
    p = skip_lws(p, e);
    if (p < e && *p != ';')
        return -EPROTO;
    cur->p = p;
    cur->len = (size_t)(e - p);
    return 1;
}

bool sip_scan_param_find(struct sip_span params, const char *name, struct sip_param *prm)
{
    while (sip_scan_param_next(&params, prm) == 1) {
        if (sip_scan_ieq(prm->name, name))
            return true;
    }
    return false;
}

bool sip_scan_uri_ok(struct sip_span u)
{
    const char *p = u.p, *e, *colon;

    if (u.len < 3 || !is_alpha(*p))
        return false;
    e = u.p + u.len;
    for (colon = p + 1; colon < e && *colon != ':'; colon++) {
        if (!is_alpha(*colon) && !is_digit(*colon) && *colon != '+' && *colon != '-' &&
            *colon != '.')
            return false;
    }
    if (colon + 1 >= e)
        return false;
    for (; p < e; p++) {
        if (sip_scan_is_lws(*p) || *p == '<' || *p == '>' || *p == '"')
            return false;
    }
    return true;
}

/* Check every parameter of a list. */
static int params_ok(struct sip_span params)
{
    struct sip_param prm;
    int rc;

    while ((rc = sip_scan_param_next(&params, &prm)) == 1)
        ;
    return rc;
}

/* Display name and '<' of a name-addr; *p ends at the URI's first char (or
 * the addr-spec). Returns 1 for name-addr, 0 for addr-spec, -EPROTO. */
static int naddr_display(const char **pp, const char *e, struct sip_naddr *na)
{
    const char *p = *pp, *t;

    if (*p == '"') {
        t = quoted_end(p, e);
        if (t == NULL)
            return -EPROTO;
        na->display.p = p;
        na->display.len = (size_t)(t + 1 - p);
        p = skip_lws(t + 1, e);
        if (p == e || *p != '<')
            return -EPROTO;
        *pp = p + 1;
        return 1;
    }
    for (t = p; t < e && (token_chars[(unsigned char)*t] || sip_scan_is_lws(*t)); t++)
        ;
    if (t == e || *t != '<')
        return 0;
    na->display = sip_scan_trim((struct sip_span){p, (size_t)(t - p)});
    *pp = t + 1;
    return 1;
}

int sip_scan_naddr(struct sip_span v, bool list, struct sip_naddr *na, struct sip_span *rest)
{
    const char *p, *e, *u, *end;
    int rc;

    memset(na, 0, sizeof(*na));
    if (v.len == 0)
        return -EPROTO;
    e = v.p + v.len;
    p = skip_lws(v.p, e);
    if (p == e)
        return -EPROTO;
    rc = naddr_display(&p, e, na);
    if (rc < 0)
        return rc;
    u = p;
    if (rc == 1) {
        const char *gt = memchr(p, '>', (size_t)(e - p));

        if (gt == NULL)
            return -EPROTO;
        na->bracketed = true;
        p = gt + 1;
        na->uri.p = u;
        na->uri.len = (size_t)(gt - u);
    } else {
        /* §20: a URI holding ',' ';' or '?' must be in <>; here they end it. */
        while (p < e && *p != ';' && *p != ',' && !sip_scan_is_lws(*p)) {
            if (*p == '?')
                return -EPROTO;
            p++;
        }
        na->uri.p = u;
        na->uri.len = (size_t)(p - u);
    }
    if (!sip_scan_uri_ok(na->uri))
        return -EPROTO;
    p = skip_lws(p, e);
    end = list ? find_top(p, e, ',', false) : e;
    if (p < end) {
        na->params = sip_scan_trim((struct sip_span){p, (size_t)(end - p)});
        if (params_ok(na->params) < 0)
            return -EPROTO;
    }
    if (rest != NULL) {
        rest->p = end < e ? end + 1 : e;
        rest->len = (size_t)(e - rest->p);
        /* A ',' promises another entry. */
        if (end < e && skip_lws(rest->p, e) == e)
            return -EPROTO;
    }
    return 0;
}

/* sent-by host: "[v6]" or a name / IPv4 address. */
static int via_host(const char **pp, const char *e, struct sip_via_elem *ve)
{
    const char *p = *pp, *h;

    if (p < e && *p == '[') {
        h = ++p;
        while (p < e && (is_digit(*p) || is_alpha(*p) || *p == ':' || *p == '.'))
            p++;
        if (p == e || *p != ']' || p == h)
            return -EPROTO;
        ve->host_v6 = true;
        ve->host.p = h;
        ve->host.len = (size_t)(p - h);
        *pp = p + 1;
        return 0;
    }
    h = p;
    while (p < e && (is_digit(*p) || is_alpha(*p) || *p == '-' || *p == '.' || *p == '_'))
        p++;
    if (p == h)
        return -EPROTO;
    ve->host.p = h;
    ve->host.len = (size_t)(p - h);
    *pp = p;
    return 0;
}

/* sent-protocol = protocol-name SLASH protocol-version SLASH transport */
static int via_protocol(const char **pp, const char *e, struct sip_via_elem *ve)
{
    const char *p = *pp, *t;

    t = p;
    p = skip_token(p, e);
    if (!sip_scan_ieq((struct sip_span){t, (size_t)(p - t)}, "SIP"))
        return -EPROTO;
    p = skip_lws(p, e);
    if (p == e || *p != '/')
        return -EPROTO;
    p = skip_lws(p + 1, e);
    t = p;
    p = skip_token(p, e);
    ve->version.p = t;
    ve->version.len = (size_t)(p - t);
    p = skip_lws(p, e);
    if (ve->version.len == 0 || p == e || *p != '/')
        return -EPROTO;
    p = skip_lws(p + 1, e);
    t = p;
    p = skip_token(p, e);
    ve->transport.p = t;
    ve->transport.len = (size_t)(p - t);
    if (ve->transport.len == 0 || p == e || !sip_scan_is_lws(*p))
        return -EPROTO;
    *pp = skip_lws(p, e);
    return 0;
}

int sip_scan_via(struct sip_span v, bool strict, struct sip_via_elem *ve, struct sip_span *rest)
{
    const char *p, *e, *start, *end;
    uint32_t port;

    memset(ve, 0, sizeof(*ve));
    if (v.len == 0)
        return -EPROTO;
    e = v.p + v.len;
    p = start = skip_lws(v.p, e);
    if (via_protocol(&p, e, ve) < 0 || via_host(&p, e, ve) < 0)
        return -EPROTO;
    if (strict && !sip_scan_ieq(ve->version, "2.0"))
        return -EPROTO;
    p = skip_lws(p, e);
    if (p < e && *p == ':') {
        const char *d;

        p = d = skip_lws(p + 1, e);
        while (p < e && is_digit(*p))
            p++;
        if (sip_scan_u32((struct sip_span){d, (size_t)(p - d)}, 65535, &port) < 0 || port == 0)
            return -EPROTO;
        ve->port = (uint16_t)port;
        p = skip_lws(p, e);
    }
    end = find_top(p, e, ',', false);
    if (p < end) {
        if (*p != ';')
            return -EPROTO;
        ve->params = sip_scan_trim((struct sip_span){p, (size_t)(end - p)});
        if (strict && params_ok(ve->params) < 0)
            return -EPROTO;
    }
    ve->elem = sip_scan_trim((struct sip_span){start, (size_t)(end - start)});
    if (rest != NULL) {
        rest->p = end < e ? end + 1 : e;
        rest->len = (size_t)(e - rest->p);
    }
    return 0;
}
