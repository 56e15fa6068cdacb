/* The link state machine: one session per connection, from Hello through
 * mutual authentication to the exchange of claims; heartbeats, timeouts,
 * and the link's up/down as the core sees it. Loop thread only. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/base/log.h"
#include "server/core/core.h"
#include "tcport/challenge.h"
#include "tcport/peer/peer_int.h"
#include "tcport/peer/peer_net.h"

const char *const peer_err_names[PEER_ERR_COUNT] = {
        [PEER_ERR_DECODE] = "decode",
        [PEER_ERR_FRAME] = "frame",
        [PEER_ERR_PROTOCOL] = "protocol",
        [PEER_ERR_VERSION] = "version",
        [PEER_ERR_FLOOD] = "flood",
        [PEER_ERR_OVERFLOW] = "overflow",
        [PEER_ERR_TIMEOUT] = "timeout",
        [PEER_ERR_GAP] = "gap",
        [PEER_ERR_CLAIM] = "claim",
        [PEER_ERR_STORE] = "store",
        [PEER_ERR_CONNECTIONS] = "connections",
        [PEER_ERR_CALL] = "call",
        [PEER_ERR_UNKNOWN] = "unknown_message",
};

void peer__count_error(struct peers *p, enum peer_err e)
{
    p->errors[e]++;
}

static struct peer_link *link_of(const struct peer_session *s)
{
    return s->link >= 0 ? &s->p->links[s->link] : NULL;
}

const char *peer__session_name(const struct peer_session *s)
{
    return s->link >= 0 ? s->p->links[s->link].name : "?";
}

int peer__session_queue(struct peer_session *s, const Tc__Peer__Msg *m)
{
    struct peer_link *l = link_of(s);
    long n = peer_wire_frame(peer_conn_out(s->conn), m);

    if (n < 0)
        return (int)n;
    if (l != NULL) {
        l->tx_msgs++;
        l->tx_bytes += (uint64_t)n;
    }
    return 0;
}

int peer__session_send(struct peer_session *s, const Tc__Peer__Msg *m)
{
    int rc = peer__session_queue(s, m);

    if (rc == 0)
        peer_conn_flush(s->conn);
    return rc;
}

void peer__send_error(struct peer_session *s, Tc__Peer__ErrorCode code, const char *text)
{
    Tc__Peer__Error e = TC__PEER__ERROR__INIT;
    Tc__Peer__Msg m = TC__PEER__MSG__INIT;

    e.code = code;
    e.text = (char *)text;
    m.body_case = TC__PEER__MSG__BODY_ERROR;
    m.error = &e;
    peer__session_send(s, &m);
}

static void send_hello(struct peer_session *s)
{
    const struct peers *p = s->p;
    Tc__Peer__Hello h = TC__PEER__HELLO__INIT;
    Tc__Peer__Msg m = TC__PEER__MSG__INIT;

    h.proto_major = PEER_PROTO_MAJOR;
    h.proto_minor = PEER_PROTO_MINOR;
    h.node = (char *)p->cfg->name;
    h.to = (char *)(s->link >= 0 ? p->links[s->link].name : "");
    h.nonce.data = s->nonce;
    h.nonce.len = PEER_NONCE_LEN;
    m.body_case = TC__PEER__MSG__BODY_HELLO;
    m.hello = &h;
    peer__session_send(s, &m);
}

struct peer_session *peer__session_open(struct peers *p, struct peer_conn *conn, int link)
{
    struct peer_session *s = calloc(1, sizeof(*s));

    if (s == NULL || challenge_nonce(s->nonce) != 0) {
        tc_log(ERR, "peer connection %s: cannot set up: out of memory or entropy",
               peer_conn_remote(conn));
        free(s);
        peer_conn_close(conn);
        return NULL;
    }
    s->p = p;
    s->conn = conn;
    s->link = link;
    s->dialed = link >= 0;
    s->opened_ms = s->last_hb_ms = peer_now_ms();
    s->next = p->sessions;
    p->sessions = s;
    p->n_pending++;
    if (s->dialed)
        tc_log(DEBUG, "peer %s: connection to %s", peer__session_name(s), peer_conn_remote(conn));
    else
        tc_log(DEBUG, "peer-listen: connection from %s, not authenticated yet",
               peer_conn_remote(conn));
    send_hello(s);
    return s;
}

/* The link lost its session: tell the core. */
static void link_down(struct peers *p, struct peer_link *l)
{
    l->s = NULL;
    if (l->up) {
        l->up = false;
        core_set_link(p->core, l->node, false);
    }
}

