/* Replication between nodes (DESIGN §3, §4) with real tcnode processes on
 * 127.0.0.1: phones registered with sipsak at one node are InSrv at all;
 * kill -9, SIGSTOP and restarts; standby takeover; a wrong secret; a
 * five-node cluster; bad input on the peer port. Heartbeats every 200 ms,
 * link timeout 1 s (tests/integration/harness_cluster.h). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
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

TestSuite(replication, .fini = tc_test_leak_check, .timeout = 240);

#define INSRV "tcluster_directory_numbers{state=\"insrv\"}"
#define OWNED "tcluster_directory_numbers_owned_here"

/* Link timeout, a tick, and a second for the metric poll. */
#define DOWN_MS (HCLUSTER_TIMEOUT_MS + 1000)

static double metric(const struct hnode *n, const char *key)
{
    return harness_node_metric(n, key);
}

/* Wait for a metric on one node and return the ms it took, or -1. */
static int time_until(const struct hnode *n, const char *key, double want, int ms)
{
    uint64_t t0 = harness_now_ms();

    if (!harness_wait_metric(n, key, want, ms))
        return -1;
    return (int)(harness_now_ms() - t0);
}

static bool log_has(const struct hnode *n, const char *text)
{
    char *log = harness_read_file(n->log);
    bool found = log != NULL && strstr(log, text) != NULL;

    free(log);
    return found;
}

Test(replication, three_nodes_kill_and_restart)
{
    struct hcluster c;
    int ms;

    hcluster_init(&c, 3, "1000-1999", NULL);
    hcluster_start(&c);
    cr_assert(hcluster_wait_all_links(&c, 10000), "links did not come up");

    cr_assert_eq(hcluster_register(&c.n[0], "1001"), 0);
    cr_assert_eq(hcluster_register(&c.n[1], "1002"), 0);
    cr_assert(hcluster_wait_metric_all(&c, INSRV, 2, 3000), "claims not replicated");
    cr_assert(hcluster_wait_owner(&c, "1001", "sip1", 3000));
    cr_assert(hcluster_wait_owner(&c, "1002", "sip2", 3000));
    cr_assert_eq(metric(&c.n[0], OWNED), 1);
    cr_assert_eq(metric(&c.n[1], OWNED), 1);
    cr_assert_eq(metric(&c.n[2], OWNED), 0);
    cr_assert_geq(metric(&c.n[2], "tcluster_peer_claims_total{peer=\"sip1\",dir=\"rx\"}"), 1);

    /* kill -9 sip1: its DN goes OOS at the others, theirs stay InSrv. */
    harness_node_kill(&c.n[0]);
    ms = time_until(&c.n[1], INSRV, 1, DOWN_MS);
    cr_assert_geq(ms, 0, "sip2 still counts sip1's DN InSrv");
    cr_log_info("sip1 killed: its DN OOS at sip2 after %d ms", ms);
    cr_assert(harness_wait_metric(&c.n[2], INSRV, 1, DOWN_MS));
    cr_assert_eq(metric(&c.n[1], "tcluster_peer_link_up{peer=\"sip1\"}"), 0);
    cr_assert_eq(metric(&c.n[2], "tcluster_peer_link_up{peer=\"sip2\"}"), 1);

    /* Restart: the binding comes back from the store and the DN is InSrv
     * everywhere again without a new REGISTER. */
    harness_node_start(&c.n[0]);
    cr_assert(hcluster_wait_all_links(&c, 10000), "links did not come back");
    cr_assert(hcluster_wait_metric_all(&c, INSRV, 2, 3000), "not InSrv again after restart");
    cr_assert_eq(metric(&c.n[0], OWNED), 1);
    cr_assert_geq(metric(&c.n[1], "tcluster_peer_resyncs_total"), 2);
    hcluster_cleanup(&c);
}

