/* The operator tools against a real tcnode's TC port: tcctl's commands,
 * output and exit codes, and tcwatch's snapshot, marker, live events,
 * resume and end (DESIGN §10). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/integration/harness_cluster.h"
#include "tests/tc_test.h"

TestSuite(tools, .fini = tc_test_leak_check, .timeout = 180);

#define WAIT_MS 20000

static const char *dirs = "[dn 1000-1999]\ntype = extension\n";

static const char *json_check = "python3 -c 'import json,sys; [json.loads(l) for l in sys.stdin]'";

/* Run tcctl against n's TC port with args; returns its exit code and, when
 * out is not NULL, its stdout and stderr. */
static int tcctl(const struct hnode *n, const char *args, char **out)
{
    char cmd[1024];

    snprintf(cmd, sizeof(cmd), "'%s' -s 127.0.0.1:%u %s", tc_test_bin("client/tcctl"), n->tc_port,
             args);
    return harness_run(cmd, out);
}

/* Run tcctl --json ARGS and check that each line of its stdout parses as
 * JSON; returns the number of lines. */
static int tcctl_json_lines(const struct hnode *n, const char *args)
{
    char cmd[1200], *out;
    int rc, lines = 0;

    snprintf(cmd, sizeof(cmd),
             "'%s' -s 127.0.0.1:%u --json %s 2>/dev/null | tee '%s/json.out' | %s",
             tc_test_bin("client/tcctl"), n->tc_port, args, n->dir, json_check);
    rc = harness_run(cmd, &out);
    cr_assert_eq(rc, 0, "tcctl --json %s does not parse: %s", args, out);
    free(out);
    snprintf(cmd, sizeof(cmd), "%s/json.out", n->dir);
    out = harness_read_file(cmd);
    cr_assert_not_null(out);
    for (const char *p = out; (p = strchr(p, '\n')) != NULL; p++)
        lines++;
    free(out);
    return lines;
}

static int sipsak(const struct hnode *n, const char *dn)
{
    char cmd[256];

    snprintf(cmd, sizeof(cmd), "timeout 10 sipsak -i -U -s sip:%s@127.0.0.1:%u -x 300", dn,
             n->sip_port);
    return harness_run(cmd, NULL);
}

