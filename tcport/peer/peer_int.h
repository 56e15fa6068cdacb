#ifndef TC_TCPORT_PEER_PEER_INT_H
#define TC_TCPORT_PEER_PEER_INT_H

/* Private to tcport/peer*.c: the state of the peer links, shared by the
 * module's entry points (peer.c), the link state machine (peer_link.c) and
 * claims and snapshots (peer_sync.c); the wire form is peer_wire.h, the
 * nng side peer_net.h. Loop thread only. */

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "server/base/metrics.h"
#include "server/config/config.h"
#include "tcport/peer/peer_wire.h"

struct core;
struct core_call;
struct peer_net;
struct peer_conn;

#define PEER_SYNC_WINDOW     8     /* snapshot chunks sent and not yet acknowledged */
#define PEER_SYNC_CHUNK_MAX  4000  /* claims per chunk at most (max-frame bounds it too) */
#define PEER_SYNC_SCAN_MAX   65536 /* table entries a snapshot walk looks at per loop turn */
#define PEER_BATCH_MAX       500   /* live claims per Claims frame at most */
#define PEER_FRAME_MIN       4096  /* peer frames may be this long even if max-frame is less */
#define PEER_RX_MAX_FRAMES   65536 /* frames waiting for the loop per connection */
#define PEER_RX_MAX_BYTES    (64u << 20)
#define PEER_TX_SOFT         (8u << 20)  /* backlog past which live claims are dropped (gap) */
#define PEER_TX_HARD         (32u << 20) /* backlog past which the link is reset */
#define PEER_MAX_PENDING     16          /* connections not yet authenticated */
#define PEER_PENDING_SOURCE  4           /* of them from one source address */
#define PEER_PENDING_KNOWN   8           /* kept for the configured peers' addresses */
#define PEER_HANDSHAKE_MS    2000        /* an accepted connection authenticates this fast */
#define PEER_AUTH_BACKOFF_MS 5000        /* a refused peer is dialed again this late */
#define PEER_DIAL_MIN_MS     50
#define PEER_DIAL_MAX_MS     1000
#define PEER_STORE_SPARE     16    /* store queue room kept past a frame's claims (own decisions) */
#define PEER_RETRY_MS        5     /* wait for the store before applying more */
#define PEER_LINGER_MS       1000  /* a refused connection is closed this late at most */
#define PEER_HELLO_WAIT_MS   10000 /* a dialed peer that never answered is waited for this long */
#define PEER_ARENA_MIN       (512u << 10) /* decoded-frame memory kept between frames */
#define PEER_ARENA_MAX       (16u << 20)  /* and at most this much */

enum peer_err {
    PEER_ERR_DECODE = 0,  /* undecodable frame */
    PEER_ERR_FRAME,       /* frame over the bound */
    PEER_ERR_PROTOCOL,    /* unexpected message */
    PEER_ERR_VERSION,     /* protocol major version */
    PEER_ERR_FLOOD,       /* inbound queue full */
    PEER_ERR_OVERFLOW,    /* outbound backlog over the bound */
    PEER_ERR_TIMEOUT,     /* no traffic for link-timeout, or handshake too slow */
    PEER_ERR_GAP,         /* origin_seq gap */
    PEER_ERR_CLAIM,       /* malformed claim, or one naming an unknown node */
    PEER_ERR_STORE,       /* the store refused a change */
    PEER_ERR_CONNECTIONS, /* too many unauthenticated connections */
    PEER_ERR_CALL,        /* malformed call event (ignored; the link stays) */
    PEER_ERR_UNKNOWN,     /* a message of a newer minor version (ignored) */
    PEER_ERR_COUNT,
};

/* Why an accepted connection was refused or closed before authenticating
 * (tcluster_peer_refused_total{reason}). */
enum peer_refusal {
    PEER_REFUSED_PENDING = 0, /* the shared pre-auth slots are full */
    PEER_REFUSED_SOURCE,      /* its source holds PEER_PENDING_SOURCE already */
    PEER_REFUSED_KNOWN,       /* the slots kept for configured peers are full */
    PEER_REFUSED_HANDSHAKE,   /* no authentication within the handshake deadline */
    PEER_REFUSED_COUNT,
};

