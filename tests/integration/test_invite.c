/* Call delivery on a 3-node cluster (DESIGN §6, issue 11): INVITEs answered
 * as a stateless redirect server, with SIPp (sip-tester) as the caller and
 * raw UDP where the test reads the answer's headers: 302 to the phone or
 * to the owner's node with the tc-fwd marker, the marked INVITE answered
 * locally, 404, 480, 483, CANCEL, ACK, retransmissions, SDP bodies,
 * dr-forward and its SIGHUP reload, shared lines whose preferred site
 * is frozen, killed and restarted, routing points with most agents and
 * local first. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/integration/harness_cluster.h"
#include "tests/tc_test.h"

TestSuite(invite, .fini = tc_test_leak_check, .timeout = 240);

/* Beside the cluster's 1000-1499: a shared line preferring sip2, a
 * routing point over 1610-1619, a DN that is never forwarded. */
static const char sections[] = "\n[dn 1500]\nshared-line = true\nmembers = 1501,1502\n"
                               "sca-preferred-site = sip2\n"
                               "\n[dn 1501-1502]\n"
                               "\n[dn 1600]\ntype = routing-point\ngroup = 1610-1619\n"
                               "distribution = most-agents\n"
                               "\n[dn 1601]\ntype = routing-point\ngroup = 1610-1619\n"
                               "distribution = local-first\n"
                               "\n[dn 1610-1619]\n"
                               "\n[dn 1700]\ndr-forward = off\n";

static void start(struct hcluster *c, const char *extra_node)
{
    hcluster_init(c, 3, "1000-1499", extra_node);
    for (int i = 0; i < 3; i++)
        hcluster_write_config(c, i, extra_node, sections);
    hcluster_start(c);
    cr_assert(hcluster_wait_all_links(c, 15000), "links not up");
}

static void reg(struct hcluster *c, int i, const char *dn)
{
    cr_assert_eq(hcluster_register(&c->n[i], dn), 0, "register %s at %s", dn, c->n[i].name);
}

/* Send one request over UDP to node n and return the answer's status (0:
 * none within ms); the answer is in resp. */
static int send_req(const struct hnode *n, const char *method, const char *ruri,
                    const char *call_id, const char *extra, const char *body, char *resp,
                    size_t cap, int ms)
{
    char msg[4096];
    int len, got;

    len = snprintf(msg, sizeof(msg),
                   "%s %s SIP/2.0\r\n"
                   "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-%s;rport\r\n"
                   "From: <sip:caller@127.0.0.1>;tag=ft-%s\r\n"
                   "To: <%s>\r\n"
                   "Call-ID: %s\r\n"
                   "CSeq: 1 %s\r\n"
                   "%s"
                   "Content-Length: %zu\r\n\r\n%s",
                   method, ruri, call_id, call_id, ruri, call_id, method,
                   extra != NULL ? extra : "Max-Forwards: 70\r\n", body ? strlen(body) : 0,
                   body ? body : "");
    cr_assert(len > 0 && (size_t)len < sizeof(msg));
    got = harness_udp_exchange(n->sip_port, msg, (size_t)len, resp, cap, ms);
    if (got <= 0)
        return 0;
    return strncmp(resp, "SIP/2.0 ", 8) == 0 ? atoi(resp + 8) : -1;
}

static int invite(const struct hnode *n, const char *ruri, const char *call_id, char *resp,
                  size_t cap)
{
    return send_req(n, "INVITE", ruri, call_id, NULL, NULL, resp, cap, 3000);
}

/* The value of the first header line "name: ..." of resp, in out. */
static const char *hdr(const char *resp, const char *name, char *out, size_t size)
{
    char pat[64];
    const char *p, *end;

    snprintf(pat, sizeof(pat), "\r\n%s: ", name);
    p = strstr(resp, pat);
    if (p == NULL)
        return "";
    p += strlen(pat);
    end = strstr(p, "\r\n");
    snprintf(out, size, "%.*s", (int)(end - p), p);
    return out;
}

/* Run a SIPp scenario of tests/sip as the caller of dn (with the one
 * Request-URI parameter param) at node n; code 302 runs invite_302.xml, another
 * invite_expect.xml for that code. Returns SIPp's exit code. */
