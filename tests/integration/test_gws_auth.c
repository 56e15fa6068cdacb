/* GWS client names must be proved (issue 13 defect 7, DESIGN §3): a
 * client that opens the default port as a name of gws-client-names claims
 * DNs, so it proves the credential of its [gws NAME] section (the secret
 * through an HMAC challenge, and/or a source address in allow-from). An
 * impostor that only says "GWS" gets EventError ERROR_AUTH, a limited log
 * line and a metric, and claims nothing, not even a DN protected by a SIP
 * password; the real GWS, with the project's client library, claims as
 * before; a plain client (URS) is unchanged. Against a real tcnode. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/tcclient.h"
#include "tests/integration/harness.h"
#include "tests/integration/harness_tc.h"
#include "tests/tc_test.h"

TestSuite(gws_auth, .fini = tc_test_leak_check, .timeout = 300);

#define SECRET "b7c1f0e2a94d3c5e8f6a7b9c0d1e2f3a"

static const char *dirs = "[dn 1000-1999]\ntype = extension\n\n"
                          "[dn 1001]\npassword = agent-pw\n";

/* Start a node whose GWS name has the credential in gws (a [gws GWS]
 * section body; "%s" in it becomes the secret file's path). */
static void start(struct hnode *n, const char *gws)
{
    char secret[400], body[512], tail[1024];

    harness_node_init(n, "sip1", NULL, NULL);
    snprintf(secret, sizeof(secret), "%s/gws.secret", n->dir);
    tc_test_write_file(secret, SECRET "\n");
    chmod(secret, 0600);
    snprintf(body, sizeof(body), gws, secret);
    snprintf(tail, sizeof(tail), "%s\n[gws GWS]\n%s", dirs, body);
    harness_node_write_config(n, "gws-client-names = GWS\nidle-timeout = 2s\n", tail);
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

static struct tcclient *dial(const struct hnode *n)
{
    struct tcclient *c;
    char hp[32];

    snprintf(hp, sizeof(hp), "127.0.0.1:%u", n->default_port);
    cr_assert_eq(tcclient_connect(&c, hp, 5000), 0);
    return c;
}

/* The TC port's view of dn: must be OOS without an owner. */
static void assert_unclaimed(const struct hnode *n, const char *dn)
{
    struct htc tc;
    Tc__Event *ev;

    htc_connect(&tc, n->tc_port);
    cr_assert_eq(htc_query_dn(&tc, 7, dn), 0);
    ev = htc_expect(&tc, TC__EVENT__BODY_ADDRESS_INFO, 5000);
    cr_assert_eq(tcclient_event_state(ev)->status, TC__DN_STATUS__DN_STATUS_OOS, "%s", dn);
    cr_assert_str_eq(tcclient_event_state(ev)->owner, "", "%s", dn);
    free_ev(ev);
    htc_close(&tc);
}

/* The error answering ref: code must be want. */
static void expect_error(struct htc *c, uint32_t ref, Tc__ErrorCode want)
{
    Tc__Event *ev = htc_expect(c, TC__EVENT__BODY_ERROR, 5000);

    cr_assert_eq(ev->error->code, want, "error %d (%s)", ev->error->code, ev->error->text);
    cr_assert_eq(ev->ref_id, ref);
    free_ev(ev);
}

/* Send an Authenticate with a made-up proof. */
static void send_made_up_proof(struct htc *c, uint32_t ref)
{
    Tc__Request rq = TC__REQUEST__INIT;
    Tc__Authenticate a = TC__AUTHENTICATE__INIT;
    uint8_t nonce[32] = {1}, mac[32] = {2};

    a.nonce.data = nonce;
    a.nonce.len = sizeof(nonce);
    a.mac.data = mac;
    a.mac.len = sizeof(mac);
    rq.ref_id = ref;
    rq.body_case = TC__REQUEST__BODY_AUTHENTICATE;
    rq.authenticate = &a;
    cr_assert_eq(htc_send(c, &rq), 0);
}

/* An impostor with raw frames: says GWS, gets a challenge, cannot answer. */
static void impostor_tries(const struct hnode *n, const char *dn)
{
    struct htc c;
    Tc__Event *ev;

    htc_connect(&c, n->default_port);
    cr_assert_eq(htc_open_app(&c, 1, "GWS"), 0);
    ev = htc_expect(&c, TC__EVENT__BODY_CHALLENGE, 5000);
    cr_assert_eq(ev->ref_id, 1);
    cr_assert_str_eq(ev->challenge->node, "sip1");
    cr_assert_eq(ev->challenge->nonce.len, 32);
    free_ev(ev);
    /* Claims before the proof are refused, clearly. */
    cr_assert_eq(htc_register(&c, 2, dn), 0);
    expect_error(&c, 2, TC__ERROR_CODE__ERROR_NOT_OPEN);
    /* A made-up proof: refused, and the connection closes. */
    send_made_up_proof(&c, 3);
    expect_error(&c, 3, TC__ERROR_CODE__ERROR_AUTH);
    htc_register(&c, 4, dn);
    cr_assert(htc_wait_eof(&c, 5000), "the node keeps an impostor's connection");
    htc_close(&c);
}

Test(gws_auth, impostor_without_the_secret_cannot_claim)
{
    struct hnode n;
    struct tcclient *c;
    Tc__Event *ev;
    char *log;

    start(&n, "secret-file = %s\n");
    impostor_tries(&n, "1002");
    assert_unclaimed(&n, "1002");
    cr_assert_eq(harness_node_metric(
                         &n, "tcluster_default_port_gws_auth_total{result=\"wrong_secret\"}"),
                 1);
    cr_assert_eq(harness_node_metric(&n, "tcluster_directory_numbers{state=\"insrv\"}"), 0);

    /* The client library with a wrong secret, or none. */
    c = dial(&n);
    cr_assert_eq(tcclient_open_gws(c, "GWS", "guess-guess-guess", 17, 5000, &ev),
                 TCCLIENT_EREFUSED);
    cr_assert_eq(ev->error->code, TC__ERROR_CODE__ERROR_AUTH);
    cr_assert_not_null(strstr(ev->error->text, "wrong secret"), "%s", ev->error->text);
    tcclient_event_free(ev);
    tcclient_close(c);
    c = dial(&n);
    cr_assert_eq(tcclient_open_gws(c, "GWS", NULL, 0, 5000, NULL), TCCLIENT_ENOSECRET);
    tcclient_close(c);
    cr_assert_eq(harness_node_metric(
                         &n, "tcluster_default_port_gws_auth_total{result=\"wrong_secret\"}"),
                 2);
    assert_unclaimed(&n, "1002");
    log = harness_read_file(n.log);
    cr_assert_not_null(strstr(log, "application GWS refused: application GWS: wrong secret"), "%s",
                       log);
    free(log);
    stop(&n);
}

Test(gws_auth, gws_with_the_secret_claims)
{
    struct hnode n;
    struct tcclient *c;
    Tc__Event *ev;
    uint32_t ref;

    start(&n, "secret-file = %s\n");
    c = dial(&n);
    cr_assert_eq(tcclient_open_gws(c, "GWS", SECRET, strlen(SECRET), 5000, &ev), 0);
    cr_assert_eq(ev->body_case, TC__EVENT__BODY_OPENED);
    cr_assert_str_eq(ev->opened->node, "sip1");
    tcclient_event_free(ev);
    cr_assert_eq(tcclient_register_address(c, "1002", &ref, 5000), 0);
    cr_assert_eq(tcclient_next_for(c, ref, 10000, &ev), 0);
    cr_assert_eq(ev->body_case, TC__EVENT__BODY_REGISTERED);
    cr_assert_eq(tcclient_event_state(ev)->status, TC__DN_STATUS__DN_STATUS_INSRV);
    cr_assert_eq(tcclient_event_state(ev)->source, TC__SOURCE__SOURCE_TLIB);
    tcclient_event_free(ev);
    /* The proved GWS is trusted with DNs that have a SIP password too. */
    cr_assert_eq(tcclient_register_address(c, "1001", &ref, 5000), 0);
    cr_assert_eq(tcclient_next_for(c, ref, 10000, &ev), 0);
    cr_assert_eq(ev->body_case, TC__EVENT__BODY_REGISTERED);
    tcclient_event_free(ev);
    cr_assert_eq(harness_node_metric(&n, "tcluster_directory_numbers{state=\"insrv\"}"), 2);
    cr_assert_eq(harness_node_metric(&n, "tcluster_default_port_gws_auth_total{result=\"ok\"}"), 1);
    tcclient_close(c);
    cr_assert(harness_wait_metric(&n, "tcluster_directory_numbers{state=\"insrv\"}", 0, 5000));
    stop(&n);
}

Test(gws_auth, impostor_cannot_claim_a_password_protected_dn)
{
    struct hnode n;
    struct htc urs;

    start(&n, "secret-file = %s\n");
    impostor_tries(&n, "1001");
    assert_unclaimed(&n, "1001");
    /* A plain client still opens at once; its registration only subscribes. */
    htc_connect(&urs, n.default_port);
    send_made_up_proof(&urs, 9); /* out of order: a clear error, the connection stays */
    expect_error(&urs, 9, TC__ERROR_CODE__ERROR_NOT_OPEN);
    cr_assert_eq(htc_open_app(&urs, 1, "URS"), 0);
    free_ev(htc_expect(&urs, TC__EVENT__BODY_OPENED, 5000));
    send_made_up_proof(&urs, 10);
    expect_error(&urs, 10, TC__ERROR_CODE__ERROR_BUSY);
    cr_assert_eq(htc_register(&urs, 2, "1001"), 0);
    free_ev(htc_expect(&urs, TC__EVENT__BODY_REGISTERED, 5000));
    htc_close(&urs);
    assert_unclaimed(&n, "1001");
    cr_assert_eq(harness_node_metric(&n, "tcluster_default_port_registrations{kind=\"claim\"}"), 0);
    stop(&n);
}

/* Connect to the default port from source address src. */
static struct htc connect_from(const struct hnode *n, const char *src)
{
    struct sockaddr_in a = {.sin_family = AF_INET}, to = {.sin_family = AF_INET};
    struct htc c = {0};

    c.fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(c.fd, 0);
    inet_pton(AF_INET, src, &a.sin_addr);
    cr_assert_eq(bind(c.fd, (struct sockaddr *)&a, sizeof(a)), 0, "bind %s", src);
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    to.sin_port = htons(n->default_port);
    cr_assert_eq(connect(c.fd, (struct sockaddr *)&to, sizeof(to)), 0, "%s", strerror(errno));
    return c;
}

Test(gws_auth, source_outside_allow_from_is_refused)
{
    struct hnode n;
    struct htc c;
    Tc__Event *ev;

    start(&n, "allow-from = 127.0.0.2/32\n");
    /* From 127.0.0.1: refused at OpenApp, before any claim. */
    c = connect_from(&n, "127.0.0.1");
    cr_assert_eq(htc_open_app(&c, 1, "GWS"), 0);
    expect_error(&c, 1, TC__ERROR_CODE__ERROR_AUTH);
    cr_assert(htc_wait_eof(&c, 5000));
    htc_close(&c);
    cr_assert_eq(harness_node_metric(
                         &n, "tcluster_default_port_gws_auth_total{result=\"source_refused\"}"),
                 1);
    assert_unclaimed(&n, "1001");
    /* From 127.0.0.2: no secret is asked; it opens and claims. */
    c = connect_from(&n, "127.0.0.2");
    cr_assert_eq(htc_open_app(&c, 1, "GWS"), 0);
    free_ev(htc_expect(&c, TC__EVENT__BODY_OPENED, 5000));
    cr_assert_eq(htc_register(&c, 2, "1003"), 0);
    ev = htc_expect(&c, TC__EVENT__BODY_REGISTERED, 10000);
    cr_assert_eq(tcclient_event_state(ev)->status, TC__DN_STATUS__DN_STATUS_INSRV);
    free_ev(ev);
    htc_close(&c);
    stop(&n);
}

Test(gws_auth, secret_and_allow_from_are_both_required)
{
    struct hnode n;
    struct tcclient *c;
    Tc__Event *ev;

    start(&n, "secret-file = %s\nallow-from = 10.0.0.0/8\n");
    /* The right secret from a source outside allow-from. */
    c = dial(&n);
    cr_assert_eq(tcclient_open_gws(c, "GWS", SECRET, strlen(SECRET), 5000, &ev), TCCLIENT_EREFUSED);
    cr_assert_not_null(strstr(ev->error->text, "not allowed from"), "%s", ev->error->text);
    tcclient_event_free(ev);
    tcclient_close(c);
    assert_unclaimed(&n, "1001");
    stop(&n);
}

/* A GWS name without a credential is a configuration error, at check time
 * and at start: an old config can never leave the name open to anyone. */
Test(gws_auth, a_name_without_a_credential_does_not_start)
{
    struct hnode n;
    char cmd[1024], *out = NULL, want[512];

    harness_node_init(&n, "sip1", "gws-client-names = GWS\n", dirs);
    snprintf(cmd, sizeof(cmd), "'%s' --check-config '%s'", harness_tcnode(), n.config);
    cr_assert_eq(harness_run(cmd, &out), 1, "%s", out);
    cr_assert_not_null(strstr(out, "gws-client-names: GWS has no credential"), "%s", out);
    free(out);
    harness_node_spawn(&n);
    cr_assert_eq(harness_node_wait_exit(&n, 10000), 1);

    /* A secret file that cannot be read: FILE:LINE at check time. */
    harness_node_write_config(&n, "gws-client-names = GWS\n",
                              "[dn 1000-1999]\ntype = extension\n\n[gws GWS]\n"
                              "secret-file = /nonexistent/gws.secret\n");
    cr_assert_eq(harness_run(cmd, &out), 1, "%s", out);
    snprintf(want, sizeof(want), "%s:", n.config);
    cr_assert_not_null(strstr(out, want), "%s", out);
    cr_assert_not_null(strstr(out, "[gws GWS] secret-file /nonexistent/gws.secret: No such file"),
                       "%s", out);
    free(out);
    harness_node_spawn(&n);
    cr_assert_eq(harness_node_wait_exit(&n, 10000), 1);
    harness_node_cleanup(&n);
}
