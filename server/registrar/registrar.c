#include "server/registrar/registrar.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/base/clock.h"
#include "server/base/log.h"
#include "server/base/tc_err.h"
#include "server/config/config.h"
#include "server/core/bindings.h"
#include "server/core/core.h"
#include "server/registrar/auth_fail.h"
#include "server/registrar/auth_limit.h"
#include "server/registrar/sip_digest.h"

#define REG_TICK_MS 1000

/* Store changes kept free beyond a REGISTER's own, for the ownership
 * change and the other ports: fuller than that, the REGISTER gets 503. */
#define REG_STORE_SPARE 8

/* A REGISTER waiting for its changes (bindings and ownership) to be
 * durable. pending counts the changes queued plus one held by
 * registrar_register() itself while it queues them, so done cannot run
 * before the last one is queued. */
struct reg_wait {
    reg_durable_cb done; /* NULL once the answer went out another way */
    void *arg;
    unsigned pending;
    int status; /* the first error reported */
};

static void wait_put(struct reg_wait *w, int status)
{
    if (status != 0 && w->status == 0)
        w->status = status;
    if (--w->pending > 0)
        return;
    if (w->done != NULL)
        w->done(w->arg, w->status);
    free(w);
}

/* The answer goes out now: drop registrar_register()'s hold; changes
 * already queued still report to w, and the last one frees it. */
static void wait_abandon(struct reg_wait *w)
{
    w->done = NULL;
    wait_put(w, 0);
}

static void on_binding_durable(void *arg, int status)
{
    wait_put(arg, status);
}

static void on_owner_durable(void *arg, int status, const struct dn_change *c)
{
    (void)c;
    wait_put(arg, status);
}

/* One line per REG_AUTH_LOG_MS at most for wrong guesses, whatever their
 * rate: WARN when some were throttled, NOTICE otherwise. */
static void auth_log_flush(struct registrar *r, uint64_t now)
{
    struct registrar_auth_log *l = &r->alog;

    if (now - l->since_ms < REG_AUTH_LOG_MS)
        return;
    if (l->throttled > 0) {
        tc_log(WARN,
               "auth: %llu wrong guesses and %llu throttled in the last %llu s, the last from "
               "%s for %s",
               (unsigned long long)l->wrong, (unsigned long long)l->throttled,
               (unsigned long long)(now - l->since_ms) / 1000, l->source, l->dn);
    } else if (l->wrong > 0) {
        tc_log(NOTICE, "auth: %llu wrong guesses in the last %llu s, the last from %s for %s",
               (unsigned long long)l->wrong, (unsigned long long)(now - l->since_ms) / 1000,
               l->source, l->dn);
    }
    l->since_ms = now;
    l->wrong = 0;
    l->throttled = 0;
}

static void on_tick(uv_timer_t *t)
{
    struct registrar *r = t->data;
    uint64_t now = tc_now_ms();

    r->stats.expired += core_expire(r->core, now, &r->stats.releases);
    auth_log_flush(r, now);
}

int registrar_init(struct registrar *r, uv_loop_t *loop, struct core *core,
                   const struct config_limits *lim, const char *realm)
{
    int rc;

    memset(r, 0, sizeof(*r));
    r->core = core;
    r->lim = lim;
    /* The digest context is made even without passwords so a SIGHUP that
     * adds one needs nothing else. */
    rc = sip_digest_new(&r->digest, realm, 0);
    if (rc != 0)
        return rc;
    r->by_source = malloc(sizeof(*r->by_source));
    r->by_dn = malloc(sizeof(*r->by_dn));
    if (r->by_source == NULL || r->by_dn == NULL) {
        rc = -ENOMEM;
        goto out_free_limits;
    }
    auth_limit_init(r->by_source, REG_AUTH_SOURCE_BURST, REG_AUTH_SOURCE_REFILL_MS);
    auth_limit_init(r->by_dn, REG_AUTH_DN_BURST, REG_AUTH_DN_REFILL_MS);
    r->alog.since_ms = tc_now_ms();
    uv_timer_init(loop, &r->tick);
    r->tick.data = r;
    uv_timer_start(&r->tick, on_tick, REG_TICK_MS, REG_TICK_MS);
    return 0;

out_free_limits:
    free(r->by_dn);
    free(r->by_source);
    sip_digest_free(r->digest);
    r->digest = NULL;
    return rc;
}

