/* bench_u64map: inserting 1,000,000 DN keys into the per-DN hash, with the
 * old full-rehash growth (copied here as it was in dn_table.c and
 * bindings.c) and with u64map's incremental growth. Prints one line per
 * measurement: total time, the worst single insert (wall clock and thread
 * CPU time), the 99.9th percentile, how many inserts took over 1 ms, the
 * array bytes per entry at the end and the peak resident size (which
 * includes a 4 MB latency log). "register" inserts each key into two maps
 * (32- and 24-byte elements), as a REGISTER does in the DN table and the
 * bindings. Each run is its own child process so the malloc state starts
 * clean. Never passes or fails. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "server/base/u64map.h"

#define KEYS 1000000

struct elem32 {
    uint64_t key;
    uint64_t hlc;
    uint64_t since_ms;
    uint16_t vnode, owner;
    uint8_t source;
};

struct elem24 {
    uint64_t key;
    void *head;
    uint16_t count, pending;
};

/* The old growth: a full rehash into an array twice the size when
 * entries * 2 > slots, starting at 1024 slots. */
struct rehash_map {
    unsigned char *slots;
    size_t n_slots, n_entries, elem_size;
};

static size_t rehash_slot_of(uint64_t k, size_t n_slots)
{
    return (size_t)((k * UINT64_C(0x9E3779B97F4A7C15)) >> 20) & (n_slots - 1);
}

static unsigned char *rehash_probe(unsigned char *slots, size_t n_slots, size_t es, uint64_t k)
{
    size_t i = rehash_slot_of(k, n_slots);
    uint64_t cur;

    for (;;) {
        memcpy(&cur, slots + i * es, sizeof(cur));
        if (cur == 0 || cur == k)
            return slots + i * es;
        i = (i + 1) & (n_slots - 1);
    }
}

static int rehash_grow(struct rehash_map *m, size_t n_slots)
{
    unsigned char *slots = calloc(n_slots, m->elem_size);
    uint64_t k;

    if (slots == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < m->n_slots; i++) {
        memcpy(&k, m->slots + i * m->elem_size, sizeof(k));
        if (k != 0)
            memcpy(rehash_probe(slots, n_slots, m->elem_size, k), m->slots + i * m->elem_size,
                   m->elem_size);
    }
    free(m->slots);
    m->slots = slots;
    m->n_slots = n_slots;
    return 0;
}

static void *rehash_insert(struct rehash_map *m, uint64_t k)
{
    unsigned char *e;
    uint64_t cur;

    if ((m->n_entries + 1) * 2 > m->n_slots && rehash_grow(m, m->n_slots * 2) != 0)
        return NULL;
    e = rehash_probe(m->slots, m->n_slots, m->elem_size, k);
    memcpy(&cur, e, sizeof(cur));
    if (cur == 0) {
        memset(e, 0, m->elem_size);
        memcpy(e, &k, sizeof(k));
        m->n_entries++;
    }
    return e;
}

/* One variant's pair of maps behind a common face. */
struct maps {
    int incremental;
    int two; /* insert into the 24-byte map too */
    struct rehash_map r32, r24;
    struct u64map u32, u24;
};

static void maps_init(struct maps *s, int incremental, int two)
{
    memset(s, 0, sizeof(*s));
    s->incremental = incremental;
    s->two = two;
    if (incremental) {
        u64map_init(&s->u32, sizeof(struct elem32));
        u64map_init(&s->u24, sizeof(struct elem24));
        return;
    }
    s->r32.elem_size = sizeof(struct elem32);
    s->r24.elem_size = sizeof(struct elem24);
    rehash_grow(&s->r32, 1024);
    rehash_grow(&s->r24, 1024);
}

