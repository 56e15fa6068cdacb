/* TC port queries for operators (tcctl): nodes, one DN, DN lists and the
 * summary. Each answer carries the request's ref_id. A DN list is streamed
 * a chunk at a time while the client's output has room. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/core.h"
#include "tcport/cluster_view.h"
#include "tcport/dn_event.h"
#include "tcport/tc_port_int.h"

static void answer_unknown_dn(struct tc_client *cl, uint32_t ref_id)
{
    conn_send_error(cl->c, ref_id, TC__ERROR_CODE__ERROR_UNKNOWN_DN, "unknown DN",
                    CONN_REFUSED_OTHER);
}

void tc_port__query_nodes(struct tc_client *cl, uint32_t ref_id)
{
    struct cluster_view_nodes v;
    Tc__Event ev = TC__EVENT__INIT;

    cluster_view_nodes(&v, cl->p->cfg, cl->p->core->table, cl->p->epoch);
    ev.ref_id = ref_id;
    ev.body_case = TC__EVENT__BODY_NODE_INFO;
    ev.node_info = &v.msg;
    conn_send(cl->c, &ev);
}

/* Parse a DN of the directory. */
static bool lookup(const struct tc_client *cl, const char *dn, dn_key *k)
{
    return dn != NULL && dn_key_parse(dn, strlen(dn), k) == 0 &&
           dn_dir_contains(cl->p->core->table->dir, *k);
}

void tc_port__query_dn(struct tc_client *cl, uint32_t ref_id, const Tc__QueryDn *q)
{
    Tc__Event ev = TC__EVENT__INIT;
    union dn_event_body body;
    struct cluster_view_dn v;
    dn_key k;

    if (!lookup(cl, q->dn, &k)) {
        answer_unknown_dn(cl, ref_id);
        return;
    }
    cluster_view_dn(&v, cl->p->core, k);
    ev.ref_id = ref_id;
    dn_event_set(&ev, &body, DN_EVENT_INFO, &v.s.st);
    conn_send(cl->c, &ev);
    cluster_view_dn_free(&v);
}

void tc_port__query_summary(struct tc_client *cl, uint32_t ref_id)
{
    struct cluster_view_summary v;
    Tc__Event ev = TC__EVENT__INIT;

    cluster_view_summary(&v, cl->p->core->table);
    ev.ref_id = ref_id;
    ev.body_case = TC__EVENT__BODY_SUMMARY;
    ev.summary = &v.msg;
    conn_send(cl->c, &ev);
}

static void query_end(struct tc_client *cl)
{
    Tc__Event ev = TC__EVENT__INIT;
    Tc__EventQueryEnd end = TC__EVENT_QUERY_END__INIT;

    end.count = cl->q.count;
    end.truncated = cl->q.more > 0;
    end.more = cl->q.more;
    ev.ref_id = cl->q.ref_id;
    ev.body_case = TC__EVENT__BODY_QUERY_END;
    ev.query_end = &end;
    conn_send(cl->c, &ev);
    cl->q.active = false;
    if (cl->mode == TC_SUB_NONE)
        conn_idle(cl->c, true);
}

void tc_port__query_dns_start(struct tc_client *cl, uint32_t ref_id, const Tc__QueryDns *q)
{
    const struct dn_table *t = cl->p->core->table;

    if (cl->q.active) {
        conn_send_error(cl->c, ref_id, TC__ERROR_CODE__ERROR_BUSY,
                        "a DN query is already running on this connection", CONN_REFUSED_OTHER);
        return;
    }
    memset(&cl->q, 0, sizeof(cl->q));
    cl->q.active = true;
    cl->q.ref_id = ref_id;
    cl->q.next = 1;
    cl->q.limit = q->limit;
    cl->q.any_state = q->any_state;
    cl->q.state = q->state == TC__DN_STATUS__DN_STATUS_INSRV ? DN_INSRV : DN_OOS;
    cl->q.owner = -1;
    if (q->owner != NULL && q->owner[0] != '\0') {
        cl->q.owner = dn_table_node_id(t, q->owner);
        if (cl->q.owner == DN_NODE_NONE) {
            /* No node of that name owns anything. */
            query_end(cl);
            return;
        }
    }
    /* It runs for a while: the idle timer must not cut it. */
    conn_idle(cl->c, false);
    tc_port__pump(cl);
}

static bool matches(const struct tc_query_dns *q, const struct dn_table *t, dn_key k)
{
    const struct dn_entry *e;

    if (q->owner >= 0) {
        e = dn_table_get(t, k);
        if (e == NULL || e->owner != q->owner)
            return false;
    }
    return q->any_state || dn_table_status(t, k) == q->state;
}

unsigned tc_port__query_dns_step(struct tc_client *cl, unsigned budget)
{
    const struct dn_table *t = cl->p->core->table;
    struct tc_query_dns *q = &cl->q;

    while (budget > 0 && conn_writable(cl->c)) {
        dn_key hi, k = dn_event_dir_from(t->dir, q->next, &hi);

        if (k == DN_KEY_NONE) {
            query_end(cl);
            return budget;
        }
        for (; k <= hi && budget > 0 && conn_writable(cl->c); k++, budget--) {
            Tc__Event ev = TC__EVENT__INIT;
            union dn_event_body body;
            struct dn_event_state s;

            if (!matches(q, t, k))
                continue;
            if (q->limit != 0 && q->count == q->limit) {
                /* Past the limit: counted, so the operator learns how many
                 * more there are; the budget keeps the scan in chunks. */
                q->more++;
                continue;
            }
            dn_event_current(&s, t, k);
            ev.ref_id = q->ref_id;
            dn_event_set(&ev, &body, DN_EVENT_INFO, &s.st);
            conn_send(cl->c, &ev);
            q->count++;
        }
        q->next = k;
    }
    return budget;
}
