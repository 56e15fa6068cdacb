/* The HTTP server against real clients: curl for the ordinary cases, raw
 * sockets for the malformed and rude ones. The loop runs in a thread of the
 * test process; the test thread is the client. Nothing sleeps: every wait is
 * a poll with a deadline. */
#define _GNU_SOURCE /* memmem */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "server/http/http.h"
#include "tests/tc_test.h"

TestSuite(http, .fini = tc_test_leak_check, .timeout = 60);

#define DEADLINE_MS 10000
#define BIG_BODY    (4 << 20)

struct fx {
    uv_loop_t loop;
    uv_async_t stop;
    pthread_t thread;
    struct http_server *srv;
    int port;
    uint64_t rejected, refused; /* read on the loop thread at stop */
};

static struct fx fx;

/* Broadcast n events of size bytes of data ("n=N&size=S"). */
static void fire(struct fx *f, const char *query)
{
    unsigned n = 1, size = 8;
    char *data;

    sscanf(query, "n=%u&size=%u", &n, &size);
    data = malloc(size + 1);
    cr_assert_not_null(data);
    memset(data, 'd', size);
    data[size] = '\0';
    if (size > 2)
        data[size / 2] = '\n'; /* two data lines */
    for (unsigned i = 0; i < n; i++)
        http_server_broadcast(f->srv, "tick", data, size);
    free(data);
}

static void handler(void *arg, const struct http_request *req, struct http_response *res)
{
    struct fx *f = arg;
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;

    if (strcmp(req->path, "/hello") == 0 && get) {
        tc_buf_puts(&res->body, "hello\n");
    } else if (strcmp(req->path, "/hello") == 0) {
        res->status = 405;
        tc_buf_puts(&res->body, "method not allowed\n");
    } else if (strcmp(req->path, "/echo") == 0) {
        tc_buf_printf(&res->body, "%s %s ?%s [%.*s]\n", req->method, req->path, req->query,
                      (int)req->body_len, req->body);
    } else if (strcmp(req->path, "/conns") == 0) {
        tc_buf_printf(&res->body, "%u", http_server_connections(f->srv));
    } else if (strcmp(req->path, "/big") == 0) {
        res->content_type = "application/octet-stream";
        tc_buf_reserve(&res->body, BIG_BODY);
        memset(res->body.data, 'x', BIG_BODY);
        res->body.len = BIG_BODY;
        res->body.data[BIG_BODY] = '\0';
    } else if (strcmp(req->path, "/events") == 0) {
        tc_buf_puts(&res->body, "retry: 1000\n\n");
        http_server_events(f->srv, res);
    } else if (strcmp(req->path, "/fire") == 0) {
        fire(f, req->query);
    } else if (strcmp(req->path, "/evstats") == 0) {
        tc_buf_printf(&res->body, "%u %llu", http_server_event_clients(f->srv),
                      (unsigned long long)http_server_event_dropped(f->srv));
    } else if (strcmp(req->path, "/quit") == 0) {
        http_server_stop(f->srv);
        uv_close((uv_handle_t *)&f->stop, NULL);
    } else {
        res->status = 404;
        tc_buf_puts(&res->body, "not found\n");
    }
}

static void *run_loop(void *arg)
{
    uv_run(arg, UV_RUN_DEFAULT);
    return NULL;
}

static void on_stop(uv_async_t *a)
{
    struct fx *f = a->data;

    f->rejected = http_server_rejected(f->srv);
    f->refused = http_server_refused(f->srv);
    http_server_stop(f->srv);
    uv_close((uv_handle_t *)a, NULL);
}

/* Start a server on 127.0.0.1, an ephemeral port, with opt's bounds. */
static void fx_start(struct http_options opt)
{
    /* A peer that resets makes write(2) raise SIGPIPE; tcnode ignores it too. */
    signal(SIGPIPE, SIG_IGN);
    cr_assert_eq(uv_loop_init(&fx.loop), 0);
    opt.host = "127.0.0.1";
    opt.port = 0;
    opt.handler = handler;
    opt.arg = &fx;
    cr_assert_eq(http_server_start(&fx.srv, &fx.loop, &opt), 0);
    fx.port = http_server_port(fx.srv);
    cr_assert_gt(fx.port, 0);
    cr_assert_eq(uv_async_init(&fx.loop, &fx.stop, on_stop), 0);
    fx.stop.data = &fx;
    cr_assert_eq(pthread_create(&fx.thread, NULL, run_loop, &fx.loop), 0);
}

