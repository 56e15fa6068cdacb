/* Each TCP connection is a file descriptor: the node raises its soft limit
 * of open files to the hard one at start (server/net/tcp_server.c). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/tc_test.h"

TestSuite(open_files, .fini = tc_test_leak_check, .timeout = 180);

#define CONNS 300

static const char *dirs = "[dn 1000-1999]\ntype = extension\n";
static const char *limits = "max-connections = 1024\n"
                            "max-connections-per-source = 1024\n";

static int dial(uint16_t port)
{
    struct sockaddr_in to = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    to.sin_port = htons(port);
    cr_assert_eq(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0, "connect: %s",
                 strerror(errno));
    return fd;
}

/* Open CONNS connections to the SIP TCP port, one OPTIONS on each; returns
 * how many were answered 200 within 30 s (the rest were closed or silent). */
static unsigned options_on_each(uint16_t port, int *fds)
{
    static struct pollfd pf[CONNS];
    static bool done[CONNS];
    uint64_t end;
    unsigned ok = 0, closed = 0;
    char msg[512], buf[2048];

    for (int i = 0; i < CONNS; i++) {
        int n;

        fds[i] = dial(port);
        n = snprintf(msg, sizeof(msg),
                     "OPTIONS sip:127.0.0.1 SIP/2.0\r\n"
                     "Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-of%d\r\n"
                     "Max-Forwards: 70\r\nFrom: <sip:t@127.0.0.1>;tag=%d\r\n"
                     "To: <sip:127.0.0.1>\r\nCall-ID: of-%d@test\r\nCSeq: 1 OPTIONS\r\n"
                     "Content-Length: 0\r\n\r\n",
                     i, i, i);
        (void)send(fds[i], msg, (size_t)n, MSG_NOSIGNAL);
        done[i] = false;
    }
    end = harness_now_ms() + (uint64_t)harness_ms(30000);
    while (ok + closed < CONNS && harness_now_ms() < end) {
        for (int i = 0; i < CONNS; i++) {
            pf[i].fd = done[i] ? -1 : fds[i];
            pf[i].events = POLLIN;
        }
        if (poll(pf, CONNS, 200) <= 0)
            continue;
        for (int i = 0; i < CONNS; i++) {
            ssize_t k;

            if (pf[i].fd < 0 || pf[i].revents == 0)
                continue;
            k = recv(fds[i], buf, sizeof(buf) - 1, MSG_DONTWAIT);
            if (k > 0 && strncmp(buf, "SIP/2.0 200", 11) == 0) {
                ok++;
                done[i] = true;
            } else if (k == 0 || (k < 0 && errno != EAGAIN)) {
                closed++;
                done[i] = true;
            }
        }
    }
    return ok;
}

/* Started with a soft limit of 64 open files (a hard one far above), the
 * node still takes 300 phones on TCP: without raising the soft limit it
 * ran out of descriptors after ~40. */
Test(open_files, soft_limit_raised_for_many_connections)
{
    static int fds[CONNS];
    struct rlimit rl, low;
    struct hnode n;
    unsigned ok;

    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 2 * CONNS + 256)
        cr_skip_test("hard limit of open files %llu too low", (unsigned long long)rl.rlim_max);
    harness_node_init(&n, "sip1", limits, dirs);
    low = rl;
    low.rlim_cur = 64;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    harness_node_start(&n); /* inherits the soft limit of 64 */
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    ok = options_on_each(n.sip_port, fds);
    cr_expect_eq(ok, CONNS, "%u of %d connections answered", ok, CONNS);
    for (int i = 0; i < CONNS; i++)
        close(fds[i]);
    harness_node_cleanup(&n);
}
