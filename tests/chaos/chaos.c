/* The chaos test (issue 13): five real tcnode nodes with durability sync,
 * phones that register, refresh, unregister and move between nodes, and
 * a nemesis that kills, stops, partitions and fills the disk of nodes at
 * random (seeded); after healing, the cluster is checked against every
 * acknowledged operation (tests/chaos/chaos_check.h). Run it through
 * tests/chaos/run, which gives it a private network and mount namespace;
 * CHAOS_SECONDS, CHAOS_SEED, CHAOS_PHONES, CHAOS_OVERLAP (faults held at
 * once) and CHAOS_REFUSED_UNKNOWN set the run. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/chaos/chaos_check.h"
#include "tests/chaos/chaos_nemesis.h"
#include "tests/chaos/chaos_phones.h"
#include "tests/integration/harness_cluster.h"
#include "tests/tc_test.h"

#define DN_BASE     1000
#define HEAL_MS     30000 /* every link up after the last fault */
#define CONVERGE_MS 30000 /* every node agrees on every DN */

TestSuite(chaos, .fini = tc_test_leak_check);

static uint64_t env_u64(const char *name, uint64_t def)
{
    const char *s = getenv(name);

    return s != NULL && *s != '\0' ? strtoull(s, NULL, 0) : def;
}

/* Sanitizer reports in the nodes' logs (every run of each node appends). */
static unsigned sanitizer_reports(const struct hcluster *c)
{
    static const char *const marks[] = {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                                        "runtime error:"};
    unsigned n = 0;

    for (int i = 0; i < c->count; i++) {
        char *log = harness_read_file(c->n[i].log);

        for (size_t k = 0; log != NULL && k < sizeof(marks) / sizeof(marks[0]); k++) {
            for (const char *p = strstr(log, marks[k]); p != NULL; p = strstr(p + 1, marks[k])) {
                if (n++ < 10)
                    printf("chaos: VIOLATION: %s: %.200s\n", c->n[i].name, p);
            }
        }
        free(log);
    }
    return n;
}

/* Copy the nodes' logs where they outlive the run. */
static void keep_logs(const struct hcluster *c, uint64_t seed)
{
    char cmd[2048];
    size_t len;

    len = (size_t)snprintf(cmd, sizeof(cmd), "d=/tmp/tc-chaos-logs-%llu; mkdir -p $d && cp",
                           (unsigned long long)seed);
    for (int i = 0; i < c->count; i++)
        len += (size_t)snprintf(cmd + len, sizeof(cmd) - len, " '%s'", c->n[i].log);
    snprintf(cmd + len, sizeof(cmd) - len, " $d/ && echo \"chaos: node logs kept in $d\"");
    harness_run(cmd, NULL);
    printf("chaos: node logs kept in /tmp/tc-chaos-logs-%llu\n", (unsigned long long)seed);
}

static void print_operations(const struct chaos_phones *w)
{
    uint64_t acked[CHAOS_OPS] = {0}, refused = 0, timeouts = 0, codes[700] = {0};
    char by_code[256] = "";
    size_t len = 0;

    for (size_t i = 0; i < w->nrecs; i++) {
        const struct chaos_rec *r = &w->recs[i];

        if (r->result == CHAOS_ACKED) {
            acked[r->op]++;
        } else if (r->result == CHAOS_TIMEOUT) {
            timeouts++;
        } else {
            refused++;
            codes[r->code < 700 ? r->code : 0]++;
        }
    }
    for (int k = 0; k < 700; k++) {
        if (codes[k] != 0)
            len += (size_t)snprintf(by_code + len, sizeof(by_code) - len, " %d:%llu", k,
                                    (unsigned long long)codes[k]);
    }
    printf("chaos: operations: %zu sent, %llu acknowledged (register %llu, refresh %llu, move "
           "%llu, unregister %llu), %llu refused (by code:%s), %llu timed out, %llu late answers\n",
           w->nrecs, (unsigned long long)(acked[0] + acked[1] + acked[2] + acked[3]),
           (unsigned long long)acked[CHAOS_OP_REGISTER],
           (unsigned long long)acked[CHAOS_OP_REFRESH], (unsigned long long)acked[CHAOS_OP_MOVE],
           (unsigned long long)acked[CHAOS_OP_UNREGISTER], (unsigned long long)refused,
           len ? by_code : " none", (unsigned long long)timeouts, (unsigned long long)w->late);
}

