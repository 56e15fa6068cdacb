#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>

#include "server/base/u64map.h"
#include "tests/tc_test.h"

struct item {
    uint64_t key;
    uint64_t value;
    uint32_t seen;
};

static struct u64map m;

static void setup(void)
{
    u64map_init(&m, sizeof(struct item));
}

static void teardown(void)
{
    u64map_free(&m);
    tc_test_leak_check();
}

TestSuite(u64map, .init = setup, .fini = teardown);

/* Keys shaped like dn_keys: a width in the top bits over a sequential
 * number. */
static uint64_t key_of(uint64_t i)
{
    return ((uint64_t)7 << 57) | (1000000 + i);
}

static void put(uint64_t k, uint64_t value)
{
    struct item *it = u64map_insert(&m, k);

    cr_assert_not_null(it);
    cr_assert_eq(it->key, k);
    it->value = value;
}

static void expect(uint64_t k, uint64_t value)
{
    struct item *it = u64map_find(&m, k);

    cr_assert_not_null(it, "key %llu missing", (unsigned long long)k);
    cr_assert_eq(it->key, k);
    cr_assert_eq(it->value, value);
}

Test(u64map, empty)
{
    size_t cursor = 0;

    cr_assert_null(u64map_find(&m, 42));
    cr_assert_not(u64map_remove(&m, 42));
    cr_assert_null(u64map_next(&m, &cursor));
    cr_assert_eq(u64map_count(&m), 0);
    cr_assert_not(u64map_step(&m, 100));
}

Test(u64map, insert_returns_existing_zeroed_new)
{
    struct item *a = u64map_insert(&m, 5);

    cr_assert_not_null(a);
    cr_assert_eq(a->key, 5);
    cr_assert_eq(a->value, 0);
    a->value = 77;
    cr_assert_eq(u64map_insert(&m, 5), a, "an existing key moves nothing");
    cr_assert_eq(u64map_count(&m), 1);
    expect(5, 77);
    cr_assert(u64map_remove(&m, 5));
    a = u64map_insert(&m, 5);
    cr_assert_eq(a->value, 0, "a reinserted key starts zeroed");
}

/* Every key stays findable with its value after each insert, including
 * while two arrays are held. */
Test(u64map, lookups_during_migration)
{
    unsigned checked_migrating = 0;
    uint64_t n = 20000;

    for (uint64_t i = 0; i < n; i++) {
        put(key_of(i), i * 3);
        if (u64map_migrating(&m) || i % 1000 == 0) {
            /* Checking all keys every time would be quadratic; a stride
             * still touches both arrays. */
            for (uint64_t j = i % 7; j <= i; j += 7)
                expect(key_of(j), j * 3);
            checked_migrating += u64map_migrating(&m);
        }
        cr_assert_eq(u64map_count(&m), i + 1);
    }
    cr_assert_gt(checked_migrating, 10, "migrations were observed");
    for (uint64_t i = 0; i < n; i++)
        expect(key_of(i), i * 3);
    cr_assert_null(u64map_find(&m, key_of(n)));
    /* Load stays at or under 1/2 once migration is done. */
    while (u64map_step(&m, 64)) {
    }
    cr_assert_leq(u64map_count(&m) * 2, u64map_slots(&m));
}

Test(u64map, reserve_sizes_once)
{
    uint64_t n = 50000;
    size_t slots;

    /* Some keys first, with a migration under way, then room for all. */
    for (uint64_t i = 0; i < 515; i++)
        put(key_of(i), i);
    cr_assert(u64map_migrating(&m));
    cr_assert(u64map_reserve(&m, n));
    cr_assert_not(u64map_migrating(&m));
    slots = u64map_slots(&m);
    cr_assert_geq(slots, 2 * n);
    for (uint64_t i = 0; i < 515; i++)
        expect(key_of(i), i);
    for (uint64_t i = 515; i < n; i++) {
        put(key_of(i), i);
        cr_assert_not(u64map_migrating(&m), "insert %llu resized", (unsigned long long)i);
    }
    cr_assert_eq(u64map_slots(&m), slots);
    for (uint64_t i = 0; i < n; i++)
        expect(key_of(i), i);
    /* A smaller reserve changes nothing. */
    cr_assert(u64map_reserve(&m, 10));
    cr_assert_eq(u64map_slots(&m), slots);
    cr_assert_eq(u64map_count(&m), n);
}

Test(u64map, step_finishes_migration)
{
    uint64_t i = 0;

    while (!u64map_migrating(&m)) {
        put(key_of(i), i + 1);
        i++;
    }
    cr_assert(u64map_step(&m, 1), "one slot does not finish it");
    while (u64map_step(&m, 3)) {
    }
    cr_assert_not(u64map_migrating(&m));
    for (uint64_t j = 0; j < i; j++)
        expect(key_of(j), j + 1);
}

