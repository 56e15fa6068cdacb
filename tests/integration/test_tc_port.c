/* The TC port (DESIGN §5) against a real tcnode with raw-socket clients:
 * snapshot and marker, live changes from sipsak and GWS claims, resume
 * from a sequence, operator queries, every kind of bad input and a
 * subscriber that stops reading while thousands of changes stream. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/integration/harness_tc.h"
#include "tests/tc_test.h"

TestSuite(tc_port, .fini = tc_test_leak_check, .timeout = 300);

static const char *node_keys = "gws-client-names = GWS\nmin-expires = 1\n";
static const char *dirs = "[dn 1000-1999]\ntype = extension\n";
/* Every GWS name needs a credential: here its source, the test's loopback. */
static const char *gws_cred = "\n[gws GWS]\nallow-from = 127.0.0.1\n";

static int sipsak(const struct hnode *n, const char *dn, const char *extra)
{
    char cmd[512];

    snprintf(cmd, sizeof(cmd), "timeout 10 sipsak -i -U -s sip:%s@127.0.0.1:%u %s >/dev/null 2>&1",
             dn, n->sip_port, extra ? extra : "-x 300");
    return harness_run(cmd, NULL);
}

static void start(struct hnode *n, const char *extra, const char *tail)
{
    char keys[512], sections[512];

    /* A silent client is cut after 500 ms unless extra says otherwise. */
    snprintf(keys, sizeof(keys), "%s%s%s", node_keys, extra ? extra : "",
             extra != NULL && strstr(extra, "idle-timeout") != NULL ? ""
                                                                    : "idle-timeout = 500ms\n");
    snprintf(sections, sizeof(sections), "%s%s", tail ? tail : dirs, gws_cred);
    harness_node_init(n, "sip1", keys, sections);
    harness_node_start(n);
}

static void stop(struct hnode *n)
{
    cr_assert_eq(harness_node_stop(n), 0, "tcnode exit status");
    harness_node_cleanup(n);
}

static void free_ev(Tc__Event *ev)
{
    tc__event__free_unpacked(ev, NULL);
}

Test(tc_port, snapshot_covers_every_dn_then_sip_changes_follow)
{
    struct hnode n;
    struct htc c;
    Tc__Event *ev;
    uint64_t seq;
    char want[16];

    start(&n, NULL, NULL);
    htc_connect(&c, n.tc_port);
    cr_assert_eq(htc_subscribe(&c, 5, 0, 0), 0);
    ev = htc_expect(&c, TC__EVENT__BODY_OPENED, 5000);
    cr_assert_str_eq(ev->opened->node, "sip1");
    cr_assert_eq(ev->ref_id, 5);
    cr_assert_neq(ev->opened->epoch, 0);
    seq = ev->opened->seq;
    free_ev(ev);
    /* Every DN of the directory, idle ones too, in directory order. */
    for (unsigned i = 0; i < 1000; i++) {
        const Tc__DnState *st;

        ev = htc_expect(&c, TC__EVENT__BODY_ADDRESS_INFO, 5000);
        st = tcclient_event_state(ev);
        snprintf(want, sizeof(want), "%u", 1000 + i);
        cr_assert_str_eq(st->dn, want);
        cr_assert_eq(st->status, TC__DN_STATUS__DN_STATUS_OOS);
        cr_assert_str_eq(st->owner, "");
        cr_assert_eq(ev->seq, 0);
        free_ev(ev);
    }
    ev = htc_expect(&c, TC__EVENT__BODY_SNAPSHOT_END, 5000);
    cr_assert_eq(ev->snapshot_end->count, 1000);
    cr_assert_eq(ev->snapshot_end->seq, seq);
    free_ev(ev);

    cr_assert_eq(sipsak(&n, "1001", NULL), 0);
    ev = htc_expect(&c, TC__EVENT__BODY_DN_BACK_IN_SERVICE, 5000);
    cr_assert_str_eq(tcclient_event_state(ev)->dn, "1001");
    cr_assert_str_eq(tcclient_event_state(ev)->owner, "sip1");
    cr_assert_eq(tcclient_event_state(ev)->source, TC__SOURCE__SOURCE_SIP);
    cr_assert_not_null(tcclient_event_state(ev)->version);
    cr_assert_gt(tcclient_event_state(ev)->since_unix_ms, 0);
    cr_assert_gt(ev->seq, seq);
    free_ev(ev);
    /* A refresh changes nothing: no event. A short registration expires. */
    cr_assert_eq(sipsak(&n, "1002", "-x 1"), 0);
    ev = htc_expect(&c, TC__EVENT__BODY_DN_BACK_IN_SERVICE, 5000);
    cr_assert_str_eq(tcclient_event_state(ev)->dn, "1002");
    free_ev(ev);
    ev = htc_expect(&c, TC__EVENT__BODY_DN_OUT_OF_SERVICE, 10000);
    cr_assert_str_eq(tcclient_event_state(ev)->dn, "1002");
    cr_assert_str_eq(tcclient_event_state(ev)->owner, "");
    free_ev(ev);
    cr_assert_eq(harness_node_metric(&n, "tcluster_tc_port_subscribers"), 1);
    htc_close(&c);
    stop(&n);
}

