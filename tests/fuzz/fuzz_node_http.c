/* libFuzzer target: the HTTP port of a whole node (node_harness.h), with
 * its real handler: /metrics (every module's families rendered from the
 * live node), /healthz, 404, 405. Each input is sent over a fresh TCP
 * connection, which is then shut down for writing; the loop runs until the
 * node has closed it.
 *
 * Checks, beyond "no crash, no sanitizer report":
 * - what comes back is a sequence of whole HTTP/1.1 responses (parsed by
 *   http-parser, the library the server uses for requests), each with a
 *   status the server may send, and nothing after them;
 * - every complete request gets an answer, up to an error answer that
 *   ends the connection, and at most one more answer comes (the error
 *   that ends a bad request);
 * - a 200 to /metrics is Prometheus text: comment lines, or a metric name
 *   with optional labels, a space and a value;
 * - the node always closes the connection once the client is done, and
 *   HTTP never changes the table or the bindings. */
#define _GNU_SOURCE /* memmem */
#include <ctype.h>
#include <errno.h>
#include <http_parser.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/fuzz/node_harness.h"

#define WAIT_MS 5000

/* Requests as http-parser reads them: how many complete, and for each
 * whether it asked for /metrics (the first 64). */
struct requests {
    unsigned n;
    uint64_t metrics, head;
    bool is_metrics;
    bool closed; /* a request asked to close after its answer: no more count */
};

struct responses {
    unsigned n;
    unsigned last_status;
    const struct requests *req;
    struct tc_buf body;
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fnode_start();
    return 0;
}

static int on_req_url(http_parser *hp, const char *at, size_t len)
{
    struct requests *r = hp->data;

    /* A HEAD refused later still gets an answer without a body. */
    if (hp->method == HTTP_HEAD && r->n < 64 && !r->closed)
        r->head |= 1ull << r->n;
    r->is_metrics = len >= 8 && memcmp(at, "/metrics", 8) == 0 && (len == 8 || at[8] == '?');
    return 0;
}

static int on_req_done(http_parser *hp)
{
    struct requests *r = hp->data;

    if (r->closed)
        return 0;
    r->closed = !http_should_keep_alive(hp);
    if (r->is_metrics && hp->method == HTTP_GET && r->n < 64)
        r->metrics |= 1ull << r->n;
    if (hp->method == HTTP_HEAD && r->n < 64)
        r->head |= 1ull << r->n;
    r->n++;
    return 0;
}

static void read_requests(const uint8_t *data, size_t size, struct requests *r)
{
    http_parser_settings st;
    http_parser hp;

    memset(r, 0, sizeof(*r));
    http_parser_settings_init(&st);
    st.on_url = on_req_url;
    st.on_message_complete = on_req_done;
    http_parser_init(&hp, HTTP_REQUEST);
    hp.data = r;
    http_parser_execute(&hp, &st, (const char *)data, size);
}

/* One metric line: name{labels} value. */
static void check_metric_line(const char *p, size_t len)
{
    size_t i = 0;

    if (len == 0 || p[0] == '#')
        return;
    while (i < len && (isalnum((unsigned char)p[i]) || p[i] == '_' || p[i] == ':'))
        i++;
    if (i == 0 || isdigit((unsigned char)p[0]))
        fnode_fail("metrics line without a name: %.*s", (int)len, p);
    if (i < len && p[i] == '{') {
        while (i < len && p[i] != '}')
            i++;
        i++;
    }
    if (i >= len || p[i] != ' ' || i + 1 == len)
        fnode_fail("metrics line without a value: %.*s", (int)len, p);
    for (i++; i < len; i++) {
        if (!isalnum((unsigned char)p[i]) && strchr("+-.e", p[i]) == NULL)
            fnode_fail("metrics line with a bad value: %.*s", (int)len, p);
    }
}

static int on_res_body(http_parser *hp, const char *at, size_t len)
{
    struct responses *r = hp->data;

    tc_buf_append(&r->body, at, len);
    return 0;
}

