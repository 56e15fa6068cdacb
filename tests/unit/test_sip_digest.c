/* SIP digest authentication: RFC known answers, challenge format, round
 * trips through our own stateless nonces, and the Authorization parser. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "server/registrar/sip_digest.h"
#include "server/sip/sip_auth.h"
#include "tests/tc_test.h"

TestSuite(sip_digest, .fini = tc_test_leak_check);

/* The Authorization parser the registrar's parameters come from
 * (server/sip/sip_auth), on a C string. */
static int parse_creds(const char *value, struct sip_auth_digest *c)
{
    return sip_auth_parse_digest(value, value != NULL ? strlen(value) : 0, c);
}

#define NOW    1700000000ULL
#define REALM  "tcluster"
#define USER   "1001"
#define PASS   "s3cret pass"
#define URI    "sip:tcluster.example.org"
#define METHOD "REGISTER"

/* Copy the value of key="..." in hdr into out. */
static void header_value(const char *hdr, const char *key, char *out, size_t cap)
{
    char pat[64];
    const char *p, *end;

    snprintf(pat, sizeof(pat), "%s=\"", key);
    p = strstr(hdr, pat);
    cr_assert_not_null(p, "no %s in %s", key, hdr);
    p += strlen(pat);
    end = strchr(p, '"');
    cr_assert_not_null(end);
    cr_assert_lt((size_t)(end - p), cap);
    memcpy(out, p, (size_t)(end - p));
    out[end - p] = '\0';
}

/* A client's answer to a challenge from ctx at now. */
struct answer {
    char nonce[128];
    char opaque[64];
    char response[SIP_DIGEST_HEX_MAX];
    struct sip_digest_params p;
};

static void make_answer(struct sip_digest *ctx, uint64_t now, const char *alg, const char *qop,
                        const char *password, struct answer *a)
{
    struct tc_buf b = TC_BUF_INIT;

    cr_assert_eq(sip_digest_challenge(ctx, now, false, USER, NULL, &b), 0);
    header_value(b.data, "nonce", a->nonce, sizeof(a->nonce));
    header_value(b.data, "opaque", a->opaque, sizeof(a->opaque));
    tc_buf_free(&b);
    a->p = (struct sip_digest_params){
            .username = USER,
            .realm = REALM,
            .nonce = a->nonce,
            .uri = URI,
            .algorithm = alg,
            .qop = qop,
            .nc = qop ? "00000001" : NULL,
            .cnonce = qop ? "0a4f113b" : NULL,
            .opaque = a->opaque,
    };
    cr_assert_eq(sip_digest_compute(&a->p, METHOD, password, a->response, sizeof(a->response)), 0);
    a->p.response = a->response;
}

static struct sip_digest *new_ctx(unsigned lifetime)
{
    struct sip_digest *ctx = NULL;

    cr_assert_eq(sip_digest_new(&ctx, REALM, lifetime), 0);
    cr_assert_not_null(ctx);
    return ctx;
}

/* ---- known answers ---- */

Test(sip_digest, rfc2617_md5_qop_auth)
{
    struct sip_digest_params p = {
            .username = "Mufasa",
            .realm = "testrealm@host.com",
            .nonce = "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            .uri = "/dir/index.html",
            .qop = "auth",
            .nc = "00000001",
            .cnonce = "0a4f113b",
    };
    char out[SIP_DIGEST_HEX_MAX];

    cr_assert_eq(sip_digest_compute(&p, "GET", "Circle Of Life", out, sizeof(out)), 0);
    cr_assert_str_eq(out, "6629fae49393a05397450978507c4ef1");
    p.algorithm = "md5";
    cr_assert_eq(sip_digest_compute(&p, "GET", "Circle Of Life", out, sizeof(out)), 0);
    cr_assert_str_eq(out, "6629fae49393a05397450978507c4ef1");
}

