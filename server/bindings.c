#include "server/bindings.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__)
#define BINDINGS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BINDINGS_ASAN 1
#endif
#endif
#ifdef BINDINGS_ASAN
#include <sanitizer/asan_interface.h>
#else
#define ASAN_POISON_MEMORY_REGION(p, n)   ((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#endif

/* The slab. A million bindings were a million malloc() chunks: 8 bytes of
 * chunk header each, sizes rounded up to 16, and - worse - interleaved with
 * the loop's short-lived allocations (store changes, answers), whose freed
 * holes stayed resident: about 50 bytes per binding at 1M. So bindings live
 * in 64 KiB blocks, aligned to their size so a binding finds its block by
 * masking its address; each block holds slots of one size (a multiple of
 * 8). A binding bigger than BINDINGS_SLAB_MAX gets a region of its own with
 * the same header. A block goes back to the kernel when its last binding is
 * freed, unless it is the only block with room left in its class. */

#define SLAB_BLOCK ((size_t)64 * 1024)
#define SLAB_GRAIN 8
/* Blocks are mapped this many at a time, side by side, so that the kernel
 * keeps one mapping for them and not one each (2,000 at 1M bindings). An
 * unused block costs address space only. */
#define SLAB_RESERVE 32

struct bindings_block {
    struct bindings_block *prev, *next; /* in bs->partial[cls] while listed */
    void *free;                         /* freed slots, linked through their first word */
    unsigned char *fresh;               /* slots never used start here */
    size_t size;                        /* bytes mapped */
    uint32_t live;                      /* bindings in the block */
    uint16_t cls;                       /* slot size / SLAB_GRAIN; 0: one big binding */
    bool listed;
};

#define SLAB_HEAD ((sizeof(struct bindings_block) + 15) & ~(size_t)15)

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
static struct bindings_block *block_take(struct bindings *bs)
{
    unsigned char *k;

    if (bs->reserve_left == 0) {
        bs->reserve = slab_map(SLAB_RESERVE * SLAB_BLOCK);
        if (bs->reserve == NULL)
            return NULL;
        bs->reserve_left = SLAB_RESERVE;
    }
    k = bs->reserve;
    bs->reserve += SLAB_BLOCK;
    bs->reserve_left--;
    return (struct bindings_block *)k;
}

static struct bindings_block *block_of(const void *p)
{
    return (struct bindings_block *)((uintptr_t)p & ~(uintptr_t)(SLAB_BLOCK - 1));
}

static void block_unlist(struct bindings *bs, struct bindings_block *k)
{
    if (k->prev != NULL)
        k->prev->next = k->next;
    else
        bs->partial[k->cls] = k->next;
    if (k->next != NULL)
        k->next->prev = k->prev;
    k->prev = k->next = NULL;
    k->listed = false;
}

static void block_list(struct bindings *bs, struct bindings_block *k)
{
    k->prev = NULL;
    k->next = bs->partial[k->cls];
    if (k->next != NULL)
        k->next->prev = k;
    bs->partial[k->cls] = k;
    k->listed = true;
}

static void block_unmap(struct bindings_block *k)
{
    ASAN_UNPOISON_MEMORY_REGION(k, k->size);
    munmap(k, k->size);
}

static bool block_full(const struct bindings_block *k)
{
    size_t slot = (size_t)k->cls * SLAB_GRAIN;

    return k->free == NULL && (size_t)((unsigned char *)k + SLAB_BLOCK - k->fresh) < slot;
}

