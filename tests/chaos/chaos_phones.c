#include "tests/chaos/chaos_phones.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/chaos/chaos_rng.h"
#include "tests/integration/harness.h"

#define MAX_RECS (2u << 20) /* bound on the history (64 MiB) */

const char *const chaos_op_names[CHAOS_OPS] = {"register", "refresh", "move", "unregister"};

/* Expiries a REGISTER asks for: short ones expire during the run. */
static const uint32_t expiries[] = {3, 8, 30, 600};

struct phone {
    struct chaos_rng rng;
    int at; /* the node it believes it is registered at, -1 none */
    uint32_t cseq;
    uint32_t granted; /* last expiry granted */
    uint64_t next_ms;
    bool pending;
    uint64_t sent_ms;
    uint8_t node, op;
    uint32_t expires;
};

struct run {
    struct chaos_phones *w;
    struct phone *ph;
    uint16_t local_port;
};

void chaos_contact(char *out, size_t size, unsigned dn)
{
    snprintf(out, size, "sip:%u@127.0.0.1:%d", dn, CHAOS_CONTACT_PORT);
}

static void record(struct chaos_phones *w, const struct phone *p, unsigned idx, uint8_t result,
                   uint16_t code, uint32_t expires, uint64_t now)
{
    struct chaos_rec *r;

    if (w->nrecs == w->cap) {
        size_t cap = w->cap != 0 ? w->cap * 2 : 4096;
        struct chaos_rec *recs;

        if (cap > MAX_RECS || (recs = realloc(w->recs, cap * sizeof(*recs))) == NULL) {
            fprintf(stderr, "chaos: history full at %zu requests\n", w->nrecs);
            abort();
        }
        w->recs = recs;
        w->cap = cap;
    }
    r = &w->recs[w->nrecs++];
    *r = (struct chaos_rec){.sent_ms = p->sent_ms,
                            .done_ms = now,
                            .phone = idx,
                            .expires = expires,
                            .code = code,
                            .node = p->node,
                            .op = p->op,
                            .result = result};
}

static int send_register(struct run *r, unsigned idx)
{
    struct chaos_phones *w = r->w;
    struct phone *p = &r->ph[idx];
    unsigned dn = w->dn_base + idx;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(w->sip_port[p->node])};
    char msg[1024], contact[64];
    int len;

    chaos_contact(contact, sizeof(contact), dn);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = snprintf(msg, sizeof(msg),
                   "REGISTER sip:127.0.0.1:%u SIP/2.0\r\n"
                   "Via: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bK-ch%u-%u;rport\r\n"
                   "From: <sip:%u@127.0.0.1>;tag=ph%u\r\n"
                   "To: <sip:%u@127.0.0.1>\r\n"
                   "Call-ID: chaos-%u-%u-%llx@chaos\r\n"
                   "CSeq: %u REGISTER\r\n"
                   "Contact: <%s>\r\n"
                   "Expires: %u\r\n"
                   "Max-Forwards: 70\r\n"
                   "Content-Length: 0\r\n\r\n",
                   w->sip_port[p->node], r->local_port, idx, p->cseq, dn, dn, dn, idx, p->node,
                   (unsigned long long)(w->seed & 0xffffff), p->cseq, contact, p->expires);
    if (sendto(w->fd, msg, (size_t)len, 0, (struct sockaddr *)&sa, sizeof(sa)) != len)
        return -errno;
    return 0;
}

static uint32_t pick_expiry(struct phone *p)
{
    return expiries[chaos_rand(&p->rng) % (sizeof(expiries) / sizeof(expiries[0]))];
}

static uint8_t other_node(struct phone *p)
{
    return (uint8_t)((p->at + 1 + (int)(chaos_rand(&p->rng) % (CHAOS_NODES - 1))) % CHAOS_NODES);
}

/* Decide and send the phone's next request (or let its binding expire). */
static void act(struct run *r, unsigned idx, uint64_t now)
{
    struct phone *p = &r->ph[idx];
    uint32_t pick = (uint32_t)(chaos_rand(&p->rng) % 100);

    if (p->at < 0) {
        p->op = CHAOS_OP_REGISTER;
        p->node = (uint8_t)(chaos_rand(&p->rng) % CHAOS_NODES);
    } else if (pick < 50) {
        p->op = CHAOS_OP_REFRESH;
        p->node = (uint8_t)p->at;
    } else if (pick < 68) {
        p->op = CHAOS_OP_MOVE;
        p->node = other_node(p);
    } else if (pick < 85) {
        p->op = CHAOS_OP_UNREGISTER;
        p->node = (uint8_t)p->at;
    } else if (p->granted > 30) {
        p->op = CHAOS_OP_REFRESH;
        p->node = (uint8_t)p->at;
    } else {
        /* Silent: the binding expires while the phone says nothing. */
        p->at = -1;
        p->next_ms = now + (uint64_t)p->granted * 1000 + chaos_between(&p->rng, 500, 3000);
        return;
    }
    p->expires = p->op == CHAOS_OP_UNREGISTER ? 0 : pick_expiry(p);
    p->cseq++;
    p->sent_ms = now;
    p->pending = true;
    if (send_register(r, idx) != 0) {
        /* A local send failure is a request that never left: nothing acked. */
        record(r->w, p, idx, CHAOS_REFUSED, 0, p->expires, now);
        p->pending = false;
        p->next_ms = now + 100;
    }
}

