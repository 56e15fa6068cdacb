#include "tcport/peer/peer_wire.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "server/core/core.h"
#include "tcport/challenge.h"

#define PEER_AUTH_LABEL "tcluster-peer-auth-v1"

long peer_wire_frame(struct tc_buf *out, const Tc__Peer__Msg *m)
{
    size_t len = tc__peer__msg__get_packed_size(m);
    uint8_t *p;

    if (len > UINT32_MAX - PEER_FRAME_HDR || tc_buf_reserve(out, len + PEER_FRAME_HDR) != 0)
        return -ENOMEM;
    p = (uint8_t *)out->data + out->len;
    p[0] = (uint8_t)(len >> 24);
    p[1] = (uint8_t)(len >> 16);
    p[2] = (uint8_t)(len >> 8);
    p[3] = (uint8_t)len;
    tc__peer__msg__pack(m, p + PEER_FRAME_HDR);
    out->len += len + PEER_FRAME_HDR;
    out->data[out->len] = '\0';
    return (long)(len + PEER_FRAME_HDR);
}

Tc__Peer__Msg *peer_wire_decode(const uint8_t *data, size_t len)
{
    return tc__peer__msg__unpack(NULL, len, data);
}

void peer_wire_free(Tc__Peer__Msg *m)
{
    if (m != NULL)
        tc__peer__msg__free_unpacked(m, NULL);
}

void peer_wire_claim_fill(struct peer_wire_claim *w, const struct dn_table *t,
                          const struct peer_claim *c)
{
    tc__peer__claim__init(&w->pb);
    tc__version__init(&w->ver);
    dn_key_format(c->dn, w->dn, sizeof(w->dn));
    w->pb.dn = w->dn;
    /* The generated structs want char *; the names are only read. */
    w->pb.owner = (char *)dn_table_node_name(t, c->owner);
    w->pb.source = (Tc__Source)c->source;
    w->ver.hlc = c->version.hlc;
    w->ver.node = (char *)dn_table_node_name(t, c->version.node);
    w->pb.version = &w->ver;
    w->pb.since_unix_ms = c->since_ms;
    w->pb.origin_seq = c->seq;
}

void peer_wire_entry_fill(struct peer_wire_claim *w, const struct dn_table *t,
                          const struct dn_entry *e)
{
    struct peer_claim c = {
            .dn = e->key,
            .owner = e->owner,
            .source = (enum dn_source)e->source,
            .version = {.hlc = e->hlc, .node = e->vnode},
            .since_ms = e->since_ms,
            .seq = 0,
    };

    peer_wire_claim_fill(w, t, &c);
}

/* Copy s (NULL: empty) into buf, cut to fit. */
static char *copy_cut(char *buf, size_t size, const char *s)
{
    snprintf(buf, size, "%s", s != NULL ? s : "");
    return buf;
}

void peer_wire_call_fill(struct peer_wire_call *w, const struct dn_table *t,
                         const struct core_call *call)
{
    tc__peer__call__init(&w->pb);
    w->dn[0] = '\0';
    if (call->dn != DN_KEY_NONE)
        dn_key_format(call->dn, w->dn, sizeof(w->dn));
    w->pb.call_id = copy_cut(w->call_id, sizeof(w->call_id), call->call_id);
    w->pb.dn = w->dn;
    w->pb.code = call->code;
    w->pb.outcome = copy_cut(w->outcome, sizeof(w->outcome), call->outcome);
    /* The generated struct wants char *; the name is only read. */
    w->pb.target = (char *)dn_table_node_name(t, call->target);
    w->pb.contact = copy_cut(w->contact, sizeof(w->contact), call->contact);
    w->pb.other_dn = copy_cut(w->other_dn, sizeof(w->other_dn), call->other_dn);
    w->pb.outbound = call->outbound;
    w->pb.time_unix_ms = call->time_ms;
}

/* s (NULL: empty) has at most max bytes. */
static bool len_ok(const char *s, size_t max)
{
    return s == NULL || strnlen(s, max + 1) <= max;
}

