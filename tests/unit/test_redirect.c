/* server/redirect: the call-delivery decision (DESIGN §6, issue 11 §1-3)
 * over a real configuration, DN table and bindings, with the core's
 * published changes fed to the listener by hand. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/base/buf.h"
#include "server/config/config.h"
#include "server/core/bindings.h"
#include "server/core/core.h"
#include "server/core/dn_table.h"
#include "server/redirect/redirect.h"
#include "tests/tc_test.h"

#define T0 UINT64_C(1795000000000) /* ms since the epoch */

/* One node: its configuration, table, bindings and decision. */
struct fx {
    struct config *cfg;
    struct dn_table t;
    struct bindings bs;
    struct redirect r;
    struct core_listener l;
};

static struct fx a, b; /* b only for the two-node loop test */
static uint64_t now = T0;

static uint64_t clock_now(void)
{
    return now;
}

/* sip1..sip5 are configured; sip4 has no sip-address, and sip5 is never
 * added to the table (a preferred site this node cannot see). */
static const char dns[] =
        "[dn 1000-1099]\n"
        "[dn 1100-1199]\ngroup = sales\n"
        "[dn 1200]\ndr-forward = off\n"
        "[dn 1201]\ndr-forward = on\n"
        "[dn 5000]\nshared-line = true\nmembers = 1001, 1002, 1003\n"
        "sca-preferred-site = sip2\n"
        "[dn 5001]\nshared-line = true\nmembers = 1001, 1002\n"
        "[dn 5002]\nshared-line = true\nmembers = 1001\nsca-preferred-site = sip1\n"
        "[dn 5003]\nshared-line = true\nmembers = 1001\nsca-preferred-site = sip5\n"
        "[dn 7000]\ntype = routing-point\ngroup = 1000-1099\n"
        "[dn 7001]\ntype = routing-point\ngroup = 1000-1099\n"
        "distribution = local-first\n"
        "[dn 7002]\ntype = routing-point\ngroup = sales\n"
        "distribution = local-first\n"
        "[dn 7003]\ntype = routing-point\ngroup = 1000-1099\ndr-forward = off\n";

static struct config *load(const char *self, const char *node_extra, const char *dirs)
{
    char text[4096];
    int n = snprintf(text, sizeof(text), "[node]\nname = %s\ndata-dir = /tmp/tc\n%s\n", self,
                     node_extra);
    struct config *c = NULL;

    for (int i = 1; i <= 5; i++) {
        char name[16];

        snprintf(name, sizeof(name), "sip%d", i);
        if (strcmp(name, self) == 0)
            continue;
        n += snprintf(text + n, sizeof(text) - (size_t)n,
                      "[peer %s]\naddress = 127.0.0.1:%d\naccess-number = 900%d\n", name, i, i);
        if (i != 4)
            n += snprintf(text + n, sizeof(text) - (size_t)n, "sip-address = 10.0.0.%d:5060\n", i);
    }
    snprintf(text + n, sizeof(text) - (size_t)n, "%s", dirs);
    cr_assert_eq(config_load_string("t.ini", text, &c, NULL, NULL), 0);
    return c;
}

static void start_fx(struct fx *f, const char *self, const char *node_extra)
{
    f->cfg = load(self, node_extra, dns);
    cr_assert_eq(dn_table_init(&f->t, &f->cfg->dir, self), 0);
    for (int i = 1; i <= 4; i++) {
        char name[16];

        snprintf(name, sizeof(name), "sip%d", i);
        if (strcmp(name, self) != 0)
            cr_assert_geq(dn_table_add_node(&f->t, name), 2);
    }
    cr_assert_eq(bindings_init(&f->bs, &f->t.map, T0), 0);
    cr_assert_eq(redirect_init(&f->r, f->cfg, &f->t, &f->bs), 0);
    f->r.now_ms = clock_now;
    redirect_listener(&f->r, &f->l);
}

static void start(const char *node_extra)
{
    start_fx(&a, "sip1", node_extra);
}

static void stop_fx(struct fx *f)
{
    if (f->cfg == NULL)
        return;
    redirect_free(&f->r);
    bindings_free(&f->bs);
    dn_table_free(&f->t);
    config_free(f->cfg);
    f->cfg = NULL;
}

