/* libFuzzer target for the client ports' framing (tcport/frame.c) and the
 * Request decoder: cut the input as a byte stream into frames with a small
 * max, unpack each payload as a Request, pack what unpacked again with
 * frame_pack() and check the frame has the length it announces.
 *
 * Input: the stream as a client would send it. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "proto/tcport.pb-c.h"
#include "server/base/buf.h"
#include "tcport/frame.h"

#define FRAME_FUZZ_MAX 4096

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void repack(const Tc__Request *req)
{
    struct tc_buf b = TC_BUF_INIT;
    size_t n = tc__request__get_packed_size(req);

    if (frame_pack(&b, &req->base) != 0)
        abort();
    if (b.len != FRAME_HEADER + n || be32((const uint8_t *)b.data) != n)
        abort();
    /* Not checked: that the bytes unpack again. libprotobuf-c keeps an
     * unknown field with the over-long tag 80 00 (field 0), packs it as 00
     * and then refuses that; requests are never passed on as received. */
    tc_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    const uint8_t *payload;
    uint32_t plen;
    Tc__Request *req;
    int rc;

    for (;;) {
        payload = NULL;
        plen = 0;
        rc = frame_next(data + off, size - off, FRAME_FUZZ_MAX, &payload, &plen);
        if (rc == FRAME_MORE || rc == -EMSGSIZE)
            break;
        if (rc != FRAME_READY || plen > FRAME_FUZZ_MAX || payload != data + off + FRAME_HEADER ||
            plen > size - off - FRAME_HEADER || be32(data + off) != plen)
            abort();
        req = tc__request__unpack(NULL, plen, payload);
        if (req != NULL) {
            repack(req);
            tc__request__free_unpacked(req, NULL);
        }
        off += FRAME_HEADER + plen;
    }
    return 0;
}
