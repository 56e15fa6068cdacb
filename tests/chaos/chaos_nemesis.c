#include "tests/chaos/chaos_nemesis.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/tc_test.h"

#define GID_BASE   61000       /* node i runs with group id GID_BASE + 1 + i */
#define MARK_BASE  0x7c000000u /* conntrack marks: one per partition */
#define DISK_MB    8           /* the small data-dir */
#define FILL_BOUND (256u << 20)

const char *const chaos_fault_names[CHAOS_FAULTS] = {"kill", "stop", "partition", "disk"};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
    va_list ap;

    printf("chaos: ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

static void skip(struct chaos_nemesis *m, enum chaos_fault f, const char *why)
{
    char *nl;

    m->enabled[f] = false;
    snprintf(m->why_not[f], sizeof(m->why_not[f]), "%s", why);
    nl = strchr(m->why_not[f], '\n');
    if (nl != NULL)
        *nl = '\0';
    say("SKIP %s faults: %s", chaos_fault_names[f], m->why_not[f]);
}

static void init_partition(struct chaos_nemesis *m)
{
    const char *netns = getenv("CHAOS_NETNS");
    char *out = NULL;

    if (netns == NULL || strcmp(netns, "1") != 0) {
        skip(m, CHAOS_FAULT_PARTITION,
             "not in a private network namespace (tests/chaos/run makes one as root; "
             "nft rules on the host's loopback would touch other tests)");
        return;
    }
    if (harness_run("nft list tables", &out) != 0)
        skip(m, CHAOS_FAULT_PARTITION, out);
    free(out);
}

/* Mount a DISK_MB tmpfs on the disk node's data-dir; else a loop image. */
static void init_disk(struct chaos_nemesis *m)
{
    const struct hnode *n = &m->c->n[m->disk_node];
    char cmd[2400];
    char *out = NULL;

    if (mkdir(n->data_dir, 0700) != 0 && errno != EEXIST) {
        skip(m, CHAOS_FAULT_DISK, strerror(errno));
        return;
    }
    snprintf(cmd, sizeof(cmd), "mount -t tmpfs -o size=%dm,mode=0700 tcchaos '%s'", DISK_MB,
             n->data_dir);
    if (harness_run(cmd, &out) == 0) {
        m->disk_mounted = true;
        say("disk faults on %s: %d MiB tmpfs data-dir", n->name, DISK_MB);
        free(out);
        return;
    }
    say("tmpfs mount refused (%.100s): trying a loop image", out);
    free(out);
    snprintf(m->disk_image, sizeof(m->disk_image), "%s/disk.img", m->c->dir);
    snprintf(cmd, sizeof(cmd),
             "fallocate -l %dM '%s' && mkfs.ext4 -q -F '%s' && mount -o loop '%s' '%s' && "
             "chmod 0700 '%s'",
             DISK_MB * 2, m->disk_image, m->disk_image, m->disk_image, n->data_dir, n->data_dir);
    if (harness_run(cmd, &out) == 0) {
        m->disk_mounted = true;
        say("disk faults on %s: %d MiB loop-mounted ext4 image", n->name, DISK_MB * 2);
    } else {
        skip(m, CHAOS_FAULT_DISK, out);
    }
    free(out);
}

void chaos_nemesis_init(struct chaos_nemesis *m, struct hcluster *c, uint64_t seed)
{
    memset(m, 0, sizeof(*m));
    m->c = c;
    m->rng.s = seed;
    for (int f = 0; f < CHAOS_FAULTS; f++)
        m->enabled[f] = true;
    for (int i = 0; i < c->count; i++)
        c->n[i].gid = (gid_t)(GID_BASE + 1 + i);
    m->disk_node = (int)(chaos_rand(&m->rng) % (uint64_t)c->count);
    init_partition(m);
    init_disk(m);
}

/* A node that exited while the nemesis did not kill it is a violation;
 * restart it so the run goes on. */
static void check_exits(struct chaos_nemesis *m)
{
    for (int i = 0; i < m->c->count; i++) {
        struct hnode *n = &m->c->n[i];
        int code;

        if (n->pid == 0 || (code = harness_node_wait_exit(n, 0)) < 0)
            continue;
        m->violations++;
        say("VIOLATION: %s exited by itself (status %d); see %s", n->name, code, n->log);
        harness_node_start(n);
    }
}

/* Wait ms (a random delay of the nemesis), watching for nodes that exit. */
static void hold(struct chaos_nemesis *m, uint32_t ms)
{
    uint64_t end = harness_now_ms() + ms;

    for (;;) {
        uint64_t now = harness_now_ms();

        check_exits(m);
        if (now >= end)
            return;
        usleep((useconds_t)((end - now > 50 ? 50 : end - now) * 1000));
    }
}

static int running_node(struct chaos_nemesis *m)
{
    return (int)(chaos_rand(&m->rng) % (uint64_t)m->c->count);
}

static void fault_kill(struct chaos_nemesis *m)
{
    struct hnode *n = &m->c->n[running_node(m)];
    uint32_t ms = chaos_between(&m->rng, 200, 3000);

    say("kill -9 %s, restart after %u ms", n->name, ms);
    harness_node_kill(n);
    hold(m, ms);
    harness_node_start(n);
}

static void fault_stop(struct chaos_nemesis *m)
{
    struct hnode *n = &m->c->n[running_node(m)];
    uint32_t ms = chaos_between(&m->rng, 300, 5000);

    say("SIGSTOP %s for %u ms", n->name, ms);
    kill(n->pid, SIGSTOP);
    hold(m, ms);
    kill(n->pid, SIGCONT);
}

/* Rules that drop every connection between a node in group and one not in
 * it. The node whose name sorts lower dials (tcport/peer/peer.c), so a
 * pair's connection is dialed by the lower index to the higher one's peer
 * port: mark it from the dialer's group id and the port, then drop marked
 * connections, both directions (the mark is conntrack's). */
static int write_rules(struct chaos_nemesis *m, const bool *group, uint32_t mark, char *path,
                       size_t size)
{
    const struct hcluster *c = m->c;
    FILE *f;

    snprintf(path, size, "%s/partition.nft", c->dir);
    f = fopen(path, "w");
    if (f == NULL)
        return -errno;
    fprintf(f, "table inet tcchaos {\n  chain out {\n"
               "    type filter hook output priority 0; policy accept;\n");
    for (int a = 0; a < c->count; a++) {
        for (int b = a + 1; b < c->count; b++) {
            if (group[a] == group[b])
                continue;
            fprintf(f, "    meta skgid %u tcp dport %u ct mark set 0x%x\n", (unsigned)c->n[a].gid,
                    c->n[b].peer_port, mark);
        }
    }
    fprintf(f, "    ct mark 0x%x drop\n  }\n}\n", mark);
    return fclose(f) == 0 ? 0 : -errno;
}

struct cut_arg {
    const struct hcluster *c;
    int i;
    const bool *group;
};

/* Node i of the group reports a link to a node outside it down. */
static bool cut_seen(void *arg)
{
    const struct cut_arg *a = arg;
    bool down = false;
    char *page = NULL;

    if (harness_http_get(a->c->n[a->i].http_port, "/metrics", &page) != 200) {
        free(page);
        return false;
    }
    for (int j = 0; j < a->c->count && !down; j++) {
        char key[96];

        if (a->group[j])
            continue;
        snprintf(key, sizeof(key), "tc_peer_link_up{peer=\"%s\"}", a->c->n[j].name);
        down = harness_metric(page, key) == 0;
    }
    free(page);
    return down;
}

static void fault_partition(struct chaos_nemesis *m)
{
    const struct hcluster *c = m->c;
    bool group[HCLUSTER_MAX] = {false};
    uint32_t ms = chaos_between(&m->rng, 1000, 5000);
    int size = (int)chaos_between(&m->rng, 1, 2);
    char path[400], cmd[512], names[64] = "";
    uint64_t ms_left;
    size_t len = 0;
    char *out = NULL;

    for (int k = 0; k < size;) {
        int i = running_node(m);

        if (!group[i]) {
            group[i] = true;
            len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s", k ? "+" : "",
                                    c->n[i].name);
            k++;
        }
    }
    if (write_rules(m, group, MARK_BASE + m->injected[CHAOS_FAULT_PARTITION], path,
                    sizeof(path)) != 0) {
        say("partition: cannot write %s", path);
        m->violations++;
        return;
    }
    snprintf(cmd, sizeof(cmd), "nft -f '%s'", path);
    if (harness_run(cmd, &out) != 0) {
        say("partition: nft refused the rules: %s", out);
        free(out);
        m->violations++;
        return;
    }
    free(out);
    say("partition %s | rest for %u ms", names, ms);
    ms_left = harness_now_ms() + ms;
    /* The cut is real when a node of the group sees a link to the rest go
     * down (link-timeout is 1 s); a partition shorter than that may not. */
    for (int i = 0; i < c->count; i++) {
        if (group[i]) {
            struct cut_arg a = {c, i, group};

            if (harness_wait(cut_seen, &a, (int)(ms < 2500 ? ms : 2500))) {
                m->partitions_seen++;
                break;
            }
        }
    }
    if (harness_now_ms() < ms_left)
        hold(m, (uint32_t)(ms_left - harness_now_ms()));
    if (harness_run("nft delete table inet tcchaos", &out) != 0) {
        say("partition: nft delete failed: %s", out);
        m->violations++;
    }
    free(out);
}

