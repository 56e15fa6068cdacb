/* tcp_server: the one accept path and the one close path for every TCP
 * protocol of the node (see tcp_server.h). Loop thread only. */
#include "server/net/tcp_server.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/base/log.h"
#include "server/base/u64map.h"

#define TCP_SERVER_LINGER_MS 2000

enum conn_state {
    CONN_OPEN,   /* input goes to on_read */
    CONN_ENDING, /* tcp_conn_linger(): input discarded, closed at the linger deadline */
    CONN_DRAIN,  /* tcp_conn_shutdown(): FIN queued, input discarded until end of file */
    CONN_CLOSED, /* uv_close called */
};

struct tcp_listener {
    struct tcp_server *srv;
    uv_tcp_t tcp;
    bool open; /* its close callback has not run */
};

struct tcp_conn {
    struct tcp_server *srv;
    struct tcp_conn *prev, *next; /* every connection not freed yet */
    uv_tcp_t tcp;
    uv_timer_t timer; /* idle while open, then the linger deadline */
    uv_shutdown_t sreq;
    enum conn_state state;
    int open_handles; /* closes to wait for before freeing */
    bool counted;     /* holds one of max_conns */
    bool accepted;    /* on_accept was called: on_close is owed */
    bool in_map;      /* findable by id */
    bool reading;     /* uv_read_start in effect */
    bool eof;         /* the peer shut down its side */
    bool idle_on;
    unsigned listener;
    uint64_t id;
    uint64_t last; /* uv_now() of the last activity, for the idle timer */
    /* A whole-message deadline and the per-source slot will sit here. */
    struct sockaddr_storage peer;
    char peer_str[INET6_ADDRSTRLEN + 8];
    alignas(max_align_t) unsigned char data[]; /* the user area */
};

struct tcp_server {
    uv_loop_t *loop;
    struct tcp_server_options o;
    struct tcp_listener listeners[TCP_SERVER_MAX_LISTEN];
    unsigned n_listeners;
    unsigned open_listeners; /* close callbacks not run yet */
    struct tcp_conn *conns;
    struct u64map map; /* by_id: id -> struct map_elem */
    uint64_t next_id;
    struct tcp_server_stats st;
    bool stopping;
    void (*on_stopped)(void *arg);
    char *rbuf; /* shared: each read is consumed before the next */
};

struct map_elem {
    uint64_t id;
    struct tcp_conn *c;
};

struct tcp_write {
    uv_write_t req;
    char data[];
};

/* Teardown ------------------------------------------------------------------ */

static void server_maybe_free(struct tcp_server *s)
{
    void (*stopped)(void *) = s->on_stopped;
    void *arg = s->o.arg;

    if (!s->stopping || s->open_listeners > 0 || s->conns != NULL)
        return;
    u64map_free(&s->map);
    free(s->rbuf);
    free(s);
    if (stopped != NULL)
        stopped(arg);
}

static void map_remove(struct tcp_conn *c)
{
    if (!c->in_map)
        return;
    u64map_remove(&c->srv->map, c->id);
    c->in_map = false;
}

/* The one place a connection is freed: after both its handles closed. */
static void on_conn_close(uv_handle_t *h)
{
    struct tcp_conn *c = h->data;
    struct tcp_server *s = c->srv;

    if (--c->open_handles > 0)
        return;
    if (c->accepted)
        s->o.h.on_close(s->o.arg, c);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    if (c->counted)
        s->st.open--;
    free(c);
    server_maybe_free(s);
}

void tcp_conn_close(struct tcp_conn *c)
{
    if (c->state == CONN_CLOSED)
        return;
    map_remove(c);
    c->state = CONN_CLOSED;
    c->reading = false;
    uv_close((uv_handle_t *)&c->tcp, on_conn_close);
    if (c->open_handles == 2)
        uv_close((uv_handle_t *)&c->timer, on_conn_close);
}

/* Timer and ending -------------------------------------------------------- */

