/* sip_scan_naddr: name-addr and addr-spec (RFC 3261 §20.10), as in From,
 * To and Contact, and the check that a URI looks absolute. */
#include <errno.h>
#include <string.h>

#include "server/sip/sip_scan.h"
#include "server/sip/sip_scan_int.h"

bool sip_scan_uri_ok(struct sip_span u)
{
    const char *p = u.p, *e, *colon;

    if (u.len < 3 || !sip_scan__is_alpha(*p))
        return false;
    e = u.p + u.len;
    for (colon = p + 1; colon < e && *colon != ':'; colon++) {
        if (!sip_scan__is_alpha(*colon) && !sip_scan__is_digit(*colon) && *colon != '+' &&
            *colon != '-' && *colon != '.')
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

/* Display name and '<' of a name-addr; *p ends at the URI's first char (or
 * the addr-spec). Returns 1 for name-addr, 0 for addr-spec, -EPROTO. */
static int naddr_display(const char **pp, const char *e, struct sip_naddr *na)
{
    const char *p = *pp, *t;

    if (*p == '"') {
        t = sip_scan__quoted_end(p, e);
        if (t == NULL)
            return -EPROTO;
        na->display.p = p;
        na->display.len = (size_t)(t + 1 - p);
        p = sip_scan__skip_lws(t + 1, e);
        if (p == e || *p != '<')
            return -EPROTO;
        *pp = p + 1;
        return 1;
    }
    for (t = p; t < e && (sip_scan__token_chars[(unsigned char)*t] || sip_scan_is_lws(*t)); t++)
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
    p = sip_scan__skip_lws(v.p, e);
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
    p = sip_scan__skip_lws(p, e);
    end = list ? sip_scan__find_top(p, e, ',', false) : e;
    if (p < end) {
        na->params = sip_scan_trim((struct sip_span){p, (size_t)(end - p)});
        if (sip_scan__params_ok(na->params) < 0)
            return -EPROTO;
    }
    if (rest != NULL) {
        rest->p = end < e ? end + 1 : e;
        rest->len = (size_t)(e - rest->p);
        /* A ',' promises another entry. */
        if (end < e && sip_scan__skip_lws(rest->p, e) == e)
            return -EPROTO;
    }
    return 0;
}
