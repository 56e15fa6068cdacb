#ifndef TC_CLIENT_TCPHONE_INT_H
#define TC_CLIENT_TCPHONE_INT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "server/base/buf.h"
#include "server/sip/sip_frame.h"

/* tcphone: many simulated SIP phones on one libuv loop (DESIGN §9). The
 * modules meet through this header with tcphone__ names:
 *   tcphone.c        main, command line, progress and summary output
 *   tcphone_opts.c   option parsing
 *   tcphone_phone.c  per-phone policy: failover, concurrent, successive
 *   tcphone_leg.c    one registration of one phone at one server: the
 *                    REGISTER transaction, retransmissions, refresh
 *   tcphone_net.c    the leg's UDP socket or TCP connection
 *   tcphone_sip.c    request building and response matching
 *   tcphone_dns.c    server discovery with c-ares (SRV, then A)
 *   tcphone_call.c   placing calls: INVITE through the servers, 302s
 *                    followed, last resort, ACK, BYE
 *   tcphone_answer.c answering calls on the phone's listening socket
 *   tcphone_auth.c   digest credentials for 401 and 407 challenges
 * Everything runs on the loop thread. */

#define TCPHONE_MAX_PHONES  100000
#define TCPHONE_MAX_SERVERS 16
#define TCPHONE_MAX_MSG     4096                  /* a request we build, an answer we accept */
#define TCPHONE_MAX_RX      (4 * TCPHONE_MAX_MSG) /* TCP bytes buffered per leg */
#define TCPHONE_T2_MS       4000                  /* RFC 3261 §17.1.2.2 */
#define TCPHONE_DN_MAX      24
#define TCPHONE_MAX_HOPS    3   /* 302s followed per call */
#define TCPHONE_MAX_INCALLS 4   /* calls one phone answers at once; more get 486 */
#define TCPHONE_URI_MAX     256 /* a Request-URI we send */
#define TCPHONE_MAX_CHALLENGES 3   /* 401/407s answered in a row (stale ones) */
#define TCPHONE_PASSWORD_MAX   256

enum tcphone_mode {
    TCPHONE_FAILOVER = 0,
    TCPHONE_CONCURRENT,
    TCPHONE_SUCCESSIVE,
};

/* Why a registration attempt failed. */
enum tcphone_fail {
    TCPHONE_FAIL_503 = 0,
    TCPHONE_FAIL_ICMP,
    TCPHONE_FAIL_TIMEOUT,
    TCPHONE_FAIL_TCP,
    TCPHONE_FAIL_COUNT,
};

/* Why a call failed. */
enum tcphone_call_fail {
    TCPHONE_CALL_404 = 0,
    TCPHONE_CALL_480,
    TCPHONE_CALL_486,
    TCPHONE_CALL_5XX,
    TCPHONE_CALL_OTHER,    /* another 4xx or 6xx */
    TCPHONE_CALL_TIMEOUT,  /* no final answer within 64×T1 (after the last 1xx) */
    TCPHONE_CALL_ICMP,     /* a redirect target or last resort unreachable */
    TCPHONE_CALL_REDIRECT, /* more than TCPHONE_MAX_HOPS 302s, or a bad Contact */
    TCPHONE_CALL_FAIL_COUNT,
};

struct tcphone_opts {
    unsigned n;
    unsigned long dn_first, dn_last;
    struct sockaddr_in servers[TCPHONE_MAX_SERVERS];
    unsigned retry[TCPHONE_MAX_SERVERS]; /* retry-counts per server */
    unsigned n_servers;
    const char *domain; /* NULL unless --domain */
    struct sockaddr_in resolver;
    unsigned sip_port; /* for A records: 5060 */
    enum tcphone_mode mode;
    bool tcp;
    unsigned t1_ms;
    unsigned failover_ms; /* REGISTER given up after this; 0: 64 * T1 */
    unsigned expires;
    unsigned duration_s; /* 0: until a signal */
    unsigned probe_ms;   /* retry period of a standby or probe registration */
    unsigned rate;       /* phones started per second */
    bool json;
    bool quiet;                                /* no progress line */
    bool no_answer;                            /* no listening socket: not callable */
    double calls;                              /* fraction of phones that place calls */
    unsigned call_interval;                    /* ms between a caller's calls */
    unsigned call_ms;                          /* talk time before the BYE */
    unsigned answer_ms;                        /* ringing time before the 200 */
    unsigned long call_to_first, call_to_last; /* 0: the --dns range */
    struct sockaddr_in last_resort;            /* sin_port 0: none */
    char *password;                            /* digest secret, NULL: none (owned) */
};

enum tcphone_leg_state {
    TCPHONE_LEG_IDLE = 0, /* no transaction, no timer */
    TCPHONE_LEG_TRYING,   /* REGISTER sent, no final answer yet */
    TCPHONE_LEG_REGISTERED,
    TCPHONE_LEG_WAIT, /* waiting to retry */
};

