/* tcnode under systemd, as deploy/systemd/tcnode@.service runs it: the
 * sd_notify protocol (READY=1 once listening, WATCHDOG=1 at half of
 * WATCHDOG_USEC, STOPPING=1 at SIGTERM) on a notify socket of the test's
 * own, and log lines with journal priorities when stderr is the journal. */
#include <criterion/criterion.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/tc_test.h"

TestSuite(systemd, .fini = tc_test_leak_check, .timeout = 120);

static const char *dns_1000 = "[dn 1000-1999]\ntype = extension\n";

/* A datagram socket at dir/notify, as systemd's NOTIFY_SOCKET. */
static int notify_socket(const struct hnode *n)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    cr_assert_geq(fd, 0);
    cr_assert_lt(snprintf(a.sun_path, sizeof(a.sun_path), "%s/notify", n->dir),
                 (int)sizeof(a.sun_path));
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0, "bind %s", a.sun_path);
    cr_assert_eq(setenv("NOTIFY_SOCKET", a.sun_path, 1), 0);
    return fd;
}

/* The next message within ms, NUL-terminated in buf; false when none came. */
static bool next_message(int fd, char *buf, size_t cap, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    ssize_t len;

    if (poll(&p, 1, ms) != 1)
        return false;
    len = recv(fd, buf, cap - 1, 0);
    cr_assert_geq(len, 0);
    buf[len] = '\0';
    return true;
}

/* Wait up to ms for a message holding want; counts the WATCHDOG=1 seen. */
static bool wait_message(int fd, const char *want, int ms, int *watchdogs)
{
    uint64_t end = harness_now_ms() + (uint64_t)harness_ms(ms);
    char buf[512];

    for (uint64_t now = harness_now_ms(); now < end; now = harness_now_ms()) {
        if (!next_message(fd, buf, sizeof(buf), (int)(end - now)))
            return false;
        if (strcmp(buf, "WATCHDOG=1") == 0 && watchdogs != NULL)
            (*watchdogs)++;
        if (strstr(buf, want) != NULL)
            return true;
    }
    return false;
}

Test(systemd, ready_when_listening_watchdog_then_stopping)
{
    struct hnode n;
    char buf[512];
    int fd, dogs = 0;

    harness_node_init(&n, "sip1", NULL, dns_1000);
    fd = notify_socket(&n);
    /* 200 ms: the node pings every 100 ms. */
    cr_assert_eq(setenv("WATCHDOG_USEC", "200000", 1), 0);
    harness_node_spawn(&n);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");

    cr_assert(next_message(fd, buf, sizeof(buf), 20000), "no READY=1 in 20 s");
    cr_assert(strncmp(buf, "READY=1\n", 8) == 0, "first message: %s", buf);
    cr_assert(strstr(buf, "STATUS=node sip1: up, 1000 DNs") != NULL, "%s", buf);
    /* Ready means listening, with the state restored. */
    cr_assert_eq(harness_http_get(n.http_port, "/healthz", NULL), 200);

    /* Pings keep coming: five within 2 s (one per 100 ms expected). */
    while (dogs < 5 && wait_message(fd, "WATCHDOG=1", 2000, &dogs))
        ;
    cr_assert_geq(dogs, 5, "%d WATCHDOG=1 messages", dogs);

    kill(n.pid, SIGTERM);
    cr_assert(wait_message(fd, "STOPPING=1", 10000, NULL), "no STOPPING=1");
    cr_assert_eq(harness_node_wait_exit(&n, 20000), 0);
    close(fd);
    harness_node_cleanup(&n);
}

Test(systemd, journal_lines_carry_priorities)
{
    struct hnode n;
    struct stat st;
    char v[64];
    FILE *f;

    harness_node_init(&n, "sip1", NULL, dns_1000);
    /* The log file the node's stderr will be (opened with O_APPEND, so
     * the same inode) plays the journal's stream. */
    f = fopen(n.log, "w");
    cr_assert_not_null(f);
    fclose(f);
    cr_assert_eq(stat(n.log, &st), 0);
    snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    cr_assert_eq(setenv("JOURNAL_STREAM", v, 1), 0);
    harness_node_start(&n);
    unsetenv("JOURNAL_STREAM");
    cr_assert_eq(harness_node_stop(&n), 0);

    char *log = harness_read_file(n.log);
    cr_assert_not_null(log);
    cr_assert(strstr(log, "<5>notice node sip1: up, 1000 DNs") != NULL, "%s", log);
    cr_assert(strstr(log, "<5>notice node sip1: stopped") != NULL, "%s", log);
    /* Every line starts with a priority and none with a time. */
    for (char *l = log; *l != '\0'; l = strchr(l, '\n') + 1) {
        cr_assert(l[0] == '<' && l[1] >= '3' && l[1] <= '7' && l[2] == '>', "line: %.80s", l);
        if (strchr(l, '\n') == NULL)
            break;
    }
    free(log);
    harness_node_cleanup(&n);
}
