/* Replication between nodes (tcport/peer.h): the links' setup, the events
 * from nng, the core's changes going out, timers and metrics. Loop thread
 * only.
 *
 * One connection per pair: the node whose name sorts lower dials, the
 * other accepts on peer-listen; a connection the wrong way round is
 * refused. The protocol is in proto/peer.proto, its wire form in
 * peer_wire.c, the state machine in peer_link.c, claims and snapshots in
 * peer_sync.c, the nng glue in peer_net.c and peer_conn.c. */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/base/log.h"
#include "server/base/tc_err.h"
#include "server/config/config_secret.h"
#include "server/core/core.h"
#include "tcport/peer/peer.h"
#include "tcport/peer/peer_int.h"
#include "tcport/peer/peer_net.h"

static struct peer_session *session_of(struct peers *p, const struct peer_conn *c)
{
    for (struct peer_session *s = p->sessions; s != NULL; s = s->next) {
        if (s->conn == c)
            return s;
    }
    return NULL;
}

static const char *const refusal_names[PEER_REFUSED_COUNT] = {
        [PEER_REFUSED_PENDING] = "pending_full",
        [PEER_REFUSED_SOURCE] = "per_source",
        [PEER_REFUSED_KNOWN] = "known_full",
        [PEER_REFUSED_HANDSHAKE] = "handshake_timeout",
};

static bool is_peer_address(const struct peers *p, const char *host)
{
    for (unsigned i = 0; i < p->n_links; i++) {
        if (strcmp(p->links[i].addr.host, host) == 0)
            return true;
    }
    return false;
}

/* May a connection from host wait for its handshake? The pre-auth slots
 * are shared by all sources, PEER_PENDING_SOURCE each at most, and
 * PEER_PENDING_KNOWN more are kept for the configured peers' addresses,
 * so no one holding the shared slots keeps a peer's redial out. Returns
 * PEER_REFUSED_COUNT (admitted), or why not. */
static enum peer_refusal admit(const struct peers *p, const char *host, bool known)
{
    unsigned shared = 0, kept = 0, same = 0;

    for (const struct peer_session *s = p->sessions; s != NULL; s = s->next) {
        if (s->dialed || s->state != PEER_HELLO)
            continue;
        if (s->known)
            kept++;
        else
            shared++;
        if (strcmp(s->source, host) == 0)
            same++;
    }
    if (same >= PEER_PENDING_SOURCE)
        return PEER_REFUSED_SOURCE;
    if (known)
        return kept >= PEER_PENDING_KNOWN ? PEER_REFUSED_KNOWN : PEER_REFUSED_COUNT;
    return shared >= PEER_MAX_PENDING ? PEER_REFUSED_PENDING : PEER_REFUSED_COUNT;
}

static void on_accepted(struct peers *p, struct peer_ev *ev)
{
    struct peer_session *s;
    struct peer_conn *c;
    char host[sizeof(s->source)];
    enum peer_refusal why;
    bool known;

    peer_net_stream_host(ev->stream, host, sizeof(host));
    known = is_peer_address(p, host);
    why = admit(p, host, known);
    if (why != PEER_REFUSED_COUNT) {
        p->refused[why]++;
        peer__count_error(p, PEER_ERR_CONNECTIONS);
        tc_log_limited(WARN, "peer-listen: unauthenticated connection from %s refused: %s", host,
                       refusal_names[why]);
        return; /* the stream is closed with ev */
    }
    c = peer_net_conn(p->net, ev->stream);
    ev->stream = NULL; /* taken */
    s = c != NULL ? peer__session_open(p, c, -1) : NULL;
    if (s != NULL) {
        s->known = known;
        snprintf(s->source, sizeof(s->source), "%s", host);
    }
}

static void on_dialed(struct peers *p, struct peer_ev *ev)
{
    struct peer_link *l = &p->links[ev->tag];
    struct peer_conn *c;

    if (ev->rc != 0) {
        tc_log(DEBUG, "peer %s: dial: %s", l->name, tc_strerror(ev->rc));
        l->dialing = false;
        l->next_dial_ms = peer_now_ms() + l->backoff_ms;
        l->backoff_ms = l->backoff_ms * 2 > PEER_DIAL_MAX_MS ? PEER_DIAL_MAX_MS : l->backoff_ms * 2;
        return;
    }
    c = peer_net_conn(p->net, ev->stream);
    ev->stream = NULL;
    if (c == NULL || peer__session_open(p, c, ev->tag) == NULL) {
        l->dialing = false;
        l->next_dial_ms = peer_now_ms() + PEER_DIAL_MAX_MS;
    }
}

