#include "server/core/dn_table.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/base/tc_err.h"

int dn_table_init(struct dn_table *t, const struct dn_dir *dir, const char *self)
{
    memset(t, 0, sizeof(*t));
    t->dir = dir;
    t->n_nodes = 2;
    snprintf(t->names[DN_NODE_SELF], sizeof(t->names[0]), "%s", self);
    t->link_up[DN_NODE_SELF] = true;
    u64map_init(&t->map, sizeof(struct dn_entry));
    return 0;
}

void dn_table_free(struct dn_table *t)
{
    u64map_free(&t->map);
}

int dn_table_reserve(struct dn_table *t, size_t n)
{
    return u64map_reserve(&t->map, n) ? 0 : -ENOMEM;
}

int dn_table_add_node(struct dn_table *t, const char *name)
{
    uint16_t id = dn_table_node_id(t, name);

    if (id != DN_NODE_NONE)
        return id;
    if (t->n_nodes >= DN_TABLE_NODES)
        return -ENOSPC;
    id = t->n_nodes++;
    snprintf(t->names[id], sizeof(t->names[0]), "%s", name);
    t->link_up[id] = false;
    return id;
}

uint16_t dn_table_node_id(const struct dn_table *t, const char *name)
{
    return dn_table_node_id_n(t, name, strlen(name));
}

uint16_t dn_table_node_id_n(const struct dn_table *t, const char *name, size_t len)
{
    for (uint16_t i = DN_NODE_SELF; i < t->n_nodes; i++) {
        if (len < sizeof(t->names[i]) && memcmp(t->names[i], name, len) == 0 &&
            t->names[i][len] == '\0')
            return i;
    }
    return DN_NODE_NONE;
}

const char *dn_table_node_name(const struct dn_table *t, uint16_t id)
{
    return id < t->n_nodes ? t->names[id] : "";
}

struct tc_version dn_table_next_version(struct dn_table *t, uint64_t now_ms)
{
    uint64_t wall = now_ms << 16;
    struct tc_version v;

    t->hlc_last = wall > t->hlc_last ? wall : t->hlc_last + 1;
    v.hlc = t->hlc_last;
    v.node = DN_NODE_SELF;
    return v;
}

int dn_table_version_cmp(const struct dn_table *t, struct tc_version a, struct tc_version b)
{
    if (a.hlc != b.hlc)
        return a.hlc < b.hlc ? -1 : 1;
    if (a.node == b.node)
        return 0;
    return strcmp(dn_table_node_name(t, a.node), dn_table_node_name(t, b.node));
}

static bool reachable(const struct dn_table *t, uint16_t owner)
{
    return owner != DN_NODE_NONE && owner < t->n_nodes && t->link_up[owner];
}

static enum dn_status entry_status(const struct dn_table *t, const struct dn_entry *e)
{
    return (e != NULL && reachable(t, e->owner)) ? DN_INSRV : DN_OOS;
}

/* Version zero: what an absent entry means. */
static bool idle(const struct dn_entry *e)
{
    return e->hlc == 0 && e->vnode == DN_NODE_NONE;
}

/* Find or insert the entry for k (a DN of the directory). NULL: -ENOMEM. */
static struct dn_entry *entry_for(struct dn_table *t, dn_key k)
{
    return u64map_insert(&t->map, k);
}

/* The table's part of e back to what an absent entry means. */
static void make_idle(struct dn_table *t, struct dn_entry *e)
{
    if (e->owner != DN_NODE_NONE)
        t->owned[e->owner]--;
    t->n_tracked -= !idle(e);
    e->hlc = 0;
    e->since_ms = 0;
    e->vnode = DN_NODE_NONE;
    e->owner = DN_NODE_NONE;
    e->source = DN_SOURCE_NONE;
}