Test(sip_digest, rfc7616_sha256_and_md5)
{
    struct sip_digest_params p = {
            .username = "Mufasa",
            .realm = "http-auth@example.org",
            .nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            .uri = "/dir/index.html",
            .algorithm = "SHA-256",
            .qop = "auth",
            .nc = "00000001",
            .cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    };
    char out[SIP_DIGEST_HEX_MAX];

    cr_assert_eq(sip_digest_compute(&p, "GET", "Circle of Life", out, sizeof(out)), 0);
    cr_assert_str_eq(out, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
    p.algorithm = "MD5";
    cr_assert_eq(sip_digest_compute(&p, "GET", "Circle of Life", out, sizeof(out)), 0);
    cr_assert_str_eq(out, "8ca523f5e9506fed4657c9700eebdbec");
}

/* RFC 2069 has no qop: response = H(HA1:nonce:HA2). The value was computed
 * independently with openssl dgst (the RFC's own example value is wrong,
 * see its errata). */
Test(sip_digest, rfc2069_without_qop)
{
    struct sip_digest_params p = {
            .username = "Mufasa",
            .realm = "testrealm@host.com",
            .nonce = "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            .uri = "/dir/index.html",
    };
    char out[SIP_DIGEST_HEX_MAX];

    cr_assert_eq(sip_digest_compute(&p, "GET", "CircleOfLife", out, sizeof(out)), 0);
    cr_assert_str_eq(out, "1949323746fe6a43ef61f9606e7febea");
}

/* The RFC 2617 §3.5 Authorization header, parsed, gives the same answer. */
Test(sip_digest, rfc2617_header_parsed)
{
    struct sip_auth_digest c;
    char out[SIP_DIGEST_HEX_MAX];

    cr_assert_eq(parse_creds("Digest username=\"Mufasa\",\r\n"
                             "                 realm=\"testrealm@host.com\",\r\n"
                             "                 nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\",\r\n"
                             "                 uri=\"/dir/index.html\",\r\n"
                             "                 qop=auth,\r\n"
                             "                 nc=00000001,\r\n"
                             "                 cnonce=\"0a4f113b\",\r\n"
                             "                 response=\"6629fae49393a05397450978507c4ef1\",\r\n"
                             "                 opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
                             &c),
                 0);
    cr_assert_str_eq(c.params.username, "Mufasa");
    cr_assert_str_eq(c.params.qop, "auth");
    cr_assert_str_eq(c.params.opaque, "5ccc069c403ebaf9f0171e9517f40e41");
    cr_assert_null(c.params.algorithm);
    cr_assert_eq(sip_digest_compute(&c.params, "GET", "Circle Of Life", out, sizeof(out)), 0);
    cr_assert_str_eq(out, c.params.response);
}

Test(sip_digest, compute_rejects)
{
    struct sip_digest_params p = {
            .username = "u", .realm = "r", .nonce = "n", .uri = "sip:x", .qop = "auth"};
    char out[SIP_DIGEST_HEX_MAX];

    cr_assert_eq(sip_digest_compute(&p, "GET", "pw", out, sizeof(out)), -EINVAL); /* no nc */
    p.qop = NULL;
    cr_assert_eq(sip_digest_compute(&p, "GET", "pw", out, sizeof(out) - 1), -ENOSPC);
    p.algorithm = "SHA-512-256";
    cr_assert_eq(sip_digest_compute(&p, "GET", "pw", out, sizeof(out)), -EINVAL);
    p.algorithm = "MD5-sess";
    cr_assert_eq(sip_digest_compute(&p, "GET", "pw", out, sizeof(out)), -EINVAL);
}

/* ---- contexts and challenges ---- */

Test(sip_digest, new_rejects_bad_realm)
{
    struct sip_digest *ctx = NULL;
    char big[SIP_DIGEST_MAX_FIELD + 2];

    cr_assert_eq(sip_digest_new(&ctx, "", 0), -EINVAL);
    cr_assert_eq(sip_digest_new(&ctx, "a\"b", 0), -EINVAL);
    cr_assert_eq(sip_digest_new(&ctx, "a\\b", 0), -EINVAL);
    cr_assert_eq(sip_digest_new(&ctx, "a\r\nX-Evil: 1", 0), -EINVAL);
    cr_assert_eq(sip_digest_new(&ctx, NULL, 0), -EINVAL);
    memset(big, 'r', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cr_assert_eq(sip_digest_new(&ctx, big, 0), -EINVAL);
    big[SIP_DIGEST_MAX_FIELD] = '\0';
    cr_assert_eq(sip_digest_new(&ctx, big, 0), 0);
    sip_digest_free(ctx);
    cr_assert_eq(sip_digest_new_with_secret(&ctx, REALM, 0, "k", 0), -EINVAL);
    cr_assert_eq(sip_digest_new_with_secret(&ctx, REALM, 0, big, SIP_DIGEST_SECRET_LEN + 1),
                 -EINVAL);
    sip_digest_free(NULL);
}

Test(sip_digest, challenge_format)
{
    struct sip_digest *ctx = new_ctx(0);
    struct tc_buf b = TC_BUF_INIT;
    char nonce[128], opaque[64], want[1024];

    cr_assert_eq(sip_digest_challenge(ctx, NOW, false, USER, NULL, &b), 0);
    header_value(b.data, "nonce", nonce, sizeof(nonce));
    header_value(b.data, "opaque", opaque, sizeof(opaque));
    cr_assert_eq(strspn(nonce, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                 strlen(nonce));
    snprintf(want, sizeof(want),
             "WWW-Authenticate: Digest realm=\"tcluster\", nonce=\"%s\", opaque=\"%s\", "
             "algorithm=MD5, qop=\"auth\"\r\n"
             "WWW-Authenticate: Digest realm=\"tcluster\", nonce=\"%s\", opaque=\"%s\", "
             "algorithm=SHA-256, qop=\"auth\"\r\n",
             nonce, opaque, nonce, opaque);
    cr_assert_str_eq(b.data, want);

    /* Appends; the same second gives another nonce (each is counted);
     * stale=true goes on both lines. */
    cr_assert_eq(sip_digest_challenge(ctx, NOW, true, USER, NULL, &b), 0);
    cr_assert_null(strstr(b.data + strlen(want), nonce));
    header_value(b.data + strlen(want), "nonce", nonce, sizeof(nonce));
    snprintf(want + strlen(want), sizeof(want) - strlen(want),
             "WWW-Authenticate: Digest realm=\"tcluster\", nonce=\"%s\", opaque=\"%s\", "
             "algorithm=MD5, qop=\"auth\", stale=true\r\n"
             "WWW-Authenticate: Digest realm=\"tcluster\", nonce=\"%s\", opaque=\"%s\", "
             "algorithm=SHA-256, qop=\"auth\", stale=true\r\n",
             nonce, opaque, nonce, opaque);
    cr_assert_str_eq(b.data, want);
    cr_assert_eq(b.len, strlen(want));

    /* A second later the nonce changes too, the opaque does not. */
    tc_buf_reset(&b);
    cr_assert_eq(sip_digest_challenge(ctx, NOW + 1, false, USER, NULL, &b), 0);
    cr_assert_null(strstr(b.data, nonce));
    cr_assert_not_null(strstr(b.data, opaque));
    tc_buf_free(&b);
    sip_digest_free(ctx);
}

/* An offer (issue 14): only its algorithms, in its order, in its realm;
 * an answer with another algorithm is refused, and the nonce of one realm
 * does not serve another. */
Test(sip_digest, offer_sets_algorithms_order_and_realm)
{
    struct sip_digest *ctx = new_ctx(0);
    struct tc_buf b = TC_BUF_INIT;
    const struct sip_digest_offer sha_only = {"pbx.example.org", 1, {SIP_DIGEST_SHA256}};
    const struct sip_digest_offer md5_only = {NULL, 1, {SIP_DIGEST_MD5}};
    const struct sip_digest_offer sha_md5 = {NULL, 2, {SIP_DIGEST_SHA256, SIP_DIGEST_MD5}};
    const struct sip_digest_offer bad_realm = {"a\"b", 1, {SIP_DIGEST_MD5}};
    const struct sip_digest_offer none = {NULL, 0, {SIP_DIGEST_MD5}};
    struct answer a;
    const char *sha;

    cr_assert_eq(sip_digest_challenge(ctx, NOW, false, USER, &sha_only, &b), 0);
    cr_assert_not_null(strstr(b.data, "realm=\"pbx.example.org\""));
    cr_assert_not_null(strstr(b.data, "algorithm=SHA-256"));
    cr_assert_null(strstr(b.data, "MD5"));
    cr_assert_eq(strstr(b.data, "\r\n") + 2, b.data + b.len, "one line: %s", b.data);
    tc_buf_reset(&b);
    cr_assert_eq(sip_digest_challenge(ctx, NOW, false, USER, &sha_md5, &b), 0);
    sha = strstr(b.data, "algorithm=SHA-256");
    cr_assert_not_null(sha);
    cr_assert_gt(strstr(b.data, "algorithm=MD5"), sha, "SHA-256 first: %s", b.data);
    tc_buf_reset(&b);
    cr_assert_eq(sip_digest_challenge(ctx, NOW, false, USER, &bad_realm, &b), -EINVAL);
    cr_assert_eq(sip_digest_challenge(ctx, NOW, false, USER, &none, &b), -EINVAL);
    cr_assert_eq(b.len, 0);
    tc_buf_free(&b);

    /* MD5 answered where only SHA-256 is offered: refused, right or not. */
    make_answer(ctx, NOW, "MD5", "auth", PASS, &a);
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, &sha_only),
                 SIP_DIGEST_NOT_OFFERED);
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, &md5_only), SIP_DIGEST_OK);
    make_answer(ctx, NOW, "SHA-256", "auth", PASS, &a);
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, &md5_only),
                 SIP_DIGEST_NOT_OFFERED);
    /* The nonce was made for realm "tcluster": not good in another. */
    a.p.realm = "pbx.example.org";
    cr_assert_eq(sip_digest_compute(&a.p, METHOD, PASS, a.response, sizeof(a.response)), 0);
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, &sha_only), SIP_DIGEST_BAD_NONCE);
    sip_digest_free(ctx);
}

