#ifndef TC_SERVER_SIP_SIP_MSG_H
#define TC_SERVER_SIP_SIP_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* sip_msg: one SIP message from the network, parsed once by our own
 * scanner (sip_scan, sip_uri) and checked the way a registrar and redirect
 * server needs (RFC 3261 §8.2, §16.3 sanity checks; DESIGN §5). The
 * transport frames a message (one UDP datagram, or one TCP message cut by
 * Content-Length) and calls sip_msg_parse(); sip_resp builds the answers.
 *
 * The parse indexes every header line and reads what every message needs:
 * start line, Via, From, To, Call-ID, CSeq, Max-Forwards, Expires,
 * Content-Length, Content-Type. Contact and Authorization are read only
 * when asked for (sip_msg_contacts(), sip_msg_auth()), as Kamailio's
 * parse_headers() does: an OPTIONS is answered without them.
 *
 * A parsed message owns a copy of its bytes: it may outlive the receive
 * buffer (a REGISTER waits for its durable commit before the 200 goes out).
 * Every string it exposes is NUL-terminated and lives until sip_msg_free().
 * A message is not thread-safe (the lazy readers fill it in), but messages
 * are independent: any thread may parse, one at a time per message. */

struct sip_msg_priv;
struct sip_hdr;

/* Bounds on one message (DESIGN §2 rule 4) and the key for derived To
 * tags. */
struct sip_msg_conf {
    size_t max_bytes;     /* whole message; over it: 513 Message Too Large */
    unsigned max_headers; /* header fields; over it: 400 Too Many Headers */
    size_t max_line;      /* start line or one header field, folding joined: 400 */
    uint64_t tag_key;     /* secret mixed into derived To tags (sip_resp) */
};

#define SIP_MSG_MAX_BYTES   16384
#define SIP_MSG_MAX_HEADERS 64
#define SIP_MSG_MAX_LINE    2048

#define SIP_MSG_CONF_DEFAULT                                        \
    {                                                               \
        SIP_MSG_MAX_BYTES, SIP_MSG_MAX_HEADERS, SIP_MSG_MAX_LINE, 0 \
    }

enum sip_method {
    SIP_METHOD_OTHER = 0,
    SIP_METHOD_REGISTER,
    SIP_METHOD_INVITE,
    SIP_METHOD_OPTIONS,
    SIP_METHOD_ACK,
    SIP_METHOD_CANCEL,
    SIP_METHOD_BYE,
};

/* A URI of the Request-URI, From or To. */
struct sip_uri {
    const char *raw;    /* the URI as received (inside <> if bracketed) */
    const char *scheme; /* as received: "sip", "sips", "tel", ... */
    const char *user;   /* unescaped user part ("1001"), or NULL; tel: the number.
                         * Kept escaped when it would hold an escaped NUL. */
    const char *host;   /* IPv6 without brackets; NULL for non-SIP schemes */
    uint16_t port;      /* 0 when absent */
};

/* The top Via (RFC 3261 §18.2.2, RFC 3581). */
struct sip_via {
    const char *transport; /* "UDP", "TCP", ... as received */
    const char *host;      /* sent-by host, IPv6 without brackets */
    uint16_t port;         /* sent-by port, 0 when absent */
    const char *branch;    /* NULL when absent */
    bool has_rport;        /* an rport parameter, with or without a value */
};

/* One Contact entry (not "*"). */
struct sip_contact {
    const char *uri;  /* the URI as received, inside <> if bracketed */
    bool has_expires; /* an expires parameter; past 2^32-1 taken as 2^32-1 */
    uint32_t expires;
    bool has_q; /* a valid q parameter */
    uint16_t q; /* q * 1000: 0..1000 */
    /* Its header parameters but expires, each as ";name" or ";name=value"
     * without the LWS around ';' and '=' (e.g. ";+sip.instance=\"<urn:
     * uuid:...>\";reg-id=1"), or "": what a registrar echoes (RFC 5626). */
    const char *params;
};

/* All Contact entries of a message (sip_msg_contacts()). */
struct sip_contacts {
    bool star; /* "Contact: *" (REGISTER with Expires: 0 only) */
    size_t n;
    const struct sip_contact *v; /* n entries, in message order */
};

/* The first Authorization header (sip_msg_auth()). */
struct sip_auth {
    const char *scheme; /* as received: "Digest", or whatever was sent */
    /* Digest (case-insensitive): the parameters, quotes and escapes
     * removed, absent ones NULL; NULL for another scheme. */
    const struct sip_digest_params *digest;
};

/* A parsed message. Read-only for callers. For a response (is_request
 * false) only status, via, call_id and cseq are meaningful: the server
 * never answers responses. */