static void on_timer(uv_timer_t *h)
{
    struct tcp_conn *c = h->data;
    struct tcp_server *s = c->srv;
    uint64_t quiet;

    if (c->state != CONN_OPEN) {
        tc_log(DEBUG, "%s: %s: linger over, closing", s->o.name, c->peer_str);
        tcp_conn_close(c);
        return;
    }
    if (!c->idle_on)
        return;
    quiet = uv_now(s->loop) - c->last;
    if (quiet < s->o.idle_ms) {
        uv_timer_start(h, on_timer, s->o.idle_ms - quiet, 0);
        return;
    }
    s->st.idle_closed++;
    tc_log(DEBUG, "%s: %s: silent for %u ms", s->o.name, c->peer_str, s->o.idle_ms);
    if (s->o.h.on_idle != NULL)
        s->o.h.on_idle(s->o.arg, c);
    else
        tcp_conn_close(c);
}

void tcp_conn_idle(struct tcp_conn *c, bool on)
{
    struct tcp_server *s = c->srv;

    if (c->state != CONN_OPEN || s->o.idle_ms == 0 || c->idle_on == on)
        return;
    c->idle_on = on;
    if (on) {
        c->last = uv_now(s->loop);
        uv_timer_start(&c->timer, on_timer, s->o.idle_ms, 0);
    } else {
        uv_timer_stop(&c->timer);
    }
}

void tcp_conn_touch(struct tcp_conn *c)
{
    if (c->idle_on)
        c->last = uv_now(c->srv->loop);
}

void tcp_conn_linger(struct tcp_conn *c)
{
    if (c->state != CONN_OPEN)
        return;
    map_remove(c);
    c->state = CONN_ENDING;
    c->idle_on = false;
    uv_timer_start(&c->timer, on_timer, c->srv->o.linger_ms, 0);
    tcp_conn_read_start(c);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct tcp_conn *c = req->data;

    if (c->state == CONN_CLOSED)
        return;
    if (status < 0 || c->eof)
        tcp_conn_close(c);
}

void tcp_conn_shutdown(struct tcp_conn *c)
{
    if (c->state != CONN_OPEN && c->state != CONN_ENDING)
        return;
    tcp_conn_linger(c);
    c->state = CONN_DRAIN;
    c->sreq.data = c;
    if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
        tcp_conn_close(c);
}

bool tcp_conn_closing(const struct tcp_conn *c)
{
    return c->state != CONN_OPEN;
}

bool tcp_conn_closed(const struct tcp_conn *c)
{
    return c->state == CONN_CLOSED;
}

/* Writing ------------------------------------------------------------------- */

static void on_write(uv_write_t *req, int status)
{
    struct tcp_conn *c = req->handle->data;

    free(req);
    if (status < 0 && c->state != CONN_CLOSED) {
        c->srv->st.write_errors++;
        tc_log(DEBUG, "%s: %s: write: %s", c->srv->o.name, c->peer_str, uv_strerror(status));
        tcp_conn_close(c);
    }
}

/* Queue a copy of the len bytes the socket did not take. */
static int write_rest(struct tcp_conn *c, const char *buf, size_t len)
{
    size_t max = c->srv->o.max_queue;
    struct tcp_write *w;
    uv_buf_t b;
    int rc;

    if (max != 0 && tcp_conn_queued(c) + len > max)
        return -ENOBUFS;
    w = malloc(sizeof(*w) + len);
    if (w == NULL)
        return -ENOMEM;
    memcpy(w->data, buf, len);
    b = uv_buf_init(w->data, (unsigned)len);
    rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0)
        free(w);
    return rc;
}

int tcp_conn_write(struct tcp_conn *c, const char *buf, size_t len)
{
    uv_buf_t b;
    int n;

    if (c->state != CONN_OPEN && c->state != CONN_ENDING)
        return -ENOTCONN;
    if (len > INT_MAX) {
        n = -EMSGSIZE;
        goto out_close;
    }
    b = uv_buf_init((char *)buf, (unsigned)len);
    n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == UV_EAGAIN)
        n = 0;
    if (n >= 0 && (size_t)n < len)
        n = write_rest(c, buf + n, len - (size_t)n);
    if (n >= 0)
        return 0;
