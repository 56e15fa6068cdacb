#ifndef TC_SERVER_BASE_SLAB_H
#define TC_SERVER_BASE_SLAB_H

#include <stddef.h>
#include <stdint.h>

/* A slab allocator for many long-lived small objects of varied sizes (SIP
 * bindings): 64 KiB blocks of equal-size slots, one class per 8 bytes up to
 * SLAB_MAX, no per-object header, and blocks apart from the malloc heap so
 * short-lived allocations cannot leave holes between them. Objects over
 * SLAB_MAX get pages of their own. Empty blocks go back to the kernel.
 * One thread; under ASan free slots are poisoned.
 *
 * An object is also named by a 32-bit handle, half the size of a pointer,
 * for objects that link to each other by the million: its block's number
 * (each block, and each big object, gets one: SLAB_BLOCK_BITS bits) and
 * its offset in the block in 8-byte units (13 bits). Handles are never 0
 * and stay below 2^31, so an owner may use the top bit as a tag. Past
 * max_blocks blocks, slab_alloc() fails as for ENOMEM. */

#define SLAB_MAX        1024
#define SLAB_BLOCK_BITS 18
#define SLAB_MAX_BLOCKS (((uint32_t)1 << SLAB_BLOCK_BITS) - 1) /* 16 GiB of blocks */
#define SLAB_OFF_BITS   13                                     /* 64 KiB / 8 */

struct slab_block;

struct slab {
    /* Per size class, the blocks with a free slot. */
    struct slab_block *partial[SLAB_MAX / 8 + 1];
    unsigned char *reserve; /* mapped blocks not yet used (untouched) */
    size_t reserve_left;    /* how many */
    unsigned char **blocks; /* by block number (from 1); NULL: a free number */
    uint32_t n_numbers;     /* numbers given so far, 0 included */
    uint32_t cap_numbers;   /* room in blocks */
    uint32_t *free_numbers; /* numbers of unmapped blocks, for reuse */
    uint32_t n_free, cap_free;
    uint32_t max_blocks; /* SLAB_MAX_BLOCKS; tests lower it */
};

void slab_init(struct slab *sl);

/* Free every block, whether objects are left in it or not. */
void slab_destroy(struct slab *sl);

/* size bytes (not zeroed unless never used), 8-byte aligned, or NULL. */
void *slab_alloc(struct slab *sl, size_t size);

/* p from slab_alloc() of sl. */
void slab_free(struct slab *sl, void *p);

/* The handle of p, from slab_alloc() of sl: non-zero, below 2^31. */
uint32_t slab_handle(const struct slab *sl, const void *p);

/* The object of handle h (from slab_handle() of sl, the object not freed). */
static inline void *slab_ptr(const struct slab *sl, uint32_t h)
{
    return sl->blocks[h >> SLAB_OFF_BITS] + ((size_t)(h & ((1u << SLAB_OFF_BITS) - 1)) << 3);
}

#endif
