#ifndef TC_TESTS_INTEGRATION_HARNESS_CLUSTER_H
#define TC_TESTS_INTEGRATION_HARNESS_CLUSTER_H

#include <stdbool.h>

#include "tests/integration/harness.h"

/* A cluster of real tcnode processes on 127.0.0.1 for integration tests:
 * nodes sip1..sipN, each listing all the others as [peer] sections, one
 * shared cluster secret, short heartbeats (200 ms) and link timeout (1 s).
 * Failures abort the test with a message. */

#define HCLUSTER_MAX          8
#define HCLUSTER_HEARTBEAT_MS 200
#define HCLUSTER_TIMEOUT_MS   1000
/* Peer sections say access-number = HCLUSTER_ACCESS_BASE + i for node i
 * (1-based): sip2 is 9002. */
#define HCLUSTER_ACCESS_BASE 9000

struct hcluster {
    struct hnode n[HCLUSTER_MAX];
    int count;
    char dir[256];    /* temp dir holding the secrets */
    char secret[320]; /* dir/secret */
    char dns[64];     /* the [dn] range every node serves */
};

/* Prepare count nodes serving the DN range dns (e.g. "1000-1999") and write
 * their configs. extra_node (may be NULL) adds [node] keys to every node. */
void hcluster_init(struct hcluster *c, int count, const char *dns, const char *extra_node);

/* Rewrite node i's (0-based) config with the cluster's secret, extra_node
 * [node] keys and extra_tail (more sections after the cluster's [dn]
 * range, e.g. "[dn 1500]\nshared-line = true\n..."); both may be NULL.
 * Call it before hcluster_start(), or send SIGHUP after. */
void hcluster_write_config(struct hcluster *c, int i, const char *extra_node,
                           const char *extra_tail);

/* Give node i (0-based) its own secret file holding text, so it no longer
 * shares the cluster's (rewrites its config). */
void hcluster_set_secret(struct hcluster *c, int i, const char *text);

/* Start every node and wait until each answers /healthz. */
void hcluster_start(struct hcluster *c);

/* True once node i reports every configured link up, within ms. */
bool hcluster_wait_links(const struct hcluster *c, int i, int ms);

/* True once every running node reports all its links up, within ms. */
bool hcluster_wait_all_links(const struct hcluster *c, int ms);

/* True once the metric equals want on every running node, within ms. */
bool hcluster_wait_metric_all(const struct hcluster *c, const char *name_labels, double want,
                              int ms);

/* Sum of a metric over the running nodes (absent counts 0). */
double hcluster_metric_sum(const struct hcluster *c, const char *name_labels);

/* Register dn at node n with sipsak (UDP, 300 s). Returns sipsak's exit
 * code (0: 200 OK). */
int hcluster_register(const struct hnode *n, const char *dn);

/* The owner ("" for none) and status ("insrv", "oos") of dn as node n
 * reports them through its TC port (tcctl --json dn DN). Returns false when
 * tcctl is not built or fails. */
bool hcluster_dn(const struct hnode *n, const char *dn, char *owner, size_t osize, char *status,
                 size_t ssize);

/* True when every running node reports dn owned by owner and InSrv,
 * within ms (and when tcctl is not built: the check is then skipped with a
 * warning). */
bool hcluster_wait_owner(const struct hcluster *c, const char *dn, const char *owner, int ms);

/* Remove every binding of dn at n (Contact: *, Expires: 0) over UDP; the
 * answer's status line goes in status ("" when none came). */
void hcluster_unregister_all(const struct hnode *n, const char *dn, char *status, size_t size);

/* Stop every node (SIGTERM, or SIGKILL when stopped) and remove the dirs. */
void hcluster_cleanup(struct hcluster *c);

#endif