out_close:
    tc_log(DEBUG, "%s: %s: send: %s", c->srv->o.name, c->peer_str, uv_strerror(n));
    tcp_conn_close(c);
    return n;
}

size_t tcp_conn_queued(const struct tcp_conn *c)
{
    return uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
}

/* Reading ------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct tcp_conn *c = h->data;
    struct tcp_server *s = c->srv;

    (void)hint;
    buf->len = 0;
    if (c->state == CONN_OPEN && s->o.h.on_alloc != NULL)
        s->o.h.on_alloc(s->o.arg, c, buf);
    if (buf->len == 0)
        *buf = uv_buf_init(s->rbuf, (unsigned)s->o.read_size);
}

static void on_eof(struct tcp_conn *c)
{
    struct tcp_server *s = c->srv;

    c->eof = true;
    c->reading = false;
    if (c->state == CONN_DRAIN && tcp_conn_queued(c) == 0)
        tcp_conn_close(c);
    if (c->state != CONN_OPEN)
        return;
    if (s->o.h.on_eof != NULL)
        s->o.h.on_eof(s->o.arg, c);
    else if (tcp_conn_queued(c) > 0)
        tcp_conn_shutdown(c);
    else
        tcp_conn_close(c);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct tcp_conn *c = stream->data;
    struct tcp_server *s = c->srv;

    if (nread == 0 || c->state == CONN_CLOSED)
        return;
    if (nread == UV_EOF) {
        on_eof(c);
        return;
    }
    if (nread < 0) {
        s->st.read_errors++;
        tc_log(DEBUG, "%s: %s: read: %s", s->o.name, c->peer_str, uv_strerror((int)nread));
        tcp_conn_close(c);
        return;
    }
    if (c->state != CONN_OPEN)
        return;
    if (!s->o.idle_by_user)
        c->last = uv_now(s->loop);
    s->o.h.on_read(s->o.arg, c, buf->base, (size_t)nread);
}

void tcp_conn_read_start(struct tcp_conn *c)
{
    if (c->reading || c->eof || c->state == CONN_CLOSED)
        return;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        tcp_conn_close(c);
        return;
    }
    c->reading = true;
}

void tcp_conn_read_stop(struct tcp_conn *c)
{
    if (c->reading)
        uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
}

/* Accepting ------------------------------------------------------------------- */

static void addr_str(const struct sockaddr_storage *ss, char *out, size_t size)
{
    char ip[INET6_ADDRSTRLEN] = "?";

    if (ss->ss_family == AF_INET6) {
        uv_ip6_name((const struct sockaddr_in6 *)ss, ip, sizeof(ip));
        snprintf(out, size, "[%s]:%d", ip, ntohs(((const struct sockaddr_in6 *)ss)->sin6_port));
    } else {
        uv_ip4_name((const struct sockaddr_in *)ss, ip, sizeof(ip));
        snprintf(out, size, "%s:%d", ip, ntohs(((const struct sockaddr_in *)ss)->sin_port));
    }
}

/* Over the cap: say so if the socket takes it at once, then close. */
static void conn_refuse(struct tcp_conn *c)
{
    struct tcp_server *s = c->srv;
    uv_buf_t b = uv_buf_init((char *)s->o.busy, (unsigned)s->o.busy_len);

    s->st.refused++;
    tc_log(DEBUG, "%s: %s: %u connections open, refused", s->o.name, c->peer_str, s->st.open);
    if (s->o.busy_len > 0)
        uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    tcp_conn_close(c);
}

