/* sip_msg, sip_scan and sip_resp: parsing, validation and responses. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/base/buf.h"
#include "server/registrar/sip_digest.h"
#include "server/sip/sip_msg.h"
#include "server/sip/sip_resp.h"
#include "server/sip/sip_src.h"
#include "tests/tc_test.h"

#define TORTURE_DIR TC_SOURCE_DIR "/tests/data/rfc4475"

TestSuite(sip_msg, .fini = tc_test_leak_check);
TestSuite(sip_torture, .fini = tc_test_leak_check);
TestSuite(sip_resp, .fini = tc_test_leak_check);

static const struct sip_msg_conf conf = SIP_MSG_CONF_DEFAULT;

/* A REGISTER as softphones send it. */
#define REG_HEAD                                                       \
    "REGISTER sip:192.0.2.10 SIP/2.0\r\n"                              \
    "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK776asdhds;rport\r\n" \
    "Max-Forwards: 70\r\n"                                             \
    "To: <sip:1001@192.0.2.10>\r\n"                                    \
    "From: \"Agent 1001\" <sip:1001@192.0.2.10>;tag=456248\r\n"        \
    "Call-ID: 843817637684230@10.0.0.5\r\n"                            \
    "CSeq: 1826 REGISTER\r\n"

static const char reg_basic[] = REG_HEAD "Contact: <sip:1001@10.0.0.5:5060;transport=udp>"
                                         ";expires=3600;q=0.7\r\n"
                                         "Expires: 1800\r\n"
                                         "User-Agent: Phone/1.0 (test)\r\n"
                                         "Allow: INVITE, ACK, BYE\r\n"
                                         "Content-Length: 0\r\n"
                                         "\r\n";

static struct sip_msg *parse_ok(const char *text, size_t len)
{
    struct sip_msg *m = NULL;
    struct sip_msg_err err;
    int rc = sip_msg_parse(text, len, &conf, &m, &err);

    cr_assert_eq(rc, 0, "parse: rc %d, %d %s", rc, err.code, err.reason ? err.reason : "");
    cr_assert_not_null(m);
    return m;
}

#define PARSE_OK(lit) parse_ok(lit, sizeof(lit) - 1)

/* The Contact entries of m, which must be good. */
static const struct sip_contacts *contacts_of(struct sip_msg *m)
{
    const struct sip_contacts *cs = NULL;

    cr_assert_eq(sip_msg_contacts(m, &cs), 0);
    cr_assert_not_null(cs);
    return cs;
}

/* The Authorization of m (NULL without one), which must be good. */
static const struct sip_auth *auth_of(struct sip_msg *m)
{
    const struct sip_auth *a = NULL;

    cr_assert_eq(sip_msg_auth(m, &a), 0);
    return a;
}

/* What the server refuses a parsed REGISTER for once it reads Contact and
 * Authorization (sip_server.c), or NULL. */
static const char *register_refusal(struct sip_msg *m)
{
    const struct sip_contacts *cs;
    const struct sip_auth *a;

    if (sip_msg_contacts(m, &cs) != 0)
        return "Bad Contact";
    if (sip_msg_auth(m, &a) != 0)
        return "Bad Authorization Header";
    return NULL;
}

/* A REGISTER that parses but is refused when its Contact or Authorization
 * is read: the answer the server builds from the message. */
static void register_err(struct sip_msg *m, int code, const char *reason)
{
    struct tc_buf out = TC_BUF_INIT;
    struct sip_src src = {.proto = SIP_PROTO_UDP};
    const char *why = register_refusal(m);
    char status[96];

    cr_assert_not_null(why, "expected %d %s, parsed and accepted", code, reason);
    cr_assert_eq(code, 400);
    cr_assert_str_eq(why, reason);
    ((struct sockaddr_in *)&src.peer)->sin_family = AF_INET;
    cr_assert_eq(sip_resp_build(m, &src, code, why, NULL, NULL, &out), 0);
    snprintf(status, sizeof(status), "SIP/2.0 %d %s\r\nVia: ", code, reason);
    cr_assert_eq(strncmp(out.data, status, strlen(status)), 0, "%s", out.data);
    cr_assert_not_null(strstr(out.data, "\r\nContent-Length: 0\r\n\r\n"));
    tc_buf_free(&out);
}

/* Parse text expecting a refusal; also builds the error response when one
 * is possible and checks its status line. A REGISTER may parse and be
 * refused when the server reads its Contact or Authorization. */
static void parse_err_conf(const char *text, size_t len, const struct sip_msg_conf *c, int code,
                           const char *reason, bool can_respond)
{
    struct sip_msg *m = (struct sip_msg *)1;
    struct sip_msg_err err;
    struct tc_buf out = TC_BUF_INIT;
    struct sip_src src = {.proto = SIP_PROTO_UDP};
    char status[96];
    int rc = sip_msg_parse(text, len, c, &m, &err);

    if (rc == 0 && m->method_id == SIP_METHOD_REGISTER && can_respond) {
        register_err(m, code, reason);
        sip_msg_free(m);
        return;
    }
    cr_assert_lt(rc, 0, "expected %d %s, parsed", code, reason);
    cr_assert_null(m);
    cr_assert_eq(rc, code == 513 ? -EMSGSIZE : -EPROTO);
    cr_assert_eq(err.code, code, "code %d, want %d (%s)", err.code, code, err.reason);
    cr_assert_str_eq(err.reason, reason);
    cr_assert_eq(err.can_respond, can_respond, "can_respond for %s", reason);
    ((struct sockaddr_in *)&src.peer)->sin_family = AF_INET;
    rc = sip_resp_error(&err, &src, &out);
    if (!can_respond) {
        cr_assert_eq(rc, -EINVAL);
        cr_assert_eq(out.len, 0);
        return;
    }
    cr_assert_eq(rc, 0);
    snprintf(status, sizeof(status), "SIP/2.0 %d %s\r\nVia: ", code, reason);
    cr_assert_eq(strncmp(out.data, status, strlen(status)), 0, "%s", out.data);
    cr_assert_not_null(strstr(out.data, "\r\nContent-Length: 0\r\n\r\n"));
    tc_buf_free(&out);
}

#define PARSE_ERR(lit, code, reason, can) \
    parse_err_conf(lit, sizeof(lit) - 1, &conf, code, reason, can)

static void src_v4(struct sip_src *src, enum sip_proto proto, const char *ip, uint16_t port)
{
    struct sockaddr_in *in = (struct sockaddr_in *)&src->peer;

    memset(src, 0, sizeof(*src));
    src->proto = proto;
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    cr_assert_eq(inet_pton(AF_INET, ip, &in->sin_addr), 1);
}

