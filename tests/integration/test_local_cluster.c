/* deploy/local-cluster as the later tests and operators use it. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/tc_test.h"

TestSuite(local_cluster, .fini = tc_test_leak_check, .timeout = 180);

Test(local_cluster, up_status_down_three_nodes)
{
    char *dir = tc_test_tmpdir("lc");
    char cmd[1024], path[512];
    int base = 11000 + (getpid() % 40) * 100; /* below the ephemeral range */
    char *out;

    snprintf(cmd, sizeof(cmd),
             "TCNODE='%s' '%s/deploy/local-cluster' up -n 3 --dir '%s' "
             "--base-port %d --dns 1000-1099",
             harness_tcnode(), TC_SOURCE_DIR, dir, base);
    cr_assert_eq(harness_run(cmd, &out), 0, "up: %s", out);
    cr_assert(strstr(out, "sip3 pid") != NULL, "%s", out);
    /* Issue 13 defect 9: an open cluster says so. */
    cr_assert(strstr(out, "no SIP passwords set: any phone may register any DN of 1000-1099") !=
                      NULL,
              "%s", out);
    free(out);

    for (int i = 1; i <= 3; i++) {
        char *page;
        int http = base + 10 * i + 4;

        cr_assert_eq(harness_http_get((uint16_t)http, "/healthz", NULL), 200, "sip%d", i);
        cr_assert_eq(harness_http_get((uint16_t)http, "/metrics", &page), 200);
        cr_assert_eq(harness_metric(page, "tcluster_directory_numbers{state=\"oos\"}"), 100);
        free(page);
        snprintf(path, sizeof(path), "%s/sip%d.ini", dir, i);
        cr_assert_eq(access(path, R_OK), 0);
        snprintf(path, sizeof(path), "%s/sip%d/data.mdb", dir, i);
        cr_assert_eq(access(path, R_OK), 0, "store of sip%d", i);
    }
    snprintf(path, sizeof(path), "%s/secret", dir);
    cr_assert_eq(access(path, R_OK), 0);

    snprintf(cmd, sizeof(cmd), "'%s/deploy/local-cluster' status --dir '%s'", TC_SOURCE_DIR, dir);
    cr_assert_eq(harness_run(cmd, &out), 0, "status: %s", out);
    cr_assert(strstr(out, "sip2 pid") != NULL && strstr(out, " up ") != NULL, "%s", out);
    free(out);

    /* A second up refuses while the nodes run. */
    snprintf(cmd, sizeof(cmd),
             "TCNODE='%s' '%s/deploy/local-cluster' up -n 3 --dir '%s' "
             "--base-port %d",
             harness_tcnode(), TC_SOURCE_DIR, dir, base);
    cr_assert_neq(harness_run(cmd, &out), 0, "%s", out);
    cr_assert(strstr(out, "already running") != NULL, "%s", out);
    free(out);

    snprintf(cmd, sizeof(cmd), "'%s/deploy/local-cluster' down --dir '%s'", TC_SOURCE_DIR, dir);
    cr_assert_eq(harness_run(cmd, &out), 0, "down: %s", out);
    free(out);
    for (int i = 1; i <= 3; i++)
        cr_assert_eq(harness_http_get((uint16_t)(base + 10 * i + 4), "/healthz", NULL), 0);
    snprintf(cmd, sizeof(cmd), "'%s/deploy/local-cluster' status --dir '%s'", TC_SOURCE_DIR, dir);
    cr_assert_neq(harness_run(cmd, &out), 0);
    cr_assert(strstr(out, "sip1 stopped") != NULL, "%s", out);
    free(out);
    tc_test_rmrf(dir);
    free(dir);
}

/* sipsak REGISTER of dn at port with more arguments; its exit code. */
static int sipsak(int port, const char *dn, const char *extra)
{
    char cmd[512];

    snprintf(cmd, sizeof(cmd), "timeout 10 sipsak -i -U -s sip:%s@127.0.0.1:%d -x 300 %s", dn, port,
             extra);
    return harness_run(cmd, NULL);
}

/* --password protects the DN range on every node: a REGISTER without
 * credentials is challenged, one with them accepted; the configs that hold
 * it are readable by their owner only. */
