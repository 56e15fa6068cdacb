#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "server/core/core.h"
#include "server/core/dn_table.h"
#include "tcport/peer/peer_wire.h"
#include "tests/tc_test.h"

static struct dn_dir dir;
static struct dn_table t;

static void setup(void)
{
    struct dn_profile p = {.type = DN_TYPE_EXTENSION};

    dn_dir_init(&dir);
    cr_assert_geq(dn_dir_add_profile(&dir, &p), 0);
    cr_assert_eq(dn_dir_add_range(&dir, "1000-1999", 0, 1), 0);
    cr_assert_eq(dn_dir_finish(&dir, NULL, NULL), 0);
    cr_assert_eq(dn_table_init(&t, &dir, "sip1"), 0);
    cr_assert_eq(dn_table_add_node(&t, "sip2"), 2);
    cr_assert_eq(dn_table_add_node(&t, "sip3"), 3);
}

static void teardown(void)
{
    dn_table_free(&t);
    dn_dir_free(&dir);
    tc_test_leak_check();
}

TestSuite(peer_wire, .init = setup, .fini = teardown);

static dn_key key(const char *s)
{
    dn_key k;

    cr_assert_eq(dn_key_parse(s, strlen(s), &k), 0);
    return k;
}

Test(peer_wire, frame_has_big_endian_length_and_decodes)
{
    Tc__Peer__Hello h = TC__PEER__HELLO__INIT;
    Tc__Peer__Msg m = TC__PEER__MSG__INIT;
    struct tc_buf b = TC_BUF_INIT;
    uint8_t nonce[PEER_NONCE_LEN] = {7};
    Tc__Peer__Msg *got;
    const uint8_t *p;
    size_t len;

    h.proto_major = PEER_PROTO_MAJOR;
    h.node = "sip2";
    h.to = "sip1";
    h.nonce.data = nonce;
    h.nonce.len = sizeof(nonce);
    m.body_case = TC__PEER__MSG__BODY_HELLO;
    m.hello = &h;
    cr_assert_eq(peer_wire_frame(&b, &m), (long)b.len);
    p = (const uint8_t *)b.data;
    len = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
    cr_assert_eq(len + PEER_FRAME_HDR, b.len);
    got = peer_wire_decode(p + PEER_FRAME_HDR, len);
    cr_assert_not_null(got);
    cr_assert_eq(got->body_case, TC__PEER__MSG__BODY_HELLO);
    cr_assert_str_eq(got->hello->node, "sip2");
    cr_assert_eq(got->hello->nonce.len, PEER_NONCE_LEN);
    cr_assert_eq(got->hello->nonce.data[0], 7);
    peer_wire_free(got);

    /* Two frames append. */
    cr_assert_gt(peer_wire_frame(&b, &m), 0);
    cr_assert_eq(b.len, 2 * (len + PEER_FRAME_HDR));
    tc_buf_free(&b);
}

Test(peer_wire, garbage_does_not_decode)
{
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff};
    const uint8_t truncated[] = {0x0a, 0x10, 0x08}; /* hello of 16 bytes, 1 there */

    cr_assert_null(peer_wire_decode(junk, sizeof(junk)));
    cr_assert_null(peer_wire_decode(truncated, sizeof(truncated)));
    peer_wire_free(NULL);
}

Test(peer_wire, claim_round_trip_with_names)
{
    struct peer_claim c = {
            .dn = key("1042"),
            .owner = 2,
            .source = DN_SOURCE_SIP,
            .version = {.hlc = UINT64_C(1763780000000) << 16 | 3, .node = 2},
            .since_ms = 1763780000000,
            .seq = 17,
    };
    struct peer_wire_claim w;
    struct peer_claim back;
    uint8_t buf[256];
    Tc__Peer__Claim *pb;
    size_t len;

    peer_wire_claim_fill(&w, &t, &c);
    cr_assert_str_eq(w.pb.dn, "1042");
    cr_assert_str_eq(w.pb.owner, "sip2");
    cr_assert_str_eq(w.pb.version->node, "sip2");
    len = tc__peer__claim__pack(&w.pb, buf);
    pb = tc__peer__claim__unpack(NULL, len, buf);
    cr_assert_not_null(pb);
    cr_assert_eq(peer_wire_claim_parse(&t, pb, &back), 0);
    cr_assert_eq(back.dn, c.dn);
    cr_assert_eq(back.owner, 2);
    cr_assert_eq(back.source, DN_SOURCE_SIP);
    cr_assert_eq(back.version.hlc, c.version.hlc);
    cr_assert_eq(back.version.node, 2);
    cr_assert_eq(back.since_ms, c.since_ms);
    cr_assert_eq(back.seq, 17);
    tc__peer__claim__free_unpacked(pb, NULL);
}

