#include "server/core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/base/clock.h"
#include "server/base/log.h"
#include "server/base/tc_err.h"
#include "server/core/bindings.h"
#include "server/core/core_int.h"
#include "server/core/dn_store.h"
#include "storage/store.h"

static void on_idle(uv_idle_t *h);

int core_init(struct core *c, uv_loop_t *loop, struct dn_table *table, struct store *store,
              uint32_t store_queue)
{
    memset(c, 0, sizeof(*c));
    c->bindings = malloc(sizeof(*c->bindings));
    if (c->bindings == NULL)
        return -ENOMEM;
    bindings_init(c->bindings, tc_now_ms());
    uv_idle_init(loop, &c->idle);
    c->idle.data = c;
    c->sweeps_tail = &c->sweeps;
    c->store_queue = store_queue;
    c->table = table;
    c->store = store;
    return 0;
}

void core__store_error(struct core *c, const char *what, int err)
{
    c->store_errors++;
    tc_log(ERR, "core: store: %s: %s", what, tc_strerror(err));
}

int core_listen(struct core *c, const struct core_listener *l)
{
    if (c->n_listeners == CORE_MAX_LISTENERS)
        return -ENOSPC;
    c->listeners[c->n_listeners++] = *l;
    return 0;
}

void core_unlisten(struct core *c, void *arg)
{
    for (unsigned i = 0; i < c->n_listeners; i++) {
        if (c->listeners[i].arg == arg) {
            c->listeners[i] = c->listeners[--c->n_listeners];
            return;
        }
    }
}

/* Tell every listener of a change that is already durable. */
static void core_publish(struct core *c, const struct dn_change *ch)
{
    uint64_t seq = ++c->seq;

    c->published++;
    for (unsigned i = 0; i < c->n_listeners; i++) {
        if (c->listeners[i].on_change != NULL)
            c->listeners[i].on_change(c->listeners[i].arg, ch, seq);
    }
}

static void publish_link(struct core *c, uint16_t node, bool up)
{
    uint64_t seq = ++c->seq;

    for (unsigned i = 0; i < c->n_listeners; i++) {
        if (c->listeners[i].on_link != NULL)
            c->listeners[i].on_link(c->listeners[i].arg, node, up, seq);
    }
}

void core_call(struct core *c, const struct core_call *call)
{
    uint64_t seq = ++c->seq;

    c->calls++;
    for (unsigned i = 0; i < c->n_listeners; i++) {
        if (c->listeners[i].on_call != NULL)
            c->listeners[i].on_call(c->listeners[i].arg, call, seq);
    }
}

/* A change on its way to the disk; published when durable. */
struct core_wait {
    struct core *c;
    struct dn_change ch;
    core_done_cb done;
    void *arg;
};

static void on_durable(void *arg, int status)
{
    struct core_wait *w = arg;

    if (status == 0)
        core_publish(w->c, &w->ch);
    else
        core__store_error(w->c, "ownership change", status);
    if (w->done != NULL)
        w->done(w->arg, status, &w->ch);
    free(w);
}

int core__persist(struct core *c, const struct dn_change *ch, core_done_cb done, void *arg)
{
    struct core_wait *w;
    int rc;

    if (c->store == NULL)
        return -ESHUTDOWN;
    w = malloc(sizeof(*w));
    if (w == NULL)
        return -ENOMEM;
    w->c = c;
    w->ch = *ch;
    w->done = done;
    w->arg = arg;
    rc = dn_store_put(c->store, c->table, ch, on_durable, w);
    if (rc != 0)
        free(w);
    return rc;
}

int core__store_room(const struct core *c)
{
    if (c->store == NULL)
        return -ESHUTDOWN;
    return store_pending(c->store) + 1 >= c->store_queue ? -EBUSY : 0;
}

bool core_has_room(const struct core *c, size_t n)
{
    uint32_t pending;

    if (c->store == NULL)
        return true;
    pending = store_pending(c->store);
    /* Each decision wants pending + 1 < store_queue (store_room()). */
    return pending == 0 || pending + n < c->store_queue;
}

int core_claim(struct core *c, dn_key k, enum dn_source source, core_done_cb done, void *arg)
{
    struct dn_change ch;
    int rc = core__store_room(c);

    if (rc != 0)
        return rc;
    rc = dn_table_claim(c->table, k, source, tc_now_ms(), &ch);

    return rc != 0 ? rc : core__persist(c, &ch, done, arg);
}

int core_release(struct core *c, dn_key k, core_done_cb done, void *arg)
{
    struct dn_change ch;
    int rc = core__store_room(c);

    if (rc != 0)
        return rc;
    rc = dn_table_release(c->table, k, tc_now_ms(), &ch);

    return rc != 0 ? rc : core__persist(c, &ch, done, arg);
}

bool core_holds_binding(struct core *c, dn_key k)
{
    return core_live_bindings(c, k, tc_now_ms()) > 0;
}

/* The owner released k and a phone is registered here: claim it (DESIGN
 * §3, standby binding). */
