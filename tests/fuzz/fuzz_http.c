/* libFuzzer target: the HTTP server (server/http*.c) on any bytes a client
 * may send. The server runs on its own loop on 127.0.0.1, started once; each
 * input is sent over a fresh TCP connection, which is then shut down for
 * writing, and the loop runs until the server has closed the connection. The
 * whole server path runs: http-parser and its callbacks, the bounds (431,
 * 413, 414, 400), pipelining with its pause, keep-alive, HEAD and the
 * closing states. A crash, a leak, a sanitizer report or an answer that is
 * not HTTP is a bug. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "server/base/buf.h"
#include "server/http/http.h"

/* Poll rounds per input; a round waits at most FUZZ_POLL_MS. The server's
 * idle timeout ends any connection well before they run out. */
#define FUZZ_ROUNDS  400
#define FUZZ_POLL_MS 5
/* Small bounds, so that short inputs reach them. */
#define FUZZ_MAX_HEADER 1024
#define FUZZ_MAX_BODY   2048
#define FUZZ_IDLE_MS    200

static uv_loop_t loop;
static struct http_server *srv;
static struct sockaddr_in srv_addr;
static uint32_t n_inputs;

/* Answers vary with the path so that every response shape is written. */
static void on_request(void *arg, const struct http_request *req, struct http_response *res)
{
    size_t n;

    (void)arg;
    /* Every string must be terminated where the header says. */
    n = strlen(req->method) + strlen(req->path) + strlen(req->query);
    if (strlen(req->body) > req->body_len || req->body[req->body_len] != '\0' || n == 0)
        abort();
    if (strcmp(req->path, "/204") == 0) {
        res->status = 204;
    } else if (strcmp(req->path, "/big") == 0) {
        /* More than a socket buffer: the write completes in pieces. */
        for (int i = 0; i < 4096; i++)
            tc_buf_puts(&res->body, "0123456789abcdef0123456789abcdef0123456789abcdef\n");
    } else if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0 &&
               strcmp(req->method, "POST") != 0) {
        res->status = 405;
    } else if (strcmp(req->path, "/999") == 0) {
        res->status = 999; /* the server must turn it into a 500 */
    } else {
        res->content_type = "text/plain";
        tc_buf_printf(&res->body, "%s %s ?%s %zu\n", req->method, req->path, req->query,
                      req->body_len);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct http_options opt = {
            .host = "127.0.0.1",
            .port = 0,
            .max_header = FUZZ_MAX_HEADER,
            .max_body = FUZZ_MAX_BODY,
            .max_connections = 8,
            .idle_timeout_ms = FUZZ_IDLE_MS,
            .handler = on_request,
    };
    int rc;

    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    if (uv_loop_init(&loop) != 0)
        abort();
    rc = http_server_start(&srv, &loop, &opt);
    if (rc != 0) {
        fprintf(stderr, "fuzz_http: cannot start the server: %s\n", uv_strerror(rc));
        abort();
    }
    srv_addr.sin_family = AF_INET;
    srv_addr.sin_port = htons((uint16_t)http_server_port(srv));
    srv_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return 0;
}

/* Wait up to FUZZ_POLL_MS for the client socket (events) or the loop, then
 * run what the loop has ready. */
static void step(int fd, short events)
{
    struct pollfd p[2] = {{uv_backend_fd(&loop), POLLIN, 0}, {fd, events, 0}};
    int timeout = uv_backend_timeout(&loop);

    if (timeout < 0 || timeout > FUZZ_POLL_MS)
        timeout = FUZZ_POLL_MS;
    poll(p, fd >= 0 ? 2 : 1, timeout);
    uv_run(&loop, UV_RUN_NOWAIT);
}

/* A non-blocking socket connected (or connecting) to the server, from its
 * own loopback address so that TIME_WAIT never runs out of ports. */
static int client_connect(void)
{
    struct sockaddr_in src = {.sin_family = AF_INET};
    struct linger lin = {1, 0};
    int fd;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        abort();
    /* 127.1.0.0 to 127.1.255.255. */
    src.sin_addr.s_addr = htonl(0x7f010000u | (n_inputs++ & 0xffffu));
    bind(fd, (struct sockaddr *)&src, sizeof(src));
    /* Close with a reset: nothing lingers after an input. */
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
    if (connect(fd, (struct sockaddr *)&srv_addr, sizeof(srv_addr)) != 0 && errno != EINPROGRESS) {
        perror("fuzz_http: connect");
        abort();
    }
    return fd;
}

/* Read what the server sent; check that it starts like an answer. got
 * counts the bytes read so far. Returns false once the server has closed or
 * reset the connection. */
static bool client_read(int fd, size_t *got)
{
    static const char start[] = "HTTP/1.1 ";
    char buf[65536];
    ssize_t n;

    for (;;) {
        n = recv(fd, buf, sizeof(buf), 0);
        if (n == 0)
            return false;
        if (n < 0)
            return errno == EAGAIN || errno == EINTR || errno == ENOTCONN;
        for (size_t i = 0; *got + i < sizeof(start) - 1 && i < (size_t)n; i++) {
            if (buf[i] != start[*got + i]) {
                fprintf(stderr, "fuzz_http: answer is not HTTP: %.*s\n", (int)(n < 64 ? n : 64),
                        buf);
                abort();
            }
        }
        *got += (size_t)n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0, got = 0;
    bool writing = true, open = true;
    int fd = client_connect();
    int round;

    for (round = 0; round < FUZZ_ROUNDS && open; round++) {
        step(fd, (short)(POLLIN | (writing ? POLLOUT : 0)));
        while (writing && off < size) {
            ssize_t n = send(fd, data + off, size - off, MSG_NOSIGNAL);

            if (n < 0) {
                /* Not connected yet, or full; or the server has closed. */
                if (errno != EAGAIN && errno != ENOTCONN && errno != EINTR)
                    writing = false;
                break;
            }
            off += (size_t)n;
        }
        /* Before the connection is up, shutdown() fails with ENOTCONN. */
        if (writing && off == size && (shutdown(fd, SHUT_WR) == 0 || errno != ENOTCONN))
            writing = false;
        open = client_read(fd, &got);
    }
    close(fd);
    /* Let the server see the end and free the connection. */
    for (round = 0; round < FUZZ_ROUNDS && http_server_connections(srv) > 0; round++)
        step(-1, 0);
    return 0;
}
