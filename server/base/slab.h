#ifndef TC_SERVER_BASE_SLAB_H
#define TC_SERVER_BASE_SLAB_H

#include <stddef.h>

/* A slab allocator for many long-lived small objects of varied sizes (SIP
 * bindings): 64 KiB blocks of equal-size slots, one class per 8 bytes up to
 * SLAB_MAX, no per-object header, and blocks apart from the malloc heap so
 * short-lived allocations cannot leave holes between them. Objects over
 * SLAB_MAX get pages of their own. Empty blocks go back to the kernel.
 * One thread; under ASan free slots are poisoned. */

#define SLAB_MAX 1024

struct slab_block;

struct slab {
    /* Per size class, the blocks with a free slot. */
    struct slab_block *partial[SLAB_MAX / 8 + 1];
    unsigned char *reserve; /* mapped blocks not yet used (untouched) */
    size_t reserve_left;    /* how many */
};

void slab_init(struct slab *sl);

/* Free every block, whether objects are left in it or not. */
void slab_destroy(struct slab *sl);

/* size bytes (not zeroed unless never used), 8-byte aligned, or NULL. */
void *slab_alloc(struct slab *sl, size_t size);

/* p from slab_alloc() of sl. */
void slab_free(struct slab *sl, void *p);

#endif