Test(local_cluster, password_protects_the_dns)
{
    char *dir = tc_test_tmpdir("lcpw");
    char cmd[1024], path[512], *page, *out;
    int base = 15000 + (getpid() % 40) * 100;
    struct stat st;

    snprintf(cmd, sizeof(cmd),
             "TCNODE='%s' '%s/deploy/local-cluster' up -n 2 --dir '%s' "
             "--base-port %d --dns 1000-1009 --password 'pw-4#x'",
             harness_tcnode(), TC_SOURCE_DIR, dir, base);
    cr_assert_eq(harness_run(cmd, &out), 1, "a '#' must be refused: %s", out);
    free(out);
    snprintf(cmd, sizeof(cmd),
             "TCNODE='%s' '%s/deploy/local-cluster' up -n 2 --dir '%s' "
             "--base-port %d --dns 1000-1009 --password 'Agents-pw.7'",
             harness_tcnode(), TC_SOURCE_DIR, dir, base);
    cr_assert_eq(harness_run(cmd, &out), 0, "up: %s", out);
    cr_assert_null(strstr(out, "no SIP passwords"), "%s", out);
    free(out);
    for (int i = 1; i <= 2; i++) {
        snprintf(path, sizeof(path), "%s/sip%d.ini", dir, i);
        cr_assert_eq(stat(path, &st), 0);
        cr_assert_eq(st.st_mode & 077, 0, "%s is mode %o", path, st.st_mode & 0777);
    }

    cr_assert_neq(sipsak(base + 10, "1001", ""), 0, "registered without credentials");
    cr_assert_neq(sipsak(base + 20, "1002", "-a wrong -u 1002"), 0, "wrong password accepted");
    cr_assert_eq(sipsak(base + 10, "1001", "-a Agents-pw.7 -u 1001"), 0);
    cr_assert_eq(sipsak(base + 20, "1002", "-a Agents-pw.7 -u 1002 -E tcp"), 0);
    cr_assert_eq(harness_http_get((uint16_t)(base + 14), "/metrics", &page), 200);
    cr_assert_geq(harness_metric(page, "tcluster_sip_responses_total{method=\"REGISTER\",code=\"401\"}"),
                  1, "no challenge");
    cr_assert_eq(harness_metric(page, "tcluster_directory_numbers{state=\"insrv\"}"), 2);
    free(page);

    snprintf(cmd, sizeof(cmd), "'%s/deploy/local-cluster' down --dir '%s'", TC_SOURCE_DIR, dir);
    cr_assert_eq(harness_run(cmd, &out), 0, "down: %s", out);
    free(out);
    tc_test_rmrf(dir);
    free(dir);
}

Test(local_cluster, bad_arguments_are_refused)
{
    char cmd[512];
    char *out;

    snprintf(cmd, sizeof(cmd), "'%s/deploy/local-cluster' up -n 0", TC_SOURCE_DIR);
    cr_assert_eq(harness_run(cmd, &out), 1);
    cr_assert(strstr(out, "-n must be") != NULL, "%s", out);
    free(out);
    snprintf(cmd, sizeof(cmd), "'%s/deploy/local-cluster' up --durability maybe", TC_SOURCE_DIR);
    cr_assert_eq(harness_run(cmd, &out), 1);
    free(out);
}

/* Issue 14: --set changes a key on every node (an existing section's, or a
 * new narrower [dn] section) and --include adds a fragment: a realm the
 * challenge shows, one DN with its own password, a DN range from the
 * include that phones can register. */
