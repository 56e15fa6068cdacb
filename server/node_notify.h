#ifndef TC_SERVER_NODE_NOTIFY_H
#define TC_SERVER_NODE_NOTIFY_H

struct tc_node;

/* Tell the service manager the node is ready (READY=1 and a STATUS line):
 * call once it listens on every port with its state restored. When the
 * unit has a watchdog (WATCHDOG_USEC for this process), start a loop timer
 * sending WATCHDOG=1 at half its period, so a loop that stops turning is
 * restarted. Outside a Type=notify unit (no NOTIFY_SOCKET) nothing is sent
 * and no timer runs. Loop thread. */
void node_notify_ready(struct tc_node *n);

/* Tell the service manager the node is stopping (STOPPING=1) and close the
 * watchdog timer. Idempotent for the timer. Loop thread. */
void node_notify_stopping(struct tc_node *n);

#endif