/* Our own challenge header, handed to our own parser, gives usable params. */
Test(sip_digest, challenge_parses)
{
    struct sip_digest *ctx = new_ctx(0);
    struct tc_buf b = TC_BUF_INIT;
    struct sip_auth_digest c;
    char *eol;

    cr_assert_eq(sip_digest_challenge(ctx, NOW, true, USER, NULL, &b), 0);
    eol = strstr(b.data, "\r\n");
    *eol = '\0';
    cr_assert_eq(parse_creds(b.data + strlen("WWW-Authenticate: "), &c), 0);
    cr_assert_str_eq(c.params.realm, REALM);
    cr_assert_str_eq(c.params.algorithm, "MD5");
    cr_assert_str_eq(c.params.qop, "auth");
    cr_assert_not_null(c.params.nonce);
    tc_buf_free(&b);
    sip_digest_free(ctx);
}

/* ---- round trips ---- */

Test(sip_digest, roundtrip_ok_all_variants)
{
    struct sip_digest *ctx = new_ctx(0);
    const char *algs[] = {NULL, "MD5", "SHA-256", "sha-256"};
    const char *qops[] = {NULL, "auth"};
    struct answer a;

    for (size_t i = 0; i < 4; i++) {
        for (size_t j = 0; j < 2; j++) {
            make_answer(ctx, NOW, algs[i], qops[j], PASS, &a);
            cr_assert_eq(sip_digest_verify(ctx, NOW + 10, METHOD, &a.p, PASS, NULL), SIP_DIGEST_OK,
                         "alg %s qop %s", algs[i] ? algs[i] : "-", qops[j] ? qops[j] : "-");
        }
    }
    /* Without opaque (some clients drop it), and with the answer in upper case. */
    make_answer(ctx, NOW, "SHA-256", "auth", PASS, &a);
    a.p.opaque = NULL;
    for (char *c = a.response; *c; c++) {
        if (*c >= 'a' && *c <= 'f')
            *c = (char)(*c - 'a' + 'A');
    }
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_OK);
    sip_digest_free(ctx);
}

