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
#include "tcport/peer/peer_wire.h"
#include "tests/integration/harness_cluster.h"
#include "tests/integration/harness_peer.h"
#include "tests/tc_test.h"

TestSuite(replication_snapshot, .fini = tc_test_leak_check, .timeout = 240);

#define INSRV     "tcluster_directory_numbers{state=\"insrv\"}"
#define FIRST_DN  100000
#define N_DNS     20000
#define CHUNK     1000  /* claims per chunk the client sends: over the old bound of 500 */
#define MAX_FRAME 65536 /* the node's default max-frame */
#define WINDOW    8     /* tcport/peer_int.h PEER_SYNC_WINDOW */

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
        Tc__Peer__Msg *m = left > 0 ? hpeer_read_msg(fd, (int)left, len) : NULL;

        if (m == NULL || m->body_case != TC__PEER__MSG__BODY_HEARTBEAT)
            return m;
        tc__peer__msg__free_unpacked(m, NULL);
    }
}

/* The next message, which must be of this kind (heartbeats aside). */
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
    Tc__Peer__Msg *m;

    hpeer_handshake(fd, "0123456789abcdef0123456789abcdef", "sip1", "sip2", PEER_PROTO_MINOR);
    m = expect(fd, TC__PEER__MSG__BODY_SYNC_END);
    cr_assert_eq(m->sync_end->entries, 0);
    tc__peer__msg__free_unpacked(m, NULL);
    cr_assert_eq(harness_node_metric(n, "tcluster_peer_link_up{peer=\"sip1\"}"), 0);
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
        hpeer_send_msg(fd, &out);
        m = expect(fd, TC__PEER__MSG__BODY_SYNC_ACK);
        cr_assert_eq(m->sync_ack->chunk, chunk);
        tc__peer__msg__free_unpacked(m, NULL);
    }
    end.entries = N_DNS;
    end.chunks = chunk;
    out.body_case = TC__PEER__MSG__BODY_SYNC_END;
    out.sync_end = &end;
    hpeer_send_msg(fd, &out);
}

static void ack(int fd, uint32_t chunk)
{
    Tc__Peer__SyncAck a = TC__PEER__SYNC_ACK__INIT;
    Tc__Peer__Msg out = TC__PEER__MSG__INIT;

    a.chunk = chunk;
    out.body_case = TC__PEER__MSG__BODY_SYNC_ACK;
    out.sync_ack = &a;
    hpeer_send_msg(fd, &out);
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
    fd = hpeer_dial(n->peer_port);
    handshake(fd, n);

    /* Chunks of 1000 claims are taken, each acknowledged once applied. */
    send_snapshot(fd);
    cr_assert(harness_wait_metric(n, "tcluster_peer_link_up{peer=\"sip1\"}", 1, 5000));
    cr_assert(harness_wait_metric(n, INSRV, N_DNS, 5000));

    /* Ask for sip2's snapshot and acknowledge nothing: a window of chunks
     * comes, then nothing more. */
    out.body_case = TC__PEER__MSG__BODY_SYNC_REQUEST;
    out.sync_request = &rq;
    hpeer_send_msg(fd, &out);
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
