#ifndef TC_SERVER_REGISTRAR_REGISTRAR_H
#define TC_SERVER_REGISTRAR_REGISTRAR_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "server/base/buf.h"
#include "server/core/bindings.h"
#include "server/core/dn_table.h"

struct store;
struct sip_digest;
struct sip_digest_params;
struct sip_digest_params;
struct config_limits;

/* The SIP registrar (RFC 3261 §10.3, DESIGN §3 and §7): bindings per DN,
 * ownership claims and releases, durability before acknowledgement, expiry,
 * digest authentication, and restore after a restart. It knows nothing of
 * sockets or SIP syntax: the SIP server hands it a reg_request and sends
 * what it answers. Loop thread only. */

#define REG_MAX_CONTACTS 32 /* Contact entries read from one REGISTER */

struct reg_contact {
    const char *uri; /* the URI inside <...>, as received */
    size_t len;
    long expires; /* the contact's expires param; -1 when absent */
};

struct reg_request {
    const char *to_user; /* user part of the To URI: the DN */
    size_t to_user_len;
    const char *call_id;
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
 * the change is durable, else the store's error (then answer 500). */
typedef void (*reg_durable_cb)(void *arg, int status);

/* Called when a claim or release made here is durable, to publish it
 * (TC port, default port, peers). May be NULL. */
typedef void (*reg_change_cb)(void *arg, const struct dn_change *c);

struct registrar_stats {
    uint64_t expired;          /* bindings removed by expiry */
    uint64_t claims, releases; /* ownership changes made */
    uint64_t store_errors;
    uint64_t auth_failures;
    uint64_t restored, restore_dropped;
};

struct registrar {
    struct bindings bindings;
    struct dn_table *table;          /* borrowed */
    struct store *store;             /* borrowed */
    struct sip_digest *digest;       /* owned; NULL when no DN has a password */
    const struct config_limits *lim; /* borrowed */
    uint32_t store_queue;
    uv_timer_t tick;
    reg_change_cb on_change;
    void *change_arg;
    struct registrar_stats stats;
    /* "Date: ...\r\n" of the second date_sec (unix), formatted once per second. */
    char date[48];
    uint64_t date_sec;
};

/* Set up over table and store (both borrowed and outliving the registrar),
 * with the node's limits; realm names the digest realm. Starts the expiry
 * tick. Returns 0 or -ENOMEM. */
int registrar_init(struct registrar *r, uv_loop_t *loop, struct dn_table *table,
                   struct store *store, const struct config_limits *lim, const char *realm);

/* Reload the bindings and this node's claims from the store after a start:
 * every unexpired binding comes back and its DN is claimed again; expired
 * ones are deleted. Returns 0 or a store error. */
int registrar_restore(struct registrar *r);

/* Handle one REGISTER. Fills ans. Returns 0 when the answer can go out now,
 * 1 when it must wait for done(arg, status) (then ans holds the answer for
 * success), or -ENOMEM. */
int registrar_register(struct registrar *r, const struct reg_request *q, struct reg_answer *ans,
                       reg_durable_cb done, void *arg);

/* Stop the tick; bindings are freed. The close completes when the loop runs. */
void registrar_close(struct registrar *r);

#endif
