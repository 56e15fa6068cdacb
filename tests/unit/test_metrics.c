/* Prometheus text rendering: exact output, histogram buckets, escaping, and
 * a page checked by promtool when it is installed. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/base/metrics.h"
#include "tests/tc_test.h"

TestSuite(metrics, .fini = tc_test_leak_check);

Test(metrics, header_and_samples_exact)
{
    struct tc_buf b = TC_BUF_INIT;

    cr_assert_eq(metrics_header(&b, "tcluster_directory_numbers", "gauge", "DNs by state."), 0);
    cr_assert_eq(metrics_sample_u64(&b, "tcluster_directory_numbers", "state=\"insrv\"", 1000), 0);
    cr_assert_eq(metrics_sample_u64(&b, "tcluster_directory_numbers", "", 18446744073709551615ULL), 0);
    cr_assert_eq(metrics_sample(&b, "tc_ratio", NULL, 0.1), 0);
    cr_assert_eq(metrics_sample(&b, "tc_ratio", NULL, 1e6), 0);
    cr_assert_eq(metrics_sample(&b, "tc_ratio", NULL, -3), 0);
    cr_assert_eq(metrics_sample(&b, "tc_ratio", NULL, 123456789012.0), 0);
    cr_assert_eq(metrics_sample(&b, "tc_ratio", NULL, 1.0 / 3), 0);
    cr_assert_eq(metrics_sample(&b, "tc_ratio", NULL, 1e-7), 0);
    cr_assert_eq(metrics_sample(&b, "tc_ratio", NULL, 1e300), 0);
    cr_assert_eq(metrics_sample(&b, "tc_ratio", NULL, INFINITY), 0);
    cr_assert_eq(metrics_sample(&b, "tc_ratio", NULL, -INFINITY), 0);
    cr_assert_eq(metrics_sample(&b, "tc_ratio", "a=\"b\"", NAN), 0);
    cr_assert_str_eq(b.data, "# HELP tcluster_directory_numbers DNs by state.\n"
                             "# TYPE tcluster_directory_numbers gauge\n"
                             "tcluster_directory_numbers{state=\"insrv\"} 1000\n"
                             "tcluster_directory_numbers 18446744073709551615\n"
                             "tc_ratio 0.1\n"
                             "tc_ratio 1000000\n"
                             "tc_ratio -3\n"
                             "tc_ratio 123456789012\n"
                             "tc_ratio 0.3333333333333333\n"
                             "tc_ratio 1e-07\n"
                             "tc_ratio 1e+300\n"
                             "tc_ratio +Inf\n"
                             "tc_ratio -Inf\n"
                             "tc_ratio{a=\"b\"} NaN\n");
    tc_buf_free(&b);
}

Test(metrics, doubles_round_trip)
{
    static const double v[] = {0.1,      0.2 + 0.1, 1.0 / 3,
                               2.5e-5,   123.456,   9007199254740993.0,
                               1e17 + 8, 4.9e-324,  1.7976931348623157e308};
    struct tc_buf b = TC_BUF_INIT;
    size_t i;

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        tc_buf_reset(&b);
        cr_assert_eq(metrics_sample(&b, "x", NULL, v[i]), 0);
        cr_assert_eq(strtod(b.data + 2, NULL), v[i], "%s", b.data);
        cr_assert_null(strchr(b.data + 2, ' '));
    }
    tc_buf_free(&b);
}

Test(metrics, help_is_escaped)
{
    struct tc_buf b = TC_BUF_INIT;

    cr_assert_eq(metrics_header(&b, "x", "counter", "a \\ b\nc \"q\""), 0);
    cr_assert_str_eq(b.data, "# HELP x a \\\\ b\\nc \"q\"\n# TYPE x counter\n");
    tc_buf_free(&b);
}

Test(metrics, label_escape)
{
    struct tc_buf b = TC_BUF_INIT;

    cr_assert_eq(metrics_label_escape(&b, ""), 0);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(metrics_label_escape(&b, "plain sip1"), 0);
    cr_assert_str_eq(b.data, "plain sip1");
    tc_buf_reset(&b);
    cr_assert_eq(metrics_label_escape(&b, "a\"b\\c\nd\"\"\\"), 0);
    cr_assert_str_eq(b.data, "a\\\"b\\\\c\\nd\\\"\\\"\\\\");
    tc_buf_free(&b);
}

Test(metrics, latency_bounds)
{
    unsigned i;

    cr_assert_eq(metrics_latency_n_bounds, 20);
    cr_assert_leq(metrics_latency_n_bounds, METRICS_MAX_BUCKETS);
    cr_assert_eq(metrics_latency_bounds[0], 0.00005);
    cr_assert_eq(metrics_latency_bounds[metrics_latency_n_bounds - 1], 10.0);
    for (i = 1; i < metrics_latency_n_bounds; i++) {
        cr_assert_lt(metrics_latency_bounds[i - 1], metrics_latency_bounds[i]);
    }
}

Test(metrics, histogram_buckets)
{
    static const double bounds[] = {0.1, 0.5, 1};
    struct metrics_histogram h;

    memset(&h, 0xff, sizeof(h));
    metrics_histogram_init(&h, bounds, 3);
    cr_assert_eq(h.count, 0);
    metrics_histogram_observe(&h, -1);  /* below everything: first bucket */
    metrics_histogram_observe(&h, 0.1); /* on a bound: that bucket (le) */
    metrics_histogram_observe(&h, 0.10000001);
    metrics_histogram_observe(&h, 1);
    metrics_histogram_observe(&h, 2);
    metrics_histogram_observe(&h, INFINITY);
    metrics_histogram_observe(&h, NAN); /* ignored */
    cr_assert_eq(h.counts[0], 2);
    cr_assert_eq(h.counts[1], 1);
    cr_assert_eq(h.counts[2], 1);
    cr_assert_eq(h.counts[3], 2);
    cr_assert_eq(h.count, 6);
    cr_assert(isinf(h.sum));
}

