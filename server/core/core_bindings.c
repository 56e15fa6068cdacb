/* The SIP bindings held here as the core sees them: their records in the
 * store (proto Binding, STORE_DB_BINDING), the ownership decisions a
 * REGISTER or an expiry implies (DESIGN §3), and the retry of releases the
 * store had no room for. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/store.pb-c.h"
#include "server/base/clock.h"
#include "server/base/log.h"
#include "server/base/tc_err.h"
#include "server/core/bindings.h"
#include "server/core/core_int.h"
#include "storage/store.h"

/* Key of a binding in STORE_DB_BINDING: DN digits, NUL, contact URI.
 * Returns its length, or 0 when it does not fit size. */
static size_t binding_key(const struct bindings *bs, const struct binding *b, char *key,
                          size_t size)
{
    int n = dn_key_format(binding_dn(bs, b), key, size);
    size_t len = (size_t)n + 1 + b->contact_len;

    if (n < 0 || len > size)
        return 0;
    memcpy(key + n + 1, binding_contact(b), b->contact_len);
    return len;
}

/* A binding record on its way to the disk. The binding it replaced (a
 * refresh) or removed (an unbind) is kept out of the set until the store
 * answers, so that a refused record can be undone in memory (DESIGN §2
 * rule 7). Waits are queued in c->bw_head in the order their records were
 * queued, which is the order the store answers them. */
struct core_bwait {
    struct core_bwait *next;
    struct core *c;
    core_store_cb done; /* may be NULL */
    void *arg;
    dn_key dn;
    /* The binding this record put in the set (NULL for a delete); only
     * compared, never read: it may be gone since. */
    const struct binding *added;
    uint64_t added_expires_ms;
    uint32_t added_cseq;
    struct binding *kept; /* what was in the set before, owned here */
    uint16_t contact_len;
    char contact[]; /* the binding's contact, NUL-terminated */
};

static struct core_bwait *bwait_new(struct core *c, const struct binding *b, core_store_cb done,
                                    void *arg)
{
    struct core_bwait *w = calloc(1, sizeof(*w) + b->contact_len + 1);

    if (w == NULL)
        return NULL;
    w->c = c;
    w->done = done;
    w->arg = arg;
    w->dn = binding_dn(c->bindings, b);
    w->contact_len = b->contact_len;
    memcpy(w->contact, binding_contact(b), b->contact_len);
    return w;
}

static void bwait_push(struct core *c, struct core_bwait *w)
{
    *c->bw_tail = w;
    c->bw_tail = &w->next;
}

static void bwait_unlink(struct core *c, struct core_bwait *w)
{
    struct core_bwait **pp = &c->bw_head;

    while (*pp != NULL && *pp != w)
        pp = &(*pp)->next;
    if (*pp == NULL)
        return;
    *pp = w->next;
    if (c->bw_tail == &w->next)
        c->bw_tail = pp;
}

static int release_unbound(struct core *c, dn_key k, uint64_t now_ms);

/* The record of w was refused and no newer record of the same binding is
 * on its way: put back in memory what w changed. */
static void bwait_undo(struct core *c, struct core_bwait *w)
{
    struct bindings *bs = c->bindings;
    struct binding *cur = bindings_find(bs, w->dn, w->contact, w->contact_len);
    struct dn_entry *d;
    const struct dn_entry *e;
    uint64_t now = tc_now_ms();

    if (cur != NULL && cur == w->added && binding_expires_ms(cur) == w->added_expires_ms &&
        cur->cseq == w->added_cseq) {
        bindings_remove(bs, cur);
        cur = NULL;
    }
    if (cur == NULL && w->kept != NULL) {
        bindings_add(bs, w->kept); /* -ENOMEM frees it: it comes back at the restart */
        w->kept = NULL;
    }
    /* The DN's ownership follows what is held now. */
    if (core_live_bindings(c, w->dn, now) == 0) {
        release_unbound(c, w->dn, now);
        return;
    }
    e = dn_table_get(c->table, w->dn);
    d = bindings_dn(bs, w->dn);
    if (d != NULL && (e == NULL || e->owner != DN_NODE_SELF))
        bindings_set_claim_next(d, true);
}

/* The store answered w's record (the oldest one on its way). */
static void on_record_done(void *arg, int status)
{
    struct core_bwait *w = arg, *n;
    struct core *c = w->c;

    bwait_unlink(c, w);
    if (status != 0 && c->bindings != NULL) {
        core__store_error(c, "binding", status);
        for (n = w->next; n != NULL; n = n->next) {
            if (n->dn == w->dn && n->contact_len == w->contact_len &&
                memcmp(n->contact, w->contact, w->contact_len) == 0)
                break;
        }
        if (n == NULL) {
            bwait_undo(c, w);
        } else if (n->kept == w->added) {
            /* A newer record of this binding was made on top of w's: it
             * now undoes to what w would have (see on_durable() in
             * core.c for the same rule on DNs). */
            binding_free(c->bindings, n->kept);
            n->kept = w->kept;
            w->kept = NULL;
        }
    }
    if (w->kept != NULL && c->bindings != NULL)
        binding_free(c->bindings, w->kept);
    if (w->done != NULL)
        w->done(w->arg, status);
    free(w);
}

