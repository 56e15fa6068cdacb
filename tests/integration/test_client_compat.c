/* Digest authentication with the SIP clients operators use, against a real
 * tcnode (issue 14): sipsak, SIPp, Perl's Net::SIP, baresip and linphonec
 * register to DNs with a password, with the default configuration (MD5
 * alone) and with each auth-algorithms setting.
 *
 * What they do with each offer (Debian 12 versions), checked below:
 *
 *   auth-algorithms   sipsak  SIPp  Net::SIP  baresip  linphonec
 *   md5 (default)     yes     yes   yes       yes      yes
 *   sha-256           no      no    no        no       yes
 *   sha-256, md5      no      no    yes       no       yes (SHA-256)
 *   md5, sha-256      yes     yes   yes       no       yes (MD5)
 *
 * sipsak 0.9.8.1, SIPp 3.6.1 and Net::SIP 0.835 know only MD5; sipsak,
 * SIPp and linphonec 5.1 answer the first challenge, Net::SIP the first it
 * knows; baresip 1.0.0 (libre 1.1.0) fails whenever a SHA-256 challenge is
 * present. Only linphonec registers with SHA-256. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/integration/harness.h"
#include "tests/integration/harness_baresip.h"
#include "tests/integration/harness_clients.h"
#include "tests/integration/harness_linphonec.h"
#include "tests/tc_test.h"

TestSuite(client_compat, .fini = tc_test_leak_check, .timeout = 240);

#define PW "pw-4711"

/* The SIPp credentials field for dn. */
static const char *sipp_fields(const char *dn, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s;[authentication username=%s password=" PW "]", dn, dn);
    return buf;
}

/* tcctl's status of dn at n: "insrv", "oos" or "?" (into buf). */
static const char *dn_status(const struct hnode *n, const char *dn, char *buf, size_t cap)
{
    char cmd[400];
    char *out = NULL;
    const char *p;

    snprintf(cmd, sizeof(cmd), "'%s/client/tcctl' -s 127.0.0.1:%u --json dn %s", TC_BINARY_DIR,
             n->tc_port, dn);
    harness_run(cmd, &out);
    p = out != NULL ? strstr(out, "\"status\":\"") : NULL;
    snprintf(buf, cap, "%s", "?");
    if (p != NULL) {
        p += strlen("\"status\":\"");
        snprintf(buf, cap, "%.*s", (int)strcspn(p, "\""), p);
    }
    free(out);
    return buf;
}

static void assert_insrv(const struct hnode *n, const char *dn, const char *who)
{
    char st[32];

    cr_assert_str_eq(dn_status(n, dn, st, sizeof(st)), "insrv", "%s: DN %s is %s", who, dn, st);
}

static void assert_oos(const struct hnode *n, const char *dn, const char *who)
{
    char st[32];

    cr_assert_str_eq(dn_status(n, dn, st, sizeof(st)), "oos", "%s: DN %s is %s", who, dn, st);
}

/* baresip's account line says how its REGISTER ended: "200 OK" on
 * success, "reg: ... Register: <error>" or a 4xx when it gave up. */
static bool baresip_done(void *arg)
{
    const struct hbaresip *b = arg;

    return hbaresip_count(b, "200 OK") > 0 || hbaresip_count(b, "Register: ") > 0 ||
           hbaresip_count(b, "} 4") > 0;
}

/* baresip registers dn (true) or gives up (false: it says why). It
 * unregisters when it quits, so the DN is checked before. */
static bool baresip_registers(const struct hnode *n, const char *dn)
{
    struct hbaresip b;
    char account[256], st[32];
    bool ok;

    snprintf(account, sizeof(account),
             "<sip:%s@127.0.0.1:%u;transport=udp>;auth_pass=" PW ";regint=300", dn, n->sip_port);
    hbaresip_start(&b, n->dir, dn, account, 60);
    cr_assert(harness_wait(baresip_done, &b, 15000), "baresip %s: no outcome", dn);
    ok = hbaresip_count(&b, "200 OK") > 0 && strcmp(dn_status(n, dn, st, sizeof(st)), "insrv") == 0;
    if (!ok) {
        char *out = hbaresip_output(&b);

        cr_log_info("baresip %s: %s", dn, out ? out : "");
        free(out);
    }
    hbaresip_stop(&b);
    return ok;
}

/* linphonec registers dn (true) or not within 10 s. It unregisters when
 * it quits, so the DN is checked before. */
static bool linphonec_registers(const struct hnode *n, const char *dn)
{
    struct hlinphonec l;
    char identity[64], proxy[64], st[32];
    bool ok;

    snprintf(identity, sizeof(identity), "sip:%s@127.0.0.1", dn);
    snprintf(proxy, sizeof(proxy), "sip:127.0.0.1:%u", n->sip_port);
    hlinphonec_start(&l, n->dir, dn);
    ok = hlinphonec_register(&l, identity, proxy, PW, 10000) &&
         strcmp(dn_status(n, dn, st, sizeof(st)), "insrv") == 0;
    if (!ok) {
        char *out = hua_output(&l.ua);

        cr_log_info("linphonec %s: %s", dn, out ? out : "");
        free(out);
    }
    hlinphonec_stop(&l);
    return ok;
}

