/* Slowloris against a real tcnode (issue 13, defect 5): many connections
 * that trickle one byte every 2 s must not lock real clients out of SIP
 * over TCP, the TC port or the default port. The attacker is a child
 * process on loopback addresses other than 127.0.0.1 (the real clients'),
 * bounded in connections and time; it reconnects whenever the node closes
 * one of its connections. Each test prints how long the real clients
 * waited during the attack. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/integration/harness_tc.h"
#include "tests/tc_test.h"

TestSuite(slowloris, .fini = tc_test_leak_check, .timeout = 240);

#define MAX_CONNS       64 /* max-connections of the node under attack */
#define PER_SOURCE      16 /* max-connections-per-source */
#define ATTACK_CONNS    1024
#define ATTACK_SECONDS  40 /* the child stops by itself after this */
#define GAP_MS          2000
#define STORM_EVICTIONS 500 /* evictions before the real clients go */

static const char *dirs = "[dn 1000-1999]\ntype = extension\n";
static const char *limits = "max-connections = 64\n"
                            "max-connections-per-source = 16\n"
                            "message-timeout = 3s\n";

/* What the attacker trickles: the start of a SIP request, or a frame
 * header announcing 64 bytes, then its payload, one byte at a time. */
static const char sip_bytes[] = "REGISTER sip:1000@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.2";
static const char frame_bytes[] = "\0\0\0\x40xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

struct slot {
    int fd;
    size_t sent;
    uint64_t next;
};

