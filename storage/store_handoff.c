/* The two hand-offs between the loop and the writer thread, each made to
 * cost one wake-up per batch rather than one per change:
 *
 * loop -> writer: store_put()/store_del() stage changes on the loop side,
 * and a uv_idle handle moves the whole stage into the writer's queue (one
 * lock, one signal) in the loop's next idle phase, before it polls again
 * (an active idle handle also keeps that poll from blocking, whatever
 * phase staged the change - a uv_prepare started from another prepare
 * callback would wait for the next wake-up): the changes of
 * a loop turn (a recvmmsg batch of REGISTERs) become one transaction
 * instead of the first change going alone while the rest wait for the
 * next commit. A stage past STORE_STAGE_MAX goes at once, so a long turn
 * does not hold the writer idle.
 *
 * writer -> loop: an eventfd watched by a uv_poll handle, written only when
 * the done list was empty (the loop has not been told yet). libuv's
 * uv_async_send() sets a busy flag around its eventfd write that the loop
 * spins on (997 pauses, then sched_yield()) when the woken loop preempts
 * the writer inside it - which it does every time the two share a CPU. */

#include "storage/store_int.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* Changes staged on the loop side before they go to the writer unasked. */
#define STORE_STAGE_MAX 256

struct store_handoff {
    struct store *s; /* NULL once the store let go of it */
    uv_poll_t poll;  /* wake: readable when the done list has news */
    uv_idle_t idle;  /* active while changes are staged */
    int efd;
    unsigned open; /* handles initialized and not yet closed */
};

static void handoff_free(struct store_handoff *h)
{
    if (h->open > 0)
        return;
    if (h->efd >= 0)
        close(h->efd);
    free(h);
}

static void on_handle_closed(uv_handle_t *handle)
{
    struct store_handoff *h = handle->data;

    h->open--;
    handoff_free(h);
}

/* The loop side: move the stage into the writer's queue and wake the
 * writer. The writer waits on s->cv only with an empty queue, or while it
 * holds a committed batch for more work; a signal nobody waits for costs
 * no system call; a writer waiting out a commit window is woken only when
 * the window is full. The signal comes after the unlock: a writer woken on
 * this CPU would otherwise run only to block on the mutex we still hold. */
static void stage_flush(struct store *s)
{
    bool wake;

    pthread_mutex_lock(&s->mu);
    store__list_splice(&s->queue, &s->staged);
    wake = !s->windowing || s->queue.n >= STORE_WINDOW_FULL;
    pthread_mutex_unlock(&s->mu);
    if (wake)
        pthread_cond_signal(&s->cv);
}

static void on_idle(uv_idle_t *i)
{
    struct store_handoff *h = i->data;

    uv_idle_stop(i);
    if (h->s != NULL && h->s->staged.head != NULL)
        stage_flush(h->s);
}

static void on_wake(uv_poll_t *p, int status, int events)
{
    struct store_handoff *h = p->data;
    uint64_t n;

    (void)status;
    (void)events;
    /* Read first: a batch handed back after this read wakes us again. */
    if (read(h->efd, &n, sizeof(n)) < 0 && errno != EAGAIN) {
        /* Cannot fail on an eventfd of ours; the list is taken anyway. */
    }
    if (h->s != NULL)
        store__ready(h->s);
}

int store__handoff_start(struct store *s)
{
    struct store_handoff *h;
    int rc;

    h = calloc(1, sizeof(*h));
    if (h == NULL)
        return -ENOMEM;
    h->s = s;
    h->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (h->efd < 0) {
        rc = -errno;
        free(h);
        return rc;
    }
    rc = uv_poll_init(s->loop, &h->poll, h->efd);
    if (rc != 0) {
        handoff_free(h);
        return rc;
    }
    h->open++;
    h->poll.data = h;
    uv_idle_init(s->loop, &h->idle);
    h->open++;
    h->idle.data = h;
    s->handoff = h;
    rc = uv_poll_start(&h->poll, UV_READABLE, on_wake);
    if (rc != 0)
        store__handoff_stop(s);
    return rc;
}

void store__handoff_stop(struct store *s)
{
    struct store_handoff *h = s->handoff;

    if (h == NULL)
        return;
    s->handoff = NULL;
    h->s = NULL;
    uv_close((uv_handle_t *)&h->poll, on_handle_closed);
    uv_close((uv_handle_t *)&h->idle, on_handle_closed);
}

/* The staged list grew from was_n changes: hand it over now when it is
 * long, else before the loop next polls. */
static void staged_grew(struct store *s, uint32_t was_n)
{
    if (s->staged.n >= STORE_STAGE_MAX || s->handoff == NULL) {
        stage_flush(s);
        return;
    }
    if (was_n == 0)
        uv_idle_start(&s->handoff->idle, on_idle);
}

void store__stage(struct store *s, struct store_change *c)
{
    uint32_t was_n = s->staged.n;

    store__list_push(&s->staged, c);
    staged_grew(s, was_n);
}

void store__stage_list(struct store *s, struct store_list *l)
{
    uint32_t was_n = s->staged.n;

    if (l->head == NULL)
        return;
    store__list_splice(&s->staged, l);
    staged_grew(s, was_n);
}

void store__stage_flush(struct store *s)
{
    if (s->staged.head != NULL)
        stage_flush(s);
}

void store__handoff_done(struct store *s, struct store_list *b)
{
    static const uint64_t one = 1;
    bool told;

    pthread_mutex_lock(&s->mu);
    told = s->done.head != NULL;
    store__list_splice(&s->done, b);
    pthread_mutex_unlock(&s->mu);
    /* Written while the loop may be reading s->handoff: the pointer is set
     * before the writer starts and cleared only after it is joined. */
    if (!told && write(s->handoff->efd, &one, sizeof(one)) < 0) {
        /* EAGAIN only at a counter of 2^64-2: the loop has been told. */
    }
}
