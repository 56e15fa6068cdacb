#include "server/sip/sip_uri.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

/* Character classes of RFC 3261 §25.1, one bit each. */
enum {
    C_UNRESERVED = 1, /* alphanum / "-" / "_" / "." / "!" / "~" / "*" / "'" / "(" / ")" */
    C_USER = 2,       /* user-unreserved: "&" / "=" / "+" / "$" / "," / ";" / "?" / "/" */
    C_PASSWORD = 4,   /* "&" / "=" / "+" / "$" / "," */
    C_PARAM = 8,      /* param-unreserved: "[" / "]" / "/" / ":" / "&" / "+" / "$" */
    C_HEADER = 16,    /* hnv-unreserved: "[" / "]" / "/" / "?" / ":" / "+" / "$" */
    C_HOST = 32,      /* hostname: alphanum / "-" / "." (and "_", see host_name()) */
    C_HEX = 64,
    C_TEL = 128, /* tel number: HEXDIG / "*" / "#" / "+" / "-" / "." / "(" / ")" */
};

static unsigned char cls[256];
static pthread_once_t cls_once = PTHREAD_ONCE_INIT;

/* Fills cls once per process (pthread_once: any thread may parse). */
static void init_classes(void)
{
    static const char mark[] = "-_.!~*'()";
    static const char user[] = "&=+$,;?/";
    static const char pass[] = "&=+$,";
    static const char param[] = "[]/:&+$";
    static const char header[] = "[]/?:+$";
    static const char tel[] = "*#+-.()";
    unsigned c;

    for (c = 0; c < 256; c++) {
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        bool digit = c >= '0' && c <= '9';
        bool hex = digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        unsigned char v = 0;

        if (c != 0 && (alpha || digit || strchr(mark, (int)c) != NULL))
            v |= C_UNRESERVED;
        if (c != 0 && (alpha || digit || c == '-' || c == '.'))
            v |= C_HOST;
        if (hex)
            v |= C_HEX;
        if (c != 0 && (hex || strchr(tel, (int)c) != NULL))
            v |= C_TEL;
        if (c != 0 && strchr(user, (int)c) != NULL)
            v |= C_USER;
        if (c != 0 && strchr(pass, (int)c) != NULL)
            v |= C_PASSWORD;
        if (c != 0 && strchr(param, (int)c) != NULL)
            v |= C_PARAM;
        if (c != 0 && strchr(header, (int)c) != NULL)
            v |= C_HEADER;
        cls[c] = v;
    }
}

static bool is(char c, unsigned mask)
{
    return (cls[(unsigned char)c] & mask) != 0;
}

/* Skip characters of mask (C_UNRESERVED always included) and %HH escapes
 * from p. Returns where they end, or NULL at a bad escape. */
static const char *skip_escaped(const char *p, const char *e, unsigned mask)
{
    while (p < e) {
        if (*p == '%') {
            if (e - p < 3 || !is(p[1], C_HEX) || !is(p[2], C_HEX))
                return NULL;
            p += 3;
        } else if (is(*p, mask | C_UNRESERVED)) {
            p++;
        } else {
            break;
        }
    }
    return p;
}

/* A run of mask characters exactly filling [p, e), at least min long. */
static bool all_of(const char *p, const char *e, unsigned mask, size_t min)
{
    const char *q = skip_escaped(p, e, mask);

    return q == e && (size_t)(e - p) >= min;
}

/* userinfo = user [ ":" password ] "@" */
static int userinfo(const char *p, const char *at, struct sip_uri_parts *out)
{
    const char *colon = memchr(p, ':', (size_t)(at - p));
    const char *ue = colon != NULL ? colon : at;

    if (!all_of(p, ue, C_USER, 1))
        return -EPROTO;
    out->user = (struct sip_span){p, (size_t)(ue - p)};
    out->has_user = true;
    if (colon != NULL) {
        /* RFC 3261 lets a password be empty; no UA sends "user:@host",
         * and libosip2 refuses it: so do we. */
        if (!all_of(colon + 1, at, C_PASSWORD, 1))
            return -EPROTO;
        out->password = (struct sip_span){colon + 1, (size_t)(at - colon - 1)};
        out->has_password = true;
    }
    return 0;
}

/* host = hostname / IPv4address / IPv6reference. Underscores are let in
 * names, as the Via reader does: container and lab hosts use them. */
static const char *host_name(const char *p, const char *e, struct sip_uri_parts *out)
{
    const char *h = p;

    if (p < e && *p == '[') {
        for (h = ++p; p < e && (is(*p, C_HEX) || *p == ':' || *p == '.'); p++)
            ;
        if (p == h || p == e || *p != ']' || memchr(h, ':', (size_t)(p - h)) == NULL)
            return NULL;
        out->host = (struct sip_span){h, (size_t)(p - h)};
        out->host_v6 = true;
        return p + 1;
    }
    while (p < e && (is(*p, C_HOST) || *p == '_'))
        p++;
    if (p == h || *h == '.' || *h == '-')
        return NULL;
    out->host = (struct sip_span){h, (size_t)(p - h)};
    return p;
}

