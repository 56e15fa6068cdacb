#include "server/node.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/base/clock.h"
#include "server/base/log.h"
#include "server/base/tc_err.h"
#include "server/http/http.h"
#include "server/http/page/page.h"
#include "server/node_notify.h"
#include "storage/store.h"
#include "tcport/default_port.h"
#include "tcport/peer/peer.h"
#include "tcport/tc_port.h"

static void on_store_commit(void *arg, uint32_t changes, uint64_t commit_ns)
{
    struct tc_node *n = arg;

    n->store_commits++;
    n->store_changes += changes;
    metrics_histogram_observe(&n->store_commit_seconds, (double)commit_ns / 1e9);
}

static void on_http_request(void *arg, const struct http_request *req, struct http_response *res)
{
    struct tc_node *n = arg;

    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        res->status = 405;
        tc_buf_puts(&res->body, "method not allowed\n");
        return;
    }
    if (n->page != NULL && page_serve(n->page, req, res))
        return;
    if (strcmp(req->path, "/healthz") == 0) {
        tc_buf_puts(&res->body, n->stopping ? "stopping\n" : "ok\n");
        res->status = n->stopping ? 503 : 200;
    } else if (strcmp(req->path, "/metrics") == 0) {
        res->content_type = "text/plain; version=0.0.4; charset=utf-8";
        if (node_metrics_render(n, &res->body) != 0) {
            res->status = 500;
            tc_buf_reset(&res->body);
            tc_buf_puts(&res->body, "out of memory\n");
        }
    } else {
        res->status = 404;
        tc_buf_puts(&res->body, "not found\n");
    }
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct tc_node *n = h->data;

    if (signum == SIGHUP) {
        node_reload(n);
        return;
    }
    tc_log(NOTICE, "node %s: %s received, shutting down", n->cfg->name, strsignal(signum));
    node_stop(n);
}

static int open_store(struct tc_node *n)
{
    struct store_options so = {
            .dir = n->cfg->data_dir,
            .node_name = n->cfg->name,
            .durability = n->cfg->durability == CONFIG_DURABILITY_SYNC ? STORE_SYNC : STORE_ASYNC,
            .map_size = n->cfg->limits.store_map_size,
            .max_queue = n->cfg->limits.store_queue,
            .commit_window_us = n->cfg->commit_window_ms * 1000,
            .on_commit = on_store_commit,
            .on_commit_arg = n,
    };
    int rc = store_open(&n->store, n->loop, &so);

    if (rc != 0) {
        tc_log(ERR, "data-dir %s: %s", n->cfg->data_dir, tc_strerror(rc));
        return rc;
    }
    if (so.durability == STORE_ASYNC)
        tc_log(WARN,
               "data-dir %s: durability async: acknowledged changes may be lost if the "
               "machine crashes",
               n->cfg->data_dir);
    return 0;
}

static int start_http(struct tc_node *n)
{
    const struct config_addr *a = &n->cfg->http_listen;
    struct http_options ho = {
            .host = a->host,
            .port = a->port,
            .max_header = n->cfg->limits.http_max_header,
            .max_connections = n->cfg->limits.max_connections,
            .idle_timeout_ms = n->cfg->limits.idle_timeout_ms,
            .max_per_source = n->cfg->limits.max_connections_per_source,
            .handler = on_http_request,
            .arg = n,
    };
    char buf[96];
    int rc = http_server_start(&n->http, n->loop, &ho);

    if (rc != 0) {
        tc_log(ERR, "http-listen %s: %s", config_addr_str(a, buf, sizeof(buf)), tc_strerror(rc));
        return rc;
    }
    rc = page_start(&n->page, n->loop, n->cfg, &n->core, n->http);
    if (rc != 0)
        tc_log(ERR, "live page: %s", tc_strerror(rc));
    return rc;
}

/* A start failure that is not the store's: a negative code for main(). */
static int config_err(int rc)
{
    return rc < 0 && rc != TC_ESTORE ? rc : TC_ECONFIG;
}

/* Peers first, so link events reach the ports' first subscribers. Each
 * logs its own failure. Returns 0 or a negative error. */
static int start_ports(struct tc_node *n)
{
    int rc = peers_start(&n->peers, n->loop, n->cfg, &n->core);

    if (rc == 0)
        rc = tc_port_start(&n->tc_port, n->loop, n->cfg, &n->core);
    if (rc == 0)
        rc = default_port_start(&n->default_port, n->loop, n->cfg, &n->core);
    return rc == 0 ? 0 : config_err(rc);
}

