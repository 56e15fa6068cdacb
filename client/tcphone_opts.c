/* tcphone's command line (DESIGN §10). Every value is checked against an
 * explicit bound; servers must be on 127.0.0.0/8. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/tcphone_int.h"

static const char usage_text[] =
        "usage: tcphone -n N --dns FIRST-LAST (--servers HOST:PORT[,HOST:PORT...] |\n"
        "               --domain NAME --resolver HOST:PORT) [options]\n"
        "\n"
        "Simulate N SIP phones on one event loop, registering DNs FIRST, FIRST+1, ...\n"
        "to a tcluster and failing over the way phones and PBX trunks do (DESIGN 9).\n"
        "\n"
        "  -n N                    phones, 1..100000\n"
        "  --dns FIRST-LAST        the DN range (at least N numbers)\n"
        "  --servers LIST          HOST:PORT[,HOST:PORT...], primary first (127.0.0.0/8)\n"
        "  --domain NAME           find servers by DNS: SRV _sip._udp.NAME (_sip._tcp with\n"
        "                          --transport tcp) by priority and weight, else A records\n"
        "                          round robin; needs --resolver\n"
        "  --resolver HOST:PORT    the DNS server to ask (127.0.0.0/8)\n"
        "  --sip-port P            the port of servers found by A records (default 5060)\n"
        "  --mode MODE             failover (default): register to the primary, move to the\n"
        "                          next server after its retry count, return to the primary\n"
        "                          as soon as a probe REGISTER to it succeeds;\n"
        "                          concurrent: register to the working server and the next\n"
        "                          one at once (standby); successive: register only to the\n"
        "                          working server, move to the next on failure\n"
        "  --transport udp|tcp     default udp; each phone has its own socket and port\n"
        "  --t1 MS                 RFC 3261 T1, 1..10000 (default 500): retransmit from T1\n"
        "                          doubling to T2 = 4 s, fail after 64*T1\n"
        "  --retry-counts N[,N...] tries per server before moving on (default 1)\n"
        "  --expires S             registration expiry asked for, 1..86400 (default 300);\n"
        "                          refreshed at about half\n"
        "  --probe MS              retry period of probe and standby registrations\n"
        "                          (default 2000)\n"
        "  --rate N                phones started per second (default 1000)\n"
        "  --duration S            stop after S seconds (default: at SIGINT or SIGTERM)\n"
        "  --json                  one JSON object per line: counts every second, then\n"
        "                          the summary (64-bit values as strings)\n"
        "  --quiet                 no progress line\n"
        "  --help, --version\n"
        "\n"
        "A failure is a 503, an ICMP error on the phone's connected UDP socket (at once),\n"
        "no final answer within 64*T1, or over TCP a failed connect, send or connection.\n"
        "On stop every phone unregisters (Expires: 0; waits at most min(64*T1, 5 s)),\n"
        "then the summary is printed. The soft limit of open files is raised to what\n"
        "the phones need (two sockets each at most).\n"
        "\n"
        "Exit status: 0 success, 1 usage error, 2 when the servers cannot be set up\n"
        "(DNS discovery failed, sockets refused).\n";

enum {
    OPT_DNS = 256,
    OPT_SERVERS,
    OPT_DOMAIN,
    OPT_RESOLVER,
    OPT_SIP_PORT,
    OPT_MODE,
    OPT_TRANSPORT,
    OPT_T1,
    OPT_RETRY,
    OPT_EXPIRES,
    OPT_PROBE,
    OPT_RATE,
    OPT_DURATION,
    OPT_JSON,
    OPT_QUIET,
    OPT_HELP,
    OPT_VERSION,
};

static const struct option long_opts[] = {
        {"dns", required_argument, NULL, OPT_DNS},
        {"servers", required_argument, NULL, OPT_SERVERS},
        {"domain", required_argument, NULL, OPT_DOMAIN},
        {"resolver", required_argument, NULL, OPT_RESOLVER},
        {"sip-port", required_argument, NULL, OPT_SIP_PORT},
        {"mode", required_argument, NULL, OPT_MODE},
        {"transport", required_argument, NULL, OPT_TRANSPORT},
        {"t1", required_argument, NULL, OPT_T1},
        {"retry-counts", required_argument, NULL, OPT_RETRY},
        {"expires", required_argument, NULL, OPT_EXPIRES},
        {"probe", required_argument, NULL, OPT_PROBE},
        {"rate", required_argument, NULL, OPT_RATE},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"json", no_argument, NULL, OPT_JSON},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
};

static int bad(const char *what, const char *arg)
{
    fprintf(stderr, "tcphone: bad %s: '%s' (try --help)\n", what, arg);
    return 1;
}

/* A whole decimal number in [lo, hi]. */
static bool num(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
    char *end;
    unsigned long v;

    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* HOST:PORT on 127.0.0.0/8. */
int tcphone__addr(const char *s, struct sockaddr_in *sa)
{
    char host[INET_ADDRSTRLEN];
    const char *colon = strrchr(s, ':');
    unsigned long port;

    if (colon == NULL || (size_t)(colon - s) >= sizeof(host) || !num(colon + 1, 1, 65535, &port))
        return -EINVAL;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    if (uv_ip4_addr(host, (int)port, sa) != 0 || (ntohl(sa->sin_addr.s_addr) >> 24) != 127)
        return -EINVAL;
    return 0;
}

static int servers(struct tcphone_opts *o, const char *arg)
{
    char item[64];
    const char *p = arg;

    o->n_servers = 0;
    while (*p != '\0') {
        size_t len = strcspn(p, ",");

        if (len == 0 || len >= sizeof(item) || o->n_servers == TCPHONE_MAX_SERVERS)
            return bad("--servers", arg);
        memcpy(item, p, len);
        item[len] = '\0';
        if (tcphone__addr(item, &o->servers[o->n_servers++]) != 0)
            return bad("--servers (HOST:PORT on 127.0.0.0/8)", item);
        p += len + (p[len] == ',');
    }
    return o->n_servers == 0 ? bad("--servers", arg) : 0;
}

static int retries(struct tcphone_opts *o, const char *arg)
{
    char *dup = strdup(arg), *save = NULL, *tok;
    unsigned i = 0;
    unsigned long v = 1;

    if (dup == NULL)
        return bad("--retry-counts", arg);
    for (tok = strtok_r(dup, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        if (i == TCPHONE_MAX_SERVERS || !num(tok, 1, 100, &v)) {
            free(dup);
            return bad("--retry-counts (1..100 each)", arg);
        }
        o->retry[i++] = (unsigned)v;
    }
    free(dup);
    /* The last value given holds for the servers after it. */
    for (; i < TCPHONE_MAX_SERVERS; i++)
        o->retry[i] = (unsigned)v;
    return 0;
}

static int dn_range(struct tcphone_opts *o, const char *arg)
{
    char first[32];
    const char *dash = strchr(arg, '-');

    if (dash == NULL || (size_t)(dash - arg) >= sizeof(first))
        return bad("--dns (FIRST-LAST)", arg);
    memcpy(first, arg, (size_t)(dash - arg));
    first[dash - arg] = '\0';
    if (!num(first, 0, 999999999999UL, &o->dn_first) ||
        !num(dash + 1, o->dn_first, 999999999999UL, &o->dn_last))
        return bad("--dns (FIRST-LAST, numbers, FIRST <= LAST)", arg);
    return 0;
}

static int one_opt(struct tcphone_opts *o, int c, const char *arg)
{
    unsigned long v;

    switch (c) {
    case 'n':
        return num(arg, 1, TCPHONE_MAX_PHONES, &v) ? (o->n = (unsigned)v, 0) : bad("-n", arg);
    case OPT_DNS:
        return dn_range(o, arg);
    case OPT_SERVERS:
        return servers(o, arg);
    case OPT_DOMAIN:
        o->domain = arg;
        return strlen(arg) > 0 && strlen(arg) < 250 ? 0 : bad("--domain", arg);
    case OPT_RESOLVER:
        return tcphone__addr(arg, &o->resolver) == 0 ? 0 : bad("--resolver", arg);
    case OPT_SIP_PORT:
        return num(arg, 1, 65535, &v) ? (o->sip_port = (unsigned)v, 0) : bad("--sip-port", arg);
    case OPT_MODE:
        if (strcmp(arg, "failover") == 0)
            o->mode = TCPHONE_FAILOVER;
        else if (strcmp(arg, "concurrent") == 0)
            o->mode = TCPHONE_CONCURRENT;
        else if (strcmp(arg, "successive") == 0)
            o->mode = TCPHONE_SUCCESSIVE;
        else
            return bad("--mode", arg);
        return 0;
    case OPT_TRANSPORT:
        if (strcmp(arg, "udp") != 0 && strcmp(arg, "tcp") != 0)
            return bad("--transport", arg);
        o->tcp = strcmp(arg, "tcp") == 0;
        return 0;
    case OPT_T1:
        return num(arg, 1, 10000, &v) ? (o->t1_ms = (unsigned)v, 0) : bad("--t1", arg);
    case OPT_RETRY:
        return retries(o, arg);
    case OPT_EXPIRES:
        return num(arg, 1, 86400, &v) ? (o->expires = (unsigned)v, 0) : bad("--expires", arg);
    case OPT_PROBE:
        return num(arg, 10, 3600000, &v) ? (o->probe_ms = (unsigned)v, 0) : bad("--probe", arg);
    case OPT_RATE:
        return num(arg, 1, 1000000, &v) ? (o->rate = (unsigned)v, 0) : bad("--rate", arg);
    case OPT_DURATION:
        return num(arg, 1, 31536000, &v) ? (o->duration_s = (unsigned)v, 0)
                                         : bad("--duration", arg);
    case OPT_JSON:
        o->json = true;
        return 0;
    case OPT_QUIET:
        o->quiet = true;
        return 0;
    case OPT_HELP:
        fputs(usage_text, stdout);
        return -1;
    case OPT_VERSION:
        printf("tcphone %s (%s)\n", TC_VERSION, TC_GIT_REV);
        return -1;
    default:
        fprintf(stderr, "tcphone: try --help\n");
        return 1;
    }
}

/* What the options say together. */
static int check(const struct tcphone_opts *o)
{
    if (o->n == 0 || o->dn_last == 0) {
        fprintf(stderr, "tcphone: -n and --dns are required (try --help)\n");
        return 1;
    }
    if (o->dn_last - o->dn_first + 1 < o->n) {
        fprintf(stderr, "tcphone: --dns holds fewer than %u DNs\n", o->n);
        return 1;
    }
    if ((o->n_servers > 0) == (o->domain != NULL)) {
        fprintf(stderr, "tcphone: give either --servers or --domain (try --help)\n");
        return 1;
    }
    if (o->domain != NULL && o->resolver.sin_port == 0) {
        fprintf(stderr, "tcphone: --domain needs --resolver HOST:PORT\n");
        return 1;
    }
    return 0;
}

int tcphone__opts_parse(struct tcphone_opts *o, int argc, char **argv)
{
    int c, rc;

    memset(o, 0, sizeof(*o));
    o->t1_ms = 500;
    o->expires = 300;
    o->probe_ms = 2000;
    o->rate = 1000;
    o->sip_port = 5060;
    for (unsigned i = 0; i < TCPHONE_MAX_SERVERS; i++)
        o->retry[i] = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "n:", long_opts, NULL)) != -1) {
        rc = one_opt(o, c, optarg);
        if (rc != 0)
            return rc;
    }
    if (optind < argc) {
        fprintf(stderr, "tcphone: unexpected argument '%s' (try --help)\n", argv[optind]);
        return 1;
    }
    return check(o);
}
