/* deploy/local-cluster as the later tests and operators use it. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    free(out);

    for (int i = 1; i <= 3; i++) {
        char *page;
        int http = base + 10 * i + 4;

        cr_assert_eq(harness_http_get((uint16_t)http, "/healthz", NULL), 200, "sip%d", i);
        cr_assert_eq(harness_http_get((uint16_t)http, "/metrics", &page), 200);
        cr_assert_eq(harness_metric(page, "tc_dns{state=\"oos\"}"), 100);
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
