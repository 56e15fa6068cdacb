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
    m->max_active =
            (unsigned)strtoul(getenv("CHAOS_OVERLAP") ? getenv("CHAOS_OVERLAP") : "2", NULL, 10);
    if (m->max_active < 1 || m->max_active > CHAOS_ACTIVE_MAX)
        m->max_active = 2;
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

/* The active fault of kind on node (any node: -1), or NULL. */
static struct chaos_active *find(struct chaos_nemesis *m, int kind, int node)
{
    for (unsigned k = 0; k < m->nactive; k++) {
        struct chaos_active *a = &m->active[k];

        if ((kind < 0 || (int)a->kind == kind) && (node < 0 || a->node == node))
            return a;
    }
    return NULL;
}

/* Killed or stopped by an active fault. */
static bool busy(struct chaos_nemesis *m, int node)
{
    return find(m, CHAOS_FAULT_KILL, node) != NULL || find(m, CHAOS_FAULT_STOP, node) != NULL;
}

static int free_node(struct chaos_nemesis *m)
{
    int i = (int)(chaos_rand(&m->rng) % (uint64_t)m->c->count);

    for (int k = 0; k < m->c->count; k++, i = (i + 1) % m->c->count)
        if (!busy(m, i))
            return i;
    return -1;
}

/* Rules that drop every connection between a node in group and one not in
 * it. The node whose name sorts lower dials (tcport/peer/peer.c), so a
 * pair's connection is dialed by the lower index to the higher one's peer
 * port: mark it from the dialer's group id and the port, then drop marked
 * connections, both directions (the mark is conntrack's, one per
 * partition, so a connection marked by an earlier one is left alone). */
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

/* Node i of the group reports a link to a node outside it down. */
static bool cut_seen(const struct hcluster *c, int i, const bool *group)
{
    bool down = false;
    char *page = NULL;

    if (harness_http_get(c->n[i].http_port, "/metrics", &page) != 200) {
        free(page);
        return false;
    }
    for (int j = 0; j < c->count && !down; j++) {
        char key[96];

        if (group[j])
            continue;
        snprintf(key, sizeof(key), "tcluster_peer_link_up{peer=\"%s\"}", c->n[j].name);
        down = harness_metric(page, key) == 0;
    }
    free(page);
    return down;
}

static bool inject_partition(struct chaos_nemesis *m, struct chaos_active *a)
{
    const struct hcluster *c = m->c;
    int size = (int)chaos_between(&m->rng, 1, 2);
    char path[400], cmd[512], names[64] = "";
    size_t len = 0;
    char *out = NULL;

    if (find(m, CHAOS_FAULT_PARTITION, -1) != NULL)
        return false;
    for (int k = 0; k < size;) {
        int i = (int)(chaos_rand(&m->rng) % (uint64_t)c->count);

        if (!a->group[i]) {
            a->group[i] = true;
            len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s", k ? "+" : "",
                                    c->n[i].name);
            k++;
        }
    }
    if (write_rules(m, a->group, MARK_BASE + m->partitions++, path, sizeof(path)) != 0) {
        say("VIOLATION: partition: cannot write %s", path);
        m->violations++;
        return false;
    }
    snprintf(cmd, sizeof(cmd), "nft -f '%s'", path);
    if (harness_run(cmd, &out) != 0) {
        say("VIOLATION: partition: nft refused the rules: %s", out);
        free(out);
        m->violations++;
        return false;
    }
    free(out);
    a->node = -1;
    a->heal_ms = harness_now_ms() + chaos_between(&m->rng, 1000, 5000);
    say("partition %s | rest until +%llu ms", names,
        (unsigned long long)(a->heal_ms - harness_now_ms()));
    return true;
}

/* The cut is real when a node of the group sees a link to the rest go
 * down (link-timeout is 1 s); a partition shorter than that may not. */
static void probe_partition(struct chaos_nemesis *m, struct chaos_active *a)
{
    uint64_t now = harness_now_ms();

    if (a->seen || now < a->probe_ms)
        return;
    a->probe_ms = now + 300;
    for (int i = 0; i < m->c->count && !a->seen; i++) {
        if (a->group[i] && !busy(m, i) && cut_seen(m->c, i, a->group)) {
            a->seen = true;
            m->partitions_seen++;
        }
    }
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

static void filler_path(const struct hnode *n, char *path, size_t size)
{
    snprintf(path, size, "%s/chaos-filler", n->data_dir);
}

/* Fill the disk node's data-dir until the filesystem says ENOSPC, with a
 * reader holding old pages half of the time. */
static bool inject_disk(struct chaos_nemesis *m, struct chaos_active *a)
{
    const struct hnode *n = &m->c->n[m->disk_node];
    static const char zeros[65536];
    char path[400];
    size_t filled = 0;
    int fd;

    if (find(m, CHAOS_FAULT_DISK, -1) != NULL || busy(m, m->disk_node))
        return false;
    a->node = m->disk_node;
    a->errors = harness_node_metric(n, "tcluster_store_errors_total");
    filler_path(n, path, sizeof(path));
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        say("disk: cannot create %s: %s", path, strerror(errno));
        return false;
    }
    if (chaos_rand(&m->rng) % 2 == 0)
        a->env = hold_reader(n->data_dir, &a->txn);
    while (filled < FILL_BOUND) {
        ssize_t w = write(fd, zeros, sizeof(zeros));

        if (w <= 0)
            break;
        filled += (size_t)w;
    }
    /* The last part of a block. */
    while (write(fd, zeros, 512) > 0)
        filled += 512;
    close(fd);
    a->heal_ms = harness_now_ms() + chaos_between(&m->rng, 1000, 4000);
    say("disk of %s full (%zu KiB of filler%s) until +%llu ms", n->name, filled >> 10,
        a->env != NULL ? ", a reader holding old pages" : "",
        (unsigned long long)(a->heal_ms - harness_now_ms()));
    return true;
}

