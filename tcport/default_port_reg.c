/* Default port registrations (DESIGN §3, §5). A GWS client's
 * RegisterAddress claims the DN for this node (source tlib) and is answered
 * once the claim is durable; its UnregisterAddress or its disconnection
 * releases the claim, unless another GWS client still holds one. Other
 * clients' registrations subscribe to the DN's local status: InSrv only
 * while this node owns it. A client that does not read has its status
 * changes coalesced per DN and sent once it reads again. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/base/log.h"
#include "server/base/tc_err.h"
#include "server/config/config.h"
#include "server/core/core.h"
#include "tcport/default_port_int.h"
#include "tcport/dn_event.h"
#include "tcport/frame.h"

static void count_reg(struct default_port *p, enum dp_reg_state s, int d)
{
    if (s == DP_REG_SUBSCRIBED)
        p->n_subscribed += (uint64_t)(int64_t)d;
    else
        p->n_claimed += (uint64_t)(int64_t)d;
}

static struct dp_reg *find_reg(const struct dp_client *cl, dn_key k)
{
    for (struct dp_reg *r = default_port__regs_of(cl->p, k); r != NULL; r = r->key_next) {
        if (r->cl == cl)
            return r;
    }
    return NULL;
}

/* A GWS claim on k held by a registration other than except. */
static bool other_claim(const struct default_port *p, dn_key k, const struct dp_reg *except)
{
    for (struct dp_reg *r = default_port__regs_of(p, k); r != NULL; r = r->key_next) {
        if (r != except && r->state != DP_REG_SUBSCRIBED)
            return true;
    }
    return false;
}

static struct dp_reg *reg_new(struct dp_client *cl, dn_key k, enum dp_reg_state s)
{
    struct dp_reg *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    r->key = k;
    r->state = s;
    r->cl = cl;
    if (default_port__idx_add(cl->p, r) != 0) {
        free(r);
        return NULL;
    }
    r->cl_next = cl->regs;
    if (cl->regs != NULL)
        cl->regs->cl_prev = r;
    cl->regs = r;
    cl->n_regs++;
    count_reg(cl->p, s, 1);
    return r;
}

static void reg_set_state(struct dp_reg *r, enum dp_reg_state s)
{
    count_reg(r->cl->p, r->state, -1);
    r->state = s;
    count_reg(r->cl->p, s, 1);
}

static void reg_free(struct dp_reg *r)
{
    struct dp_client *cl = r->cl;

    default_port__idx_del(cl->p, r);
    if (r->cl_prev != NULL)
        r->cl_prev->cl_next = r->cl_next;
    else
        cl->regs = r->cl_next;
    if (r->cl_next != NULL)
        r->cl_next->cl_prev = r->cl_prev;
    cl->n_regs--;
    count_reg(cl->p, r->state, -1);
    free(r);
}

/* --- releases --- */

/* Release k if this node owns it by a tlib claim no GWS client holds any
 * more. Returns 1 when released (or queued for a retry), 0 when there is
 * nothing to release, -EBUSY when the store queue is full (k waits in
 * p->releases). */
static void on_done(void *arg, int status, const struct dn_change *c);

/* Retry the release of k after DP_RETRY_MS. */
static void release_later(struct default_port *p, dn_key k)
{
    coalesce_add(&p->releases, k, 0);
    if (!uv_is_active((uv_handle_t *)&p->retry))
        uv_timer_start(&p->retry, default_port__retry, DP_RETRY_MS, 0);
}

static int release_if_unclaimed(struct default_port *p, dn_key k)
{
    const struct dn_entry *e = dn_table_get(p->core->table, k);
    struct dp_wait *w;
    int rc;

    if (p->stopping || e == NULL || e->owner != DN_NODE_SELF || e->source != DN_SOURCE_TLIB ||
        other_claim(p, k, NULL))
        return 0;
    /* No client waits; on_done() retries it should the store refuse it. */
    w = calloc(1, sizeof(*w));
    rc = w != NULL ? core_release(p->core, k, on_done, w) : -ENOMEM;
    if (rc == 0) {
        *w = (struct dp_wait){.p = p, .key = k};
        p->n_waits++;
        p->st.releases++;
        return 1;
    }
    free(w);
    if (rc == -EBUSY) {
        release_later(p, k);
        return -EBUSY;
    }
    tc_log(WARN, "default port: releasing a tlib claim: %s", tc_strerror(rc));
    return 0;
}

