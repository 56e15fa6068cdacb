/* tcphone against real tcnode processes (DESIGN §9): failover with the
 * primary's death and return, concurrent registration's standby takeover,
 * successive registration, 503 and ICMP fail-fast, and server discovery
 * through DNS SRV and A records served by a dnsmasq on loopback. Every wait
 * is on a condition with a deadline: the TC port's counts, tcphone's JSON. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/integration/harness_phone.h"
#include "tests/tc_test.h"

TestSuite(tcphone, .fini = tc_test_leak_check, .timeout = 300);

#define PHONES 1000
#define T1_MS  100
/* Phones notice a dead server when they next refresh (half of --expires)
 * and then within 64×T1 at worst; the ICMP answer makes it at once. */
#define EXPIRES    4
#define FAIL_BOUND (EXPIRES * 1000 / 2 + 64 * T1_MS)
/* The nodes never shed: these tests are about servers that die, not
 * about one that sheds load. A sanitized node on a busy machine answers
 * some of 1000 phones' burst with 503 (sip-shed-delay, 20 ms by default);
 * a 503 rightly moves a phone on, and one in failover mode comes back
 * only to its primary, so the DNs ended split between two servers. The
 * 503 path has its own test (a_503_moves_the_phone_at_once, a fake that
 * answers 503), shedding its own in test_flood. */
#define NODE_EXTRA "min-expires = 2\nsip-shed-delay = 49d\n"
#define SETTLE_MS  60000
#define DNS_RANGE  "1000-1999"
#define PHONE_DNS  "1000-1999"

static void servers(const struct hcluster *c, int count, char *buf, size_t size)
{
    size_t len = 0;

    buf[0] = '\0';
    for (int i = 0; i < count; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s127.0.0.1:%u", i > 0 ? "," : "",
                                c->n[i].sip_port);
}

static void start_phones(struct hphone *p, const struct hcluster *c, int n_servers,
                         const char *extra)
{
    char list[256], args[1024];

    servers(c, n_servers, list, sizeof(list));
    snprintf(args, sizeof(args),
             "-n %d --dns %s --servers %s --t1 %d --expires %d --probe 500 --rate 2000 --json %s",
             PHONES, PHONE_DNS, list, T1_MS, EXPIRES, extra);
    hphone_start(p, c->dir, "tcphone", args);
}

Test(tcphone, cli_help_version_and_usage_errors)
{
    char cmd[512], *out = NULL;
    const char *bin = tc_test_bin("client/tcphone");

    snprintf(cmd, sizeof(cmd), "'%s' --help", bin);
    cr_assert_eq(harness_run(cmd, &out), 0);
    cr_assert(strstr(out, "--mode") != NULL && strstr(out, "--resolver") != NULL, "%s", out);
    free(out);
    snprintf(cmd, sizeof(cmd), "'%s' --version", bin);
    cr_assert_eq(harness_run(cmd, &out), 0);
    cr_assert(strncmp(out, "tcphone ", 8) == 0, "%s", out);
    free(out);
    snprintf(cmd, sizeof(cmd), "'%s' -n 10 --dns 1000-1005 --servers 127.0.0.1:5060", bin);
    cr_assert_eq(harness_run(cmd, &out), 1, "%s", out);
    free(out);
    snprintf(cmd, sizeof(cmd), "'%s' -n 1 --dns 1000-1005 --servers 10.0.0.1:5060", bin);
    cr_assert_eq(harness_run(cmd, &out), 1, "%s", out);
    free(out);
    snprintf(cmd, sizeof(cmd), "'%s' -n 1 --dns 1-2 --servers 127.0.0.1:5 --mode x", bin);
    cr_assert_eq(harness_run(cmd, &out), 1, "%s", out);
    free(out);
}

