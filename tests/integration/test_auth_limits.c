/* Digest authentication under attack, against a real tcnode over UDP: a
 * brute force is throttled per source (issue 13, defect 3) and a captured
 * Authorization cannot be replayed (defect 4). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "server/base/log.h"
#include "server/registrar/registrar.h"
#include "server/registrar/sip_digest.h"
#include "tests/integration/harness.h"
#include "tests/tc_test.h"

TestSuite(auth_limits, .fini = tc_test_leak_check, .timeout = 120);

static const char *dirs = "[dn 2000-2099]\ntype = extension\npassword = s3cret\n";

/* Send msg from src_ip (any free port) to the node and wait for one answer
 * into resp. Returns the answer's status code, or 0 when none came. */
static int udp_from(const char *src_ip, uint16_t port, const char *msg, char *resp, size_t cap)
{
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
    struct sockaddr_in me = {.sin_family = AF_INET};
    struct timeval tv = {.tv_sec = 3};
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int code = 0;
    ssize_t r;

    cr_assert_geq(fd, 0);
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    inet_pton(AF_INET, src_ip, &me.sin_addr);
    cr_assert_eq(bind(fd, (struct sockaddr *)&me, sizeof(me)), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    cr_assert_gt(sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&to, sizeof(to)), 0);
    r = recv(fd, resp, cap - 1, 0);
    close(fd);
    resp[r > 0 ? r : 0] = '\0';
    if (r > 0)
        sscanf(resp, "SIP/2.0 %d", &code);
    return code;
}

/* The quoted value of param in a challenge. */
static void challenge_param(const char *resp, const char *param, char *out, size_t cap)
{
    char key[32];
    const char *p, *e;

    snprintf(key, sizeof(key), "%s=\"", param);
    p = strstr(resp, key);
    cr_assert_not_null(p, "no %s in %s", param, resp);
    p += strlen(key);
    e = strchr(p, '"');
    cr_assert_not_null(e);
    cr_assert_lt((size_t)(e - p), cap);
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
}

struct client {
    const struct hnode *n;
    const char *ip;
    const char *dn;
    char ruri[64];
    char realm[64], nonce[64], opaque[64];
    unsigned nc, seq;
    char auth[600]; /* the last Authorization line sent */
};

/* A REGISTER from c with Call-ID call_id and the Authorization line auth
 * ("" for none) into msg. */
static void make_register(struct client *c, const char *call_id, const char *ruri, const char *auth,
                          char *msg, size_t cap)
{
    c->seq++;
    snprintf(msg, cap,
             "REGISTER %s SIP/2.0\r\n"
             "Via: SIP/2.0/UDP %s:5999;rport;branch=z9hG4bK-%s-%u\r\n"
             "Max-Forwards: 70\r\n"
             "From: <sip:%s@127.0.0.1>;tag=t%u\r\n"
             "To: <sip:%s@127.0.0.1>\r\n"
             "Call-ID: %s\r\n"
             "CSeq: %u REGISTER\r\n"
             "Contact: <sip:%s@%s:%u>\r\n"
             "Expires: 300\r\n"
             "%s"
             "Content-Length: 0\r\n\r\n",
             ruri, c->ip, call_id, c->seq, c->dn, c->seq, c->dn, call_id, c->seq, c->dn, c->ip,
             5000 + c->seq % 1000, auth);
}

/* Fetch a challenge for c's DN: realm, nonce and opaque. */
static void get_nonce(struct client *c)
{
    char msg[1200], resp[2048];

    make_register(c, "nonce-call", c->ruri, "", msg, sizeof(msg));
    cr_assert_eq(udp_from(c->ip, c->n->sip_port, msg, resp, sizeof(resp)), 401, "%s", resp);
    challenge_param(resp, "realm", c->realm, sizeof(c->realm));
    challenge_param(resp, "nonce", c->nonce, sizeof(c->nonce));
    challenge_param(resp, "opaque", c->opaque, sizeof(c->opaque));
    c->nc = 0;
}