static void on_tick_closed(uv_handle_t *h)
{
    (void)h;
}

void registrar_close(struct registrar *r)
{
    uv_timer_stop(&r->tick);
    uv_close((uv_handle_t *)&r->tick, on_tick_closed);
    sip_digest_free(r->digest);
    r->digest = NULL;
    free(r->by_source);
    free(r->by_dn);
    r->by_source = NULL;
    r->by_dn = NULL;
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

/* The 200 for a REGISTER: every current binding with the parameters it
 * was registered with and its remaining time. */
static int answer_bindings(struct registrar *r, dn_key dn, uint64_t now, struct reg_answer *ans)
{
    const struct bindings *bs = r->core->bindings;
    int rc = 0;

    answer(ans, 200, "OK");
    for (struct binding *b = bindings_first(bs, bindings_dn(bs, dn)); b != NULL && rc == 0;
         b = binding_next(bs, b)) {
        if (binding_expires_ms(b) <= now)
            continue;
        rc = tc_buf_printf(&ans->headers, "Contact: <%s>%s;expires=%u\r\n", binding_contact(b),
                           binding_params(b), binding_remaining(b, now));
    }
    return rc ? rc : add_date(r, &ans->headers, now);
}

/* The source address of q ("udp:1.2.3.4:5060" or "tcp:[::1]:5060" in
 * q->received) into out: the key of its wrong-guess bucket. */
static void source_ip(const struct reg_request *q, char *out, size_t cap)
{
    const char *p = q->received != NULL ? strchr(q->received, ':') : NULL;
    const char *end;

    if (p == NULL) {
        snprintf(out, cap, "?");
        return;
    }
    p++;
    if (*p == '[') {
        p++;
        end = strchr(p, ']');
    } else {
        end = strrchr(p, ':');
    }
    if (end == NULL)
        end = p + strlen(p);
    snprintf(out, cap, "%.*s", (int)(end - p), p);
}

/* Note a wrong guess (throttled: a refused unchecked one) for the summary
 * line and, when wrong, take a token from the source's and the DN's
 * buckets. */
static void auth_note(struct registrar *r, const char *src, const char *dn, bool throttled,
                      uint64_t now)
{
    struct registrar_auth_log *l = &r->alog;

    if (throttled) {
        r->stats.auth_throttled++;
        l->throttled++;
    } else {
        r->stats.auth_wrong++;
        l->wrong++;
        auth_limit_fail(r->by_source, src, strlen(src), now);
        auth_limit_fail(r->by_dn, dn, strlen(dn), now);
    }
    snprintf(l->source, sizeof(l->source), "%s", src);
    snprintf(l->dn, sizeof(l->dn), "%s", dn);
    tc_log(DEBUG, "auth: %s guess from %s for %s", throttled ? "throttled" : "wrong", src, dn);
}

/* Log a failed login of q: for dn, or the To user when dn is NULL. */
static void log_failure(const struct reg_request *q, const char *dn, enum auth_fail why)
{
    if (dn != NULL)
        auth_fail_log(q->received, dn, strlen(dn), why);
    else
        auth_fail_log(q->received, q->to_user, q->to_user_len, why);
}

/* What the DN is challenged with: its profile's realm and algorithms
 * (config_check_dir() gave every profile both). */
static void make_offer(const struct dn_profile *prof, struct sip_digest_offer *o)
{
    o->realm = prof->auth_realm; /* NULL: the registrar's default */
    o->n_algs = 0;
    for (unsigned i = 0; i < DN_AUTH_ALGS_MAX && i < SIP_DIGEST_MAX_ALGS; i++) {
        if (prof->auth_algs[i] == DN_AUTH_MD5)
            o->algs[o->n_algs++] = SIP_DIGEST_MD5;
        else if (prof->auth_algs[i] == DN_AUTH_SHA256)
            o->algs[o->n_algs++] = SIP_DIGEST_SHA256;
    }
    if (o->n_algs == 0)
        o->algs[o->n_algs++] = SIP_DIGEST_MD5;
}

/* Answer 401 with a fresh challenge for the DN. Returns 1 or -ENOMEM. */
static int challenge(struct registrar *r, const char *dn, const struct sip_digest_offer *o,
                     bool stale, uint64_t now, struct reg_answer *ans)
{
    answer(ans, 401, "Unauthorized");
    return sip_digest_challenge(r->digest, now / 1000, stale, dn, o, &ans->headers) ? -ENOMEM : 1;
}

/* Check credentials p for DN dn from source src, sent in a REGISTER to
 * request_uri, unless they are throttled. Returns 0 or 1 like check_auth(). */
static int check_digest(struct registrar *r, const struct reg_request *q,
                        const struct dn_profile *prof, const char *src, const char *dn,
                        uint64_t now, struct reg_answer *ans)
{
    const struct sip_digest_params *p = q->auth;
    struct sip_digest_offer o;
    enum sip_digest_result res;

    /* Over the limit the guess is not checked at all, so a right one
     * teaches nothing; 403, not 503, so phones do not fail over and
     * carry the guesses elsewhere. */
    if (auth_limit_throttled(r->by_source, src, strlen(src), now) ||
        auth_limit_throttled(r->by_dn, dn, strlen(dn), now)) {
        auth_note(r, src, dn, true, now);
        log_failure(q, dn, AUTH_FAIL_THROTTLED);
        answer(ans, 403, "Too Many Failed Attempts");
        return 1;
    }
    /* RFC 7616 §3.4.6: the digest covers uri, so a response captured for
     * one Request-URI must not serve another. */
    if (p->uri != NULL && (q->request_uri == NULL || strcmp(p->uri, q->request_uri) != 0)) {
        r->stats.auth_uri++;
        answer(ans, 400, "Authorization URI Does Not Match Request-URI");
        return 1;
    }
    make_offer(prof, &o);
    res = sip_digest_verify(r->digest, now / 1000, "REGISTER", p, prof->password, &o);
    switch (res) {
    case SIP_DIGEST_OK:
        return 0;
    case SIP_DIGEST_STALE:
        log_failure(q, dn, AUTH_FAIL_STALE);
        return challenge(r, dn, &o, true, now, ans);
    case SIP_DIGEST_REPLAY:
        /* A repeated or lower nc: maybe a replay, maybe a client that lost
         * count; either way a fresh nonce, with stale=true (RFC 7616 §3.4). */
        r->stats.auth_replay++;
        log_failure(q, dn, AUTH_FAIL_REPLAY);
        return challenge(r, dn, &o, true, now, ans);
    case SIP_DIGEST_BAD_NONCE:
        r->stats.auth_bad_nonce++;
        log_failure(q, dn, AUTH_FAIL_BAD_NONCE);
        return challenge(r, dn, &o, false, now, ans);
    case SIP_DIGEST_WRONG:
        auth_note(r, src, dn, false, now);
        log_failure(q, dn, AUTH_FAIL_WRONG_PASSWORD);
        answer(ans, 403, "Wrong Credentials");
        return 1;
    case SIP_DIGEST_NOT_OFFERED:
        r->stats.auth_not_offered++;
        log_failure(q, dn, AUTH_FAIL_NOT_OFFERED);
        answer(ans, 403, "Digest Algorithm Not Offered");
        return 1;
    case SIP_DIGEST_MALFORMED:
        r->stats.auth_malformed++;
        answer(ans, 400, "Bad Authorization Header");
        return 1;
    default:
        answer(ans, 500, "Authentication Error");
        return 1;
    }
}

/* Digest authentication (RFC 3261 §22.4). Returns 0 when q carries good
 * credentials for its DN, 1 with ans filled (401, 403, 400), or -ENOMEM. */
static int check_auth(struct registrar *r, const struct reg_request *q,
                      const struct dn_profile *prof, uint64_t now, struct reg_answer *ans)
{
    const struct sip_digest_params *p = q->auth;
    char dn[SIP_DIGEST_MAX_FIELD + 1];
    struct sip_digest_offer o;
    char src[64];

    snprintf(dn, sizeof(dn), "%.*s", (int)q->to_user_len, q->to_user);
    if (p == NULL) {
        make_offer(prof, &o);
        return challenge(r, dn, &o, false, now, ans);
    }
    if (p->username == NULL || strlen(p->username) != q->to_user_len ||
        memcmp(p->username, q->to_user, q->to_user_len) != 0) {
        r->stats.auth_user++;
        log_failure(q, dn, AUTH_FAIL_USER_MISMATCH);
        answer(ans, 403, "Username Does Not Match The DN");
        return 1;
    }
    source_ip(q, src, sizeof(src));
    return check_digest(r, q, prof, src, dn, now, ans);
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
    const struct bindings *bs = r->core->bindings;
    unsigned count = 0;

    for (struct binding *b = bindings_first(bs, bindings_dn(bs, dn)); b != NULL;
         b = binding_next(bs, b)) {
        if (binding_expires_ms(b) > now)
            count++;
    }
    for (unsigned i = 0; i < q->n_contacts; i++) {
        const struct reg_contact *c = &q->contacts[i];
        long exp = contact_expires(r, q, c);
        struct binding *b = bindings_find(r->core->bindings, dn, c->uri, c->len);

        if (c->params_len > REG_MAX_CONTACT_PARAMS) {
            answer(ans, 400, "Contact Parameters Too Long");
            return 1;
        }
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
        if ((b == NULL || binding_expires_ms(b) <= now) && exp != 0)
            count++;
        else if (b != NULL && binding_expires_ms(b) > now && exp == 0)
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
    const struct bindings *bs = r->core->bindings;

    if (q->n_contacts != 0 || q->expires != 0) {
        answer(ans, 400, "Bad Contact: * needs Expires: 0 and no other Contact");
        return 1;
    }
    for (struct binding *b = bindings_first(bs, bindings_dn(bs, dn)); b != NULL;
         b = binding_next(bs, b)) {
        if (strcmp(binding_call_id(b), q->call_id) == 0 && q->cseq < b->cseq) {
            answer(ans, 500, "Out Of Order CSeq");
            return 1;
        }
    }
    return 0;
}

/* Apply the REGISTER's contacts through the core; each change queued
 * joins w. Returns 0 or a negative error (changes queued before it still
 * report to w). */
static int apply_contacts(struct registrar *r, const struct reg_request *q, dn_key dn, uint64_t now,
                          struct reg_wait *w)
{
    struct bindings *bs = r->core->bindings;
    int rc;

    if (q->star) {
        struct binding *b;

        while ((b = bindings_first(bs, bindings_dn(bs, dn))) != NULL) {
            rc = core_unbind(r->core, b, on_binding_durable, w);
            if (rc != 0)
                return rc;
            w->pending++;
        }
        return 0;
    }
    for (unsigned i = 0; i < q->n_contacts; i++) {
        const struct reg_contact *c = &q->contacts[i];
        long exp = contact_expires(r, q, c);
        struct binding *old = bindings_find(bs, dn, c->uri, c->len);
        struct binding *b;

        if (exp > (long)r->lim->max_expires)
            exp = r->lim->max_expires;
        if (exp == 0 && old == NULL)
            continue;
        if (exp == 0) {
            rc = core_unbind(r->core, old, on_binding_durable, w);
        } else {
            b = binding_new(bs, dn, c->uri, c->len, q->call_id, strlen(q->call_id), q->received,
                            c->params, q->proto, q->cseq, now + (uint64_t)exp * 1000,
                            old != NULL ? binding_registered_ms(old) : now);
            if (b == NULL)
                return -ENOMEM;
            rc = core_bind(r->core, b, on_binding_durable, w);
        }
        if (rc != 0)
            return rc;
        w->pending++;
    }
    return 0;
}

/* Queue the REGISTER's changes: bindings, then the ownership change the
 * core decides from them. Returns 0 or a negative error. */
static int queue_group(struct registrar *r, const struct reg_request *q, dn_key dn, uint64_t now,
                       struct reg_wait *w)
{
    unsigned before = core_live_bindings(r->core, dn, now);
    unsigned after;
    int rc = apply_contacts(r, q, dn, now, w);

    if (rc != 0)
        return rc;
    after = core_live_bindings(r->core, dn, now);
    rc = core_registered(r->core, dn, before, after, on_owner_durable, w);
    if (rc <= 0)
        return rc;
    w->pending++;
    if (after > 0)
        r->stats.claims++;
    else
        r->stats.releases++;
    return 0;
}

/* The same as one store transaction: a REGISTER answered 500 must leave
 * no binding and no claim behind, nor a 200 half of them. */
static int queue_changes(struct registrar *r, const struct reg_request *q, dn_key dn, uint64_t now,
                         struct reg_wait *w)
{
    int rc;

    core_group_begin(r->core);
    rc = queue_group(r, q, dn, now, w);
    core_group_end(r->core, rc == 0);
    return rc;
}

/* The store refused a change (err): 503 when its queue is full, else 500. */
static int answer_store_error(struct registrar *r, int err, struct reg_answer *ans)
{
    if (err == -EBUSY) {
        answer(ans, 503, "Service Unavailable");
        return tc_buf_puts(&ans->headers, "Retry-After: 5\r\n");
    }
    r->stats.store_errors++;
    tc_log(ERR, "registrar: store refused a change: %s", tc_strerror(err));
    answer(ans, 500, "Store Error");
    return 0;
}

int registrar_register(struct registrar *r, const struct reg_request *q, struct reg_answer *ans,
                       reg_durable_cb done, void *arg)
{
    const struct dn_profile *prof;
    uint64_t now = tc_now_ms();
    struct reg_wait *w;
    dn_key dn;
    int rc;

    if (dn_key_parse(q->to_user, q->to_user_len, &dn) != 0 ||
        (prof = dn_dir_lookup(r->core->table->dir, dn)) == NULL) {
        /* Credentials for a DN we do not have: a guessed user. */
        if (q->auth != NULL)
            log_failure(q, NULL, AUTH_FAIL_UNKNOWN_USER);
        answer(ans, 404, "Not Found");
        return 0;
    }
    if (prof->type != DN_TYPE_EXTENSION) {
        answer(ans, 403, "Not An Extension");
        return 0;
    }
    if (prof->password != NULL) {
        rc = check_auth(r, q, prof, now, ans);
        if (rc != 0)
            return rc < 0 ? rc : 0;
    }
    if (!q->star && q->n_contacts == 0)
        return answer_bindings(r, dn, now, ans);
    rc = q->star ? check_star(r, q, dn, ans) : check_contacts(r, q, dn, now, ans);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    if (!core_has_room(r->core, q->n_contacts + REG_STORE_SPARE))
        return answer_store_error(r, -EBUSY, ans);
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return -ENOMEM;
    w->done = done;
    w->arg = arg;
    w->pending = 1;
    rc = queue_changes(r, q, dn, now, w);
    if (rc != 0) {
        wait_abandon(w);
        return answer_store_error(r, rc, ans);
    }
    if (answer_bindings(r, dn, now, ans) != 0) {
        wait_abandon(w);
        return -ENOMEM;
    }
    if (w->pending == 1) {
        wait_abandon(w); /* nothing changed: answer now */
        return 0;
    }
    wait_put(w, 0);
    return 1;
}
