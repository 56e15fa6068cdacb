#include "tests/integration/harness_cluster.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/tc_test.h"

static void write_config_tail(struct hcluster *c, int i, const char *extra_node, const char *secret,
                              const char *extra_tail)
{
    char extra[1024], tail[4096];
    size_t len = 0;

    snprintf(extra, sizeof(extra),
             "cluster-secret-file = %s\nheartbeat-interval = %dms\nlink-timeout = %dms\n%s", secret,
             HCLUSTER_HEARTBEAT_MS, HCLUSTER_TIMEOUT_MS, extra_node ? extra_node : "");
    tail[0] = '\0';
    for (int j = 0; j < c->count; j++) {
        if (j == i)
            continue;
        len += (size_t)snprintf(tail + len, sizeof(tail) - len,
                                "\n[peer %s]\naddress = 127.0.0.1:%u\nsip-address = 127.0.0.1:%u\n"
                                "access-number = %d\n",
                                c->n[j].name, c->n[j].peer_port, c->n[j].sip_port,
                                HCLUSTER_ACCESS_BASE + j + 1);
    }
    snprintf(tail + len, sizeof(tail) - len, "\n[dn %s]\ntype = extension\n%s", c->dns,
             extra_tail != NULL ? extra_tail : "");
    harness_node_write_config(&c->n[i], extra, tail);
}

static void write_config(struct hcluster *c, int i, const char *extra_node, const char *secret)
{
    write_config_tail(c, i, extra_node, secret, NULL);
}

void hcluster_write_config(struct hcluster *c, int i, const char *extra_node,
                           const char *extra_tail)
{
    write_config_tail(c, i, extra_node, c->secret, extra_tail);
}

void hcluster_init(struct hcluster *c, int count, const char *dns, const char *extra_node)
{
    char *dir = tc_test_tmpdir("cluster");

    cr_assert(count >= 1 && count <= HCLUSTER_MAX);
    memset(c, 0, sizeof(*c));
    c->count = count;
    snprintf(c->dir, sizeof(c->dir), "%s", dir);
    free(dir);
    snprintf(c->secret, sizeof(c->secret), "%s/secret", c->dir);
    snprintf(c->dns, sizeof(c->dns), "%s", dns);
    tc_test_write_file(c->secret, "0123456789abcdef0123456789abcdef\n");
    /* Ports first, for every node; then the configs that name them. */
    for (int i = 0; i < count; i++) {
        char name[16];

        snprintf(name, sizeof(name), "sip%d", i + 1);
        harness_node_init(&c->n[i], name, NULL, NULL);
    }
    for (int i = 0; i < count; i++)
        write_config(c, i, extra_node, c->secret);
}

void hcluster_set_secret(struct hcluster *c, int i, const char *text)
{
    char path[400];

    snprintf(path, sizeof(path), "%s/secret-%s", c->dir, c->n[i].name);
    tc_test_write_file(path, text);
    write_config(c, i, NULL, path);
}

void hcluster_start(struct hcluster *c)
{
    for (int i = 0; i < c->count; i++)
        harness_node_spawn(&c->n[i]);
    for (int i = 0; i < c->count; i++) {
        /* harness_node_start would spawn again: wait for /healthz only. */
        uint64_t deadline = harness_now_ms() + (uint64_t)harness_ms(20000);

        while (harness_http_get(c->n[i].http_port, "/healthz", NULL) != 200) {
            char *log;

            if (harness_node_wait_exit(&c->n[i], 0) < 0 && harness_now_ms() < deadline) {
                usleep(20000);
                continue;
            }
            log = harness_read_file(c->n[i].log);
            cr_assert_fail("%s did not become healthy; log:\n%s", c->n[i].name,
                           log ? log : "(none)");
        }
    }
}

struct links_arg {
    const struct hcluster *c;
    int i;
};

static bool links_up(void *arg)
{
    const struct links_arg *a = arg;
    const struct hcluster *c = a->c;
    char *page = NULL;
    bool ok = true;

    if (harness_http_get(c->n[a->i].http_port, "/metrics", &page) != 200) {
        free(page);
        return false;
    }
    for (int j = 0; j < c->count && ok; j++) {
        char key[96];

        if (j == a->i)
            continue;
        snprintf(key, sizeof(key), "tcluster_peer_link_up{peer=\"%s\"}", c->n[j].name);
        ok = harness_metric(page, key) == 1;
    }
    free(page);
    return ok;
}

bool hcluster_wait_links(const struct hcluster *c, int i, int ms)
{
    struct links_arg a = {c, i};

    return harness_wait(links_up, &a, ms);
}

bool hcluster_wait_all_links(const struct hcluster *c, int ms)
{
    uint64_t deadline = harness_now_ms() + (uint64_t)harness_ms(ms);

    for (int i = 0; i < c->count; i++) {
        int left = (int)(deadline > harness_now_ms() ? deadline - harness_now_ms() : 0);

        if (c->n[i].pid != 0 && !hcluster_wait_links(c, i, left))
            return false;
    }
    return true;
}

