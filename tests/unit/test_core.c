/* The core's decisions against a real store: claims, refreshes, releases,
 * version order, links (standby takeover), a full store, and the restart
 * rule (DESIGN §3), and changes the store refuses (DESIGN §2 rule 7,
 * with a tiny LMDB map that fills: the real full-disk path). Each test runs in its own process over
 * a fresh data-dir; the loop runs until the store has reported every change. */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/store.pb-c.h"
#include "server/base/clock.h"
#include "server/base/tc_err.h"
#include "server/core/bindings.h"
#include "server/core/core.h"
#include "storage/store.h"
#include "tests/tc_test.h"

#define SIP2 2 /* node ids, as setup() adds them */
#define SIP0 3

static struct fx {
    uv_loop_t loop;
    char *root;
    char dir[PATH_MAX];
    uint32_t queue;
    uint64_t map_size; /* 0: the store's default */
    unsigned fill_n;   /* filler records written by fill_store() */
    int fill_status;
    struct dn_dir dir_dns;
    struct dn_table t;
    struct store *s;
    struct core c;
    bool up;
    /* What the listener heard. */
    unsigned published;
    struct dn_change last;
    /* What done callbacks reported. */
    unsigned done;
    int status;
} f;

static void on_change(void *arg, const struct dn_change *ch, uint64_t seq)
{
    (void)arg;
    (void)seq;
    f.published++;
    f.last = *ch;
}

static void on_done(void *arg, int status, const struct dn_change *ch)
{
    (void)arg;
    (void)ch;
    f.done++;
    f.status = status;
}

/* Open the store, a fresh table and the core over f.dir. */
static void fx_start(void)
{
    struct store_options so = {
            .dir = f.dir, .node_name = "sip1", .max_queue = f.queue, .map_size = f.map_size};
    struct core_listener l = {.on_change = on_change};
    int rc;

    cr_assert_eq(dn_table_init(&f.t, &f.dir_dns, "sip1"), 0);
    cr_assert_eq(dn_table_add_node(&f.t, "sip2"), SIP2);
    cr_assert_eq(dn_table_add_node(&f.t, "sip0"), SIP0);
    rc = store_open(&f.s, &f.loop, &so);
    cr_assert_eq(rc, 0, "store_open: %s", tc_strerror(rc));
    cr_assert_eq(core_init(&f.c, &f.loop, &f.t, f.s, f.queue), 0);
    cr_assert_eq(core_listen(&f.c, &l), 0);
    f.up = true;
}

/* Run the loop until the store reported every change and no link sweep is
 * left. */
static void drain(void)
{
    for (;;) {
        while (store_pending(f.s) > 0)
            uv_run(&f.loop, UV_RUN_ONCE);
        if (f.c.sweeps == NULL)
            return;
        uv_run(&f.loop, UV_RUN_NOWAIT);
    }
}

static void fx_stop(void)
{
    if (!f.up)
        return;
    drain();
    store_close(f.s);
    f.c.store = NULL;
    core_close(&f.c);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    dn_table_free(&f.t);
    f.up = false;
}

/* A restart: everything in memory is gone, the data-dir stays. */
static void fx_restart(void)
{
    fx_stop();
    f.published = 0;
    fx_start();
}

static void setup(void)
{
    struct dn_profile p = {.type = DN_TYPE_EXTENSION};

    memset(&f, 0, sizeof(f));
    cr_assert_eq(uv_loop_init(&f.loop), 0);
    f.root = tc_test_tmpdir("core");
    snprintf(f.dir, sizeof(f.dir), "%s/data", f.root);
    f.queue = 1024;
    dn_dir_init(&f.dir_dns);
    cr_assert_geq(dn_dir_add_profile(&f.dir_dns, &p), 0);
    cr_assert_eq(dn_dir_add_range(&f.dir_dns, "1000-1999", 0, 1), 0);
    cr_assert_eq(dn_dir_finish(&f.dir_dns, NULL, NULL), 0);
    fx_start();
}

static void teardown(void)
{
    fx_stop();
    cr_assert_eq(uv_loop_close(&f.loop), 0, "a handle was left open");
    dn_dir_free(&f.dir_dns);
    tc_test_rmrf(f.root);
    free(f.root);
    tc_test_leak_check();
}

TestSuite(core, .init = setup, .fini = teardown, .timeout = 60);

static dn_key key(const char *s)
{
    dn_key k;

    cr_assert_eq(dn_key_parse(s, strlen(s), &k), 0);
    return k;
}

static const struct dn_entry *entry(const char *dn)
{
    const struct dn_entry *e = dn_table_get(&f.t, key(dn));

    cr_assert_not_null(e, "dn %s has no entry", dn);
    return e;
}

static struct tc_version version(const char *dn)
{
    const struct dn_entry *e = entry(dn);

