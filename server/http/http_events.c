/* Server-Sent Events streams: the connections whose answer became an
 * event stream, the broadcast to them with a bound on what each may leave
 * unsent, and the heartbeat comment that keeps idle streams (and proxies)
 * from timing out. */
#include <errno.h>
#include <string.h>

#include "server/base/log.h"
#include "server/http/http_int.h"

int http_server_events(struct http_server *s, struct http_response *res)
{
    if (s->ev_clients >= s->ev_max) {
        res->status = 503;
        tc_buf_reset(&res->body);
        tc_buf_puts(&res->body, "too many event streams\n");
        return -EBUSY;
    }
    res->status = 200;
    res->events = true;
    return 0;
}

void http__events_attach(struct http_conn *c)
{
    struct http_server *s = c->srv;

    c->state = CONN_STREAM;
    /* The stream lives as long as the client reads; the heartbeat and the
     * queue bound find those that do not. */
    tcp_conn_idle(c->tc, false);
    c->ev_prev = NULL;
    c->ev_next = s->ev_head;
    if (s->ev_head != NULL)
        s->ev_head->ev_prev = c;
    s->ev_head = c;
    c->ev_linked = true;
    s->ev_clients++;
}

void http__events_detach(struct http_conn *c)
{
    struct http_server *s = c->srv;

    if (!c->ev_linked)
        return;
    if (c->ev_prev != NULL)
        c->ev_prev->ev_next = c->ev_next;
    else
        s->ev_head = c->ev_next;
    if (c->ev_next != NULL)
        c->ev_next->ev_prev = c->ev_prev;
    c->ev_linked = false;
    s->ev_clients--;
}

/* Queue text on every open stream; returns how many took it. A closed
 * stream stays on the list until its on_close, so the walk is safe. */
static unsigned send_all(struct http_server *s, const char *text, size_t len)
{
    unsigned sent = 0;

    for (struct http_conn *c = s->ev_head; c != NULL; c = c->ev_next) {
        int rc;

        if (c->state != CONN_STREAM || tcp_conn_closing(c->tc))
            continue;
        rc = tcp_conn_write(c->tc, text, len);
        if (rc == 0) {
            sent++;
            continue;
        }
        c->state = CONN_DONE;
        if (rc == -ENOBUFS) {
            s->ev_dropped++;
            tc_log_limited(INFO, "http: %s: event stream dropped: the client reads too slowly",
                           tcp_conn_peer(c->tc));
        }
    }
    return sent;
}

unsigned http_server_broadcast(struct http_server *s, const char *name, const char *data,
                               size_t len)
{
    struct tc_buf b = TC_BUF_INIT;
    unsigned sent = 0;
    size_t i = 0;
    int rc;

    if (s->ev_head == NULL)
        return 0;
    rc = tc_buf_printf(&b, "event: %s\n", name);
    /* One data line per line of data: a bare newline would end the event. */
    while (rc == 0 && i <= len) {
        const char *nl = memchr(data + i, '\n', len - i);
        size_t end = nl != NULL ? (size_t)(nl - data) : len;

        rc = tc_buf_puts(&b, "data: ");
        if (rc == 0)
            rc = tc_buf_append(&b, data + i, end - i);
        if (rc == 0)
            rc = tc_buf_puts(&b, "\n");
        i = end + 1;
    }
    if (rc == 0)
        rc = tc_buf_puts(&b, "\n");
    if (rc == 0)
        sent = send_all(s, b.data, b.len);
    tc_buf_free(&b);
    return sent;
}

uint32_t http_server_event_clients(const struct http_server *s)
{
    return s->ev_clients;
}

uint64_t http_server_event_dropped(const struct http_server *s)
{
    return s->ev_dropped;
}

static void on_heartbeat(uv_timer_t *t)
{
    static const char beat[] = ": heartbeat\n\n";

    send_all(t->data, beat, sizeof(beat) - 1);
}

void http__events_init(struct http_server *s, uv_loop_t *loop, uint32_t heartbeat_ms)
{
    uv_timer_init(loop, &s->heartbeat);
    s->heartbeat.data = s;
    uv_timer_start(&s->heartbeat, on_heartbeat, heartbeat_ms, heartbeat_ms);
}

static void on_timer_closed(uv_handle_t *h)
{
    http__server_release(h->data);
}

void http__events_close(struct http_server *s)
{
    uv_timer_stop(&s->heartbeat);
    uv_close((uv_handle_t *)&s->heartbeat, on_timer_closed);
}
