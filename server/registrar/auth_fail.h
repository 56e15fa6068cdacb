#ifndef TC_SERVER_REGISTRAR_AUTH_FAIL_H
#define TC_SERVER_REGISTRAR_AUTH_FAIL_H

#include <stddef.h>

/* One log line per failed digest login, for operators and fail2ban
 * (deploy/fail2ban/). The line is stable; tools match on it:
 *
 *   auth: login failed from IP:PORT (udp) for dn DN: REASON
 *
 * IP is an IPv4 address or a bracketed IPv6 one ("[::1]:5060"), DN the
 * user the REGISTER named (with anything but [A-Za-z0-9._+-] shown as '?',
 * at most AUTH_FAIL_USER_MAX characters), REASON one of the names below.
 * Written at NOTICE through tc_log_limited(), so a flood writes at most
 * TC_LOG_LIMIT_BURST such lines per TC_LOG_LIMIT_MS and then one summary. */

#define AUTH_FAIL_USER_MAX 32

enum auth_fail {
    AUTH_FAIL_WRONG_PASSWORD = 0, /* "wrong-password": wrong response or realm */
    AUTH_FAIL_UNKNOWN_USER,       /* "unknown-user": credentials for a DN we do not have */
    AUTH_FAIL_USER_MISMATCH,      /* "user-mismatch": username is not the To DN */
    AUTH_FAIL_STALE,              /* "stale-nonce": right answer, expired nonce */
    AUTH_FAIL_REPLAY,             /* "replayed-nonce": nc not above the last */
    AUTH_FAIL_BAD_NONCE,          /* "bad-nonce": a nonce or opaque not ours */
    AUTH_FAIL_NOT_OFFERED,        /* "algorithm-not-offered" */
    AUTH_FAIL_THROTTLED,          /* "throttled": refused unchecked, too many wrong */
};

/* The reason's name in the line. Static; never NULL. */
const char *auth_fail_name(enum auth_fail why);

/* Log a failed login. received is the source as the SIP server formats it
 * ("udp:1.2.3.4:5060", "tcp:[::1]:5060"; NULL or malformed shows "?"),
 * user the DN or To user (user_len bytes, not NUL-terminated), both
 * borrowed. Any thread. */
void auth_fail_log(const char *received, const char *user, size_t user_len, enum auth_fail why);

#endif
