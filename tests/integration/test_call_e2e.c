/* Calls end to end (DESIGN §6, issue 11) on a 3-node cluster: a real
 * user agent nobody here wrote (Debian's baresip) registers DN 1002 at
 * node 2; another baresip calls 1002 (and the shared line 1100 whose
 * preferred site is node 2) at node 1. Node 1 redirects to node 2 with
 * the tc-fwd marker, the caller follows, node 2 redirects to the callee's
 * contact, the callee rings, answers, and the call is hung up. The call
 * events of each decision reach every node's TC port and only the
 * deciding node's default port. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/integration/harness.h"
#include "tests/integration/harness_baresip.h"
#include "tests/integration/harness_cluster.h"
#include "tests/integration/harness_tc.h"
#include "tests/tc_test.h"

TestSuite(call_e2e, .fini = tc_test_leak_check, .timeout = 240);

/* DNs 1000-1099 are extensions; 1100 is a shared line of 1002 served from
 * sip2 while its link is up. */
static const char sections[] = "\n[dn 1100]\nshared-line = true\nmembers = 1002\n"
                               "sca-preferred-site = sip2\n";

static void start(struct hcluster *c)
{
    hcluster_init(c, 3, "1000-1099", NULL);
    for (int i = 0; i < 3; i++)
        hcluster_write_config(c, i, NULL, sections);
    hcluster_start(c);
    cr_assert(hcluster_wait_all_links(c, 15000), "links not up");
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

/* Both decisions of one followed call, as a TC subscriber of node `at`
 * sees them: node 1 forwarded dn to sip2, node 2 decided locally. They
 * may arrive in either order (a node publishes its own decision at once,
 * a peer's when the peer link delivers it), and no third one comes. */
static void expect_two_hops(struct htc *tc, const char *at, const char *dn, uint16_t callee_port)
{
    Tc__Event *fwd = NULL, *loc = NULL, *ev;
    char port[32];

    for (int k = 0; k < 2; k++) {
        ev = next_call(tc, 5000);
        cr_assert_not_null(ev, "%s: %d call events for %s, want 2", at, k, dn);
        cr_assert_str_eq(ev->call_delivered->dn, dn, "%s", at);
        if (strcmp(ev->call_delivered->origin, "sip1") == 0 && fwd == NULL) {
            fwd = ev;
        } else if (strcmp(ev->call_delivered->origin, "sip2") == 0 && loc == NULL) {
            loc = ev;
        } else {
            cr_assert_fail("%s: unexpected call event from %s (%s)", at, ev->call_delivered->origin,
                           ev->call_delivered->outcome);
        }
    }
    cr_assert_str_eq(fwd->call_delivered->outcome, "forwarded", "%s", at);
    cr_assert_str_eq(fwd->call_delivered->target, "sip2", "%s", at);
    cr_assert_not_null(strstr(fwd->call_delivered->contact, "tc-fwd=sip1"), "%s: %s", at,
                       fwd->call_delivered->contact);
    cr_assert_str_eq(loc->call_delivered->outcome, "local", "%s", at);
    cr_assert_str_eq(loc->call_delivered->call_id, fwd->call_delivered->call_id,
                     "%s: the caller followed the redirect within one call", at);
    /* baresip's Contact user is the DN with a suffix of its own. */
    snprintf(port, sizeof(port), "@127.0.0.1:%u", callee_port);
    cr_assert(strncmp(loc->call_delivered->contact, "sip:1002", 8) == 0 &&
                      strstr(loc->call_delivered->contact, port) != NULL,
              "%s: %s", at, loc->call_delivered->contact);
    tc__event__free_unpacked(fwd, NULL);
    tc__event__free_unpacked(loc, NULL);
    ev = next_call(tc, 200);
    cr_assert_null(ev, "%s: a third call event, from %s", at, ev ? ev->call_delivered->origin : "");
}

static void fail_with_output(const struct hbaresip *b, const char *who, const char *what)
{
    char *out = hbaresip_output(b);

    cr_assert_fail("%s: no \"%s\" in baresip's output:\n%s", who, what, out ? out : "(none)");
}

static void wait_output(const struct hbaresip *b, const char *who, const char *text, int ms)
{
    if (!hbaresip_wait_output(b, text, ms))
        fail_with_output(b, who, text);
}

/* Call dn at node 1 from a baresip caller and check the callee (baresip
 * registered as 1002 at node 2) rings, answers, and hangs up when the
 * caller does; every node's TC port sees both hops. */
static void call_and_hang_up(const char *dn)
{
    struct hcluster c;
    struct hbaresip callee, caller;
    struct htc tc[3];
    char account[256], uri[128];

    if (!hbaresip_available())
        cr_skip_test("baresip (Debian package baresip) is not installed: cannot run a real UA");
    start(&c);
    snprintf(account, sizeof(account),
             "<sip:1002@127.0.0.1:%u;transport=udp>;answermode=auto;regint=300", c.n[1].sip_port);
    hbaresip_start(&callee, c.dir, "callee", account, 120);
    wait_output(&callee, "callee", "registered successfully", 15000);
    cr_assert(hcluster_wait_owner(&c, "1002", "sip2", 10000));
    for (int i = 0; i < 3; i++) {
        htc_connect(&tc[i], c.n[i].tc_port);
        htc_snapshot(&tc[i], NULL);
    }

    /* The caller does not register (regint=0): it only places the call. */
    snprintf(account, sizeof(account), "<sip:1001@127.0.0.1:%u;transport=udp>;regint=0",
             c.n[0].sip_port);
    hbaresip_start(&caller, c.dir, "caller", account, 120);
    wait_output(&caller, "caller", "baresip is ready", 15000);
    snprintf(uri, sizeof(uri), "/dial sip:%s@127.0.0.1:%u", dn, c.n[0].sip_port);
    cr_assert_eq(hbaresip_cmd(&caller, uri), 0);

    /* The callee's phone rings (answermode=auto answers at once). */
    wait_output(&callee, "callee", "answering call", 20000);
    wait_output(&callee, "callee", "Call established", 10000);
    wait_output(&caller, "caller", "Call established", 10000);
    for (int i = 0; i < 3; i++)
        expect_two_hops(&tc[i], c.n[i].name, dn, callee.port);
    cr_assert_eq(harness_node_metric(&c.n[0], "tcluster_redirect_decisions_total{outcome=\"forwarded\"}"),
                 1, "node 1 forwarded once");
    cr_assert(harness_node_metric(&c.n[0], "tcluster_redirect_decisions_total{outcome=\"local\"}") <= 0,
              "node 1 never answered the call itself");
    cr_assert_eq(harness_node_metric(&c.n[1], "tcluster_redirect_decisions_total{outcome=\"local\"}"), 1,
                 "node 2 answered the marked INVITE from its own state");
    cr_assert(harness_node_metric(&c.n[1], "tcluster_redirect_decisions_total{outcome=\"forwarded\"}") <=
                      0,
              "node 2 never sent it back");

    cr_assert_eq(hbaresip_cmd(&caller, "b"), 0);
    /* libre reports the BYE it received as "session closed". */
    wait_output(&callee, "callee", "session closed", 10000);
    wait_output(&caller, "caller", "terminate call", 10000);
    cr_assert_eq(hbaresip_count(&callee, "answering call"), 1, "rang once");

    hbaresip_stop(&caller);
    hbaresip_stop(&callee);
    for (int i = 0; i < 3; i++)
        htc_close(&tc[i]);
    hcluster_cleanup(&c);
}

Test(call_e2e, baresip_call_follows_redirect_to_the_callee)
{
    call_and_hang_up("1002");
}

Test(call_e2e, baresip_call_to_shared_line_reaches_preferred_site)
{
    call_and_hang_up("1100");
}

/* One INVITE over UDP to node n; returns the answer's status (0: none). */
static int invite(const struct hnode *n, const char *ruri, const char *call_id, char *resp,
                  size_t cap)
{
    char msg[2048];
    int len, got;

    len = snprintf(msg, sizeof(msg),
                   "INVITE %s SIP/2.0\r\n"
                   "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-%s;rport\r\n"
                   "Max-Forwards: 70\r\n"
                   "From: <sip:caller@127.0.0.1>;tag=ft-%s\r\n"
                   "To: <%s>\r\n"
                   "Call-ID: %s\r\n"
                   "CSeq: 1 INVITE\r\n"
                   "Content-Length: 0\r\n\r\n",
                   ruri, call_id, call_id, ruri, call_id);
    cr_assert(len > 0 && (size_t)len < sizeof(msg));
    got = harness_udp_exchange(n->sip_port, msg, (size_t)len, resp, cap, 3000);
    if (got <= 0)
        return 0;
    return strncmp(resp, "SIP/2.0 ", 8) == 0 ? atoi(resp + 8) : -1;
}

/* A URS-like client of n's default port that registered dn. */
static void default_client(struct htc *c, const struct hnode *n, const char *dn)
{
    Tc__Event *ev;

    htc_connect(c, n->default_port);
    htc_open_app(c, 1, "URS");
    ev = htc_expect(c, TC__EVENT__BODY_OPENED, 3000);
    tc__event__free_unpacked(ev, NULL);
    htc_register(c, 2, dn);
    ev = htc_expect(c, TC__EVENT__BODY_REGISTERED, 3000);
    tc__event__free_unpacked(ev, NULL);
}

/* No call event is queued on c: a query sent now is answered first. */
static void expect_no_call(struct htc *c, const char *dn, const char *where)
{
    Tc__Event *ev;

    htc_query_address(c, 9, dn);
    ev = htc_next(c, 3000);
    cr_assert_not_null(ev, "%s: no answer to QueryAddress", where);
    cr_assert_eq(ev->body_case, TC__EVENT__BODY_ADDRESS_INFO, "%s: got event case %d first", where,
                 (int)ev->body_case);
    tc__event__free_unpacked(ev, NULL);
}

static void check_call(const Tc__Event *ev, const char *where, const char *call_id,
                       const char *origin, const char *outcome, Tc__CallType type)
{
    const Tc__EventCallDelivered *cd = ev->call_delivered;

    cr_assert_str_eq(cd->call_id, call_id, "%s", where);
    cr_assert_str_eq(cd->dn, "1002", "%s", where);
    cr_assert_eq(cd->code, 302, "%s", where);
    cr_assert_str_eq(cd->origin, origin, "%s", where);
    cr_assert_str_eq(cd->outcome, outcome, "%s", where);
    cr_assert_str_eq(cd->target, "sip2", "%s", where);
    cr_assert_eq(cd->call_type, type, "%s: call type %d", where, (int)cd->call_type);
    if (type == TC__CALL_TYPE__CALL_TYPE_OUTBOUND) {
        cr_assert_str_eq(cd->other_dn, "9002", "%s: the access number of sip2", where);
        cr_assert_not_null(strstr(cd->contact, "tc-fwd=sip1"), "%s: %s", where, cd->contact);
    } else {
        cr_assert_str_eq(cd->other_dn, "", "%s", where);
        cr_assert_null(strstr(cd->contact, "tc-fwd"), "%s: %s", where, cd->contact);
    }
}

Test(call_e2e, call_events_reach_every_tc_port_and_the_deciders_default_port)
{
    struct hcluster c;
    struct htc tc[3], dp1, dp2;
    char resp[4096], ruri[128];
    Tc__Event *ev;

    start(&c);
    cr_assert_eq(hcluster_register(&c.n[1], "1002"), 0);
    cr_assert(hcluster_wait_owner(&c, "1002", "sip2", 10000));
    for (int i = 0; i < 3; i++) {
        htc_connect(&tc[i], c.n[i].tc_port);
        htc_snapshot(&tc[i], NULL);
    }
    default_client(&dp1, &c.n[0], "1002");
    default_client(&dp2, &c.n[1], "1002");

    /* Hop 1: node 1 forwards to node 2. Every TC port sees it, node 1's
     * default port sees it, node 2's does not (not its decision). */
    cr_assert_eq(invite(&c.n[0], "sip:1002@127.0.0.1", "ev-fwd-e2e", resp, sizeof(resp)), 302, "%s",
                 resp);
    for (int i = 0; i < 3; i++) {
        ev = next_call(&tc[i], 5000);
        cr_assert_not_null(ev, "%s TC port: the forwarded call", c.n[i].name);
        check_call(ev, c.n[i].name, "ev-fwd-e2e", "sip1", "forwarded",
                   TC__CALL_TYPE__CALL_TYPE_OUTBOUND);
        tc__event__free_unpacked(ev, NULL);
    }
    ev = next_call(&dp1, 5000);
    cr_assert_not_null(ev, "sip1 default port: the call it decided");
    check_call(ev, "sip1 default", "ev-fwd-e2e", "sip1", "forwarded",
               TC__CALL_TYPE__CALL_TYPE_OUTBOUND);
    tc__event__free_unpacked(ev, NULL);
    expect_no_call(&dp2, "1002", "sip2 default port after sip1's decision");

    /* Hop 2: the marked INVITE at node 2, answered from its own state:
     * now node 2's default port sees it and node 1's does not. */
    snprintf(ruri, sizeof(ruri), "sip:1002@127.0.0.1:%u;tc-fwd=sip1", c.n[1].sip_port);
    cr_assert_eq(invite(&c.n[1], ruri, "ev-fwd-e2e", resp, sizeof(resp)), 302, "%s", resp);
    for (int i = 0; i < 3; i++) {
        ev = next_call(&tc[i], 5000);
        cr_assert_not_null(ev, "%s TC port: node 2's answer", c.n[i].name);
        check_call(ev, c.n[i].name, "ev-fwd-e2e", "sip2", "local",
                   TC__CALL_TYPE__CALL_TYPE_INBOUND);
        tc__event__free_unpacked(ev, NULL);
    }
    ev = next_call(&dp2, 5000);
    cr_assert_not_null(ev, "sip2 default port: the call it decided");
    check_call(ev, "sip2 default", "ev-fwd-e2e", "sip2", "local", TC__CALL_TYPE__CALL_TYPE_INBOUND);
    tc__event__free_unpacked(ev, NULL);
    expect_no_call(&dp1, "1002", "sip1 default port after sip2's decision");

    /* And only those two: no TC port saw a third decision. */
    for (int i = 0; i < 3; i++) {
        ev = next_call(&tc[i], 300);
        cr_assert_null(ev, "%s TC port: an unexpected call %s from %s", c.n[i].name,
                       ev ? ev->call_delivered->call_id : "", ev ? ev->call_delivered->origin : "");
        htc_close(&tc[i]);
    }
    htc_close(&dp1);
    htc_close(&dp2);
    hcluster_cleanup(&c);
}
