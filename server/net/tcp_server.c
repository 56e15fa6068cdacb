/* tcp_server: the one accept path for every TCP protocol of the node
 * (see tcp_server.h): listeners, accepting under the cap, stopping. One
 * connection's life is in tcp_conn.c. Loop thread only. */
#include "server/net/tcp_server.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "server/base/log.h"
#include "server/net/tcp_server_int.h"

void tcp_server__maybe_free(struct tcp_server *s)
{
    void (*stopped)(void *) = s->on_stopped;
    void *arg = s->o.arg;

    if (!s->stopping || s->open_listeners > 0 || s->conns != NULL || s->turn_open)
        return;
    u64map_free(&s->map);
    u64map_free(&s->sources);
    free(s->rbuf);
    free(s);
    if (stopped != NULL)
        stopped(arg);
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

void tcp_server__release(struct tcp_conn *c)
{
    struct tcp_server *s = c->srv;
    struct source_elem *e;

    if (c->counted) {
        c->counted = false;
        s->st.open--;
    }
    if (c->per_source) {
        c->per_source = false;
        e = u64map_find(&s->sources, c->source);
        if (e != NULL && --e->open == 0)
            u64map_remove(&s->sources, c->source);
    }
}

/* Whom a connection is counted against: an IPv4 address (a v4-mapped
 * IPv6 one too), or an IPv6 /64, as one host may hold a whole /64. Never 0. */
static uint64_t source_key(const struct sockaddr_storage *ss)
{
    const uint8_t *a;
    uint64_t k = 0;

    if (ss->ss_family != AF_INET6)
        return UINT64_C(1) << 32 | ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr);
    a = ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)ss)->sin6_addr))
        return UINT64_C(1) << 32 | (uint64_t)a[12] << 24 | (uint64_t)a[13] << 16 |
               (uint64_t)a[14] << 8 | a[15];
    for (int i = 0; i < 8; i++)
        k = k << 8 | a[i];
    return k != 0 ? k : 1;
}

/* Refused: say so if the socket takes it at once, then close. */
static void conn_refuse(struct tcp_conn *c)
{
    struct tcp_server *s = c->srv;
    uv_buf_t b = uv_buf_init((char *)s->o.busy, (unsigned)s->o.busy_len);

    if (s->o.busy_len > 0)
        uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    tcp_conn_close(c);
}

/* Connections open from c's source (1 without max_per_source). */
static uint64_t source_open(const struct tcp_server *s, const struct tcp_conn *c)
{
    const struct source_elem *e;

    if (!c->per_source)
        return 1;
    e = u64map_find(&s->sources, c->source);
    return e != NULL ? e->open : 1;
}

/* At max_conns: close a connection in the middle of a message, so that
 * connections trickling bytes cannot hold the slots a new client needs:
 * one of the source holding the most connections, and of those the one
 * whose message began first. So a client alone at its address is not
 * evicted while a source with many late messages remains, however slow
 * its own message (an attacker reconnecting fast keeps its own messages
 * young, hence no minimum age either). A scan of the connections, only
 * when the server is full. Returns whether a slot was freed. */
static bool evict_late(struct tcp_server *s)
{
    uint64_t now = uv_now(s->loop), n, most = 0;
    struct tcp_conn *c, *victim = NULL;

    if (s->o.message_ms == 0)
        return false;
    for (c = s->conns; c != NULL; c = c->next) {
        if (c->state != CONN_OPEN || !c->counted || c->msg_start == 0)
            continue;
        n = source_open(s, c);
        if (victim == NULL || n > most || (n == most && c->msg_start < victim->msg_start)) {
            victim = c;
            most = n;
        }
    }
    if (victim == NULL)
        return false;
    s->st.evicted++;
    tc_log_limited(NOTICE,
                   "%s: %u connections open: closed the one from %s, its message pending "
                   "for %llu ms, to take a new one",
                   s->o.name, s->st.open, victim->peer_str,
                   (unsigned long long)(now - victim->msg_start));
    tcp_server__release(victim);
    tcp_conn_close(victim);
    return true;
}

/* Whether c may take a slot: under its source's cap, and under max_conns
 * (after evicting a late message if need be). Returns 0 when c holds its
 * source's slot, 1 when c was refused, or -ENOMEM. */
static int conn_admit(struct tcp_conn *c)
{
    struct tcp_server *s = c->srv;
    struct source_elem *e = NULL;

    if (s->o.max_per_source > 0) {
        c->source = source_key(&c->peer);
        e = u64map_find(&s->sources, c->source);
        if (e != NULL && e->open >= s->o.max_per_source) {
            s->st.refused_per_source++;
            tc_log_limited(NOTICE, "%s: connection from %s refused: %u open from that source",
                           s->o.name, c->peer_str, s->o.max_per_source);
            conn_refuse(c);
            return 1;
        }
    }
    if (s->st.open >= s->o.max_conns && !evict_late(s)) {
        s->st.refused++;
        tc_log_limited(NOTICE, "%s: connection from %s refused: %u connections open", s->o.name,
                       c->peer_str, s->st.open);
        conn_refuse(c);
        return 1;
    }
    if (s->o.max_per_source == 0)
        return 0;
    e = u64map_insert(&s->sources, c->source);
    if (e == NULL)
        return -ENOMEM;
    e->open++;
    c->per_source = true;
    return 0;
}

/* c holds a slot: give it an id, its timers and the protocol. */
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
    c->last = uv_now(s->loop);
    c->idle_on = s->o.idle_ms > 0;
    /* The first message's clock runs from the accept: a connection that
     * sends nothing holds its slot no longer than one that trickles. */
    if (s->o.message_ms > 0)
        c->msg_start = c->last;
    tcp_conn__arm(c);
    c->accepted = true;
    return s->o.h.on_accept(s->o.arg, c);
}