/* The sequence of the next change event for dn. */
static uint64_t seq_of(struct htc *c, const char *dn)
{
    Tc__Event *ev = htc_wait_dn(c, dn, true, 10000);
    uint64_t s;

    cr_assert_not_null(ev, "no event for %s", dn);
    s = ev->seq;
    free_ev(ev);
    return s;
}

Test(tc_port, resume_from_a_sequence_sends_only_what_changed)
{
    struct hnode n;
    struct htc a, b;
    Tc__Event *ev;
    uint64_t s1, epoch;

    start(&n, NULL, NULL);
    htc_connect(&a, n.tc_port);
    cr_assert_eq(htc_snapshot(&a, NULL), 1000);
    cr_assert_eq(sipsak(&n, "1001", NULL), 0);
    s1 = seq_of(&a, "1001");
    cr_assert_eq(sipsak(&n, "1002", NULL), 0);
    cr_assert_eq(sipsak(&n, "1003", NULL), 0);
    seq_of(&a, "1003");
    htc_close(&a);

    /* The epoch of this run, from a fresh subscription. */
    htc_connect(&b, n.tc_port);
    cr_assert_eq(htc_subscribe(&b, 1, s1, 0), 0);
    ev = htc_expect(&b, TC__EVENT__BODY_OPENED, 5000);
    epoch = ev->opened->epoch;
    cr_assert_eq(ev->opened->seq, s1 + 2);
    free_ev(ev);
    /* Only 1002 and 1003, with their state now; no snapshot. */
    for (int i = 0; i < 2; i++) {
        const Tc__DnState *st;

        ev = htc_expect(&b, TC__EVENT__BODY_DN_BACK_IN_SERVICE, 5000);
        st = tcclient_event_state(ev);
        cr_assert(strcmp(st->dn, "1002") == 0 || strcmp(st->dn, "1003") == 0, "%s", st->dn);
        cr_assert_eq(st->status, TC__DN_STATUS__DN_STATUS_INSRV);
        /* The last one says the client now holds everything. */
        cr_assert_eq(ev->seq, i == 0 ? s1 : s1 + 2);
        free_ev(ev);
    }
    ev = htc_next(&b, 300);
    cr_assert_null(ev, "nothing more: got body %d", ev ? (int)ev->body_case : 0);
    /* Live again. */
    cr_assert_eq(sipsak(&n, "1004", NULL), 0);
    cr_assert_eq(seq_of(&b, "1004"), s1 + 3);
    htc_close(&b);

    /* The same sequence of this run again, and from the current one. */
    htc_connect(&b, n.tc_port);
    cr_assert_eq(htc_subscribe(&b, 1, s1 + 3, epoch), 0);
    free_ev(htc_expect(&b, TC__EVENT__BODY_OPENED, 5000));
    ev = htc_next(&b, 300);
    cr_assert_null(ev, "up to date: nothing to send");
    htc_close(&b);
    stop(&n);
}

