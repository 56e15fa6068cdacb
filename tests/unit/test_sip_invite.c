/* sip_invite: the answer of the redirect server to an INVITE (Contacts,
 * Expires, the tc-fwd marker, Warning), the marker and DN read from the
 * Request-URI, the stable To tag, and the recent-INVITE set. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/base/buf.h"
#include "server/config/config.h"
#include "server/core/bindings.h"
#include "server/redirect/redirect.h"
#include "server/sip/sip_invite.h"
#include "server/sip/sip_msg.h"
#include "server/sip/sip_resp.h"
#include "server/sip/sip_src.h"
#include "tests/tc_test.h"

TestSuite(sip_invite, .fini = tc_test_leak_check);

#define T0 UINT64_C(1795000000000)

static struct sip_msg *parse(const char *text)
{
    struct sip_msg_conf conf = SIP_MSG_CONF_DEFAULT;
    struct sip_msg *m = NULL;
    struct sip_msg_err err;

    conf.tag_key = 42;
    cr_assert_eq(sip_msg_parse(text, strlen(text), &conf, &m, &err), 0, "parse: %s",
                 err.reason ? err.reason : "");
    return m;
}

/* An INVITE for ruri with a Call-ID, branch and an SDP body. */
static char *invite(const char *ruri, const char *call_id, const char *branch)
{
    static const char sdp[] = "v=0\r\no=- 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\n"
                              "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    char *s = NULL;

    cr_assert(asprintf(&s,
                       "INVITE %s SIP/2.0\r\n"
                       "Via: SIP/2.0/UDP 10.0.0.9:5062;branch=%s;rport\r\n"
                       "Max-Forwards: 70\r\n"
                       "From: <sip:2000@10.0.0.9>;tag=caller1\r\n"
                       "To: <sip:1001@192.0.2.1>\r\n"
                       "Call-ID: %s\r\n"
                       "CSeq: 7 INVITE\r\n"
                       "Content-Type: application/sdp\r\n"
                       "Content-Length: %zu\r\n\r\n%s",
                       ruri, branch, call_id, sizeof(sdp) - 1, sdp) > 0);
    return s;
}

static void src_v4(struct sip_src *src)
{
    struct sockaddr_in *in = (struct sockaddr_in *)&src->peer;

    memset(src, 0, sizeof(*src));
    src->proto = SIP_PROTO_UDP;
    in->sin_family = AF_INET;
    in->sin_port = htons(5062);
    inet_pton(AF_INET, "10.0.0.9", &in->sin_addr);
}

static dn_key key(const char *s)
{
    dn_key k;

    cr_assert_eq(dn_key_parse(s, strlen(s), &k), 0);
    return k;
}

Test(sip_invite, local_decision_lists_every_contact_with_expires)
{
    struct bindings bs;
    struct u64map dns;
    struct redirect_decision d;
    struct tc_buf out = TC_BUF_INIT;
    struct binding *b1, *b2;
    const char *c1 = "sip:1001@10.0.0.5:5060;transport=udp", *c2 = "sip:1001@10.0.0.6:5070";

    u64map_init(&dns, sizeof(struct dn_entry));
    cr_assert_eq(bindings_init(&bs, &dns, T0), 0);
    b1 = binding_new(&bs, key("1001"), c1, strlen(c1), "a", 1, "udp:10.0.0.5:5060", NULL, 0, 1,
                     T0 + 300000, T0);
    b2 = binding_new(&bs, key("1001"), c2, strlen(c2), "b", 1, "udp:10.0.0.6:5070", NULL, 0, 1,
                     T0 + 60000, T0);
    memset(&d, 0, sizeof(d));
    d.code = 302;
    d.outcome = REDIRECT_LOCAL;
    d.contacts[0] = (struct redirect_contact){b1, 300};
    d.contacts[1] = (struct redirect_contact){b2, 60};
    d.n_contacts = 2;
    cr_assert_eq(sip_invite_headers(&d, key("1001"), "sip1", &out), 0);
    cr_assert_str_eq(out.data, "Contact: <sip:1001@10.0.0.5:5060;transport=udp>;expires=300\r\n"
                               "Contact: <sip:1001@10.0.0.6:5070>;expires=60\r\n"
                               "Expires: 60\r\n");
    tc_buf_free(&out);
    binding_free(&bs, b1);
    binding_free(&bs, b2);
    bindings_free(&bs);
    u64map_free(&dns);
}

