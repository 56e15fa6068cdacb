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
        "  --failover-timer MS     give a REGISTER up after MS, 100..600000, instead of\n"
        "                          64*T1 (the PBX trunk's failover timer)\n"
        "  --retry-counts N[,N...] tries per server before moving on (default 1)\n"
        "  --expires S             registration expiry asked for, 1..86400 (default 300);\n"
        "                          refreshed at about half\n"
        "  --probe MS              retry period of probe and standby registrations\n"
        "                          (default 2000)\n"
        "  --rate N                phones started per second (default 1000)\n"
        "  --duration S            stop after S seconds (default: at SIGINT or SIGTERM)\n"
        "  --calls F               fraction 0..1 of the phones that place calls (default 0),\n"
        "                          one at a time each (UDP only)\n"
        "  --call-interval S       seconds between a caller's calls, 0.05..86400 (default 10;\n"
        "                          each wait is random in [S/2, 3S/2))\n"
        "  --call-to DN[-DN]       whom to call (default: a random other DN of --dns)\n"
        "  --call-ms MS            talk time before the BYE, 1..3600000 (default 1000)\n"
        "  --answer-ms MS          ringing time before a called phone's 200 (default 200)\n"
        "  --last-resort HOST:PORT where an INVITE goes when every server failed (503,\n"
        "                          ICMP, no answer in 64*T1): the PBX's public trunk\n"
        "  --password SECRET       the digest password of every phone's DN: 401 and 407\n"
        "                          challenges are answered (MD5 or SHA-256, the first\n"
        "                          offered; qop=auth with nc and a random cnonce), the\n"
        "                          nonce reused on refresh until the server says stale\n"
        "  --password-file FILE    the same, read from the first line of FILE (not shown\n"
        "                          in ps)\n"
        "  --json                  one JSON object per line: counts every second, then\n"
        "                          the summary (64-bit values as strings)\n"
        "  --quiet                 no progress line\n"
        "  --no-answer             phones do not answer calls: no listening socket, so\n"
        "                          one file fewer each (chosen by itself, with a note,\n"
        "                          when the open-file limit is too low and --calls is 0)\n"
        "  --help, --version\n"
        "\n"
        "A failure is a 503, an ICMP error on the phone's connected UDP socket (at once),\n"
        "no final answer within 64*T1, or over TCP a failed connect, send or connection.\n"
        "On stop every phone unregisters (Expires: 0; waits at most min(64*T1, 5 s)),\n"
        "then the summary is printed. The soft limit of open files is raised to what\n"
        "the phones need (four sockets each at most).\n"
        "\n"
        "Calls: every phone answers INVITEs at its Contact (over UDP, its own listening\n"
        "socket): 180, then 200 with SDP after --answer-ms; ACK absorbed, BYE and CANCEL\n"
        "(487) answered. A caller's INVITE goes to its working server, then the next\n"
        "ones on 503, ICMP or timeout, then --last-resort; a 302 is followed to its\n"
        "first Contact (tc-fwd kept) up to 3 times; the callee's 200 is ACKed and a BYE\n"
        "follows after --call-ms. Calls are counted by outcome and failure reason.\n"
        "\n"
        "Authentication: the user name is the phone's DN. A challenge that follows the\n"
        "credentials just sent (and is not stale), a 403 to credentials, or a challenge\n"
        "without a password counts as an auth failure; the phone tries again after\n"
        "--probe, from a fresh challenge. An INVITE that is challenged is sent once\n"
        "more with credentials.\n"
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
    OPT_FAILOVER_TIMER,
    OPT_RETRY,
    OPT_EXPIRES,
    OPT_PROBE,
    OPT_RATE,
    OPT_DURATION,
    OPT_CALLS,
    OPT_CALL_INTERVAL,
    OPT_CALL_TO,
    OPT_CALL_MS,
    OPT_ANSWER_MS,
    OPT_LAST_RESORT,
    OPT_PASSWORD,
    OPT_PASSWORD_FILE,
    OPT_JSON,
    OPT_QUIET,
    OPT_NO_ANSWER,
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
        {"failover-timer", required_argument, NULL, OPT_FAILOVER_TIMER},
        {"retry-counts", required_argument, NULL, OPT_RETRY},
        {"expires", required_argument, NULL, OPT_EXPIRES},
        {"probe", required_argument, NULL, OPT_PROBE},
        {"rate", required_argument, NULL, OPT_RATE},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"calls", required_argument, NULL, OPT_CALLS},
        {"call-interval", required_argument, NULL, OPT_CALL_INTERVAL},
        {"call-to", required_argument, NULL, OPT_CALL_TO},
        {"call-ms", required_argument, NULL, OPT_CALL_MS},
        {"answer-ms", required_argument, NULL, OPT_ANSWER_MS},
        {"last-resort", required_argument, NULL, OPT_LAST_RESORT},
        {"password", required_argument, NULL, OPT_PASSWORD},
        {"password-file", required_argument, NULL, OPT_PASSWORD_FILE},
        {"json", no_argument, NULL, OPT_JSON},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"no-answer", no_argument, NULL, OPT_NO_ANSWER},
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

/* FIRST-LAST, or one DN when single. */
static int range(const char *arg, bool single, unsigned long *lo, unsigned long *hi)
{
    char first[32];
    const char *dash = strchr(arg, '-');

    if (dash == NULL && single)
        return num(arg, 1, 999999999999UL, lo) ? (*hi = *lo, 0) : -EINVAL;
    if (dash == NULL || (size_t)(dash - arg) >= sizeof(first))
        return -EINVAL;
    memcpy(first, arg, (size_t)(dash - arg));
    first[dash - arg] = '\0';
    if (!num(first, 0, 999999999999UL, lo) || !num(dash + 1, *lo, 999999999999UL, hi) || *hi == 0)
        return -EINVAL;
    return 0;
}