/* A subscription that must fall back to a full snapshot. */
static void expect_snapshot(uint16_t port, uint64_t from, uint64_t epoch)
{
    struct htc c;
    Tc__Event *ev;
    unsigned n = 0;

    htc_connect(&c, port);
    cr_assert_eq(htc_subscribe(&c, 1, from, epoch), 0);
    free_ev(htc_expect(&c, TC__EVENT__BODY_OPENED, 5000));
    while ((ev = htc_next(&c, 5000)) != NULL && ev->body_case == TC__EVENT__BODY_ADDRESS_INFO) {
        n++;
        free_ev(ev);
    }
    cr_assert_not_null(ev);
    cr_assert_eq(ev->body_case, TC__EVENT__BODY_SNAPSHOT_END);
    cr_assert_eq(n, 1000);
    free_ev(ev);
    htc_close(&c);
}

Test(tc_port, resume_from_an_unknown_sequence_or_run_gets_a_snapshot)
{
    struct hnode n;

    start(&n, NULL, NULL);
    cr_assert_eq(sipsak(&n, "1001", NULL), 0);
    expect_snapshot(n.tc_port, 1000000, 0); /* a sequence from the future */
    expect_snapshot(n.tc_port, 1, 12345);   /* another run of the node */
    stop(&n);
}

Test(tc_port, queries_for_operators)
{
    struct hnode n;
    struct htc c;
    Tc__Request rq = TC__REQUEST__INIT;
    Tc__QueryDns qd = TC__QUERY_DNS__INIT;
    Tc__QueryNodes qn = TC__QUERY_NODES__INIT;
    Tc__Event *ev;
    char secret[400], keys[600];

    /* A peer that never answers; peers need the cluster secret. */
    harness_node_init(&n, "sip1", NULL, NULL);
    snprintf(secret, sizeof(secret), "%s/secret", n.dir);
    tc_test_write_file(secret, "0123456789abcdef0123456789abcdef\n");
    snprintf(keys, sizeof(keys), "%sidle-timeout = 500ms\ncluster-secret-file = %s\n", node_keys,
             secret);
    harness_node_write_config(&n, keys,
                              "[peer sip2]\naddress = 127.0.0.1:1\ntc-address = 127.0.0.1:2\n\n"
                              "[dn 1000-1999]\ntype = extension\n\n[gws GWS]\n"
                              "allow-from = 127.0.0.1\n");
    harness_node_start(&n);
    cr_assert_eq(sipsak(&n, "1001", NULL), 0);
    htc_connect(&c, n.tc_port);

    rq.ref_id = 11;
    rq.body_case = TC__REQUEST__BODY_QUERY_NODES;
    rq.query_nodes = &qn;
    cr_assert_eq(htc_send(&c, &rq), 0);
    ev = htc_expect(&c, TC__EVENT__BODY_NODE_INFO, 5000);
    cr_assert_eq(ev->ref_id, 11);
    cr_assert_eq(ev->node_info->n_nodes, 2);
    cr_assert_str_eq(ev->node_info->nodes[0]->name, "sip1");
    cr_assert(ev->node_info->nodes[0]->self);
    cr_assert_eq(ev->node_info->nodes[0]->dns_owned, 1);
    cr_assert_str_eq(ev->node_info->nodes[1]->name, "sip2");
    cr_assert_not(ev->node_info->nodes[1]->link_up);
    cr_assert_str_eq(ev->node_info->nodes[1]->address, "127.0.0.1:2");
    free_ev(ev);

    cr_assert_eq(htc_query_dn(&c, 12, "1001"), 0);
    ev = htc_expect(&c, TC__EVENT__BODY_ADDRESS_INFO, 5000);
    cr_assert_eq(ev->ref_id, 12);
    cr_assert_eq(tcclient_event_state(ev)->status, TC__DN_STATUS__DN_STATUS_INSRV);
    cr_assert_eq(tcclient_event_state(ev)->n_bindings, 1, "the owner shows the contact");
    cr_assert(strstr(tcclient_event_state(ev)->bindings[0], "sip:") != NULL);
    free_ev(ev);
    cr_assert_eq(htc_query_dn(&c, 13, "5555"), 0);
    ev = htc_expect(&c, TC__EVENT__BODY_ERROR, 5000);
    cr_assert_eq(ev->error->code, TC__ERROR_CODE__ERROR_UNKNOWN_DN);
    cr_assert_eq(ev->ref_id, 13);
    free_ev(ev);

    rq.ref_id = 14;
    rq.body_case = TC__REQUEST__BODY_QUERY_DNS;
    rq.query_dns = &qd;
    qd.state = TC__DN_STATUS__DN_STATUS_INSRV;
    cr_assert_eq(htc_send(&c, &rq), 0);
    ev = htc_expect(&c, TC__EVENT__BODY_ADDRESS_INFO, 5000);
    cr_assert_str_eq(tcclient_event_state(ev)->dn, "1001");
    free_ev(ev);
    ev = htc_expect(&c, TC__EVENT__BODY_QUERY_END, 5000);
    cr_assert_eq(ev->query_end->count, 1);
    cr_assert_not(ev->query_end->truncated);
    free_ev(ev);
    qd.any_state = true;
    qd.limit = 10;
    cr_assert_eq(htc_send(&c, &rq), 0);
    for (int i = 0; i < 10; i++)
        free_ev(htc_expect(&c, TC__EVENT__BODY_ADDRESS_INFO, 5000));
    ev = htc_expect(&c, TC__EVENT__BODY_QUERY_END, 5000);
    cr_assert_eq(ev->query_end->count, 10);
    cr_assert(ev->query_end->truncated);
    free_ev(ev);
    qd.limit = 0;
    qd.owner = "sip2";
    cr_assert_eq(htc_send(&c, &rq), 0);
    ev = htc_expect(&c, TC__EVENT__BODY_QUERY_END, 5000);
    cr_assert_eq(ev->query_end->count, 0);
    free_ev(ev);

    cr_assert_eq(htc_query_summary(&c, 15), 0);
    ev = htc_expect(&c, TC__EVENT__BODY_SUMMARY, 5000);
    cr_assert_eq(ev->summary->total, 1000);
    cr_assert_eq(ev->summary->insrv, 1);
    cr_assert_eq(ev->summary->oos, 999);
    cr_assert_eq(ev->summary->n_by_owner, 1);
    cr_assert_str_eq(ev->summary->by_owner[0]->key, "sip1");
    cr_assert_eq(ev->summary->by_owner[0]->value, 1);
    free_ev(ev);
    htc_close(&c);
    stop(&n);
}