/* A live claim waiting for the end of the loop turn. */
struct peer_pending {
    struct peer_claim *v;
    size_t n, cap;
};

/* Kinds of snapshot (tcluster_peer_resync_entries_total{kind}). */
enum peer_resync_kind {
    PEER_RESYNC_FULL = 0,   /* the whole table */
    PEER_RESYNC_DIFFERENCE, /* only what the asker lacked (peer_cover.c) */
    PEER_RESYNC_KINDS,
};

/* A snapshot being sent: a walk over the DN table's entries. */
struct peer_sync_tx {
    bool active;
    enum peer_resync_kind kind;
    /* Entries go out when their version is past want[version's node]
     * (zeros: every entry). */
    uint64_t want[DN_TABLE_NODES];
    /* This node's coverage when the walk began, for the SyncEnd; cover_ok
     * false when it may no longer hold (peer_cover.c). */
    uint64_t covered[DN_TABLE_NODES];
    bool cover_ok;
    uint64_t clears;    /* peers->cover_clears when the walk began */
    const void *ranges; /* the directory's ranges when the walk began */
    uint64_t n_dns;
    size_t pos;           /* dn_table_next() cursor */
    uint32_t sent, acked; /* chunk numbers */
    uint64_t entries;
    uint64_t started_ms;
    struct peer_wire_claim *buf; /* PEER_SYNC_CHUNK_MAX, while active */
};

enum peer_state {
    PEER_HELLO = 0, /* Hello sent; waiting for the other's Hello and Auth */
    PEER_AUTHED,    /* both proved the secret; snapshots under way or done */
    PEER_LINGER,    /* refused: closes once its Error is written */
};

/* One connection and the protocol spoken on it. */
struct peer_session {
    struct peer_session *next; /* in peers->sessions */
    struct peers *p;
    struct peer_conn *conn;
    int link; /* index in peers->links; -1 until the Hello names it */
    bool dialed;
    bool known;      /* accepted from a configured peer's address (kept slots) */
    char source[48]; /* the remote address of an accepted one, no port */
    enum peer_state state;
    bool got_hello;
    uint8_t nonce[PEER_NONCE_LEN], peer_nonce[PEER_NONCE_LEN];
    uint64_t opened_ms, last_hb_ms, linger_ms;
    uint64_t hello_ms;       /* when the peer's Hello came */
    uint32_t peer_minor;     /* the proto_minor of the peer's Hello */
    uint64_t tx_seq, rx_seq; /* live claims sent, received in order */
    uint64_t sync_rx_entries, sync_rx_applied, sync_rx_started_ms;
    bool cover_live;     /* the peer's live claims raise its coverage (peer_cover.c) */
    uint64_t req_clears; /* peers->cover_clears when this node last asked for a snapshot */
    struct peer_sync_tx sync;
    struct peer_pending pending;
};

/* Memory for one decoded frame: protobuf-c allocates each claim, string
 * and version of a frame separately; from here that is a pointer bump,
 * and all of it goes at once when the frame is done. */
struct peer_arena {
    ProtobufCAllocator alloc; /* hands out from this arena */
    uint8_t *buf;
    size_t cap, used;
    void *extra;        /* blocks past buf, for this frame only */
    size_t extra_bytes; /* their size: buf grows by it for the next frame */
    bool busy;          /* a frame decoded into it is being handled */
};

/* One configured peer. */
struct peer_link {
    char name[CONFIG_NAME_MAX];
    uint16_t node; /* id in the DN table */
    struct config_addr addr;
    bool dials;             /* our name is lower: we dial */
    bool dialing;           /* a dial or a dialed session is under way */
    struct peer_session *s; /* the authenticated session, or NULL */
    bool up;                /* as told to the core */
    uint32_t backoff_ms;
    uint64_t next_dial_ms;
    uint64_t rx_msgs, tx_msgs, rx_bytes, tx_bytes, rx_claims, tx_claims;
    uint64_t rx_calls, tx_calls;
    uint64_t calls_dropped; /* this node's call events not sent: backlog over PEER_TX_SOFT */
    bool synced_run;        /* a snapshot of the peer's ended in this run (peer_cover.c) */
};