static void teardown(void)
{
    stop_fx(&a);
    stop_fx(&b);
    tc_test_leak_check();
}

TestSuite(redirect, .fini = teardown);

static dn_key key(const char *s)
{
    dn_key k;

    cr_assert_eq(dn_key_parse(s, strlen(s), &k), 0);
    return k;
}

static uint16_t id(const struct fx *f, const char *name)
{
    uint16_t n = dn_table_node_id(&f->t, name);

    cr_assert_neq(n, DN_NODE_NONE, "%s", name);
    return n;
}

/* What the core does: publish a change to the listener. */
static void publish(struct fx *f, const struct dn_change *c)
{
    f->l.on_change(f->l.arg, c, 0);
}

static void add_binding(struct fx *f, const char *dn, const char *contact, uint64_t expires_ms)
{
    struct binding *bd = binding_new(&f->bs, key(dn), contact, strlen(contact), "cid", 3,
                                     "udp:127.0.0.1:9", NULL, BINDING_UDP, 1, expires_ms, now);

    cr_assert_not_null(bd);
    cr_assert_eq(bindings_add(&f->bs, bd), 0);
}

static void claim(struct fx *f, const char *dn, enum dn_source src)
{
    struct dn_change c;

    cr_assert_eq(dn_table_claim(&f->t, key(dn), src, ++now, &c), 0);
    publish(f, &c);
}

/* A phone registers dn here: a binding for an hour, and the claim. */
static void reg(struct fx *f, const char *dn)
{
    char contact[64];

    snprintf(contact, sizeof(contact), "sip:%s@10.1.1.1:5060", dn);
    add_binding(f, dn, contact, now + 3600 * 1000);
    claim(f, dn, DN_SOURCE_SIP);
}

/* node (DN_NODE_NONE: nobody) now owns dn, by a peer's newer claim. */
static void owns(struct fx *f, uint16_t node, const char *dn)
{
    struct tc_version v = dn_table_next_version(&f->t, ++now);
    struct dn_change c;

    v.node = node != DN_NODE_NONE ? node : 2;
    cr_assert_eq(dn_table_apply(&f->t, key(dn), node, DN_SOURCE_SIP, v, now, &c), 0);
    publish(f, &c);
}

static void release_here(struct fx *f, const char *dn)
{
    struct dn_change c;

    cr_assert_eq(dn_table_release(&f->t, key(dn), ++now, &c), 0);
    publish(f, &c);
}

/* A link goes down or up, and the core publishes each DN of the peer
 * (owner unchanged, status changed) and then the link event. */
static void link_set(struct fx *f, uint16_t node, bool up)
{
    const struct dn_entry *e;
    size_t cursor = 0;

    dn_table_set_link(&f->t, node, up);
    while ((e = dn_table_next(&f->t, &cursor)) != NULL) {
        struct dn_change c = {.key = e->key, .owner = e->owner, .old_owner = e->owner};

        if (e->owner == node)
            publish(f, &c);
    }
    f->l.on_link(f->l.arg, node, up, 0);
}

static struct redirect_decision d;

static const struct redirect_decision *decide_fx(struct fx *f, const char *dn, bool marked)
{
    redirect_decide(&f->r, dn != NULL ? key(dn) : DN_KEY_NONE, marked, &d);
    return &d;
}

static const struct redirect_decision *decide(const char *dn, bool marked)
{
    return decide_fx(&a, dn, marked);
}

static void is(const struct redirect_decision *x, enum redirect_outcome o, const char *target)
{
    cr_assert_eq(x->outcome, o, "outcome %s (%s), expected %s", redirect_outcome_name(x->outcome),
                 x->reason, redirect_outcome_name(o));
    cr_assert_str_eq(x->target_name, target, "reason: %s", x->reason);
    cr_assert_eq(x->code, o == REDIRECT_LOCAL || o == REDIRECT_FORWARDED ? 302
                          : o == REDIRECT_NOT_FOUND                      ? 404
                          : o == REDIRECT_FORBIDDEN                      ? 403
                                                                         : 480);
    if (o != REDIRECT_LOCAL)
        cr_assert_eq(x->n_contacts, 0);
    if (o != REDIRECT_FORWARDED)
        cr_assert_null(x->peer);
}