Test(replication, sigstop_marks_oos_then_heals)
{
    struct hcluster c;
    int ms;

    hcluster_init(&c, 3, "1000-1999", NULL);
    hcluster_start(&c);
    cr_assert(hcluster_wait_all_links(&c, 10000));
    cr_assert_eq(hcluster_register(&c.n[2], "1003"), 0);
    cr_assert_eq(hcluster_register(&c.n[0], "1001"), 0);
    cr_assert(hcluster_wait_metric_all(&c, INSRV, 2, 3000));

    /* A frozen peer: no traffic, the TCP connection stays open. */
    kill(c.n[2].pid, SIGSTOP);
    ms = time_until(&c.n[0], INSRV, 1, DOWN_MS);
    cr_assert_geq(ms, 0, "sip1 still counts the frozen sip3's DN InSrv");
    cr_log_info("sip3 stopped: its DN OOS at sip1 after %d ms", ms);
    cr_assert(harness_wait_metric(&c.n[1], INSRV, 1, DOWN_MS));
    cr_assert_eq(metric(&c.n[0], OWNED), 1, "own DNs stay");
    cr_assert_geq(metric(&c.n[0], "tcluster_peer_errors_total{reason=\"timeout\"}"), 1);

    kill(c.n[2].pid, SIGCONT);
    cr_assert(hcluster_wait_all_links(&c, 10000), "links did not heal");
    cr_assert(hcluster_wait_metric_all(&c, INSRV, 2, 3000));
    hcluster_cleanup(&c);
}

Test(replication, wrong_secret_is_refused)
{
    struct hcluster c;

    hcluster_init(&c, 2, "1000-1099", NULL);
    hcluster_set_secret(&c, 1, "not-the-cluster-secret-at-all\n");
    hcluster_start(&c);
    cr_assert(harness_wait_metric(&c.n[0], "tcluster_peer_auth_failures_total", 1, 5000));
    cr_assert(harness_wait_metric(&c.n[1], "tcluster_peer_auth_failures_total", 1, 5000));
    cr_assert_eq(metric(&c.n[0], "tcluster_peer_link_up{peer=\"sip2\"}"), 0);
    cr_assert_eq(metric(&c.n[1], "tcluster_peer_link_up{peer=\"sip1\"}"), 0);
    cr_assert(log_has(&c.n[0], "peer sip2: refused: wrong cluster secret"));
    /* sip1 dials sip2: at sip2 the connection never was sip1's link. */
    cr_assert(log_has(&c.n[1], "peer-listen: unauthenticated connection from 127.0.0.1:"));
    cr_assert(log_has(&c.n[1], ", claiming to be sip1: refused: wrong cluster secret"));
    cr_assert_not(log_has(&c.n[1], "peer sip1: refused"));

    /* Nothing crosses: a claim at sip1 stays unknown at sip2. */
    cr_assert_eq(hcluster_register(&c.n[0], "1001"), 0);
    usleep(500000);
    cr_assert_eq(metric(&c.n[1], INSRV), 0);
    cr_assert_eq(metric(&c.n[1], "tcluster_directory_numbers_tracked"), 0);
    hcluster_cleanup(&c);
}

Test(replication, concurrent_registration_one_owner_then_takeover)
{
    struct hcluster c;
    char status[256];

    hcluster_init(&c, 3, "1000-1999", NULL);
    hcluster_start(&c);
    cr_assert(hcluster_wait_all_links(&c, 10000));

    /* The same phone registers at sip1, then at sip2: the later claim wins
     * everywhere and sip1 keeps its binding as a standby. */
    cr_assert_eq(hcluster_register(&c.n[0], "1001"), 0);
    cr_assert(hcluster_wait_metric_all(&c, INSRV, 1, 3000));
    cr_assert_eq(hcluster_register(&c.n[1], "1001"), 0);
    cr_assert(harness_wait_metric(&c.n[1], OWNED, 1, 3000));
    cr_assert(harness_wait_metric(&c.n[0], OWNED, 0, 3000), "sip1 did not yield");
    cr_assert_eq(hcluster_metric_sum(&c, OWNED), 1, "exactly one owner");
    cr_assert(hcluster_wait_metric_all(&c, INSRV, 1, 3000));
    cr_assert(hcluster_wait_owner(&c, "1001", "sip2", 3000), "not sip2 everywhere");
    cr_assert_eq(metric(&c.n[0], "tcluster_sip_bindings"), 1, "standby binding kept");

    /* The owner releases (the phone unregisters there): sip1, holding a
     * live binding, claims the DN (DESIGN §3, Release). */
    hcluster_unregister_all(&c.n[1], "1001", status, sizeof(status));
    cr_assert(strstr(status, " 200 ") != NULL, "unregister: %s", status);
    cr_assert(harness_wait_metric(&c.n[0], OWNED, 1, 3000), "standby did not claim the release");
    cr_assert(hcluster_wait_metric_all(&c, INSRV, 1, 3000));
    cr_assert_eq(hcluster_metric_sum(&c, OWNED), 1);

    /* The phone registers at sip2 again: sip2 owns it, sip1 stands by. */
    cr_assert_eq(hcluster_register(&c.n[1], "1001"), 0);
    cr_assert(harness_wait_metric(&c.n[1], OWNED, 1, 3000));
    cr_assert(harness_wait_metric(&c.n[0], OWNED, 0, 3000));

    /* The owner dies: sip1, holding the standby binding, takes over. */
    harness_node_kill(&c.n[1]);
    cr_assert(harness_wait_metric(&c.n[0], OWNED, 1, DOWN_MS), "no takeover");
    cr_assert(harness_wait_metric(&c.n[0], INSRV, 1, 1000));
    cr_assert(harness_wait_metric(&c.n[2], INSRV, 1, DOWN_MS), "sip3 did not learn the takeover");
    cr_assert_eq(metric(&c.n[2], OWNED), 0);
    cr_assert(hcluster_wait_owner(&c, "1001", "sip1", 3000), "takeover not seen as sip1's");

    /* sip2 comes back: versions decide, one owner again. */
    harness_node_start(&c.n[1]);
    cr_assert(hcluster_wait_all_links(&c, 10000));
    cr_assert(hcluster_wait_metric_all(&c, INSRV, 1, 3000));
    cr_assert_eq(hcluster_metric_sum(&c, OWNED), 1, "exactly one owner after the heal");
    cr_assert(hcluster_wait_owner(&c, "1001", "sip1", 3000), "owners differ after the heal");
    hcluster_cleanup(&c);
}

