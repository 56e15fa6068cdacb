/* A frozen peer's DNs as TC port events, seen by tcwatch: when sip2 stops,
 * sip1 publishes each of its DNs as out of service, and back in service
 * when it heals. tcwatch is stopped while the sweep runs (its socket
 * buffers take the events, or its pending set: tcport/coalesce.c): every
 * DN must come out of service exactly once, then back, in that order, with
 * the sequence never going back. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/integration/harness_cluster.h"
#include "tests/integration/harness_tc.h"
#include "tests/tc_test.h"

TestSuite(tc_port_sweep, .fini = tc_test_leak_check, .timeout = 400);

#define LO    100000
#define N_DNS 10000
#define INSRV "tcluster_directory_numbers{state=\"insrv\"}"

static pid_t start_tcwatch(uint16_t port, const char *out)
{
    char addr[32];
    pid_t pid = fork();

    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);

        if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0)
            _exit(127);
        snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
        execl(tc_test_bin("client/tcwatch"), "tcwatch", "-s", addr, "--json", (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Lines of path holding needle. */
static unsigned count(const char *path, const char *needle)
{
    char *text = harness_read_file(path);
    unsigned k = 0;

    for (const char *p = text; p != NULL && (p = strstr(p, needle)) != NULL; p++)
        k++;
    free(text);
    return k;
}

struct wait_lines {
    const char *path, *needle;
    unsigned want;
};

static bool has_lines(void *arg)
{
    struct wait_lines *w = arg;

    return count(w->path, w->needle) >= w->want;
}

/* After the snapshot: every DN out of service once, then back once, and
 * the sequence never going back. */
static void check_events(const char *path)
{
    static unsigned char st[N_DNS];
    char *text = harness_read_file(path), *line, *save = NULL;
    unsigned long long last_seq = 0;
    unsigned oos = 0, back = 0, bad = 0;
    bool live = false;

    cr_assert_not_null(text);
    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        const char *dn = strstr(line, "\"dn\":\"");
        unsigned long long seq = strtoull(line + strlen("{\"seq\":\""), NULL, 10);
        bool out = strstr(line, "\"event\":\"out-of-service\"") != NULL;
        bool in = strstr(line, "\"event\":\"back-in-service\"") != NULL;
        unsigned long v;

        if (strstr(line, "\"event\":\"snapshot-end\"") != NULL) {
            live = true;
            last_seq = seq;
            continue;
        }
        if (!live)
            continue;
        cr_expect_geq(seq, last_seq, "sequence went back: %s", line);
        last_seq = seq;
        if (dn == NULL || !(out || in))
            continue;
        v = strtoul(dn + 6, NULL, 10);
        cr_assert(v >= LO && v < LO + N_DNS, "%s", line);
        if (out && st[v - LO] == 0) {
            st[v - LO] = 1;
            oos++;
        } else if (in && st[v - LO] == 1) {
            st[v - LO] = 2;
            back++;
        } else if (bad++ < 5) {
            cr_log_error("out of order or repeated: %s", line);
        }
    }
    free(text);
    cr_expect_eq(oos, N_DNS, "%u of %d DNs reported out of service", oos, N_DNS);
    cr_expect_eq(back, N_DNS, "%u of %d DNs reported back in service", back, N_DNS);
    cr_expect_eq(bad, 0, "%u events out of order or repeated", bad);
}

Test(tc_port_sweep, frozen_peer_every_dn_out_then_back_once_in_order)
{
    struct hcluster c;
    struct htc gws;
    struct wait_lines w;
    char out[320], dns[32];
    pid_t watch;
    int status;

    snprintf(dns, sizeof(dns), "%d-%d", LO, LO + N_DNS - 1);
    hcluster_init(&c, 2, dns, "gws-client-names = GWS\n");
    for (int i = 0; i < 2; i++)
        hcluster_write_config(&c, i, "gws-client-names = GWS\n",
                              "\n[gws GWS]\nallow-from = 127.0.0.1\n");
    hcluster_start(&c);
    cr_assert(hcluster_wait_all_links(&c, 20000));
    htc_connect(&gws, c.n[1].default_port);
    cr_assert_eq(htc_open_app(&gws, 1, "GWS"), 0);
    tc__event__free_unpacked(htc_expect(&gws, TC__EVENT__BODY_OPENED, 5000), NULL);
    htc_gws_set(&gws, LO, LO + N_DNS - 1, 1, true);
    cr_assert(harness_wait_metric(&c.n[0], INSRV, N_DNS, 60000), "sip2's claims at sip1");

    snprintf(out, sizeof(out), "%s/tcwatch.out", c.n[0].dir);
    watch = start_tcwatch(c.n[0].tc_port, out);
    w = (struct wait_lines){out, "\"event\":\"snapshot-end\"", 1};
    cr_assert(harness_wait(has_lines, &w, 60000), "tcwatch's snapshot");

    /* The subscriber stops reading, then sip2 freezes: the sweep fills
     * tcwatch's output and the rest coalesces. */
    kill(watch, SIGSTOP);
    kill(c.n[1].pid, SIGSTOP);
    cr_assert(harness_wait_metric(&c.n[0], INSRV, 0, 30000), "sip2's DNs OOS at sip1");
    kill(watch, SIGCONT);
    w = (struct wait_lines){out, "\"event\":\"out-of-service\"", N_DNS};
    cr_assert(harness_wait(has_lines, &w, 60000), "every OOS event at tcwatch: %u",
              count(out, w.needle));
    w = (struct wait_lines){out, "\"event\":\"link-disconnected\"", 1};
    cr_assert(harness_wait(has_lines, &w, 10000), "the link event at tcwatch");

    kill(c.n[1].pid, SIGCONT);
    w = (struct wait_lines){out, "\"event\":\"back-in-service\"", N_DNS};
    cr_assert(harness_wait(has_lines, &w, 60000), "every back-in-service event: %u",
              count(out, w.needle));
    kill(watch, SIGTERM);
    cr_assert_eq(waitpid(watch, &status, 0), watch);
    check_events(out);
    cr_log_info("changes coalesced for tcwatch while it was stopped: %.0f",
                harness_node_metric(&c.n[0], "tcluster_tc_port_coalesced_total"));
    htc_close(&gws);
    hcluster_cleanup(&c);
}
