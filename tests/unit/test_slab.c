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

/* Handles name objects of every size, big ones too, in 32 bits below
 * 2^31, and come back to the same object; a freed block's number is
 * given again. */
Test(slab, handles_round_trip)
{
    static void *p[3000];
    static uint32_t h[3000];

    for (int i = 0; i < 3000; i++) {
        p[i] = slab_alloc(&sl, 16 + (size_t)(i * 13) % (SLAB_MAX + 2000));
        cr_assert_not_null(p[i]);
        h[i] = slab_handle(&sl, p[i]);
        cr_assert_neq(h[i], 0);
        cr_assert_lt(h[i], 0x80000000u);
    }
    for (int i = 0; i < 3000; i++) {
        cr_assert_eq(slab_ptr(&sl, h[i]), p[i], "object %d", i);
        for (int j = i + 1; j < i + 3 && j < 3000; j++)
            cr_assert_neq(h[i], h[j]);
    }
    for (int i = 0; i < 3000; i++)
        slab_free(&sl, p[i]);
    p[0] = slab_alloc(&sl, SLAB_MAX + 100);
    cr_assert_eq(slab_ptr(&sl, slab_handle(&sl, p[0])), p[0]);
    cr_assert_lt(slab_handle(&sl, p[0]) >> SLAB_OFF_BITS, 3000, "a number given again");
    slab_free(&sl, p[0]);
}

/* Past max_blocks block numbers, allocation fails as for ENOMEM, and
 * works again once a block is given back. */
Test(slab, handles_run_out_cleanly)
{
    static void *p[4000];
    int n = 0;

    sl.max_blocks = 3;
    while (n < 4000 && (p[n] = slab_alloc(&sl, 1000)) != NULL)
        n++;
    cr_assert_lt(n, 4000, "the numbers ran out");
    cr_assert_gt(n, 2 * 60, "three blocks' worth: %d", n);
    cr_assert_leq(n, 3 * 65, "three blocks' worth: %d", n);
    cr_assert_null(slab_alloc(&sl, 5000), "no number for a big object either");
    cr_assert_null(slab_alloc(&sl, 1000));
    slab_free(&sl, p[--n]);
    cr_assert_not_null(p[n] = slab_alloc(&sl, 1000), "a freed slot");
    n++;
    /* Emptied blocks go back, but for the class's last one: numbers too. */
    while (n > 0)
        slab_free(&sl, p[--n]);
    p[0] = slab_alloc(&sl, 5000);
    cr_assert_not_null(p[0], "a number given back");
    slab_free(&sl, p[0]);
}