Test(replication, five_nodes_converge)
{
    struct hcluster c;
    char dn[16];

    hcluster_init(&c, 5, "1000-1999", NULL);
    hcluster_start(&c);
    cr_assert(hcluster_wait_all_links(&c, 15000), "five nodes did not link up");
    for (int i = 0; i < 5; i++) {
        snprintf(dn, sizeof(dn), "%d", 1100 + i);
        cr_assert_eq(hcluster_register(&c.n[i], dn), 0);
    }
    cr_assert(hcluster_wait_metric_all(&c, INSRV, 5, 5000), "five nodes did not converge");
    for (int i = 0; i < 5; i++)
        cr_assert_eq(metric(&c.n[i], OWNED), 1);

    /* Two nodes go and come back while the others keep claiming. */
    harness_node_kill(&c.n[3]);
    harness_node_kill(&c.n[4]);
    cr_assert(harness_wait_metric(&c.n[0], INSRV, 3, DOWN_MS));
    cr_assert_eq(hcluster_register(&c.n[0], "1200"), 0);
    cr_assert_eq(hcluster_register(&c.n[1], "1201"), 0);
    harness_node_start(&c.n[3]);
    harness_node_start(&c.n[4]);
    cr_assert(hcluster_wait_all_links(&c, 15000));
    cr_assert(hcluster_wait_metric_all(&c, INSRV, 7, 5000), "no convergence after the heal");
    hcluster_cleanup(&c);
}

/* ---- bad input on the peer port, from a raw TCP client ---- */

static void send_hello(int fd, const char *from, uint32_t major)
{
    Tc__Peer__Hello h = TC__PEER__HELLO__INIT;
    Tc__Peer__Msg m = TC__PEER__MSG__INIT;
    uint8_t nonce[32] = {1, 2, 3};

    h.proto_major = major;
    h.node = (char *)from;
    h.to = "sip2";
    h.nonce.data = nonce;
    h.nonce.len = sizeof(nonce);
    m.body_case = TC__PEER__MSG__BODY_HELLO;
    m.hello = &h;
    hpeer_send_msg(fd, &m);
}

/* Read frames until the node closes; returns the code of the Error frame
 * seen (or -1), and whether the connection closed within 3 s. */
static int read_until_closed(int fd, bool *closed)
{
    static uint8_t buf[1 << 16];
    size_t len = 0;
    int code = -1;
    uint64_t deadline = harness_now_ms() + (uint64_t)harness_ms(3000);

    *closed = false;
    while (harness_now_ms() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t r;

        if (poll(&p, 1, 100) <= 0)
            continue;
        r = read(fd, buf + len, sizeof(buf) - len);
        if (r <= 0) {
            *closed = true;
            break;
        }
        len += (size_t)r;
        while (len >= 4) {
            size_t flen =
                    (size_t)buf[0] << 24 | (size_t)buf[1] << 16 | (size_t)buf[2] << 8 | buf[3];
            Tc__Peer__Msg *m;

            if (len < 4 + flen)
                break;
            m = tc__peer__msg__unpack(NULL, flen, buf + 4);
            if (m != NULL && m->body_case == TC__PEER__MSG__BODY_ERROR)
                code = m->error->code;
            if (m != NULL)
                tc__peer__msg__free_unpacked(m, NULL);
            memmove(buf, buf + 4 + flen, len - 4 - flen);
            len -= 4 + flen;
        }
    }
    close(fd);
    return code;
}

