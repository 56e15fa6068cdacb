#include "tests/integration/harness_phone.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/sip/sip_auth.h"
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
        /* Dies with the test process, as the nodes do: a test that fails
         * leaves no phones registering to ports later tests are given. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
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

/* The credentials of req's header name (Authorization or
 * Proxy-Authorization) checked for method and HFAKE_PASSWORD: 1 right, 0
 * absent, -1 wrong or malformed. The nonce is copied into nonce. */
static int fake_credentials(const char *req, const char *name, const char *method, char *nonce,
                            size_t size)
{
    char line[2048], want[SIP_DIGEST_HEX_MAX];
    size_t len = put_header(req, name, line, 0, sizeof(line));
    struct sip_auth_digest d;
    const struct sip_digest_params *p = &d.params;

    nonce[0] = '\0';
    if (len == 0)
        return 0;
    len -= 2; /* CRLF */
    if (len <= strlen(name) + 1 ||
        sip_auth_parse_digest(line + strlen(name) + 1, len - strlen(name) - 1, &d) != 0 ||
        p->nonce == NULL || p->response == NULL)
        return -1;
    snprintf(nonce, size, "%s", p->nonce);
    if (sip_digest_compute(p, method, HFAKE_PASSWORD, want, sizeof(want)) != 0)
        return -1;
    return strcmp(want, p->response) == 0 ? 1 : -1;
}

/* The digest fake's answer line and extra headers for req into ans;
 * returns the length, 0 for no answer. */
static size_t digest_answer(struct hfake *f, const char *req, char *ans, size_t cap, bool *expires)
{
    char nonce[64];
    int ok;

    *expires = false;
    if (strncmp(req, "ACK ", 4) == 0)
        return 0;
    if (strncmp(req, "INVITE ", 7) == 0) {
        ok = fake_credentials(req, "Proxy-Authorization", "INVITE", nonce, sizeof(nonce));
        if (ok == 0)
            return (size_t)snprintf(ans, cap,
                                    "SIP/2.0 407 Proxy Authentication Required\r\n"
                                    "Proxy-Authenticate: Digest realm=\"fake\", nonce=\"p1\"\r\n");
        if (ok > 0)
            atomic_fetch_add(&f->authed, 1);
        return (size_t)snprintf(ans, cap, "%s",
                                ok > 0 ? "SIP/2.0 486 Busy Here\r\n" : "SIP/2.0 403 Forbidden\r\n");
    }
    if (strncmp(req, "REGISTER ", 9) != 0)
        return (size_t)snprintf(ans, cap, "SIP/2.0 200 OK\r\n");
    ok = fake_credentials(req, "Authorization", "REGISTER", nonce, sizeof(nonce));
    if (ok < 0)
        return (size_t)snprintf(ans, cap, "SIP/2.0 403 Wrong Credentials\r\n");
    if (ok == 0 || strcmp(nonce, "n1") == 0)
        return (size_t)snprintf(
                ans, cap,
                "SIP/2.0 401 Unauthorized\r\n"
                "WWW-Authenticate: Digest realm=\"fake\", algorithm=SHA-512-256, nonce=\"x\", "
                "qop=\"auth\"\r\n"
                "WWW-Authenticate: Digest realm=\"fake\", nonce=\"%s\", opaque=\"op\", "
                "algorithm=SHA-256, qop=\"auth,auth-int\"%s\r\n",
                ok == 0 ? "n1" : "n2", ok == 0 ? "" : ", stale=true");
    atomic_fetch_add(&f->authed, 1);
    *expires = true;
    return (size_t)snprintf(ans, cap, "SIP/2.0 200 OK\r\n");
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
        bool expires;

        if (atomic_load(&f->resend)) {
            sendto(f->fd, f->last, f->last_len, 0, (struct sockaddr *)&f->last_to, f->last_to_len);
            atomic_store(&f->resend, false);
        }
        if (n <= 0)
            continue;
        req[n] = '\0';
        atomic_fetch_add(&f->requests, 1);
        if (f->code == 0)
            continue; /* a server that hears and never answers */
        expires = f->code == 200;
        if (f->digest)
            len = digest_answer(f, req, ans, sizeof(ans), &expires);
        else
            len = (size_t)snprintf(ans, sizeof(ans), "SIP/2.0 %d %s\r\n", f->code,
                                   f->code == 200 ? "OK" : "Service Unavailable");
        if (len == 0 || len >= sizeof(ans))
            continue;
        for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++)
            len = put_header(req, hdrs[i], ans, len, sizeof(ans));
        if (expires)
            len = put_header(req, "Expires", ans, len, sizeof(ans));
        len += (size_t)snprintf(ans + len, sizeof(ans) - len, "Content-Length: 0\r\n\r\n");
        if (!atomic_load(&f->hold))
            sendto(f->fd, ans, len, 0, (struct sockaddr *)&from, flen);
        if (len <= sizeof(f->last)) {
            memcpy(f->last, ans, len);
            f->last_len = len;
            memcpy(&f->last_to, &from, flen);
            f->last_to_len = flen;
        }
    }
    return NULL;
}

static void fake_start(struct hfake *f, const char *ip, uint16_t port, int code, bool digest,
                       bool hold)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    struct timeval tv = {0, 100000};

    memset(f, 0, sizeof(*f));
    atomic_store(&f->hold, hold);
    f->code = code;
    f->digest = digest;
    f->port = port;
    f->fd = socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert_geq(f->fd, 0);
    inet_pton(AF_INET, ip, &sa.sin_addr);
    cr_assert_eq(bind(f->fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind %s:%u: %s", ip, port,
                 strerror(errno));
    setsockopt(f->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    cr_assert_eq(pthread_create(&f->th, NULL, fake_main, f), 0);
}

void hfake_start(struct hfake *f, const char *ip, uint16_t port, int code)
{
    fake_start(f, ip, port, code, false, false);
}

void hfake_start_holding(struct hfake *f, const char *ip, uint16_t port, int code)
{
    fake_start(f, ip, port, code, false, true);
}

void hfake_start_digest(struct hfake *f, const char *ip, uint16_t port)
{
    fake_start(f, ip, port, 1, true, false);
}

/* The thread sends f->last again. */
static void resend_last(struct hfake *f)
{
    uint64_t deadline = harness_now_ms() + (uint64_t)harness_ms(5000);

    /* The thread owns last; it reads this flag at least every 100 ms. */
    atomic_store(&f->resend, true);
    while (atomic_load(&f->resend)) {
        cr_assert(harness_now_ms() < deadline, "fake server: no resend");
        usleep(10000);
    }
    cr_assert_gt(f->last_len, 0, "fake server: nothing to resend");
}

void hfake_hold(struct hfake *f)
{
    atomic_store(&f->hold, true);
}

void hfake_release(struct hfake *f)
{
    atomic_store(&f->hold, false);
    resend_last(f);
}

void hfake_stop(struct hfake *f)
{
    atomic_store(&f->stop, true);
    pthread_join(f->th, NULL);
    close(f->fd);
}