/* Register c with password (next nc) under call_id; returns the status. */
static int try_password(struct client *c, const char *password, const char *call_id)
{
    char nc[16], resp_hex[SIP_DIGEST_HEX_MAX], msg[1200], resp[2048];
    struct sip_digest_params p;

    snprintf(nc, sizeof(nc), "%08x", ++c->nc);
    p = (struct sip_digest_params){
            .username = c->dn,
            .realm = c->realm,
            .nonce = c->nonce,
            .uri = c->ruri,
            .qop = "auth",
            .nc = nc,
            .cnonce = "c0ffee",
            .opaque = c->opaque,
    };
    cr_assert_eq(sip_digest_compute(&p, "REGISTER", password, resp_hex, sizeof(resp_hex)), 0);
    snprintf(c->auth, sizeof(c->auth),
             "Authorization: Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", "
             "response=\"%s\", algorithm=MD5, qop=auth, nc=%s, cnonce=\"c0ffee\", "
             "opaque=\"%s\"\r\n",
             c->dn, c->realm, c->nonce, c->ruri, resp_hex, nc, c->opaque);
    make_register(c, call_id, c->ruri, c->auth, msg, sizeof(msg));
    return udp_from(c->ip, c->n->sip_port, msg, resp, sizeof(resp));
}

static void client_init(struct client *c, const struct hnode *n, const char *ip, const char *dn)
{
    memset(c, 0, sizeof(*c));
    c->n = n;
    c->ip = ip;
    c->dn = dn;
    snprintf(c->ruri, sizeof(c->ruri), "sip:127.0.0.1:%u", n->sip_port);
}

/* Lines of the log holding what, not counting tc_log_limited() summaries. */
static unsigned log_lines(const struct hnode *n, const char *what)
{
    char *log = harness_read_file(n->log);
    unsigned count = 0;

    for (char *line = log ? strtok(log, "\n") : NULL; line; line = strtok(NULL, "\n"))
        count += strstr(line, what) != NULL && strstr(line, "more like it") == NULL;
    free(log);
    return count;
}

/* Lines of the log above DEBUG that mention auth, but for the per-login
 * lines of failures (counted by log_lines()). */
