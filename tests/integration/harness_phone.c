#include "tests/integration/harness_phone.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/tc_test.h"

void hphone_start(struct hphone *p, const char *dir, const char *name, const char *args)
{
    char cmd[4096];

    snprintf(p->out, sizeof(p->out), "%s/%s.out", dir, name);
    snprintf(cmd, sizeof(cmd), "exec '%s' %s > '%s' 2>&1", tc_test_bin("client/tcphone"), args,
             p->out);
    p->pid = fork();
    cr_assert_neq(p->pid, -1, "fork: %s", strerror(errno));
    if (p->pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
}

int hphone_stop(struct hphone *p)
{
    uint64_t deadline = harness_now_ms() + (uint64_t)harness_ms(30000);
    int status;

    if (p->pid == 0)
        return -1;
    kill(p->pid, SIGTERM);
    while (waitpid(p->pid, &status, WNOHANG) == 0) {
        if (harness_now_ms() > deadline) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
            break;
        }
        usleep(20000);
    }
    p->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool hphone_wait_output(const struct hphone *p, const char *needle, int ms)
{
    uint64_t deadline = harness_now_ms() + (uint64_t)harness_ms(ms);

    for (;;) {
        char *text = harness_read_file(p->out);
        bool found = text != NULL && strstr(text, needle) != NULL;

        free(text);
        if (found)
            return true;
        if (harness_now_ms() >= deadline)
            return false;
        usleep(50000);
    }
}

char *hphone_last_line(const struct hphone *p, const char *needle)
{
    char *text = harness_read_file(p->out), *line = NULL, *save = NULL;

    if (text == NULL)
        return NULL;
    for (char *l = strtok_r(text, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
        if (strstr(l, needle) != NULL) {
            free(line);
            line = strdup(l);
        }
    }
    free(text);
    return line;
}

/* A number after key in a JSON text, or -1. */
static long json_num(const char *text, const char *key)
{
    char k[96];
    const char *p;

    snprintf(k, sizeof(k), "\"%s\":", key);
    p = strstr(text, k);
    return p != NULL ? strtol(p + strlen(k), NULL, 10) : -1;
}

static bool node_owned(const struct hnode *n, const char *owner, unsigned want)
{
    char cmd[1024], *out = NULL;
    const char *by;
    bool ok = false;

    snprintf(cmd, sizeof(cmd), "timeout 5 '%s' -s 127.0.0.1:%u --json summary",
             tc_test_bin("client/tcctl"), n->tc_port);
    if (harness_run(cmd, &out) == 0 && (by = strstr(out, "\"by_owner\"")) != NULL)
        ok = json_num(out, "insrv") >= (long)want && json_num(by, owner) == (long)want;
    free(out);
    return ok;
}

bool hphone_wait_owned(const struct hcluster *c, const char *owner, unsigned n, int ms)
{
    uint64_t deadline = harness_now_ms() + (uint64_t)harness_ms(ms);

    for (int i = 0; i < c->count; i++) {
        if (c->n[i].pid == 0)
            continue;
        while (!node_owned(&c->n[i], owner, n)) {
            if (harness_now_ms() >= deadline) {
                cr_log_error("%s: not %u DNs insrv owned by %s", c->n[i].name, n, owner);
                return false;
            }
            usleep(50000);
        }
    }
    return true;
}

/* Append req's header line called name to out[len..cap); returns the new
 * length. */
static size_t put_header(const char *req, const char *name, char *out, size_t len, size_t cap)
{
    const char *p = req;

    while ((p = strstr(p, "\r\n")) != NULL) {
        const char *eol;

        p += 2;
        if (strncasecmp(p, name, strlen(name)) != 0 || p[strlen(name)] != ':')
            continue;
        eol = strstr(p, "\r\n");
        if (eol == NULL)
            return len;
        len += (size_t)snprintf(out + len, cap - len, "%.*s\r\n", (int)(eol - p), p);
        return len < cap ? len : cap - 1;
    }
    return len;
}

static void *fake_main(void *arg)
{
    struct hfake *f = arg;
    static const char *const hdrs[] = {"Via", "From", "To", "Call-ID", "CSeq"};
    char req[8192], ans[8192];

    while (!atomic_load(&f->stop)) {
        struct sockaddr_in from;
        socklen_t flen = sizeof(from);
        ssize_t n = recvfrom(f->fd, req, sizeof(req) - 1, 0, (struct sockaddr *)&from, &flen);
        size_t len;

        if (n <= 0)
            continue;
        req[n] = '\0';
        atomic_fetch_add(&f->requests, 1);
        if (f->code == 0)
            continue; /* a server that hears and never answers */
        len = (size_t)snprintf(ans, sizeof(ans), "SIP/2.0 %d %s\r\n", f->code,
                               f->code == 200 ? "OK" : "Service Unavailable");
        for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++)
            len = put_header(req, hdrs[i], ans, len, sizeof(ans));
        if (f->code == 200)
            len = put_header(req, "Expires", ans, len, sizeof(ans));
        len += (size_t)snprintf(ans + len, sizeof(ans) - len, "Content-Length: 0\r\n\r\n");
        sendto(f->fd, ans, len, 0, (struct sockaddr *)&from, flen);
    }
    return NULL;
}

void hfake_start(struct hfake *f, const char *ip, uint16_t port, int code)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    struct timeval tv = {0, 100000};

    memset(f, 0, sizeof(*f));
    f->code = code;
    f->port = port;
    f->fd = socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert_geq(f->fd, 0);
    inet_pton(AF_INET, ip, &sa.sin_addr);
    cr_assert_eq(bind(f->fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind %s:%u: %s", ip, port,
                 strerror(errno));
    setsockopt(f->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    cr_assert_eq(pthread_create(&f->th, NULL, fake_main, f), 0);
}

void hfake_stop(struct hfake *f)
{
    atomic_store(&f->stop, true);
    pthread_join(f->th, NULL);
    close(f->fd);
}
