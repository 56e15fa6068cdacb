#ifndef TC_SERVER_SIP_SIP_SERVER_INT_H
#define TC_SERVER_SIP_SIP_SERVER_INT_H

#include "server/sip/sip_server.h"
#include "server/sip/sip_src.h"

/* Names the SIP server's files share (sip_server.c, sip_invite.c); not for
 * other modules. Loop thread only. */

/* Answer m, which came from src, with code and reason (NULL: the usual
 * phrase) and extra header lines (each ending in CRLF, or NULL), to where
 * its Via says (RFC 3581), and count it in tcluster_sip_responses_total. A
 * failure to build or send is counted as dropped. m and extra are
 * borrowed for the call. */
void sip_server__respond(struct sip_server *s, const struct sip_msg *m, const struct sip_src *src,
                         int code, const char *reason, const char *extra);

#endif
