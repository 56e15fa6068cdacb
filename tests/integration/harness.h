#ifndef TC_TESTS_INTEGRATION_HARNESS_H
#define TC_TESTS_INTEGRATION_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Real tcnode processes for integration tests: a temp dir with a config, the
 * process started from the test build, conditions waited on with a
 * deadline. Every failure aborts the test with a message. */

struct hnode {
    char name[32];
    char dir[256];      /* temp dir holding the config, log and data-dir */
    char config[320];   /* dir/NAME.ini */
    char log[320];      /* dir/NAME.log: tcnode's stderr */
    char data_dir[320]; /* dir/data */
    uint16_t sip_port, default_port, tc_port, peer_port, http_port;
    pid_t pid; /* 0 when not running */
    gid_t gid; /* when not 0, the node runs with this group id (and no
                * supplementary groups): nft's meta skgid can then tell its
                * sockets apart on loopback (tests/chaos) */
};

/* Path of the tcnode under test: $TCNODE, else the build folder's. */
const char *harness_tcnode(void);

/* A free TCP+UDP port on 127.0.0.1, taken with harness_port_take(): no
 * other test process on this machine gets it while this one lives. */
uint16_t harness_free_port(void);

/* Take port for this process if no other live test process (of any build
 * or worktree on this machine) holds it and 127.0.0.1:port binds for TCP
 * and UDP now. The hold is a lock on a file of HARNESS_PORT_DIR, released
 * when the process exits: a port found free stays this test's until its
 * node binds it, however long that takes under load. Returns whether it
 * was taken; taking a port this process already holds fails too. */
bool harness_port_take(uint16_t port);

#define HARNESS_PORT_DIR "/tmp/tcluster-test-ports"

/* Prepare n with fresh ports and a temp dir, and write a config whose [node]
 * section holds the listen addresses, data-dir and extra_node (more keys,
 * may be NULL), followed by tail (more sections, e.g. "[dn 1000-1999]\n";
 * may be NULL). */
void harness_node_init(struct hnode *n, const char *name, const char *extra_node, const char *tail);

/* Rewrite the config (same ports and dirs) with other extra keys and tail. */
void harness_node_write_config(struct hnode *n, const char *extra_node, const char *tail);

/* Start tcnode -c config in the background; stderr goes to the log. */
void harness_node_spawn(struct hnode *n);

/* Spawn and wait until /healthz answers 200 (deadline 20 s). */
void harness_node_start(struct hnode *n);

/* SIGTERM and wait; returns the exit status (as from waitpid) or aborts after
 * a deadline. */
int harness_node_stop(struct hnode *n);

/* SIGKILL and reap. */
void harness_node_kill(struct hnode *n);

/* Wait up to ms for the process to exit by itself; returns its exit code, or
 * -1 if it is still running. */
int harness_node_wait_exit(struct hnode *n, int ms);

/* Remove the temp dir (the node must be stopped). */
void harness_node_cleanup(struct hnode *n);

/* GET http://127.0.0.1:port/path with curl. Returns the HTTP status (0 when
 * no answer) and, when body is not NULL, a malloc'd body. */
int harness_http_get(uint16_t port, const char *path, char **body);

/* Run a shell command; returns its exit code and, when out is not NULL, its
 * stdout+stderr (malloc'd). */
int harness_run(const char *cmd, char **out);

/* Read a whole file (malloc'd, NUL-terminated), or NULL. */
char *harness_read_file(const char *path);

/* Value of a metric sample line "name{labels} value" in a /metrics page
 * (name_labels is everything before the space), or -1 when absent. */
double harness_metric(const char *page, const char *name_labels);

/* Milliseconds on a monotonic clock. */
uint64_t harness_now_ms(void);

/* A deadline of ms scaled by $TC_TEST_TIME_SCALE (a whole number, default
 * 1), for nodes that run slower than the tests expect: under valgrind
 * (tests/valgrind/run). harness_wait(), harness_node_wait_exit() and
 * harness_udp_exchange() scale theirs. */
int harness_ms(int ms);

/* Wait until cond(arg) is true, polling every 20 ms, for at most ms
 * (scaled by harness_ms()). Returns whether it became true. */
bool harness_wait(bool (*cond)(void *arg), void *arg, int ms);



/* Send one UDP datagram (len bytes) to 127.0.0.1:port and wait up to ms for
 * one answer. Returns the answer's length (NUL-terminated in resp), 0 when
 * none came, aborts on socket errors. */
int harness_udp_exchange(uint16_t port, const char *msg, size_t len, char *resp, size_t cap,
                         int ms);

/* Fetch /metrics and return the value of one sample, or -1. */
double harness_node_metric(const struct hnode *n, const char *name_labels);

/* Wait up to ms for a metric sample to equal want. */
bool harness_wait_metric(const struct hnode *n, const char *name_labels, double want, int ms);
#endif
