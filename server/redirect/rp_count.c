#include "server/redirect/rp_count.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/base/log.h"

/* One local agent's place in one group's offer order. */
struct rp_ring {
    struct rp_ring *prev, *next;
    struct rp_ring *next_of_agent; /* the agent's place in its next group */
    dn_key dn;
    uint32_t group;
    bool offered; /* offered since it became local */
};

/* An agent of some group that has an owner; the u64map element. */
struct rp_agent {
    dn_key dn;             /* the map key */
    struct rp_ring *rings; /* its places while it is owned here */
    uint16_t owner;
};

/* Groups */

static bool same_group(const struct rp_group *g, const struct dn_profile *p)
{
    if (p->group_lo != DN_KEY_NONE)
        return g->lo == p->group_lo && g->hi == p->group_hi;
    return g->lo == DN_KEY_NONE && strcmp(g->name, p->group) == 0;
}

static uint32_t find_group(const struct rp_count *rc, const struct dn_profile *p)
{
    for (uint32_t i = 0; i < rc->n_groups; i++) {
        if (same_group(&rc->groups[i], p))
            return i;
    }
    return RP_NO_GROUP;
}

/* The groups of the routing points, then the name group of each extension
 * section. rc->groups has room for one group per profile. */
static void build_groups(struct rp_count *rc)
{
    const struct dn_dir *d = rc->dir;

    for (size_t i = 0; i < d->n_profiles; i++) {
        const struct dn_profile *p = &d->profiles[i];
        uint32_t g;

        rc->profile_group[i] = RP_NO_GROUP;
        if (p->type != DN_TYPE_ROUTING_POINT || p->group == NULL)
            continue;
        g = find_group(rc, p);
        if (g == RP_NO_GROUP) {
            g = rc->n_groups++;
            rc->groups[g].name = p->group;
            rc->groups[g].lo = p->group_lo;
            rc->groups[g].hi = p->group_hi;
        }
        rc->profile_group[i] = g;
    }
    for (size_t i = 0; i < d->n_profiles; i++) {
        const struct dn_profile *p = &d->profiles[i];

        /* An extension's group is a name (the loader makes sure of it). */
        if (p->type == DN_TYPE_EXTENSION && p->group != NULL && p->group_lo == DN_KEY_NONE)
            rc->profile_group[i] = find_group(rc, p);
    }
}

/* Call fn for each group dn is an agent of. Returns how many. */
static unsigned each_group(const struct rp_count *rc, dn_key dn,
                           void (*fn)(struct rp_count *rc, uint32_t g, void *arg), void *arg)
{
    const struct dn_profile *p = dn_dir_lookup(rc->dir, dn);
    unsigned n = 0;
    uint32_t pg;

    if (p == NULL || p->type != DN_TYPE_EXTENSION)
        return 0;
    for (uint32_t g = 0; g < rc->n_groups; g++) {
        const struct rp_group *grp = &rc->groups[g];

        if (grp->lo != DN_KEY_NONE && dn >= grp->lo && dn <= grp->hi) {
            n++;
            if (fn != NULL)
                fn((struct rp_count *)rc, g, arg);
        }
    }
    pg = rc->profile_group[p - rc->dir->profiles];
    if (pg != RP_NO_GROUP) {
        n++;
        if (fn != NULL)
            fn((struct rp_count *)rc, pg, arg);
    }
    return n;
}

/* Offer order */

static void ring_unlink(struct rp_group *g, struct rp_ring *x)
{
    /* Never-offered agents form the front of the list, up to g->fresh. */
    if (g->fresh == x)
        g->fresh = x->prev;
    if (x->prev != NULL)
        x->prev->next = x->next;
    else
        g->head = x->next;
    if (x->next != NULL)
        x->next->prev = x->prev;
    else
        g->tail = x->prev;
    x->prev = x->next = NULL;
    g->n_local--;
}

/* Put x after the never-offered agents: it has not been offered either,
 * and arrived after them. */
static void ring_insert_fresh(struct rp_group *g, struct rp_ring *x)
{
    struct rp_ring *after = g->fresh;

    x->offered = false;
    x->prev = after;
    x->next = after != NULL ? after->next : g->head;
    if (x->next != NULL)
        x->next->prev = x;
    else
        g->tail = x;
    if (after != NULL)
        after->next = x;
    else
        g->head = x;
    g->fresh = x;
    g->n_local++;
}

static void ring_to_tail(struct rp_group *g, struct rp_ring *x)
{
    ring_unlink(g, x);
    x->offered = true;
    x->prev = g->tail;
    x->next = NULL;
    if (g->tail != NULL)
        g->tail->next = x;
    else
        g->head = x;
    g->tail = x;
    g->n_local++;
}

/* Changes */

struct move {
    struct rp_agent *a;
    uint16_t from, to;
};

