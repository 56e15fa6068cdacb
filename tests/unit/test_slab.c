#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "server/base/slab.h"
#include "tests/tc_test.h"

static struct slab sl;

static void setup(void)
{
    slab_init(&sl);
}

static void teardown(void)
{
    slab_destroy(&sl);
    tc_test_leak_check();
}

TestSuite(slab, .init = setup, .fini = teardown);

#define N 5000

/* Objects of every size keep their bytes while others come and go, are
 * 8-byte aligned, and do not overlap. */
Test(slab, objects_keep_their_bytes)
{
    static unsigned char *p[N];
    static size_t len[N];

    for (size_t i = 0; i < N; i++) {
        len[i] = 1 + (i * 37) % (SLAB_MAX + 300); /* some over SLAB_MAX */
        p[i] = slab_alloc(&sl, len[i]);
        cr_assert_not_null(p[i]);
        cr_assert_eq((uintptr_t)p[i] % 8, 0);
        memset(p[i], (int)(i & 0xff), len[i]);
    }
    /* Free every other one, then allocate them again. */
    for (size_t i = 0; i < N; i += 2)
        slab_free(&sl, p[i]);
    for (size_t i = 0; i < N; i += 2) {
        p[i] = slab_alloc(&sl, len[i]);
        cr_assert_not_null(p[i]);
        memset(p[i], (int)(i & 0xff), len[i]);
    }
    for (size_t i = 0; i < N; i++) {
        for (size_t j = 0; j < len[i]; j++)
            cr_assert_eq(p[i][j], (unsigned char)(i & 0xff), "object %zu byte %zu", i, j);
    }
    for (size_t i = 0; i < N; i++)
        slab_free(&sl, p[i]);
}

/* A freed slot is the next one given in its class. */
Test(slab, reuses_freed_slots)
{
    void *a = slab_alloc(&sl, 100);
    void *b = slab_alloc(&sl, 100);

    cr_assert_neq(a, b);
    slab_free(&sl, a);
    cr_assert_eq(slab_alloc(&sl, 97), a, "same class (104 bytes)");
    slab_free(&sl, a);
    slab_free(&sl, b);
}

/* Destroy frees blocks that still hold objects. */
Test(slab, destroy_with_live_objects)
{
    for (int i = 0; i < 20000; i++)
        cr_assert_not_null(slab_alloc(&sl, 136));
}
