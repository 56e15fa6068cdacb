/* auth_limit: the token buckets that throttle wrong digest guesses, on a
 * fake clock. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/registrar/auth_limit.h"

#define T0 1000000ULL

static struct auth_limit *new_limit(uint32_t burst, uint32_t refill_ms)
{
    struct auth_limit *l = malloc(sizeof(*l));

    cr_assert_not_null(l);
    auth_limit_init(l, burst, refill_ms);
    return l;
}

Test(auth_limit, burst_then_throttled)
{
    struct auth_limit *l = new_limit(5, 10000);
    const char *ip = "127.0.0.1";

    cr_assert_not(auth_limit_throttled(l, ip, strlen(ip), T0));
    for (int i = 0; i < 4; i++) {
        cr_assert_not(auth_limit_fail(l, ip, strlen(ip), T0));
        cr_assert_not(auth_limit_throttled(l, ip, strlen(ip), T0));
    }
    cr_assert(auth_limit_fail(l, ip, strlen(ip), T0), "the fifth empties the bucket");
    cr_assert(auth_limit_throttled(l, ip, strlen(ip), T0));
    /* Failing while empty takes nothing more and reports no new emptying. */
    cr_assert_not(auth_limit_fail(l, ip, strlen(ip), T0));
    /* Another key is untouched. */
    cr_assert_not(auth_limit_throttled(l, "10.0.0.1", 8, T0));
    free(l);
}

Test(auth_limit, refills_one_token_per_interval)
{
    struct auth_limit *l = new_limit(5, 10000);
    const char *ip = "::1";

    for (int i = 0; i < 5; i++)
        auth_limit_fail(l, ip, strlen(ip), T0);
    cr_assert(auth_limit_throttled(l, ip, strlen(ip), T0 + 9999));
    cr_assert_not(auth_limit_throttled(l, ip, strlen(ip), T0 + 10000));
    /* One token earned: one more guess, then throttled again. */
    cr_assert(auth_limit_fail(l, ip, strlen(ip), T0 + 10000));
    cr_assert(auth_limit_throttled(l, ip, strlen(ip), T0 + 10001));
    /* A long quiet time fills the bucket to the burst, no further. */
    for (int i = 0; i < 4; i++)
        cr_assert_not(auth_limit_fail(l, ip, strlen(ip), T0 + 3600000));
    cr_assert(auth_limit_fail(l, ip, strlen(ip), T0 + 3600000));
    free(l);
}

Test(auth_limit, clock_going_back_earns_nothing)
{
    struct auth_limit *l = new_limit(1, 10000);

    cr_assert(auth_limit_fail(l, "a", 1, T0));
    cr_assert(auth_limit_throttled(l, "a", 1, T0 - 50000));
    cr_assert(auth_limit_throttled(l, "a", 1, T0 + 5000));
    free(l);
}

Test(auth_limit, table_is_bounded_and_keeps_the_throttled)
{
    struct auth_limit *l = new_limit(2, 10000);
    char key[32];

    /* One attacker emptied its bucket... */
    cr_assert_not(auth_limit_fail(l, "192.0.2.66", 10, T0));
    cr_assert(auth_limit_fail(l, "192.0.2.66", 10, T0));
    /* ...then 100,000 other sources fail once each. The table stays the
     * same size (it is a fixed array) and prefers forgetting fuller
     * buckets, so the attacker stays throttled. */
    for (int i = 0; i < 100000; i++) {
        int n = snprintf(key, sizeof(key), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);

        auth_limit_fail(l, key, (size_t)n, T0);
    }
    cr_assert(auth_limit_throttled(l, "192.0.2.66", 10, T0));
    free(l);
}

Test(auth_limit, long_keys_are_cut_not_overflowed)
{
    struct auth_limit *l = new_limit(1, 10000);
    char key[200];

    memset(key, 'x', sizeof(key));
    cr_assert(auth_limit_fail(l, key, sizeof(key), T0));
    cr_assert(auth_limit_throttled(l, key, sizeof(key), T0));
    free(l);
}
