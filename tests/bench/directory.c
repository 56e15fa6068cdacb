/* bench_directory: how long a DN directory takes to load from the INI file,
 * how much memory it keeps, and how fast DNs are found in it. Prints one line
 * per measurement; never passes or fails. Each load runs in its own child
 * process so its resident memory is measured from a clean start. */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "server/base/tc_err.h"
#include "server/config/config.h"

#define LOOKUPS 1000000

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Resident set size from /proc/self/statm, in bytes; 0 if unknown. */
static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;

    if (f == NULL)
        return 0;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

/* Bytes malloc has handed out and not had back (0 under ASan, which keeps
 * its own heap). */
static long heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();

    return (long)(mi.uordblks + mi.hblkhd);
}

/* Write a config with one [dn] section per DN from first, or with one range
 * of n DNs when sections is 1. Returns 0 or -errno. */
static int write_config(const char *path, unsigned sections, unsigned long first, unsigned long n)
{
    FILE *f = fopen(path, "w");
    int rc = 0;

    if (f == NULL)
        return -errno;
    fprintf(f, "[node]\nname = bench\ndata-dir = /tmp/bench\n");
    if (sections == 1)
        fprintf(f, "[dn %lu-%lu]\ntype = extension\n", first, first + n - 1);
    else
        for (unsigned long i = 0; i < n; i++)
            fprintf(f, "[dn %lu]\ntype = extension\n", first + i);
    if (fclose(f) != 0)
        rc = -errno;
    return rc;
}

static void on_error(void *arg, const char *path, unsigned line, const char *msg)
{
    (void)arg;
    fprintf(stderr, "%s:%u: %s\n", path, line, msg);
}

/* Look up LOOKUPS pseudo-random DNs of the directory's width, about half of
 * them inside it, then ask for as many random positions, and time both. */
static void bench_lookup(const struct config *c, unsigned width, unsigned long first,
                         unsigned long n)
{
    uint64_t *r = malloc(LOOKUPS * sizeof(*r));
    uint64_t x = 88172645463325252ull;
    unsigned long found = 0;
    double t0, ms;

    if (r == NULL)
        return;
    /* Draw the numbers first, so only the calls are timed. */
    for (unsigned i = 0; i < LOOKUPS; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        r[i] = x;
    }
    t0 = now_ms();
    for (unsigned i = 0; i < LOOKUPS; i++)
        found += dn_dir_lookup(&c->dir, dn_key_make(width, first + r[i] % (2 * n))) != NULL;
    ms = now_ms() - t0;
    printf("directory_lookup ranges=%zu calls=%d found=%lu total_ms=%.2f ns_per_call=%.1f\n",
           c->dir.n_ranges, LOOKUPS, found, ms, ms * 1e6 / LOOKUPS);
    for (unsigned i = 0; i < LOOKUPS; i++)
        r[i] %= c->dir.n_dns;
    found = 0;
    t0 = now_ms();
    for (unsigned i = 0; i < LOOKUPS; i++)
        found += dn_dir_at(&c->dir, r[i]) != DN_KEY_NONE;
    ms = now_ms() - t0;
    printf("directory_at ranges=%zu calls=%d found=%lu total_ms=%.2f ns_per_call=%.1f\n",
           c->dir.n_ranges, LOOKUPS, found, ms, ms * 1e6 / LOOKUPS);
    free(r);
}

/* In a child: load path and print what it cost. */
static int measure(const char *path, unsigned sections, unsigned width, unsigned long first,
                   unsigned long n)
{
    struct config *c = NULL;
    long rss0, rss1, heap0, heap1;
    double t0, ms;
    int rc;

    rss0 = rss_bytes();
    heap0 = heap_bytes();
    t0 = now_ms();
    rc = config_load(path, &c, on_error, NULL);
    ms = now_ms() - t0;
    rss1 = rss_bytes();
    heap1 = heap_bytes();
    if (rc != 0) {
        fprintf(stderr, "bench_directory: %s: %s\n", path, tc_strerror(rc));
        return 1;
    }
    printf("directory sections=%u dns=%llu load_ms=%.2f rss_bytes=%ld bytes_per_dn=%.3f "
           "heap_bytes=%ld heap_bytes_per_dn=%.3f\n",
           sections, (unsigned long long)c->dir.n_dns, ms, rss1 - rss0,
           (double)(rss1 - rss0) / (double)c->dir.n_dns, heap1 - heap0,
           (double)(heap1 - heap0) / (double)c->dir.n_dns);
    bench_lookup(c, width, first, n);
    config_free(c);
    return 0;
}

static int run(const char *dir, unsigned sections, unsigned long first, unsigned long n)
{
    char path[512];
    unsigned width = (unsigned)snprintf(path, sizeof(path), "%lu", first);
    int status = 1, rc;
    pid_t pid;

    snprintf(path, sizeof(path), "%s/directory-%u.ini", dir, sections);
    rc = write_config(path, sections, first, n);
    if (rc != 0) {
        fprintf(stderr, "bench_directory: %s: %s\n", path, strerror(-rc));
        return 1;
    }
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        rc = measure(path, sections, width, first, n);
        fflush(stdout);
        _exit(rc);
    }
    if (pid < 0 || waitpid(pid, &status, 0) < 0)
        status = 1;
    unlink(path);
    return status;
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    char dir[256];
    int failed = 0;

    snprintf(dir, sizeof(dir), "%s/tc-bench-directory-XXXXXX", tmp != NULL ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
        perror("bench_directory: mkdtemp");
        return 1;
    }
    failed |= run(dir, 1, 1000000, 1000000);
    failed |= run(dir, 10000, 1000000, 10000);
    failed |= run(dir, 100000, 1000000, 100000);
    rmdir(dir);
    return failed != 0;
}