    return (struct tc_version){.hlc = e->hlc, .node = e->vnode};
}

/* A phone's binding for dn held here, expiring in_s seconds from now
 * (negative: already expired). Returns the live count before it. */
static unsigned phone_bind(const char *dn, const char *contact, long in_s)
{
    uint64_t now = tc_now_ms();
    unsigned before = core_live_bindings(&f.c, key(dn), now);
    struct binding *b = binding_new(f.c.bindings, key(dn), contact, strlen(contact), "cid@p", 5,
                                    "udp:127.0.0.1:5062", NULL, BINDING_UDP, 1,
                                    (uint64_t)((int64_t)now + in_s * 1000), now);

    cr_assert_not_null(b);
    cr_assert_eq(core_bind(&f.c, b, NULL, NULL), 0);
    return before;
}

/* What a REGISTER of one contact does here: the binding, then the core's
 * decision. Returns core_registered()'s answer. */
static int registered(const char *dn, const char *contact)
{
    unsigned before = phone_bind(dn, contact, 300);

    return core_registered(&f.c, key(dn), before, core_live_bindings(&f.c, key(dn), tc_now_ms()),
                           on_done, NULL);
}

/* A peer's claim (owner node) or release (DN_NODE_NONE) at hlc by vnode. */
static int peer(const char *dn, uint16_t owner, uint64_t hlc, uint16_t vnode)
{
    struct tc_version v = {.hlc = hlc, .node = vnode};

    return core_apply(&f.c, key(dn), owner, owner != DN_NODE_NONE ? DN_SOURCE_SIP : DN_SOURCE_NONE,
                      v, tc_now_ms(), NULL, NULL);
}

Test(core, claim_is_published_only_when_durable)
{
    cr_assert_eq(core_claim(&f.c, key("1001"), DN_SOURCE_SIP, on_done, NULL), 0);
    cr_assert_eq(entry("1001")->owner, DN_NODE_SELF);
    cr_assert_eq(f.published, 0, "published before it was durable");
    cr_assert_eq(f.done, 0);
    drain();
    cr_assert_eq(f.done, 1);
    cr_assert_eq(f.status, 0);
    cr_assert_eq(f.published, 1);
    cr_assert_eq(f.last.owner, DN_NODE_SELF);
    cr_assert_eq(f.last.status, DN_INSRV);
    cr_assert_eq(f.last.old_status, DN_OOS);
    cr_assert_eq(core_claim(&f.c, key("2000"), DN_SOURCE_SIP, NULL, NULL), TC_EUNKNOWN_DN);
}

Test(core, initial_registration_claims_refresh_does_not)
{
    struct tc_version v;

    cr_assert_eq(registered("1001", "sip:a@10.0.0.1"), 1, "initial registration is a claim");
    drain();
    cr_assert_eq(entry("1001")->owner, DN_NODE_SELF);
    v = version("1001");
    cr_assert_eq(registered("1001", "sip:a@10.0.0.1"), 0, "a refresh is not a claim");
    cr_assert_eq(registered("1001", "sip:b@10.0.0.2"), 0, "a second contact is not a claim");
    drain();
    cr_assert_eq(dn_table_version_cmp(&f.t, version("1001"), v), 0, "the version moved");
    cr_assert_eq(f.published, 1);
}

Test(core, last_binding_gone_releases_with_a_newer_version)
{
    struct dn_entry *d;
    struct tc_version v;

    cr_assert_eq(registered("1001", "sip:a@10.0.0.1"), 1);
    drain();
    v = version("1001");
    d = bindings_dn(f.c.bindings, key("1001"));
    cr_assert_eq(core_unbind(&f.c, bindings_first(f.c.bindings, d), NULL, NULL), 0);
    cr_assert_eq(core_registered(&f.c, key("1001"), 1, 0, on_done, NULL), 1);
    drain();
    cr_assert_eq(f.status, 0);
    cr_assert_eq(entry("1001")->owner, DN_NODE_NONE);
    cr_assert_eq(dn_table_status(&f.t, key("1001")), DN_OOS);
    cr_assert_gt(dn_table_version_cmp(&f.t, version("1001"), v), 0);
    cr_assert_eq(core_release(&f.c, key("1001"), NULL, NULL), TC_ESTALE, "released twice");
}