void default_port__retry(uv_timer_t *t)
{
    struct default_port *p = t->data;
    dn_key k;

    while (coalesce_pop(&p->releases, &k, NULL)) {
        if (release_if_unclaimed(p, k) == -EBUSY)
            return;
    }
}

/* --- answers --- */

static void send_state(struct dp_client *cl, uint32_t ref_id, enum dn_event_kind kind,
                       struct dn_event_state *s)
{
    Tc__Event ev = TC__EVENT__INIT;
    union dn_event_body body;

    ev.ref_id = ref_id;
    dn_event_set(&ev, &body, kind, &s->st);
    conn_send(cl->c, &ev);
}

static void send_current(struct dp_client *cl, uint32_t ref_id, enum dn_event_kind kind, dn_key k)
{
    struct dn_event_state s;

    dn_event_local(&s, cl->p->core->table, k);
    send_state(cl, ref_id, kind, &s);
}

static void send_error(struct dp_client *cl, uint32_t ref_id, Tc__ErrorCode code, const char *text)
{
    conn_send_error(cl->c, ref_id, code, text, CONN_REFUSED_OTHER);
}

static void send_rc(struct dp_client *cl, uint32_t ref_id, int rc)
{
    if (rc == TC_EUNKNOWN_DN)
        send_error(cl, ref_id, TC__ERROR_CODE__ERROR_UNKNOWN_DN, "unknown DN");
    else if (rc == -EBUSY)
        send_error(cl, ref_id, TC__ERROR_CODE__ERROR_BUSY, "store queue full, try later");
    else if (rc == -ENOMEM)
        send_error(cl, ref_id, TC__ERROR_CODE__ERROR_BUSY, "out of memory");
    else
        send_error(cl, ref_id, TC__ERROR_CODE__ERROR_STORE, tc_strerror(rc));
}

static bool lookup(const struct dp_client *cl, const char *dn, dn_key *k)
{
    return dn != NULL && dn_key_parse(dn, strlen(dn), k) == 0 &&
           dn_dir_contains(cl->p->core->table->dir, *k);
}

/* --- claims and releases on their way to the disk --- */

static void on_done(void *arg, int status, const struct dn_change *c)
{
    struct dp_wait *w = arg;
    struct default_port *p = w->p;
    struct dp_client *cl = w->cl;
    struct dn_event_state s;
    struct dp_reg *r;

    p->n_waits--;
    if (cl != NULL) {
        if (w->prev != NULL)
            w->prev->next = w->next;
        else
            cl->waits = w->next;
        if (w->next != NULL)
            w->next->prev = w->prev;
    }
    if (w->claim && status == 0)
        p->st.claims_ok++;
    else if (w->claim)
        p->st.claims_failed++;
    r = cl != NULL ? find_reg(cl, w->key) : NULL;
    if (w->claim && r != NULL && r->state == DP_REG_CLAIMING) {
        if (status == 0)
            reg_set_state(r, DP_REG_CLAIMED);
        else
            reg_free(r);
    } else if (w->claim && status == 0 && r == NULL) {
        /* The client went, or unregistered, while its claim was written. */
        release_if_unclaimed(p, w->key);
    } else if (!w->claim && status != 0 && !p->stopping) {
        /* The store refused the release and the core undid it: the DN is
         * owned here again with no client holding the claim. */
        release_later(p, w->key);
    }
    if (cl != NULL && status != 0) {
        send_rc(cl, w->ref_id, status);
    } else if (cl != NULL) {
        dn_event_local_change(&s, p->core->table, c);
        send_state(cl, w->ref_id, w->claim ? DN_EVENT_REGISTERED : DN_EVENT_UNREGISTERED, &s);
    }
    free(w);
    if (p->stopping)
        default_port__maybe_free(p);
}

static struct dp_wait *wait_new(struct dp_client *cl, dn_key k, uint32_t ref_id, bool claim)
{
    struct dp_wait *w = calloc(1, sizeof(*w));

    if (w == NULL)
        return NULL;
    w->p = cl->p;
    w->cl = cl;
    w->key = k;
    w->ref_id = ref_id;
    w->claim = claim;
    return w;
}

static void wait_link(struct dp_wait *w)
{
    struct dp_client *cl = w->cl;

    w->next = cl->waits;
    if (cl->waits != NULL)
        cl->waits->prev = w;
    cl->waits = w;
    cl->p->n_waits++;
}

/* --- requests --- */

