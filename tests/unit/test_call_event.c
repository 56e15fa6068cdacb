/* Call events from the core to the client ports: core_call() hands each
 * listener the call with the node's next sequence number, and
 * tcport/call_event.c describes it as EventCallDelivered, which goes
 * through the client ports' framing intact. */
#include <criterion/criterion.h>
#include <string.h>
#include <uv.h>

#include "server/core/core.h"
#include "tcport/call_event.h"
#include "tcport/frame.h"
#include "tests/tc_test.h"

static struct dn_dir dir;
static struct dn_table t;
static uv_loop_t loop;
static struct core core;

static void setup(void)
{
    struct dn_profile p = {.type = DN_TYPE_EXTENSION};

    dn_dir_init(&dir);
    cr_assert_geq(dn_dir_add_profile(&dir, &p), 0);
    cr_assert_eq(dn_dir_add_range(&dir, "1000-1999", 0, 1), 0);
    cr_assert_eq(dn_dir_finish(&dir, NULL, NULL), 0);
    cr_assert_eq(dn_table_init(&t, &dir, "sip1"), 0);
    cr_assert_eq(dn_table_add_node(&t, "sip2"), 2);
    cr_assert_eq(uv_loop_init(&loop), 0);
    /* No store: a call is never stored. */
    cr_assert_eq(core_init(&core, &loop, &t, NULL, 16), 0);
}

static void teardown(void)
{
    core_close(&core);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    dn_table_free(&t);
    dn_dir_free(&dir);
    tc_test_leak_check();
}

TestSuite(call_event, .init = setup, .fini = teardown);

static dn_key key(const char *s)
{
    dn_key k;

    cr_assert_eq(dn_key_parse(s, strlen(s), &k), 0);
    return k;
}

/* What a listener heard. */
struct heard {
    unsigned calls, links;
    uint64_t seq[4];
    char call_id[64];
    uint16_t origin;
};

static void on_call(void *arg, const struct core_call *call, uint64_t seq)
{
    struct heard *h = arg;

    h->seq[h->calls++ % 4] = seq;
    snprintf(h->call_id, sizeof(h->call_id), "%s", call->call_id);
    h->origin = call->origin;
}

static void on_link(void *arg, uint16_t node, bool up, uint64_t seq)
{
    struct heard *h = arg;

    (void)node;
    (void)up;
    (void)seq;
    h->links++;
}

Test(call_event, core_call_reaches_every_listener_with_the_next_seq)
{
    struct heard a = {0}, b = {0};
    struct core_listener la = {.on_call = on_call, .arg = &a};
    struct core_listener lb = {.on_call = on_call, .on_link = on_link, .arg = &b};
    struct core_listener deaf = {.on_link = on_link, .arg = &b}; /* no on_call: skipped */
    struct core_call call = {.call_id = "c1@x",
                             .dn = key("1002"),
                             .code = 302,
                             .outcome = "local",
                             .origin = DN_NODE_SELF};
    uint64_t seq0 = core.seq;

    cr_assert_eq(core_listen(&core, &la), 0);
    cr_assert_eq(core_listen(&core, &lb), 0);
    cr_assert_eq(core_listen(&core, &deaf), 0);
    core_call(&core, &call);
    call.call_id = "c2@x";
    call.origin = 2;
    core_call(&core, &call);
    cr_assert_eq(a.calls, 2);
    cr_assert_eq(b.calls, 2);
    cr_assert_eq(a.seq[0], seq0 + 1);
    cr_assert_eq(a.seq[1], seq0 + 2, "calls take sequence numbers like changes");
    cr_assert_eq(b.seq[1], a.seq[1], "every listener hears the same number");
    cr_assert_str_eq(a.call_id, "c2@x");
    cr_assert_eq(a.origin, 2);
    cr_assert_eq(core.seq, seq0 + 2);
    cr_assert_eq(core.calls, 2);
    cr_assert_eq(b.links, 0);
}

