#include "server/core/pb_arena.h"

#include <stdint.h>
#include <stdlib.h>

static void *arena_alloc(void *data, size_t size)
{
    struct pb_arena *a = data;
    size_t at = (a->used + _Alignof(max_align_t) - 1) & ~(size_t)(_Alignof(max_align_t) - 1);

    if (size <= sizeof(a->buf) && at <= sizeof(a->buf) - size) {
        a->used = at + size;
        return a->buf + at;
    }
    return malloc(size);
}

static void arena_free(void *data, void *p)
{
    struct pb_arena *a = data;
    uintptr_t u = (uintptr_t)p;

    if (u >= (uintptr_t)a->buf && u < (uintptr_t)a->buf + sizeof(a->buf))
        return;
    free(p);
}

void pb_arena_init(struct pb_arena *a)
{
    a->pb.alloc = arena_alloc;
    a->pb.free = arena_free;
    a->pb.allocator_data = a;
    a->used = 0;
}
