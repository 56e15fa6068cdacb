/* tcnode as a real process: start, stop, reload, /healthz and /metrics with
 * curl, and the ways it refuses to start. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/tc_test.h"

TestSuite(node, .fini = tc_test_leak_check, .timeout = 120);

static const char *dns_1000 = "[dn 1000-1999]\ntype = extension\n";

Test(node, starts_serves_and_stops_cleanly)
{
    struct hnode n;
    char *body;

    harness_node_init(&n, "sip1", NULL, dns_1000);
    harness_node_start(&n);
    cr_assert_eq(harness_http_get(n.http_port, "/healthz", &body), 200);
    cr_assert_str_eq(body, "ok\n");
    free(body);
    cr_assert_eq(harness_http_get(n.http_port, "/nope", NULL), 404);
    cr_assert_eq(harness_node_stop(&n), 0, "SIGTERM must exit 0");
    char *log = harness_read_file(n.log);
    cr_assert(strstr(log, "shutting down") != NULL, "log: %s", log);
    free(log);
    harness_node_cleanup(&n);
}

Test(node, sigint_stops_cleanly)
{
    struct hnode n;

    harness_node_init(&n, "sip1", NULL, dns_1000);
    harness_node_start(&n);
    kill(n.pid, SIGINT);
    cr_assert_eq(harness_node_wait_exit(&n, 20000), 0);
    harness_node_cleanup(&n);
}

Test(node, metrics_are_valid_prometheus_text)
{
    struct hnode n;
    char *page, *out;
    char cmd[512];

    harness_node_init(&n, "sip1", NULL, dns_1000);
    harness_node_start(&n);
    cr_assert_eq(harness_http_get(n.http_port, "/metrics", &page), 200);
    cr_assert(strstr(page, "tcluster_build_info{version=\"") != NULL, "%s", page);
    cr_assert_eq(harness_metric(page, "tcluster_directory_numbers{state=\"oos\"}"), 1000);
    cr_assert_eq(harness_metric(page, "tcluster_directory_numbers{state=\"insrv\"}"), 0);
    cr_assert_geq(harness_metric(page, "tcluster_store_commit_seconds_count"), 0);
    /* The process figures a Prometheus user expects of any exporter. */
    cr_assert_gt(harness_metric(page, "process_resident_memory_bytes"), 1000000);
    cr_assert_gt(harness_metric(page, "process_open_fds"), 5);
    cr_assert_geq(harness_metric(page, "process_max_fds"), harness_metric(page, "process_open_fds"));
    cr_assert_gt(harness_metric(page, "process_start_time_seconds"), 1.7e9);
    cr_assert(strstr(page, "# TYPE process_cpu_seconds_total counter\n") != NULL, "%s", page);
    free(page);
    if (access("/usr/bin/promtool", X_OK) == 0) {
        snprintf(cmd, sizeof(cmd), "curl -fsS http://127.0.0.1:%u/metrics | promtool check metrics",
                 n.http_port);
        cr_assert_eq(harness_run(cmd, &out), 0, "promtool: %s", out);
        free(out);
    }
    harness_node_stop(&n);
    harness_node_cleanup(&n);
}

Test(node, oversized_http_header_gets_431_and_node_keeps_serving)
{
    struct hnode n;
    char cmd[512];
    char *out;

    harness_node_init(&n, "sip1", "http-max-header = 1k", dns_1000);
    harness_node_start(&n);
    snprintf(cmd, sizeof(cmd),
             "curl -s -o /dev/null -w '%%{http_code}' -H \"X-Big: $(head -c 4000 /dev/zero | tr "
             "'\\0' a)\" http://127.0.0.1:%u/healthz",
             n.http_port);
    harness_run(cmd, &out);
    cr_assert_str_eq(out, "431");
    free(out);
    cr_assert_eq(harness_http_get(n.http_port, "/healthz", NULL), 200);
    harness_node_stop(&n);
    harness_node_cleanup(&n);
}

struct oos_wait {
    struct hnode *n;
    double want;
};

static bool oos_is(void *arg)
{
    struct oos_wait *w = arg;
    char *page;
    double v;

    if (harness_http_get(w->n->http_port, "/metrics", &page) != 200) {
        free(page);
        return false;
    }
    v = harness_metric(page, "tcluster_directory_numbers{state=\"oos\"}");
    free(page);
    return v == w->want;
}

