#include "server/redirect/redirect.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "server/base/buf.h"
#include "server/base/clock.h"
#include "server/base/log.h"
#include "server/base/metrics.h"
#include "server/config/config.h"
#include "server/core/bindings.h"
#include "server/core/core.h"
#include "server/core/dn_table.h"

static const char *const outcome_names[REDIRECT_N_OUTCOMES] = {
        [REDIRECT_LOCAL] = "local",
        [REDIRECT_FORWARDED] = "forwarded",
        [REDIRECT_NOT_FOUND] = "not_found",
        [REDIRECT_FORBIDDEN] = "forbidden",
        [REDIRECT_UNAVAILABLE] = "unavailable",
};

static const int outcome_codes[REDIRECT_N_OUTCOMES] = {
        [REDIRECT_LOCAL] = 302,     [REDIRECT_FORWARDED] = 302,   [REDIRECT_NOT_FOUND] = 404,
        [REDIRECT_FORBIDDEN] = 403, [REDIRECT_UNAVAILABLE] = 480,
};

/* Helpers */

static void answer(struct redirect_decision *d, enum redirect_outcome o, const char *reason)
{
    d->outcome = o;
    d->code = outcome_codes[o];
    d->reason = reason;
}

static bool dr_forward(const struct redirect *r, const struct dn_profile *p)
{
    if (p->dr_forward == DN_DR_FORWARD_NODE)
        return r->cfg->dr_forward;
    return p->dr_forward == DN_DR_FORWARD_ON;
}

static const struct config_peer *find_peer(const struct config *c, const char *name)
{
    for (unsigned i = 0; i < c->n_peers; i++) {
        if (strcmp(c->peers[i].name, name) == 0)
            return &c->peers[i];
    }
    return NULL;
}

/* The configured peer behind node id, when it can take a redirect: its
 * link is up and it has a sip-address. Else NULL. */
static const struct config_peer *reachable(const struct redirect *r, uint16_t node)
{
    const struct config_peer *p;

    if (node == DN_NODE_NONE || node == DN_NODE_SELF || node >= r->table->n_nodes ||
        !r->table->link_up[node])
        return NULL;
    p = find_peer(r->cfg, dn_table_node_name(r->table, node));
    return p != NULL && p->sip_address.port != 0 ? p : NULL;
}

/* Send d to node, if reachable(). Returns whether it did. */
static bool forward(const struct redirect *r, uint16_t node, const char *reason,
                    struct redirect_decision *d)
{
    const struct config_peer *p = reachable(r, node);

    if (p == NULL)
        return false;
    answer(d, REDIRECT_FORWARDED, reason);
    d->target = node;
    d->target_name = dn_table_node_name(r->table, node);
    d->peer = p;
    return true;
}

/* Append dn's live bindings to d->contacts. Returns how many. */
static unsigned add_contacts(struct redirect *r, dn_key dn, uint64_t now,
                             struct redirect_decision *d)
{
    const struct bindings *bs = r->bindings;
    unsigned n = 0;

    for (const struct binding *b = bindings_first(bs, bindings_dn(bs, dn)); b != NULL;
         b = binding_next(bs, b)) {
        uint32_t left = binding_remaining(b, now);

        /* Bindings due but not yet swept by the expiry tick are dead. */
        if (left == 0 || d->n_contacts == REDIRECT_MAX_CONTACTS)
            continue;
        d->contacts[d->n_contacts].binding = b;
        d->contacts[d->n_contacts++].expires = left;
        n++;
    }
    return n;
}

static void local(struct redirect *r, dn_key agent, const char *reason, struct redirect_decision *d)
{
    answer(d, REDIRECT_LOCAL, reason);
    d->target = DN_NODE_SELF;
    d->target_name = dn_table_node_name(r->table, DN_NODE_SELF);
    d->agent = agent;
}