Test(replication, bad_input_on_the_peer_port)
{
    struct hcluster c;
    const struct hnode *n;
    uint8_t huge[4] = {0x01, 0, 0, 0}; /* 16 MiB announced */
    uint8_t garbage[7] = {0, 0, 0, 3, 0xff, 0xff, 0xff};
    Tc__Peer__Claims cl = TC__PEER__CLAIMS__INIT;
    Tc__Peer__Msg m = TC__PEER__MSG__INIT;
    bool closed;
    int fd;

    /* sip2 alone: sip1 (lower name) would dial it; we play sip1. */
    hcluster_init(&c, 2, "1000-1099", NULL);
    harness_node_start(&c.n[1]);
    n = &c.n[1];

    fd = hpeer_dial(n->peer_port);
    hpeer_send_raw(fd, huge, sizeof(huge));
    read_until_closed(fd, &closed);
    cr_assert(closed, "oversized frame: connection kept");
    cr_assert(harness_wait_metric(n, "tcluster_peer_errors_total{reason=\"frame\"}", 1, 2000));

    fd = hpeer_dial(n->peer_port);
    hpeer_send_raw(fd, garbage, sizeof(garbage));
    cr_assert_eq(read_until_closed(fd, &closed), TC__PEER__ERROR_CODE__ERROR_PROTOCOL);
    cr_assert(closed);
    cr_assert(harness_wait_metric(n, "tcluster_peer_errors_total{reason=\"decode\"}", 1, 2000));

    fd = hpeer_dial(n->peer_port);
    send_hello(fd, "sip1", PEER_PROTO_MAJOR + 1);
    cr_assert_eq(read_until_closed(fd, &closed), TC__PEER__ERROR_CODE__ERROR_VERSION);
    cr_assert(closed);
    cr_assert(harness_wait_metric(n, "tcluster_peer_errors_total{reason=\"version\"}", 1, 2000));

    fd = hpeer_dial(n->peer_port);
    send_hello(fd, "intruder", PEER_PROTO_MAJOR);
    cr_assert_eq(read_until_closed(fd, &closed), TC__PEER__ERROR_CODE__ERROR_UNKNOWN_NODE);
    cr_assert(harness_wait_metric(n, "tcluster_peer_auth_failures_total", 1, 2000));

    /* State before authentication is refused. */
    fd = hpeer_dial(n->peer_port);
    send_hello(fd, "sip1", PEER_PROTO_MAJOR);
    m.body_case = TC__PEER__MSG__BODY_CLAIMS;
    m.claims = &cl;
    hpeer_send_msg(fd, &m);
    cr_assert_eq(read_until_closed(fd, &closed), TC__PEER__ERROR_CODE__ERROR_PROTOCOL);
    cr_assert(harness_wait_metric(n, "tcluster_peer_errors_total{reason=\"protocol\"}", 1, 2000));

    /* A wrong proof. */
    fd = hpeer_dial(n->peer_port);
    send_hello(fd, "sip1", PEER_PROTO_MAJOR);
    {
        Tc__Peer__Auth a = TC__PEER__AUTH__INIT;
        uint8_t mac[32] = {0};

        a.mac.data = mac;
        a.mac.len = sizeof(mac);
        m.body_case = TC__PEER__MSG__BODY_AUTH;
        m.auth = &a;
        hpeer_send_msg(fd, &m);
    }
    cr_assert_eq(read_until_closed(fd, &closed), TC__PEER__ERROR_CODE__ERROR_AUTH);
    cr_assert(harness_wait_metric(n, "tcluster_peer_auth_failures_total", 2, 2000));
    /* Issue 13 defect 8: a stranger naming the real peer sip1 is not
     * sip1's link, and the log must not read as if it were. */
    cr_assert(log_has(n, ", claiming to be sip1: refused: wrong cluster secret"));
    cr_assert_not(log_has(n, "peer sip1: refused"));

    /* A connection that never says hello is closed after the handshake
     * timeout (the link timeout, at least 1 s). */
    fd = hpeer_dial(n->peer_port);
    read_until_closed(fd, &closed);
    cr_assert(closed, "silent connection kept");
    hcluster_cleanup(&c);
}