static int sipp_call(const struct hnode *n, const char *dn, const char *params, int code,
                     const char *tr)
{
    char csv[400], xml[400], cmd[2000];
    char *out;
    FILE *f;
    int rc;

    snprintf(csv, sizeof(csv), "%s/invite-%d.csv", n->dir, (int)getpid());
    f = fopen(csv, "w");
    cr_assert_not_null(f);
    fprintf(f, "SEQUENTIAL\n%s;%s;\n", dn, params);
    fclose(f);
    if (code == 302) {
        snprintf(xml, sizeof(xml), "%s/tests/sip/invite_302.xml", TC_SOURCE_DIR);
    } else {
        snprintf(xml, sizeof(xml), "%s/invite_expect_%d.xml", n->dir, code);
        snprintf(cmd, sizeof(cmd), "sed 's/@CODE@/%d/' '%s/tests/sip/invite_expect.xml' > '%s'",
                 code, TC_SOURCE_DIR, xml);
        cr_assert_eq(harness_run(cmd, NULL), 0);
    }
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && timeout 60 sipp -sf '%s' -inf '%s' -m 1 -nostdin -timeout 20 "
             "-timeout_error -t %s -i 127.0.0.1 -p %u 127.0.0.1:%u -trace_err",
             n->dir, xml, csv, tr, harness_free_port(), n->sip_port);
    rc = harness_run(cmd, &out);
    if (rc != 0)
        cr_log_info("sipp %s %d: %s", dn, code, out);
    free(out);
    return rc;
}

static bool link_down(void *arg)
{
    const struct hnode *n = arg;

    return harness_node_metric(n, "tcluster_peer_link_up{peer=\"sip2\"}") == 0;
}

static bool link_up(void *arg)
{
    const struct hnode *n = arg;

    return harness_node_metric(n, "tcluster_peer_link_up{peer=\"sip2\"}") == 1;
}

/* The agent DN of the Contact of a 302 ("<sip:1611@..."), or "". */
static const char *agent(const char *resp, char *v, size_t cap)
{
    char *at;

    hdr(resp, "Contact", v, cap);
    at = strchr(v, '@');
    if (strncmp(v, "<sip:", 5) != 0 || at == NULL)
        return "";
    *at = '\0';
    return v + 5;
}

