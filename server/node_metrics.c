/* /metrics for one node: build info, DN counts by state, store figures. */
#include <errno.h>

#include "server/base/proc_metrics.h"
#include "server/core/bindings.h"
#include "server/http/http.h"
#include "server/node.h"
#include "storage/store.h"
#include "tcport/default_port.h"
#include "tcport/peer/peer.h"
#include "tcport/tc_port.h"

static int render_build(struct tc_buf *b)
{
    int rc = metrics_header(b, "tcluster_build_info", "gauge", "tcnode build; always 1");

    return rc ? rc
              : metrics_sample(b, "tcluster_build_info",
                               "version=\"" TC_VERSION "\",revision=\"" TC_GIT_REV "\"", 1);
}

static int render_dns(struct tc_node *n, struct tc_buf *b)
{
    uint64_t insrv = dn_table_insrv(&n->table);
    uint64_t total = n->cfg->dir.n_dns;
    int rc = 0;

    rc |= metrics_header(b, "tcluster_directory_numbers", "gauge", "DNs of the directory by status as seen here");
    rc |= metrics_sample_u64(b, "tcluster_directory_numbers", "state=\"insrv\"", insrv);
    rc |= metrics_sample_u64(b, "tcluster_directory_numbers", "state=\"oos\"", total - insrv);
    rc |= metrics_header(b, "tcluster_directory_numbers_owned_here", "gauge", "DNs this node owns");
    rc |= metrics_sample_u64(b, "tcluster_directory_numbers_owned_here", NULL, n->table.owned[DN_NODE_SELF]);
    rc |= metrics_header(b, "tcluster_directory_numbers_tracked", "gauge", "DNs with a recorded ownership history");
    rc |= metrics_sample_u64(b, "tcluster_directory_numbers_tracked", NULL, dn_table_tracked(&n->table));
    return rc ? -ENOMEM : 0;
}

static int render_store(struct tc_node *n, struct tc_buf *b)
{
    int rc = 0;

    rc |= metrics_header(b, "tcluster_store_commits_total", "counter",
                         "LMDB write transactions committed");
    rc |= metrics_sample_u64(b, "tcluster_store_commits_total", NULL, n->store_commits);
    rc |= metrics_header(b, "tcluster_store_changes_total", "counter", "changes made durable");
    rc |= metrics_sample_u64(b, "tcluster_store_changes_total", NULL, n->store_changes);
    rc |= metrics_header(b, "tcluster_store_pending", "gauge", "changes waiting to be durable");
    rc |= metrics_sample_u64(b, "tcluster_store_pending", NULL,
                             n->store != NULL ? store_pending(n->store) : 0);
    rc |= metrics_histogram_render(b, "tcluster_store_commit_seconds",
                                   "time to write and commit one transaction",
                                   &n->store_commit_seconds);
    return rc ? -ENOMEM : 0;
}

static int render_process(struct tc_node *n, struct tc_buf *b)
{
    int rc = 0;

    rc |= proc_metrics_render(b, n->started_ms);
    rc |= metrics_header(b, "tcluster_reloads_total", "counter", "SIGHUP reloads by result");
    rc |= metrics_sample_u64(b, "tcluster_reloads_total", "result=\"ok\"", n->reloads);
    rc |= metrics_sample_u64(b, "tcluster_reloads_total", "result=\"error\"", n->reload_failures);
    rc |= metrics_header(b, "tcluster_http_rejected_total", "counter",
                         "HTTP requests refused for bad or oversized input");
    rc |= metrics_sample_u64(b, "tcluster_http_rejected_total", NULL,
                             n->http != NULL ? http_server_rejected(n->http) : 0);
    rc |= metrics_header(b, "tcluster_http_event_streams", "gauge",
                         "live page event streams (Server-Sent Events) open");
    rc |= metrics_sample_u64(b, "tcluster_http_event_streams", NULL,
                             n->http != NULL ? http_server_event_clients(n->http) : 0);
    rc |= metrics_header(b, "tcluster_http_event_streams_dropped_total", "counter",
                         "event streams closed because the client read too slowly");
    rc |= metrics_sample_u64(b, "tcluster_http_event_streams_dropped_total", NULL,
                             n->http != NULL ? http_server_event_dropped(n->http) : 0);
    if (n->http != NULL)
        rc |= http_server_metrics(n->http, b);
    return rc ? -ENOMEM : 0;
}

static int render_registrar(struct tc_node *n, struct tc_buf *b)
{
    const struct registrar_stats *st = &n->reg.stats;
    int rc = 0;

    rc |= metrics_header(b, "tcluster_sip_bindings", "gauge", "SIP bindings held in memory");
    rc |= metrics_sample_u64(b, "tcluster_sip_bindings", NULL,
                             n->core.bindings != NULL ? n->core.bindings->n_bindings : 0);
    rc |= metrics_header(b, "tcluster_sip_bindings_expired_total", "counter",
                         "SIP bindings removed by expiry");
    rc |= metrics_sample_u64(b, "tcluster_sip_bindings_expired_total", NULL, st->expired);
    rc |= metrics_header(b, "tcluster_ownership_changes_total", "counter",
                         "claims and releases made by this node's registrar");
    rc |= metrics_sample_u64(b, "tcluster_ownership_changes_total", "kind=\"claim\"", st->claims);
    rc |= metrics_sample_u64(b, "tcluster_ownership_changes_total", "kind=\"release\"", st->releases);
    rc |= metrics_header(b, "tcluster_sip_auth_failures_total", "counter",
                         "REGISTERs refused for their credentials, by reason");
    rc |= metrics_sample_u64(b, "tcluster_sip_auth_failures_total", "reason=\"wrong\"", st->auth_wrong);
    rc |= metrics_sample_u64(b, "tcluster_sip_auth_failures_total", "reason=\"replay\"", st->auth_replay);
    rc |= metrics_sample_u64(b, "tcluster_sip_auth_failures_total", "reason=\"bad_nonce\"",
                             st->auth_bad_nonce);
    rc |= metrics_sample_u64(b, "tcluster_sip_auth_failures_total", "reason=\"uri_mismatch\"",
                             st->auth_uri);
    rc |= metrics_sample_u64(b, "tcluster_sip_auth_failures_total", "reason=\"user_mismatch\"",
                             st->auth_user);
    rc |= metrics_sample_u64(b, "tcluster_sip_auth_failures_total", "reason=\"malformed\"",
                             st->auth_malformed);
    rc |= metrics_header(b, "tcluster_sip_auth_throttled_total", "counter",
                         "REGISTERs refused unchecked after too many wrong guesses");
    rc |= metrics_sample_u64(b, "tcluster_sip_auth_throttled_total", NULL, st->auth_throttled);
    rc |= metrics_header(b, "tcluster_store_errors_total", "counter",
                         "changes the store could not make durable");
    rc |= metrics_sample_u64(b, "tcluster_store_errors_total", NULL, n->core.store_errors);
    return rc ? -ENOMEM : 0;
}

int node_metrics_render(struct tc_node *n, struct tc_buf *b)
{
    if (render_build(b) || render_dns(n, b) || render_store(n, b) || render_process(n, b) ||
        render_registrar(n, b) || (n->sip_up && sip_server_metrics(&n->sip, b)) ||
        (n->redirect_up && redirect_metrics(&n->redirect, b)) ||
        (n->tc_port != NULL && tc_port_metrics(n->tc_port, b)) ||
        (n->default_port != NULL && default_port_metrics(n->default_port, b)) ||
        (n->peers != NULL && peers_metrics(n->peers, b)))
        return -ENOMEM;
    return 0;
}
