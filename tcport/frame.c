#include "tcport/frame.h"

#include <errno.h>

int frame_next(const uint8_t *buf, size_t len, uint32_t max, const uint8_t **payload,
               uint32_t *plen)
{
    uint32_t n;

    if (len < FRAME_HEADER)
        return FRAME_MORE;
    n = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
    if (n > max)
        return -EMSGSIZE;
    if (len - FRAME_HEADER < n)
        return FRAME_MORE;
    *payload = buf + FRAME_HEADER;
    *plen = n;
    return FRAME_READY;
}

int frame_pack(struct tc_buf *b, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *p;
    int rc;

    if (n > UINT32_MAX)
        return -EMSGSIZE;
    rc = tc_buf_reserve(b, FRAME_HEADER + n);
    if (rc != 0)
        return rc;
    p = (uint8_t *)b->data + b->len;
    p[0] = (uint8_t)(n >> 24);
    p[1] = (uint8_t)(n >> 16);
    p[2] = (uint8_t)(n >> 8);
    p[3] = (uint8_t)n;
    protobuf_c_message_pack(m, p + FRAME_HEADER);
    b->len += FRAME_HEADER + n;
    b->data[b->len] = '\0';
    return 0;
}