static void on_conn_failed(struct peer_session *s, struct peer_ev *ev)
{
    struct peers *p = s->p;
    char line[160];

    switch (ev->type) {
    case PEER_EV_TOOBIG:
        peer__count_error(p, PEER_ERR_FRAME);
        snprintf(line, sizeof(line), "link reset: frame of %zu bytes over the bound of %u", ev->len,
                 p->max_frame);
        peer__session_close(s, WARN, line);
        break;
    case PEER_EV_FLOOD:
        peer__count_error(p, PEER_ERR_FLOOD);
        snprintf(line, sizeof(line), "link reset: flooding (over %u frames or %u bytes waiting)",
                 PEER_RX_MAX_FRAMES, PEER_RX_MAX_BYTES);
        peer__session_close(s, WARN, line);
        break;
    default:
        snprintf(line, sizeof(line), "%s: %s",
                 s->state == PEER_AUTHED ? "link down" : "connection lost",
                 ev->rc == -ESHUTDOWN || ev->rc == -EPIPE ? "connection closed"
                                                          : tc_strerror(ev->rc));
        peer__session_close(s, s->state == PEER_AUTHED ? NOTICE : INFO, line);
        break;
    }
}

static int on_net_event(void *arg, struct peer_ev *ev, struct peer_conn *c)
{
    struct peers *p = arg;
    struct peer_session *s;

    if (ev->type == PEER_EV_ACCEPTED) {
        on_accepted(p, ev);
        return 0;
    }
    if (ev->type == PEER_EV_ACCEPT_ERR) {
        if (ev->rc != -ESHUTDOWN) {
            tc_log(WARN, "peer-listen: accept: %s", tc_strerror(ev->rc));
            p->accept_failed = true;
            peer__retry(p, 100);
        }
        return 0;
    }
    if (ev->type == PEER_EV_DIALED) {
        on_dialed(p, ev);
        return 0;
    }
    s = c != NULL ? session_of(p, c) : NULL;
    if (s == NULL)
        return 0;
    switch (ev->type) {
    case PEER_EV_FRAME:
        if (peer__session_frame(s, ev->data, ev->len) == -EAGAIN) {
            peer__retry(p, PEER_RETRY_MS);
            return -EAGAIN;
        }
        return 0;
    case PEER_EV_SENT:
        peer__session_sent(s);
        return 0;
    default:
        on_conn_failed(s, ev);
        return 0;
    }
}

static void on_tick(uv_timer_t *h)
{
    struct peers *p = h->data;
    uint64_t now = peer_now_ms();
    struct peer_session *next;

    for (struct peer_session *s = p->sessions; s != NULL; s = next) {
        next = s->next; /* s may close */
        peer__session_tick(s, now);
    }
    tc_log_limited_flush();
    peer__cover_tick(p, now);
    for (unsigned i = 0; i < p->n_links; i++) {
        struct peer_link *l = &p->links[i];
        uint32_t timeout = p->cfg->link_timeout_ms > 1000 ? p->cfg->link_timeout_ms : 1000;

        if (l->dials && !l->dialing && l->s == NULL && now >= l->next_dial_ms) {
            l->dialing = true;
            peer_net_dial(p->net, (int)i, timeout);
        }
    }
}

static void on_retry(uv_timer_t *h)
{
    struct peers *p = h->data;

    peer_net_kick(p->net);
    if (p->accept_failed) {
        p->accept_failed = false;
        peer_net_accept(p->net);
    }
    for (struct peer_session *s = p->sessions; s != NULL; s = s->next) {
        if (s->state == PEER_AUTHED)
            peer__sync_pump(s);
    }
}

void peer__retry(struct peers *p, uint64_t ms)
{
    if (!p->stopping && !uv_is_active((uv_handle_t *)&p->retry))
        uv_timer_start(&p->retry, on_retry, ms, 0);
}

/* Live claims and call events leave once per loop turn, batched. */
static void on_flush(uv_check_t *h)
{
    struct peers *p = h->data;

    for (unsigned i = 0; i < p->n_links; i++) {
        if (p->links[i].s != NULL) {
            peer__session_flush_claims(p->links[i].s);
            peer_conn_flush(p->links[i].s->conn);
        }
    }
    uv_check_stop(h);
    p->flush_on = false;
}

