/* libFuzzer target: the client ports of a whole node (node_harness.h), the
 * default port (URS, GWS) and the TC port (Stat Server, tcctl), frames in,
 * events and table changes out. The first byte of an input picks the port
 * (even: default port, odd: TC port); the rest is sent as is over a fresh
 * TCP connection, which is then shut down for writing; the loop runs until
 * the node has closed the connection and everything it started is done.
 * The path is the real one: TCP server, conn framing, the port's handlers,
 * the core, the LMDB store.
 *
 * Checks, beyond "no crash, no sanitizer report":
 * - every event is a whole frame that decodes as an Event;
 * - an event answering a request carries the ref_id of a request sent;
 * - each frame that does not decode gets one ERROR_BAD_FRAME, a frame over
 *   max-frame gets ERROR_FRAME_TOO_LARGE, and the node then closes (and
 *   always closes once the client is done: no connection is left behind);
 * - EventRegistered to a GWS client shows the DN InSrv owned by this node;
 * - the TC port, and a default-port client that never opened as GWS,
 *   leave the table as it was; once a GWS client is gone, it holds no claim
 *   (its disconnection releases them);
 * - the table stays within the directory (fnode_check_bounds). */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/tcport.pb-c.h"
#include "tcport/frame.h"
#include "tests/fuzz/node_harness.h"

#define WAIT_MS   5000
#define MAX_REFS  256
#define EVENT_MAX (1u << 20)

struct sent {
    uint32_t refs[MAX_REFS];
    unsigned n_refs;
    bool refs_full;
    unsigned bad;   /* frames that do not decode, before any over max-frame */
    bool too_large; /* a frame over max-frame: the node stops reading there */
    bool opened;    /* an OpenApp the node takes: a name of 1 to 63 bytes */
    bool gws;       /* and its name is GWS */
};

struct got {
    uint8_t *buf;
    size_t len, cap;
    unsigned bad, too_large;
    bool closed;
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fnode_start();
    return 0;
}

/* What the client sends, read as the node should: frames, requests. */
static void read_sent(const uint8_t *data, size_t size, struct sent *s)
{
    size_t off = 0;

    memset(s, 0, sizeof(*s));
    while (off < size) {
        const uint8_t *payload;
        uint32_t plen;
        Tc__Request *rq;
        int rc = frame_next(data + off, size - off, FNODE_MAX_FRAME, &payload, &plen);

        if (rc < 0)
            s->too_large = true;
        if (rc != FRAME_READY)
            return;
        off += FRAME_HEADER + plen;
        rq = tc__request__unpack(NULL, plen, payload);
        if (rq == NULL) {
            s->bad++;
            continue;
        }
        if (s->n_refs < MAX_REFS)
            s->refs[s->n_refs++] = rq->ref_id;
        else
            s->refs_full = true;
        if (rq->body_case == TC__REQUEST__BODY_OPEN_APP && !s->opened &&
            rq->open_app->application != NULL && rq->open_app->application[0] != '\0' &&
            strlen(rq->open_app->application) < 64) {
            s->opened = true;
            s->gws = strcmp(rq->open_app->application, "GWS") == 0;
        }
        tc__request__free_unpacked(rq, NULL);
    }
}

static bool ref_sent(const struct sent *s, uint32_t ref)
{
    for (unsigned i = 0; i < s->n_refs; i++) {
        if (s->refs[i] == ref)
            return true;
    }
    return s->refs_full;
}

static void check_state(const Tc__DnState *st)
{
    uint64_t k;

    if (st == NULL || st->dn == NULL)
        fnode_fail("EventRegistered without a DN state");
    k = fnode_dn_key(st->dn, strlen(st->dn));
    if (k == 0)
        fnode_fail("EventRegistered for \"%s\", not a DN of the directory", st->dn);
    if (st->status != TC__DN_STATUS__DN_STATUS_INSRV || strcmp(st->owner, FNODE_SELF) != 0)
        fnode_fail("EventRegistered to a GWS client: %s status %d owner \"%s\"", st->dn, st->status,
                   st->owner);
}