Test(sip_digest, wrong_answers)
{
    struct sip_digest *ctx = new_ctx(0);
    struct answer a;

    make_answer(ctx, NOW, "SHA-256", "auth", "not the password", &a);
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_WRONG);

    make_answer(ctx, NOW, NULL, NULL, PASS, &a);
    cr_assert_eq(sip_digest_verify(ctx, NOW, "INVITE", &a.p, PASS, NULL), SIP_DIGEST_WRONG);
    a.p.uri = "sip:other.example.org";
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_WRONG);
    a.p.uri = URI;
    /* Another user: the nonce was made for USER, so it is not ours for 1002. */
    a.p.username = "1002";
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_BAD_NONCE);
    a.p.username = USER;
    /* Another realm, even with an answer computed for it. */
    a.p.realm = "other";
    cr_assert_eq(sip_digest_compute(&a.p, METHOD, PASS, a.response, sizeof(a.response)), 0);
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_WRONG);
    a.p.realm = REALM;
    /* Unknown user: NULL password is always wrong, even against the empty
     * password it is hashed as. */
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, NULL, NULL), SIP_DIGEST_WRONG);
    cr_assert_eq(sip_digest_compute(&a.p, METHOD, "", a.response, sizeof(a.response)), 0);
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, "", NULL), SIP_DIGEST_OK);
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, NULL, NULL), SIP_DIGEST_WRONG);
    cr_assert_eq(sip_digest_compute(&a.p, METHOD, PASS, a.response, sizeof(a.response)), 0);
    /* The MD5 answer claimed as SHA-256 has the wrong length. */
    a.p.algorithm = "SHA-256";
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_MALFORMED);
    a.p.algorithm = NULL;
    /* Right, but this nonce already served one request without qop. */
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_REPLAY);
    sip_digest_free(ctx);
}

Test(sip_digest, nonce_from_another_secret)
{
    struct sip_digest *ctx = new_ctx(0), *other = new_ctx(0);
    struct answer a;

    make_answer(other, NOW, "SHA-256", "auth", PASS, &a);
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_BAD_NONCE);
    a.p.opaque = NULL;
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_BAD_NONCE);
    cr_assert_eq(sip_digest_verify(other, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_OK);
    sip_digest_free(other);
    sip_digest_free(ctx);
}

