/* tcp_metrics: the slow-client defences of a TCP server in /metrics. */
#include "server/net/tcp_server.h"

#include <errno.h>
#include <stdio.h>

#include "server/base/metrics.h"

static int family(struct tc_buf *b, const char *port, const char *name, const char *help,
                  uint64_t v)
{
    char n[128];

    snprintf(n, sizeof(n), "tcluster_%s_%s", port, name);
    if (metrics_header(b, n, "counter", help) != 0)
        return -ENOMEM;
    return metrics_sample_u64(b, n, NULL, v);
}

int tcp_server_metrics(const struct tcp_server *s, const char *port, struct tc_buf *b)
{
    const struct tcp_server_stats *st = tcp_server_stats(s);
    int rc = 0;

    rc |= family(b, port, "refused_per_source_total",
                 "connections refused: max-connections-per-source open from their source",
                 st->refused_per_source);
    rc |= family(b, port, "message_timeouts_total",
                 "connections closed: a message not complete within message-timeout",
                 st->message_timeouts);
    rc |= family(b, port, "evicted_total",
                 "connections closed at max-connections for a new one: their message was late",
                 st->evicted);
    return rc != 0 ? -ENOMEM : 0;
}