static void on_group(struct rp_count *rc, uint32_t gi, void *arg)
{
    struct move *m = arg;
    struct rp_group *g = &rc->groups[gi];
    struct rp_ring *x;

    if (m->from != DN_NODE_NONE)
        g->owned[m->from]--;
    if (m->to != DN_NODE_NONE)
        g->owned[m->to]++;
    if (m->to != DN_NODE_SELF)
        return;
    x = calloc(1, sizeof(*x));
    if (x == NULL) {
        /* Counted, but never offered from here: the next call goes to another agent. */
        tc_log(WARN, "routing point group %s: agent not queued: out of memory", g->name);
        return;
    }
    x->dn = m->a->dn;
    x->group = gi;
    x->next_of_agent = m->a->rings;
    m->a->rings = x;
    ring_insert_fresh(g, x);
}

static void drop_rings(struct rp_count *rc, struct rp_agent *a)
{
    while (a->rings != NULL) {
        struct rp_ring *x = a->rings;

        a->rings = x->next_of_agent;
        ring_unlink(&rc->groups[x->group], x);
        free(x);
    }
}

int rp_count_change(struct rp_count *rc, dn_key dn, uint16_t owner)
{
    struct rp_agent *a = u64map_find(&rc->agents, dn);
    struct move m = {.a = a, .from = a != NULL ? a->owner : DN_NODE_NONE, .to = owner};

    if (m.from == m.to || owner >= DN_TABLE_NODES)
        return 0;
    if (a == NULL) {
        if (each_group(rc, dn, NULL, NULL) == 0)
            return 0;
        a = m.a = u64map_insert(&rc->agents, dn);
        if (a == NULL)
            return -ENOMEM;
    }
    if (m.from == DN_NODE_SELF)
        drop_rings(rc, a);
    each_group(rc, dn, on_group, &m);
    a->owner = owner;
    if (owner == DN_NODE_NONE)
        u64map_remove(&rc->agents, dn);
    return 0;
}

/* API */

int rp_count_init(struct rp_count *rc, const struct dn_dir *dir, const struct dn_table *t)
{
    const struct dn_entry *e;
    size_t cursor = 0;
    size_t n = dir->n_profiles != 0 ? dir->n_profiles : 1;

    memset(rc, 0, sizeof(*rc));
    rc->dir = dir;
    u64map_init(&rc->agents, sizeof(struct rp_agent));
    rc->groups = calloc(n, sizeof(*rc->groups));
    rc->profile_group = calloc(n, sizeof(*rc->profile_group));
    if (rc->groups == NULL || rc->profile_group == NULL)
        goto out_free;
    build_groups(rc);
    while ((e = dn_table_next(t, &cursor)) != NULL) {
        if (e->owner != DN_NODE_NONE && rp_count_change(rc, e->key, e->owner) != 0)
            goto out_free;
    }
    return 0;

out_free:
    rp_count_free(rc);
    return -ENOMEM;
}

void rp_count_free(struct rp_count *rc)
{
    struct rp_agent *a;
    size_t cursor = 0;

    while ((a = u64map_next(&rc->agents, &cursor)) != NULL) {
        while (a->rings != NULL) {
            struct rp_ring *x = a->rings;

            a->rings = x->next_of_agent;
            free(x);
        }
    }
    u64map_free(&rc->agents);
    free(rc->groups);
    free(rc->profile_group);
    rc->groups = NULL;
    rc->profile_group = NULL;
    rc->n_groups = 0;
}

uint32_t rp_count_group(const struct rp_count *rc, const struct dn_profile *p)
{
    size_t i = (size_t)(p - rc->dir->profiles);

    if (p->type != DN_TYPE_ROUTING_POINT || i >= rc->dir->n_profiles)
        return RP_NO_GROUP;
    return rc->profile_group[i];
}

uint32_t rp_count_insrv(const struct rp_count *rc, uint32_t g, const struct dn_table *t,
                        uint16_t node)
{
    if (g >= rc->n_groups || node == DN_NODE_NONE || node >= t->n_nodes)
        return 0;
    if (node != DN_NODE_SELF && !t->link_up[node])
        return 0;
    return rc->groups[g].owned[node];
}

dn_key rp_count_offer(struct rp_count *rc, uint32_t g, bool (*usable)(void *arg, dn_key dn),
                      void *arg)
{
    struct rp_group *grp;
    uint32_t tries;

    if (g >= rc->n_groups)
        return DN_KEY_NONE;
    grp = &rc->groups[g];
    tries = grp->n_local < RP_COUNT_OFFER_TRIES ? grp->n_local : RP_COUNT_OFFER_TRIES;
    for (uint32_t i = 0; i < tries; i++) {
        struct rp_ring *x = grp->head;

        ring_to_tail(grp, x);
        if (usable(arg, x->dn))
            return x->dn;
    }
    return DN_KEY_NONE;
}

dn_key rp_count_local_next(const struct rp_count *rc, uint32_t g, const struct rp_ring **cursor)
{
    const struct rp_ring *x;

    if (g >= rc->n_groups)
        return DN_KEY_NONE;
    x = *cursor == NULL ? rc->groups[g].head : (*cursor)->next;
    *cursor = x;
    return x != NULL ? x->dn : DN_KEY_NONE;
}