static bool has_contact(const struct redirect_decision *x, const char *uri)
{
    for (unsigned i = 0; i < x->n_contacts; i++) {
        if (strcmp(binding_contact(x->contacts[i].binding), uri) == 0)
            return true;
    }
    return false;
}

static void is_agent(const char *rp, const char *agent)
{
    const struct redirect_decision *x = decide(rp, false);

    is(x, REDIRECT_LOCAL, "sip1");
    cr_assert_eq(x->agent, key(agent), "offered %llu, expected %s",
                 (unsigned long long)dn_key_number(x->agent), agent);
}

/* Plain DNs */

Test(redirect, unknown_dn_is_404)
{
    start("");
    is(decide("9999", false), REDIRECT_NOT_FOUND, "");
    is(decide("01000", false), REDIRECT_NOT_FOUND, "");
    is(decide(NULL, false), REDIRECT_NOT_FOUND, "");
    cr_assert_null(d.profile);
    cr_assert_eq(a.r.decisions[REDIRECT_NOT_FOUND], 3);
}

Test(redirect, a_type_without_calls_is_403)
{
    start("");
    /* Only extensions and routing points take calls; stand in a type the
     * configuration cannot express yet. */
    ((struct dn_profile *)dn_dir_lookup(&a.cfg->dir, key("1000")))->type = (enum dn_type)7;
    is(decide("1000", false), REDIRECT_FORBIDDEN, "");
}

Test(redirect, owned_here_gives_its_live_bindings)
{
    start("");
    add_binding(&a, "1001", "sip:old@10.1.1.1", now + 1000);
    add_binding(&a, "1001", "sip:desk@10.1.1.2", now + 120 * 1000);
    add_binding(&a, "1001", "sip:soft@10.1.1.3", now + 60 * 1000);
    claim(&a, "1001", DN_SOURCE_SIP);
    now += 2000; /* sip:old is due but not yet swept: left out */
    is(decide("1001", false), REDIRECT_LOCAL, "sip1");
    cr_assert_eq(d.target, DN_NODE_SELF);
    cr_assert_eq(d.agent, key("1001"));
    cr_assert_eq(d.n_contacts, 2);
    cr_assert(has_contact(&d, "sip:desk@10.1.1.2"));
    cr_assert(has_contact(&d, "sip:soft@10.1.1.3"));
    cr_assert_not(has_contact(&d, "sip:old@10.1.1.1"));
    for (unsigned i = 0; i < d.n_contacts; i++) {
        uint32_t want = strstr(binding_contact(d.contacts[i].binding), "desk") ? 118 : 58;

        cr_assert_eq(d.contacts[i].expires, want);
    }
    /* A marked request is answered from local state: here, the same. */
    is(decide("1001", true), REDIRECT_LOCAL, "sip1");
}

Test(redirect, owned_here_without_binding_is_480)
{
    start("");
    claim(&a, "1001", DN_SOURCE_TLIB);
    is(decide("1001", false), REDIRECT_UNAVAILABLE, "");
    cr_assert_str_eq(d.reason, "owned here without a live binding");
}

Test(redirect, contacts_are_bounded)
{
    char c[32];

    start("");
    for (int i = 0; i < REDIRECT_MAX_CONTACTS + 8; i++) {
        snprintf(c, sizeof(c), "sip:%d@10.1.1.1", i);
        add_binding(&a, "1001", c, now + 60000);
    }
    claim(&a, "1001", DN_SOURCE_SIP);
    is(decide("1001", false), REDIRECT_LOCAL, "sip1");
    cr_assert_eq(d.n_contacts, REDIRECT_MAX_CONTACTS);
}

