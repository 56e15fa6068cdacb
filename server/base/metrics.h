#ifndef TC_SERVER_BASE_METRICS_H
#define TC_SERVER_BASE_METRICS_H

#include <stdint.h>

#include "server/base/buf.h"

/* Prometheus text exposition (format 0.0.4) helpers and a fixed-bucket
 * histogram. Rendering appends to a tc_buf; errors are -ENOMEM. Loop thread
 * (or any single thread that owns the histogram). */

#define METRICS_MAX_BUCKETS 24

/* A histogram in seconds over fixed upper bounds, rendered cumulative. */
struct metrics_histogram {
    const double *bounds; /* ascending upper bounds, seconds; static */
    unsigned n_bounds;    /* <= METRICS_MAX_BUCKETS */
    /* Per bucket, not cumulative; counts[n_bounds] is the +Inf bucket. */
    uint64_t counts[METRICS_MAX_BUCKETS + 1];
    uint64_t count;
    double sum;
};

/* Bounds suited to latencies from 50 µs to 10 s. */
extern const double metrics_latency_bounds[];
extern const unsigned metrics_latency_n_bounds;

/* Zero h over bounds[0..n) (ascending, n <= METRICS_MAX_BUCKETS); bounds is
 * borrowed for h's lifetime. */
void metrics_histogram_init(struct metrics_histogram *h, const double *bounds, unsigned n);

/* Count one observation in the first bucket whose bound is >= seconds, or
 * in +Inf. NaN is ignored. */
void metrics_histogram_observe(struct metrics_histogram *h, double seconds);

/* Append "# HELP name help" and "# TYPE name type" lines (help escaped:
 * backslash, newline). type is "counter", "gauge" or "histogram". */
int metrics_header(struct tc_buf *b, const char *name, const char *type, const char *help);

/* Append one sample line: name{labels} value. labels is a preformatted
 * label list without braces (e.g. "state=\"insrv\""; escape values with
 * metrics_label_escape()) or NULL/"". Values: NaN, +Inf, -Inf, whole numbers
 * below 1e18 in plain digits, else the shortest exact decimal. */
int metrics_sample(struct tc_buf *b, const char *name, const char *labels, double value);
int metrics_sample_u64(struct tc_buf *b, const char *name, const char *labels, uint64_t value);

/* Append a whole histogram family (HELP, TYPE, _bucket lines with le, _sum,
 * _count). */
int metrics_histogram_render(struct tc_buf *b, const char *name, const char *help,
                             const struct metrics_histogram *h);

/* Escape a label value (backslash, quote, newline) into b. */
int metrics_label_escape(struct tc_buf *b, const char *value);

#endif