/* Everything closing does but closing the connection: log, the link goes
 * down, a dialer dials again later. */
static void detach(struct peer_session *s, int level, const char *reason)
{
    struct peers *p = s->p;
    struct peer_link *l = link_of(s);

    /* Before authentication anyone may cause these, once per connection.
     * A connection that dialed in and named a peer is not that peer's
     * link until it proves the secret: say whom it claims to be, never
     * "peer NAME:", which reads as the link's own state. */
    if (l != NULL && s->state == PEER_AUTHED)
        tc_log((enum tc_log_level)level, "peer %s: %s", l->name, reason);
    else if (l != NULL && s->dialed)
        tc_log_limited((enum tc_log_level)level, "peer %s: %s", l->name, reason);
    else if (l != NULL)
        tc_log_limited((enum tc_log_level)level,
                       "peer-listen: unauthenticated connection from %s, claiming to be %s: %s",
                       peer_conn_remote(s->conn), l->name, reason);
    else
        tc_log_limited((enum tc_log_level)level,
                       "peer-listen: unauthenticated connection from %s: %s",
                       peer_conn_remote(s->conn), reason);
    if (s->state != PEER_AUTHED)
        p->n_pending--;
    if (l != NULL && l->s == s)
        link_down(p, l);
    if (l != NULL && s->dialed) {
        l->dialing = false;
        l->next_dial_ms = peer_now_ms() + l->backoff_ms;
        l->backoff_ms = l->backoff_ms * 2 > PEER_DIAL_MAX_MS ? PEER_DIAL_MAX_MS : l->backoff_ms * 2;
    }
    peer__sync_stop(s);
    s->pending.n = 0;
}

