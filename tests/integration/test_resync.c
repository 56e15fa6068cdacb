/* The resync by difference (DESIGN §4 link up; tcport/peer/peer_cover.c),
 * with real tcnode processes: a node that comes back on its data-dir gets
 * only what changed while it was away - DNs claimed, moved (one of its own
 * among them) and released meanwhile - and every node then agrees on every
 * owner and state; a node whose data-dir was wiped gets whole snapshots;
 * and, seen from a test client playing sip1, a peer of the older protocol
 * gets the whole table at once while a peer that says what it holds gets
 * nothing it already has. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto/peer.pb-c.h"
#include "tcport/peer/peer_wire.h"
#include "tests/integration/harness_cluster.h"
#include "tests/integration/harness_peer.h"
#include "tests/tc_test.h"

TestSuite(resync, .fini = tc_test_leak_check, .timeout = 240);

#define RX_DIFF "tcluster_peer_resync_entries_total{dir=\"rx\",kind=\"difference\"}"
#define RX_FULL "tcluster_peer_resync_entries_total{dir=\"rx\",kind=\"full\"}"
#define TX_DIFF "tcluster_peer_resync_entries_total{dir=\"tx\",kind=\"difference\"}"

/* One DN's expected state: owner ("" for none) and status. */
struct want {
    const char *dn, *owner, *status;
};

struct agree_arg {
    const struct hcluster *c;
    const struct want *w;
    size_t n;
    char last[256]; /* the first disagreement seen, for the failure message */
};

static bool all_agree(void *arg)
{
    struct agree_arg *a = arg;

    for (int i = 0; i < a->c->count; i++) {
        if (a->c->n[i].pid == 0)
            continue; /* stopped */
        for (size_t k = 0; k < a->n; k++) {
            char owner[64], status[16];

            if (!hcluster_dn(&a->c->n[i], a->w[k].dn, owner, sizeof(owner), status,
                             sizeof(status))) {
                snprintf(a->last, sizeof(a->last), "%s: dn %s: no answer", a->c->n[i].name,
                         a->w[k].dn);
                return false;
            }
            if (strcmp(owner, a->w[k].owner) != 0 || strcmp(status, a->w[k].status) != 0) {
                snprintf(a->last, sizeof(a->last), "%s: dn %s: owner \"%s\" %s, want \"%s\" %s",
                         a->c->n[i].name, a->w[k].dn, owner, status, a->w[k].owner, a->w[k].status);
                return false;
            }
        }
    }
    return true;
}

/* Every running node reports every DN of w as w says, within ms. */
static void expect_agree(const struct hcluster *c, const struct want *w, size_t n, int ms)
{
    struct agree_arg a = {.c = c, .w = w, .n = n};

    if (access(tc_test_bin("client/tcctl"), X_OK) != 0) {
        cr_log_warn("client/tcctl not built: owners not checked");
        return;
    }
    cr_assert(harness_wait(all_agree, &a, ms), "nodes disagree: %s", a.last);
}

static void reg(const struct hnode *n, const char *dn)
{
    cr_assert_eq(hcluster_register(n, dn), 0, "REGISTER %s at %s", dn, n->name);
}

static double metric(const struct hnode *n, const char *key)
{
    return harness_node_metric(n, key);
}

/* sip3 stops; meanwhile DNs are claimed, moved (one of sip3's too) and
 * released; sip3 restarts on its data-dir and gets only those changes. */