/* c holds a slot: give it an id, its timer and the protocol. */
static int conn_open(struct tcp_conn *c)
{
    struct tcp_server *s = c->srv;
    struct map_elem *e;

    c->counted = true;
    s->st.open++;
    s->st.accepted++;
    c->id = s->next_id++;
    uv_timer_init(s->loop, &c->timer);
    c->timer.data = c;
    c->open_handles++;
    if (s->o.by_id) {
        e = u64map_insert(&s->map, c->id);
        if (e == NULL)
            return -ENOMEM;
        e->c = c;
        c->in_map = true;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    tcp_conn_idle(c, true);
    c->accepted = true;
    return s->o.h.on_accept(s->o.arg, c);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct tcp_listener *l = server->data;
    struct tcp_server *s = l->srv;
    struct tcp_conn *c;
    int len = sizeof(c->peer), rc;

    if (status < 0) {
        tc_log(WARN, "%s: accept: %s", s->o.name, uv_strerror(status));
        return;
    }
    c = calloc(1, sizeof(*c) + s->o.conn_size);
    if (c == NULL) {
        tc_log(ERR, "%s: accept: out of memory", s->o.name);
        return;
    }
    c->srv = s;
    c->listener = (unsigned)(l - s->listeners);
    uv_tcp_init(s->loop, &c->tcp);
    c->tcp.data = c;
    c->open_handles = 1;
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    rc = uv_accept(server, (uv_stream_t *)&c->tcp);
    if (rc == 0)
        rc = uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer, &len);
    if (rc == 0) {
        addr_str(&c->peer, c->peer_str, sizeof(c->peer_str));
        if (s->st.open >= s->o.max_conns) {
            conn_refuse(c);
            return;
        }
        rc = conn_open(c);
    }
    if (rc < 0) {
        tc_log(DEBUG, "%s: accept: %s", s->o.name, uv_strerror(rc));
        tcp_conn_close(c);
        return;
    }
    if (c->state == CONN_OPEN)
        tcp_conn_read_start(c);
}

/* Listening ------------------------------------------------------------------- */

static void on_listener_close(uv_handle_t *h)
{
    struct tcp_listener *l = h->data;

    l->open = false;
    l->srv->open_listeners--;
    server_maybe_free(l->srv);
}

/* A new listener slot with its handle, or NULL past TCP_SERVER_MAX_LISTEN. */
static struct tcp_listener *listener_new(struct tcp_server *s)
{
    struct tcp_listener *l;

    if (s->n_listeners == TCP_SERVER_MAX_LISTEN)
        return NULL;
    l = &s->listeners[s->n_listeners++];
    l->srv = s;
    uv_tcp_init(s->loop, &l->tcp);
    l->tcp.data = l;
    l->open = true;
    s->open_listeners++;
    return l;
}

/* Log where l listens, with the port the system chose for port 0. */
static void listener_log(struct tcp_listener *l)
{
    struct sockaddr_storage ss;
    char addr[INET6_ADDRSTRLEN + 8] = "?";
    int len = sizeof(ss);

    if (uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &len) == 0)
        addr_str(&ss, addr, sizeof(addr));
    tc_log(INFO, "%s: listening on %s", l->srv->o.name, addr);
}

static int listener_fail(struct tcp_listener *l, const char *addr, int rc)
{
    tc_log(ERR, "%s: listen on %s: %s", l->srv->o.name, addr, uv_strerror(rc));
    uv_close((uv_handle_t *)&l->tcp, on_listener_close);
    return rc;
}

int tcp_server_listen(struct tcp_server *s, const char *host, uint16_t port)
{
    struct sockaddr_storage ss;
    struct tcp_listener *l;
    char addr[INET6_ADDRSTRLEN + 8];
    int rc;

    memset(&ss, 0, sizeof(ss));
    if (host == NULL || (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
                         uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)) {
        tc_log(ERR, "%s: listen on %s port %u: not a numeric address", s->o.name,
               host != NULL ? host : "(none)", port);
        return -EINVAL;
    }
    addr_str(&ss, addr, sizeof(addr));
    l = listener_new(s);
    if (l == NULL)
        return -ENOSPC;
    /* libuv reports EADDRINUSE from bind only at listen. */
    rc = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&l->tcp, (int)s->o.backlog, on_connection);
    if (rc != 0)
        return listener_fail(l, addr, rc);
    listener_log(l);
    return 0;
}