/* An error event with code, answering ref. */
static void expect_error(struct htc *c, Tc__ErrorCode code)
{
    Tc__Event *ev = htc_expect(c, TC__EVENT__BODY_ERROR, 5000);

    cr_assert_eq(ev->error->code, code, "error %d (%s)", ev->error->code, ev->error->text);
    free_ev(ev);
}

Test(tc_port, oversized_frame_gets_an_error_and_a_close)
{
    static const uint8_t hdr[4] = {0x00, 0x10, 0x00, 0x00}; /* 1 MiB */
    struct hnode n;
    struct htc c;
    char junk[4096];

    start(&n, "max-frame = 4096\n", NULL);
    htc_connect(&c, n.tc_port);
    memset(junk, 'x', sizeof(junk));
    cr_assert_eq(htc_write(&c, hdr, sizeof(hdr)), 0);
    htc_write(&c, junk, sizeof(junk)); /* the node may have closed already */
    expect_error(&c, TC__ERROR_CODE__ERROR_FRAME_TOO_LARGE);
    cr_assert(htc_wait_eof(&c, 5000), "closed after the error");
    htc_close(&c);
    cr_assert_eq(harness_node_metric(&n, "tcluster_tc_port_refused_total{reason=\"frame_too_large\"}"),
                 1);
    stop(&n);
}