Test(sip_digest, shared_secret_nodes_agree)
{
    static const unsigned char key[SIP_DIGEST_SECRET_LEN] = "cluster-wide digest secret 0123";
    struct sip_digest *a_ctx = NULL, *b_ctx = NULL, *c_ctx = NULL;
    struct answer a;

    cr_assert_eq(sip_digest_new_with_secret(&a_ctx, REALM, 0, key, sizeof(key)), 0);
    cr_assert_eq(sip_digest_new_with_secret(&b_ctx, REALM, 0, key, sizeof(key)), 0);
    cr_assert_eq(sip_digest_new_with_secret(&c_ctx, "other", 0, key, sizeof(key)), 0);
    make_answer(a_ctx, NOW, "SHA-256", "auth", PASS, &a);
    cr_assert_eq(sip_digest_verify(b_ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_OK);
    /* Same secret, other realm: the nonce MAC covers the realm. */
    a.p.realm = "other";
    a.p.opaque = NULL;
    cr_assert_eq(sip_digest_compute(&a.p, METHOD, PASS, a.response, sizeof(a.response)), 0);
    cr_assert_eq(sip_digest_verify(c_ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_BAD_NONCE);
    sip_digest_free(a_ctx);
    sip_digest_free(b_ctx);
    sip_digest_free(c_ctx);
}

Test(sip_digest, expired_nonce_is_stale)
{
    struct sip_digest *ctx = new_ctx(60);
    struct answer a;

    make_answer(ctx, NOW, "MD5", "auth", PASS, &a);
    cr_assert_eq(sip_digest_verify(ctx, NOW + 60, METHOD, &a.p, PASS, NULL), SIP_DIGEST_OK);
    cr_assert_eq(sip_digest_verify(ctx, NOW + 61, METHOD, &a.p, PASS, NULL), SIP_DIGEST_STALE);
    cr_assert_eq(sip_digest_verify(ctx, NOW + 86400, METHOD, &a.p, PASS, NULL), SIP_DIGEST_STALE);
    /* A clock that went back: ours, but too far from now. */
    cr_assert_eq(sip_digest_verify(ctx, NOW - 61, METHOD, &a.p, PASS, NULL), SIP_DIGEST_STALE);
    /* stale=true only for a right answer; a wrong one is just wrong. */
    cr_assert_eq(sip_digest_verify(ctx, NOW + 61, METHOD, &a.p, "guess", NULL), SIP_DIGEST_WRONG);
    sip_digest_free(ctx);

    ctx = new_ctx(0);
    make_answer(ctx, NOW, "SHA-256", NULL, PASS, &a);
    cr_assert_eq(
            sip_digest_verify(ctx, NOW + SIP_DIGEST_DEFAULT_LIFETIME, METHOD, &a.p, PASS, NULL),
            SIP_DIGEST_OK);
    cr_assert_eq(
            sip_digest_verify(ctx, NOW + SIP_DIGEST_DEFAULT_LIFETIME + 1, METHOD, &a.p, PASS, NULL),
            SIP_DIGEST_STALE);
    sip_digest_free(ctx);
}

/* ---- replay (RFC 7616 §3.4) ---- */

Test(sip_digest, replayed_nc_refused)
{
    struct sip_digest *ctx = new_ctx(0);
    struct answer a;

    make_answer(ctx, NOW, "MD5", "auth", PASS, &a);
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_OK);
    /* The very same Authorization again: a captured one replayed. */
    cr_assert_eq(sip_digest_verify(ctx, NOW + 1, METHOD, &a.p, PASS, NULL), SIP_DIGEST_REPLAY);
    cr_assert_eq(sip_digest_verify(ctx, NOW + 2, METHOD, &a.p, PASS, NULL), SIP_DIGEST_REPLAY);
    /* The client's next request counts up and is fine. */
    a.p.nc = "00000002";
    cr_assert_eq(sip_digest_compute(&a.p, METHOD, PASS, a.response, sizeof(a.response)), 0);
    cr_assert_eq(sip_digest_verify(ctx, NOW + 3, METHOD, &a.p, PASS, NULL), SIP_DIGEST_OK);
    /* A wrong answer with a fresh nc records nothing and stays wrong. */
    a.p.nc = "00000003";
    cr_assert_eq(sip_digest_verify(ctx, NOW + 3, METHOD, &a.p, PASS, NULL), SIP_DIGEST_WRONG);
    cr_assert_eq(sip_digest_compute(&a.p, METHOD, PASS, a.response, sizeof(a.response)), 0);
    cr_assert_eq(sip_digest_verify(ctx, NOW + 3, METHOD, &a.p, PASS, NULL), SIP_DIGEST_OK);
    cr_assert_str_eq(sip_digest_result_name(SIP_DIGEST_REPLAY), "replay");
    sip_digest_free(ctx);
}

Test(sip_digest, lower_or_zero_nc_refused)
{
    struct sip_digest *ctx = new_ctx(0);
    struct answer a;

    make_answer(ctx, NOW, "SHA-256", "auth", PASS, &a);
    a.p.nc = "0000000a";
    cr_assert_eq(sip_digest_compute(&a.p, METHOD, PASS, a.response, sizeof(a.response)), 0);
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_OK);
    a.p.nc = "00000009";
    cr_assert_eq(sip_digest_compute(&a.p, METHOD, PASS, a.response, sizeof(a.response)), 0);
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_REPLAY);
    /* nc counts from 1: 0 is never good, even on a fresh nonce. */
    make_answer(ctx, NOW, "SHA-256", "auth", PASS, &a);
    a.p.nc = "00000000";
    cr_assert_eq(sip_digest_compute(&a.p, METHOD, PASS, a.response, sizeof(a.response)), 0);
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_REPLAY);
    sip_digest_free(ctx);
}

