#ifndef TC_SERVER_REGISTRAR_AUTH_LIMIT_H
#define TC_SERVER_REGISTRAR_AUTH_LIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* auth_limit: token buckets that limit wrong digest guesses per key (a
 * source address or a DN). Each wrong answer takes one token; a key with
 * no token left is throttled until the bucket refills. Memory is fixed:
 * AUTH_LIMIT_SLOTS buckets in sets of AUTH_LIMIT_WAYS, keyed by a hash of
 * the key and checked against a copy of it; a new key takes the set's
 * fullest (least recently failed) bucket, so a flood of new keys can only
 * forget old ones, never grow the table. A forgotten key starts full.
 *
 * Time is the caller's now_ms on any monotonic clock, so tests need no
 * sleep. Loop thread only; no locks, no logging. */

#define AUTH_LIMIT_SLOTS   1024 /* buckets per table */
#define AUTH_LIMIT_WAYS    4    /* buckets per hash set */
#define AUTH_LIMIT_KEY_MAX 64   /* longest key kept; longer keys are cut */

struct auth_bucket {
    uint64_t hash;
    uint64_t last_ms;   /* when credit_ms was last brought up to date */
    uint64_t credit_ms; /* tokens times refill_ms */
    char key[AUTH_LIMIT_KEY_MAX + 1];
};

struct auth_limit {
    uint32_t burst;     /* tokens of a full bucket */
    uint32_t refill_ms; /* time to earn one token back */
    struct auth_bucket slot[AUTH_LIMIT_SLOTS];
};

/* Set up l with burst tokens (at least 1) refilling one per refill_ms (at
 * least 1). Every key starts full. */
void auth_limit_init(struct auth_limit *l, uint32_t burst, uint32_t refill_ms);

/* Whether key (len bytes, borrowed) has no token left at now_ms. */
bool auth_limit_throttled(struct auth_limit *l, const char *key, size_t len, uint64_t now_ms);

/* Take one token from key's bucket for a wrong guess at now_ms. Returns
 * true when this emptied the bucket (the key is now throttled). */
bool auth_limit_fail(struct auth_limit *l, const char *key, size_t len, uint64_t now_ms);

#endif