Test(resync, restart_gets_only_what_changed)
{
    struct hcluster c;
    struct hnode *s3;
    static const struct want before[] = {
            {"1000", "sip1", "insrv"}, {"1001", "sip1", "insrv"}, {"1010", "sip2", "insrv"},
            {"1011", "sip2", "insrv"}, {"1020", "sip3", "insrv"}, {"1021", "sip3", "insrv"},
    };
    static const struct want after[] = {
            {"1000", "sip2", "insrv"}, /* moved sip1 -> sip2 while sip3 was away */
            {"1001", "sip1", "insrv"},
            {"1010", "", "oos"}, /* released while sip3 was away */
            {"1011", "sip2", "insrv"},
            {"1020", "sip1", "insrv"}, /* sip3's own, taken by sip1 meanwhile */
            {"1021", "sip3", "insrv"}, /* sip3's own, restored */
            {"1030", "sip1", "insrv"}, /* new while sip3 was away */
    };
    char status[128];
    double tx_before;

    hcluster_init(&c, 3, "1000-1099", NULL);
    hcluster_start(&c);
    cr_assert(hcluster_wait_all_links(&c, 10000));
    reg(&c.n[0], "1000");
    reg(&c.n[0], "1001");
    reg(&c.n[1], "1010");
    reg(&c.n[1], "1011");
    reg(&c.n[2], "1020");
    reg(&c.n[2], "1021");
    expect_agree(&c, before, sizeof(before) / sizeof(before[0]), 10000);

    s3 = &c.n[2];
    cr_assert_eq(harness_node_stop(s3), 0, "sip3 did not stop cleanly");
    cr_assert(harness_wait_metric(&c.n[0], "tcluster_peer_link_up{peer=\"sip3\"}", 0, 5000));
    reg(&c.n[1], "1000");
    cr_assert(hcluster_wait_owner(&c, "1000", "sip2", 5000));
    /* The phone of 1010 unregisters at sip2: released. */
    hcluster_unregister_all(&c.n[1], "1010", status, sizeof(status));
    cr_assert(strstr(status, " 200 ") != NULL, "unregister: %s", status);
    reg(&c.n[0], "1020");
    reg(&c.n[0], "1030");
    tx_before = metric(&c.n[0], TX_DIFF) + metric(&c.n[1], TX_DIFF);

    harness_node_start(s3);
    cr_assert(hcluster_wait_all_links(&c, 10000));
    expect_agree(&c, after, sizeof(after) / sizeof(after[0]), 10000);

    /* Only the changes came: at most the four DNs changed, from each of
     * the two peers, and no whole table. */
    cr_assert(harness_wait_metric(s3, "tcluster_peer_resyncs_total", 2, 5000));
    cr_assert_eq(metric(s3, RX_FULL), 0, "sip3 got a whole snapshot");
    cr_assert_gt(metric(s3, RX_DIFF), 0, "sip3 got no difference");
    cr_assert_leq(metric(s3, RX_DIFF), 8, "sip3 got %g entries", metric(s3, RX_DIFF));
    cr_assert_gt(metric(&c.n[0], TX_DIFF) + metric(&c.n[1], TX_DIFF), tx_before);
    /* The peers asked sip3 for what they lacked: nothing. */
    cr_assert_eq(metric(&c.n[0], "tcluster_peer_resync_entries_total{dir=\"rx\",kind=\"full\"}"),
                 0);
    hcluster_cleanup(&c);
}

/* A DN moved from sip1 to sip2 while sip3 was away, then sip2 died (SIGKILL)
 * before sip3 came back: sip3 learns the move from sip1, which relays what
 * it holds of sip2's decisions (sip2's DNs are not only sip2's to tell). */
Test(resync, move_relayed_when_its_maker_is_down)
{
    struct hcluster c;
    char status[128];
    static const struct want after[] = {
            {"1000", "sip2", "oos"}, /* moved to sip2, which is down */
            {"1001", "sip1", "insrv"},
    };

    hcluster_init(&c, 3, "1000-1099", NULL);
    hcluster_start(&c);
    cr_assert(hcluster_wait_all_links(&c, 10000));
    reg(&c.n[0], "1000");
    reg(&c.n[0], "1001");
    cr_assert(hcluster_wait_owner(&c, "1001", "sip1", 5000));
    cr_assert(hcluster_wait_owner(&c, "1000", "sip1", 5000));

    cr_assert_eq(harness_node_stop(&c.n[2]), 0);
    reg(&c.n[1], "1000");
    cr_assert(hcluster_wait_owner(&c, "1000", "sip2", 5000));
    /* No standby binding left at sip1: nobody takes 1000 over. */
    hcluster_unregister_all(&c.n[0], "1000", status, sizeof(status));
    cr_assert(strstr(status, " 200 ") != NULL, "unregister: %s", status);
    harness_node_kill(&c.n[1]);
    cr_assert(harness_wait_metric(&c.n[0], "tcluster_peer_link_up{peer=\"sip2\"}", 0, 5000));

    harness_node_start(&c.n[2]);
    cr_assert(harness_wait_metric(&c.n[2], "tcluster_peer_link_up{peer=\"sip1\"}", 1, 10000));
    expect_agree(&c, after, sizeof(after) / sizeof(after[0]), 10000);
    cr_assert_eq(metric(&c.n[2], RX_FULL), 0);
    hcluster_cleanup(&c);
}

/* A wiped data-dir: the node holds nothing it can vouch for and asks for
 * everything (of the first peer at least); the DNs it owned before come back to it as its own, and
 * with no phone registered it releases them everywhere. */
