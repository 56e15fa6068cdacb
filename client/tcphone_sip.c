/* The phones' SIP requests. A leg's REGISTERs to one server share one
 * Call-ID (the phone's and the server's) and a rising CSeq (RFC 3261
 * §10.2.4); Contact is the leg's own port. Answers are parsed by the
 * project's parser (sip_msg) in tcphone_leg.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>

#include "client/tcphone_int.h"
#include "server/sip/sip_msg.h"

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
    char host[INET_ADDRSTRLEN], call_id[96], uri[INET_ADDRSTRLEN + 16];
    /* Over UDP the Contact is the listening socket, where calls come. */
    unsigned cport = !ph->app->o.tcp && ph->lis_open ? ph->lis_port : leg->port;
    int rc;

    inet_ntop(AF_INET, &sa->sin_addr, host, sizeof(host));
    snprintf(uri, sizeof(uri), "sip:%s:%u", host, ntohs(sa->sin_port));
    tcphone__sip_call_id(leg, call_id, sizeof(call_id));
    tc_buf_reset(b);
    rc = tc_buf_printf(b,
                       "REGISTER %s SIP/2.0\r\n"
                       "Via: SIP/2.0/%s 127.0.0.1:%u;branch=z9hG4bK-%s-%u-%u;rport\r\n"
                       "Max-Forwards: 70\r\n"
                       "From: <sip:%s@%s>;tag=%s-%u\r\n"
                       "To: <sip:%s@%s>\r\n"
                       "Call-ID: %s\r\n"
                       "CSeq: %u REGISTER\r\n"
                       "Contact: <sip:%s@127.0.0.1:%u;transport=%s>;expires=%u\r\n"
                       "Expires: %u\r\n"
                       "User-Agent: tcphone/%s\r\n",
                       uri, tp, leg->port, ph->app->nonce, ph->idx, leg->cseq, ph->dn, host,
                       ph->app->nonce, ph->idx, ph->dn, host, call_id, leg->cseq, ph->dn, cport,
                       ph->app->o.tcp ? "tcp" : "udp", expires, expires, TC_VERSION);
    /* Credentials with the last challenge's nonce: a refresh needs no new
     * 401 while the nonce lives. */
    if (rc == 0 && leg->auth != NULL && ph->app->o.password != NULL)
        rc = tcphone__auth_header(leg->auth, ph->dn, ph->app->o.password, "REGISTER", uri, b);
    if (rc == 0)
        rc = tc_buf_printf(b, "Content-Length: 0\r\n\r\n");
    if (rc != 0)
        return rc;
    return b->len > TCPHONE_MAX_MSG ? -EMSGSIZE : 0;
}

int tcphone__sip_sdp(const struct tcphone__phone *ph, char *buf, size_t size)
{
    return snprintf(buf, size,
                    "v=0\r\no=%s %u 1 IN IP4 127.0.0.1\r\ns=tcphone\r\nc=IN IP4 127.0.0.1\r\n"
                    "t=0 0\r\nm=audio %u RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
                    ph->dn, ph->idx, 20000u + 2 * (ph->idx % 10000));
}

/* Copy req's header name into b as "Name: value\r\n" (every instance). */
static int copy_header(struct tc_buf *b, struct sip_msg *req, const char *name)
{
    size_t len;
    const char *v;
    int rc = 0;

    for (unsigned i = 0; rc == 0 && (v = sip_msg_header(req, name, i, &len)) != NULL; i++)
        rc = tc_buf_printf(b, "%s: %.*s\r\n", name, (int)len, v);
    return rc;
}

static int reply_to(struct tc_buf *b, const struct tcphone__phone *ph, struct sip_msg *req)
{
    size_t len;
    const char *v = sip_msg_header(req, "To", 0, &len);

    if (v == NULL)
        return -EPROTO;
    if (req->to_tag != NULL)
        return tc_buf_printf(b, "To: %.*s\r\n", (int)len, v);
    return tc_buf_printf(b, "To: %.*s;tag=%s-%u-a\r\n", (int)len, v, ph->app->nonce, ph->idx);
}

int tcphone__sip_reply(struct tc_buf *b, const struct tcphone__phone *ph, struct sip_msg *req,
                       int code, const char *reason)
{
    bool offer = code >= 200 && code < 300 && req->method_id == SIP_METHOD_INVITE;
    char sdp[256];
    int rc, sdp_len = 0;

    tc_buf_reset(b);
    rc = tc_buf_printf(b, "SIP/2.0 %d %s\r\n", code, reason);
    if (rc == 0)
        rc = copy_header(b, req, "Via");
    if (rc == 0)
        rc = copy_header(b, req, "From");
    if (rc == 0)
        rc = reply_to(b, ph, req);
    if (rc == 0)
        rc = copy_header(b, req, "Call-ID");
    if (rc == 0)
        rc = copy_header(b, req, "CSeq");
    if (rc == 0 && offer) {
        sdp_len = tcphone__sip_sdp(ph, sdp, sizeof(sdp));
        rc = tc_buf_printf(b, "Contact: <sip:%s@127.0.0.1:%u>\r\nContent-Type: application/sdp\r\n",
                           ph->dn, ph->lis_port);
    }
    if (rc == 0)
        rc = tc_buf_printf(b, "User-Agent: tcphone/%s\r\nContent-Length: %d\r\n\r\n%s", TC_VERSION,
                           sdp_len, offer ? sdp : "");
    if (rc != 0)
        return rc;
    return b->len > TCPHONE_MAX_MSG ? -EMSGSIZE : 0;
}
