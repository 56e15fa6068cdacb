/* tc_now_ms() for the fuzz targets that run a whole node (node_harness.h),
 * in place of server/base/clock.c: the wall clock stands still at its first
 * reading, so that no binding expires and no version moves with time
 * between the views before and after an input. Versions still increase:
 * the DN table's hybrid logical clock counts on when time stands still. */
#include "server/base/clock.h"

#include <time.h>

uint64_t tc_now_ms(void)
{
    static uint64_t frozen;

    if (frozen == 0) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        frozen = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    }
    return frozen;
}