/* Call delivery over the restored table and bindings, kept current by the
 * core's published changes. Returns 0 or a negative error (logged). */
static int start_redirect(struct tc_node *n)
{
    struct core_listener l = {0};
    int rc;

    rc = redirect_init(&n->redirect, n->cfg, &n->table, n->core.bindings);
    if (rc != 0) {
        tc_log(ERR, "redirect: %s", tc_strerror(rc));
        redirect_free(&n->redirect);
        return rc;
    }
    n->redirect_up = 1;
    redirect_listener(&n->redirect, &l);
    rc = core_listen(&n->core, &l);
    if (rc != 0)
        tc_log(ERR, "redirect: listening to the core: %s", tc_strerror(rc));
    return rc;
}

static void stop_redirect(struct tc_node *n)
{
    if (!n->redirect_up)
        return;
    if (n->core_up)
        core_unlisten(&n->core, &n->redirect);
    redirect_free(&n->redirect);
    n->redirect_up = 0;
}

/* The core over the table and store, the registrar over the core, then the
 * state of the last run back from the store. Returns 0, TC_ESTORE (the
 * cause is logged) or a negative error. */
static int start_core(struct tc_node *n)
{
    struct config *cfg = n->cfg;
    int rc;

    rc = core_init(&n->core, n->loop, &n->table, n->store, cfg->limits.store_queue);
    if (rc != 0) {
        tc_log(ERR, "core: %s", tc_strerror(rc));
        return rc;
    }
    n->core_up = 1;
    rc = registrar_init(&n->reg, n->loop, &n->core, &cfg->limits, "tcluster");
    if (rc != 0) {
        tc_log(ERR, "registrar: %s", tc_strerror(rc));
        return rc;
    }
    n->reg_up = 1;
    rc = core_restore(&n->core, NULL);
    if (rc != 0) {
        tc_log(ERR, "data-dir %s: restoring state: %s", cfg->data_dir, tc_strerror(rc));
        return TC_ESTORE;
    }
    return start_redirect(n);
}

static void stop_ports(struct tc_node *n)
{
    if (n->default_port != NULL) {
        default_port_stop(n->default_port);
        n->default_port = NULL;
    }
    if (n->tc_port != NULL) {
        tc_port_stop(n->tc_port);
        n->tc_port = NULL;
    }
    if (n->peers != NULL) {
        peers_stop(n->peers);
        n->peers = NULL;
    }
}

