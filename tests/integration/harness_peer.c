#include "tests/integration/harness_peer.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcport/peer/peer_wire.h"

int hpeer_dial(uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    cr_assert_geq(fd, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect");
    return fd;
}

void hpeer_send_raw(int fd, const void *p, size_t len)
{
    cr_assert_eq(write(fd, p, len), (ssize_t)len);
}

void hpeer_send_msg(int fd, const Tc__Peer__Msg *m)
{
    size_t len = tc__peer__msg__get_packed_size(m);
    uint8_t *buf = malloc(len + PEER_FRAME_HDR);

    cr_assert_not_null(buf);
    buf[0] = (uint8_t)(len >> 24);
    buf[1] = (uint8_t)(len >> 16);
    buf[2] = (uint8_t)(len >> 8);
    buf[3] = (uint8_t)len;
    tc__peer__msg__pack(m, buf + PEER_FRAME_HDR);
    hpeer_send_raw(fd, buf, len + PEER_FRAME_HDR);
    free(buf);
}

static bool read_full(int fd, uint8_t *p, size_t len, int ms)
{
    size_t got = 0;

    while (got < len) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        ssize_t r;

        if (poll(&pf, 1, ms) <= 0)
            return false;
        r = read(fd, p + got, len - got);
        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    return true;
}

Tc__Peer__Msg *hpeer_read_msg(int fd, int ms, size_t *len)
{
    uint8_t hdr[PEER_FRAME_HDR], *body;
    Tc__Peer__Msg *m;
    size_t n;

    if (!read_full(fd, hdr, sizeof(hdr), ms))
        return NULL;
    n = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
    body = malloc(n + 1);
    cr_assert_not_null(body);
    if (!read_full(fd, body, n, 3000)) {
        free(body);
        return NULL;
    }
    m = tc__peer__msg__unpack(NULL, n, body);
    free(body);
    cr_assert_not_null(m, "undecodable frame from the node");
    if (len != NULL)
        *len = n;
    return m;
}

Tc__Peer__Msg *hpeer_expect(int fd, Tc__Peer__Msg__BodyCase kind)
{
    for (;;) {
        Tc__Peer__Msg *m = hpeer_read_msg(fd, 3000, NULL);

        cr_assert_not_null(m, "no message of kind %d", kind);
        if (m->body_case == kind)
            return m;
        tc__peer__msg__free_unpacked(m, NULL);
    }
}

void hpeer_authenticate(int fd, const char *secret, const char *from, const char *to,
                        uint32_t minor)
{
    uint8_t their_nonce[PEER_NONCE_LEN], my_nonce[PEER_NONCE_LEN] = {1, 2, 3}, mac[PEER_MAC_LEN];
    Tc__Peer__Msg out = TC__PEER__MSG__INIT;
    Tc__Peer__Hello h = TC__PEER__HELLO__INIT;
    Tc__Peer__Auth a = TC__PEER__AUTH__INIT;
    Tc__Peer__Msg *m;

    m = hpeer_expect(fd, TC__PEER__MSG__BODY_HELLO);
    cr_assert_str_eq(m->hello->node, to);
    cr_assert_eq(m->hello->proto_major, PEER_PROTO_MAJOR);
    cr_assert_eq(m->hello->nonce.len, PEER_NONCE_LEN);
    memcpy(their_nonce, m->hello->nonce.data, PEER_NONCE_LEN);
    tc__peer__msg__free_unpacked(m, NULL);

    h.proto_major = PEER_PROTO_MAJOR;
    h.proto_minor = minor;
    h.node = (char *)from;
    h.to = (char *)to;
    h.nonce.data = my_nonce;
    h.nonce.len = sizeof(my_nonce);
    out.body_case = TC__PEER__MSG__BODY_HELLO;
    out.hello = &h;
    hpeer_send_msg(fd, &out);

    /* The node proves the secret first, over our nonce. */
    m = hpeer_expect(fd, TC__PEER__MSG__BODY_AUTH);
    cr_assert(peer_wire_mac_ok(secret, strlen(secret), to, from, my_nonce, their_nonce,
                               m->auth->mac.data, m->auth->mac.len),
              "%s's proof does not verify", to);
    tc__peer__msg__free_unpacked(m, NULL);
    cr_assert_eq(peer_wire_mac(secret, strlen(secret), from, to, their_nonce, my_nonce, mac), 0);
    a.mac.data = mac;
    a.mac.len = sizeof(mac);
    out.body_case = TC__PEER__MSG__BODY_AUTH;
    out.auth = &a;
    hpeer_send_msg(fd, &out);
}

void hpeer_handshake(int fd, const char *secret, const char *from, const char *to, uint32_t minor)
{
    Tc__Peer__Msg out = TC__PEER__MSG__INIT;
    Tc__Peer__Msg *m;

    hpeer_authenticate(fd, secret, from, to, minor);
    if (minor >= PEER_MINOR_RESYNC) {
        /* The resync by difference: the node says what it holds, then
         * waits for our request; ours asks for everything. */
        Tc__Peer__SyncRequest r = TC__PEER__SYNC_REQUEST__INIT;

        m = hpeer_expect(fd, TC__PEER__MSG__BODY_SYNC_REQUEST);
        cr_assert_eq(m->sync_request->since_seq, 0);
        tc__peer__msg__free_unpacked(m, NULL);
        out.body_case = TC__PEER__MSG__BODY_SYNC_REQUEST;
        out.sync_request = &r;
        hpeer_send_msg(fd, &out);
    }
}