struct tcphone;
struct tcphone__phone;
struct tcphone__conn;
struct tcphone__auth;
struct sip_msg;

/* One registration of one phone at one server. */
struct tcphone__leg {
    struct tcphone__phone *ph;
    int srv; /* position in the phone's server order, -1 none */
    enum tcphone_leg_state st;
    bool registered; /* the server holds a live binding (last answer 200) */
    bool unreg;      /* the current transaction is an unregister */
    bool udp_open;
    bool udp_connected;
    uv_udp_t udp;
    struct tcphone__conn *tcp; /* NULL when not connected */
    uv_timer_t timer;
    uint64_t t_start; /* when the transaction began, loop ms */
    unsigned rto;
    unsigned expires; /* what we ask for */
    uint16_t port;    /* local port, for Via and Contact */
    uint32_t cseq;
    struct tcphone__auth *auth; /* the last challenge, reused on refresh; NULL none */
    bool auth_fresh;            /* req answers the challenge just received */
    bool auth_sent;             /* req carries credentials */
    unsigned challenges;        /* challenges in a row without another answer */
    struct tc_buf req;
};

struct tcphone__call;
struct tcphone__incall;

struct tcphone__phone {
    struct tcphone *app;
    unsigned idx;
    char dn[TCPHONE_DN_MAX];
    uint8_t order[TCPHONE_MAX_SERVERS]; /* this phone's servers, primary first */
    struct tcphone__leg leg[2];
    unsigned main;  /* index in leg[] of the working registration */
    unsigned tries; /* failures of the main leg at its server */
    bool started;
    bool lis_open;
    uint16_t lis_port;              /* Contact port over UDP: the listening socket */
    uv_udp_t lis;                   /* unconnected: INVITEs from any caller */
    struct tcphone__incall *incall; /* calls being answered, TCPHONE_MAX_INCALLS at most */
    struct tcphone__call *call;     /* NULL unless this phone places calls */
};

struct tcphone_stats {
    uint64_t requests, retransmits, ok, rejected, moves, returns, unregistered;
    uint64_t fail[TCPHONE_FAIL_COUNT];
    uint64_t calls_attempted, calls_completed, calls_failed, redirects, last_resort;
    uint64_t call_fail[TCPHONE_CALL_FAIL_COUNT];
    uint64_t answered, busy, calls_active;
    uint64_t challenges;  /* 401 and 407 answered with credentials */
    uint64_t auth_failed; /* credentials refused, or a challenge we cannot answer */
};

struct tcphone {
    uv_loop_t *loop;
    struct tcphone_opts o;
    struct tcphone__phone *phones;
    struct tcphone_stats st;
    uv_signal_t sigint, sigterm;
    uv_timer_t tick, start, stop;
    unsigned started;
    bool stopping;
    bool stop_sent;   /* every unregister has been sent */
    unsigned pending; /* unregisters in flight while stopping */
    uint64_t t0_ms;
    char nonce[20];
    char rx[TCPHONE_MAX_MSG + 1];
    int exit_code;
};

/* Options (tcphone_opts.c). Parse argv into o; returns 0, 1 after printing
 * a usage error, or -1 after printing --help or --version (exit 0). */
int tcphone__opts_parse(struct tcphone_opts *o, int argc, char **argv);
/* Wipe and free what the options own (the password). */
void tcphone__opts_free(struct tcphone_opts *o);

/* HOST:PORT on 127.0.0.0/8 into sa; 0 or -EINVAL (tcphone_opts.c). */
int tcphone__addr(const char *s, struct sockaddr_in *sa);

/* Start the phones, once o.servers is known (tcphone.c). */
void tcphone__go(struct tcphone *app);

/* Discover o.servers from o.domain through o.resolver, then give each phone
 * its order and call tcphone__go() (tcphone_dns.c). Returns 0 (the answer
 * comes on the loop; on failure it prints why, sets app->exit_code to 2 and
 * stops) or a negative errno when c-ares cannot start. */
int tcphone__dns_start(struct tcphone *app);

/* The address of the phone's server at position pos of its order. */
const struct sockaddr_in *tcphone__srv_addr(const struct tcphone__phone *ph, int pos);

/* Phone policy (tcphone_phone.c). */
void tcphone__phone_init(struct tcphone *app, struct tcphone__phone *ph, unsigned idx);
void tcphone__phone_start(struct tcphone__phone *ph);
void tcphone__phone_on_ok(struct tcphone__phone *ph, struct tcphone__leg *leg);
void tcphone__phone_on_fail(struct tcphone__phone *ph, struct tcphone__leg *leg,
                            enum tcphone_fail why);
/* Begin unregistering every registered leg; returns how many. */
unsigned tcphone__phone_stop(struct tcphone__phone *ph);
struct tcphone__leg *tcphone__phone_main(struct tcphone__phone *ph);
struct tcphone__leg *tcphone__phone_aux(struct tcphone__phone *ph);

