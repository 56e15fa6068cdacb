#include "tcport/coalesce.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#define KEY_MASK  ((UINT64_C(1) << 62) - 1)
#define TAG_SHIFT 62
#define MIN_SLOTS 64
/* An odd multiplier (2^64 / golden ratio): the cursor's stride. */
#define CURSOR_STRIDE UINT64_C(0x9e3779b97f4a7c15)

static size_t home(uint64_t key, size_t mask)
{
    /* splitmix64's finalizer: keys of one range differ in low bits only. */
    key ^= key >> 30;
    key *= UINT64_C(0xbf58476d1ce4e5b9);
    key ^= key >> 27;
    key *= UINT64_C(0x94d049bb133111eb);
    key ^= key >> 31;
    return (size_t)key & mask;
}

void coalesce_init(struct coalesce *s, size_t cap)
{
    s->slots = NULL;
    s->n_slots = 0;
    s->n = 0;
    s->cap = cap;
    s->cursor = 0;
    s->overflow = false;
}

void coalesce_free(struct coalesce *s)
{
    free(s->slots);
    s->slots = NULL;
    s->n_slots = 0;
    s->n = 0;
    s->cursor = 0;
}

void coalesce_clear(struct coalesce *s)
{
    coalesce_free(s);
    s->overflow = false;
}

size_t coalesce_bytes(const struct coalesce *s)
{
    return s->n_slots * sizeof(*s->slots);
}

/* Slot holding key, or the empty slot where it would go. */
static size_t find(const uint64_t *slots, size_t n_slots, uint64_t key)
{
    size_t mask = n_slots - 1;
    size_t i = home(key, mask);

    while (slots[i] != 0 && (slots[i] & KEY_MASK) != key)
        i = (i + 1) & mask;
    return i;
}

/* Move the entries into n slots (a power of two, more than 4/3 of them). */
static int resize(struct coalesce *s, size_t n)
{
    uint64_t *slots = calloc(n, sizeof(*slots));

    if (slots == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < s->n_slots; i++) {
        if (s->slots[i] != 0)
            slots[find(slots, n, s->slots[i] & KEY_MASK)] = s->slots[i];
    }
    free(s->slots);
    s->slots = slots;
    s->n_slots = n;
    s->cursor = 0;
    return 0;
}

static int grow(struct coalesce *s)
{
    return resize(s, s->n_slots ? s->n_slots * 2 : MIN_SLOTS);
}

int coalesce_add(struct coalesce *s, dn_key k, unsigned tag)
{
    size_t i;

    assert(k != DN_KEY_NONE && (k & ~KEY_MASK) == 0 && tag <= COALESCE_TAG_MAX);
    if (s->n_slots > 0) {
        i = find(s->slots, s->n_slots, k);
        if (s->slots[i] != 0)
            return 0;
    }
    if (s->n >= s->cap) {
        s->overflow = true;
        return -ENOSPC;
    }
    /* Keep the load under 3/4. */
    if ((s->n + 1) * 4 > s->n_slots * 3 && grow(s) != 0) {
        s->overflow = true;
        return -ENOMEM;
    }
    i = find(s->slots, s->n_slots, k);
    s->slots[i] = k | (uint64_t)tag << TAG_SHIFT;
    s->n++;
    return 1;
}

bool coalesce_has(const struct coalesce *s, dn_key k, unsigned *tag)
{
    size_t i;

    if (s->n == 0)
        return false;
    i = find(s->slots, s->n_slots, k);
    if (s->slots[i] == 0)
        return false;
    if (tag != NULL)
        *tag = (unsigned)(s->slots[i] >> TAG_SHIFT);
    return true;
}

/* Empty slot i and shift back the entries of its probe run, so every key
 * stays reachable from its home without tombstones. */
static void delete_at(struct coalesce *s, size_t i)
{
    size_t mask = s->n_slots - 1;
    size_t j = i;

    for (;;) {
        size_t h;

        j = (j + 1) & mask;
        if (s->slots[j] == 0)
            break;
        h = home(s->slots[j] & KEY_MASK, mask);
        /* The entry at j may move to i unless its home lies in (i, j]. */
        if (i <= j ? (h <= i || h > j) : (h <= i && h > j)) {
            s->slots[i] = s->slots[j];
            i = j;
        }
    }
    s->slots[i] = 0;
    s->n--;
}

bool coalesce_remove(struct coalesce *s, dn_key k)
{
    size_t i;

    if (s->n == 0)
        return false;
    i = find(s->slots, s->n_slots, k);
    if (s->slots[i] == 0)
        return false;
    delete_at(s, i);
    if (s->n == 0)
        coalesce_free(s);
    return true;
}

/* The slot the cursor's step-th position names: an odd stride visits every
 * slot of a power-of-two table once per n_slots steps, in scattered order. */
static size_t cursor_slot(size_t step, size_t mask)
{
    return (size_t)(step * CURSOR_STRIDE) & mask;
}

bool coalesce_pop(struct coalesce *s, dn_key *k, unsigned *tag)
{
    size_t mask, i;

    if (s->n == 0)
        return false;
    mask = s->n_slots - 1;
    /* The cursor visits the slots in a scattered order, so pops empty the
     * table evenly. Walking the slots in order, pops emptied one region
     * while adds went everywhere: the region ahead of the cursor filled up
     * and each add probed thousands of slots (a node spent 85 % of its CPU
     * in find() while 320,000 DNs drained to a slow subscriber). Every slot
     * is visited once per n_slots steps: an entry moved back by a deletion,
     * or added behind the cursor, is reached on a later round: nothing is
     * skipped. */
    while (s->slots[i = cursor_slot(s->cursor, mask)] == 0)
        s->cursor++;
    s->cursor++;
    *k = s->slots[i] & KEY_MASK;
    if (tag != NULL)
        *tag = (unsigned)(s->slots[i] >> TAG_SHIFT);
    delete_at(s, i);
    if (s->n == 0)
        coalesce_free(s);
    else if (s->n_slots > MIN_SLOTS && s->n * 8 < s->n_slots)
        (void)resize(s, s->n_slots / 4); /* the cursor would walk far; kept as is on failure */
    return true;
}