Test(invite, redirects_to_the_phone_or_the_owner_node)
{
    struct hcluster c;
    char resp[4096], again[4096], v[512], want[256];
    struct hnode *n1, *n2;

    start(&c, NULL);
    n1 = &c.n[0];
    n2 = &c.n[1];
    reg(&c, 0, "1001");
    reg(&c, 1, "1002");
    reg(&c, 1, "1700");
    cr_assert(hcluster_wait_owner(&c, "1002", "sip2", 10000));
    cr_assert(hcluster_wait_owner(&c, "1700", "sip2", 10000));

    /* Owned here: the phone's Contact. */
    cr_assert_eq(invite(n1, "sip:1001@127.0.0.1", "own-1", resp, sizeof(resp)), 302, "%s", resp);
    cr_assert(strstr(hdr(resp, "Contact", v, sizeof(v)), "<sip:1001@127.0.0.1:") == v, "%s", v);
    cr_assert_not_null(strstr(v, ";expires="), "%s", v);
    cr_assert(atoi(hdr(resp, "Expires", v, sizeof(v))) > 0);

    /* Owned by node 2: to its SIP address, marked by node 1. */
    cr_assert_eq(invite(n1, "sip:1002@127.0.0.1", "fwd-1", resp, sizeof(resp)), 302, "%s", resp);
    snprintf(want, sizeof(want), "<sip:1002@127.0.0.1:%u;tc-fwd=sip1>", n2->sip_port);
    cr_assert_str_eq(hdr(resp, "Contact", v, sizeof(v)), want);

    /* The marked INVITE at node 2: answered from its own state. */
    snprintf(want, sizeof(want), "sip:1002@127.0.0.1:%u;tc-fwd=sip1", n2->sip_port);
    cr_assert_eq(invite(n2, want, "fwd-2", resp, sizeof(resp)), 302, "%s", resp);
    cr_assert(strstr(hdr(resp, "Contact", v, sizeof(v)), "<sip:1002@127.0.0.1:") == v, "%s", v);
    cr_assert_null(strstr(v, "tc-fwd"));
    /* ... and never forwarded again, even when the DN is elsewhere. */
    cr_assert_eq(invite(n2, "sip:1001@127.0.0.1;tc-fwd=sip1", "loop-1", resp, sizeof(resp)), 480,
                 "%s", resp);

    /* Refusals. */
    cr_assert_eq(invite(n1, "sip:9999@127.0.0.1", "nf-1", resp, sizeof(resp)), 404);
    cr_assert_eq(invite(n1, "sip:alice@127.0.0.1", "nf-2", resp, sizeof(resp)), 404);
    cr_assert_eq(invite(n1, "sip:1003@127.0.0.1", "oos-1", resp, sizeof(resp)), 480);
    cr_assert_eq(invite(n1, "sip:1700@127.0.0.1", "off-1", resp, sizeof(resp)), 480);
    cr_assert_eq(send_req(n1, "INVITE", "sip:1001@127.0.0.1", "mf-1", "Max-Forwards: 0\r\n", NULL,
                          resp, sizeof(resp), 3000),
                 483);
    cr_assert_eq(send_req(n1, "CANCEL", "sip:1001@127.0.0.1", "own-1", NULL, NULL, resp,
                          sizeof(resp), 3000),
                 200);
    cr_assert_eq(
            send_req(n1, "ACK", "sip:1001@127.0.0.1", "own-1", NULL, NULL, resp, sizeof(resp), 300),
            0);

    /* A retransmission gets the same answer, To tag included. */
    cr_assert_eq(invite(n1, "sip:1002@127.0.0.1", "rt-1", resp, sizeof(resp)), 302);
    cr_assert_eq(invite(n1, "sip:1002@127.0.0.1", "rt-1", again, sizeof(again)), 302);
    hdr(resp, "To", want, sizeof(want));
    cr_assert_not_null(strstr(want, ";tag="), "%s", want);
    cr_assert_str_eq(hdr(again, "To", v, sizeof(v)), want);
    cr_assert_str_eq(hdr(again, "Contact", v, sizeof(v)), hdr(resp, "Contact", want, sizeof(want)));

    /* An SDP offer is carried, never read. */
    cr_assert_eq(send_req(n1, "INVITE", "sip:1001@127.0.0.1", "sdp-1",
                          "Max-Forwards: 70\r\nContent-Type: application/sdp\r\n",
                          "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
                          "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",
                          resp, sizeof(resp), 3000),
                 302);

    /* SIPp as the caller, over UDP and TCP, acknowledging each answer. */
    cr_assert_eq(sipp_call(n1, "1001", "user=phone", 302, "u1"), 0);
    cr_assert_eq(sipp_call(n1, "1001", "user=phone", 302, "t1"), 0);
    cr_assert_eq(sipp_call(n1, "1002", "user=phone", 302, "u1"), 0);
    cr_assert_eq(sipp_call(n2, "1002", "tc-fwd=sip1", 302, "u1"), 0);
    cr_assert_eq(sipp_call(n2, "1001", "tc-fwd=sip1", 480, "u1"), 0);
    cr_assert_eq(sipp_call(n1, "9999", "user=phone", 404, "t1"), 0);
    cr_assert_eq(sipp_call(n1, "1003", "user=phone", 480, "u1"), 0);

    cr_assert(harness_node_metric(n1, "tcluster_redirect_decisions_total{outcome=\"forwarded\"}") >= 2);
    cr_assert(harness_node_metric(n1, "tcluster_sip_responses_total{method=\"INVITE\",code=\"483\"}") ==
              1);

    /* SIGHUP turns dr-forward off for the next call, and on again. */
    hcluster_write_config(&c, 0, "dr-forward = off\n", sections);
    kill(n1->pid, SIGHUP);
    cr_assert(harness_wait_metric(n1, "tcluster_reloads_total{result=\"ok\"}", 1, 5000));
    cr_assert_eq(invite(n1, "sip:1002@127.0.0.1", "hup-1", resp, sizeof(resp)), 480, "%s", resp);
    cr_assert_eq(invite(n1, "sip:1001@127.0.0.1", "hup-2", resp, sizeof(resp)), 302);
    hcluster_write_config(&c, 0, "dr-forward = on\n", sections);
    kill(n1->pid, SIGHUP);
    cr_assert(harness_wait_metric(n1, "tcluster_reloads_total{result=\"ok\"}", 2, 5000));
    cr_assert_eq(invite(n1, "sip:1002@127.0.0.1", "hup-3", resp, sizeof(resp)), 302, "%s", resp);
    hcluster_cleanup(&c);
}

