/* sip_auth: the Authorization (or Proxy-Authorization) parameter list of
 * the Digest scheme (RFC 3261 §25.1, RFC 7616 §3.4), parsed into struct
 * sip_auth_digest for sip_digest_verify(). Input is a span: NUL is an
 * ordinary (refused) byte. */
#include "server/sip/sip_auth.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "server/sip/sip_scan.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The parameters sip_auth_parse_digest() keeps; the index is the slot in
 * sip_auth_digest.store. */
static const struct {
    const char *name;
    size_t off;
} known_params[] = {
        {"username", offsetof(struct sip_digest_params, username)},
        {"realm", offsetof(struct sip_digest_params, realm)},
        {"nonce", offsetof(struct sip_digest_params, nonce)},
        {"uri", offsetof(struct sip_digest_params, uri)},
        {"response", offsetof(struct sip_digest_params, response)},
        {"algorithm", offsetof(struct sip_digest_params, algorithm)},
        {"qop", offsetof(struct sip_digest_params, qop)},
        {"nc", offsetof(struct sip_digest_params, nc)},
        {"cnonce", offsetof(struct sip_digest_params, cnonce)},
        {"opaque", offsetof(struct sip_digest_params, opaque)},
        {"stale", offsetof(struct sip_digest_params, stale)},
};

_Static_assert(ARRAY_SIZE(known_params) == ARRAY_SIZE(((struct sip_auth_digest *)0)->store),
               "one store slot per known parameter");

/* The unread rest of the value. */
struct cur {
    const char *p, *e;
};

/* Control characters but HTAB, as sip_digest.c refuses them in a realm. */
static bool is_ctl(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

static bool is_lws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void skip_lws(struct cur *c)
{
    while (c->p < c->e && is_lws(*c->p))
        c->p++;
}

/* The next byte, or NUL at the end. */
static char peek(const struct cur *c)
{
    return c->p < c->e ? *c->p : '\0';
}

/* RFC 3261 §25.1 token characters (sip_scan's table). */
static bool is_token_char(char c)
{
    return sip_scan_is_token((unsigned char)c);
}

static size_t token_len(const char *p, const char *e)
{
    size_t n = 0;

    while (p + n < e && is_token_char(p[n]))
        n++;
    return n;
}

/* A quoted-string at c (on the opening quote) into dst (NULL: skip it).
 * Escaped characters lose their backslash; NUL and control characters,
 * escaped or not, are refused. */
static int parse_quoted(struct cur *c, char *dst)
{
    const char *s = c->p + 1;
    size_t n = 0;
    unsigned char ch;

    for (;;) {
        if (s == c->e)
            return -EINVAL;
        ch = (unsigned char)*s++;
        if (ch == '"')
            break;
        if (ch == '\\') {
            if (s == c->e)
                return -EINVAL;
            ch = (unsigned char)*s++;
        }
        if (ch == '\0' || is_ctl(ch))
            return -EINVAL;
        if (n == SIP_DIGEST_MAX_FIELD)
            return -EMSGSIZE;
        if (dst != NULL)
            dst[n] = (char)ch;
        n++;
    }
    if (dst != NULL)
        dst[n] = '\0';
    c->p = s;
    return 0;
}

/* A token at c into dst (NULL: skip it). */
static int parse_token(struct cur *c, char *dst)
{
    size_t n = token_len(c->p, c->e);

    if (n == 0)
        return -EINVAL;
    if (n > SIP_DIGEST_MAX_FIELD)
        return -EMSGSIZE;
    if (dst != NULL) {
        memcpy(dst, c->p, n);
        dst[n] = '\0';
    }
    c->p += n;
    return 0;
}

/* Index of name in known_params, or -1. */
static int known_index(const char *name, size_t len)
{
    for (size_t i = 0; i < ARRAY_SIZE(known_params); i++) {
        if (strlen(known_params[i].name) == len &&
            strncasecmp(known_params[i].name, name, len) == 0)
            return (int)i;
    }
    return -1;
}

/* One name=value at c; known ones land in out. */
static int parse_param(struct cur *c, struct sip_auth_digest *out)
{
    const char **slot = NULL;
    char *dst = NULL;
    size_t n = token_len(c->p, c->e);
    int i, rc;

    if (n == 0)
        return -EINVAL;
    if (n > SIP_AUTH_MAX_NAME)
        return -EMSGSIZE;
    i = known_index(c->p, n);
    c->p += n;
    skip_lws(c);
    if (peek(c) != '=')
        return -EINVAL;
    c->p++;
    skip_lws(c);
    if (i >= 0) {
        slot = (const char **)((char *)&out->params + known_params[i].off);
        if (*slot != NULL)
            return -EINVAL;
        dst = out->store[i];
    }
    rc = peek(c) == '"' ? parse_quoted(c, dst) : parse_token(c, dst);
    if (rc != 0)
        return rc;
    if (slot != NULL)
        *slot = dst;
    return 0;
}

size_t sip_auth_scheme(const char *value, size_t len, size_t *skip)
{
    struct cur c = {value, value + len};
    size_t n;

    skip_lws(&c);
    *skip = (size_t)(c.p - value);
    n = token_len(c.p, c.e);
    if (c.p + n < c.e && !is_lws(c.p[n]))
        return 0;
    return n;
}

static int parse_list(struct cur *c, struct sip_auth_digest *out)
{
    unsigned count = 0;
    size_t skip, n = sip_auth_scheme(c->p, (size_t)(c->e - c->p), &skip);
    int rc;

    if (n != 6 || strncasecmp(c->p + skip, "Digest", 6) != 0)
        return -EINVAL;
    c->p += skip + n;
    for (;;) {
        skip_lws(c);
        if (c->p == c->e)
            return 0;
        /* Empty list elements are allowed (RFC 3261 §7.3.1, "#" rule). */
        if (*c->p == ',') {
            c->p++;
            continue;
        }
        if (++count > SIP_AUTH_MAX_PARAMS)
            return -EMSGSIZE;
        rc = parse_param(c, out);
        if (rc != 0)
            return rc;
        skip_lws(c);
        if (c->p < c->e && *c->p != ',')
            return -EINVAL;
    }
}

int sip_auth_parse_digest(const char *value, size_t len, struct sip_auth_digest *out)
{
    struct cur c = {value, value + len};
    int rc;

    /* Only the pointers: the 2.9 KiB store is written before it is read. */
    memset(&out->params, 0, sizeof(out->params));
    if (value == NULL)
        return -EINVAL;
    rc = parse_list(&c, out);
    if (rc != 0)
        memset(&out->params, 0, sizeof(out->params));
    return rc;
}
