#ifndef TC_TCPORT_DEFAULT_PORT_INT_H
#define TC_TCPORT_DEFAULT_PORT_INT_H

/* The default port's insides, shared by default_port.c (listener,
 * requests, metrics) and default_port_reg.c (registrations, claims and
 * their events). Loop thread only. */

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "proto/tcport.pb-c.h"
#include "server/config/config.h"
#include "server/core/dn_table.h"
#include "tcport/challenge.h"
#include "tcport/coalesce.h"
#include "tcport/conn.h"

struct core;
struct core_call;

#define DP_QUEUE_BYTES (1u << 20) /* output before a client counts as slow */
#define DP_MAX_REGS    100000     /* DNs registered on one connection */
#define DP_CHUNK       4096       /* pending DNs looked at per loop turn */
#define DP_RETRY_MS    100        /* releases refused by a full store queue */
#define DP_APP_MAX     64

enum dp_reg_state {
    DP_REG_SUBSCRIBED, /* events only (URS and other clients) */
    DP_REG_CLAIMING,   /* a GWS claim on its way to the disk */
    DP_REG_CLAIMED,    /* a GWS claim: released when the client goes */
};

/* One DN registered by one client. */
struct dp_reg {
    dn_key key;
    enum dp_reg_state state;
    struct dp_client *cl;
    struct dp_reg *key_prev, *key_next; /* the DN's registrations */
    struct dp_reg *cl_prev, *cl_next;   /* the client's registrations */
};

/* A claim or release waiting for the store. */
struct dp_wait {
    struct default_port *p;
    struct dp_client *cl; /* NULL once the client closed */
    struct dp_wait *prev, *next;
    dn_key key;
    uint32_t ref_id;
    bool claim;
};

/* The credential of one GWS name, its secret read at start. */
struct dp_cred {
    const struct config_gws *cfg;
    uint8_t secret[CHALLENGE_SECRET_MAX];
    size_t secret_len; /* 0: no secret-file */
};

enum dp_auth_result {
    DP_AUTH_OK = 0,
    DP_AUTH_WRONG_SECRET,   /* Authenticate did not prove the secret */
    DP_AUTH_SOURCE_REFUSED, /* the source address is not in allow-from */
    DP_AUTH_N,
};

struct dp_client {
    struct default_port *p;
    struct conn *c;
    bool open, gws;
    bool challenged; /* EventChallenge sent, Authenticate awaited */
    const struct dp_cred *cred;
    uint8_t nonce[CHALLENGE_NONCE_LEN];
    char app[DP_APP_MAX];
    struct dp_reg *regs;
    uint32_t n_regs;
    struct dp_wait *waits;
    struct coalesce dirty; /* DNs whose local status changed unsent; tag: status shown */
    bool slow;
};

struct dp_slot {
    dn_key key; /* DN_KEY_NONE: empty */
    struct dp_reg *head;
};

struct dp_stats {
    uint64_t claims_ok, claims_failed, releases;
    uint64_t live_events, coalesced, slow_episodes;
    uint64_t call_events, calls_dropped; /* sent; not sent for a full output */
    uint64_t auth[DP_AUTH_N];            /* GWS names opened or refused */
};

struct default_port {
    uv_loop_t *loop;
    const struct config *cfg;
    struct core *core;
    struct conn_server *srv;
    struct dp_slot *slots; /* DN -> registrations; open addressing */
    size_t n_slots, n_keys;
    struct coalesce releases; /* claims to release once the store has room */
    uv_timer_t retry;
    struct tc_buf scratch; /* one event, packed once for every client */
    uint32_t n_waits;
    uint32_t n_gws, n_other; /* open clients */
    uint64_t n_claimed, n_subscribed;
    uint32_t n_slow;
    struct dp_cred creds[CONFIG_MAX_CLIENTS];
    unsigned n_creds;
    bool stopping, srv_closed, timer_closed;
    struct dp_stats st;
};

/* default_port_auth.c */

/* Read the secret of every [gws NAME] section into p->creds. Returns 0, or
 * logs the file and its problem and returns a negative errno. */
int default_port__auth_load(struct default_port *p);

/* Forget the secrets. */
void default_port__auth_wipe(struct default_port *p);

/* OpenApp: a plain name opens at once; a GWS name is checked against its
 * allow-from and, with a secret, challenged. */
void default_port__open_app(struct dp_client *cl, uint32_t ref_id, const Tc__OpenApp *o);

/* Authenticate: the answer to the challenge; opens or refuses. */
void default_port__authenticate(struct dp_client *cl, uint32_t ref_id, const Tc__Authenticate *a);

/* default_port_reg.c */

void default_port__register(struct dp_client *cl, uint32_t ref_id, const char *dn);
void default_port__unregister(struct dp_client *cl, uint32_t ref_id, const char *dn);
void default_port__query(struct dp_client *cl, uint32_t ref_id, const char *dn);

/* The first of k's registrations (linked by key_next), or NULL. */
struct dp_reg *default_port__regs_of(const struct default_port *p, dn_key k);

/* Index r under its DN. Returns 0 or -ENOMEM (then r is not indexed). */
int default_port__idx_add(struct default_port *p, struct dp_reg *r);

/* Take r out of the index. */
void default_port__idx_del(struct default_port *p, struct dp_reg *r);

/* The core published a change. */
void default_port__on_change(struct default_port *p, const struct dn_change *c, uint64_t seq);

/* Send cl's pending status changes while its output has room. */
void default_port__pump(struct dp_client *cl);

/* cl is closing: drop its registrations, release its claims. */
void default_port__client_drop(struct dp_client *cl);

/* Retry releases the store refused. */
void default_port__retry(uv_timer_t *t);

/* Free the port once everything it waits for is over. */
void default_port__maybe_free(struct default_port *p);

#endif