Test(core, versions_decide_and_node_names_break_ties)
{
    struct tc_version v;

    cr_assert_eq(core_claim(&f.c, key("1001"), DN_SOURCE_SIP, NULL, NULL), 0);
    drain();
    v = version("1001");
    cr_assert_eq(peer("1001", SIP2, v.hlc - 1, SIP2), TC_ESTALE, "an older claim won");
    /* Same clock: "sip0" < "sip1" < "sip2". */
    cr_assert_eq(peer("1001", SIP0, v.hlc, SIP0), TC_ESTALE, "sip0 beat sip1 on a tie");
    cr_assert_eq(entry("1001")->owner, DN_NODE_SELF);
    cr_assert_eq(peer("1001", SIP2, v.hlc, SIP2), 0, "sip2 lost a tie to sip1");
    drain();
    cr_assert_eq(entry("1001")->owner, SIP2);
    cr_assert_eq(f.last.owner, SIP2);
    cr_assert_eq(f.last.status, DN_OOS, "sip2's link is down");
    /* Our next claim is newer than anything seen. */
    cr_assert_eq(core_claim(&f.c, key("1001"), DN_SOURCE_SIP, NULL, NULL), 0);
    cr_assert_gt(dn_table_version_cmp(&f.t, version("1001"), (struct tc_version){v.hlc, SIP2}), 0);
    drain();
}

Test(core, link_loss_takes_over_with_a_binding_else_oos)
{
    uint64_t hlc = (tc_now_ms() + 1000) << 16;

    core_set_link(&f.c, SIP2, true);
    drain();
    cr_assert_eq(peer("1001", SIP2, hlc, SIP2), 0);
    cr_assert_eq(peer("1002", SIP2, hlc + 1, SIP2), 0);
    phone_bind("1001", "sip:a@10.0.0.1", 300); /* a standby binding for 1001 only */
    drain();
    cr_assert_eq(dn_table_status(&f.t, key("1001")), DN_INSRV);
    cr_assert_eq(entry("1001")->owner, SIP2, "a standby binding took the DN");

    core_set_link(&f.c, SIP2, false);
    cr_assert_eq(dn_table_status(&f.t, key("1002")), DN_OOS, "not OOS at once");
    drain();
    cr_assert_eq(entry("1001")->owner, DN_NODE_SELF, "no standby takeover");
    cr_assert_eq(dn_table_status(&f.t, key("1001")), DN_INSRV);
    cr_assert_gt(entry("1001")->hlc, hlc, "the takeover is not newer");
    cr_assert_eq(entry("1002")->owner, SIP2, "a DN without a binding changed hands");
    cr_assert_eq(dn_table_status(&f.t, key("1002")), DN_OOS);
}

Test(core, peer_release_is_claimed_here_when_a_binding_is_held)
{
    uint64_t hlc = (tc_now_ms() + 1000) << 16;

    cr_assert_eq(peer("1001", SIP2, hlc, SIP2), 0);
    cr_assert_eq(peer("1002", SIP2, hlc, SIP2), 0);
    phone_bind("1001", "sip:a@10.0.0.1", 300);
    drain();
    cr_assert_eq(peer("1001", DN_NODE_NONE, hlc + 5, SIP2), 0);
    cr_assert_eq(peer("1002", DN_NODE_NONE, hlc + 5, SIP2), 0);
    drain();
    cr_assert_eq(entry("1001")->owner, DN_NODE_SELF, "the standby did not claim the release");
    cr_assert_gt(entry("1001")->hlc, hlc + 5);
    cr_assert_eq(entry("1002")->owner, DN_NODE_NONE);
    cr_assert_eq(dn_table_status(&f.t, key("1002")), DN_OOS);
}

Test(core, full_store_refuses_before_the_table_changes)
{
    fx_stop();
    f.queue = 2;
    fx_start();
    cr_assert_eq(core_claim(&f.c, key("1001"), DN_SOURCE_SIP, NULL, NULL), 0);
    cr_assert_not(core_has_room(&f.c, 1));
    cr_assert_eq(core_claim(&f.c, key("1002"), DN_SOURCE_SIP, on_done, NULL), -EBUSY);
    cr_assert_null(dn_table_get(&f.t, key("1002")), "the table changed");
    cr_assert_eq(peer("1003", SIP2, (tc_now_ms() + 1000) << 16, SIP2), -EBUSY);
    cr_assert_null(dn_table_get(&f.t, key("1003")), "the table changed");
    drain();
    cr_assert_eq(f.done, 0, "a refused claim called back");
    cr_assert(core_has_room(&f.c, 1));
    cr_assert_eq(core_claim(&f.c, key("1002"), DN_SOURCE_SIP, on_done, NULL), 0);
    drain();
    cr_assert_eq(f.status, 0);
}

Test(core, expiry_of_the_last_binding_releases)
{
    cr_assert_eq(registered("1001", "sip:a@10.0.0.1"), 1);
    phone_bind("1001", "sip:a@10.0.0.1", -1); /* the phone's binding, now expired */
    drain();
    uint64_t released = 0;

    cr_assert_eq(core_expire(&f.c, tc_now_ms(), &released), 1);
    cr_assert_eq(released, 1);
    drain();
    cr_assert_eq(entry("1001")->owner, DN_NODE_NONE);
    cr_assert_eq(f.c.bindings->n_bindings, 0);
}

