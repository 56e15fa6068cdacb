#include "tests/integration/harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/tc_test.h"

uint64_t harness_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int harness_ms(int ms)
{
    const char *s = getenv("TC_TEST_TIME_SCALE");
    int scale = s != NULL ? atoi(s) : 1;

    return scale > 1 && ms < INT32_MAX / scale ? ms * scale : ms;
}

bool harness_wait(bool (*cond)(void *arg), void *arg, int ms)
{
    uint64_t deadline = harness_now_ms() + (uint64_t)harness_ms(ms);

    for (;;) {
        if (cond(arg))
            return true;
        if (harness_now_ms() >= deadline)
            return false;
        usleep(20000);
    }
}

static bool port_free(int type, uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    int fd = socket(AF_INET, type, 0);
    bool ok;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* A bind test alone is not enough: two test processes running at once
 * (parallel ctest runs in other worktrees, tests forked at the same time)
 * both found a port free before either's node bound it; one node then
 * failed to listen, and the test talked to the other run's node. */
bool harness_port_take(uint16_t port)
{
    char path[64];
    int fd;

    /* Sticky and open to all, like /tmp: every user's tests share it. */
    if (mkdir(HARNESS_PORT_DIR, 01777) == 0)
        chmod(HARNESS_PORT_DIR, 01777);
    snprintf(path, sizeof(path), "%s/%u", HARNESS_PORT_DIR, port);
    /* flock needs no write access: a file another user made is fine. */
    fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
    cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return false;
    }
    if (!port_free(SOCK_STREAM, port) || !port_free(SOCK_DGRAM, port)) {
        close(fd);
        return false;
    }
    /* fd stays open, and the lock held, until the process exits. */
    return true;
}

uint16_t harness_free_port(void)
{
    /* Ports from a range the kernel does not hand out as ephemeral ones, so
     * no outgoing connection takes one before tcnode binds it. */
    static uint16_t next;

    if (next == 0)
        next = (uint16_t)(20000 + (getpid() % 1000) * 10);
    for (int tries = 0; tries < 5000; tries++) {
        uint16_t p = next++;

        if (next >= 30000)
            next = 20000;
        if (harness_port_take(p))
            return p;
    }
    cr_assert_fail("no free port");
    return 0;
}

void harness_node_write_config(struct hnode *n, const char *extra_node, const char *tail)
{
    char text[8192];

    snprintf(text, sizeof(text),
             "[node]\n"
             "name = %s\n"
             "sip-listen = 127.0.0.1:%u\n"
             "default-listen = 127.0.0.1:%u\n"
             "tc-listen = 127.0.0.1:%u\n"
             "peer-listen = 127.0.0.1:%u\n"
             "http-listen = 127.0.0.1:%u\n"
             "data-dir = %s\n"
             "%s\n"
             "%s",
             n->name, n->sip_port, n->default_port, n->tc_port, n->peer_port, n->http_port,
             n->data_dir, extra_node ? extra_node : "", tail ? tail : "");
    tc_test_write_file(n->config, text);
}

void harness_node_init(struct hnode *n, const char *name, const char *extra_node, const char *tail)
{
    char *dir = tc_test_tmpdir(name);

    memset(n, 0, sizeof(*n));
    snprintf(n->name, sizeof(n->name), "%s", name);
    snprintf(n->dir, sizeof(n->dir), "%s", dir);
    free(dir);
    snprintf(n->config, sizeof(n->config), "%s/%s.ini", n->dir, name);
    snprintf(n->log, sizeof(n->log), "%s/%s.log", n->dir, name);
    snprintf(n->data_dir, sizeof(n->data_dir), "%s/data", n->dir);
    n->sip_port = harness_free_port();
    n->default_port = harness_free_port();
    n->tc_port = harness_free_port();
    n->peer_port = harness_free_port();
    n->http_port = harness_free_port();
    harness_node_write_config(n, extra_node, tail);
}

const char *harness_tcnode(void)
{
    const char *bin = getenv("TCNODE");

    return (bin != NULL && *bin != '\0') ? bin : tc_test_bin("server/tcnode");
}

/* Run tcnode, behind $TCNODE_WRAPPER when set: its words (split at
 * spaces) go first, e.g. "valgrind --error-exitcode=99" (tests/valgrind/run).
 * Returns only when exec fails. */
static void exec_node(const char *bin, const char *config)
{
    const char *wrapper = getenv("TCNODE_WRAPPER");
    char *words, *argv[64], *save = NULL;
    int n = 0;

    if (wrapper == NULL || *wrapper == '\0') {
        execl(bin, "tcnode", "-c", config, "--log-level", "debug", (char *)NULL);
        return;
    }
    words = strdup(wrapper);
    for (char *w = strtok_r(words, " ", &save); w != NULL && n < 58; w = strtok_r(NULL, " ", &save))
        argv[n++] = w;
    argv[n++] = (char *)bin;
    argv[n++] = "-c";
    argv[n++] = (char *)config;
    argv[n++] = "--log-level";
    argv[n++] = "debug";
    argv[n] = NULL;
    execvp(argv[0], argv);
}