static void finish(struct run *r, unsigned idx, uint8_t result, uint16_t code, uint32_t granted,
                   uint64_t now)
{
    struct phone *p = &r->ph[idx];

    record(r->w, p, idx, result, code, result == CHAOS_ACKED ? granted : p->expires, now);
    p->pending = false;
    if (result == CHAOS_ACKED) {
        p->at = p->op == CHAOS_OP_UNREGISTER ? -1 : p->node;
        if (p->op != CHAOS_OP_UNREGISTER)
            p->granted = granted;
    } else if (p->op == CHAOS_OP_REFRESH && chaos_rand(&p->rng) % 2 == 0) {
        /* As a phone fails over: the next request goes elsewhere. */
        p->at = -1;
    }
    p->next_ms = now + chaos_between(&p->rng, 100, 1500);
}

/* The value of header name (with its colon) in msg, or NULL. */
static const char *header(const char *msg, const char *name)
{
    const char *h = strstr(msg, name);

    return h != NULL ? h + strlen(name) : NULL;
}

static void on_answer(struct run *r, const char *msg, uint64_t now)
{
    unsigned code, idx, node, cseq;
    const char *h;
    char contact[64];
    uint32_t granted = 0;
    struct phone *p;

    if (sscanf(msg, "SIP/2.0 %u ", &code) != 1 || code < 200)
        return;
    h = header(msg, "\nCall-ID: chaos-");
    if (h == NULL || sscanf(h, "%u-%u-", &idx, &node) != 2 || idx >= r->w->n)
        return;
    h = header(msg, "\nCSeq: ");
    if (h == NULL || sscanf(h, "%u", &cseq) != 1)
        return;
    p = &r->ph[idx];
    if (!p->pending || cseq != p->cseq || node != p->node) {
        r->w->late++;
        return;
    }
    chaos_contact(contact, sizeof(contact), r->w->dn_base + idx);
    h = strstr(msg, contact);
    if (h != NULL && (h = strstr(h, ";expires=")) != NULL)
        granted = (uint32_t)strtoul(h + 9, NULL, 10);
    finish(r, idx, code == 200 ? CHAOS_ACKED : CHAOS_REFUSED, (uint16_t)code, granted, now);
}

static void drain(struct run *r)
{
    char buf[8192];

    for (;;) {
        ssize_t n = recv(r->w->fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

        if (n <= 0)
            return;
        buf[n] = '\0';
        on_answer(r, buf, harness_now_ms());
    }
}

/* One pass over the phones; returns whether any request is pending and
 * sets *wake to the next time something is due. */
static bool tick(struct run *r, uint64_t now, uint64_t *wake, bool stopping)
{
    const struct chaos_phones *w = r->w;
    bool pending = false;

    *wake = now + 50;
    for (unsigned i = 0; i < w->n; i++) {
        struct phone *p = &r->ph[i];

        if (p->pending && now >= p->sent_ms + (uint64_t)w->timeout_ms)
            finish(r, i, CHAOS_TIMEOUT, 0, 0, now);
        else if (!p->pending && !stopping && now >= p->next_ms)
            act(r, i, now);
        if (p->pending) {
            pending = true;
            if (p->sent_ms + (uint64_t)w->timeout_ms < *wake)
                *wake = p->sent_ms + (uint64_t)w->timeout_ms;
        } else if (!stopping && p->next_ms < *wake) {
            *wake = p->next_ms;
        }
    }
    return pending;
}

static void *phones_main(void *arg)
{
    struct run *r = arg;

    for (;;) {
        bool stopping = atomic_load(&r->w->stop);
        uint64_t now = harness_now_ms(), wake;
        struct pollfd pfd = {.fd = r->w->fd, .events = POLLIN};

        if (!tick(r, now, &wake, stopping) && stopping)
            break;
        now = harness_now_ms();
        if (poll(&pfd, 1, wake > now ? (int)(wake - now) : 0) > 0)
            drain(r);
    }
    free(r->ph);
    free(r);
    return NULL;
}

int chaos_phones_start(struct chaos_phones *w)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int rcvbuf = 1 << 20;
    struct run *r;
    uint64_t now = harness_now_ms();

    r = calloc(1, sizeof(*r));
    if (r == NULL || (r->ph = calloc(w->n, sizeof(*r->ph))) == NULL) {
        free(r);
        return -ENOMEM;
    }
    r->w = w;
    w->fd = socket(AF_INET, SOCK_DGRAM, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (w->fd < 0 || bind(w->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(w->fd, (struct sockaddr *)&sa, &len) != 0) {
        int rc = -errno;

        free(r->ph);
        free(r);
        return rc;
    }
    setsockopt(w->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    r->local_port = ntohs(sa.sin_port);
    for (unsigned i = 0; i < w->n; i++) {
        r->ph[i].rng.s = w->seed ^ (UINT64_C(0x5851f42d4c957f2d) * (i + 1));
        r->ph[i].at = -1;
        /* Spread the first registrations over a second. */
        r->ph[i].next_ms = now + chaos_between(&r->ph[i].rng, 0, 1000);
    }
    atomic_store(&w->stop, false);
    if (pthread_create(&w->th, NULL, phones_main, r) != 0) {
        close(w->fd);
        free(r->ph);
        free(r);
        return -EAGAIN;
    }
    return 0;
}

void chaos_phones_stop(struct chaos_phones *w)
{
    atomic_store(&w->stop, true);
    pthread_join(w->th, NULL);
    close(w->fd);
}

void chaos_phones_free(struct chaos_phones *w)
{
    free(w->recs);
    w->recs = NULL;
    w->nrecs = w->cap = 0;
}
