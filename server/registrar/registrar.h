#ifndef TC_SERVER_REGISTRAR_REGISTRAR_H
#define TC_SERVER_REGISTRAR_REGISTRAR_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "server/base/buf.h"

struct core;
struct sip_digest;
struct auth_limit;
struct sip_digest_params;
struct config_limits;

/* The SIP registrar (RFC 3261 §10.3, DESIGN §3 and §7): the rules of a
 * REGISTER, durability before acknowledgement, the expiry tick and digest
 * authentication. The bindings, their records and every claim and release
 * they imply belong to the core (server/core/core.h): the registrar asks,
 * the core decides and persists. It knows nothing of sockets, SIP syntax
 * or the store: the SIP server hands it a reg_request and sends what it
 * answers. Loop thread only. */

#define REG_MAX_CONTACTS 32 /* Contact entries read from one REGISTER */
/* Bytes of a Contact's parameters kept with its binding and echoed in the
 * 200 (RFC 5626 +sip.instance, reg-id; a phone's feature tags): more is
 * refused with 400, never cut. */
#define REG_MAX_CONTACT_PARAMS 512

/* Wrong digest answers allowed before further guesses are refused with 403
 * unchecked: per source address a burst of 5 and one more every 10 s; per
 * DN (from any source) a burst of 20 and one more every 10 s. */
#define REG_AUTH_SOURCE_BURST     5
#define REG_AUTH_SOURCE_REFILL_MS 10000
#define REG_AUTH_DN_BURST         20
#define REG_AUTH_DN_REFILL_MS     10000
#define REG_AUTH_LOG_MS           10000 /* one summary line per this at most */

struct reg_contact {
    const char *uri; /* the URI inside <...>, as received */
    size_t len;
    long expires;       /* the contact's expires param; -1 when absent */
    const char *params; /* its other parameters (";a;b=c") or "", never NULL */
    size_t params_len;
};

struct reg_request {
    const char *to_user; /* user part of the To URI: the DN */
    size_t to_user_len;
    const char *call_id;
    const char *request_uri; /* as received; an Authorization's uri must equal it */
    uint32_t cseq;
    const struct sip_digest_params *auth; /* Authorization parameters, or NULL */
    long expires;                         /* Expires header; -1 when absent */
    bool star;                            /* Contact: * */
    struct reg_contact contacts[REG_MAX_CONTACTS];
    unsigned n_contacts;
    const char *received; /* "proto:ip:port" of the source, stored with bindings */
    uint8_t proto;        /* enum sip_proto */
};

/* What to answer: code, reason and extra header lines (each ending CRLF).
 * The caller owns headers (init with TC_BUF_INIT, free after use). */
struct reg_answer {
    int code;
    const char *reason;
    struct tc_buf headers;
};

/* Called on the loop thread when a waiting answer may go out: status 0 when
 * every change of the REGISTER (bindings and ownership) is durable, else
 * the store's first error (then answer 500). */
typedef void (*reg_durable_cb)(void *arg, int status);

struct registrar_stats {
    uint64_t expired;          /* bindings removed by expiry */
    uint64_t claims, releases; /* ownership changes asked of the core */
    uint64_t store_errors;     /* REGISTERs answered 500 for the store */
    /* REGISTERs refused for their credentials, by reason (auth_*_name). */
    uint64_t auth_wrong, auth_replay, auth_bad_nonce, auth_uri, auth_user, auth_malformed;
    uint64_t auth_not_offered; /* an algorithm the DN's auth-algorithms does not hold */
    uint64_t auth_throttled;   /* refused unchecked: too many wrong guesses */
};

/* Wrong guesses and throttled requests since the last summary line. */
struct registrar_auth_log {
    uint64_t since_ms;
    uint64_t wrong, throttled;
    char source[64]; /* of the last one */
    char dn[32];
};

struct registrar {
    struct core *core;            /* borrowed: DN table, bindings, store */
    struct sip_digest *digest;    /* owned */
    struct auth_limit *by_source; /* owned: wrong guesses per source address */
    struct auth_limit *by_dn;     /* owned: wrong guesses per DN */
    struct registrar_auth_log alog;
    const struct config_limits *lim; /* borrowed */
    uv_timer_t tick;
    struct registrar_stats stats;
    /* "Date: ...\r\n" of the second date_sec (unix), formatted once per second. */
    char date[48];
    uint64_t date_sec;
};

/* Set up over core (borrowed, outliving the registrar, already
 * initialised) with the node's limits (borrowed likewise); realm names the
 * digest realm. Starts the expiry tick, which expires the core's bindings.
 * Returns 0 or -ENOMEM. Loop thread. On failure nothing is left to close. */
int registrar_init(struct registrar *r, uv_loop_t *loop, struct core *core,
                   const struct config_limits *lim, const char *realm);

/* Handle one REGISTER. Fills ans. Returns 0 when the answer can go out now
 * (an error code, a query, a REGISTER that changed nothing, 500 when the
 * store refused a change, 503 with Retry-After when its queue is full), 1
 * when it must wait for done(arg, status), called once every change it
 * made is durable (then ans holds the answer for success), or -ENOMEM
 * (done is then never called). */
int registrar_register(struct registrar *r, const struct reg_request *q, struct reg_answer *ans,
                       reg_durable_cb done, void *arg);

/* Stop the tick and free the digest context; the bindings stay with the
 * core. The close completes when the loop runs. */
void registrar_close(struct registrar *r);

#endif
