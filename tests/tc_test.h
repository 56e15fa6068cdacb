#ifndef TC_TESTS_TC_TEST_H
#define TC_TESTS_TC_TEST_H

#include <stddef.h>

/* Shared by the Criterion tests. */

/* Suite .fini for every suite: under AddressSanitizer, run LeakSanitizer now
 * and abort the test if it finds a leak (Criterion alone would pass it). */
void tc_test_leak_check(void);

/* Make a fresh directory under $TMPDIR (or /tmp) named after tag and return
 * its path (malloc'd). Aborts the test on failure. */
char *tc_test_tmpdir(const char *tag);

/* rm -rf path; ignores errors. */
void tc_test_rmrf(const char *path);

/* Write text to path; aborts the test on failure. */
void tc_test_write_file(const char *path, const char *text);

/* Path of a built program, e.g. tc_test_bin("server/tcnode"). Static buffer. */
const char *tc_test_bin(const char *rel);

#endif
