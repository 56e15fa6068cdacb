#ifndef TC_SERVER_BASE_LOG_H
#define TC_SERVER_BASE_LOG_H

#include <stdbool.h>
#include <stdint.h>

/* Log levels, most severe first. */
enum tc_log_level {
    TC_LOG_ERR = 0,
    TC_LOG_WARN,
    TC_LOG_NOTICE,
    TC_LOG_INFO,
    TC_LOG_DEBUG,
};

#define ERR    TC_LOG_ERR
#define WARN   TC_LOG_WARN
#define NOTICE TC_LOG_NOTICE
#define INFO   TC_LOG_INFO
#define DEBUG  TC_LOG_DEBUG

/* Look at stderr: when it is the systemd journal's stream (JOURNAL_STREAM
 * holds its device and inode, as systemd sets it for a unit's stderr),
 * lines start with a syslog priority "<3>" (err), "<4>" (warn), "<5>"
 * (notice), "<6>" (info) or "<7>" (debug) and carry no timestamp, which the
 * journal adds; otherwise they start with an ISO-8601 UTC time. Returns
 * whether stderr is the journal. Call in main() before starting threads,
 * and again if stderr is replaced. */
bool tc_log_init(void);

/* Set the floor: lines less severe than level are dropped. Call before
 * starting threads. */
void tc_log_set_level(enum tc_log_level level);

/* Parse "err", "warn", "notice", "info" or "debug". Returns 0 or -EINVAL. */
int tc_log_parse_level(const char *s, enum tc_log_level *out);

/* True when a line at level would be written. Any thread. */
bool tc_log_enabled(enum tc_log_level level);

/* Write one line to stderr: time, level, message. Lower case, no trailing
 * period, no secrets. Any thread; a line is written with one write(2). */
void tc_log(enum tc_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Lines of one call site (one format string) written per interval at most,
 * and the interval; the lines past that are counted, and one summary line
 * "<last line> ... and N more like it in the last 10 s" follows when the
 * interval is over. */
#define TC_LOG_LIMIT_BURST 10
#define TC_LOG_LIMIT_MS    10000
#define TC_LOG_LIMIT_SITES 64 /* call sites tracked; more are not limited */

/* tc_log() for lines that outside traffic can cause once per connection or
 * request: at most TC_LOG_LIMIT_BURST lines per TC_LOG_LIMIT_MS for each
 * format string. Any thread. */
#define tc_log_limited(level, ...) tc_log_limited_(level, __VA_ARGS__)
void tc_log_limited_(enum tc_log_level level, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* Write the summary lines of the call sites whose interval is over; a
 * timer may call it so a flood that stopped is still reported. Any thread. */
void tc_log_limited_flush(void);

/* Replace the monotonic clock (ms) the limit uses; NULL restores it. For
 * tests; call before starting threads. */
void tc_log_set_clock(uint64_t (*now_ms)(void));

#endif
