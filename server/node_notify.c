/* The node's part in systemd's service protocol (sd_notify(3)) for a
 * Type=notify unit such as deploy/systemd/tcnode@.service. */
#include "server/node_notify.h"

#include <stdint.h>
#include <systemd/sd-daemon.h>

#include "server/base/log.h"
#include "server/base/tc_err.h"
#include "server/node.h"

static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    sd_notify(0, "WATCHDOG=1");
}

void node_notify_ready(struct tc_node *n)
{
    uint64_t usec = 0;
    int rc;

    rc = sd_notifyf(0, "READY=1\nSTATUS=node %s: up, %llu DNs", n->cfg->name,
                    (unsigned long long)n->cfg->dir.n_dns);
    if (rc < 0)
        tc_log(WARN, "systemd: READY=1 not sent: %s", tc_strerror(rc));
    /* > 0: the unit has WatchdogSec= and this process is the one watched. */
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
        return;
    /* Half the period, as sd_watchdog_enabled(3) advises: one late tick
     * of a busy loop is not yet a restart. */
    uint64_t ms = usec / 2000 > 0 ? usec / 2000 : 1;
    uv_timer_init(n->loop, &n->watchdog);
    n->watchdog.data = n;
    uv_timer_start(&n->watchdog, on_watchdog, ms, ms);
    n->watchdog_up = 1;
    tc_log(INFO, "systemd: watchdog every %llu ms", (unsigned long long)ms);
}

static void on_watchdog_closed(uv_handle_t *h)
{
    (void)h;
}

void node_notify_stopping(struct tc_node *n)
{
    sd_notify(0, "STOPPING=1");
    if (n->watchdog_up) {
        uv_close((uv_handle_t *)&n->watchdog, on_watchdog_closed);
        n->watchdog_up = 0;
    }
}
