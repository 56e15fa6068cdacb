/* tc_log_limited(): lines per call site per interval, and the summary. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/base/log.h"

static uint64_t fake_now;

static uint64_t fake_clock(void)
{
    return fake_now;
}

static FILE *captured;

/* Send stderr to a temporary file for the test's lines. */
static void capture(void)
{
    captured = tmpfile();
    cr_assert_not_null(captured);
    cr_assert_geq(dup2(fileno(captured), STDERR_FILENO), 0);
    fake_now = 1000;
    tc_log_set_clock(fake_clock);
    tc_log_set_level(TC_LOG_INFO);
}

/* The lines written so far, and how many hold needle. */
static int count_lines(const char *needle, char *last, size_t size)
{
    char line[512];
    int n = 0;

    fflush(captured);
    rewind(captured);
    while (fgets(line, sizeof(line), captured) != NULL) {
        if (strstr(line, needle) != NULL) {
            n++;
            if (last != NULL)
                snprintf(last, size, "%s", line);
        }
    }
    return n;
}

static void flood(int n, int i0)
{
    for (int i = 0; i < n; i++)
        tc_log_limited(WARN, "peer connection from 127.0.0.%d: refused", i0 + i);
}

Test(log, burst_then_silence, .init = capture)
{
    flood(1000, 0);
    cr_assert_eq(count_lines("refused", NULL, 0), TC_LOG_LIMIT_BURST);
    cr_assert_eq(count_lines("more like it", NULL, 0), 0);
}

Test(log, summary_on_next_line_after_interval, .init = capture)
{
    char last[512];

    flood(352391, 0);
    fake_now += TC_LOG_LIMIT_MS;
    flood(1, 0);
    cr_assert_eq(count_lines("more like it", last, sizeof(last)), 1);
    cr_assert_not_null(strstr(last, "... and 352,381 more like it in the last 10 s"), "%s", last);
    /* The new interval writes again. */
    cr_assert_eq(count_lines("refused", NULL, 0), TC_LOG_LIMIT_BURST + 2);
}

Test(log, flush_reports_a_flood_that_stopped, .init = capture)
{
    flood(25, 0);
    tc_log_limited_flush();
    cr_assert_eq(count_lines("more like it", NULL, 0), 0, "the interval is not over");
    fake_now += TC_LOG_LIMIT_MS + 1;
    tc_log_limited_flush();
    tc_log_limited_flush();
    cr_assert_eq(count_lines("and 15 more like it", NULL, 0), 1);
}

Test(log, sites_are_limited_apart, .init = capture)
{
    flood(50, 0);
    for (int i = 0; i < 3; i++)
        tc_log_limited(INFO, "default port: %d: application opened", i);
    cr_assert_eq(count_lines("application opened", NULL, 0), 3);
}

Test(log, below_the_floor_nothing_is_counted, .init = capture)
{
    tc_log_set_level(TC_LOG_WARN);
    for (int i = 0; i < 50; i++)
        tc_log_limited(INFO, "quiet %d", i);
    fake_now += TC_LOG_LIMIT_MS;
    tc_log_limited_flush();
    cr_assert_eq(count_lines("quiet", NULL, 0), 0);
}

/* Point JOURNAL_STREAM at the captured file (or at another inode) and read
 * the format tc_log_init() picks. */
static void journal_at(bool same_file)
{
    struct stat st;
    char v[64];

    cr_assert_eq(fstat(STDERR_FILENO, &st), 0);
    snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino + (same_file ? 0 : 1));
    cr_assert_eq(setenv("JOURNAL_STREAM", v, 1), 0);
}

static void log_every_level(void)
{
    tc_log_set_level(TC_LOG_DEBUG);
    tc_log(ERR, "line err");
    tc_log(WARN, "line warn");
    tc_log(NOTICE, "line notice");
    tc_log(INFO, "line info");
    tc_log(DEBUG, "line debug");
}

Test(log, journal_lines_carry_priorities_and_no_time, .init = capture)
{
    static const char *const want[] = {"<3>err    line err\n", "<4>warn   line warn\n",
                                       "<5>notice line notice\n", "<6>info   line info\n",
                                       "<7>debug  line debug\n"};
    char line[512];
    int i = 0;

    journal_at(true);
    cr_assert(tc_log_init());
    log_every_level();
    fflush(captured);
    rewind(captured);
    while (fgets(line, sizeof(line), captured) != NULL) {
        cr_assert_lt(i, 5, "extra line %s", line);
        cr_assert_str_eq(line, want[i]);
        i++;
    }
    cr_assert_eq(i, 5);
}

Test(log, another_stream_keeps_the_timestamp, .init = capture)
{
    char line[512];

    journal_at(false);
    cr_assert_not(tc_log_init());
    tc_log(WARN, "line warn");
    unsetenv("JOURNAL_STREAM");
    cr_assert_not(tc_log_init());
    tc_log(WARN, "line warn");
    cr_assert_eq(setenv("JOURNAL_STREAM", "garbage", 1), 0);
    cr_assert_not(tc_log_init());
    tc_log(WARN, "line warn");
    fflush(captured);
    rewind(captured);
    for (int i = 0; i < 3; i++) {
        cr_assert_not_null(fgets(line, sizeof(line), captured));
        /* 2026-12-06T01:22:17.408Z warn   line warn */
        cr_assert_eq(strlen(line), 25 + 17, "%s", line);
        cr_assert_eq(line[24], ' ', "%s", line);
        cr_assert_str_eq(line + 25, "warn   line warn\n");
    }
}
