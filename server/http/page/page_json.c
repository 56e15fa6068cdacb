/* The live page's JSON: the objects tcctl --json writes (shared through
 * tcport/cluster_view.c and client/tcclient_fmt.c), with what the page
 * adds - link since, the feed items' type and sequence. 64-bit values
 * are strings. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "client/tcclient_fmt.h"
#include "server/base/clock.h"
#include "server/config/config.h"
#include "server/http/page/page_int.h"
#include "tcport/call_event.h"
#include "tcport/cluster_view.h"
#include "tcport/dn_event.h"

/* ,"NAME":"ISO","NAME_unix_ms":"N" */
static int put_time(struct tc_buf *b, const char *name, uint64_t ms)
{
    char iso[TCCLIENT_TIME_MAX];

    return tc_buf_printf(b, ",\"%s\":\"%s\",\"%s_unix_ms\":\"%" PRIu64 "\"", name,
                         tcclient_iso8601(ms, iso, sizeof(iso)), name, ms);
}

static int put_nodes(struct tc_buf *b, const struct page *p)
{
    const struct dn_table *t = p->core->table;
    struct cluster_view_nodes v;
    int rc;

    cluster_view_nodes(&v, p->cfg, t, p->started_ms);
    rc = tc_buf_puts(b, "\"nodes\":[");
    for (size_t i = 0; rc == 0 && i < v.msg.n_nodes; i++) {
        rc = tc_buf_puts(b, i > 0 ? ",{" : "{");
        if (rc == 0)
            rc = tcclient_json_node(b, v.ptrs[i]);
        if (rc == 0)
            rc = tc_buf_puts(b, "}");
    }
    if (rc == 0)
        rc = tc_buf_puts(b, "]");
    return rc;
}

int page__json_state(struct tc_buf *b, const struct page *p)
{
    struct cluster_view_summary v;
    int rc;

    cluster_view_summary(&v, p->core->table);
    rc = tc_buf_puts(b, "{\"self\":");
    if (rc == 0)
        rc = tcclient_json_str(b, p->cfg->name);
    if (rc == 0)
        rc = put_time(b, "time", tc_now_ms());
    if (rc == 0)
        rc = tc_buf_printf(b, ",\"seq\":\"%" PRIu64 "\",", p->core->seq);
    if (rc == 0)
        rc = put_nodes(b, p);
    if (rc == 0)
        rc = tc_buf_puts(b, ",\"summary\":{");
    if (rc == 0)
        rc = tcclient_json_summary(b, &v.msg);
    if (rc == 0)
        rc = tc_buf_puts(b, "}}");
    return rc;
}

/* What a change did, in a word for the feed. */
static const char *change_what(const struct dn_change *c)
{
    if (c->owner != c->old_owner)
        return c->owner == DN_NODE_NONE ? "released" : "claimed";
    if (c->status != c->old_status)
        return c->status == DN_INSRV ? "back-in-service" : "out-of-service";
    return "changed";
}

int page__json_change(struct tc_buf *b, const struct page *p, const struct dn_change *c,
                      uint64_t seq)
{
    const struct dn_table *t = p->core->table;
    struct dn_event_state s;
    int rc;

    dn_event_change(&s, t, c);
    rc = tc_buf_printf(b, "{\"type\":\"dn\",\"seq\":\"%" PRIu64 "\",\"what\":\"%s\",", seq,
                       change_what(c));
    if (rc == 0)
        rc = tcclient_json_dn(b, &s.st, 0);
    if (rc == 0)
        rc = tc_buf_puts(b, ",\"old_owner\":");
    if (rc == 0)
        rc = tcclient_json_str(b, c->old_owner != DN_NODE_NONE ? dn_table_node_name(t, c->old_owner)
                                                               : NULL);
    if (rc == 0)
        rc = tc_buf_printf(b, ",\"old_status\":\"%s\"",
                           c->old_status == DN_INSRV ? "insrv" : "oos");
    /* When it was published here: since is the claim's time. */
    if (rc == 0)
        rc = put_time(b, "time", tc_now_ms());
    if (rc == 0)
        rc = tc_buf_puts(b, "}");
    return rc;
}

int page__json_link(struct tc_buf *b, const struct page *p, uint16_t node, bool up, uint64_t seq,
                    uint64_t now_ms)
{
    int rc = tc_buf_printf(b, "{\"type\":\"link\",\"seq\":\"%" PRIu64 "\",\"node\":", seq);

    if (rc == 0)
        rc = tcclient_json_str(b, dn_table_node_name(p->core->table, node));
    if (rc == 0)
        rc = tc_buf_printf(b, ",\"up\":%s", up ? "true" : "false");
    if (rc == 0)
        rc = put_time(b, "time", now_ms);
    if (rc == 0)
        rc = tc_buf_puts(b, "}");
    return rc;
}