Test(metrics, histogram_render_exact)
{
    static const double bounds[] = {0.00005, 0.001, 0.25, 1, 2.5};
    struct metrics_histogram h;
    struct tc_buf b = TC_BUF_INIT;

    metrics_histogram_init(&h, bounds, 5);
    metrics_histogram_observe(&h, 0.00002);
    metrics_histogram_observe(&h, 0.0005);
    metrics_histogram_observe(&h, 0.0005);
    metrics_histogram_observe(&h, 0.5);
    metrics_histogram_observe(&h, 4);
    cr_assert_eq(metrics_histogram_render(&b, "tc_commit_seconds", "Commit latency.", &h), 0);
    cr_assert_str_eq(b.data, "# HELP tc_commit_seconds Commit latency.\n"
                             "# TYPE tc_commit_seconds histogram\n"
                             "tc_commit_seconds_bucket{le=\"5e-05\"} 1\n"
                             "tc_commit_seconds_bucket{le=\"0.001\"} 3\n"
                             "tc_commit_seconds_bucket{le=\"0.25\"} 3\n"
                             "tc_commit_seconds_bucket{le=\"1\"} 4\n"
                             "tc_commit_seconds_bucket{le=\"2.5\"} 4\n"
                             "tc_commit_seconds_bucket{le=\"+Inf\"} 5\n"
                             "tc_commit_seconds_sum 4.5010200000000005\n"
                             "tc_commit_seconds_count 5\n");
    tc_buf_free(&b);
}

Test(metrics, histogram_empty)
{
    struct metrics_histogram h;
    struct tc_buf b = TC_BUF_INIT;

    metrics_histogram_init(&h, NULL, 0);
    cr_assert_eq(metrics_histogram_render(&b, "e", "Empty.", &h), 0);
    cr_assert_str_eq(b.data, "# HELP e Empty.\n"
                             "# TYPE e histogram\n"
                             "e_bucket{le=\"+Inf\"} 0\n"
                             "e_sum 0\n"
                             "e_count 0\n");
    tc_buf_free(&b);
}

/* A page like the node's: every kind of family, labels that need escaping. */
static void render_page(struct tc_buf *b)
{
    struct metrics_histogram h;
    struct tc_buf lab = TC_BUF_INIT;
    unsigned i;

    metrics_histogram_init(&h, metrics_latency_bounds, metrics_latency_n_bounds);
    for (i = 0; i < 1000; i++) {
        metrics_histogram_observe(&h, i * 0.00037);
    }
    cr_assert_eq(metrics_header(b, "tcluster_directory_numbers", "gauge", "DNs by state \\ owner.\nSecond line."), 0);
    cr_assert_eq(metrics_sample_u64(b, "tcluster_directory_numbers", "state=\"insrv\",owner=\"sip1\"", 12), 0);
    cr_assert_eq(tc_buf_puts(&lab, "state=\"oos\",owner=\""), 0);
    cr_assert_eq(metrics_label_escape(&lab, "we\"ird\\node\nname"), 0);
    cr_assert_eq(tc_buf_puts(&lab, "\""), 0);
    cr_assert_eq(metrics_sample_u64(b, "tcluster_directory_numbers", lab.data, 3), 0);
    cr_assert_eq(metrics_header(b, "tcluster_http_rejected_total", "counter", "Rejected requests."), 0);
    cr_assert_eq(metrics_sample_u64(b, "tcluster_http_rejected_total", NULL, 7), 0);
    cr_assert_eq(metrics_header(b, "tc_load", "gauge", "Odd values."), 0);
    cr_assert_eq(metrics_sample(b, "tc_load", "k=\"nan\"", NAN), 0);
    cr_assert_eq(metrics_sample(b, "tc_load", "k=\"inf\"", INFINITY), 0);
    cr_assert_eq(metrics_sample(b, "tc_load", "k=\"tiny\"", 1e-300), 0);
    cr_assert_eq(metrics_histogram_render(b, "tc_commit_seconds", "Commit latency.", &h), 0);
    tc_buf_free(&lab);
}

Test(metrics, promtool_accepts_page)
{
    struct tc_buf b = TC_BUF_INIT;
    char path[] = "/tmp/tc-metrics-XXXXXX";
    char cmd[256];
    int fd, st;

    if (system("command -v promtool >/dev/null 2>&1") != 0)
        cr_skip("promtool is not installed");
    render_page(&b);
    fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, b.data, b.len), (ssize_t)b.len);
    close(fd);
    snprintf(cmd, sizeof(cmd), "promtool check metrics < %s", path);
    st = system(cmd);
    unlink(path);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "promtool rejected:\n%s", b.data);
    tc_buf_free(&b);
}
