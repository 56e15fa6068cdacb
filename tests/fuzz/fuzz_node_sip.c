/* libFuzzer target: the SIP port of a whole node (node_harness.h), request
 * bytes in, answer and table change out. Each input is one UDP datagram
 * sent to the node's SIP port from a loopback socket kept for the run; the
 * loop runs until the datagram was taken in and everything it started
 * (store commits, the answer) is done. The path is the real one: transport,
 * sip_msg, sip_server, registrar with digest, core, LMDB store, redirect.
 *
 * Checks, beyond "no crash, no sanitizer report":
 * - at most one answer, and it parses with our own parser as a response;
 * - it answers this request: same Call-ID, CSeq number and method; a
 *   request our parser refuses gets the status the parser names;
 * - a 200 to a REGISTER lists exactly the DN's live bindings, and when it
 *   lists any the DN is InSrv, owned by this node from SIP; when it lists
 *   none this node holds no SIP claim on it;
 * - any other answer (or none) leaves the table and the bindings as they
 *   were;
 * - after every input the table and bindings stay within the directory and
 *   max-contacts (fnode_check_bounds).
 * The answer goes to the Via's port unless the Via has rport: the seeds
 * carry rport, so that most answers come back here; for the others the
 * server's own counts tell which status was sent. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/base/clock.h"
#include "server/sip/sip_msg.h"
#include "server/sip/sip_transport.h"
#include "tests/fuzz/node_harness.h"

#define MAX_DATAGRAM 65000
#define WAIT_MS      5000

static int udp_fd = -1;
static struct sockaddr_in sip_addr;
static char reply[70000];

/* Parse bounds for answers: ours are never refused for their size. */
static const struct sip_msg_conf reply_conf = {1 << 20, 4096, 1 << 20, 0};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct sockaddr_in me = {.sin_family = AF_INET};

    (void)argc;
    (void)argv;
    fnode_start();
    udp_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    me.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (udp_fd < 0 || bind(udp_fd, (struct sockaddr *)&me, sizeof(me)) != 0)
        fnode_fail("udp socket: %s", strerror(errno));
    sip_addr.sin_family = AF_INET;
    sip_addr.sin_port = htons(fnode.sip_port);
    sip_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return 0;
}

/* Sum of the server's answer counts, and which (method, code) pair grew
 * since before (code 0 if none). */
static uint64_t answers(void)
{
    const struct sip_server *s = &fnode.node.sip;
    uint64_t n = 0;

    for (unsigned i = 0; i < s->n_counts; i++)
        n += s->counts[i].n;
    return n;
}

static int code_since(const struct sip_server_count *before, unsigned n_before)
{
    const struct sip_server *s = &fnode.node.sip;

    for (unsigned i = 0; i < s->n_counts; i++) {
        if (i >= n_before || s->counts[i].n != before[i].n)
            return s->counts[i].code;
    }
    return 0;
}

static uint64_t datagrams(void)
{
    struct sip_transport_stats st;

    sip_transport_stats(fnode.node.sip.transport, &st);
    return st.udp_datagrams;
}

/* Send data and run the node until it is done with it; returns the length
 * of the answer that came back (0: none). */
static size_t exchange(const uint8_t *data, size_t size)
{
    uint64_t taken = datagrams(), deadline = uv_hrtime() + (uint64_t)WAIT_MS * 1000000;
    size_t got = 0;
    int quiet = 0;

    if (sendto(udp_fd, data, size, 0, (struct sockaddr *)&sip_addr, sizeof(sip_addr)) < 0)
        fnode_fail("sendto: %s", strerror(errno));
    /* Done when the datagram was read, nothing is on its way, and one more
     * turn has run (UDP answers leave at the end of a turn). */
    while (quiet < 2) {
        ssize_t n;

        fnode_step(udp_fd, POLLIN, 1);
        while ((n = recv(udp_fd, reply, sizeof(reply) - 1, 0)) >= 0) {
            if (got > 0)
                fnode_fail("a second answer to one request");
            got = (size_t)n;
            if (got == 0)
                fnode_fail("an empty datagram as answer");
        }
        if (datagrams() > taken && fnode_settled())
            quiet++;
        else
            quiet = 0;
        if (uv_hrtime() > deadline)
            fnode_fail("no end to a request within %d ms", WAIT_MS);
    }
    reply[got] = '\0';
    return got;
}

