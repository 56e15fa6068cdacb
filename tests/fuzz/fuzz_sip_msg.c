/* libFuzzer target for sip_msg and sip_resp: parse with tight limits, then
 * build what the server would send: the error response when one can be
 * addressed, a 200 (with a derived To tag) when the parse succeeds. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/base/buf.h"
#include "server/sip/sip_msg.h"
#include "server/sip/sip_resp.h"
#include "server/sip/sip_src.h"

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
