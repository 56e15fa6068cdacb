/* Hostile and malformed SIP over the wire: the RFC 4475 torture messages,
 * hand-made broken messages with the reason each must name, TCP framing
 * abuse, and sipvicious' scanners. The node answers what can be answered,
 * counts what cannot, and keeps serving. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/tc_test.h"

TestSuite(sip_wire, .fini = tc_test_leak_check, .timeout = 180);

static const char *dirs = "[dn 1000-1999]\ntype = extension\n";

/* This test process's own network namespace, with its loopback up: its
 * 127.0.0.1:5060 is no one else's. Skips the test when it cannot have one. */
static void own_network(void)
{
    char *out = NULL;

    if (unshare(CLONE_NEWNET) != 0)
        cr_skip_test("no network namespace here (%s); needs root", strerror(errno));
    if (harness_run("ip link set lo up", &out) != 0)
        cr_skip_test("ip link set lo up (Debian package iproute2): %s", out ? out : "");
    free(out);
}

/* A UDP socket on 127.0.0.1:5060, where answers to messages whose Via has
 * no rport go (RFC 3261 §18.2.2), or -1 when the port is taken. */
static int bind_5060(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(5060)};
    struct timeval tv = {.tv_sec = 0, .tv_usec = 500000};
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* Send file's bytes from fd to the node; the first line of the answer (or "")
 * goes into line. */
static void torture_one(int fd, uint16_t port, const char *path, char *line, size_t size)
{
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
    char buf[70000];
    FILE *f = fopen(path, "rb");
    size_t n;
    ssize_t r;
    char *eol;

    cr_assert_not_null(f, "%s", path);
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    line[0] = '\0';
    if (sendto(fd, buf, n, 0, (struct sockaddr *)&to, sizeof(to)) != (ssize_t)n)
        return; /* over the datagram limit */
    r = recv(fd, buf, sizeof(buf) - 1, 0);
    if (r <= 0)
        return;
    buf[r] = '\0';
    eol = strstr(buf, "\r\n");
    if (eol != NULL)
        *eol = '\0';
    /* The status line, cut to fit. */
    n = strlen(buf);
    if (n >= size)
        n = size - 1;
    memcpy(line, buf, n);
    line[n] = '\0';
}

static int code_of(const char *line)
{
    return strncmp(line, "SIP/2.0 ", 8) == 0 ? atoi(line + 8) : 0;
}

Test(sip_wire, rfc4475_torture_messages)
{
    static const char *const invalid[] = {
            "badinv01", "clerr", "insuf",    "ltgtruri",   "lwsruri", "lwsstart",
            "trws",     "escruri", "regbadct", "badaspec", "badvers", "mcl01",
            "multi01",  "ncl",   "mismatch01", "scalar02",
    };
    static const char *const valid[] = {
            "wsinv", "intmeth", "esc01", "escnull", "esc02", "lwsdisp", "longreq",
            "dblreq", "semiuri", "transports", "mpart01", "unksm2", "cparam01", "cparam02",
            "regescrt", "regaut01", "bext01", "zeromf", "sdp01", "inv2543", "invut",
    };
    char path[600], line[256];
    struct hnode n;
    int fd;

    /* The messages are RFC 4475's bytes: their Vias name port 5060 or no
     * port, and no rport, so the node answers to 127.0.0.1:5060 (RFC 3261
     * §18.2.2), which must be this test's. On the machine's loopback it
     * was shared with every other test run: svmap and svwar bind 5060
     * when free, and any stray answer to 5060 landed in this socket. */
    own_network();
    fd = bind_5060();
    cr_assert_geq(fd, 0, "127.0.0.1:5060 taken in the test's own network namespace");
    harness_node_init(&n, "sip1", NULL, dirs);
    harness_node_start(&n);
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        snprintf(path, sizeof(path), "%s/tests/data/rfc4475/%s.dat", TC_SOURCE_DIR,
                 invalid[i]);
        torture_one(fd, n.sip_port, path, line, sizeof(line));
        cr_expect(code_of(line) >= 400 && code_of(line) < 600, "%s: got \"%s\"", invalid[i],
                  line);
        cr_expect(code_of(line) != 500, "%s: a bad message is not a server error", invalid[i]);
    }
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        snprintf(path, sizeof(path), "%s/tests/data/rfc4475/%s.dat", TC_SOURCE_DIR,
                 valid[i]);
        torture_one(fd, n.sip_port, path, line, sizeof(line));
        cr_expect(code_of(line) != 0 && code_of(line) != 400 && code_of(line) != 500,
                  "%s (valid): got \"%s\"", valid[i], line);
    }
    close(fd);
    cr_assert_eq(harness_http_get(n.http_port, "/healthz", NULL), 200);
    cr_assert_eq(harness_node_stop(&n), 0);
    harness_node_cleanup(&n);
}

