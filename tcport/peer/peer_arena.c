/* The decoding arena of the peer links (struct peer_arena, peer_int.h). */
#include <stdint.h>
#include <stdlib.h>

#include "tcport/peer/peer_int.h"
#include "tcport/peer/peer_wire.h"

static void *arena_alloc(void *data, size_t size)
{
    struct peer_arena *a = data;
    void **blk;

    size = (size + 15) & ~(size_t)15;
    if (size <= a->cap - a->used) {
        void *p = a->buf + a->used;

        a->used += size;
        return p;
    }
    /* 16 bytes of header keep the block's payload as aligned as malloc's. */
    blk = malloc(16 + size);
    if (blk == NULL)
        return NULL;
    *blk = a->extra;
    a->extra = blk;
    a->extra_bytes += size;
    return (uint8_t *)blk + 16;
}

static void arena_free(void *data, void *ptr)
{
    /* Everything goes at once in arena_reset(). */
    (void)data;
    (void)ptr;
}

static void arena_drop_extra(struct peer_arena *a)
{
    while (a->extra != NULL) {
        void **blk = a->extra;

        a->extra = *blk;
        free(blk);
    }
}

/* Drop what the last frame used; grow the buffer when it did not fit. */
static void arena_reset(struct peer_arena *a)
{
    size_t want = a->cap;

    arena_drop_extra(a);
    if (a->cap == 0)
        want = PEER_ARENA_MIN;
    while (want < a->cap + a->extra_bytes && want < PEER_ARENA_MAX)
        want *= 2;
    if (want != a->cap) {
        free(a->buf);
        a->buf = malloc(want);
        a->cap = a->buf != NULL ? want : 0;
    }
    a->used = 0;
    a->extra_bytes = 0;
}

void peer__arena_free(struct peer_arena *a)
{
    arena_drop_extra(a);
    free(a->buf);
    a->buf = NULL;
    a->cap = 0;
}

Tc__Peer__Msg *peer_arena_decode(struct peer_arena *a, const uint8_t *data, size_t len,
                                 bool *in_arena)
{
    Tc__Peer__Msg *m;

    *in_arena = false;
    if (a->busy)
        return peer_wire_decode(data, len);
    if (a->buf == NULL)
        arena_reset(a);
    a->alloc.alloc = arena_alloc;
    a->alloc.free = arena_free;
    a->alloc.allocator_data = a;
    m = tc__peer__msg__unpack(&a->alloc, len, data);
    if (m == NULL) {
        arena_reset(a);
        return NULL;
    }
    a->busy = *in_arena = true;
    return m;
}

void peer__arena_release(struct peer_arena *a, Tc__Peer__Msg *m, bool in_arena)
{
    if (!in_arena) {
        peer_wire_free(m);
        return;
    }
    arena_reset(a);
    a->busy = false;
}
