/* The listener of framed connections: accepting under max_conns, the loop
 * phases that flush output and run kicks, stopping, and metrics. */
#include "tcport/conn.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/base/log.h"
#include "server/base/metrics.h"
#include "server/config/config.h"
#include "tcport/conn_int.h"
#include "tcport/frame.h"

#define CONN_BACKLOG 511

static void server_maybe_free(struct conn_server *s)
{
    void (*stopped)(void *) = s->h.on_stopped;
    void *arg = s->arg;

    if (!s->stopping || s->open_handles > 0 || s->conns != NULL)
        return;
    free(s->rbuf);
    free(s);
    if (stopped != NULL)
        stopped(arg);
}

static void on_server_handle_close(uv_handle_t *h)
{
    struct conn_server *s = h->data;

    s->open_handles--;
    server_maybe_free(s);
}

/* Take c off a singly linked list threaded through the member at off. */
static void list_remove(struct conn **head, struct conn *c, size_t off)
{
    for (struct conn **pp = head; *pp != NULL; pp = (struct conn **)((char *)*pp + off)) {
        if (*pp == c) {
            *pp = *(struct conn **)((char *)c + off);
            return;
        }
    }
}

void conn_server_forget(struct conn_server *s, struct conn *c)
{
    if (c->on_flush)
        list_remove(&s->flush, c, offsetof(struct conn, flush_next));
    if (c->on_kick)
        list_remove(&s->kicks, c, offsetof(struct conn, kick_next));
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    free(c);
    server_maybe_free(s);
}

void conn_mark_flush(struct conn *c)
{
    if (c->on_flush)
        return;
    c->on_flush = true;
    c->flush_next = c->srv->flush;
    c->srv->flush = c;
}

static void on_flush_phase(struct conn_server *s)
{
    struct conn *list = s->flush;

    s->flush = NULL;
    while (list != NULL) {
        struct conn *c = list;

        list = c->flush_next;
        c->on_flush = false;
        conn_flush(c);
    }
}

static void on_prepare(uv_prepare_t *h)
{
    on_flush_phase(h->data);
}

static void on_check(uv_check_t *h)
{
    on_flush_phase(h->data);
}

static void on_idle(uv_idle_t *h)
{
    struct conn_server *s = h->data;
    struct conn *list = s->kicks;

    s->kicks = NULL;
    uv_idle_stop(h);
    while (list != NULL) {
        struct conn *c = list;

        list = c->kick_next;
        c->on_kick = false;
        if (conn_writable(c))
            s->h.on_writable(s->arg, c);
    }
}

void conn_kick(struct conn *c)
{
    struct conn_server *s = c->srv;

    if (c->on_kick || c->state != CONN_OPEN)
        return;
    c->on_kick = true;
    c->kick_next = s->kicks;
    s->kicks = c;
    uv_idle_start(&s->idle, on_idle);
}

static void peer_name(struct conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;

    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        } else {
            uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        }
    }
    snprintf(c->peer, sizeof(c->peer), "%s:%d", ip, port);
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct conn_server *s = listener->data;
    struct conn *c;

    if (status < 0) {
        tc_log(WARN, "%s: accept: %s", s->o.name, uv_strerror(status));
        return;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        tc_log(ERR, "%s: accept: out of memory", s->o.name);
        return;
    }
    c->srv = s;
    c->open_handles = 2;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    peer_name(c);
    if (s->st.open >= s->o.max_conns) {
        uv_buf_t b = uv_buf_init((char *)s->busy, (unsigned)s->busy_len);

        s->st.refused[CONN_REFUSED_TOO_MANY]++;
        tc_log(DEBUG, "%s: %s: over %u connections, refused", s->o.name, c->peer, s->o.max_conns);
        uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        conn_close(c);
        return;
    }
    c->counted = true;
    s->st.open++;
    s->st.accepted++;
    uv_tcp_nodelay(&c->tcp, 1);
    conn_begin(c);
}

static int parse_addr(const struct config_addr *a, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (uv_ip4_addr(a->host, a->port, (struct sockaddr_in *)ss) == 0)
        return 0;
    if (uv_ip6_addr(a->host, a->port, (struct sockaddr_in6 *)ss) == 0)
        return 0;
    return -EINVAL;
}

static int pack_busy(struct conn_server *s)
{
    Tc__Event ev = TC__EVENT__INIT;
    Tc__EventError err = TC__EVENT_ERROR__INIT;
    struct tc_buf b = TC_BUF_INIT;
    int rc;

    err.code = TC__ERROR_CODE__ERROR_TOO_MANY_CONNECTIONS;
    err.text = "too many connections";
    ev.body_case = TC__EVENT__BODY_ERROR;
    ev.error = &err;
    rc = frame_pack(&b, &ev.base);
    if (rc == 0 && b.len > sizeof(s->busy))
        rc = -EMSGSIZE;
    if (rc == 0) {
        memcpy(s->busy, b.data, b.len);
        s->busy_len = b.len;
    }
    tc_buf_free(&b);
    return rc;
}

