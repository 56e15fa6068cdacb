#include "server/registrar/registrar.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/store.pb-c.h"
#include "server/base/clock.h"
#include "server/base/log.h"
#include "server/base/tc_err.h"
#include "server/config/config.h"
#include "server/core/dn_store.h"
#include "server/registrar/sip_digest.h"
#include "storage/store.h"

#define REG_TICK_MS 1000

/* Key of a binding in STORE_DB_BINDING: DN digits, NUL, contact URI. */
static size_t binding_key(const struct binding *b, char *key, size_t size)
{
    int n = dn_key_format(b->dn, key, size);
    size_t len = (size_t)n + 1 + b->contact_len;

    if (len > size)
        return 0;
    memcpy(key + n + 1, binding_contact(b), b->contact_len);
    return len;
}

static int persist_binding(struct registrar *r, const struct binding *b, store_done_cb done,
                           void *arg)
{
    Tc__Binding rec = TC__BINDING__INIT;
    char dn[DN_DIR_MAX_DIGITS + 1];
    char key[512];
    uint8_t small[512], *buf = small;
    size_t klen, len;
    int rc;

    klen = binding_key(b, key, sizeof(key));
    if (klen == 0)
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
    rc = store_put(r->store, STORE_DB_BINDING, key, klen, buf, len, done, arg);
    if (buf != small)
        free(buf);
    return rc;
}

static int unpersist_binding(struct registrar *r, const struct binding *b, store_done_cb done,
                             void *arg)
{
    char key[512];
    size_t klen = binding_key(b, key, sizeof(key));

    if (klen == 0)
        return -EINVAL;
    return store_del(r->store, STORE_DB_BINDING, key, klen, done, arg);
}

/* A claim or release made durable: count it and publish it. */
struct change_wait {
    struct registrar *r;
    struct dn_change c;
    reg_durable_cb done; /* the waiting answer, or NULL */
    void *arg;
};

static void on_change_durable(void *arg, int status)
{
    struct change_wait *w = arg;

    if (status != 0) {
        w->r->stats.store_errors++;
        tc_log(ERR, "registrar: store: %s", tc_strerror(status));
    } else if (w->r->on_change != NULL) {
        w->r->on_change(w->r->change_arg, &w->c);
    }
    if (w->done != NULL)
        w->done(w->arg, status);
    free(w);
}

static void on_binding_durable(void *arg, int status)
{
    struct registrar *r = arg;

    if (status != 0) {
        r->stats.store_errors++;
        tc_log(ERR, "registrar: store: %s", tc_strerror(status));
    }
}

/* Queue the DN change c; done/arg (may be NULL) wait for it. */
static int persist_change(struct registrar *r, const struct dn_change *c, reg_durable_cb done,
                          void *arg)
{
    struct change_wait *w = malloc(sizeof(*w));
    int rc;

    if (w == NULL)
        return -ENOMEM;
    w->r = r;
    w->c = *c;
    w->done = done;
    w->arg = arg;
    rc = dn_store_put(r->store, r->table, c, on_change_durable, w);
    if (rc != 0)
        free(w);
    return rc;
}

/* After the DN's binding count went from before to after, claim or release
 * it (DESIGN §3: only initial registration and the last binding's end
 * change ownership). Returns 1 when a change was queued with done attached,
 * 0 when nothing changed, or an error. */
static int update_owner(struct registrar *r, dn_key dn, unsigned before, unsigned after,
                        uint64_t now, reg_durable_cb done, void *arg)
{
    struct dn_change c;
    int rc;

    if (before == 0 && after > 0) {
        rc = dn_table_claim(r->table, dn, DN_SOURCE_SIP, now, &c);
        r->stats.claims++;
    } else if (before > 0 && after == 0) {
        rc = dn_table_release(r->table, dn, now, &c);
        if (rc == TC_ESTALE)
            return 0; /* a newer claim elsewhere owns it: nothing to release */
        r->stats.releases++;
    } else {
        return 0;
    }
    if (rc != 0)
        return rc;
    rc = persist_change(r, &c, done, arg);
    return rc == 0 ? 1 : rc;
}

