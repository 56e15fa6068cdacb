/* libFuzzer target for sip_auth (the Authorization parser) and
 * sip_digest_verify: parse the input as an Authorization value (a span, as
 * sip_msg hands it over), check what the parser promises, then verify the
 * result with one fixed context, for a known and an unknown user.
 *
 * So that verify gets past the nonce check, a nonce (or response) given as
 * the token "-" is replaced by one the context issued (or by the right
 * response, from sip_digest_compute()); the right response must then be
 * accepted. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/base/buf.h"
#include "server/registrar/sip_digest.h"
#include "server/sip/sip_auth.h"

#define FUZZ_REALM    "fuzz.example"
#define FUZZ_NOW      1700000000u
#define FUZZ_USER     "1001"
#define FUZZ_METHOD   "REGISTER"
#define FUZZ_PASSWORD "secret"

static struct sip_digest *ctx;
static char nonce[SIP_DIGEST_MAX_FIELD + 1]; /* issued by ctx at FUZZ_NOW */

/* Take the nonce of the first challenge line in ch. */
static void take_nonce(const char *ch)
{
    const char *p = strstr(ch, "nonce=\"");
    const char *e;

    if (p == NULL)
        abort();
    p += strlen("nonce=\"");
    e = strchr(p, '"');
    if (e == NULL || (size_t)(e - p) > SIP_DIGEST_MAX_FIELD)
        abort();
    memcpy(nonce, p, (size_t)(e - p));
    nonce[e - p] = '\0';
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const unsigned char secret[SIP_DIGEST_SECRET_LEN] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct tc_buf ch = TC_BUF_INIT;

    (void)argc;
    (void)argv;
    if (sip_digest_new_with_secret(&ctx, FUZZ_REALM, 60, secret, sizeof(secret)) != 0)
        abort();
    if (sip_digest_challenge(ctx, FUZZ_NOW, false, FUZZ_USER, NULL, &ch) != 0)
        abort();
    take_nonce(ch.data);
    tc_buf_free(&ch);
    return 0;
}

/* What the parser promises: on error every field NULL; on success each field
 * NULL or a string of at most SIP_DIGEST_MAX_FIELD bytes in out->store. */
static void check_parse(int rc, const struct sip_auth_digest *c)
{
    const char *const *f = (const char *const *)&c->params;
    size_t n = sizeof(c->params) / sizeof(*f);
    const char *lo = c->store[0];
    const char *hi = lo + sizeof(c->store);

    if (rc != 0 && rc != -EINVAL && rc != -EMSGSIZE)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (f[i] == NULL)
            continue;
        if (rc != 0 || f[i] < lo || f[i] >= hi ||
            strnlen(f[i], SIP_DIGEST_MAX_FIELD + 1) > SIP_DIGEST_MAX_FIELD)
            abort();
    }
}

static void verify(const struct sip_digest_params *p, bool right_response)
{
    enum sip_digest_result r;

    r = sip_digest_verify(ctx, FUZZ_NOW, FUZZ_METHOD, p, FUZZ_PASSWORD, NULL);
    if (sip_digest_result_name(r) == NULL)
        abort();
    /* The context issued the nonce at FUZZ_NOW for FUZZ_USER and the
     * response is right: only a field verify refuses, another realm, opaque
     * or user, or an nc not above the last one seen stops it. */
    if (right_response && p->nonce == nonce && r != SIP_DIGEST_OK && r != SIP_DIGEST_MALFORMED &&
        !(r == SIP_DIGEST_WRONG && strcmp(p->realm, FUZZ_REALM) != 0) &&
        !(r == SIP_DIGEST_BAD_NONCE && p->opaque != NULL) &&
        !(r == SIP_DIGEST_BAD_NONCE && strcmp(p->username, FUZZ_USER) != 0) &&
        r != SIP_DIGEST_REPLAY)
        abort();
    /* An unknown user is never let in. */
    r = sip_digest_verify(ctx, FUZZ_NOW, FUZZ_METHOD, p, NULL, NULL);
    if (r == SIP_DIGEST_OK || r == SIP_DIGEST_STALE || r == SIP_DIGEST_REPLAY)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sip_auth_digest c;
    struct sip_digest_params p;
    char want[SIP_DIGEST_HEX_MAX];
    bool right = false;
    int rc;

    rc = sip_auth_parse_digest((const char *)data, size, &c);
    check_parse(rc, &c);
    if (rc != 0)
        return 0;
    p = c.params;
    if (p.nonce != NULL && strcmp(p.nonce, "-") == 0)
        p.nonce = nonce;
    if (p.response != NULL && strcmp(p.response, "-") == 0 &&
        sip_digest_compute(&p, FUZZ_METHOD, FUZZ_PASSWORD, want, sizeof(want)) == 0) {
        p.response = want;
        right = true;
    }
    verify(&p, right);
    return 0;
}