/* The digest password: printable, no control characters, at most
 * TCPHONE_PASSWORD_MAX bytes. Replaces one given before. */
static int set_password(struct tcphone_opts *o, const char *pw, const char *from)
{
    size_t len = strlen(pw);

    if (len == 0 || len > TCPHONE_PASSWORD_MAX) {
        fprintf(stderr, "tcphone: %s: the password must be 1..%d bytes\n", from,
                TCPHONE_PASSWORD_MAX);
        return 1;
    }
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)pw[i] < 0x20 || pw[i] == 0x7f) {
            fprintf(stderr, "tcphone: %s: the password holds a control character\n", from);
            return 1;
        }
    }
    free(o->password);
    o->password = strdup(pw);
    if (o->password == NULL) {
        fprintf(stderr, "tcphone: out of memory\n");
        return 1;
    }
    return 0;
}

/* The first line of path, without its line end. */
static int password_file(struct tcphone_opts *o, const char *path)
{
    char line[TCPHONE_PASSWORD_MAX + 3];
    FILE *f = fopen(path, "r");
    size_t len;
    int rc;

    if (f == NULL) {
        fprintf(stderr, "tcphone: --password-file %s: %s\n", path, strerror(errno));
        return 1;
    }
    if (fgets(line, sizeof(line), f) == NULL)
        line[0] = '\0';
    fclose(f);
    len = strcspn(line, "\r\n");
    if (line[len] == '\0' && len > TCPHONE_PASSWORD_MAX) {
        fprintf(stderr, "tcphone: --password-file %s: longer than %d bytes\n", path,
                TCPHONE_PASSWORD_MAX);
        return 1;
    }
    line[len] = '\0';
    rc = set_password(o, line, path);
    explicit_bzero(line, sizeof(line));
    return rc;
}

/* A decimal fraction in [lo, hi]. */
static bool real(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v;

    if ((*s < '0' || *s > '9') && *s != '.')
        return false;
    v = strtod(s, &end);
    if (*end != '\0' || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

static int call_opt(struct tcphone_opts *o, int c, const char *arg)
{
    unsigned long v;
    double d;

    switch (c) {
    case OPT_CALLS:
        return real(arg, 0, 1, &o->calls) ? 0 : bad("--calls (0..1)", arg);
    case OPT_CALL_INTERVAL:
        if (!real(arg, 0.05, 86400, &d))
            return bad("--call-interval (0.05..86400)", arg);
        o->call_interval = (unsigned)(d * 1000);
        return 0;
    case OPT_CALL_TO:
        return range(arg, true, &o->call_to_first, &o->call_to_last) == 0
                       ? 0
                       : bad("--call-to (DN or FIRST-LAST)", arg);
    case OPT_CALL_MS:
        return num(arg, 1, 3600000, &v) ? (o->call_ms = (unsigned)v, 0) : bad("--call-ms", arg);
    case OPT_ANSWER_MS:
        return num(arg, 0, 60000, &v) ? (o->answer_ms = (unsigned)v, 0) : bad("--answer-ms", arg);
    default:
        return tcphone__addr(arg, &o->last_resort) == 0 ? 0 : bad("--last-resort", arg);
    }
}

static int one_opt(struct tcphone_opts *o, int c, const char *arg)
{
    unsigned long v;

    switch (c) {
    case 'n':
        return num(arg, 1, TCPHONE_MAX_PHONES, &v) ? (o->n = (unsigned)v, 0) : bad("-n", arg);
    case OPT_DNS:
        return range(arg, false, &o->dn_first, &o->dn_last) == 0
                       ? 0
                       : bad("--dns (FIRST-LAST, numbers, FIRST <= LAST)", arg);
    case OPT_CALLS:
    case OPT_CALL_INTERVAL:
    case OPT_CALL_TO:
    case OPT_CALL_MS:
    case OPT_ANSWER_MS:
    case OPT_LAST_RESORT:
        return call_opt(o, c, arg);
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
    case OPT_FAILOVER_TIMER:
        return num(arg, 100, 600000, &v) ? (o->failover_ms = (unsigned)v, 0)
                                         : bad("--failover-timer", arg);
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
    case OPT_PASSWORD:
        return set_password(o, arg, "--password");
    case OPT_PASSWORD_FILE:
        return password_file(o, arg);
    case OPT_JSON:
        o->json = true;
        return 0;
    case OPT_QUIET:
        o->quiet = true;
        return 0;
    case OPT_NO_ANSWER:
        o->no_answer = true;
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
    if (o->tcp && o->calls > 0) {
        fprintf(stderr, "tcphone: calls are simulated over UDP only\n");
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
    o->call_interval = 10000;
    o->call_ms = 1000;
    o->answer_ms = 200;
    for (unsigned i = 0; i < TCPHONE_MAX_SERVERS; i++)
        o->retry[i] = 1;
    opterr = 0;
    rc = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, "n:", long_opts, NULL)) != -1)
        rc = one_opt(o, c, optarg);
    if (rc == 0 && optind < argc) {
        fprintf(stderr, "tcphone: unexpected argument '%s' (try --help)\n", argv[optind]);
        rc = 1;
    }
    if (rc == 0)
        rc = check(o);
    if (rc != 0)
        tcphone__opts_free(o);
    return rc;
}

void tcphone__opts_free(struct tcphone_opts *o)
{
    if (o->password != NULL)
        explicit_bzero(o->password, strlen(o->password));
    free(o->password);
    o->password = NULL;
}
