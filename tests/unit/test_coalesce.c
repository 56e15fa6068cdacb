/* The per-subscriber pending set (tcport/coalesce.h). */
#include "tcport/coalesce.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/tc_test.h"

TestSuite(coalesce, .fini = tc_test_leak_check);

static dn_key key(uint64_t n)
{
    return dn_key_make(7, n);
}

Test(coalesce, add_has_pop)
{
    struct coalesce s;
    unsigned tag = 9;
    dn_key k;

    coalesce_init(&s, 10);
    cr_assert_not(coalesce_pop(&s, &k, &tag));
    cr_assert_eq(coalesce_add(&s, key(1), 1), 1);
    cr_assert_eq(coalesce_add(&s, key(1), 0), 0, "a key already there");
    cr_assert(coalesce_has(&s, key(1), &tag));
    cr_assert_eq(tag, 1, "the first tag stays");
    cr_assert_not(coalesce_has(&s, key(2), NULL));
    cr_assert(coalesce_pop(&s, &k, &tag));
    cr_assert_eq(k, key(1));
    cr_assert_eq(tag, 1);
    cr_assert_eq(s.n, 0);
    cr_assert_eq(coalesce_bytes(&s), 0, "an empty set holds no memory");
    coalesce_free(&s);
}

Test(coalesce, keys_of_every_width_and_tags)
{
    struct coalesce s;
    unsigned tag;

    coalesce_init(&s, 100);
    for (unsigned w = 1; w <= DN_DIR_MAX_DIGITS; w++) {
        cr_assert_eq(coalesce_add(&s, dn_key_make(w, 0), w % 4), 1);
        cr_assert_eq(coalesce_add(&s, dn_key_make(w, 9), 3), 1);
    }
    for (unsigned w = 1; w <= DN_DIR_MAX_DIGITS; w++) {
        cr_assert(coalesce_has(&s, dn_key_make(w, 0), &tag));
        cr_assert_eq(tag, w % 4);
        cr_assert(coalesce_has(&s, dn_key_make(w, 9), &tag));
        cr_assert_eq(tag, 3);
    }
    coalesce_free(&s);
}

Test(coalesce, cap_refuses_and_says_overflow)
{
    struct coalesce s;

    coalesce_init(&s, 3);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(coalesce_add(&s, key(i + 1), 0), 1);
    cr_assert_not(s.overflow);
    cr_assert_eq(coalesce_add(&s, key(2), 0), 0, "a key already there is no overflow");
    cr_assert_eq(coalesce_add(&s, key(4), 0), -ENOSPC);
    cr_assert(s.overflow);
    coalesce_clear(&s);
    cr_assert_not(s.overflow);
    cr_assert_eq(s.n, 0);
    cr_assert_eq(coalesce_add(&s, key(4), 0), 1);
    coalesce_free(&s);
}

Test(coalesce, zero_cap_holds_nothing)
{
    struct coalesce s;

    coalesce_init(&s, 0);
    cr_assert_eq(coalesce_add(&s, key(1), 0), -ENOSPC);
    cr_assert(s.overflow);
    coalesce_free(&s);
}

/* The same change many times costs one entry: coalescing. */
Test(coalesce, repeated_changes_coalesce)
{
    struct coalesce s;
    dn_key k;
    unsigned n = 0;

    coalesce_init(&s, 1000);
    for (int round = 0; round < 100; round++) {
        for (int i = 0; i < 1000; i++)
            cr_assert_geq(coalesce_add(&s, key(i), round == 0 ? 1 : 0), 0);
    }
    cr_assert_eq(s.n, 1000);
    cr_assert_not(s.overflow);
    while (coalesce_pop(&s, &k, NULL))
        n++;
    cr_assert_eq(n, 1000);
    coalesce_free(&s);
}

/* Against a plain array as the model: random adds, removes and pops, with
 * keys dense enough to build long probe runs; every key added comes out
 * exactly once. */
