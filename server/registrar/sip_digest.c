/* sip_digest: SIP digest authentication with stateless nonces (RFC 3261
 * §22, RFC 7616, RFC 8760): contexts, challenges and the checks of
 * credentials. The hashing is in sip_digest_hash.c, the nonces and the
 * replay table in sip_digest_nonce.c. */
#include "server/registrar/sip_digest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "server/registrar/sip_digest_int.h"

/* One WWW-Authenticate line: realm, nonce, opaque, algorithm, stale suffix. */
#define CHALLENGE_LINE                                                                   \
    "WWW-Authenticate: Digest realm=\"%s\", nonce=\"%s\", opaque=\"%s\", algorithm=%s, " \
    "qop=\"auth\"%s\r\n"

/* ---- contexts ---- */

static bool is_ctl(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* A realm we can put between quotes without escaping. */
static bool realm_ok(const char *realm)
{
    size_t len;

    if (realm == NULL)
        return false;
    len = strnlen(realm, SIP_DIGEST_MAX_FIELD + 1);
    if (len == 0 || len > SIP_DIGEST_MAX_FIELD)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (realm[i] == '"' || realm[i] == '\\' || is_ctl((unsigned char)realm[i]))
            return false;
    }
    return true;
}

/* Fetch the digests, make the reusable context, derive the opaque. */
static int setup_crypto(struct sip_digest *ctx)
{
    static const char label[] = "tcluster opaque:";
    unsigned char data[sizeof(label)];
    unsigned char raw[OPAQUE_RAW_LEN];

    ctx->md5 = EVP_MD_fetch(NULL, "MD5", NULL);
    ctx->sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
    if (ctx->md5 == NULL || ctx->sha256 == NULL)
        return -ENOTSUP;
    ctx->mdc = EVP_MD_CTX_new();
    if (ctx->mdc == NULL)
        return -ENOMEM;
    /* Derived from the secret, not random, so nodes sharing a secret send
     * the same opaque; not from the realm, which may differ per DN. The
     * label keeps it apart from nonce MACs. */
    memcpy(data, label, sizeof(label) - 1);
    if (sip_digest__hmac(ctx, data, sizeof(label) - 1, raw, sizeof(raw)) != 0)
        return -EIO;
    sip_digest__to_hex(raw, sizeof(raw), ctx->opaque);
    return 0;
}

int sip_digest_new_with_secret(struct sip_digest **out, const char *realm, unsigned lifetime_s,
                               const void *secret, size_t len)
{
    struct sip_digest *ctx;
    int rc;

    if (!realm_ok(realm) || secret == NULL || len == 0 || len > SIP_DIGEST_SECRET_LEN)
        return -EINVAL;
    ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL)
        return -ENOMEM;
    memcpy(ctx->secret, secret, len);
    ctx->secret_len = len;
    ctx->realm_len = strlen(realm);
    memcpy(ctx->realm, realm, ctx->realm_len + 1);
    ctx->lifetime = lifetime_s ? lifetime_s : SIP_DIGEST_DEFAULT_LIFETIME;
    rc = setup_crypto(ctx);
    if (rc != 0)
        goto out_free;
    *out = ctx;
    return 0;

out_free:
    sip_digest_free(ctx);
    return rc;
}

int sip_digest_new(struct sip_digest **out, const char *realm, unsigned lifetime_s)
{
    unsigned char secret[SIP_DIGEST_SECRET_LEN];
    int rc;

    if (RAND_bytes(secret, sizeof(secret)) != 1)
        return -EIO;
    rc = sip_digest_new_with_secret(out, realm, lifetime_s, secret, sizeof(secret));
    OPENSSL_cleanse(secret, sizeof(secret));
    return rc;
}

void sip_digest_free(struct sip_digest *ctx)
{
    if (ctx == NULL)
        return;
    EVP_MD_CTX_free(ctx->mdc);
    EVP_MD_free(ctx->md5);
    EVP_MD_free(ctx->sha256);
    OPENSSL_cleanse(ctx, sizeof(*ctx));
    free(ctx);
}