Test(tcphone, failover_moves_on_kill_and_returns_to_the_primary)
{
    struct hcluster c;
    struct hphone p;
    char want[64];
    uint64_t t0;

    hcluster_init(&c, 3, DNS_RANGE, NODE_EXTRA);
    hcluster_start(&c);
    cr_assert(hcluster_wait_all_links(&c, 10000), "links did not come up");
    start_phones(&p, &c, 3, "--mode failover");
    cr_assert(hphone_wait_owned(&c, "sip1", PHONES, SETTLE_MS), "phones not at sip1");

    harness_node_kill(&c.n[0]);
    t0 = harness_now_ms();
    cr_assert(hphone_wait_owned(&c, "sip2", PHONES, FAIL_BOUND + 3000), "not moved to sip2");
    cr_log_info("failover: %d DNs owned by sip2 %llu ms after the kill (bound %d)", PHONES,
                (unsigned long long)(harness_now_ms() - t0), FAIL_BOUND);
    snprintf(want, sizeof(want), "\"127.0.0.1:%u\":%d", c.n[1].sip_port, PHONES);
    cr_assert(hphone_wait_output(&p, want, 5000), "tcphone does not count them at sip2");

    /* The primary comes back: the probes find it and the DNs follow. */
    harness_node_start(&c.n[0]);
    cr_assert(hcluster_wait_all_links(&c, 10000), "links did not come back");
    cr_assert(hphone_wait_owned(&c, "sip1", PHONES, SETTLE_MS), "phones did not return");
    cr_assert_eq(hphone_stop(&p), 0);
    cr_assert(hphone_wait_output(&p, "\"type\":\"totals\"", 1000), "no summary");
    hcluster_cleanup(&c);
}

Test(tcphone, concurrent_standby_keeps_every_dn_in_service)
{
    struct hcluster c;
    struct hphone p;
    char args[64];
    uint64_t t0;

    hcluster_init(&c, 3, DNS_RANGE, NODE_EXTRA);
    hcluster_start(&c);
    cr_assert(hcluster_wait_all_links(&c, 10000), "links did not come up");
    /* A long expiry: nothing re-registers during the check, so what keeps
     * the DNs in service is the standby binding at sip2. */
    snprintf(args, sizeof(args), "--mode concurrent --expires 120");
    start_phones(&p, &c, 2, args);
    cr_assert(harness_wait_metric(&c.n[0], "tcluster_sip_bindings", PHONES, SETTLE_MS));
    cr_assert(harness_wait_metric(&c.n[1], "tcluster_sip_bindings", PHONES, SETTLE_MS));

    harness_node_kill(&c.n[0]);
    t0 = harness_now_ms();
    cr_assert(hphone_wait_owned(&c, "sip2", PHONES, HCLUSTER_TIMEOUT_MS + 4000),
              "standby takeover did not keep the DNs");
    cr_log_info("concurrent: %d DNs owned by sip2 %llu ms after the kill", PHONES,
                (unsigned long long)(harness_now_ms() - t0));
    cr_assert_eq(hphone_stop(&p), 0);
    hcluster_cleanup(&c);
}

Test(tcphone, successive_registers_to_the_fallback_only_on_failure)
{
    struct hcluster c;
    struct hphone p;

    hcluster_init(&c, 3, DNS_RANGE, NODE_EXTRA);
    hcluster_start(&c);
    cr_assert(hcluster_wait_all_links(&c, 10000), "links did not come up");
    start_phones(&p, &c, 2, "--mode successive");
    cr_assert(hphone_wait_owned(&c, "sip1", PHONES, SETTLE_MS), "phones not at sip1");
    cr_assert_eq(harness_node_metric(&c.n[1], "tcluster_sip_bindings"), 0,
                 "registered to sip2 early");

    harness_node_kill(&c.n[0]);
    cr_assert(hphone_wait_owned(&c, "sip2", PHONES, FAIL_BOUND + 3000), "not moved to sip2");
    cr_assert_eq(hphone_stop(&p), 0);
    hcluster_cleanup(&c);
}

/* A primary that answers 503 is left at once, long before 64×T1 (64 s
 * here); so is a primary where nothing listens (ICMP port unreachable). */