Test(local_cluster, set_and_include_configure_every_node)
{
    char *dir = tc_test_tmpdir("lcset");
    char cmd[2048], inc[600], msg[1024], resp[2048], *page, *out;
    int base = 19000 + (getpid() % 40) * 100;
    FILE *f;

    snprintf(inc, sizeof(inc), "%s.include.ini", dir);
    f = fopen(inc, "w");
    cr_assert_not_null(f);
    fputs("; test fragment\n[dn 2000-2009]\ntype = extension\n", f);
    fclose(f);
    snprintf(cmd, sizeof(cmd),
             "TCNODE='%s' '%s/deploy/local-cluster' up -n 2 --dir '%s' --base-port %d "
             "--dns 1000-1009 --set node.auth-realm=lc-test.example "
             "--set 'dn  1005.password=only-1005' --include '%s'",
             harness_tcnode(), TC_SOURCE_DIR, dir, base, inc);
    cr_assert_eq(harness_run(cmd, &out), 0, "up: %s", out);
    free(out);

    for (int i = 1; i <= 2; i++) {
        cr_assert_eq(harness_http_get((uint16_t)(base + 10 * i + 4), "/metrics", &page), 200);
        cr_assert_eq(harness_metric(page, "tcluster_directory_numbers{state=\"oos\"}"), 20, "sip%d: include's DNs", i);
        free(page);
    }
    cr_assert_eq(sipsak(base + 10, "1001", ""), 0, "the range has no password");
    cr_assert_eq(sipsak(base + 20, "2001", ""), 0, "the included range");
    cr_assert_neq(sipsak(base + 10, "1005", ""), 0, "1005 registered without its password");
    cr_assert_eq(sipsak(base + 20, "1005", "-a only-1005 -u 1005"), 0);

    snprintf(msg, sizeof(msg),
             "REGISTER sip:127.0.0.1:%d SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-lcset-1;rport\r\n"
             "Max-Forwards: 70\r\nFrom: <sip:1005@127.0.0.1>;tag=a1\r\n"
             "To: <sip:1005@127.0.0.1>\r\nCall-ID: lcset-1@test\r\nCSeq: 1 REGISTER\r\n"
             "Contact: <sip:1005@127.0.0.1:9>\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n",
             base + 10);
    cr_assert_gt(
            harness_udp_exchange((uint16_t)(base + 10), msg, strlen(msg), resp, sizeof(resp), 3000),
            0, "no answer");
    cr_assert(strncmp(resp, "SIP/2.0 401", 11) == 0, "%s", resp);
    cr_assert(strstr(resp, "realm=\"lc-test.example\"") != NULL, "--set realm not used: %s", resp);

    snprintf(cmd, sizeof(cmd), "'%s/deploy/local-cluster' down --dir '%s'", TC_SOURCE_DIR, dir);
    cr_assert_eq(harness_run(cmd, &out), 0, "down: %s", out);
    free(out);
    unlink(inc);
    tc_test_rmrf(dir);
    free(dir);
}

/* Bad --set input is refused before anything starts; a key tcnode does
 * not know is reported with tcnode's FILE:LINE message, and no node runs. */
Test(local_cluster, a_bad_set_fails_cleanly)
{
    char *dir = tc_test_tmpdir("lcbad");
    char cmd[1024], path[600], *out;
    int base = 23000 + (getpid() % 40) * 100;
    static const struct {
        const char *arg, *says;
    } syntax[] = {
            {"node.min-expires", "no '='"},
            {"min-expires=3", "no '.'"},
            {"dnx 1000.password=x", "unknown section [dnx 1000]"},
            {"node.name=other", "sets node.name itself"},
    };

    for (size_t i = 0; i < sizeof(syntax) / sizeof(syntax[0]); i++) {
        snprintf(cmd, sizeof(cmd),
                 "TCNODE='%s' '%s/deploy/local-cluster' up -n 2 --dir '%s/x' --base-port %d "
                 "--set '%s'",
                 harness_tcnode(), TC_SOURCE_DIR, dir, base, syntax[i].arg);
        cr_assert_eq(harness_run(cmd, &out), 1, "%s: %s", syntax[i].arg, out);
        cr_assert(strstr(out, syntax[i].says) != NULL, "%s: %s", syntax[i].arg, out);
        free(out);
        snprintf(path, sizeof(path), "%s/x", dir);
        cr_assert_neq(access(path, F_OK), 0, "%s: wrote before checking", syntax[i].arg);
    }

    snprintf(cmd, sizeof(cmd),
             "TCNODE='%s' '%s/deploy/local-cluster' up -n 2 --dir '%s' --base-port %d "
             "--set node.no-such-key=1",
             harness_tcnode(), TC_SOURCE_DIR, dir, base);
    cr_assert_eq(harness_run(cmd, &out), 1, "%s", out);
    snprintf(path, sizeof(path), "%s/sip1.ini:", dir);
    cr_assert(strstr(out, path) != NULL && strstr(out, "unknown key no-such-key in [node]") != NULL,
              "not tcnode's FILE:LINE message: %s", out);
    cr_assert(strstr(out, "no node started") != NULL, "%s", out);
    free(out);
    for (int i = 1; i <= 2; i++) {
        cr_assert_eq(harness_http_get((uint16_t)(base + 10 * i + 4), "/healthz", NULL), 0,
                     "sip%d runs", i);
        snprintf(path, sizeof(path), "%s/sip%d.pid", dir, i);
        cr_assert_neq(access(path, F_OK), 0, "sip%d has a pid file", i);
    }
    tc_test_rmrf(dir);
    free(dir);
}