static int start_signals(struct tc_node *n)
{
    uv_signal_t *hs[] = {&n->sig_term, &n->sig_int, &n->sig_hup};
    int sigs[] = {SIGTERM, SIGINT, SIGHUP};

    for (int i = 0; i < 3; i++) {
        uv_signal_init(n->loop, hs[i]);
        hs[i]->data = n;
        uv_signal_start(hs[i], on_signal, sigs[i]);
    }
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

int node_start(struct tc_node *n, uv_loop_t *loop, struct config *cfg)
{
    char buf[96], sbuf[96];
    int rc;

    memset(n, 0, sizeof(*n));
    n->loop = loop;
    n->cfg = cfg;
    n->started_ms = tc_now_ms();
    metrics_histogram_init(&n->store_commit_seconds, metrics_latency_bounds,
                           metrics_latency_n_bounds);
    rc = dn_table_init(&n->table, &cfg->dir, cfg->name);
    if (rc != 0)
        goto out_free_cfg;
    for (unsigned i = 0; i < cfg->n_peers; i++)
        dn_table_add_node(&n->table, cfg->peers[i].name);
    if (open_store(n) != 0) {
        rc = TC_ESTORE;
        goto out_free_table;
    }
    rc = start_core(n);
    if (rc == 0)
        rc = start_ports(n);
    if (rc == 0) {
        rc = sip_server_start(&n->sip, loop, cfg, &n->reg, &n->redirect, &n->core);
        n->sip_up = rc == 0;
    }
    if (rc == 0)
        rc = start_http(n);
    if (rc != 0)
        goto out_close_store;
    start_signals(n);
    tc_log(NOTICE, "node %s: up, %llu DNs, sip %s, http %s, data-dir %s (durability %s)", cfg->name,
           (unsigned long long)cfg->dir.n_dns,
           config_addr_str(&cfg->sip_listen[0], sbuf, sizeof(sbuf)),
           config_addr_str(&cfg->http_listen, buf, sizeof(buf)), cfg->data_dir,
           cfg->durability == CONFIG_DURABILITY_SYNC ? "sync" : "async");
    node_notify_ready(n);
    return 0;

out_close_store:
    if (n->page != NULL) {
        page_stop(n->page);
        n->page = NULL;
    }
    if (n->http != NULL) {
        http_server_stop(n->http);
        n->http = NULL;
    }
    stop_ports(n);
    store_close(n->store);
    n->store = NULL;
    n->core.store = NULL;
    if (n->sip_up)
        sip_server_stop(&n->sip);
    stop_redirect(n);
    if (n->reg_up)
        registrar_close(&n->reg);
    if (n->core_up)
        core_close(&n->core);
out_free_table:
    dn_table_free(&n->table);
out_free_cfg:
    config_free(cfg);
    n->cfg = NULL;
    return rc == TC_ESTORE ? TC_ESTORE : config_err(rc);
}

static void on_signal_closed(uv_handle_t *h)
{
    (void)h;
}

void node_stop(struct tc_node *n)
{
    if (n->stopping)
        return;
    n->stopping = 1;
    node_notify_stopping(n);
    if (n->page != NULL) {
        page_stop(n->page);
        n->page = NULL;
    }
    if (n->http != NULL) {
        http_server_stop(n->http);
        n->http = NULL;
    }
    stop_ports(n);
    if (n->store != NULL) {
        uint32_t pending = store_pending(n->store);

        store_close(n->store);
        n->store = NULL;
        n->core.store = NULL;
        tc_log(NOTICE, "node %s: store closed, %u pending changes flushed", n->cfg->name, pending);
    }
    /* The store's last callbacks have sent their answers: now stop SIP. */
    if (n->sip_up) {
        sip_server_stop(&n->sip);
        n->sip_up = 0;
    }
    stop_redirect(n);
    if (n->reg_up) {
        registrar_close(&n->reg);
        n->reg_up = 0;
    }
    if (n->core_up) {
        core_close(&n->core);
        n->core_up = 0;
    }
    uv_close((uv_handle_t *)&n->sig_term, on_signal_closed);
    uv_close((uv_handle_t *)&n->sig_int, on_signal_closed);
    uv_close((uv_handle_t *)&n->sig_hup, on_signal_closed);
}

static void report_reload_error(void *arg, const char *path, unsigned line, const char *msg)
{
    (void)arg;
    if (line > 0)
        tc_log(ERR, "reload: %s:%u: %s", path, line, msg);
    else
        tc_log(ERR, "reload: %s: %s", path, msg);
}

/* The redirect takes the directory now in n->cfg. Its old routing-point
 * groups index the old directory, which is about to be freed: when the
 * reload fails, start it afresh rather than keep them; if even that fails,
 * INVITEs get 503 until the next reload. */
static void reload_redirect(struct tc_node *n)
{
    if (n->redirect_up && redirect_reload(&n->redirect, n->cfg) == 0)
        return;
    stop_redirect(n);
    n->sip.redirect = NULL;
    if (start_redirect(n) == 0)
        n->sip.redirect = &n->redirect;
    else
        stop_redirect(n);
}

int node_reload(struct tc_node *n)
{
    struct config *next;
    uint64_t before = n->cfg->dir.n_dns;
    long dropped;
    int rc;

    rc = config_load(n->cfg->path, &next, report_reload_error, NULL);
    if (rc != 0) {
        n->reload_failures++;
        tc_log(ERR, "reload: %s: %s; keeping the running configuration", n->cfg->path,
               tc_strerror(rc));
        return rc;
    }
    if (strcmp(next->name, n->cfg->name) != 0 || strcmp(next->data_dir, n->cfg->data_dir) != 0)
        tc_log(WARN, "reload: only the DN directory and dr-forward are reloaded; restart to "
                     "change name, data-dir, addresses or peers");
    /* The table switches to the new directory; the new config keeps it alive,
     * so it takes the old one's place. */
    dropped = dn_table_reload(&n->table, &next->dir);
    if (dropped < 0) {
        n->reload_failures++;
        config_free(next);
        tc_log(ERR, "reload: %s", tc_strerror((int)dropped));
        return (int)dropped;
    }
    /* Only the directory is taken: swap it into the running config. */
    struct dn_dir old = n->cfg->dir;
    n->cfg->dir = next->dir;
    next->dir = old;
    n->table.dir = &n->cfg->dir;
    n->cfg->dr_forward = next->dr_forward;
    reload_redirect(n);
    config_free(next);
    n->reloads++;
    tc_log(NOTICE, "reload: %llu DNs (was %llu), %ld DN states dropped",
           (unsigned long long)n->cfg->dir.n_dns, (unsigned long long)before, dropped);
    return 0;
}