/* Found by the chaos test: the phone's binding expired while the node was
 * stopped, and its unregister was read before the expiry tick ran. The
 * registrar counts no live binding before it nor after it, and the tick
 * never sees the binding the unregister took: the DN must still go. */
Test(core, unregister_of_an_expired_binding_not_yet_reaped_releases)
{
    struct dn_entry *d;
    uint64_t released = 0;

    cr_assert_eq(registered("1001", "sip:a@10.0.0.1"), 1);
    phone_bind("1001", "sip:a@10.0.0.1", -1); /* a refresh, expired since */
    drain();
    cr_assert_eq(core_live_bindings(&f.c, key("1001"), tc_now_ms()), 0);
    d = bindings_dn(f.c.bindings, key("1001"));
    cr_assert_eq(core_unbind(&f.c, bindings_first(f.c.bindings, d), NULL, NULL), 0);
    cr_assert_eq(core_registered(&f.c, key("1001"), 0, 0, on_done, NULL), 1, "no release began");
    drain();
    cr_assert_eq(f.status, 0);
    cr_assert_eq(entry("1001")->owner, DN_NODE_NONE);
    cr_assert_eq(dn_table_status(&f.t, key("1001")), DN_OOS);
    cr_assert_eq(core_expire(&f.c, tc_now_ms(), &released), 0, "the tick had nothing left");

    /* A DN owned here by a client of the default port is not the SIP
     * registrar's to release. */
    cr_assert_eq(core_claim(&f.c, key("1002"), DN_SOURCE_TLIB, NULL, NULL), 0);
    drain();
    cr_assert_eq(core_registered(&f.c, key("1002"), 0, 0, on_done, NULL), 0);
    drain();
    cr_assert_eq(entry("1002")->owner, DN_NODE_SELF);
}

Test(core, restart_restores_the_owner_role_at_its_version)
{
    struct tc_version v;
    struct core_restore_stats st;

    cr_assert_eq(registered("1001", "sip:a@10.0.0.1"), 1);
    drain();
    v = version("1001");
    fx_restart();
    cr_assert_eq(core_restore(&f.c, &st), 0);
    cr_assert_eq(st.bindings, 1);
    cr_assert_eq(st.owned, 1);
    cr_assert_eq(st.released, 0);
    cr_assert_eq(entry("1001")->owner, DN_NODE_SELF);
    cr_assert_eq(dn_table_status(&f.t, key("1001")), DN_INSRV);
    cr_assert_eq(dn_table_version_cmp(&f.t, version("1001"), v), 0, "a new claim at restart");
    cr_assert(bindings_claim_next(bindings_dn(f.c.bindings, key("1001"))));
    /* The phone refreshes: it owns the DN already, nothing changes. */
    cr_assert_eq(registered("1001", "sip:a@10.0.0.1"), 0);
    cr_assert_not(bindings_claim_next(bindings_dn(f.c.bindings, key("1001"))));
    drain();
    cr_assert_eq(dn_table_version_cmp(&f.t, version("1001"), v), 0);
    cr_assert_eq(f.published, 0);
}

Test(core, restart_restores_every_contact_of_many_dns)
{
    struct core_restore_stats st;
    char big[3000], dn[8], contact[32];
    struct binding *b;

    /* A Call-ID too long for the restore's unpack arena, so its bytes
     * spill to malloc() and back. */
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    for (int i = 0; i < 300; i++) {
        snprintf(dn, sizeof(dn), "%d", 1000 + i * 3);
        snprintf(contact, sizeof(contact), "sip:a%d@10.0.0.1", i);
        registered(dn, contact);
        if (i % 7 == 0)
            phone_bind(dn, "sip:second@10.0.0.2", 300);
        drain();
    }
    b = binding_new(f.c.bindings, key("1003"), "sip:big@10.0.0.3", 16, big, strlen(big),
                    "udp:10.0.0.3:5060", NULL, BINDING_UDP, 1, tc_now_ms() + 300000, tc_now_ms());
    cr_assert_not_null(b);
    cr_assert_eq(core_bind(&f.c, b, NULL, NULL), 0);
    drain();
    cr_assert_eq(peer("1001", SIP2, tc_now_ms() << 16, SIP2), 0);
    drain();
    fx_restart();
    cr_assert_eq(core_restore(&f.c, &st), 0);
    cr_assert_eq(st.bindings, 300 + 43 + 1);
    cr_assert_eq(st.owned, 300);
    cr_assert_eq(st.standby, 0);
    cr_assert_eq(f.c.bindings->n_bindings, 344);
    for (int i = 0; i < 300; i++) {
        snprintf(dn, sizeof(dn), "%d", 1000 + i * 3);
        snprintf(contact, sizeof(contact), "sip:a%d@10.0.0.1", i);
        cr_assert_not_null(bindings_find(f.c.bindings, key(dn), contact, strlen(contact)), "%s", dn);
        cr_assert_eq(bindings_find(f.c.bindings, key(dn), "sip:second@10.0.0.2", 19) != NULL,
                     i % 7 == 0, "%s", dn);
        cr_assert_eq(entry(dn)->owner, DN_NODE_SELF, "%s", dn);
        cr_assert_eq(dn_table_status(&f.t, key(dn)), DN_INSRV);
    }
    b = bindings_find(f.c.bindings, key("1003"), "sip:big@10.0.0.3", 16);
    cr_assert_not_null(b);
    cr_assert_str_eq(binding_call_id(b), big);
    cr_assert_eq(entry("1001")->owner, SIP2);
    cr_assert_eq(f.published, 0);
}

