#include "server/base/u64map.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Migrated pages of the old index go back to the kernel in batches of at
 * least this many bytes, so freeing it at the end costs little: unmapping
 * 32 MB of touched pages at once took 4 ms. */
#define U64MAP_RELEASE_BYTES (64 * 1024)

/* Indexes from this size on are mapped directly. calloc() maps them too,
 * but only while glibc's moving mmap threshold allows: once a large block
 * was freed, it serves up to 32 MB from the heap, where clearing and
 * trimming paused single inserts for up to 17 ms at 1M keys. */
#define U64MAP_MMAP_BYTES (1024 * 1024)

/* Element chunks hold a power of two of elements, at most this many bytes:
 * big enough that the chunk table stays small, small enough that a map of
 * a few elements costs little. */
#define U64MAP_CHUNK_BYTES (64 * 1024)

_Static_assert(U64MAP_STEP_SLOTS >= 2, "a migration must end before the next resize");

/* A zeroed array of n slots, or NULL. Pages are touched only when used. */
static uint32_t *index_alloc(size_t n)
{
    size_t bytes = n * sizeof(uint32_t);
    void *p;

    if (bytes < U64MAP_MMAP_BYTES)
        return calloc(n, sizeof(uint32_t));
    p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void index_free(uint32_t *p, size_t n)
{
    if (p == NULL)
        return;
    if (n * sizeof(uint32_t) < U64MAP_MMAP_BYTES)
        free(p);
    else
        munmap(p, n * sizeof(uint32_t));
}

/* Fibonacci hashing: the top bits of key * 2^64/phi. Sequential keys land
 * far apart, and a key at home i of an index lands at 2i or 2i+1 of the
 * index twice the size, so migration writes the new index almost in order. */
static size_t home(uint64_t key, unsigned bits)
{
    /* The same as u64map_prefetch()'s. */
    return (size_t)((key * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - bits));
}

/* The element at position pos (< count, or the one being added). */
static unsigned char *elem_at(const struct u64map *m, size_t pos)
{
    size_t mask = ((size_t)1 << m->chunk_shift) - 1;

    return m->elem[pos >> m->chunk_shift] + (pos & mask) * m->elem_size;
}

/* Key of the element an occupied slot value v refers to. */
static uint64_t key_of(const struct u64map *m, uint32_t v)
{
    uint64_t k;

    memcpy(&k, elem_at(m, v - 1), sizeof(k));
    return k;
}

/* Index of key's slot in idx, or of the empty slot where it would go. */
static size_t probe(const struct u64map *m, const uint32_t *idx, size_t cap, unsigned bits,
                    uint64_t key)
{
    size_t mask = cap - 1;
    size_t i = home(key, bits);

    while (idx[i] != 0 && key_of(m, idx[i]) != key)
        i = (i + 1) & mask;
    return i;
}

/* First empty slot at or after key's home: for a key known to be absent. */
static size_t probe_empty(const uint32_t *idx, size_t cap, unsigned bits, uint64_t key)
{
    size_t mask = cap - 1;
    size_t i = home(key, bits);

    while (idx[i] != 0)
        i = (i + 1) & mask;
    return i;
}

void u64map_init(struct u64map *m, size_t elem_size)
{
    size_t per_chunk = 1;

    assert(elem_size >= sizeof(uint64_t) && elem_size % sizeof(uint64_t) == 0);
    memset(m, 0, sizeof(*m));
    m->elem_size = elem_size;
    m->chunk_shift = 0;
    while (per_chunk * 2 * elem_size <= U64MAP_CHUNK_BYTES) {
        per_chunk *= 2;
        m->chunk_shift++;
    }
}

void u64map_free(struct u64map *m)
{
    size_t elem_size = m->elem_size;
    unsigned chunk_shift = m->chunk_shift;

    /* Also fine on an all-zero struct, which owners may free after a
     * memset. */
    index_free(m->old, m->old_cap);
    index_free(m->slots, m->cap);
    for (size_t c = 0; c < m->n_chunks; c++)
        free(m->elem[c]);
    free(m->elem);
    memset(m, 0, sizeof(*m));
    m->elem_size = elem_size;
    m->chunk_shift = chunk_shift;
}

/* The slot holding key: in the old index (*in_old true) or the current
 * one. Returns false when the key is absent. */
static bool locate(const struct u64map *m, uint64_t key, size_t *slot, bool *in_old)
{
    size_t i;

    if (m->count == 0)
        return false;
    if (m->old != NULL) {
        i = probe(m, m->old, m->old_cap, m->bits - 1, key);
        if (m->old[i] != 0) {
            *slot = i;
            *in_old = true;
            return true;
        }
    }
    i = probe(m, m->slots, m->cap, m->bits, key);
    *slot = i;
    *in_old = false;
    return m->slots[i] != 0;
}

void *u64map_find(const struct u64map *m, uint64_t key)
{
    size_t pos;

    return u64map_find_pos(m, key, &pos);
}

void *u64map_find_pos(const struct u64map *m, uint64_t key, size_t *pos)
{
    size_t i;
    bool in_old;

    assert(key != 0);
    if (!locate(m, key, &i, &in_old))
        return NULL;
    *pos = (in_old ? m->old[i] : m->slots[i]) - 1;
    return elem_at(m, *pos);
}

/* Allocate the next index and make the current one the old one. Returns
 * false on ENOMEM, the map unchanged. */
static bool start_resize(struct u64map *m)
{
    size_t cap = m->cap == 0 ? U64MAP_MIN_SLOTS : m->cap * 2;
    uint32_t *slots;
    size_t first = 0;

    /* Unreachable: a migration of n old slots starts at n/2 elements, the
     * next resize comes at n elements, and each of the n/2 inserts between
     * migrates at least U64MAP_STEP_SLOTS >= 2 slots. Kept so a change to
     * those bounds costs a pause, not a corrupt map. */
    if (m->old != NULL)
        u64map_step(m, SIZE_MAX);
    if (cap > SIZE_MAX / sizeof(uint32_t))
        return false;
    slots = index_alloc(cap);
    if (slots == NULL)
        return false;
    if (m->slots != NULL) {
        /* Migration starts at an empty slot, so no cluster straddles the
         * migrated region's edge (the load is 1/2: one is near). */
        while (m->slots[first] != 0)
            first++;
        m->old = m->slots;
        m->old_cap = m->cap;
        m->old_next = first;
        m->old_left = m->cap;
        m->old_first = first;
        m->old_released = first * sizeof(uint32_t);
    }
    m->slots = slots;
    m->cap = cap;
    m->bits = (unsigned)__builtin_ctzll(cap);
    return true;
}

/* Move old slot i into the new index and empty it. */
static void migrate_one(struct u64map *m, size_t i)
{
    uint32_t v = m->old[i];

    m->slots[probe_empty(m->slots, m->cap, m->bits, key_of(m, v))] = v;
    m->old[i] = 0;
}

/* Give the pages of the old index that are wholly migrated back to the
 * kernel. They read as zeros afterwards, which is what an empty slot is,
 * and the range stays ours until index_free(). Only the run from old_first
 * to the index's end is released; the wrapped part is a few slots. */
static void release_migrated(struct u64map *m)
{
#ifdef MADV_DONTNEED
    size_t visited = m->old_cap - m->old_left;
    size_t upto = m->old_first + visited;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t base = (uintptr_t)m->old;
    uintptr_t lo, hi;

    /* Only indexes mapped by index_alloc(); small heap blocks gain little. */
    if (m->old_cap * sizeof(uint32_t) < U64MAP_MMAP_BYTES)
        return;
    if (upto > m->old_cap)
        upto = m->old_cap;
    lo = (base + m->old_released + page - 1) & ~(uintptr_t)(page - 1);
    hi = (base + upto * sizeof(uint32_t)) & ~(uintptr_t)(page - 1);
    if (hi <= lo || hi - lo < U64MAP_RELEASE_BYTES)
        return;
    /* Failure only leaves the pages resident until index_free(). */
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
     * a slot in use at old_next begins a cluster. Whole clusters move at
     * once: emptying part of one would cut the probe path of the rest. */
    while (m->old_left > 0 && done < n) {
        while (m->old_left > 0 && m->old[m->old_next] != 0) {
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
    index_free(m->old, m->old_cap);
    m->old = NULL;
    m->old_cap = 0;
    m->old_next = 0;
    return false;
}

bool u64map_reserve(struct u64map *m, size_t n)
{
    size_t cap = m->cap == 0 ? U64MAP_MIN_SLOTS : m->cap;
    size_t per_chunk = (size_t)1 << m->chunk_shift;
    size_t chunks = (n + per_chunk - 1) / per_chunk;
    uint32_t *slots;

    if (n > U64MAP_MAX_COUNT)
        return false;
    if (n == 0)
        return true;
    /* The chunk table; the chunks themselves come as elements do. */
    if (chunks > m->cap_chunks) {
        unsigned char **e = realloc(m->elem, chunks * sizeof(*e));

        if (e == NULL)
            return false;
        m->elem = e;
        m->cap_chunks = chunks;
    }
    /* The same bound as an insert's: load at or under 1/2 after n. */
    while ((n + 1) * 2 > cap)
        cap *= 2;
    if (cap <= m->cap)
        return true;
    /* A migration in progress ends first; then every element moves into
     * the new index at once (this call is the pause the caller chose). */
    u64map_step(m, SIZE_MAX);
    slots = index_alloc(cap);
    if (slots == NULL)
        return false;
    for (size_t i = 0; i < m->cap; i++) {
        uint32_t v = m->slots[i];

        if (v != 0)
            slots[probe_empty(slots, cap, (unsigned)__builtin_ctzll(cap), key_of(m, v))] = v;
    }
    index_free(m->slots, m->cap);
    m->slots = slots;
    m->cap = cap;
    m->bits = (unsigned)__builtin_ctzll(cap);
    return true;
}

/* Make room for the element at position count. Returns false on ENOMEM. */
static bool chunk_reserve(struct u64map *m)
{
    size_t c = m->count >> m->chunk_shift;
    unsigned char *chunk;

    if (c < m->n_chunks)
        return true;
    if (m->n_chunks == m->cap_chunks) {
        size_t cap = m->cap_chunks ? m->cap_chunks * 2 : 4;
        unsigned char **e = realloc(m->elem, cap * sizeof(*e));

        if (e == NULL)
            return false;
        m->elem = e;
        m->cap_chunks = cap;
    }
    chunk = malloc(m->elem_size << m->chunk_shift);
    if (chunk == NULL)
        return false;
    m->elem[m->n_chunks++] = chunk;
    return true;
}

/* Add key, known to be absent. */
static void *insert_absent(struct u64map *m, uint64_t key)
{
    unsigned char *e;

    if (m->count >= U64MAP_MAX_COUNT || !chunk_reserve(m))
        return NULL;
    /* Keep the load of the new index at or under 1/2 so probes stay short.
     * A resize or a step moves slots into the new index: probe again. */
    if ((m->count + 1) * 2 > m->cap && !start_resize(m))
        return NULL;
    if (m->old != NULL)
        u64map_step(m, U64MAP_STEP_SLOTS);
    e = elem_at(m, m->count);
    memset(e, 0, m->elem_size);
    memcpy(e, &key, sizeof(key));
    m->slots[probe_empty(m->slots, m->cap, m->bits, key)] = (uint32_t)(m->count + 1);
    m->count++;
    return e;
}

void *u64map_insert(struct u64map *m, uint64_t key)
{
    size_t pos;

    return u64map_insert_pos(m, key, &pos);
}

void *u64map_insert_pos(struct u64map *m, uint64_t key, size_t *pos)
{
    size_t i;
    bool in_old;

    assert(key != 0);
    if (locate(m, key, &i, &in_old)) {
        *pos = (in_old ? m->old[i] : m->slots[i]) - 1;
        return elem_at(m, *pos);
    }
    *pos = m->count;
    return insert_absent(m, key);
}

void u64map_set_move_hook(struct u64map *m, void (*fn)(void *arg, void *elem, size_t pos),
                          void *arg)
{
    m->moved = fn;
    m->moved_arg = arg;
}

void *u64map_insert_new(struct u64map *m, uint64_t key)
{
    assert(key != 0);
    assert(u64map_find(m, key) == NULL);
    return insert_absent(m, key);
}

/* Empty slot i of idx by backward shift: later slots of the cluster that
 * may live closer to their home move back, so no tombstone is needed. */
static void delete_at(const struct u64map *m, uint32_t *idx, size_t cap, unsigned bits, size_t i)
{
    size_t mask = cap - 1;
    size_t j = i;

    for (;;) {
        j = (j + 1) & mask;
        if (idx[j] == 0)
            break;
        /* The slot at j may fill the hole at i unless its home lies
         * cyclically in (i, j]. */
        if (((j - home(key_of(m, idx[j]), bits)) & mask) >= ((j - i) & mask)) {
            idx[i] = idx[j];
            i = j;
        }
    }
    idx[i] = 0;
}

/* Free the last chunk once a whole spare chunk lies past the elements. */
static void chunk_trim(struct u64map *m)
{
    size_t per_chunk = (size_t)1 << m->chunk_shift;

    while (m->n_chunks > 0 && m->count + 2 * per_chunk <= m->n_chunks * per_chunk)
        free(m->elem[--m->n_chunks]);
}

bool u64map_remove(struct u64map *m, uint64_t key)
{
    size_t i, pos, last;
    bool in_old;

    assert(key != 0);
    if (!locate(m, key, &i, &in_old))
        return false;
    /* Removing from the old index keeps it a valid table: the shift stays
     * inside one unmigrated cluster and never fills an empty slot. */
    if (in_old) {
        pos = m->old[i] - 1;
        delete_at(m, m->old, m->old_cap, m->bits - 1, i);
    } else {
        pos = m->slots[i] - 1;
        delete_at(m, m->slots, m->cap, m->bits, i);
    }
    /* The last element fills the hole; its slot follows it. */
    last = m->count - 1;
    if (pos != last) {
        uint64_t k = key_of(m, (uint32_t)(last + 1));
        bool found = locate(m, k, &i, &in_old);

        assert(found);
        (void)found;
        if (in_old)
            m->old[i] = (uint32_t)(pos + 1);
        else
            m->slots[i] = (uint32_t)(pos + 1);
        memcpy(elem_at(m, pos), elem_at(m, last), m->elem_size);
    }
    m->count--;
    chunk_trim(m);
    if (pos != last && m->moved != NULL)
        m->moved(m->moved_arg, elem_at(m, pos), pos);
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
    if (*cursor >= m->count)
        return NULL;
    return elem_at(m, (*cursor)++);
}

size_t u64map_slots(const struct u64map *m)
{
    return m->cap;
}

size_t u64map_bytes(const struct u64map *m)
{
    return (m->cap + m->old_cap) * sizeof(uint32_t) + m->cap_chunks * sizeof(*m->elem) +
           (m->n_chunks * m->elem_size << m->chunk_shift);
}