static void iterate_expect_each_once(uint64_t n)
{
    struct item *it;
    size_t cursor = 0;
    size_t total = 0;

    while ((it = u64map_next(&m, &cursor)) != NULL) {
        cr_assert_eq(it->seen, 0, "key %llu seen twice", (unsigned long long)it->key);
        it->seen = 1;
        total++;
    }
    cr_assert_eq(total, n);
    for (uint64_t j = 0; j < n; j++) {
        it = u64map_find(&m, key_of(j));
        cr_assert_not_null(it);
        cr_assert_eq(it->seen, 1);
        it->seen = 0;
    }
}

/* Every element is reached by the iterator once and by find. */
static void iterate_expect_none_seen(void)
{
    struct item *it;
    size_t cursor = 0;
    size_t total = 0;

    while ((it = u64map_next(&m, &cursor)) != NULL) {
        cr_assert_eq(it->seen, 0);
        cr_assert_eq(u64map_find(&m, it->key), it);
        it->seen = 1;
        total++;
    }
    cr_assert_eq(total, u64map_count(&m));
}

Test(u64map, iterator_sees_each_once)
{
    uint64_t i = 0;
    bool mid = false;

    /* Once in the middle of a migration, once after it. */
    while (i < 10000) {
        put(key_of(i++), 0);
        if (!mid && u64map_migrating(&m) && i > 3000) {
            iterate_expect_each_once(i);
            mid = true;
        }
    }
    cr_assert(mid);
    while (u64map_step(&m, 256)) {
    }
    iterate_expect_each_once(i);
}

Test(u64map, remove_during_and_after_migration)
{
    uint64_t n = 0;

    while (!u64map_migrating(&m) || n < 5000) {
        put(key_of(n), n + 1);
        n++;
    }
    cr_assert(u64map_migrating(&m));
    /* Remove every third key while both arrays are held. */
    for (uint64_t i = 0; i < n; i += 3)
        cr_assert(u64map_remove(&m, key_of(i)));
    for (uint64_t i = 0; i < n; i++) {
        if (i % 3 == 0) {
            cr_assert_null(u64map_find(&m, key_of(i)));
            cr_assert_not(u64map_remove(&m, key_of(i)));
        } else {
            expect(key_of(i), i + 1);
        }
    }
    while (u64map_step(&m, 100)) {
    }
    for (uint64_t i = 1; i < n; i += 3)
        cr_assert(u64map_remove(&m, key_of(i)));
    for (uint64_t i = 2; i < n; i += 3)
        expect(key_of(i), i + 1);
    cr_assert_eq(u64map_count(&m), n / 3);
}

/* A random-looking non-zero key for i. Sequential keys spread so evenly
 * under Fibonacci hashing that clusters stay short; these do not. */
static uint64_t scrambled_key(uint64_t i)
{
    uint64_t z = i + UINT64_C(0x9E3779B97F4A7C15);

    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return (z ^ (z >> 31)) | 1;
}

static void check_model(const uint64_t *model, uint64_t space)
{
    for (uint64_t j = 0; j < space; j++) {
        struct item *it = u64map_find(&m, scrambled_key(j));

        cr_assert_eq(it != NULL, model[j] != 0, "key %llu", (unsigned long long)j);
        if (it != NULL)
            cr_assert_eq(it->value, model[j]);
    }
}

/* Random inserts and removes over a small key space, against a plain
 * array: long clusters, wrap-around at the array's end, backward shifts in
 * either array, removes while migrating. */
Test(u64map, random_against_model)
{
    enum {
        SPACE = 30000,
        OPS = 400000
    };
    uint64_t *model = calloc(SPACE, sizeof(*model)); /* value + 1, 0: absent */
    size_t live = 0;
    uint64_t x = 88172645463325252ull;

    cr_assert_not_null(model);
    for (unsigned op = 0; op < OPS; op++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t i = x % SPACE;
        uint64_t k = scrambled_key(i);

        if ((x >> 32) % 3 != 0) {
            bool had = model[i] != 0;
            struct item *it = u64map_insert(&m, k);

            cr_assert_not_null(it);
            cr_assert_eq(had, it->value != 0);
            it->value = op + 1;
            model[i] = op + 1;
            live += !had;
        } else {
            cr_assert_eq(u64map_remove(&m, k), model[i] != 0);
            live -= model[i] != 0;
            model[i] = 0;
        }
        cr_assert_eq(u64map_count(&m), live);
        /* Every key after each step of a migration, when one array's
         * cluster may be cut; now and then otherwise. */
        if (u64map_migrating(&m) || op % 50000 == 0)
            check_model(model, SPACE);
    }
    check_model(model, SPACE);
    free(model);
}