static int maps_insert(struct maps *s, uint64_t k)
{
    struct elem32 *a;
    struct elem24 *b = NULL;

    if (s->incremental) {
        a = u64map_insert(&s->u32, k);
        if (s->two)
            b = u64map_insert(&s->u24, k);
    } else {
        a = rehash_insert(&s->r32, k);
        if (s->two)
            b = rehash_insert(&s->r24, k);
    }
    if (a == NULL || (s->two && b == NULL))
        return -ENOMEM;
    a->owner = 1;
    if (b != NULL)
        b->count = 1;
    return 0;
}

static size_t maps_bytes(const struct maps *s)
{
    if (s->incremental)
        return u64map_bytes(&s->u32) + (s->two ? u64map_bytes(&s->u24) : 0);
    return s->r32.n_slots * s->r32.elem_size + (s->two ? s->r24.n_slots * s->r24.elem_size : 0);
}

static void maps_free(struct maps *s)
{
    u64map_free(&s->u32);
    u64map_free(&s->u24);
    free(s->r32.slots);
    free(s->r24.slots);
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The i-th DN to register: 7-digit DNs from 2000000 up, in order by blocks
 * of 64 but shuffled inside each block, as phones come up roughly by
 * range. */
static uint64_t key_of(uint64_t i)
{
    uint64_t mix = (i >> 6) * UINT64_C(0x9E3779B97F4A7C15) >> 58;

    return ((uint64_t)7 << 57) | (2000000 + ((i & ~UINT64_C(63)) | ((i ^ mix) & 63)));
}

/* CPU time of this thread: unlike the wall clock, it leaves out time the
 * scheduler gave to other processes, which on a loaded machine shows as
 * 4 ms "inserts" (one tick). Page faults still count. */
static uint64_t cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

static void run(const char *name, int incremental, int two)
{
    uint32_t *lat = malloc(KEYS * sizeof(*lat));
    uint64_t t0, total, worst = 0, worst_cpu = 0;
    unsigned over_1ms = 0;
    struct rusage ru;
    struct maps s;

    if (lat == NULL)
        exit(1);
    /* Total time without per-insert clocks, then again with them. */
    maps_init(&s, incremental, two);
    t0 = now_ns();
    for (uint64_t i = 0; i < KEYS; i++) {
        if (maps_insert(&s, key_of(i)) != 0)
            exit(1);
    }
    total = now_ns() - t0;
    maps_free(&s);

    maps_init(&s, incremental, two);
    for (uint64_t i = 0; i < KEYS; i++) {
        uint64_t ca = cpu_ns(), a = now_ns(), d, cd;

        if (maps_insert(&s, key_of(i)) != 0)
            exit(1);
        d = now_ns() - a;
        cd = cpu_ns() - ca;
        lat[i] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
        worst = d > worst ? d : worst;
        worst_cpu = cd > worst_cpu ? cd : worst_cpu;
        over_1ms += d > 1000000;
    }
    getrusage(RUSAGE_SELF, &ru);
    qsort(lat, KEYS, sizeof(*lat), cmp_u32);
    printf("u64map %-24s keys=%d total_ms=%.1f worst_us=%.1f worst_cpu_us=%.1f p999_us=%.2f "
           "over_1ms=%u bytes_per_entry=%.1f peak_rss_mb=%.0f\n",
           name, KEYS, (double)total / 1e6, (double)worst / 1e3, (double)worst_cpu / 1e3,
           (double)lat[KEYS - KEYS / 1000] / 1e3, over_1ms, (double)maps_bytes(&s) / KEYS,
           (double)ru.ru_maxrss / 1024);
    fflush(stdout);
    maps_free(&s);
    free(lat);
}

static void run_child(const char *name, int incremental, int two)
{
    pid_t pid = fork();
    int status;

    if (pid == 0) {
        run(name, incremental, two);
        _exit(0);
    }
    if (pid > 0)
        waitpid(pid, &status, 0);
}

int main(void)
{
    run_child("before:rehash-32B", 0, 0);
    run_child("after:incremental-32B", 1, 0);
    run_child("before:rehash-register", 0, 1);
    run_child("after:incremental-register", 1, 1);
    return 0;
}
