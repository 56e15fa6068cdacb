#include "server/base/slab.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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
    uint16_t cls;                   /* slot size / SLAB_GRAIN; 0: one big object */
    bool listed;
};

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

static void block_unmap(struct slab_block *k)
{
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
        k->size = bytes;
        k->live = 1;
        return (unsigned char *)k + SLAB_HEAD;
    }
    k = sl->partial[cls];
    if (k == NULL) {
        k = block_take(sl);
        if (k == NULL)
            return NULL;
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
        block_unmap(k);
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
        block_unmap(k);
        return;
    }
    if (!k->listed)
        block_list(sl, k);
}

void slab_init(struct slab *sl)
{
    memset(sl, 0, sizeof(*sl));
}

void slab_destroy(struct slab *sl)
{
    for (size_t i = 0; i < sizeof(sl->partial) / sizeof(sl->partial[0]); i++) {
        while (sl->partial[i] != NULL) {
            struct slab_block *k = sl->partial[i];

            block_unlist(sl, k);
            block_unmap(k);
        }
    }
    if (sl->reserve_left > 0)
        munmap(sl->reserve, sl->reserve_left * SLAB_BLOCK);
    memset(sl, 0, sizeof(*sl));
}
