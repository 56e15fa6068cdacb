/* sip_transport: SIP over UDP and TCP on the loop. This file holds the
 * listeners and the public API; UDP input and output are in sip_udp.c, TCP
 * connections in sip_tcp.c, framing in sip_frame.c. */
#include "server/sip/sip_transport.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/base/log.h"
#include "server/net/tcp_server.h"
#include "server/sip/sip_transport_int.h"

#define SIP_BACKLOG       511
#define SIP_BIND_ATTEMPTS 16 /* port 0: tries to find a port free for UDP and TCP */

/* Teardown ------------------------------------------------------------------ */

static void transport_free(struct sip_transport *t)
{
    unsigned i;

    for (i = 0; i < t->n_listeners; i++) {
        free(t->listeners[i].udp_buf);
        free(t->listeners[i].out);
    }
    free(t);
}

void sip_transport__maybe_free(struct sip_transport *t)
{
    if (t->stopping && t->listener_handles == 0)
        transport_free(t);
}

/* Sending --------------------------------------------------------------------- */

int sip_transport_send_to(struct sip_transport *t, unsigned listener, const struct sockaddr *addr,
                          const char *buf, size_t len)
{
    struct sip_listener *l = NULL;
    unsigned i;
    int rc = -EAFNOSUPPORT;

    if (t->stopping) {
        rc = -ESHUTDOWN;
        goto out_fail;
    }
    if (listener < t->n_listeners && t->listeners[listener].addr.ss_family == addr->sa_family)
        l = &t->listeners[listener];
    for (i = 0; l == NULL && i < t->n_listeners; i++) {
        if (t->listeners[i].addr.ss_family == addr->sa_family)
            l = &t->listeners[i];
    }
    if (l != NULL)
        rc = sip_transport__udp_send(l, addr, buf, len);
    if (rc == 0)
        return 0;
out_fail:
    tc_log(DEBUG, "sip: udp send: %s", uv_strerror(rc));
    t->stats.send_failed++;
    return rc;
}

int sip_transport_send(struct sip_transport *t, const struct sip_src *dst, const char *buf,
                       size_t len)
{
    int rc;

    if (dst->proto == SIP_PROTO_UDP)
        return sip_transport_send_to(t, dst->listener, (const struct sockaddr *)&dst->peer, buf,
                                     len);
    rc = t->stopping ? -ENOTCONN : sip_transport__tcp_send(t, dst->conn_id, buf, len);
    if (rc < 0)
        t->stats.send_failed++;
    return rc;
}

/* Starting --------------------------------------------------------------------- */

static socklen_t addr_len(const struct sockaddr_storage *ss)
{
    return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
    if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
    else
        ((struct sockaddr_in *)ss)->sin_port = htons(port);
}