struct bad_case {
    const char *name;
    const char *msg;
    const char *want; /* status line prefix */
};

#define VIA  "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-%d;rport\r\n"
#define FROM "From: <sip:1001@127.0.0.1>;tag=a\r\n"
#define TO   "To: <sip:1001@127.0.0.1>\r\n"
#define CID  "Call-ID: bad-%d\r\n"
#define END  "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"

static const struct bad_case bad_cases[] = {
        {"no call-id", "REGISTER sip:127.0.0.1 SIP/2.0\r\n" VIA FROM TO "CSeq: 1 REGISTER\r\n" END,
         "SIP/2.0 400 Missing Call-ID"},
        {"no cseq", "REGISTER sip:127.0.0.1 SIP/2.0\r\n" VIA FROM TO CID END,
         "SIP/2.0 400 Missing CSeq"},
        {"bad cseq", "REGISTER sip:127.0.0.1 SIP/2.0\r\n" VIA FROM TO CID "CSeq: x REGISTER\r\n" END,
         "SIP/2.0 400 Bad CSeq"},
        {"no from", "REGISTER sip:127.0.0.1 SIP/2.0\r\n" VIA TO CID "CSeq: 1 REGISTER\r\n" END,
         "SIP/2.0 400 Missing From"},
        {"no to", "REGISTER sip:127.0.0.1 SIP/2.0\r\n" VIA FROM CID "CSeq: 1 REGISTER\r\n" END,
         "SIP/2.0 400 Missing To"},
        {"cseq method", "REGISTER sip:127.0.0.1 SIP/2.0\r\n" VIA FROM TO CID "CSeq: 1 INVITE\r\n" END,
         "SIP/2.0 400 CSeq Method Mismatch"},
        {"bad contact", "REGISTER sip:127.0.0.1 SIP/2.0\r\n" VIA FROM TO CID
                        "CSeq: 1 REGISTER\r\nContact: <sip:1001@127.0.0.1\r\n" END,
         "SIP/2.0 400 Bad Contact"},
        {"bad expires", "REGISTER sip:127.0.0.1 SIP/2.0\r\n" VIA FROM TO CID
                        "CSeq: 1 REGISTER\r\nContact: <sip:1001@127.0.0.1>\r\nExpires: soon\r\n" END,
         "SIP/2.0 400 Bad Expires"},
        /* Issue 13 defect 8: one rule for the header and the parameter. */
        {"expires 1e20",
         "REGISTER sip:127.0.0.1 SIP/2.0\r\n" VIA FROM TO CID
         "CSeq: 1 REGISTER\r\nContact: <sip:1001@127.0.0.1>\r\nExpires: 1e20\r\n" END,
         "SIP/2.0 400 Bad Expires"},
        {"contact expires 1e20",
         "REGISTER sip:127.0.0.1 SIP/2.0\r\n" VIA FROM TO CID
         "CSeq: 1 REGISTER\r\nContact: <sip:1001@127.0.0.1>;expires=1e20\r\n" END,
         "SIP/2.0 400 Bad Contact Expires"},
        {"star with contact", "REGISTER sip:127.0.0.1 SIP/2.0\r\n" VIA FROM TO CID
                              "CSeq: 1 REGISTER\r\nContact: *, <sip:a@b>\r\nExpires: 0\r\n" END,
         "SIP/2.0 400 "},
        {"star without expires 0", "REGISTER sip:127.0.0.1 SIP/2.0\r\n" VIA FROM TO CID
                                   "CSeq: 1 REGISTER\r\nContact: *\r\n" END,
         "SIP/2.0 400 "},
        {"version", "REGISTER sip:127.0.0.1 SIP/3.0\r\n" VIA FROM TO CID "CSeq: 1 REGISTER\r\n" END,
         "SIP/2.0 505 "},
        {"content-length too big",
         "REGISTER sip:127.0.0.1 SIP/2.0\r\n" VIA FROM TO CID
         "CSeq: 1 REGISTER\r\nMax-Forwards: 70\r\nContent-Length: 500\r\n\r\nabc",
         "SIP/2.0 400 Bad Content-Length"},
        {"out of order cseq", NULL, "SIP/2.0 500 Out Of Order CSeq"},
};

/* An expiry past 2^32-1, in the Expires header or a Contact's expires
 * parameter alike, is a long one: shortened to max-expires (7200), not
 * refused and not taken as 3600. */
