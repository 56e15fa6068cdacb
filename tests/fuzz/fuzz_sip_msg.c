/* libFuzzer target for sip_msg and sip_resp: parse with tight limits, read
 * Contact and Authorization as a REGISTER would, then build what the
 * server would send: the error response when one can be addressed, a 200
 * (with a derived To tag) when the parse succeeds.
 *
 * libosip2 is the differential oracle: whatever we accept (start line, the
 * headers we read, and Contact and Authorization when they read well), it
 * must accept too, with the same number of Vias and Contacts. It is shown
 * only those headers: the ones we never read are not ours to judge. */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <osipparser2/osip_parser.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/base/buf.h"
#include "server/sip/sip_msg.h"
#include "server/sip/sip_resp.h"
#include "server/sip/sip_scan.h"
#include "server/sip/sip_src.h"
#include "server/sip/sip_uri.h"

/* libosip2 traces bad input at ERROR level on stdout: keep it quiet. */
static void on_osip_trace(const char *file, int line, osip_trace_level_t level, const char *fmt,
                          va_list ap)
{
    (void)file;
    (void)line;
    (void)level;
    (void)fmt;
    (void)ap;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    parser_init();
    osip_trace_initialize_func(TRACE_LEVEL0, on_osip_trace);
    return 0;
}

static void make_src(struct sip_src *src, size_t size)
{
    memset(src, 0, sizeof(*src));
    src->proto = size & 1 ? SIP_PROTO_TCP : SIP_PROTO_UDP;
    if (size & 2) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&src->peer;

        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(5062);
        inet_pton(AF_INET6, size & 4 ? "::ffff:192.0.2.9" : "2001:db8::9", &in6->sin6_addr);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&src->peer;

        in->sin_family = AF_INET;
        in->sin_port = htons(5062);
        inet_pton(AF_INET, "192.0.2.9", &in->sin_addr);
    }
}

static bool common_scheme(const char *scheme)
{
    return strcasecmp(scheme, "sip") == 0 || strcasecmp(scheme, "sips") == 0 ||
           strcasecmp(scheme, "tel") == 0;
}

/* A party libosip2 can read back once it carries a tag: a SIP or tel URI,
 * and not a user-less one-character host (libosip2 2.x takes "sip:u" but
 * refuses "sip:u;tag=1" and "<sip:u>;tag=1": its quirk, not our reply). */
static bool checkable_party(const struct sip_uri *u)
{
    if (!common_scheme(u->scheme))
        return false;
    return !(u->user == NULL && u->host != NULL && strlen(u->host) == 1);
}

/* What we answer to a valid request must itself be a valid response to
 * it: same Call-ID and CSeq, a To tag. libosip2 refuses some exotic URIs
 * once they carry a tag ("To: ip:pl;tag=1", "To: sip:u;tag=1"), so only
 * parties it reads back are checked. */
static void check_reply(const struct sip_msg *req, const struct tc_buf *out,
                        const struct sip_msg_conf *conf)
{
    struct sip_msg_conf big = *conf;
    struct sip_msg *r;
    struct sip_msg_err err;

    if (!checkable_party(&req->from) || !checkable_party(&req->to))
        return;
    big.max_bytes = out->len;
    big.max_headers = 1000;
    big.max_line = out->len;
    if (sip_msg_parse(out->data, out->len, &big, &r, &err) != 0)
        abort();
    if (r->is_request || r->status != 200 || strcmp(r->call_id, req->call_id) != 0 ||
        r->cseq != req->cseq || r->to_tag == NULL || r->n_vias != req->n_vias)
        abort();
    sip_msg_free(r);
}

/* A URI libosip2 is known to misread, so the oracle cannot judge it:
 * - another scheme than sip, sips or tel: libosip2 refuses RFC 3986
 *   schemes holding '.', '+' or '-' ("soap.beep:"), and some others once
 *   a tag follows ("To: ip:pl;tag=1");
 * - a user-less one-character host: libosip2 takes "sip:u" but refuses
 *   "<sip:u>" and "sip:u;tag=1" (594bcb9);
 * - one character after the scheme's colon: libosip2 refuses "tel:3" and
 *   "tel:+" while it takes "tel:33" (found by this fuzzer in CI, as a
 *   Request-URI: "OPTIONS tel:3 SIP/2.0"). */
static bool osip_misreads(struct sip_span uri)
{
    struct sip_uri_parts u;

    if (sip_uri_parse(uri, &u) != 0 || u.kind == SIP_URI_OTHER)
        return true;
    if (uri.len == u.scheme.len + 2)
        return true;
    return u.kind != SIP_URI_TEL && !u.has_user && u.host.len == 1;
}

static bool osip_misreads_str(const char *uri)
{
    return osip_misreads((struct sip_span){uri, strlen(uri)});
}

/* Whether libosip2 is known to refuse what we rightly accept in m. */
static bool osip_quirk(const struct sip_msg *m, const struct sip_contacts *cs)
{
    const char *colon = m->ruri.raw != NULL ? strchr(m->ruri.raw, ':') : NULL;
    size_t i;

    /* The Request-URI: only the one-character quirk; other schemes are
     * the oracle's to judge there. */
    if (colon != NULL && strlen(colon) == 2)
        return true;
    if (osip_misreads_str(m->from.raw) || osip_misreads_str(m->to.raw))
        return true;
    for (i = 0; cs != NULL && i < cs->n; i++) {
        if (osip_misreads_str(cs->v[i].uri))
            return true;
    }
    return false;
}

