#ifndef TC_SERVER_SIP_SIP_RESP_H
#define TC_SERVER_SIP_SIP_RESP_H

#include <stdint.h>
#include <sys/socket.h>

#include "server/base/buf.h"
#include "server/sip/sip_src.h"

struct sip_msg;
struct sip_msg_err;

/* sip_resp: responses of a registrar and redirect server (RFC 3261 §8.2.6)
 * and where they go (§18.2.2, RFC 3581). A response copies the request's
 * Via headers in order, From, To (with a tag added when the request had
 * none and the code is above 100), Call-ID and CSeq, then the caller's
 * extra headers, "Server: tcluster/<version>" and "Content-Length: 0". The
 * top Via gets received=<source IP> when its sent-by is not that address
 * or it has rport, and an empty rport gets the source port. Values are
 * copied as received, folding undone; names use the long forms. A value
 * may hold a NUL (a quoted-pair, RFC 4475 §3.1.1.2): send out->len bytes.
 *
 * Functions append to out and leave it as it was on error. Pure: any
 * thread, given the message is not freed meanwhile. */

/* Answer m with code (100..699) and reason (NULL: sip_resp_reason(code)).
 * to_tag: the tag to add when To has none; NULL derives a stable one from
 * Call-ID, From tag and the conf's tag_key, so retransmissions get the
 * same tag. extra: header lines, each ending in CRLF, or NULL. src is where
 * m came from. Returns 0, -EINVAL (a response, ACK, or bad code) or
 * -ENOMEM. */
int sip_resp_build(const struct sip_msg *m, const struct sip_src *src, int code, const char *reason,
                   const char *to_tag, const char *extra, struct tc_buf *out);

/* Answer a refused message with err->code and err->reason, from a scan of
 * the raw bytes (err->raw must still be valid: answer before reusing the
 * receive buffer). Returns 0, -EINVAL (!err->can_respond) or -ENOMEM. */
int sip_resp_error(const struct sip_msg_err *err, const struct sip_src *src, struct tc_buf *out);

/* Where a response to m goes. UDP: the source IP, with the source port
 * when the top Via has rport (RFC 3581), else the Via's sent-by port or
 * 5060 (RFC 3261 §18.2.2; maddr is ignored). TCP: the peer of the
 * connection the request came on. Returns 0. */
int sip_resp_dest(const struct sip_msg *m, const struct sip_src *src, struct sockaddr_storage *out);

/* The same for a refused message. Returns 0, or -EINVAL when
 * !err->can_respond. */
int sip_resp_error_dest(const struct sip_msg_err *err, const struct sip_src *src,
                        struct sockaddr_storage *out);

/* The usual reason phrase of a status code (RFC 3261 §21), or a generic
 * one for its class. Static. */
const char *sip_resp_reason(int code);

#endif