static void on_expired(void *arg, struct binding *b)
{
    struct registrar *r = arg;
    struct bindings_dn *d;

    r->stats.expired++;
    if (unpersist_binding(r, b, on_binding_durable, r) != 0)
        r->stats.store_errors++;
    d = bindings_dn(&r->bindings, b->dn, false);
    if (d != NULL && d->count == 0 && update_owner(r, b->dn, 1, 0, tc_now_ms(), NULL, NULL) < 0)
        r->stats.store_errors++;
    binding_free(&r->bindings, b);
}

static void on_tick(uv_timer_t *t)
{
    struct registrar *r = t->data;

    bindings_expire(&r->bindings, tc_now_ms(), on_expired, r);
}

int registrar_init(struct registrar *r, uv_loop_t *loop, struct dn_table *table,
                   struct store *store, const struct config_limits *lim, const char *realm)
{
    int rc;

    memset(r, 0, sizeof(*r));
    r->table = table;
    r->store = store;
    r->lim = lim;
    r->store_queue = lim->store_queue;
    rc = bindings_init(&r->bindings, tc_now_ms());
    if (rc != 0)
        return rc;
    /* The digest context is made even without passwords so a SIGHUP that
     * adds one needs nothing else. */
    rc = sip_digest_new(&r->digest, realm, 0);
    if (rc != 0) {
        bindings_free(&r->bindings);
        return rc;
    }
    uv_timer_init(loop, &r->tick);
    r->tick.data = r;
    uv_timer_start(&r->tick, on_tick, REG_TICK_MS, REG_TICK_MS);
    return 0;
}

static void on_tick_closed(uv_handle_t *h)
{
    (void)h;
}

void registrar_close(struct registrar *r)
{
    uv_timer_stop(&r->tick);
    uv_close((uv_handle_t *)&r->tick, on_tick_closed);
    bindings_free(&r->bindings);
    sip_digest_free(r->digest);
    r->digest = NULL;
}

static void answer(struct reg_answer *ans, int code, const char *reason)
{
    ans->code = code;
    ans->reason = reason;
}

/* Append "Date: <RFC 1123 date>" (RFC 3261 §20.17), formatted once per
 * second. */
static int add_date(struct registrar *r, struct tc_buf *b, uint64_t now_ms)
{
    time_t secs = (time_t)(now_ms / 1000);
    struct tm tm;

    if (r->date[0] == '\0' || r->date_sec != (uint64_t)secs) {
        gmtime_r(&secs, &tm);
        if (strftime(r->date, sizeof(r->date), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm) == 0)
            return -ENOMEM;
        r->date_sec = (uint64_t)secs;
    }
    return tc_buf_puts(b, r->date);
}

/* The 200 for a REGISTER: every current binding with its remaining time. */
static int answer_bindings(struct registrar *r, dn_key dn, uint64_t now, struct reg_answer *ans)
{
    struct bindings_dn *d = bindings_dn(&r->bindings, dn, false);
    int rc = 0;

    answer(ans, 200, "OK");
    for (struct binding *b = d ? d->head : NULL; b != NULL && rc == 0; b = b->next) {
        if (b->expires_ms <= now)
            continue;
        rc = tc_buf_printf(&ans->headers, "Contact: <%s>;expires=%u\r\n", binding_contact(b),
                           binding_remaining(b, now));
    }
    return rc ? rc : add_date(r, &ans->headers, now);
}

/* Digest authentication (RFC 3261 §22.4). Returns 0 when q carries good
 * credentials for its DN, 1 with ans filled (401, 403, 400), or -ENOMEM. */