Test(redirect, owned_by_reachable_peer_is_forwarded)
{
    char buf[80];

    start("");
    owns(&a, id(&a, "sip2"), "1001");
    link_set(&a, id(&a, "sip2"), true);
    is(decide("1001", false), REDIRECT_FORWARDED, "sip2");
    cr_assert_eq(d.target, id(&a, "sip2"));
    cr_assert_not_null(d.peer);
    cr_assert_str_eq(config_addr_str(&d.peer->sip_address, buf, sizeof(buf)), "10.0.0.2:5060");
    cr_assert_str_eq(d.peer->access_number, "9002");
    cr_assert_eq(d.agent, DN_KEY_NONE);
}

Test(redirect, out_of_service_everywhere_is_480)
{
    start("");
    is(decide("1001", false), REDIRECT_UNAVAILABLE, "");
    cr_assert_str_eq(d.reason, "out of service", "never claimed");
    owns(&a, id(&a, "sip2"), "1002");
    is(decide("1002", false), REDIRECT_UNAVAILABLE, "");
    cr_assert_str_eq(d.reason, "out of service", "its owner's link is down");
    link_set(&a, id(&a, "sip2"), true);
    is(decide("1002", false), REDIRECT_FORWARDED, "sip2");
    owns(&a, DN_NODE_NONE, "1002");
    is(decide("1002", false), REDIRECT_UNAVAILABLE, "");
    cr_assert_str_eq(d.reason, "out of service", "released");
    reg(&a, "1003");
    release_here(&a, "1003");
    is(decide("1003", false), REDIRECT_UNAVAILABLE, "");
}

Test(redirect, peer_without_sip_address_is_never_a_target)
{
    start("");
    owns(&a, id(&a, "sip4"), "1001");
    link_set(&a, id(&a, "sip4"), true);
    is(decide("1001", false), REDIRECT_UNAVAILABLE, "");
    cr_assert_str_eq(d.reason, "owned by a peer without sip-address");
}

/* Loop prevention */

Test(redirect, marked_request_is_never_forwarded_again)
{
    start("");
    owns(&a, id(&a, "sip2"), "1001");
    link_set(&a, id(&a, "sip2"), true);
    is(decide("1001", true), REDIRECT_UNAVAILABLE, "");
    cr_assert_str_eq(d.reason, "forwarded once already, owned by a peer");
    /* Shared line and routing point alike. */
    link_set(&a, id(&a, "sip2"), true);
    is(decide("5000", true), REDIRECT_UNAVAILABLE, "");
    is(decide("7000", true), REDIRECT_UNAVAILABLE, "");
    cr_assert_eq(a.r.decisions[REDIRECT_FORWARDED], 0);
}

/* Two nodes whose stale views each say the other owns the DN: the first
 * forwards, the second answers the marked request locally (480). */
Test(redirect, stale_views_cannot_loop)
{
    start("");
    start_fx(&b, "sip2", "");
    owns(&a, id(&a, "sip2"), "1001");
    link_set(&a, id(&a, "sip2"), true);
    owns(&b, id(&b, "sip1"), "1001");
    link_set(&b, id(&b, "sip1"), true);
    is(decide_fx(&a, "1001", false), REDIRECT_FORWARDED, "sip2");
    is(decide_fx(&b, "1001", true), REDIRECT_UNAVAILABLE, "");
    /* The same for a routing point whose agents each node sees elsewhere. */
    owns(&a, id(&a, "sip2"), "1002");
    owns(&b, id(&b, "sip1"), "1002");
    is(decide_fx(&a, "7000", false), REDIRECT_FORWARDED, "sip2");
    is(decide_fx(&b, "7000", true), REDIRECT_UNAVAILABLE, "");
}

/* dr-forward */

Test(redirect, dr_forward_per_dn_overrides_the_node)
{
    start("");
    link_set(&a, id(&a, "sip2"), true);
    owns(&a, id(&a, "sip2"), "1200"); /* dr-forward = off */
    owns(&a, id(&a, "sip2"), "1201"); /* dr-forward = on */
    is(decide("1200", false), REDIRECT_UNAVAILABLE, "");
    cr_assert_str_eq(d.reason, "dr-forward off, owned by a peer");
    is(decide("1201", false), REDIRECT_FORWARDED, "sip2");
}

