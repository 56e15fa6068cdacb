/* sip_digest_nonce: stateless nonces (base64url of the issue number and
 * its truncated HMAC, see sip_digest.h) and the table of the highest nc
 * accepted for each, which refuses replays (RFC 7616 §3.4). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "server/registrar/sip_digest.h"
#include "server/registrar/sip_digest_int.h"

static const char b64url_chars[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* ---- encoding ---- */

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

/* ---- nonces ---- */

int sip_digest__hmac(const struct sip_digest *ctx, const unsigned char *data, size_t len,
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
    return sip_digest__hmac(ctx, data, n + ulen, mac, NONCE_MAC_LEN);
}

int sip_digest__nonce_new(struct sip_digest *ctx, uint64_t now, const char *realm, const char *user,
                          char *nonce)
{
    unsigned char raw[NONCE_RAW_LEN];
    uint64_t issue = now << ISSUE_SEQ_BITS;

    if (issue <= ctx->last_issue)
        issue = ctx->last_issue + 1;
    store_be64(raw, issue);
    if (nonce_mac(ctx, raw, realm, user, raw + NONCE_TS_LEN) != 0)
        return -EIO;
    ctx->last_issue = issue;
    b64url_encode(raw, sizeof(raw), nonce);
    return 0;
}

enum sip_digest_result sip_digest__check_nonce(const struct sip_digest *ctx,
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

/* ---- replays ---- */

static bool nc_live(const struct sip_digest *ctx, const struct nc_entry *e, uint64_t now)
{
    return e->tag != 0 && (e->issue >> ISSUE_SEQ_BITS) + ctx->lifetime >= now;
}

enum sip_digest_result sip_digest__check_nc(struct sip_digest *ctx, uint64_t now, uint64_t issue,
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