static uint16_t owner_of(const struct redirect *r, dn_key dn)
{
    const struct dn_entry *e = dn_table_get(r->table, dn);

    return e != NULL ? e->owner : DN_NODE_NONE;
}

/* Extensions */

static void decide_extension(struct redirect *r, const struct dn_profile *p, dn_key dn, bool marked,
                             struct redirect_decision *d)
{
    uint16_t owner = owner_of(r, dn);

    if (owner == DN_NODE_SELF) {
        if (add_contacts(r, dn, r->now_ms(), d) != 0)
            local(r, dn, "owned here", d);
        else
            answer(d, REDIRECT_UNAVAILABLE, "owned here without a live binding");
        return;
    }
    if (dn_table_status(r->table, dn) != DN_INSRV)
        answer(d, REDIRECT_UNAVAILABLE, "out of service");
    else if (marked)
        answer(d, REDIRECT_UNAVAILABLE, "forwarded once already, owned by a peer");
    else if (!dr_forward(r, p))
        answer(d, REDIRECT_UNAVAILABLE, "dr-forward off, owned by a peer");
    else if (!forward(r, owner, "owned by a peer", d))
        answer(d, REDIRECT_UNAVAILABLE, "owned by a peer without sip-address");
}

static void decide_shared(struct redirect *r, const struct dn_profile *p, bool marked,
                          struct redirect_decision *d)
{
    const char *site = p->sca_preferred_site;
    uint64_t now = r->now_ms();

    if (site != NULL && !marked && dr_forward(r, p) &&
        forward(r, dn_table_node_id(r->table, site), "shared line: preferred site", d))
        return;
    /* The preferred site is this node, unset, unknown or unreachable. */
    for (uint32_t i = 0; i < p->n_members; i++) {
        if (owner_of(r, p->members[i]) == DN_NODE_SELF)
            add_contacts(r, p->members[i], now, d);
    }
    if (d->n_contacts != 0)
        local(r, DN_KEY_NONE, "shared line: members here", d);
    else
        answer(d, REDIRECT_UNAVAILABLE, "shared line: no member here");
}

/* Routing points */

struct usable_ctx {
    struct redirect *r;
    uint64_t now;
};

/* A local agent can be offered when it holds a live binding here. */
static bool usable(void *arg, dn_key dn)
{
    struct usable_ctx *u = arg;
    const struct bindings *bs = u->r->bindings;

    for (const struct binding *b = bindings_first(bs, bindings_dn(bs, dn)); b != NULL;
         b = binding_next(bs, b)) {
        if (binding_remaining(b, u->now) != 0)
            return true;
    }
    return false;
}

static bool offer_local(struct redirect *r, uint32_t g, struct redirect_decision *d)
{
    struct usable_ctx u = {r, r->now_ms()};
    dn_key agent = rp_count_offer(&r->rp, g, usable, &u);

    if (agent == DN_KEY_NONE)
        return false;
    add_contacts(r, agent, u.now, d);
    local(r, agent, "routing point: local agent", d);
    return true;
}

/* The reachable peer with the most InSrv agents of g (ties: the lower id),
 * or DN_NODE_NONE when no reachable peer has one. *most gets its count. */
static uint16_t best_peer(const struct redirect *r, uint32_t g, uint32_t *most)
{
    uint16_t best = DN_NODE_NONE;

    *most = 0;
    for (uint16_t n = DN_NODE_SELF + 1; n < r->table->n_nodes; n++) {
        uint32_t c = rp_count_insrv(&r->rp, g, r->table, n);

        if (c > *most && reachable(r, n) != NULL) {
            best = n;
            *most = c;
        }
    }
    return best;
}

static void decide_rp(struct redirect *r, const struct dn_profile *p, bool marked,
                      struct redirect_decision *d)
{
    uint32_t g = rp_count_group(&r->rp, p);
    bool fwd = !marked && dr_forward(r, p);
    uint32_t here = rp_count_insrv(&r->rp, g, r->table, DN_NODE_SELF);
    uint32_t most = 0;
    uint16_t peer = fwd ? best_peer(r, g, &most) : DN_NODE_NONE;