Test(resync, wiped_data_dir_gets_everything)
{
    struct hcluster c;
    struct hnode *s3;
    char cmd[512];
    static const struct want after[] = {
            {"1000", "sip1", "insrv"},
            {"1020", "", "oos"},
            {"1021", "", "oos"},
    };

    hcluster_init(&c, 3, "1000-1099", NULL);
    hcluster_start(&c);
    cr_assert(hcluster_wait_all_links(&c, 10000));
    reg(&c.n[0], "1000");
    reg(&c.n[2], "1020");
    reg(&c.n[2], "1021");
    cr_assert(hcluster_wait_owner(&c, "1021", "sip3", 5000));

    s3 = &c.n[2];
    cr_assert_eq(harness_node_stop(s3), 0);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s3->data_dir);
    cr_assert_eq(harness_run(cmd, NULL), 0);
    harness_node_start(s3);
    cr_assert(hcluster_wait_all_links(&c, 10000));
    expect_agree(&c, after, sizeof(after) / sizeof(after[0]), 10000);
    cr_assert(harness_wait_metric(s3, "tcluster_peer_resyncs_total", 2, 5000));
    /* Whole from the first peer whose snapshot came; what that one held is
     * then held here, so the other one may answer by difference. */
    cr_assert_geq(metric(s3, RX_FULL), 3, "sip3 got %g entries whole", metric(s3, RX_FULL));
    hcluster_cleanup(&c);
}

/* The node's SyncEnd, heartbeats and other messages skipped. */
static Tc__Peer__Msg *expect_end(int fd)
{
    return hpeer_expect(fd, TC__PEER__MSG__BODY_SYNC_END);
}

/* Mixed versions, from the outside: sip2 holds three DNs. A peer of minor
 * 1 gets all three at once, without asking; a peer of minor 2 is asked
 * what it holds first, and saying it holds sip2's decisions up to the
 * newest gets none of them, and sip2's coverage with the end. */
Test(resync, older_minor_gets_everything_newer_gets_the_difference)
{
    const char *secret = "0123456789abcdef0123456789abcdef";
    struct hcluster c;
    const struct hnode *n;
    Tc__Peer__Msg *m;
    Tc__Peer__Msg out = TC__PEER__MSG__INIT;
    Tc__Peer__SyncRequest r = TC__PEER__SYNC_REQUEST__INIT;
    Tc__Cover have = TC__COVER__INIT, *havep = &have;
    uint64_t newest = 0;
    int fd;

    hcluster_init(&c, 2, "1000-1099", NULL);
    harness_node_start(&c.n[1]);
    n = &c.n[1];
    reg(n, "1000");
    reg(n, "1001");
    reg(n, "1002");

    /* Minor 1: the whole table at once (the handshake asks nothing). */
    fd = hpeer_dial(n->peer_port);
    hpeer_handshake(fd, secret, "sip1", "sip2", PEER_MINOR_CALL);
    for (;;) {
        m = hpeer_read_msg(fd, 3000, NULL);
        cr_assert_not_null(m, "no snapshot for a minor-1 peer");
        cr_assert_neq(m->body_case, TC__PEER__MSG__BODY_SYNC_REQUEST,
                      "a minor-1 peer was asked what it holds");
        if (m->body_case == TC__PEER__MSG__BODY_SYNC_CHUNK) {
            for (size_t i = 0; i < m->sync_chunk->n_claims; i++) {
                if (m->sync_chunk->claims[i]->version->hlc > newest)
                    newest = m->sync_chunk->claims[i]->version->hlc;
            }
        }
        if (m->body_case == TC__PEER__MSG__BODY_SYNC_END) {
            cr_assert_eq(m->sync_end->entries, 3);
            cr_assert_not(m->sync_end->by_difference);
            tc__peer__msg__free_unpacked(m, NULL);
            break;
        }
        tc__peer__msg__free_unpacked(m, NULL);
    }
    close(fd);

    /* Minor 2: asked first; we hold sip2's decisions up to the newest. */
    fd = hpeer_dial(n->peer_port);
    hpeer_authenticate(fd, secret, "sip1", "sip2", PEER_MINOR_RESYNC);
    m = hpeer_expect(fd, TC__PEER__MSG__BODY_SYNC_REQUEST);
    cr_assert_eq(m->sync_request->since_seq, 0);
    tc__peer__msg__free_unpacked(m, NULL);
    have.node = "sip2";
    have.hlc = newest;
    r.have = &havep;
    r.n_have = 1;
    r.by_difference = true;
    out.body_case = TC__PEER__MSG__BODY_SYNC_REQUEST;
    out.sync_request = &r;
    hpeer_send_msg(fd, &out);
    m = expect_end(fd);
    cr_assert_eq(m->sync_end->entries, 0, "%llu entries sent that sip1 holds",
                 (unsigned long long)m->sync_end->entries);
    cr_assert(m->sync_end->by_difference);
    cr_assert_eq(m->sync_end->n_covered, 1);
    cr_assert_str_eq(m->sync_end->covered[0]->node, "sip2");
    cr_assert_eq(m->sync_end->covered[0]->hlc, newest);
    tc__peer__msg__free_unpacked(m, NULL);
    close(fd);
    hcluster_cleanup(&c);
}
