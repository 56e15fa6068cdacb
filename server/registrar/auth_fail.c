/* auth_fail: the log line of a failed digest login. */
#include "server/registrar/auth_fail.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "server/base/log.h"

static const char *const names[] = {
        [AUTH_FAIL_WRONG_PASSWORD] = "wrong-password",
        [AUTH_FAIL_UNKNOWN_USER] = "unknown-user",
        [AUTH_FAIL_USER_MISMATCH] = "user-mismatch",
        [AUTH_FAIL_STALE] = "stale-nonce",
        [AUTH_FAIL_REPLAY] = "replayed-nonce",
        [AUTH_FAIL_BAD_NONCE] = "bad-nonce",
        [AUTH_FAIL_NOT_OFFERED] = "algorithm-not-offered",
        [AUTH_FAIL_THROTTLED] = "throttled",
};

const char *auth_fail_name(enum auth_fail why)
{
    if ((size_t)why >= sizeof(names) / sizeof(names[0]) || names[why] == NULL)
        return "unknown";
    return names[why];
}

static bool user_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
           c == '_' || c == '+' || c == '-';
}

void auth_fail_log(const char *received, const char *user, size_t user_len, enum auth_fail why)
{
    char who[AUTH_FAIL_USER_MAX + 1];
    const char *colon = received != NULL ? strchr(received, ':') : NULL;
    int proto_len = colon != NULL ? (int)(colon - received) : 1;
    size_t n = user_len < AUTH_FAIL_USER_MAX ? user_len : AUTH_FAIL_USER_MAX;

    /* The user comes from the network: nothing in it may forge a line or
     * a field, so it is cut and anything unusual masked. */
    for (size_t i = 0; i < n; i++)
        who[i] = user_char(user[i]) ? user[i] : '?';
    who[n] = '\0';
    if (n == 0)
        snprintf(who, sizeof(who), "-");
    tc_log_limited(NOTICE, "auth: login failed from %s (%.*s) for dn %s: %s",
                   colon != NULL ? colon + 1 : "?", proto_len, colon != NULL ? received : "?", who,
                   auth_fail_name(why));
}