/* A 200 to a REGISTER: the bindings it lists are the DN's, and the claim
 * follows them. */
static void check_register_ok(const struct sip_msg *req, struct sip_msg *ans)
{
    struct tc_node *n = &fnode.node;
    const struct sip_contacts *cs;
    const struct dn_entry *e;
    uint64_t k = fnode_dn_key(req->to.user, req->to.user ? strlen(req->to.user) : 0);
    unsigned live;

    if (k == 0)
        fnode_fail("200 to a REGISTER for \"%s\", not a DN of the directory",
                   req->to.user ? req->to.user : "(none)");
    if (sip_msg_contacts(ans, &cs) != 0)
        fnode_fail("the 200's Contact does not parse");
    live = core_live_bindings(&n->core, k, tc_now_ms());
    if (cs->star || cs->n != live)
        fnode_fail("the 200 lists %zu contacts, the DN has %u live bindings", cs->n, live);
    e = dn_table_get(&n->table, k);
    if (live > 0 && (e == NULL || e->owner != DN_NODE_SELF || e->source != DN_SOURCE_SIP ||
                     dn_table_status(&n->table, k) != DN_INSRV))
        fnode_fail("a 200 with %u bindings, yet the DN is not InSrv owned here from SIP", live);
    if (live == 0 && e != NULL && e->owner == DN_NODE_SELF && e->source == DN_SOURCE_SIP)
        fnode_fail("a 200 with no binding, yet the DN is still claimed here from SIP");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sip_server_count before[SIP_SERVER_MAX_CODES];
    unsigned n_before = fnode.node.sip.n_counts;
    uint64_t digest = fnode_digest(), answered = answers();
    struct sip_msg *req = NULL, *ans = NULL;
    struct sip_msg_err err;
    int req_rc, code;
    size_t len;

    if (size == 0 || size > MAX_DATAGRAM)
        return -1;
    memcpy(before, fnode.node.sip.counts, sizeof(before));
    req_rc = sip_msg_parse((const char *)data, size, &fnode.node.sip.conf, &req, &err);
    len = exchange(data, size);
    code = code_since(before, n_before);
    if (len > 0 && req_rc != 0) {
        /* An answer to what our parser refuses may lack what the request
         * lacked (Call-ID, CSeq): its status line must name the refusal. */
        char line[32];

        snprintf(line, sizeof(line), "SIP/2.0 %d ", err.code);
        if (strncmp(reply, line, strlen(line)) != 0)
            fnode_fail("a request refused with %d (%s) answered: %.200s", err.code, err.reason,
                       reply);
        if (code != 0 && code != err.code)
            fnode_fail("answered %d, counted %d", err.code, code);
        code = err.code;
    } else if (len > 0) {
        struct sip_msg_err aerr = {0};

        if (sip_msg_parse(reply, len, &reply_conf, &ans, &aerr) != 0 || ans->is_request)
            fnode_fail("the answer is not a SIP response (%s): %.200s",
                       aerr.reason ? aerr.reason : "", reply);
        if (code != 0 && code != ans->status)
            fnode_fail("answered %d, counted %d", ans->status, code);
        code = ans->status;
        if ((!req->is_request || req->method_id == SIP_METHOD_ACK))
            fnode_fail("a %s was answered", req->is_request ? "ACK" : "response");
        if ((strcmp(ans->call_id, req->call_id) != 0 || ans->cseq != req->cseq ||
             strcmp(ans->cseq_method, req->cseq_method) != 0))
            fnode_fail("the answer's Call-ID/CSeq (%s, %u %s) are not the request's (%s, %u %s)",
                       ans->call_id, ans->cseq, ans->cseq_method, req->call_id, req->cseq,
                       req->cseq_method);
    } else if (answers() > answered + (code == 0 ? 0 : 1)) {
        fnode_fail("several answers counted for one request");
    }
    if (code == 200 && req_rc == 0 && req->method_id == SIP_METHOD_REGISTER && ans != NULL)
        check_register_ok(req, ans);
    else if (!(code >= 200 && code < 300 && req_rc == 0 && req->method_id == SIP_METHOD_REGISTER) &&
             fnode_digest() != digest)
        fnode_fail("the table or the bindings changed, yet the answer was %d", code);
    fnode_check_bounds();
    sip_msg_free(ans);
    sip_msg_free(req);
    return 0;
}