/* NULL for an empty string, as struct core_call wants. */
static const char *or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : NULL;
}

int peer_wire_call_parse(const struct dn_table *t, const Tc__Peer__Call *pb, struct core_call *out)
{
    const char *dn = pb->dn != NULL ? pb->dn : "";
    const char *target = pb->target != NULL ? pb->target : "";

    memset(out, 0, sizeof(*out));
    if (pb->code < 100 || pb->code > 699 || !len_ok(pb->call_id, PEER_CALL_ID_MAX) ||
        !len_ok(pb->outcome, PEER_CALL_LABEL_MAX) || !len_ok(pb->contact, PEER_CALL_CONTACT_MAX) ||
        !len_ok(pb->other_dn, PEER_CALL_LABEL_MAX))
        return -EINVAL;
    out->dn = DN_KEY_NONE;
    if (dn[0] != '\0' && dn_key_parse(dn, strlen(dn), &out->dn) != 0)
        return -EINVAL;
    out->target = DN_NODE_NONE;
    if (target[0] != '\0') {
        out->target = dn_table_node_id(t, target);
        if (out->target == DN_NODE_NONE)
            return -ENOENT;
    }
    out->call_id = pb->call_id != NULL ? pb->call_id : "";
    out->code = (uint16_t)pb->code;
    out->outcome = pb->outcome != NULL ? pb->outcome : "";
    out->contact = or_null(pb->contact);
    out->other_dn = or_null(pb->other_dn);
    out->outbound = pb->outbound;
    out->time_ms = pb->time_unix_ms;
    return 0;
}

static size_t varint_len(size_t v)
{
    size_t n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t peer_wire_claim_size(const Tc__Peer__Claim *pb)
{
    size_t body = tc__peer__claim__get_packed_size(pb);

    return 1 + varint_len(body) + body;
}

int peer_wire_claim_parse(const struct dn_table *t, const Tc__Peer__Claim *pb,
                          struct peer_claim *out)
{
    const char *owner = pb->owner != NULL ? pb->owner : "";

    if (pb->dn == NULL || dn_key_parse(pb->dn, strlen(pb->dn), &out->dn) != 0)
        return -EINVAL;
    if (pb->version == NULL || pb->version->node == NULL || pb->version->node[0] == '\0' ||
        pb->version->hlc == 0)
        return -EINVAL;
    if (pb->source != TC__SOURCE__SOURCE_NONE && pb->source != TC__SOURCE__SOURCE_SIP &&
        pb->source != TC__SOURCE__SOURCE_TLIB)
        return -EINVAL;
    out->owner = DN_NODE_NONE;
    if (owner[0] != '\0') {
        out->owner = dn_table_node_id(t, owner);
        if (out->owner == DN_NODE_NONE)
            return -ENOENT;
    }
    out->version.hlc = pb->version->hlc;
    out->version.node = dn_table_node_id(t, pb->version->node);
    if (out->version.node == DN_NODE_NONE)
        return -ENOENT;
    out->source = (enum dn_source)pb->source;
    out->since_ms = pb->since_unix_ms;
    out->seq = pb->origin_seq;
    return 0;
}

int peer_wire_mac(const void *secret, size_t secret_len, const char *from, const char *to,
                  const uint8_t challenge[PEER_NONCE_LEN], const uint8_t own_nonce[PEER_NONCE_LEN],
                  uint8_t out[PEER_MAC_LEN])
{
    return challenge_mac(PEER_AUTH_LABEL, secret, secret_len, from, to, challenge, own_nonce, out);
}

bool peer_wire_mac_ok(const void *secret, size_t secret_len, const char *from, const char *to,
                      const uint8_t challenge[PEER_NONCE_LEN],
                      const uint8_t own_nonce[PEER_NONCE_LEN], const uint8_t *mac, size_t len)
{
    return challenge_mac_ok(PEER_AUTH_LABEL, secret, secret_len, from, to, challenge, own_nonce,
                            mac, len);
}
