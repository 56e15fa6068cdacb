#include "server/base/slab.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__)
#define SLAB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLAB_ASAN 1
#endif
#endif
#ifdef SLAB_ASAN
#include <sanitizer/asan_interface.h>
#else
#define ASAN_POISON_MEMORY_REGION(p, n)   ((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#endif

/* Blocks are aligned to their size so an object finds its block by
 * masking its address. */

#define SLAB_BLOCK ((size_t)64 * 1024)
#define SLAB_GRAIN 8
/* Blocks are mapped this many at a time, side by side, so that the kernel
 * keeps one mapping for them and not one each (2,000 for 1M bindings). An
 * unused block costs address space only. */
#define SLAB_RESERVE 32

struct slab_block {
    struct slab_block *prev, *next; /* in sl->partial[cls] while listed */
    void *free;                     /* freed slots, linked through their first word */
    unsigned char *fresh;           /* slots never used start here */
    size_t size;                    /* bytes mapped */
    uint32_t live;                  /* objects in the block */
    uint32_t number;                /* in sl->blocks: the top bits of handles */
    uint16_t cls;                   /* slot size / SLAB_GRAIN; 0: one big object */
    bool listed;
};

_Static_assert(SLAB_BLOCK >> 3 == (size_t)1 << SLAB_OFF_BITS, "offsets fill SLAB_OFF_BITS");
_Static_assert(SLAB_BLOCK_BITS + SLAB_OFF_BITS <= 31, "handles stay below 2^31");

#define SLAB_HEAD ((sizeof(struct slab_block) + 15) & ~(size_t)15)