Test(coalesce, random_operations_match_a_model)
{
    enum {
        N = 5000
    };
    static unsigned char in[N]; /* 0: absent; else tag + 1 */
    struct coalesce s;
    size_t model_n = 0;

    srand(12345);
    coalesce_init(&s, N);
    for (int step = 0; step < 400000; step++) {
        int op = rand() % 10;
        uint64_t i = (uint64_t)(rand() % N);
        unsigned tag = (unsigned)(rand() % 4), got;
        dn_key k;

        if (op < 5) {
            int rc = coalesce_add(&s, key(i), tag);

            cr_assert_eq(rc, in[i] ? 0 : 1);
            if (!in[i]) {
                in[i] = (unsigned char)(tag + 1);
                model_n++;
            }
        } else if (op < 7) {
            cr_assert_eq(coalesce_remove(&s, key(i)), in[i] != 0);
            if (in[i]) {
                in[i] = 0;
                model_n--;
            }
        } else if (op < 9) {
            bool some = coalesce_pop(&s, &k, &got);

            cr_assert_eq(some, model_n > 0);
            if (some) {
                uint64_t j = dn_key_number(k);

                cr_assert_lt(j, N);
                cr_assert_neq(in[j], 0, "popped a key that is not there");
                cr_assert_eq(got, in[j] - 1u);
                in[j] = 0;
                model_n--;
            }
        } else {
            cr_assert_eq(coalesce_has(&s, key(i), &got), in[i] != 0);
            if (in[i])
                cr_assert_eq(got, in[i] - 1u);
        }
        cr_assert_eq(s.n, model_n);
    }
    coalesce_free(&s);
}

/* Adds between pops are never lost behind the cursor. */
Test(coalesce, interleaved_adds_and_pops_drain_everything)
{
    static unsigned char seen[20000];
    struct coalesce s;
    unsigned popped = 0, next = 0;
    dn_key k;

    coalesce_init(&s, 20000);
    while (next < 20000 || s.n > 0) {
        for (int i = 0; i < 3 && next < 20000; i++)
            cr_assert_eq(coalesce_add(&s, key(next++), 0), 1);
        if (coalesce_pop(&s, &k, NULL)) {
            cr_assert_eq(seen[dn_key_number(k)], 0);
            seen[dn_key_number(k)] = 1;
            popped++;
        }
    }
    cr_assert_eq(popped, 20000);
    coalesce_free(&s);
}

/* A million-DN subscriber capped at the default backlog: memory bounded. */
Test(coalesce, memory_stays_within_the_cap)
{
    struct coalesce s;

    coalesce_init(&s, 100000);
    for (uint64_t i = 0; i < 1000000; i++)
        coalesce_add(&s, key(i), 0);
    cr_assert(s.overflow);
    cr_assert_eq(s.n, 100000);
    cr_assert_leq(coalesce_bytes(&s), 262144 * sizeof(uint64_t));
    coalesce_free(&s);
}

/* A slow subscriber during a link sweep: changes come in chunks of 4,096
 * and it drains 3,000 between them, 320,000 DNs in all. Pops walking the
 * slots in order emptied one region while adds went everywhere; the rest
 * filled up and adds probed thousands of slots: 2.4 s of CPU here in a
 * Release build, 17 ms with the scattered cursor. The bound is loose for
 * sanitized builds. */
Test(coalesce, sweep_into_a_draining_set_stays_linear, .timeout = 60)
{
    struct coalesce s;
    uint64_t next = 0, popped = 0;
    clock_t t0 = clock();
    double secs;
    dn_key k;

    coalesce_init(&s, 1u << 21);
    while (next < 320000 || s.n > 0) {
        for (int i = 0; i < 4096 && next < 320000; i++)
            cr_assert_eq(coalesce_add(&s, key(next++), 0), 1);
        for (int i = 0; i < 3000 && coalesce_pop(&s, &k, NULL); i++)
            popped++;
    }
    secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    cr_assert_eq(popped, 320000);
    cr_assert_lt(secs, 1.5, "%.2f s of CPU for 320,000 adds and pops", secs);
    coalesce_free(&s);
}

/* Draining shrinks the table, so the last pops do not walk a big empty one. */
Test(coalesce, draining_shrinks_the_slots)
{
    struct coalesce s;
    dn_key k;

    coalesce_init(&s, 100000);
    for (uint64_t i = 0; i < 100000; i++)
        coalesce_add(&s, key(i), 0);
    for (int i = 0; i < 99000; i++)
        cr_assert(coalesce_pop(&s, &k, NULL));
    cr_assert_eq(s.n, 1000);
    cr_assert_leq(coalesce_bytes(&s), 8192 * sizeof(uint64_t));
    coalesce_free(&s);
}