static void gws_register(struct dp_client *cl, uint32_t ref_id, dn_key k, struct dp_reg *r)
{
    struct default_port *p = cl->p;
    const struct dn_profile *prof = dn_dir_lookup(p->core->table->dir, k);
    const struct dn_entry *e = dn_table_get(p->core->table, k);
    struct dp_wait *w;
    int rc;

    if (prof == NULL || prof->type != DN_TYPE_EXTENSION) {
        send_error(cl, ref_id, TC__ERROR_CODE__ERROR_NOT_EXTENSION,
                   "only extensions can be claimed");
        return;
    }
    /* A release still waiting for the store must not undo this claim. */
    coalesce_remove(&p->releases, k);
    /* Owned here and durable: nothing to write. A claim still on its way
     * may yet be refused, so this one is written too, to be acknowledged
     * only once it is durable. */
    if (e != NULL && e->owner == DN_NODE_SELF && !core_in_flight(p->core, k)) {
        if (r == NULL && reg_new(cl, k, DP_REG_CLAIMED) == NULL) {
            send_rc(cl, ref_id, -ENOMEM);
            return;
        }
        if (r != NULL && r->state == DP_REG_SUBSCRIBED)
            reg_set_state(r, DP_REG_CLAIMED);
        send_current(cl, ref_id, DN_EVENT_REGISTERED, k);
        return;
    }
    w = wait_new(cl, k, ref_id, true);
    if (w == NULL || (r == NULL && (r = reg_new(cl, k, DP_REG_CLAIMING)) == NULL)) {
        free(w);
        send_rc(cl, ref_id, -ENOMEM);
        return;
    }
    rc = core_claim(p->core, k,
                    e != NULL && e->owner == DN_NODE_SELF ? (enum dn_source)e->source
                                                          : DN_SOURCE_TLIB,
                    on_done, w);
    if (rc != 0) {
        free(w);
        if (r->state == DP_REG_CLAIMING)
            reg_free(r);
        send_rc(cl, ref_id, rc);
        return;
    }
    if (r->state != DP_REG_CLAIMED)
        reg_set_state(r, DP_REG_CLAIMING);
    wait_link(w);
}

void default_port__register(struct dp_client *cl, uint32_t ref_id, const char *dn)
{
    struct dp_reg *r;
    dn_key k;

    if (!lookup(cl, dn, &k)) {
        send_error(cl, ref_id, TC__ERROR_CODE__ERROR_UNKNOWN_DN, "unknown DN");
        return;
    }
    r = find_reg(cl, k);
    if (r == NULL && cl->n_regs >= DP_MAX_REGS) {
        send_error(cl, ref_id, TC__ERROR_CODE__ERROR_BUSY,
                   "too many DNs registered on this connection");
        return;
    }
    if (cl->gws) {
        gws_register(cl, ref_id, k, r);
        return;
    }
    if (r == NULL && reg_new(cl, k, DP_REG_SUBSCRIBED) == NULL) {
        send_rc(cl, ref_id, -ENOMEM);
        return;
    }
    send_current(cl, ref_id, DN_EVENT_REGISTERED, k);
}

void default_port__unregister(struct dp_client *cl, uint32_t ref_id, const char *dn)
{
    struct default_port *p = cl->p;
    const struct dn_entry *e;
    struct dp_reg *r;
    struct dp_wait *w;
    dn_key k;
    int rc;

    if (!lookup(cl, dn, &k)) {
        send_error(cl, ref_id, TC__ERROR_CODE__ERROR_UNKNOWN_DN, "unknown DN");
        return;
    }
    r = find_reg(cl, k);
    if (r == NULL) {
        send_error(cl, ref_id, TC__ERROR_CODE__ERROR_NOT_REGISTERED, "DN not registered here");
        return;
    }
    e = dn_table_get(p->core->table, k);
    if (r->state == DP_REG_SUBSCRIBED || e == NULL || e->owner != DN_NODE_SELF ||
        e->source != DN_SOURCE_TLIB || other_claim(p, k, r)) {
        reg_free(r);
        send_current(cl, ref_id, DN_EVENT_UNREGISTERED, k);
        return;
    }
    w = wait_new(cl, k, ref_id, false);
    if (w == NULL) {
        send_rc(cl, ref_id, -ENOMEM);
        return;
    }
    rc = core_release(p->core, k, on_done, w);
    if (rc != 0) {
        free(w);
        send_rc(cl, ref_id, rc);
        return;
    }
    p->st.releases++;
    reg_free(r);
    wait_link(w);
}

