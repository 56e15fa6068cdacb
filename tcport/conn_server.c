/* The listener of framed connections: accepting under max_conns, the loop
 * phases that flush output and run kicks, stopping, and metrics. */
#include "tcport/conn.h"

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

#define CONN_BACKLOG   511
#define CONN_LINGER_MS 2000 /* longest an ending connection lives */

static void server_maybe_free(struct conn_server *s)
{
    void (*stopped)(void *) = s->h.on_stopped;
    void *arg = s->arg;

    if (!s->stopping || s->open_handles > 0)
        return;
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

static void on_tcp_stopped(void *arg)
{
    struct conn_server *s = arg;

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

void conn__forget(struct conn *c)
{
    struct conn_server *s = c->srv;

    if (c->on_flush)
        list_remove(&s->flush, c, offsetof(struct conn, flush_next));
    if (c->on_kick)
        list_remove(&s->kicks, c, offsetof(struct conn, kick_next));
}

void conn__mark_flush(struct conn *c)
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
        conn__flush(c);
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

static void server_handles_init(struct conn_server *s, uv_loop_t *loop)
{
    uv_idle_init(loop, &s->idle);
    uv_prepare_init(loop, &s->prepare);
    uv_check_init(loop, &s->check);
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

static struct tcp_server_options tcp_options(struct conn_server *s)
{
    uint32_t idle = s->o.idle_ms;

    return (struct tcp_server_options){
            .name = s->o.name,
            .max_conns = s->o.max_conns,
            .idle_ms = idle,
            .message_ms = s->o.message_ms,
            .max_per_source = s->o.max_per_source,
            .linger_ms = idle < CONN_LINGER_MS ? idle : CONN_LINGER_MS,
            .backlog = CONN_BACKLOG,
            .read_size = s->rcap,
            .conn_size = sizeof(struct conn),
            .busy = s->busy,
            .busy_len = s->busy_len,
            .h = {.on_accept = conn__on_accept,
                  .on_alloc = conn__on_alloc,
                  .on_read = conn__on_read,
                  .on_eof = conn__on_eof,
                  .on_idle = conn__on_idle,
                  .on_message_timeout = conn__on_message_timeout,
                  .on_close = conn__on_close},
            .arg = s,
    };
}

int conn_server_start(struct conn_server **out, uv_loop_t *loop, const struct conn_options *o,
                      const struct conn_handler *h, void *arg)
{
    struct tcp_server_options to;
    struct conn_server *s;
    int rc;

    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    s->h = *h;
    s->arg = arg;
    s->o = *o;
    s->o.max_frame = o->max_frame != 0 ? o->max_frame : FRAME_DEFAULT_MAX;
    s->o.max_conns = o->max_conns != 0 ? o->max_conns : 1024;
    s->o.idle_ms = o->idle_ms != 0 ? o->idle_ms : 60000;
    s->o.queue_bytes = o->queue_bytes != 0 ? o->queue_bytes : 1 << 20;
    s->rcap = (size_t)s->o.max_frame + FRAME_HEADER;
    rc = pack_busy(s);
    to = tcp_options(s);
    if (rc == 0)
        rc = tcp_server_new(&s->tcp, loop, &to);
    if (rc != 0) {
        free(s);
        return rc;
    }
    server_handles_init(s, loop);
    s->open_handles++; /* the TCP server */
    rc = tcp_server_listen(s->tcp, o->addr->host, o->addr->port);
    if (rc != 0) {
        s->h.on_stopped = NULL;
        conn_server_stop(s);
        return rc;
    }
    *out = s;
    return 0;
}

void conn_server_stop(struct conn_server *s)
{
    assert(!s->stopping);
    s->stopping = true;
    uv_close((uv_handle_t *)&s->idle, on_server_handle_close);
    uv_close((uv_handle_t *)&s->prepare, on_server_handle_close);
    uv_close((uv_handle_t *)&s->check, on_server_handle_close);
    tcp_server_stop(s->tcp, on_tcp_stopped);
}

int conn_server_port(const struct conn_server *s)
{
    return tcp_server_port(s->tcp, 0);
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
    const struct tcp_server_stats *tcp = tcp_server_stats(s->tcp);
    const struct conn_stats *st = &s->st;
    char n[128], label[64];
    int rc = 0;

    rc |= family(b, prefix, "connections", "gauge", "client connections open", tcp->open);
    rc |= family(b, prefix, "connections_accepted_total", "counter",
                 "client connections accepted under max-connections", tcp->accepted);
    snprintf(n, sizeof(n), "%s_refused_total", prefix);
    rc |= metrics_header(b, n, "counter", "frames and connections refused, by reason");
    for (int i = 0; i < CONN_REFUSED_N; i++) {
        snprintf(label, sizeof(label), "reason=\"%s\"", refusal_names[i]);
        rc |= metrics_sample_u64(b, n, label,
                                 st->refused[i] + (i == CONN_REFUSED_TOO_MANY ? tcp->refused : 0));
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
    if (s->o.metrics_name != NULL)
        rc |= tcp_server_metrics(s->tcp, s->o.metrics_name, b);
    return rc ? -ENOMEM : 0;
}
