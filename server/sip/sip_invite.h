#ifndef TC_SERVER_SIP_SIP_INVITE_H
#define TC_SERVER_SIP_SIP_INVITE_H

#include <stdbool.h>
#include <stdint.h>

#include "server/base/buf.h"
#include "server/config/dn_dir.h"

struct redirect_decision;
struct sip_msg;
struct sip_server;
struct sip_src;

/* sip_invite: the SIP side of call delivery (DESIGN §6, RFC 3261 §8.3).
 * The SIP server answers INVITE as a stateless redirect server: the
 * Request-URI user is the DN, server/redirect decides, and this module
 * turns the decision into a 302 (Contacts and Expires), 403, 404 or 480,
 * publishes it as a call event through core_call(), and answers
 * Max-Forwards: 0 with 483. A Request-URI parameter tc-fwd=<origin node>
 * marks a request another node forwarded here: it is answered from local
 * state only, and a forward from this node carries tc-fwd=<this node>.
 * INVITE bodies are never read. Loop thread only. */

/* The forwarding marker, a Request-URI (and Contact URI) parameter. */
#define SIP_INVITE_MARKER "tc-fwd"

/* Expires of a 302 toward a peer: short, since the agent may move. */
#define SIP_INVITE_FORWARD_EXPIRES 30

/* Retransmissions of one INVITE (same Call-ID, CSeq and top Via branch)
 * within this time are not published again: Timer B, 64 * T1. */
#define SIP_INVITE_RETRANS_MS 32000

/* Slots of the recent-INVITE set (a power of two). A collision only
 * forgets an older INVITE: its retransmission is then published twice. */
#define SIP_INVITE_RECENT_SLOTS 1024

/* Longest extra header text kept for answering a retransmission; a longer
 * answer (many Contacts) is decided again instead. */
#define SIP_INVITE_KEEP_MAX 2048

/* INVITEs answered lately, to tell a retransmission from a new call and
 * give it the answer the first copy got (RFC 3261 §8.3: the same 302 and
 * the same To tag, even when a routing point would now pick another
 * agent). Zeroed is empty; sip_invite_recent_free() frees kept answers. */
struct sip_invite_recent {
    uint64_t hash[SIP_INVITE_RECENT_SLOTS];
    uint64_t at_ms[SIP_INVITE_RECENT_SLOTS];
    uint16_t code[SIP_INVITE_RECENT_SLOTS]; /* kept answer, 0 when none */
    char *extra[SIP_INVITE_RECENT_SLOTS];   /* its extra headers (owned), or NULL */
    size_t last;                            /* slot of the last sip_invite_recent_seen() */
};

/* Answer the INVITE m that came from src for s: decide, respond, publish
 * the call event. m is borrowed for the call. Loop thread. */
void sip_invite_handle(struct sip_server *s, struct sip_msg *m, const struct sip_src *src);

/* The DN of m's Request-URI user, or DN_KEY_NONE when there is no user or
 * it is not all digits. Pure; any thread. */
dn_key sip_invite_dn(const struct sip_msg *m);

/* Whether m's Request-URI carries the tc-fwd marker (any value). A
 * Request-URI that does not parse is not marked. Pure; any thread. */
bool sip_invite_marked(const struct sip_msg *m);

/* Record m in r at now_ms. Returns true when the same INVITE (Call-ID, CSeq
 * number, top Via branch) was recorded less than SIP_INVITE_RETRANS_MS
 * ago: a retransmission. Loop thread (r is the caller's). */
bool sip_invite_recent_seen(struct sip_invite_recent *r, const struct sip_msg *m, uint64_t now_ms);

/* Keep code and extra (copied; NULL for none) as the answer of the INVITE
 * last passed to sip_invite_recent_seen(), for its retransmissions.
 * Returns 0, or -ENOMEM / -EMSGSIZE (then nothing is kept and a
 * retransmission is decided again). Loop thread. */
int sip_invite_recent_keep(struct sip_invite_recent *r, uint16_t code, const char *extra);

/* The answer kept for the INVITE last passed to sip_invite_recent_seen()
 * when that call returned true: its code (0 when none was kept) and *extra
 * (borrowed until the slot is reused; may be NULL). Loop thread. */
uint16_t sip_invite_recent_answer(const struct sip_invite_recent *r, const char **extra);

/* Free the kept answers; r is empty again. */
void sip_invite_recent_free(struct sip_invite_recent *r);

/* Write the forward target of d for the DN dn into buf (size bytes):
 * "sip:DN@HOST:PORT;tc-fwd=SELF", IPv6 hosts in brackets. d must be a
 * forwarded decision (d->peer set). Returns 0, or -ENOSPC when it does not
 * fit. Pure; any thread. */
int sip_invite_forward_uri(const struct redirect_decision *d, dn_key dn, const char *self,
                           char *buf, size_t size);

/* Append the extra header lines of the answer to d to out, each ending in
 * CRLF: for a 302, one "Contact: <uri>;expires=N" per contact (the
 * forward URI for a forwarded decision) and "Expires: N" (the smallest
 * contact expires, or SIP_INVITE_FORWARD_EXPIRES); otherwise a
 * "Warning: 399 SELF \"reason\"" naming why. dn and self as above; d is
 * read while its bindings live. Returns 0, or -ENOMEM (out may then hold
 * part of it). Pure; any thread. */
int sip_invite_headers(const struct redirect_decision *d, dn_key dn, const char *self,
                       struct tc_buf *out);

#endif