/* ---- challenge and verify ---- */

static const struct sip_digest_offer default_offer = {
        .realm = NULL,
        .n_algs = 2,
        .algs = {SIP_DIGEST_MD5, SIP_DIGEST_SHA256},
};

static const char *const alg_names[] = {"MD5", "SHA-256"};

static const char *offer_realm(const struct sip_digest *ctx, const struct sip_digest_offer *o)
{
    return o->realm != NULL ? o->realm : ctx->realm;
}

static bool offer_ok(const struct sip_digest_offer *o)
{
    if (o->n_algs == 0 || o->n_algs > SIP_DIGEST_MAX_ALGS)
        return false;
    for (unsigned i = 0; i < o->n_algs; i++) {
        if ((unsigned)o->algs[i] >= ARRAY_SIZE(alg_names))
            return false;
    }
    return o->realm == NULL || realm_ok(o->realm);
}

int sip_digest_challenge(struct sip_digest *ctx, uint64_t now, bool stale, const char *user,
                         const struct sip_digest_offer *offer, struct tc_buf *out)
{
    const struct sip_digest_offer *o = offer != NULL ? offer : &default_offer;
    char nonce[NONCE_B64_LEN + 1];
    const char *st = stale ? ", stale=true" : "";
    const char *realm = offer_realm(ctx, o);
    size_t mark = out->len;
    int rc = 0;

    if (!offer_ok(o))
        return -EINVAL;
    if (sip_digest__nonce_new(ctx, now, realm, user != NULL ? user : "", nonce) != 0)
        return -EIO;
    for (unsigned i = 0; i < o->n_algs && rc == 0; i++)
        rc = tc_buf_printf(out, CHALLENGE_LINE, realm, nonce, ctx->opaque, alg_names[o->algs[i]],
                           st);
    if (rc != 0) {
        out->len = mark; /* out unchanged on failure */
        if (out->data != NULL)
            out->data[mark] = '\0';
    }
    return rc;
}

/* Present, non-empty and within bounds. */
static bool field_ok(const char *s)
{
    size_t len;

    if (s == NULL)
        return false;
    len = strnlen(s, SIP_DIGEST_MAX_FIELD + 1);
    return len > 0 && len <= SIP_DIGEST_MAX_FIELD;
}

/* Absent, or within bounds. */
static bool optional_ok(const char *s)
{
    return s == NULL || strnlen(s, SIP_DIGEST_MAX_FIELD + 1) <= SIP_DIGEST_MAX_FIELD;
}

/* nc is exactly 8 hex digits (RFC 7616 §3.4). */
static bool nc_ok(const char *nc)
{
    if (nc == NULL || strnlen(nc, 9) != 8)
        return false;
    for (int i = 0; i < 8; i++) {
        if (strchr("0123456789abcdefABCDEF", nc[i]) == NULL)
            return false;
    }
    return true;
}

/* Copy resp into out in lower case if it is hex of exactly want_len digits
 * (some clients send upper case). */
static bool response_ok(const char *resp, size_t want_len, char *out)
{
    if (strnlen(resp, want_len + 1) != want_len)
        return false;
    for (size_t i = 0; i < want_len; i++) {
        if (strchr("0123456789abcdefABCDEF", resp[i]) == NULL)
            return false;
        out[i] = (char)((resp[i] >= 'A' && resp[i] <= 'F') ? resp[i] - 'A' + 'a' : resp[i]);
    }
    out[want_len] = '\0';
    return true;
}

/* Everything but the nonce and the response itself: MALFORMED, WRONG (realm)
 * or OK with *md set and the normalized response in resp. */