Test(sip_digest, nonce_without_qop_is_good_once)
{
    struct sip_digest *ctx = new_ctx(0);
    struct answer a;

    make_answer(ctx, NOW, NULL, NULL, PASS, &a);
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_OK);
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_REPLAY);
    /* A fresh challenge in the same second gives another nonce. */
    make_answer(ctx, NOW, NULL, NULL, PASS, &a);
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_OK);
    sip_digest_free(ctx);
}

Test(sip_digest, nonce_for_another_dn_refused)
{
    struct sip_digest *ctx = new_ctx(0);
    struct tc_buf b = TC_BUF_INIT;
    struct answer a;
    char nonce_2002[128];

    cr_assert_eq(sip_digest_challenge(ctx, NOW, false, "2002", NULL, &b), 0);
    header_value(b.data, "nonce", nonce_2002, sizeof(nonce_2002));
    tc_buf_free(&b);
    /* USER answers, rightly, with the nonce made for 2002. */
    make_answer(ctx, NOW, "MD5", "auth", PASS, &a);
    memcpy(a.nonce, nonce_2002, sizeof(nonce_2002));
    cr_assert_eq(sip_digest_compute(&a.p, METHOD, PASS, a.response, sizeof(a.response)), 0);
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_BAD_NONCE);
    /* As 2002 it is fine. */
    a.p.username = "2002";
    cr_assert_eq(sip_digest_compute(&a.p, METHOD, PASS, a.response, sizeof(a.response)), 0);
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_OK);
    sip_digest_free(ctx);
}

Test(sip_digest, nc_table_forgets_safely)
{
    struct sip_digest *ctx = new_ctx(0);
    struct answer first, a;

    make_answer(ctx, NOW, "MD5", "auth", PASS, &first);
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &first.p, PASS, NULL), SIP_DIGEST_OK);
    /* Fill the table many times over with live nonces. */
    for (unsigned i = 0; i < 4 * SIP_DIGEST_NC_SLOTS; i++) {
        make_answer(ctx, NOW, "MD5", "auth", PASS, &a);
        cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_OK);
    }
    /* The first nonce's entry is gone, yet its replay is still refused,
     * as is a later use with a higher nc: the client gets a fresh nonce. */
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &first.p, PASS, NULL), SIP_DIGEST_REPLAY);
    /* Nonces made after the table overflowed work at once. */
    make_answer(ctx, NOW, "MD5", "auth", PASS, &a);
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_OK);
    sip_digest_free(ctx);
}

Test(sip_digest, tampered_nonce)
{
    struct sip_digest *ctx = new_ctx(0);
    struct answer a;
    char orig[128];
    size_t len;

    make_answer(ctx, NOW, "SHA-256", "auth", PASS, &a);
    memcpy(orig, a.nonce, sizeof(orig));
    len = strlen(orig);
    /* Flip every character in turn: timestamp and MAC alike. The client
     * recomputes its answer over the tampered nonce, as an attacker would. */
    for (size_t i = 0; i < len; i++) {
        memcpy(a.nonce, orig, sizeof(orig));
        a.nonce[i] = a.nonce[i] == 'A' ? 'B' : 'A';
        cr_assert_eq(sip_digest_compute(&a.p, METHOD, PASS, a.response, sizeof(a.response)), 0);
        cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_BAD_NONCE,
                     "flip at %zu", i);
    }
    memcpy(a.nonce, orig, sizeof(orig));
    a.nonce[len - 1] = '\0';
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_BAD_NONCE);
    memcpy(a.nonce, orig, sizeof(orig));
    strcat(a.nonce, "AAAA");
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_BAD_NONCE);
    memcpy(a.nonce, orig, sizeof(orig));
    a.nonce[3] = '+';
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_BAD_NONCE);
    a.p.nonce = "dcd98b7102dd2f0e8b11d0f600bfb0c093";
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_BAD_NONCE);
    a.p.nonce = a.nonce;
    memcpy(a.nonce, orig, sizeof(orig));
    cr_assert_eq(sip_digest_compute(&a.p, METHOD, PASS, a.response, sizeof(a.response)), 0);
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_OK);
    a.p.opaque = "0123456789abcdef";
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_BAD_NONCE);
    sip_digest_free(ctx);
}