Test(node, sighup_reloads_directory_and_keeps_running_on_bad_config)
{
    struct hnode n;
    struct oos_wait w = {&n, 2000};
    char *log;

    harness_node_init(&n, "sip1", NULL, dns_1000);
    harness_node_start(&n);
    harness_node_write_config(&n, NULL, "[dn 1000-2999]\ntype = extension\n");
    kill(n.pid, SIGHUP);
    cr_assert(harness_wait(oos_is, &w, 10000), "reload did not take the new directory");

    /* A broken file is refused with its line; the node keeps the old one. */
    harness_node_write_config(&n, NULL, "[dn 1000-2999]\ntype = bogus\n");
    kill(n.pid, SIGHUP);
    cr_assert_eq(harness_http_get(n.http_port, "/healthz", NULL), 200);
    w.want = 2000;
    cr_assert(harness_wait(oos_is, &w, 2000));
    log = harness_read_file(n.log);
    cr_assert(strstr(log, "reload:") != NULL && strstr(log, ".ini:11: ") != NULL, "log: %s", log);
    free(log);
    cr_assert_eq(harness_node_stop(&n), 0);
    harness_node_cleanup(&n);
}

Test(node, second_process_on_same_data_dir_exits_2)
{
    struct hnode a, b;
    char *log;

    harness_node_init(&a, "sip1", NULL, dns_1000);
    harness_node_start(&a);
    /* Same name and data-dir, other ports. */
    harness_node_init(&b, "sip1", NULL, dns_1000);
    snprintf(b.data_dir, sizeof(b.data_dir), "%s", a.data_dir);
    harness_node_write_config(&b, NULL, dns_1000);
    harness_node_spawn(&b);
    cr_assert_eq(harness_node_wait_exit(&b, 20000), 2);
    log = harness_read_file(b.log);
    cr_assert(strstr(log, a.data_dir) != NULL && strstr(log, "in use") != NULL, "log: %s", log);
    free(log);
    cr_assert_eq(harness_http_get(a.http_port, "/healthz", NULL), 200);
    harness_node_stop(&a);
    harness_node_cleanup(&a);
    harness_node_cleanup(&b);
}

Test(node, corrupt_store_exits_2)
{
    struct hnode n;
    char path[512];
    char *log;

    harness_node_init(&n, "sip1", NULL, dns_1000);
    harness_node_start(&n);
    harness_node_stop(&n);
    snprintf(path, sizeof(path), "%s/data.mdb", n.data_dir);
    tc_test_write_file(path, "this is not an lmdb file, it is garbage written by a test\n");
    harness_node_spawn(&n);
    cr_assert_eq(harness_node_wait_exit(&n, 20000), 2);
    log = harness_read_file(n.log);
    cr_assert(strstr(log, "corrupt") != NULL, "log: %s", log);
    free(log);
    harness_node_cleanup(&n);
}

Test(node, store_of_another_node_exits_2)
{
    struct hnode n;
    char *log;

    harness_node_init(&n, "sip1", NULL, dns_1000);
    harness_node_start(&n);
    harness_node_stop(&n);
    snprintf(n.name, sizeof(n.name), "sip2");
    harness_node_write_config(&n, NULL, dns_1000);
    harness_node_spawn(&n);
    cr_assert_eq(harness_node_wait_exit(&n, 20000), 2);
    log = harness_read_file(n.log);
    cr_assert(strstr(log, "another node") != NULL, "log: %s", log);
    free(log);
    harness_node_cleanup(&n);
}

Test(node, missing_data_dir_parent_exits_2)
{
    struct hnode n;
    char *log;

    harness_node_init(&n, "sip1", NULL, dns_1000);
    snprintf(n.data_dir, sizeof(n.data_dir), "%s/no/such/parent", n.dir);
    harness_node_write_config(&n, NULL, dns_1000);
    harness_node_spawn(&n);
    cr_assert_eq(harness_node_wait_exit(&n, 20000), 2);
    log = harness_read_file(n.log);
    cr_assert(strstr(log, "no/such/parent") != NULL, "log: %s", log);
    free(log);
    harness_node_cleanup(&n);
}

Test(node, http_port_in_use_exits_1_naming_the_address)
{
    struct hnode a, b;
    char want[64];
    char *log;

    harness_node_init(&a, "sip1", NULL, dns_1000);
    harness_node_start(&a);
    harness_node_init(&b, "sip2", NULL, dns_1000);
    b.http_port = a.http_port;
    harness_node_write_config(&b, NULL, dns_1000);
    harness_node_spawn(&b);
    cr_assert_eq(harness_node_wait_exit(&b, 20000), 1);
    log = harness_read_file(b.log);
    snprintf(want, sizeof(want), "127.0.0.1:%u", a.http_port);
    cr_assert(strstr(log, want) != NULL && strstr(log, "in use") != NULL, "log: %s", log);
    free(log);
    harness_node_stop(&a);
    harness_node_cleanup(&a);
    harness_node_cleanup(&b);
}

