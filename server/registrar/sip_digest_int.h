#ifndef TC_SERVER_REGISTRAR_SIP_DIGEST_INT_H
#define TC_SERVER_REGISTRAR_SIP_DIGEST_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "server/registrar/sip_digest.h"

/* Private to sip_digest: the context and what its files share
 * (sip_digest.c contexts, challenges and checks; sip_digest_hash.c the
 * request-digest; sip_digest_nonce.c nonces and the replay table).
 * Nothing outside them includes this. Loop thread, like the context,
 * unless said otherwise. */

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

/* sip_digest_hash.c -------------------------------------------------------- */

/* raw (len bytes) as lowercase hex into hex (2 * len + 1 bytes). Any
 * thread. */
void sip_digest__to_hex(const unsigned char *raw, size_t len, char *hex);

/* The request-digest of RFC 7616 §3.4.1 (qop=auth) or RFC 2069 (no qop)
 * into hex, hashing with md on c. The fields p uses must be set. Returns 0
 * or -ENOMEM. Any thread. */
int sip_digest__compute_hex(EVP_MD_CTX *c, const EVP_MD *md, const struct sip_digest_params *p,
                            const char *method, const char *password, char *hex);

/* 0 for MD5 (also when absent), 1 for SHA-256, -EINVAL for anything else,
 * including the -sess variants, which we never offer. Any thread. */
int sip_digest__algorithm_index(const char *alg);

/* sip_digest_nonce.c ------------------------------------------------------- */

/* HMAC-SHA256(ctx's secret, data), truncated to mac_len bytes. Returns 0
 * or -EIO. */
int sip_digest__hmac(const struct sip_digest *ctx, const unsigned char *data, size_t len,
                     unsigned char *mac, size_t mac_len);

/* A fresh nonce for user in realm, made at now (seconds), into nonce
 * (NONCE_B64_LEN + 1 bytes); its issue number is above every earlier
 * one's. Returns 0 or -EIO (HMAC failed; ctx unchanged). */
int sip_digest__nonce_new(struct sip_digest *ctx, uint64_t now, const char *realm, const char *user,
                          char *nonce);

/* Is the nonce (and opaque, when sent) ours, for p->username in realm?
 * Sets *issue and *tag (the MAC's first bytes, never 0) on OK; else
 * BAD_NONCE, or ERROR when HMAC fails. */
enum sip_digest_result sip_digest__check_nonce(const struct sip_digest *ctx,
                                               const struct sip_digest_params *p, const char *realm,
                                               uint64_t *issue, uint64_t *tag);

/* RFC 7616 §3.4: each use of a nonce must carry a larger nc than the last
 * accepted. A request without qop has no nc and counts as nc 1, so its
 * nonce is good once. Records nc and returns OK, or REPLAY. */
enum sip_digest_result sip_digest__check_nc(struct sip_digest *ctx, uint64_t now, uint64_t issue,
                                            uint64_t tag, const struct sip_digest_params *p);

#endif
