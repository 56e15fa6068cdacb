/* sip_scan_via: the top element of a Via value (RFC 3261 §20.42):
 * sent-protocol, sent-by and parameters. */
#include <errno.h>
#include <string.h>

#include "server/sip/sip_scan.h"
#include "server/sip/sip_scan_int.h"

/* sent-by host: "[v6]" or a name / IPv4 address. */
static int via_host(const char **pp, const char *e, struct sip_via_elem *ve)
{
    const char *p = *pp, *h;

    if (p < e && *p == '[') {
        h = ++p;
        while (p < e &&
               (sip_scan__is_digit(*p) || sip_scan__is_alpha(*p) || *p == ':' || *p == '.'))
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
    while (p < e && (sip_scan__is_digit(*p) || sip_scan__is_alpha(*p) || *p == '-' || *p == '.' ||
                     *p == '_'))
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
    p = sip_scan__skip_token(p, e);
    if (!sip_scan_ieq((struct sip_span){t, (size_t)(p - t)}, "SIP"))
        return -EPROTO;
    p = sip_scan__skip_lws(p, e);
    if (p == e || *p != '/')
        return -EPROTO;
    p = sip_scan__skip_lws(p + 1, e);
    t = p;
    p = sip_scan__skip_token(p, e);
    ve->version.p = t;
    ve->version.len = (size_t)(p - t);
    p = sip_scan__skip_lws(p, e);
    if (ve->version.len == 0 || p == e || *p != '/')
        return -EPROTO;
    p = sip_scan__skip_lws(p + 1, e);
    t = p;
    p = sip_scan__skip_token(p, e);
    ve->transport.p = t;
    ve->transport.len = (size_t)(p - t);
    if (ve->transport.len == 0 || p == e || !sip_scan_is_lws(*p))
        return -EPROTO;
    *pp = sip_scan__skip_lws(p, e);
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
    p = start = sip_scan__skip_lws(v.p, e);
    if (via_protocol(&p, e, ve) < 0 || via_host(&p, e, ve) < 0)
        return -EPROTO;
    if (strict && !sip_scan_ieq(ve->version, "2.0"))
        return -EPROTO;
    p = sip_scan__skip_lws(p, e);
    if (p < e && *p == ':') {
        const char *d;

        p = d = sip_scan__skip_lws(p + 1, e);
        while (p < e && sip_scan__is_digit(*p))
            p++;
        if (sip_scan_u32((struct sip_span){d, (size_t)(p - d)}, 65535, &port) < 0 || port == 0)
            return -EPROTO;
        ve->port = (uint16_t)port;
        p = sip_scan__skip_lws(p, e);
    }
    end = sip_scan__find_top(p, e, ',', false);
    if (p < end) {
        if (*p != ';')
            return -EPROTO;
        ve->params = sip_scan_trim((struct sip_span){p, (size_t)(end - p)});
        if (strict && sip_scan__params_ok(ve->params) < 0)
            return -EPROTO;
    }
    ve->elem = sip_scan_trim((struct sip_span){start, (size_t)(end - start)});
    if (rest != NULL) {
        rest->p = end < e ? end + 1 : e;
        rest->len = (size_t)(e - rest->p);
    }
    return 0;
}
