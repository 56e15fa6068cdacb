/* A flood of REGISTERs from many sources over UDP and TCP, past what the
 * node can serve (issue 13, issue 15): it answers what it can, sheds the
 * rest with 503 + Retry-After instead of queueing them in its socket
 * buffers, loses no acknowledged state (every DN answered 200 is InSrv in
 * its table afterwards, asked through the TC port with tcctl) and its
 * memory stays bounded. The load comes from tests/bench/regflood. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/integration/harness.h"
#include "tests/tc_test.h"

TestSuite(flood, .fini = tc_test_leak_check, .timeout = 300);

#define DN_FIRST   100000
#define DN_COUNT   200000
#define RATE       "45000" /* REGISTER/s offered, far past an ASan build's capacity */
#define SECS       "2"
#define MAX_HWM_KB (1024 * 1024) /* peak RSS bound of the sanitized node */

/* The value of key=... in regflood's line, or -1. */
static long kv(const char *line, const char *key)
{
    char pat[64];
    const char *p;

    snprintf(pat, sizeof(pat), " %s=", key);
    p = strstr(line, pat);
    return p == NULL ? -1 : strtol(p + strlen(pat), NULL, 10);
}

struct flood_run {
    long sent, c200, c503, c503_ra, other, unanswered;
};

static void flood(const struct hnode *n, const char *transport, const char *dns, const char *extra,
                  const char *tag, struct flood_run *r)
{
    char cmd[1024], *out = NULL;
    int rc;

    snprintf(cmd, sizeof(cmd),
             "timeout 60 %s/tests/bench_regflood -s 127.0.0.1:%u -t %s --rate " RATE
             " --duration " SECS " --wait 5 --dns %s %s --ok-file %s/ok-%s"
             " --unanswered-file %s/unanswered-%s",
             TC_BINARY_DIR, n->sip_port, transport, dns, extra, n->dir, tag, n->dir, tag);
    rc = harness_run(cmd, &out);
    cr_assert_eq(rc, 0, "regflood %s: exit %d: %s", transport, rc, out ? out : "");
    cr_assert(strstr(out, "regflood transport=") != NULL, "regflood said: %s", out);
    fprintf(stderr, "flood: %s", out);
    r->sent = kv(out, "sent");
    r->c200 = kv(out, "c200");
    r->c503 = kv(out, "c503");
    r->c503_ra = kv(out, "c503_retry_after");
    r->other = kv(out, "c_other");
    r->unanswered = kv(out, "unanswered");
    free(out);
}

static bool no_waiting_answers(void *arg)
{
    return harness_node_metric(arg, "tcluster_sip_waiting_answers") == 0;
}

/* Mark the DNs tcctl lists as InSrv at n in seen[]. Returns how many. */
static long table_insrv(const struct hnode *n, unsigned char *seen)
{
    char cmd[512], *out = NULL, *line, *save = NULL;
    long count = 0;

    snprintf(cmd, sizeof(cmd), "%s/client/tcctl -s 127.0.0.1:%u dns --state insrv --all",
             TC_BINARY_DIR, n->tc_port);
    cr_assert_eq(harness_run(cmd, &out), 0, "tcctl dns: %s", out ? out : "");
    for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        long dn = strtol(line, NULL, 10);

        if (dn >= DN_FIRST && dn < DN_FIRST + DN_COUNT && strstr(line, n->name) != NULL) {
            seen[dn - DN_FIRST] = 1;
            count++;
        }
    }
    free(out);
    return count;
}

/* Count the DNs of file (one per line) that are (in_table) or are not in
 * seen[]. */
static long count_dns(const char *dir, const char *name, const unsigned char *seen, bool in_table)
{
    char path[512], *text, *line, *save = NULL;
    long n = 0;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    text = harness_read_file(path);
    cr_assert_not_null(text, "%s missing", path);
    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        long dn = strtol(line, NULL, 10);

        cr_assert(dn >= DN_FIRST && dn < DN_FIRST + DN_COUNT, "%s: bad DN %s", path, line);
        if ((seen[dn - DN_FIRST] != 0) == in_table)
            n++;
    }
    free(text);
    return n;
}

/* The peak RSS of pid, in KiB (files in /proc have no size: read lines). */
static long vm_hwm_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    }
    fclose(f);
    return kb;
}

Test(flood, sheds_with_503_and_loses_no_acknowledged_register)
{
    static unsigned char seen[DN_COUNT];
    struct flood_run u = {0}, t = {0};
    long insrv, lost_acked, unanswered_in, unanswered_out, hwm;
    struct hnode n;

    harness_node_init(&n, "sip1", "sip-shed-delay = 5ms\nmax-connections = 4096\n",
                      "[dn 100000-299999]\ntype = extension\n");
    harness_node_start(&n);

    flood(&n, "udp", "100000-199999", "--paths 64", "udp", &u);
    flood(&n, "tcp", "200000-299999", "--paths 512", "tcp", &t);
    cr_assert(harness_wait(no_waiting_answers, &n, 20000), "answers still wait for the store");
    cr_assert_eq(harness_http_get(n.http_port, "/healthz", NULL), 200, "the node is not healthy");

    /* It shed, and said when to come back. */
    cr_assert_gt(u.c503 + t.c503, 0, "no REGISTER was shed: udp %ld tcp %ld", u.c503, t.c503);
    cr_assert_eq(u.c503_ra + t.c503_ra, u.c503 + t.c503, "a 503 without Retry-After");
    cr_assert_gt(harness_node_metric(&n, "tcluster_sip_shed_total{transport=\"udp\"}") +
                         harness_node_metric(&n, "tcluster_sip_shed_total{transport=\"tcp\"}"),
                 0, "tcluster_sip_shed_total is 0");
    /* And served what it could. */
    cr_assert_gt(u.c200, 0, "no UDP REGISTER was answered 200");
    cr_assert_gt(t.c200, 0, "no TCP REGISTER was answered 200");

    /* Every DN answered 200 is InSrv here; what got no answer at all may
     * be either way (its 200 may have been lost on the way back). */
    insrv = table_insrv(&n, seen);
    lost_acked = count_dns(n.dir, "ok-udp", seen, false) + count_dns(n.dir, "ok-tcp", seen, false);
    unanswered_in = count_dns(n.dir, "unanswered-udp", seen, true) +
                    count_dns(n.dir, "unanswered-tcp", seen, true);
    unanswered_out = count_dns(n.dir, "unanswered-udp", seen, false) +
                     count_dns(n.dir, "unanswered-tcp", seen, false);
    hwm = vm_hwm_kb(n.pid);
    fprintf(stderr,
            "flood: offered %ld, answered 200 %ld, shed 503 %ld, other answers %ld, "
            "unanswered %ld (DNs: %ld in the table, %ld not), acknowledged and lost %ld, "
            "InSrv %ld, peak RSS (VmHWM) %ld MiB\n",
            u.sent + t.sent, u.c200 + t.c200, u.c503 + t.c503, u.other + t.other,
            u.unanswered + t.unanswered, unanswered_in, unanswered_out, lost_acked, insrv,
            hwm / 1024);
    cr_assert_eq(lost_acked, 0, "%ld DNs answered 200 are not InSrv in the table", lost_acked);
    cr_assert(hwm > 0 && hwm < MAX_HWM_KB, "peak RSS %ld KiB", hwm);

    cr_assert_eq(harness_node_stop(&n), 0, "tcnode did not stop cleanly");
    harness_node_cleanup(&n);
}