Test(sip_invite, forward_is_marked_with_this_node)
{
    struct config_peer peer = {.name = "sip2", .access_number = "9002"};
    struct redirect_decision d;
    struct tc_buf out = TC_BUF_INIT;
    char uri[200];

    memset(&d, 0, sizeof(d));
    d.code = 302;
    d.outcome = REDIRECT_FORWARDED;
    d.peer = &peer;
    snprintf(peer.sip_address.host, sizeof(peer.sip_address.host), "127.0.0.1");
    peer.sip_address.port = 15020;
    cr_assert_eq(sip_invite_headers(&d, key("1002"), "sip1", &out), 0);
    cr_assert_str_eq(out.data, "Contact: <sip:1002@127.0.0.1:15020;tc-fwd=sip1>\r\n"
                               "Expires: 30\r\n");
    /* IPv6 in brackets; a short buffer is refused, not cut. */
    snprintf(peer.sip_address.host, sizeof(peer.sip_address.host), "2001:db8::7");
    cr_assert_eq(sip_invite_forward_uri(&d, key("0042"), "sip1", uri, sizeof(uri)), 0);
    cr_assert_str_eq(uri, "sip:0042@[2001:db8::7]:15020;tc-fwd=sip1");
    cr_assert_eq(sip_invite_forward_uri(&d, key("0042"), "sip1", uri, 20), -ENOSPC);
    tc_buf_free(&out);
}

Test(sip_invite, refusals_say_why)
{
    struct redirect_decision d;
    struct tc_buf out = TC_BUF_INIT;

    memset(&d, 0, sizeof(d));
    d.code = 480;
    d.outcome = REDIRECT_UNAVAILABLE;
    d.reason = "out of service";
    cr_assert_eq(sip_invite_headers(&d, key("1003"), "sip1", &out), 0);
    cr_assert_str_eq(out.data, "Warning: 399 sip1 \"out of service\"\r\n");
    tc_buf_free(&out);
}

Test(sip_invite, request_uri_gives_dn_and_marker)
{
    char *a = invite("sip:1001@192.0.2.1;tc-fwd=sip2;transport=udp", "c1", "z9hG4bK1");
    char *b = invite("sip:1001@192.0.2.1:5060", "c1", "z9hG4bK1");
    char *c = invite("sip:alice@192.0.2.1", "c1", "z9hG4bK1");
    char *e = invite("sip:192.0.2.1;TC-FWD", "c1", "z9hG4bK1");
    struct sip_msg *ma = parse(a), *mb = parse(b), *mc = parse(c), *me = parse(e);

    cr_assert(sip_invite_marked(ma));
    cr_assert_eq(sip_invite_dn(ma), key("1001"));
    cr_assert_not(sip_invite_marked(mb));
    cr_assert_eq(sip_invite_dn(mb), key("1001"));
    cr_assert_eq(sip_invite_dn(mc), DN_KEY_NONE);
    cr_assert(sip_invite_marked(me));
    cr_assert_eq(sip_invite_dn(me), DN_KEY_NONE);
    sip_msg_free(ma);
    sip_msg_free(mb);
    sip_msg_free(mc);
    sip_msg_free(me);
    free(a);
    free(b);
    free(c);
    free(e);
}