/* Check every whole event in g->buf and drop it. */
static void read_events(struct got *g, const struct sent *s, int port)
{
    size_t off = 0;

    for (;;) {
        const uint8_t *payload;
        uint32_t plen;
        Tc__Event *ev;
        int rc = frame_next(g->buf + off, g->len - off, EVENT_MAX, &payload, &plen);

        if (rc < 0)
            fnode_fail("an event frame over %u bytes", EVENT_MAX);
        if (rc != FRAME_READY)
            break;
        off += FRAME_HEADER + plen;
        ev = tc__event__unpack(NULL, plen, payload);
        if (ev == NULL)
            fnode_fail("an event of %u bytes does not decode", plen);
        if (ev->ref_id != 0 && !ref_sent(s, ev->ref_id))
            fnode_fail("an event answers ref_id %u, never sent", ev->ref_id);
        if (ev->body_case == TC__EVENT__BODY_ERROR) {
            if (ev->error->code == TC__ERROR_CODE__ERROR_BAD_FRAME)
                g->bad++;
            if (ev->error->code == TC__ERROR_CODE__ERROR_FRAME_TOO_LARGE)
                g->too_large++;
        }
        if (ev->body_case == TC__EVENT__BODY_REGISTERED && port == 0 && s->gws)
            check_state(ev->registered->state);
        tc__event__free_unpacked(ev, NULL);
    }
    memmove(g->buf, g->buf + off, g->len - off);
    g->len -= off;
}

/* Read what came; false once the node closed the connection. */
static bool client_read(int fd, struct got *g)
{
    for (;;) {
        ssize_t n;

        if (g->cap - g->len < 65536) {
            g->cap = g->cap ? g->cap * 2 : 131072;
            g->buf = realloc(g->buf, g->cap);
            if (g->buf == NULL)
                fnode_fail("out of memory");
        }
        n = recv(fd, g->buf + g->len, g->cap - g->len, 0);
        if (n == 0)
            return false;
        if (n < 0)
            return errno == EAGAIN || errno == EINTR || errno == ENOTCONN;
        g->len += (size_t)n;
    }
}

/* Send data on a fresh connection to port and read until the node closed
 * it. */
static void exchange(uint16_t port, const uint8_t *data, size_t size, const struct sent *s,
                     struct got *g)
{
    uint64_t deadline = uv_hrtime() + (uint64_t)WAIT_MS * 1000000;
    int fd = fnode_connect(port);
    bool writing = true;
    size_t off = 0;

    while (!g->closed) {
        fnode_step(fd, (short)(POLLIN | (writing ? POLLOUT : 0)), 1);
        while (writing && off < size) {
            ssize_t n = send(fd, data + off, size - off, MSG_NOSIGNAL);

            if (n < 0) {
                if (errno != EAGAIN && errno != ENOTCONN && errno != EINTR)
                    writing = false;
                break;
            }
            off += (size_t)n;
        }
        if (writing && off == size && (shutdown(fd, SHUT_WR) == 0 || errno != ENOTCONN))
            writing = false;
        g->closed = !client_read(fd, g);
        read_events(g, s, port == fnode.default_port ? 0 : 1);
        if (uv_hrtime() > deadline)
            fnode_fail("the node did not close the connection within %d ms", WAIT_MS);
    }
    close(fd);
    if (g->len > 0)
        fnode_fail("%zu bytes of a partial event before the close", g->len);
}

/* No DN is held by a default-port client that is gone. */
static void check_no_tlib(void)
{
    const struct dn_entry *e;
    size_t cur = 0;

    while ((e = dn_table_next(&fnode.node.table, &cur)) != NULL) {
        if (e->owner == DN_NODE_SELF && e->source == DN_SOURCE_TLIB)
            fnode_fail("a DN still claimed from the default port after its client left");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t digest = fnode_digest();
    struct got g = {0};
    struct sent s;
    int port;

    if (size == 0)
        return -1;
    port = data[0] & 1;
    data++;
    size--;
    read_sent(data, size, &s);
    exchange(port == 0 ? fnode.default_port : fnode.tc_port, data, size, &s, &g);
    free(g.buf);
    fnode_settle();
    if (g.bad != s.bad)
        fnode_fail("%u frames do not decode, %u ERROR_BAD_FRAME events", s.bad, g.bad);
    if (g.too_large != (s.too_large ? 1u : 0u))
        fnode_fail("%s frame over max-frame, %u ERROR_FRAME_TOO_LARGE events",
                   s.too_large ? "a" : "no", g.too_large);
    if ((port == 1 || !s.gws) && fnode_digest() != digest)
        fnode_fail("the table changed through the %s", port ? "TC port" : "default port (no GWS)");
    check_no_tlib();
    fnode_check_bounds();
    return 0;
}
