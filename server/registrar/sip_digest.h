#ifndef TC_SERVER_REGISTRAR_SIP_DIGEST_H
#define TC_SERVER_REGISTRAR_SIP_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/base/buf.h"

/* SIP digest authentication for the registrar (RFC 3261 §22, RFC 7616,
 * RFC 8760): MD5 and SHA-256, qop "auth" or none (RFC 2069).
 *
 * Nonces are stateless: base64url(issue || HMAC-SHA256(secret, issue ||
 * realm || 0 || user)[0..15]) for the realm the DN is challenged in, where issue is the second the
 * nonce was made (shifted left 20 bits) plus a counter, so any nonce this context (or one with the
 * same secret) issued verifies without being stored, and a nonce made for one user fails for
 * another.
 *
 * Replay (RFC 7616 §3.4): the highest nc accepted for each nonce is kept in
 * a fixed table of SIP_DIGEST_NC_SLOTS entries that expire with their
 * nonce; a repeated or lower nc is SIP_DIGEST_REPLAY. A request without
 * qop (RFC 2069) has no nc: it counts as nc 1, so such a nonce is good
 * for one request, and the client gets a fresh one with stale=true after.
 * When the table must drop a live entry, every nonce issued up to the
 * dropped one is refused as REPLAY if it comes back unseen, so forgetting
 * never lets a replay in; it only costs clients one more 401. The module
 * never logs; passwords stay on the stack and are wiped. */

#define SIP_DIGEST_MAX_FIELD        256  /* longest parameter value, in bytes */
#define SIP_DIGEST_DEFAULT_LIFETIME 300  /* nonce lifetime in seconds */
#define SIP_DIGEST_SECRET_LEN       32   /* bytes of server secret */
#define SIP_DIGEST_HEX_MAX          65   /* SHA-256 in hex, with the NUL */
#define SIP_DIGEST_NC_SLOTS         4096 /* nonces whose nc is tracked */

struct sip_digest;

/* The digest algorithms a challenge may offer. */
enum sip_digest_alg {
    SIP_DIGEST_MD5 = 0,
    SIP_DIGEST_SHA256,
};

#define SIP_DIGEST_MAX_ALGS 2 /* challenges in one 401: each algorithm once */

/* What a DN is challenged with: its realm and the algorithms offered, one
 * WWW-Authenticate each, in this order. Borrowed for the call only. A NULL
 * offer means the context's realm with MD5 then SHA-256. */
struct sip_digest_offer {
    const char *realm; /* NULL: the context's */
    unsigned n_algs;   /* 1..SIP_DIGEST_MAX_ALGS */
    enum sip_digest_alg algs[SIP_DIGEST_MAX_ALGS];
};

/* What sip_digest_verify() found, and what the caller answers. */
enum sip_digest_result {
    SIP_DIGEST_OK = 0,      /* authenticated */
    SIP_DIGEST_STALE,       /* right response, expired nonce: 401 with stale=true */
    SIP_DIGEST_REPLAY,      /* right response, nc not above the last: 401 with stale=true */
    SIP_DIGEST_BAD_NONCE,   /* nonce or opaque not ours: 401 with a fresh challenge */
    SIP_DIGEST_WRONG,       /* wrong response or realm: 403 after a challenge */
    SIP_DIGEST_NOT_OFFERED, /* an algorithm the offer does not hold: 403 */
    SIP_DIGEST_MALFORMED,   /* missing, over-long or unsupported field: 400 */
    SIP_DIGEST_ERROR,       /* OpenSSL failed (out of memory): 500 */
};

/* The Authorization (or Proxy-Authorization) parameters, or a client's
 * view of a WWW-Authenticate (Proxy-Authenticate) challenge: realm, nonce,
 * opaque, algorithm, qop (there a list) and stale. Plain borrowed C
 * strings; NULL when absent. server/sip/sip_auth.c parses both. */