static void fx_stop(void)
{
    uv_async_send(&fx.stop);
    cr_assert_eq(pthread_join(fx.thread, NULL), 0);
    cr_assert_eq(uv_loop_close(&fx.loop), 0);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run a shell command and return its stdout (malloc'd). */
static char *run(const char *fmt, ...)
{
    struct tc_buf out = TC_BUF_INIT;
    char cmd[8192], chunk[4096];
    va_list ap;
    size_t n;
    FILE *p;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    p = popen(cmd, "r");
    cr_assert_not_null(p, "popen %s", cmd);
    while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0) {
        tc_buf_append(&out, chunk, n);
    }
    pclose(p);
    tc_buf_puts(&out, "");
    return out.data;
}

#define CURL "curl -sS --noproxy '*' --max-time 10 "

static int connect_raw(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(fx.port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    cr_assert_geq(fd, 0);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0, "connect: %s",
                 strerror(errno));
    return fd;
}

static void send_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        cr_assert_gt(n, 0, "send: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
}

static void send_str(int fd, const char *s)
{
    send_all(fd, s, strlen(s));
}

/* Count the complete responses at the start of b (bodies per Content-Length). */
static int count_responses(const char *b, size_t len)
{
    const char *p = b, *end = b + len;
    int n = 0;

    for (;;) {
        const char *eoh = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        const char *cl;
        size_t body = 0;

        if (eoh == NULL)
            return n;
        cl = memmem(p, (size_t)(eoh - p), "Content-Length: ", 16);
        if (cl != NULL)
            body = strtoul(cl + 16, NULL, 10);
        if ((size_t)(end - (eoh + 4)) < body)
            return n;
        p = eoh + 4 + body;
        n++;
    }
}

enum end_how {
    END_EOF,
    END_RESET,
    END_RESPONSES
};

/* Read into out until the peer closes (want == 0) or until want complete
 * responses arrived. Fails the test at the deadline. */
static enum end_how recv_until(int fd, struct tc_buf *out, int want)
{
    int64_t deadline = now_ms() + DEADLINE_MS;
    char chunk[65536];

    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int64_t left = deadline - now_ms();
        ssize_t n;

        if (want > 0 && count_responses(out->data ? out->data : "", out->len) >= want)
            return END_RESPONSES;
        cr_assert_gt(left, 0, "timed out; got %zu bytes: %.200s", out->len,
                     out->data ? out->data : "");
        if (poll(&pfd, 1, (int)left) <= 0)
            continue;
        n = recv(fd, chunk, sizeof(chunk), 0);
        if (n == 0)
            return END_EOF;
        if (n < 0 && errno == ECONNRESET)
            return END_RESET;
        cr_assert_gt(n, 0, "recv: %s", strerror(errno));
        tc_buf_append(out, chunk, (size_t)n);
    }
}

/* Send req on a fresh connection and read until the server closes. */
static char *exchange_until_close(const char *req, size_t len)
{
    struct tc_buf out = TC_BUF_INIT;
    int fd = connect_raw();

    send_all(fd, req, len);
    cr_assert_eq(recv_until(fd, &out, 0), END_EOF, "%s", out.data ? out.data : "");
    close(fd);
    tc_buf_puts(&out, "");
    return out.data;
}

static char *exchange_str(const char *req)
{
    return exchange_until_close(req, strlen(req));
}