/* Queue a put (val != NULL) or a delete of key, calling done when durable. */
static int queue_record(struct core *c, const char *key, size_t klen, const void *val, size_t vlen,
                        store_done_cb done, void *arg)
{
    if (c->store == NULL)
        return -ESHUTDOWN;
    if (val != NULL)
        return store_put(c->store, STORE_DB_BINDING, key, klen, val, vlen, done, arg);
    return store_del(c->store, STORE_DB_BINDING, key, klen, done, arg);
}

static void on_record_durable(void *arg, int status)
{
    struct core *c = arg;

    if (status != 0)
        core__store_error(c, "binding", status);
}

static int put_record(struct core *c, const struct binding *b, store_done_cb done, void *arg)
{
    Tc__Binding rec = TC__BINDING__INIT;
    char dn[DN_DIR_MAX_DIGITS + 1];
    char key[STORE_MAX_KEY + 1];
    char received[BINDING_RECEIVED_MAX];
    uint8_t small[512], *buf = small;
    size_t klen, len;
    int rc;

    klen = binding_key(c->bindings, b, key, sizeof(key));
    if (klen == 0 || klen > STORE_MAX_KEY)
        return -EINVAL;
    memcpy(dn, key, strlen(key) + 1);
    rec.dn = dn;
    rec.contact = (char *)binding_contact(b);
    rec.call_id = (char *)binding_call_id(b);
    rec.cseq = b->cseq;
    rec.expires_unix_ms = binding_expires_ms(b);
    rec.received = (char *)binding_received(b, received);
    rec.params = (char *)binding_params(b);
    rec.transport = b->proto == BINDING_TCP ? "tcp" : "udp";
    rec.registered_unix_ms = binding_registered_ms(b);
    len = tc__binding__get_packed_size(&rec);
    if (len > sizeof(small) && (buf = malloc(len)) == NULL)
        return -ENOMEM;
    tc__binding__pack(&rec, buf);
    rc = queue_record(c, key, klen, buf, len, done, arg);
    if (buf != small)
        free(buf);
    return rc;
}

static int del_record(struct core *c, const struct binding *b, store_done_cb done, void *arg)
{
    char key[STORE_MAX_KEY + 1];
    size_t klen = binding_key(c->bindings, b, key, sizeof(key));

    if (klen == 0 || klen > STORE_MAX_KEY)
        return -EINVAL;
    return queue_record(c, key, klen, NULL, 0, done, arg);
}

unsigned core_live_bindings(struct core *c, dn_key k, uint64_t now_ms)
{
    const struct bindings *bs = c->bindings;
    unsigned n = 0;

    if (bs == NULL)
        return 0;
    for (struct binding *b = bindings_first(bs, bindings_dn(bs, k)); b != NULL;
         b = binding_next(bs, b))
        n += binding_expires_ms(b) > now_ms;
    return n;
}

int core_bind(struct core *c, struct binding *b, core_store_cb done, void *arg)
{
    struct binding *old = bindings_find(c->bindings, binding_dn(c->bindings, b), binding_contact(b),
                                        b->contact_len);
    struct core_bwait *w = bwait_new(c, b, done, arg);
    int rc = w != NULL ? put_record(c, b, on_record_done, w) : -ENOMEM;

    if (rc != 0) {
        free(w);
        binding_free(c->bindings, b);
        return rc;
    }
    w->added = b;
    w->added_expires_ms = binding_expires_ms(b);
    w->added_cseq = b->cseq;
    if (old != NULL) {
        bindings_take(c->bindings, old);
        w->kept = old;
    }
    bwait_push(c, w);
    /* The record is queued: from here on the binding counts, even if the
     * memory for its DN entry fails (then it comes back at the restart). */
    rc = bindings_add(c->bindings, b);
    if (rc != 0)
        w->added = NULL;
    return rc;
}

int core_unbind(struct core *c, struct binding *b, core_store_cb done, void *arg)
{
    struct core_bwait *w = bwait_new(c, b, done, arg);
    int rc = w != NULL ? del_record(c, b, on_record_done, w) : -ENOMEM;

    if (rc != 0) {
        free(w);
        return rc;
    }
    bindings_take(c->bindings, b);
    w->kept = b;
    bwait_push(c, w);
    return 0;
}

/* A claim or release asked for by core_registered(), on its way. */
struct core_rwait {
    struct core *c;
    dn_key k;
    bool claim;
    core_done_cb done;
    void *arg;
};

static void on_registered_done(void *arg, int status, const struct dn_change *ch)
{
    struct core_rwait *w = arg;
    struct core *c = w->c;
    struct dn_entry *d;

    if (status != 0 && c->bindings != NULL) {
        d = bindings_dn(c->bindings, w->k);
        /* Refused and undone: a claim is owed to the next REGISTER while a
         * binding is held; a release is retried by the expiry tick. */
        if (w->claim && d != NULL)
            bindings_set_claim_next(d, true);
        else if (!w->claim)
            release_unbound(c, w->k, tc_now_ms());
    }
    if (w->done != NULL)
        w->done(w->arg, status, ch);
    free(w);
}