/* A read transaction on the node's store, held from another process as a
 * backup (mdb_copy) or mdb_stat would: LMDB cannot reuse the pages freed
 * after it, so the node's commits must grow the file, and a full
 * filesystem refuses them. Returns the env (NULL when it cannot open). */
static MDB_env *hold_reader(const char *dir, MDB_txn **txn)
{
    MDB_env *env = NULL;

    *txn = NULL;
    if (mdb_env_create(&env) != 0)
        return NULL;
    mdb_env_set_maxdbs(env, 16);
    if (mdb_env_open(env, dir, MDB_RDONLY | MDB_NOTLS, 0600) != 0 ||
        mdb_txn_begin(env, NULL, MDB_RDONLY, txn) != 0) {
        mdb_env_close(env);
        return NULL;
    }
    return env;
}

/* Fill the disk node's data-dir until the filesystem says ENOSPC, with a
 * reader holding old pages half of the time. */
static void fault_disk(struct chaos_nemesis *m)
{
    const struct hnode *n = &m->c->n[m->disk_node];
    static const char zeros[65536];
    uint32_t ms = chaos_between(&m->rng, 1000, 4000);
    char path[400];
    size_t filled = 0;
    double errors;
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    int fd;

    errors = harness_node_metric(n, "tc_store_errors_total");
    snprintf(path, sizeof(path), "%s/chaos-filler", n->data_dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        say("disk: cannot create %s: %s", path, strerror(errno));
        return;
    }
    if (chaos_rand(&m->rng) % 2 == 0)
        env = hold_reader(n->data_dir, &txn);
    while (filled < FILL_BOUND) {
        ssize_t w = write(fd, zeros, sizeof(zeros));

        if (w <= 0)
            break;
        filled += (size_t)w;
    }
    /* The last partial block, byte by byte would be slow: a small write
     * loop until ENOSPC is enough. */
    while (write(fd, zeros, 512) > 0)
        filled += 512;
    close(fd);
    say("disk of %s full (%zu KiB of filler%s) for %u ms", n->name, filled >> 10,
        env != NULL ? ", a reader holding old pages" : "", ms);
    hold(m, ms);
    /* Refused writes show the fill bit (a store with free pages inside its
     * file may still commit). */
    if (harness_node_metric(n, "tc_store_errors_total") > errors)
        m->disk_full_seen++;
    unlink(path);
    if (env != NULL) {
        mdb_txn_abort(txn);
        mdb_env_close(env);
    }
}