/* Keys whose hash is UINT64_MAX - j: all share the last slot as home in an
 * array of any size, so they form one cluster that wraps to the start. */
static uint64_t colliding_key(uint64_t j)
{
    const uint64_t c = UINT64_C(0x9E3779B97F4A7C15);
    uint64_t inv = c;

    /* Newton's iteration for the inverse of c modulo 2^64. */
    for (int r = 0; r < 6; r++)
        inv *= 2 - c * inv;
    cr_assert_eq(c * inv, 1);
    return (UINT64_MAX - j) * inv;
}

Test(u64map, wrapping_cluster_through_resize)
{
    uint64_t n = 700; /* past the first resize at 512 */

    for (uint64_t j = 0; j < n; j++) {
        put(colliding_key(j), j + 1);
        for (uint64_t i = 0; i <= j; i += 13)
            expect(colliding_key(i), i + 1);
    }
    cr_assert(u64map_migrating(&m) || u64map_slots(&m) > U64MAP_MIN_SLOTS);
    /* Remove from the middle and the head of the cluster; the shifted rest
     * must stay reachable. */
    for (uint64_t j = 0; j < n; j += 4)
        cr_assert(u64map_remove(&m, colliding_key(j)));
    for (uint64_t j = 0; j < n; j++) {
        if (j % 4 == 0)
            cr_assert_null(u64map_find(&m, colliding_key(j)));
        else
            expect(colliding_key(j), j + 1);
    }
    while (u64map_step(&m, 10)) {
    }
    for (uint64_t j = 1; j < n; j += 4)
        cr_assert(u64map_remove(&m, colliding_key(j)));
    for (uint64_t j = 0; j < n; j++) {
        if (j % 4 < 2)
            cr_assert_null(u64map_find(&m, colliding_key(j)));
        else
            expect(colliding_key(j), j + 1);
    }
    iterate_expect_none_seen();
}

Test(u64map, million_keys)
{
    uint64_t n = 1000000;
    struct item *it;
    size_t cursor = 0, seen = 0;

    for (uint64_t i = 0; i < n; i++)
        put(key_of(i), i);
    cr_assert_eq(u64map_count(&m), n);
    for (uint64_t i = 0; i < n; i++)
        expect(key_of(i), i);
    while ((it = u64map_next(&m, &cursor)) != NULL)
        seen++;
    cr_assert_eq(seen, n);
    for (uint64_t i = 0; i < n; i += 2)
        cr_assert(u64map_remove(&m, key_of(i)));
    for (uint64_t i = 0; i < n; i++) {
        if (i % 2 == 0)
            cr_assert_null(u64map_find(&m, key_of(i)));
        else
            expect(key_of(i), i);
    }
    cr_assert_eq(u64map_count(&m), n / 2);
}

struct moved_log {
    size_t n;
    uint64_t key;
    size_t pos;
};

static void on_moved(void *arg, void *elem, size_t pos)
{
    struct moved_log *l = arg;

    l->n++;
    l->key = ((struct item *)elem)->key;
    l->pos = pos;
}

/* Positions: an element's own until a removal moves the last one into a
 * hole, which the move hook is told of. */
Test(u64map, positions_and_the_move_hook)
{
    struct moved_log log = {0};
    size_t pos;

    u64map_set_move_hook(&m, on_moved, &log);
    for (uint64_t i = 0; i < 5000; i++) {
        struct item *it = u64map_insert_pos(&m, key_of(i), &pos);

        cr_assert_eq(pos, i);
        cr_assert_eq(u64map_at(&m, pos), it);
    }
    cr_assert_not_null(u64map_insert_pos(&m, key_of(17), &pos));
    cr_assert_eq(pos, 17, "an existing key's position");
    cr_assert_not_null(u64map_find_pos(&m, key_of(4321), &pos));
    cr_assert_eq(pos, 4321);
    cr_assert(u64map_remove(&m, key_of(4999)));
    cr_assert_eq(log.n, 0, "the last one: nothing moves");
    cr_assert(u64map_remove(&m, key_of(10)));
    cr_assert_eq(log.n, 1);
    cr_assert_eq(log.key, key_of(4998));
    cr_assert_eq(log.pos, 10);
    cr_assert_eq(((struct item *)u64map_at(&m, 10))->key, key_of(4998));
    cr_assert_not_null(u64map_find_pos(&m, key_of(4998), &pos));
    cr_assert_eq(pos, 10);
}