static unsigned auth_log_lines(const struct hnode *n, bool *warned)
{
    char *log = harness_read_file(n->log);
    unsigned count = 0;

    *warned = false;
    for (char *line = log ? strtok(log, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        if (strstr(line, "auth:") == NULL || strstr(line, " debug ") != NULL ||
            strstr(line, "login failed") != NULL)
            continue;
        count++;
        if (strstr(line, "warn") != NULL && strstr(line, "throttled") != NULL)
            *warned = true;
    }
    free(log);
    return count;
}

static bool throttle_warned(void *arg)
{
    bool warned;

    auth_log_lines(arg, &warned);
    return warned;
}

Test(auth_limits, brute_force_is_throttled_per_source)
{
    struct hnode n;
    struct client atk, other;
    char call_id[32];
    unsigned forbidden = 0;
    bool warned;

    harness_node_init(&n, "auth1", NULL, dirs);
    harness_node_start(&n);
    client_init(&atk, &n, "127.0.0.1", "2001");
    get_nonce(&atk);
    for (int i = 0; i < 50; i++) {
        snprintf(call_id, sizeof(call_id), "guess-%d", i);
        forbidden += try_password(&atk, i == 49 ? "s3cret" : "guess", call_id) == 403;
    }
    /* Every guess was refused, the right one at the end too: after the
     * burst nothing is checked. */
    cr_assert_eq(forbidden, 50);
    cr_assert_eq(harness_node_metric(&n, "tcluster_sip_auth_failures_total{reason=\"wrong\"}"),
                 REG_AUTH_SOURCE_BURST);
    cr_assert_eq(harness_node_metric(&n, "tcluster_sip_auth_throttled_total"),
                 50 - REG_AUTH_SOURCE_BURST);
    cr_assert_eq(harness_node_metric(&n, "tcluster_directory_numbers{state=\"insrv\"}"), 0);
    /* The phone at another address still gets in with the password. */
    client_init(&other, &n, "127.0.0.2", "2001");
    get_nonce(&other);
    cr_assert_eq(try_password(&other, "s3cret", "phone-1"), 200);
    cr_assert_eq(harness_node_metric(&n, "tcluster_directory_numbers{state=\"insrv\"}"), 1);
    /* One summary line within the interval (and a tick); one line per
     * failed login, but a flood of 50 writes only the first
     * TC_LOG_LIMIT_BURST of them in the interval. */
    cr_assert(harness_wait(throttle_warned, &n, 15000));
    cr_assert_leq(auth_log_lines(&n, &warned), 3);
    cr_assert_eq(log_lines(&n, "auth: login failed from 127.0.0.1:"), TC_LOG_LIMIT_BURST);
    cr_assert_eq(log_lines(&n, "(udp) for dn 2001: wrong-password"), REG_AUTH_SOURCE_BURST);
    cr_assert_eq(log_lines(&n, "(udp) for dn 2001: throttled"),
                 TC_LOG_LIMIT_BURST - REG_AUTH_SOURCE_BURST);
    cr_assert_eq(harness_node_stop(&n), 0);
    harness_node_cleanup(&n);
}

Test(auth_limits, captured_authorization_is_not_replayed)
{
    struct hnode n;
    struct client c;
    char msg[1200], resp[2048], wrong_ruri[64];

    harness_node_init(&n, "auth2", NULL, dirs);
    harness_node_start(&n);
    client_init(&c, &n, "127.0.0.1", "2002");
    get_nonce(&c);
    cr_assert_eq(try_password(&c, "s3cret", "phone-call"), 200);
    /* The attacker sends the captured Authorization with its own Call-ID
     * and Contact (make_register varies the Contact port with the CSeq). */
    make_register(&c, "attacker-call", c.ruri, c.auth, msg, sizeof(msg));
    cr_assert_eq(udp_from("127.0.0.3", n.sip_port, msg, resp, sizeof(resp)), 401, "%s", resp);
    cr_assert_not_null(strstr(resp, "stale=true"));
    cr_assert_eq(harness_node_metric(&n, "tcluster_sip_auth_failures_total{reason=\"replay\"}"), 1);
    /* The same Authorization sent to another Request-URI. */
    snprintf(wrong_ruri, sizeof(wrong_ruri), "sip:2002@127.0.0.1:%u", n.sip_port);
    make_register(&c, "attacker-call-2", wrong_ruri, c.auth, msg, sizeof(msg));
    cr_assert_eq(udp_from("127.0.0.3", n.sip_port, msg, resp, sizeof(resp)), 400, "%s", resp);
    cr_assert_eq(harness_node_metric(&n, "tcluster_sip_auth_failures_total{reason=\"uri_mismatch\"}"), 1);
    /* A nonce issued for 2002 does not serve 2003, even with 2003's
     * password. */
    c.dn = "2003";
    cr_assert_eq(try_password(&c, "s3cret", "other-dn"), 401);
    cr_assert_eq(harness_node_metric(&n, "tcluster_sip_auth_failures_total{reason=\"bad_nonce\"}"), 1);
    /* The phone itself counts on and stays registered. */
    c.dn = "2002";
    cr_assert_eq(try_password(&c, "s3cret", "phone-call"), 200);
    cr_assert_eq(harness_node_metric(&n, "tcluster_directory_numbers{state=\"insrv\"}"), 1);
    cr_assert_eq(harness_node_stop(&n), 0);
    harness_node_cleanup(&n);
}

/* sipvicious' svcrack with a word list whose last word is the password:
 * after the burst nothing is checked, so it never finds it. */
Test(auth_limits, svcrack_is_throttled)
{
    struct hnode n;
    char words[400], cmd[900];
    char *out = NULL;
    FILE *f;

    if (harness_run("command -v svcrack || command -v sipvicious_svcrack", NULL) != 0)
        cr_skip_test("svcrack (sipvicious) is not installed");
    /* svcrack's burst must meet the digest limits, not load shedding
     * (a slow sanitized build on a busy machine may shed it with 503). */
    harness_node_init(&n, "auth3", "sip-shed-delay = 49d\n", dirs);
    harness_node_start(&n);
    snprintf(words, sizeof(words), "%s/words.txt", n.dir);
    f = fopen(words, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < 40; i++)
        fprintf(f, "guess%d\n", i);
    fprintf(f, "s3cret\n");
    fclose(f);
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && timeout 60 $(command -v svcrack || command -v sipvicious_svcrack) "
             "-u 2005 -d '%s' -p %u -b 127.0.0.4 127.0.0.1 2>&1",
             n.dir, words, n.sip_port);
    harness_run(cmd, &out);
    cr_log_info("svcrack: %s", out);
    cr_assert_gt(harness_node_metric(&n, "tcluster_sip_auth_throttled_total"), 0, "%s", out);
    cr_assert_leq(harness_node_metric(&n, "tcluster_sip_auth_failures_total{reason=\"wrong\"}"),
                  REG_AUTH_SOURCE_BURST);
    cr_assert_null(strstr(out, "s3cret"), "svcrack found the password: %s", out);
    cr_assert_eq(harness_node_metric(&n, "tcluster_directory_numbers{state=\"insrv\"}"), 0);
    free(out);
    cr_assert_eq(harness_node_stop(&n), 0);
    harness_node_cleanup(&n);
}

