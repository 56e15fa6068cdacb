/* The live page on a real tcnode's HTTP port (DESIGN §10): the page and its
 * assets, the event stream following a registration and a killed peer,
 * and the cap on event streams. Clients are curl, sipsak and raw sockets; every wait
 * has a deadline. */
#define _GNU_SOURCE /* memmem */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/base/buf.h"
#include "tests/integration/harness.h"
#include "tests/integration/harness_cluster.h"
#include "tests/tc_test.h"

TestSuite(live_page, .fini = tc_test_leak_check, .timeout = 180);

#define WAIT_MS       15000
#define EVENT_CLIENTS 16 /* the HTTP server's default cap on event streams */

static char *sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *sh(const char *fmt, ...)
{
    char cmd[2048];
    char *out = NULL;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    harness_run(cmd, &out);
    return out != NULL ? out : strdup("");
}

/* A raw connection reading /events. */
struct stream {
    int fd;
    struct tc_buf in;
};

static void stream_open(struct stream *s, uint16_t port, int rcvbuf)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    const char req[] = "GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n";

    s->in = (struct tc_buf)TC_BUF_INIT;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(s->fd, 0);
    if (rcvbuf > 0)
        setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(s->fd, (struct sockaddr *)&sin, sizeof(sin)), 0, "connect: %s",
                 strerror(errno));
    cr_assert_eq(send(s->fd, req, sizeof(req) - 1, MSG_NOSIGNAL), (ssize_t)sizeof(req) - 1);
}

/* Read until s->in holds every needle (in any order), or fail at ms. */
static void stream_wait(struct stream *s, int ms, const char *const *needles, size_t n)
{
    uint64_t deadline = harness_now_ms() + (uint64_t)harness_ms(ms);

    for (;;) {
        struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
        char chunk[16384];
        size_t found = 0;
        ssize_t got;

        for (size_t i = 0; i < n; i++)
            found += s->in.data != NULL && strstr(s->in.data, needles[i]) != NULL;
        if (found == n)
            return;
        cr_assert_lt(harness_now_ms(), deadline, "missing %s in: %.2000s", needles[0],
                     s->in.data != NULL ? s->in.data : "");
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        got = recv(s->fd, chunk, sizeof(chunk), 0);
        cr_assert_gt(got, 0, "stream closed: %.500s", s->in.data != NULL ? s->in.data : "");
        tc_buf_append(&s->in, chunk, (size_t)got);
    }
}

static void stream_close(struct stream *s)
{
    close(s->fd);
    tc_buf_free(&s->in);
}

Test(live_page, page_and_assets_are_served_embedded)
{
    struct hnode n;
    char *out;

    harness_node_init(&n, "sip1", NULL, "[dn 1000-1999]\ntype = extension\n");
    harness_node_start(&n);
    out = sh("curl -sS -i --noproxy '*' --max-time 10 http://127.0.0.1:%u/", n.http_port);
    cr_assert(strstr(out, "HTTP/1.1 200 OK\r\n") != NULL, "%s", out);
    cr_assert(strstr(out, "Content-Type: text/html; charset=utf-8\r\n") != NULL, "%s", out);
    cr_assert(strstr(out, "<title>tcluster</title>") != NULL, "%s", out);
    cr_assert(strstr(out, "src=\"/page.js\"") != NULL, "%s", out);
    free(out);
    out = sh("curl -sS -i --noproxy '*' --max-time 10 http://127.0.0.1:%u/page.js", n.http_port);
    cr_assert(strstr(out, "Content-Type: text/javascript; charset=utf-8\r\n") != NULL, "%s", out);
    cr_assert(strstr(out, "new EventSource('/events')") != NULL, "%s", out);
    free(out);
    /* Nothing is fetched from elsewhere: no absolute URL in any asset. */
    out = sh("for a in / /page.js /page.css; do curl -sS --noproxy '*' --max-time 10 "
             "http://127.0.0.1:%u$a; done | grep -c -E 'https?://' || true",
             n.http_port);
    cr_assert_str_eq(out, "0\n");
    free(out);
    out = sh("curl -sS --noproxy '*' --max-time 10 http://127.0.0.1:%u/api/state", n.http_port);
    cr_assert(strstr(out, "\"self\":\"sip1\"") != NULL, "%s", out);
    cr_assert(strstr(out, "\"total\":1000,\"insrv\":0,\"oos\":1000") != NULL, "%s", out);
    free(out);
    out = sh("curl -sS --noproxy '*' --max-time 10 -w ' %%{http_code}' "
             "'http://127.0.0.1:%u/api/dn?q=abc'",
             n.http_port);
    cr_assert(strstr(out, " 400") != NULL, "%s", out);
    free(out);
    out = sh("curl -sS --noproxy '*' --max-time 10 -o /dev/null -w '%%{http_code}' -X POST "
             "http://127.0.0.1:%u/",
             n.http_port);
    cr_assert_str_eq(out, "405");
    free(out);
    cr_assert_eq(harness_node_stop(&n), 0);
    harness_node_cleanup(&n);
}

