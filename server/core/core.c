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

/* A change on its way to the disk; published when durable, undone in the
 * table when the store refuses it (DESIGN §2 rule 7). */
struct core_wait {
    struct core *c;
    /* The next change of the same DN, decided on top of this one while it
     * was on its way (NULL: none, or this one is the DN's newest). */
    struct core_wait *newer;
    struct dn_change ch;
    core_done_cb done;
    void *arg;
    uint16_t sweep_node; /* a standby takeover in this peer's link sweep, else 0 */
};

/* c->inflight: the newest change of a DN that is not yet durable. */
struct core_inflight {
    dn_key key;
    struct core_wait *last;
};

static void on_idle(uv_idle_t *h);

int core_init(struct core *c, uv_loop_t *loop, struct dn_table *table, struct store *store,
              uint32_t store_queue)
{
    memset(c, 0, sizeof(*c));
    c->bindings = malloc(sizeof(*c->bindings));
    if (c->bindings == NULL)
        return -ENOMEM;
    /* The bindings' entries are the table's: one per DN. */
    bindings_init(c->bindings, &table->map, tc_now_ms());
    uv_idle_init(loop, &c->idle);
    c->idle.data = c;
    c->sweeps_tail = &c->sweeps;
    c->bw_tail = &c->bw_head;
    c->store_queue = store_queue;
    u64map_init(&c->inflight, sizeof(struct core_inflight));
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

/* Publish k's state now as a link sweep would (owner unchanged, status
 * flipped): what a sweep owes its listeners for a DN it did not publish
 * because it meant to take it over. */
static void publish_entry(struct core *c, dn_key k)
{
    const struct dn_entry *e = dn_table_get(c->table, k);
    struct dn_change ch;

    if (e == NULL)
        return;
    memset(&ch, 0, sizeof(ch));
    ch.key = e->key;
    ch.owner = ch.old_owner = e->owner;
    ch.source = (enum dn_source)e->source;
    ch.version.hlc = e->hlc;
    ch.version.node = e->vnode;
    ch.since_ms = dn_table_since(c->table, e);
    ch.status = dn_table_status(c->table, k);
    ch.old_status = ch.status == DN_INSRV ? DN_OOS : DN_INSRV;
    core_publish(c, &ch);
}

/* Undo ch in the table: the store refused it and no newer change of the
 * DN is on its way (see on_durable()). */
static void undo(struct core *c, const struct dn_change *ch, uint16_t sweep_node)
{
    char dn[DN_DIR_MAX_DIGITS + 1];
    const struct dn_entry *e;

    if (dn_table_restore(c->table, ch) != 0)
        return;
    c->rollbacks++;
    dn_key_format(ch->key, dn, sizeof(dn));
    e = dn_table_get(c->table, ch->key); /* NULL: idle again */
    /* The store error was logged already (core__store_error()). */
    tc_log(DEBUG, "dn %s: change not stored; back to owner \"%s\"", dn,
           dn_table_node_name(c->table, e != NULL ? e->owner : DN_NODE_NONE));
    if (sweep_node != DN_NODE_NONE)
        publish_entry(c, ch->key);
}

/* The store's answer for w. Changes of one DN complete in the order they
 * were queued (the store commits in queue order), so w is the oldest of
 * its DN still on its way. Rule for a refused change: when a newer change
 * of the DN was decided on top of it, that decision stands in the table
 * and inherits w's "before" (the state it would undo to), for its own
 * outcome to decide - durable, it supersedes w on disk too, each record
 * holding the whole state of the DN; refused as well, it undoes to what
 * was last durable. Otherwise w is undone at once. */
static void on_durable(void *arg, int status)
{
    struct core_wait *w = arg;
    struct core *c = w->c;
    struct core_inflight *in = u64map_find(&c->inflight, w->ch.key);

    if (in != NULL && in->last == w)
        u64map_remove(&c->inflight, w->ch.key);
    if (status == 0) {
        core_publish(c, &w->ch);
    } else {
        core__store_error(c, "ownership change", status);
        if (w->newer != NULL) {
            w->newer->ch.prev = w->ch.prev;
            w->newer->ch.prev_none = w->ch.prev_none;
            w->newer->ch.old_owner = w->ch.old_owner;
            w->newer->ch.old_status = w->ch.old_status;
            if (w->sweep_node != DN_NODE_NONE && w->newer->sweep_node == DN_NODE_NONE)
                w->newer->sweep_node = w->sweep_node;
        } else {
            undo(c, &w->ch, w->sweep_node);
        }
    }
    if (w->done != NULL)
        w->done(w->arg, status, &w->ch);
    free(w);
}

/* core__persist() for a change made by a link sweep of peer sweep_node
 * (0: none). */
static int persist(struct core *c, const struct dn_change *ch, core_done_cb done, void *arg,
                   uint16_t sweep_node)
{
    struct core_inflight *in;
    struct core_wait *w = NULL;
    int rc = -ESHUTDOWN;

    if (c->store == NULL)
        goto out_undo;
    rc = -ENOMEM;
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        goto out_undo;
    w->c = c;
    w->ch = *ch;
    w->done = done;
    w->arg = arg;
    w->sweep_node = sweep_node;
    in = u64map_insert(&c->inflight, ch->key);
    if (in == NULL)
        goto out_free;
    rc = dn_store_put(c->store, c->table, ch, on_durable, w);
    if (rc != 0)
        goto out_unmark;
    if (in->last != NULL)
        in->last->newer = w;
    in->last = w;
    return 0;

out_unmark:
    if (in->last == NULL)
        u64map_remove(&c->inflight, ch->key);
out_free:
    free(w);
out_undo:
    /* Refused at once: the change was never on its way, so it is the
     * newest of its DN and its "before" is what the table held. */
    core__store_error(c, "ownership change", rc);
    undo(c, ch, DN_NODE_NONE);
    return rc;
}

int core__persist(struct core *c, const struct dn_change *ch, core_done_cb done, void *arg)
{
    return persist(c, ch, done, arg, DN_NODE_NONE);
}

bool core_in_flight(const struct core *c, dn_key k)
{
    return k != DN_KEY_NONE && u64map_find(&c->inflight, k) != NULL;
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
               uint64_t since_ms, core_done_cb done, void *arg)
{
    struct dn_change ch;
    int rc = core__store_room(c);

    if (rc != 0)
        return rc;
    rc = dn_table_apply(c->table, k, owner, source, v, since_ms, &ch);
    if (rc == 0)
        rc = core__persist(c, &ch, done, arg);
    if (rc == 0 && owner == DN_NODE_NONE)
        claim_released(c, k);
    return rc;
}

/* Publish one DN of a sweep: its current state, or a standby takeover
 * (published when durable; when refused, its state as it stands then). */
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
        if (persist(c, &ch, NULL, NULL, w->node) == 0)
            return;
    }
    publish_entry(c, k);
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
    dn_table_set_link_at(t, node, up, tc_now_ms());
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
    /* Every change on its way was reported by store_close(). */
    u64map_free(&c->inflight);
    c->n_unreleased = c->cap_unreleased = 0;
    uv_idle_stop(&c->idle);
    uv_close((uv_handle_t *)&c->idle, on_idle_closed);
}

void core_group_begin(struct core *c)
{
    if (c->store != NULL)
        store_group_begin(c->store);
}

void core_group_end(struct core *c, bool commit)
{
    if (c->store != NULL)
        store_group_end(c->store, commit);
}
