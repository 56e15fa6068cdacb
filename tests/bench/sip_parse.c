/* bench_sip_parse: CPU to parse (and free) a typical REGISTER with
 * sip_msg, reading its Contact and Authorization as the registrar does.
 * Prints one line: ns of CPU per REGISTER over N rounds (argument,
 * default 200000). Under callgrind, --toggle-collect=parse_once counts
 * the instructions of the rounds alone. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "server/sip/sip_msg.h"

static const char reg[] = "REGISTER sip:192.0.2.10 SIP/2.0\r\n"
                          "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK776asdhds;rport\r\n"
                          "Max-Forwards: 70\r\n"
                          "To: <sip:1001@192.0.2.10>\r\n"
                          "From: \"Agent 1001\" <sip:1001@192.0.2.10>;tag=456248\r\n"
                          "Call-ID: 843817637684230@10.0.0.5\r\n"
                          "CSeq: 1826 REGISTER\r\n"
                          "Contact: <sip:1001@10.0.0.5:5060;transport=udp>;expires=3600\r\n"
                          "Authorization: Digest username=\"1001\", realm=\"tcluster\", "
                          "nonce=\"AAAAAGVvZ3Jx4m8pZ2uQ3lH0\", uri=\"sip:192.0.2.10\", "
                          "response=\"0123456789abcdef0123456789abcdef\", algorithm=MD5, qop=auth, "
                          "nc=00000001, cnonce=\"a1b2c3\"\r\n"
                          "User-Agent: Phone/1.0\r\n"
                          "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS\r\n"
                          "Content-Length: 0\r\n"
                          "\r\n";

/* One REGISTER: parse, read what the registrar reads, free. */
__attribute__((noinline)) size_t parse_once(const struct sip_msg_conf *conf)
{
    const struct sip_contacts *cs;
    const struct sip_auth *auth;
    struct sip_msg_err err;
    struct sip_msg *m;
    size_t n;

    if (sip_msg_parse(reg, sizeof(reg) - 1, conf, &m, &err) != 0 || sip_msg_contacts(m, &cs) != 0 ||
        sip_msg_auth(m, &auth) != 0)
        abort();
    n = cs->n + (auth != NULL);
    sip_msg_free(m);
    return n;
}

int main(int argc, char **argv)
{
    struct sip_msg_conf conf = SIP_MSG_CONF_DEFAULT;
    long n = argc > 1 ? atol(argv[1]) : 200000;
    struct timespec a, b;
    size_t sum = 0;
    double ns;

    if (n <= 0)
        n = 1;
    parse_once(&conf);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    for (long i = 0; i < n; i++)
        sum += parse_once(&conf);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
    printf("sip_parse: %ld REGISTERs, %.0f ns CPU each (%zu entries read)\n", n, ns / (double)n,
           sum);
    return 0;
}