static void src_v6(struct sip_src *src, enum sip_proto proto, const char *ip, uint16_t port)
{
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&src->peer;

    memset(src, 0, sizeof(*src));
    src->proto = proto;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    cr_assert_eq(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
}

/* ---- valid messages ---- */

Test(sip_msg, register_fields)
{
    struct sip_msg *m = PARSE_OK(reg_basic);

    cr_assert(m->is_request);
    cr_assert_eq(m->method_id, SIP_METHOD_REGISTER);
    cr_assert_str_eq(m->method, "REGISTER");
    cr_assert_str_eq(m->ruri.raw, "sip:192.0.2.10");
    cr_assert_str_eq(m->ruri.scheme, "sip");
    cr_assert_null(m->ruri.user);
    cr_assert_str_eq(m->ruri.host, "192.0.2.10");
    cr_assert_eq(m->ruri.port, 0);
    cr_assert_str_eq(m->via.transport, "UDP");
    cr_assert_str_eq(m->via.host, "10.0.0.5");
    cr_assert_eq(m->via.port, 5060);
    cr_assert_str_eq(m->via.branch, "z9hG4bK776asdhds");
    cr_assert(m->via.has_rport);
    cr_assert_eq(m->n_vias, 1);
    cr_assert_str_eq(m->from.raw, "sip:1001@192.0.2.10");
    cr_assert_str_eq(m->from_tag, "456248");
    cr_assert_str_eq(m->to.user, "1001");
    cr_assert_str_eq(m->to.host, "192.0.2.10");
    cr_assert_null(m->to_tag);
    cr_assert_str_eq(m->call_id, "843817637684230@10.0.0.5");
    cr_assert_eq(m->cseq, 1826);
    cr_assert_str_eq(m->cseq_method, "REGISTER");
    cr_assert_eq(m->max_forwards, 70);
    cr_assert(m->has_expires);
    cr_assert_eq(m->expires, 1800);
    cr_assert_not(contacts_of(m)->star);
    cr_assert_eq(contacts_of(m)->n, 1);
    cr_assert_str_eq(contacts_of(m)->v[0].uri, "sip:1001@10.0.0.5:5060;transport=udp");
    cr_assert(contacts_of(m)->v[0].has_expires);
    cr_assert_eq(contacts_of(m)->v[0].expires, 3600);
    cr_assert(contacts_of(m)->v[0].has_q);
    cr_assert_eq(contacts_of(m)->v[0].q, 700);
    cr_assert_str_eq(contacts_of(m)->v[0].params, ";q=0.7");
    cr_assert_str_eq(m->user_agent, "Phone/1.0 (test)");
    cr_assert_null(auth_of(m));
    cr_assert_eq(m->content_length, 0);
    cr_assert_eq(m->body_len, 0);
    sip_msg_free(m);
}

/* Many Contact entries grow the array and spill out of the arena. */
Test(sip_msg, contacts_spill)
{
    struct tc_buf b = TC_BUF_INIT;
    struct sip_msg *m;
    unsigned i;

    cr_assert_eq(tc_buf_puts(&b, REG_HEAD), 0);
    for (i = 0; i < 40; i++)
        cr_assert_eq(tc_buf_printf(&b,
                                   "Contact: <sip:1001@10.0.0.%u:5060;transport=udp>"
                                   ";expires=%u;q=0.5;x-long-parameter-%u=abcdefghijklmnop\r\n",
                                   i, 60 + i, i),
                     0);
    cr_assert_eq(tc_buf_puts(&b, "Content-Length: 0\r\n\r\n"), 0);
    m = parse_ok(b.data, b.len);
    cr_assert_eq(contacts_of(m)->n, 40);
    cr_assert_str_eq(contacts_of(m)->v[39].uri, "sip:1001@10.0.0.39:5060;transport=udp");
    cr_assert_eq(contacts_of(m)->v[39].expires, 99);
    cr_assert_str_eq(m->to.user, "1001");
    sip_msg_free(m);
    tc_buf_free(&b);
}

Test(sip_msg, register_many_contacts)
{
    struct sip_msg *m =
            PARSE_OK(REG_HEAD "Contact: \"Desk, left\" <sip:1001@10.0.0.5>;expires=60, "
                              "<sip:1001@10.0.0.6;lr>;q=1\r\n"
                              "Contact: sip:1001@10.0.0.7;expires=0;q=0.25, sip:1001@10.0.0.8\r\n"
                              "m: <sips:1001@[2001:db8::9]:5061>;expires=99999999999\r\n"
                              "Content-Length: 0\r\n\r\n");

    cr_assert_eq(contacts_of(m)->n, 5);
    cr_assert_str_eq(contacts_of(m)->v[0].uri, "sip:1001@10.0.0.5");
    cr_assert_eq(contacts_of(m)->v[0].expires, 60);
    cr_assert_not(contacts_of(m)->v[0].has_q);
    cr_assert_str_eq(contacts_of(m)->v[1].uri, "sip:1001@10.0.0.6;lr");
    cr_assert_not(contacts_of(m)->v[1].has_expires);
    cr_assert_eq(contacts_of(m)->v[1].q, 1000);
    cr_assert_str_eq(contacts_of(m)->v[2].uri, "sip:1001@10.0.0.7");
    cr_assert(contacts_of(m)->v[2].has_expires);
    cr_assert_eq(contacts_of(m)->v[2].expires, 0);
    cr_assert_eq(contacts_of(m)->v[2].q, 250);
    cr_assert_str_eq(contacts_of(m)->v[3].uri, "sip:1001@10.0.0.8");
    cr_assert_str_eq(contacts_of(m)->v[4].uri, "sips:1001@[2001:db8::9]:5061");
    /* An expires parameter beyond 2^32-1 is taken as 2^32-1, as the
     * Expires header is. */
    cr_assert(contacts_of(m)->v[4].has_expires);
    cr_assert_eq(contacts_of(m)->v[4].expires, UINT32_MAX);
    cr_assert_not(m->has_expires);
    sip_msg_free(m);
}

/* A Contact's parameters but expires, for the registrar to echo (RFC
 * 5626): rebuilt without LWS; none gives "". */
Test(sip_msg, contact_params)
{
    struct sip_msg *m = PARSE_OK(
            REG_HEAD "Contact: <sip:1001@10.0.0.5;ob>;+sip.instance = \"<urn:uuid:f81d4fae-7dec>\" "
                     "; reg-id=1;EXPIRES=60;+sip.ice;q=0.5\r\n"
                     "Contact: <sip:1001@10.0.0.6>;expires=60, <sip:1001@10.0.0.7>\r\n"
                     "Contact: <sip:1001@10.0.0.8>;x=\"a,b;c\"\r\n"
                     "Content-Length: 0\r\n\r\n");

    cr_assert_eq(contacts_of(m)->n, 4);
    cr_assert_str_eq(contacts_of(m)->v[0].uri, "sip:1001@10.0.0.5;ob");
    cr_assert_str_eq(contacts_of(m)->v[0].params,
                     ";+sip.instance=\"<urn:uuid:f81d4fae-7dec>\";reg-id=1;+sip.ice;q=0.5");
    cr_assert_eq(contacts_of(m)->v[0].expires, 60);
    cr_assert_str_eq(contacts_of(m)->v[1].params, "");
    cr_assert_str_eq(contacts_of(m)->v[2].params, "");
    cr_assert_str_eq(contacts_of(m)->v[3].params, ";x=\"a,b;c\"");
    sip_msg_free(m);
}

Test(sip_msg, register_star)
{
    struct sip_msg *m = PARSE_OK(REG_HEAD "Contact: *\r\nExpires: 0\r\nContent-Length: 0\r\n\r\n");

    cr_assert(contacts_of(m)->star);
    cr_assert_eq(contacts_of(m)->n, 0);
    cr_assert(m->has_expires);
    cr_assert_eq(m->expires, 0);
    sip_msg_free(m);

    PARSE_ERR(REG_HEAD "Contact: *\r\nExpires: 60\r\n\r\n", 400, "Bad Contact", true);
    PARSE_ERR(REG_HEAD "Contact: *\r\n\r\n", 400, "Bad Contact", true);
    PARSE_ERR(REG_HEAD "Contact: *\r\nContact: <sip:a@b>\r\nExpires: 0\r\n\r\n", 400, "Bad Contact",
              true);
    /* Outside a REGISTER "*" is refused too, once the Contact is read: an
     * OPTIONS is answered without reading it (see lazy_headers below). */
    m = PARSE_OK(
            "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:c@d>;tag=1\r\n"
            "To: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContact: *\r\nExpires: 0\r\n\r\n");
    cr_assert_str_eq(register_refusal(m), "Bad Contact");
    sip_msg_free(m);
}

Test(sip_msg, compact_and_folded)
{
    struct sip_msg *m = PARSE_OK("REGISTER sip:tc.example.com SIP/2.0\r\n"
                                 "v: SIP/2.0/TCP phone.example.com;branch=z9hG4bK1\r\n"
                                 "f: <sip:1002@tc.example.com>;tag=9\r\n"
                                 "t: <sip:1002@tc.example.com>\r\n"
                                 "i: abc@phone\r\n"
                                 "CSeq: 7\r\n  REGISTER\r\n"
                                 "m: <sip:1002@phone.example.com;transport=tcp>\r\n"
                                 "Expires:\r\n 120\r\n"
                                 "l: 0\r\n\r\n");
    size_t len;
    const char *v;

    cr_assert_str_eq(m->via.transport, "TCP");
    cr_assert_str_eq(m->via.host, "phone.example.com");
    cr_assert_eq(m->via.port, 0);
    cr_assert_not(m->via.has_rport);
    cr_assert_str_eq(m->to.user, "1002");
    cr_assert_str_eq(m->call_id, "abc@phone");
    cr_assert_eq(m->cseq, 7);
    cr_assert_eq(m->expires, 120);
    cr_assert_eq(contacts_of(m)->n, 1);
    v = sip_msg_header(m, "Contact", 0, &len);
    cr_assert_not_null(v);
    cr_assert_eq(len, strlen("<sip:1002@phone.example.com;transport=tcp>"));
    v = sip_msg_header(m, "cseq", 0, &len);
    cr_assert_eq(strncmp(v, "7    REGISTER", len), 0, "%.*s", (int)len, v);
    cr_assert_null(sip_msg_header(m, "m", 1, &len));
    cr_assert_not_null(sip_msg_header(m, "Content-Length", 0, &len));
    sip_msg_free(m);
}

Test(sip_msg, ipv6)
{
    struct sip_msg *m = PARSE_OK("REGISTER sip:[2001:db8::1]:5070 SIP/2.0\r\n"
                                 "Via: SIP/2.0/UDP [2001:db8::2]:5062;branch=z9hG4bK6;rport\r\n"
                                 "From: <sip:1003@[2001:db8::1]>;tag=6\r\n"
                                 "To: <sip:1003@[2001:db8::1]>\r\n"
                                 "Call-ID: v6\r\nCSeq: 1 REGISTER\r\n"
                                 "Contact: <sip:1003@[2001:db8::2]:5062>\r\n\r\n");

    cr_assert_str_eq(m->ruri.host, "2001:db8::1");
    cr_assert_eq(m->ruri.port, 5070);
    cr_assert_str_eq(m->via.host, "2001:db8::2");
    cr_assert_eq(m->via.port, 5062);
    cr_assert_str_eq(m->to.host, "2001:db8::1");
    cr_assert_str_eq(contacts_of(m)->v[0].uri, "sip:1003@[2001:db8::2]:5062");
    sip_msg_free(m);
}

Test(sip_msg, options_and_invite)
{
    static const char invite[] = "INVITE sip:1001@tc.example.com;user=phone SIP/2.0\r\n"
                                 "Via: SIP/2.0/UDP gw.example.com:5080;branch=z9hG4bKi1\r\n"
                                 "Via: SIP/2.0/UDP 192.0.2.40;branch=z9hG4bKi0\r\n"
                                 "Max-Forwards: 69\r\n"
                                 "From: <sip:2000@gw.example.com>;tag=x1\r\n"
                                 "To: <sip:1001@tc.example.com>\r\n"
                                 "Call-ID: inv-1\r\nCSeq: 10 INVITE\r\n"
                                 "Contact: <sip:2000@gw.example.com:5080>\r\n"
                                 "Content-Type: application/sdp\r\n"
                                 "Content-Length: 0010\r\n\r\n"
                                 "v=0\r\ns=-\r\n";
    struct sip_msg *m = PARSE_OK(invite);
    const char *v, *raw;
    size_t len;

    cr_assert_eq(m->method_id, SIP_METHOD_INVITE);
    cr_assert_str_eq(m->ruri.user, "1001");
    cr_assert_eq(m->n_vias, 2);
    cr_assert_str_eq(m->via.host, "gw.example.com");
    cr_assert_eq(m->content_length, 10);
    cr_assert_eq(m->body_len, 10);
    cr_assert_eq(memcmp(m->body, "v=0\r\ns=-\r\n", 10), 0);
    /* Our copy kept its Content-Length as received. */
    v = sip_msg_header(m, "l", 0, &len);
    cr_assert_eq(len, 4);
    cr_assert_eq(memcmp(v, "0010", 4), 0);
    raw = sip_msg_raw(m, &len);
    cr_assert_eq(len, sizeof(invite) - 1);
    cr_assert_eq(memcmp(raw, invite, len), 0);
    sip_msg_free(m);

    m = PARSE_OK("OPTIONS sip:tc.example.com SIP/2.0\r\n"
                 "Via: SIP/2.0/UDP 192.0.2.41;branch=z9hG4bKo\r\n"
                 "From: <sip:mon@example.com>;tag=o\r\nTo: <sip:tc.example.com>\r\n"
                 "Call-ID: o1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
    cr_assert_eq(m->method_id, SIP_METHOD_OPTIONS);
    cr_assert_eq(m->max_forwards, -1);
    cr_assert_null(m->to.user);
    sip_msg_free(m);
}

Test(sip_msg, method_ids)
{
    cr_assert_eq(sip_msg_method_id("ACK"), SIP_METHOD_ACK);
    cr_assert_eq(sip_msg_method_id("CANCEL"), SIP_METHOD_CANCEL);
    cr_assert_eq(sip_msg_method_id("BYE"), SIP_METHOD_BYE);
    cr_assert_eq(sip_msg_method_id("register"), SIP_METHOD_OTHER);
    cr_assert_eq(sip_msg_method_id("SUBSCRIBE"), SIP_METHOD_OTHER);
}

Test(sip_msg, authorization)
{
    struct sip_msg *m =
            PARSE_OK(REG_HEAD "Authorization: Digest username=\"1001\", realm=\"tc\", "
                              "nonce=\"n\\\"1\", uri=\"sip:192.0.2.10\", "
                              "response=\"0123456789abcdef0123456789abcdef\", algorithm=MD5, "
                              "qop=auth, nc=00000001, cnonce=\"c1\", opaque=\"op\"\r\n"
                              "Contact: <sip:1001@10.0.0.5>\r\n\r\n");

    cr_assert_not_null(auth_of(m));
    cr_assert_str_eq(auth_of(m)->scheme, "Digest");
    cr_assert_str_eq(auth_of(m)->digest->username, "1001");
    cr_assert_str_eq(auth_of(m)->digest->realm, "tc");
    cr_assert_str_eq(auth_of(m)->digest->nonce, "n\"1");
    cr_assert_str_eq(auth_of(m)->digest->uri, "sip:192.0.2.10");
    cr_assert_str_eq(auth_of(m)->digest->response, "0123456789abcdef0123456789abcdef");
    cr_assert_str_eq(auth_of(m)->digest->algorithm, "MD5");
    cr_assert_str_eq(auth_of(m)->digest->qop, "auth");
    cr_assert_str_eq(auth_of(m)->digest->nc, "00000001");
    cr_assert_str_eq(auth_of(m)->digest->cnonce, "c1");
    cr_assert_str_eq(auth_of(m)->digest->opaque, "op");
    sip_msg_free(m);
}

Test(sip_msg, escaped_user)
{
    struct sip_msg *m =
            PARSE_OK("REGISTER sip:tc SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP h;branch=z9hG4bKe\r\n"
                     "From: <sip:%31%30%30%31@tc>;tag=1\r\nTo: <sip:%31%30%30%31@tc>\r\n"
                     "Call-ID: e\r\nCSeq: 1 REGISTER\r\n\r\n");

    cr_assert_str_eq(m->to.user, "1001");
    cr_assert_str_eq(m->to.raw, "sip:%31%30%30%31@tc");
    sip_msg_free(m);
    /* An escaped NUL must not cut the user short into a DN. */
    m = PARSE_OK("REGISTER sip:tc SIP/2.0\r\n"
                 "Via: SIP/2.0/UDP h;branch=z9hG4bKe\r\n"
                 "From: <sip:1001@tc>;tag=1\r\nTo: <sip:1001%00x@tc>\r\n"
                 "Call-ID: e\r\nCSeq: 1 REGISTER\r\n\r\n");
    cr_assert_str_eq(m->to.user, "1001%00x");
    sip_msg_free(m);
}

Test(sip_msg, tel_uri)
{
    struct sip_msg *m = PARSE_OK("INVITE tel:+12015550123;phone-context=x SIP/2.0\r\n"
                                 "Via: SIP/2.0/UDP h;branch=z9hG4bKt\r\n"
                                 "From: <sip:a@b>;tag=1\r\nTo: <tel:+12015550123>\r\n"
                                 "Call-ID: t\r\nCSeq: 1 INVITE\r\n\r\n");

    cr_assert_str_eq(m->ruri.scheme, "tel");
    cr_assert_str_eq(m->ruri.user, "+12015550123");
    cr_assert_null(m->ruri.host);
    sip_msg_free(m);
}

Test(sip_msg, udp_extra_bytes_ignored)
{
    static const char two[] = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n"
                              "From: <sip:c@d>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\n"
                              "CSeq: 1 OPTIONS\r\nContent-Length: 2\r\n\r\nabJUNK";
    struct sip_msg *m = PARSE_OK(two);

    cr_assert_eq(m->body_len, 2);
    sip_msg_free(m);
}

Test(sip_msg, lf_only_lines)
{
    struct sip_msg *m = PARSE_OK("OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\n"
                                 "From: <sip:c@d>;tag=1\nTo: <sip:a@b>\nCall-ID: x\n"
                                 "CSeq: 1 OPTIONS\n\n");

    cr_assert_str_eq(m->call_id, "x");
    sip_msg_free(m);
}

Test(sip_msg, responses_parse)
{
    struct sip_msg *m = PARSE_OK("SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKr\r\n"
                                 "From: <sip:c@d>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: r\r\n"
                                 "CSeq: 5 INVITE\r\n\r\n");
    struct sip_src src;
    struct tc_buf out = TC_BUF_INIT;

    cr_assert_not(m->is_request);
    cr_assert_eq(m->status, 180);
    cr_assert_str_eq(m->cseq_method, "INVITE");
    src_v4(&src, SIP_PROTO_UDP, "192.0.2.1", 5060);
    cr_assert_eq(sip_resp_build(m, &src, 200, NULL, NULL, NULL, &out), -EINVAL);
    cr_assert_eq(out.len, 0);
    sip_msg_free(m);
}

/* ---- refusals ---- */

#define HDR_VIA   "Via: SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bKerr\r\n"
#define HDR_FROM  "From: <sip:1001@tc>;tag=f\r\n"
#define HDR_TO    "To: <sip:1001@tc>\r\n"
#define HDR_CID   "Call-ID: err-1\r\n"
#define HDR_CSEQ  "CSeq: 1 REGISTER\r\n"
#define REQ_LINE  "REGISTER sip:tc SIP/2.0\r\n"
#define ALL_HDRS  HDR_VIA HDR_FROM HDR_TO HDR_CID HDR_CSEQ
#define REQ(hdrs) REQ_LINE hdrs "\r\n"

Test(sip_msg, missing_headers)
{
    PARSE_ERR(REQ(HDR_FROM HDR_TO HDR_CID HDR_CSEQ), 400, "Missing Via", false);
    PARSE_ERR(REQ(HDR_VIA HDR_TO HDR_CID HDR_CSEQ), 400, "Missing From", true);
    PARSE_ERR(REQ(HDR_VIA HDR_FROM HDR_CID HDR_CSEQ), 400, "Missing To", true);
    PARSE_ERR(REQ(HDR_VIA HDR_FROM HDR_TO HDR_CSEQ), 400, "Missing Call-ID", true);
    PARSE_ERR(REQ(HDR_VIA HDR_FROM HDR_TO HDR_CID), 400, "Missing CSeq", true);
}

Test(sip_msg, repeated_headers)
{
    PARSE_ERR(REQ(ALL_HDRS "Call-ID: again\r\n"), 400, "Multiple Call-ID", true);
    PARSE_ERR(REQ(ALL_HDRS "t: <sip:1002@tc>\r\n"), 400, "Multiple To", true);
    PARSE_ERR(REQ(ALL_HDRS "Expires: 1\r\nExpires: 2\r\n"), 400, "Multiple Expires", true);
    PARSE_ERR(REQ(ALL_HDRS "l: 0\r\nContent-Length: 0\r\n"), 400, "Multiple Content-Length", true);
}

Test(sip_msg, bad_via)
{
    PARSE_ERR(REQ("Via: SIP/2.0/UDP\r\n" HDR_FROM HDR_TO HDR_CID HDR_CSEQ), 400, "Bad Via", false);
    PARSE_ERR(REQ("Via: HTTP/1.1/UDP host\r\n" HDR_FROM HDR_TO HDR_CID HDR_CSEQ), 400, "Bad Via",
              false);
    PARSE_ERR(REQ("Via: SIP/2.0/UDP host:99999\r\n" HDR_FROM HDR_TO HDR_CID HDR_CSEQ), 400,
              "Bad Via", false);
    /* Usable for a response, but its parameters are broken. */
    PARSE_ERR(REQ("Via: SIP/2.0/UDP host;;branch=z9hG4bK1\r\n" HDR_FROM HDR_TO HDR_CID HDR_CSEQ),
              400, "Bad Via", true);
}

Test(sip_msg, bad_from_to)
{
    PARSE_ERR(REQ(HDR_VIA "From: <sip:1001@tc;tag=f\r\n" HDR_TO HDR_CID HDR_CSEQ), 400, "Bad From",
              true);
    PARSE_ERR(REQ(HDR_VIA "From: Bell, Al <sip:1001@tc>;tag=f\r\n" HDR_TO HDR_CID HDR_CSEQ), 400,
              "Bad From", true);
    PARSE_ERR(REQ(HDR_VIA HDR_FROM "To: < sip:1001@tc >\r\n" HDR_CID HDR_CSEQ), 400, "Bad To",
              true);
    PARSE_ERR(REQ(HDR_VIA HDR_FROM "To: <sip:1001@tc>;tag\r\n" HDR_CID HDR_CSEQ), 400, "Bad To",
              true);
    PARSE_ERR(REQ(HDR_VIA HDR_FROM "To: 1001\r\n" HDR_CID HDR_CSEQ), 400, "Bad To", true);
}

Test(sip_msg, bad_call_id_cseq)
{
    PARSE_ERR(REQ(HDR_VIA HDR_FROM HDR_TO "Call-ID: a b\r\n" HDR_CSEQ), 400, "Bad Call-ID", true);
    PARSE_ERR(REQ(HDR_VIA HDR_FROM HDR_TO HDR_CID "CSeq: x REGISTER\r\n"), 400, "Bad CSeq", true);
    PARSE_ERR(REQ(HDR_VIA HDR_FROM HDR_TO HDR_CID "CSeq: 2147483648 REGISTER\r\n"), 400, "Bad CSeq",
              true);
    PARSE_ERR(REQ(HDR_VIA HDR_FROM HDR_TO HDR_CID "CSeq: 1\r\n"), 400, "Bad CSeq", true);
    PARSE_ERR(REQ(HDR_VIA HDR_FROM HDR_TO HDR_CID "CSeq: 1 INVITE\r\n"), 400,
              "CSeq Method Mismatch", true);
    PARSE_ERR(REQ(HDR_VIA HDR_FROM HDR_TO HDR_CID "CSeq: 1 register\r\n"), 400,
              "CSeq Method Mismatch", true);
}

Test(sip_msg, bad_numbers)
{
    PARSE_ERR(REQ(ALL_HDRS "Max-Forwards: 256\r\n"), 400, "Bad Max-Forwards", true);
    PARSE_ERR(REQ(ALL_HDRS "Max-Forwards: ten\r\n"), 400, "Bad Max-Forwards", true);
    PARSE_ERR(REQ(ALL_HDRS "Expires: soon\r\n"), 400, "Bad Expires", true);
    PARSE_ERR(REQ(ALL_HDRS "Expires: -1\r\n"), 400, "Bad Expires", true);
    PARSE_ERR(REQ(ALL_HDRS "Expires: 1e20\r\n"), 400, "Bad Expires", true);
}

/* Delta-seconds past 2^32-1 are a long expiry, in the header and the
 * Contact parameter alike; what is not digits is refused in both. */
Test(sip_msg, expires_header_and_param_one_rule)
{
    const struct sip_contacts *cs;
    struct sip_msg *m = PARSE_OK(REQ(ALL_HDRS "Expires: 99999999999999999999\r\n"));

    cr_assert(m->has_expires);
    cr_assert_eq(m->expires, UINT32_MAX);
    sip_msg_free(m);
    m = PARSE_OK(REQ(ALL_HDRS "Contact: <sip:1001@10.0.0.5>;expires=1e20\r\n"));
    cr_assert_eq(sip_msg_contacts(m, &cs), -EDOM);
    sip_msg_free(m);
}

Test(sip_msg, bad_content_length)
{
    PARSE_ERR(REQ(ALL_HDRS "Content-Length: 5\r\n"), 400, "Bad Content-Length", true);
    PARSE_ERR(REQ(ALL_HDRS "Content-Length: -1\r\n"), 400, "Bad Content-Length", true);
    PARSE_ERR(REQ(ALL_HDRS "Content-Length: 1x\r\n"), 400, "Bad Content-Length", true);
}

Test(sip_msg, bad_contact)
{
    PARSE_ERR(REQ(ALL_HDRS "Contact: <sip:1001@10.0.0.5\r\n"), 400, "Bad Contact", true);
    PARSE_ERR(REQ(ALL_HDRS "Contact: sip:1001@10.0.0.5?Route=x\r\n"), 400, "Bad Contact", true);
    PARSE_ERR(REQ(ALL_HDRS "Contact: <sip:1001@10.0.0.5>;;expires=1\r\n"), 400, "Bad Contact",
              true);
    PARSE_ERR(REQ(ALL_HDRS "Contact: <sip:a@b>,\r\n"), 400, "Bad Contact", true);
    PARSE_ERR(REQ(ALL_HDRS "Contact: 10.0.0.5\r\n"), 400, "Bad Contact", true);
}

Test(sip_msg, bad_start_line)
{
    PARSE_ERR("REGISTER  sip:tc SIP/2.0\r\n" ALL_HDRS "\r\n", 400, "Bad Request Line", true);
    PARSE_ERR("REGISTER sip:tc SIP/2.0 \r\n" ALL_HDRS "\r\n", 400, "Bad Request Line", true);
    PARSE_ERR("REGISTER sip:tc\r\n" ALL_HDRS "\r\n", 400, "Bad Request Line", true);
    PARSE_ERR("REG{ISTER sip:tc SIP/2.0\r\n" ALL_HDRS "\r\n", 400, "Bad Request Line", true);
    PARSE_ERR("REGISTER sip:tc SIP/3.0\r\n" ALL_HDRS "\r\n", 505, "Version Not Supported", true);
    PARSE_ERR("REGISTER http://tc/ SIP/2.0\r\n" ALL_HDRS "\r\n", 416, "Unsupported URI Scheme",
              true);
    PARSE_ERR("REGISTER <sip:tc> SIP/2.0\r\n" ALL_HDRS "\r\n", 400, "Bad Request-URI", true);
    PARSE_ERR("REGISTER sip:tc?Route=x SIP/2.0\r\n" ALL_HDRS "\r\n", 400, "Bad Request-URI", true);
    PARSE_ERR("SIP/2.0 99 Odd\r\n" ALL_HDRS "\r\n", 400, "Bad Status Line", false);
}

Test(sip_msg, bad_header_lines)
{
    PARSE_ERR(REQ(ALL_HDRS "No colon here\r\n"), 400, "Bad Header", true);
    PARSE_ERR(REQ(ALL_HDRS "X-A: a\rVia: SIP/2.0/UDP evil\r\n"), 400, "Bad Header", true);
    PARSE_ERR(REQ(ALL_HDRS "Bad Name: x\r\n"), 400, "Bad Header", true);
    PARSE_ERR(REQ_LINE ALL_HDRS, 400, "Missing Header End", true);
    /* A Content-Type that is not type/subtype. */
    PARSE_ERR(REQ(ALL_HDRS "Content-Type: /\r\n"), 400, "Bad Header", true);
}

/* Contact and Authorization are read on demand. A phone pinging with
 * OPTIONS is answered 200 whatever junk its Contact or Authorization hold
 * (the server never reads them for OPTIONS); a REGISTER is refused with
 * the reason naming the header. */
Test(sip_msg, lazy_headers)
{
    static const char options[] =
            "OPTIONS sip:tc SIP/2.0\r\n" HDR_VIA HDR_FROM HDR_TO HDR_CID "CSeq: 1 OPTIONS\r\n"
            "Contact: <sip:1001@10.0.0.5\r\n"
            "Authorization: Digest username=\"1001\r\n\r\n";
    const struct sip_contacts *cs, *again;
    const struct sip_auth *a = (const struct sip_auth *)1;
    struct sip_msg *m = PARSE_OK(options);

    cr_assert_eq(sip_msg_contacts(m, &cs), -EPROTO);
    cr_assert_null(cs);
    cr_assert_eq(sip_msg_auth(m, &a), -EPROTO);
    cr_assert_null(a);
    /* The answer is kept: asking again gives the same. */
    cr_assert_eq(sip_msg_contacts(m, &cs), -EPROTO);
    sip_msg_free(m);

    m = PARSE_OK(reg_basic);
    cr_assert_eq(sip_msg_contacts(m, &cs), 0);
    cr_assert_eq(sip_msg_contacts(m, &again), 0);
    cr_assert_eq(cs, again);
    sip_msg_free(m);
    /* Freed without ever being read. */
    sip_msg_free(PARSE_OK(options));

    PARSE_ERR(REQ(ALL_HDRS "Contact: <sip:1001@10.0.0.5\r\n"), 400, "Bad Contact", true);
    PARSE_ERR(REQ(ALL_HDRS "Contact: <sip:1001@10.0.0.5>\r\n"
                           "Authorization: Digest username=\"1001\r\n"),
              400, "Bad Authorization Header", true);
    PARSE_ERR(REQ(ALL_HDRS "Authorization: Digest nonce=\"a\", nonce=\"b\"\r\n"), 400,
              "Bad Authorization Header", true);
    /* A Contact URI the URI parser refuses. */
    PARSE_ERR(REQ(ALL_HDRS "Contact: <sip:1001@>\r\n"), 400, "Bad Contact", true);
}

/* Another scheme than Digest: its name only, for a 401. */
Test(sip_msg, auth_other_scheme)
{
    struct sip_msg *m = PARSE_OK(REQ(ALL_HDRS "Authorization: Basic dXNlcjpwYXNz\r\n"));

    cr_assert_str_eq(auth_of(m)->scheme, "Basic");
    cr_assert_null(auth_of(m)->digest);
    sip_msg_free(m);
}

/* URIs are read by sip_uri: escapes, IPv6, ports; bad ones are refused
 * with the header's reason. */
Test(sip_msg, uri_fields)
{
    struct sip_msg *m =
            PARSE_OK("REGISTER sips:[2001:db8::1]:5061;transport=tls SIP/2.0\r\n" HDR_VIA
                     "From: <sip:I%20have%20spaces@example.net>;tag=1\r\n"
                     "To: <sip:%31001:pw@tc:5070>\r\n" HDR_CID HDR_CSEQ "\r\n");

    cr_assert_str_eq(m->ruri.scheme, "sips");
    cr_assert_str_eq(m->ruri.host, "2001:db8::1");
    cr_assert_eq(m->ruri.port, 5061);
    cr_assert_str_eq(m->from.user, "I have spaces");
    cr_assert_str_eq(m->to.user, "1001");
    cr_assert_str_eq(m->to.host, "tc");
    cr_assert_eq(m->to.port, 5070);
    sip_msg_free(m);

    PARSE_ERR("REGISTER sip:tc:99999 SIP/2.0\r\n" ALL_HDRS "\r\n", 400, "Bad Request-URI", true);
    PARSE_ERR(REQ(HDR_VIA "From: <sip:1001@tc;;x>;tag=f\r\n" HDR_TO HDR_CID HDR_CSEQ), 400,
              "Bad From", true);
    PARSE_ERR(REQ(HDR_VIA HDR_FROM "To: <sip:10%zz01@tc>\r\n" HDR_CID HDR_CSEQ), 400, "Bad To",
              true);
    PARSE_ERR(REQ(HDR_VIA HDR_FROM HDR_TO "Call-ID: a@b@c\r\n" HDR_CSEQ), 400, "Bad Call-ID", true);
    PARSE_ERR(REQ(ALL_HDRS "Via: SIP/2.0/UDP h2, junk\r\n"), 400, "Bad Via", true);
}

Test(sip_msg, nul_bytes)
{
    static const char bare[] = REQ_LINE ALL_HDRS "X-A: a\0b\r\n\r\n";
    static const char quoted[] =
            REQ_LINE HDR_VIA HDR_FROM "To: \"a\\\0b\" <sip:1001@tc>\r\n" HDR_CID HDR_CSEQ "\r\n";
    struct sip_msg *m;

    parse_err_conf(bare, sizeof(bare) - 1, &conf, 400, "Bad Header", true);
    m = parse_ok(quoted, sizeof(quoted) - 1);
    cr_assert_str_eq(m->to.user, "1001");
    sip_msg_free(m);
}

Test(sip_msg, ack_is_never_answered)
{
    PARSE_ERR("ACK sip:tc SIP/2.0\r\n" HDR_VIA HDR_FROM HDR_TO HDR_CID "CSeq: 1 INVITE\r\n\r\n",
              400, "CSeq Method Mismatch", false);
}

Test(sip_msg, keepalive_and_garbage)
{
    struct sip_msg *m;
    struct sip_msg_err err;

    cr_assert_eq(sip_msg_parse("\r\n\r\n", 4, &conf, &m, &err), -EPROTO);
    cr_assert_eq(err.code, 0);
    cr_assert_not(err.can_respond);
    cr_assert_eq(sip_msg_parse("", 0, &conf, &m, &err), -EPROTO);
    cr_assert_eq(err.code, 0);
    cr_assert_eq(sip_msg_parse("\x16\x03\x01", 3, &conf, &m, &err), -EPROTO);
    cr_assert_not(err.can_respond);
}

Test(sip_msg, limits)
{
    struct sip_msg_conf small = conf;
    char big[600];
    static const char msg[] = REQ(ALL_HDRS "X-1: a\r\nX-2: b\r\n");

    small.max_headers = 6;
    parse_err_conf(msg, sizeof(msg) - 1, &small, 400, "Too Many Headers", true);
    small.max_headers = 7;
    sip_msg_free(parse_ok(msg, sizeof(msg) - 1));
    small = conf;
    small.max_line = 40;
    parse_err_conf(msg, sizeof(msg) - 1, &small, 400, "Header Too Long", true);
    small.max_line = 20;
    parse_err_conf(msg, sizeof(msg) - 1, &small, 400, "Request Line Too Long", true);
    small = conf;
    small.max_bytes = 100;
    parse_err_conf(msg, sizeof(msg) - 1, &small, 513, "Message Too Large", true);
    /* Leading CR LFs are skipped, and do not count as lines. */
    snprintf(big, sizeof(big), "\r\n\r\n%s", msg);
    small = conf;
    small.max_headers = 7;
    sip_msg_free(parse_ok(big, strlen(big)));
}

/* ---- RFC 4475 ---- */

static char *read_torture(const char *name, size_t *len)
{
    char path[512];
    FILE *f;
    char *buf;
    long n;

    snprintf(path, sizeof(path), "%s/%s", TORTURE_DIR, name);
    f = fopen(path, "rb");
    cr_assert_not_null(f, "open %s", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    rewind(f);
    buf = malloc((size_t)n + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* §3.1.1: valid, must parse. unreason and noreason are responses. */
static const char *const torture_valid[] = {
        "wsinv.dat",   "intmeth.dat",  "esc01.dat",    "escnull.dat", "esc02.dat",
        "lwsdisp.dat", "longreq.dat",  "dblreq.dat",   "semiuri.dat", "transports.dat",
        "mpart01.dat", "unreason.dat", "noreason.dat",
};

/* §3.1.2 (invalid) and §3.3 messages this server refuses, with the answer. */
static const struct {
    const char *file;
    int code;
    const char *reason;
    bool can_respond;
} torture_refused[] = {
        {"badinv01.dat", 400, "Bad Via", true},
        {"clerr.dat", 400, "Bad Content-Length", true},
        {"ncl.dat", 400, "Bad Content-Length", true},
        {"scalar02.dat", 400, "Bad CSeq", true},
        {"scalarlg.dat", 400, "Bad CSeq", false}, /* a response */
        {"quotbal.dat", 400, "Bad To", true},
        {"ltgtruri.dat", 400, "Bad Request-URI", true},
        {"lwsruri.dat", 400, "Bad Request Line", true},
        {"lwsstart.dat", 400, "Bad Request Line", true},
        {"trws.dat", 400, "Bad Request Line", true},
        {"escruri.dat", 400, "Bad Request-URI", true},
        {"regbadct.dat", 400, "Bad Contact", true},
        {"badaspec.dat", 400, "Bad To", true},
        {"baddn.dat", 400, "Missing Header End", true}, /* also a bad From */
        {"badvers.dat", 505, "Version Not Supported", true},
        {"mismatch01.dat", 400, "CSeq Method Mismatch", true},
        {"mismatch02.dat", 400, "CSeq Method Mismatch", true},
        {"bigcode.dat", 400, "Bad Status Line", false}, /* a response */
        {"insuf.dat", 400, "Missing From", true},
        {"unkscm.dat", 416, "Unsupported URI Scheme", true},
        {"novelsc.dat", 416, "Unsupported URI Scheme", true},
        {"multi01.dat", 400, "Multiple From", true},
        {"mcl01.dat", 400, "Multiple Content-Length", true},
};

/* Parsed on purpose: §3.1.2.12 baddate (RFC 4475: reject only when the Date
 * is needed, and a registrar does not need it); §3.2-3.4 messages whose
 * handling is up to the registrar or redirect logic (unknown schemes in
 * To/From/Contact, Require, unknown Content-Type or Authorization scheme,
 * Max-Forwards 0, RFC 2543 syntax, responses). */
static const char *const torture_accepted[] = {
        "baddate.dat",  "badbranch.dat", "unksm2.dat",  "bext01.dat",   "invut.dat",
        "regaut01.dat", "bcast.dat",     "zeromf.dat",  "cparam01.dat", "cparam02.dat",
        "regescrt.dat", "sdp01.dat",     "inv2543.dat",
};

Test(sip_torture, valid_messages_parse)
{
    size_t i, len;

    for (i = 0; i < sizeof(torture_valid) / sizeof(torture_valid[0]); i++) {
        char *buf = read_torture(torture_valid[i], &len);
        struct sip_msg *m = NULL;
        struct sip_msg_err err;
        int rc = sip_msg_parse(buf, len, &conf, &m, &err);

        cr_expect_eq(rc, 0, "%s: %d %s", torture_valid[i], err.code, err.reason);
        sip_msg_free(m);
        free(buf);
    }
}

static struct sip_msg *parse_torture(const char *name)
{
    size_t len;
    char *buf = read_torture(name, &len);
    struct sip_msg *m = parse_ok(buf, len);

    free(buf);
    return m;
}

Test(sip_torture, valid_message_fields)
{
    struct sip_msg *m = parse_torture("wsinv.dat");

    cr_assert_str_eq(m->to_tag, "1918181833n");
    cr_assert_str_eq(m->from_tag, "98asjd8");
    cr_assert_eq(m->max_forwards, 68);
    cr_assert_eq(m->cseq, 9);
    cr_assert_eq(m->n_vias, 3);
    cr_assert_str_eq(m->via.host, "192.0.2.2");
    cr_assert_str_eq(m->via.branch, "390skdjuw");
    cr_assert_eq(contacts_of(m)->n, 1);
    cr_assert_str_eq(contacts_of(m)->v[0].uri, "sip:jdrosen@example.com");
    cr_assert_eq(contacts_of(m)->v[0].q, 330);
    cr_assert_eq(m->body_len, 150);
    sip_msg_free(m);

    m = parse_torture("intmeth.dat");
    cr_assert_str_eq(m->method, "!interesting-Method0123456789_*+`.%indeed'~");
    cr_assert_eq(m->method_id, SIP_METHOD_OTHER);
    cr_assert_str_eq(m->call_id, "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
    sip_msg_free(m);

    m = parse_torture("esc01.dat");
    cr_assert_str_eq(m->ruri.user, "sips:user@example.com");
    cr_assert_str_eq(m->to.user, "user");
    cr_assert_str_eq(contacts_of(m)->v[0].uri,
                     "sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31");
    sip_msg_free(m);

    m = parse_torture("escnull.dat");
    cr_assert_str_eq(m->to.user, "null-%00-null");
    cr_assert_eq(contacts_of(m)->n, 2);
    sip_msg_free(m);

    m = parse_torture("esc02.dat");
    cr_assert_eq(m->method_id, SIP_METHOD_OTHER);
    cr_assert_eq(contacts_of(m)->n, 2); /* C%6Fntact is another header */
    sip_msg_free(m);

    m = parse_torture("dblreq.dat");
    cr_assert_eq(m->method_id, SIP_METHOD_REGISTER);
    cr_assert_eq(m->body_len, 0);
    sip_msg_free(m);

    m = parse_torture("longreq.dat");
    cr_assert_eq(m->n_vias, 34);
    cr_assert_str_eq(m->via.host, "sip33.example.com");
    sip_msg_free(m);

    m = parse_torture("unksm2.dat");
    cr_assert_str_eq(m->to.scheme, "isbn");
    cr_assert_null(m->to.user);
    cr_assert_null(m->to.host);
    cr_assert_str_eq(contacts_of(m)->v[0].uri, "name:John_Smith");
    sip_msg_free(m);

    m = parse_torture("regescrt.dat");
    cr_assert_str_eq(contacts_of(m)->v[0].uri,
                     "sip:user@example.com?Route=%3Csip:sip.example.com%3E");
    sip_msg_free(m);

    m = parse_torture("regaut01.dat");
    cr_assert_not_null(auth_of(m));
    cr_assert_str_eq(auth_of(m)->scheme, "NoOneKnowsThisScheme");
    sip_msg_free(m);
}

Test(sip_torture, accepted_messages_parse)
{
    size_t i, len;

    for (i = 0; i < sizeof(torture_accepted) / sizeof(torture_accepted[0]); i++) {
        char *buf = read_torture(torture_accepted[i], &len);
        struct sip_msg *m = NULL;
        struct sip_msg_err err;
        int rc = sip_msg_parse(buf, len, &conf, &m, &err);

        cr_expect_eq(rc, 0, "%s: %d %s", torture_accepted[i], err.code, err.reason);
        sip_msg_free(m);
        free(buf);
    }
}

Test(sip_torture, invalid_messages_refused)
{
    size_t i, len;

    for (i = 0; i < sizeof(torture_refused) / sizeof(torture_refused[0]); i++) {
        char *buf = read_torture(torture_refused[i].file, &len);

        parse_err_conf(buf, len, &conf, torture_refused[i].code, torture_refused[i].reason,
                       torture_refused[i].can_respond);
        free(buf);
    }
}

Test(sip_torture, every_file_is_classified_and_answerable)
{
    DIR *d = opendir(TORTURE_DIR);
    struct dirent *de;
    struct sip_src src;
    size_t n = 0, known = sizeof(torture_valid) / sizeof(torture_valid[0]) +
                          sizeof(torture_refused) / sizeof(torture_refused[0]) +
                          sizeof(torture_accepted) / sizeof(torture_accepted[0]);

    cr_assert_not_null(d, "%s", TORTURE_DIR);
    src_v4(&src, SIP_PROTO_UDP, "192.0.2.99", 5999);
    while ((de = readdir(d)) != NULL) {
        struct tc_buf out = TC_BUF_INIT;
        struct sip_msg *m = NULL;
        struct sip_msg_err err;
        size_t len;
        char *buf;
        int rc;

        if (strstr(de->d_name, ".dat") == NULL)
            continue;
        n++;
        buf = read_torture(de->d_name, &len);
        rc = sip_msg_parse(buf, len, &conf, &m, &err);
        if (rc == 0 && m->is_request && m->method_id != SIP_METHOD_ACK) {
            cr_expect_eq(sip_resp_build(m, &src, 200, NULL, NULL, NULL, &out), 0, "%s", de->d_name);
        } else if (rc < 0 && err.can_respond) {
            cr_expect_eq(sip_resp_error(&err, &src, &out), 0, "%s", de->d_name);
        }
        if (out.len > 0) {
            cr_expect_eq(strncmp(out.data, "SIP/2.0 ", 8), 0, "%s", de->d_name);
            cr_expect_not_null(strstr(out.data, "\r\nVia: "), "%s", de->d_name);
            cr_expect_eq(strcmp(out.data + out.len - 4, "\r\n\r\n"), 0, "%s", de->d_name);
        }
        tc_buf_free(&out);
        sip_msg_free(m);
        free(buf);
    }
    closedir(d);
    cr_assert_eq(n, 49);
    cr_assert_eq(known, 49, "every torture file is listed once");
}

/* ---- responses ---- */

Test(sip_resp, register_200_exact)
{
    static const char want[] = "SIP/2.0 200 OK\r\n"
                               "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK776asdhds;rport=40123"
                               ";received=203.0.113.7\r\n"
                               "From: \"Agent 1001\" <sip:1001@192.0.2.10>;tag=456248\r\n"
                               "To: <sip:1001@192.0.2.10>;tag=abc123\r\n"
                               "Call-ID: 843817637684230@10.0.0.5\r\n"
                               "CSeq: 1826 REGISTER\r\n"
                               "Contact: <sip:1001@10.0.0.5:5060;transport=udp>;expires=1800\r\n"
                               "Date: Sat, 13 Nov 2010 23:29:00 GMT\r\n"
                               "Server: tcluster/" TC_VERSION "\r\n"
                               "Content-Length: 0\r\n"
                               "\r\n";
    struct sip_msg *m = PARSE_OK(reg_basic);
    struct tc_buf out = TC_BUF_INIT;
    struct sockaddr_storage dst;
    struct sip_src src;

    src_v4(&src, SIP_PROTO_UDP, "203.0.113.7", 40123);
    cr_assert_eq(sip_resp_build(m, &src, 200, NULL, "abc123",
                                "Contact: <sip:1001@10.0.0.5:5060;transport=udp>;expires=1800\r\n"
                                "Date: Sat, 13 Nov 2010 23:29:00 GMT\r\n",
                                &out),
                 0);
    cr_assert_str_eq(out.data, want);
    cr_assert_eq(out.len, sizeof(want) - 1);
    /* rport: back to the source address and port. */
    cr_assert_eq(sip_resp_dest(m, &src, &dst), 0);
    cr_assert_eq(memcmp(&dst, &src.peer, sizeof(struct sockaddr_in)), 0);
    tc_buf_free(&out);
    sip_msg_free(m);
}

Test(sip_resp, to_tag_only_when_absent)
{
    struct sip_msg *m = PARSE_OK(REQ_LINE HDR_VIA HDR_FROM
                                 "To: <sip:1001@tc>;tag=have\r\n" HDR_CID HDR_CSEQ "\r\n");
    struct tc_buf out = TC_BUF_INIT;
    struct sip_src src;

    src_v4(&src, SIP_PROTO_UDP, "192.0.2.7", 5060);
    cr_assert_eq(sip_resp_build(m, &src, 403, NULL, "new", NULL, &out), 0);
    cr_assert_not_null(strstr(out.data, "\r\nTo: <sip:1001@tc>;tag=have\r\n"), "%s", out.data);
    cr_assert_null(strstr(out.data, "tag=new"));
    cr_assert_not_null(strstr(out.data, "SIP/2.0 403 Forbidden\r\n"));
    tc_buf_free(&out);
    sip_msg_free(m);

    m = PARSE_OK(REQ(ALL_HDRS));
    cr_assert_eq(sip_resp_build(m, &src, 100, NULL, "new", NULL, &out), 0);
    cr_assert_not_null(strstr(out.data, "\r\nTo: <sip:1001@tc>\r\n"), "%s", out.data);
    tc_buf_reset(&out);
    cr_assert_eq(sip_resp_build(m, &src, 180, "Ringing", "new", NULL, &out), 0);
    cr_assert_not_null(strstr(out.data, "\r\nTo: <sip:1001@tc>;tag=new\r\n"), "%s", out.data);
    tc_buf_free(&out);
    sip_msg_free(m);
}

/* The To tag of the n-th response line. */
static void to_line(const struct tc_buf *b, char *dst, size_t n)
{
    const char *p = strstr(b->data, "\r\nTo: "), *e;

    cr_assert_not_null(p);
    p += 2;
    e = strstr(p, "\r\n");
    snprintf(dst, n, "%.*s", (int)(e - p), p);
}

Test(sip_resp, derived_tag_is_stable)
{
    static const char a[] = REQ(ALL_HDRS);
    static const char b[] = REQ(HDR_VIA HDR_FROM HDR_TO "Call-ID: err-2\r\n" HDR_CSEQ);
    struct sip_msg_conf keyed = conf;
    struct sip_msg *m1, *m2, *m3, *m4;
    struct sip_msg_err err;
    struct tc_buf o1 = TC_BUF_INIT, o2 = TC_BUF_INIT, o3 = TC_BUF_INIT, o4 = TC_BUF_INIT;
    char t1[128], t2[128], t3[128], t4[128];
    struct sip_src src;

    keyed.tag_key = 42;
    src_v4(&src, SIP_PROTO_UDP, "192.0.2.7", 5060);
    m1 = PARSE_OK(a);
    m2 = PARSE_OK(a);
    m3 = PARSE_OK(b);
    cr_assert_eq(sip_msg_parse(a, sizeof(a) - 1, &keyed, &m4, &err), 0);
    cr_assert_eq(sip_resp_build(m1, &src, 404, NULL, NULL, NULL, &o1), 0);
    cr_assert_eq(sip_resp_build(m2, &src, 404, NULL, NULL, NULL, &o2), 0);
    cr_assert_eq(sip_resp_build(m3, &src, 404, NULL, NULL, NULL, &o3), 0);
    cr_assert_eq(sip_resp_build(m4, &src, 404, NULL, NULL, NULL, &o4), 0);
    to_line(&o1, t1, sizeof(t1));
    to_line(&o2, t2, sizeof(t2));
    to_line(&o3, t3, sizeof(t3));
    to_line(&o4, t4, sizeof(t4));
    cr_assert_not_null(strstr(t1, ";tag="), "%s", t1);
    cr_assert_str_eq(t1, t2);
    cr_assert_str_neq(t1, t3);
    cr_assert_str_neq(t1, t4);
    tc_buf_free(&o1);
    tc_buf_free(&o2);
    tc_buf_free(&o3);
    tc_buf_free(&o4);
    sip_msg_free(m1);
    sip_msg_free(m2);
    sip_msg_free(m3);
    sip_msg_free(m4);
}

Test(sip_resp, vias_in_order)
{
    struct sip_msg *m =
            PARSE_OK("INVITE sip:1001@tc SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp;"
                     "received=198.51.100.1, SIP/2.0/TCP inner.example.com;branch=z9hG4bKq\r\n"
                     "Max-Forwards: 69\r\n"
                     "v: SIP/2.0/UDP 192.0.2.30:5070;branch=z9hG4bKr\r\n"
                     "From: <sip:2000@example.com>;tag=1\r\nTo: <sip:1001@tc>\r\n"
                     "Call-ID: order\r\n"
                     "Via: SIP/2.0/UDP 192.0.2.31;branch=z9hG4bKs\r\n"
                     "CSeq: 3 INVITE\r\n\r\n");
    static const char want[] =
            "SIP/2.0 302 Moved Temporarily\r\n"
            "Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp;received=198.51.100.7,"
            " SIP/2.0/TCP inner.example.com;branch=z9hG4bKq\r\n"
            "Via: SIP/2.0/UDP 192.0.2.30:5070;branch=z9hG4bKr\r\n"
            "Via: SIP/2.0/UDP 192.0.2.31;branch=z9hG4bKs\r\n"
            "From: <sip:2000@example.com>;tag=1\r\n"
            "To: <sip:1001@tc>;tag=t\r\n"
            "Call-ID: order\r\n"
            "CSeq: 3 INVITE\r\n"
            "Contact: <sip:1001@10.0.0.5>\r\n"
            "Server: tcluster/" TC_VERSION "\r\n"
            "Content-Length: 0\r\n\r\n";
    struct tc_buf out = TC_BUF_INIT;
    struct sockaddr_storage dst;
    struct sockaddr_in *in = (struct sockaddr_in *)&dst;
    struct sip_src src;

    cr_assert_eq(m->n_vias, 4);
    src_v4(&src, SIP_PROTO_UDP, "198.51.100.7", 5060);
    cr_assert_eq(tc_buf_puts(&out, "kept|"), 0);
    cr_assert_eq(sip_resp_build(m, &src, 302, NULL, "t", "Contact: <sip:1001@10.0.0.5>\r\n", &out),
                 0);
    cr_assert_str_eq(out.data + 5, want);
    cr_assert_eq(strncmp(out.data, "kept|", 5), 0);
    /* No rport: the source address, the Via's port or 5060. */
    cr_assert_eq(sip_resp_dest(m, &src, &dst), 0);
    cr_assert_eq(ntohs(in->sin_port), 5060);
    tc_buf_free(&out);
    sip_msg_free(m);
}

Test(sip_resp, received_and_dest)
{
    struct sip_msg *m = PARSE_OK(REQ(ALL_HDRS));
    struct tc_buf out = TC_BUF_INIT;
    struct sockaddr_storage dst;
    struct sockaddr_in *in = (struct sockaddr_in *)&dst;
    struct sip_src src;

    /* sent-by is the source: no received. */
    src_v4(&src, SIP_PROTO_UDP, "192.0.2.7", 6000);
    cr_assert_eq(sip_resp_build(m, &src, 200, NULL, "x", NULL, &out), 0);
    cr_assert_not_null(strstr(out.data, "\r\n" HDR_VIA), "%s", out.data);
    cr_assert_eq(sip_resp_dest(m, &src, &dst), 0);
    cr_assert_eq(ntohs(in->sin_port), 5060);
    tc_buf_reset(&out);
    /* NAT: received. */
    src_v4(&src, SIP_PROTO_UDP, "203.0.113.9", 6000);
    cr_assert_eq(sip_resp_build(m, &src, 200, NULL, "x", NULL, &out), 0);
    cr_assert_not_null(strstr(out.data, ";branch=z9hG4bKerr;received=203.0.113.9\r\n"), "%s",
                       out.data);
    tc_buf_reset(&out);
    /* TCP: the connection's peer as it is. */
    src_v4(&src, SIP_PROTO_TCP, "203.0.113.9", 6000);
    cr_assert_eq(sip_resp_dest(m, &src, &dst), 0);
    cr_assert_eq(ntohs(in->sin_port), 6000);
    tc_buf_free(&out);
    sip_msg_free(m);
}

Test(sip_resp, ipv6_received_rport)
{
    struct sip_msg *m = PARSE_OK("REGISTER sip:[2001:db8::1] SIP/2.0\r\n"
                                 "Via: SIP/2.0/UDP [2001:db8::2];rport;branch=z9hG4bK6\r\n"
                                 "From: <sip:1003@[2001:db8::1]>;tag=6\r\n"
                                 "To: <sip:1003@[2001:db8::1]>\r\n"
                                 "Call-ID: v6\r\nCSeq: 1 REGISTER\r\n\r\n");
    struct tc_buf out = TC_BUF_INIT;
    struct sip_src src;

    src_v6(&src, SIP_PROTO_UDP, "2001:db8::2", 7000);
    cr_assert_eq(sip_resp_build(m, &src, 200, NULL, "x", NULL, &out), 0);
    cr_assert_not_null(strstr(out.data, "Via: SIP/2.0/UDP [2001:db8::2];rport=7000;"
                                        "branch=z9hG4bK6;received=2001:db8::2\r\n"),
                       "%s", out.data);
    tc_buf_reset(&out);
    /* A dual-stack socket: an IPv4-mapped source reads as IPv4. */
    src_v6(&src, SIP_PROTO_UDP, "::ffff:192.0.2.50", 7001);
    cr_assert_eq(sip_resp_build(m, &src, 200, NULL, "x", NULL, &out), 0);
    cr_assert_not_null(strstr(out.data, ";rport=7001;branch=z9hG4bK6;received=192.0.2.50\r\n"),
                       "%s", out.data);
    tc_buf_free(&out);
    sip_msg_free(m);
}

Test(sip_resp, error_response_from_fallback)
{
    static const char bad[] = "INVITE sip:1001@tc SIP/2.0\r\n"
                              "v: SIP/2.0/UDP 192.0.2.8:5070;branch=z9hG4bKb;rport\r\n"
                              "f: <sip:2000@example.com>;tag=ft\r\n"
                              "t: \"unbalanced <sip:1001@tc>\r\n"
                              "i: fb-1\r\nCSeq: 4 INVITE\r\n\r\n";
    static const char want[] = "SIP/2.0 400 Bad To\r\n"
                               "Via: SIP/2.0/UDP 192.0.2.8:5070;branch=z9hG4bKb;rport=5071"
                               ";received=192.0.2.8\r\n"
                               "From: <sip:2000@example.com>;tag=ft\r\n"
                               "To: \"unbalanced <sip:1001@tc>\r\n"
                               "Call-ID: fb-1\r\n"
                               "CSeq: 4 INVITE\r\n"
                               "Server: tcluster/" TC_VERSION "\r\n"
                               "Content-Length: 0\r\n\r\n";
    struct sip_msg *m;
    struct sip_msg_err err;
    struct tc_buf out = TC_BUF_INIT;
    struct sockaddr_storage dst;
    struct sip_src src;

    cr_assert_eq(sip_msg_parse(bad, sizeof(bad) - 1, &conf, &m, &err), -EPROTO);
    cr_assert(err.can_respond);
    src_v4(&src, SIP_PROTO_UDP, "192.0.2.8", 5071);
    cr_assert_eq(sip_resp_error(&err, &src, &out), 0);
    cr_assert_str_eq(out.data, want);
    cr_assert_eq(sip_resp_error_dest(&err, &src, &dst), 0);
    cr_assert_eq(ntohs(((struct sockaddr_in *)&dst)->sin_port), 5071);
    tc_buf_free(&out);
}

Test(sip_resp, error_response_adds_tag_and_folds)
{
    static const char bad[] = REQ_LINE HDR_VIA "From: <sip:1001@tc>\r\n ;tag=f\r\n" HDR_TO HDR_CID
                                               "CSeq: 1 REGISTER\r\nExpires: never\r\n\r\n";
    struct sip_msg *m;
    struct sip_msg_err err;
    struct tc_buf out = TC_BUF_INIT;
    struct sip_src src;

    cr_assert_eq(sip_msg_parse(bad, sizeof(bad) - 1, &conf, &m, &err), -EPROTO);
    cr_assert_str_eq(err.reason, "Bad Expires");
    src_v4(&src, SIP_PROTO_UDP, "192.0.2.7", 5060);
    cr_assert_eq(sip_resp_error(&err, &src, &out), 0);
    cr_assert_not_null(strstr(out.data, "\r\nFrom: <sip:1001@tc>   ;tag=f\r\n"), "%s", out.data);
    cr_assert_not_null(strstr(out.data, "\r\nTo: <sip:1001@tc>;tag="), "%s", out.data);
    tc_buf_free(&out);
}

Test(sip_resp, reasons)
{
    cr_assert_str_eq(sip_resp_reason(200), "OK");
    cr_assert_str_eq(sip_resp_reason(302), "Moved Temporarily");
    cr_assert_str_eq(sip_resp_reason(423), "Interval Too Brief");
    cr_assert_str_eq(sip_resp_reason(499), "Client Error");
    cr_assert_str_eq(sip_resp_reason(42), "Unknown");
}

Test(sip_resp, bad_codes_leave_buffer)
{
    struct sip_msg *m = PARSE_OK(REQ(ALL_HDRS));
    struct tc_buf out = TC_BUF_INIT;
    struct sip_src src;

    src_v4(&src, SIP_PROTO_UDP, "192.0.2.7", 5060);
    cr_assert_eq(tc_buf_puts(&out, "x"), 0);
    cr_assert_eq(sip_resp_build(m, &src, 99, NULL, NULL, NULL, &out), -EINVAL);
    cr_assert_eq(sip_resp_build(m, &src, 700, NULL, NULL, NULL, &out), -EINVAL);
    cr_assert_str_eq(out.data, "x");
    tc_buf_free(&out);
    sip_msg_free(m);
}