static void send_claim(int fd, const char *dn, const char *owner, uint64_t hlc, const char *vnode,
                       uint64_t seq)
{
    Tc__Peer__Claim c = TC__PEER__CLAIM__INIT;
    Tc__Version v = TC__VERSION__INIT;
    Tc__Peer__Claim *ptrs[1] = {&c};
    Tc__Peer__Claims cl = TC__PEER__CLAIMS__INIT;
    Tc__Peer__Msg m = TC__PEER__MSG__INIT;

    c.dn = (char *)dn;
    c.owner = (char *)owner;
    c.source = TC__SOURCE__SOURCE_SIP;
    v.hlc = hlc;
    v.node = (char *)vnode;
    c.version = &v;
    c.since_unix_ms = hlc >> 16;
    c.origin_seq = seq;
    cl.claims = ptrs;
    cl.n_claims = 1;
    m.body_case = TC__PEER__MSG__BODY_CLAIMS;
    m.claims = &cl;
    hpeer_send_msg(fd, &m);
}

/* The protocol from the outside: a test client that holds the secret
 * plays sip1 against a real sip2. */
Test(replication, protocol_as_seen_by_a_peer)
{
    const char *secret = "0123456789abcdef0123456789abcdef";
    struct hcluster c;
    const struct hnode *n;
    Tc__Peer__Msg *m;
    Tc__Peer__Msg out = TC__PEER__MSG__INIT;
    Tc__Peer__SyncEnd end = TC__PEER__SYNC_END__INIT;
    uint64_t hlc = (uint64_t)time(NULL) * 1000 << 16;
    int fd;

    hcluster_init(&c, 2, "1000-1099", NULL);
    harness_node_start(&c.n[1]);
    n = &c.n[1];
    fd = hpeer_dial(n->peer_port);

    /* Hello both ways (a newer protocol minor is fine); sip2 proves the
     * secret first, over our nonce. */
    hpeer_handshake(fd, secret, "sip1", "sip2", 7);

    /* Authenticated: sip2 sends its (empty) snapshot; the link is up once
     * ours arrived. */
    m = hpeer_expect(fd, TC__PEER__MSG__BODY_SYNC_END);
    cr_assert_eq(m->sync_end->entries, 0);
    tc__peer__msg__free_unpacked(m, NULL);
    cr_assert_eq(metric(n, "tcluster_peer_link_up{peer=\"sip1\"}"), 0, "up before our snapshot");
    out.body_case = TC__PEER__MSG__BODY_SYNC_END;
    out.sync_end = &end;
    hpeer_send_msg(fd, &out);
    cr_assert(harness_wait_metric(n, "tcluster_peer_link_up{peer=\"sip1\"}", 1, 2000));

    /* A live claim by sip1: InSrv at sip2. */
    send_claim(fd, "1001", "sip1", hlc + 1, "sip1", 1);
    cr_assert(harness_wait_metric(n, INSRV, 1, 2000));
    /* An older one for the same DN loses; a claim giving sip2 a DN is
     * refused; a DN outside the directory is ignored. */
    send_claim(fd, "1001", "", hlc, "sip1", 2);
    send_claim(fd, "1002", "sip2", hlc + 2, "sip1", 3);
    send_claim(fd, "5555", "sip1", hlc + 3, "sip1", 4);
    cr_assert(harness_wait_metric(n, "tcluster_peer_errors_total{reason=\"claim\"}", 1, 2000));
    cr_assert_eq(metric(n, INSRV), 1);
    cr_assert_eq(metric(n, "tcluster_peer_errors_total{reason=\"gap\"}"), 0);

    /* Claim 5 never comes: sip2 asks for a snapshot. */
    send_claim(fd, "1003", "sip1", hlc + 4, "sip1", 6);
    m = hpeer_expect(fd, TC__PEER__MSG__BODY_SYNC_REQUEST);
    cr_assert_eq(m->sync_request->since_seq, 4);
    tc__peer__msg__free_unpacked(m, NULL);
    cr_assert_eq(metric(n, "tcluster_peer_errors_total{reason=\"gap\"}"), 1);
    cr_assert(harness_wait_metric(n, INSRV, 2, 2000));

    /* sip2 sends a snapshot of its table when asked. */
    {
        Tc__Peer__SyncRequest rq = TC__PEER__SYNC_REQUEST__INIT;

        out.body_case = TC__PEER__MSG__BODY_SYNC_REQUEST;
        out.sync_request = &rq;
        hpeer_send_msg(fd, &out);
    }
    m = hpeer_expect(fd, TC__PEER__MSG__BODY_SYNC_CHUNK);
    cr_assert_eq(m->sync_chunk->n_claims, 2, "1001 and 1003 as sip2 holds them");
    tc__peer__msg__free_unpacked(m, NULL);
    m = hpeer_expect(fd, TC__PEER__MSG__BODY_SYNC_END);
    cr_assert_eq(m->sync_end->entries, 2);
    tc__peer__msg__free_unpacked(m, NULL);

    /* The connection goes: sip1's DNs go OOS at once. */
    close(fd);
    cr_assert(harness_wait_metric(n, INSRV, 0, 2000));
    cr_assert_eq(metric(n, "tcluster_peer_link_up{peer=\"sip1\"}"), 0);
    hcluster_cleanup(&c);
}