static void fail_fast(bool with_503)
{
    struct hcluster c;
    struct hphone p;
    struct hfake f = {0};
    char args[512];
    uint16_t port = harness_free_port();

    hcluster_init(&c, 1, DNS_RANGE, NODE_EXTRA);
    hcluster_start(&c);
    if (with_503)
        hfake_start(&f, "127.0.0.1", port, 503);
    snprintf(args, sizeof(args),
             "-n 50 --dns 1000-1049 --servers 127.0.0.1:%u,127.0.0.1:%u --t1 1000 --json", port,
             c.n[0].sip_port);
    hphone_start(&p, c.dir, "tcphone", args);
    cr_assert(hphone_wait_owned(&c, "sip1", 50, 8000), "phones did not move at once");
    if (with_503) {
        cr_assert_geq(atomic_load(&f.requests), 50);
        hfake_stop(&f);
    }
    cr_assert_eq(hphone_stop(&p), 0);
    cr_assert(hphone_wait_output(&p, with_503 ? "\"fail_503\":\"" : "\"fail_icmp\":\"", 1000));
    cr_assert(!hphone_wait_output(&p, "\"fail_timeout\":\"1", 0), "a phone timed out");
    hcluster_cleanup(&c);
}

Test(tcphone, a_503_moves_the_phone_at_once)
{
    fail_fast(true);
}

Test(tcphone, icmp_unreachable_moves_the_phone_at_once)
{
    fail_fast(false);
}

/* A primary that hears and never answers: with T1 = 1 s Timer F is 64 s,
 * but the PBX trunk's failover timer (--failover-timer) moves the phones
 * to the secondary after 500 ms. */
Test(tcphone, the_failover_timer_bounds_a_silent_primary)
{
    struct hcluster c;
    struct hphone p;
    struct hfake f = {0};
    char args[512];
    uint16_t port = harness_free_port();

    hcluster_init(&c, 1, DNS_RANGE, NODE_EXTRA);
    hcluster_start(&c);
    hfake_start(&f, "127.0.0.1", port, 0);
    snprintf(args, sizeof(args),
             "-n 20 --dns 1000-1019 --servers 127.0.0.1:%u,127.0.0.1:%u --t1 1000 "
             "--failover-timer 500 --json",
             port, c.n[0].sip_port);
    hphone_start(&p, c.dir, "tcphone", args);
    cr_assert(hphone_wait_owned(&c, "sip1", 20, 8000), "phones did not move after the timer");
    cr_assert_geq(atomic_load(&f.requests), 20);
    hfake_stop(&f);
    cr_assert_eq(hphone_stop(&p), 0);
    cr_assert(hphone_wait_output(&p, "\"fail_timeout\":\"", 1000));
    hcluster_cleanup(&c);
}