static int check_auth(struct registrar *r, const struct reg_request *q, const char *password,
                      uint64_t now, struct reg_answer *ans)
{
    const struct sip_digest_params *p = q->auth;
    enum sip_digest_result res;
    bool stale = false;

    if (p != NULL) {
        if (p->username == NULL || strlen(p->username) != q->to_user_len ||
            memcmp(p->username, q->to_user, q->to_user_len) != 0) {
            answer(ans, 403, "Username Does Not Match The DN");
            return 1;
        }
        res = sip_digest_verify(r->digest, now / 1000, "REGISTER", p, password);
        switch (res) {
        case SIP_DIGEST_OK:
            return 0;
        case SIP_DIGEST_STALE:
            stale = true;
            break;
        case SIP_DIGEST_BAD_NONCE:
            break;
        case SIP_DIGEST_WRONG:
            r->stats.auth_failures++;
            answer(ans, 403, "Wrong Credentials");
            return 1;
        case SIP_DIGEST_MALFORMED:
            answer(ans, 400, "Bad Authorization Header");
            return 1;
        default:
            answer(ans, 500, "Authentication Error");
            return 1;
        }
    }
    answer(ans, 401, "Unauthorized");
    return sip_digest_challenge(r->digest, now / 1000, stale, &ans->headers) ? -ENOMEM : 1;
}

/* Expiry of one contact: its own param, else the Expires header, else the
 * default; 0 means remove. */
static long contact_expires(const struct registrar *r, const struct reg_request *q,
                            const struct reg_contact *c)
{
    if (c->expires >= 0)
        return c->expires;
    if (q->expires >= 0)
        return q->expires;
    return r->lim->default_expires;
}

/* RFC 3261 §10.3 step 6/7 checks, before anything changes. Returns 0 to
 * go on, or 1 with ans filled. */
static int check_contacts(struct registrar *r, const struct reg_request *q, dn_key dn, uint64_t now,
                          struct reg_answer *ans)
{
    struct bindings_dn *d = bindings_dn(&r->bindings, dn, false);
    unsigned count = 0;

    for (struct binding *b = d ? d->head : NULL; b != NULL; b = b->next) {
        if (b->expires_ms > now)
            count++;
    }
    for (unsigned i = 0; i < q->n_contacts; i++) {
        const struct reg_contact *c = &q->contacts[i];
        long exp = contact_expires(r, q, c);
        struct binding *b = bindings_find(&r->bindings, dn, c->uri, c->len);

        if (exp != 0 && exp < (long)r->lim->min_expires) {
            answer(ans, 423, "Interval Too Brief");
            return tc_buf_printf(&ans->headers, "Min-Expires: %u\r\n", r->lim->min_expires)
                           ? -ENOMEM
                           : 1;
        }
        if (b != NULL && strcmp(binding_call_id(b), q->call_id) == 0 && q->cseq < b->cseq) {
            answer(ans, 500, "Out Of Order CSeq");
            return 1;
        }
        if ((b == NULL || b->expires_ms <= now) && exp != 0)
            count++;
        else if (b != NULL && b->expires_ms > now && exp == 0)
            count--;
    }
    if (count > r->lim->max_contacts) {
        answer(ans, 403, "Too Many Contacts");
        return 1;
    }
    return 0;
}

/* Contact: * with Expires: 0 removes every binding of the DN. */
static int check_star(struct registrar *r, const struct reg_request *q, dn_key dn,
                      struct reg_answer *ans)
{
    struct bindings_dn *d = bindings_dn(&r->bindings, dn, false);

    if (q->n_contacts != 0 || q->expires != 0) {
        answer(ans, 400, "Bad Contact: * needs Expires: 0 and no other Contact");
        return 1;
    }
    for (struct binding *b = d ? d->head : NULL; b != NULL; b = b->next) {
        if (strcmp(binding_call_id(b), q->call_id) == 0 && q->cseq < b->cseq) {
            answer(ans, 500, "Out Of Order CSeq");
            return 1;
        }
    }
    return 0;
}

/* Count the DN's live bindings. */
static unsigned live_count(struct registrar *r, dn_key dn, uint64_t now)
{
    struct bindings_dn *d = bindings_dn(&r->bindings, dn, false);
    unsigned n = 0;

    for (struct binding *b = d ? d->head : NULL; b != NULL; b = b->next)
        n += b->expires_ms > now;
    return n;
}

