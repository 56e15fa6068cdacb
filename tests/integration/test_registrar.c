/* The registrar against real SIP clients no one here wrote: sipsak, SIPp
 * (sip-tester) and Perl's Net::SIP, over UDP and TCP; restart after kill -9;
 * expiry; digest authentication; malformed input. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/integration/harness_clients.h"
#include "tests/tc_test.h"

TestSuite(registrar, .fini = tc_test_leak_check, .timeout = 180);

static const char *dirs = "[dn 1000-1999]\ntype = extension\n\n"
                          "[dn 2000-2099]\ntype = extension\npassword = s3cret\n\n"
                          "[dn 3000]\ntype = routing-point\ngroup = 1000-1999\n";

Test(registrar, sipsak_register_makes_dn_insrv_over_udp_and_tcp)
{
    struct hnode n;

    harness_node_init(&n, "sip1", NULL, dirs);
    harness_node_start(&n);
    cr_assert_eq(hclient_sipsak(&n, "1001", NULL, NULL), 0);
    cr_assert_eq(harness_node_metric(&n, "tcluster_directory_numbers{state=\"insrv\"}"), 1);
    cr_assert_eq(hclient_sipsak(&n, "1002", "-E tcp", NULL), 0);
    cr_assert_eq(harness_node_metric(&n, "tcluster_directory_numbers{state=\"insrv\"}"), 2);
    cr_assert_eq(harness_node_metric(&n, "tcluster_sip_bindings"), 2);
    cr_assert_eq(harness_node_metric(&n, "tcluster_sip_responses_total{method=\"REGISTER\",code=\"200\"}"),
                 2);
    /* Not in the directory, and not an extension. */
    cr_assert_neq(hclient_sipsak(&n, "5000", NULL, NULL), 0);
    cr_assert_neq(hclient_sipsak(&n, "3000", NULL, NULL), 0);
    cr_assert_eq(harness_node_metric(&n, "tcluster_sip_responses_total{method=\"REGISTER\",code=\"404\"}"),
                 1);
    cr_assert_eq(harness_node_metric(&n, "tcluster_sip_responses_total{method=\"REGISTER\",code=\"403\"}"),
                 1);
    cr_assert_eq(harness_node_stop(&n), 0);
    harness_node_cleanup(&n);
}

Test(registrar, sipp_register_refresh_query_unregister_udp_tcp)
{
    struct hnode n;

    harness_node_init(&n, "sip1", NULL, dirs);
    harness_node_start(&n);
    cr_assert_eq(hclient_sipp(&n, "register_cycle.xml", "1100;", "u1"), 0);
    cr_assert_eq(hclient_sipp(&n, "register_cycle.xml", "1101;", "t1"), 0);
    /* The cycle ends with Contact: * : both DNs are released again. */
    cr_assert_eq(harness_node_metric(&n, "tcluster_directory_numbers{state=\"insrv\"}"), 0);
    cr_assert_eq(harness_node_metric(&n, "tcluster_ownership_changes_total{kind=\"release\"}"), 2);
    cr_assert_eq(hclient_sipp(&n, "register_multi.xml", "1102;", "u1"), 0);
    cr_assert_eq(hclient_sipp(&n, "register_multi.xml", "1103;", "t1"), 0);
    cr_assert_eq(harness_node_metric(&n, "tcluster_sip_bindings"), 4);
    cr_assert_eq(harness_node_metric(&n, "tcluster_directory_numbers{state=\"insrv\"}"), 2);
    cr_assert_eq(hclient_sipp(&n, "register_brief.xml", "1104;", "u1"), 0);
    harness_node_stop(&n);
    harness_node_cleanup(&n);
}

Test(registrar, digest_auth_with_sipsak_sipp_and_netsip)
{
    struct hnode n;
    char *out;

    harness_node_init(&n, "sip1", NULL, dirs);
    harness_node_start(&n);
    cr_assert_eq(hclient_sipsak(&n, "2001", "-a s3cret -u 2001", &out), 0, "%s", out);
    free(out);
    cr_assert_neq(hclient_sipsak(&n, "2002", "-a wrong -u 2002", NULL), 0);
    cr_assert_neq(hclient_sipsak(&n, "2003", NULL, NULL), 0, "no credentials: 401 only");
    cr_assert_eq(hclient_sipp(&n, "register_auth.xml",
                              "2004;[authentication username=2004 password=s3cret]", "u1"),
                 0);
    cr_assert_eq(hclient_netsip(&n, "2005 s3cret"), 0);
    cr_assert_eq(hclient_netsip(&n, "2006 s3cret 300 tcp"), 0);
    cr_assert_neq(hclient_netsip(&n, "2007 nope"), 0);
    cr_assert_eq(harness_node_metric(&n, "tcluster_directory_numbers{state=\"insrv\"}"), 4);
    cr_assert_geq(harness_node_metric(&n, "tcluster_sip_auth_failures_total{reason=\"wrong\"}"), 2);
    /* The password never reaches the log. */
    harness_node_stop(&n);
    char *log = harness_read_file(n.log);
    cr_assert_null(strstr(log, "s3cret"));
    free(log);
    harness_node_cleanup(&n);
}