Test(invite, shared_lines_and_routing_points)
{
    struct hcluster c;
    char resp[4096], v[512], want[sizeof(v)];
    struct hnode *n1, *n2;

    start(&c, NULL);
    n1 = &c.n[0];
    n2 = &c.n[1];
    reg(&c, 0, "1501");
    reg(&c, 0, "1610");
    reg(&c, 1, "1611");
    reg(&c, 1, "1612");
    cr_assert(hcluster_wait_owner(&c, "1612", "sip2", 10000));
    cr_assert(hcluster_wait_owner(&c, "1611", "sip2", 10000));
    cr_assert(hcluster_wait_owner(&c, "1610", "sip1", 10000));

    /* Routing point, most agents: node 2 has two, node 1 one. */
    cr_assert_eq(invite(n1, "sip:1600@127.0.0.1", "rp-1", resp, sizeof(resp)), 302, "%s", resp);
    snprintf(want, sizeof(want), "<sip:1600@127.0.0.1:%u;tc-fwd=sip1>", n2->sip_port);
    cr_assert_str_eq(hdr(resp, "Contact", v, sizeof(v)), want);
    /* Marked at node 2: one of its own agents. */
    snprintf(want, sizeof(want), "sip:1600@127.0.0.1:%u;tc-fwd=sip1", n2->sip_port);
    cr_assert_eq(invite(n2, want, "rp-2", resp, sizeof(resp)), 302, "%s", resp);
    hdr(resp, "Contact", v, sizeof(v));
    cr_assert(strstr(v, "<sip:1611@") == v || strstr(v, "<sip:1612@") == v, "%s", v);

    /* Routing point, local first: node 2 offers its own agents, least
     * recently offered first; node 1 its one agent. */
    cr_assert_eq(invite(n2, "sip:1601@127.0.0.1", "lf-1", resp, sizeof(resp)), 302, "%s", resp);
    snprintf(want, sizeof(want), "%s", agent(resp, v, sizeof(v)));
    cr_assert(strcmp(want, "1611") == 0 || strcmp(want, "1612") == 0, "%s", resp);
    cr_assert_eq(invite(n2, "sip:1601@127.0.0.1", "lf-2", resp, sizeof(resp)), 302, "%s", resp);
    cr_assert_str_eq(agent(resp, v, sizeof(v)), strcmp(want, "1611") == 0 ? "1612" : "1611");
    cr_assert_eq(invite(n1, "sip:1601@127.0.0.1", "lf-3", resp, sizeof(resp)), 302, "%s", resp);
    cr_assert_str_eq(agent(resp, v, sizeof(v)), "1610");

    /* Shared line: the preferred site while it is up. */
    cr_assert_eq(invite(n1, "sip:1500@127.0.0.1", "sca-1", resp, sizeof(resp)), 302, "%s", resp);
    snprintf(want, sizeof(want), "<sip:1500@127.0.0.1:%u;tc-fwd=sip1>", n2->sip_port);
    cr_assert_str_eq(hdr(resp, "Contact", v, sizeof(v)), want);

    /* Its node frozen (cut off): the members here; thawed: the site again. */
    kill(n2->pid, SIGSTOP);
    cr_assert(harness_wait(link_down, n1, 10000), "sip2's link still up at sip1");
    cr_assert_eq(invite(n1, "sip:1500@127.0.0.1", "sca-f", resp, sizeof(resp)), 302, "%s", resp);
    cr_assert_str_eq(agent(resp, v, sizeof(v)), "1501");
    kill(n2->pid, SIGCONT);
    cr_assert(harness_wait(link_up, n1, 15000), "sip2's link not back at sip1");
    cr_assert_eq(invite(n1, "sip:1500@127.0.0.1", "sca-t", resp, sizeof(resp)), 302, "%s", resp);
    cr_assert_str_eq(hdr(resp, "Contact", v, sizeof(v)), want);

    /* Its node killed: the members here. */
    harness_node_kill(n2);
    cr_assert(harness_wait(link_down, n1, 10000), "sip2's link still up at sip1");
    cr_assert_eq(invite(n1, "sip:1500@127.0.0.1", "sca-2", resp, sizeof(resp)), 302, "%s", resp);
    cr_assert(strstr(hdr(resp, "Contact", v, sizeof(v)), "<sip:1501@127.0.0.1:") == v, "%s", v);
    /* And the routing point keeps its calls here. */
    cr_assert_eq(invite(n1, "sip:1600@127.0.0.1", "rp-3", resp, sizeof(resp)), 302, "%s", resp);
    cr_assert(strstr(hdr(resp, "Contact", v, sizeof(v)), "<sip:1610@127.0.0.1:") == v, "%s", v);

    /* Recovered: the preferred site takes its calls again. */
    harness_node_start(n2);
    cr_assert(harness_wait(link_up, n1, 15000), "sip2's link not back at sip1");
    cr_assert_eq(invite(n1, "sip:1500@127.0.0.1", "sca-3", resp, sizeof(resp)), 302, "%s", resp);
    cr_assert_str_eq(hdr(resp, "Contact", v, sizeof(v)), want);
    hcluster_cleanup(&c);
}