/* size bytes for a binding, or NULL. */
static void *slab_alloc(struct bindings *bs, size_t size)
{
    struct bindings_block *k;
    size_t slot = (size + SLAB_GRAIN - 1) & ~(size_t)(SLAB_GRAIN - 1);
    unsigned cls = (unsigned)(slot / SLAB_GRAIN);
    void *p;

    if (slot > BINDINGS_SLAB_MAX) {
        size_t bytes = (SLAB_HEAD + size + 4095) & ~(size_t)4095;

        k = slab_map(bytes);
        if (k == NULL)
            return NULL;
        k->size = bytes;
        k->live = 1;
        return (unsigned char *)k + SLAB_HEAD;
    }
    k = bs->partial[cls];
    if (k == NULL) {
        k = block_take(bs);
        if (k == NULL)
            return NULL;
        k->size = SLAB_BLOCK;
        k->cls = (uint16_t)cls;
        k->fresh = (unsigned char *)k + SLAB_HEAD;
        ASAN_POISON_MEMORY_REGION(k->fresh, SLAB_BLOCK - SLAB_HEAD);
        block_list(bs, k);
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
        block_unlist(bs, k);
    return p;
}

static void slab_free(struct bindings *bs, void *p)
{
    struct bindings_block *k = block_of(p);

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
            block_unlist(bs, k);
        block_unmap(k);
        return;
    }
    if (!k->listed)
        block_list(bs, k);
}

void binding_free(struct bindings *bs, struct binding *b)
{
    if (b != NULL)
        slab_free(bs, b);
}

int bindings_init(struct bindings *bs, uint64_t now_ms)
{
    memset(bs, 0, sizeof(*bs));
    bs->wheel_sec = now_ms / 1000;
    u64map_init(&bs->dns, sizeof(struct bindings_dn));
    return 0;
}

void bindings_free(struct bindings *bs)
{
    struct bindings_dn *d;
    size_t cursor = 0;

    while ((d = u64map_next(&bs->dns, &cursor)) != NULL) {
        struct binding *b = d->head;

        while (b != NULL) {
            struct binding *next = b->next;

            binding_free(bs, b);
            b = next;
        }
    }
    /* What is left is the one empty block a class may keep. */
    for (size_t i = 0; i < sizeof(bs->partial) / sizeof(bs->partial[0]); i++) {
        while (bs->partial[i] != NULL) {
            struct bindings_block *k = bs->partial[i];

            block_unlist(bs, k);
            block_unmap(k);
        }
    }
    if (bs->reserve_left > 0)
        munmap(bs->reserve, bs->reserve_left * SLAB_BLOCK);
    u64map_free(&bs->dns);
    memset(bs, 0, sizeof(*bs));
}

struct bindings_dn *bindings_dn(struct bindings *bs, dn_key dn, bool create)
{
    /* The map never holds key 0. */
    if (dn == DN_KEY_NONE)
        return NULL;
    if (!create)
        return u64map_find(&bs->dns, dn);
    /* Entries are never removed (a DN that had bindings is likely to get
     * them again): pointers to them move only when a new DN is added. */
    return u64map_insert(&bs->dns, dn);
}

struct bindings_dn *bindings_next_dn(struct bindings *bs, size_t *cursor)
{
    return u64map_next(&bs->dns, cursor);
}

struct binding *bindings_find(struct bindings *bs, dn_key dn, const char *contact, size_t len)
{
    struct bindings_dn *d = bindings_dn(bs, dn, false);

    if (d == NULL)
        return NULL;
    for (struct binding *b = d->head; b != NULL; b = b->next) {
        if (b->contact_len == len && memcmp(binding_contact(b), contact, len) == 0)
            return b;
    }
    return NULL;
}

struct binding *binding_new(struct bindings *bs, dn_key dn, const char *contact, size_t contact_len,
                            const char *call_id, size_t call_id_len, const char *received,
                            uint8_t proto, uint32_t cseq, uint64_t expires_ms,
                            uint64_t registered_ms)
{
    size_t received_len = strlen(received);
    size_t head = offsetof(struct binding, data);
    struct binding *b;
    char *p;

    if (contact_len > UINT16_MAX || call_id_len > UINT16_MAX || received_len > UINT16_MAX)
        return NULL;
    /* The call-id and received strings are found by their NUL. */
    if (memchr(call_id, '\0', call_id_len) != NULL)
        return NULL;
    /* Not sizeof(*b): that pads the header to 56, and the whole may then
     * take the next slot size for no use. */
    b = slab_alloc(bs, head + contact_len + call_id_len + received_len + 3);
    if (b == NULL)
        return NULL;
    memset(b, 0, head);
    b->dn = dn;
    b->expires_ms = expires_ms;
    b->registered_ms = registered_ms;
    b->cseq = cseq;
    b->proto = proto;
    b->contact_len = (uint16_t)contact_len;
    p = b->data;
    memcpy(p, contact, contact_len);
    p[contact_len] = '\0';
    p += contact_len + 1;
    memcpy(p, call_id, call_id_len);
    p[call_id_len] = '\0';
    p += call_id_len + 1;
    memcpy(p, received, received_len + 1);
    return b;
}

