#include "server/sip/sip_invite.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/base/clock.h"
#include "server/base/log.h"
#include "server/config/config.h"
#include "server/core/bindings.h"
#include "server/core/core.h"
#include "server/redirect/redirect.h"
#include "server/sip/sip_msg.h"
#include "server/sip/sip_server_int.h"
#include "server/sip/sip_uri.h"

/* Longest URI written as a forward target: "sip:" DN "@[" v6 "]:" port
 * ";tc-fwd=" name. */
#define FORWARD_URI_MAX (4 + DN_DIR_MAX_DIGITS + 3 + CONFIG_HOST_MAX + 7 + 8 + CONFIG_NAME_MAX)

dn_key sip_invite_dn(const struct sip_msg *m)
{
    dn_key k;

    if (m->ruri.user == NULL || dn_key_parse(m->ruri.user, strlen(m->ruri.user), &k) != 0)
        return DN_KEY_NONE;
    return k;
}

bool sip_invite_marked(const struct sip_msg *m)
{
    struct sip_uri_parts u;
    struct sip_param prm;

    if (m->ruri.raw == NULL ||
        sip_uri_parse((struct sip_span){m->ruri.raw, strlen(m->ruri.raw)}, &u) != 0)
        return false;
    return sip_scan_param_find(u.params, SIP_INVITE_MARKER, &prm);
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;

    for (size_t i = 0; i < n; i++) {
        h ^= c[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

bool sip_invite_recent_seen(struct sip_invite_recent *r, const struct sip_msg *m, uint64_t now_ms)
{
    const char *branch = m->via.branch != NULL ? m->via.branch : "";
    uint64_t h = 0xcbf29ce484222325ULL;
    unsigned char sep = 0xff;
    size_t slot;
    bool seen;

    h = fnv1a(h, m->call_id, strlen(m->call_id));
    h = fnv1a(h, &sep, 1);
    h = fnv1a(h, &m->cseq, sizeof(m->cseq));
    h = fnv1a(h, branch, strlen(branch));
    h |= 1; /* never 0, the empty slot */
    slot = (size_t)(h ^ (h >> 32)) & (SIP_INVITE_RECENT_SLOTS - 1);
    seen = r->hash[slot] == h && now_ms - r->at_ms[slot] < SIP_INVITE_RETRANS_MS;
    r->last = slot;
    if (!seen) {
        r->hash[slot] = h;
        r->at_ms[slot] = now_ms;
        r->code[slot] = 0;
        free(r->extra[slot]);
        r->extra[slot] = NULL;
    }
    return seen;
}

int sip_invite_recent_keep(struct sip_invite_recent *r, uint16_t code, const char *extra)
{
    size_t n = extra != NULL ? strlen(extra) : 0;
    char *copy = NULL;

    if (n > SIP_INVITE_KEEP_MAX)
        return -EMSGSIZE;
    if (extra != NULL && (copy = strdup(extra)) == NULL)
        return -ENOMEM;
    free(r->extra[r->last]);
    r->extra[r->last] = copy;
    r->code[r->last] = code;
    return 0;
}

uint16_t sip_invite_recent_answer(const struct sip_invite_recent *r, const char **extra)
{
    *extra = r->extra[r->last];
    return r->code[r->last];
}

void sip_invite_recent_free(struct sip_invite_recent *r)
{
    for (size_t i = 0; i < SIP_INVITE_RECENT_SLOTS; i++)
        free(r->extra[i]);
    memset(r, 0, sizeof(*r));
}

int sip_invite_forward_uri(const struct redirect_decision *d, dn_key dn, const char *self,
                           char *buf, size_t size)
{
    const struct config_addr *a = &d->peer->sip_address;
    bool v6 = strchr(a->host, ':') != NULL;
    char digits[DN_DIR_MAX_DIGITS + 1];
    int n;

    dn_key_format(dn, digits, sizeof(digits));
    n = snprintf(buf, size, "sip:%s@%s%s%s:%u;" SIP_INVITE_MARKER "=%s", digits, v6 ? "[" : "",
                 a->host, v6 ? "]" : "", a->port, self);
    return n < 0 || (size_t)n >= size ? -ENOSPC : 0;
}

int sip_invite_headers(const struct redirect_decision *d, dn_key dn, const char *self,
                       struct tc_buf *out)
{
    char uri[FORWARD_URI_MAX];
    uint32_t expires = UINT32_MAX;
    int rc = 0;

    if (d->code != 302)
        return tc_buf_printf(out, "Warning: 399 %s \"%s\"\r\n", self, d->reason);
    if (d->outcome == REDIRECT_FORWARDED) {
        rc = sip_invite_forward_uri(d, dn, self, uri, sizeof(uri));
        if (rc == 0)
            rc = tc_buf_printf(out, "Contact: <%s>\r\nExpires: %u\r\n", uri,
                               SIP_INVITE_FORWARD_EXPIRES);
        return rc;
    }
    for (unsigned i = 0; i < d->n_contacts && rc == 0; i++) {
        const struct redirect_contact *c = &d->contacts[i];

        rc = tc_buf_printf(out, "Contact: <%s>;expires=%u\r\n", binding_contact(c->binding),
                           c->expires);
        if (c->expires < expires)
            expires = c->expires;
    }
    if (rc == 0)
        rc = tc_buf_printf(out, "Expires: %u\r\n", d->n_contacts != 0 ? expires : 0);
    return rc;
}

/* Publish the call event of an INVITE answered with code. d is NULL for
 * an answer made before any decision (483). */
static void publish(struct sip_server *s, const struct sip_msg *m, dn_key dn, int code,
                    const struct redirect_decision *d, const char *first_contact)
{
    struct core_call call = {
            .call_id = m->call_id,
            .dn = dn,
            .code = (uint16_t)code,
            .outcome = d != NULL ? redirect_outcome_name(d->outcome) : "too_many_hops",
            .origin = DN_NODE_SELF,
            .target = d != NULL ? d->target : DN_NODE_NONE,
            .contact = first_contact,
            .time_ms = tc_now_ms(),
    };

    if (d != NULL && d->outcome == REDIRECT_FORWARDED) {
        call.outbound = true;
        call.other_dn = d->peer->access_number[0] != '\0' ? d->peer->access_number : NULL;
    }
    if (s->core != NULL)
        core_call(s->core, &call);
}

void sip_invite_handle(struct sip_server *s, struct sip_msg *m, const struct sip_src *src)
{
    struct redirect_decision d;
    char uri[FORWARD_URI_MAX];
    const char *first = NULL, *kept;
    uint16_t code;
    dn_key dn = sip_invite_dn(m);
    bool retrans = sip_invite_recent_seen(&s->recent, m, tc_now_ms());

    if (m->max_forwards == 0) {
        sip_server__respond(s, m, src, 483, NULL, NULL);
        if (!retrans)
            publish(s, m, dn, 483, NULL, NULL);
        return;
    }
    if (s->redirect == NULL) {
        sip_server__respond(s, m, src, 503, NULL, NULL);
        return;
    }
    if (retrans && (code = sip_invite_recent_answer(&s->recent, &kept)) != 0) {
        /* The first copy's answer: a routing point may have moved on. */
        sip_server__respond(s, m, src, code, NULL, kept);
        return;
    }
    redirect_decide(s->redirect, dn, sip_invite_marked(m), &d);
    tc_buf_reset(&s->extra);
    if (sip_invite_headers(&d, dn, s->self, &s->extra) != 0) {
        sip_server__respond(s, m, src, 500, NULL, NULL);
        return;
    }
    sip_server__respond(s, m, src, d.code, NULL, s->extra.data);
    if (retrans)
        return;
    (void)sip_invite_recent_keep(&s->recent, (uint16_t)d.code, s->extra.data);
    if (d.outcome == REDIRECT_FORWARDED &&
        sip_invite_forward_uri(&d, dn, s->self, uri, sizeof(uri)) == 0)
        first = uri;
    else if (d.n_contacts != 0)
        first = binding_contact(d.contacts[0].binding);
    publish(s, m, dn, d.code, &d, first);
    tc_log(DEBUG, "sip: INVITE %s: %d %s (%s)", m->ruri.raw, d.code,
           redirect_outcome_name(d.outcome), d.reason);
}
