#ifndef TC_TCPORT_CHALLENGE_H
#define TC_TCPORT_CHALLENGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* HMAC-SHA256 challenge-response over a shared secret, used by the peer
 * handshake (cluster secret, proto/peer.proto Auth) and by GWS clients of
 * the default port (per-application secret, proto/tcport.proto
 * Authenticate). Each side sends a random nonce; the prover answers
 *
 *   HMAC-SHA256(secret, label NUL from NUL to NUL challenge own_nonce)
 *
 * where challenge is the verifier's nonce and own_nonce the prover's. The
 * label keeps one protocol's proof from being replayed in the other; the
 * names bind the proof to who proves to whom. The secret never travels.
 * Pure functions, no state: any thread. */

#define CHALLENGE_NONCE_LEN  32
#define CHALLENGE_MAC_LEN    32
#define CHALLENGE_SECRET_MAX 1024 /* bytes of a secret that are used */
#define CHALLENGE_NAME_MAX   63   /* bytes of from and to, without the NUL */

/* The label of a GWS client's proof on the default port: from is its
 * application name, to the node's name (proto/tcport.proto Authenticate). */
#define CHALLENGE_GWS_LABEL "tcluster-gws-auth-v1"

/* Fill out with CHALLENGE_NONCE_LEN random bytes. Returns 0 or -EIO. */
int challenge_nonce(uint8_t out[CHALLENGE_NONCE_LEN]);

/* The proof that `from` holds secret, for `to`, in out. Returns 0,
 * -EINVAL (empty or over-long secret, a name over CHALLENGE_NAME_MAX
 * bytes, a label over 32 bytes) or -EIO. */
int challenge_mac(const char *label, const void *secret, size_t secret_len, const char *from,
                  const char *to, const uint8_t challenge[CHALLENGE_NONCE_LEN],
                  const uint8_t own_nonce[CHALLENGE_NONCE_LEN], uint8_t out[CHALLENGE_MAC_LEN]);

/* True when mac (len bytes) is that proof; compares in constant time. */
bool challenge_mac_ok(const char *label, const void *secret, size_t secret_len, const char *from,
                      const char *to, const uint8_t challenge[CHALLENGE_NONCE_LEN],
                      const uint8_t own_nonce[CHALLENGE_NONCE_LEN], const uint8_t *mac,
                      size_t len);

#endif