static const char *port(const char *p, const char *e, struct sip_uri_parts *out)
{
    uint32_t v;
    const char *d = p;

    while (p < e && *p >= '0' && *p <= '9')
        p++;
    if (sip_scan_u32((struct sip_span){d, (size_t)(p - d)}, 65535, &v) < 0)
        return NULL;
    out->port = (uint16_t)v;
    return p;
}

/* uri-parameters = *( ";" pname [ "=" pvalue ] ), up to '?' or e. */
static const char *uri_params(const char *p, const char *e)
{
    const char *q;

    while (p < e && *p == ';') {
        q = skip_escaped(p + 1, e, C_PARAM);
        if (q == NULL || q == p + 1)
            return NULL;
        if (q < e && *q == '=') {
            p = q + 1;
            q = skip_escaped(p, e, C_PARAM);
            if (q == NULL || q == p)
                return NULL;
        }
        p = q;
    }
    return p;
}

/* headers = "?" header *( "&" header ); header = hname "=" hvalue */
static bool uri_headers(const char *p, const char *e)
{
    const char *q;

    do {
        q = skip_escaped(p + 1, e, C_HEADER);
        if (q == NULL || q == p + 1 || q == e || *q != '=')
            return false;
        p = skip_escaped(q + 1, e, C_HEADER);
        if (p == NULL)
            return false;
    } while (p < e && *p == '&');
    return p == e;
}

static int sip_part(const char *p, const char *e, struct sip_uri_parts *out)
{
    const char *at = memchr(p, '@', (size_t)(e - p)), *q;

    if (at != NULL) {
        if (userinfo(p, at, out) < 0)
            return -EPROTO;
        p = at + 1;
    }
    p = host_name(p, e, out);
    if (p != NULL && p < e && *p == ':')
        p = port(p + 1, e, out);
    if (p == NULL)
        return -EPROTO;
    q = uri_params(p, e);
    if (q == NULL)
        return -EPROTO;
    out->params = (struct sip_span){p, (size_t)(q - p)};
    if (q == e)
        return 0;
    if (*q != '?' || !uri_headers(q, e))
        return -EPROTO;
    out->headers = (struct sip_span){q + 1, (size_t)(e - q - 1)};
    return 0;
}

/* telephone-subscriber, loosely (RFC 3966 §3): phone digits, then
 * parameters with the SIP URI's parameter characters. */
static int tel_part(const char *p, const char *e, struct sip_uri_parts *out)
{
    const char *n = p, *q;

    while (p < e && is(*p, C_TEL))
        p++;
    if (p == n)
        return -EPROTO;
    out->user = (struct sip_span){n, (size_t)(p - n)};
    out->has_user = true;
    q = uri_params(p, e);
    if (q != e)
        return -EPROTO;
    out->params = (struct sip_span){p, (size_t)(e - p)};
    return 0;
}

int sip_uri_parse(struct sip_span u, struct sip_uri_parts *out)
{
    const char *colon, *e = u.p + u.len;

    pthread_once(&cls_once, init_classes);
    memset(out, 0, sizeof(*out));
    if (!sip_scan_uri_ok(u))
        return -EPROTO;
    colon = memchr(u.p, ':', u.len);
    out->scheme = (struct sip_span){u.p, (size_t)(colon - u.p)};
    if (sip_scan_ieq(out->scheme, "sip"))
        out->kind = SIP_URI_SIP;
    else if (sip_scan_ieq(out->scheme, "sips"))
        out->kind = SIP_URI_SIPS;
    else if (sip_scan_ieq(out->scheme, "tel"))
        out->kind = SIP_URI_TEL;
    else
        return 0;
    if (out->kind == SIP_URI_TEL)
        return tel_part(colon + 1, e, out);
    return sip_part(colon + 1, e, out);
}

bool sip_uri_has_escaped_nul(struct sip_span s)
{
    size_t i;

    for (i = 0; i + 2 < s.len; i++) {
        if (s.p[i] == '%' && s.p[i + 1] == '0' && s.p[i + 2] == '0')
            return true;
    }
    return false;
}

static unsigned hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return (unsigned)(c - '0');
    return (unsigned)((c | 0x20) - 'a' + 10);
}

size_t sip_uri_unescape(struct sip_span s, char *dst)
{
    size_t i, n = 0;

    pthread_once(&cls_once, init_classes);
    for (i = 0; i < s.len; i++) {
        if (s.p[i] == '%' && i + 2 < s.len && is(s.p[i + 1], C_HEX) && is(s.p[i + 2], C_HEX)) {
            dst[n++] = (char)(hex_val(s.p[i + 1]) << 4 | hex_val(s.p[i + 2]));
            i += 2;
        } else {
            dst[n++] = s.p[i];
        }
    }
    return n;
}