static int pending_add(struct peer_pending *q, const struct peer_claim *c)
{
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        struct peer_claim *v = realloc(q->v, cap * sizeof(*v));

        if (v == NULL)
            return -ENOMEM;
        q->v = v;
        q->cap = cap;
    }
    q->v[q->n++] = *c;
    return 0;
}

/* The core published a change: this node's own decisions go to every
 * authenticated peer. Link-state changes and peers' decisions carry
 * another node's version and are not relayed (snapshots carry them). */
static void on_change(void *arg, const struct dn_change *ch, uint64_t seq)
{
    struct peers *p = arg;
    struct peer_claim c = {
            .dn = ch->key,
            .owner = ch->owner,
            .source = ch->source,
            .version = ch->version,
            .since_ms = ch->since_ms,
    };

    (void)seq;
    if (ch->version.node != DN_NODE_SELF)
        return;
    /* Durable: this node's decisions up to it are all here. */
    peer__cover_raise(p, DN_NODE_SELF, ch->version.hlc);
    for (unsigned i = 0; i < p->n_links; i++) {
        struct peer_session *s = p->links[i].s;

        if (s == NULL)
            continue;
        c.seq = ++s->tx_seq;
        if (pending_add(&s->pending, &c) != 0)
            peer__count_error(p, PEER_ERR_OVERFLOW); /* a gap: the peer resyncs */
    }
    if (!p->flush_on) {
        p->flush_on = true;
        uv_check_start(&p->flush, on_flush);
    }
}

/* The core published a call decision: this node's own go to every peer
 * whose link is up, best effort; a peer's (received here) go nowhere. */
static void on_call(void *arg, const struct core_call *call, uint64_t seq)
{
    struct peers *p = arg;

    (void)seq;
    if (call->origin != DN_NODE_SELF)
        return;
    for (unsigned i = 0; i < p->n_links; i++) {
        if (p->links[i].up && p->links[i].s != NULL)
            peer__session_send_call(p->links[i].s, call);
    }
    if (!p->flush_on) {
        p->flush_on = true;
        uv_check_start(&p->flush, on_flush);
    }
}

/* Read the cluster secret: the file's bytes, trailing white space
 * dropped. Returns 0 or a negative errno (logged). */
static int read_secret(struct peers *p, const char *path)
{
    const char *why, *warn;
    int rc = config_secret_read(path, p->secret, sizeof(p->secret), &p->secret_len, &why, &warn);

    if (rc != 0)
        tc_log(ERR, "cluster-secret-file %s: %s", path != NULL ? path : "(unset)",
               why != NULL ? why : tc_strerror(rc));
    else if (warn != NULL)
        tc_log(WARN, "cluster-secret-file %s: %s", path, warn);
    return rc;
}

static int setup_links(struct peers *p)
{
    const struct config *cfg = p->cfg;
    char buf[96];
    int rc;

    for (unsigned i = 0; i < cfg->n_peers; i++) {
        struct peer_link *l = &p->links[i];

        snprintf(l->name, sizeof(l->name), "%s", cfg->peers[i].name);
        l->node = dn_table_node_id(p->core->table, l->name);
        l->addr = cfg->peers[i].address;
        l->dials = strcmp(cfg->name, l->name) < 0;
        l->backoff_ms = PEER_DIAL_MIN_MS;
        if (l->node == DN_NODE_NONE) {
            tc_log(ERR, "peer %s: not in the DN table", l->name);
            return -EINVAL;
        }
        if (l->dials) {
            rc = peer_net_dialer(p->net, (int)i, &l->addr);
            if (rc != 0) {
                tc_log(ERR, "peer %s: address %s: %s", l->name,
                       config_addr_str(&l->addr, buf, sizeof(buf)), tc_strerror(rc));
                return rc;
            }
        }
    }
    p->n_links = cfg->n_peers;
    return 0;
}

static void on_handle_closed(uv_handle_t *h)
{
    struct peers *p = h->data;

    if (--p->open_handles == 0) {
        peer__arena_free(&p->arena);
        OPENSSL_cleanse(p->secret, sizeof(p->secret));
        free(p);
    }
}

static void close_handles(struct peers *p)
{
    uv_close((uv_handle_t *)&p->tick, on_handle_closed);
    uv_close((uv_handle_t *)&p->retry, on_handle_closed);
    uv_close((uv_handle_t *)&p->flush, on_handle_closed);
}