struct peers {
    uv_loop_t *loop;
    const struct config *cfg;
    struct core *core;
    struct peer_net *net;
    struct peer_link links[CONFIG_MAX_PEERS];
    unsigned n_links;
    struct peer_session *sessions;
    unsigned n_pending; /* sessions not authenticated */
    uint8_t secret[PEER_SECRET_MAX];
    size_t secret_len;
    uint32_t max_frame;
    uint32_t tick_ms;
    uv_timer_t tick;  /* heartbeats, timeouts, dials */
    uv_timer_t retry; /* the store had no room: drain again soon */
    uv_check_t flush; /* live claims go out at the end of the loop turn */
    bool flush_on;
    bool accept_failed;
    int open_handles;
    bool stopping;

    struct peer_arena arena;

    /* The resync by difference (peer_cover.c). */
    uint64_t cover[DN_TABLE_NODES]; /* per node id: its decisions held here up to this version */
    uint64_t self_floor;            /* cover[self] as stored when this run began */
    uint64_t cover_rollbacks;       /* core->rollbacks when last looked at */
    const void *cover_ranges;       /* the directory when last looked at */
    uint64_t cover_n_dns;
    uint64_t cover_clears; /* times it was cleared */
    bool cover_dirty;      /* changed since stored */
    uint64_t cover_saved_ms;
    uint64_t resync_entries[2][PEER_RESYNC_KINDS]; /* [0 rx, 1 tx][kind] */

    uint64_t auth_failures, resyncs;
    uint64_t errors[PEER_ERR_COUNT];
    uint64_t refused[PEER_REFUSED_COUNT];
    struct metrics_histogram delay;
};

extern const char *const peer_err_names[PEER_ERR_COUNT];

/* peer.c */

/* Drain the net queue and pump every snapshot again in ms. */
void peer__retry(struct peers *p, uint64_t ms);

/* peer_link.c */

/* Open a session on conn (dialed: for link). Returns it or NULL (-ENOMEM;
 * conn closed). */
struct peer_session *peer__session_open(struct peers *p, struct peer_conn *conn, int link);

/* Close s with a log line at level and reason; if it carried a link, the
 * link goes down. */
void peer__session_close(struct peer_session *s, int level, const char *reason);

/* Everything queued on s's connection was written. */
void peer__session_sent(struct peer_session *s);

/* Handle one frame. Returns 0, or -EAGAIN when the store has no room yet
 * (call again with the same frame). May close s. */
int peer__session_frame(struct peer_session *s, const uint8_t *data, size_t len);

/* Append m as a frame to s's connection, count it and start sending.
 * Returns 0 or -ENOMEM. */
int peer__session_send(struct peer_session *s, const Tc__Peer__Msg *m);

/* The same without starting the send: the caller (or the loop turn's
 * flush, on_flush in peer.c) calls peer_conn_flush() later, so the frames
 * of one loop turn leave in one write. */
int peer__session_queue(struct peer_session *s, const Tc__Peer__Msg *m);

/* Send an Error frame to s's peer (best effort). */
void peer__send_error(struct peer_session *s, Tc__Peer__ErrorCode code, const char *text);

/* Stop reading from s, flush what is queued (an Error frame), then close
 * it with reason logged at level. */
void peer__session_linger(struct peer_session *s, int level, const char *reason);

/* The peer broke the protocol: count it, tell it what, close the link. */
void peer__protocol_error(struct peer_session *s, const char *what);

/* Copy a name or text from the network into buf for a log line:
 * printable, bounded, no quotes. Returns buf. */
const char *peer__clean(const char *in, char *buf, size_t size);

/* peer_handshake.c: a Hello (len: its frame's bytes, counted once the
 * Hello names the link) and an Auth from s's peer. Either may close s. */
void peer__on_hello(struct peer_session *s, const Tc__Peer__Hello *h, size_t len);
void peer__on_auth(struct peer_session *s, const Tc__Peer__Auth *a);

/* Heartbeats and timeouts, every tick. */
void peer__session_tick(struct peer_session *s, uint64_t now);

/* The session's link name for log lines ("?" before the Hello). */
const char *peer__session_name(const struct peer_session *s);