Test(tc_port, bad_frames_get_errors_and_the_connection_stays)
{
    static const uint8_t garbage[] = {0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t empty[] = {0, 0, 0, 0};
    struct hnode n;
    struct htc c;
    Tc__Event *ev;

    start(&n, NULL, NULL);
    htc_connect(&c, n.tc_port);
    cr_assert_eq(htc_write(&c, garbage, sizeof(garbage)), 0);
    expect_error(&c, TC__ERROR_CODE__ERROR_BAD_FRAME);
    cr_assert_eq(htc_write(&c, empty, sizeof(empty)), 0);
    expect_error(&c, TC__ERROR_CODE__ERROR_UNKNOWN_REQUEST);
    /* A default port request on the TC port. */
    cr_assert_eq(htc_open_app(&c, 3, "URS"), 0);
    ev = htc_expect(&c, TC__EVENT__BODY_ERROR, 5000);
    cr_assert_eq(ev->error->code, TC__ERROR_CODE__ERROR_UNKNOWN_REQUEST);
    cr_assert_eq(ev->ref_id, 3);
    free_ev(ev);
    /* Still served. */
    cr_assert_eq(htc_query_summary(&c, 4), 0);
    free_ev(htc_expect(&c, TC__EVENT__BODY_SUMMARY, 5000));
    /* Subscribing twice is refused; the first subscription goes on. */
    cr_assert_eq(htc_snapshot(&c, NULL), 1000);
    cr_assert_eq(htc_subscribe(&c, 9, 0, 0), 0);
    expect_error(&c, TC__ERROR_CODE__ERROR_BUSY);
    htc_close(&c);
    stop(&n);
}

Test(tc_port, truncated_frame_then_close_leaves_the_node_serving)
{
    static const uint8_t partial[] = {0, 0, 0, 100, 0x08, 0x01};
    struct hnode n;
    struct htc c;

    start(&n, NULL, NULL);
    for (int i = 0; i < 50; i++) {
        htc_connect(&c, n.tc_port);
        cr_assert_eq(htc_write(&c, partial, sizeof(partial) - (size_t)(i % 6)), 0);
        htc_close(&c);
    }
    htc_connect(&c, n.tc_port);
    cr_assert_eq(htc_query_summary(&c, 1), 0);
    free_ev(htc_expect(&c, TC__EVENT__BODY_SUMMARY, 5000));
    htc_close(&c);
    cr_assert(harness_wait_metric(&n, "tcluster_tc_port_connections", 0, 5000));
    stop(&n);
}

Test(tc_port, silent_client_times_out)
{
    struct hnode n;
    struct htc c;
    uint64_t t0;

    start(&n, NULL, NULL);
    htc_connect(&c, n.tc_port);
    t0 = harness_now_ms();
    expect_error(&c, TC__ERROR_CODE__ERROR_TIMEOUT);
    cr_assert_geq(harness_now_ms() - t0, 400);
    cr_assert(htc_wait_eof(&c, 5000));
    htc_close(&c);
    /* A subscriber that says nothing more is not idle. */
    htc_connect(&c, n.tc_port);
    cr_assert_eq(htc_snapshot(&c, NULL), 1000);
    cr_assert_null(htc_next(&c, 1500));
    cr_assert_not(c.eof);
    htc_close(&c);
    cr_assert_eq(harness_node_metric(&n, "tcluster_tc_port_refused_total{reason=\"timeout\"}"), 1);
    stop(&n);
}

Test(tc_port, connections_over_the_cap_are_refused_with_an_error)
{
    enum {
        CAP = 20,
        EXTRA = 2000,
        BATCH = 250
    };
    static struct htc held[CAP], extra[BATCH];
    struct hnode n;
    char keys[64];

    snprintf(keys, sizeof(keys), "max-connections = %d\n", CAP);
    start(&n, keys, NULL);
    for (int i = 0; i < CAP; i++) {
        htc_connect(&held[i], n.tc_port);
        cr_assert_eq(htc_subscribe(&held[i], 1, 0, 0), 0);
        free_ev(htc_expect(&held[i], TC__EVENT__BODY_OPENED, 5000));
    }
    for (int done = 0; done < EXTRA; done += BATCH) {
        for (int i = 0; i < BATCH; i++)
            htc_connect(&extra[i], n.tc_port);
        for (int i = 0; i < BATCH; i++) {
            expect_error(&extra[i], TC__ERROR_CODE__ERROR_TOO_MANY_CONNECTIONS);
            cr_assert(htc_wait_eof(&extra[i], 5000));
            htc_close(&extra[i]);
        }
    }
    cr_assert_eq(
            harness_node_metric(&n, "tcluster_tc_port_refused_total{reason=\"too_many_connections\"}"),
            EXTRA);
    for (int i = 0; i < CAP; i++)
        htc_close(&held[i]);
    cr_assert(harness_wait_metric(&n, "tcluster_tc_port_connections", 0, 5000));
    htc_connect(&extra[0], n.tc_port);
    cr_assert_eq(htc_query_summary(&extra[0], 1), 0);
    free_ev(htc_expect(&extra[0], TC__EVENT__BODY_SUMMARY, 5000));
    htc_close(&extra[0]);
    stop(&n);
}

Test(tc_port, snapshot_of_a_million_dns_leaves_the_loop_free)
{
    struct hnode n;
    struct htc sub, q;
    uint64_t count = 0, worst = 0;
    Tc__Event *ev;

    start(&n, "idle-timeout = 60s\n", "[dn 2000000-2999999]\ntype = extension\n");
    htc_connect(&sub, n.tc_port);
    htc_connect(&q, n.tc_port);
    cr_assert_eq(htc_subscribe(&sub, 1, 0, 0), 0);
    free_ev(htc_expect(&sub, TC__EVENT__BODY_OPENED, 5000));
    /* Read the snapshot; every 50,000 DNs, time a query on the side. */
    while ((ev = htc_next(&sub, 30000)) != NULL && ev->body_case == TC__EVENT__BODY_ADDRESS_INFO) {
        free_ev(ev);
        if (++count % 50000 == 0) {
            uint64_t t0 = harness_now_ms(), dt;

            cr_assert_eq(htc_query_summary(&q, 1), 0);
            free_ev(htc_expect(&q, TC__EVENT__BODY_SUMMARY, 5000));
            dt = harness_now_ms() - t0;
            worst = dt > worst ? dt : worst;
        }
    }
    cr_assert_not_null(ev);
    cr_assert_eq(ev->body_case, TC__EVENT__BODY_SNAPSHOT_END);
    cr_assert_eq(ev->snapshot_end->count, 1000000);
    cr_assert_eq(count, 1000000);
    free_ev(ev);
    cr_log_info("1,000,000 DN snapshot: slowest side query %llu ms", (unsigned long long)worst);
    cr_assert_lt(worst, 1000, "the loop stalled %llu ms", (unsigned long long)worst);
    htc_close(&sub);
    htc_close(&q);
    stop(&n);
}

/* The stopped subscriber: read the snapshot, say so on ready_fd, then
 * follow events until DNs 1000-1999 are InSrv exactly when their number is
 * a multiple of 3 (a state the churn below never passes through). Exit
 * status 0 when they are, 1 on end of file or after 120 s. */
static int slow_child(uint16_t port, int ready_fd)
{
    static unsigned char insrv[1000];
    unsigned wrong = 333; /* all OOS at first; 1002 to 1998: 333 multiples of 3 */
    uint64_t deadline;
    struct htc c;
    Tc__Event *ev;
    bool marker = false;

    htc_connect_rcvbuf(&c, port, 4096);
    if (htc_subscribe(&c, 1, 0, 0) != 0)
        return 1;
    deadline = harness_now_ms() + (uint64_t)harness_ms(120000);
    while (harness_now_ms() < deadline) {
        const Tc__DnState *st;

        ev = htc_next(&c, 1000);
        if (ev == NULL && c.eof)
            return 1;
        if (ev == NULL)
            continue;
        if (ev->body_case == TC__EVENT__BODY_SNAPSHOT_END && !marker) {
            marker = true;
            if (write(ready_fd, "R", 1) != 1)
                return 1;
        }
        st = tcclient_event_state(ev);
        if (st != NULL) {
            unsigned i = (unsigned)atoi(st->dn) - 1000;
            unsigned char now = st->status == TC__DN_STATUS__DN_STATUS_INSRV;
            unsigned char want = (1000 + i) % 3 == 0;

            if (i < 1000 && now != insrv[i]) {
                wrong += now == want ? -1u : 1u;
                insrv[i] = now;
            }
        }
        tc__event__free_unpacked(ev, NULL);
        if (marker && wrong == 0)
            return 0;
    }
    return 1;
}

static int wait_child(pid_t pid, int ms)
{
    uint64_t deadline = harness_now_ms() + (uint64_t)harness_ms(ms);
    int status;

    while (harness_now_ms() < deadline) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
        usleep(20000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

static void slow_case(const char *extra, bool resend)
{
    struct hnode n;
    struct htc gws;
    int fds[2];
    char r;
    pid_t pid;
    long base, mid, after;
    uint64_t changes = 0;
    unsigned rounds = 0;
    char asan[512];

    /* Under AddressSanitizer, freed memory waits in a quarantine of up to
     * 256 MB, which would hide what the port holds: keep it small. */
    snprintf(asan, sizeof(asan), "%s:quarantine_size_mb=1",
             getenv("ASAN_OPTIONS") ? getenv("ASAN_OPTIONS") : "");
    setenv("ASAN_OPTIONS", asan, 1);
    start(&n, extra, NULL);
    cr_assert_eq(pipe(fds), 0);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        _exit(slow_child(n.tc_port, fds[1]));
    }
    close(fds[1]);
    cr_assert_eq(read(fds[0], &r, 1), 1, "the subscriber read its snapshot");
    close(fds[0]);
    kill(pid, SIGSTOP);

    htc_connect(&gws, n.default_port);
    cr_assert_eq(htc_open_app(&gws, 1, "GWS"), 0);
    free_ev(htc_expect(&gws, TC__EVENT__BODY_OPENED, 5000));
    base = htc_rss_kib(n.pid);
    /* Until the subscriber's output is full and its changes coalesce. */
    while (harness_node_metric(&n, "tcluster_tc_port_slow_subscribers") != 1 && rounds++ < 300)
        changes += htc_gws_churn(&gws, 1000, 1999, 1);
    cr_assert_eq(harness_node_metric(&n, "tcluster_tc_port_slow_subscribers"), 1,
                 "still not slow after %llu changes", (unsigned long long)changes);
    mid = htc_rss_kib(n.pid);
    changes += htc_gws_churn(&gws, 1000, 1999, 20);
    after = htc_rss_kib(n.pid);
    htc_gws_set(&gws, 1000, 1999, 3, true);
    cr_log_info("%llu changes; node RSS %ld KiB before, %ld when slow, %ld after 40000 more; "
                "coalesced %.0f, pending DNs %.0f",
                (unsigned long long)changes, base, mid, after,
                harness_node_metric(&n, "tcluster_tc_port_coalesced_total"),
                harness_node_metric(&n, "tcluster_tc_port_pending_dns"));
    cr_assert_lt(after - mid, 16 * 1024, "RSS grew %ld KiB while the subscriber was stopped",
                 after - mid);
    cr_assert_leq(harness_node_metric(&n, "tcluster_tc_port_pending_dns"), 1000);
    cr_assert_leq(harness_node_metric(&n, "tcluster_tc_port_bytes_queued"), 3 << 20);

    kill(pid, SIGCONT);
    cr_assert_eq(wait_child(pid, 150000), 0, "the subscriber converged to the final state");
    if (resend)
        cr_assert_geq(harness_node_metric(&n, "tcluster_tc_port_snapshots_total{kind=\"resend\"}"), 1);
    cr_assert(harness_wait_metric(&n, "tcluster_tc_port_slow_subscribers", 0, 5000));
    htc_close(&gws);
    stop(&n);
}

Test(tc_port, stopped_subscriber_costs_bounded_memory_and_converges)
{
    slow_case(NULL, false);
}

Test(tc_port, stopped_subscriber_over_its_backlog_gets_a_new_snapshot)
{
    slow_case("subscriber-backlog = 50\n", true);
}