static struct binding **wheel_slot(struct bindings *bs, uint64_t expires_ms)
{
    uint64_t sec = (expires_ms + 999) / 1000;

    /* Anything already due goes where the next tick looks first. */
    if (sec < bs->wheel_sec)
        sec = bs->wheel_sec;
    return &bs->wheel[sec % BINDINGS_WHEEL_SLOTS];
}

static void wheel_insert(struct bindings *bs, struct binding *b)
{
    struct binding **slot = wheel_slot(bs, b->expires_ms);

    b->wheel_prev = NULL;
    b->wheel_next = *slot;
    if (*slot != NULL)
        (*slot)->wheel_prev = b;
    *slot = b;
}

static void wheel_unlink(struct bindings *bs, struct binding *b)
{
    if (b->wheel_prev != NULL) {
        b->wheel_prev->wheel_next = b->wheel_next;
    } else {
        struct binding **slot = wheel_slot(bs, b->expires_ms);

        /* The head may sit in the "due now" slot it was moved to. */
        if (*slot != b) {
            for (size_t i = 0; i < BINDINGS_WHEEL_SLOTS; i++) {
                if (bs->wheel[i] == b) {
                    slot = &bs->wheel[i];
                    break;
                }
            }
        }
        *slot = b->wheel_next;
    }
    if (b->wheel_next != NULL)
        b->wheel_next->wheel_prev = b->wheel_prev;
    b->wheel_prev = b->wheel_next = NULL;
}

static void dn_unlink(struct bindings *bs, struct binding *b)
{
    struct bindings_dn *d = bindings_dn(bs, b->dn, false);

    for (struct binding **pp = &d->head; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == b) {
            *pp = b->next;
            d->count--;
            bs->n_bindings--;
            return;
        }
    }
}

int bindings_add(struct bindings *bs, struct binding *b)
{
    struct bindings_dn *d;
    struct binding *old;

    d = bindings_dn(bs, b->dn, true);
    if (d == NULL) {
        binding_free(bs, b);
        return -ENOMEM;
    }
    old = bindings_find(bs, b->dn, binding_contact(b), b->contact_len);
    if (old != NULL)
        bindings_remove(bs, old);
    b->next = d->head;
    d->head = b;
    d->count++;
    bs->n_bindings++;
    wheel_insert(bs, b);
    return 0;
}

void bindings_remove(struct bindings *bs, struct binding *b)
{
    wheel_unlink(bs, b);
    dn_unlink(bs, b);
    binding_free(bs, b);
}

void bindings_expire(struct bindings *bs, uint64_t now_ms, void (*fn)(void *arg, struct binding *b),
                     void *arg)
{
    uint64_t now_sec = now_ms / 1000;

    /* After a long pause (suspend, clock jump) look at each slot once. */
    if (now_sec > bs->wheel_sec + BINDINGS_WHEEL_SLOTS)
        bs->wheel_sec = now_sec - BINDINGS_WHEEL_SLOTS;
    for (; bs->wheel_sec <= now_sec; bs->wheel_sec++) {
        struct binding **slot = &bs->wheel[bs->wheel_sec % BINDINGS_WHEEL_SLOTS];
        struct binding *b = *slot;

        while (b != NULL) {
            struct binding *next = b->wheel_next;

            if (b->expires_ms <= now_ms) {
                wheel_unlink(bs, b);
                dn_unlink(bs, b);
                fn(arg, b);
            }
            b = next;
        }
    }
}

uint32_t binding_remaining(const struct binding *b, uint64_t now_ms)
{
    if (b->expires_ms <= now_ms)
        return 0;
    return (uint32_t)((b->expires_ms - now_ms + 500) / 1000);
}