Test(redirect, dr_forward_off_on_the_node)
{
    start("dr-forward = off");
    link_set(&a, id(&a, "sip2"), true);
    owns(&a, id(&a, "sip2"), "1001");
    owns(&a, id(&a, "sip2"), "1201");
    reg(&a, "1002");
    is(decide("1001", false), REDIRECT_UNAVAILABLE, "");
    is(decide("1201", false), REDIRECT_FORWARDED, "sip2");
    is(decide("1002", false), REDIRECT_LOCAL, "sip1");
    /* The preferred site of a shared line is not forwarded to either. */
    is(decide("5000", false), REDIRECT_LOCAL, "sip1");
    cr_assert(has_contact(&d, "sip:1002@10.1.1.1:5060"));
}

/* Shared lines */

Test(redirect, shared_line_preferred_site_up_is_forwarded)
{
    start("");
    reg(&a, "1001");
    link_set(&a, id(&a, "sip2"), true);
    is(decide("5000", false), REDIRECT_FORWARDED, "sip2");
    cr_assert_str_eq(d.peer->access_number, "9002");
}

Test(redirect, shared_line_preferred_site_down_gives_local_members)
{
    start("");
    reg(&a, "1001");
    reg(&a, "1002");
    owns(&a, id(&a, "sip3"), "1003");
    link_set(&a, id(&a, "sip3"), true);
    is(decide("5000", false), REDIRECT_LOCAL, "sip1");
    cr_assert_eq(d.n_contacts, 2);
    cr_assert(has_contact(&d, "sip:1001@10.1.1.1:5060"));
    cr_assert(has_contact(&d, "sip:1002@10.1.1.1:5060"));
    cr_assert_eq(d.agent, DN_KEY_NONE);
    /* The site comes back: the next call goes there. */
    link_set(&a, id(&a, "sip2"), true);
    is(decide("5000", false), REDIRECT_FORWARDED, "sip2");
    link_set(&a, id(&a, "sip2"), false);
    is(decide("5000", false), REDIRECT_LOCAL, "sip1");
}

Test(redirect, shared_line_self_unset_or_unknown_site_is_local)
{
    start("");
    link_set(&a, id(&a, "sip2"), true);
    reg(&a, "1001");
    is(decide("5001", false), REDIRECT_LOCAL, "sip1"); /* unset */
    is(decide("5002", false), REDIRECT_LOCAL, "sip1"); /* this node */
    is(decide("5003", false), REDIRECT_LOCAL, "sip1"); /* sip5: no link known */
    cr_assert(has_contact(&d, "sip:1001@10.1.1.1:5060"));
    is(decide("5000", true), REDIRECT_LOCAL, "sip1"); /* marked: local only */
}

Test(redirect, shared_line_without_local_member_is_480)
{
    start("");
    owns(&a, id(&a, "sip3"), "1001");
    link_set(&a, id(&a, "sip3"), true);
    claim(&a, "1002", DN_SOURCE_TLIB); /* owned here, but no Contact to give */
    is(decide("5001", false), REDIRECT_UNAVAILABLE, "");
    cr_assert_str_eq(d.reason, "shared line: no member here");
    is(decide("5000", false), REDIRECT_UNAVAILABLE, ""); /* preferred site sip2 down */
}

/* Routing points */

/* InSrv agents of the group routing point rp serves, at node. */
static uint32_t insrv(const char *rp, uint16_t node)
{
    const struct dn_profile *p = dn_dir_lookup(&a.cfg->dir, key(rp));

    return rp_count_insrv(&a.r.rp, rp_count_group(&a.r.rp, p), &a.t, node);
}