int tcp_server_listen_fd(struct tcp_server *s, uv_os_sock_t fd)
{
    struct sockaddr_storage ss;
    struct tcp_listener *l = listener_new(s);
    socklen_t len = sizeof(ss);
    char addr[INET6_ADDRSTRLEN + 8] = "?";
    int rc;

    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        addr_str(&ss, addr, sizeof(addr));
    if (l == NULL) {
        close(fd);
        return -ENOSPC;
    }
    rc = uv_tcp_open(&l->tcp, fd);
    if (rc != 0)
        close(fd);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&l->tcp, (int)s->o.backlog, on_connection);
    if (rc != 0)
        return listener_fail(l, addr, rc);
    listener_log(l);
    return 0;
}

int tcp_server_port(const struct tcp_server *s, unsigned i)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    int rc;

    if (i >= s->n_listeners || !s->listeners[i].open ||
        uv_is_closing((const uv_handle_t *)&s->listeners[i].tcp))
        return -EINVAL;
    rc = uv_tcp_getsockname(&s->listeners[i].tcp, (struct sockaddr *)&ss, &len);
    if (rc != 0)
        return rc;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* The server ------------------------------------------------------------------ */

int tcp_server_new(struct tcp_server **out, uv_loop_t *loop, const struct tcp_server_options *opt)
{
    struct tcp_server *s;

    if (opt->max_conns == 0 || opt->h.on_accept == NULL || opt->h.on_read == NULL ||
        opt->h.on_close == NULL || opt->name == NULL)
        return -EINVAL;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    s->loop = loop;
    s->o = *opt;
    if (s->o.linger_ms == 0)
        s->o.linger_ms = TCP_SERVER_LINGER_MS;
    if (s->o.backlog == 0)
        s->o.backlog = TCP_SERVER_BACKLOG;
    if (s->o.read_size == 0 || s->o.read_size > UINT_MAX)
        s->o.read_size = TCP_SERVER_READ_SIZE;
    s->next_id = 1;
    u64map_init(&s->map, sizeof(struct map_elem));
    s->rbuf = malloc(s->o.read_size);
    if (s->rbuf == NULL) {
        free(s);
        return -ENOMEM;
    }
    *out = s;
    return 0;
}

void tcp_server_stop(struct tcp_server *s, void (*on_stopped)(void *arg))
{
    struct tcp_conn *c;
    unsigned i;

    assert(!s->stopping);
    s->stopping = true;
    s->on_stopped = on_stopped;
    for (i = 0; i < s->n_listeners; i++) {
        if (s->listeners[i].open && !uv_is_closing((uv_handle_t *)&s->listeners[i].tcp))
            uv_close((uv_handle_t *)&s->listeners[i].tcp, on_listener_close);
    }
    for (c = s->conns; c != NULL; c = c->next)
        tcp_conn_close(c);
    server_maybe_free(s);
}

const struct tcp_server_stats *tcp_server_stats(const struct tcp_server *s)
{
    return &s->st;
}

struct tcp_conn *tcp_server_find(const struct tcp_server *s, uint64_t id)
{
    const struct map_elem *e;

    if (id == 0)
        return NULL;
    e = u64map_find(&s->map, id);
    return e != NULL ? e->c : NULL;
}

/* A connection's accessors ------------------------------------------------------ */

void *tcp_conn_data(const struct tcp_conn *c)
{
    return c->srv->o.conn_size > 0 ? (void *)c->data : NULL;
}

uint64_t tcp_conn_id(const struct tcp_conn *c)
{
    return c->id;
}

unsigned tcp_conn_listener(const struct tcp_conn *c)
{
    return c->listener;
}

const struct sockaddr_storage *tcp_conn_peer_addr(const struct tcp_conn *c)
{
    return &c->peer;
}

const char *tcp_conn_peer(const struct tcp_conn *c)
{
    return c->peer_str;
}

uv_stream_t *tcp_conn_stream(struct tcp_conn *c)
{
    return (uv_stream_t *)&c->tcp;
}
