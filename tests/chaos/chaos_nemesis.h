#ifndef TC_TESTS_CHAOS_CHAOS_NEMESIS_H
#define TC_TESTS_CHAOS_CHAOS_NEMESIS_H

#include <stdbool.h>
#include <stdint.h>

#include "tests/chaos/chaos_rng.h"
#include "tests/integration/harness_cluster.h"

/* The chaos test's nemesis: on the test's main thread, faults chosen with
 * the seeded generator at random gaps, each held for a random time, then
 * healed; up to max_active at once (CHAOS_OVERLAP, default 2), at most one
 * partition and one fill at a time, never two faults on one node's
 * process (a killed node whose disk is full gets its disk back first):
 *  - kill:      SIGKILL a node, restart it (same data-dir)
 *  - stop:      SIGSTOP a node, then SIGCONT
 *  - partition: cut every link between a random group of 1-2 nodes and the
 *               rest with nftables rules in the test's own network
 *               namespace: each node runs with its own group id, so
 *               "meta skgid" marks the connections its sockets dial and
 *               the connections dialed to its peer port (conntrack mark),
 *               and every packet of a marked connection is dropped, both
 *               ways
 *  - disk:      fill the data-dir of one node (a small tmpfs, else a
 *               loop-mounted image) until ENOSPC, then free it
 * A kind that cannot run here is skipped with a line saying why. A node
 * that exits by itself is a violation (restarted, so the run goes on). */

enum chaos_fault {
    CHAOS_FAULT_KILL,
    CHAOS_FAULT_STOP,
    CHAOS_FAULT_PARTITION,
    CHAOS_FAULT_DISK,
    CHAOS_FAULTS,
};

extern const char *const chaos_fault_names[CHAOS_FAULTS];

#define CHAOS_ACTIVE_MAX 4

struct MDB_env;
struct MDB_txn;

/* A fault being held. */
struct chaos_active {
    enum chaos_fault kind;
    int node; /* kill, stop, disk: the node */
    uint64_t heal_ms;
    bool group[HCLUSTER_MAX]; /* partition: one side */
    bool seen;                /* partition: a node saw a link down */
    uint64_t probe_ms;        /* partition: next look at the links */
    struct MDB_env *env;      /* disk: a reader holding old pages, or NULL */
    struct MDB_txn *txn;
    double errors; /* disk: the node's store errors before, -1 unknown */
};

struct chaos_nemesis {
    struct hcluster *c;
    struct chaos_rng rng;
    bool enabled[CHAOS_FAULTS];
    char why_not[CHAOS_FAULTS][160]; /* why a kind is skipped */
    int disk_node;                   /* index of the node with the small data-dir */
    char disk_image[400];            /* loop image, when tmpfs could not be mounted */
    bool disk_mounted;
    unsigned max_active;
    struct chaos_active active[CHAOS_ACTIVE_MAX];
    unsigned nactive;
    unsigned partitions; /* partitions made: each has its own conntrack mark */
    unsigned injected[CHAOS_FAULTS];
    unsigned partitions_seen; /* partitions a node saw as a link down */
    unsigned disk_full_seen;  /* fills during which the node refused a write */
    unsigned violations;      /* nodes that exited by themselves, restarts that failed */
};

/* Decide which kinds can run (partition needs CHAOS_NETNS=1: the run
 * script's private network namespace, and nft), give every node of c its
 * group id, and mount the small data-dir of one node. Call after
 * hcluster_init() and before hcluster_start(). */
void chaos_nemesis_init(struct chaos_nemesis *m, struct hcluster *c, uint64_t seed);

/* Inject and heal faults until harness_now_ms() reaches until_ms, then
 * heal every fault still held. */
void chaos_nemesis_run(struct chaos_nemesis *m, uint64_t until_ms);

/* Stop every node (SIGCONT first), and unmount the small data-dir. */
void chaos_nemesis_cleanup(struct chaos_nemesis *m);

#endif