/* size bytes of zeroed memory at a SLAB_BLOCK-aligned address, or NULL. */
static void *slab_map(size_t size)
{
    unsigned char *p = mmap(NULL, size + SLAB_BLOCK, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unsigned char *a;

    if (p == MAP_FAILED)
        return NULL;
    a = (unsigned char *)(((uintptr_t)p + SLAB_BLOCK - 1) & ~(uintptr_t)(SLAB_BLOCK - 1));
    if (a > p)
        munmap(p, (size_t)(a - p));
    munmap(a + size, (size_t)(p + SLAB_BLOCK - a));
    return a;
}

/* Give k a block number. Returns false past max_blocks or on ENOMEM. */
static bool number_take(struct slab *sl, struct slab_block *k)
{
    uint32_t n;

    if (sl->n_free > 0) {
        n = sl->free_numbers[--sl->n_free];
    } else {
        /* Number 0 is never given: handle 0 means none. */
        if (sl->n_numbers == 0)
            sl->n_numbers = 1;
        if (sl->n_numbers > sl->max_blocks)
            return false;
        if (sl->n_numbers >= sl->cap_numbers) {
            uint32_t cap = sl->cap_numbers ? sl->cap_numbers * 2 : 64;
            unsigned char **b = realloc(sl->blocks, cap * sizeof(*b));

            if (b == NULL)
                return false;
            sl->blocks = b;
            sl->cap_numbers = cap;
        }
        n = sl->n_numbers++;
    }
    sl->blocks[n] = (unsigned char *)k;
    k->number = n;
    return true;
}

/* k's number is free again (k is being unmapped). */
static void number_give(struct slab *sl, struct slab_block *k)
{
    sl->blocks[k->number] = NULL;
    if (sl->n_free == sl->cap_free) {
        uint32_t cap = sl->cap_free ? sl->cap_free * 2 : 64;
        uint32_t *f = realloc(sl->free_numbers, cap * sizeof(*f));

        /* Without room the number is lost, not reused: only a number. */
        if (f == NULL)
            return;
        sl->free_numbers = f;
        sl->cap_free = cap;
    }
    sl->free_numbers[sl->n_free++] = k->number;
}

/* A fresh block from the reserve, or NULL. */
static struct slab_block *block_take(struct slab *sl)
{
    unsigned char *k;

    if (sl->reserve_left == 0) {
        sl->reserve = slab_map(SLAB_RESERVE * SLAB_BLOCK);
        if (sl->reserve == NULL)
            return NULL;
        sl->reserve_left = SLAB_RESERVE;
    }
    k = sl->reserve;
    sl->reserve += SLAB_BLOCK;
    sl->reserve_left--;
    return (struct slab_block *)k;
}

static struct slab_block *block_of(const void *p)
{
    return (struct slab_block *)((uintptr_t)p & ~(uintptr_t)(SLAB_BLOCK - 1));
}

static void block_unlist(struct slab *sl, struct slab_block *k)
{
    if (k->prev != NULL)
        k->prev->next = k->next;
    else
        sl->partial[k->cls] = k->next;
    if (k->next != NULL)
        k->next->prev = k->prev;
    k->prev = k->next = NULL;
    k->listed = false;
}

static void block_list(struct slab *sl, struct slab_block *k)
{
    k->prev = NULL;
    k->next = sl->partial[k->cls];
    if (k->next != NULL)
        k->next->prev = k;
    sl->partial[k->cls] = k;
    k->listed = true;
}

static void block_unmap(struct slab *sl, struct slab_block *k)
{
    number_give(sl, k);
    ASAN_UNPOISON_MEMORY_REGION(k, k->size);
    munmap(k, k->size);
}

static bool block_full(const struct slab_block *k)
{
    size_t slot = (size_t)k->cls * SLAB_GRAIN;

    return k->free == NULL && (size_t)((unsigned char *)k + SLAB_BLOCK - k->fresh) < slot;
}

void *slab_alloc(struct slab *sl, size_t size)
{
    struct slab_block *k;
    size_t slot = (size + SLAB_GRAIN - 1) & ~(size_t)(SLAB_GRAIN - 1);
    unsigned cls = (unsigned)(slot / SLAB_GRAIN);
    void *p;

    if (slot > SLAB_MAX) {
        size_t bytes = (SLAB_HEAD + size + 4095) & ~(size_t)4095;

        k = slab_map(bytes);
        if (k == NULL)
            return NULL;
        if (!number_take(sl, k)) {
            munmap(k, bytes);
            return NULL;
        }
        k->size = bytes;
        k->live = 1;
        return (unsigned char *)k + SLAB_HEAD;
    }
    k = sl->partial[cls];
    if (k == NULL) {
        if (sl->reserve_left == 0 && sl->n_free == 0 && sl->n_numbers > sl->max_blocks)
            return NULL;
        k = block_take(sl);
        if (k == NULL)
            return NULL;
        if (!number_take(sl, k)) {
            /* Back to the reserve, untouched but for the header. */
            memset(k, 0, sizeof(*k));
            sl->reserve -= SLAB_BLOCK;
            sl->reserve_left++;
            return NULL;
        }
        k->size = SLAB_BLOCK;
        k->cls = (uint16_t)cls;
        k->fresh = (unsigned char *)k + SLAB_HEAD;
        ASAN_POISON_MEMORY_REGION(k->fresh, SLAB_BLOCK - SLAB_HEAD);
        block_list(sl, k);
    }
    if (k->free != NULL) {
        p = k->free;
        ASAN_UNPOISON_MEMORY_REGION(p, slot);
        memcpy(&k->free, p, sizeof(void *));
    } else {
        p = k->fresh;
        k->fresh += slot;
        ASAN_UNPOISON_MEMORY_REGION(p, slot);
    }
    k->live++;
    if (block_full(k))
        block_unlist(sl, k);
    return p;
}

void slab_free(struct slab *sl, void *p)
{
    struct slab_block *k = block_of(p);

    if (k->cls == 0) {
        block_unmap(sl, k);
        return;
    }
    memcpy(p, &k->free, sizeof(void *));
    k->free = p;
    ASAN_POISON_MEMORY_REGION(p, (size_t)k->cls * SLAB_GRAIN);
    k->live--;
    if (k->live == 0 && !(k->listed && k->prev == NULL && k->next == NULL)) {
        /* Empty, and not the class's only block with room: give it back. */
        if (k->listed)
            block_unlist(sl, k);
        block_unmap(sl, k);
        return;
    }
    if (!k->listed)
        block_list(sl, k);
}

void slab_init(struct slab *sl)
{
    memset(sl, 0, sizeof(*sl));
    sl->max_blocks = SLAB_MAX_BLOCKS;
}

void slab_destroy(struct slab *sl)
{
    /* Every block has a number: full ones are in no list. */
    for (uint32_t n = 1; n < sl->n_numbers; n++) {
        struct slab_block *k = (struct slab_block *)sl->blocks[n];

        if (k != NULL) {
            ASAN_UNPOISON_MEMORY_REGION(k, k->size);
            munmap(k, k->size);
        }
    }
    if (sl->reserve_left > 0)
        munmap(sl->reserve, sl->reserve_left * SLAB_BLOCK);
    free(sl->blocks);
    free(sl->free_numbers);
    slab_init(sl);
}

uint32_t slab_handle(const struct slab *sl, const void *p)
{
    const struct slab_block *k = block_of(p);

    (void)sl;
    return (k->number << SLAB_OFF_BITS) |
           (uint32_t)(((const unsigned char *)p - (const unsigned char *)k) >> 3);
}
