/* sip_digest: SIP digest authentication with stateless nonces (RFC 3261
 * §22, RFC 7616, RFC 8760). All hashing is OpenSSL's. */
#include "server/registrar/sip_digest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define NONCE_TS_LEN   8  /* big-endian seconds */
#define NONCE_MAC_LEN  16 /* truncated HMAC-SHA256 */
#define NONCE_RAW_LEN  (NONCE_TS_LEN + NONCE_MAC_LEN)
#define NONCE_B64_LEN  32 /* 24 bytes in base64url, no padding */
#define OPAQUE_RAW_LEN 8
#define ARRAY_SIZE(a)  (sizeof(a) / sizeof((a)[0]))

/* A nonce's 8-byte field holds its issue number: the second it was made,
 * shifted up by ISSUE_SEQ_BITS, plus a counter, so two nonces of one
 * second differ and each later nonce has a larger number. */
#define ISSUE_SEQ_BITS 20
#define NC_SETS        (SIP_DIGEST_NC_SLOTS / NC_WAYS)
#define NC_WAYS        4

/* One WWW-Authenticate line: realm, nonce, opaque, algorithm, stale suffix. */
#define CHALLENGE_LINE                                                                   \
    "WWW-Authenticate: Digest realm=\"%s\", nonce=\"%s\", opaque=\"%s\", algorithm=%s, " \
    "qop=\"auth\"%s\r\n"

/* The highest nc accepted for one nonce, found by its MAC's first bytes. */
struct nc_entry {
    uint64_t tag; /* 0 when free */
    uint64_t issue;
    uint32_t nc;
};

struct sip_digest {
    EVP_MD *md5;
    EVP_MD *sha256;
    EVP_MD_CTX *mdc; /* reused by verify so it needs no allocation */
    uint64_t lifetime;
    size_t realm_len;
    size_t secret_len;
    unsigned char secret[SIP_DIGEST_SECRET_LEN];
    char realm[SIP_DIGEST_MAX_FIELD + 1];
    char opaque[2 * OPAQUE_RAW_LEN + 1];
    uint64_t last_issue; /* of the last nonce made */
    /* Nonces issued up to nc_floor may have lost their entry to a newer
     * one: they are refused as stale rather than accepted afresh. */
    uint64_t nc_floor;
    struct nc_entry nc[SIP_DIGEST_NC_SLOTS];
};

static const char b64url_chars[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* ---- encoding helpers ---- */

static void to_hex(const unsigned char *raw, size_t len, char *hex)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        hex[2 * i] = digits[raw[i] >> 4];
        hex[2 * i + 1] = digits[raw[i] & 0xf];
    }
    hex[2 * len] = '\0';
}

/* len must be a multiple of 3; out gets len / 3 * 4 characters and a NUL. */
static void b64url_encode(const unsigned char *in, size_t len, char *out)
{
    uint32_t v;

    for (size_t i = 0; i < len; i += 3) {
        v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *out++ = b64url_chars[(v >> 18) & 63];
        *out++ = b64url_chars[(v >> 12) & 63];
        *out++ = b64url_chars[(v >> 6) & 63];
        *out++ = b64url_chars[v & 63];
    }
    *out = '\0';
}

static int b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* len must be a multiple of 4. Returns 0, or -EINVAL for a foreign char. */
static int b64url_decode(const char *in, size_t len, unsigned char *out)
{
    uint32_t v;
    int d;

    for (size_t i = 0; i < len; i += 4) {
        v = 0;
        for (size_t j = 0; j < 4; j++) {
            d = b64url_value(in[i + j]);
            if (d < 0)
                return -EINVAL;
            v = v << 6 | (uint32_t)d;
        }
        *out++ = (unsigned char)(v >> 16);
        *out++ = (unsigned char)(v >> 8);
        *out++ = (unsigned char)v;
    }
    return 0;
}

static void store_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)v;
        v >>= 8;
    }
}