void harness_node_spawn(struct hnode *n)
{
    const char *bin = harness_tcnode();
    pid_t pid;

    pid = fork();
    cr_assert_geq(pid, 0, "fork");
    if (pid == 0) {
        int fd = open(n->log, O_WRONLY | O_CREAT | O_APPEND, 0644);

        /* A test that fails an assertion exits at once: take its node with it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);

        if (n->gid != 0 && (setgroups(0, NULL) != 0 || setgid(n->gid) != 0))
            _exit(126);
        if (fd >= 0) {
            dup2(fd, STDERR_FILENO);
            dup2(fd, STDOUT_FILENO);
            close(fd);
        }
        exec_node(bin, n->config);
        _exit(127);
    }
    n->pid = pid;
}

static bool healthz_ok(void *arg)
{
    struct hnode *n = arg;

    return harness_http_get(n->http_port, "/healthz", NULL) == 200 ||
           harness_node_wait_exit(n, 0) >= 0;
}

void harness_node_start(struct hnode *n)
{
    char *log;

    harness_node_spawn(n);
    if (harness_wait(healthz_ok, n, 20000) && n->pid != 0)
        return;
    log = harness_read_file(n->log);
    cr_assert_fail("%s did not become healthy; log:\n%s", n->name, log ? log : "(none)");
}

int harness_node_wait_exit(struct hnode *n, int ms)
{
    uint64_t deadline = harness_now_ms() + (uint64_t)harness_ms(ms);
    int status;

    if (n->pid == 0)
        return -1;
    for (;;) {
        pid_t r = waitpid(n->pid, &status, WNOHANG);

        if (r == n->pid) {
            n->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        if (harness_now_ms() >= deadline)
            return -1;
        usleep(10000);
    }
}

int harness_node_stop(struct hnode *n)
{
    int code;

    if (n->pid == 0)
        return -1;
    kill(n->pid, SIGTERM);
    code = harness_node_wait_exit(n, 20000);
    if (code < 0) {
        kill(n->pid, SIGKILL);
        harness_node_wait_exit(n, 5000);
        cr_assert_fail("%s did not stop within 20 s of SIGTERM", n->name);
    }
    return code;
}

void harness_node_kill(struct hnode *n)
{
    if (n->pid == 0)
        return;
    kill(n->pid, SIGKILL);
    harness_node_wait_exit(n, 10000);
}

void harness_node_cleanup(struct hnode *n)
{
    harness_node_kill(n);
    tc_test_rmrf(n->dir);
}

int harness_run(const char *cmd, char **out)
{
    char full[4096];
    char buf[4096];
    size_t len = 0, cap = 0;
    char *acc = NULL;
    FILE *p;
    int status;

    snprintf(full, sizeof(full), "%s 2>&1", cmd);
    p = popen(full, "r");
    cr_assert_not_null(p, "popen %s", cmd);
    for (;;) {
        size_t r = fread(buf, 1, sizeof(buf), p);

        if (r == 0)
            break;
        if (len + r + 1 > cap) {
            cap = (len + r + 1) * 2;
            acc = realloc(acc, cap);
            cr_assert_not_null(acc);
        }
        memcpy(acc + len, buf, r);
        len += r;
    }
    status = pclose(p);
    if (acc == NULL)
        acc = calloc(1, 1);
    else
        acc[len] = '\0';
    if (out != NULL)
        *out = acc;
    else
        free(acc);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

int harness_http_get(uint16_t port, const char *path, char **body)
{
    char cmd[512];
    char *out;
    char *nl;
    int code = 0;

    /* The status goes on a last line of its own after the body. */
    snprintf(cmd, sizeof(cmd),
             "curl -s --max-time %d -w '\\n%%{http_code}' 'http://127.0.0.1:%u%s'",
             harness_ms(5000) / 1000, port, path);
    harness_run(cmd, &out);
    nl = strrchr(out, '\n');
    if (nl != NULL) {
        code = atoi(nl + 1);
        *nl = '\0';
    }
    if (body != NULL)
        *body = out;
    else
        free(out);
    return code;
}

char *harness_read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char *text;
    long size;

    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = malloc((size_t)size + 1);
    if (text != NULL) {
        size_t r = fread(text, 1, (size_t)size, f);
        text[r] = '\0';
    }
    fclose(f);
    return text;
}

double harness_metric(const char *page, const char *name_labels)
{
    size_t len = strlen(name_labels);

    for (const char *p = page; p != NULL && *p != '\0';) {
        if (strncmp(p, name_labels, len) == 0 && p[len] == ' ')
            return strtod(p + len + 1, NULL);
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return -1;
}

int harness_udp_exchange(uint16_t port, const char *msg, size_t len, char *resp, size_t cap,
                         int ms)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    struct timeval tv;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    ssize_t r;

    cr_assert_geq(fd, 0);
    ms = harness_ms(ms);
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    cr_assert_eq(sendto(fd, msg, len, 0, (struct sockaddr *)&sa, sizeof(sa)), (ssize_t)len);
    r = recv(fd, resp, cap - 1, 0);
    close(fd);
    if (r < 0)
        r = 0;
    resp[r] = '\0';
    return (int)r;
}

double harness_node_metric(const struct hnode *n, const char *name_labels)
{
    char *page = NULL;
    double v = -1;

    if (harness_http_get(n->http_port, "/metrics", &page) == 200)
        v = harness_metric(page, name_labels);
    free(page);
    return v;
}

bool harness_wait_metric(const struct hnode *n, const char *name_labels, double want, int ms)
{
    uint64_t deadline = harness_now_ms() + (uint64_t)harness_ms(ms);

    for (;;) {
        if (harness_node_metric(n, name_labels) == want)
            return true;
        if (harness_now_ms() >= deadline)
            return false;
        usleep(20000);
    }
}
