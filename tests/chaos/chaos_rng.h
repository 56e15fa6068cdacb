#ifndef TC_TESTS_CHAOS_CHAOS_RNG_H
#define TC_TESTS_CHAOS_CHAOS_RNG_H

#include <stdint.h>

/* The chaos test's seeded random numbers (splitmix64): one seed printed at
 * the start decides every fault and every phone's choices, so a failing
 * run can be replayed with --seed (timing still differs between runs). */

struct chaos_rng {
    uint64_t s;
};

static inline uint64_t chaos_rand(struct chaos_rng *r)
{
    uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* A number in [lo, hi]. */
static inline uint32_t chaos_between(struct chaos_rng *r, uint32_t lo, uint32_t hi)
{
    return lo + (uint32_t)(chaos_rand(r) % ((uint64_t)hi - lo + 1));
}

#endif
