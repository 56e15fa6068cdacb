/* The peer handshake (DESIGN §4: peers prove they hold the cluster secret
 * before their state is accepted): who says hello, protocol version,
 * direction, the HMAC proof over both nonces, and the switch of an
 * authenticated session into its link. Loop thread only. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "server/base/log.h"
#include "server/config/config.h"
#include "tcport/peer/peer_int.h"
#include "tcport/peer/peer_net.h"
#include "tcport/peer/peer_wire.h"

/* Copy a name from the network for a log line: printable, bounded. */
const char *peer__clean(const char *in, char *buf, size_t size)
{
    size_t i = 0;

    for (; in != NULL && in[i] != '\0' && i + 1 < size; i++)
        buf[i] = (in[i] > ' ' && in[i] < 0x7f && in[i] != '"') ? in[i] : '?';
    buf[i] = '\0';
    return buf;
}

static int find_link(const struct peers *p, const char *name)
{
    for (unsigned i = 0; i < p->n_links; i++) {
        if (strcmp(p->links[i].name, name) == 0)
            return (int)i;
    }
    return -1;
}

/* Refuse the peer: count, log once, tell it why, close. */
static void refuse(struct peer_session *s, Tc__Peer__ErrorCode code, const char *why, bool auth)
{
    char line[160];

    if (auth)
        s->p->auth_failures++;
    peer__send_error(s, code, why);
    snprintf(line, sizeof(line), "refused: %s", why);
    if (s->dialed && auth)
        s->p->links[s->link].backoff_ms = PEER_AUTH_BACKOFF_MS;
    peer__session_linger(s, WARN, line);
}

/* Check who says hello. Returns false when s was closed. */
static bool hello_from_ok(struct peer_session *s, const Tc__Peer__Hello *h)
{
    struct peers *p = s->p;
    char name[CONFIG_NAME_MAX], why[128];
    int idx = find_link(p, h->node != NULL ? h->node : "");

    if (idx < 0 || (s->dialed && idx != s->link)) {
        snprintf(why, sizeof(why), idx < 0 ? "unknown node \"%s\"" : "it answered as \"%s\"",
                 peer__clean(h->node, name, sizeof(name)));
        refuse(s, TC__PEER__ERROR_CODE__ERROR_UNKNOWN_NODE, why, true);
        return false;
    }
    if (!s->dialed) {
        s->link = idx;
        if (p->links[idx].dials) {
            peer__count_error(p, PEER_ERR_PROTOCOL);
            refuse(s, TC__PEER__ERROR_CODE__ERROR_DIRECTION,
                   "it dialed, but the node with the lower name dials", false);
            return false;
        }
        if (h->to != NULL && h->to[0] != '\0' && strcmp(h->to, p->cfg->name) != 0) {
            snprintf(why, sizeof(why), "it meant to reach \"%s\"",
                     peer__clean(h->to, name, sizeof(name)));
            refuse(s, TC__PEER__ERROR_CODE__ERROR_UNKNOWN_NODE, why, true);
            return false;
        }
    }
    return true;
}

void peer__on_hello(struct peer_session *s, const Tc__Peer__Hello *h, size_t len)
{
    struct peers *p = s->p;
    Tc__Peer__Auth a = TC__PEER__AUTH__INIT;
    Tc__Peer__Msg m = TC__PEER__MSG__INIT;
    uint8_t mac[PEER_MAC_LEN];
    char why[128];

    if (s->got_hello || s->state == PEER_AUTHED) {
        peer__protocol_error(s, "second hello");
        return;
    }
    if (h->proto_major != PEER_PROTO_MAJOR) {
        peer__count_error(p, PEER_ERR_VERSION);
        snprintf(why, sizeof(why), "protocol version %u.%u, this node speaks %u.%u", h->proto_major,
                 h->proto_minor, PEER_PROTO_MAJOR, PEER_PROTO_MINOR);
        refuse(s, TC__PEER__ERROR_CODE__ERROR_VERSION, why, false);
        return;
    }
    if (!hello_from_ok(s, h))
        return;
    if (!s->dialed) {
        /* Counted now that the Hello named the link. */
        p->links[s->link].rx_msgs++;
        p->links[s->link].rx_bytes += len + PEER_FRAME_HDR;
    }
    if (h->nonce.len != PEER_NONCE_LEN) {
        peer__protocol_error(s, "hello without a nonce");
        return;
    }
    memcpy(s->peer_nonce, h->nonce.data, PEER_NONCE_LEN);
    s->peer_minor = h->proto_minor;
    s->got_hello = true;
    s->hello_ms = peer_now_ms();
    if (peer_wire_mac(p->secret, p->secret_len, p->cfg->name, peer__session_name(s), s->peer_nonce,
                      s->nonce, mac) != 0) {
        peer__session_close(s, ERR, "refused: cannot compute the authentication proof");
        return;
    }
    a.mac.data = mac;
    a.mac.len = sizeof(mac);
    m.body_case = TC__PEER__MSG__BODY_AUTH;
    m.auth = &a;
    peer__session_send(s, &m);
}

static void authenticated(struct peer_session *s)
{
    struct peers *p = s->p;
    struct peer_link *l = &p->links[s->link];
    struct peer_session *old = l->s;

    s->state = PEER_AUTHED;
    p->n_pending--;
    if (old != NULL) {
        /* A peer that restarted faster than its old connection died. */
        l->s = NULL;
        peer__session_close(old, NOTICE, "old connection replaced by a new one");
    }
    l->s = s;
    l->dialing = s->dialed;
    l->backoff_ms = PEER_DIAL_MIN_MS;
    s->sync_rx_started_ms = peer_now_ms();
    tc_log(INFO, "peer %s: authenticated, connection %s %s; exchanging snapshots", l->name,
           s->dialed ? "to" : "from", peer_conn_remote(s->conn));
    /* A peer of the resync by difference says what it holds first; an
     * older one gets the whole table at once, as it expects. */
    if (s->peer_minor >= PEER_MINOR_RESYNC)
        peer__cover_request(s, 0);
    else
        peer__sync_start(s, NULL);
}

void peer__on_auth(struct peer_session *s, const Tc__Peer__Auth *a)
{
    struct peers *p = s->p;

    if (!s->got_hello || s->state == PEER_AUTHED) {
        peer__protocol_error(s, "auth out of order");
        return;
    }
    if (!peer_wire_mac_ok(p->secret, p->secret_len, peer__session_name(s), p->cfg->name, s->nonce,
                          s->peer_nonce, a->mac.data, a->mac.len)) {
        refuse(s, TC__PEER__ERROR_CODE__ERROR_AUTH, "wrong cluster secret", true);
        return;
    }
    authenticated(s);
}