/* Record owner at v in e and describe it in c. */
static void set_owner(struct dn_table *t, struct dn_entry *e, uint16_t owner, enum dn_source source,
                      struct tc_version v, uint64_t since_ms, struct dn_change *c)
{
    t->n_tracked -= !idle(e);
    c->key = e->key;
    c->prev = *e;
    c->prev_none = false;
    c->old_owner = e->owner;
    c->old_status = entry_status(t, e);
    if (e->owner != DN_NODE_NONE)
        t->owned[e->owner]--;
    e->owner = (uint8_t)owner;
    if (owner != DN_NODE_NONE)
        t->owned[owner]++;
    e->source = (uint8_t)(owner != DN_NODE_NONE ? source : DN_SOURCE_NONE);
    e->hlc = v.hlc;
    e->vnode = (uint8_t)v.node;
    e->since_ms = since_ms;
    t->n_tracked += !idle(e);
    c->owner = owner;
    c->source = (enum dn_source)e->source;
    c->version = v;
    c->since_ms = since_ms;
    c->status = entry_status(t, e);
}

int dn_table_claim(struct dn_table *t, dn_key k, enum dn_source source, uint64_t now_ms,
                   struct dn_change *c)
{
    struct dn_entry *e;

    bool fresh;

    if (!dn_dir_contains(t->dir, k))
        return TC_EUNKNOWN_DN;
    e = entry_for(t, k);
    if (e == NULL)
        return -ENOMEM;
    fresh = idle(e);
    set_owner(t, e, DN_NODE_SELF, source, dn_table_next_version(t, now_ms), now_ms, c);
    c->prev_none = fresh;
    return 0;
}

int dn_table_release(struct dn_table *t, dn_key k, uint64_t now_ms, struct dn_change *c)
{
    struct dn_entry *e;

    if (!dn_dir_contains(t->dir, k))
        return TC_EUNKNOWN_DN;
    e = u64map_find(&t->map, k);
    if (e == NULL || e->owner != DN_NODE_SELF)
        return TC_ESTALE;
    set_owner(t, e, DN_NODE_NONE, DN_SOURCE_NONE, dn_table_next_version(t, now_ms), now_ms, c);
    return 0;
}

/* Record a decision made elsewhere, at v, in e. */
static void apply_to(struct dn_table *t, struct dn_entry *e, uint16_t owner, enum dn_source source,
                     struct tc_version v, uint64_t since_ms, struct dn_change *c)
{
    /* Our clock must run past every version we have seen (HLC receive rule). */
    if (v.hlc > t->hlc_last)
        t->hlc_last = v.hlc;
    set_owner(t, e, owner, source, v, since_ms, c);
}

int dn_table_apply(struct dn_table *t, dn_key k, uint16_t owner, enum dn_source source,
                   struct tc_version v, uint64_t since_ms, struct dn_change *c)
{
    struct tc_version cur;
    struct dn_entry *e;
    bool fresh;

    if (!dn_dir_contains(t->dir, k))
        return TC_EUNKNOWN_DN;
    if (owner >= t->n_nodes || v.node >= t->n_nodes)
        return -EINVAL;
    e = u64map_find(&t->map, k);
    if (e != NULL) {
        cur.hlc = e->hlc;
        cur.node = e->vnode;
        if (dn_table_version_cmp(t, v, cur) <= 0)
            return TC_ESTALE;
    }
    fresh = e == NULL || idle(e);
    e = entry_for(t, k);
    if (e == NULL)
        return -ENOMEM;
    apply_to(t, e, owner, source, v, since_ms, c);
    c->prev_none = fresh;
    return 0;
}

int dn_table_load(struct dn_table *t, dn_key k, struct dn_entry *e, uint16_t owner,
                  enum dn_source source, struct tc_version v, uint64_t since_ms,
                  struct dn_change *c)
{
    if (!dn_dir_contains(t->dir, k))
        return TC_EUNKNOWN_DN;
    if (owner >= t->n_nodes || v.node >= t->n_nodes)
        return -EINVAL;
    if (e == NULL)
        e = u64map_insert_new(&t->map, k);
    if (e == NULL)
        return -ENOMEM;
    apply_to(t, e, owner, source, v, since_ms, c);
    c->prev_none = true;
    return 0;
}

int dn_table_restore(struct dn_table *t, const struct dn_change *c)
{
    struct dn_entry *e = u64map_find(&t->map, c->key);

    if (e == NULL || e->hlc != c->version.hlc || e->vnode != c->version.node)
        return TC_ESTALE;
    /* Idle again: no owner, version zero (older than any claim). The
     * entry stays: removing it would move another one under a walk in
     * progress (a peer snapshot, a TC subscription's), and the bindings
     * may hold it. */
    make_idle(t, e);
    if (c->prev_none)
        return 0;
    /* The table's fields only: the bindings' may have changed since. */
    e->hlc = c->prev.hlc;
    e->since_ms = c->prev.since_ms;
    e->vnode = c->prev.vnode;
    e->owner = c->prev.owner;
    e->source = c->prev.source;
    if (e->owner != DN_NODE_NONE)
        t->owned[e->owner]++;
    t->n_tracked += !idle(e);
    return 0;
}

