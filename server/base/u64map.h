#ifndef TC_SERVER_BASE_U64MAP_H
#define TC_SERVER_BASE_U64MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A hash map from a non-zero uint64 key to a fixed-size element, for tables
 * of up to millions of entries on the loop thread. Not thread-safe: one
 * thread owns a map.
 *
 * Every element is elem_size bytes and begins with its uint64 key; 0 is
 * never a valid key. Elements live densely, in insertion order, in chunks
 * of about 64 KiB that never move; the hash index over them holds only a
 * uint32 per slot (0: empty, else the element's position + 1), with open
 * addressing, linear probing and Fibonacci hashing, at a load at or under
 * 1/2. So a map of n elements costs n * elem_size plus 4 to 8 bytes of
 * index per element, instead of 2 to 4 times elem_size for elements stored
 * in the slots themselves. At most U64MAP_MAX_COUNT elements.
 *
 * Growth is incremental, so no single call pays for a full rehash. When an
 * insert would take the load past 1/2, the map allocates an index twice the
 * size and from then on each insert of a new key moves at least
 * U64MAP_STEP_SLOTS slots of the old index into it (whole probe clusters at
 * a time, so the old index stays a valid table). Finds and removes look in
 * both indexes while they coexist. The owner may also call u64map_step()
 * from an idle handler to finish sooner. The migration always ends before
 * the new index itself is half full. Elements never move when the index
 * grows.
 *
 * Removal uses backward-shift deletion in the index (no tombstones, probes
 * stay short however many keys come and go), and moves the last element
 * into the removed one's place so the elements stay dense. The index never
 * shrinks.
 *
 * Pointer lifetime: an element pointer returned by u64map_find(),
 * u64map_insert() or u64map_next() is valid until the next call to
 * u64map_remove() or u64map_free() on the same map: removal moves the last
 * element. Inserts and steps never move elements. */

#define U64MAP_MIN_SLOTS  1024 /* first index; a power of two */
#define U64MAP_STEP_SLOTS 128  /* old slots migrated per insert of a new key */
#define U64MAP_MAX_COUNT  ((size_t)UINT32_MAX - 1)

struct u64map {
    uint32_t *slots; /* the index: cap slots; NULL before the first insert */
    size_t cap;      /* 0 or a power of two */
    uint32_t *old;   /* the index being migrated, or NULL */
    size_t old_cap;
    size_t old_next;      /* next old slot to migrate */
    size_t old_left;      /* old slots not yet visited */
    size_t old_first;     /* where migration started: an empty slot */
    size_t old_released;  /* offset in old below which pages went back */
    unsigned char **elem; /* chunks of elements, each 1 << chunk_shift of them */
    size_t n_chunks;      /* chunks allocated */
    size_t cap_chunks;    /* room in elem */
    size_t count;         /* elements, at positions [0, count) */
    size_t elem_size;
    unsigned chunk_shift;
    unsigned bits; /* log2(cap) */
    /* Told when u64map_remove() moves an element to another position. */
    void (*moved)(void *arg, void *elem, size_t pos);
    void *moved_arg;
};

/* Start an empty map of elements of elem_size bytes (at least 8 and a
 * multiple of 8: the element begins with its uint64 key). Allocates
 * nothing; cannot fail. */
void u64map_init(struct u64map *m, size_t elem_size);

/* Release the arrays. The map is empty afterwards and may be used again.
 * An all-zero struct u64map may be freed too. */
void u64map_free(struct u64map *m);

/* Make room for n elements in all: an index that stays at or under 1/2
 * load with n elements (so inserts up to n never resize), and the table of
 * element chunks. Elements already in the map move to the new index at
 * once, in this call: for sizing a map before a bulk load (a restore),
 * not while serving. Returns false on ENOMEM or past U64MAP_MAX_COUNT,
 * and the map is then still valid (possibly with its migration finished). */
bool u64map_reserve(struct u64map *m, size_t n);

/* Ask the CPU to bring the index slot where key's probe starts into the
 * cache: for bulk loads that know keys a little ahead of inserting them.
 * Changes nothing. */
static inline void u64map_prefetch(const struct u64map *m, uint64_t key)
{
    if (m->slots != NULL)
        __builtin_prefetch(&m->slots[(key * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - m->bits)], 1);
}

/* The element with this key, or NULL. key must not be 0. Moves nothing. */
void *u64map_find(const struct u64map *m, uint64_t key);

/* The element with this key; when absent, a new zeroed element with its key
 * set. key must not be 0. Returns NULL on -ENOMEM or past U64MAP_MAX_COUNT
 * elements, and the map is then unchanged. See above for how long the
 * pointer stays valid. */
void *u64map_insert(struct u64map *m, uint64_t key);

/* The same for a key the caller knows is absent (e.g. keys read in
 * increasing order into a map that held only smaller ones): a new zeroed
 * element, without the look-up, whose probes read other elements' keys
 * (a cache miss each in a big map). A key that is present is a caller's
 * bug: the map would hold it twice (asserted in debug builds). */
void *u64map_insert_new(struct u64map *m, uint64_t key);

/* The element at position pos (< u64map_count()). Positions are the
 * order of insertion, 0 to count - 1; an element keeps its position until
 * a u64map_remove() moves the last element into the removed one's place
 * (then the move hook, if set, is told). Moves nothing. */
static inline void *u64map_at(const struct u64map *m, size_t pos)
{
    return m->elem[pos >> m->chunk_shift] +
           (pos & (((size_t)1 << m->chunk_shift) - 1)) * m->elem_size;
}

/* u64map_find() that also gives the element's position in *pos. */
void *u64map_find_pos(const struct u64map *m, uint64_t key, size_t *pos);

/* u64map_insert() that also gives the element's position in *pos. */
void *u64map_insert_pos(struct u64map *m, uint64_t key, size_t *pos);

/* Call fn(arg, elem, pos) whenever u64map_remove() moves an element (the
 * last one) to position pos, after the move; NULL for none. One hook per
 * map: for an owner that refers to elements by position. */
void u64map_set_move_hook(struct u64map *m, void (*fn)(void *arg, void *elem, size_t pos),
                          void *arg);

/* Remove the element with this key. Returns true when it was there. The
 * caller must have released whatever the element points to. */
bool u64map_remove(struct u64map *m, uint64_t key);

/* Number of elements. */
size_t u64map_count(const struct u64map *m);

/* True while a resize is in progress (two arrays are held). */
bool u64map_migrating(const struct u64map *m);

/* Migrate about n slots of the old index (whole clusters, so a little
 * more). Returns true while more remain. Cheap when nothing is pending, so
 * it may be called from a libuv idle or check handler every iteration. */
bool u64map_step(struct u64map *m, size_t n);

/* Iterate over every element exactly once, in no particular order: set
 * *cursor to 0, then call until NULL. Only valid while the map is not
 * changed (no adding insert, remove or step); elements may be modified in
 * place except for their key. */
void *u64map_next(const struct u64map *m, size_t *cursor);

/* Slots of the current index (0 before the first insert). */
size_t u64map_slots(const struct u64map *m);

/* Bytes held by the index and the element chunks, for metrics and
 * benchmarks. */
size_t u64map_bytes(const struct u64map *m);

#endif