    /* most-agents keeps the call here on a tie; local-first whenever it can. */
    if (peer == DN_NODE_NONE || p->distribution == DN_DIST_LOCAL_FIRST || here >= most) {
        if (offer_local(r, g, d))
            return;
    }
    if (peer != DN_NODE_NONE && forward(r, peer, "routing point: most agents", d))
        return;
    answer(d, REDIRECT_UNAVAILABLE,
           fwd ? "routing point: no agent in service" : "routing point: no agent here");
}

/* API */

void redirect_decide(struct redirect *r, dn_key dn, bool marked, struct redirect_decision *d)
{
    const struct dn_profile *p = dn != DN_KEY_NONE ? dn_dir_lookup(&r->cfg->dir, dn) : NULL;

    memset(d, 0, sizeof(*d));
    d->target_name = "";
    d->profile = p;
    if (p == NULL)
        answer(d, REDIRECT_NOT_FOUND, "not in the directory");
    else if (p->type == DN_TYPE_ROUTING_POINT)
        decide_rp(r, p, marked, d);
    else if (p->type != DN_TYPE_EXTENSION)
        answer(d, REDIRECT_FORBIDDEN, "not an extension or routing point");
    else if (p->shared_line)
        decide_shared(r, p, marked, d);
    else
        decide_extension(r, p, dn, marked, d);
    r->decisions[d->outcome]++;
}

int redirect_init(struct redirect *r, const struct config *cfg, struct dn_table *t,
                  struct bindings *bs)
{
    memset(r, 0, sizeof(*r));
    r->cfg = cfg;
    r->table = t;
    r->bindings = bs;
    r->now_ms = tc_now_ms;
    return rp_count_init(&r->rp, &cfg->dir, t);
}

void redirect_free(struct redirect *r)
{
    rp_count_free(&r->rp);
}

int redirect_reload(struct redirect *r, const struct config *cfg)
{
    struct rp_count rp;
    int rc = rp_count_init(&rp, &cfg->dir, r->table);

    if (rc != 0) {
        tc_log(ERR, "redirect: reload refused, keeping the old routing points: %s", strerror(-rc));
        return rc;
    }
    rp_count_free(&r->rp);
    r->rp = rp;
    r->cfg = cfg;
    return 0;
}

void redirect_on_change(struct redirect *r, const struct dn_change *c)
{
    if (rp_count_change(&r->rp, c->key, c->owner) != 0)
        tc_log(WARN, "redirect: routing-point agent not counted: out of memory");
}

static void on_change(void *arg, const struct dn_change *c, uint64_t seq)
{
    (void)seq;
    redirect_on_change(arg, c);
}

static void on_link(void *arg, uint16_t node, bool up, uint64_t seq)
{
    /* Counts are per owner and the link is read from the table when a
     * call comes (see rp_count.h): nothing to move. */
    (void)arg;
    (void)node;
    (void)up;
    (void)seq;
}

void redirect_listener(struct redirect *r, struct core_listener *l)
{
    *l = (struct core_listener){.on_change = on_change, .on_link = on_link, .arg = r};
}

const char *redirect_outcome_name(enum redirect_outcome o)
{
    return (unsigned)o < REDIRECT_N_OUTCOMES ? outcome_names[o] : "unknown";
}

int redirect_metrics(const struct redirect *r, struct tc_buf *b)
{
    static const char name[] = "tcluster_redirect_decisions_total";
    char labels[64];
    int rc = metrics_header(b, name, "counter",
                            "INVITE decisions of the redirect server, by outcome");

    for (unsigned o = 0; o < REDIRECT_N_OUTCOMES && rc == 0; o++) {
        snprintf(labels, sizeof(labels), "outcome=\"%s\"", outcome_names[o]);
        rc = metrics_sample_u64(b, name, labels, r->decisions[o]);
    }
    return rc;
}