struct sip_digest_params {
    const char *username;
    const char *realm;
    const char *nonce;
    const char *uri;
    const char *response;
    const char *algorithm; /* NULL means MD5 */
    const char *qop;       /* NULL means RFC 2069: no nc, no cnonce */
    const char *nc;
    const char *cnonce;
    const char *opaque;
    const char *stale; /* challenges only: "true" asks again with its nonce */
};

/* Make a context for realm with a fresh random secret (RAND_bytes) and
 * nonces valid for lifetime_s seconds (0: SIP_DIGEST_DEFAULT_LIFETIME).
 * realm is copied. Loop thread only; the context has no locks. Returns 0
 * and sets *out, -EINVAL if realm is empty, longer than SIP_DIGEST_MAX_FIELD
 * or holds '"', '\\' or control characters, -ENOTSUP if OpenSSL offers no
 * MD5 or SHA-256 (FIPS mode), -EIO if RAND_bytes fails, or -ENOMEM. */
int sip_digest_new(struct sip_digest **out, const char *realm, unsigned lifetime_s);

/* As sip_digest_new() with a given secret of len bytes (1 to
 * SIP_DIGEST_SECRET_LEN), copied, so that nodes sharing it accept each
 * other's nonces. Same returns, and -EINVAL for a bad len. */
int sip_digest_new_with_secret(struct sip_digest **out, const char *realm, unsigned lifetime_s,
                               const void *secret, size_t len);

/* Wipe the secret and free ctx. NULL is allowed. */
void sip_digest_free(struct sip_digest *ctx);

/* Append the headers of a 401 to out: one WWW-Authenticate line per
 * algorithm of offer, in its order, all with the same fresh nonce, each
 * ending in CRLF and carrying ", stale=true" at the end when stale is set.
 * (baresip 1.0.0 fails on any SHA-256 challenge and linphone answers only
 * the first, so which and in what order is the operator's choice.) The
 * nonce is good for user only (the DN; NULL means "") in offer's realm.
 * now is in seconds on the clock the caller also passes to
 * sip_digest_verify(). Loop thread. Returns 0, -EINVAL for a bad realm or
 * algorithm list, -EIO if HMAC fails, or -ENOMEM; out is unchanged on
 * failure. */
int sip_digest_challenge(struct sip_digest *ctx, uint64_t now, bool stale, const char *user,
                         const struct sip_digest_offer *offer, struct tc_buf *out);

/* Check the credentials p sent with a request of method (e.g. "REGISTER")
 * against password, the user's cleartext password, borrowed and not kept.
 * password NULL means the user is unknown: the same work is done and the
 * result is SIP_DIGEST_WRONG (or MALFORMED, BAD_NONCE) so timing does not
 * tell users apart. The caller still checks that p->username is the user it
 * looked up the password for and that p->uri matches the Request-URI.
 * offer is what the DN was challenged with (NULL: as for the challenge).
 * Checks in order: fields (MALFORMED), algorithm (NOT_OFFERED), realm
 * (WRONG), nonce, opaque and the nonce's user (BAD_NONCE), response
 * (WRONG), nonce age (STALE), nc (REPLAY); only an OK records the nc.
 * Loop thread. */
enum sip_digest_result sip_digest_verify(struct sip_digest *ctx, uint64_t now, const char *method,
                                         const struct sip_digest_params *p, const char *password,
                                         const struct sip_digest_offer *offer);

/* Compute the request-digest a client sends for p (p->response unused),
 * method and password: the lowercase hex into out (out_len at least
 * SIP_DIGEST_HEX_MAX). For clients and tests; any thread. Returns 0,
 * -EINVAL for a missing field or unsupported algorithm or qop, -ENOSPC if
 * out_len is short, or -ENOMEM. */
int sip_digest_compute(const struct sip_digest_params *p, const char *method, const char *password,
                       char *out, size_t out_len);

/* A short lower-case name of r for logs and metrics ("ok", "stale", ...).
 * Static; never NULL. */
const char *sip_digest_result_name(enum sip_digest_result r);

#endif
