/* sip_digest_parse: the Authorization (or Proxy-Authorization) parameter
 * list of the Digest scheme (RFC 3261 §25.1, RFC 7616 §3.4), parsed into
 * struct sip_digest_creds for sip_digest_verify(). Declared in
 * sip_digest.h. Outside input: every value and count is bounded. */
#include "server/registrar/sip_digest.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The parameters sip_digest_parse_params() keeps; the index is the slot in
 * sip_digest_creds.store. */
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
};

_Static_assert(ARRAY_SIZE(known_params) == ARRAY_SIZE(((struct sip_digest_creds *)0)->store),
               "one store slot per known parameter");

/* Control characters but HTAB, as sip_digest.c refuses them in a realm. */
static bool is_ctl(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

static bool is_lws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static const char *skip_lws(const char *s)
{
    while (is_lws(*s))
        s++;
    return s;
}

/* RFC 3261 §25.1 token characters. */
static bool is_token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("-.!%*_+`'~", c) != NULL);
}

/* A quoted-string at *sp (on the opening quote) into dst (NULL: skip it).
 * Escaped characters lose their backslash; control characters, escaped or
 * not, are refused. */
static int parse_quoted(const char **sp, char *dst)
{
    const char *s = *sp + 1;
    size_t n = 0;
    unsigned char c;

    for (;;) {
        c = (unsigned char)*s++;
        if (c == '"')
            break;
        if (c == '\\')
            c = (unsigned char)*s++;
        if (c == '\0' || is_ctl(c))
            return -EINVAL;
        if (n == SIP_DIGEST_MAX_FIELD)
            return -EMSGSIZE;
        if (dst != NULL)
            dst[n] = (char)c;
        n++;
    }
    if (dst != NULL)
        dst[n] = '\0';
    *sp = s;
    return 0;
}

/* A token at *sp into dst (NULL: skip it). */
static int parse_token(const char **sp, char *dst)
{
    const char *s = *sp;
    size_t n = 0;

    while (is_token_char(s[n])) {
        if (n == SIP_DIGEST_MAX_FIELD)
            return -EMSGSIZE;
        if (dst != NULL)
            dst[n] = s[n];
        n++;
    }
    if (n == 0)
        return -EINVAL;
    if (dst != NULL)
        dst[n] = '\0';
    *sp = s + n;
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

/* One name=value at *sp; known ones land in out. */
static int parse_param(const char **sp, struct sip_digest_creds *out)
{
    const char *s = *sp;
    const char **slot = NULL;
    char *dst = NULL;
    size_t n = 0;
    int i, rc;

    while (is_token_char(s[n]))
        n++;
    if (n == 0)
        return -EINVAL;
    if (n > SIP_DIGEST_MAX_NAME)
        return -EMSGSIZE;
    i = known_index(s, n);
    s = skip_lws(s + n);
    if (*s != '=')
        return -EINVAL;
    s = skip_lws(s + 1);
    if (i >= 0) {
        slot = (const char **)((char *)&out->params + known_params[i].off);
        if (*slot != NULL)
            return -EINVAL;
        dst = out->store[i];
    }
    rc = *s == '"' ? parse_quoted(&s, dst) : parse_token(&s, dst);
    if (rc != 0)
        return rc;
    if (slot != NULL)
        *slot = dst;
    *sp = s;
    return 0;
}

static int parse_list(const char *s, struct sip_digest_creds *out)
{
    unsigned count = 0;
    int rc;

    s = skip_lws(s);
    if (strncasecmp(s, "Digest", 6) != 0 || !(s[6] == '\0' || is_lws(s[6])))
        return -EINVAL;
    s += 6;
    for (;;) {
        s = skip_lws(s);
        if (*s == '\0')
            return 0;
        /* Empty list elements are allowed (RFC 3261 §7.3.1, "#" rule). */
        if (*s == ',') {
            s++;
            continue;
        }
        if (++count > SIP_DIGEST_MAX_PARAMS)
            return -EMSGSIZE;
        rc = parse_param(&s, out);
        if (rc != 0)
            return rc;
        s = skip_lws(s);
        if (*s != ',' && *s != '\0')
            return -EINVAL;
    }
}

int sip_digest_parse_params(const char *value, struct sip_digest_creds *out)
{
    int rc;

    memset(out, 0, sizeof(*out));
    if (value == NULL)
        return -EINVAL;
    rc = parse_list(value, out);
    if (rc != 0)
        memset(out, 0, sizeof(*out));
    return rc;
}