struct log_wait {
    const struct hnode *n;
    const char *what;
};

static bool logged(void *arg)
{
    const struct log_wait *w = arg;

    return log_lines(w->n, w->what) > 0;
}

/* Wait until the node's log holds what. */
static void assert_logged(const struct hnode *n, const char *what)
{
    struct log_wait w = {n, what};

    cr_assert(harness_wait(logged, &w, 5000), "no log line with \"%s\"", what);
}

/* Every failed login leaves one line naming source, DN and reason, in the
 * format deploy/fail2ban/filter.d/tcluster.conf matches (issue 14). */
Test(auth_limits, failed_logins_are_logged_for_fail2ban)
{
    struct hnode n;
    struct client c;
    char msg[1200], resp[2048], cmd[1200], stolen[600];
    char *out = NULL;
    unsigned matched = 0;

    harness_node_init(&n, "auth4", NULL, dirs);
    harness_node_start(&n);
    /* A wrong password. */
    client_init(&c, &n, "127.0.0.5", "2010");
    get_nonce(&c);
    cr_assert_eq(try_password(&c, "guess", "wrong-1"), 403);
    assert_logged(&n, "auth: login failed from 127.0.0.5:");
    assert_logged(&n, " (udp) for dn 2010: wrong-password");
    /* The right one, then the same request again: a replayed nonce. */
    cr_assert_eq(try_password(&c, "s3cret", "right-1"), 200);
    make_register(&c, "right-1", c.ruri, c.auth, msg, sizeof(msg));
    cr_assert_eq(udp_from("127.0.0.5", n.sip_port, msg, resp, sizeof(resp)), 401, "%s", resp);
    assert_logged(&n, "for dn 2010: replayed-nonce");
    /* Credentials for 2011 sent in a REGISTER for 2012. */
    client_init(&c, &n, "127.0.0.6", "2011");
    get_nonce(&c);
    cr_assert_eq(try_password(&c, "s3cret", "mine"), 200);
    snprintf(stolen, sizeof(stolen), "%s", c.auth);
    c.dn = "2012";
    make_register(&c, "theirs", c.ruri, stolen, msg, sizeof(msg));
    cr_assert_eq(udp_from("127.0.0.6", n.sip_port, msg, resp, sizeof(resp)), 403, "%s", resp);
    assert_logged(&n, "from 127.0.0.6:");
    assert_logged(&n, "for dn 2012: user-mismatch");
    /* Credentials for a DN the node does not have. */
    client_init(&c, &n, "127.0.0.7", "7777");
    snprintf(c.realm, sizeof(c.realm), "tcluster");
    snprintf(c.nonce, sizeof(c.nonce), "guessed");
    cr_assert_eq(try_password(&c, "1234", "scan-1"), 404);
    assert_logged(&n, "for dn 7777: unknown-user");
    /* fail2ban's own matcher on the log, with the filter we ship: the
     * wrong password, the wrong user and the unknown DN, not the replay. */
    if (harness_run("command -v fail2ban-regex", NULL) != 0) {
        cr_log_warn("fail2ban-regex is not installed: filter not checked");
    } else {
        snprintf(cmd, sizeof(cmd),
                 "fail2ban-regex '%s' '%s/deploy/fail2ban/filter.d/tcluster.conf' 2>&1", n.log,
                 TC_SOURCE_DIR);
        harness_run(cmd, &out);
        cr_assert_not_null(out);
        cr_assert_not_null(strstr(out, "Lines:"), "%s", out);
        sscanf(strstr(out, "Lines:"), "Lines: %*u lines, %*u ignored, %u matched", &matched);
        cr_assert_eq(matched, 3, "%s", out);
        free(out);
    }
    cr_assert_eq(harness_node_stop(&n), 0);
    harness_node_cleanup(&n);
}