static void need_clients(void)
{
    if (!hbaresip_available())
        cr_skip_test("baresip (Debian package baresip) is not installed");
    if (!hlinphonec_available())
        cr_skip_test("linphonec (Debian package linphone-cli) is not installed");
}

/* The default configuration offers MD5 alone: every client registers. */
Test(client_compat, every_client_registers_with_the_default_offer)
{
    struct hnode n;
    char f[128];
    char *out = NULL;

    need_clients();
    harness_node_init(&n, "compat1", NULL, "[dn 1000-1099]\npassword = " PW "\n");
    harness_node_start(&n);
    cr_assert_eq(hclient_sipsak(&n, "1001", "-a " PW " -u 1001", &out), 0, "%s", out);
    free(out);
    assert_insrv(&n, "1001", "sipsak");
    cr_assert_eq(hclient_sipp(&n, "register_auth.xml", sipp_fields("1002", f, sizeof(f)), "u1"), 0);
    assert_insrv(&n, "1002", "sipp");
    cr_assert_eq(hclient_netsip(&n, "1003 " PW), 0);
    assert_insrv(&n, "1003", "Net::SIP");
    cr_assert(baresip_registers(&n, "1004"), "baresip did not register");
    cr_assert(linphonec_registers(&n, "1005"), "linphonec did not register");
    cr_assert_eq(harness_node_metric(&n, "tcluster_sip_auth_failures_total{reason=\"wrong\"}"), 0);
    cr_assert_eq(harness_node_stop(&n), 0);
    harness_node_cleanup(&n);
}

/* auth-algorithms in [node] and overridden per DN range, with a realm of
 * the range's own: each client as the table above says. */
Test(client_compat, sha256_offers)
{
    struct hnode n;
    char f[128];

    need_clients();
    harness_node_init(&n, "compat2", "auth-algorithms = sha-256\n",
                      "[dn 1100-1199]\npassword = " PW "\n"
                      "[dn 1200-1299]\npassword = " PW "\nauth-algorithms = sha-256, md5\n"
                      "auth-realm = pbx.example.org\n"
                      "[dn 1300-1399]\npassword = " PW "\nauth-algorithms = md5, sha-256\n");
    harness_node_start(&n);

    /* SHA-256 alone: linphonec only. */
    cr_assert(linphonec_registers(&n, "1101"), "linphonec did not register with SHA-256");
    cr_assert_neq(hclient_sipsak(&n, "1102", "-a " PW " -u 1102", NULL), 0);
    cr_assert_neq(hclient_sipp(&n, "register_auth.xml", sipp_fields("1103", f, sizeof(f)), "u1"),
                  0);
    cr_assert_neq(hclient_netsip(&n, "1104 " PW), 0);
    cr_assert(!baresip_registers(&n, "1105"), "baresip 1.0.0 registered with SHA-256 alone");
    assert_oos(&n, "1102", "sipsak");
    assert_oos(&n, "1103", "sipp");
    assert_oos(&n, "1104", "Net::SIP");
    assert_oos(&n, "1105", "baresip");

    /* SHA-256 then MD5, in realm pbx.example.org: linphonec (SHA-256) and
     * Net::SIP (MD5). */
    cr_assert(linphonec_registers(&n, "1201"), "linphonec did not register with SHA-256, MD5");
    cr_assert_neq(hclient_sipsak(&n, "1202", "-a " PW " -u 1202", NULL), 0);
    cr_assert_neq(hclient_sipp(&n, "register_auth.xml", sipp_fields("1203", f, sizeof(f)), "u1"),
                  0);
    cr_assert_eq(hclient_netsip(&n, "1204 " PW), 0);
    assert_insrv(&n, "1204", "Net::SIP");
    cr_assert(!baresip_registers(&n, "1205"), "baresip 1.0.0 registered with SHA-256, MD5");
    assert_oos(&n, "1202", "sipsak");
    assert_oos(&n, "1203", "sipp");

    /* MD5 then SHA-256 (what tcnode offered before issue 14): all but
     * baresip. */
    cr_assert(linphonec_registers(&n, "1301"), "linphonec did not register with MD5, SHA-256");
    cr_assert_eq(hclient_sipsak(&n, "1302", "-a " PW " -u 1302", NULL), 0);
    cr_assert_eq(hclient_sipp(&n, "register_auth.xml", sipp_fields("1303", f, sizeof(f)), "u1"), 0);
    cr_assert_eq(hclient_netsip(&n, "1304 " PW), 0);
    cr_assert(!baresip_registers(&n, "1305"), "baresip 1.0.0 registered with MD5, SHA-256");
    assert_insrv(&n, "1303", "sipp");
    assert_oos(&n, "1305", "baresip");
    cr_assert_eq(harness_node_stop(&n), 0);
    harness_node_cleanup(&n);
}
