/* The HMAC challenge-response shared by the peer handshake and the GWS
 * clients of the default port (tcport/challenge.h): the proof verifies
 * only with the same secret, names, nonces and label, matches a vector
 * computed outside this code (Python's hmac), and refuses bad sizes. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tcport/challenge.h"
#include "tcport/peer/peer_wire.h"
#include "tests/tc_test.h"

TestSuite(challenge, .fini = tc_test_leak_check);

static const char secret[] = "s3cret-s3cret-16";
#define SLEN (sizeof(secret) - 1)

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

static void nonces(uint8_t ch[CHALLENGE_NONCE_LEN], uint8_t own[CHALLENGE_NONCE_LEN])
{
    memset(ch, 1, CHALLENGE_NONCE_LEN);
    memset(own, 2, CHALLENGE_NONCE_LEN);
}

Test(challenge, known_vector)
{
    uint8_t ch[CHALLENGE_NONCE_LEN], own[CHALLENGE_NONCE_LEN], mac[CHALLENGE_MAC_LEN];
    char h[2 * CHALLENGE_MAC_LEN + 1];

    nonces(ch, own);
    /* hmac.new(secret, b"tcluster-gws-auth-v1\0GWS\0sip1\0" + b"\1"*32 + b"\2"*32, sha256) */
    cr_assert_eq(challenge_mac(CHALLENGE_GWS_LABEL, secret, SLEN, "GWS", "sip1", ch, own, mac), 0);
    hex(mac, sizeof(mac), h);
    cr_assert_str_eq(h, "f0e8338e0a30ee7566753e86e25936e91ee7e1ce34f11e02c5baa369f1f6e537");
    /* The peers' proof is the same construction under their label. */
    cr_assert_eq(peer_wire_mac(secret, SLEN, "sip1", "sip2", ch, own, mac), 0);
    hex(mac, sizeof(mac), h);
    cr_assert_str_eq(h, "92c64651c078d5bdb5fe7ff20341754e8411d9e91bd6c56e0b1519cd83eae3ce");
}

Test(challenge, proof_verifies_only_for_what_it_was_made_for)
{
    uint8_t ch[CHALLENGE_NONCE_LEN], own[CHALLENGE_NONCE_LEN], mac[CHALLENGE_MAC_LEN];
    uint8_t other[CHALLENGE_NONCE_LEN];
    const char *L = CHALLENGE_GWS_LABEL;

    nonces(ch, own);
    cr_assert_eq(challenge_mac(L, secret, SLEN, "GWS", "sip1", ch, own, mac), 0);
    cr_assert(challenge_mac_ok(L, secret, SLEN, "GWS", "sip1", ch, own, mac, sizeof(mac)));
    /* Another secret, even one byte shorter. */
    cr_assert_not(challenge_mac_ok(L, "s3cret-s3cret-17", SLEN, "GWS", "sip1", ch, own, mac, 32));
    cr_assert_not(challenge_mac_ok(L, secret, SLEN - 1, "GWS", "sip1", ch, own, mac, 32));
    /* Another application, node, or the names swapped. */
    cr_assert_not(challenge_mac_ok(L, secret, SLEN, "GWS2", "sip1", ch, own, mac, 32));
    cr_assert_not(challenge_mac_ok(L, secret, SLEN, "GWS", "sip2", ch, own, mac, 32));
    cr_assert_not(challenge_mac_ok(L, secret, SLEN, "sip1", "GWS", ch, own, mac, 32));
    /* "GW" + "Ssip1" must not read as "GWS" + "sip1". */
    cr_assert_not(challenge_mac_ok(L, secret, SLEN, "GW", "Ssip1", ch, own, mac, 32));
    /* A replay on a new challenge, or the nonces swapped. */
    memcpy(other, ch, sizeof(other));
    other[31] ^= 1;
    cr_assert_not(challenge_mac_ok(L, secret, SLEN, "GWS", "sip1", other, own, mac, 32));
    cr_assert_not(challenge_mac_ok(L, secret, SLEN, "GWS", "sip1", own, ch, mac, 32));
    /* A peer's proof is no GWS proof. */
    cr_assert_not(challenge_mac_ok("tcluster-peer-auth-v1", secret, SLEN, "GWS", "sip1", ch, own,
                                   mac, 32));
    /* A flipped bit, a short or missing proof. */
    mac[0] ^= 0x80;
    cr_assert_not(challenge_mac_ok(L, secret, SLEN, "GWS", "sip1", ch, own, mac, 32));
    mac[0] ^= 0x80;
    cr_assert_not(challenge_mac_ok(L, secret, SLEN, "GWS", "sip1", ch, own, mac, 31));
    cr_assert_not(challenge_mac_ok(L, secret, SLEN, "GWS", "sip1", ch, own, NULL, 32));
}

Test(challenge, bounds)
{
    uint8_t ch[CHALLENGE_NONCE_LEN], own[CHALLENGE_NONCE_LEN], mac[CHALLENGE_MAC_LEN];
    static uint8_t big[CHALLENGE_SECRET_MAX + 1];
    char name[CHALLENGE_NAME_MAX + 2];
    const char *L = CHALLENGE_GWS_LABEL;

    nonces(ch, own);
    cr_assert_eq(challenge_mac(L, secret, 0, "GWS", "sip1", ch, own, mac), -EINVAL);
    cr_assert_eq(challenge_mac(L, big, sizeof(big), "GWS", "sip1", ch, own, mac), -EINVAL);
    cr_assert_eq(challenge_mac(L, big, sizeof(big) - 1, "GWS", "sip1", ch, own, mac), 0);
    memset(name, 'a', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    cr_assert_eq(challenge_mac(L, secret, SLEN, name, "sip1", ch, own, mac), -EINVAL);
    name[sizeof(name) - 2] = '\0'; /* 63 bytes */
    cr_assert_eq(challenge_mac(L, secret, SLEN, name, name, ch, own, mac), 0);
    cr_assert_not(challenge_mac_ok(L, secret, 0, "GWS", "sip1", ch, own, mac, 32));
}

Test(challenge, nonces_are_fresh)
{
    uint8_t a[CHALLENGE_NONCE_LEN], b[CHALLENGE_NONCE_LEN];

    cr_assert_eq(challenge_nonce(a), 0);
    cr_assert_eq(challenge_nonce(b), 0);
    cr_assert_neq(memcmp(a, b, sizeof(a)), 0);
}
