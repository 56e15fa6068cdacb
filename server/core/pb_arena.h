#ifndef TC_SERVER_CORE_PB_ARENA_H
#define TC_SERVER_CORE_PB_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

/* An allocator for protobuf-c's unpack of one small record at a time (a
 * restore reads a million of them): allocations come from a buffer inside
 * the arena and cost a pointer bump; what does not fit comes from malloc().
 * Unpack with &arena->pb, free the message with free_unpacked(msg,
 * &arena->pb) as usual (a no-op for the buffer's bytes), then
 * pb_arena_reset() before the next record. One thread. */

#define PB_ARENA_BYTES 2048

struct pb_arena {
    ProtobufCAllocator pb;
    size_t used;
    unsigned spilled; /* allocations from malloc() not yet freed */
    _Alignas(max_align_t) unsigned char buf[PB_ARENA_BYTES];
};

void pb_arena_init(struct pb_arena *a);

/* Free msg (unpacked with &a->pb; NULL is fine) and empty the arena for
 * the next record. */
void pb_arena_free(struct pb_arena *a, ProtobufCMessage *msg);

#endif
