#ifndef TC_CLIENT_TCCLIENT_H
#define TC_CLIENT_TCCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/tcport.pb-c.h"
#include "server/base/tc_err.h"

/* A small blocking client of the node's framed TCP ports (DESIGN §5): the
 * TC port (tcctl, tcwatch, Stat Server) and the default port (URS, GWS).
 * One struct tcclient is one connection; it is not thread-safe, but
 * different connections may be used from different threads. Every call
 * that waits takes a timeout in milliseconds (negative: wait forever).
 *
 * Errors are negative: an errno, or one of the TCCLIENT_E* codes below;
 * tcclient_strerror() names both and tcclient_err_class() sorts them into
 * "cannot reach / connection broken", "timeout", "protocol" and "other".
 * After a connection or protocol error the connection is dead: every later
 * call returns the same error. A timeout leaves it usable. */

#define TCCLIENT_MAX_FRAME (1u << 20) /* default bound on one received frame */
#define TCCLIENT_DN_MAX    17         /* digits in a DN (as the node's directory) */
#define TCCLIENT_ERR_BASE  (TC_ERR_BASE - 100)
#define TCCLIENT_ERESOLVE  (TCCLIENT_ERR_BASE - 1) /* host name did not resolve */
#define TCCLIENT_ECLOSED   (TCCLIENT_ERR_BASE - 2) /* the node closed the connection */
#define TCCLIENT_EADDRESS  (TCCLIENT_ERR_BASE - 3) /* not HOST:PORT */
#define TCCLIENT_ENOTTC    (TCCLIENT_ERR_BASE - 4) /* the port answers in text (HTTP, SIP) */
#define TCCLIENT_EREFUSED  (TCCLIENT_ERR_BASE - 5) /* the node answered EventError */
#define TCCLIENT_ENOSECRET (TCCLIENT_ERR_BASE - 6) /* challenged, but no secret given */

enum tcclient_err_class {
    TCCLIENT_ERR_NONE = 0,
    TCCLIENT_ERR_CONNECT,  /* could not connect, or the connection broke */
    TCCLIENT_ERR_TIMEOUT,  /* nothing (or not all) came in time */
    TCCLIENT_ERR_PROTOCOL, /* the node sent what is not a valid frame */
    TCCLIENT_ERR_OTHER,    /* bad argument, out of memory */
};

struct tcclient;

/* Connect to "HOST:PORT" ("[v6addr]:PORT" for an IPv6 literal; HOST may be
 * a name, looked up with getaddrinfo, every address tried in turn) within
 * timeout_ms in all. Fills *out on success. Returns 0, TCCLIENT_EADDRESS,
 * TCCLIENT_ERESOLVE, -ECONNREFUSED, -ETIMEDOUT (nothing accepted in time),
 * another connect errno, or -ENOMEM. Received frames are bounded by
 * TCCLIENT_MAX_FRAME until tcclient_set_max_frame(). */
int tcclient_connect(struct tcclient **out, const char *hostport, int timeout_ms);

/* Close the connection and free c (NULL is fine). */
void tcclient_close(struct tcclient *c);

/* Bound the payload of received frames (at least 16 bytes). A larger frame
 * makes tcclient_next() fail with -EMSGSIZE. */
void tcclient_set_max_frame(struct tcclient *c, uint32_t max);

/* The socket, for poll() by callers that wait on more than one thing. */
int tcclient_fd(const struct tcclient *c);

/* True when bytes already read hold at least one whole frame, so that
 * tcclient_next() returns at once without reading the socket. */
bool tcclient_pending(const struct tcclient *c);

/* Send rq (borrowed). If rq->ref_id is 0 it is set to the next reference
 * id of this connection (never 0). Returns 0, a connection error
 * (-EPIPE, -ECONNRESET, TCCLIENT_ECLOSED...), -ETIMEDOUT when the node
 * did not take the bytes within timeout_ms (the connection is then dead:
 * part of a frame may have gone), or -ENOMEM. */
int tcclient_send(struct tcclient *c, Tc__Request *rq, int timeout_ms);