/* Lines of text starting with prefix. */
static int count_lines(const char *text, const char *prefix)
{
    size_t len = strlen(prefix);
    int n = 0;

    for (const char *p = text; p != NULL && *p != '\0';) {
        if (strncmp(p, prefix, len) == 0)
            n++;
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return n;
}

/* tcwatch running in the background, its stdout read through a pipe. */
struct watcher {
    pid_t pid;
    int fd;
    char buf[8192];
    size_t len;
    int exit_code;
};

static void watcher_start(struct watcher *w, const struct hnode *n, const char *args)
{
    char cmd[1024];
    int p[2];

    snprintf(cmd, sizeof(cmd), "exec '%s' -s 127.0.0.1:%u %s 2>>'%s/tcwatch.err'",
             tc_test_bin("client/tcwatch"), n->tc_port, args, n->dir);
    memset(w, 0, sizeof(*w));
    cr_assert_eq(pipe(p), 0);
    w->pid = fork();
    cr_assert_geq(w->pid, 0);
    if (w->pid == 0) {
        dup2(p[1], STDOUT_FILENO);
        close(p[0]);
        close(p[1]);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    w->fd = p[0];
    fcntl(w->fd, F_SETFL, O_NONBLOCK);
}

/* The next line (malloc'd, without its newline) within ms, or NULL at the
 * deadline or the end of the output. */
static char *watcher_line(struct watcher *w, int ms)
{
    uint64_t deadline = harness_now_ms() + (uint64_t)harness_ms(ms);

    for (;;) {
        char *nl = memchr(w->buf, '\n', w->len);
        struct pollfd pfd = {.fd = w->fd, .events = POLLIN};
        uint64_t now = harness_now_ms();
        ssize_t r;

        if (nl != NULL) {
            size_t n = (size_t)(nl - w->buf);
            char *line = strndup(w->buf, n);

            memmove(w->buf, nl + 1, w->len - n - 1);
            w->len -= n + 1;
            return line;
        }
        cr_assert_lt(w->len, sizeof(w->buf) - 1, "tcwatch line too long");
        if (now >= deadline)
            return NULL;
        poll(&pfd, 1, (int)(deadline - now));
        r = read(w->fd, w->buf + w->len, sizeof(w->buf) - 1 - w->len);
        if (r == 0)
            return NULL;
        if (r > 0)
            w->len += (size_t)r;
    }
}

/* Read lines until one holds every needle (NULL-terminated); when kind is
 * not NULL, count in *n_kind the lines before it that hold kind. Returns
 * the matching line (malloc'd); aborts at the deadline. */
static char *watcher_wait(struct watcher *w, const char *const *needles, const char *kind,
                          int *n_kind)
{
    uint64_t deadline = harness_now_ms() + (uint64_t)harness_ms(WAIT_MS);
    char *line;

    for (;;) {
        uint64_t now = harness_now_ms();
        bool all = true;

        cr_assert_lt(now, deadline, "tcwatch: no line with '%s' in time", needles[0]);
        line = watcher_line(w, (int)(deadline - now));
        cr_assert_not_null(line, "tcwatch ended or was silent before '%s'", needles[0]);
        for (const char *const *n = needles; *n != NULL; n++)
            all = all && strstr(line, *n) != NULL;
        if (all)
            return line;
        if (kind != NULL && n_kind != NULL && strstr(line, kind) != NULL)
            (*n_kind)++;
        free(line);
    }
}

/* Send sig (0: none) and wait for the exit; returns its exit code. */
static int watcher_stop(struct watcher *w, int sig)
{
    uint64_t deadline = harness_now_ms() + (uint64_t)harness_ms(WAIT_MS);
    int status;

    if (sig != 0)
        kill(w->pid, sig);
    for (;;) {
        pid_t r = waitpid(w->pid, &status, WNOHANG);

        if (r == w->pid)
            break;
        if (harness_now_ms() >= deadline) {
            kill(w->pid, SIGKILL);
            waitpid(w->pid, &status, 0);
            cr_assert_fail("tcwatch did not exit");
        }
        usleep(10000);
    }
    close(w->fd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The sequence number that starts a tcwatch line. */
static unsigned long long line_seq(const char *line)
{
    return strtoull(line, NULL, 10);
}

Test(tools, tcctl_summary_and_dns)
{
    struct hnode n;
    char *out;

    harness_node_init(&n, "sip1", NULL, dirs);
    harness_node_start(&n);
    cr_assert_eq(tcctl(&n, "summary", &out), 0, "%s", out);
    cr_assert(strstr(out, "total") != NULL && strstr(out, "1000") != NULL, "%s", out);
    cr_assert(strstr(out, "oos") != NULL, "%s", out);
    free(out);
    cr_assert_eq(tcctl(&n, "dns --limit 5", &out), 0, "%s", out);
    cr_assert_eq(count_lines(out, "DN "), 1, "one header: %s", out);
    cr_assert_eq(count_lines(out, "1"), 5, "five DNs: %s", out);
    cr_assert(strstr(out, "1000 ") != NULL && strstr(out, "1004 ") != NULL, "%s", out);
    cr_assert(strstr(out, "... 995 more DNs match; use --limit N for more, or --all") != NULL, "%s",
              out);
    free(out);
    /* Without --limit a page of 100, and how many more; --all lists all. */
    cr_assert_eq(tcctl(&n, "dns", &out), 0, "%s", out);
    cr_assert_eq(count_lines(out, "1"), 100, "a page: %s", out);
    cr_assert(strstr(out, "... 900 more DNs match") != NULL, "%s", out);
    free(out);
    cr_assert_eq(tcctl(&n, "dns --all", &out), 0, "%s", out);
    cr_assert_eq(count_lines(out, "1"), 1000, "all");
    cr_assert_null(strstr(out, "more DN"), "nothing cut");
    free(out);
    cr_assert_eq(tcctl(&n, "dns --state insrv", &out), 0, "%s", out);
    cr_assert_eq(count_lines(out, "1"), 0, "nothing is InSrv yet: %s", out);
    free(out);
    cr_assert_eq(tcctl(&n, "nodes", &out), 0, "%s", out);
    cr_assert(strstr(out, "sip1") != NULL && strstr(out, "self") != NULL, "%s", out);
    free(out);
    harness_node_stop(&n);
    harness_node_cleanup(&n);
}

/* A version column as tcctl prints it: "YYYY-MM-DDTHH:MM:SS.mmmZ#N@sip1". */
static bool version_readable(const char *out)
{
    const char *p = strstr(out, "Z#");

    if (p == NULL || p - out < 23 || p[-4] != '.' || p[-19] != '-')
        return false;
    for (p += 2; *p >= '0' && *p <= '9'; p++)
        ;
    return strncmp(p, "@sip1", 5) == 0;
}

Test(tools, tcctl_dn_follows_a_sipsak_registration)
{
    struct hnode n;
    char *out;

    harness_node_init(&n, "sip1", NULL, dirs);
    harness_node_start(&n);
    cr_assert_eq(tcctl(&n, "dn 1001", &out), 0, "%s", out);
    cr_assert(strstr(out, "1001") != NULL && strstr(out, "OOS") != NULL, "%s", out);
    free(out);
    cr_assert_eq(sipsak(&n, "1001"), 0);
    cr_assert_eq(tcctl(&n, "dn 1001", &out), 0, "%s", out);
    cr_assert(strstr(out, "InSrv") != NULL, "%s", out);
    cr_assert(strstr(out, " sip1 ") != NULL, "owner: %s", out);
    cr_assert(strstr(out, " sip ") != NULL, "source: %s", out);
    cr_assert(strstr(out, "sip:1001@127.0.0.1") != NULL, "binding: %s", out);
    /* Each binding with its transport, source address and expiry. */
    cr_assert(strstr(out, " (udp from 127.0.0.1:") != NULL, "binding details: %s", out);
    cr_assert(strstr(out, ", expires 20") != NULL, "binding expiry: %s", out);
    cr_assert(strstr(out, "Z ") != NULL, "an ISO-8601 UTC time: %s", out);
    cr_assert(version_readable(out), "version as TIME#COUNTER@NODE: %s", out);
    free(out);
    cr_assert_eq(tcctl(&n, "--json dn 1001", &out), 0, "%s", out);
    cr_assert(strstr(out, "\"owner\":\"sip1\"") != NULL, "%s", out);
    /* 64-bit values are strings: jq and JavaScript round larger numbers. */
    cr_assert(strstr(out, "\"hlc\":\"") != NULL, "%s", out);
    cr_assert(strstr(out, "\"since_unix_ms\":\"") != NULL, "%s", out);
    cr_assert(strstr(out, "\"text\":\"20") != NULL, "%s", out);
    cr_assert(strstr(out, "\"status\":\"insrv\"") != NULL, "%s", out);
    cr_assert(strstr(out, "\"bindings\":[\"sip:1001@127.0.0.1") != NULL, "%s", out);
    cr_assert(strstr(out, "\"binding_info\":[{\"contact\":\"sip:1001@127.0.0.1") != NULL, "%s",
              out);
    cr_assert(strstr(out, "\"transport\":\"udp\",\"received\":\"127.0.0.1:") != NULL, "%s", out);
    cr_assert(strstr(out, "\"expires_unix_ms\":\"") != NULL, "%s", out);
    free(out);
    cr_assert_eq(tcctl(&n, "summary", &out), 0, "%s", out);
    cr_assert(strstr(out, "owner   sip1   1") != NULL, "%s", out);
    free(out);
    cr_assert_eq(tcctl(&n, "dns --state insrv --owner sip1", &out), 0, "%s", out);
    cr_assert_eq(count_lines(out, "1001 "), 1, "%s", out);
    cr_assert_eq(count_lines(out, "1"), 1, "%s", out);
    free(out);
    /* The words the table prints are taken back, in any case. */
    cr_assert_eq(tcctl(&n, "dns --state InSrv", &out), 0, "%s", out);
    cr_assert_eq(count_lines(out, "1001 "), 1, "%s", out);
    free(out);
    cr_assert_eq(tcctl(&n, "dns --state OOS --limit 3", &out), 0, "%s", out);
    cr_assert_eq(count_lines(out, "1"), 3, "%s", out);
    free(out);
    harness_node_stop(&n);
    harness_node_cleanup(&n);
}

Test(tools, tcctl_exit_codes)
{
    struct hnode n;
    char cmd[600], *out;

    harness_node_init(&n, "sip1", NULL, dirs);
    harness_node_start(&n);
    cr_assert_eq(tcctl(&n, "dn 99999", &out), 3, "%s", out);
    cr_assert(strstr(out, "unknown") != NULL, "%s", out);
    free(out);
    cr_assert_eq(tcctl(&n, "dn 1001 99999 1002", &out), 3, "%s", out);
    cr_assert(strstr(out, "1001 ") != NULL && strstr(out, "1002 ") != NULL, "%s", out);
    free(out);
    cr_assert_eq(tcctl(&n, "bogus", NULL), 1);
    cr_assert_eq(tcctl(&n, "--bogus summary", NULL), 1);
    cr_assert_eq(tcctl(&n, "dn 10a1", NULL), 1);
    cr_assert_eq(tcctl(&n, "dn", NULL), 1);
    cr_assert_eq(tcctl(&n, "dns --state maybe", NULL), 1);
    cr_assert_eq(tcctl(&n, "dns --limit", NULL), 1);
    /* 0 read as "all" to some and "none" to others: all is --all. */
    cr_assert_eq(tcctl(&n, "dns --limit 0", &out), 1, "%s", out);
    cr_assert(strstr(out, "--all") != NULL, "%s", out);
    free(out);
    cr_assert_eq(tcctl(&n, "dns --owner nobody", &out), 3, "%s", out);
    cr_assert(strstr(out, "node nobody unknown") != NULL, "%s", out);
    free(out);
    cr_assert_eq(tcctl(&n, "", NULL), 1);
    snprintf(cmd, sizeof(cmd), "'%s' -s 127.0.0.1:1 summary", tc_test_bin("client/tcctl"));
    cr_assert_eq(harness_run(cmd, &out), 2, "%s", out);
    free(out);
    /* Pointed at the HTTP port by mistake: say so, not "frame too big". */
    snprintf(cmd, sizeof(cmd), "'%s' -s 127.0.0.1:%u summary", tc_test_bin("client/tcctl"),
             n.http_port);
    cr_assert_eq(harness_run(cmd, &out), 2, "%s", out);
    cr_assert(strstr(out, "not a TC port") != NULL, "%s", out);
    free(out);
    snprintf(cmd, sizeof(cmd), "TCCTL_SERVER=127.0.0.1:%u '%s' summary", n.tc_port,
             tc_test_bin("client/tcctl"));
    cr_assert_eq(harness_run(cmd, &out), 0, "TCCTL_SERVER: %s", out);
    free(out);
    snprintf(cmd, sizeof(cmd), "'%s' --help", tc_test_bin("client/tcctl"));
    cr_assert_eq(harness_run(cmd, &out), 0);
    cr_assert(strstr(out, "TCCTL_SERVER") != NULL, "%s", out);
    free(out);
    snprintf(cmd, sizeof(cmd), "'%s' help", tc_test_bin("client/tcctl"));
    cr_assert_eq(harness_run(cmd, &out), 0);
    cr_assert(strstr(out, "TCCTL_SERVER") != NULL, "%s", out);
    free(out);
    snprintf(cmd, sizeof(cmd), "'%s' --version", tc_test_bin("client/tcctl"));
    cr_assert_eq(harness_run(cmd, &out), 0);
    cr_assert(strstr(out, "tcctl " TC_VERSION) != NULL, "%s", out);
    free(out);
    snprintf(cmd, sizeof(cmd), "'%s' --version", tc_test_bin("client/tcwatch"));
    cr_assert_eq(harness_run(cmd, &out), 0);
    cr_assert(strstr(out, "tcwatch " TC_VERSION) != NULL, "%s", out);
    free(out);
    harness_node_stop(&n);
    cr_assert_eq(tcctl(&n, "summary", NULL), 2, "a stopped node cannot be reached");
    harness_node_cleanup(&n);
}

Test(tools, tcctl_json_lines_parse)
{
    struct hnode n;

    harness_node_init(&n, "sip1", NULL, dirs);
    harness_node_start(&n);
    cr_assert_eq(sipsak(&n, "1001"), 0);
    cr_assert_eq(tcctl_json_lines(&n, "nodes"), 1);
    cr_assert_eq(tcctl_json_lines(&n, "summary"), 1);
    cr_assert_eq(tcctl_json_lines(&n, "dn 1001"), 1);
    cr_assert_eq(tcctl_json_lines(&n, "dn 1002"), 1);
    cr_assert_eq(tcctl_json_lines(&n, "dns --limit 7"), 7);
    cr_assert_eq(tcctl_json_lines(&n, "dns"), 100);
    cr_assert_eq(tcctl_json_lines(&n, "dns --all"), 1000);
    cr_assert_eq(tcctl_json_lines(&n, "dns --state insrv"), 1);
    harness_node_stop(&n);
    harness_node_cleanup(&n);
}

Test(tools, tcwatch_snapshot_marker_then_events_and_resume)
{
    static const char *const marker[] = {"snapshot-end", NULL};
    static const char *const reg1001[] = {"back-in-service", " 1001 ", "sip1", NULL};
    static const char *const reg1002[] = {"back-in-service", " 1002 ", NULL};
    struct watcher w;
    struct hnode n;
    char *line, opt[64];
    unsigned long long seq1001;
    int infos = 0, ends = 0;

    harness_node_init(&n, "sip1", NULL, dirs);
    harness_node_start(&n);
    watcher_start(&w, &n, "");
    line = watcher_wait(&w, marker, " info ", &infos);
    cr_assert_eq(infos, 1000, "the snapshot holds every DN before the marker: %d", infos);
    cr_assert(strstr(line, "1000 DNs") != NULL, "%s", line);
    free(line);
    cr_assert_eq(sipsak(&n, "1001"), 0);
    line = watcher_wait(&w, reg1001, NULL, NULL);
    seq1001 = line_seq(line);
    cr_assert_gt(seq1001, 0, "%s", line);
    free(line);
    cr_assert_eq(watcher_stop(&w, SIGINT), 0, "SIGINT ends tcwatch with 0");

    /* Resume after 1001's event: 1002's registration, no snapshot. */
    cr_assert_eq(sipsak(&n, "1002"), 0);
    snprintf(opt, sizeof(opt), "--from %llu", seq1001);
    watcher_start(&w, &n, opt);
    line = watcher_wait(&w, reg1002, "snapshot-end", &ends);
    cr_assert_eq(ends, 0, "a resume sends no snapshot");
    cr_assert_gt(line_seq(line), seq1001, "%s", line);
    free(line);
    cr_assert_eq(watcher_stop(&w, SIGTERM), 0, "SIGTERM ends tcwatch with 0");
    harness_node_stop(&n);
    harness_node_cleanup(&n);
}

Test(tools, tcwatch_json_lines_parse)
{
    static const char *const marker[] = {"\"event\":\"snapshot-end\"", NULL};
    static const char *const reg[] = {"\"event\":\"back-in-service\"", "\"dn\":\"1003\"", NULL};
    struct watcher w;
    struct hnode n;
    char path[400], cmd[800], *line, *out;
    FILE *f;

    harness_node_init(&n, "sip1", NULL, dirs);
    harness_node_start(&n);
    snprintf(path, sizeof(path), "%s/watch.json", n.dir);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    watcher_start(&w, &n, "--json");
    line = watcher_wait(&w, marker, NULL, NULL);
    fprintf(f, "%s\n", line);
    free(line);
    cr_assert_eq(sipsak(&n, "1003"), 0);
    line = watcher_wait(&w, reg, NULL, NULL);
    cr_assert(strstr(line, "\"owner\":\"sip1\"") != NULL, "%s", line);
    fprintf(f, "%s\n", line);
    free(line);
    fclose(f);
    cr_assert_eq(watcher_stop(&w, SIGINT), 0);
    snprintf(cmd, sizeof(cmd), "%s < '%s'", json_check, path);
    cr_assert_eq(harness_run(cmd, &out), 0, "%s", out);
    free(out);
    harness_node_stop(&n);
    harness_node_cleanup(&n);
}

Test(tools, tcwatch_exits_2_when_the_node_goes)
{
    static const char *const marker[] = {"snapshot-end", NULL};
    struct watcher w;
    struct hnode n;
    char path[400], *err;

    harness_node_init(&n, "sip1", NULL, dirs);
    harness_node_start(&n);
    watcher_start(&w, &n, "");
    free(watcher_wait(&w, marker, NULL, NULL));
    harness_node_kill(&n);
    cr_assert_eq(watcher_stop(&w, 0), 2, "a dropped connection ends tcwatch with 2");
    snprintf(path, sizeof(path), "%s/tcwatch.err", n.dir);
    err = harness_read_file(path);
    cr_assert(err != NULL && strstr(err, "connection lost") != NULL, "stderr: %s", err);
    free(err);
    harness_node_cleanup(&n);
}

static uint64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The value of "key":"N" (a 64-bit value as a JSON string) after from. */
static uint64_t json_u64(const char *from, const char *key)
{
    char pat[64];
    const char *p;

    snprintf(pat, sizeof(pat), "\"%s\":\"", key);
    p = from != NULL ? strstr(from, pat) : NULL;
    cr_assert_not_null(p, "%s in %s", key, from);
    return strtoull(p + strlen(pat), NULL, 10);
}

/* A DN a peer owns: tcctl says where its bindings are; when the link to
 * the owner goes, the DN's since is the time it went OOS, and nodes shows
 * the link down since then. */
Test(tools, tcctl_peer_dn_and_link_loss)
{
    struct hcluster c;
    uint64_t claimed, lost, oos_since;
    char *out, *sip2;

    hcluster_init(&c, 2, "1000-1999", NULL);
    hcluster_start(&c);
    cr_assert(hcluster_wait_all_links(&c, WAIT_MS));
    cr_assert_eq(hcluster_register(&c.n[1], "1001"), 0);
    cr_assert(hcluster_wait_owner(&c, "1001", "sip2", WAIT_MS));
    cr_assert_eq(tcctl(&c.n[0], "dn 1001", &out), 0, "%s", out);
    cr_assert(strstr(out, "bindings held by sip2") != NULL, "%s", out);
    free(out);
    cr_assert_eq(tcctl(&c.n[0], "--json dn 1001", &out), 0, "%s", out);
    cr_assert(strstr(out, "\"bindings_at\":\"sip2\"") != NULL, "%s", out);
    claimed = json_u64(out, "since_unix_ms");
    free(out);
    cr_assert_eq(tcctl(&c.n[0], "nodes", &out), 0, "%s", out);
    sip2 = strstr(out, "sip2 ");
    cr_assert(sip2 != NULL && strncmp(sip2 + 5, " up ", 4) == 0 && strstr(sip2, "Z ") != NULL,
              "sip2 up since a time: %s", out);
    free(out);

    lost = wall_ms(); /* the link goes after this */
    harness_node_kill(&c.n[1]);
    cr_assert(hcluster_wait_metric_all(&c, "tcluster_directory_numbers{state=\"insrv\"}", 0, WAIT_MS));
    cr_assert_eq(tcctl(&c.n[0], "--json dn 1001", &out), 0, "%s", out);
    cr_assert(strstr(out, "\"status\":\"oos\"") != NULL, "%s", out);
    oos_since = json_u64(out, "since_unix_ms");
    free(out);
    cr_assert_gt(oos_since, claimed, "since moves when the DN goes OOS");
    cr_assert_geq(oos_since, lost, "since %llu, link lost after %llu",
                  (unsigned long long)oos_since, (unsigned long long)lost);
    cr_assert_eq(tcctl(&c.n[0], "--json nodes", &out), 0, "%s", out);
    sip2 = strstr(out, "\"name\":\"sip2\"");
    cr_assert(sip2 != NULL && strstr(sip2, "\"link_up\":false") != NULL, "%s", out);
    cr_assert_eq(json_u64(sip2, "since_unix_ms"), oos_since, "%s", out);
    free(out);
    cr_assert_eq(tcctl(&c.n[0], "nodes", &out), 0, "%s", out);
    sip2 = strstr(out, "sip2 ");
    cr_assert(sip2 != NULL && strncmp(sip2 + 5, " down ", 6) == 0, "sip2 down since: %s", out);
    free(out);
    hcluster_cleanup(&c);
}