Test(node, check_config_reports_file_and_line)
{
    struct hnode n;
    char cmd[1024];
    char want[400];
    char *out;

    harness_node_init(&n, "sip1", "durability = fast\nfrobnicate = 1", dns_1000);
    snprintf(cmd, sizeof(cmd), "'%s' --check-config '%s'", harness_tcnode(), n.config);
    cr_assert_eq(harness_run(cmd, &out), 1, "%s", out);
    snprintf(want, sizeof(want), "%s:9: ", n.config);
    cr_assert(strstr(out, want) != NULL, "%s", out);
    snprintf(want, sizeof(want), "%s:10: ", n.config);
    cr_assert(strstr(out, want) != NULL, "%s", out);
    free(out);

    harness_node_write_config(&n, NULL, dns_1000);
    cr_assert_eq(harness_run(cmd, &out), 0, "%s", out);
    free(out);

    /* "tc-listen 127.0.0.1:3001": inih splits at the ':'; say '=' is missing. */
    harness_node_write_config(&n, "tc-listen 127.0.0.1:3001", dns_1000);
    cr_assert_eq(harness_run(cmd, &out), 1, "%s", out);
    cr_assert(strstr(out, "is '=' missing after tc-listen?") != NULL, "%s", out);
    free(out);
    harness_node_cleanup(&n);
}

/* The cluster secret is read at check time as the node would read it, so
 * a config that passes --check-config does not stop the node with exit 1. */
Test(node, check_config_reads_the_cluster_secret)
{
    struct hnode n;
    char cmd[1024], extra[600], secret[400];
    const char *peer = "\n[peer sip2]\naddress = 127.0.0.1:9\n";
    char tail[200];
    char *out;

    snprintf(tail, sizeof(tail), "%s%s", peer, dns_1000);
    harness_node_init(&n, "sip1", NULL, tail);
    snprintf(cmd, sizeof(cmd), "'%s' --check-config '%s'", harness_tcnode(), n.config);
    cr_assert_eq(harness_run(cmd, &out), 1, "%s", out);
    cr_assert(strstr(out, "cluster-secret-file (unset): required") != NULL, "%s", out);
    free(out);

    snprintf(secret, sizeof(secret), "%s/secret", n.dir);
    snprintf(extra, sizeof(extra), "cluster-secret-file = %s", secret);
    harness_node_write_config(&n, extra, tail);
    cr_assert_eq(harness_run(cmd, &out), 1, "%s", out);
    cr_assert(strstr(out, "No such file") != NULL, "%s", out);
    free(out);

    tc_test_write_file(secret, "short\n");
    cr_assert_eq(harness_run(cmd, &out), 0, "%s", out);
    cr_assert(strstr(out, "warning: cluster-secret-file") != NULL, "%s", out);
    cr_assert(strstr(out, "(node sip1, 1 peer, ") != NULL, "%s", out);
    free(out);
    harness_node_cleanup(&n);
}

Test(node, version_and_usage)
{
    char cmd[512];
    char *out;

    snprintf(cmd, sizeof(cmd), "'%s' --version", harness_tcnode());
    cr_assert_eq(harness_run(cmd, &out), 0);
    cr_assert(strncmp(out, "tcnode ", 7) == 0, "%s", out);
    free(out);
    snprintf(cmd, sizeof(cmd), "'%s' --bogus", harness_tcnode());
    cr_assert_eq(harness_run(cmd, &out), 1);
    free(out);
    snprintf(cmd, sizeof(cmd), "'%s' -c /nonexistent/tcnode.ini", harness_tcnode());
    cr_assert_eq(harness_run(cmd, &out), 1);
    cr_assert(strstr(out, "/nonexistent/tcnode.ini") != NULL, "%s", out);
    /* Said once, not twice. */
    cr_assert_null(strstr(strstr(out, "/nonexistent") + 1, "/nonexistent"), "%s", out);
    free(out);
    snprintf(cmd, sizeof(cmd), "'%s' -c x.ini --log-level chatty", harness_tcnode());
    cr_assert_eq(harness_run(cmd, &out), 1);
    cr_assert(strstr(out, "err, warn, notice, info or debug") != NULL, "%s", out);
    free(out);
}