const struct dn_entry *dn_table_get(const struct dn_table *t, dn_key k)
{
    const struct dn_entry *e;

    /* DN_KEY_NONE is never stored; the map does not take key 0. */
    if (k == DN_KEY_NONE)
        return NULL;
    e = u64map_find(&t->map, k);
    return e != NULL && !idle(e) ? e : NULL;
}

enum dn_status dn_table_status(const struct dn_table *t, dn_key k)
{
    return entry_status(t, dn_table_get(t, k));
}

void dn_table_set_link(struct dn_table *t, uint16_t node, bool up)
{
    if (node > DN_NODE_SELF && node < t->n_nodes)
        t->link_up[node] = up;
}

void dn_table_set_link_at(struct dn_table *t, uint16_t node, bool up, uint64_t now_ms)
{
    if (node <= DN_NODE_SELF || node >= t->n_nodes)
        return;
    t->link_up[node] = up;
    t->link_since_ms[node] = now_ms;
}

uint64_t dn_table_since(const struct dn_table *t, const struct dn_entry *e)
{
    if (e->owner > DN_NODE_SELF && e->owner < t->n_nodes &&
        t->link_since_ms[e->owner] > e->since_ms)
        return t->link_since_ms[e->owner];
    return e->since_ms;
}

uint64_t dn_table_insrv(const struct dn_table *t)
{
    uint64_t n = 0;

    for (uint16_t i = DN_NODE_SELF; i < t->n_nodes; i++) {
        if (t->link_up[i])
            n += t->owned[i];
    }
    return n;
}

size_t dn_table_count(const struct dn_table *t)
{
    return u64map_count(&t->map);
}

size_t dn_table_tracked(const struct dn_table *t)
{
    return t->n_tracked;
}

const struct dn_entry *dn_table_next(const struct dn_table *t, size_t *cursor)
{
    const struct dn_entry *e;

    while ((e = u64map_next(&t->map, cursor)) != NULL && idle(e))
        ;
    return e;
}

void dn_table_foreach(const struct dn_table *t, void (*fn)(void *arg, const struct dn_entry *e),
                      void *arg)
{
    const struct dn_entry *e;
    size_t cursor = 0;

    while ((e = dn_table_next(t, &cursor)) != NULL)
        fn(arg, e);
}

/* e's DN is not in dir, and e is not already what a reload leaves of it. */
static bool dropped(const struct dn_dir *dir, const struct dn_entry *e)
{
    return !dn_dir_contains(dir, e->key) && !(idle(e) && e->bind_head != 0);
}

/* Keys of the entries whose DN is not in dir: *out (malloc'd, the caller
 * frees) and their number, or -ENOMEM. */
static long dropped_keys(const struct dn_table *t, const struct dn_dir *dir, dn_key **out)
{
    const struct dn_entry *e;
    size_t cursor = 0;
    long n = 0;

    while ((e = u64map_next(&t->map, &cursor)) != NULL)
        n += dropped(dir, e);
    *out = NULL;
    if (n == 0)
        return 0;
    *out = malloc((size_t)n * sizeof(**out));
    if (*out == NULL)
        return -ENOMEM;
    n = 0;
    cursor = 0;
    while ((e = u64map_next(&t->map, &cursor)) != NULL) {
        if (dropped(dir, e))
            (*out)[n++] = e->key;
    }
    return n;
}

long dn_table_reload(struct dn_table *t, const struct dn_dir *dir)
{
    dn_key *keys;
    long n = dropped_keys(t, dir, &keys);

    if (n < 0)
        return n;
    for (long i = 0; i < n; i++) {
        struct dn_entry *e = u64map_find(&t->map, keys[i]);

        make_idle(t, e);
        if (e->bind_head == 0)
            u64map_remove(&t->map, keys[i]);
    }
    free(keys);
    t->dir = dir;
    return n;
}