Test(registrar, netsip_registers_over_udp_and_tcp)
{
    struct hnode n;

    harness_node_init(&n, "sip1", NULL, dirs);
    harness_node_start(&n);
    cr_assert_eq(hclient_netsip(&n, "1200"), 0);
    cr_assert_eq(hclient_netsip(&n, "1201 '' 120 tcp"), 0);
    cr_assert_eq(harness_node_metric(&n, "tcluster_directory_numbers{state=\"insrv\"}"), 2);
    harness_node_stop(&n);
    harness_node_cleanup(&n);
}

Test(registrar, bindings_expire_and_release_the_dn)
{
    struct hnode n;

    harness_node_init(&n, "sip1", "min-expires = 1\ndefault-expires = 2", dirs);
    harness_node_start(&n);
    cr_assert_eq(hclient_sipsak(&n, "1300", "-x 2", NULL), 0);
    cr_assert_eq(harness_node_metric(&n, "tcluster_sip_bindings"), 1);
    cr_assert(harness_wait_metric(&n, "tcluster_sip_bindings", 0, 6000), "binding did not expire");
    cr_assert(harness_wait_metric(&n, "tcluster_directory_numbers{state=\"insrv\"}", 0, 2000));
    cr_assert_eq(harness_node_metric(&n, "tcluster_sip_bindings_expired_total"), 1);
    harness_node_stop(&n);
    harness_node_cleanup(&n);
}

Test(registrar, max_contacts_is_enforced)
{
    struct hnode n;

    harness_node_init(&n, "sip1", "max-contacts = 2", dirs);
    harness_node_start(&n);
    cr_assert_neq(hclient_sipp(&n, "register_multi.xml", "1400;", "u1"), 0);
    cr_assert_eq(harness_node_metric(&n, "tcluster_sip_responses_total{method=\"REGISTER\",code=\"403\"}"),
                 1);
    cr_assert_eq(harness_node_metric(&n, "tcluster_sip_bindings"), 0);
    harness_node_stop(&n);
    harness_node_cleanup(&n);
}

Test(registrar, acknowledged_bindings_survive_kill_9)
{
    struct hnode n;
    char dn[16];

    harness_node_init(&n, "sip1", NULL, dirs);
    harness_node_start(&n);
    for (int i = 0; i < 20; i++) {
        snprintf(dn, sizeof(dn), "%d", 1500 + i);
        cr_assert_eq(hclient_sipsak(&n, dn, i % 2 ? "-E tcp" : NULL, NULL), 0, "%s", dn);
    }
    /* Every 200 above was sent after its commit: kill at once. */
    harness_node_kill(&n);
    harness_node_start(&n);
    cr_assert_eq(harness_node_metric(&n, "tcluster_sip_bindings"), 20);
    cr_assert_eq(harness_node_metric(&n, "tcluster_directory_numbers{state=\"insrv\"}"), 20);
    /* A query REGISTER lists what came back. */
    char *out;
    char cmd[300];

    snprintf(cmd, sizeof(cmd), "timeout 10 sipsak -U -C empty -s sip:1507@127.0.0.1:%u -vv",
             n.sip_port);
    harness_run(cmd, &out);
    free(out);
    harness_node_stop(&n);
    harness_node_cleanup(&n);
}

/* A REGISTER for dn from a device with instance inst and reg-id id
 * (RFC 5626), Contact port cport, into msg; extra goes at the end of the
 * Contact's parameters. */
static void outbound_register(char *msg, size_t cap, const char *dn, unsigned id, uint16_t cport,
                              const char *extra)
{
    snprintf(msg, cap,
             "REGISTER sip:127.0.0.1 SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bK-ob%u;rport\r\n"
             "From: <sip:%s@127.0.0.1>;tag=ob%u\r\nTo: <sip:%s@127.0.0.1>\r\n"
             "Call-ID: outbound-%u\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\n"
             "Contact: <sip:%s@127.0.0.1:%u;transport=udp>;expires=600 ; "
             "+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-00000000000%u>\";reg-id=%u%s\r\n"
             "Supported: outbound, path\r\nContent-Length: 0\r\n\r\n",
             cport, id, dn, id, dn, id, dn, cport, id, id, extra);
}

/* The contact as the 200 must list it: its parameters back, but expires,
 * which the registrar sets. */
static void want_contact(char *out, size_t cap, const char *dn, unsigned id, uint16_t cport)
{
    snprintf(out, cap,
             "Contact: <sip:%s@127.0.0.1:%u;transport=udp>;+sip.instance=\"<urn:uuid:"
             "00000000-0000-1000-8000-00000000000%u>\";reg-id=%u;expires=",
             dn, cport, id, id);
}