/* Count an error by reason. */
void peer__count_error(struct peers *p, enum peer_err e);

/* peer_call.c */

/* Queue this node's call decision for the peer of s, unless the peer's
 * protocol predates Call or its send backlog is over PEER_TX_SOFT (then
 * dropped and counted: calls are best effort). The loop turn's flush sends
 * it with the others of that turn. */
void peer__session_send_call(struct peer_session *s, const struct core_call *call);

/* A Call from s's peer (authenticated): publish it into the core with
 * that peer as origin; a malformed one is counted and ignored. */
void peer__call_received(struct peer_session *s, const Tc__Peer__Call *pb);

/* peer_arena.c */

/* Decode a frame body into the arena, or with malloc should a frame be
 * decoded while another one is still handled; *in_arena tells which. NULL:
 * undecodable. */
Tc__Peer__Msg *peer_arena_decode(struct peer_arena *a, const uint8_t *data, size_t len,
                                 bool *in_arena);

/* Done with m from peer_arena_decode(). */
void peer__arena_release(struct peer_arena *a, Tc__Peer__Msg *m, bool in_arena);

/* Free what the decoding arena holds. */
void peer__arena_free(struct peer_arena *a);

/* peer_cover.c */

/* Load the stored coverage; after the core's restore. */
void peer__cover_init(struct peers *p);

/* Clear the coverage (the next resyncs are whole) when a change may have
 * left the table since (the store refused one, the directory was
 * reloaded). Returns false when it was cleared. */
bool peer__cover_check(struct peers *p);

/* Clear the coverage, logging why, and store that. */
void peer__cover_clear(struct peers *p, const char *why);

/* Node's decisions up to hlc are held here. */
void peer__cover_raise(struct peers *p, uint16_t node, uint64_t hlc);

/* Every tick: check, and store the coverage when it changed. */
void peer__cover_tick(struct peers *p, uint64_t now);

/* At stop: store what changed. */
void peer__cover_stop(struct peers *p);

/* v as Cover messages (names borrowed from the table), zeros left out but
 * this node's own with with_self. Returns their number. */
size_t peer__cover_wire(const struct peers *p, const uint64_t v[DN_TABLE_NODES], bool with_self,
                        Tc__Cover buf[DN_TABLE_NODES], Tc__Cover *ptrs[DN_TABLE_NODES]);

/* Cover messages from the wire into out, per node id; names this node
 * does not know are left out. */
void peer__cover_parse(const struct peers *p, Tc__Cover *const *v, size_t n,
                       uint64_t out[DN_TABLE_NODES]);

/* Ask s's peer for a snapshot (after claim since_seq; 0 at link up): by
 * difference when it speaks PEER_MINOR_RESYNC and this node holds
 * anything it can vouch for, else whole. */
void peer__cover_request(struct peer_session *s, uint64_t since_seq);

/* s's peer's snapshot ended with e: take its coverage. */
void peer__cover_sync_end(struct peer_session *s, const Tc__Peer__SyncEnd *e);

/* peer_sync.c */

/* Wall clock in µs since the epoch. */
uint64_t peer_wall_us(void);

/* Send the claims waiting in s->pending, numbered already; past the send
 * backlog bound they are dropped, and the peer sees the gap. */
void peer__session_flush_claims(struct peer_session *s);

/* Begin (or begin again) sending a snapshot on s, as r asks (NULL: the
 * whole table, to a peer of an older minor). May close s (out of
 * memory). */
void peer__sync_start(struct peer_session *s, const Tc__Peer__SyncRequest *r);

/* Send snapshot chunks while the window and the connection allow. */
void peer__sync_pump(struct peer_session *s);

/* Free what a snapshot walk holds. */
void peer__sync_stop(struct peer_session *s);

/* True when the store can take n more changes now (or is empty: a frame
 * larger than the whole queue is applied as far as it goes). */
bool peer__sync_store_ready(const struct peers *p, size_t n);

/* Apply one claim received from s's peer. Returns 0 or a negative errno
 * for a claim to count as an error. */
int peer__sync_apply(struct peer_session *s, const Tc__Peer__Claim *pb, bool *applied);

#endif
