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