/* The headers the oracle sees: those sip_msg_parse() reads, and Contact
 * and the first Authorization when ours read them well. */
static bool oracle_header(const struct sip_hdr *h, bool contacts, bool *auth)
{
    switch (h->id) {
    case SIP_HDR_VIA:
    case SIP_HDR_FROM:
    case SIP_HDR_TO:
    case SIP_HDR_CALL_ID:
    case SIP_HDR_CSEQ:
    case SIP_HDR_MAX_FORWARDS:
    case SIP_HDR_EXPIRES:
    case SIP_HDR_CONTENT_TYPE:
        return true;
    case SIP_HDR_CONTACT:
        return contacts;
    case SIP_HDR_AUTHORIZATION:
        if (!*auth)
            return false;
        *auth = false;
        return true;
    default:
        return false;
    }
}

/* RFC 3261 §25: the SIP-Version is case-insensitive, but libosip2 takes
 * only "SIP/": upper-case it in the start line b holds. */
static void upper_version(struct tc_buf *b)
{
    char *v = b->data;
    size_t i;

    if (strncasecmp(v, "SIP/", 4) != 0) {
        for (i = b->len; i > 0 && b->data[i - 1] != ' '; i--)
            ;
        if (i == 0)
            return;
        v = b->data + i;
    }
    for (i = 0; i < 3 && v + i < b->data + b->len; i++)
        v[i] = (char)toupper((unsigned char)v[i]);
}

/* The start line and the oracle's headers as one message, NULs (legal
 * only quoted) made spaces since libosip2 reads C strings, and tabs made
 * spaces: libosip2 does not take HTAB as white space everywhere
 * ("\"A\"\t<sip:a@b>"), where RFC 3261 §7.3.1 makes them equal. */
static void oracle_text(struct sip_msg *m, const struct sip_contacts *cs, bool auth,
                        struct tc_buf *b)
{
    const struct sip_hdr *h;
    const char *raw, *p, *lf;
    unsigned n, i;
    size_t len;

    raw = sip_msg_raw(m, &len);
    for (p = raw; *p == '\r' || *p == '\n'; p++)
        ;
    lf = memchr(p, '\n', len - (size_t)(p - raw));
    if (lf == NULL || tc_buf_append(b, p, (size_t)(lf + 1 - p)) != 0)
        abort();
    upper_version(b);
    h = sip_msg_hdrs(m, &n);
    for (i = 0; i < n; i++) {
        if (!oracle_header(&h[i], cs != NULL, &auth))
            continue;
        if (tc_buf_append(b, h[i].name.p, h[i].name.len) != 0 || tc_buf_puts(b, ": ") != 0 ||
            tc_buf_append(b, h[i].value.p, h[i].value.len) != 0 || tc_buf_puts(b, "\r\n") != 0)
            abort();
    }
    if (tc_buf_puts(b, "\r\n") != 0)
        abort();
    for (i = 0; i < b->len; i++) {
        if (b->data[i] == '\0' || b->data[i] == '\t')
            b->data[i] = ' ';
    }
}

static void oracle(struct sip_msg *m)
{
    const struct sip_contacts *cs = NULL;
    const struct sip_auth *a;
    struct tc_buf b = TC_BUF_INIT;
    osip_message_t *om;
    bool auth_ok = sip_msg_auth(m, &a) == 0;

    if (sip_msg_contacts(m, &cs) != 0)
        cs = NULL;
    if (osip_quirk(m, cs))
        return;
    oracle_text(m, cs, auth_ok, &b);
    if (osip_message_init(&om) != 0)
        abort();
    /* FUZZ_ORACLE_DUMP=1 shows what libosip2 was given (to read a crash). */
    if (getenv("FUZZ_ORACLE_DUMP") != NULL)
        fwrite(b.data, 1, b.len, stderr);
    if (osip_message_parse(om, b.data, b.len) != 0)
        abort();
    if ((unsigned)osip_list_size(&om->vias) != m->n_vias)
        abort();
    if (cs != NULL && (size_t)osip_list_size(&om->contacts) != cs->n + cs->star)
        abort();
    osip_message_free(om);
    tc_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sip_msg_conf conf = {8192, 40, 1024, 0x5eed};
    struct sip_msg *m = NULL;
    struct sip_msg_err err;
    struct tc_buf out = TC_BUF_INIT;
    struct sockaddr_storage dst;
    struct sip_src src;
    size_t len;

    make_src(&src, size);
    if (sip_msg_parse((const char *)data, size, &conf, &m, &err) == 0) {
        oracle(m);
        (void)sip_msg_header(m, "Contact", 0, &len);
        (void)sip_msg_header(m, "k", 1, &len);
        if (m->is_request && m->method_id != SIP_METHOD_ACK) {
            if (sip_resp_build(m, &src, 200, NULL, NULL, "Expires: 60\r\n", &out) != 0)
                abort();
            (void)sip_resp_dest(m, &src, &dst);
            check_reply(m, &out, &conf);
        }
        sip_msg_free(m);
    } else if (err.can_respond) {
        if (sip_resp_error(&err, &src, &out) != 0 || sip_resp_error_dest(&err, &src, &dst) != 0)
            abort();
    }
    tc_buf_free(&out);
    return 0;
}