/* Poll /conns with curl until it says want (the asking connection counts). */
static void wait_conns(unsigned want)
{
    int64_t deadline = now_ms() + DEADLINE_MS;
    char expect[16];

    snprintf(expect, sizeof(expect), "%u", want);
    for (;;) {
        char *out = run(CURL "http://127.0.0.1:%d/conns", fx.port);
        bool ok = strcmp(out, expect) == 0;

        free(out);
        if (ok)
            return;
        cr_assert_lt(now_ms(), deadline, "connections never went to %u", want);
    }
}

static void curl_hello_ok(void)
{
    char *out = run(CURL "-w ' %%{http_code}' http://127.0.0.1:%d/hello", fx.port);

    cr_assert_str_eq(out, "hello\n 200");
    free(out);
}

Test(http, get_200_with_body)
{
    char *out;

    fx_start((struct http_options){0});
    out = run(CURL "-i http://127.0.0.1:%d/hello", fx.port);
    cr_assert_not_null(strstr(out, "HTTP/1.1 200 OK\r\n"), "%s", out);
    cr_assert_not_null(strstr(out, "Content-Type: text/plain; charset=utf-8\r\n"), "%s", out);
    cr_assert_not_null(strstr(out, "Content-Length: 6\r\n"), "%s", out);
    cr_assert_not_null(strstr(out, "Cache-Control: no-store\r\n"), "%s", out);
    cr_assert_null(strstr(out, "Connection: close"), "%s", out);
    cr_assert_not_null(strstr(out, "\r\n\r\nhello\n"), "%s", out);
    free(out);
    fx_stop();
}

Test(http, not_found_and_method_from_handler)
{
    char *out;

    fx_start((struct http_options){0});
    out = run(CURL "-w ' %%{http_code}' http://127.0.0.1:%d/nope", fx.port);
    cr_assert_str_eq(out, "not found\n 404");
    free(out);
    out = run(CURL "-w ' %%{http_code}' -X DELETE http://127.0.0.1:%d/hello", fx.port);
    cr_assert_str_eq(out, "method not allowed\n 405");
    free(out);
    fx_stop();
}

Test(http, query_body_and_decoding)
{
    char *out;

    fx_start((struct http_options){0});
    out = run(CURL "--data-binary 'a=1&b=2' 'http://127.0.0.1:%d/ec%%68o?x=%%20y#frag'", fx.port);
    cr_assert_str_eq(out, "POST /echo ?x=%20y [a=1&b=2]\n");
    free(out);
    out = exchange_str("GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n");
    cr_assert(strncmp(out, "HTTP/1.1 400 Bad Request\r\n", 26) == 0, "%s", out);
    cr_assert_not_null(strstr(out, "\r\n\r\ninvalid URL or percent-encoding\n"), "%s", out);
    free(out);
    out = exchange_str("GET /a%00b HTTP/1.1\r\nHost: x\r\n\r\n");
    cr_assert(strncmp(out, "HTTP/1.1 400 Bad Request\r\n", 26) == 0, "%s", out);
    free(out);
    fx_stop();
}

