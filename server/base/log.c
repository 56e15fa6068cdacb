#include "server/base/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum tc_log_level log_floor = TC_LOG_INFO;

static const char *const level_names[] = {"err", "warn", "notice", "info", "debug"};

/* syslog priorities of the levels, for the journal: LOG_ERR .. LOG_DEBUG. */
static const char level_prio[] = {'3', '4', '5', '6', '7'};

/* Set by tc_log_init(): stderr is the journal's stream. */
static bool to_journal;

bool tc_log_init(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    char end;

    to_journal = false;
    if (js == NULL || sscanf(js, "%llu:%llu%c", &dev, &ino, &end) != 2)
        return false;
    if (fstat(STDERR_FILENO, &st) != 0)
        return false;
    to_journal = (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
    return to_journal;
}

void tc_log_set_level(enum tc_log_level level)
{
    log_floor = level;
}

int tc_log_parse_level(const char *s, enum tc_log_level *out)
{
    for (int i = 0; i <= TC_LOG_DEBUG; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum tc_log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

bool tc_log_enabled(enum tc_log_level level)
{
    return level <= log_floor;
}

__attribute__((format(printf, 2, 0))) static void log_line(enum tc_log_level level, const char *fmt,
                                                           va_list ap)
{
    char line[1024];
    struct timeval tv;
    struct tm tm;
    int n, m;

    if (to_journal) {
        /* The journal stamps each line itself and reads the priority from
         * the "<N>" prefix (sd-daemon(3)). */
        n = snprintf(line, sizeof(line), "<%c>%-6s ", level_prio[level], level_names[level]);
    } else {
        gettimeofday(&tv, NULL);
        gmtime_r(&tv.tv_sec, &tm);
        n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %-6s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(tv.tv_usec / 1000), level_names[level]);
    }
    m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    if (m < 0)
        m = 0;
    n += m;
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    /* One write keeps lines whole when threads log at once. */
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}

void tc_log(enum tc_log_level level, const char *fmt, ...)
{
    va_list ap;

    if (!tc_log_enabled(level))
        return;
    va_start(ap, fmt);
    log_line(level, fmt, ap);
    va_end(ap);
}

/* The state of one call site of tc_log_limited(). */
struct log_site {
    const char *fmt; /* the key; NULL: free */
    enum tc_log_level level;
    uint64_t start_ms; /* the interval began */
    uint32_t written;  /* lines in this interval */
    uint64_t dropped;  /* and those not written */
    char last[160];    /* the last line written, for the summary */
};

static pthread_mutex_t site_lock = PTHREAD_MUTEX_INITIALIZER;
static struct log_site sites[TC_LOG_LIMIT_SITES];

static uint64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t (*log_clock)(void) = mono_ms;

void tc_log_set_clock(uint64_t (*now_ms)(void))
{
    log_clock = now_ms != NULL ? now_ms : mono_ms;
}

/* n with thousands separators: 352,381. Returns buf. */
static const char *group_digits(uint64_t n, char *buf, size_t size)
{
    char raw[24];
    int len = snprintf(raw, sizeof(raw), "%llu", (unsigned long long)n);
    size_t o = 0;

    for (int i = 0; i < len && o + 2 < size; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = raw[i];
    }
    buf[o] = '\0';
    return buf;
}

/* Called with site_lock held: the summary of t's interval, which is over. */
static void site_close(struct log_site *t, uint64_t now)
{
    char n[32];

    if (t->dropped > 0)
        tc_log(t->level, "%s ... and %s more like it in the last %llu s", t->last,
               group_digits(t->dropped, n, sizeof(n)),
               (unsigned long long)((now - t->start_ms + 999) / 1000));
    t->start_ms = now;
    t->written = 0;
    t->dropped = 0;
}

/* Called with site_lock held. Returns fmt's site, or NULL when the table is
 * full. */
static struct log_site *site_find(const char *fmt, enum tc_log_level level, uint64_t now)
{
    size_t h = ((uintptr_t)fmt >> 3) % TC_LOG_LIMIT_SITES;

    for (size_t i = 0; i < TC_LOG_LIMIT_SITES; i++) {
        struct log_site *t = &sites[(h + i) % TC_LOG_LIMIT_SITES];

        if (t->fmt == fmt)
            return t;
        if (t->fmt == NULL) {
            t->fmt = fmt;
            t->level = level;
            t->start_ms = now;
            return t;
        }
    }
    return NULL;
}

void tc_log_limited_(enum tc_log_level level, const char *fmt, ...)
{
    struct log_site *t;
    uint64_t now;
    va_list ap;

    if (!tc_log_enabled(level))
        return;
    now = log_clock();
    pthread_mutex_lock(&site_lock);
    t = site_find(fmt, level, now);
    if (t != NULL && now - t->start_ms >= TC_LOG_LIMIT_MS)
        site_close(t, now);
    if (t != NULL && t->written >= TC_LOG_LIMIT_BURST) {
        t->dropped++;
        pthread_mutex_unlock(&site_lock);
        return;
    }
    va_start(ap, fmt);
    if (t != NULL) {
        t->written++;
        vsnprintf(t->last, sizeof(t->last), fmt, ap);
        tc_log(level, "%s", t->last);
    } else {
        log_line(level, fmt, ap);
    }
    va_end(ap);
    pthread_mutex_unlock(&site_lock);
}

void tc_log_limited_flush(void)
{
    uint64_t now = log_clock();

    pthread_mutex_lock(&site_lock);
    for (size_t i = 0; i < TC_LOG_LIMIT_SITES; i++) {
        if (sites[i].fmt != NULL && sites[i].dropped > 0 &&
            now - sites[i].start_ms >= TC_LOG_LIMIT_MS)
            site_close(&sites[i], now);
    }
    pthread_mutex_unlock(&site_lock);
}
