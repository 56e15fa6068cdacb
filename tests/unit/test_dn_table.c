#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "server/base/tc_err.h"
#include "server/core/dn_table.h"
#include "tests/tc_test.h"

static struct dn_dir dir;
static struct dn_table t;

static void setup(void)
{
    struct dn_profile p = {.type = DN_TYPE_EXTENSION};

    dn_dir_init(&dir);
    cr_assert_geq(dn_dir_add_profile(&dir, &p), 0);
    cr_assert_eq(dn_dir_add_range(&dir, "1000-1999", 0, 1), 0);
    cr_assert_eq(dn_dir_finish(&dir, NULL, NULL), 0);
    cr_assert_eq(dn_table_init(&t, &dir, "sip1"), 0);
    cr_assert_eq(dn_table_add_node(&t, "sip2"), 2);
    cr_assert_eq(dn_table_add_node(&t, "sip0"), 3);
}

static void teardown(void)
{
    dn_table_free(&t);
    dn_dir_free(&dir);
    tc_test_leak_check();
}

TestSuite(dn_table, .init = setup, .fini = teardown);

static dn_key key(const char *s)
{
    dn_key k;

    cr_assert_eq(dn_key_parse(s, strlen(s), &k), 0);
    return k;
}

Test(dn_table, idle_dn_is_oos_without_entry)
{
    cr_assert_null(dn_table_get(&t, key("1001")));
    cr_assert_eq(dn_table_status(&t, key("1001")), DN_OOS);
    cr_assert_eq(dn_table_insrv(&t), 0);
}

Test(dn_table, local_claim_is_insrv_and_release_keeps_version)
{
    struct dn_change c;

    cr_assert_eq(dn_table_claim(&t, key("1001"), DN_SOURCE_SIP, 5000, &c), 0);
    cr_assert_eq(c.owner, DN_NODE_SELF);
    cr_assert_eq(c.old_status, DN_OOS);
    cr_assert_eq(c.status, DN_INSRV);
    cr_assert_eq(dn_table_insrv(&t), 1);
    struct tc_version v1 = c.version;

    cr_assert_eq(dn_table_release(&t, key("1001"), 5000, &c), 0);
    cr_assert_eq(c.status, DN_OOS);
    cr_assert_eq(c.owner, DN_NODE_NONE);
    cr_assert_gt(dn_table_version_cmp(&t, c.version, v1), 0, "release must be newer");
    cr_assert_eq(dn_table_insrv(&t), 0);
    cr_assert_not_null(dn_table_get(&t, key("1001")));
    cr_assert_eq(dn_table_release(&t, key("1001"), 5000, &c), TC_ESTALE);
}

Test(dn_table, unknown_dn_is_refused)
{
    struct dn_change c;

    cr_assert_eq(dn_table_claim(&t, key("2000"), DN_SOURCE_SIP, 1, &c), TC_EUNKNOWN_DN);
    cr_assert_eq(dn_table_claim(&t, key("01000"), DN_SOURCE_SIP, 1, &c), TC_EUNKNOWN_DN);
}

Test(dn_table, newer_version_wins_older_is_stale)
{
    struct dn_change c;
    struct tc_version old = {.hlc = 100 << 16, .node = 2};
    struct tc_version newer = {.hlc = 200 << 16, .node = 2};

    cr_assert_eq(dn_table_apply(&t, key("1500"), 2, DN_SOURCE_SIP, newer, 200, &c), 0);
    cr_assert_eq(c.status, DN_OOS, "peer link is down");
    cr_assert_eq(dn_table_apply(&t, key("1500"), 2, DN_SOURCE_SIP, old, 100, &c), TC_ESTALE);
    cr_assert_eq(dn_table_apply(&t, key("1500"), 2, DN_SOURCE_SIP, newer, 100, &c), TC_ESTALE);
    /* Our next local claim is later than anything seen. */
    cr_assert_eq(dn_table_claim(&t, key("1500"), DN_SOURCE_SIP, 150, &c), 0);
    cr_assert_gt(c.version.hlc, newer.hlc);
    cr_assert_eq(c.old_owner, 2);
}

Test(dn_table, equal_clock_ties_break_by_node_name)
{
    struct dn_change c;
    struct tc_version by_sip2 = {.hlc = 7, .node = 2};
    struct tc_version by_sip0 = {.hlc = 7, .node = 3};

    cr_assert_eq(dn_table_apply(&t, key("1002"), 3, DN_SOURCE_SIP, by_sip0, 1, &c), 0);
    cr_assert_eq(dn_table_apply(&t, key("1002"), 2, DN_SOURCE_SIP, by_sip2, 1, &c), 0,
                 "sip2 > sip0 by name");
    cr_assert_eq(dn_table_apply(&t, key("1002"), 3, DN_SOURCE_SIP, by_sip0, 1, &c), TC_ESTALE);
    cr_assert_eq(dn_table_get(&t, key("1002"))->owner, 2);
}

Test(dn_table, link_state_decides_peer_status)
{
    struct dn_change c;
    struct tc_version v = {.hlc = 9 << 16, .node = 2};

    cr_assert_eq(dn_table_apply(&t, key("1003"), 2, DN_SOURCE_TLIB, v, 9, &c), 0);
    cr_assert_eq(dn_table_status(&t, key("1003")), DN_OOS);
    dn_table_set_link(&t, 2, true);
    cr_assert_eq(dn_table_status(&t, key("1003")), DN_INSRV);
    cr_assert_eq(dn_table_insrv(&t), 1);
    dn_table_set_link(&t, 2, false);
    cr_assert_eq(dn_table_insrv(&t), 0);
}