static int dial(const char *src, uint16_t port)
{
    struct sockaddr_in me = {.sin_family = AF_INET}, to = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

    if (fd < 0)
        return -1;
    inet_pton(AF_INET, src, &me.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    to.sin_port = htons(port);
    if (bind(fd, (struct sockaddr *)&me, sizeof(me)) != 0 ||
        (connect(fd, (struct sockaddr *)&to, sizeof(to)) != 0 && errno != EINPROGRESS)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The child: keep n connections from the sources 127.0.0.2 .. 127.0.0.(1 +
 * n_src) open to port, each sending one byte of bytes every GAP_MS;
 * reopen closed ones, at most 16 per 50 ms tick. Exits after
 * ATTACK_SECONDS, or with its parent (PR_SET_PDEATHSIG). */
static void attack(uint16_t port, unsigned n, unsigned n_src, const char *bytes, size_t len)
{
    static struct slot s[ATTACK_CONNS];
    static struct pollfd pf[ATTACK_CONNS];
    uint64_t end = harness_now_ms() + ATTACK_SECONDS * 1000;
    char src[32], buf[512];

    for (unsigned i = 0; i < n; i++)
        s[i].fd = -1;
    while (harness_now_ms() < end) {
        uint64_t now = harness_now_ms();
        unsigned dialed = 0;

        for (unsigned i = 0; i < n; i++) {
            if (s[i].fd < 0 && dialed < 16) {
                snprintf(src, sizeof(src), "127.0.0.%u", 2 + i % n_src);
                s[i].fd = dial(src, port);
                s[i].sent = 0;
                s[i].next = now + 20;
                dialed++;
            }
            if (s[i].fd >= 0 && now >= s[i].next) {
                if (send(s[i].fd, bytes + s[i].sent % len, 1, MSG_NOSIGNAL) == 1)
                    s[i].sent++;
                s[i].next = now + GAP_MS;
            }
            pf[i].fd = s[i].fd;
            pf[i].events = POLLIN;
        }
        if (poll(pf, n, 50) <= 0)
            continue;
        for (unsigned i = 0; i < n; i++) {
            if (pf[i].fd < 0 || pf[i].revents == 0)
                continue;
            if (recv(s[i].fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0 && errno != EAGAIN) {
                close(s[i].fd);
                s[i].fd = -1;
            }
        }
    }
    _exit(0);
}

static pid_t attack_start(uint16_t port, unsigned n, unsigned n_src, bool sip)
{
    pid_t pid = fork();

    cr_assert_geq(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (sip)
            attack(port, n, n_src, sip_bytes, sizeof(sip_bytes) - 1);
        else
            attack(port, n, n_src, frame_bytes, sizeof(frame_bytes) - 1);
    }
    return pid;
}

static void attack_stop(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

struct gauge {
    const struct hnode *n;
    const char *name;
    double at_least;
};

static bool gauge_reached(void *arg)
{
    const struct gauge *g = arg;

    return harness_node_metric(g->n, g->name) >= g->at_least;
}

/* Wait until the metric name is at least want (e.g. the attacker holds
 * want of the port's slots). */
static void wait_at_least(const struct hnode *n, const char *name, double want)
{
    struct gauge g = {n, name, want};

    cr_assert(harness_wait(gauge_reached, &g, 20000), "%s never reached %.0f (%.0f)", name, want,
              harness_node_metric(n, name));
}

/* sipsak REGISTER over TCP from 127.0.0.1; returns its exit code and the
 * time it took in *ms. */
static int sipsak_tcp(const struct hnode *n, const char *dn, uint64_t *ms)
{
    char cmd[256];
    uint64_t t0 = harness_now_ms();
    int rc;

    snprintf(cmd, sizeof(cmd),
             "timeout 10 sipsak -i -U -E tcp -s sip:%s@127.0.0.1:%u -x 300 >/dev/null 2>&1", dn,
             n->sip_port);
    rc = harness_run(cmd, NULL);
    *ms = harness_now_ms() - t0;
    return rc;
}

/* tcctl summary on the TC port; returns its exit code and time. */
static int tcctl_summary(const struct hnode *n, uint64_t *ms)
{
    char cmd[512];
    uint64_t t0 = harness_now_ms();
    int rc;

    snprintf(cmd, sizeof(cmd), "timeout 10 '%s' -s 127.0.0.1:%u summary >/dev/null 2>&1",
             tc_test_bin("client/tcctl"), n->tc_port);
    rc = harness_run(cmd, NULL);
    *ms = harness_now_ms() - t0;
    return rc;
}

/* OpenApp then QueryAddress on the default port; true when both are
 * answered. The time in *ms. */
static bool default_port_query(const struct hnode *n, uint64_t *ms)
{
    uint64_t t0 = harness_now_ms();
    struct htc c;
    Tc__Event *ev;
    bool ok = false;

    if (htc_try_connect(&c, n->default_port) != 0)
        goto out;
    if (htc_open_app(&c, 1, "URS") == 0 && (ev = htc_next(&c, 5000)) != NULL) {
        ok = ev->body_case == TC__EVENT__BODY_OPENED;
        tc__event__free_unpacked(ev, NULL);
    }
    if (ok && htc_query_address(&c, 2, "1001") == 0 && (ev = htc_next(&c, 5000)) != NULL) {
        ok = ev->body_case == TC__EVENT__BODY_ADDRESS_INFO;
        tc__event__free_unpacked(ev, NULL);
    } else {
        ok = false;
    }
    htc_close(&c);
out:
    *ms = harness_now_ms() - t0;
    return ok;
}

static void start_node(struct hnode *n)
{
    harness_node_init(n, "sip1", limits, dirs);
    harness_node_start(n);
}

static void stop_node(struct hnode *n)
{
    cr_assert_eq(harness_node_stop(n), 0);
    harness_node_cleanup(n);
}

/* One source opens 1,024 trickling connections: it gets its 16, the real
 * phone registers at once. */
Test(slowloris, sip_tcp_one_source_held_to_its_share)
{
    struct hnode n;
    uint64_t ms, worst = 0;
    pid_t pid;

    start_node(&n);
    pid = attack_start(n.sip_port, ATTACK_CONNS, 1, true);
    wait_at_least(&n, "tcluster_sip_tcp_connections", PER_SOURCE);
    for (int i = 0; i < 5; i++) {
        char dn[16];

        snprintf(dn, sizeof(dn), "%d", 1001 + i);
        cr_expect_eq(sipsak_tcp(&n, dn, &ms), 0, "REGISTER %s over TCP failed under attack", dn);
        worst = ms > worst ? ms : worst;
    }
    cr_assert_leq(harness_node_metric(&n, "tcluster_sip_tcp_connections"), PER_SOURCE + 1);
    cr_assert_gt(harness_node_metric(&n, "tcluster_sip_tcp_refused_per_source_total"), 0);
    attack_stop(pid);
    cr_assert_eq(harness_node_metric(&n, "tcluster_directory_numbers{state=\"insrv\"}"), 5);
    fprintf(stderr,
            "slowloris: sip tcp, 1 source x 1024 connections: 5 REGISTERs, longest %llu ms\n",
            (unsigned long long)worst);
    stop_node(&n);
}

/* Eight sources fill every slot within their shares: at the cap the
 * connection whose message is oldest makes room, so real clients get through on SIP,
 * the TC port and the default port. The real clients go once the attacker
 * reconnects at full speed (each of its connections evicted is replaced at
 * once, evicting another): that storm must not hold the node's loop. */
static void many_sources(bool sip, const char *gauge, const char *port)
{
    struct hnode n;
    uint64_t ms, worst = 0;
    char name[96];
    int ok = 0;
    pid_t pid;

    start_node(&n);
    pid = attack_start(sip ? n.sip_port
                           : (strcmp(port, "tc_port") == 0 ? n.tc_port : n.default_port),
                       8 * PER_SOURCE, 8, sip);
    wait_at_least(&n, gauge, MAX_CONNS);
    snprintf(name, sizeof(name), "tcluster_%s_evicted_total", port);
    wait_at_least(&n, name, STORM_EVICTIONS);
    for (int i = 0; i < 5; i++) {
        char dn[16];
        bool good;

        snprintf(dn, sizeof(dn), "%d", 1001 + i);
        if (sip)
            good = sipsak_tcp(&n, dn, &ms) == 0;
        else if (strcmp(port, "tc_port") == 0)
            good = tcctl_summary(&n, &ms) == 0;
        else
            good = default_port_query(&n, &ms);
        cr_expect(good, "%s: real client %d locked out", port, i);
        ok += good;
        worst = ms > worst ? ms : worst;
    }
    attack_stop(pid);
    fprintf(stderr,
            "slowloris: %s, 8 sources x 16 connections (cap 64): %d/5 real clients served, "
            "longest %llu ms\n",
            port, ok, (unsigned long long)worst);
    cr_assert_eq(ok, 5);
    stop_node(&n);
}

Test(slowloris, sip_tcp_many_sources)
{
    many_sources(true, "tcluster_sip_tcp_connections", "sip_tcp");
}

Test(slowloris, tc_port_many_sources)
{
    many_sources(false, "tcluster_tc_port_connections", "tc_port");
}

Test(slowloris, default_port_many_sources)
{
    many_sources(false, "tcluster_default_port_connections", "default_port");
}

/* A connection that sends a byte every 500 ms, well inside idle-timeout,
 * is closed once its message is 3 s old. */
Test(slowloris, trickle_closed_at_message_deadline)
{
    struct hnode n;
    struct pollfd pf;
    uint64_t t0, next = 0, closed = 0;
    size_t sent = 0;
    char buf[256];
    int fd;

    start_node(&n);
    fd = dial("127.0.0.1", n.sip_port);
    cr_assert_geq(fd, 0);
    t0 = harness_now_ms();
    while (harness_now_ms() - t0 < 10000 && closed == 0) {
        if (harness_now_ms() >= next) {
            if (send(fd, sip_bytes + sent % (sizeof(sip_bytes) - 1), 1, MSG_NOSIGNAL) == 1)
                sent++;
            next = harness_now_ms() + 500;
        }
        pf = (struct pollfd){.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 50) == 1 && recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0 &&
            errno != EAGAIN)
            closed = harness_now_ms() - t0;
    }
    close(fd);
    cr_assert_gt(closed, 0, "a connection trickling a byte every 500 ms was never closed");
    cr_assert_geq(closed, 2500);
    cr_assert_leq(closed, 5000);
    cr_assert_eq(harness_node_metric(&n, "tcluster_sip_tcp_message_timeouts_total"), 1);
    fprintf(stderr, "slowloris: trickling connection closed after %llu ms (message-timeout 3 s)\n",
            (unsigned long long)closed);
    stop_node(&n);
}