/* Apply the REGISTER's contacts. Returns the number of store changes
 * queued, or a negative error. */
static int apply_contacts(struct registrar *r, const struct reg_request *q, dn_key dn, uint64_t now)
{
    int queued = 0, rc;

    if (q->star) {
        struct bindings_dn *d = bindings_dn(&r->bindings, dn, false);

        while (d != NULL && d->head != NULL) {
            rc = unpersist_binding(r, d->head, on_binding_durable, r);
            if (rc != 0)
                return rc;
            bindings_remove(&r->bindings, d->head);
            queued++;
        }
        return queued;
    }
    for (unsigned i = 0; i < q->n_contacts; i++) {
        const struct reg_contact *c = &q->contacts[i];
        long exp = contact_expires(r, q, c);
        struct binding *old = bindings_find(&r->bindings, dn, c->uri, c->len);
        struct binding *b;

        if (exp > (long)r->lim->max_expires)
            exp = r->lim->max_expires;
        if (exp == 0) {
            if (old == NULL)
                continue;
            rc = unpersist_binding(r, old, on_binding_durable, r);
            if (rc != 0)
                return rc;
            bindings_remove(&r->bindings, old);
            queued++;
            continue;
        }
        b = binding_new(&r->bindings, dn, c->uri, c->len, q->call_id, strlen(q->call_id),
                        q->received, q->proto, q->cseq, now + (uint64_t)exp * 1000,
                        old != NULL ? old->registered_ms : now);
        if (b == NULL)
            return -ENOMEM;
        rc = persist_binding(r, b, on_binding_durable, r);
        if (rc != 0) {
            binding_free(&r->bindings, b);
            return rc;
        }
        rc = bindings_add(&r->bindings, b);
        if (rc != 0)
            return rc;
        queued++;
    }
    return queued;
}

int registrar_register(struct registrar *r, const struct reg_request *q, struct reg_answer *ans,
                       reg_durable_cb done, void *arg)
{
    const struct dn_profile *prof;
    uint64_t now = tc_now_ms();
    unsigned before, after;
    dn_key dn;
    int rc, queued;

    if (dn_key_parse(q->to_user, q->to_user_len, &dn) != 0 ||
        (prof = dn_dir_lookup(r->table->dir, dn)) == NULL) {
        answer(ans, 404, "Not Found");
        return 0;
    }
    if (prof->type != DN_TYPE_EXTENSION) {
        answer(ans, 403, "Not An Extension");
        return 0;
    }
    if (prof->password != NULL) {
        rc = check_auth(r, q, prof->password, now, ans);
        if (rc != 0)
            return rc < 0 ? rc : 0;
    }
    if (!q->star && q->n_contacts == 0)
        return answer_bindings(r, dn, now, ans);
    rc = q->star ? check_star(r, q, dn, ans) : check_contacts(r, q, dn, now, ans);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    if (store_pending(r->store) + q->n_contacts + 8 > r->store_queue) {
        answer(ans, 503, "Service Unavailable");
        return tc_buf_puts(&ans->headers, "Retry-After: 5\r\n");
    }
    before = live_count(r, dn, now);
    queued = apply_contacts(r, q, dn, now);
    if (queued < 0)
        goto out_store_error;
    after = live_count(r, dn, now);
    rc = update_owner(r, dn, before, after, now, done, arg);
    if (rc < 0)
        goto out_store_error;
    if (rc == 0 && queued > 0 && store_barrier(r->store, done, arg) != 0)
        goto out_store_error;
    if (answer_bindings(r, dn, now, ans) != 0)
        return -ENOMEM;
    return (rc > 0 || queued > 0) ? 1 : 0;

out_store_error:
    r->stats.store_errors++;
    tc_log(ERR, "registrar: store refused a change: %s", tc_strerror(queued < 0 ? queued : rc));
    answer(ans, 500, "Store Error");
    return 0;
}
