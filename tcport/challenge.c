#include "tcport/challenge.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>

#define LABEL_MAX 32

int challenge_nonce(uint8_t out[CHALLENGE_NONCE_LEN])
{
    return RAND_bytes(out, CHALLENGE_NONCE_LEN) == 1 ? 0 : -EIO;
}

/* Append s with its NUL, so names cannot run into each other. Returns the
 * new length, or 0 when it is too long or does not fit. */
static size_t put_str(uint8_t *buf, size_t len, size_t cap, const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1) + 1;

    if (len == SIZE_MAX || n > max + 1 || n > cap - len)
        return SIZE_MAX;
    memcpy(buf + len, s, n);
    return len + n;
}

int challenge_mac(const char *label, const void *secret, size_t secret_len, const char *from,
                  const char *to, const uint8_t challenge[CHALLENGE_NONCE_LEN],
                  const uint8_t own_nonce[CHALLENGE_NONCE_LEN], uint8_t out[CHALLENGE_MAC_LEN])
{
    uint8_t msg[LABEL_MAX + 1 + 2 * (CHALLENGE_NAME_MAX + 1) + 2 * CHALLENGE_NONCE_LEN];
    size_t cap = sizeof(msg) - 2 * CHALLENGE_NONCE_LEN, len = 0;
    unsigned int mac_len = 0;

    if (secret_len == 0 || secret_len > CHALLENGE_SECRET_MAX)
        return -EINVAL;
    len = put_str(msg, len, cap, label, LABEL_MAX);
    len = put_str(msg, len, cap, from, CHALLENGE_NAME_MAX);
    len = put_str(msg, len, cap, to, CHALLENGE_NAME_MAX);
    if (len == SIZE_MAX)
        return -EINVAL;
    memcpy(msg + len, challenge, CHALLENGE_NONCE_LEN);
    memcpy(msg + len + CHALLENGE_NONCE_LEN, own_nonce, CHALLENGE_NONCE_LEN);
    len += 2 * CHALLENGE_NONCE_LEN;
    if (HMAC(EVP_sha256(), secret, (int)secret_len, msg, len, out, &mac_len) == NULL ||
        mac_len != CHALLENGE_MAC_LEN)
        return -EIO;
    return 0;
}

bool challenge_mac_ok(const char *label, const void *secret, size_t secret_len, const char *from,
                      const char *to, const uint8_t challenge[CHALLENGE_NONCE_LEN],
                      const uint8_t own_nonce[CHALLENGE_NONCE_LEN], const uint8_t *mac,
                      size_t len)
{
    uint8_t want[CHALLENGE_MAC_LEN];
    bool ok;

    if (mac == NULL || len != CHALLENGE_MAC_LEN ||
        challenge_mac(label, secret, secret_len, from, to, challenge, own_nonce, want) != 0)
        return false;
    ok = CRYPTO_memcmp(want, mac, CHALLENGE_MAC_LEN) == 0;
    OPENSSL_cleanse(want, sizeof(want));
    return ok;
}
