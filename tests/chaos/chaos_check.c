#include "tests/chaos/chaos_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/tcclient.h"
#include "tests/integration/harness.h"

#define MARGIN_MS      2500 /* expiry tick and clock reading: unknown this close */
#define PRINT_MAX      40
#define CLIENT_TIMEOUT 10000

enum bstate {
    B_NONE,
    B_REMOVED,
    B_LIVE,
    B_UNKNOWN
};

struct binding {
    uint8_t st;
    uint64_t exp_lo, exp_hi;
};

/* One DN as one node reports it. */
struct view {
    bool seen;
    int status; /* Tc__DnStatus */
    int source;
    char owner[32];
    uint64_t hlc;
    char vnode[32];
};

static void violation(struct chaos_verdict *v, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void violation(struct chaos_verdict *v, const char *fmt, ...)
{
    va_list ap;

    if (v->violations++ < PRINT_MAX) {
        printf("chaos: VIOLATION: ");
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
        fflush(stdout);
    }
}

static int connect_node(const struct hnode *n, struct tcclient **out)
{
    char addr[64];

    snprintf(addr, sizeof(addr), "127.0.0.1:%u", n->tc_port);
    return tcclient_connect(out, addr, CLIENT_TIMEOUT);
}

/* Node n's snapshot of the phones' DNs into views[n phones]. */
static int snapshot(const struct hnode *n, const struct chaos_phones *w, struct view *views)
{
    struct tcclient *tc = NULL;
    uint32_t ref;
    int rc;

    memset(views, 0, w->n * sizeof(*views));
    rc = connect_node(n, &tc);
    if (rc == 0)
        rc = tcclient_subscribe(tc, 0, &ref, CLIENT_TIMEOUT);
    while (rc == 0) {
        Tc__Event *ev = NULL;
        const Tc__DnState *s;
        unsigned long dn;

        rc = tcclient_next(tc, CLIENT_TIMEOUT, &ev);
        if (rc != 0)
            break;
        if (ev->body_case == TC__EVENT__BODY_SNAPSHOT_END) {
            tcclient_event_free(ev);
            break;
        }
        if (ev->body_case == TC__EVENT__BODY_ADDRESS_INFO && (s = ev->address_info->state) &&
            (dn = strtoul(s->dn, NULL, 10)) >= w->dn_base && dn < w->dn_base + w->n) {
            struct view *vw = &views[dn - w->dn_base];

            vw->seen = true;
            vw->status = s->status;
            vw->source = s->source;
            snprintf(vw->owner, sizeof(vw->owner), "%s", s->owner);
            vw->hlc = s->version != NULL ? s->version->hlc : 0;
            snprintf(vw->vnode, sizeof(vw->vnode), "%s", s->version ? s->version->node : "");
        }
        tcclient_event_free(ev);
    }
    tcclient_close(tc);
    return rc;
}

static bool same(const struct view *a, const struct view *b)
{
    return a->seen == b->seen && a->status == b->status && a->source == b->source &&
           strcmp(a->owner, b->owner) == 0 && a->hlc == b->hlc && strcmp(a->vnode, b->vnode) == 0;
}

static const char *status_name(int s)
{
    return s == TC__DN_STATUS__DN_STATUS_INSRV ? "insrv" : "oos";
}

/* Snapshots of every node until they agree on every DN or the deadline;
 * views[i * n + k] is node i's view of phone k's DN. Reports each
 * disagreement left at the deadline. */
static void converge(const struct hcluster *c, const struct chaos_phones *w, int ms,
                     struct view *views, uint64_t *round, struct chaos_verdict *v)
{
    uint64_t start = harness_now_ms(), deadline = start + (uint64_t)ms;
    unsigned diff = 0;

    for (;;) {
        int failed = -1, rc = 0;

        *round = harness_now_ms();
        diff = 0;
        for (int i = 0; i < c->count && failed < 0; i++) {
            rc = snapshot(&c->n[i], w, &views[(size_t)i * w->n]);
            if (rc != 0)
                failed = i;
        }
        for (int i = 1; i < c->count && failed < 0; i++)
            for (unsigned k = 0; k < w->n; k++)
                diff += !same(&views[k], &views[(size_t)i * w->n + k]);
        if (failed < 0 && diff == 0)
            break;
        if (harness_now_ms() >= deadline) {
            if (failed >= 0) {
                violation(v, "%s: no snapshot from its TC port: %s", c->n[failed].name,
                          tcclient_strerror(rc));
                return;
            }
            break;
        }
        usleep(200000);
    }
    v->converge_ms = harness_now_ms() - start;
    for (unsigned k = 0; k < w->n && diff != 0; k++) {
        for (int i = 1; i < c->count; i++) {
            const struct view *a = &views[k], *b = &views[(size_t)i * w->n + k];

            if (same(a, b))
                continue;
            violation(v,
                      "DN %u: nodes disagree after %d ms: %s says %s owner '%s' version %llu@%s, "
                      "%s says %s owner '%s' version %llu@%s",
                      w->dn_base + k, ms, c->n[0].name, status_name(a->status), a->owner,
                      (unsigned long long)a->hlc, a->vnode, c->n[i].name, status_name(b->status),
                      b->owner, (unsigned long long)b->hlc, b->vnode);
        }
    }
}

/* Each phone's binding at each node after its whole history. A refusal
 * changes nothing (RFC 3261 10.3 step 7, DESIGN section 2 rule 7), unless
 * refused_unknown: then the node's binding is unknown, as after a timeout
 * (for the open bug where a REGISTER answered 500 keeps its binding when
 * the store commits its binding and refuses its claim in separate
 * transactions; see tests/integration/test_register_atomic.c). */
static void replay(const struct chaos_phones *w, bool refused_unknown, struct binding *b,
                   struct chaos_verdict *v)
{
    for (size_t i = 0; i < w->nrecs; i++) {
        const struct chaos_rec *r = &w->recs[i];
        struct binding *x = &b[(size_t)r->phone * CHAOS_NODES + r->node];

        if (r->result == CHAOS_TIMEOUT) {
            x->st = B_UNKNOWN;
        } else if (r->result == CHAOS_REFUSED) {
            if (refused_unknown && r->code >= 500)
                x->st = B_UNKNOWN;
        } else if (r->op == CHAOS_OP_UNREGISTER) {
            x->st = B_REMOVED;
        } else if (r->expires == 0) {
            violation(v, "DN %u: 200 to a REGISTER at sip%u without the phone's Contact",
                      w->dn_base + r->phone, r->node + 1);
            x->st = B_UNKNOWN;
        } else {
            x->st = B_LIVE;
            x->exp_lo = r->sent_ms + (uint64_t)r->expires * 1000;
            x->exp_hi = r->done_ms + (uint64_t)r->expires * 1000;
        }
    }
}

/* A live binding that expires close to [t0, t1] is unknown; one long
 * expired is none. */
static enum bstate at_check(const struct binding *b, uint64_t t0, uint64_t t1)
{
    if (b->st != B_LIVE)
        return (enum bstate)b->st;
    if (b->exp_hi + MARGIN_MS < t0)
        return B_NONE;
    if (b->exp_lo > t1 + MARGIN_MS)
        return B_LIVE;
    return B_UNKNOWN;
}

static int node_index(const struct hcluster *c, const char *name)
{
    for (int i = 0; i < c->count; i++)
        if (strcmp(c->n[i].name, name) == 0)
            return i;
    return -1;
}

/* Whether node i, the owner, lists contact among dn's bindings. */
static bool owner_holds(struct tcclient *tc, unsigned dn, const char *contact, int *rc)
{
    char dn_text[16];
    Tc__Event *ev = NULL;
    uint32_t ref;
    bool found = false;

    snprintf(dn_text, sizeof(dn_text), "%u", dn);
    *rc = tcclient_query_dn(tc, dn_text, &ref, CLIENT_TIMEOUT);
    if (*rc == 0)
        *rc = tcclient_next_for(tc, ref, CLIENT_TIMEOUT, &ev);
    if (*rc == 0 && ev->body_case == TC__EVENT__BODY_ADDRESS_INFO) {
        const Tc__DnState *s = ev->address_info->state;

        for (size_t j = 0; s != NULL && j < s->n_bindings && !found; j++)
            found = strcmp(s->bindings[j], contact) == 0;
    }
    tcclient_event_free(ev);
    return found;
}

/* The phone's requests, for a violation's report. */
static void dump_history(const struct chaos_phones *w, unsigned k, uint64_t t0)
{
    static const char *const results[] = {"200", "refused", "timeout"};
    size_t total = 0, seen = 0;

    for (size_t i = 0; i < w->nrecs; i++)
        total += w->recs[i].phone == k;
    for (size_t i = 0; i < w->nrecs; i++) {
        const struct chaos_rec *r = &w->recs[i];

        /* The last 30 are enough to see what happened. */
        if (r->phone != k || seen++ + 30 < total)
            continue;
        printf("chaos:   DN %u %+8.3f s .. %+8.3f s  sip%u %-10s expires %-4u -> %s",
               w->dn_base + k, ((double)r->sent_ms - (double)t0) / 1000.0,
               ((double)r->done_ms - (double)t0) / 1000.0, r->node + 1, chaos_op_names[r->op],
               r->expires, results[r->result]);
        if (r->result == CHAOS_REFUSED)
            printf(" %u", r->code);
        printf("\n");
    }
}

static void check_dn_states(const struct hcluster *c, const struct chaos_phones *w, unsigned k,
                            const struct view *vw, const enum bstate *st, struct tcclient **tcs,
                            struct chaos_verdict *v)
{
    unsigned dn = w->dn_base + k;
    char contact[64], live[64] = "", possible[64] = "", removed[64] = "";
    bool any_live = false, any_possible = false;
    int owner = vw->owner[0] != '\0' ? node_index(c, vw->owner) : -1;
    bool insrv = vw->status == TC__DN_STATUS__DN_STATUS_INSRV;

    chaos_contact(contact, sizeof(contact), dn);
    for (int x = 0; x < CHAOS_NODES; x++) {
        char *list = st[x] == B_LIVE ? live : st[x] == B_REMOVED ? removed : NULL;
        size_t len;

        if (st[x] == B_LIVE || st[x] == B_UNKNOWN) {
            any_possible = true;
            len = strlen(possible);
            snprintf(possible + len, sizeof(possible) - len, " sip%d", x + 1);
        }
        any_live |= st[x] == B_LIVE;
        if (list != NULL) {
            len = strlen(list);
            snprintf(list + len, sizeof(live) - len, " sip%d", x + 1);
        }
    }
    if (any_live && !insrv) {
        violation(v,
                  "DN %u: binding acknowledged at%s and not removed or expired, but the DN "
                  "is OOS (owner '%s')",
                  dn, live, vw->owner);
        return;
    }
    if (!any_possible && (insrv || vw->owner[0] != '\0')) {
        violation(v,
                  "DN %u: every binding was removed (at%s) or expired, yet the DN is %s owned "
                  "by '%s'",
                  dn, removed[0] ? removed : " none", status_name(vw->status), vw->owner);
        return;
    }
    if (!insrv)
        return;
    if (owner < 0 || (st[owner] != B_LIVE && st[owner] != B_UNKNOWN)) {
        violation(v,
                  "DN %u: owned by '%s', where the phone holds no binding (%s there); "
                  "possible:%s",
                  dn, vw->owner,
                  owner < 0                ? "unknown node"
                  : st[owner] == B_REMOVED ? "removed"
                                           : "none",
                  possible);
        return;
    }
    if (vw->source != TC__SOURCE__SOURCE_SIP)
        violation(v, "DN %u: owned by %s with source %d, not sip", dn, vw->owner, vw->source);
    if (st[owner] == B_LIVE && tcs[owner] != NULL) {
        int rc = 0;

        if (!owner_holds(tcs[owner], dn, contact, &rc))
            violation(v, "DN %u: owner %s does not list the acknowledged binding %s%s%s", dn,
                      vw->owner, contact, rc ? ": " : "", rc ? tcclient_strerror(rc) : "");
    }
}

static void check_dn(const struct hcluster *c, const struct chaos_phones *w, unsigned k,
                     const struct view *vw, const enum bstate *st, struct tcclient **tcs,
                     struct chaos_verdict *v, uint64_t t0)
{
    unsigned before = v->violations;

    check_dn_states(c, w, k, vw, st, tcs, v);
    if (v->violations != before && before < PRINT_MAX) {
        printf("chaos:   (times from the check's snapshot; the phone's requests:)\n");
        dump_history(w, k, t0);
    }
}

void chaos_check(const struct hcluster *c, const struct chaos_phones *w, int converge_ms,
                 bool refused_unknown, struct chaos_verdict *v)
{
    struct view *views = calloc((size_t)c->count * w->n, sizeof(*views));
    struct binding *b = calloc((size_t)w->n * CHAOS_NODES, sizeof(*b));
    struct tcclient *tcs[CHAOS_NODES] = {NULL};
    uint64_t t0, t1;

    if (views == NULL || b == NULL) {
        violation(v, "out of memory");
        goto out;
    }
    converge(c, w, converge_ms, views, &t0, v);
    replay(w, refused_unknown, b, v);
    for (int i = 0; i < c->count; i++) {
        int rc = connect_node(&c->n[i], &tcs[i]);

        if (rc != 0)
            violation(v, "%s: TC port: %s", c->n[i].name, tcclient_strerror(rc));
    }
    /* Bindings are read now: the window covers both. */
    t1 = harness_now_ms() + 2000;
    for (unsigned k = 0; k < w->n; k++) {
        enum bstate st[CHAOS_NODES];

        for (int x = 0; x < CHAOS_NODES; x++) {
            st[x] = at_check(&b[(size_t)k * CHAOS_NODES + x], t0, t1);
            v->live += st[x] == B_LIVE;
            v->removed += st[x] == B_REMOVED;
            v->unknown += st[x] == B_UNKNOWN;
        }
        v->dns++;
        check_dn(c, w, k, &views[k], st, tcs, v, t0);
    }
out:
    for (int i = 0; i < CHAOS_NODES; i++)
        tcclient_close(tcs[i]);
    free(views);
    free(b);
}