static enum sip_digest_result check_fields(const struct sip_digest *ctx, const char *method,
                                           const struct sip_digest_params *p,
                                           const struct sip_digest_offer *o, const EVP_MD **md,
                                           char *resp)
{
    bool offered = false;
    int alg;

    if (p == NULL || !field_ok(method) || !field_ok(p->username) || !field_ok(p->realm) ||
        !field_ok(p->nonce) || !field_ok(p->uri) || !field_ok(p->response) ||
        !optional_ok(p->algorithm) || !optional_ok(p->opaque))
        return SIP_DIGEST_MALFORMED;
    if (p->qop != NULL &&
        (strcasecmp(p->qop, "auth") != 0 || !nc_ok(p->nc) || !field_ok(p->cnonce)))
        return SIP_DIGEST_MALFORMED;
    alg = sip_digest__algorithm_index(p->algorithm);
    if (alg < 0)
        return SIP_DIGEST_MALFORMED;
    *md = alg == 0 ? ctx->md5 : ctx->sha256;
    if (!response_ok(p->response, 2 * (size_t)EVP_MD_get_size(*md), resp))
        return SIP_DIGEST_MALFORMED;
    /* Only what was offered: an operator who offers SHA-256 alone means
     * MD5 answers to be refused, not accepted as a downgrade. */
    for (unsigned i = 0; i < o->n_algs && i < SIP_DIGEST_MAX_ALGS; i++)
        offered |= (int)o->algs[i] == alg;
    if (!offered)
        return SIP_DIGEST_NOT_OFFERED;
    if (strcmp(p->realm, offer_realm(ctx, o)) != 0)
        return SIP_DIGEST_WRONG;
    return SIP_DIGEST_OK;
}

enum sip_digest_result sip_digest_verify(struct sip_digest *ctx, uint64_t now, const char *method,
                                         const struct sip_digest_params *p, const char *password,
                                         const struct sip_digest_offer *offer)
{
    const struct sip_digest_offer *o = offer != NULL ? offer : &default_offer;
    char want[SIP_DIGEST_HEX_MAX], got[SIP_DIGEST_HEX_MAX];
    const EVP_MD *md = NULL;
    enum sip_digest_result r;
    uint64_t issue = 0, tag = 0, ts, age;
    bool match;

    r = check_fields(ctx, method, p, o, &md, got);
    if (r == SIP_DIGEST_OK)
        r = sip_digest__check_nonce(ctx, p, offer_realm(ctx, o), &issue, &tag);
    if (r != SIP_DIGEST_OK)
        return r;
    /* An unknown user costs the same hashing as a known one. */
    if (sip_digest__compute_hex(ctx->mdc, md, p, method, password ? password : "", want) != 0)
        return SIP_DIGEST_ERROR;
    match = CRYPTO_memcmp(want, got, strlen(want)) == 0 && password != NULL;
    if (!match)
        return SIP_DIGEST_WRONG;
    /* Only a right answer earns stale=true: the client then retries with
     * the same password, which must not be a wrong one (RFC 7616 §3.3). */
    ts = issue >> ISSUE_SEQ_BITS;
    age = now >= ts ? now - ts : ts - now;
    if (age > ctx->lifetime)
        return SIP_DIGEST_STALE;
    return sip_digest__check_nc(ctx, now, issue, tag, p);
}

const char *sip_digest_result_name(enum sip_digest_result r)
{
    switch (r) {
    case SIP_DIGEST_OK:
        return "ok";
    case SIP_DIGEST_STALE:
        return "stale";
    case SIP_DIGEST_REPLAY:
        return "replay";
    case SIP_DIGEST_BAD_NONCE:
        return "bad_nonce";
    case SIP_DIGEST_WRONG:
        return "wrong";
    case SIP_DIGEST_NOT_OFFERED:
        return "not_offered";
    case SIP_DIGEST_MALFORMED:
        return "malformed";
    case SIP_DIGEST_ERROR:
        return "error";
    }
    return "unknown";
}