int core_registered(struct core *c, dn_key k, unsigned before, unsigned after, core_done_cb done,
                    void *arg)
{
    struct dn_entry *d = bindings_dn(c->bindings, k);
    const struct dn_entry *e = dn_table_get(c->table, k);
    bool claim_next = d != NULL && bindings_claim_next(d);
    bool owned = e != NULL && e->owner == DN_NODE_SELF;
    int rc = 0;

    struct core_rwait *w = malloc(sizeof(*w));

    if (w == NULL)
        return -ENOMEM;
    *w = (struct core_rwait){.c = c, .k = k, .claim = true, .done = done, .arg = arg};
    if (after > 0 && (before == 0 || (claim_next && !owned))) {
        rc = core_claim(c, k, DN_SOURCE_SIP, on_registered_done, w);
        /* Refused (store full): the phone's binding stays, and its next
         * REGISTER - a refresh by the binding count - claims again. */
        if (rc < 0 && d != NULL)
            bindings_set_claim_next(d, true);
        rc = rc == 0 ? 1 : rc;
    } else if (after == 0 && (before > 0 || (owned && e->source == DN_SOURCE_SIP))) {
        /* The last live binding went, or none is left of a DN still owned
         * here: a binding that expired before the expiry tick reaped it
         * (the node was stopped, the tick not yet due) and that this
         * REGISTER then removed would otherwise never release it. */
        w->claim = false;
        rc = core_release(c, k, on_registered_done, w);
        /* A newer claim elsewhere owns it: nothing to release. */
        rc = rc == 0 ? 1 : rc == TC_ESTALE ? 0 : rc;
    }
    if (rc != 1)
        free(w);
    if (rc >= 0 && d != NULL)
        bindings_set_claim_next(d, false);
    return rc;
}

/* Remember k for a release retried by the next core_expire(). */
static void defer_release(struct core *c, dn_key k)
{
    if (c->n_unreleased == c->cap_unreleased) {
        size_t cap = c->cap_unreleased ? c->cap_unreleased * 2 : 64;
        dn_key *v = realloc(c->unreleased, cap * sizeof(*v));

        if (v == NULL) {
            core__store_error(c, "deferring a release", -ENOMEM);
            return;
        }
        c->unreleased = v;
        c->cap_unreleased = cap;
    }
    c->unreleased[c->n_unreleased++] = k;
}

/* A release of release_unbound() refused by the store (and undone in the
 * table): retried by the next core_expire(). */
static void on_release_done(void *arg, int status, const struct dn_change *ch)
{
    struct core *c = arg;

    if (status != 0 && c->bindings != NULL)
        defer_release(c, ch->key);
}

/* k lost its last binding here: release it if this node owns it by SIP.
 * Returns 1 when queued, 0 when nothing to do, -EBUSY (deferred). */
static int release_unbound(struct core *c, dn_key k, uint64_t now_ms)
{
    const struct dn_entry *e = dn_table_get(c->table, k);
    int rc;

    if (e == NULL || e->owner != DN_NODE_SELF || e->source != DN_SOURCE_SIP ||
        core_live_bindings(c, k, now_ms) > 0)
        return 0;
    rc = core_release(c, k, on_release_done, c);
    if (rc == -EBUSY) {
        defer_release(c, k);
        return rc;
    }
    if (rc != 0) {
        core__store_error(c, "releasing an expired DN", rc);
        return 0;
    }
    return 1;
}

struct expire_ctx {
    struct core *c;
    uint64_t now_ms;
    size_t expired;
    uint64_t released;
};

static void on_expired(void *arg, struct binding *b)
{
    struct expire_ctx *x = arg;
    struct core *c = x->c;
    dn_key dn = binding_dn(c->bindings, b);
    struct dn_entry *d = bindings_dn(c->bindings, dn);
    int rc = del_record(c, b, on_record_durable, c);

    if (rc != 0)
        core__store_error(c, "deleting an expired binding", rc);
    x->expired++;
    if (d != NULL && d->bind_head == 0) {
        bindings_set_claim_next(d, false);
        x->released += release_unbound(c, dn, x->now_ms) == 1;
    }
    binding_free(c->bindings, b);
}

size_t core_expire(struct core *c, uint64_t now_ms, uint64_t *released)
{
    struct expire_ctx x = {.c = c, .now_ms = now_ms};
    size_t n = c->n_unreleased, i;

    /* Releases the store had no room for: each is tried once more, and
     * deferred again while the store stays full. A deferred key is appended
     * at an index at most i, already read, and never past the old size. */
    c->n_unreleased = 0;
    for (i = 0; i < n; i++) {
        dn_key k = c->unreleased[i];

        x.released += release_unbound(c, k, now_ms) == 1;
    }
    bindings_expire(c->bindings, now_ms, on_expired, &x);
    if (released != NULL)
        *released += x.released;
    return x.expired;
}
