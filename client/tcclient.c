#include "client/tcclient.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/base/buf.h"
#include "tcport/challenge.h"
#include "tcport/frame.h"

#define TCCLIENT_READ_CHUNK 65536
#define TCCLIENT_HOST_MAX   256

struct tcclient {
    int fd;
    int dead;          /* 0, or the error that killed the connection */
    uint32_t next_ref; /* the next reference id to hand out, never 0 */
    uint32_t max_frame;
    struct tc_buf in; /* bytes read and not yet decoded: < max_frame + FRAME_HEADER */
};

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Deadline for a timeout (negative: none). */
static int64_t deadline_of(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

/* Milliseconds left until deadline, for poll(): -1 without one, 0 once past. */
static int left_ms(int64_t deadline)
{
    int64_t left;

    if (deadline < 0)
        return -1;
    left = deadline - now_ms();
    if (left <= 0)
        return 0;
    return left > 1000000000 ? 1000000000 : (int)left;
}

/* Wait for events on fd until deadline. Returns 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    struct pollfd p = {.fd = fd, .events = events};
    int rc;

    for (;;) {
        rc = poll(&p, 1, left_ms(deadline));
        if (rc > 0)
            return 0;
        if (rc == 0)
            return -ETIMEDOUT;
        if (errno != EINTR)
            return -errno;
    }
}

/* Split "HOST:PORT" or "[HOST]:PORT" into host (cap bytes) and port. */
static int split_hostport(const char *hp, char *host, size_t cap, const char **port)
{
    const char *colon;
    size_t hlen;

    if (hp == NULL)
        return TCCLIENT_EADDRESS;
    if (hp[0] == '[') {
        const char *end = strchr(hp, ']');

        if (end == NULL || end[1] != ':')
            return TCCLIENT_EADDRESS;
        hp++;
        hlen = (size_t)(end - hp);
        colon = end + 1;
    } else {
        colon = strrchr(hp, ':');
        if (colon == NULL || memchr(hp, ':', (size_t)(colon - hp)) != NULL)
            return TCCLIENT_EADDRESS; /* none, or an IPv6 literal without brackets */
        hlen = (size_t)(colon - hp);
    }
    if (hlen == 0 || hlen >= cap)
        return TCCLIENT_EADDRESS;
    *port = colon + 1;
    if (**port == '\0' || strspn(*port, "0123456789") != strlen(*port) || strlen(*port) > 5 ||
        atoi(*port) < 1 || atoi(*port) > 65535)
        return TCCLIENT_EADDRESS;
    memcpy(host, hp, hlen);
    host[hlen] = '\0';
    return 0;
}

/* Connect a non-blocking socket to one address by deadline. Returns the
 * connected fd or a negative errno. */
static int connect_one(const struct addrinfo *ai, int64_t deadline)
{
    socklen_t len = sizeof(int);
    int fd, rc, err = 0, one = 1;

    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0)
        return -errno;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) {
            rc = -errno;
            goto out_close;
        }
        rc = wait_fd(fd, POLLOUT, deadline);
        if (rc != 0)
            goto out_close;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
            rc = -errno;
            goto out_close;
        }
        if (err != 0) {
            rc = -err;
            goto out_close;
        }
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;

out_close:
    close(fd);
    return rc;
}

int tcclient_connect(struct tcclient **out, const char *hostport, int timeout_ms)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    int64_t deadline = deadline_of(timeout_ms);
    char host[TCCLIENT_HOST_MAX];
    struct addrinfo *res, *ai;
    struct tcclient *c;
    const char *port;
    int rc, fd = -ECONNREFUSED;

    rc = split_hostport(hostport, host, sizeof(host), &port);
    if (rc != 0)
        return rc;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        rc = rc == EAI_MEMORY ? -ENOMEM : TCCLIENT_ERESOLVE;
        goto out_free;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = connect_one(ai, deadline);
        if (fd >= 0 || fd == -ETIMEDOUT)
            break;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        rc = fd;
        goto out_free;
    }
    c->fd = fd;
    c->next_ref = 1;
    c->max_frame = TCCLIENT_MAX_FRAME;
    *out = c;
    return 0;

out_free:
    free(c);
    return rc;
}

