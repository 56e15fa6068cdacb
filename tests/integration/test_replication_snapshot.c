/* Snapshots of many DNs, seen from a test client that holds the secret and
 * plays sip1 against a real sip2: chunks larger than the old 500-claim
 * bound are taken; the node's own snapshot comes in chunks that fit
 * max-frame, keeps a bounded window of chunks unacknowledged, and carries
 * every entry exactly once. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proto/peer.pb-c.h"
#include "tcport/peer_wire.h"
#include "tests/integration/harness_cluster.h"
#include "tests/tc_test.h"

TestSuite(replication_snapshot, .fini = tc_test_leak_check, .timeout = 240);

#define INSRV     "tc_dns{state=\"insrv\"}"
#define FIRST_DN  100000
#define N_DNS     20000
#define CHUNK     1000  /* claims per chunk the client sends: over the old bound of 500 */
#define MAX_FRAME 65536 /* the node's default max-frame */
#define WINDOW    8     /* tcport/peer_int.h PEER_SYNC_WINDOW */

static int dial(uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    cr_assert_geq(fd, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect");
    return fd;
}

static void send_msg(int fd, const Tc__Peer__Msg *m)
{
    size_t len = tc__peer__msg__get_packed_size(m);
    uint8_t *buf = malloc(len + 4);

    cr_assert_not_null(buf);
    buf[0] = (uint8_t)(len >> 24);
    buf[1] = (uint8_t)(len >> 16);
    buf[2] = (uint8_t)(len >> 8);
    buf[3] = (uint8_t)len;
    tc__peer__msg__pack(m, buf + 4);
    cr_assert_eq(write(fd, buf, len + 4), (ssize_t)(len + 4));
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

/* One frame within ms, or NULL; *len is its body's length. */
static Tc__Peer__Msg *read_msg(int fd, int ms, size_t *len)
{
    uint8_t hdr[4], *body;
    Tc__Peer__Msg *m;

    if (!read_full(fd, hdr, 4, ms))
        return NULL;
    *len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
    body = malloc(*len + 1);
    cr_assert_not_null(body);
    cr_assert(read_full(fd, body, *len, 3000), "frame cut short");
    m = tc__peer__msg__unpack(NULL, *len, body);
    free(body);
    cr_assert_not_null(m, "undecodable frame from the node");
    return m;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The next message other than a heartbeat within ms, or NULL. */
static Tc__Peer__Msg *next_msg(int fd, int ms, size_t *len)
{
    int64_t end = now_ms() + ms;

    for (;;) {
        int64_t left = end - now_ms();
        Tc__Peer__Msg *m = left > 0 ? read_msg(fd, (int)left, len) : NULL;

        if (m == NULL || m->body_case != TC__PEER__MSG__BODY_HEARTBEAT)
            return m;
        tc__peer__msg__free_unpacked(m, NULL);
    }
}

static Tc__Peer__Msg *expect(int fd, Tc__Peer__Msg__BodyCase kind)
{
    size_t len;
    Tc__Peer__Msg *m = next_msg(fd, 3000, &len);

    cr_assert_not_null(m, "no message of kind %d", kind);
    cr_assert_eq(m->body_case, kind, "message of kind %d, not %d", m->body_case, kind);
    return m;
}

/* Hello, Auth, and the empty snapshots both ways: the link is up. */
static void handshake(int fd, const struct hnode *n)
{
    const char *secret = "0123456789abcdef0123456789abcdef";
    uint8_t their_nonce[PEER_NONCE_LEN], my_nonce[PEER_NONCE_LEN] = {4, 5, 6}, mac[PEER_MAC_LEN];
    Tc__Peer__Msg out = TC__PEER__MSG__INIT;
    Tc__Peer__Hello h = TC__PEER__HELLO__INIT;
    Tc__Peer__Auth a = TC__PEER__AUTH__INIT;
    Tc__Peer__Msg *m;

    m = expect(fd, TC__PEER__MSG__BODY_HELLO);
    memcpy(their_nonce, m->hello->nonce.data, PEER_NONCE_LEN);
    tc__peer__msg__free_unpacked(m, NULL);
    h.proto_major = PEER_PROTO_MAJOR;
    h.proto_minor = PEER_PROTO_MINOR;
    h.node = "sip1";
    h.to = "sip2";
    h.nonce.data = my_nonce;
    h.nonce.len = sizeof(my_nonce);
    out.body_case = TC__PEER__MSG__BODY_HELLO;
    out.hello = &h;
    send_msg(fd, &out);
    m = expect(fd, TC__PEER__MSG__BODY_AUTH);
    tc__peer__msg__free_unpacked(m, NULL);
    cr_assert_eq(peer_wire_mac(secret, strlen(secret), "sip1", "sip2", their_nonce, my_nonce, mac),
                 0);
    a.mac.data = mac;
    a.mac.len = sizeof(mac);
    out.body_case = TC__PEER__MSG__BODY_AUTH;
    out.auth = &a;
    send_msg(fd, &out);
    m = expect(fd, TC__PEER__MSG__BODY_SYNC_END);
    cr_assert_eq(m->sync_end->entries, 0);
    tc__peer__msg__free_unpacked(m, NULL);
    cr_assert_eq(harness_node_metric(n, "tc_peer_link_up{peer=\"sip1\"}"), 0);
}

/* Our snapshot: every DN owned by sip1, CHUNK claims per chunk, each
 * acknowledged. */
static void send_snapshot(int fd)
{
    static Tc__Peer__Claim c[CHUNK];
    static Tc__Version v[CHUNK];
    static Tc__Peer__Claim *ptrs[CHUNK];
    static char dns[CHUNK][16];
    uint64_t hlc = (uint64_t)time(NULL) * 1000 << 16;
    Tc__Peer__Msg out = TC__PEER__MSG__INIT;
    Tc__Peer__SyncEnd end = TC__PEER__SYNC_END__INIT;
    uint32_t chunk = 0;

    for (int first = 0; first < N_DNS; first += CHUNK) {
        Tc__Peer__SyncChunk sc = TC__PEER__SYNC_CHUNK__INIT;
        Tc__Peer__Msg *m;

        for (int i = 0; i < CHUNK; i++) {
            tc__peer__claim__init(&c[i]);
            tc__version__init(&v[i]);
            snprintf(dns[i], sizeof(dns[i]), "%d", FIRST_DN + first + i);
            c[i].dn = dns[i];
            c[i].owner = "sip1";
            c[i].source = TC__SOURCE__SOURCE_SIP;
            v[i].hlc = hlc + (uint64_t)(first + i);
            v[i].node = "sip1";
            c[i].version = &v[i];
            c[i].since_unix_ms = hlc >> 16;
            ptrs[i] = &c[i];
        }
        sc.chunk = ++chunk;
        sc.claims = ptrs;
        sc.n_claims = CHUNK;
        sc.last = first + CHUNK >= N_DNS;
        out.body_case = TC__PEER__MSG__BODY_SYNC_CHUNK;
        out.sync_chunk = &sc;
        send_msg(fd, &out);
        m = expect(fd, TC__PEER__MSG__BODY_SYNC_ACK);
        cr_assert_eq(m->sync_ack->chunk, chunk);
        tc__peer__msg__free_unpacked(m, NULL);
    }
    end.entries = N_DNS;
    end.chunks = chunk;
    out.body_case = TC__PEER__MSG__BODY_SYNC_END;
    out.sync_end = &end;
    send_msg(fd, &out);
}

static void ack(int fd, uint32_t chunk)
{
    Tc__Peer__SyncAck a = TC__PEER__SYNC_ACK__INIT;
    Tc__Peer__Msg out = TC__PEER__MSG__INIT;

    a.chunk = chunk;
    out.body_case = TC__PEER__MSG__BODY_SYNC_ACK;
    out.sync_ack = &a;
    send_msg(fd, &out);
}

static size_t largest; /* claims in the largest chunk received */

/* Count the claims of a chunk into seen[]; check its bounds. */
static size_t take_chunk(const Tc__Peer__Msg *m, size_t len, unsigned char *seen)
{
    const Tc__Peer__SyncChunk *sc = m->sync_chunk;

    cr_assert_leq(len, MAX_FRAME, "chunk of %zu bytes over max-frame", len);
    if (sc->n_claims > largest)
        largest = sc->n_claims;
    for (size_t i = 0; i < sc->n_claims; i++) {
        long dn = strtol(sc->claims[i]->dn, NULL, 10);

        cr_assert(dn >= FIRST_DN && dn < FIRST_DN + N_DNS, "dn %s", sc->claims[i]->dn);
        cr_assert_eq(seen[dn - FIRST_DN], 0, "dn %ld sent twice", dn);
        seen[dn - FIRST_DN] = 1;
        cr_assert_str_eq(sc->claims[i]->owner, "sip1");
    }
    return sc->n_claims;
}

Test(replication_snapshot, large_chunks_window_every_entry_once)
{
    static unsigned char seen[N_DNS];
    struct hcluster c;
    const struct hnode *n;
    Tc__Peer__Msg out = TC__PEER__MSG__INIT;
    Tc__Peer__SyncRequest rq = TC__PEER__SYNC_REQUEST__INIT;
    Tc__Peer__Msg *m;
    uint32_t inflight[64];
    size_t len, got = 0, n_inflight = 0;
    char range[32];
    int fd;

    snprintf(range, sizeof(range), "%d-%d", FIRST_DN, FIRST_DN + N_DNS - 1);
    hcluster_init(&c, 2, range, NULL);
    harness_node_start(&c.n[1]);
    n = &c.n[1];
    fd = dial(n->peer_port);
    handshake(fd, n);

    /* Chunks of 1000 claims are taken, each acknowledged once applied. */
    send_snapshot(fd);
    cr_assert(harness_wait_metric(n, "tc_peer_link_up{peer=\"sip1\"}", 1, 5000));
    cr_assert(harness_wait_metric(n, INSRV, N_DNS, 5000));

    /* Ask for sip2's snapshot and acknowledge nothing: a window of chunks
     * comes, then nothing more. */
    out.body_case = TC__PEER__MSG__BODY_SYNC_REQUEST;
    out.sync_request = &rq;
    send_msg(fd, &out);
    while ((m = next_msg(fd, 400, &len)) != NULL) {
        cr_assert_eq(m->body_case, TC__PEER__MSG__BODY_SYNC_CHUNK, "kind %d", m->body_case);
        cr_assert_lt(n_inflight, 64);
        inflight[n_inflight++] = m->sync_chunk->chunk;
        got += take_chunk(m, len, seen);
        tc__peer__msg__free_unpacked(m, NULL);
    }
    cr_assert_geq(n_inflight, 2, "one chunk at a time");
    cr_assert_leq(n_inflight, WINDOW, "%zu chunks unacknowledged", n_inflight);

    /* Acknowledged, the rest follows, and the end counts every entry. */
    for (size_t i = 0; i < n_inflight; i++)
        ack(fd, inflight[i]);
    for (;;) {
        m = next_msg(fd, 3000, &len);
        cr_assert_not_null(m, "snapshot stalled after %zu entries", got);
        if (m->body_case == TC__PEER__MSG__BODY_SYNC_END)
            break;
        cr_assert_eq(m->body_case, TC__PEER__MSG__BODY_SYNC_CHUNK, "kind %d", m->body_case);
        got += take_chunk(m, len, seen);
        ack(fd, m->sync_chunk->chunk);
        tc__peer__msg__free_unpacked(m, NULL);
    }
    cr_assert_eq(m->sync_end->entries, N_DNS);
    tc__peer__msg__free_unpacked(m, NULL);
    cr_assert_eq(got, N_DNS, "%zu entries of %d", got, N_DNS);
    cr_assert_gt(largest, 500, "chunks still of at most 500 claims");
    close(fd);
    hcluster_cleanup(&c);
}