void chaos_nemesis_run(struct chaos_nemesis *m, uint64_t until_ms)
{
    while (harness_now_ms() < until_ms) {
        enum chaos_fault f;

        hold(m, chaos_between(&m->rng, 200, 1500));
        if (harness_now_ms() >= until_ms)
            break;
        do {
            f = (enum chaos_fault)(chaos_rand(&m->rng) % CHAOS_FAULTS);
        } while (!m->enabled[f]);
        m->injected[f]++;
        switch (f) {
        case CHAOS_FAULT_KILL:
            fault_kill(m);
            break;
        case CHAOS_FAULT_STOP:
            fault_stop(m);
            break;
        case CHAOS_FAULT_PARTITION:
            fault_partition(m);
            break;
        case CHAOS_FAULT_DISK:
            fault_disk(m);
            break;
        default:
            break;
        }
    }
    check_exits(m);
}

void chaos_nemesis_cleanup(struct chaos_nemesis *m)
{
    const struct hnode *d = &m->c->n[m->disk_node];
    char cmd[512];

    for (int i = 0; i < m->c->count; i++) {
        struct hnode *n = &m->c->n[i];
        int code;

        if (n->pid == 0)
            continue;
        kill(n->pid, SIGCONT);
        code = harness_node_stop(n);
        if (code != 0)
            say("%s exited with status %d after SIGTERM", n->name, code);
    }
    if (m->disk_mounted) {
        snprintf(cmd, sizeof(cmd), "umount '%s'", d->data_dir);
        if (harness_run(cmd, NULL) != 0)
            say("umount %s failed", d->data_dir);
    }
}