Test(sip_wire, overlarge_expires_clamped_alike)
{
    static const char *const regs[] = {
            "REGISTER sip:127.0.0.1 SIP/2.0\r\n" VIA FROM TO CID "CSeq: 1 REGISTER\r\n"
            "Contact: <sip:1001@127.0.0.1:9>\r\nExpires: 99999999999999999999\r\n" END,
            "REGISTER sip:127.0.0.1 SIP/2.0\r\n" VIA FROM TO CID "CSeq: 1 REGISTER\r\n"
            "Contact: <sip:1001@127.0.0.1:9>;expires=99999999999999999999\r\n" END,
    };
    char msg[1024], resp[4096];
    struct hnode n;

    harness_node_init(&n, "sip1", NULL, dirs);
    harness_node_start(&n);
    for (int i = 0; i < 2; i++) {
        snprintf(msg, sizeof(msg), regs[i], 900 + i, 900 + i);
        cr_assert_gt(harness_udp_exchange(n.sip_port, msg, strlen(msg), resp, sizeof(resp), 3000),
                     0);
        cr_assert(strncmp(resp, "SIP/2.0 200 ", 12) == 0, "%s", resp);
        cr_assert_not_null(strstr(resp, ";expires=7200"), "%s", resp);
    }
    harness_node_stop(&n);
    harness_node_cleanup(&n);
}

Test(sip_wire, malformed_requests_get_400_with_reason)
{
    char msg[2048], resp[4096];
    struct hnode n;

    harness_node_init(&n, "sip1", NULL, dirs);
    harness_node_start(&n);
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *c = &bad_cases[i];

        if (c->msg == NULL)
            continue;
        snprintf(msg, sizeof(msg), c->msg, (int)i, (int)i);
        cr_assert_gt(harness_udp_exchange(n.sip_port, msg, strlen(msg), resp, sizeof(resp), 3000),
                     0, "%s: no answer", c->name);
        cr_expect(strncmp(resp, c->want, strlen(c->want)) == 0, "%s: want \"%s\", got:\n%s",
                  c->name, c->want, resp);
    }

    /* CSeq going backwards within one Call-ID: 500 (RFC 3261 §10.3 step 7). */
    const char *reg = "REGISTER sip:127.0.0.1 SIP/2.0\r\n" VIA FROM TO
                      "Call-ID: order-1\r\nCSeq: %d REGISTER\r\n"
                      "Contact: <sip:1001@127.0.0.1:9>\r\n" END;
    snprintf(msg, sizeof(msg), reg, 100, 5);
    harness_udp_exchange(n.sip_port, msg, strlen(msg), resp, sizeof(resp), 3000);
    cr_assert(strncmp(resp, "SIP/2.0 200 ", 12) == 0, "%s", resp);
    snprintf(msg, sizeof(msg), reg, 101, 4);
    harness_udp_exchange(n.sip_port, msg, strlen(msg), resp, sizeof(resp), 3000);
    cr_assert(strncmp(resp, "SIP/2.0 500 Out Of Order CSeq", 29) == 0, "%s", resp);

    /* Garbage with no Via cannot be answered: dropped and counted. */
    harness_udp_exchange(n.sip_port, "\x01\x02garbage\r\n\r\n", 13, resp, sizeof(resp), 300);
    cr_assert(harness_wait_metric(&n, "tcluster_sip_dropped_total{reason=\"unanswerable\"}", 1, 3000));
    cr_assert_eq(harness_http_get(n.http_port, "/healthz", NULL), 200);
    harness_node_stop(&n);
    harness_node_cleanup(&n);
}