/* RFC 5626 clients look for their +sip.instance and reg-id in the 200's
 * Contact: they are echoed, for every binding, after a refresh by
 * another device and after a restart (issue 14). */
Test(registrar, contact_parameters_are_echoed)
{
    struct hnode n;
    char msg[2048], resp[4096], want1[256], want2[256], big[700];
    const char *query = "REGISTER sip:127.0.0.1 SIP/2.0\r\n"
                        "Via: SIP/2.0/UDP 127.0.0.1:5079;branch=z9hG4bK-q;rport\r\n"
                        "From: <sip:1600@127.0.0.1>;tag=q\r\nTo: <sip:1600@127.0.0.1>\r\n"
                        "Call-ID: query-1\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\n"
                        "Content-Length: 0\r\n\r\n";

    harness_node_init(&n, "sip1", NULL, dirs);
    harness_node_start(&n);
    want_contact(want1, sizeof(want1), "1600", 1, 5071);
    want_contact(want2, sizeof(want2), "1600", 2, 5072);
    outbound_register(msg, sizeof(msg), "1600", 1, 5071, "");
    cr_assert_gt(harness_udp_exchange(n.sip_port, msg, strlen(msg), resp, sizeof(resp), 3000), 0);
    cr_assert(strncmp(resp, "SIP/2.0 200", 11) == 0, "%s", resp);
    cr_assert_not_null(strstr(resp, want1), "no \"%s\" in\n%s", want1, resp);
    cr_assert_not_null(strstr(resp, ";expires=600\r\n"), "%s", resp);
    /* A second device: the 200 lists both, each with its own. */
    outbound_register(msg, sizeof(msg), "1600", 2, 5072, "");
    cr_assert_gt(harness_udp_exchange(n.sip_port, msg, strlen(msg), resp, sizeof(resp), 3000), 0);
    cr_assert_not_null(strstr(resp, want1), "no \"%s\" in\n%s", want1, resp);
    cr_assert_not_null(strstr(resp, want2), "no \"%s\" in\n%s", want2, resp);
    /* They are kept with the bindings: a query after kill -9 shows them. */
    harness_node_kill(&n);
    harness_node_start(&n);
    cr_assert_gt(harness_udp_exchange(n.sip_port, query, strlen(query), resp, sizeof(resp), 3000),
                 0);
    cr_assert_not_null(strstr(resp, want1), "no \"%s\" in\n%s", want1, resp);
    cr_assert_not_null(strstr(resp, want2), "no \"%s\" in\n%s", want2, resp);
    /* Bounded: parameters past REG_MAX_CONTACT_PARAMS are refused whole. */
    memset(big, 'x', sizeof(big) - 1);
    big[0] = ';';
    big[1] = 'p';
    big[2] = '=';
    big[sizeof(big) - 1] = '\0';
    outbound_register(msg, sizeof(msg), "1601", 3, 5073, big);
    cr_assert_gt(harness_udp_exchange(n.sip_port, msg, strlen(msg), resp, sizeof(resp), 3000), 0);
    cr_assert(strncmp(resp, "SIP/2.0 400 Contact Parameters Too Long", 39) == 0, "%s", resp);
    cr_assert_eq(harness_node_metric(&n, "tcluster_directory_numbers{state=\"insrv\"}"), 1);
    cr_assert_eq(harness_node_stop(&n), 0);
    harness_node_cleanup(&n);
}

Test(registrar, options_and_other_methods)
{
    struct hnode n;
    char resp[4096];
    const char *sub = "SUBSCRIBE sip:1001@127.0.0.1 SIP/2.0\r\n"
                      "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-1;rport\r\n"
                      "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:1001@127.0.0.1>\r\n"
                      "Call-ID: sub-1\r\nCSeq: 1 SUBSCRIBE\r\nMax-Forwards: 70\r\n"
                      "Event: presence\r\nContent-Length: 0\r\n\r\n";
    const char *opt = "OPTIONS sip:127.0.0.1 SIP/2.0\r\n"
                      "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-2;rport\r\n"
                      "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\n"
                      "Call-ID: opt-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                      "Content-Length: 0\r\n\r\n";

    harness_node_init(&n, "sip1", NULL, dirs);
    harness_node_start(&n);
    cr_assert_gt(harness_udp_exchange(n.sip_port, sub, strlen(sub), resp, sizeof(resp), 3000), 0);
    cr_assert(strncmp(resp, "SIP/2.0 405 ", 12) == 0, "%s", resp);
    cr_assert_not_null(strstr(resp, "Allow: "), "%s", resp);
    cr_assert_gt(harness_udp_exchange(n.sip_port, opt, strlen(opt), resp, sizeof(resp), 3000), 0);
    cr_assert(strncmp(resp, "SIP/2.0 200 ", 12) == 0, "%s", resp);
    cr_assert_not_null(strstr(resp, "received=127.0.0.1"), "%s", resp);
    harness_node_stop(&n);
    harness_node_cleanup(&n);
}
