/* The GWS client of the default port that makes the changes: claims then
 * releases at a paced rate, within a window of requests in flight, and a
 * thread that reads the answers and records each acknowledgement. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "proto/tcport.pb-c.h"
#include "server/base/buf.h"
#include "tcport/frame.h"
#include "tests/bench/bench_fanout/fanout_int.h"

#define WINDOW    2048 /* GWS requests in flight */
#define REF_FIRST 2    /* ref_id of change 0; 1 is the OpenApp */

struct driver {
    int fd;
    unsigned lo, span;
    uint64_t now_us; /* when the bytes being parsed were read */
    atomic_uint_fast64_t sent, answered, errors;
};

static void on_answer(void *arg, const uint8_t *payload, uint32_t plen)
{
    struct driver *d = arg;
    Tc__Event *ev = tc__event__unpack(NULL, plen, payload);

    if (ev == NULL)
        return;
    if (ev->ref_id == 0)
        goto out;
    if (ev->body_case == TC__EVENT__BODY_OPENED) {
        fanout__acks.seq0 = ev->opened->seq;
    } else if (ev->body_case == TC__EVENT__BODY_REGISTERED ||
               ev->body_case == TC__EVENT__BODY_UNREGISTERED) {
        uint64_t k = atomic_load_explicit(&fanout__acks.n, memory_order_relaxed);

        if (k < fanout__acks.cap && ev->ref_id >= REF_FIRST) {
            fanout__acks.at_us[k] = d->now_us;
            fanout__acks.dn[k] = d->lo + (ev->ref_id - REF_FIRST) % d->span;
            atomic_store_explicit(&fanout__acks.n, k + 1, memory_order_release);
        }
    } else if (ev->body_case == TC__EVENT__BODY_ERROR) {
        atomic_fetch_add(&d->errors, 1);
    }
    atomic_fetch_add(&d->answered, 1);
out:
    tc__event__free_unpacked(ev, NULL);
}

static void *driver_reader(void *arg)
{
    struct driver *d = arg;
    uint8_t *buf = malloc(FANOUT_READ_BUF);
    size_t len = 0;

    fanout__recv_timeout(d->fd);
    while (!atomic_load(&fanout__stopping) || atomic_load(&d->answered) < atomic_load(&d->sent)) {
        uint64_t before = atomic_load(&d->answered);

        if (!fanout__read_frames(d->fd, 0, buf, &len, &d->now_us, on_answer, d))
            break;
        if (atomic_load(&fanout__stopping) && atomic_load(&d->answered) == before)
            break;
    }
    free(buf);
    return NULL;
}

static void pack_request(struct tc_buf *b, bool claim, unsigned dn, uint32_t ref)
{
    Tc__Request rq = TC__REQUEST__INIT;
    Tc__RegisterAddress ra = TC__REGISTER_ADDRESS__INIT;
    Tc__UnregisterAddress ua = TC__UNREGISTER_ADDRESS__INIT;
    Tc__OpenApp oa = TC__OPEN_APP__INIT;
    char s[24];

    snprintf(s, sizeof(s), "%u", dn);
    rq.ref_id = ref;
    if (dn == 0) {
        oa.application = "GWS";
        rq.body_case = TC__REQUEST__BODY_OPEN_APP;
        rq.open_app = &oa;
    } else if (claim) {
        ra.dn = s;
        rq.body_case = TC__REQUEST__BODY_REGISTER_ADDRESS;
        rq.register_address = &ra;
    } else {
        ua.dn = s;
        rq.body_case = TC__REQUEST__BODY_UNREGISTER_ADDRESS;
        rq.unregister_address = &ua;
    }
    frame_pack(b, &rq.base);
}

uint64_t fanout__drive(const struct fanout__opts *o, double *rate_out, int *fd_out)
{
    struct driver d = {.fd = fanout__dial(o->dflt), .lo = o->lo, .span = o->hi - o->lo + 1};
    struct tc_buf b = TC_BUF_INIT;
    uint64_t total = (uint64_t)o->rate * o->seconds, i = 0;
    uint64_t t0, t1;
    pthread_t reader;

    pack_request(&b, false, 0, 1);
    fanout__send_all(d.fd, b.data, b.len);
    atomic_store(&d.sent, 1);
    pthread_create(&reader, NULL, driver_reader, &d);
    while (atomic_load(&d.answered) < 1)
        usleep(1000);
    t0 = fanout__mono_us();
    while (i < total) {
        uint64_t due = (i * 1000000) / o->rate;
        uint64_t now = fanout__mono_us() - t0;

        tc_buf_reset(&b);
        /* Everything due now, as one write, within the window. */
        while (i < total && (i * 1000000) / o->rate <= now &&
               atomic_load(&d.sent) - atomic_load(&d.answered) < WINDOW) {
            uint64_t round = i / d.span;

            pack_request(&b, round % 2 == 0, o->lo + (unsigned)(i % d.span),
                         (uint32_t)(i + REF_FIRST));
            atomic_fetch_add(&d.sent, 1);
            i++;
        }
        if (b.len > 0)
            fanout__send_all(d.fd, b.data, b.len);
        else
            usleep(due > now && due - now < 1000 ? (useconds_t)(due - now) : 200);
    }
    /* Wait for the last answers (bounded). */
    for (int w = 0; w < 1000 && atomic_load(&d.answered) < atomic_load(&d.sent); w++)
        usleep(10000);
    t1 = fanout__mono_us();
    *rate_out = (double)(atomic_load(&d.answered) - 1) * 1e6 / (double)(t1 - t0);
    atomic_store(&fanout__stopping, true);
    pthread_join(reader, NULL);
    atomic_store(&fanout__stopping, false);
    if (atomic_load(&d.errors) > 0)
        fprintf(stderr, "bench_fanout: %llu requests refused\n",
                (unsigned long long)atomic_load(&d.errors));
    /* Closing would release the DNs still claimed: the caller closes
     * after measuring. */
    *fd_out = d.fd;
    tc_buf_free(&b);
    return atomic_load(&d.answered) - 1 - atomic_load(&d.errors);
}