static int start_net(struct peers *p)
{
    struct peer_net_options o = {
            .max_frame = p->max_frame,
            .rx_max_frames = PEER_RX_MAX_FRAMES,
            .rx_max_bytes = PEER_RX_MAX_BYTES,
            .handler = on_net_event,
            .arg = p,
    };
    char buf[96];
    int rc = peer_net_init(&p->net, p->loop, &o);

    if (rc != 0) {
        tc_log(ERR, "peers: %s", tc_strerror(rc));
        return rc;
    }
    rc = setup_links(p);
    if (rc != 0)
        return rc;
    peer__cover_init(p);
    rc = peer_net_listen(p->net, &p->cfg->peer_listen);
    if (rc != 0)
        tc_log(ERR, "peer-listen %s: %s", config_addr_str(&p->cfg->peer_listen, buf, sizeof(buf)),
               tc_strerror(rc));
    return rc;
}

int peers_start(struct peers **out, uv_loop_t *loop, const struct config *cfg, struct core *core)
{
    struct core_listener cl = {.on_change = on_change, .on_call = on_call, .arg = NULL};
    struct peers *p;
    char buf[96];
    uint32_t hb;
    int rc;

    *out = NULL;
    if (cfg->n_peers == 0)
        return 0; /* a cluster of one: nothing to replicate, no port to open */
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    p->loop = loop;
    p->cfg = cfg;
    p->core = core;
    p->max_frame = cfg->limits.max_frame > PEER_FRAME_MIN ? cfg->limits.max_frame : PEER_FRAME_MIN;
    metrics_histogram_init(&p->delay, metrics_latency_bounds, metrics_latency_n_bounds);
    /* The tick bounds how late a dead link is noticed past link-timeout: a
     * tenth of the timeout, at most 25 ms (the target is 50 ms; the check
     * only compares two times). */
    hb = cfg->heartbeat_interval_ms / 2 < cfg->link_timeout_ms / 10 ? cfg->heartbeat_interval_ms / 2
                                                                    : cfg->link_timeout_ms / 10;
    p->tick_ms = hb < 10 ? 10 : hb > 25 ? 25 : hb;
    uv_timer_init(loop, &p->tick);
    uv_timer_init(loop, &p->retry);
    uv_check_init(loop, &p->flush);
    p->tick.data = p->retry.data = p->flush.data = p;
    p->open_handles = 3;
    rc = read_secret(p, cfg->cluster_secret_file);
    if (rc == 0)
        rc = start_net(p);
    cl.arg = p;
    if (rc == 0)
        rc = core_listen(core, &cl);
    if (rc != 0) {
        p->stopping = true;
        if (p->net != NULL)
            peer_net_free(p->net);
        close_handles(p);
        return rc;
    }
    uv_timer_start(&p->tick, on_tick, 0, p->tick_ms);
    tc_log(INFO, "peers: %u configured; peer-listen %s", p->n_links,
           config_addr_str(&cfg->peer_listen, buf, sizeof(buf)));
    *out = p;
    return 0;
}

void peers_stop(struct peers *p)
{
    if (p == NULL)
        return;
    p->stopping = true;
    core_unlisten(p->core, p);
    peer__cover_stop(p);
    /* Shutting down is not a link failure: no link-down, no takeover. */
    for (unsigned i = 0; i < p->n_links; i++)
        p->links[i].s = NULL;
    while (p->sessions != NULL)
        peer__session_close(p->sessions, DEBUG, "node stopping");
    peer_net_free(p->net);
    p->net = NULL;
    close_handles(p);
}

static int metric_pair(struct tc_buf *b, const char *name, const char *peer, uint64_t rx,
                       uint64_t tx)
{
    char labels[96];
    int rc = 0;

    snprintf(labels, sizeof(labels), "peer=\"%s\",dir=\"rx\"", peer);
    rc |= metrics_sample_u64(b, name, labels, rx);
    snprintf(labels, sizeof(labels), "peer=\"%s\",dir=\"tx\"", peer);
    rc |= metrics_sample_u64(b, name, labels, tx);
    return rc;
}