void tcclient_close(struct tcclient *c)
{
    if (c == NULL)
        return;
    close(c->fd);
    tc_buf_free(&c->in);
    free(c);
}

void tcclient_set_max_frame(struct tcclient *c, uint32_t max)
{
    c->max_frame = max < 16 ? 16 : max;
}

int tcclient_fd(const struct tcclient *c)
{
    return c->fd;
}

bool tcclient_pending(const struct tcclient *c)
{
    const uint8_t *payload;
    uint32_t plen;

    return c->dead == 0 && frame_next((const uint8_t *)c->in.data, c->in.len, c->max_frame,
                                      &payload, &plen) != FRAME_MORE;
}

/* Remember err as the end of the connection and return it. */
static int kill_conn(struct tcclient *c, int err)
{
    c->dead = err;
    return err;
}

static int send_all(struct tcclient *c, const uint8_t *p, size_t len, int64_t deadline)
{
    while (len > 0) {
        ssize_t w = send(c->fd, p, len, MSG_NOSIGNAL);
        int rc;

        if (w > 0) {
            p += w;
            len -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return kill_conn(c, -errno);
        rc = wait_fd(c->fd, POLLOUT, deadline);
        if (rc != 0)
            return kill_conn(c, rc);
    }
    return 0;
}

int tcclient_send(struct tcclient *c, Tc__Request *rq, int timeout_ms)
{
    struct tc_buf b = TC_BUF_INIT;
    int rc;

    if (c->dead != 0)
        return c->dead;
    if (rq->ref_id == 0) {
        rq->ref_id = c->next_ref++;
        if (c->next_ref == 0)
            c->next_ref = 1;
    }
    rc = frame_pack(&b, &rq->base);
    if (rc == 0)
        rc = send_all(c, (const uint8_t *)b.data, b.len, deadline_of(timeout_ms));
    tc_buf_free(&b);
    return rc;
}

/* Read once into c->in, keeping it under max_frame + FRAME_HEADER bytes. */
static int fill(struct tcclient *c, int64_t deadline)
{
    size_t cap = (size_t)c->max_frame + FRAME_HEADER;
    size_t want = cap - c->in.len;
    ssize_t r;
    int rc;

    if (want > TCCLIENT_READ_CHUNK)
        want = TCCLIENT_READ_CHUNK;
    rc = tc_buf_reserve(&c->in, want);
    if (rc != 0)
        return rc;
    for (;;) {
        r = recv(c->fd, c->in.data + c->in.len, want, 0);
        if (r > 0) {
            c->in.len += (size_t)r;
            return 0;
        }
        if (r == 0)
            return kill_conn(c, TCCLIENT_ECLOSED);
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return kill_conn(c, -errno);
        rc = wait_fd(c->fd, POLLIN, deadline);
        if (rc == -ETIMEDOUT)
            return rc;
        if (rc != 0)
            return kill_conn(c, rc);
    }
}

static int next_by(struct tcclient *c, int64_t deadline, Tc__Event **out)
{
    const uint8_t *payload;
    Tc__Event *ev;
    uint32_t plen;
    int rc;

    if (c->dead != 0)
        return c->dead;
    for (;;) {
        /* A frame starts with a big-endian length far below 2^24: a first
         * byte that is printable text is an HTTP or SIP server answering. */
        if (c->in.len > 0 && (uint8_t)c->in.data[0] >= 0x20 && (uint8_t)c->in.data[0] < 0x7f)
            return kill_conn(c, TCCLIENT_ENOTTC);
        rc = frame_next((const uint8_t *)c->in.data, c->in.len, c->max_frame, &payload, &plen);
        if (rc < 0)
            return kill_conn(c, rc);
        if (rc == FRAME_READY)
            break;
        rc = fill(c, deadline);
        if (rc != 0)
            return rc;
    }
    ev = tc__event__unpack(NULL, plen, payload);
    if (ev == NULL)
        return kill_conn(c, -EPROTO);
    tc_buf_consume(&c->in, FRAME_HEADER + plen);
    *out = ev;
    return 0;
}

int tcclient_next(struct tcclient *c, int timeout_ms, Tc__Event **out)
{
    return next_by(c, deadline_of(timeout_ms), out);
}

static int next_for_by(struct tcclient *c, uint32_t ref, int64_t deadline, Tc__Event **out)
{
    Tc__Event *ev;
    int rc;

    for (;;) {
        rc = next_by(c, deadline, &ev);
        if (rc != 0)
            return rc;
        if (ev->ref_id == ref) {
            *out = ev;
            return 0;
        }
        tc__event__free_unpacked(ev, NULL);
    }
}

int tcclient_next_for(struct tcclient *c, uint32_t ref, int timeout_ms, Tc__Event **out)
{
    return next_for_by(c, ref, deadline_of(timeout_ms), out);
}

void tcclient_event_free(Tc__Event *ev)
{
    if (ev != NULL)
        tc__event__free_unpacked(ev, NULL);
}

/* Send rq and report its reference id. */
static int request(struct tcclient *c, Tc__Request *rq, uint32_t *ref, int timeout_ms)
{
    int rc = tcclient_send(c, rq, timeout_ms);

    if (rc == 0 && ref != NULL)
        *ref = rq->ref_id;
    return rc;
}

int tcclient_subscribe(struct tcclient *c, uint64_t from_seq, uint32_t *ref, int timeout_ms)
{
    Tc__Request rq = TC__REQUEST__INIT;
    Tc__Subscribe m = TC__SUBSCRIBE__INIT;

    m.from_seq = from_seq;
    rq.body_case = TC__REQUEST__BODY_SUBSCRIBE;
    rq.subscribe = &m;
    return request(c, &rq, ref, timeout_ms);
}

int tcclient_query_nodes(struct tcclient *c, uint32_t *ref, int timeout_ms)
{
    Tc__Request rq = TC__REQUEST__INIT;
    Tc__QueryNodes m = TC__QUERY_NODES__INIT;

    rq.body_case = TC__REQUEST__BODY_QUERY_NODES;
    rq.query_nodes = &m;
    return request(c, &rq, ref, timeout_ms);
}

int tcclient_query_dn(struct tcclient *c, const char *dn, uint32_t *ref, int timeout_ms)
{
    Tc__Request rq = TC__REQUEST__INIT;
    Tc__QueryDn m = TC__QUERY_DN__INIT;

    m.dn = (char *)dn;
    rq.body_case = TC__REQUEST__BODY_QUERY_DN;
    rq.query_dn = &m;
    return request(c, &rq, ref, timeout_ms);
}

int tcclient_query_dns(struct tcclient *c, const struct tcclient_dns_filter *f, uint32_t *ref,
                       int timeout_ms)
{
    Tc__Request rq = TC__REQUEST__INIT;
    Tc__QueryDns m = TC__QUERY_DNS__INIT;

    m.any_state = f->any_state;
    m.state = f->state;
    m.owner = (char *)(f->owner != NULL ? f->owner : "");
    m.limit = f->limit;
    rq.body_case = TC__REQUEST__BODY_QUERY_DNS;
    rq.query_dns = &m;
    return request(c, &rq, ref, timeout_ms);
}

int tcclient_query_summary(struct tcclient *c, uint32_t *ref, int timeout_ms)
{
    Tc__Request rq = TC__REQUEST__INIT;
    Tc__QuerySummary m = TC__QUERY_SUMMARY__INIT;

    rq.body_case = TC__REQUEST__BODY_QUERY_SUMMARY;
    rq.query_summary = &m;
    return request(c, &rq, ref, timeout_ms);
}

int tcclient_open_app(struct tcclient *c, const char *application, uint32_t *ref, int timeout_ms)
{
    Tc__Request rq = TC__REQUEST__INIT;
    Tc__OpenApp m = TC__OPEN_APP__INIT;

    m.application = (char *)application;
    rq.body_case = TC__REQUEST__BODY_OPEN_APP;
    rq.open_app = &m;
    return request(c, &rq, ref, timeout_ms);
}

/* Answer ch with the proof of secret, under ref. */
static int authenticate(struct tcclient *c, uint32_t ref, const char *application,
                        const void *secret, size_t secret_len, const Tc__EventChallenge *ch,
                        int64_t deadline)
{
    Tc__Request rq = TC__REQUEST__INIT;
    Tc__Authenticate m = TC__AUTHENTICATE__INIT;
    uint8_t nonce[CHALLENGE_NONCE_LEN], mac[CHALLENGE_MAC_LEN];
    int rc;

    if (ch->nonce.len != CHALLENGE_NONCE_LEN || ch->node == NULL)
        return -EPROTO;
    rc = challenge_nonce(nonce);
    if (rc == 0)
        rc = challenge_mac(CHALLENGE_GWS_LABEL, secret, secret_len, application, ch->node,
                           ch->nonce.data, nonce, mac);
    if (rc != 0)
        return rc;
    m.nonce.data = nonce;
    m.nonce.len = sizeof(nonce);
    m.mac.data = mac;
    m.mac.len = sizeof(mac);
    rq.ref_id = ref;
    rq.body_case = TC__REQUEST__BODY_AUTHENTICATE;
    rq.authenticate = &m;
    return tcclient_send(c, &rq, left_ms(deadline));
}

int tcclient_open_gws(struct tcclient *c, const char *application, const void *secret,
                      size_t secret_len, int timeout_ms, Tc__Event **answer)
{
    int64_t deadline = deadline_of(timeout_ms);
    Tc__Event *ev = NULL;
    uint32_t ref;
    int rc;

    if (answer != NULL)
        *answer = NULL;
    rc = tcclient_open_app(c, application, &ref, timeout_ms);
    if (rc == 0)
        rc = next_for_by(c, ref, deadline, &ev);
    if (rc == 0 && ev->body_case == TC__EVENT__BODY_CHALLENGE) {
        if (secret == NULL || secret_len == 0)
            rc = TCCLIENT_ENOSECRET;
        else
            rc = authenticate(c, ref, application, secret, secret_len, ev->challenge, deadline);
        tc__event__free_unpacked(ev, NULL);
        ev = NULL;
        if (rc == 0)
            rc = next_for_by(c, ref, deadline, &ev);
    }
    if (rc == 0 && ev->body_case != TC__EVENT__BODY_OPENED)
        rc = ev->body_case == TC__EVENT__BODY_ERROR ? TCCLIENT_EREFUSED : -EPROTO;
    if (answer != NULL)
        *answer = ev;
    else
        tcclient_event_free(ev);
    return rc;
}

int tcclient_register_address(struct tcclient *c, const char *dn, uint32_t *ref, int timeout_ms)
{
    Tc__Request rq = TC__REQUEST__INIT;
    Tc__RegisterAddress m = TC__REGISTER_ADDRESS__INIT;

    m.dn = (char *)dn;
    rq.body_case = TC__REQUEST__BODY_REGISTER_ADDRESS;
    rq.register_address = &m;
    return request(c, &rq, ref, timeout_ms);
}

bool tcclient_dn_valid(const char *dn)
{
    size_t n;

    if (dn == NULL)
        return false;
    n = strlen(dn);
    return n >= 1 && n <= TCCLIENT_DN_MAX && strspn(dn, "0123456789") == n;
}

enum tcclient_err_class tcclient_err_class(int err)
{
    switch (err) {
    case 0:
        return TCCLIENT_ERR_NONE;
    case -ETIMEDOUT:
        return TCCLIENT_ERR_TIMEOUT;
    case -EPROTO:
    case -EMSGSIZE:
    case TCCLIENT_ENOTTC:
        return TCCLIENT_ERR_PROTOCOL;
    case -EINVAL:
    case -ENOMEM:
    case TCCLIENT_EADDRESS:
    case TCCLIENT_EREFUSED:
    case TCCLIENT_ENOSECRET:
        return TCCLIENT_ERR_OTHER;
    default:
        return TCCLIENT_ERR_CONNECT;
    }
}

const char *tcclient_strerror(int err)
{
    switch (err) {
    case TCCLIENT_ERESOLVE:
        return "host name did not resolve";
    case TCCLIENT_ECLOSED:
        return "connection closed by the node";
    case TCCLIENT_EADDRESS:
        return "not HOST:PORT";
    case TCCLIENT_ENOTTC:
        return "this is not a TC port (it answers in text, as HTTP or SIP do)";
    case TCCLIENT_EREFUSED:
        return "refused by the node";
    case TCCLIENT_ENOSECRET:
        return "the node asks for this application's secret, and none was given";
    case -EMSGSIZE:
        return "frame from the node over the size bound";
    case -EPROTO:
        return "frame from the node does not decode";
    default:
        return tc_strerror(err);
    }
}
