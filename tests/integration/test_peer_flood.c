/* Issue 13, defect 2: connections that never authenticate must not keep a
 * configured peer out. An attacker holds idle connections to sip2's peer
 * port from 127.0.0.2..127.0.0.9 and opens a new one the moment one is
 * closed; sip1 (configured at 127.0.0.1) is killed with -9 and restarted,
 * and its link to sip2 must come back while the flood goes on. The idle
 * connections are closed after the handshake deadline, and sip2's log
 * stays short. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/integration/harness_cluster.h"
#include "tests/tc_test.h"

TestSuite(peer_flood, .fini = tc_test_leak_check, .timeout = 240);

#define SOURCES    8 /* 127.0.0.2 .. 127.0.0.9 */
#define PER_SOURCE 5 /* one past PEER_PENDING_SOURCE */
#define ATTACK_FDS (SOURCES * PER_SOURCE)
#define LINK_UP    "tcluster_peer_link_up{peer=\"sip1\"}"

struct attack {
    uint16_t port;
    int fd[ATTACK_FDS];
    uint64_t opened_ms[ATTACK_FDS];
    unsigned connects, closed_by_node;
    uint64_t longest_ms; /* the longest an idle connection stayed open */
};

/* Connect slot i from 127.0.0.(2 + i / PER_SOURCE); -1 when it fails. */
static int attack_open(struct attack *a, int i)
{
    struct sockaddr_in src = {.sin_family = AF_INET}, dst = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    char ip[32];

    cr_assert_geq(fd, 0);
    snprintf(ip, sizeof(ip), "127.0.0.%d", 2 + i / PER_SOURCE);
    inet_pton(AF_INET, ip, &src.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    dst.sin_port = htons(a->port);
    if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0 ||
        connect(fd, (struct sockaddr *)&dst, sizeof(dst)) != 0) {
        close(fd);
        a->fd[i] = -1;
        return -1;
    }
    a->fd[i] = fd;
    a->opened_ms[i] = harness_now_ms();
    a->connects++;
    return fd;
}

/* Drain what the node sent on every slot; a closed one is opened again at
 * once, so the attacker holds as many slots as it can. Waits up to ms. */
static void attack_pump(struct attack *a, int ms)
{
    struct pollfd pfd[ATTACK_FDS];
    char buf[4096];

    for (int i = 0; i < ATTACK_FDS; i++) {
        if (a->fd[i] < 0)
            attack_open(a, i);
        pfd[i].fd = a->fd[i];
        pfd[i].events = POLLIN;
        pfd[i].revents = 0;
    }
    if (poll(pfd, ATTACK_FDS, ms) <= 0)
        return;
    for (int i = 0; i < ATTACK_FDS; i++) {
        ssize_t n;

        if (pfd[i].revents == 0)
            continue;
        n = read(a->fd[i], buf, sizeof(buf));
        if (n > 0)
            continue; /* the node's Hello: never answered */
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        uint64_t held = harness_now_ms() - a->opened_ms[i];
        if (held > a->longest_ms)
            a->longest_ms = held;
        a->closed_by_node++;
        close(a->fd[i]);
        attack_open(a, i);
    }
}

static void attack_stop(struct attack *a)
{
    for (int i = 0; i < ATTACK_FDS; i++) {
        if (a->fd[i] >= 0)
            close(a->fd[i]);
    }
}

/* Keep the flood going until node n's metric equals want or ms pass.
 * Returns the ms it took, or -1. */
static int flood_until(struct attack *a, const struct hnode *n, const char *key, double want,
                       int ms)
{
    uint64_t t0 = harness_now_ms();

    while (harness_now_ms() - t0 < (uint64_t)ms) {
        attack_pump(a, 100);
        if (harness_node_metric(n, key) == want)
            return (int)(harness_now_ms() - t0);
    }
    return -1;
}

static long file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

Test(peer_flood, known_peer_redials_through_idle_connections)
{
    struct hcluster c;
    struct attack a = {0};
    long log_before;
    int ms;

    hcluster_init(&c, 2, "1000-1999", NULL);
    hcluster_start(&c);
    cr_assert(hcluster_wait_all_links(&c, 10000), "links did not come up");

    /* sip1 dials sip2 (the lower name dials): sip2 is the one flooded. */
    a.port = c.n[1].peer_port;
    for (int i = 0; i < ATTACK_FDS; i++)
        a.fd[i] = -1;
    log_before = file_size(c.n[1].log);
    attack_pump(&a, 500);

    harness_node_kill(&c.n[0]);
    ms = flood_until(&a, &c.n[1], LINK_UP, 0, 2 * HCLUSTER_TIMEOUT_MS + 1000);
    cr_assert_geq(ms, 0, "sip2 still reports the link to sip1 up");
    /* Hold the slots a little longer, then let sip1 redial into the flood. */
    flood_until(&a, &c.n[1], LINK_UP, 2, 1500);
    harness_node_spawn(&c.n[0]);
    ms = flood_until(&a, &c.n[1], LINK_UP, 1, 15000);
    cr_assert_geq(ms, 0, "sip1's link did not come back during the flood (%u connects)",
                  a.connects);
    cr_log_info("link back %d ms after restart; %u attacker connects, %u closed by the node", ms,
                a.connects, a.closed_by_node);
    /* Keep flooding: the link must stay up. */
    cr_assert_eq(flood_until(&a, &c.n[1], LINK_UP, 0, 3000), -1, "the link fell again");

    cr_assert_gt(a.closed_by_node, 0, "the idle connections were never closed");
    cr_assert_leq(a.longest_ms, 2000 + 1500, "an idle connection was held %llu ms",
                  (unsigned long long)a.longest_ms);
    cr_assert_gt(harness_node_metric(&c.n[1], "tcluster_peer_refused_total{reason=\"per_source\"}"), 0);
    cr_assert_gt(harness_node_metric(&c.n[1], "tcluster_peer_refused_total{reason=\"pending_full\"}"), 0);
    cr_assert_gt(
            harness_node_metric(&c.n[1], "tcluster_peer_refused_total{reason=\"handshake_timeout\"}"), 0);
    attack_stop(&a);

    /* Defect 6: one line per refused connection would be hundreds of
     * lines; the limit keeps it to a few per call site. */
    cr_log_info("sip2 log grew %ld bytes", file_size(c.n[1].log) - log_before);
    cr_assert_lt(file_size(c.n[1].log) - log_before, 64 * 1024, "sip2 logged every refusal");
    hcluster_cleanup(&c);
}