static int render_links(const struct peers *p, struct tc_buf *b)
{
    char labels[64];
    int rc = 0;

    rc |= metrics_header(b, "tcluster_peer_link_up", "gauge",
                         "1 when the link to the peer is authenticated and its snapshot applied");
    for (unsigned i = 0; i < p->n_links; i++) {
        /* Node names are [A-Za-z0-9_.-]: nothing to escape. */
        snprintf(labels, sizeof(labels), "peer=\"%s\"", p->links[i].name);
        rc |= metrics_sample_u64(b, "tcluster_peer_link_up", labels, p->links[i].up);
    }
    rc |= metrics_header(b, "tcluster_peer_messages_total", "counter", "frames exchanged with peers");
    for (unsigned i = 0; i < p->n_links; i++)
        rc |= metric_pair(b, "tcluster_peer_messages_total", p->links[i].name, p->links[i].rx_msgs,
                          p->links[i].tx_msgs);
    rc |= metrics_header(b, "tcluster_peer_bytes_total", "counter",
                         "bytes exchanged with peers, framing included");
    for (unsigned i = 0; i < p->n_links; i++)
        rc |= metric_pair(b, "tcluster_peer_bytes_total", p->links[i].name, p->links[i].rx_bytes,
                          p->links[i].tx_bytes);
    rc |= metrics_header(b, "tcluster_peer_claims_total", "counter",
                         "claims and releases exchanged with peers, snapshots included");
    for (unsigned i = 0; i < p->n_links; i++)
        rc |= metric_pair(b, "tcluster_peer_claims_total", p->links[i].name, p->links[i].rx_claims,
                          p->links[i].tx_claims);
    return rc;
}

static int render_calls(const struct peers *p, struct tc_buf *b)
{
    char labels[64];
    int rc = 0;

    rc |= metrics_header(b, "tcluster_peer_calls_total", "counter",
                         "call events exchanged with peers (rx: the peer's decisions)");
    for (unsigned i = 0; i < p->n_links; i++)
        rc |= metric_pair(b, "tcluster_peer_calls_total", p->links[i].name, p->links[i].rx_calls,
                          p->links[i].tx_calls);
    rc |= metrics_header(b, "tcluster_peer_calls_dropped_total", "counter",
                         "call events of this node not sent: the peer's send backlog was full");
    for (unsigned i = 0; i < p->n_links; i++) {
        snprintf(labels, sizeof(labels), "peer=\"%s\"", p->links[i].name);
        rc |= metrics_sample_u64(b, "tcluster_peer_calls_dropped_total", labels,
                                 p->links[i].calls_dropped);
    }
    return rc;
}

int peers_metrics(const struct peers *p, struct tc_buf *b)
{
    char labels[64];
    int rc = render_links(p, b) | render_calls(p, b);

    rc |= metrics_header(b, "tcluster_peer_auth_failures_total", "counter",
                         "peer connections refused: wrong cluster secret or unknown node");
    rc |= metrics_sample_u64(b, "tcluster_peer_auth_failures_total", NULL, p->auth_failures);
    rc |= metrics_header(b, "tcluster_peer_errors_total", "counter",
                         "peer link errors by reason (most reset the link)");
    for (int e = 0; e < PEER_ERR_COUNT; e++) {
        snprintf(labels, sizeof(labels), "reason=\"%s\"", peer_err_names[e]);
        rc |= metrics_sample_u64(b, "tcluster_peer_errors_total", labels, p->errors[e]);
    }
    rc |= metrics_header(b, "tcluster_peer_refused_total", "counter",
                         "peer connections refused or closed before authenticating, by reason");
    for (int r = 0; r < PEER_REFUSED_COUNT; r++) {
        snprintf(labels, sizeof(labels), "reason=\"%s\"", refusal_names[r]);
        rc |= metrics_sample_u64(b, "tcluster_peer_refused_total", labels, p->refused[r]);
    }
    rc |= metrics_header(b, "tcluster_peer_resyncs_total", "counter", "peer snapshots received whole");
    rc |= metrics_sample_u64(b, "tcluster_peer_resyncs_total", NULL, p->resyncs);
    rc |= metrics_header(b, "tcluster_peer_resync_entries_total", "counter",
                         "snapshot entries exchanged with peers, by kind: difference (only "
                         "what the receiver lacked) or full (the whole table)");
    for (int d = 0; d < 2; d++) {
        for (int k = 0; k < PEER_RESYNC_KINDS; k++) {
            snprintf(labels, sizeof(labels), "dir=\"%s\",kind=\"%s\"", d ? "tx" : "rx",
                     k == PEER_RESYNC_DIFFERENCE ? "difference" : "full");
            rc |= metrics_sample_u64(b, "tcluster_peer_resync_entries_total", labels,
                                     p->resync_entries[d][k]);
        }
    }
    rc |= metrics_histogram_render(b, "tcluster_peer_replication_delay_seconds",
                                   "from a peer sending its own claims to their application here "
                                   "(wall clocks of both nodes)",
                                   &p->delay);
    return rc ? -ENOMEM : 0;
}
