#include "server/base/metrics.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* 50 µs .. 10 s in the usual 1-2.5-5 steps, and finer between 1 and
 * 10 ms, where the latency targets are (5 ms). */
const double metrics_latency_bounds[] = {
        0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.0075,
        0.01,    0.025,  0.05,    0.1,    0.25,  0.5,   1,     2.5,   5,     10,
};
const unsigned metrics_latency_n_bounds =
        sizeof(metrics_latency_bounds) / sizeof(metrics_latency_bounds[0]);

void metrics_histogram_init(struct metrics_histogram *h, const double *bounds, unsigned n)
{
    unsigned i;

    assert(n <= METRICS_MAX_BUCKETS);
    for (i = 1; i < n; i++) {
        assert(bounds[i - 1] < bounds[i]);
    }
    h->bounds = bounds;
    h->n_bounds = n;
    for (i = 0; i <= METRICS_MAX_BUCKETS; i++) {
        h->counts[i] = 0;
    }
    h->count = 0;
    h->sum = 0;
}

void metrics_histogram_observe(struct metrics_histogram *h, double seconds)
{
    unsigned i;

    /* A NaN would poison the sum forever; it is no latency anyone measured. */
    if (isnan(seconds))
        return;
    for (i = 0; i < h->n_bounds; i++) {
        if (seconds <= h->bounds[i])
            break;
    }
    h->counts[i]++;
    h->count++;
    h->sum += seconds;
}

/* Format v as Prometheus reads it: NaN, +Inf, -Inf, whole numbers below
 * 1e18 in plain digits, else the shortest %g that reads back as the same
 * double. size should be 32. */
static void format_double(char *buf, size_t size, double v)
{
    int prec;

    if (isnan(v)) {
        snprintf(buf, size, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, size, "%s", v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == floor(v) && fabs(v) < 1e18) {
        snprintf(buf, size, "%.0f", v);
        return;
    }
    for (prec = 15; prec < 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
    snprintf(buf, size, "%.17g", v);
}

/* Append text with backslash and newline escaped (and the double quote when
 * quote is set), as HELP text and label values need. */
static int append_escaped(struct tc_buf *b, const char *s, int quote)
{
    const char *run = s;
    int rc = 0;

    for (; *s != '\0' && rc == 0; s++) {
        const char *esc = NULL;

        if (*s == '\\')
            esc = "\\\\";
        else if (*s == '\n')
            esc = "\\n";
        else if (*s == '"' && quote)
            esc = "\\\"";
        if (esc == NULL)
            continue;
        rc = tc_buf_append(b, run, (size_t)(s - run));
        if (rc == 0)
            rc = tc_buf_puts(b, esc);
        run = s + 1;
    }
    if (rc == 0)
        rc = tc_buf_append(b, run, (size_t)(s - run));
    return rc;
}

int metrics_label_escape(struct tc_buf *b, const char *value)
{
    return append_escaped(b, value, 1);
}

int metrics_header(struct tc_buf *b, const char *name, const char *type, const char *help)
{
    int rc;

    rc = tc_buf_printf(b, "# HELP %s ", name);
    if (rc == 0)
        rc = append_escaped(b, help, 0);
    if (rc == 0)
        rc = tc_buf_printf(b, "\n# TYPE %s %s\n", name, type);
    return rc;
}

/* Append "name{labels} " or "name ". */
static int sample_start(struct tc_buf *b, const char *name, const char *labels)
{
    if (labels != NULL && labels[0] != '\0')
        return tc_buf_printf(b, "%s{%s} ", name, labels);
    return tc_buf_printf(b, "%s ", name);
}

int metrics_sample(struct tc_buf *b, const char *name, const char *labels, double value)
{
    char num[32];
    int rc;

    format_double(num, sizeof(num), value);
    rc = sample_start(b, name, labels);
    if (rc == 0)
        rc = tc_buf_printf(b, "%s\n", num);
    return rc;
}

int metrics_sample_u64(struct tc_buf *b, const char *name, const char *labels, uint64_t value)
{
    int rc;

    rc = sample_start(b, name, labels);
    if (rc == 0)
        rc = tc_buf_printf(b, "%" PRIu64 "\n", value);
    return rc;
}

int metrics_histogram_render(struct tc_buf *b, const char *name, const char *help,
                             const struct metrics_histogram *h)
{
    char le[32], sum[32];
    uint64_t cum = 0;
    unsigned i;
    int rc;

    rc = metrics_header(b, name, "histogram", help);
    for (i = 0; i < h->n_bounds && rc == 0; i++) {
        cum += h->counts[i];
        format_double(le, sizeof(le), h->bounds[i]);
        rc = tc_buf_printf(b, "%s_bucket{le=\"%s\"} %" PRIu64 "\n", name, le, cum);
    }
    format_double(sum, sizeof(sum), h->sum);
    if (rc == 0)
        rc = tc_buf_printf(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, h->count);
    if (rc == 0)
        rc = tc_buf_printf(b, "%s_sum %s\n", name, sum);
    if (rc == 0)
        rc = tc_buf_printf(b, "%s_count %" PRIu64 "\n", name, h->count);
    return rc;
}
