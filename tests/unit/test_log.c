/* tc_log_limited(): lines per call site per interval, and the summary. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
