/* The phones' SIP requests. A leg's REGISTERs to one server share one
 * Call-ID (the phone's and the server's) and a rising CSeq (RFC 3261
 * §10.2.4); Contact is the leg's own port. Answers are parsed by the
 * project's parser (sip_msg) in tcphone_leg.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>

#include "client/tcphone_int.h"

void tcphone__sip_call_id(const struct tcphone__leg *leg, char *buf, size_t size)
{
    const struct tcphone__phone *ph = leg->ph;

    snprintf(buf, size, "%s-%u-%d@tcphone", ph->app->nonce, ph->idx, ph->order[leg->srv]);
}

int tcphone__sip_register(struct tcphone__leg *leg, unsigned expires)
{
    const struct tcphone__phone *ph = leg->ph;
    const struct sockaddr_in *sa = tcphone__srv_addr(ph, leg->srv);
    struct tc_buf *b = &leg->req;
    const char *tp = ph->app->o.tcp ? "TCP" : "UDP";
    char host[INET_ADDRSTRLEN], call_id[96];
    int rc;

    inet_ntop(AF_INET, &sa->sin_addr, host, sizeof(host));
    tcphone__sip_call_id(leg, call_id, sizeof(call_id));
    tc_buf_reset(b);
    rc = tc_buf_printf(b,
                       "REGISTER sip:%s:%u SIP/2.0\r\n"
                       "Via: SIP/2.0/%s 127.0.0.1:%u;branch=z9hG4bK-%s-%u-%u;rport\r\n"
                       "Max-Forwards: 70\r\n"
                       "From: <sip:%s@%s>;tag=%s-%u\r\n"
                       "To: <sip:%s@%s>\r\n"
                       "Call-ID: %s\r\n"
                       "CSeq: %u REGISTER\r\n"
                       "Contact: <sip:%s@127.0.0.1:%u;transport=%s>;expires=%u\r\n"
                       "Expires: %u\r\n"
                       "User-Agent: tcphone/%s\r\n"
                       "Content-Length: 0\r\n\r\n",
                       host, ntohs(sa->sin_port), tp, leg->port, ph->app->nonce, ph->idx, leg->cseq,
                       ph->dn, host, ph->app->nonce, ph->idx, ph->dn, host, call_id, leg->cseq,
                       ph->dn, leg->port, ph->app->o.tcp ? "tcp" : "udp", expires, expires,
                       TC_VERSION);
    if (rc != 0)
        return rc;
    return b->len > TCPHONE_MAX_MSG ? -EMSGSIZE : 0;
}
