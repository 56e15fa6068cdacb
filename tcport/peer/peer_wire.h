#ifndef TC_TCPORT_PEER_PEER_WIRE_H
#define TC_TCPORT_PEER_PEER_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/peer.pb-c.h"
#include "server/base/buf.h"
#include "server/core/dn_table.h"
#include "tcport/challenge.h"

/* The peer protocol's wire form (proto/peer.proto): frames, claims and the
 * authentication proof. Pure functions, no I/O; any thread, but the claim
 * helpers read the DN table's node names, so the loop thread only. */

#define PEER_PROTO_MAJOR  2 /* 2: sync chunks of up to 4000 claims */
#define PEER_PROTO_MINOR  2 /* 1: Call; unknown Msg members are ignored; 2: resync by difference */
#define PEER_MINOR_CALL   1 /* the minor that added Call */
#define PEER_MINOR_RESYNC 2 /* the minor that added SyncRequest have, SyncEnd covered */
#define PEER_NONCE_LEN    CHALLENGE_NONCE_LEN
#define PEER_MAC_LEN      CHALLENGE_MAC_LEN
#define PEER_FRAME_HDR    4
#define PEER_SECRET_MAX   CHALLENGE_SECRET_MAX /* bytes of cluster secret used */

/* Bounds of a Call's strings (proto/peer.proto Call), bytes without the
 * NUL: longer ones are cut when sent and refused when received. */
#define PEER_CALL_ID_MAX      256
#define PEER_CALL_CONTACT_MAX 512
#define PEER_CALL_LABEL_MAX   32 /* outcome, other_dn */

struct core_call;

/* One ownership decision in the loop's terms. */
struct peer_claim {
    dn_key dn;
    uint16_t owner; /* node id; DN_NODE_NONE for a release */
    enum dn_source source;
    struct tc_version version;
    uint64_t since_ms;
    uint64_t seq; /* origin_seq; 0 in a snapshot */
};

/* A Claim message with the storage its strings point to. Filled by
 * peer_wire_claim_fill(); node names are borrowed from the table. */
struct peer_wire_claim {
    Tc__Peer__Claim pb;
    Tc__Version ver;
    char dn[DN_DIR_MAX_DIGITS + 1];
};

/* Append one frame (length, then m packed) to out. Returns the number of
 * bytes appended, or -ENOMEM (out unchanged). */
long peer_wire_frame(struct tc_buf *out, const Tc__Peer__Msg *m);

/* Decode one frame body. Returns the message (free it with
 * peer_wire_free()) or NULL when it is not a valid Msg. */
Tc__Peer__Msg *peer_wire_decode(const uint8_t *data, size_t len);
void peer_wire_free(Tc__Peer__Msg *m);

/* Describe c as a Claim in w, names taken from t (borrowed: valid while
 * the table's node list is). */
void peer_wire_claim_fill(struct peer_wire_claim *w, const struct dn_table *t,
                          const struct peer_claim *c);

/* Same from a table entry (seq 0). */
void peer_wire_entry_fill(struct peer_wire_claim *w, const struct dn_table *t,
                          const struct dn_entry *e);

/* A Call message with the storage its strings point to, filled by
 * peer_wire_call_fill(): strings are copied (cut to the bounds above), the
 * target's name is borrowed from the table. */
struct peer_wire_call {
    Tc__Peer__Call pb;
    char call_id[PEER_CALL_ID_MAX + 1];
    char dn[DN_DIR_MAX_DIGITS + 1];
    char outcome[PEER_CALL_LABEL_MAX + 1];
    char contact[PEER_CALL_CONTACT_MAX + 1];
    char other_dn[PEER_CALL_LABEL_MAX + 1];
};

/* Describe call (borrowed for the call) as a Call in w. Loop thread (reads
 * the table's node names). */
void peer_wire_call_fill(struct peer_wire_call *w, const struct dn_table *t,
                         const struct core_call *call);

/* Read a Call off the wire into *out, the target resolved in t (the
 * receiver's own name gives DN_NODE_SELF); out's strings borrow pb's and
 * live as long as pb; out->origin is left for the caller (the sending
 * peer). Returns 0, -EINVAL when the DN, the code or a string's length is
 * malformed, or -ENOENT when the target is a node t does not know. */
int peer_wire_call_parse(const struct dn_table *t, const Tc__Peer__Call *pb, struct core_call *out);

/* Bytes a claim adds to a repeated Claim field (tag, length, body). */
size_t peer_wire_claim_size(const Tc__Peer__Claim *pb);

/* Read a Claim off the wire into *out, node names resolved in t. Returns
 * 0, -EINVAL when the DN, source or version is malformed, or -ENOENT when
 * it names a node this table does not know. */
int peer_wire_claim_parse(const struct dn_table *t, const Tc__Peer__Claim *pb,
                          struct peer_claim *out);

/* The proof that `from` holds the secret, for the connection where `to`
 * sent challenge and `from` sent own_nonce (see proto/peer.proto Auth):
 * challenge_mac() with the peer protocol's label. Returns 0, -EINVAL
 * (empty or over-long secret, names over 63 bytes) or -EIO. */
int peer_wire_mac(const void *secret, size_t secret_len, const char *from, const char *to,
                  const uint8_t challenge[PEER_NONCE_LEN], const uint8_t own_nonce[PEER_NONCE_LEN],
                  uint8_t out[PEER_MAC_LEN]);

/* True when mac (len bytes) is the proof from `from` to `to`; compares in
 * constant time. */
bool peer_wire_mac_ok(const void *secret, size_t secret_len, const char *from, const char *to,
                      const uint8_t challenge[PEER_NONCE_LEN],
                      const uint8_t own_nonce[PEER_NONCE_LEN], const uint8_t *mac, size_t len);

#endif