Test(core, restart_takes_a_binding_out_of_key_order)
{
    Tc__Binding rec = TC__BINDING__INIT;
    struct core_restore_stats st;
    static const char k[] = "1900\0sip:late@10.0.0.9";
    uint8_t buf[256];
    size_t len;

    cr_assert_eq(registered("1001", "sip:a@10.0.0.1"), 1);
    cr_assert_eq(registered("1500", "sip:b@10.0.0.1"), 1);
    drain();
    /* A record under 1900's key whose dn field says 1001: restored for
     * 1001 after 1500, out of order. */
    rec.dn = "1001";
    rec.contact = "sip:late@10.0.0.9";
    rec.call_id = "cid@late";
    rec.cseq = 1;
    rec.expires_unix_ms = tc_now_ms() + 300000;
    rec.received = "udp:10.0.0.9:5060";
    rec.transport = "udp";
    rec.registered_unix_ms = tc_now_ms();
    len = tc__binding__get_packed_size(&rec);
    cr_assert_leq(len, sizeof(buf));
    tc__binding__pack(&rec, buf);
    cr_assert_eq(store_put(f.s, STORE_DB_BINDING, k, sizeof(k) - 1, buf, len, NULL, NULL), 0);
    drain();
    fx_restart();
    cr_assert_eq(core_restore(&f.c, &st), 0);
    cr_assert_eq(st.bindings, 3);
    cr_assert_eq(st.owned, 2);
    cr_assert_eq(bindings_count(f.c.bindings, bindings_dn(f.c.bindings, key("1001"))), 2);
    cr_assert_not_null(bindings_find(f.c.bindings, key("1001"), "sip:late@10.0.0.9", 17));
    cr_assert_eq(bindings_count(f.c.bindings, bindings_dn(f.c.bindings, key("1500"))), 1);
    cr_assert_eq(entry("1500")->owner, DN_NODE_SELF);
    cr_assert_eq(entry("1001")->owner, DN_NODE_SELF);
}

Test(core, restart_restores_standby_and_the_first_register_claims)
{
    struct core_restore_stats st;
    uint64_t hlc;

    /* The phone registered here, then moved to sip2 without unregistering. */
    cr_assert_eq(registered("1001", "sip:a@10.0.0.1"), 1);
    drain();
    hlc = entry("1001")->hlc + 10;
    cr_assert_eq(peer("1001", SIP2, hlc, SIP2), 0);
    drain();
    fx_restart();
    cr_assert_eq(core_restore(&f.c, &st), 0);
    cr_assert_eq(st.standby, 1);
    cr_assert_eq(st.owned, 0);
    drain();
    cr_assert_eq(entry("1001")->owner, SIP2, "the restart claimed the DN");
    cr_assert_eq(entry("1001")->hlc, hlc);
    cr_assert_eq(entry("1001")->vnode, SIP2);
    cr_assert_eq(dn_table_status(&f.t, key("1001")), DN_OOS, "sip2's link is not up yet");
    cr_assert_eq(f.published, 0);

    /* The phone comes back here: its first REGISTER is a claim. */
    cr_assert_eq(registered("1001", "sip:a@10.0.0.1"), 1);
    drain();
    cr_assert_eq(f.status, 0);
    cr_assert_eq(entry("1001")->owner, DN_NODE_SELF);
    cr_assert_gt(entry("1001")->hlc, hlc);
    /* And the next one is a refresh again. */
    cr_assert_eq(registered("1001", "sip:a@10.0.0.1"), 0);
    drain();
}

