/* A restart restores roles instead of claiming (DESIGN §3 "Restart"), with
 * real tcnode processes: a phone registered at sip1 moves to sip2 without
 * unregistering; sip1 is killed with -9 and restarted; the DN stays with
 * sip2 everywhere until the phone comes back to sip1. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "tests/integration/harness_cluster.h"
#include "tests/tc_test.h"

TestSuite(restart, .fini = tc_test_leak_check, .timeout = 240);

#define OWNED "tcluster_directory_numbers_owned_here"

/* REGISTER dn from one phone (one Contact, one Call-ID, rising CSeq) at n,
 * over UDP, and return the answer's status code (0 when none came). */
static int phone_register(const struct hnode *n, const char *dn, unsigned cseq)
{
    char msg[1024], resp[2048];
    int code = 0;

    snprintf(msg, sizeof(msg),
             "REGISTER sip:127.0.0.1:%u SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-restart-%u;rport\r\n"
             "From: <sip:%s@127.0.0.1>;tag=phone\r\n"
             "To: <sip:%s@127.0.0.1>\r\n"
             "Call-ID: phone-%s@restart.test\r\n"
             "CSeq: %u REGISTER\r\n"
             "Contact: <sip:%s@127.0.0.1:5099>\r\n"
             "Expires: 300\r\n"
             "Max-Forwards: 70\r\n"
             "Content-Length: 0\r\n\r\n",
             n->sip_port, cseq, dn, dn, dn, cseq, dn);
    if (harness_udp_exchange(n->sip_port, msg, strlen(msg), resp, sizeof(resp), 3000) > 0 &&
        sscanf(resp, "SIP/2.0 %d ", &code) != 1)
        code = 0;
    return code;
}

Test(restart, kill_9_restores_standby_and_the_phone_takes_its_dn_back)
{
    struct hcluster c;

    hcluster_init(&c, 3, "1000-1999", NULL);
    hcluster_start(&c);
    cr_assert(hcluster_wait_all_links(&c, 10000), "links did not come up");

    /* The phone registers at sip1, then fails over to sip2 without
     * unregistering at sip1: sip2 owns the DN, sip1 keeps a standby. */
    cr_assert_eq(phone_register(&c.n[0], "1001", 1), 200);
    cr_assert(hcluster_wait_owner(&c, "1001", "sip1", 3000), "not sip1 everywhere");
    cr_assert_eq(phone_register(&c.n[1], "1001", 2), 200);
    cr_assert(hcluster_wait_owner(&c, "1001", "sip2", 3000), "not sip2 everywhere");
    cr_assert_eq(harness_node_metric(&c.n[0], "tcluster_sip_bindings"), 1, "no standby binding");

    /* sip1 dies and comes back: it restores its standby binding and the
     * DN's version, and claims nothing. */
    harness_node_kill(&c.n[0]);
    harness_node_start(&c.n[0]);
    cr_assert_eq(harness_node_metric(&c.n[0], "tcluster_sip_bindings"), 1, "binding not restored");
    cr_assert_eq(harness_node_metric(&c.n[0], OWNED), 0, "the restart claimed the DN");
    cr_assert(hcluster_wait_all_links(&c, 10000), "links did not come back");
    cr_assert(hcluster_wait_owner(&c, "1001", "sip2", 5000), "not sip2 everywhere after restart");
    cr_assert_eq(hcluster_metric_sum(&c, OWNED), 1, "exactly one owner");

    /* The phone returns to sip1: its first REGISTER there is a claim. */
    cr_assert_eq(phone_register(&c.n[0], "1001", 3), 200);
    cr_assert(hcluster_wait_owner(&c, "1001", "sip1", 5000), "the phone did not take its DN");
    cr_assert_eq(hcluster_metric_sum(&c, OWNED), 1, "exactly one owner");
    /* A refresh after that changes nothing. */
    cr_assert_eq(phone_register(&c.n[0], "1001", 4), 200);
    cr_assert(hcluster_wait_owner(&c, "1001", "sip1", 3000));
    hcluster_cleanup(&c);
}
