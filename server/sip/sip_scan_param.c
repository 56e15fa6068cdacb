/* sip_scan_param: ";name[=value]" parameter lists (RFC 3261 §25.1
 * generic-param), as in Via, From, To and Contact. */
#include <errno.h>
#include <string.h>

#include "server/sip/sip_scan.h"
#include "server/sip/sip_scan_int.h"

/* A parameter value: token chars plus what hosts need (':' '[' ']'). */
static const char *skip_value(const char *p, const char *e)
{
    while (p < e &&
           (sip_scan__token_chars[(unsigned char)*p] || *p == ':' || *p == '[' || *p == ']'))
        p++;
    return p;
}

int sip_scan_param_next(struct sip_span *cur, struct sip_param *prm)
{
    const char *p, *e, *start, *v;

    if (cur->len == 0)
        return 0;
    p = sip_scan__skip_lws(cur->p, cur->p + cur->len);
    e = cur->p + cur->len;
    if (p == e) {
        cur->p = e;
        cur->len = 0;
        return 0;
    }
    if (*p != ';')
        return -EPROTO;
    p = sip_scan__skip_lws(p + 1, e);
    start = p;
    p = sip_scan__skip_token(p, e);
    if (p == start)
        return -EPROTO;
    memset(prm, 0, sizeof(*prm));
    prm->name.p = start;
    prm->name.len = (size_t)(p - start);
    p = sip_scan__skip_lws(p, e);
    if (p < e && *p == '=') {
        p = sip_scan__skip_lws(p + 1, e);
        v = p;
        if (p < e && *p == '"') {
            const char *q = sip_scan__quoted_end(p, e);

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
    p = sip_scan__skip_lws(p, e);
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

int sip_scan__params_ok(struct sip_span params)
{
    struct sip_param prm;
    int rc;

    while ((rc = sip_scan_param_next(&params, &prm)) == 1)
        ;
    return rc;
}