Test(live_page, events_follow_a_registration_and_a_killed_peer)
{
    struct hcluster c;
    struct stream s;
    char *out;

    hcluster_init(&c, 2, "1000-1999", NULL);
    hcluster_start(&c);
    cr_assert(hcluster_wait_all_links(&c, WAIT_MS));
    stream_open(&s, c.n[0].http_port, 0);
    stream_wait(
            &s, WAIT_MS,
            (const char *const[]){"Content-Type: text/event-stream\r\n", "event: state\ndata: "},
            2);
    cr_assert_eq(hcluster_register(&c.n[1], "1001"), 0);
    stream_wait(&s, WAIT_MS,
                (const char *const[]){"\"what\":\"claimed\",\"dn\":\"1001\",\"status\":\"insrv\","
                                      "\"owner\":\"sip2\",\"source\":\"sip\"",
                                      "\"by_owner\":{\"sip2\":1}"},
                2);
    /* The owner's search shows the binding; this node says who holds it. */
    out = sh("curl -sS --noproxy '*' --max-time 10 'http://127.0.0.1:%u/api/dn?q=1001'",
             c.n[1].http_port);
    cr_assert(strstr(out, "\"bindings\":[\"sip:1001@") != NULL, "%s", out);
    cr_assert(strstr(out, "\"bindings_here\":true") != NULL, "%s", out);
    free(out);
    harness_node_kill(&c.n[1]);
    stream_wait(
            &s, WAIT_MS,
            (const char *const[]){"\"type\":\"link\",\"seq\":", "\"node\":\"sip2\",\"up\":false",
                                  "\"what\":\"out-of-service\",\"dn\":\"1001\",\"status\":\"oos\"",
                                  "\"name\":\"sip2\",\"self\":false,\"link_up\":false"},
            4);
    stream_close(&s);
    hcluster_cleanup(&c);
}

static bool metric_is(const struct hnode *n, const char *name, double want)
{
    return harness_wait_metric(n, name, want, WAIT_MS);
}

Test(live_page, event_streams_are_capped)
{
    struct stream many[EVENT_CLIENTS];
    struct hcluster c;
    char *out;

    hcluster_init(&c, 2, "1000-1999", NULL);
    hcluster_start(&c);
    cr_assert(hcluster_wait_all_links(&c, WAIT_MS));
    for (int i = 0; i < EVENT_CLIENTS; i++) {
        stream_open(&many[i], c.n[0].http_port, 0);
        stream_wait(&many[i], WAIT_MS, (const char *const[]){"event: state\n"}, 1);
    }
    out = sh("curl -sS --noproxy '*' --max-time 10 -w ' %%{http_code}' "
             "http://127.0.0.1:%u/events",
             c.n[0].http_port);
    cr_assert_str_eq(out, "too many event streams\n 503");
    free(out);
    cr_assert(metric_is(&c.n[0], "tcluster_http_event_streams", EVENT_CLIENTS));
    /* The page and the API still answer. */
    cr_assert_eq(harness_http_get(c.n[0].http_port, "/", NULL), 200);
    for (int i = 0; i < EVENT_CLIENTS; i++)
        stream_close(&many[i]);
    cr_assert(metric_is(&c.n[0], "tcluster_http_event_streams", 0));
    /* A client that stops reading is dropped at the queue bound: the page
     * sends too little (64 items per 250 ms) to reach it in a test's
     * time, so tests/unit/test_http.c (slow_event_client_is_dropped)
     * drives the HTTP server with 16 MiB of events instead. */
    hcluster_cleanup(&c);
}