Test(core, restart_releases_an_owned_dn_without_bindings)
{
    struct core_restore_stats st;
    struct tc_version v;

    cr_assert_eq(registered("1001", "sip:a@10.0.0.1"), 1);
    phone_bind("1001", "sip:a@10.0.0.1", -1); /* expired while the node was down */
    cr_assert_eq(core_claim(&f.c, key("1002"), DN_SOURCE_TLIB, NULL, NULL), 0);
    drain();
    v = version("1001");
    fx_restart();
    cr_assert_eq(core_restore(&f.c, &st), 0);
    cr_assert_eq(st.bindings, 0);
    cr_assert_eq(st.dropped, 1);
    cr_assert_eq(st.released, 2, "tlib claims are not restored either");
    cr_assert_eq(entry("1001")->owner, DN_NODE_NONE);
    cr_assert_gt(dn_table_version_cmp(&f.t, version("1001"), v), 0);
    drain();
    cr_assert_eq(f.published, 2, "the releases were not published");
    /* Durable: a second restart finds them released, the binding gone. */
    fx_restart();
    cr_assert_eq(core_restore(&f.c, &st), 0);
    cr_assert_eq(st.released, 0);
    cr_assert_eq(st.dropped, 0);
    cr_assert_eq(entry("1001")->owner, DN_NODE_NONE);
    cr_assert_eq(entry("1002")->owner, DN_NODE_NONE);
}

Test(core, refused_claim_is_retried_by_the_next_register)
{
    fx_stop();
    f.queue = 3;
    fx_start();
    cr_assert_eq(core_claim(&f.c, key("1002"), DN_SOURCE_SIP, NULL, NULL), 0);
    /* The binding takes the last change the store has room for. */
    cr_assert_eq(registered("1001", "sip:a@10.0.0.1"), -EBUSY);
    cr_assert_null(dn_table_get(&f.t, key("1001")), "the table changed");
    drain();
    /* A refresh by the binding count, but the claim is still owed. */
    cr_assert_eq(registered("1001", "sip:a@10.0.0.1"), 1);
    drain();
    cr_assert_eq(entry("1001")->owner, DN_NODE_SELF);
    cr_assert_eq(registered("1001", "sip:a@10.0.0.1"), 0);
    drain();
}

/* --- a store that refuses: the map is full (MDB_MAP_FULL, TC_EFULL) --- */

#define SMALL_MAP (256u << 10)

static void on_filled(void *arg, int status)
{
    (void)arg;
    if (status != 0)
        f.fill_status = status;
}

/* Put filler records of size bytes in db until `refusals` commits in a
 * row fail. */
static void fill_db(enum store_db db, size_t size, unsigned refusals)
{
    char key[32], val[4000];
    unsigned refused = 0;

    memset(val, 'x', sizeof(val));
    while (refused < refusals) {
        snprintf(key, sizeof(key), "fill%u", f.fill_n++);
        f.fill_status = 0;
        cr_assert_eq(store_put(f.s, db, key, strlen(key), val, size, on_filled, NULL), 0);
        drain();
        refused = f.fill_status != 0 ? refused + 1 : 0;
    }
    cr_assert_eq(f.fill_status, TC_EFULL, "filling: %s", tc_strerror(f.fill_status));
}

/* Fill the store until nothing fits: large records first, then small ones
 * in every database until several commits in a row fail (LMDB reuses the
 * pages earlier commits freed, and a database with room in its leaf needs
 * fewer new pages). The junk in the DN and binding databases is skipped
 * (and counted, or deleted) by core_restore(). */
static void fill_store(void)
{
    fill_db(STORE_DB_PEER, 4000, 1);
    fill_db(STORE_DB_PEER, 400, 1);
    for (int round = 0; round < 2; round++) {
        for (int db = STORE_DB_META; db < STORE_DB_COUNT; db++)
            fill_db((enum store_db)db, 16, 4);
    }
}

/* A full store, and one that refuses overwrites too: LMDB may still fit a
 * record rewritten in place in a full map, so tests of changes to
 * existing records make every commit fail (the store's test hook). */
static void fill_store_all(void)
{
    fill_store();
    store_test_fail(f.s, TC_EFULL);
}

/* Restart with the map grown: what the store refused stays refused. */
static void restart_with_room(void)
{
    struct core_restore_stats st;

    f.map_size = 64u << 20;
    fx_restart();
    cr_assert_eq(core_restore(&f.c, &st), 0);
}

static void fx_small_map(void)
{
    fx_stop();
    f.map_size = SMALL_MAP;
    fx_start();
}

static bool idle(const char *dn)
{
    const struct dn_entry *e = dn_table_get(&f.t, key(dn));

    return e == NULL || (e->owner == DN_NODE_NONE && e->hlc == 0);
}