static void claim_released(struct core *c, dn_key k)
{
    char dn[DN_DIR_MAX_DIGITS + 1];
    int rc;

    if (!core_holds_binding(c, k))
        return;
    rc = core_claim(c, k, DN_SOURCE_SIP, NULL, NULL);
    dn_key_format(k, dn, sizeof(dn));
    if (rc != 0)
        tc_log(WARN, "dn %s: released by its owner; claiming it here failed: %s", dn,
               tc_strerror(rc));
    else
        tc_log(INFO, "dn %s: released by its owner; claimed here (standby binding)", dn);
}

int core_apply(struct core *c, dn_key k, uint16_t owner, enum dn_source source, struct tc_version v,
               uint64_t since_ms)
{
    struct dn_change ch;
    int rc = core__store_room(c);

    if (rc != 0)
        return rc;
    rc = dn_table_apply(c->table, k, owner, source, v, since_ms, &ch);
    if (rc == 0)
        rc = core__persist(c, &ch, NULL, NULL);
    if (rc == 0 && owner == DN_NODE_NONE)
        claim_released(c, k);
    return rc;
}

/* Publish one DN of a sweep: its current state, or a standby takeover. */
static void sweep_one(struct core *c, const struct core_sweep *w, dn_key k)
{
    struct dn_table *t = c->table;
    const struct dn_entry *e = dn_table_get(t, k);
    struct dn_change ch;

    if (e == NULL || e->owner != w->node)
        return; /* decided again since the link changed: already published */
    if (!w->up && !t->link_up[w->node] && core_holds_binding(c, k) && core__store_room(c) == 0 &&
        dn_table_claim(t, k, DN_SOURCE_SIP, tc_now_ms(), &ch) == 0) {
        /* Standby takeover: the agent stays reachable here. */
        if (core__persist(c, &ch, NULL, NULL) != 0)
            c->store_errors++;
        return;
    }
    memset(&ch, 0, sizeof(ch));
    ch.key = e->key;
    ch.owner = ch.old_owner = e->owner;
    ch.source = (enum dn_source)e->source;
    ch.version.hlc = e->hlc;
    ch.version.node = e->vnode;
    ch.since_ms = e->since_ms;
    /* The state now: the link may have changed again since. */
    ch.status = dn_table_status(t, k);
    ch.old_status = ch.status == DN_INSRV ? DN_OOS : DN_INSRV;
    core_publish(c, &ch);
}

static void on_idle(uv_idle_t *h)
{
    struct core *c = h->data;
    struct core_sweep *w = c->sweeps;
    size_t end;

    if (w == NULL) {
        uv_idle_stop(h);
        return;
    }
    end = w->i + CORE_SWEEP_CHUNK < w->n ? w->i + CORE_SWEEP_CHUNK : w->n;
    for (; w->i < end; w->i++)
        sweep_one(c, w, w->keys[w->i]);
    if (w->i < w->n)
        return;
    c->sweeps = w->next;
    if (c->sweeps == NULL)
        c->sweeps_tail = &c->sweeps;
    tc_log(NOTICE, "peer %s: link %s, %zu DNs %s", dn_table_node_name(c->table, w->node),
           w->up ? "up" : "down", w->n, w->up ? "back in service" : "out of service or taken over");
    publish_link(c, w->node, w->up);
    free(w->keys);
    free(w);
}

void core_set_link(struct core *c, uint16_t node, bool up)
{
    struct dn_table *t = c->table;
    const struct dn_entry *e;
    struct core_sweep *w;
    size_t cursor = 0;

    if (node <= DN_NODE_SELF || node >= t->n_nodes || t->link_up[node] == up)
        return;
    dn_table_set_link(t, node, up);
    w = calloc(1, sizeof(*w));
    if (w != NULL && t->owned[node] > 0)
        w->keys = malloc(t->owned[node] * sizeof(*w->keys));
    if (w == NULL || (t->owned[node] > 0 && w->keys == NULL)) {
        /* Out of memory: the table is right, only the events are lost. */
        tc_log(ERR, "peer %s: link %s: out of memory publishing its DNs",
               dn_table_node_name(t, node), up ? "up" : "down");
        free(w);
        publish_link(c, node, up);
        return;
    }
    w->node = node;
    w->up = up;
    while (w->keys != NULL && (e = dn_table_next(t, &cursor)) != NULL) {
        if (e->owner == node)
            w->keys[w->n++] = e->key;
    }
    *c->sweeps_tail = w;
    c->sweeps_tail = &w->next;
    uv_idle_start(&c->idle, on_idle);
}

static void on_idle_closed(uv_handle_t *h)
{
    (void)h;
}

void core_close(struct core *c)
{
    while (c->sweeps != NULL) {
        struct core_sweep *w = c->sweeps;

        c->sweeps = w->next;
        free(w->keys);
        free(w);
    }
    c->sweeps_tail = &c->sweeps;
    if (c->bindings != NULL) {
        bindings_free(c->bindings);
        free(c->bindings);
        c->bindings = NULL;
    }
    free(c->unreleased);
    c->unreleased = NULL;
    c->n_unreleased = c->cap_unreleased = 0;
    uv_idle_stop(&c->idle);
    uv_close((uv_handle_t *)&c->idle, on_idle_closed);
}