bool hcluster_wait_metric_all(const struct hcluster *c, const char *name_labels, double want,
                              int ms)
{
    uint64_t deadline = harness_now_ms() + (uint64_t)harness_ms(ms);

    for (int i = 0; i < c->count; i++) {
        int left = (int)(deadline > harness_now_ms() ? deadline - harness_now_ms() : 0);

        if (c->n[i].pid != 0 && !harness_wait_metric(&c->n[i], name_labels, want, left))
            return false;
    }
    return true;
}

double hcluster_metric_sum(const struct hcluster *c, const char *name_labels)
{
    double sum = 0;

    for (int i = 0; i < c->count; i++) {
        double v;

        if (c->n[i].pid == 0)
            continue;
        v = harness_node_metric(&c->n[i], name_labels);
        if (v > 0)
            sum += v;
    }
    return sum;
}

int hcluster_register(const struct hnode *n, const char *dn)
{
    char cmd[256];

    snprintf(cmd, sizeof(cmd), "timeout 10 sipsak -i -U -s sip:%s@127.0.0.1:%u -x 300", dn,
             n->sip_port);
    return harness_run(cmd, NULL);
}

static bool json_str(const char *json, const char *key, char *out, size_t size)
{
    char pat[64];
    const char *p, *end;

    snprintf(pat, sizeof(pat), "\"%s\":\"", key);
    p = strstr(json, pat);
    if (p == NULL)
        return false;
    p += strlen(pat);
    end = strchr(p, '"');
    if (end == NULL || (size_t)(end - p) >= size)
        return false;
    memcpy(out, p, (size_t)(end - p));
    out[end - p] = '\0';
    return true;
}

bool hcluster_dn(const struct hnode *n, const char *dn, char *owner, size_t osize, char *status,
                 size_t ssize)
{
    const char *tcctl = tc_test_bin("client/tcctl");
    char cmd[512];
    char *out;
    bool ok;

    if (access(tcctl, X_OK) != 0)
        return false;
    snprintf(cmd, sizeof(cmd), "timeout 5 '%s' -s 127.0.0.1:%u --json dn %s", tcctl, n->tc_port,
             dn);
    ok = harness_run(cmd, &out) == 0 && json_str(out, "status", status, ssize);
    if (ok && !json_str(out, "owner", owner, osize))
        snprintf(owner, osize, "%s", "");
    free(out);
    return ok;
}

bool hcluster_wait_owner(const struct hcluster *c, const char *dn, const char *owner, int ms)
{
    uint64_t deadline = harness_now_ms() + (uint64_t)harness_ms(ms);
    char who[64], status[16];

    if (access(tc_test_bin("client/tcctl"), X_OK) != 0) {
        cr_log_warn("client/tcctl not built: owner of %s not checked through the TC port", dn);
        return true;
    }
    for (int i = 0; i < c->count; i++) {
        if (c->n[i].pid == 0)
            continue;
        for (;;) {
            if (hcluster_dn(&c->n[i], dn, who, sizeof(who), status, sizeof(status)) &&
                strcmp(who, owner) == 0 && strcmp(status, "insrv") == 0)
                break;
            if (harness_now_ms() >= deadline) {
                cr_log_error("%s: dn %s owner \"%s\" status %s, want %s insrv", c->n[i].name, dn,
                             who, status, owner);
                return false;
            }
            usleep(50000);
        }
    }
    return true;
}

void hcluster_cleanup(struct hcluster *c)
{
    bool bad = false;

    for (int i = 0; i < c->count; i++) {
        char *log;

        if (c->n[i].pid != 0) {
            kill(c->n[i].pid, SIGCONT);
            harness_node_stop(&c->n[i]);
        }
        /* A sanitizer report in any node fails the test (leak reports are
         * left to the nodes' own tests). */
        log = harness_read_file(c->n[i].log);
        if (log != NULL && (strstr(log, "ERROR: AddressSanitizer") != NULL ||
                            strstr(log, "runtime error:") != NULL)) {
            cr_log_error("%s: sanitizer report; log:\n%s", c->n[i].name, log);
            bad = true;
        }
        free(log);
        harness_node_cleanup(&c->n[i]);
    }
    tc_test_rmrf(c->dir);
    cr_assert_not(bad, "a node reported a sanitizer error");
}

void hcluster_unregister_all(const struct hnode *n, const char *dn, char *status, size_t size)
{
    char msg[1024], resp[2048] = "";
    char *eol;

    snprintf(msg, sizeof(msg),
             "REGISTER sip:127.0.0.1:%u SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-unreg-%s;rport\r\n"
             "From: <sip:%s@127.0.0.1>;tag=unreg\r\n"
             "To: <sip:%s@127.0.0.1>\r\n"
             "Call-ID: unreg-%s@test\r\n"
             "CSeq: 1 REGISTER\r\n"
             "Contact: *\r\n"
             "Expires: 0\r\n"
             "Max-Forwards: 70\r\n"
             "Content-Length: 0\r\n\r\n",
             n->sip_port, dn, dn, dn, dn);
    harness_udp_exchange(n->sip_port, msg, strlen(msg), resp, sizeof(resp), 3000);
    eol = strstr(resp, "\r\n");
    if (eol != NULL)
        *eol = '\0';
    resp[size - 1] = '\0';
    memcpy(status, resp, size);
}