/* dnsmasq on a loopback port with the given record options. */
static pid_t dnsmasq_start(const char *dir, uint16_t port, const char *records)
{
    char cmd[2048];
    pid_t pid;

    snprintf(cmd, sizeof(cmd),
             "exec dnsmasq --no-daemon --port=%u --listen-address=127.0.0.1 --bind-interfaces "
             "--no-resolv --no-hosts --pid-file=%s/dnsmasq.pid %s > %s/dnsmasq.log 2>&1",
             port, dir, records, dir);
    pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void dnsmasq_stop(pid_t pid)
{
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* The registered count tcphone reports for server ip:port in its last
 * counts line. */
static long at_count(const struct hphone *p, const char *ip, uint16_t port)
{
    char key[64], *line = hphone_last_line(p, "\"type\":\"counts\"");
    const char *k;
    long n = -1;

    snprintf(key, sizeof(key), "\"%s:%u\":", ip, port);
    if (line != NULL && (k = strstr(line, key)) != NULL)
        n = strtol(k + strlen(key), NULL, 10);
    free(line);
    return n;
}

static bool dns_run(const char *dir, uint16_t dport, const char *domain, const char *extra,
                    struct hphone *p, int n)
{
    char args[512], want[64];

    snprintf(args, sizeof(args),
             "-n %d --dns 1000-1999 --domain %s --resolver 127.0.0.1:%u --t1 100 --json %s", n,
             domain, dport, extra);
    hphone_start(p, dir, domain, args);
    snprintf(want, sizeof(want), "\"registered\":%d,", n);
    return hphone_wait_output(p, want, 10000);
}

Test(tcphone, dns_srv_priority_and_weight_then_a_round_robin)
{
    char dir[] = "/tmp/tcphone-dns-XXXXXX", cmd[128];
    struct hfake f[3];
    struct hphone p;
    uint16_t port[3], dport = harness_free_port(), aport = harness_free_port();
    char records[1024];
    pid_t dm;
    long a, b;

    cr_assert_not_null(mkdtemp(dir));
    for (int i = 0; i < 3; i++) {
        port[i] = harness_free_port();
        hfake_start(&f[i], "127.0.0.1", port[i], 200);
    }
    snprintf(records, sizeof(records),
             "--srv-host=_sip._udp.example.test,127.0.0.1,%u,10,60 "
             "--srv-host=_sip._udp.example.test,127.0.0.1,%u,10,20 "
             "--srv-host=_sip._udp.example.test,127.0.0.1,%u,20,100 "
             "--host-record=rr.test,127.0.0.2 --host-record=rr.test,127.0.0.3",
             port[0], port[1], port[2]);
    dm = dnsmasq_start(dir, dport, records);

    /* Priority 10 first, split 60:20 by weight; priority 20 unused. */
    cr_assert(dns_run(dir, dport, "example.test", "", &p, 400), "not registered");
    a = at_count(&p, "127.0.0.1", port[0]);
    b = at_count(&p, "127.0.0.1", port[1]);
    cr_assert_eq(at_count(&p, "127.0.0.1", port[2]), 0);
    cr_assert_eq(a + b, 400);
    cr_assert(a > 240 && a < 340, "weight 60 of 80 got %ld of 400", a);
    cr_assert_eq(hphone_stop(&p), 0);

    /* A records: phones start at each address in turn. */
    hfake_stop(&f[0]);
    hfake_stop(&f[1]);
    hfake_start(&f[0], "127.0.0.2", aport, 200);
    hfake_start(&f[1], "127.0.0.3", aport, 200);
    snprintf(records, sizeof(records), "--sip-port %u", aport);
    cr_assert(dns_run(dir, dport, "rr.test", records, &p, 100), "not registered");
    cr_assert_eq(at_count(&p, "127.0.0.2", aport), 50);
    cr_assert_eq(at_count(&p, "127.0.0.3", aport), 50);
    cr_assert_eq(hphone_stop(&p), 0);

    dnsmasq_stop(dm);
    for (int i = 0; i < 3; i++)
        hfake_stop(&f[i]);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    harness_run(cmd, NULL);
}

/* A number in a JSON string member "key":"N" of line, or -1. */
static long json_str_num(const char *line, const char *key)
{
    char k[96];
    const char *p;

    snprintf(k, sizeof(k), "\"%s\":\"", key);
    p = line != NULL ? strstr(line, k) : NULL;
    return p != NULL ? strtol(p + strlen(k), NULL, 10) : -1;
}

/* True once p's last counts line says at least n calls ended as key
 * ("calls_completed", "calls_failed") within ms (scaled by harness_ms()). */
static bool wait_call_count(const struct hphone *p, const char *key, long n, int ms)
{
    uint64_t deadline = harness_now_ms() + (uint64_t)harness_ms(ms);

    for (;;) {
        char *line = hphone_last_line(p, "\"type\":\"counts\"");
        long done = json_str_num(line, key);

        free(line);
        if (done >= n)
            return true;
        if (harness_now_ms() >= deadline)
            return false;
        usleep(100000);
    }
}

/* Callees at sip2, callers at sip1 calling them: each INVITE gets a 302
 * from sip1 to sip2 (tc-fwd), one from sip2 to the callee's Contact, and
 * the callee answers 180, 200; then ACK and BYE. */
Test(tcphone, calls_follow_redirects_and_complete)
{
    struct hcluster c;
    struct hphone callee, caller;
    char list[256], args[1024], *line;

    hcluster_init(&c, 3, DNS_RANGE, NODE_EXTRA);
    hcluster_start(&c);
    cr_assert(hcluster_wait_all_links(&c, 10000), "links did not come up");
    snprintf(list, sizeof(list), "127.0.0.1:%u,127.0.0.1:%u,127.0.0.1:%u", c.n[1].sip_port,
             c.n[0].sip_port, c.n[2].sip_port);
    snprintf(args, sizeof(args),
             "-n 20 --dns 1020-1039 --servers %s --t1 100 --expires 30 --answer-ms 50 --json",
             list);
    hphone_start(&callee, c.dir, "callee", args);
    cr_assert(hphone_wait_owned(&c, "sip2", 20, SETTLE_MS), "callees not at sip2");

    servers(&c, 3, list, sizeof(list));
    snprintf(args, sizeof(args),
             "-n 20 --dns 1000-1019 --servers %s --t1 100 --expires 30 --calls 0.5 "
             "--call-to 1020-1039 --call-interval 0.5 --call-ms 200 --json",
             list);
    hphone_start(&caller, c.dir, "caller", args);
    cr_assert(hphone_wait_owned(&c, "sip1", 20, SETTLE_MS), "callers not at sip1");
    cr_assert(wait_call_count(&caller, "calls_completed", 10, 30000), "calls did not complete");

    cr_assert_eq(hphone_stop(&caller), 0);
    line = hphone_last_line(&caller, "\"type\":\"summary\"");
    cr_assert_not_null(line, "no summary");
    cr_log_info("caller: %s", line);
    cr_assert_gt(json_str_num(line, "calls_completed"), 0);
    cr_assert_eq(json_str_num(line, "calls_failed"), 0, "%s", line);
    cr_assert_gt(json_str_num(line, "redirects"), 0, "%s", line);
    free(line);
    cr_assert_eq(hphone_stop(&callee), 0);
    line = hphone_last_line(&callee, "\"type\":\"summary\"");
    cr_assert_gt(json_str_num(line, "answered"), 0, "%s", line);
    free(line);
    cr_assert_gt(harness_node_metric(&c.n[0],
                                     "tcluster_redirect_decisions_total{outcome=\"forwarded\"}"),
                 0);
    cr_assert_gt(
            harness_node_metric(&c.n[1], "tcluster_redirect_decisions_total{outcome=\"local\"}"),
            0);
    hcluster_cleanup(&c);
}

/* How many lines of p's output hold needle. */
static int count_lines(const struct hphone *p, const char *needle)
{
    char *text = harness_read_file(p->out);
    int n = 0;

    for (const char *t = text; t != NULL && (t = strstr(t, needle)) != NULL; t++)
        n++;
    free(text);
    return n;
}

/* Back at its primary, a phone in failover mode drops its registration at
 * the fallback. The fallback's answer to that registration's refresh may
 * already wait on its socket, read in the same loop turn as the primary's
 * answer that made the phone go back (a busy machine: slow answers, many
 * at once); it is ignored. tcphone read the dropped registration's server
 * position (-1) into its server table to match it; sanitized, it aborted
 * ("index -1 out of bounds"), and the failover test lost its phones. */
Test(tcphone, an_answer_to_a_dropped_registration_is_ignored)
{
    char dir[] = "/tmp/tcphone-late-XXXXXX", args[512], want[64], cmd[128], *text;
    uint16_t primary = harness_free_port(), fallback = harness_free_port();
    struct hfake a, b;
    struct hphone p;
    uint64_t deadline;
    unsigned held;
    int seen;

    cr_assert_not_null(mkdtemp(dir));
    /* Nothing at the primary yet: ICMP moves the phone to the fallback. */
    hfake_start(&b, "127.0.0.1", fallback, 200);
    snprintf(args, sizeof(args),
             "-n 1 --dns 1000-1000 --servers 127.0.0.1:%u,127.0.0.1:%u --mode failover --t1 100 "
             "--probe 300 --expires 2 --json",
             primary, fallback);
    hphone_start(&p, dir, "late", args);
    snprintf(want, sizeof(want), "\"127.0.0.1:%u\":1", fallback);
    cr_assert(hphone_wait_output(&p, want, 10000), "not registered at the fallback");

    /* Both answer slowly: the refresh at the fallback and the probe of
     * the primary both wait for theirs. */
    held = atomic_load(&b.requests);
    hfake_hold(&b);
    hfake_start_holding(&a, "127.0.0.1", primary, 200);
    deadline = harness_now_ms() + (uint64_t)harness_ms(10000);
    while (atomic_load(&a.requests) == 0 || atomic_load(&b.requests) == held) {
        cr_assert(harness_now_ms() < deadline, "no probe of the primary and refresh at once");
        usleep(10000);
    }
    /* Both answers reach the phone before it runs again: the primary's
     * first, so it goes back there and drops the fallback's registration,
     * whose answer it reads next. */
    cr_assert_eq(kill(p.pid, SIGSTOP), 0);
    hfake_release(&a);
    hfake_release(&b);
    cr_assert_eq(kill(p.pid, SIGCONT), 0);
    if (!hphone_wait_output(&p, "\"returns\":\"1\"", 10000)) {
        text = harness_read_file(p.out);
        cr_assert_fail("not back at the primary: %s", text);
    }
    /* Two more counts lines (one a second): it lives on. */
    seen = count_lines(&p, "\"type\":\"counts\"");
    deadline = harness_now_ms() + (uint64_t)harness_ms(10000);
    while (count_lines(&p, "\"type\":\"counts\"") < seen + 2) {
        text = harness_read_file(p.out);
        cr_assert(harness_now_ms() < deadline, "tcphone stopped counting: %s", text);
        free(text);
        usleep(100000);
    }
    cr_assert_eq(hphone_stop(&p), 0);
    text = harness_read_file(p.out);
    cr_assert_null(strstr(text, "runtime error"), "%s", text);
    free(text);
    hfake_stop(&a);
    hfake_stop(&b);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    harness_run(cmd, NULL);
}

/* Every server down (nothing listens: ICMP at once): the INVITE goes to
 * the last resort, a fake that answers 200. */
Test(tcphone, calls_go_to_the_last_resort_when_every_server_is_down)
{
    char dir[] = "/tmp/tcphone-lr-XXXXXX", args[512], cmd[128], *line;
    struct hfake f;
    struct hphone p;
    uint16_t s1 = harness_free_port(), s2 = harness_free_port(), lr = harness_free_port();

    cr_assert_not_null(mkdtemp(dir));
    hfake_start(&f, "127.0.0.1", lr, 200);
    snprintf(args, sizeof(args),
             "-n 2 --dns 1000-1001 --servers 127.0.0.1:%u,127.0.0.1:%u --t1 100 --calls 1 "
             "--call-to 1500 --call-interval 0.2 --call-ms 50 --last-resort 127.0.0.1:%u --json",
             s1, s2, lr);
    hphone_start(&p, dir, "lastresort", args);
    cr_assert(wait_call_count(&p, "calls_completed", 2, 15000),
              "no call completed at the last resort");
    cr_assert_eq(hphone_stop(&p), 0);
    hfake_stop(&f);
    cr_assert_geq(atomic_load(&f.requests), 3, "INVITE, ACK, BYE");
    line = hphone_last_line(&p, "\"type\":\"summary\"");
    cr_assert_not_null(line);
    cr_assert_gt(json_str_num(line, "last_resort"), 0, "%s", line);
    cr_assert_eq(json_str_num(line, "calls_failed"), 0, "%s", line);
    free(line);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    harness_run(cmd, NULL);
}

Test(tcphone, cli_documents_and_checks_the_call_options)
{
    char cmd[512], *out = NULL;
    const char *bin = tc_test_bin("client/tcphone");

    snprintf(cmd, sizeof(cmd), "'%s' --help", bin);
    cr_assert_eq(harness_run(cmd, &out), 0);
    cr_assert(strstr(out, "--calls") != NULL && strstr(out, "--last-resort") != NULL &&
                      strstr(out, "--call-interval") != NULL && strstr(out, "--answer-ms") != NULL,
              "%s", out);
    free(out);
    snprintf(cmd, sizeof(cmd), "'%s' -n 1 --dns 1-2 --servers 127.0.0.1:5 --calls 1.5", bin);
    cr_assert_eq(harness_run(cmd, &out), 1, "%s", out);
    free(out);
    snprintf(cmd, sizeof(cmd),
             "'%s' -n 1 --dns 1-2 --servers 127.0.0.1:5 --calls 1 --transport tcp", bin);
    cr_assert_eq(harness_run(cmd, &out), 1, "%s", out);
    free(out);
    snprintf(cmd, sizeof(cmd), "'%s' -n 1 --dns 1-2 --servers 127.0.0.1:5 --call-to 9-3", bin);
    cr_assert_eq(harness_run(cmd, &out), 1, "%s", out);
    free(out);
}

/* Wait for p's totals line and return the number under key, or -1. */
static long totals_num(const struct hphone *p, const char *key, int ms)
{
    char *line;
    long v;

    if (!hphone_wait_output(p, "\"type\":\"totals\"", ms))
        return -1;
    line = hphone_last_line(p, "\"type\":\"totals\"");
    v = json_str_num(line, key);
    free(line);
    return v;
}

/* Wait up to ms for p to exit by itself (--duration); its exit code, or
 * -1 (killed then) when it does not. */
static int wait_exit(struct hphone *p, int ms)
{
    uint64_t deadline = harness_now_ms() + (uint64_t)ms;
    int status;

    while (waitpid(p->pid, &status, WNOHANG) == 0) {
        if (harness_now_ms() > deadline)
            return hphone_stop(p), -1;
        usleep(20000);
    }
    p->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Issue 14: phones register to a DN range with a password (the node
 * challenges, tcphone answers with digest credentials and reuses the nonce
 * on refresh); with a wrong password they fail cleanly: counted as auth
 * failures, nothing registered, no hang; without one, the same. */
Test(tcphone, digest_password_registers_and_a_wrong_one_fails_counted)
{
    struct hcluster c;
    struct hphone good, bad, none;
    char list[256], args[1024], pwfile[512], *line;
    FILE *f;

    hcluster_init(&c, 2, DNS_RANGE, NODE_EXTRA);
    for (int i = 0; i < 2; i++)
        hcluster_write_config(&c, i, NODE_EXTRA, "\n[dn 1000-1199]\npassword = phones-7.pw\n");
    hcluster_start(&c);
    cr_assert(hcluster_wait_all_links(&c, 10000), "links did not come up");
    servers(&c, 2, list, sizeof(list));

    snprintf(pwfile, sizeof(pwfile), "%s/phones.pw", c.dir);
    f = fopen(pwfile, "w");
    cr_assert_not_null(f);
    fputs("phones-7.pw\n", f);
    fclose(f);
    snprintf(args, sizeof(args),
             "-n 100 --dns 1000-1099 --servers %s --t1 %d --expires %d --probe 500 --json "
             "--password-file '%s'",
             list, T1_MS, EXPIRES, pwfile);
    hphone_start(&good, c.dir, "tcphone-good", args);
    cr_assert(hphone_wait_owned(&c, "sip1", 100, SETTLE_MS), "phones with the password not in");
    /* Refreshes (every ~EXPIRES/2 s) go on with the nonce's next nc. */
    usleep(EXPIRES * 1000 * 1000);
    line = hphone_last_line(&good, "\"type\":\"counts\"");
    cr_assert(line != NULL && strstr(line, "\"registered\":100,") != NULL, "%s", line);
    cr_assert_eq(json_str_num(line, "auth_failed"), 0, "%s", line);
    cr_assert_geq(json_str_num(line, "auth_challenges"), 100, "%s", line);
    free(line);

    /* Wrong guesses throttle their source (127.0.0.1, as the good phones)
     * at the node that sees them: these phones go to sip2 only. */
    snprintf(args, sizeof(args),
             "-n 10 --dns 1100-1109 --servers 127.0.0.1:%u --t1 %d --probe 300 --duration 3 "
             "--json --password wrong-pw",
             c.n[1].sip_port, T1_MS);
    hphone_start(&bad, c.dir, "tcphone-bad", args);
    snprintf(args, sizeof(args),
             "-n 10 --dns 1110-1119 --servers 127.0.0.1:%u --t1 %d --probe 300 --duration 3 "
             "--json",
             c.n[1].sip_port, T1_MS);
    hphone_start(&none, c.dir, "tcphone-none", args);
    cr_assert_geq(totals_num(&bad, "auth_failed", 15000), 10, "wrong password not counted");
    cr_assert_eq(totals_num(&bad, "ok", 1000), 0);
    cr_assert_geq(totals_num(&none, "auth_failed", 15000), 10, "no password not counted");
    cr_assert_eq(totals_num(&none, "ok", 1000), 0);
    cr_assert_eq(wait_exit(&bad, 5000), 0, "a wrong password: no clean exit at --duration");
    cr_assert_eq(wait_exit(&none, 5000), 0);
    cr_assert(hphone_wait_owned(&c, "sip1", 100, 5000), "only the good phones are in");

    cr_assert_eq(hphone_stop(&good), 0);
    cr_assert_eq(totals_num(&good, "auth_failed", 5000), 0);
    cr_assert_geq(totals_num(&good, "unregistered", 1000), 1, "unregister was not authenticated");
    hcluster_cleanup(&c);
}

Test(tcphone, password_options_are_checked)
{
    char cmd[512], *out = NULL;
    const char *bin = tc_test_bin("client/tcphone");

    snprintf(cmd, sizeof(cmd), "'%s' --help", bin);
    cr_assert_eq(harness_run(cmd, &out), 0);
    cr_assert(strstr(out, "--password SECRET") != NULL && strstr(out, "--password-file") != NULL,
              "%s", out);
    free(out);
    snprintf(cmd, sizeof(cmd),
             "'%s' -n 1 --dns 1-2 --servers 127.0.0.1:5 --password-file /nonexistent/pw", bin);
    cr_assert_eq(harness_run(cmd, &out), 1, "%s", out);
    cr_assert(strstr(out, "/nonexistent/pw") != NULL, "%s", out);
    free(out);
    snprintf(cmd, sizeof(cmd), "'%s' -n 1 --dns 1-2 --servers 127.0.0.1:5 --password ''", bin);
    cr_assert_eq(harness_run(cmd, &out), 1, "%s", out);
    free(out);
}

/* Against a fake server that checks the digest: REGISTER skips a challenge
 * of an unknown algorithm, answers SHA-256 with qop auth (from a list) and
 * opaque, answers the stale=true challenge that follows without counting a
 * failure; the INVITE's 407 (MD5, RFC 2069) is ACKed and the INVITE sent
 * again with Proxy-Authorization. */
Test(tcphone, digest_sha256_stale_and_a_challenged_invite)
{
    char dir[] = "/tmp/tc-phone-digest-XXXXXX", args[512], *line;
    struct hfake f;
    struct hphone p;
    uint16_t port = harness_free_port();

    cr_assert_not_null(mkdtemp(dir));
    hfake_start_digest(&f, "127.0.0.1", port);
    snprintf(args, sizeof(args),
             "-n 1 --dns 1000-1001 --servers 127.0.0.1:%u --t1 100 --expires 300 --json "
             "--password %s --calls 1 --call-to 1001 --call-interval 0.2",
             port, HFAKE_PASSWORD);
    hphone_start(&p, dir, "tcphone", args);
    cr_assert(wait_call_count(&p, "calls_failed", 1, 10000), "no call ended");
    cr_assert_eq(hphone_stop(&p), 0);
    cr_assert_geq(atomic_load(&f.authed), 3, "the fake accepted %u requests",
                  atomic_load(&f.authed));
    line = hphone_last_line(&p, "\"type\":\"summary\"");
    cr_assert_not_null(line);
    cr_assert_eq(json_str_num(line, "auth_failed"), 0, "%s", line);
    cr_assert_geq(json_str_num(line, "auth_challenges"), 3, "%s", line);
    cr_assert(strstr(line, "\"486\":\"") != NULL && json_str_num(line, "486") >= 1, "%s", line);
    free(line);
    line = hphone_last_line(&p, "\"type\":\"totals\"");
    cr_assert_geq(json_str_num(line, "ok"), 1, "%s", line);
    cr_assert_geq(json_str_num(line, "unregistered"), 1, "%s", line);
    free(line);
    hfake_stop(&f);
    tc_test_rmrf(dir);
}