Test(redirect, most_agents_follows_the_counts)
{
    uint16_t sip2, sip3;

    start("");
    sip2 = id(&a, "sip2");
    sip3 = id(&a, "sip3");
    link_set(&a, sip2, true);
    link_set(&a, sip3, true);
    reg(&a, "1001");
    reg(&a, "1002");
    owns(&a, sip2, "1010");
    owns(&a, sip2, "1011");
    owns(&a, sip2, "1012");
    owns(&a, sip3, "1100"); /* of group sales, not 1000-1099 */
    cr_assert_eq(insrv("7000", DN_NODE_SELF), 2);
    cr_assert_eq(insrv("7000", sip2), 3);
    cr_assert_eq(insrv("7000", sip3), 0);
    is(decide("7000", false), REDIRECT_FORWARDED, "sip2");
    cr_assert_str_eq(d.peer->access_number, "9002");

    /* sip2's link goes down: its agents are OOS here, the call stays. */
    link_set(&a, sip2, false);
    cr_assert_eq(insrv("7000", sip2), 0);
    is(decide("7000", false), REDIRECT_LOCAL, "sip1");
    link_set(&a, sip2, true);
    cr_assert_eq(insrv("7000", sip2), 3);
    is(decide("7000", false), REDIRECT_FORWARDED, "sip2");

    /* An agent of sip2 logs out: a tie, which stays here. */
    owns(&a, DN_NODE_NONE, "1012");
    cr_assert_eq(insrv("7000", sip2), 2);
    is(decide("7000", false), REDIRECT_LOCAL, "sip1");

    /* sip3 gets the most; then one of its agents moves here. */
    owns(&a, sip3, "1020");
    owns(&a, sip3, "1021");
    owns(&a, sip3, "1022");
    is(decide("7000", false), REDIRECT_FORWARDED, "sip3");
    reg(&a, "1022");
    reg(&a, "1023");
    cr_assert_eq(insrv("7000", DN_NODE_SELF), 4);
    cr_assert_eq(insrv("7000", sip3), 2);
    is(decide("7000", false), REDIRECT_LOCAL, "sip1");

    /* Everything gone: 480. */
    link_set(&a, sip2, false);
    link_set(&a, sip3, false);
    release_here(&a, "1001");
    release_here(&a, "1002");
    release_here(&a, "1022");
    release_here(&a, "1023");
    cr_assert_eq(insrv("7000", DN_NODE_SELF), 0);
    is(decide("7000", false), REDIRECT_UNAVAILABLE, "");
}

Test(redirect, most_agents_peer_ties_go_to_the_lower_id)
{
    start("");
    link_set(&a, id(&a, "sip2"), true);
    link_set(&a, id(&a, "sip3"), true);
    owns(&a, id(&a, "sip3"), "1001");
    owns(&a, id(&a, "sip2"), "1002");
    is(decide("7000", false), REDIRECT_FORWARDED, "sip2");
    /* A peer without sip-address is never chosen, however many it has. */
    link_set(&a, id(&a, "sip4"), true);
    owns(&a, id(&a, "sip4"), "1003");
    owns(&a, id(&a, "sip4"), "1004");
    is(decide("7000", false), REDIRECT_FORWARDED, "sip2");
}

Test(redirect, local_first_prefers_a_local_agent)
{
    start("");
    link_set(&a, id(&a, "sip2"), true);
    owns(&a, id(&a, "sip2"), "1010");
    owns(&a, id(&a, "sip2"), "1011");
    is(decide("7001", false), REDIRECT_FORWARDED, "sip2");
    reg(&a, "1001");
    is_agent("7001", "1001");
    cr_assert(has_contact(&d, "sip:1001@10.1.1.1:5060"));
    /* An agent owned here through a GWS client has no Contact: skipped. */
    release_here(&a, "1001");
    claim(&a, "1002", DN_SOURCE_TLIB);
    is(decide("7001", false), REDIRECT_FORWARDED, "sip2");
    link_set(&a, id(&a, "sip2"), false);
    is(decide("7001", false), REDIRECT_UNAVAILABLE, "");
    cr_assert_str_eq(d.reason, "routing point: no agent in service");
}