Test(http, head_has_no_body)
{
    char *out;

    fx_start((struct http_options){0});
    out = run(CURL "-I http://127.0.0.1:%d/hello", fx.port);
    cr_assert(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", out);
    cr_assert_not_null(strstr(out, "Content-Length: 6\r\n"), "%s", out);
    free(out);
    out = exchange_str("HEAD /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    cr_assert_not_null(strstr(out, "Content-Length: 6\r\n"), "%s", out);
    cr_assert_not_null(strstr(out, "Connection: close\r\n"), "%s", out);
    cr_assert_eq(strlen(strstr(out, "\r\n\r\n")), 4, "body after HEAD: %s", out);
    free(out);
    fx_stop();
}

/* Found by tests/fuzz/fuzz_node_http: a HEAD refused for its URL (or its
 * size) got the reason as a body, which a client reads as the start of
 * the next response. */
Test(http, head_refused_has_no_body)
{
    char *out;

    fx_start((struct http_options){0});
    out = exchange_str("HEAD /%zz HTTP/1.1\r\nHost: x\r\n\r\n");
    cr_assert(strncmp(out, "HTTP/1.1 400 Bad Request\r\n", 26) == 0, "%s", out);
    cr_assert_eq(strlen(strstr(out, "\r\n\r\n")), 4, "body after HEAD: %s", out);
    free(out);
    /* A request after a HEAD, refused for its method, keeps its reason. */
    out = exchange_str("HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n?1\r\n\r\n");
    cr_assert_not_null(strstr(out, "\r\n\r\ninvalid HTTP method\n"), "%s", out);
    free(out);
    /* A GET refused the same way keeps its reason. */
    out = exchange_str("GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n");
    cr_assert_not_null(strstr(out, "\r\n\r\ninvalid URL or percent-encoding\n"), "%s", out);
    free(out);
    fx_stop();
}

Test(http, keep_alive_two_requests_one_connection)
{
    char *out;

    fx_start((struct http_options){0});
    out = run(CURL "-w '%%{http_code} %%{num_connects}\\n' http://127.0.0.1:%d/hello "
                   "http://127.0.0.1:%d/echo?2",
              fx.port, fx.port);
    cr_assert_str_eq(out, "hello\n200 1\nGET /echo ?2 []\n200 0\n");
    free(out);
    fx_stop();
}

Test(http, pipelined_in_order_then_close)
{
    static const char req[] = "GET /echo?1 HTTP/1.1\r\nHost: x\r\n\r\n"
                              "POST /echo?2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                              "GET /echo?3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                              "GET /echo?4 HTTP/1.1\r\nHost: x\r\n\r\n";
    char *out, *a, *b, *c;

    fx_start((struct http_options){0});
    out = exchange_str(req);
    a = strstr(out, "GET /echo ?1 []\n");
    b = strstr(out, "POST /echo ?2 [abc]\n");
    c = strstr(out, "Connection: close\r\n\r\nGET /echo ?3 []\n");
    cr_assert(a != NULL && b != NULL && c != NULL && a < b && b < c, "%s", out);
    cr_assert_null(strstr(out, "?4"), "answered after Connection: close: %s", out);
    cr_assert_eq(count_responses(out, strlen(out)), 3);
    free(out);
    fx_stop();
}

Test(http, deep_pipeline_is_answered_in_full)
{
    struct tc_buf req = TC_BUF_INIT, out = TC_BUF_INIT;
    int i, fd;

    fx_start((struct http_options){0});
    for (i = 0; i < 300; i++) {
        tc_buf_printf(&req, "GET /echo?%d HTTP/1.1\r\nHost: x\r\n\r\n", i);
    }
    fd = connect_raw();
    send_all(fd, req.data, req.len);
    cr_assert_eq(recv_until(fd, &out, 300), END_RESPONSES);
    cr_assert_not_null(strstr(out.data, "?0 []\n"));
    cr_assert_not_null(strstr(out.data, "?299 []\n"));
    cr_assert(strstr(out.data, "?298 []\n") < strstr(out.data, "?299 []\n"));
    /* Still open and usable afterwards. */
    tc_buf_reset(&out);
    send_str(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    cr_assert_eq(recv_until(fd, &out, 1), END_RESPONSES);
    close(fd);
    tc_buf_free(&req);
    tc_buf_free(&out);
    fx_stop();
}

Test(http, http10_closes_unless_keep_alive)
{
    struct tc_buf out = TC_BUF_INIT;
    char *s;
    int fd;

    fx_start((struct http_options){0});
    s = exchange_str("GET /hello HTTP/1.0\r\n\r\n");
    cr_assert(strncmp(s, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", s);
    cr_assert_not_null(strstr(s, "Connection: close\r\n"), "%s", s);
    free(s);
    fd = connect_raw();
    send_str(fd, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    cr_assert_eq(recv_until(fd, &out, 1), END_RESPONSES);
    cr_assert_not_null(strstr(out.data, "Connection: keep-alive\r\n"), "%s", out.data);
    close(fd);
    tc_buf_free(&out);
    fx_stop();
}

Test(http, oversized_header_431_then_serves_next)
{
    struct tc_buf req = TC_BUF_INIT;
    char *out;
    int i;

    fx_start((struct http_options){.max_header = 4096});
    tc_buf_puts(&req, "GET /hello HTTP/1.1\r\nHost: x\r\n");
    for (i = 0; i < 100; i++) {
        tc_buf_printf(&req, "X-Filler-%d: %060d\r\n", i, i);
    }
    tc_buf_puts(&req, "\r\n");
    out = exchange_until_close(req.data, req.len);
    cr_assert(strncmp(out, "HTTP/1.1 431 Request Header Fields Too Large\r\n", 46) == 0, "%s", out);
    cr_assert_not_null(strstr(out, "Connection: close\r\n"), "%s", out);
    free(out);
    /* A client that goes on sending still gets the answer, not a reset. */
    req.len -= 2;
    while (req.len < (8 << 20)) {
        tc_buf_puts(&req, "X-Flood: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    out = exchange_until_close(req.data, req.len);
    cr_assert(strncmp(out, "HTTP/1.1 431 Request Header Fields Too Large\r\n", 46) == 0, "%s", out);
    free(out);
    tc_buf_free(&req);
    curl_hello_ok();
    /* A head just under the bound passes. */
    out = run(CURL "-w ' %%{http_code}' -H 'X-Big: %03000d' http://127.0.0.1:%d/hello", 0, fx.port);
    cr_assert_str_eq(out, "hello\n 200");
    free(out);
    fx_stop();
    cr_assert_eq(fx.rejected, 2);
}

Test(http, oversized_url_414)
{
    struct tc_buf req = TC_BUF_INIT;
    char *out;

    fx_start((struct http_options){0});
    tc_buf_puts(&req, "GET /");
    while (req.len < HTTP_MAX_URL + 10) {
        tc_buf_puts(&req, "aaaaaaaaaa");
    }
    tc_buf_puts(&req, " HTTP/1.1\r\nHost: x\r\n\r\n");
    out = exchange_until_close(req.data, req.len);
    cr_assert(strncmp(out, "HTTP/1.1 414 URI Too Long\r\n", 27) == 0, "%s", out);
    free(out);
    tc_buf_free(&req);
    curl_hello_ok();
    fx_stop();
    cr_assert_eq(fx.rejected, 1);
}

Test(http, garbage_400_with_reason)
{
    static const char junk[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n";
    char *out;

    fx_start((struct http_options){0});
    out = exchange_until_close(junk, sizeof(junk) - 1);
    cr_assert(strncmp(out, "HTTP/1.1 400 Bad Request\r\n", 26) == 0, "%s", out);
    cr_assert_not_null(strstr(out, "\r\n\r\ninvalid HTTP method\n"), "%s", out);
    free(out);
    out = exchange_str("GET /hello HTTP/1.1\r\nBad Header Line\r\n\r\n");
    cr_assert(strncmp(out, "HTTP/1.1 400 Bad Request\r\n", 26) == 0, "%s", out);
    free(out);
    curl_hello_ok();
    fx_stop();
    cr_assert_eq(fx.rejected, 2);
}

Test(http, body_too_large_413)
{
    struct tc_buf req = TC_BUF_INIT;
    char *out;
    int i;

    fx_start((struct http_options){.max_body = 1024});
    /* Refused on Content-Length alone, before the body is sent. */
    out = exchange_str("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n");
    cr_assert(strncmp(out, "HTTP/1.1 413 Content Too Large\r\n", 32) == 0, "%s", out);
    free(out);
    /* Chunked: refused once the chunks add up past the bound. */
    tc_buf_puts(&req, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (i = 0; i < 5; i++) {
        tc_buf_printf(&req, "100\r\n%0256d\r\n", i);
    }
    tc_buf_puts(&req, "0\r\n\r\n");
    out = exchange_until_close(req.data, req.len);
    cr_assert(strncmp(out, "HTTP/1.1 413 Content Too Large\r\n", 32) == 0, "%s", out);
    free(out);
    tc_buf_free(&req);
    /* At the bound it passes. */
    out = run(CURL "-w ' %%{http_code}' --data-binary '%01021d' http://127.0.0.1:%d/echo", 0,
              fx.port);
    cr_assert_eq(strlen(out), strlen("POST /echo ? []\n 200") + 1021, "%s", out);
    free(out);
    fx_stop();
    cr_assert_eq(fx.rejected, 2);
}

Test(http, idle_connection_is_closed)
{
    struct tc_buf out = TC_BUF_INIT;
    int64_t t0 = now_ms();
    int fd;

    fx_start((struct http_options){.idle_timeout_ms = 200});
    fd = connect_raw();
    cr_assert_eq(recv_until(fd, &out, 0), END_EOF);
    cr_assert_eq(out.len, 0);
    cr_assert_geq(now_ms() - t0, 150);
    close(fd);
    /* A half-sent request does not keep it open either. */
    fd = connect_raw();
    send_str(fd, "GET /hello HTTP/1.1\r\nHost");
    cr_assert_eq(recv_until(fd, &out, 0), END_EOF);
    cr_assert_eq(out.len, 0);
    close(fd);
    /* Between requests the clock restarts: a served connection idles out too. */
    fd = connect_raw();
    send_str(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    cr_assert_eq(recv_until(fd, &out, 0), END_EOF);
    cr_assert_eq(count_responses(out.data, out.len), 1);
    close(fd);
    tc_buf_free(&out);
    fx_stop();
}

Test(http, connection_cap)
{
    struct tc_buf out = TC_BUF_INIT;
    int64_t deadline;
    int a, b, c;

    fx_start((struct http_options){.max_connections = 2});
    a = connect_raw();
    b = connect_raw();
    send_str(a, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    send_str(b, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    cr_assert_eq(recv_until(a, &out, 1), END_RESPONSES);
    tc_buf_reset(&out);
    cr_assert_eq(recv_until(b, &out, 1), END_RESPONSES);
    tc_buf_reset(&out);
    c = connect_raw();
    cr_assert_neq(recv_until(c, &out, 0), END_RESPONSES);
    cr_assert_not_null(strstr(out.data, "HTTP/1.1 503 Service Unavailable\r\n"), "%s", out.data);
    close(c);
    /* A slot frees when one closes. */
    close(a);
    deadline = now_ms() + DEADLINE_MS;
    for (;;) {
        tc_buf_reset(&out);
        c = connect_raw();
        send_str(c, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        recv_until(c, &out, 0);
        close(c);
        if (out.len > 0 && strstr(out.data, " 200 OK\r\n") != NULL)
            break;
        cr_assert_lt(now_ms(), deadline, "no slot after a close");
    }
    close(b);
    tc_buf_free(&out);
    fx_stop();
    cr_assert_geq(fx.refused, 1);
    cr_assert_eq(fx.rejected, 0);
}

Test(http, client_disconnects_mid_request_and_mid_response)
{
    struct linger lg = {1, 0};
    struct tc_buf out = TC_BUF_INIT;
    char chunk[1000];
    int fd;

    fx_start((struct http_options){0});
    /* Half a request, then FIN. */
    fd = connect_raw();
    send_str(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc");
    close(fd);
    /* Half a request, then RST. */
    fd = connect_raw();
    send_str(fd, "GET /hello HTTP/1.1\r\nHo");
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
    /* A request and gone before the answer. */
    fd = connect_raw();
    send_str(fd, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    close(fd);
    /* Reads a little of a large answer, then RST. */
    fd = connect_raw();
    send_str(fd, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    cr_assert_gt(recv(fd, chunk, sizeof(chunk), MSG_WAITALL), 0);
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
    /* The server is fine and holds nothing for them. */
    wait_conns(1);
    fd = connect_raw();
    send_str(fd, "GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    cr_assert_eq(recv_until(fd, &out, 0), END_EOF);
    cr_assert_eq(count_responses(out.data, out.len), 1);
    cr_assert_gt(out.len, BIG_BODY);
    close(fd);
    tc_buf_free(&out);
    fx_stop();
}

Test(http, stop_with_open_connections)
{
    struct tc_buf out = TC_BUF_INIT;
    int a, b;

    fx_start((struct http_options){0});
    a = connect_raw();
    b = connect_raw();
    send_str(a, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    cr_assert_eq(recv_until(a, &out, 1), END_RESPONSES);
    send_str(b, "GET /hello HTTP/1.1\r\nHo");
    wait_conns(3);
    fx_stop();
    tc_buf_reset(&out);
    cr_assert_neq(recv_until(a, &out, 0), END_RESPONSES);
    close(a);
    close(b);
    tc_buf_free(&out);
}

Test(http, stop_from_handler)
{
    struct tc_buf out = TC_BUF_INIT;
    int fd;

    fx_start((struct http_options){0});
    fd = connect_raw();
    send_str(fd, "GET /quit HTTP/1.1\r\nHost: x\r\n\r\n");
    cr_assert_neq(recv_until(fd, &out, 0), END_RESPONSES);
    cr_assert_eq(out.len, 0);
    cr_assert_eq(pthread_join(fx.thread, NULL), 0);
    cr_assert_eq(uv_loop_close(&fx.loop), 0);
    close(fd);
    tc_buf_free(&out);
}

static void on_walk_count(uv_handle_t *h, void *arg)
{
    (void)h;
    (*(int *)arg)++;
}

Test(http, start_errors)
{
    struct http_options opt = {.host = "127.0.0.1", .handler = handler, .arg = &fx};
    struct http_server *a, *b;
    uv_loop_t loop;
    int rc, n = 0;

    cr_assert_eq(uv_loop_init(&loop), 0);
    opt.host = "localhost";
    cr_assert_eq(http_server_start(&a, &loop, &opt), -EINVAL);
    opt.host = "300.1.1.1";
    cr_assert_eq(http_server_start(&a, &loop, &opt), -EINVAL);
    opt.host = NULL;
    cr_assert_eq(http_server_start(&a, &loop, &opt), -EINVAL);
    opt.host = "127.0.0.1";
    cr_assert_eq(http_server_start(&a, &loop, &opt), 0);
    opt.port = (uint16_t)http_server_port(a);
    cr_assert_eq(http_server_start(&b, &loop, &opt), -EADDRINUSE);
    opt.port = 0;
    opt.host = "::1";
    rc = http_server_start(&b, &loop, &opt);
    cr_assert(rc == 0 || rc == -EADDRNOTAVAIL, "%d", rc);
    if (rc == 0) {
        cr_assert_gt(http_server_port(b), 0);
        http_server_stop(b);
    }
    http_server_stop(a);
    cr_assert_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    uv_walk(&loop, on_walk_count, &n);
    cr_assert_eq(n, 0);
    cr_assert_eq(uv_loop_close(&loop), 0);
}

/* Open /events on a raw connection and read until the stream's head and
 * its first bytes are in out. */
static int open_events(struct tc_buf *out, int rcvbuf)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(fx.port)};
    int64_t deadline = now_ms() + DEADLINE_MS;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    cr_assert_geq(fd, 0);
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    send_str(fd, "GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n");
    while (out->len == 0 || memmem(out->data, out->len, "\r\n\r\n", 4) == NULL ||
           strstr(out->data, "\n\n") == NULL) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        char chunk[4096];
        ssize_t n;

        cr_assert_lt(now_ms(), deadline, "no stream head: %.200s", out->data ? out->data : "");
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        n = recv(fd, chunk, sizeof(chunk), 0);
        cr_assert_gt(n, 0, "stream closed: %.200s", out->data ? out->data : "");
        tc_buf_append(out, chunk, (size_t)n);
    }
    return fd;
}

/* Read from fd into out until it holds needle, count times. */
static void read_until(int fd, struct tc_buf *out, const char *needle, int count)
{
    int64_t deadline = now_ms() + DEADLINE_MS;

    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        char chunk[65536];
        const char *p = out->data;
        int seen = 0;
        ssize_t n;

        while (p != NULL && (p = strstr(p, needle)) != NULL) {
            seen++;
            p += strlen(needle);
        }
        if (seen >= count)
            return;
        cr_assert_lt(now_ms(), deadline, "saw %s %d times of %d: %.300s", needle, seen, count,
                     out->data ? out->data : "");
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        n = recv(fd, chunk, sizeof(chunk), 0);
        cr_assert_gt(n, 0, "stream closed");
        tc_buf_append(out, chunk, (size_t)n);
    }
}

static char *evstats(void)
{
    return run(CURL "http://127.0.0.1:%d/evstats", fx.port);
}

Test(http, event_stream_gets_broadcasts_and_heartbeats)
{
    struct tc_buf out = TC_BUF_INIT;
    char *s;
    int fd;

    fx_start((struct http_options){.event_heartbeat_ms = 50});
    fd = open_events(&out, 0);
    cr_assert_not_null(strstr(out.data, "HTTP/1.1 200 OK\r\n"), "%s", out.data);
    cr_assert_not_null(strstr(out.data, "Content-Type: text/event-stream\r\n"), "%s", out.data);
    cr_assert_null(strstr(out.data, "Content-Length"), "%s", out.data);
    cr_assert_not_null(strstr(out.data, "\r\n\r\nretry: 1000\n\n"), "%s", out.data);
    s = run(CURL "'http://127.0.0.1:%d/fire?n=3&size=6'", fx.port);
    free(s);
    /* "ddd\nddd" goes as two data lines of one event. */
    read_until(fd, &out, "event: tick\ndata: ddd\ndata: dd\n\n", 3);
    read_until(fd, &out, ": heartbeat\n\n", 2);
    s = evstats();
    cr_assert_str_eq(s, "1 0");
    free(s);
    close(fd);
    tc_buf_free(&out);
    fx_stop();
}

Test(http, event_streams_are_capped)
{
    struct tc_buf a = TC_BUF_INIT, b = TC_BUF_INIT, c = TC_BUF_INIT;
    int64_t deadline;
    int fa, fb;
    char *s;

    fx_start((struct http_options){.max_event_clients = 2});
    fa = open_events(&a, 0);
    fb = open_events(&b, 0);
    s = run(CURL "-w ' %%{http_code}' http://127.0.0.1:%d/events", fx.port);
    cr_assert_str_eq(s, "too many event streams\n 503");
    free(s);
    /* Ordinary requests still get through. */
    curl_hello_ok();
    close(fa);
    deadline = now_ms() + DEADLINE_MS;
    for (;;) {
        s = evstats();
        if (strcmp(s, "1 0") == 0)
            break;
        cr_assert_lt(now_ms(), deadline, "stream not closed: %s", s);
        free(s);
    }
    free(s);
    fa = open_events(&c, 0);
    cr_assert_not_null(strstr(c.data, " 200 OK\r\n"), "%s", c.data);
    close(fa);
    close(fb);
    tc_buf_free(&a);
    tc_buf_free(&b);
    tc_buf_free(&c);
    fx_stop();
}

Test(http, slow_event_client_is_dropped)
{
    struct tc_buf slow = TC_BUF_INIT, fast = TC_BUF_INIT;
    int fs, ff;
    char *s;

    fx_start((struct http_options){.max_event_queue = 64 * 1024});
    fs = open_events(&slow, 4096);
    ff = open_events(&fast, 0);
    /* 16 MiB at a client that never reads: more than the kernel's buffers
     * and the queue bound hold, so it must be dropped, not buffered. The
     * fast client reads along and keeps its stream. */
    for (int i = 0; i < 64; i++) {
        s = run(CURL "'http://127.0.0.1:%d/fire?n=32&size=8192'", fx.port);
        free(s);
        tc_buf_reset(&fast);
        read_until(ff, &fast, "event: tick\n", 1);
        s = evstats();
        bool dropped = strcmp(s, "1 1") == 0;
        free(s);
        if (dropped)
            break;
    }
    s = evstats();
    cr_assert_str_eq(s, "1 1", "clients dropped: %s", s);
    free(s);
    close(fs);
    close(ff);
    tc_buf_free(&slow);
    tc_buf_free(&fast);
    fx_stop();
}
