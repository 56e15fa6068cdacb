#include "server/u64map.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Migrated pages of the old array go back to the kernel in batches of at
 * least this many bytes, so freeing it at the end costs little: unmapping
 * 32 MB of touched pages at once took 4 ms. */
#define U64MAP_RELEASE_BYTES (64 * 1024)

/* Arrays from this size on are mapped directly. calloc() maps them too,
 * but only while glibc's moving mmap threshold allows: once a large block
 * was freed, it serves up to 32 MB from the heap, where clearing and
 * trimming paused single inserts for up to 17 ms at 1M keys. */
#define U64MAP_MMAP_BYTES (1024 * 1024)

_Static_assert(U64MAP_STEP_SLOTS >= 2, "a migration must end before the next resize");

/* A zeroed array of bytes, or NULL. Pages are touched only when used. */
static unsigned char *array_alloc(size_t bytes)
{
    void *p;

    if (bytes < U64MAP_MMAP_BYTES)
        return calloc(1, bytes);
    p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void array_free(unsigned char *p, size_t bytes)
{
    if (p == NULL)
        return;
    if (bytes < U64MAP_MMAP_BYTES)
        free(p);
    else
        munmap(p, bytes);
}

/* Fibonacci hashing: the top bits of key * 2^64/phi. Sequential keys land
 * far apart, and a key at home i of an array lands at 2i or 2i+1 of the
 * array twice the size, so migration writes the new array almost in order. */
static size_t home(uint64_t key, unsigned bits)
{
    return (size_t)((key * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - bits));
}

static unsigned char *elem_at(const unsigned char *arr, size_t i, size_t elem_size)
{
    return (unsigned char *)arr + i * elem_size;
}

static uint64_t key_at(const unsigned char *arr, size_t i, size_t elem_size)
{
    uint64_t k;

    memcpy(&k, arr + i * elem_size, sizeof(k));
    return k;
}

static void set_key(unsigned char *arr, size_t i, size_t elem_size, uint64_t k)
{
    memcpy(arr + i * elem_size, &k, sizeof(k));
}

/* Index of key in arr, or of the empty slot where it would go. */
static size_t probe(const unsigned char *arr, size_t cap, unsigned bits, size_t elem_size,
                    uint64_t key)
{
    size_t mask = cap - 1;
    size_t i = home(key, bits);
    uint64_t k;

    while ((k = key_at(arr, i, elem_size)) != 0 && k != key)
        i = (i + 1) & mask;
    return i;
}

void u64map_init(struct u64map *m, size_t elem_size)
{
    assert(elem_size >= sizeof(uint64_t) && elem_size % sizeof(uint64_t) == 0);
    memset(m, 0, sizeof(*m));
    m->elem_size = elem_size;
}

void u64map_free(struct u64map *m)
{
    size_t elem_size = m->elem_size;

    /* Also fine on an all-zero struct, which owners may free after a
     * memset. */
    array_free(m->old, m->old_cap * m->elem_size);
    array_free(m->slots, m->cap * m->elem_size);
    memset(m, 0, sizeof(*m));
    m->elem_size = elem_size;
}

void *u64map_find(const struct u64map *m, uint64_t key)
{
    size_t i;

    assert(key != 0);
    if (m->count == 0)
        return NULL;
    if (m->old != NULL) {
        i = probe(m->old, m->old_cap, m->bits - 1, m->elem_size, key);
        if (key_at(m->old, i, m->elem_size) == key)
            return elem_at(m->old, i, m->elem_size);
    }
    i = probe(m->slots, m->cap, m->bits, m->elem_size, key);
    return key_at(m->slots, i, m->elem_size) == key ? elem_at(m->slots, i, m->elem_size) : NULL;
}

/* Allocate the next array and make the current one the old one. Returns
 * false on ENOMEM, the map unchanged. */
static bool start_resize(struct u64map *m)
{
    size_t cap = m->cap == 0 ? U64MAP_MIN_SLOTS : m->cap * 2;
    unsigned char *slots;
    size_t first = 0;

    /* Unreachable: a migration of n old slots starts at n/2 elements, the
     * next resize comes at n elements, and each of the n/2 inserts between
     * migrates at least U64MAP_STEP_SLOTS >= 2 slots. Kept so a change to
     * those bounds costs a pause, not a corrupt map. */
    if (m->old != NULL)
        u64map_step(m, SIZE_MAX);
    if (cap > SIZE_MAX / m->elem_size)
        return false;
    slots = array_alloc(cap * m->elem_size);
    if (slots == NULL)
        return false;
    if (m->slots != NULL) {
        /* Migration starts at an empty slot, so no cluster straddles the
         * migrated region's edge (the load is 1/2: one is near). */
        while (key_at(m->slots, first, m->elem_size) != 0)
            first++;
        m->old = m->slots;
        m->old_cap = m->cap;
        m->old_next = first;
        m->old_left = m->cap;
        m->old_first = first;
        m->old_released = first * m->elem_size;
    }
    m->slots = slots;
    m->cap = cap;
    m->bits = (unsigned)__builtin_ctzll(cap);
    return true;
}

/* Move the element at old slot i into the new array and empty slot i. */
static void migrate_one(struct u64map *m, size_t i)
{
    uint64_t k = key_at(m->old, i, m->elem_size);
    size_t j = probe(m->slots, m->cap, m->bits, m->elem_size, k);

    memcpy(elem_at(m->slots, j, m->elem_size), elem_at(m->old, i, m->elem_size), m->elem_size);
    set_key(m->old, i, m->elem_size, 0);
}

/* Give the pages of the old array that are wholly migrated back to the
 * kernel. They read as zeros afterwards, which is what an empty slot is,
 * and the range stays ours until array_free(). Only the run from old_first
 * to the array's end is released; the wrapped part is a few slots. */
static void release_migrated(struct u64map *m)
{
#ifdef MADV_DONTNEED
    size_t visited = m->old_cap - m->old_left;
    size_t upto = m->old_first + visited;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t base = (uintptr_t)m->old;
    uintptr_t lo, hi;

    /* Only arrays mapped by array_alloc(); small heap blocks gain little. */
    if (m->old_cap * m->elem_size < U64MAP_MMAP_BYTES)
        return;
    if (upto > m->old_cap)
        upto = m->old_cap;
    lo = (base + m->old_released + page - 1) & ~(uintptr_t)(page - 1);
    hi = (base + upto * m->elem_size) & ~(uintptr_t)(page - 1);
    if (hi <= lo || hi - lo < U64MAP_RELEASE_BYTES)
        return;
    /* Failure only leaves the pages resident until array_free(). */
    (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
    m->old_released = hi - base;
#else
    (void)m;
#endif
}

bool u64map_step(struct u64map *m, size_t n)
{
    size_t mask = m->old_cap - 1;
    size_t done = 0;

    if (m->old == NULL)
        return false;
    /* The slot before old_next is always empty (migrated, or the start), so
     * an element at old_next begins a cluster. Whole clusters move at once:
     * emptying part of one would cut the probe path of the rest. */
    while (m->old_left > 0 && done < n) {
        while (m->old_left > 0 && key_at(m->old, m->old_next, m->elem_size) != 0) {
            migrate_one(m, m->old_next);
            m->old_next = (m->old_next + 1) & mask;
            m->old_left--;
            done++;
        }
        if (m->old_left > 0) {
            m->old_next = (m->old_next + 1) & mask;
            m->old_left--;
            done++;
        }
    }
    if (m->old_left > 0) {
        release_migrated(m);
        return true;
    }
    array_free(m->old, m->old_cap * m->elem_size);
    m->old = NULL;
    m->old_cap = 0;
    m->old_next = 0;
    return false;
}

void *u64map_insert(struct u64map *m, uint64_t key)
{
    bool moved = false;
    unsigned char *e;
    size_t i = 0;

    assert(key != 0);
    if (m->old != NULL) {
        i = probe(m->old, m->old_cap, m->bits - 1, m->elem_size, key);
        if (key_at(m->old, i, m->elem_size) == key)
            return elem_at(m->old, i, m->elem_size);
    }
    if (m->slots != NULL) {
        i = probe(m->slots, m->cap, m->bits, m->elem_size, key);
        if (key_at(m->slots, i, m->elem_size) == key)
            return elem_at(m->slots, i, m->elem_size);
    }
    /* Keep the load of the new array at or under 1/2 so probes stay short.
     * A resize or a step moves elements into the new array: probe again. */
    if ((m->count + 1) * 2 > m->cap) {
        if (!start_resize(m))
            return NULL;
        moved = true;
    }
    if (m->old != NULL) {
        u64map_step(m, U64MAP_STEP_SLOTS);
        moved = true;
    }
    if (moved)
        i = probe(m->slots, m->cap, m->bits, m->elem_size, key);
    e = elem_at(m->slots, i, m->elem_size);
    memset(e, 0, m->elem_size);
    set_key(m->slots, i, m->elem_size, key);
    m->count++;
    return e;
}

/* Empty slot i of arr by backward shift: later elements of the cluster that
 * may live closer to their home move back, so no tombstone is needed. */
static void delete_at(unsigned char *arr, size_t cap, unsigned bits, size_t elem_size, size_t i)
{
    size_t mask = cap - 1;
    size_t j = i;
    uint64_t k;

    for (;;) {
        j = (j + 1) & mask;
        k = key_at(arr, j, elem_size);
        if (k == 0)
            break;
        /* The element at j may fill the hole at i unless its home lies
         * cyclically in (i, j]. */
        if (((j - home(k, bits)) & mask) >= ((j - i) & mask)) {
            memcpy(elem_at(arr, i, elem_size), elem_at(arr, j, elem_size), elem_size);
            i = j;
        }
    }
    set_key(arr, i, elem_size, 0);
}

bool u64map_remove(struct u64map *m, uint64_t key)
{
    size_t i;

    assert(key != 0);
    if (m->count == 0)
        return false;
    /* Removing from the old array keeps it a valid table: the shift stays
     * inside one unmigrated cluster and never fills an empty slot. */
    if (m->old != NULL) {
        i = probe(m->old, m->old_cap, m->bits - 1, m->elem_size, key);
        if (key_at(m->old, i, m->elem_size) == key) {
            delete_at(m->old, m->old_cap, m->bits - 1, m->elem_size, i);
            m->count--;
            return true;
        }
    }
    i = probe(m->slots, m->cap, m->bits, m->elem_size, key);
    if (key_at(m->slots, i, m->elem_size) != key)
        return false;
    delete_at(m->slots, m->cap, m->bits, m->elem_size, i);
    m->count--;
    return true;
}

size_t u64map_count(const struct u64map *m)
{
    return m->count;
}

bool u64map_migrating(const struct u64map *m)
{
    return m->old != NULL;
}

void *u64map_next(const struct u64map *m, size_t *cursor)
{
    /* Cursor positions [0, old_cap) are the old array, then the new one. */
    while (*cursor < m->old_cap + m->cap) {
        size_t c = (*cursor)++;

        if (c < m->old_cap) {
            if (key_at(m->old, c, m->elem_size) != 0)
                return elem_at(m->old, c, m->elem_size);
        } else if (key_at(m->slots, c - m->old_cap, m->elem_size) != 0) {
            return elem_at(m->slots, c - m->old_cap, m->elem_size);
        }
    }
    return NULL;
}

size_t u64map_bytes(const struct u64map *m)
{
    return (m->cap + m->old_cap) * m->elem_size;
}