static void heal_disk(struct chaos_nemesis *m, struct chaos_active *a)
{
    const struct hnode *n = &m->c->n[a->node];
    char path[400];

    /* Refused writes show the fill bit (a store with free pages inside its
     * file may still commit). A node stopped meanwhile is not asked. */
    if (a->errors >= 0 && n->pid != 0 && !busy(m, a->node) &&
        harness_node_metric(n, "tcluster_store_errors_total") > a->errors)
        m->disk_full_seen++;
    filler_path(n, path, sizeof(path));
    unlink(path);
    if (a->env != NULL) {
        mdb_txn_abort(a->txn);
        mdb_env_close(a->env);
    }
    say("disk of %s freed", n->name);
}

static bool inject(struct chaos_nemesis *m, enum chaos_fault f)
{
    struct chaos_active *a = &m->active[m->nactive];
    bool ok = false;

    memset(a, 0, sizeof(*a));
    a->kind = f;
    switch (f) {
    case CHAOS_FAULT_KILL:
    case CHAOS_FAULT_STOP:
        a->node = free_node(m);
        if (a->node < 0)
            break;
        ok = true;
        a->heal_ms = harness_now_ms() + (f == CHAOS_FAULT_KILL ? chaos_between(&m->rng, 200, 3000)
                                                               : chaos_between(&m->rng, 300, 5000));
        say("%s %s until +%llu ms", f == CHAOS_FAULT_KILL ? "kill -9" : "SIGSTOP",
            m->c->n[a->node].name, (unsigned long long)(a->heal_ms - harness_now_ms()));
        if (f == CHAOS_FAULT_KILL)
            harness_node_kill(&m->c->n[a->node]);
        else
            kill(m->c->n[a->node].pid, SIGSTOP);
        break;
    case CHAOS_FAULT_PARTITION:
        ok = inject_partition(m, a);
        break;
    case CHAOS_FAULT_DISK:
        ok = inject_disk(m, a);
        break;
    default:
        break;
    }
    if (ok) {
        m->nactive++;
        m->injected[f]++;
    }
    return ok;
}

static void heal_at(struct chaos_nemesis *m, unsigned k);

static void heal(struct chaos_nemesis *m, struct chaos_active *a)
{
    struct hnode *n = a->node >= 0 ? &m->c->n[a->node] : NULL;
    struct chaos_active *d;
    char *out = NULL;

    switch (a->kind) {
    case CHAOS_FAULT_KILL:
        /* Restarting on a full disk is not this test's question. */
        d = find(m, CHAOS_FAULT_DISK, a->node);
        if (d != NULL)
            heal_at(m, (unsigned)(d - m->active));
        say("restart %s", n->name);
        harness_node_start(n);
        break;
    case CHAOS_FAULT_STOP:
        say("SIGCONT %s", n->name);
        kill(n->pid, SIGCONT);
        break;
    case CHAOS_FAULT_PARTITION:
        if (harness_run("nft delete table inet tcchaos", &out) != 0) {
            say("VIOLATION: partition: nft delete failed: %s", out);
            m->violations++;
        }
        free(out);
        say("partition healed");
        break;
    case CHAOS_FAULT_DISK:
        heal_disk(m, a);
        break;
    default:
        break;
    }
}

/* Heal the k-th active fault and forget it. */
static void heal_at(struct chaos_nemesis *m, unsigned k)
{
    struct chaos_active a = m->active[k];

    m->active[k] = m->active[--m->nactive];
    heal(m, &a);
}

void chaos_nemesis_run(struct chaos_nemesis *m, uint64_t until_ms)
{
    uint64_t next = harness_now_ms() + chaos_between(&m->rng, 200, 1500);

    for (uint64_t now = harness_now_ms(); now < until_ms; now = harness_now_ms()) {
        check_exits(m);
        for (unsigned k = 0; k < m->nactive;) {
            if (m->active[k].heal_ms <= now)
                heal_at(m, k);
            else
                k++;
        }
        for (unsigned k = 0; k < m->nactive; k++)
            if (m->active[k].kind == CHAOS_FAULT_PARTITION)
                probe_partition(m, &m->active[k]);
        if (now >= next) {
            enum chaos_fault f = (enum chaos_fault)(chaos_rand(&m->rng) % CHAOS_FAULTS);

            if (m->enabled[f] && m->nactive < m->max_active)
                inject(m, f);
            next = harness_now_ms() + chaos_between(&m->rng, 200, 1500);
        }
        /* A random delay of the nemesis, watching for nodes that exit. */
        usleep(50000);
    }
    while (m->nactive > 0)
        heal_at(m, 0);
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