static uint64_t load_be64(const unsigned char *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* ---- hashing ---- */

/* Hash parts joined by ':' with md on c and write lowercase hex to hex
 * (2 * digest size + 1 bytes). Returns 0 or -ENOMEM. */
static int hash_hex(EVP_MD_CTX *c, const EVP_MD *md, const char *const *parts, size_t n, char *hex)
{
    unsigned char raw[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    int ok;

    ok = EVP_DigestInit_ex2(c, md, NULL);
    for (size_t i = 0; ok && i < n; i++) {
        if (i > 0)
            ok = EVP_DigestUpdate(c, ":", 1);
        if (ok)
            ok = EVP_DigestUpdate(c, parts[i], strlen(parts[i]));
    }
    if (ok)
        ok = EVP_DigestFinal_ex(c, raw, &len);
    if (ok)
        to_hex(raw, len, hex);
    OPENSSL_cleanse(raw, sizeof(raw));
    return ok ? 0 : -ENOMEM;
}

/* The request-digest of RFC 7616 §3.4.1 (qop=auth) or RFC 2069 (no qop)
 * into hex. The fields p uses must be set. Returns 0 or -ENOMEM. */
static int compute_hex(EVP_MD_CTX *c, const EVP_MD *md, const struct sip_digest_params *p,
                       const char *method, const char *password, char *hex)
{
    char ha1[SIP_DIGEST_HEX_MAX], ha2[SIP_DIGEST_HEX_MAX];
    const char *a1[] = {p->username, p->realm, password};
    const char *a2[] = {method, p->uri};
    int rc;

    rc = hash_hex(c, md, a1, ARRAY_SIZE(a1), ha1);
    if (rc == 0)
        rc = hash_hex(c, md, a2, ARRAY_SIZE(a2), ha2);
    if (rc == 0 && p->qop != NULL) {
        const char *r[] = {ha1, p->nonce, p->nc, p->cnonce, p->qop, ha2};

        rc = hash_hex(c, md, r, ARRAY_SIZE(r), hex);
    } else if (rc == 0) {
        const char *r[] = {ha1, p->nonce, ha2};

        rc = hash_hex(c, md, r, ARRAY_SIZE(r), hex);
    }
    OPENSSL_cleanse(ha1, sizeof(ha1));
    return rc;
}

/* 0 for MD5 (also when absent), 1 for SHA-256, -EINVAL for anything else,
 * including the -sess variants, which we never offer. */
static int algorithm_index(const char *alg)
{
    if (alg == NULL || strcasecmp(alg, "MD5") == 0)
        return 0;
    if (strcasecmp(alg, "SHA-256") == 0)
        return 1;
    return -EINVAL;
}

/* HMAC-SHA256(secret, data), truncated to mac_len bytes. Returns 0 or -EIO. */
static int ctx_hmac(const struct sip_digest *ctx, const unsigned char *data, size_t len,
                    unsigned char *mac, size_t mac_len)
{
    unsigned char full[EVP_MAX_MD_SIZE];
    unsigned int full_len = 0;

    if (HMAC(ctx->sha256, ctx->secret, (int)ctx->secret_len, data, len, full, &full_len) == NULL ||
        full_len < mac_len) {
        OPENSSL_cleanse(full, sizeof(full));
        return -EIO;
    }
    memcpy(mac, full, mac_len);
    OPENSSL_cleanse(full, sizeof(full));
    return 0;
}

/* The NONCE_MAC_LEN-byte MAC over the 8-byte issue number ts, the realm
 * and the user the nonce is for, so that it is good for that user in that
 * realm only. */
static int nonce_mac(const struct sip_digest *ctx, const unsigned char *ts, const char *realm,
                     const char *user, unsigned char *mac)
{
    unsigned char data[NONCE_TS_LEN + 2 * SIP_DIGEST_MAX_FIELD + 1];
    size_t ulen = strnlen(user, SIP_DIGEST_MAX_FIELD);
    size_t rlen = strnlen(realm, SIP_DIGEST_MAX_FIELD);
    size_t n = NONCE_TS_LEN;

    memcpy(data, ts, NONCE_TS_LEN);
    memcpy(data + n, realm, rlen);
    n += rlen;
    data[n++] = '\0';
    memcpy(data + n, user, ulen);
    return ctx_hmac(ctx, data, n + ulen, mac, NONCE_MAC_LEN);
}

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
    if (ctx_hmac(ctx, data, sizeof(label) - 1, raw, sizeof(raw)) != 0)
        return -EIO;
    to_hex(raw, sizeof(raw), ctx->opaque);
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
    unsigned char raw[NONCE_RAW_LEN];
    char nonce[NONCE_B64_LEN + 1];
    const char *st = stale ? ", stale=true" : "";
    const char *realm = offer_realm(ctx, o);
    uint64_t issue = now << ISSUE_SEQ_BITS;
    size_t mark = out->len;
    int rc = 0;

    if (!offer_ok(o))
        return -EINVAL;
    if (issue <= ctx->last_issue)
        issue = ctx->last_issue + 1;
    store_be64(raw, issue);
    if (nonce_mac(ctx, raw, realm, user != NULL ? user : "", raw + NONCE_TS_LEN) != 0)
        return -EIO;
    ctx->last_issue = issue;
    b64url_encode(raw, sizeof(raw), nonce);
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
    alg = algorithm_index(p->algorithm);
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

/* Is the nonce (and opaque, when sent) ours, and for p->username? Sets
 * *issue and *tag (the MAC's first bytes, never 0) on OK. */
static enum sip_digest_result check_nonce(const struct sip_digest *ctx,
                                          const struct sip_digest_params *p, const char *realm,
                                          uint64_t *issue, uint64_t *tag)
{
    unsigned char raw[NONCE_RAW_LEN];
    unsigned char mac[NONCE_MAC_LEN];

    if (p->opaque != NULL && strcmp(p->opaque, ctx->opaque) != 0)
        return SIP_DIGEST_BAD_NONCE;
    if (strlen(p->nonce) != NONCE_B64_LEN || b64url_decode(p->nonce, NONCE_B64_LEN, raw) != 0)
        return SIP_DIGEST_BAD_NONCE;
    if (nonce_mac(ctx, raw, realm, p->username, mac) != 0)
        return SIP_DIGEST_ERROR;
    if (CRYPTO_memcmp(mac, raw + NONCE_TS_LEN, NONCE_MAC_LEN) != 0)
        return SIP_DIGEST_BAD_NONCE;
    *issue = load_be64(raw);
    *tag = load_be64(mac) | 1;
    return SIP_DIGEST_OK;
}

static bool nc_live(const struct sip_digest *ctx, const struct nc_entry *e, uint64_t now)
{
    return e->tag != 0 && (e->issue >> ISSUE_SEQ_BITS) + ctx->lifetime >= now;
}

/* RFC 7616 §3.4: each use of a nonce must carry a larger nc than the last
 * accepted. A request without qop has no nc and counts as nc 1, so its
 * nonce is good once. Records nc and returns OK, or REPLAY. */
static enum sip_digest_result check_nc(struct sip_digest *ctx, uint64_t now, uint64_t issue,
                                       uint64_t tag, const struct sip_digest_params *p)
{
    struct nc_entry *set = &ctx->nc[tag % NC_SETS * NC_WAYS];
    struct nc_entry *victim = NULL;
    uint32_t nc = p->qop != NULL ? (uint32_t)strtoul(p->nc, NULL, 16) : 1;

    for (unsigned i = 0; i < NC_WAYS; i++) {
        struct nc_entry *e = &set[i];

        if (e->tag == tag && e->issue == issue && nc_live(ctx, e, now)) {
            if (nc <= e->nc)
                return SIP_DIGEST_REPLAY;
            e->nc = nc;
            return SIP_DIGEST_OK;
        }
        /* Take a free or expired entry, else the oldest live one. */
        if (!nc_live(ctx, e, now)) {
            if (victim == NULL || nc_live(ctx, victim, now))
                victim = e;
        } else if (victim == NULL || (nc_live(ctx, victim, now) && e->issue < victim->issue)) {
            victim = e;
        }
    }
    if (nc == 0 || issue <= ctx->nc_floor)
        return SIP_DIGEST_REPLAY;
    if (nc_live(ctx, victim, now) && victim->issue > ctx->nc_floor)
        ctx->nc_floor = victim->issue;
    *victim = (struct nc_entry){.tag = tag, .issue = issue, .nc = nc};
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
        r = check_nonce(ctx, p, offer_realm(ctx, o), &issue, &tag);
    if (r != SIP_DIGEST_OK)
        return r;
    /* An unknown user costs the same hashing as a known one. */
    if (compute_hex(ctx->mdc, md, p, method, password ? password : "", want) != 0)
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
    return check_nc(ctx, now, issue, tag, p);
}

int sip_digest_compute(const struct sip_digest_params *p, const char *method, const char *password,
                       char *out, size_t out_len)
{
    EVP_MD_CTX *c;
    const EVP_MD *md;
    int alg, rc;

    if (out_len < SIP_DIGEST_HEX_MAX)
        return -ENOSPC;
    if (p == NULL || method == NULL || password == NULL || p->username == NULL ||
        p->realm == NULL || p->nonce == NULL || p->uri == NULL)
        return -EINVAL;
    if (p->qop != NULL && (strcasecmp(p->qop, "auth") != 0 || p->nc == NULL || p->cnonce == NULL))
        return -EINVAL;
    alg = algorithm_index(p->algorithm);
    if (alg < 0)
        return alg;
    md = alg == 0 ? EVP_md5() : EVP_sha256();
    c = EVP_MD_CTX_new();
    if (c == NULL)
        return -ENOMEM;
    rc = compute_hex(c, md, p, method, password, out);
    /* EVP_MD_CTX_free() cleanses the state, which held HA1. */
    EVP_MD_CTX_free(c);
    return rc;
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
