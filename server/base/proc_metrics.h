#ifndef TC_SERVER_BASE_PROC_METRICS_H
#define TC_SERVER_BASE_PROC_METRICS_H

#include <stdint.h>

#include "server/base/buf.h"

/* The process_* families every Prometheus client library exports, read from
 * the kernel at render time (Linux /proc/self): CPU seconds, resident and
 * virtual memory, open and maximum file descriptors, start time. A figure
 * the kernel does not give is left out, never made up. */

/* Append the families; start_ms is the process start, Unix ms. Returns 0 or
 * -ENOMEM. */
int proc_metrics_render(struct tc_buf *b, uint64_t start_ms);

#endif
