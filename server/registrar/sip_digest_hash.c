/* sip_digest_hash: the request-digest of RFC 7616 §3.4.1 and RFC 2069,
 * MD5 or SHA-256, as the registrar checks it and clients send it. All
 * hashing is OpenSSL's. */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "server/registrar/sip_digest.h"
#include "server/registrar/sip_digest_int.h"

void sip_digest__to_hex(const unsigned char *raw, size_t len, char *hex)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        hex[2 * i] = digits[raw[i] >> 4];
        hex[2 * i + 1] = digits[raw[i] & 0xf];
    }
    hex[2 * len] = '\0';
}

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
        sip_digest__to_hex(raw, len, hex);
    OPENSSL_cleanse(raw, sizeof(raw));
    return ok ? 0 : -ENOMEM;
}

int sip_digest__compute_hex(EVP_MD_CTX *c, const EVP_MD *md, const struct sip_digest_params *p,
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

int sip_digest__algorithm_index(const char *alg)
{
    if (alg == NULL || strcasecmp(alg, "MD5") == 0)
        return 0;
    if (strcasecmp(alg, "SHA-256") == 0)
        return 1;
    return -EINVAL;
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
    alg = sip_digest__algorithm_index(p->algorithm);
    if (alg < 0)
        return alg;
    md = alg == 0 ? EVP_md5() : EVP_sha256();
    c = EVP_MD_CTX_new();
    if (c == NULL)
        return -ENOMEM;
    rc = sip_digest__compute_hex(c, md, p, method, password, out);
    /* EVP_MD_CTX_free() cleanses the state, which held HA1. */
    EVP_MD_CTX_free(c);
    return rc;
}