void default_port__query(struct dp_client *cl, uint32_t ref_id, const char *dn)
{
    dn_key k;

    if (!lookup(cl, dn, &k)) {
        send_error(cl, ref_id, TC__ERROR_CODE__ERROR_UNKNOWN_DN, "unknown DN");
        return;
    }
    send_current(cl, ref_id, DN_EVENT_INFO, k);
}

/* --- status events --- */

static void set_slow(struct dp_client *cl, bool slow)
{
    if (cl->slow == slow)
        return;
    cl->slow = slow;
    if (slow) {
        cl->p->n_slow++;
        cl->p->st.slow_episodes++;
        tc_log(INFO, "default port: %s (%s): not reading, coalescing its events", conn_peer(cl->c),
               cl->app);
    } else {
        cl->p->n_slow--;
    }
}

void default_port__on_change(struct default_port *p, const struct dn_change *c, uint64_t seq)
{
    bool was = c->old_owner == DN_NODE_SELF, now = c->owner == DN_NODE_SELF;
    bool packed = false;

    if (was == now)
        return;
    for (struct dp_reg *r = default_port__regs_of(p, c->key); r != NULL; r = r->key_next) {
        struct dp_client *cl = r->cl;

        /* A claim on its way is answered by EventRegistered instead. */
        if (r->state == DP_REG_CLAIMING || conn_closing(cl->c))
            continue;
        if (cl->dirty.n == 0 && conn_writable(cl->c)) {
            if (!packed) {
                Tc__Event ev = TC__EVENT__INIT;
                union dn_event_body body;
                struct dn_event_state s;

                dn_event_local_change(&s, p->core->table, c);
                ev.seq = seq;
                dn_event_set(&ev, &body, now ? DN_EVENT_BACK_IN_SERVICE : DN_EVENT_OUT_OF_SERVICE,
                             &s.st);
                tc_buf_reset(&p->scratch);
                if (frame_pack(&p->scratch, &ev.base) != 0)
                    return;
                packed = true;
            }
            conn_send_raw(cl->c, p->scratch.data, p->scratch.len, 1);
            p->st.live_events++;
            continue;
        }
        p->st.coalesced++;
        if (!conn_writable(cl->c))
            set_slow(cl, true);
        if (coalesce_add(&cl->dirty, c->key, was ? DN_INSRV : DN_OOS) < 0) {
            tc_log(WARN, "default port: %s (%s): cannot hold its pending events, closing",
                   conn_peer(cl->c), cl->app);
            conn_close(cl->c);
        }
    }
}

void default_port__pump(struct dp_client *cl)
{
    const struct dn_table *t = cl->p->core->table;
    unsigned budget = DP_CHUNK;
    unsigned seen;
    dn_key k;

    while (conn_writable(cl->c) && cl->dirty.n > 0) {
        const struct dn_entry *e;
        enum dn_status now;

        if (budget-- == 0) {
            conn_kick(cl->c);
            return;
        }
        coalesce_pop(&cl->dirty, &k, &seen);
        e = dn_table_get(t, k);
        now = e != NULL && e->owner == DN_NODE_SELF ? DN_INSRV : DN_OOS;
        /* A status that came back to what the client saw is no news. */
        if (now != (enum dn_status)seen)
            send_current(cl, 0,
                         now == DN_INSRV ? DN_EVENT_BACK_IN_SERVICE : DN_EVENT_OUT_OF_SERVICE, k);
    }
    if (cl->dirty.n == 0)
        set_slow(cl, false);
}

void default_port__client_drop(struct dp_client *cl)
{
    struct default_port *p = cl->p;
    unsigned released = 0, claims = 0;

    for (struct dp_wait *w = cl->waits; w != NULL; w = w->next)
        w->cl = NULL;
    cl->waits = NULL;
    while (cl->regs != NULL) {
        struct dp_reg *r = cl->regs;
        dn_key k = r->key;
        bool claimed = r->state == DP_REG_CLAIMED;

        reg_free(r);
        if (claimed) {
            claims++;
            if (release_if_unclaimed(p, k) != 0)
                released++;
        }
    }
    set_slow(cl, false);
    if (cl->gws && claims > 0)
        tc_log(NOTICE, "default port: %s (%s): closed, %u of its %u claims released",
               conn_peer(cl->c), cl->app, released, claims);
}
