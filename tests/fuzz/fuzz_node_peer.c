/* libFuzzer target: the peer protocol of a whole node (node_harness.h)
 * after the handshake, frames in, table changes out. The fuzzer plays the
 * configured peer sip1: it dials the node's peer port over TCP (the node's
 * nng side), takes the node's Hello, answers with its own, checks the
 * node's proof of the cluster secret and gives its own, acknowledges the
 * node's snapshot and ends its own empty one, so the link is up. Each
 * input is then a list of frame bodies, each prefixed by a 2-byte
 * big-endian length, handed one by one to the authenticated session's
 * frame handler (peer__session_frame, where nng's frames arrive on the
 * loop): claims, snapshots, heartbeats, calls, errors into the core and
 * the LMDB store. When a frame resets the link, the next input dials
 * again.
 *
 * Checks, beyond "no crash, no sanitizer report":
 * - every frame the node sends is whole and decodes as a peer Msg;
 * - a frame that does not decode resets the link (counted as a decode
 *   error), and the link then goes down with the DNs of sip1 OOS;
 * - no DN's version ever goes back, whatever the claims say;
 * - the table stays within the directory, its owners known, a DN InSrv
 *   exactly when its owner's link is up (fnode_check_bounds), and the
 *   decoding arena within its bound. */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/peer.pb-c.h"
#include "tcport/peer/peer_int.h"
#include "tests/fuzz/node_harness.h"

#define WAIT_MS   5000
#define RX_MAX    (8u << 20)
#define MAX_TRIES 1000 /* loop turns a frame may wait for the store */

static int fd = -1;
static uint8_t rx[RX_MAX];
static size_t rx_len;
static uint8_t their_nonce[PEER_NONCE_LEN];
static bool got_hello, got_auth;
static uint8_t my_nonce[PEER_NONCE_LEN] = {'f', 'u', 'z', 'z'};
static struct tc_version last[FNODE_DNS];

static struct peer_link *link_sip1(void)
{
    return &fnode.node.peers->links[0];
}

static void send_msg(const Tc__Peer__Msg *m)
{
    struct tc_buf b = TC_BUF_INIT;
    size_t off = 0;
    uint64_t deadline = uv_hrtime() + (uint64_t)WAIT_MS * 1000000;

    if (peer_wire_frame(&b, m) < 0)
        fnode_fail("peer_wire_frame");
    while (off < b.len) {
        ssize_t n = send(fd, b.data + off, b.len - off, MSG_NOSIGNAL);

        if (n > 0)
            off += (size_t)n;
        else if (errno != EAGAIN && errno != ENOTCONN && errno != EINTR)
            break; /* the node closed: the caller sees the link down */
        else
            fnode_step(fd, POLLOUT, 1);
        if (uv_hrtime() > deadline)
            fnode_fail("cannot send to the node's peer port");
    }
    tc_buf_free(&b);
}

/* What the node says to sip1: every frame must decode. The handshake
 * goes on from here, and snapshot chunks are acknowledged. */
static void on_node_msg(const Tc__Peer__Msg *m)
{
    Tc__Peer__Msg out = TC__PEER__MSG__INIT;

    switch (m->body_case) {
    case TC__PEER__MSG__BODY_HELLO: {
        Tc__Peer__Hello h = TC__PEER__HELLO__INIT;

        if (m->hello->nonce.len != PEER_NONCE_LEN || strcmp(m->hello->node, FNODE_SELF) != 0)
            fnode_fail("the node's Hello is not sip2's");
        memcpy(their_nonce, m->hello->nonce.data, PEER_NONCE_LEN);
        got_hello = true;
        h.proto_major = PEER_PROTO_MAJOR;
        h.proto_minor = PEER_PROTO_MINOR;
        h.node = FNODE_PEER;
        h.to = FNODE_SELF;
        h.nonce.data = my_nonce;
        h.nonce.len = sizeof(my_nonce);
        out.body_case = TC__PEER__MSG__BODY_HELLO;
        out.hello = &h;
        send_msg(&out);
        break;
    }
    case TC__PEER__MSG__BODY_AUTH: {
        Tc__Peer__Auth a = TC__PEER__AUTH__INIT;
        Tc__Peer__SyncEnd e = TC__PEER__SYNC_END__INIT;
        uint8_t mac[PEER_MAC_LEN];

        if (!got_hello ||
            !peer_wire_mac_ok(FNODE_SECRET, strlen(FNODE_SECRET), FNODE_SELF, FNODE_PEER, my_nonce,
                              their_nonce, m->auth->mac.data, m->auth->mac.len))
            fnode_fail("the node's proof of the secret does not verify");
        if (peer_wire_mac(FNODE_SECRET, strlen(FNODE_SECRET), FNODE_PEER, FNODE_SELF, their_nonce,
                          my_nonce, mac) != 0)
            fnode_fail("peer_wire_mac");
        a.mac.data = mac;
        a.mac.len = sizeof(mac);
        out.body_case = TC__PEER__MSG__BODY_AUTH;
        out.auth = &a;
        send_msg(&out);
        /* Ask for the node's snapshot (resync by difference: it waits
         * for our request), then ours: empty. */
        {
            Tc__Peer__SyncRequest r = TC__PEER__SYNC_REQUEST__INIT;

            out.body_case = TC__PEER__MSG__BODY_SYNC_REQUEST;
            out.sync_request = &r;
            send_msg(&out);
        }
        out.body_case = TC__PEER__MSG__BODY_SYNC_END;
        out.sync_end = &e;
        send_msg(&out);
        got_auth = true;
        break;
    }
    case TC__PEER__MSG__BODY_SYNC_CHUNK: {
        Tc__Peer__SyncAck a = TC__PEER__SYNC_ACK__INIT;

        a.chunk = m->sync_chunk->chunk;
        out.body_case = TC__PEER__MSG__BODY_SYNC_ACK;
        out.sync_ack = &a;
        send_msg(&out);
        break;
    }
    default:
        break;
    }
}

