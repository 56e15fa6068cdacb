/* A phone's digest credentials (RFC 3261 §22.2, RFC 7616, RFC 2617): the
 * challenge of a 401 (WWW-Authenticate) or 407 (Proxy-Authenticate) is
 * parsed by the project's one parser (sip_auth), the response computed by
 * the registrar's sip_digest_compute(), so client and server share the hash
 * code. The first challenge of an algorithm we know (MD5, SHA-256) is taken,
 * in the server's order; qop "auth" when offered, else RFC 2069. Each
 * request with the same nonce counts nc up; a fresh nonce gets a fresh
 * cnonce from OpenSSL's CSPRNG. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "client/tcphone_int.h"
#include "server/sip/sip_auth.h"
#include "server/sip/sip_msg.h"

#define CNONCE_RAW 16

/* What we keep of a challenge: short strings in one allocation. */
struct tcphone__auth {
    bool proxy;  /* 407: answer with Proxy-Authorization */
    bool qop;    /* qop=auth (else RFC 2069) */
    bool sha256; /* SHA-256, else MD5 */
    uint32_t nc; /* requests sent with this nonce */
    char cnonce[2 * CNONCE_RAW + 1];
    char *realm, *nonce, *opaque; /* opaque NULL when absent */
    char text[];
};

/* True when the comma-separated qop list holds "auth". */
static bool offers_auth(const char *list)
{
    const char *p = list;

    while (*p != '\0') {
        size_t skip = strspn(p, " \t,"), len;

        p += skip;
        len = strcspn(p, " \t,");
        if (len == 4 && strncasecmp(p, "auth", 4) == 0)
            return true;
        p += len;
    }
    return false;
}

/* True when s must be escaped inside a quoted-string: such a challenge is
 * passed over rather than written back altered. */
static bool needs_escape(const char *s)
{
    return s != NULL && strpbrk(s, "\"\\") != NULL;
}

/* 0 MD5 (also when absent), 1 SHA-256, -1 another. */
static int alg_of(const char *a)
{
    if (a == NULL || strcasecmp(a, "MD5") == 0)
        return 0;
    return strcasecmp(a, "SHA-256") == 0 ? 1 : -1;
}

static int keep(struct tcphone__auth **out, const struct sip_digest_params *p, bool proxy, int alg)
{
    size_t lr = strlen(p->realm), ln = strlen(p->nonce), lo = p->opaque ? strlen(p->opaque) : 0;
    struct tcphone__auth *a = malloc(sizeof(*a) + lr + ln + lo + 3);
    unsigned char raw[CNONCE_RAW];

    if (a == NULL)
        return -ENOMEM;
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        free(a);
        return -EIO;
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(a->cnonce + 2 * i, 3, "%02x", raw[i]);
    a->proxy = proxy;
    a->qop = p->qop != NULL;
    a->sha256 = alg == 1;
    a->nc = 0;
    a->realm = a->text;
    memcpy(a->realm, p->realm, lr + 1);
    a->nonce = a->realm + lr + 1;
    memcpy(a->nonce, p->nonce, ln + 1);
    a->opaque = NULL;
    if (p->opaque != NULL) {
        a->opaque = a->nonce + ln + 1;
        memcpy(a->opaque, p->opaque, lo + 1);
    }
    tcphone__auth_free(*out);
    *out = a;
    return 0;
}

int tcphone__auth_challenge(struct tcphone__auth **a, struct sip_msg *m, bool *stale)
{
    bool proxy = m->status == 407;
    const char *name = proxy ? "Proxy-Authenticate" : "WWW-Authenticate";
    struct sip_auth_digest d;
    const char *v;
    size_t len;
    int alg;

    *stale = false;
    for (unsigned i = 0; (v = sip_msg_header(m, name, i, &len)) != NULL; i++) {
        const struct sip_digest_params *p = &d.params;

        if (sip_auth_parse_digest(v, len, &d) != 0 || p->realm == NULL || p->nonce == NULL ||
            needs_escape(p->realm) || needs_escape(p->nonce) || needs_escape(p->opaque))
            continue;
        alg = alg_of(p->algorithm);
        if (alg < 0 || (p->qop != NULL && !offers_auth(p->qop)))
            continue;
        *stale = p->stale != NULL && strcasecmp(p->stale, "true") == 0;
        return keep(a, p, proxy, alg);
    }
    return -ENOTSUP;
}

int tcphone__auth_header(struct tcphone__auth *a, const char *user, const char *password,
                         const char *method, const char *uri, struct tc_buf *b)
{
    char nc[9], response[SIP_DIGEST_HEX_MAX];
    const char *alg = a->sha256 ? "SHA-256" : "MD5";
    struct sip_digest_params p = {
            .username = user,
            .realm = a->realm,
            .nonce = a->nonce,
            .uri = uri,
            .algorithm = alg,
            .qop = a->qop ? "auth" : NULL,
            .nc = nc,
            .cnonce = a->cnonce,
    };
    int rc;

    snprintf(nc, sizeof(nc), "%08x", ++a->nc);
    rc = sip_digest_compute(&p, method, password, response, sizeof(response));
    if (rc != 0)
        return rc;
    rc = tc_buf_printf(b,
                       "%s: Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", "
                       "response=\"%s\", algorithm=%s",
                       a->proxy ? "Proxy-Authorization" : "Authorization", user, a->realm, a->nonce,
                       uri, response, alg);
    if (rc == 0 && a->qop)
        rc = tc_buf_printf(b, ", qop=auth, nc=%s, cnonce=\"%s\"", nc, a->cnonce);
    if (rc == 0 && a->opaque != NULL)
        rc = tc_buf_printf(b, ", opaque=\"%s\"", a->opaque);
    if (rc == 0)
        rc = tc_buf_printf(b, "\r\n");
    OPENSSL_cleanse(response, sizeof(response));
    return rc;
}

void tcphone__auth_free(struct tcphone__auth *a)
{
    free(a);
}