Test(redirect, local_first_offers_least_recently_offered_first)
{
    start("");
    reg(&a, "1001");
    reg(&a, "1002");
    reg(&a, "1003");
    is_agent("7001", "1001");
    is_agent("7001", "1002");
    /* A new agent has never been offered: it comes before those that were. */
    reg(&a, "1004");
    is_agent("7001", "1003");
    is_agent("7001", "1004");
    is_agent("7001", "1001");
    /* One leaves and comes back: it has not been offered since. */
    release_here(&a, "1002");
    reg(&a, "1002");
    is_agent("7001", "1002");
    is_agent("7001", "1003");
    /* Most-agents keeps the call here and rotates through the same order. */
    is_agent("7000", "1004");
    is_agent("7000", "1001");
    /* A binding that expired is not offered; the next agent is. */
    now += 3601 * 1000;
    add_binding(&a, "1003", "sip:1003@10.1.1.9", now + 60000);
    is_agent("7001", "1003");
    is(decide("7001", false), REDIRECT_LOCAL, "sip1");
    cr_assert_eq(d.n_contacts, 1);
    cr_assert(has_contact(&d, "sip:1003@10.1.1.9"));
}

Test(redirect, routing_point_by_group_name)
{
    start("");
    link_set(&a, id(&a, "sip2"), true);
    reg(&a, "1001"); /* not of sales */
    owns(&a, id(&a, "sip2"), "1150");
    is(decide("7002", false), REDIRECT_FORWARDED, "sip2");
    reg(&a, "1199");
    is_agent("7002", "1199");
    is_agent("7002", "1199");
}

Test(redirect, routing_point_local_only_when_marked_or_dr_forward_off)
{
    start("");
    link_set(&a, id(&a, "sip2"), true);
    owns(&a, id(&a, "sip2"), "1010");
    is(decide("7003", false), REDIRECT_UNAVAILABLE, "");
    cr_assert_str_eq(d.reason, "routing point: no agent here");
    is(decide("7000", true), REDIRECT_UNAVAILABLE, "");
    reg(&a, "1001");
    is_agent("7003", "1001");
    is(decide("7000", true), REDIRECT_LOCAL, "sip1");
}

Test(redirect, counts_are_idempotent_and_rebuilt_from_the_table)
{
    struct dn_change c;

    start("");
    link_set(&a, id(&a, "sip2"), true);
    reg(&a, "1001");
    owns(&a, id(&a, "sip2"), "1010");
    /* The same change heard twice (a sweep, a change published after a
     * rebuild saw it) is counted once. */
    c = (struct dn_change){.key = key("1010"), .owner = id(&a, "sip2")};
    publish(&a, &c);
    c = (struct dn_change){.key = key("1001"), .owner = DN_NODE_SELF};
    publish(&a, &c);
    cr_assert_eq(insrv("7000", DN_NODE_SELF), 1);
    cr_assert_eq(insrv("7000", id(&a, "sip2")), 1);
    /* Changes to DNs that are no agent are ignored. */
    c = (struct dn_change){.key = key("7000"), .owner = DN_NODE_SELF};
    publish(&a, &c);
    c = (struct dn_change){.key = key("9999"), .owner = DN_NODE_SELF};
    publish(&a, &c);
    /* A redirect started late counts what the table holds. */
    redirect_free(&a.r);
    cr_assert_eq(redirect_init(&a.r, a.cfg, &a.t, &a.bs), 0);
    a.r.now_ms = clock_now;
    cr_assert_eq(insrv("7000", DN_NODE_SELF), 1);
    cr_assert_eq(insrv("7000", id(&a, "sip2")), 1);
    is_agent("7001", "1001");
}

/* Reload, metrics */

static const char dns2[] = "[dn 1000-1099]\ngroup = support\n"
                           "[dn 1100-1199]\ngroup = sales\n"
                           "[dn 7000]\ntype = routing-point\ngroup = sales\n"
                           "distribution = local-first\n"
                           "[dn 7001]\ntype = routing-point\ngroup = support\n";

