#ifndef TC_SERVER_CORE_RECORD_WIRE_H
#define TC_SERVER_CORE_RECORD_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A reader of the two records a restore reads a million of (proto/
 * store.proto: Binding, DnRecord), straight from the protobuf wire format
 * into views of the stored bytes: protobuf-c's generic unpack cost a third
 * of a restart. It reads what protobuf-c reads: fields in any order, the
 * last occurrence of a field wins, unknown fields skipped, a string up to
 * its first NUL (as the C string protobuf-c gives would be read); a
 * truncated record, a known field of the wrong wire type or a group
 * is refused. Writing stays with protobuf-c; test_core checks both agree. */

/* Bytes inside the record (not NUL-terminated; no NUL inside); "" for an
 * absent field, never NULL. */
struct wire_str {
    const char *p;
    size_t len;
};

struct binding_wire {
    struct wire_str dn, contact, call_id, received, transport, params;
    uint32_t cseq;
    uint64_t expires_unix_ms, registered_unix_ms;
};

struct dn_record_wire {
    struct wire_str dn, owner, version_node;
    int32_t source;
    uint64_t hlc, since_unix_ms;
    bool has_version;
};

/* Fill *out from a serialized Binding. Returns 0 or -EINVAL. */
int binding_wire_decode(const void *buf, size_t len, struct binding_wire *out);

/* Fill *out from a serialized DnRecord. Returns 0 or -EINVAL. */
int dn_record_wire_decode(const void *buf, size_t len, struct dn_record_wire *out);

#endif
