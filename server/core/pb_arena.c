#include "server/core/pb_arena.h"

#include <stdint.h>
#include <stdlib.h>

static void *arena_alloc(void *data, size_t size)
{
    struct pb_arena *a = data;
    void *p;
    size_t at = (a->used + _Alignof(max_align_t) - 1) & ~(size_t)(_Alignof(max_align_t) - 1);

    if (size <= sizeof(a->buf) && at <= sizeof(a->buf) - size) {
        a->used = at + size;
        return a->buf + at;
    }
    p = malloc(size);
    a->spilled += p != NULL;
    return p;
}

static void arena_free(void *data, void *p)
{
    struct pb_arena *a = data;
    uintptr_t u = (uintptr_t)p;

    if (p == NULL || (u >= (uintptr_t)a->buf && u < (uintptr_t)a->buf + sizeof(a->buf)))
        return;
    a->spilled--;
    free(p);
}

void pb_arena_free(struct pb_arena *a, ProtobufCMessage *msg)
{
    if (msg != NULL && a->spilled > 0)
        protobuf_c_message_free_unpacked(msg, &a->pb);
    a->used = 0;
}

void pb_arena_init(struct pb_arena *a)
{
    a->pb.alloc = arena_alloc;
    a->pb.free = arena_free;
    a->pb.allocator_data = a;
    a->used = 0;
    a->spilled = 0;
}