struct sip_msg {
    bool is_request;
    enum sip_method method_id;
    const char *method; /* as received, e.g. "REGISTER" */
    int status;         /* responses: 100..699 */
    struct sip_uri ruri;

    struct sip_via via; /* the top one */
    unsigned n_vias;

    struct sip_uri from;
    const char *from_tag; /* NULL when absent (RFC 2543 peers) */
    struct sip_uri to;    /* to.user is the DN */
    const char *to_tag;   /* NULL when absent */
    const char *call_id;
    uint32_t cseq; /* < 2^31 */
    const char *cseq_method;

    int max_forwards; /* 0..255, or -1 when absent */
    bool has_expires; /* the Expires header */
    uint32_t expires;

    const char *user_agent; /* NULL when absent */

    uint32_t content_length; /* the header, 0 when absent */
    const char *body;        /* not NUL-terminated */
    size_t body_len;

    struct sip_msg_priv *priv;
};

/* Why a message was refused. code and reason make the status line of the
 * error response. Reasons are static strings naming the problem:
 * "Missing Call-ID", "Bad CSeq", "CSeq Method Mismatch", "Bad Contact",
 * "Too Many Headers", ... */
struct sip_msg_err {
    int code;           /* 400, 416, 505 or 513; 0 when nothing to answer */
    const char *reason; /* static */
    bool can_respond;   /* a request other than ACK, with a usable top Via */

    /* For sip_resp_error() and sip_resp_error_dest(); internal. raw is the
     * caller's input, borrowed: answer before reusing that buffer. */
    const char *raw;
    size_t raw_len;
    uint64_t tag_key;
    uint16_t via_port;
    bool via_rport;
};

/* Parse and check one complete message of len bytes. data is borrowed for
 * the call only (and by err, see above); conf is read during the call.
 * Returns 0 and sets *out (free it with sip_msg_free()); or sets *out to
 * NULL, fills *err and returns -EMSGSIZE (513), -EPROTO (any other refusal;
 * err->code is 0 when there is nothing to answer, e.g. a CRLF keep-alive)
 * or -ENOMEM. Responses (status lines) parse too, with is_request false.
 * Any thread. */
int sip_msg_parse(const char *data, size_t len, const struct sip_msg_conf *conf,
                  struct sip_msg **out, struct sip_msg_err *err);

/* The Contact entries of m, parsed on the first call (RFC 3261 §20.10,
 * §10.3 step 6 for "*"); later calls give the same answer. Returns 0 and
 * sets *out (owned by m, valid until sip_msg_free()), -EPROTO when a
 * Contact is malformed or a "*" is not alone in a REGISTER with Expires: 0
 * (answer 400 "Bad Contact"), -EDOM when an expires parameter is not
 * delta-seconds (answer 400 "Bad Contact Expires", as a bad Expires header
 * is refused; sip_scan_delta()), or -ENOMEM. A message without Contact
 * gives 0 entries. */
int sip_msg_contacts(struct sip_msg *m, const struct sip_contacts **out);

/* The first Authorization header of m, parsed on the first call by
 * sip_auth (the Digest parameters; another scheme gives its name only);
 * later calls give the same answer. Returns 0 and sets *out (owned by m,
 * valid until sip_msg_free(); NULL when there is no Authorization), -EPROTO
 * when it is malformed or over sip_auth's bounds (answer 400 "Bad
 * Authorization Header"), or -ENOMEM. */
int sip_msg_auth(struct sip_msg *m, const struct sip_auth **out);

/* Free a message and everything it exposes. NULL is fine. */
void sip_msg_free(struct sip_msg *m);

/* The idx-th (from 0) header called name (case-insensitive; "m" and
 * "Contact" are the same), value trimmed and folding undone. Returns a
 * pointer into the message with *len set, not NUL-terminated, or NULL.
 * A header line holding several comma-separated values counts once. */
const char *sip_msg_header(const struct sip_msg *m, const char *name, unsigned idx, size_t *len);

/* The method's enum value for a method name (case-sensitive, RFC 3261
 * §7.1). */
enum sip_method sip_msg_method_id(const char *method);

/* The message bytes as received (folding undone); not NUL-terminated.
 * Lives as long as m. */
const char *sip_msg_raw(const struct sip_msg *m, size_t *len);

/* For sip_resp: the header index (struct sip_hdr, server/sip_scan.h) in
 * message order, and the tag_key the message was parsed with. */
const struct sip_hdr *sip_msg_hdrs(const struct sip_msg *m, unsigned *n);
uint64_t sip_msg_tag_key(const struct sip_msg *m);

#endif
