/* auth_limit: bounded token buckets for wrong digest guesses. */
#include "server/registrar/auth_limit.h"

#include <string.h>

void auth_limit_init(struct auth_limit *l, uint32_t burst, uint32_t refill_ms)
{
    memset(l, 0, sizeof(*l));
    l->burst = burst > 0 ? burst : 1;
    l->refill_ms = refill_ms > 0 ? refill_ms : 1;
}

/* FNV-1a; the table is not a secret, and a set overflowing only forgets. */
static uint64_t key_hash(const char *key, size_t len)
{
    uint64_t h = 1469598103934665603ull;

    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ull;
    }
    return h | 1; /* 0 marks a free slot */
}

/* Bring b's credit up to now_ms: one millisecond of time earns one
 * millisecond of credit, so no rounding loses any. */
static void refill(const struct auth_limit *l, struct auth_bucket *b, uint64_t now_ms)
{
    uint64_t full = (uint64_t)l->burst * l->refill_ms;

    if (now_ms <= b->last_ms)
        return;
    b->credit_ms = b->credit_ms + (now_ms - b->last_ms) >= full
                           ? full
                           : b->credit_ms + (now_ms - b->last_ms);
    b->last_ms = now_ms;
}

/* The bucket of key, or NULL when it has none (create false). A created
 * bucket replaces the set's fullest one after refill: the key whose
 * forgetting costs least. */
static struct auth_bucket *lookup(struct auth_limit *l, const char *key, size_t len,
                                  uint64_t now_ms, bool create)
{
    uint64_t h;
    struct auth_bucket *set, *victim;

    if (len > AUTH_LIMIT_KEY_MAX)
        len = AUTH_LIMIT_KEY_MAX;
    h = key_hash(key, len);
    set = &l->slot[(h >> 32) % (AUTH_LIMIT_SLOTS / AUTH_LIMIT_WAYS) * AUTH_LIMIT_WAYS];
    victim = &set[0];
    for (unsigned i = 0; i < AUTH_LIMIT_WAYS; i++) {
        struct auth_bucket *b = &set[i];

        if (b->hash == h && strlen(b->key) == len && memcmp(b->key, key, len) == 0) {
            refill(l, b, now_ms);
            return b;
        }
        if (b->hash != 0)
            refill(l, b, now_ms);
        if (b->hash == 0 || (victim->hash != 0 && b->credit_ms > victim->credit_ms))
            victim = b;
    }
    if (!create)
        return NULL;
    victim->hash = h;
    victim->last_ms = now_ms;
    victim->credit_ms = (uint64_t)l->burst * l->refill_ms;
    memcpy(victim->key, key, len);
    victim->key[len] = '\0';
    return victim;
}

bool auth_limit_throttled(struct auth_limit *l, const char *key, size_t len, uint64_t now_ms)
{
    struct auth_bucket *b = lookup(l, key, len, now_ms, false);

    return b != NULL && b->credit_ms < l->refill_ms;
}

bool auth_limit_fail(struct auth_limit *l, const char *key, size_t len, uint64_t now_ms)
{
    struct auth_bucket *b = lookup(l, key, len, now_ms, true);

    if (b->credit_ms < l->refill_ms)
        return false;
    b->credit_ms -= l->refill_ms;
    return b->credit_ms < l->refill_ms;
}