Test(sip_digest, missing_fields_malformed)
{
    struct sip_digest *ctx = new_ctx(0);
    char big[SIP_DIGEST_MAX_FIELD + 2];
    struct answer a;
    struct sip_digest_params saved;
    const char **fields[] = {&a.p.username, &a.p.realm, &a.p.nonce, &a.p.uri,
                             &a.p.response, &a.p.nc,    &a.p.cnonce};

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    make_answer(ctx, NOW, "SHA-256", "auth", PASS, &a);
    saved = a.p;
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        a.p = saved;
        *fields[i] = NULL;
        cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_MALFORMED,
                     "field %zu NULL", i);
        *fields[i] = "";
        cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_MALFORMED,
                     "field %zu empty", i);
        *fields[i] = big;
        cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_MALFORMED,
                     "field %zu long", i);
    }
    a.p = saved;
    a.p.opaque = big;
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_MALFORMED);
    a.p = saved;
    a.p.algorithm = big;
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_MALFORMED);
    a.p = saved;
    a.p.algorithm = "SHA-256-sess";
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_MALFORMED);
    a.p = saved;
    a.p.qop = "auth-int";
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_MALFORMED);
    a.p = saved;
    a.p.nc = "1";
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_MALFORMED);
    a.p.nc = "0000000g";
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_MALFORMED);
    a.p = saved;
    a.response[5] = 'z';
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &a.p, PASS, NULL), SIP_DIGEST_MALFORMED);
    a.p = saved;
    cr_assert_eq(sip_digest_verify(ctx, NOW, NULL, &a.p, PASS, NULL), SIP_DIGEST_MALFORMED);
    cr_assert_eq(sip_digest_verify(ctx, NOW, big, &a.p, PASS, NULL), SIP_DIGEST_MALFORMED);
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, NULL, PASS, NULL), SIP_DIGEST_MALFORMED);
    sip_digest_free(ctx);
}

/* ---- parser ---- */

Test(sip_digest, parse_quoting_escapes_spaces)
{
    struct sip_auth_digest c;

    cr_assert_eq(parse_creds("  digest\tUserName = \"al\\\"ice\\\\\" ,realm=\"a, b=c\","
                             "NONCE=\"\", uri=\"sip:x@y;transport=tcp\",\t"
                             "response=abc, ALGORITHM=\"SHA-256\", qop=\"auth\"",
                             &c),
                 0);
    cr_assert_str_eq(c.params.username, "al\"ice\\");
    cr_assert_str_eq(c.params.realm, "a, b=c");
    cr_assert_str_eq(c.params.nonce, "");
    cr_assert_str_eq(c.params.uri, "sip:x@y;transport=tcp");
    cr_assert_str_eq(c.params.response, "abc");
    cr_assert_str_eq(c.params.algorithm, "SHA-256");
    cr_assert_str_eq(c.params.qop, "auth");
    cr_assert_null(c.params.nc);
    cr_assert_null(c.params.cnonce);
    cr_assert_null(c.params.opaque);

    /* UTF-8 in quoted strings, empty list elements, a trailing comma. */
    cr_assert_eq(parse_creds("Digest ,username=\"J\xc3\xb6rg\",, nc=00000001,", &c), 0);
    cr_assert_str_eq(c.params.username, "J\xc3\xb6rg");
    cr_assert_str_eq(c.params.nc, "00000001");
    cr_assert_eq(parse_creds("Digest", &c), 0);
    cr_assert_null(c.params.username);
}

Test(sip_digest, parse_unknown_params_skipped)
{
    struct sip_auth_digest c;

    cr_assert_eq(parse_creds("Digest x-foo=\"q\\\"uoted, \\\\x\", username=\"u\", "
                             "userhash=false, charset=UTF-8, auts=\"\"",
                             &c),
                 0);
    cr_assert_str_eq(c.params.username, "u");
    cr_assert_null(c.params.realm);
}

Test(sip_digest, parse_rejects)
{
    struct sip_auth_digest c;
    static const char *bad[] = {
            "",
            "Basic dXNlcjpwYXNz",
            "Digestusername=\"u\"",
            "Digest username",
            "Digest username=",
            "Digest username=\"u",
            "Digest username=\"u\\",
            "Digest username=\"u\" realm=\"r\"",
            "Digest username=\"u\"x",
            "Digest =\"u\"",
            "Digest username=\"u\", USERNAME=\"v\"",
            "Digest username=\"u\r\nX\"",
            "Digest username=\"a\\\x01\"",
            "Digest username=\"a\x7f\"",
            "Digest username=a/b",
            "Digest username=\"u\";realm=\"r\"",
            "Digest x-unknown=\"never closed",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(parse_creds(bad[i], &c), -EINVAL, "case %zu: %s", i, bad[i]);
        cr_assert_null(c.params.username, "case %zu left a value", i);
    }
    cr_assert_eq(parse_creds(NULL, &c), -EINVAL);
}

