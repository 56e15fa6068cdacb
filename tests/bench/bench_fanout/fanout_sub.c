/* The TC subscribers: threads reading live ones (one each, or several
 * per thread with epoll) and timing each change event, and the child
 * processes that read their snapshot and are then stopped. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/tcport.pb-c.h"
#include "tests/bench/bench_fanout/fanout_int.h"

static void on_sub_frame(void *arg, const uint8_t *payload, uint32_t plen)
{
    struct fanout__sub *s = arg;
    struct fanout__ev_view e;
    uint64_t n, idx;

    if (!fanout__view_event(&e, payload, plen))
        return;
    if (e.body == TC__EVENT__BODY_SNAPSHOT_END) {
        s->snap_seq = e.snap_seq;
        atomic_store(&s->snapshot_done, true);
        return;
    }
    if (e.dn == 0 || e.seq == 0 || !atomic_load_explicit(&s->snapshot_done, memory_order_relaxed))
        return;
    if (e.since_ms != 0) {
        uint64_t since_us = e.since_ms * 1000, wall_us = s->now_us + fanout__mono_to_wall_us;

        fanout__hist_add(s->from_decision, wall_us > since_us ? wall_us - since_us : 0);
    }
    n = atomic_load_explicit(&fanout__acks.n, memory_order_acquire);
    idx = e.seq - fanout__acks.seq0 - 1;
    if (e.seq <= fanout__acks.seq0 || idx >= fanout__acks.cap) {
        s->unmatched++;
    } else if (idx >= n) {
        s->before_ack++;
        fanout__hist_add(s->from_ack, 0);
    } else if (fanout__acks.dn[idx] != e.dn) {
        s->unmatched++;
    } else {
        fanout__hist_add(s->from_ack, s->now_us > fanout__acks.at_us[idx]
                                              ? s->now_us - fanout__acks.at_us[idx]
                                              : 0);
    }
    atomic_fetch_add_explicit(&s->events, 1, memory_order_relaxed);
}

/* One subscriber: a blocking recv() and no poll(), one system call per
 * wake-up, for the bench takes the same two cores as the node. */
static void read_one(struct fanout__sub *s)
{
    fanout__recv_timeout(s->fd);
    while (!atomic_load(&fanout__stopping)) {
        if (!fanout__read_frames(s->fd, 0, s->buf, &s->len, &s->now_us, on_sub_frame, s))
            break;
    }
}

/* Several: epoll, then each ready one in turn (its time is when its own
 * recv() returned). */
static void read_many(struct fanout__reader *r)
{
    struct epoll_event evs[64];
    int ep = epoll_create1(0);

    for (unsigned i = 0; i < r->n; i++) {
        struct fanout__sub *s = &r->subs[r->first + i * r->step];
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};

        epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev);
    }
    while (!atomic_load(&fanout__stopping)) {
        int n = epoll_wait(ep, evs, 64, 100);

        for (int i = 0; i < n; i++) {
            struct fanout__sub *s = evs[i].data.ptr;

            if (!fanout__read_frames(s->fd, MSG_DONTWAIT, s->buf, &s->len, &s->now_us, on_sub_frame,
                                     s))
                epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
        }
    }
    close(ep);
}

void *fanout__reader_main(void *arg)
{
    struct fanout__reader *r = arg;

    if (r->n == 1)
        read_one(&r->subs[r->first]);
    else
        read_many(r);
    return NULL;
}

static void on_ignore(void *arg, const uint8_t *payload, uint32_t plen)
{
    bool *done = arg;
    struct fanout__ev_view e;

    if (fanout__view_event(&e, payload, plen) && e.body == TC__EVENT__BODY_SNAPSHOT_END)
        *done = true;
}

void fanout__stopped_child(uint16_t port, int ready)
{
    uint8_t *buf = malloc(FANOUT_READ_BUF);
    size_t len = 0;
    bool done = false;
    int fd = fanout__dial(port);

    fanout__subscribe(fd);
    while (!done && fanout__read_frames(fd, 0, buf, &len, NULL, on_ignore, &done))
        ;
    if (write(ready, "R", 1) != 1)
        _exit(1);
    while (fanout__read_frames(fd, 0, buf, &len, NULL, on_ignore, &done))
        ;
    _exit(0);
}
