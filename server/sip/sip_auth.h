#ifndef TC_SERVER_SIP_SIP_AUTH_H
#define TC_SERVER_SIP_SIP_AUTH_H

#include <stddef.h>

#include "server/registrar/sip_digest.h"

/* sip_auth: the one parser of Authorization (and Proxy-Authorization)
 * values (RFC 3261 §22.4, §25.1; RFC 7616 §3.4), and of the challenges
 * (WWW-Authenticate, Proxy-Authenticate) that tcphone answers, which have
 * the same syntax. sip_msg calls it when the
 * registrar asks for a REGISTER's credentials; sip_digest_verify() (in
 * server/registrar) consumes what it fills. Outside input: every value and
 * count is bounded. Pure: any thread. */

#define SIP_AUTH_MAX_NAME   32 /* longest parameter name */
#define SIP_AUTH_MAX_PARAMS 32 /* parameters in one header value */

/* Digest parameters with the storage their strings point into. params
 * points inside the struct itself: do not copy it; keep it where it was
 * parsed (the stack is fine, ~2.9 KiB). */
struct sip_auth_digest {
    struct sip_digest_params params;
    char store[11][SIP_DIGEST_MAX_FIELD + 1];
};

/* The length of the auth-scheme token that starts value (after leading
 * LWS, which *skip gets), or 0 when value does not start with a token
 * followed by LWS or the end. value is len bytes, not NUL-terminated. */
size_t sip_auth_scheme(const char *value, size_t len, size_t *skip);

/* Parse a raw Digest credentials value of len bytes, `Digest
 * username="...", nc=00000001, ...`: scheme and names case-insensitive,
 * values quoted (with backslash escapes) or tokens, linear white space
 * anywhere between items, unknown parameters skipped. value is borrowed;
 * the strings are copied into out->store. Returns 0, -EINVAL for another
 * scheme, bad syntax, a NUL or control character in a value or a repeated
 * parameter, or -EMSGSIZE for a value over SIP_DIGEST_MAX_FIELD, a name
 * over SIP_AUTH_MAX_NAME or more than SIP_AUTH_MAX_PARAMS parameters; on
 * error out->params is all NULL. value NULL gives -EINVAL. */
int sip_auth_parse_digest(const char *value, size_t len, struct sip_auth_digest *out);

#endif