Test(sip_digest, parse_bounds)
{
    char val[SIP_DIGEST_MAX_FIELD + 2], hdr[2048];
    struct sip_auth_digest c;
    size_t n;

    memset(val, 'v', sizeof(val));
    val[SIP_DIGEST_MAX_FIELD] = '\0';
    snprintf(hdr, sizeof(hdr), "Digest username=\"%s\", nonce=%s", val, val);
    cr_assert_eq(parse_creds(hdr, &c), 0);
    cr_assert_eq(strlen(c.params.username), SIP_DIGEST_MAX_FIELD);
    cr_assert_eq(strlen(c.params.nonce), SIP_DIGEST_MAX_FIELD);

    val[SIP_DIGEST_MAX_FIELD] = 'v';
    val[SIP_DIGEST_MAX_FIELD + 1] = '\0';
    snprintf(hdr, sizeof(hdr), "Digest username=\"%s\"", val);
    cr_assert_eq(parse_creds(hdr, &c), -EMSGSIZE);
    snprintf(hdr, sizeof(hdr), "Digest nonce=%s", val);
    cr_assert_eq(parse_creds(hdr, &c), -EMSGSIZE);
    snprintf(hdr, sizeof(hdr), "Digest x-unknown=\"%s\"", val);
    cr_assert_eq(parse_creds(hdr, &c), -EMSGSIZE);
    /* Escapes count once: 256 escaped characters fit. */
    n = (size_t)snprintf(hdr, sizeof(hdr), "Digest username=\"");
    for (size_t i = 0; i < SIP_DIGEST_MAX_FIELD; i++) {
        hdr[n++] = '\\';
        hdr[n++] = 'e';
    }
    snprintf(hdr + n, sizeof(hdr) - n, "\"");
    cr_assert_eq(parse_creds(hdr, &c), 0);
    cr_assert_eq(strlen(c.params.username), SIP_DIGEST_MAX_FIELD);

    snprintf(hdr, sizeof(hdr), "Digest %.*s=1", SIP_AUTH_MAX_NAME + 1, val);
    cr_assert_eq(parse_creds(hdr, &c), -EMSGSIZE);
    snprintf(hdr, sizeof(hdr), "Digest %.*s=1", SIP_AUTH_MAX_NAME, val);
    cr_assert_eq(parse_creds(hdr, &c), 0);

    n = (size_t)snprintf(hdr, sizeof(hdr), "Digest ");
    for (int i = 0; i < SIP_AUTH_MAX_PARAMS; i++)
        n += (size_t)snprintf(hdr + n, sizeof(hdr) - n, "p%d=1,", i);
    cr_assert_eq(parse_creds(hdr, &c), 0);
    snprintf(hdr + n, sizeof(hdr) - n, "one=more");
    cr_assert_eq(parse_creds(hdr, &c), -EMSGSIZE);
    cr_assert_null(c.params.username);
}

/* A full exchange as the registrar sees it: raw header in, result out. */
Test(sip_digest, parsed_header_roundtrip)
{
    struct sip_digest *ctx = new_ctx(0);
    struct sip_auth_digest c;
    struct answer a;
    char hdr[1024];

    make_answer(ctx, NOW, "SHA-256", "auth", PASS, &a);
    snprintf(hdr, sizeof(hdr),
             "Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", "
             "response=\"%s\", algorithm=SHA-256, cnonce=\"%s\", opaque=\"%s\", qop=auth, "
             "nc=%s",
             a.p.username, a.p.realm, a.p.nonce, a.p.uri, a.p.response, a.p.cnonce, a.p.opaque,
             a.p.nc);
    cr_assert_eq(parse_creds(hdr, &c), 0);
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &c.params, PASS, NULL), SIP_DIGEST_OK);
    cr_assert_eq(sip_digest_verify(ctx, NOW, METHOD, &c.params, "x", NULL), SIP_DIGEST_WRONG);
    sip_digest_free(ctx);
}

Test(sip_digest, result_names)
{
    cr_assert_str_eq(sip_digest_result_name(SIP_DIGEST_OK), "ok");
    cr_assert_str_eq(sip_digest_result_name(SIP_DIGEST_STALE), "stale");
    cr_assert_str_eq(sip_digest_result_name(SIP_DIGEST_BAD_NONCE), "bad_nonce");
    cr_assert_str_eq(sip_digest_result_name(SIP_DIGEST_WRONG), "wrong");
    cr_assert_str_eq(sip_digest_result_name(SIP_DIGEST_MALFORMED), "malformed");
    cr_assert_str_eq(sip_digest_result_name(SIP_DIGEST_ERROR), "error");
    cr_assert_str_eq(sip_digest_result_name((enum sip_digest_result)99), "unknown");
}