Test(peer_wire, release_has_no_owner)
{
    struct peer_claim c = {.dn = key("1001"), .version = {.hlc = 99, .node = 3}};
    struct peer_wire_claim w;
    struct peer_claim back;

    peer_wire_claim_fill(&w, &t, &c);
    cr_assert_str_eq(w.pb.owner, "");
    cr_assert_eq(peer_wire_claim_parse(&t, &w.pb, &back), 0);
    cr_assert_eq(back.owner, DN_NODE_NONE);
    cr_assert_eq(back.version.node, 3);
}

Test(peer_wire, bad_claims_are_refused)
{
    struct peer_claim c = {.dn = key("1001"), .owner = 2, .version = {.hlc = 99, .node = 2}};
    struct peer_wire_claim w;
    struct peer_claim back;

    peer_wire_claim_fill(&w, &t, &c);
    w.pb.dn = "10x1";
    cr_assert_eq(peer_wire_claim_parse(&t, &w.pb, &back), -EINVAL);
    w.pb.dn = "1001";
    w.pb.owner = "sip9";
    cr_assert_eq(peer_wire_claim_parse(&t, &w.pb, &back), -ENOENT);
    w.pb.owner = "sip2";
    w.ver.node = "sip9";
    cr_assert_eq(peer_wire_claim_parse(&t, &w.pb, &back), -ENOENT);
    w.ver.node = "";
    cr_assert_eq(peer_wire_claim_parse(&t, &w.pb, &back), -EINVAL);
    w.ver.node = "sip2";
    w.ver.hlc = 0;
    cr_assert_eq(peer_wire_claim_parse(&t, &w.pb, &back), -EINVAL);
    w.ver.hlc = 99;
    w.pb.version = NULL;
    cr_assert_eq(peer_wire_claim_parse(&t, &w.pb, &back), -EINVAL);
    w.pb.version = &w.ver;
    w.pb.source = 7;
    cr_assert_eq(peer_wire_claim_parse(&t, &w.pb, &back), -EINVAL);
    w.pb.source = TC__SOURCE__SOURCE_TLIB;
    cr_assert_eq(peer_wire_claim_parse(&t, &w.pb, &back), 0);
}

Test(peer_wire, claim_size_adds_up_to_the_packed_message)
{
    struct peer_wire_claim w[3];
    Tc__Peer__Claim *ptrs[3];
    Tc__Peer__SyncChunk ch = TC__PEER__SYNC_CHUNK__INIT;
    size_t sum = 0;

    for (int i = 0; i < 3; i++) {
        struct peer_claim c = {.dn = key(i == 0   ? "1000"
                                         : i == 1 ? "1500"
                                                  : "1999"),
                               .owner = (uint16_t)(i + 1),
                               .source = DN_SOURCE_SIP,
                               .version = {.hlc = (UINT64_C(1763780000000) << 16) + (uint64_t)i,
                                           .node = (uint16_t)(i + 1)},
                               .since_ms = 1763780000000};

        peer_wire_claim_fill(&w[i], &t, &c);
        ptrs[i] = &w[i].pb;
        sum += peer_wire_claim_size(&w[i].pb);
    }
    ch.claims = ptrs;
    ch.n_claims = 3;
    cr_assert_eq(tc__peer__sync_chunk__get_packed_size(&ch), sum);
    /* A claim costs tens of bytes, names included. */
    cr_assert_lt(sum / 3, 64);
}

