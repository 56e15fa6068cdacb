#ifndef TC_SERVER_BASE_LOG_H
#define TC_SERVER_BASE_LOG_H

#include <stdbool.h>

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

#endif