Test(core, refused_claim_is_undone_and_never_published)
{
    fx_small_map();
    fill_store();
    cr_assert_eq(core_claim(&f.c, key("1001"), DN_SOURCE_TLIB, on_done, NULL), 0);
    cr_assert_eq(entry("1001")->owner, DN_NODE_SELF);
    drain();
    cr_assert_eq(f.done, 1);
    cr_assert_eq(f.status, TC_EFULL, "status %s fill_n %u", tc_strerror(f.status), f.fill_n);
    cr_assert(idle("1001"), "the refused claim stayed in the table");
    cr_assert_eq(dn_table_status(&f.t, key("1001")), DN_OOS);
    cr_assert_eq(f.t.owned[DN_NODE_SELF], 0);
    cr_assert_eq(f.published, 0, "a refused claim was published");
    cr_assert_eq(f.c.rollbacks, 1);
    cr_assert_not(core_in_flight(&f.c, key("1001")));
    restart_with_room();
    cr_assert(idle("1001"));
    cr_assert_eq(core_claim(&f.c, key("1001"), DN_SOURCE_TLIB, on_done, NULL), 0);
    drain();
    cr_assert_eq(f.status, 0);
    cr_assert_eq(entry("1001")->owner, DN_NODE_SELF);
}

Test(core, refused_release_keeps_the_owner_at_its_version)
{
    struct tc_version v;

    fx_small_map();
    cr_assert_eq(core_claim(&f.c, key("1001"), DN_SOURCE_TLIB, NULL, NULL), 0);
    drain();
    v = version("1001");
    f.published = 0;
    fill_store_all();
    cr_assert_eq(core_release(&f.c, key("1001"), on_done, NULL), 0);
    cr_assert_eq(entry("1001")->owner, DN_NODE_NONE);
    drain();
    cr_assert_eq(f.status, TC_EFULL);
    cr_assert_eq(entry("1001")->owner, DN_NODE_SELF);
    cr_assert_eq(entry("1001")->source, DN_SOURCE_TLIB);
    cr_assert_eq(dn_table_version_cmp(&f.t, version("1001"), v), 0);
    cr_assert_eq(dn_table_status(&f.t, key("1001")), DN_INSRV);
    cr_assert_eq(f.published, 0);
}

Test(core, refused_peer_change_is_undone)
{
    uint64_t hlc = (tc_now_ms() + 1000) << 16;
    unsigned published;

    fx_small_map();
    core_set_link(&f.c, SIP2, true);
    cr_assert_eq(peer("1001", SIP2, hlc, SIP2), 0);
    drain();
    published = f.published;
    fill_store_all();
    cr_assert_eq(peer("1001", SIP0, hlc + 1, SIP0), 0);
    cr_assert_eq(peer("1002", SIP2, hlc + 1, SIP2), 0);
    drain();
    cr_assert_eq(entry("1001")->owner, SIP2);
    cr_assert_eq(entry("1001")->hlc, hlc);
    cr_assert_eq(entry("1001")->vnode, SIP2);
    cr_assert(idle("1002"));
    cr_assert_eq(f.published, published, "a refused peer change was published");
    /* Not newer than what is held is still refused as stale. */
    cr_assert_eq(peer("1001", SIP0, hlc - 1, SIP0), TC_ESTALE);
}

Test(core, refused_takeover_publishes_the_dn_out_of_service)
{
    uint64_t hlc = (tc_now_ms() + 1000) << 16;

    fx_small_map();
    core_set_link(&f.c, SIP2, true);
    cr_assert_eq(peer("1001", SIP2, hlc, SIP2), 0);
    phone_bind("1001", "sip:a@10.0.0.1", 300); /* a standby binding */
    drain();
    f.published = 0;
    fill_store_all();
    core_set_link(&f.c, SIP2, false);
    drain();
    cr_assert_eq(entry("1001")->owner, SIP2, "the refused takeover stayed");
    cr_assert_eq(entry("1001")->hlc, hlc);
    cr_assert_eq(dn_table_status(&f.t, key("1001")), DN_OOS);
    cr_assert_eq(f.published, 1, "the DN's new status was not published");
    cr_assert_eq(f.last.owner, SIP2);
    cr_assert_eq(f.last.status, DN_OOS);
    cr_assert_eq(f.last.old_status, DN_INSRV);
}

Test(core, refused_register_takes_the_binding_and_the_claim_back)
{
    fx_small_map();
    fill_store();
    cr_assert_eq(registered("1001", "sip:a@10.0.0.1"), 1);
    cr_assert_eq(core_live_bindings(&f.c, key("1001"), tc_now_ms()), 1);
    drain();
    cr_assert_eq(f.status, TC_EFULL);
    cr_assert_eq(core_live_bindings(&f.c, key("1001"), tc_now_ms()), 0, "the binding stayed");
    cr_assert_eq(f.c.bindings->n_bindings, 0);
    cr_assert(idle("1001"), "the claim stayed");
    cr_assert_eq(f.published, 0);
    restart_with_room();
    cr_assert_eq(f.c.bindings->n_bindings, 0);
    cr_assert(idle("1001"));
    cr_assert_eq(registered("1001", "sip:a@10.0.0.1"), 1);
    drain();
    cr_assert_eq(f.status, 0);
    cr_assert_eq(entry("1001")->owner, DN_NODE_SELF);
}

