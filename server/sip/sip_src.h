#ifndef TC_SERVER_SIP_SIP_SRC_H
#define TC_SERVER_SIP_SIP_SRC_H

#include <stdint.h>
#include <sys/socket.h>

/* Where a SIP message came from, and so where its responses go (RFC 3261
 * §18.2.2, RFC 3581). Plain data: copy it freely; it stays valid after the
 * connection is gone (sending to a closed connection is then refused). */

enum sip_proto {
    SIP_PROTO_UDP = 0,
    SIP_PROTO_TCP,
};

struct sip_src {
    enum sip_proto proto;
    struct sockaddr_storage peer;  /* the remote address and port */
    struct sockaddr_storage local; /* the listener's address */
    uint64_t conn_id;              /* TCP: the connection's id (never reused); UDP: 0 */
    unsigned listener;             /* index of the listener it arrived on */
};

#endif
