/* Call events between nodes (DESIGN §5): a peer's Call reaches every TC
 * subscriber of the receiving node as that peer's decision, and no
 * default-port client there (the local view shows only calls decided
 * here); malformed calls and messages of a newer protocol minor are
 * ignored without dropping the link. The peer is played by the test
 * (tests/integration/harness_peer.h) as sip1 against a real sip2. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "proto/peer.pb-c.h"
#include "tests/integration/harness_cluster.h"
#include "tests/integration/harness_peer.h"
#include "tests/integration/harness_tc.h"
#include "tests/tc_test.h"

TestSuite(replication_calls, .fini = tc_test_leak_check, .timeout = 240);

#define SECRET "0123456789abcdef0123456789abcdef"

/* Play sip1 against n through to an up link. Returns the connection. */
static int peer_up(const struct hnode *n, uint32_t minor)
{
    Tc__Peer__Msg out = TC__PEER__MSG__INIT;
    Tc__Peer__SyncEnd end = TC__PEER__SYNC_END__INIT;
    Tc__Peer__Msg *m;
    int fd = hpeer_dial(n->peer_port);

    hpeer_handshake(fd, SECRET, "sip1", "sip2", minor);
    m = hpeer_expect(fd, TC__PEER__MSG__BODY_SYNC_END);
    tc__peer__msg__free_unpacked(m, NULL);
    out.body_case = TC__PEER__MSG__BODY_SYNC_END;
    out.sync_end = &end;
    hpeer_send_msg(fd, &out);
    cr_assert(harness_wait_metric(n, "tcluster_peer_link_up{peer=\"sip1\"}", 1, 3000));
    return fd;
}

static void send_call(int fd, const char *call_id, const char *dn, uint32_t code,
                      const char *target)
{
    Tc__Peer__Call c = TC__PEER__CALL__INIT;
    Tc__Peer__Msg m = TC__PEER__MSG__INIT;

    c.call_id = (char *)call_id;
    c.dn = (char *)dn;
    c.code = code;
    c.outcome = "forwarded";
    c.target = (char *)target;
    c.contact = "sip:1002@127.0.0.1:5060;tc-fwd=sip1";
    c.other_dn = "9002";
    c.outbound = true;
    c.time_unix_ms = 1700000000123;
    m.body_case = TC__PEER__MSG__BODY_CALL;
    m.call = &c;
    hpeer_send_msg(fd, &m);
}

/* The next call event on c within ms, other events skipped; NULL if none. */
static Tc__Event *next_call(struct htc *c, int ms)
{
    uint64_t end = harness_now_ms() + (uint64_t)harness_ms(ms);
    Tc__Event *ev;

    while (harness_now_ms() < end) {
        ev = htc_next(c, (int)(end - harness_now_ms()));
        if (ev == NULL)
            return NULL;
        if (ev->body_case == TC__EVENT__BODY_CALL_DELIVERED)
            return ev;
        tc__event__free_unpacked(ev, NULL);
    }
    return NULL;
}

Test(replication_calls, peer_call_reaches_tc_port_not_default_port)
{
    struct hcluster c;
    const struct hnode *n;
    struct htc tc, dp;
    Tc__Event *ev;
    uint64_t snap_seq = 0;
    int fd;

    hcluster_init(&c, 2, "1000-1099", NULL);
    harness_node_start(&c.n[1]);
    n = &c.n[1];
    fd = peer_up(n, 1);

    htc_connect(&tc, n->tc_port);
    htc_snapshot(&tc, &snap_seq);
    htc_connect(&dp, n->default_port);
    htc_open_app(&dp, 1, "URS");
    ev = htc_expect(&dp, TC__EVENT__BODY_OPENED, 3000);
    tc__event__free_unpacked(ev, NULL);
    htc_register(&dp, 2, "1002");
    ev = htc_expect(&dp, TC__EVENT__BODY_REGISTERED, 3000);
    tc__event__free_unpacked(ev, NULL);

    send_call(fd, "call-1@test", "1002", 302, "sip2");
    ev = next_call(&tc, 3000);
    cr_assert_not_null(ev, "the TC subscriber sees the peer's call");
    cr_assert_gt(ev->seq, snap_seq, "a live event with its own sequence");
    cr_assert_str_eq(ev->call_delivered->call_id, "call-1@test");
    cr_assert_str_eq(ev->call_delivered->dn, "1002");
    cr_assert_eq(ev->call_delivered->code, 302);
    cr_assert_str_eq(ev->call_delivered->outcome, "forwarded");
    cr_assert_str_eq(ev->call_delivered->origin, "sip1", "decided by the sender");
    cr_assert_str_eq(ev->call_delivered->target, "sip2");
    cr_assert_str_eq(ev->call_delivered->other_dn, "9002");
    cr_assert_eq(ev->call_delivered->call_type, TC__CALL_TYPE__CALL_TYPE_OUTBOUND);
    cr_assert_eq(ev->call_delivered->time_unix_ms, 1700000000123);
    tc__event__free_unpacked(ev, NULL);

    /* The core published it to every listener at once; a query answered
     * after that comes first on the default port: no call went there. */
    htc_query_address(&dp, 3, "1002");
    ev = htc_next(&dp, 3000);
    cr_assert_not_null(ev);
    cr_assert_eq(ev->body_case, TC__EVENT__BODY_ADDRESS_INFO,
                 "a call decided by a peer is not local activity");
    tc__event__free_unpacked(ev, NULL);

    cr_assert(harness_wait_metric(n, "tcluster_calls_total{origin=\"peer\",outcome=\"forwarded\"}", 1,
                                  2000));
    cr_assert_eq(harness_node_metric(n, "tcluster_peer_calls_total{peer=\"sip1\",dir=\"rx\"}"), 1);
    cr_assert_eq(harness_node_metric(n, "tcluster_default_port_call_events_total{result=\"sent\"}"), 0);

    /* A malformed call and a message of a newer minor are counted and
     * ignored; the link stays and later calls still arrive. */
    send_call(fd, "bad@test", "1002", 0, "sip2");
    send_call(fd, "bad2@test", "1002", 302, "sip9");
    {
        static const uint8_t unknown[] = {0, 0, 0, 3, 0x9a, 0x06, 0x00}; /* Msg field 99 */

        hpeer_send_raw(fd, unknown, sizeof(unknown));
    }
    send_call(fd, "call-2@test", "", 404, "");
    ev = next_call(&tc, 3000);
    cr_assert_not_null(ev);
    cr_assert_str_eq(ev->call_delivered->call_id, "call-2@test");
    cr_assert_str_eq(ev->call_delivered->dn, "");
    cr_assert_str_eq(ev->call_delivered->target, "");
    tc__event__free_unpacked(ev, NULL);
    cr_assert_eq(harness_node_metric(n, "tcluster_peer_errors_total{reason=\"call\"}"), 2);
    cr_assert_eq(harness_node_metric(n, "tcluster_peer_errors_total{reason=\"unknown_message\"}"), 1);
    cr_assert_eq(harness_node_metric(n, "tcluster_peer_link_up{peer=\"sip1\"}"), 1);

    /* A resume does not replay calls: they are events, not state. */
    htc_close(&tc);
    htc_connect(&tc, n->tc_port);
    htc_subscribe(&tc, 9, snap_seq, 0);
    ev = htc_expect(&tc, TC__EVENT__BODY_OPENED, 3000);
    tc__event__free_unpacked(ev, NULL);
    cr_assert_null(next_call(&tc, 300));

    htc_close(&tc);
    htc_close(&dp);
    close(fd);
    hcluster_cleanup(&c);
}