/* ---- a cut link: packets dropped, no reset, in a network namespace ---- */

static bool run_ok(const char *cmd)
{
    char *out;
    int rc = harness_run(cmd, &out);

    if (rc != 0)
        cr_log_warn("%s: exit %d: %s", cmd, rc, out);
    free(out);
    return rc == 0;
}

/* Drop every packet to or from port on loopback (both directions of
 * every connection that uses it), or stop dropping. */
static void cut(uint16_t port, bool on)
{
    char cmd[512];

    if (!on) {
        cr_assert(run_ok("nft delete table inet tcpart"));
        return;
    }
    snprintf(cmd, sizeof(cmd),
             "nft add table inet tcpart && "
             "nft 'add chain inet tcpart in { type filter hook input priority 0; }' && "
             "nft add rule inet tcpart in tcp dport %u drop && "
             "nft add rule inet tcpart in tcp sport %u drop",
             port, port);
    cr_assert(run_ok(cmd));
}

Test(replication, partition_and_heal)
{
    struct hcluster c;
    int ms;

    /* The test's own network namespace: its loopback, its firewall, gone
     * when the test process ends. */
    if (unshare(CLONE_NEWNET) != 0)
        cr_skip_test("partition: no network namespace here (%s); needs root", strerror(errno));
    if (!run_ok("ip link set lo up") || !run_ok("command -v nft"))
        cr_skip_test("partition: ip or nft (Debian package nftables) missing");

    hcluster_init(&c, 3, "1000-1999", NULL);
    hcluster_start(&c);
    cr_assert(hcluster_wait_all_links(&c, 10000));
    cr_assert_eq(hcluster_register(&c.n[0], "1001"), 0);
    cr_assert_eq(hcluster_register(&c.n[2], "1003"), 0);
    cr_assert(hcluster_wait_metric_all(&c, INSRV, 2, 3000));

    /* sip3 is cut off from sip1 and sip2 (both dial its peer port): each
     * side sees the other's DNs go OOS, its own stay InSrv. */
    cut(c.n[2].peer_port, true);
    ms = time_until(&c.n[0], INSRV, 1, DOWN_MS);
    cr_assert_geq(ms, 0, "sip1 still counts sip3's DN InSrv");
    cr_log_info("partition: sip3's DN OOS at sip1 after %d ms", ms);
    cr_assert(harness_wait_metric(&c.n[2], INSRV, 1, DOWN_MS), "sip3 still counts sip1's DN");
    cr_assert(harness_wait_metric(&c.n[1], INSRV, 1, DOWN_MS));
    cr_assert_eq(metric(&c.n[0], "tcluster_peer_link_up{peer=\"sip2\"}"), 1, "sip1-sip2 kept");

    /* Both sides go on deciding. */
    cr_assert_eq(hcluster_register(&c.n[1], "1002"), 0);
    cr_assert_eq(hcluster_register(&c.n[2], "1004"), 0);
    cr_assert(harness_wait_metric(&c.n[0], INSRV, 2, 3000));
    cr_assert(harness_wait_metric(&c.n[2], INSRV, 2, 3000));

    /* Heal: snapshots bring each side the other's decisions. */
    cut(c.n[2].peer_port, false);
    cr_assert(hcluster_wait_all_links(&c, 15000), "links did not heal");
    cr_assert(hcluster_wait_metric_all(&c, INSRV, 4, 3000), "no convergence after the heal");
    for (int i = 0; i < 3; i++)
        cr_assert_eq(metric(&c.n[i], OWNED), i == 2 ? 2 : 1);
    hcluster_cleanup(&c);
}