/* Pack ev as a client-port frame and read it back. */
static Tc__Event *frame_round_trip(const Tc__Event *ev, struct tc_buf *b)
{
    const uint8_t *payload;
    uint32_t plen;

    cr_assert_eq(frame_pack(b, &ev->base), 0);
    cr_assert_eq(frame_next((uint8_t *)b->data, b->len, FRAME_DEFAULT_MAX, &payload, &plen),
                 FRAME_READY);
    cr_assert_eq(FRAME_HEADER + plen, b->len);
    return tc__event__unpack(NULL, plen, payload);
}

Test(call_event, forwarded_call_frames_with_names_and_call_type)
{
    struct core_call call = {
            .call_id = "a84b4c76e66710@pc33",
            .dn = key("1002"),
            .code = 302,
            .outcome = "forwarded",
            .origin = DN_NODE_SELF,
            .target = 2,
            .contact = "sip:1002@127.0.0.1:15020;tc-fwd=sip1",
            .other_dn = "9002",
            .outbound = true,
            .time_ms = 1700000000123,
    };
    Tc__Event ev = TC__EVENT__INIT;
    struct tc_buf b = TC_BUF_INIT;
    struct call_event e;
    Tc__Event *got;
    const Tc__EventCallDelivered *c;

    call_event_fill(&e, &t, &call);
    ev.seq = 42;
    call_event_set(&ev, &e);
    got = frame_round_trip(&ev, &b);
    cr_assert_not_null(got);
    cr_assert_eq(got->seq, 42);
    cr_assert_eq(got->body_case, TC__EVENT__BODY_CALL_DELIVERED);
    c = got->call_delivered;
    cr_assert_str_eq(c->call_id, call.call_id);
    cr_assert_str_eq(c->dn, "1002");
    cr_assert_eq(c->code, 302);
    cr_assert_str_eq(c->outcome, "forwarded");
    cr_assert_str_eq(c->origin, "sip1");
    cr_assert_str_eq(c->target, "sip2");
    cr_assert_str_eq(c->contact, call.contact);
    cr_assert_str_eq(c->other_dn, "9002");
    cr_assert_eq(c->call_type, TC__CALL_TYPE__CALL_TYPE_OUTBOUND);
    cr_assert_eq(c->time_unix_ms, 1700000000123);
    tc__event__free_unpacked(got, NULL);
    tc_buf_free(&b);
}

Test(call_event, refused_call_has_no_dn_target_or_contact)
{
    struct core_call call = {.call_id = "x",
                             .dn = DN_KEY_NONE,
                             .code = 404,
                             .outcome = "not_found",
                             .origin = 2,
                             .target = DN_NODE_NONE};
    Tc__Event ev = TC__EVENT__INIT;
    struct tc_buf b = TC_BUF_INIT;
    struct call_event e;
    Tc__Event *got;

    call_event_fill(&e, &t, &call);
    call_event_set(&ev, &e);
    got = frame_round_trip(&ev, &b);
    cr_assert_not_null(got);
    cr_assert_str_eq(got->call_delivered->dn, "");
    cr_assert_str_eq(got->call_delivered->origin, "sip2");
    cr_assert_str_eq(got->call_delivered->target, "");
    cr_assert_str_eq(got->call_delivered->contact, "");
    cr_assert_eq(got->call_delivered->call_type, TC__CALL_TYPE__CALL_TYPE_INBOUND);
    tc__event__free_unpacked(got, NULL);
    tc_buf_free(&b);
}

Test(call_event, outcome_labels_are_safe_for_metrics)
{
    char buf[CALL_EVENT_OUTCOME_MAX + 1];
    char longer[CALL_EVENT_OUTCOME_MAX + 2];

    cr_assert_str_eq(call_event_outcome_label("not_found", buf), "not_found");
    cr_assert_str_eq(call_event_outcome_label("", buf), "other");
    cr_assert_str_eq(call_event_outcome_label(NULL, buf), "other");
    cr_assert_str_eq(call_event_outcome_label("a\"b", buf), "other");
    cr_assert_str_eq(call_event_outcome_label("Local", buf), "other");
    memset(longer, 'a', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    cr_assert_str_eq(call_event_outcome_label(longer, buf), "other");
    longer[CALL_EVENT_OUTCOME_MAX] = '\0';
    cr_assert_str_eq(call_event_outcome_label(longer, buf), longer);
}
