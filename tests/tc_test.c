#include "tests/tc_test.h"

#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TC_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TC_ASAN 1
#endif

#ifdef TC_ASAN
#include <sanitizer/lsan_interface.h>
#endif

void tc_test_leak_check(void)
{
#ifdef TC_ASAN
    if (__lsan_do_recoverable_leak_check() != 0) {
        fprintf(stderr, "tc_test: LeakSanitizer found leaks\n");
        abort();
    }
#endif
}

char *tc_test_tmpdir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    char tmpl[PATH_MAX];
    char *p;

    if (base == NULL || *base == '\0')
        base = "/tmp";
    snprintf(tmpl, sizeof(tmpl), "%s/tc-%s-XXXXXX", base, tag);
    p = mkdtemp(tmpl);
    cr_assert_not_null(p, "mkdtemp %s", tmpl);
    return strdup(p);
}

void tc_test_rmrf(const char *path)
{
    char cmd[PATH_MAX + 16];

    if (path == NULL || strlen(path) < 5)
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    int rc = system(cmd);
    (void)rc;
}

void tc_test_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    cr_assert_not_null(f, "open %s", path);
    cr_assert_eq(fputs(text, f) >= 0, 1);
    cr_assert_eq(fclose(f), 0);
}

const char *tc_test_bin(const char *rel)
{
    static char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", TC_BINARY_DIR, rel);
    return path;
}
