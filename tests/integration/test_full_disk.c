/* A full store (DESIGN §2 rule 7, issue 13): a REGISTER the store refuses
 * is answered 500, and its DN shows nowhere as owned - not in tcctl on
 * that node, not on a peer. The store is made full with a tiny
 * store-map-size (LMDB's MDB_MAP_FULL, what a full data-dir gives too),
 * which needs no mount privilege. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "tests/integration/harness_cluster.h"
#include "tests/tc_test.h"

TestSuite(full_disk, .fini = tc_test_leak_check, .timeout = 300);

/* REGISTER dn at n over UDP; the answer's status code (0 when none came)
 * and its text in resp. */
static int phone_register(const struct hnode *n, const char *dn, char *resp, size_t cap)
{
    char msg[1024];
    int code = 0;

    snprintf(msg, sizeof(msg),
             "REGISTER sip:127.0.0.1:%u SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-full-%s;rport\r\n"
             "From: <sip:%s@127.0.0.1>;tag=phone\r\n"
             "To: <sip:%s@127.0.0.1>\r\n"
             "Call-ID: phone-%s@full.test\r\n"
             "CSeq: 1 REGISTER\r\n"
             "Contact: <sip:%s@127.0.0.1:5099>\r\n"
             "Expires: 300\r\n"
             "Max-Forwards: 70\r\n"
             "Content-Length: 0\r\n\r\n",
             n->sip_port, dn, dn, dn, dn, dn);
    resp[0] = '\0';
    if (harness_udp_exchange(n->sip_port, msg, strlen(msg), resp, cap - 1, 3000) > 0 &&
        sscanf(resp, "SIP/2.0 %d ", &code) != 1)
        code = 0;
    return code;
}

Test(full_disk, a_refused_register_is_not_shown_anywhere)
{
    char dn[16], last_ok[16] = "", refused[16] = "", resp[4096], owner[64], status[16];
    struct hcluster c;
    int code = 0;

    hcluster_init(&c, 2, "1000-9999", "store-map-size = 262144\n");
    hcluster_start(&c);
    cr_assert(hcluster_wait_all_links(&c, 10000), "links did not come up");
    for (int i = 1000; i < 9999 && code != 500; i++) {
        snprintf(dn, sizeof(dn), "%d", i);
        code = phone_register(&c.n[0], dn, resp, sizeof(resp));
        cr_assert(code == 200 || code == 500, "REGISTER %s: %d", dn, code);
        if (code == 200)
            snprintf(last_ok, sizeof(last_ok), "%s", dn);
    }
    cr_assert_eq(code, 500, "the store never filled");
    cr_assert_neq(last_ok[0], '\0', "not even one REGISTER was stored");
    snprintf(refused, sizeof(refused), "%s", dn);
    /* No binding was kept, so the answer names none. */
    cr_assert(strstr(resp, "\nContact:") == NULL, "the 500 for %s carries a Contact: %s", refused,
              resp);

    /* The last stored DN reached the peer: the refused one did not. */
    cr_assert(hcluster_wait_owner(&c, last_ok, "sip1", 5000), "%s not at sip1 everywhere", last_ok);
    for (int i = 0; i < 2; i++) {
        cr_assert(hcluster_dn(&c.n[i], refused, owner, sizeof(owner), status, sizeof(status)),
                  "tcctl dn %s at node %d", refused, i + 1);
        cr_assert_str_eq(owner, "", "node %d shows %s owned by %s", i + 1, refused, owner);
        cr_assert(strcasecmp(status, "oos") == 0, "node %d shows %s %s", i + 1, refused, status);
    }
    hcluster_cleanup(&c);
}