int page__json_call(struct tc_buf *b, const struct page *p, const struct core_call *call,
                    uint64_t seq)
{
    struct call_event e;
    int rc;

    call_event_fill(&e, p->core->table, call);
    rc = tc_buf_printf(b, "{\"type\":\"call\",\"seq\":\"%" PRIu64 "\",", seq);
    if (rc == 0)
        rc = tcclient_json_call(b, &e.pb);
    if (rc == 0)
        rc = tc_buf_puts(b, "}");
    return rc;
}

/* --- search --- */

/* The value of q in a raw query string (borrowed; *len bytes), or NULL. */
static const char *query_q(const char *query, size_t *len)
{
    const char *s = query;

    while (s != NULL && *s != '\0') {
        const char *end = strchr(s, '&');
        size_t n = end != NULL ? (size_t)(end - s) : strlen(s);

        if (n >= 2 && s[0] == 'q' && s[1] == '=') {
            *len = n - 2;
            return s + 2;
        }
        s = end != NULL ? end + 1 : NULL;
    }
    return NULL;
}

static int search_error(struct tc_buf *b, int status, const char *why)
{
    tc_buf_reset(b);
    if (tc_buf_puts(b, "{\"error\":") != 0 || tcclient_json_str(b, why) != 0 ||
        tc_buf_puts(b, "}") != 0)
        return 500;
    return status;
}

static int put_dn(struct tc_buf *b, const struct page *p, dn_key k, bool first)
{
    struct cluster_view_dn v;
    const struct dn_entry *e = dn_table_get(p->core->table, k);
    int rc;

    cluster_view_dn(&v, p->core, k);
    rc = tc_buf_puts(b, first ? "{" : ",{");
    if (rc == 0)
        rc = tcclient_json_dn(b, &v.s.st, 1);
    /* Only the owner holds the contacts: say whether these are they. */
    if (rc == 0)
        rc = tc_buf_printf(b, ",\"bindings_here\":%s}",
                           e != NULL && e->owner == DN_NODE_SELF ? "true" : "false");
    cluster_view_dn_free(&v);
    return rc;
}

/* Parse "DN" or "FIRST-LAST" (len bytes at q) into lo and hi. */
static bool parse_range(const char *q, size_t len, dn_key *lo, dn_key *hi)
{
    const char *dash = memchr(q, '-', len);

    if (dash == NULL)
        return dn_key_parse(q, len, lo) == 0 && (*hi = *lo, true);
    return dn_key_parse(q, (size_t)(dash - q), lo) == 0 &&
           dn_key_parse(dash + 1, len - (size_t)(dash - q) - 1, hi) == 0 && *lo <= *hi;
}

int page__json_search(struct tc_buf *b, const struct page *p, const char *query)
{
    const struct dn_dir *dir = p->core->table->dir;
    size_t len = 0, n = 0;
    const char *q = query_q(query, &len);
    dn_key lo, hi, k, range_hi;
    char text[2 * DN_DIR_MAX_DIGITS + 2];
    int rc;

    if (q == NULL || len == 0 || len >= sizeof(text) || !parse_range(q, len, &lo, &hi))
        return search_error(b, 400, "q must be a DN or FIRST-LAST");
    if (lo == hi && !dn_dir_contains(dir, lo))
        return search_error(b, 404, "not a DN of the directory");
    text[len] = '\0';
    rc = tc_buf_puts(b, "{\"query\":");
    if (rc == 0)
        rc = tcclient_json_str(b, memcpy(text, q, len));
    if (rc == 0)
        rc = tc_buf_puts(b, ",\"dns\":[");
    k = dn_event_dir_from(dir, lo, &range_hi);
    while (rc == 0 && k != DN_KEY_NONE && k <= hi && n < PAGE_SEARCH_MAX) {
        rc = put_dn(b, p, k, n == 0);
        n++;
        k = k < range_hi ? k + 1 : dn_event_dir_from(dir, range_hi + 1, &range_hi);
    }
    if (rc == 0)
        rc = tc_buf_printf(b, "],\"truncated\":%s}",
                           k != DN_KEY_NONE && k <= hi && n == PAGE_SEARCH_MAX ? "true" : "false");
    return rc == 0 ? 200 : 500;
}
