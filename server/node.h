#ifndef TC_SERVER_NODE_H
#define TC_SERVER_NODE_H

#include <stdint.h>
#include <uv.h>

#include "server/base/metrics.h"
#include "server/config/config.h"
#include "server/core/core.h"
#include "server/core/dn_table.h"
#include "server/redirect/redirect.h"
#include "server/registrar/registrar.h"
#include "server/sip/sip_server.h"

struct store;
struct http_server;
struct page;
struct tc_port;
struct default_port;
struct peers;

/* Exit codes of tcnode. */
#define NODE_EXIT_OK     0
#define NODE_EXIT_CONFIG 1 /* usage, configuration, an address that cannot be bound */
#define NODE_EXIT_STORE  2 /* the data-dir cannot be used */

/* The process state: everything the loop thread owns, built in main() and
 * passed down (STYLE §4). */
struct tc_node {
    uv_loop_t *loop;
    struct config *cfg; /* owned; replaced on reload */
    struct dn_table table;
    struct store *store;
    struct http_server *http;
    struct page *page; /* the live page on the HTTP port */
    struct registrar reg;
    struct core core;
    struct redirect redirect; /* call delivery; listens to the core */
    struct sip_server sip;
    struct tc_port *tc_port;
    struct default_port *default_port;
    struct peers *peers;
    int reg_up, sip_up, core_up, redirect_up;
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t watchdog; /* systemd's WATCHDOG=1 (node_notify.c) */
    int watchdog_up;
    uint64_t started_ms;
    int exit_code;
    int stopping;

    /* Store figures, kept on the loop from on_commit reports. */
    uint64_t store_commits;
    uint64_t store_changes;
    struct metrics_histogram store_commit_seconds;
    uint64_t reloads, reload_failures;
};

/* Build the node from cfg (taken: the node frees it) on loop: open the store,
 * restore the state of the last run, bind every port, install signal
 * handlers. Returns 0, or - after logging the cause and closing everything
 * opened so far - TC_ESTORE when the data-dir cannot be used, or another
 * negative error (TC_ECONFIG, -EADDRINUSE, -ENOMEM, ...) for the rest.
 * main() maps TC_ESTORE to NODE_EXIT_STORE and the others to
 * NODE_EXIT_CONFIG. Loop thread. */
int node_start(struct tc_node *n, uv_loop_t *loop, struct config *cfg);

/* Begin a clean shutdown: stop accepting, flush pending writes, close
 * handles; uv_run() returns once everything is closed. Idempotent. */
void node_stop(struct tc_node *n);

/* Re-read the configuration file and switch to its DN directory and its
 * [node] dr-forward, keeping the state of DNs still in it; the redirect
 * takes them for the next call. On errors the old directory stays. Returns
 * 0 or TC_ECONFIG / -errno. Loop thread (SIGHUP). */
int node_reload(struct tc_node *n);

/* Render /metrics into b (node_metrics.c). */
int node_metrics_render(struct tc_node *n, struct tc_buf *b);

#endif