/* The To line of the answer to text. */
static void to_line(const char *text, char *line, size_t size)
{
    struct tc_buf out = TC_BUF_INIT;
    struct sip_msg *m = parse(text);
    struct sip_src src;
    const char *p, *end;

    src_v4(&src);
    cr_assert_eq(sip_resp_build(m, &src, 302, NULL, NULL, "Contact: <sip:x@y>\r\n", &out), 0);
    p = strstr(out.data, "\r\nTo: ");
    cr_assert_not_null(p);
    end = strstr(p + 2, "\r\n");
    snprintf(line, size, "%.*s", (int)(end - p - 2), p + 2);
    cr_assert_not_null(strstr(out.data, "Contact: <sip:x@y>\r\nServer: "));
    cr_assert_not_null(strstr(out.data, "Content-Length: 0\r\n\r\n"));
    sip_msg_free(m);
    tc_buf_free(&out);
}

Test(sip_invite, retransmission_gets_the_same_to_tag)
{
    char *a = invite("sip:1001@192.0.2.1", "call-77", "z9hG4bKa");
    char *b = invite("sip:1001@192.0.2.1", "call-78", "z9hG4bKa");
    char first[200], again[200], other[200];

    to_line(a, first, sizeof(first));
    to_line(a, again, sizeof(again));
    to_line(b, other, sizeof(other));
    cr_assert_not_null(strstr(first, ";tag="));
    cr_assert_str_eq(first, again);
    cr_assert_str_neq(first, other);
    free(a);
    free(b);
}

Test(sip_invite, recent_set_tells_retransmissions)
{
    static struct sip_invite_recent r;
    char *a = invite("sip:1001@192.0.2.1", "call-1", "z9hG4bKa");
    char *b = invite("sip:1001@192.0.2.1", "call-1", "z9hG4bKb");
    struct sip_msg *ma = parse(a), *mb = parse(b);

    cr_assert_not(sip_invite_recent_seen(&r, ma, T0));
    cr_assert(sip_invite_recent_seen(&r, ma, T0 + 500));
    /* Another branch is another transaction. */
    cr_assert_not(sip_invite_recent_seen(&r, mb, T0 + 600));
    /* After Timer B, a new call. */
    cr_assert_not(sip_invite_recent_seen(&r, ma, T0 + SIP_INVITE_RETRANS_MS + 1));
    sip_invite_recent_free(&r);
    sip_msg_free(ma);
    sip_msg_free(mb);
    free(a);
    free(b);
}

Test(sip_invite, a_retransmission_gets_the_kept_answer)
{
    static struct sip_invite_recent r;
    char *a = invite("sip:7000@192.0.2.1", "call-rp", "z9hG4bKrp");
    char *b = invite("sip:7000@192.0.2.1", "call-other", "z9hG4bKo");
    struct sip_msg *ma = parse(a), *mb = parse(b);
    const char *extra;

    cr_assert_not(sip_invite_recent_seen(&r, ma, T0));
    cr_assert_eq(sip_invite_recent_keep(&r, 302, "Contact: <sip:1001@10.0.0.1>;expires=60\r\n"), 0);
    cr_assert_not(sip_invite_recent_seen(&r, mb, T0 + 10));
    cr_assert_eq(sip_invite_recent_keep(&r, 480, NULL), 0);
    /* The first INVITE again: the same 302 with the same agent. */
    cr_assert(sip_invite_recent_seen(&r, ma, T0 + 500));
    cr_assert_eq(sip_invite_recent_answer(&r, &extra), 302);
    cr_assert_str_eq(extra, "Contact: <sip:1001@10.0.0.1>;expires=60\r\n");
    cr_assert(sip_invite_recent_seen(&r, mb, T0 + 510));
    cr_assert_eq(sip_invite_recent_answer(&r, &extra), 480);
    cr_assert_null(extra);
    sip_invite_recent_free(&r);
    sip_msg_free(ma);
    sip_msg_free(mb);
    free(a);
    free(b);
}