Test(core, refused_refresh_and_unregister_put_the_binding_back)
{
    struct dn_entry *d;
    uint64_t expires;

    fx_small_map();
    cr_assert_eq(registered("1001", "sip:a@10.0.0.1"), 1);
    drain();
    d = bindings_dn(f.c.bindings, key("1001"));
    expires = binding_expires_ms(bindings_first(f.c.bindings, d));
    fill_store_all();
    /* A refresh with a longer expiry. */
    phone_bind("1001", "sip:a@10.0.0.1", 3600);
    cr_assert_gt(binding_expires_ms(bindings_first(f.c.bindings, bindings_dn(f.c.bindings, key("1001")))),
                 expires);
    drain();
    d = bindings_dn(f.c.bindings, key("1001"));
    cr_assert_eq(bindings_count(f.c.bindings, d), 1);
    cr_assert_eq(binding_expires_ms(bindings_first(f.c.bindings, d)), expires,
                 "the refused refresh stayed");
    /* An unregister: the binding and the claim stay. */
    cr_assert_eq(core_unbind(&f.c, bindings_first(f.c.bindings, d), NULL, NULL), 0);
    cr_assert_eq(core_registered(&f.c, key("1001"), 1, 0, on_done, NULL), 1);
    drain();
    cr_assert_eq(f.status, TC_EFULL);
    d = bindings_dn(f.c.bindings, key("1001"));
    cr_assert_eq(bindings_count(f.c.bindings, d), 1, "the refused unregister removed the binding");
    cr_assert_eq(binding_expires_ms(bindings_first(f.c.bindings, d)), expires);
    cr_assert_eq(entry("1001")->owner, DN_NODE_SELF);
}

Test(core, changes_decided_on_top_of_a_refused_one_undo_to_the_durable_state)
{
    struct tc_version v;

    fx_small_map();
    cr_assert_eq(core_claim(&f.c, key("1002"), DN_SOURCE_TLIB, NULL, NULL), 0);
    drain();
    v = version("1002");
    fill_store_all();
    /* Three decisions on one DN, each on top of the last, all refused. */
    cr_assert_eq(core_claim(&f.c, key("1001"), DN_SOURCE_TLIB, NULL, NULL), 0);
    cr_assert_eq(core_release(&f.c, key("1001"), NULL, NULL), 0);
    cr_assert_eq(core_claim(&f.c, key("1001"), DN_SOURCE_TLIB, NULL, NULL), 0);
    cr_assert_eq(core_release(&f.c, key("1002"), NULL, NULL), 0);
    cr_assert_eq(core_claim(&f.c, key("1002"), DN_SOURCE_SIP, NULL, NULL), 0);
    drain();
    cr_assert(idle("1001"), "undone to a state that was never durable");
    cr_assert_eq(entry("1002")->owner, DN_NODE_SELF);
    cr_assert_eq(entry("1002")->source, DN_SOURCE_TLIB);
    cr_assert_eq(dn_table_version_cmp(&f.t, version("1002"), v), 0);
    cr_assert_eq(f.t.owned[DN_NODE_SELF], 1);
}

/* The peer links' coverage record: back after a restart with its
 * directory fingerprint, per node id; a name the table no longer knows is
 * left out; none stored reads as zeros. */
Test(core, cover_record_round_trip)
{
    uint64_t v[DN_TABLE_NODES] = {0}, back[DN_TABLE_NODES];
    uint64_t dir = 0;

    cr_assert_eq(core_cover_load(&f.c, back, &dir), 0);
    cr_assert_eq(back[DN_NODE_SELF], 0);
    cr_assert_eq(back[SIP2], 0);
    cr_assert_eq(dir, 0);
    v[DN_NODE_SELF] = 111;
    v[SIP2] = 222;
    v[SIP0] = 333;
    cr_assert_eq(core_cover_save(&f.c, v, 42), 0);
    v[SIP2] = 444; /* a later save wins (queue order) */
    cr_assert_eq(core_cover_save(&f.c, v, 42), 0);
    drain();
    fx_stop();
    /* Restarted knowing sip2 but not sip0. */
    cr_assert_eq(dn_table_init(&f.t, &f.dir_dns, "sip1"), 0);
    cr_assert_eq(dn_table_add_node(&f.t, "sip2"), SIP2);
    {
        struct store_options so = {.dir = f.dir, .node_name = "sip1", .max_queue = f.queue};

        cr_assert_eq(store_open(&f.s, &f.loop, &so), 0);
    }
    cr_assert_eq(core_init(&f.c, &f.loop, &f.t, f.s, f.queue), 0);
    f.up = true;
    cr_assert_eq(core_cover_load(&f.c, back, &dir), 0);
    cr_assert_eq(dir, 42);
    cr_assert_eq(back[DN_NODE_SELF], 111);
    cr_assert_eq(back[SIP2], 444);
    cr_assert_eq(back[SIP0], 0);
}