/* Read the next event within timeout_ms. On success *out is the caller's;
 * free it with tcclient_event_free(). Returns 0, -ETIMEDOUT (the
 * connection stays usable), TCCLIENT_ECLOSED, -ECONNRESET, -EMSGSIZE (a
 * frame over the bound), -EPROTO (a frame that does not decode), -ENOMEM. */
int tcclient_next(struct tcclient *c, int timeout_ms, Tc__Event **out);

/* Like tcclient_next() but skips (and frees) events whose ref_id is not
 * ref; timeout_ms bounds the whole wait. */
int tcclient_next_for(struct tcclient *c, uint32_t ref, int timeout_ms, Tc__Event **out);

/* Free an event from tcclient_next() (NULL is fine). */
void tcclient_event_free(Tc__Event *ev);

/* Requests. Each sends one Request with a fresh reference id, stores the
 * id in *ref when ref is not NULL, and returns as tcclient_send(); read
 * the answers with tcclient_next_for(). Strings are borrowed for the call. */

/* TC port: subscribe from from_seq (0: full snapshot). The node answers
 * EventOpened, then EventAddressInfo for every DN and EventSnapshotEnd,
 * then every change. */
int tcclient_subscribe(struct tcclient *c, uint64_t from_seq, uint32_t *ref, int timeout_ms);

/* TC port: EventNodeInfo. */
int tcclient_query_nodes(struct tcclient *c, uint32_t *ref, int timeout_ms);

/* TC port: EventAddressInfo for dn, or EventError ERROR_UNKNOWN_DN. */
int tcclient_query_dn(struct tcclient *c, const char *dn, uint32_t *ref, int timeout_ms);

/* A DN list filter: any_state ignores state; owner NULL or "" is any
 * owner; limit 0 is no limit. */
struct tcclient_dns_filter {
    bool any_state;
    Tc__DnStatus state;
    const char *owner;
    uint32_t limit;
};

/* TC port: EventAddressInfo per matching DN, then EventQueryEnd. */
int tcclient_query_dns(struct tcclient *c, const struct tcclient_dns_filter *f, uint32_t *ref,
                       int timeout_ms);

/* TC port: EventSummary. */
int tcclient_query_summary(struct tcclient *c, uint32_t *ref, int timeout_ms);

/* Default port: open as application (e.g. "URS"); EventOpened answers. */
int tcclient_open_app(struct tcclient *c, const char *application, uint32_t *ref, int timeout_ms);

/* Default port: open as application and wait for EventOpened, answering
 * the node's EventChallenge when it sends one (a name of gws-client-names
 * whose [gws NAME] section has a secret-file) with an Authenticate that
 * proves secret (secret_len bytes, borrowed; the file's content without
 * trailing white space) through tcport/challenge.h. secret may be NULL for
 * a plain name or a GWS name with allow-from only. timeout_ms bounds the
 * whole exchange. When answer is not NULL it receives the last event
 * (EventOpened, or the EventError of a refusal; the caller frees it with
 * tcclient_event_free()), else NULL. Returns 0 once open,
 * TCCLIENT_EREFUSED when the node answered EventError (ERROR_AUTH: wrong
 * secret or a source outside allow-from; the node then closes the
 * connection), TCCLIENT_ENOSECRET when challenged without a secret (the
 * connection is left unopened), -EPROTO for another answer, or an error of
 * tcclient_send()/tcclient_next(). */
int tcclient_open_gws(struct tcclient *c, const char *application, const void *secret,
                      size_t secret_len, int timeout_ms, Tc__Event **answer);

/* Default port: register dn; EventRegistered or EventError answers. */
int tcclient_register_address(struct tcclient *c, const char *dn, uint32_t *ref, int timeout_ms);

/* True when dn is 1 to TCCLIENT_DN_MAX decimal digits. */
bool tcclient_dn_valid(const char *dn);

/* Which kind of failure err is (0 gives TCCLIENT_ERR_NONE). */
enum tcclient_err_class tcclient_err_class(int err);

/* A static description of err: TCCLIENT_E*, tcluster's or an errno. */
const char *tcclient_strerror(int err);

#endif