static void server_handles_init(struct conn_server *s)
{
    uv_idle_init(s->loop, &s->idle);
    uv_prepare_init(s->loop, &s->prepare);
    uv_check_init(s->loop, &s->check);
    s->idle.data = s;
    s->prepare.data = s;
    s->check.data = s;
    uv_prepare_start(&s->prepare, on_prepare);
    uv_check_start(&s->check, on_check);
    /* They only flush: they must not keep the loop running. */
    uv_unref((uv_handle_t *)&s->prepare);
    uv_unref((uv_handle_t *)&s->check);
    uv_unref((uv_handle_t *)&s->idle);
    s->open_handles = 3;
}

int conn_server_start(struct conn_server **out, uv_loop_t *loop, const struct conn_options *o,
                      const struct conn_handler *h, void *arg)
{
    struct sockaddr_storage ss;
    struct conn_server *s;
    char addr[96];
    int rc;

    config_addr_str(o->addr, addr, sizeof(addr));
    if (parse_addr(o->addr, &ss) != 0) {
        tc_log(ERR, "%s: %s: not a numeric address", o->name, addr);
        return -EINVAL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    s->loop = loop;
    s->h = *h;
    s->arg = arg;
    s->o = *o;
    s->o.max_frame = o->max_frame != 0 ? o->max_frame : FRAME_DEFAULT_MAX;
    s->o.max_conns = o->max_conns != 0 ? o->max_conns : 1024;
    s->o.idle_ms = o->idle_ms != 0 ? o->idle_ms : 60000;
    s->o.queue_bytes = o->queue_bytes != 0 ? o->queue_bytes : 1 << 20;
    s->rcap = (size_t)s->o.max_frame + FRAME_HEADER;
    s->rbuf = malloc(s->rcap);
    if (s->rbuf == NULL || pack_busy(s) != 0) {
        free(s->rbuf);
        free(s);
        return -ENOMEM;
    }
    server_handles_init(s);
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    s->open_handles++;
    /* libuv reports EADDRINUSE from bind only at listen. */
    rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->listener, CONN_BACKLOG, on_connection);
    if (rc != 0) {
        tc_log(ERR, "%s: %s: %s", o->name, addr, uv_strerror(rc));
        s->h.on_stopped = NULL;
        conn_server_stop(s);
        return rc;
    }
    tc_log(INFO, "%s: listening on %s", o->name, addr);
    *out = s;
    return 0;
}

void conn_server_stop(struct conn_server *s)
{
    assert(!s->stopping);
    s->stopping = true;
    uv_close((uv_handle_t *)&s->listener, on_server_handle_close);
    uv_close((uv_handle_t *)&s->idle, on_server_handle_close);
    uv_close((uv_handle_t *)&s->prepare, on_server_handle_close);
    uv_close((uv_handle_t *)&s->check, on_server_handle_close);
    for (struct conn *c = s->conns; c != NULL; c = c->next)
        conn_close(c);
}

const struct conn_stats *conn_server_stats(const struct conn_server *s)
{
    return &s->st;
}

int conn_server_port(const struct conn_server *s)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    int rc = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len);

    if (rc != 0)
        return rc;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static const char *const refusal_names[CONN_REFUSED_N] = {
        "frame_too_large",      "bad_frame", "unknown_request", "timeout",
        "too_many_connections", "other",
};

/* One family of one sample. */
static int family(struct tc_buf *b, const char *prefix, const char *name, const char *type,
                  const char *help, uint64_t v)
{
    char n[128];

    snprintf(n, sizeof(n), "%s_%s", prefix, name);
    if (metrics_header(b, n, type, help) != 0)
        return -ENOMEM;
    return metrics_sample_u64(b, n, NULL, v);
}

int conn_server_metrics(const struct conn_server *s, const char *prefix, struct tc_buf *b)
{
    const struct conn_stats *st = &s->st;
    char n[128], label[64];
    int rc = 0;

    rc |= family(b, prefix, "connections", "gauge", "client connections open", st->open);
    rc |= family(b, prefix, "connections_accepted_total", "counter",
                 "client connections accepted under max-connections", st->accepted);
    snprintf(n, sizeof(n), "%s_refused_total", prefix);
    rc |= metrics_header(b, n, "counter", "frames and connections refused, by reason");
    for (int i = 0; i < CONN_REFUSED_N; i++) {
        snprintf(label, sizeof(label), "reason=\"%s\"", refusal_names[i]);
        rc |= metrics_sample_u64(b, n, label, st->refused[i]);
    }
    rc |= family(b, prefix, "requests_total", "counter", "requests decoded", st->requests);
    rc |= family(b, prefix, "events_sent_total", "counter", "events queued to clients",
                 st->events_sent);
    rc |= family(b, prefix, "bytes_sent_total", "counter", "bytes written to clients",
                 st->bytes_sent);
    rc |= family(b, prefix, "bytes_queued", "gauge", "bytes waiting to be written to clients",
                 st->bytes_queued);
    rc |= family(b, prefix, "write_errors_total", "counter", "writes that failed",
                 st->write_errors);
    return rc ? -ENOMEM : 0;
}