static const uint8_t n1[PEER_NONCE_LEN] = {1, 2, 3};
static const uint8_t n2[PEER_NONCE_LEN] = {4, 5, 6};

Test(peer_wire, mac_proves_the_secret_one_way_only)
{
    const char *secret = "0123456789abcdef0123456789abcdef";
    size_t sl = strlen(secret);
    uint8_t mac[PEER_MAC_LEN];

    /* sip1 answers sip2's challenge n2 with its own nonce n1. */
    cr_assert_eq(peer_wire_mac(secret, sl, "sip1", "sip2", n2, n1, mac), 0);
    cr_assert(peer_wire_mac_ok(secret, sl, "sip1", "sip2", n2, n1, mac, sizeof(mac)));
    cr_assert_not(peer_wire_mac_ok("another secret", 14, "sip1", "sip2", n2, n1, mac, sizeof(mac)));
    /* Reflected back as sip2's proof, or for another challenge: refused. */
    cr_assert_not(peer_wire_mac_ok(secret, sl, "sip2", "sip1", n1, n2, mac, sizeof(mac)));
    cr_assert_not(peer_wire_mac_ok(secret, sl, "sip1", "sip2", n1, n2, mac, sizeof(mac)));
    cr_assert_not(peer_wire_mac_ok(secret, sl, "sip1", "sip3", n2, n1, mac, sizeof(mac)));
    cr_assert_not(peer_wire_mac_ok(secret, sl, "sip1", "sip2", n2, n1, mac, sizeof(mac) - 1));
    mac[5] ^= 1;
    cr_assert_not(peer_wire_mac_ok(secret, sl, "sip1", "sip2", n2, n1, mac, sizeof(mac)));
    /* Names cannot slide into each other. */
    cr_assert_eq(peer_wire_mac(secret, sl, "sip1s", "ip2", n2, n1, mac), 0);
    cr_assert_not(peer_wire_mac_ok(secret, sl, "sip1", "sip2", n2, n1, mac, sizeof(mac)));
}

Test(peer_wire, mac_needs_a_secret)
{
    uint8_t mac[PEER_MAC_LEN];

    cr_assert_eq(peer_wire_mac("", 0, "sip1", "sip2", n2, n1, mac), -EINVAL);
    cr_assert_not(peer_wire_mac_ok("", 0, "sip1", "sip2", n2, n1, mac, sizeof(mac)));
}

/* Frame m, decode the frame body again. */
static Tc__Peer__Msg *round_trip(const Tc__Peer__Msg *m, struct tc_buf *b)
{
    cr_assert_gt(peer_wire_frame(b, m), 0);
    return peer_wire_decode((const uint8_t *)b->data + PEER_FRAME_HDR, b->len - PEER_FRAME_HDR);
}

Test(peer_wire, call_round_trip_with_names)
{
    struct core_call in = {
            .call_id = "a84b4c76e66710@pc33",
            .dn = key("1002"),
            .code = 302,
            .outcome = "forwarded",
            .origin = DN_NODE_SELF,
            .target = 2,
            .contact = "sip:1002@10.0.0.2:5060;tc-fwd=sip1",
            .other_dn = "9002",
            .outbound = true,
            .time_ms = 1700000000123,
    };
    Tc__Peer__Msg m = TC__PEER__MSG__INIT;
    struct tc_buf b = TC_BUF_INIT;
    struct peer_wire_call w;
    struct core_call out;
    Tc__Peer__Msg *got;

    peer_wire_call_fill(&w, &t, &in);
    cr_assert_str_eq(w.pb.dn, "1002");
    cr_assert_str_eq(w.pb.target, "sip2");
    m.body_case = TC__PEER__MSG__BODY_CALL;
    m.call = &w.pb;
    got = round_trip(&m, &b);
    cr_assert_not_null(got);
    cr_assert_eq(got->body_case, TC__PEER__MSG__BODY_CALL);
    cr_assert_eq(peer_wire_call_parse(&t, got->call, &out), 0);
    cr_assert_str_eq(out.call_id, in.call_id);
    cr_assert_eq(out.dn, in.dn);
    cr_assert_eq(out.code, 302);
    cr_assert_str_eq(out.outcome, "forwarded");
    cr_assert_eq(out.target, 2);
    cr_assert_str_eq(out.contact, in.contact);
    cr_assert_str_eq(out.other_dn, "9002");
    cr_assert(out.outbound);
    cr_assert_eq(out.time_ms, in.time_ms);
    cr_assert_eq(out.origin, DN_NODE_NONE, "the receiver sets the origin: the sender");
    peer_wire_free(got);
    tc_buf_free(&b);
}