/* Registration legs (tcphone_leg.c). */
void tcphone__leg_init(struct tcphone__phone *ph, struct tcphone__leg *leg);
/* Point leg at server srv and send a REGISTER after delay_ms (0: now). */
void tcphone__leg_start(struct tcphone__leg *leg, int srv, unsigned delay_ms);
/* Forget the server without unregistering: stop timers, drop the socket's
 * connection. */
void tcphone__leg_drop(struct tcphone__leg *leg);
/* Send Expires: 0 if registered, counting it in app->pending until its
 * end; returns whether it was sent. */
bool tcphone__leg_unregister(struct tcphone__leg *leg);
/* An answer for this leg (already parsed) or a transport failure. */
void tcphone__leg_on_data(struct tcphone__leg *leg, const char *data, size_t len);
void tcphone__leg_on_fail(struct tcphone__leg *leg, enum tcphone_fail why);
void tcphone__leg_close(struct tcphone__leg *leg);

/* Transport (tcphone_net.c). Make sure leg has a socket toward leg->srv
 * (so leg->port is known); returns 0 or a negative errno. */
int tcphone__net_prepare(struct tcphone__leg *leg);
/* Send leg->req to leg->srv, opening the UDP
 * socket or TCP connection when needed. Returns 0, or a negative errno when
 * the failure is already known (ECONNREFUSED on a connected socket). */
int tcphone__net_send(struct tcphone__leg *leg);
/* Drop the UDP connection or close the TCP connection. */
void tcphone__net_reset(struct tcphone__leg *leg);
void tcphone__net_close(struct tcphone__leg *leg);

/* SIP (tcphone_sip.c). Build leg's next REGISTER into leg->req (cseq is
 * already advanced). Returns 0 or -ENOMEM / -EMSGSIZE. */
int tcphone__sip_register(struct tcphone__leg *leg, unsigned expires);
/* The Call-ID of leg's registrations at its server, into buf. */
void tcphone__sip_call_id(const struct tcphone__leg *leg, char *buf, size_t size);

/* Calls placed (tcphone_call.c). Make ph a caller if the --calls
 * fraction picks it: allocates ph->call, schedules its first call.
 * Returns 0 or -ENOMEM. */
int tcphone__call_init(struct tcphone__phone *ph);
/* Stop placing calls; a call in progress is abandoned. */
void tcphone__call_stop(struct tcphone__phone *ph);
/* Close the caller's handles; ph->call is freed in their close callbacks. */
void tcphone__call_close(struct tcphone__phone *ph);
/* The name of a failure reason, for output. */
const char *tcphone__call_fail_name(enum tcphone_call_fail f);

/* Calls answered (tcphone_answer.c). Open ph's listening socket, so that
 * ph->lis_port is its Contact port; 0 or a negative errno. */
int tcphone__answer_open(struct tcphone__phone *ph);
/* Close the socket and free every call being answered. */
void tcphone__answer_close(struct tcphone__phone *ph);

/* Build into b an answer to req with code and reason, copying its Via,
 * From, Call-ID and CSeq, its To with tag added when absent, and for a 2xx
 * to an INVITE ph's Contact and an SDP offer. 0, -ENOMEM or -EMSGSIZE. */
int tcphone__sip_reply(struct tc_buf *b, const struct tcphone__phone *ph, struct sip_msg *req,
                       int code, const char *reason);
/* The minimal SDP body of ph, into buf. Returns its length. */
int tcphone__sip_sdp(const struct tcphone__phone *ph, char *buf, size_t size);

/* Digest authentication (tcphone_auth.c). Keep the first challenge of m
 * (a 401's WWW-Authenticate or a 407's Proxy-Authenticate) with an
 * algorithm we know (MD5, SHA-256) and qop auth or none into *a, replacing
 * what was there, with nc 0 and a fresh cnonce; *stale says whether it has
 * stale=true. Returns 0, -ENOTSUP when no challenge is usable (*a
 * unchanged), -EIO (no random bytes) or -ENOMEM. */
int tcphone__auth_challenge(struct tcphone__auth **a, struct sip_msg *m, bool *stale);
/* Append to b the Authorization (Proxy-Authorization) line answering a for
 * a request of method to uri as user, counting nc up. 0 or a negative
 * errno. */
int tcphone__auth_header(struct tcphone__auth *a, const char *user, const char *password,
                         const char *method, const char *uri, struct tc_buf *b);
void tcphone__auth_free(struct tcphone__auth *a);

/* Counts for output (tcphone.c). */
void tcphone__count(const struct tcphone *app, unsigned *registered, unsigned *failing,
                    unsigned *moved);
/* Called when a pending unregister ends while stopping. */
void tcphone__unreg_done(struct tcphone *app);

#endif