/* A response to HEAD has no body, whatever its Content-Length says. */
static int on_res_headers(http_parser *hp)
{
    struct responses *r = hp->data;

    return r->n < 64 && (r->req->head >> r->n & 1) ? 1 : 0;
}

static int on_res_done(http_parser *hp)
{
    static const int ok[] = {200, 400, 404, 405, 408, 413, 414, 431, 500, 501, 503, 505};
    struct responses *r = hp->data;
    bool known = false;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        known |= hp->status_code == ok[i];
    if (!known)
        fnode_fail("HTTP status %u", hp->status_code);
    if (r->n < 64 && (r->req->metrics >> r->n & 1) && hp->status_code == 200) {
        const char *p = r->body.data, *end = p + r->body.len;

        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));

            if (nl == NULL)
                fnode_fail("metrics text does not end with a newline");
            check_metric_line(p, (size_t)(nl - p));
            p = nl + 1;
        }
    }
    tc_buf_reset(&r->body);
    r->last_status = hp->status_code;
    r->n++;
    return 0;
}

/* Send data on a fresh connection and read until the node closes it. */
static void exchange(const uint8_t *data, size_t size, struct tc_buf *in)
{
    uint64_t deadline = uv_hrtime() + (uint64_t)WAIT_MS * 1000000;
    int fd = fnode_connect(fnode.http_port);
    bool writing = true, open = true;
    size_t off = 0;
    char buf[65536];

    while (open) {
        ssize_t n;

        fnode_step(fd, (short)(POLLIN | (writing ? POLLOUT : 0)), 1);
        while (writing && off < size) {
            n = send(fd, data + off, size - off, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno != EAGAIN && errno != ENOTCONN && errno != EINTR)
                    writing = false;
                break;
            }
            off += (size_t)n;
        }
        if (writing && off == size && (shutdown(fd, SHUT_WR) == 0 || errno != ENOTCONN))
            writing = false;
        while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
            tc_buf_append(in, buf, (size_t)n);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR && errno != ENOTCONN))
            open = false;
        if (uv_hrtime() > deadline)
            fnode_fail("the node did not close the HTTP connection within %d ms", WAIT_MS);
    }
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t digest = fnode_digest();
    struct tc_buf in = TC_BUF_INIT;
    struct responses res = {.body = TC_BUF_INIT};
    struct requests req;
    http_parser_settings st;
    http_parser hp;
    size_t used;
    bool stream;

    read_requests(data, size, &req);
    exchange(data, size, &in);
    http_parser_settings_init(&st);
    st.on_headers_complete = on_res_headers;
    st.on_body = on_res_body;
    st.on_message_complete = on_res_done;
    http_parser_init(&hp, HTTP_RESPONSE);
    hp.data = &res;
    res.req = &req;
    used = http_parser_execute(&hp, &st, in.data, in.len);
    /* A response without Content-Length ends at the close. */
    if (used == in.len && hp.http_errno == HPE_OK)
        http_parser_execute(&hp, &st, NULL, 0);
    if (used != in.len || hp.http_errno != HPE_OK)
        fnode_fail("response %u does not parse at byte %zu of %zu: %s; the answers:\n%.*s", res.n,
                   used, in.len, http_errno_description(HTTP_PARSER_ERRNO(&hp)),
                   (int)(in.len < 2000 ? in.len : 2000), in.data);
    /* Fewer answers only when the last one refused a request (an invalid
     * URL, say) and closed, or was the live page's event stream
     * (GET /events), which keeps the connection to itself: requests
     * pipelined behind it are never read. */
    stream = res.last_status == 200 && in.len > 0 &&
             memmem(in.data, in.len, "text/event-stream", 17) != NULL;
    if (res.n < req.n && (res.n == 0 || (res.last_status < 400 && !stream)))
        fnode_fail("%u requests, %u answers, the last %u", req.n, res.n, res.last_status);
    if (res.n > req.n + 1)
        fnode_fail("%u requests, %u answers", req.n, res.n);
    if (fnode_digest() != digest)
        fnode_fail("an HTTP request changed the table");
    tc_buf_free(&in);
    tc_buf_free(&res.body);
    return 0;
}
