#include "server/core/record_wire.h"

#include <errno.h>
#include <string.h>

/* Wire types (protobuf encoding). */
#define WT_VARINT 0
#define WT_I64    1
#define WT_LEN    2
#define WT_I32    5

/* An absent string field: "", as protobuf-c gives. */
static const struct wire_str empty = {"", 0};

struct reader {
    const uint8_t *p, *end;
};

/* One field: its number, wire type and value (varint or the bytes). */
struct field {
    uint32_t num;
    unsigned type;
    uint64_t v;
    const uint8_t *bytes;
    size_t len;
};

static int read_varint(struct reader *r, uint64_t *out)
{
    uint64_t v = 0;

    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (r->p == r->end)
            return -EINVAL;
        v |= (uint64_t)(*r->p & 0x7f) << shift;
        if ((*r->p++ & 0x80) == 0) {
            *out = v;
            return 0;
        }
    }
    return -EINVAL;
}

/* The next field, or 1 at the end. Returns 0, 1 or -EINVAL. */
static int next_field(struct reader *r, struct field *f)
{
    uint64_t tag;

    if (r->p == r->end)
        return 1;
    if (read_varint(r, &tag) != 0 || (tag >> 3) == 0 || (tag >> 3) > UINT32_MAX)
        return -EINVAL;
    f->num = (uint32_t)(tag >> 3);
    f->type = (unsigned)(tag & 7);
    switch (f->type) {
    case WT_VARINT:
        return read_varint(r, &f->v);
    case WT_I64:
    case WT_I32:
        f->len = f->type == WT_I64 ? 8 : 4;
        if ((size_t)(r->end - r->p) < f->len)
            return -EINVAL;
        r->p += f->len;
        return 0;
    case WT_LEN:
        if (read_varint(r, &f->v) != 0 || f->v > (uint64_t)(r->end - r->p))
            return -EINVAL;
        f->bytes = r->p;
        f->len = (size_t)f->v;
        r->p += f->len;
        return 0;
    default: /* groups: protobuf-c refuses them too */
        return -EINVAL;
    }
}

/* A string field; up to its first NUL. */
static int get_str(const struct field *f, struct wire_str *s)
{
    const char *nul;

    if (f->type != WT_LEN)
        return -EINVAL;
    s->p = f->len > 0 ? (const char *)f->bytes : "";
    nul = memchr(s->p, '\0', f->len);
    s->len = nul != NULL ? (size_t)(nul - s->p) : f->len;
    return 0;
}

static int get_u64(const struct field *f, uint64_t *v)
{
    if (f->type != WT_VARINT)
        return -EINVAL;
    *v = f->v;
    return 0;
}

int binding_wire_decode(const void *buf, size_t len, struct binding_wire *out)
{
    struct reader r = {buf, (const uint8_t *)buf + len};
    struct field f;
    uint64_t v = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    out->dn = out->contact = out->call_id = out->received = out->transport = out->params = empty;
    while ((rc = next_field(&r, &f)) == 0) {
        switch (f.num) {
        case 1:
            rc = get_str(&f, &out->dn);
            break;
        case 2:
            rc = get_str(&f, &out->contact);
            break;
        case 3:
            rc = get_str(&f, &out->call_id);
            break;
        case 4:
            rc = get_u64(&f, &v);
            out->cseq = (uint32_t)v;
            break;
        case 5:
            rc = get_u64(&f, &out->expires_unix_ms);
            break;
        case 6:
            rc = get_str(&f, &out->received);
            break;
        case 7:
            rc = get_str(&f, &out->transport);
            break;
        case 8:
            rc = get_u64(&f, &out->registered_unix_ms);
            break;
        case 9:
            rc = get_str(&f, &out->params);
            break;
        default:
            break;
        }
        if (rc != 0)
            return -EINVAL;
    }
    return rc == 1 ? 0 : -EINVAL;
}

/* The Version message inside a DnRecord; a later one merges into it. */
static int version_decode(const struct field *vf, struct dn_record_wire *out)
{
    struct reader r = {vf->bytes, vf->bytes + vf->len};
    struct field f;
    int rc;

    if (vf->type != WT_LEN)
        return -EINVAL;
    out->has_version = true;
    while ((rc = next_field(&r, &f)) == 0) {
        if (f.num == 1)
            rc = get_u64(&f, &out->hlc);
        else if (f.num == 2)
            rc = get_str(&f, &out->version_node);
        if (rc != 0)
            return -EINVAL;
    }
    return rc == 1 ? 0 : -EINVAL;
}

int dn_record_wire_decode(const void *buf, size_t len, struct dn_record_wire *out)
{
    struct reader r = {buf, (const uint8_t *)buf + len};
    struct field f;
    uint64_t v = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    out->dn = out->owner = out->version_node = empty;
    while ((rc = next_field(&r, &f)) == 0) {
        switch (f.num) {
        case 1:
            rc = get_str(&f, &out->dn);
            break;
        case 2:
            rc = get_str(&f, &out->owner);
            break;
        case 3:
            rc = get_u64(&f, &v);
            out->source = (int32_t)v;
            break;
        case 4:
            rc = version_decode(&f, out);
            break;
        case 5:
            rc = get_u64(&f, &out->since_unix_ms);
            break;
        default:
            break;
        }
        if (rc != 0)
            return -EINVAL;
    }
    return rc == 1 ? 0 : -EINVAL;
}