/* Read and check what the node sent; false once it closed. */
static bool node_read(void)
{
    bool open = true;
    size_t off = 0;

    for (;;) {
        ssize_t n = recv(fd, rx + rx_len, sizeof(rx) - rx_len, 0);

        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR && errno != ENOTCONN)) {
            open = false;
            break;
        }
        if (n < 0)
            break;
        rx_len += (size_t)n;
        if (rx_len == sizeof(rx))
            fnode_fail("a frame from the node over %u bytes", RX_MAX);
    }
    while (rx_len - off >= PEER_FRAME_HDR) {
        uint32_t len = (uint32_t)rx[off] << 24 | (uint32_t)rx[off + 1] << 16 |
                       (uint32_t)rx[off + 2] << 8 | rx[off + 3];
        Tc__Peer__Msg *m;

        if (len > RX_MAX - PEER_FRAME_HDR)
            fnode_fail("the node announced a frame of %u bytes", len);
        if (rx_len - off < PEER_FRAME_HDR + len)
            break;
        m = tc__peer__msg__unpack(NULL, len, rx + off + PEER_FRAME_HDR);
        if (m == NULL)
            fnode_fail("a frame of %u bytes from the node does not decode", len);
        off += PEER_FRAME_HDR + len;
        on_node_msg(m);
        tc__peer__msg__free_unpacked(m, NULL);
    }
    memmove(rx, rx + off, rx_len - off);
    rx_len -= off;
    return open;
}

/* Dial the node as sip1 and run the handshake until the link is up. */
static void link_up(void)
{
    uint64_t deadline = uv_hrtime() + (uint64_t)WAIT_MS * 1000000;

    if (fd >= 0)
        close(fd);
    fd = fnode_connect(fnode.peer_port);
    rx_len = 0;
    got_hello = got_auth = false;
    while (!link_sip1()->up || link_sip1()->s == NULL || !got_auth) {
        fnode_step(fd, POLLIN, 1);
        if (!node_read())
            fnode_fail("the node closed the peer connection during the handshake");
        if (uv_hrtime() > deadline)
            fnode_fail("the link did not come up within %d ms", WAIT_MS);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fnode_start();
    link_up();
    fnode_settle();
    return 0;
}

/* Hand one frame body to the session, waiting for the store if it asks. */
static void deliver(struct peer_session *s, const uint8_t *body, size_t len)
{
    for (int tries = 0; peer__session_frame(s, body, len) == -EAGAIN; tries++) {
        if (tries == MAX_TRIES)
            fnode_fail("a frame waited for the store for %d loop turns", MAX_TRIES);
        fnode_step(fd, POLLIN, 1);
        node_read();
    }
}

/* No version goes back; remember them for the next input. */
static void check_versions(void)
{
    const struct dn_table *t = &fnode.node.table;

    for (int i = 0; i < FNODE_DNS; i++) {
        const struct dn_entry *e = dn_table_get(t, dn_key_make(4, (uint64_t)FNODE_DN_FIRST + i));
        struct tc_version v = {0, 0};

        if (e != NULL) {
            v.hlc = e->hlc;
            v.node = e->vnode;
        }
        if (dn_table_version_cmp(t, v, last[i]) < 0)
            fnode_fail("DN %d went back from version %llx/%u to %llx/%u", FNODE_DN_FIRST + i,
                       (unsigned long long)last[i].hlc, last[i].node, (unsigned long long)v.hlc,
                       v.node);
        last[i] = v;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct peers *p = fnode.node.peers;
    uint64_t decode_errors = p->errors[PEER_ERR_DECODE];
    bool undecodable = false;
    size_t off = 0;

    if (link_sip1()->s == NULL || !link_sip1()->up)
        link_up();
    while (off + 2 <= size) {
        size_t len = (size_t)data[off] << 8 | data[off + 1];
        struct peer_session *s = link_sip1()->s;
        Tc__Peer__Msg *m;

        off += 2;
        if (len > size - off)
            len = size - off;
        if (s == NULL || s->state != PEER_AUTHED)
            break;
        m = tc__peer__msg__unpack(NULL, len, data + off);
        if (m == NULL)
            undecodable = true;
        else
            tc__peer__msg__free_unpacked(m, NULL);
        deliver(s, data + off, len);
        off += len;
        fnode_step(fd, POLLIN, 0);
        node_read();
        if (undecodable)
            break;
    }
    fnode_settle();
    node_read();
    if (undecodable) {
        uint64_t deadline = uv_hrtime() + (uint64_t)WAIT_MS * 1000000;

        /* The link goes down once the node's Error frame is written. */
        while (link_sip1()->up && uv_hrtime() < deadline) {
            fnode_step(fd, POLLIN, 1);
            node_read();
        }
        if (p->errors[PEER_ERR_DECODE] != decode_errors + 1)
            fnode_fail("an undecodable frame was not counted as one");
        if (link_sip1()->up)
            fnode_fail("the link stayed up after an undecodable frame");
    }
    if (p->arena.cap > PEER_ARENA_MAX)
        fnode_fail("the decoding arena holds %zu bytes", p->arena.cap);
    check_versions();
    fnode_check_bounds();
    return 0;
}