Test(peer_wire, call_without_dn_target_or_contact)
{
    struct core_call in = {.call_id = "x", .dn = DN_KEY_NONE, .code = 404, .outcome = "not_found"};
    struct peer_wire_call w;
    struct core_call out;

    peer_wire_call_fill(&w, &t, &in);
    cr_assert_str_eq(w.pb.dn, "");
    cr_assert_str_eq(w.pb.target, "");
    cr_assert_eq(peer_wire_call_parse(&t, &w.pb, &out), 0);
    cr_assert_eq(out.dn, DN_KEY_NONE);
    cr_assert_eq(out.target, DN_NODE_NONE);
    cr_assert_null(out.contact);
    cr_assert_null(out.other_dn);
    cr_assert_not(out.outbound);
}

Test(peer_wire, call_target_self_is_the_receiver)
{
    Tc__Peer__Call pb = TC__PEER__CALL__INIT;
    struct core_call out;

    pb.code = 302;
    pb.target = "sip1";
    cr_assert_eq(peer_wire_call_parse(&t, &pb, &out), 0);
    cr_assert_eq(out.target, DN_NODE_SELF);
}

Test(peer_wire, long_call_strings_are_cut_when_sent)
{
    char id[PEER_CALL_ID_MAX + 100], contact[PEER_CALL_CONTACT_MAX + 100];
    struct core_call in = {.call_id = id, .code = 302, .outcome = "local", .contact = contact};
    struct peer_wire_call w;
    struct core_call out;

    memset(id, 'i', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    memset(contact, 'c', sizeof(contact) - 1);
    contact[sizeof(contact) - 1] = '\0';
    peer_wire_call_fill(&w, &t, &in);
    cr_assert_eq(strlen(w.pb.call_id), PEER_CALL_ID_MAX);
    cr_assert_eq(strlen(w.pb.contact), PEER_CALL_CONTACT_MAX);
    cr_assert_eq(peer_wire_call_parse(&t, &w.pb, &out), 0);
}

Test(peer_wire, bad_calls_are_refused)
{
    char id[PEER_CALL_ID_MAX + 2];
    Tc__Peer__Call pb = TC__PEER__CALL__INIT;
    struct core_call out;

    pb.code = 302;
    pb.dn = "10a2";
    cr_assert_eq(peer_wire_call_parse(&t, &pb, &out), -EINVAL);
    pb.dn = "1002";
    pb.code = 99;
    cr_assert_eq(peer_wire_call_parse(&t, &pb, &out), -EINVAL);
    pb.code = 700;
    cr_assert_eq(peer_wire_call_parse(&t, &pb, &out), -EINVAL);
    pb.code = 480;
    pb.target = "sip9";
    cr_assert_eq(peer_wire_call_parse(&t, &pb, &out), -ENOENT);
    pb.target = "";
    memset(id, 'i', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    pb.call_id = id;
    cr_assert_eq(peer_wire_call_parse(&t, &pb, &out), -EINVAL);
    pb.call_id = "ok";
    cr_assert_eq(peer_wire_call_parse(&t, &pb, &out), 0);
}

Test(peer_wire, unknown_msg_member_decodes_as_not_set)
{
    /* Field 99 of Msg, length-delimited, empty: what a node of a later
     * minor version may send. The receiver ignores it. */
    static const uint8_t body[] = {0x9a, 0x06, 0x00};
    Tc__Peer__Msg *got = peer_wire_decode(body, sizeof(body));

    cr_assert_not_null(got);
    cr_assert_eq(got->body_case, TC__PEER__MSG__BODY__NOT_SET);
    peer_wire_free(got);
}
