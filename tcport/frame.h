#ifndef TC_TCPORT_FRAME_H
#define TC_TCPORT_FRAME_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "server/base/buf.h"

/* The framing of every client port (DESIGN §5): a 4-byte big-endian length,
 * then that many bytes holding one protobuf message. Pure functions, any
 * thread; shared by the node's ports and the client library. */

#define FRAME_HEADER      4
#define FRAME_DEFAULT_MAX 65536

enum frame_result {
    FRAME_MORE = 0, /* no complete frame yet */
    FRAME_READY,    /* one frame: *payload, *plen; it took FRAME_HEADER + *plen bytes */
};

/* Look for one frame at the start of buf (len bytes). Returns FRAME_MORE,
 * FRAME_READY, or -EMSGSIZE when the announced length is over max (the
 * connection cannot go on: there is no way to find the next frame). The
 * payload points into buf. */
int frame_next(const uint8_t *buf, size_t len, uint32_t max, const uint8_t **payload,
               uint32_t *plen);

/* Append m, framed, to b. Returns 0, -EMSGSIZE when it would be over
 * UINT32_MAX bytes, or -ENOMEM. */
int frame_pack(struct tc_buf *b, const ProtobufCMessage *m);

#endif
