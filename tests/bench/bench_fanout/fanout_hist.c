/* The clock the subscribers and the driver share, and the delay
 * histograms. */
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "tests/bench/bench_fanout/fanout_int.h"

uint64_t fanout__clock_us(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t fanout__mono_us(void)
{
    return fanout__clock_us(CLOCK_MONOTONIC);
}

void fanout__hist_add(struct fanout__hist *h, uint64_t us)
{
    size_t i = us < FANOUT_HIST_FINE_N * FANOUT_HIST_FINE_US
                       ? us / FANOUT_HIST_FINE_US
                       : FANOUT_HIST_FINE_N + (us / 1000 - 100);

    h->b[i < FANOUT_HIST_N ? i : FANOUT_HIST_N - 1]++;
    h->n++;
    if (us > h->max_us)
        h->max_us = us;
}

void fanout__hist_merge(struct fanout__hist *to, const struct fanout__hist *from)
{
    for (size_t i = 0; i < FANOUT_HIST_N; i++)
        to->b[i] += from->b[i];
    to->n += from->n;
    if (from->max_us > to->max_us)
        to->max_us = from->max_us;
}

uint64_t fanout__hist_at(const struct fanout__hist *h, double q)
{
    uint64_t want = (uint64_t)((double)h->n * q), seen = 0;

    for (size_t i = 0; i < FANOUT_HIST_N; i++) {
        seen += h->b[i];
        if (seen > want) {
            uint64_t top = i < FANOUT_HIST_FINE_N ? (i + 1) * FANOUT_HIST_FINE_US
                                                  : (i - FANOUT_HIST_FINE_N + 101) * 1000;

            return top < h->max_us ? top : h->max_us;
        }
    }
    return h->max_us;
}