Test(redirect, reload_takes_effect_for_the_next_call)
{
    struct config *old = a.cfg;

    start("");
    old = a.cfg;
    link_set(&a, id(&a, "sip2"), true);
    reg(&a, "1001");
    reg(&a, "1101");
    owns(&a, id(&a, "sip2"), "1150");
    owns(&a, id(&a, "sip2"), "1151");
    owns(&a, id(&a, "sip2"), "1010");
    is_agent("7000", "1001");
    is(decide("1201", false), REDIRECT_UNAVAILABLE, "");

    a.cfg = load("sip1", "", dns2);
    cr_assert_geq(dn_table_reload(&a.t, &a.cfg->dir), 0);
    cr_assert_eq(redirect_reload(&a.r, a.cfg), 0);
    config_free(old);
    /* 7000 now serves sales, local-first; 7001 support, most-agents. */
    is_agent("7000", "1101");
    is_agent("7001", "1001");
    is(decide("1201", false), REDIRECT_NOT_FOUND, "");
    is(decide("7002", false), REDIRECT_NOT_FOUND, "");
    owns(&a, id(&a, "sip2"), "1011");
    is(decide("7001", false), REDIRECT_FORWARDED, "sip2");
    cr_assert_eq(a.r.decisions[REDIRECT_LOCAL], 3, "counters survive a reload");
}

/* One entry per DN for the table and the bindings: a reload that drops a
 * DN with a binding here keeps its entry, idle to the table, for the
 * binding; one without goes, and the entry moved into its place keeps
 * its bindings. */
Test(redirect, reload_keeps_the_bindings_of_dropped_dns)
{
    struct config *old;
    struct binding *b;
    size_t tracked;

    start("");
    old = a.cfg;
    owns(&a, id(&a, "sip2"), "1201"); /* dropped, no binding: removed */
    reg(&a, "1200");                  /* dropped, a binding: kept, idle */
    reg(&a, "1001");
    reg(&a, "1002"); /* the last entry: moves into 1201's place */
    tracked = dn_table_tracked(&a.t);
    cr_assert_eq(dn_table_count(&a.t), tracked);
    a.cfg = load("sip1", "", dns2);
    cr_assert_eq(dn_table_reload(&a.t, &a.cfg->dir), 2);
    cr_assert_eq(redirect_reload(&a.r, a.cfg), 0);
    config_free(old);
    cr_assert_null(dn_table_get(&a.t, key("1200")));
    cr_assert_null(dn_table_get(&a.t, key("1201")));
    cr_assert_eq(dn_table_tracked(&a.t), tracked - 2);
    cr_assert_eq(dn_table_count(&a.t), tracked - 1, "1200's entry stays for its binding");
    b = bindings_find(&a.bs, key("1200"), "sip:1200@10.1.1.1:5060", 22);
    cr_assert_not_null(b);
    cr_assert_eq(binding_dn(&a.bs, b), key("1200"));
    b = bindings_find(&a.bs, key("1002"), "sip:1002@10.1.1.1:5060", 22);
    cr_assert_not_null(b);
    cr_assert_eq(binding_dn(&a.bs, b), key("1002"), "the tail follows the moved entry");
    cr_assert_eq(dn_table_get(&a.t, key("1002"))->owner, DN_NODE_SELF);
    is(decide("1002", false), REDIRECT_LOCAL, "sip1");
    /* A second reload drops nothing more. */
    cr_assert_eq(dn_table_reload(&a.t, &a.cfg->dir), 0);
}

Test(redirect, metrics_count_outcomes)
{
    struct tc_buf buf = TC_BUF_INIT;

    start("");
    reg(&a, "1001");
    decide("1001", false);
    decide("1001", false);
    decide("1002", false);
    decide("9999", false);
    cr_assert_eq(redirect_metrics(&a.r, &buf), 0);
    cr_assert_not_null(strstr(buf.data, "# TYPE tcluster_redirect_decisions_total counter\n"));
    cr_assert_not_null(strstr(buf.data, "tcluster_redirect_decisions_total{outcome=\"local\"} 2\n"));
    cr_assert_not_null(strstr(buf.data, "tcluster_redirect_decisions_total{outcome=\"forwarded\"} 0\n"));
    cr_assert_not_null(strstr(buf.data, "tcluster_redirect_decisions_total{outcome=\"not_found\"} 1\n"));
    cr_assert_not_null(strstr(buf.data, "tcluster_redirect_decisions_total{outcome=\"forbidden\"} 0\n"));
    cr_assert_not_null(
            strstr(buf.data, "tcluster_redirect_decisions_total{outcome=\"unavailable\"} 1\n"));
    cr_assert_str_eq(redirect_outcome_name(REDIRECT_FORWARDED), "forwarded");
    tc_buf_free(&buf);
}
