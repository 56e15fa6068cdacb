/* The default port (DESIGN §3, §5) against a real tcnode with raw-socket
 * clients: GWS claims (durable, seen on the TC port with source tlib,
 * released when the client goes), URS subscriptions to the local status,
 * bounds and bad input, and a URS that stops reading. */
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

TestSuite(default_port, .fini = tc_test_leak_check, .timeout = 300);

static const char *dirs = "[dn 1000-1999]\ntype = extension\n\n"
                          "[dn 3000]\ntype = routing-point\ngroup = 1000-1999\n";

/* Every GWS name needs a credential (test_gws_auth.c tests them): here
 * the test's loopback source. */
static const char *gws_creds = "\n[gws GWS]\nallow-from = 127.0.0.1\n\n"
                               "[gws GWS2]\nallow-from = 127.0.0.0/8, ::1\n";

static void start(struct hnode *n, const char *extra, const char *tail)
{
    char keys[512], sections[512];

    snprintf(keys, sizeof(keys), "gws-client-names = GWS, GWS2\nmin-expires = 1\n%s%s",
             extra ? extra : "",
             extra != NULL && strstr(extra, "idle-timeout") ? "" : "idle-timeout = 500ms\n");
    snprintf(sections, sizeof(sections), "%s%s", tail ? tail : dirs, gws_creds);
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

static int sipsak(const struct hnode *n, const char *dn, const char *expires)
{
    char cmd[512];

    snprintf(cmd, sizeof(cmd),
             "timeout 10 sipsak -i -U -s sip:%s@127.0.0.1:%u -x %s >/dev/null 2>&1", dn,
             n->sip_port, expires);
    return harness_run(cmd, NULL);
}

/* Connect and open as app; returns after EventOpened. */
static void open_as(struct htc *c, const struct hnode *n, const char *app)
{
    Tc__Event *ev;

    htc_connect(c, n->default_port);
    cr_assert_eq(htc_open_app(c, 1, app), 0);
    ev = htc_expect(c, TC__EVENT__BODY_OPENED, 5000);
    cr_assert_str_eq(ev->opened->node, "sip1");
    cr_assert_eq(ev->ref_id, 1);
    free_ev(ev);
}

/* The answer to ref: its body must be want; returns its state's status. */
static Tc__DnStatus answer(struct htc *c, uint32_t ref, Tc__Event__BodyCase want)
{
    Tc__Event *ev = htc_expect(c, want, 10000);
    Tc__DnStatus s;

    cr_assert_eq(ev->ref_id, ref);
    s = tcclient_event_state(ev)->status;
    free_ev(ev);
    return s;
}

static void expect_error(struct htc *c, uint32_t ref, Tc__ErrorCode code)
{
    Tc__Event *ev = htc_expect(c, TC__EVENT__BODY_ERROR, 5000);

    cr_assert_eq(ev->error->code, code, "error %d (%s)", ev->error->code, ev->error->text);
    cr_assert_eq(ev->ref_id, ref);
    free_ev(ev);
}

Test(default_port, gws_claims_are_durable_and_released_when_it_goes)
{
    struct hnode n;
    struct htc tc, gws;
    Tc__Event *ev;
    Tc__Event *reg;

    start(&n, NULL, NULL);
    htc_connect(&tc, n.tc_port);
    htc_snapshot(&tc, NULL);
    open_as(&gws, &n, "GWS");
    cr_assert_eq(htc_register(&gws, 2, "1001"), 0);
    reg = htc_expect(&gws, TC__EVENT__BODY_REGISTERED, 10000);
    cr_assert_eq(reg->ref_id, 2);
    cr_assert_eq(tcclient_event_state(reg)->status, TC__DN_STATUS__DN_STATUS_INSRV);
    cr_assert_str_eq(tcclient_event_state(reg)->owner, "sip1");
    cr_assert_eq(tcclient_event_state(reg)->source, TC__SOURCE__SOURCE_TLIB);
    free_ev(reg);
    cr_assert_eq(harness_node_metric(&n, "tcluster_directory_numbers{state=\"insrv\"}"), 1);
    ev = htc_expect(&tc, TC__EVENT__BODY_DN_BACK_IN_SERVICE, 5000);
    cr_assert_str_eq(tcclient_event_state(ev)->dn, "1001");
    cr_assert_str_eq(tcclient_event_state(ev)->owner, "sip1");
    cr_assert_eq(tcclient_event_state(ev)->source, TC__SOURCE__SOURCE_TLIB);
    free_ev(ev);
    cr_assert_eq(htc_register(&gws, 3, "1002"), 0);
    cr_assert_eq(answer(&gws, 3, TC__EVENT__BODY_REGISTERED), TC__DN_STATUS__DN_STATUS_INSRV);
    /* Registering again answers at once. */
    cr_assert_eq(htc_register(&gws, 4, "1002"), 0);
    cr_assert_eq(answer(&gws, 4, TC__EVENT__BODY_REGISTERED), TC__DN_STATUS__DN_STATUS_INSRV);
    cr_assert_eq(harness_node_metric(&n, "tcluster_directory_numbers{state=\"insrv\"}"), 2);
    cr_assert_eq(harness_node_metric(&n, "tcluster_default_port_registrations{kind=\"claim\"}"), 2);

    htc_close(&gws);
    free_ev(htc_expect(&tc, TC__EVENT__BODY_DN_BACK_IN_SERVICE, 5000)); /* 1002 */
    for (int i = 0; i < 2; i++) {
        ev = htc_expect(&tc, TC__EVENT__BODY_DN_OUT_OF_SERVICE, 5000);
        cr_assert_str_eq(tcclient_event_state(ev)->owner, "");
        free_ev(ev);
    }
    cr_assert(harness_wait_metric(&n, "tcluster_directory_numbers{state=\"insrv\"}", 0, 5000));
    cr_assert_eq(harness_node_metric(&n, "tcluster_default_port_releases_total"), 2);
    htc_close(&tc);
    stop(&n);
}

Test(default_port, gws_unregister_and_refusals)
{
    struct hnode n;
    struct htc gws;

    start(&n, NULL, NULL);
    open_as(&gws, &n, "GWS");
    cr_assert_eq(htc_register(&gws, 2, "1001"), 0);
    cr_assert_eq(answer(&gws, 2, TC__EVENT__BODY_REGISTERED), TC__DN_STATUS__DN_STATUS_INSRV);
    cr_assert_eq(htc_unregister(&gws, 3, "1001"), 0);
    cr_assert_eq(answer(&gws, 3, TC__EVENT__BODY_UNREGISTERED), TC__DN_STATUS__DN_STATUS_OOS);
    cr_assert_eq(harness_node_metric(&n, "tcluster_directory_numbers{state=\"insrv\"}"), 0);
    cr_assert_eq(htc_unregister(&gws, 4, "1001"), 0);
    expect_error(&gws, 4, TC__ERROR_CODE__ERROR_NOT_REGISTERED);
    cr_assert_eq(htc_register(&gws, 5, "5555"), 0);
    expect_error(&gws, 5, TC__ERROR_CODE__ERROR_UNKNOWN_DN);
    cr_assert_eq(htc_register(&gws, 6, "12a"), 0);
    expect_error(&gws, 6, TC__ERROR_CODE__ERROR_UNKNOWN_DN);
    cr_assert_eq(htc_register(&gws, 7, "3000"), 0);
    expect_error(&gws, 7, TC__ERROR_CODE__ERROR_NOT_EXTENSION);
    cr_assert_eq(htc_query_address(&gws, 8, "5555"), 0);
    expect_error(&gws, 8, TC__ERROR_CODE__ERROR_UNKNOWN_DN);
    /* A TC port request; the connection stays. */
    cr_assert_eq(htc_query_summary(&gws, 9), 0);
    expect_error(&gws, 9, TC__ERROR_CODE__ERROR_UNKNOWN_REQUEST);
    cr_assert_eq(htc_open_app(&gws, 10, "GWS"), 0);
    expect_error(&gws, 10, TC__ERROR_CODE__ERROR_BUSY);
    cr_assert_eq(htc_query_address(&gws, 11, "1001"), 0);
    cr_assert_eq(answer(&gws, 11, TC__EVENT__BODY_ADDRESS_INFO), TC__DN_STATUS__DN_STATUS_OOS);
    htc_close(&gws);
    stop(&n);
}

Test(default_port, two_gws_clients_share_a_claim)
{
    struct hnode n;
    struct htc a, b;

    start(&n, NULL, NULL);
    open_as(&a, &n, "GWS");
    open_as(&b, &n, "GWS2");
    cr_assert_eq(htc_register(&a, 2, "1001"), 0);
    answer(&a, 2, TC__EVENT__BODY_REGISTERED);
    cr_assert_eq(htc_register(&b, 2, "1001"), 0);
    answer(&b, 2, TC__EVENT__BODY_REGISTERED);
    htc_close(&a);
    cr_assert(harness_wait_metric(&n, "tcluster_default_port_clients{kind=\"gws\"}", 1, 5000));
    cr_assert_eq(harness_node_metric(&n, "tcluster_directory_numbers{state=\"insrv\"}"), 1, "b still holds it");
    htc_close(&b);
    cr_assert(harness_wait_metric(&n, "tcluster_directory_numbers{state=\"insrv\"}", 0, 5000));
    stop(&n);
}

Test(default_port, urs_registrations_follow_the_local_status)
{
    struct hnode n;
    struct htc urs, gws;
    Tc__Event *ev;

    start(&n, NULL, NULL);
    open_as(&urs, &n, "URS");
    cr_assert_eq(htc_register(&urs, 2, "1001"), 0);
    cr_assert_eq(answer(&urs, 2, TC__EVENT__BODY_REGISTERED), TC__DN_STATUS__DN_STATUS_OOS);
    cr_assert_eq(harness_node_metric(&n, "tcluster_directory_numbers{state=\"insrv\"}"), 0, "a URS does not claim");

    /* A phone registers: in service here. */
    cr_assert_eq(sipsak(&n, "1001", "2"), 0);
    ev = htc_expect(&urs, TC__EVENT__BODY_DN_BACK_IN_SERVICE, 5000);
    cr_assert_str_eq(tcclient_event_state(ev)->dn, "1001");
    cr_assert_str_eq(tcclient_event_state(ev)->owner, "sip1");
    cr_assert_eq(tcclient_event_state(ev)->source, TC__SOURCE__SOURCE_SIP);
    free_ev(ev);
    cr_assert_eq(htc_query_address(&urs, 3, "1001"), 0);
    cr_assert_eq(answer(&urs, 3, TC__EVENT__BODY_ADDRESS_INFO), TC__DN_STATUS__DN_STATUS_INSRV);
    /* Its registration expires: out of service. */
    ev = htc_expect(&urs, TC__EVENT__BODY_DN_OUT_OF_SERVICE, 10000);
    cr_assert_str_eq(tcclient_event_state(ev)->dn, "1001");
    free_ev(ev);

    /* A GWS claim and its release, seen by the URS. */
    cr_assert_eq(htc_register(&urs, 4, "1005"), 0);
    answer(&urs, 4, TC__EVENT__BODY_REGISTERED);
    open_as(&gws, &n, "GWS");
    cr_assert_eq(htc_register(&gws, 2, "1005"), 0);
    answer(&gws, 2, TC__EVENT__BODY_REGISTERED);
    ev = htc_expect(&urs, TC__EVENT__BODY_DN_BACK_IN_SERVICE, 5000);
    cr_assert_eq(tcclient_event_state(ev)->source, TC__SOURCE__SOURCE_TLIB);
    free_ev(ev);
    htc_close(&gws);
    ev = htc_expect(&urs, TC__EVENT__BODY_DN_OUT_OF_SERVICE, 5000);
    cr_assert_str_eq(tcclient_event_state(ev)->dn, "1005");
    free_ev(ev);

    /* Unregistered: no more events. */
    cr_assert_eq(htc_unregister(&urs, 5, "1001"), 0);
    answer(&urs, 5, TC__EVENT__BODY_UNREGISTERED);
    cr_assert_eq(sipsak(&n, "1001", "300"), 0);
    cr_assert_null(htc_next(&urs, 500));
    /* An open client may stay silent. */
    cr_assert_not(urs.eof);
    htc_close(&urs);
    stop(&n);
}

Test(default_port, bad_input_and_silence)
{
    static const uint8_t huge[4] = {0x7f, 0, 0, 0};
    static const uint8_t garbage[] = {0, 0, 0, 3, 0xff, 0xff, 0xff};
    struct hnode n;
    struct htc c;

    start(&n, NULL, NULL);
    /* OpenApp first. */
    htc_connect(&c, n.default_port);
    cr_assert_eq(htc_register(&c, 2, "1001"), 0);
    expect_error(&c, 2, TC__ERROR_CODE__ERROR_NOT_OPEN);
    cr_assert_eq(htc_open_app(&c, 3, ""), 0);
    expect_error(&c, 3, TC__ERROR_CODE__ERROR_NOT_OPEN);
    cr_assert_eq(htc_write(&c, garbage, sizeof(garbage)), 0);
    expect_error(&c, 0, TC__ERROR_CODE__ERROR_BAD_FRAME);
    /* Silent before OpenApp: cut. */
    expect_error(&c, 0, TC__ERROR_CODE__ERROR_TIMEOUT);
    cr_assert(htc_wait_eof(&c, 5000));
    htc_close(&c);
    /* Oversized: an error, then closed. */
    htc_connect(&c, n.default_port);
    cr_assert_eq(htc_write(&c, huge, sizeof(huge)), 0);
    expect_error(&c, 0, TC__ERROR_CODE__ERROR_FRAME_TOO_LARGE);
    cr_assert(htc_wait_eof(&c, 5000));
    htc_close(&c);
    cr_assert_eq(harness_node_metric(&n, "tcluster_default_port_refused_total{reason=\"timeout\"}"), 1);
    cr_assert_eq(
            harness_node_metric(&n, "tcluster_default_port_refused_total{reason=\"frame_too_large\"}"),
            1);
    stop(&n);
}

Test(default_port, registrations_per_connection_are_capped)
{
    enum {
        CAP = 100000,
        BATCH = 2000
    };
    struct hnode n;
    struct htc urs;
    char dn[16];

    start(&n, NULL, "[dn 100000-200999]\ntype = extension\n");
    open_as(&urs, &n, "URS");
    for (unsigned done = 0; done < CAP; done += BATCH) {
        for (unsigned i = 0; i < BATCH; i++) {
            snprintf(dn, sizeof(dn), "%u", 100000 + done + i);
            cr_assert_eq(htc_register(&urs, 2, dn), 0);
        }
        for (unsigned i = 0; i < BATCH; i++)
            answer(&urs, 2, TC__EVENT__BODY_REGISTERED);
    }
    cr_assert_eq(htc_register(&urs, 3, "200500"), 0);
    expect_error(&urs, 3, TC__ERROR_CODE__ERROR_BUSY);
    /* One already registered is fine. */
    cr_assert_eq(htc_register(&urs, 4, "100000"), 0);
    answer(&urs, 4, TC__EVENT__BODY_REGISTERED);
    cr_assert_eq(harness_node_metric(&n, "tcluster_default_port_registrations{kind=\"subscribe\"}"), CAP);
    htc_close(&urs);
    cr_assert(
            harness_wait_metric(&n, "tcluster_default_port_registrations{kind=\"subscribe\"}", 0, 10000));
    stop(&n);
}

/* A URS registered to DNs 1000-1999 that reads until they are InSrv
 * exactly when their number is a multiple of 3. Exit 0 when they are,
 * 1 on end of file or after 120 s. */
static int urs_child(uint16_t port, int ready_fd)
{
    static unsigned char insrv[1000];
    unsigned wrong = 333, answered = 0;
    uint64_t deadline = harness_now_ms() + (uint64_t)harness_ms(120000);
    struct htc c;
    char dn[16];

    htc_connect_rcvbuf(&c, port, 4096);
    htc_open_app(&c, 1, "URS");
    for (unsigned i = 0; i < 1000; i++) {
        snprintf(dn, sizeof(dn), "%u", 1000 + i);
        htc_register(&c, 2, dn);
    }
    while (harness_now_ms() < deadline) {
        Tc__Event *ev = htc_next(&c, 1000);
        const Tc__DnState *st;

        if (ev == NULL && c.eof)
            return 1;
        if (ev == NULL)
            continue;
        if (ev->body_case == TC__EVENT__BODY_REGISTERED && ++answered == 1000 &&
            write(ready_fd, "R", 1) != 1)
            return 1;
        st = tcclient_event_state(ev);
        if (st != NULL) {
            unsigned i = (unsigned)atoi(st->dn) - 1000;
            unsigned char now = st->status == TC__DN_STATUS__DN_STATUS_INSRV;

            if (i < 1000 && now != insrv[i]) {
                wrong += now == ((1000 + i) % 3 == 0) ? -1u : 1u;
                insrv[i] = now;
            }
        }
        tc__event__free_unpacked(ev, NULL);
        if (answered == 1000 && wrong == 0)
            return 0;
    }
    return 1;
}

Test(default_port, stopped_urs_has_its_events_coalesced)
{
    struct hnode n;
    struct htc gws;
    int fds[2], status = -1;
    char r, asan[512];
    pid_t pid;
    long mid, after;
    unsigned rounds = 0;
    uint64_t deadline;

    /* See test_tc_port.c: a small quarantine, so RSS shows what we hold. */
    snprintf(asan, sizeof(asan), "%s:quarantine_size_mb=1",
             getenv("ASAN_OPTIONS") ? getenv("ASAN_OPTIONS") : "");
    setenv("ASAN_OPTIONS", asan, 1);
    start(&n, NULL, NULL);
    cr_assert_eq(pipe(fds), 0);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        _exit(urs_child(n.default_port, fds[1]));
    }
    close(fds[1]);
    cr_assert_eq(read(fds[0], &r, 1), 1, "the URS registered its DNs");
    close(fds[0]);
    kill(pid, SIGSTOP);
    open_as(&gws, &n, "GWS");
    while (harness_node_metric(&n, "tcluster_default_port_slow_clients") != 1 && rounds++ < 300)
        htc_gws_churn(&gws, 1000, 1999, 1);
    cr_assert_eq(harness_node_metric(&n, "tcluster_default_port_slow_clients"), 1);
    mid = htc_rss_kib(n.pid);
    htc_gws_churn(&gws, 1000, 1999, 20);
    after = htc_rss_kib(n.pid);
    htc_gws_set(&gws, 1000, 1999, 3, true);
    cr_log_info("stopped URS: node RSS %ld KiB when slow, %ld after 40000 more changes", mid,
                after);
    cr_assert_lt(after - mid, 16 * 1024);
    kill(pid, SIGCONT);
    deadline = harness_now_ms() + (uint64_t)harness_ms(150000);
    while (waitpid(pid, &status, WNOHANG) != pid) {
        if (harness_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        usleep(20000);
    }
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the URS converged");
    cr_assert(harness_wait_metric(&n, "tcluster_default_port_slow_clients", 0, 5000));
    htc_close(&gws);
    stop(&n);
}