static void print_faults(const struct chaos_nemesis *m)
{
    printf("chaos: faults injected:");
    for (int f = 0; f < CHAOS_FAULTS; f++) {
        if (!m->enabled[f])
            printf(" %s skipped (%s)", chaos_fault_names[f], m->why_not[f]);
        else if (f == CHAOS_FAULT_PARTITION)
            printf(" %s %u (%u seen as a link down)", chaos_fault_names[f], m->injected[f],
                   m->partitions_seen);
        else if (f == CHAOS_FAULT_DISK)
            printf(" %s %u (%u with writes refused)", chaos_fault_names[f], m->injected[f],
                   m->disk_full_seen);
        else
            printf(" %s %u", chaos_fault_names[f], m->injected[f]);
        printf(f + 1 < CHAOS_FAULTS ? "," : "\n");
    }
}

Test(chaos, acknowledged_state_survives_faults)
{
    uint64_t seconds = env_u64("CHAOS_SECONDS", 40);
    uint64_t phones = env_u64("CHAOS_PHONES", 100);
    bool refused_unknown = env_u64("CHAOS_REFUSED_UNKNOWN", 0) != 0;
    uint64_t seed = env_u64("CHAOS_SEED", (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32));
    struct chaos_phones w = {
            .n = (unsigned)phones, .dn_base = DN_BASE, .seed = seed, .timeout_ms = 3000};
    struct chaos_verdict v = {0};
    struct chaos_nemesis m;
    struct hcluster c;
    char dns[32];
    unsigned reports, healed;

    cr_assert(phones >= 1 && phones <= 10000, "CHAOS_PHONES in 1..10000");
    printf("chaos: seed %llu (replay: tests/chaos/run --seed %llu --seconds %llu), %d nodes, "
           "%llu phones, %llu s of faults\n",
           (unsigned long long)seed, (unsigned long long)seed, (unsigned long long)seconds,
           CHAOS_NODES, (unsigned long long)phones, (unsigned long long)seconds);
    if (refused_unknown)
        printf("chaos: a refused REGISTER leaves its binding unknown (--refused-unknown)\n");
    fflush(stdout);
    snprintf(dns, sizeof(dns), "%d-%llu", DN_BASE, (unsigned long long)(DN_BASE + phones - 1));
    hcluster_init(&c, CHAOS_NODES, dns, "durability = sync\nmin-expires = 2\n");
    chaos_nemesis_init(&m, &c, seed);
    hcluster_start(&c);
    cr_assert(hcluster_wait_all_links(&c, HEAL_MS), "the cluster's links did not come up");

    for (int i = 0; i < CHAOS_NODES; i++)
        w.sip_port[i] = c.n[i].sip_port;
    cr_assert_eq(chaos_phones_start(&w), 0, "phones did not start");
    chaos_nemesis_run(&m, harness_now_ms() + seconds * 1000);
    chaos_phones_stop(&w);

    /* Healed: the nemesis ends each fault it made; wait for the links. */
    healed = hcluster_wait_all_links(&c, HEAL_MS);
    if (!healed)
        printf("chaos: VIOLATION: links not all up %d ms after the last fault\n", HEAL_MS);
    chaos_check(&c, &w, CONVERGE_MS, refused_unknown, &v);
    chaos_nemesis_cleanup(&m);
    reports = sanitizer_reports(&c);

    print_operations(&w);
    print_faults(&m);
    printf("chaos: checked %u DNs: %u bindings held, %u removed, %u unknown (timed out or "
           "expiring); agreement after %llu ms\n",
           v.dns, v.live, v.removed, v.unknown, (unsigned long long)v.converge_ms);
    printf("chaos: violations: %u (check %u, nodes %u, sanitizer %u, heal %u)\n",
           v.violations + m.violations + reports + !healed, v.violations, m.violations, reports,
           !healed);
    fflush(stdout);
    chaos_phones_free(&w);
    if (v.violations + m.violations + reports + !healed != 0)
        keep_logs(&c, seed);
    hcluster_cleanup(&c);
    cr_assert_eq(v.violations + m.violations + reports + !healed, 0,
                 "chaos: violations (seed %llu)", (unsigned long long)seed);
}