Test(dn_table, since_follows_the_owners_link)
{
    struct dn_change c;
    struct tc_version v = {.hlc = 9 << 16, .node = 2};
    struct tc_version mine = {.hlc = 10 << 16, .node = DN_NODE_SELF};

    cr_assert_eq(dn_table_apply(&t, key("1003"), 2, DN_SOURCE_SIP, v, 500, &c), 0);
    cr_assert_eq(dn_table_apply(&t, key("1004"), DN_NODE_SELF, DN_SOURCE_SIP, mine, 600, &c), 0);
    /* Claimed while the link was up: since the claim. */
    dn_table_set_link_at(&t, 2, true, 400);
    cr_assert_eq(dn_table_since(&t, dn_table_get(&t, key("1003"))), 500);
    /* The link goes: OOS since then; a local DN is untouched. */
    dn_table_set_link_at(&t, 2, false, 700);
    cr_assert_eq(dn_table_status(&t, key("1003")), DN_OOS);
    cr_assert_eq(dn_table_since(&t, dn_table_get(&t, key("1003"))), 700);
    cr_assert_eq(dn_table_since(&t, dn_table_get(&t, key("1004"))), 600);
    /* Back: InSrv since then; a later claim counts from its own time. */
    dn_table_set_link_at(&t, 2, true, 800);
    cr_assert_eq(dn_table_since(&t, dn_table_get(&t, key("1003"))), 800);
    v.hlc = 11 << 16;
    cr_assert_eq(dn_table_apply(&t, key("1003"), 2, DN_SOURCE_SIP, v, 900, &c), 0);
    cr_assert_eq(dn_table_since(&t, dn_table_get(&t, key("1003"))), 900);
}

Test(dn_table, grows_past_initial_slots)
{
    struct dn_change c;
    char s[16];

    for (int i = 1000; i < 2000; i++) {
        snprintf(s, sizeof(s), "%d", i);
        cr_assert_eq(dn_table_claim(&t, key(s), DN_SOURCE_SIP, 1, &c), 0);
    }
    cr_assert_eq(dn_table_count(&t), 1000);
    cr_assert_eq(dn_table_insrv(&t), 1000);
    for (int i = 1000; i < 2000; i++) {
        snprintf(s, sizeof(s), "%d", i);
        cr_assert_eq(dn_table_get(&t, key(s))->owner, DN_NODE_SELF);
    }
}

Test(dn_table, reload_keeps_states_of_remaining_dns)
{
    struct dn_profile p = {.type = DN_TYPE_EXTENSION};
    struct dn_change c;
    struct dn_dir next;

    cr_assert_eq(dn_table_claim(&t, key("1001"), DN_SOURCE_SIP, 1, &c), 0);
    cr_assert_eq(dn_table_claim(&t, key("1900"), DN_SOURCE_SIP, 1, &c), 0);
    dn_dir_init(&next);
    cr_assert_geq(dn_dir_add_profile(&next, &p), 0);
    cr_assert_eq(dn_dir_add_range(&next, "1000-1499", 0, 1), 0);
    cr_assert_eq(dn_dir_finish(&next, NULL, NULL), 0);
    cr_assert_eq(dn_table_reload(&t, &next), 1);
    cr_assert_eq(dn_table_status(&t, key("1001")), DN_INSRV);
    cr_assert_null(dn_table_get(&t, key("1900")));
    cr_assert_eq(dn_table_insrv(&t), 1);
    dn_table_free(&t);
    dn_dir_free(&next);
    memset(&t, 0, sizeof(t));
}

Test(dn_table, restore_puts_back_the_previous_entry_or_idles_a_new_one)
{
    struct dn_change a, b, c;

    cr_assert_eq(dn_table_claim(&t, key("1001"), DN_SOURCE_SIP, 5000, &a), 0);
    cr_assert(a.prev_none);
    cr_assert_eq(dn_table_release(&t, key("1001"), 6000, &b), 0);
    cr_assert_not(b.prev_none);
    cr_assert_eq(b.prev.owner, DN_NODE_SELF);
    /* b is the newest: undone, the claim stands again. */
    cr_assert_eq(dn_table_restore(&t, &b), 0);
    cr_assert_eq(dn_table_get(&t, key("1001"))->owner, DN_NODE_SELF);
    cr_assert_eq(dn_table_get(&t, key("1001"))->hlc, a.version.hlc);
    cr_assert_eq(t.owned[DN_NODE_SELF], 1);
    cr_assert_eq(dn_table_restore(&t, &b), TC_ESTALE, "undone twice");
    /* A newer change stands over an older one's undo. */
    cr_assert_eq(dn_table_claim(&t, key("1001"), DN_SOURCE_TLIB, 7000, &c), 0);
    cr_assert_eq(dn_table_restore(&t, &a), TC_ESTALE);
    cr_assert_eq(dn_table_get(&t, key("1001"))->source, DN_SOURCE_TLIB);
    /* Undoing what created the entry leaves it idle: there, as absent. */
    c.prev_none = true;
    cr_assert_eq(dn_table_restore(&t, &c), 0);
    cr_assert_null(dn_table_get(&t, key("1001")));
    cr_assert_eq(dn_table_count(&t), 1, "kept for walks in progress");
    cr_assert_eq(dn_table_tracked(&t), 0);
    cr_assert_eq(dn_table_status(&t, key("1001")), DN_OOS);
    cr_assert_eq(t.owned[DN_NODE_SELF], 0);
    /* The clock does not go back. */
    cr_assert_eq(dn_table_claim(&t, key("1001"), DN_SOURCE_SIP, 1000, &a), 0);
    cr_assert_gt(a.version.hlc, c.version.hlc);
}