static int tcp_connect(uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    struct timeval tv = {.tv_sec = 3, .tv_usec = 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* Read until the peer closes or times out; returns what arrived. */
static size_t tcp_read_all(int fd, char *buf, size_t cap)
{
    size_t len = 0;

    for (;;) {
        ssize_t r = recv(fd, buf + len, cap - 1 - len, 0);

        if (r <= 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    return len;
}

Test(sip_wire, tcp_oversize_and_unframed_messages)
{
    char big[80000], resp[8192];
    struct hnode n;
    int fd;

    harness_node_init(&n, "sip1", "max-sip-message = 4k", dirs);
    harness_node_start(&n);

    /* A head larger than max-sip-message: 513, then the connection closes. */
    fd = tcp_connect(n.sip_port);
    int len = snprintf(big, sizeof(big),
                       "REGISTER sip:127.0.0.1 SIP/2.0\r\n"
                       "Via: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK-big\r\n" FROM TO
                       "Call-ID: big\r\nCSeq: 1 REGISTER\r\nX-Pad: ");
    memset(big + len, 'a', 6000);
    len += 6000;
    len += snprintf(big + len, sizeof(big) - (size_t)len, "\r\nContent-Length: 0\r\n\r\n");
    cr_assert_eq(send(fd, big, (size_t)len, MSG_NOSIGNAL), len);
    tcp_read_all(fd, resp, sizeof(resp));
    cr_assert(strncmp(resp, "SIP/2.0 513 ", 12) == 0, "%s", resp);
    close(fd);

    /* Issue 13 defect 8: a 200 KB head that never ends, with or without
     * the headers an answer copies, or not SIP at all: 513 with its
     * reason on the connection, then the close. */
    static const char *const heads[] = {
            "REGISTER sip:127.0.0.1 SIP/2.0\r\n"
            "Via: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK-huge\r\n" FROM TO
            "Call-ID: huge\r\nCSeq: 1 REGISTER\r\nX-Pad: ",
            "REGISTER sip:127.0.0.1 SIP/2.0\r\nX-Pad: ",
            "",
    };
    static char huge[200 * 1024 + 512];
    for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
        size_t hl = strlen(heads[i]);

        fd = tcp_connect(n.sip_port);
        memcpy(huge, heads[i], hl);
        memset(huge + hl, 'a', 200 * 1024);
        /* The node may close while this is still sending: a short send is
         * fine, the answer must be there to read. */
        send(fd, huge, hl + 200 * 1024, MSG_NOSIGNAL);
        tcp_read_all(fd, resp, sizeof(resp));
        cr_assert(strncmp(resp, "SIP/2.0 513 Message Too Large\r\n", 31) == 0,
                  "head %zu: got \"%s\"", i, resp);
        close(fd);
    }

    /* No Content-Length on TCP: 400, then close. */
    fd = tcp_connect(n.sip_port);
    len = snprintf(big, sizeof(big),
                   "OPTIONS sip:127.0.0.1 SIP/2.0\r\n"
                   "Via: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK-ncl\r\n" FROM TO
                   "Call-ID: ncl\r\nCSeq: 1 OPTIONS\r\n\r\n");
    cr_assert_eq(send(fd, big, (size_t)len, MSG_NOSIGNAL), len);
    tcp_read_all(fd, resp, sizeof(resp));
    cr_assert(strncmp(resp, "SIP/2.0 400 ", 12) == 0, "%s", resp);
    close(fd);

    /* Two requests in one write are both answered on the connection. */
    fd = tcp_connect(n.sip_port);
    len = 0;
    for (int i = 0; i < 2; i++)
        len += snprintf(big + len, sizeof(big) - (size_t)len,
                        "OPTIONS sip:127.0.0.1 SIP/2.0\r\n"
                        "Via: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK-two%d\r\n" FROM TO
                        "Call-ID: two-%d\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
                        i, i);
    cr_assert_eq(send(fd, big, (size_t)len, MSG_NOSIGNAL), len);
    shutdown(fd, SHUT_WR);
    tcp_read_all(fd, resp, sizeof(resp));
    cr_assert_not_null(strstr(resp, "Call-ID: two-0"), "%s", resp);
    cr_assert_not_null(strstr(resp, "Call-ID: two-1"), "%s", resp);
    close(fd);
    cr_assert_eq(harness_http_get(n.http_port, "/healthz", NULL), 200);
    harness_node_stop(&n);
    harness_node_cleanup(&n);
}

Test(sip_wire, sipvicious_scans_find_extensions_and_do_no_harm)
{
    struct hnode n;
    char cmd[512];
    char *out;

    harness_node_init(&n, "sip1", NULL, dirs);
    harness_node_start(&n);
    /* A source port of this test's (by default they take 5060 when free,
     * where other tests' stray answers go). */
    snprintf(cmd, sizeof(cmd), "timeout 60 svmap -P%u -p%u 127.0.0.1", harness_free_port(),
             n.sip_port);
    cr_assert_eq(harness_run(cmd, &out), 0, "%s", out);
    cr_assert_not_null(strstr(out, "tcluster"), "%s", out);
    free(out);
    snprintf(cmd, sizeof(cmd), "timeout 120 svwar -e995-1010 -m REGISTER -P%u -p%u 127.0.0.1",
             harness_free_port(), n.sip_port);
    cr_assert_eq(harness_run(cmd, &out), 0, "%s", out);
    cr_assert_not_null(strstr(out, "1005"), "%s", out);
    cr_assert_null(strstr(out, "| 999 "), "999 is not a DN: %s", out);
    free(out);
    cr_assert_eq(harness_http_get(n.http_port, "/healthz", NULL), 200);
    cr_assert_eq(harness_node_stop(&n), 0);
    harness_node_cleanup(&n);
}
