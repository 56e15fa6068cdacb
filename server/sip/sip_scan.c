/* sip_scan: the header lines of a message: the start line, each header
 * field with its folded lines joined, the ids and long forms of header
 * names. */
#include "server/sip/sip_scan.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "server/sip/sip_scan_int.h"

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
    if (name.len == 0 || sip_scan__skip_token(p, p + name.len) != p + name.len)
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
    if (*len == 1 && sip_scan__is_alpha(name[0])) {
        const char *l = compact_names[(name[0] | 0x20) - 'a'];

        if (l != NULL) {
            *len = strlen(l);
            return l;
        }
    }
    return name;
}
