/* The SIP bindings held here as the core sees them: their records in the
 * store (proto Binding, STORE_DB_BINDING), the ownership decisions a
 * REGISTER or an expiry implies (DESIGN §3), and the retry of releases the
 * store had no room for. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/store.pb-c.h"
#include "server/base/log.h"
#include "server/base/tc_err.h"
#include "server/core/bindings.h"
#include "server/core/core_int.h"
#include "storage/store.h"

/* Key of a binding in STORE_DB_BINDING: DN digits, NUL, contact URI.
 * Returns its length, or 0 when it does not fit size. */
static size_t binding_key(const struct binding *b, char *key, size_t size)
{
    int n = dn_key_format(b->dn, key, size);
    size_t len = (size_t)n + 1 + b->contact_len;

    if (n < 0 || len > size)
        return 0;
    memcpy(key + n + 1, binding_contact(b), b->contact_len);
    return len;
}

/* A binding record on its way to the disk, for a caller that waits. */
struct core_bwait {
    struct core *c;
    core_store_cb done;
    void *arg;
};

static void on_record_durable(void *arg, int status)
{
    struct core *c = arg;

    if (status != 0)
        core__store_error(c, "binding", status);
}

static void on_record_waited(void *arg, int status)
{
    struct core_bwait *w = arg;

    if (status != 0)
        core__store_error(w->c, "binding", status);
    w->done(w->arg, status);
    free(w);
}

/* Queue a put (val != NULL) or a delete of key, calling done when durable. */
static int queue_record(struct core *c, const char *key, size_t klen, const void *val, size_t vlen,
                        core_store_cb done, void *arg)
{
    struct core_bwait *w = NULL;
    store_done_cb cb = on_record_durable;
    void *cb_arg = c;
    int rc;

    if (c->store == NULL)
        return -ESHUTDOWN;
    if (done != NULL) {
        w = malloc(sizeof(*w));
        if (w == NULL)
            return -ENOMEM;
        *w = (struct core_bwait){c, done, arg};
        cb = on_record_waited;
        cb_arg = w;
    }
    if (val != NULL)
        rc = store_put(c->store, STORE_DB_BINDING, key, klen, val, vlen, cb, cb_arg);
    else
        rc = store_del(c->store, STORE_DB_BINDING, key, klen, cb, cb_arg);
    if (rc != 0)
        free(w);
    return rc;
}

static int put_record(struct core *c, const struct binding *b, core_store_cb done, void *arg)
{
    Tc__Binding rec = TC__BINDING__INIT;
    char dn[DN_DIR_MAX_DIGITS + 1];
    char key[STORE_MAX_KEY + 1];
    uint8_t small[512], *buf = small;
    size_t klen, len;
    int rc;

    klen = binding_key(b, key, sizeof(key));
    if (klen == 0 || klen > STORE_MAX_KEY)
        return -EINVAL;
    dn_key_format(b->dn, dn, sizeof(dn));
    rec.dn = dn;
    rec.contact = (char *)binding_contact(b);
    rec.call_id = (char *)binding_call_id(b);
    rec.cseq = b->cseq;
    rec.expires_unix_ms = b->expires_ms;
    rec.received = (char *)binding_received(b);
    rec.transport = b->proto == BINDING_TCP ? "tcp" : "udp";
    rec.registered_unix_ms = b->registered_ms;
    len = tc__binding__get_packed_size(&rec);
    if (len > sizeof(small) && (buf = malloc(len)) == NULL)
        return -ENOMEM;
    tc__binding__pack(&rec, buf);
    rc = queue_record(c, key, klen, buf, len, done, arg);
    if (buf != small)
        free(buf);
    return rc;
}

static int del_record(struct core *c, const struct binding *b, core_store_cb done, void *arg)
{
    char key[STORE_MAX_KEY + 1];
    size_t klen = binding_key(b, key, sizeof(key));

    if (klen == 0 || klen > STORE_MAX_KEY)
        return -EINVAL;
    return queue_record(c, key, klen, NULL, 0, done, arg);
}

unsigned core_live_bindings(struct core *c, dn_key k, uint64_t now_ms)
{
    struct bindings_dn *d;
    unsigned n = 0;

    if (c->bindings == NULL)
        return 0;
    d = bindings_dn(c->bindings, k, false);
    for (struct binding *b = d != NULL ? d->head : NULL; b != NULL; b = b->next)
        n += b->expires_ms > now_ms;
    return n;
}

int core_bind(struct core *c, struct binding *b, core_store_cb done, void *arg)
{
    int rc = put_record(c, b, done, arg);

    if (rc != 0) {
        binding_free(c->bindings, b);
        return rc;
    }
    /* The record is queued: from here on the binding counts, even if the
     * memory for its DN entry fails (then it comes back at the restart). */
    return bindings_add(c->bindings, b);
}

int core_unbind(struct core *c, struct binding *b, core_store_cb done, void *arg)
{
    int rc = del_record(c, b, done, arg);

    bindings_remove(c->bindings, b);
    return rc;
}

int core_registered(struct core *c, dn_key k, unsigned before, unsigned after, core_done_cb done,
                    void *arg)
{
    struct bindings_dn *d = bindings_dn(c->bindings, k, false);
    const struct dn_entry *e = dn_table_get(c->table, k);
    bool claim_next = d != NULL && d->claim_next;
    bool owned = e != NULL && e->owner == DN_NODE_SELF;
    int rc = 0;

    if (after > 0 && (before == 0 || (claim_next && !owned))) {
        rc = core_claim(c, k, DN_SOURCE_SIP, done, arg);
        /* Refused (store full): the phone's binding stays, and its next
         * REGISTER - a refresh by the binding count - claims again. */
        if (rc < 0 && d != NULL)
            d->claim_next = true;
        rc = rc == 0 ? 1 : rc;
    } else if (before > 0 && after == 0) {
        rc = core_release(c, k, done, arg);
        /* A newer claim elsewhere owns it: nothing to release. */
        rc = rc == 0 ? 1 : rc == TC_ESTALE ? 0 : rc;
    }
    if (rc >= 0 && d != NULL)
        d->claim_next = false;
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

/* k lost its last binding here: release it if this node owns it by SIP.
 * Returns 1 when queued, 0 when nothing to do, -EBUSY (deferred). */
static int release_unbound(struct core *c, dn_key k, uint64_t now_ms)
{
    const struct dn_entry *e = dn_table_get(c->table, k);
    int rc;

    if (e == NULL || e->owner != DN_NODE_SELF || e->source != DN_SOURCE_SIP ||
        core_live_bindings(c, k, now_ms) > 0)
        return 0;
    rc = core_release(c, k, NULL, NULL);
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
    struct bindings_dn *d = bindings_dn(c->bindings, b->dn, false);
    int rc = del_record(c, b, NULL, NULL);

    if (rc != 0)
        core__store_error(c, "deleting an expired binding", rc);
    x->expired++;
    if (d != NULL && d->count == 0) {
        d->claim_next = false;
        x->released += release_unbound(c, b->dn, x->now_ms) == 1;
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