static void destroy(struct peer_session *s)
{
    struct peers *p = s->p;

    for (struct peer_session **pp = &p->sessions; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    free(s->pending.v);
    peer_conn_close(s->conn);
    free(s);
}

void peer__session_close(struct peer_session *s, int level, const char *reason)
{
    if (s->state != PEER_LINGER)
        detach(s, level, reason);
    destroy(s);
}

/* Close s once what it still has to send (its Error) is written, or after
 * PEER_LINGER_MS. */
void peer__session_linger(struct peer_session *s, int level, const char *reason)
{
    detach(s, level, reason);
    s->state = PEER_LINGER;
    s->linger_ms = peer_now_ms();
    if (peer_conn_backlog(s->conn) == 0)
        destroy(s);
}

void peer__session_sent(struct peer_session *s)
{
    if (s->state == PEER_LINGER) {
        if (peer_conn_backlog(s->conn) == 0)
            destroy(s);
        return;
    }
    if (s->state == PEER_AUTHED)
        peer__sync_pump(s);
}

void peer__protocol_error(struct peer_session *s, const char *what)
{
    char line[160];

    peer__count_error(s->p, PEER_ERR_PROTOCOL);
    peer__send_error(s, TC__PEER__ERROR_CODE__ERROR_PROTOCOL, what);
    snprintf(line, sizeof(line), "link reset: protocol error: %s", what);
    peer__session_linger(s, WARN, line);
}

static void on_error(struct peer_session *s, const Tc__Peer__Error *e)
{
    char text[128], line[200];

    snprintf(line, sizeof(line), "refused by the peer: %s",
             peer__clean(e->text, text, sizeof(text)));
    if (s->dialed && e->code == TC__PEER__ERROR_CODE__ERROR_AUTH)
        s->p->links[s->link].backoff_ms = PEER_AUTH_BACKOFF_MS;
    peer__session_close(s, WARN, line);
}

/* Claims are numbered 1, 2, 3... per connection; a hole means some were
 * dropped on the way (the sender's backlog overflowed): ask for a
 * snapshot, which carries them. */
static void gap(struct peer_session *s, uint64_t got)
{
    peer__count_error(s->p, PEER_ERR_GAP);
    tc_log(WARN, "peer %s: claims %llu to %llu missing; asking for a snapshot",
           peer__session_name(s), (unsigned long long)s->rx_seq + 1, (unsigned long long)got - 1);
    peer__cover_request(s, s->rx_seq);
}

static void apply_all(struct peer_session *s, Tc__Peer__Claim **v, size_t n, bool live)
{
    struct peer_link *l = link_of(s);
    bool applied;

    for (size_t i = 0; i < n; i++) {
        if (live) {
            if (v[i]->origin_seq != s->rx_seq + 1 && v[i]->origin_seq > s->rx_seq)
                gap(s, v[i]->origin_seq);
            if (v[i]->origin_seq > s->rx_seq)
                s->rx_seq = v[i]->origin_seq;
        }
        applied = false;
        if (peer__sync_apply(s, v[i], &applied) != 0) {
            s->cover_live = false; /* not held here: covers nothing past it */
            continue;
        }
        /* The peer's own decisions, in order since its snapshot ended:
         * everything it decided up to this one is here (peer_cover.c). */
        if (live && s->cover_live && v[i]->version != NULL && v[i]->version->node != NULL &&
            strcmp(v[i]->version->node, l->name) == 0)
            peer__cover_raise(s->p, l->node, v[i]->version->hlc);
        l->rx_claims++;
        if (applied && !live)
            s->sync_rx_applied++;
    }
}

static void on_claims(struct peer_session *s, const Tc__Peer__Claims *c)
{
    uint64_t now = peer_wall_us();

    apply_all(s, c->claims, c->n_claims, true);
    if (c->sent_unix_us != 0 && now >= c->sent_unix_us)
        metrics_histogram_observe(&s->p->delay, (double)(now - c->sent_unix_us) / 1e6);
}

static void on_sync_chunk(struct peer_session *s, const Tc__Peer__SyncChunk *c)
{
    Tc__Peer__SyncAck a = TC__PEER__SYNC_ACK__INIT;
    Tc__Peer__Msg m = TC__PEER__MSG__INIT;

    if (s->sync_rx_entries == 0)
        s->sync_rx_started_ms = peer_now_ms();
    s->sync_rx_entries += c->n_claims;
    apply_all(s, c->claims, c->n_claims, false);
    a.chunk = c->chunk;
    m.body_case = TC__PEER__MSG__BODY_SYNC_ACK;
    m.sync_ack = &a;
    peer__session_send(s, &m);
}

static void on_sync_end(struct peer_session *s, const Tc__Peer__SyncEnd *e)
{
    struct peers *p = s->p;
    struct peer_link *l = link_of(s);

    p->resyncs++;
    p->resync_entries[0][e->by_difference ? PEER_RESYNC_DIFFERENCE : PEER_RESYNC_FULL] +=
            s->sync_rx_entries;
    peer__cover_sync_end(s, e);
    tc_log(INFO,
           "peer %s: %s snapshot received: %llu entries (%llu announced), %llu applied, %llu ms",
           peer__session_name(s), e->by_difference ? "difference" : "full",
           (unsigned long long)s->sync_rx_entries, (unsigned long long)e->entries,
           (unsigned long long)s->sync_rx_applied,
           (unsigned long long)(peer_now_ms() - s->sync_rx_started_ms));
    s->sync_rx_entries = s->sync_rx_applied = 0;
    if (!l->up && l->s == s) {
        l->up = true;
        core_set_link(p->core, l->node, true);
    }
}

static void on_heartbeat(struct peer_session *s, const Tc__Peer__Heartbeat *h)
{
    /* Claims lost at the end of a burst show up here. */
    if (h->tx_seq > s->rx_seq) {
        gap(s, h->tx_seq + 1);
        s->rx_seq = h->tx_seq;
    }
}

/* Messages after authentication. */
static void dispatch(struct peer_session *s, const Tc__Peer__Msg *m)
{
    switch (m->body_case) {
    case TC__PEER__MSG__BODY_HEARTBEAT:
        on_heartbeat(s, m->heartbeat);
        break;
    case TC__PEER__MSG__BODY_CLAIMS:
        if (m->claims->n_claims > PEER_BATCH_MAX)
            peer__protocol_error(s, "too many claims in one frame");
        else
            on_claims(s, m->claims);
        break;
    case TC__PEER__MSG__BODY_SYNC_REQUEST:
        tc_log(m->sync_request->since_seq != 0 ? NOTICE : INFO,
               "peer %s: asks for a snapshot %s after claim %llu", peer__session_name(s),
               m->sync_request->by_difference ? "by difference" : "of everything",
               (unsigned long long)m->sync_request->since_seq);
        peer__sync_start(s, m->sync_request);
        break;
    case TC__PEER__MSG__BODY_SYNC_CHUNK:
        if (m->sync_chunk->n_claims > PEER_SYNC_CHUNK_MAX)
            peer__protocol_error(s, "too many claims in one frame");
        else
            on_sync_chunk(s, m->sync_chunk);
        break;
    case TC__PEER__MSG__BODY_SYNC_ACK:
        if (m->sync_ack->chunk > s->sync.acked && m->sync_ack->chunk <= s->sync.sent)
            s->sync.acked = m->sync_ack->chunk;
        peer__sync_pump(s);
        break;
    case TC__PEER__MSG__BODY_SYNC_END:
        on_sync_end(s, m->sync_end);
        break;
    case TC__PEER__MSG__BODY_ERROR:
        on_error(s, m->error);
        break;
    case TC__PEER__MSG__BODY_CALL:
        peer__call_received(s, m->call);
        break;
    case TC__PEER__MSG__BODY__NOT_SET:
        /* A member of a newer minor version (protobuf-c keeps it among
         * the unknown fields): ignored, so minor versions can add
         * messages without resetting links. */
        peer__count_error(s->p, PEER_ERR_UNKNOWN);
        break;
    default:
        peer__protocol_error(s, "unexpected message");
        break;
    }
}

/* Changes m may ask the store for. */
static size_t store_changes(const Tc__Peer__Msg *m)
{
    if (m->body_case == TC__PEER__MSG__BODY_CLAIMS)
        return m->claims->n_claims;
    if (m->body_case == TC__PEER__MSG__BODY_SYNC_CHUNK)
        return m->sync_chunk->n_claims;
    return 0;
}

int peer__session_frame(struct peer_session *s, const uint8_t *data, size_t len)
{
    struct peers *p = s->p;
    struct peer_link *l;
    Tc__Peer__Msg *m;
    bool in_arena;

    if (s->state == PEER_LINGER)
        return 0;
    m = peer_arena_decode(&p->arena, data, len, &in_arena);
    if (m == NULL) {
        peer__count_error(p, PEER_ERR_DECODE);
        peer__send_error(s, TC__PEER__ERROR_CODE__ERROR_PROTOCOL, "undecodable frame");
        peer__session_linger(s, WARN, "link reset: undecodable frame");
        return 0;
    }
    if (s->state == PEER_AUTHED && store_changes(m) > 0 &&
        !peer__sync_store_ready(p, store_changes(m))) {
        peer__arena_release(&p->arena, m, in_arena);
        return -EAGAIN;
    }
    l = link_of(s);
    if (l != NULL) {
        l->rx_msgs++;
        l->rx_bytes += len + PEER_FRAME_HDR;
    }
    if (m->body_case == TC__PEER__MSG__BODY_HELLO)
        peer__on_hello(s, m->hello, len);
    else if (m->body_case == TC__PEER__MSG__BODY_AUTH)
        peer__on_auth(s, m->auth);
    else if (s->state == PEER_AUTHED)
        dispatch(s, m);
    else if (m->body_case == TC__PEER__MSG__BODY_ERROR)
        on_error(s, m->error);
    else
        peer__protocol_error(s, "message before authentication");
    peer__arena_release(&p->arena, m, in_arena);
    return 0;
}

static void send_heartbeat(struct peer_session *s, uint64_t now)
{
    Tc__Peer__Heartbeat h = TC__PEER__HEARTBEAT__INIT;
    Tc__Peer__Msg m = TC__PEER__MSG__INIT;

    /* Claims first, so tx_seq never runs ahead of what was sent. */
    peer__session_flush_claims(s);
    h.sent_unix_ms = peer_wall_us() / 1000;
    h.tx_seq = s->tx_seq;
    m.body_case = TC__PEER__MSG__BODY_HEARTBEAT;
    m.heartbeat = &h;
    peer__session_send(s, &m);
    s->last_hb_ms = now;
}

void peer__session_tick(struct peer_session *s, uint64_t now)
{
    const struct config *cfg = s->p->cfg;
    uint64_t last = peer_conn_last_rx(s->conn);
    uint32_t hs_timeout = cfg->link_timeout_ms > 1000 ? cfg->link_timeout_ms : 1000;
    char line[128];

    if (s->state == PEER_LINGER) {
        if (now - s->linger_ms > PEER_LINGER_MS)
            destroy(s);
        return;
    }
    if (s->state != PEER_AUTHED) {
        uint64_t since = s->opened_ms;

        /* A dialed peer whose kernel took the connection but which says
         * nothing is frozen (SIGSTOP, a long pause): keep the connection,
         * so it answers the moment it runs again, instead of closing and
         * dialing anew, which leaves gaps it might wake up in. Once its
         * Hello came, the rest of the handshake has the usual time. */
        if (s->dialed && !s->got_hello && hs_timeout < PEER_HELLO_WAIT_MS)
            hs_timeout = PEER_HELLO_WAIT_MS;
        else if (s->dialed && s->got_hello)
            since = s->hello_ms;
        /* Whoever dials in must be quick: a slot it holds idle is one a
         * real peer's redial may need. */
        if (!s->dialed && hs_timeout > PEER_HANDSHAKE_MS)
            hs_timeout = PEER_HANDSHAKE_MS;
        if (now - since > hs_timeout) {
            if (!s->dialed)
                s->p->refused[PEER_REFUSED_HANDSHAKE]++;
            /* Frozen, not gone: dial again at once, leaving it no gap. */
            if (s->dialed && !s->got_hello)
                s->p->links[s->link].backoff_ms = PEER_DIAL_MIN_MS;
            peer__count_error(s->p, PEER_ERR_TIMEOUT);
            snprintf(line, sizeof(line), "refused: no authentication within %u ms", hs_timeout);
            peer__session_close(s, WARN, line);
        }
        return;
    }
    if (now > last && now - last > cfg->link_timeout_ms) {
        peer__count_error(s->p, PEER_ERR_TIMEOUT);
        snprintf(line, sizeof(line), "link down: no traffic for %llu ms (link-timeout %u ms)",
                 (unsigned long long)(now - last), cfg->link_timeout_ms);
        peer__session_close(s, WARN, line);
        return;
    }
    if (peer_conn_backlog(s->conn) > PEER_TX_HARD) {
        peer__count_error(s->p, PEER_ERR_OVERFLOW);
        peer__session_close(s, WARN, "link reset: the peer does not read (send backlog full)");
        return;
    }
    if (now - s->last_hb_ms >= cfg->heartbeat_interval_ms)
        send_heartbeat(s, now);
}