/* Take the connection libuv holds for l. Returns false when it could not
 * even be taken (out of memory): it stays with libuv for another turn. */
static bool accept_one(struct tcp_listener *l)
{
    struct tcp_server *s = l->srv;
    struct tcp_conn *c;
    int len = sizeof(c->peer), rc;

    c = calloc(1, sizeof(*c) + s->o.conn_size);
    if (c == NULL) {
        tc_log(ERR, "%s: accept: out of memory", s->o.name);
        return false;
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
    rc = uv_accept((uv_stream_t *)&l->tcp, (uv_stream_t *)&c->tcp);
    if (rc == 0)
        rc = uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer, &len);
    if (rc == 0) {
        addr_str(&c->peer, c->peer_str, sizeof(c->peer_str));
        rc = conn_admit(c);
        if (rc == 1)
            return true;
        if (rc == 0)
            rc = conn_open(c);
    }
    if (rc < 0) {
        tc_log(DEBUG, "%s: accept: %s", s->o.name, uv_strerror(rc));
        tcp_conn_close(c);
        return true;
    }
    if (c->state == CONN_OPEN)
        tcp_conn_read_start(c);
    return true;
}

/* libuv accepts until the backlog is empty before the loop goes on. A
 * client that reconnects as fast as its connections are closed (evicted at
 * the cap, refused over its source's share) refills the backlog faster
 * than a loaded node empties it, and the loop would stay here: no input
 * read, no timer run, on any port of the node. So past
 * TCP_SERVER_ACCEPT_BATCH in one turn of the loop a connection is left
 * with libuv, which stops watching the listener until on_turn() takes it,
 * after this turn's input was read. */
static void on_connection(uv_stream_t *server, int status)
{
    struct tcp_listener *l = server->data;
    struct tcp_server *s = l->srv;

    if (status < 0) {
        /* Once per connection a client may cause: at a bounded rate. (Out
         * of file descriptors, libuv accepts and closes connections itself
         * and says nothing.) */
        tc_log_limited(WARN, "%s: accept: %s", s->o.name, uv_strerror(status));
        return;
    }
    if (s->turn_accepts >= TCP_SERVER_ACCEPT_BATCH || !accept_one(l)) {
        l->deferred = true;
        return;
    }
    s->turn_accepts++;
}

/* The end of a turn of the loop (after its input): a new batch of accepts,
 * starting with the connections left with libuv, which also makes libuv
 * watch their listeners again. */
static void on_turn(uv_check_t *h)
{
    struct tcp_server *s = h->data;
    struct tcp_listener *l;

    s->turn_accepts = 0;
    for (unsigned i = 0; i < s->n_listeners; i++) {
        l = &s->listeners[i];
        if (!l->deferred || !l->open || uv_is_closing((uv_handle_t *)&l->tcp))
            continue;
        l->deferred = !accept_one(l);
        s->turn_accepts++;
    }
}

static void on_turn_close(uv_handle_t *h)
{
    struct tcp_server *s = h->data;

    s->turn_open = false;
    tcp_server__maybe_free(s);
}

/* Listening ------------------------------------------------------------------- */

static void on_listener_close(uv_handle_t *h)
{
    struct tcp_listener *l = h->data;

    l->open = false;
    l->srv->open_listeners--;
    tcp_server__maybe_free(l->srv);
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

/* Listen on l once its socket is bound (rc: how that went); on failure
 * log it with addr and close l. */
static int listener_start(struct tcp_listener *l, const char *addr, int rc)
{
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&l->tcp, (int)l->srv->o.backlog, on_connection);
    if (rc != 0) {
        tc_log(ERR, "%s: listen on %s: %s", l->srv->o.name, addr, uv_strerror(rc));
        uv_close((uv_handle_t *)&l->tcp, on_listener_close);
        return rc;
    }
    listener_log(l);
    return 0;
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
    return listener_start(l, addr, rc);
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
    return listener_start(l, addr, rc);
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

/* Each connection is a file descriptor: raise the soft limit of open files
 * to the hard one (the soft is often 1024, the hard far above; a node with
 * thousands of phones on TCP needs them), and say so when max_conns cannot
 * fit under the hard one. */
static void raise_nofile(const struct tcp_server *s)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t was = rl.rlim_cur;

        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            rl.rlim_cur = was;
    }
    if (rl.rlim_cur != RLIM_INFINITY &&
        (rlim_t)s->o.max_conns + TCP_SERVER_FD_RESERVE > rl.rlim_cur)
        tc_log(WARN,
               "%s: %u connections allowed but %llu open files: past the files left, "
               "connections are closed at once (raise LimitNOFILE or ulimit -n)",
               s->o.name, s->o.max_conns, (unsigned long long)rl.rlim_cur);
}

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
    raise_nofile(s);
    u64map_init(&s->map, sizeof(struct map_elem));
    u64map_init(&s->sources, sizeof(struct source_elem));
    s->rbuf = malloc(s->o.read_size);
    if (s->rbuf == NULL) {
        free(s);
        return -ENOMEM;
    }
    uv_check_init(loop, &s->turn);
    s->turn.data = s;
    uv_check_start(&s->turn, on_turn);
    /* It only ends turns: it must not keep the loop running. */
    uv_unref((uv_handle_t *)&s->turn);
    s->turn_open = true;
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
    uv_close((uv_handle_t *)&s->turn, on_turn_close);
    for (c = s->conns; c != NULL; c = c->next)
        tcp_conn_close(c);
    tcp_server__maybe_free(s);
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