static uint16_t get_port(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

/* A bound socket of type, non-blocking, IPv6-only when IPv6. Returns the fd
 * or a negative errno. */
static int open_socket(const struct sockaddr_storage *ss, int type)
{
    int on = 1;
    int fd, rc;

    fd = socket(ss->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (type == SOCK_STREAM && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0)
        goto out_close;
    if (ss->ss_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) != 0)
        goto out_close;
    if (bind(fd, (const struct sockaddr *)ss, addr_len(ss)) != 0)
        goto out_close;
    if (type == SOCK_STREAM && listen(fd, SIP_BACKLOG) != 0)
        goto out_close;
    return fd;

out_close:
    rc = -errno;
    close(fd);
    return rc;
}

/* A listening TCP socket and a UDP socket on the same port of *ss, which gets
 * the bound address. Port 0 picks a port free for both. */
static int bind_pair(struct sockaddr_storage *ss, int *tcp_fd, int *udp_fd)
{
    bool any = get_port(ss) == 0;
    socklen_t len;
    int attempt, tfd, ufd = -EADDRINUSE;

    for (attempt = 0; attempt < SIP_BIND_ATTEMPTS; attempt++) {
        if (any)
            set_port(ss, 0);
        tfd = open_socket(ss, SOCK_STREAM);
        if (tfd < 0)
            return tfd;
        len = sizeof(*ss);
        if (getsockname(tfd, (struct sockaddr *)ss, &len) != 0) {
            ufd = -errno;
            close(tfd);
            return ufd;
        }
        ufd = open_socket(ss, SOCK_DGRAM);
        if (ufd >= 0) {
            *tcp_fd = tfd;
            *udp_fd = ufd;
            return 0;
        }
        close(tfd);
        if (ufd != -EADDRINUSE || !any)
            break;
    }
    return ufd;
}

static void on_listener_close(uv_handle_t *h)
{
    struct sip_listener *l = h->data;

    l->udp_init = false;
    l->t->listener_handles--;
    sip_transport__maybe_free(l->t);
}

static void on_flush_closed(uv_handle_t *h)
{
    struct sip_transport *t = h->data;

    t->listener_handles--;
    sip_transport__maybe_free(t);
}

static void on_tcp_stopped(void *arg)
{
    struct sip_transport *t = arg;

    t->listener_handles--;
    sip_transport__maybe_free(t);
}

/* Open listener l on the parsed address ss: both sockets and their handles. */
static int listener_open(struct sip_listener *l, struct sockaddr_storage *ss)
{
    struct sip_transport *t = l->t;
    int tfd = -1, ufd = -1, rc;

    rc = bind_pair(ss, &tfd, &ufd);
    if (rc < 0)
        return rc;
    l->addr = *ss;
    /* The TCP server takes tfd, and numbers it as l: listener i is its i. */
    rc = tcp_server_listen_fd(t->tcp, tfd);
    tfd = -1;
    if (rc < 0)
        goto out_close_fds;
    rc = uv_udp_init_ex(t->loop, &l->udp, AF_UNSPEC | UV_UDP_RECVMMSG);
    if (rc < 0)
        goto out_close_fds;
    l->udp.data = l;
    l->udp_init = true;
    t->listener_handles++;
    rc = uv_udp_open(&l->udp, ufd);
    if (rc < 0)
        goto out_close_fds;
    ufd = -1;
    return sip_transport__udp_start(l);

out_close_fds:
    if (tfd >= 0)
        close(tfd);
    if (ufd >= 0)
        close(ufd);
    return rc;
}

static int parse_addr(const struct sip_transport_addr *a, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (a->host == NULL)
        return -EINVAL;
    if (uv_ip4_addr(a->host, a->port, (struct sockaddr_in *)ss) == 0)
        return 0;
    if (uv_ip6_addr(a->host, a->port, (struct sockaddr_in6 *)ss) == 0)
        return 0;
    return -EINVAL;
}

static int transport_new(struct sip_transport **out, uv_loop_t *loop,
                         const struct sip_transport_options *opt)
{
    struct sip_transport *t;

    if (opt->n_addrs == 0 || opt->n_addrs > SIP_TRANSPORT_MAX_LISTEN || opt->addrs == NULL ||
        opt->on_message == NULL)
        return -EINVAL;
    if (opt->max_message != 0 && opt->max_message < SIP_TRANSPORT_MIN_MESSAGE)
        return -EINVAL;
    if (opt->max_connections > SIP_TRANSPORT_MAX_CONNS)
        return -EINVAL;
    t = calloc(1, sizeof(*t));
    if (t == NULL)
        return -ENOMEM;
    t->loop = loop;
    t->on_message = opt->on_message;
    t->on_error = opt->on_error;
    t->arg = opt->arg;
    t->max_message = opt->max_message ? opt->max_message : SIP_TRANSPORT_DEFAULT_MAX_MESSAGE;
    t->max_conns = opt->max_connections ? opt->max_connections : SIP_TRANSPORT_DEFAULT_MAX_CONNS;
    t->idle_ms = opt->idle_timeout_ms ? opt->idle_timeout_ms : SIP_TRANSPORT_DEFAULT_IDLE_MS;
    t->message_ms = opt->message_timeout_ms;
    t->max_per_source = opt->max_per_source;
    if (sip_transport__tcp_new(t) != 0) {
        free(t);
        return -ENOMEM;
    }
    uv_check_init(loop, &t->flush_check);
    uv_idle_init(loop, &t->flush_idle);
    t->flush_check.data = t;
    t->flush_idle.data = t;
    t->flush_init = true;
    t->listener_handles += 3; /* the flush handles and the TCP server */
    *out = t;
    return 0;
}

int sip_transport_start(struct sip_transport **out, uv_loop_t *loop,
                        const struct sip_transport_options *opt, unsigned *failed)
{
    struct sockaddr_storage ss;
    struct sip_transport *t;
    unsigned i;
    int rc;

    rc = transport_new(&t, loop, opt);
    if (rc < 0)
        return rc;
    for (i = 0; i < opt->n_addrs; i++) {
        t->listeners[i].t = t;
        t->n_listeners = i + 1;
        rc = parse_addr(&opt->addrs[i], &ss);
        if (rc < 0)
            goto out_stop;
        rc = listener_open(&t->listeners[i], &ss);
        if (rc < 0)
            goto out_stop;
    }
    *out = t;
    return 0;

out_stop:
    if (failed != NULL)
        *failed = i;
    sip_transport_stop(t);
    return rc;
}

unsigned sip_transport_listeners(const struct sip_transport *t)
{
    return t->n_listeners;
}

int sip_transport_port(const struct sip_transport *t, unsigned i)
{
    if (i >= t->n_listeners)
        return -EINVAL;
    return get_port(&t->listeners[i].addr);
}

void sip_transport_stats(const struct sip_transport *t, struct sip_transport_stats *out)
{
    const struct tcp_server_stats *tcp = tcp_server_stats(t->tcp);

    *out = t->stats;
    out->conns_accepted = tcp->accepted;
    out->conns_refused = tcp->refused;
    out->conns_idle_closed = tcp->idle_closed;
    out->conns_open = tcp->open;
    out->recv_errors += tcp->read_errors;
    out->send_failed += tcp->write_errors;
}

int sip_transport_metrics(const struct sip_transport *t, struct tc_buf *b)
{
    return tcp_server_metrics(t->tcp, "sip_tcp", b);
}

void sip_transport_stop(struct sip_transport *t)
{
    struct sip_listener *l;
    unsigned i;

    if (t->stopping)
        return;
    /* Answers queued this turn (the store's last ones at shutdown) go out. */
    sip_transport__udp_flush_all(t);
    t->stopping = true;
    if (t->flush_init) {
        uv_close((uv_handle_t *)&t->flush_check, on_flush_closed);
        uv_close((uv_handle_t *)&t->flush_idle, on_flush_closed);
        t->flush_init = false;
    }
    for (i = 0; i < t->n_listeners; i++) {
        l = &t->listeners[i];
        if (l->udp_init)
            uv_close((uv_handle_t *)&l->udp, on_listener_close);
    }
    tcp_server_stop(t->tcp, on_tcp_stopped);
}
