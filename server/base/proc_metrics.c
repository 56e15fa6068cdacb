/* process_* metrics from /proc/self and getrusage(2). */
#include "server/base/proc_metrics.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include "server/base/metrics.h"

/* Open descriptors: the entries of /proc/self/fd, less the one opendir
 * holds. -1 when it cannot be read. */
static long open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    long n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.')
            n++;
    }
    closedir(d);
    return n - 1;
}

/* Virtual and resident sizes in bytes from /proc/self/statm. */
static int memory(uint64_t *vsize, uint64_t *rss)
{
    unsigned long long pages, resident;
    long page = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/statm", "re");
    int n;

    if (f == NULL)
        return -1;
    n = fscanf(f, "%llu %llu", &pages, &resident);
    fclose(f);
    if (n != 2 || page <= 0)
        return -1;
    *vsize = pages * (uint64_t)page;
    *rss = resident * (uint64_t)page;
    return 0;
}

int proc_metrics_render(struct tc_buf *b, uint64_t start_ms)
{
    struct rusage ru;
    struct rlimit rl;
    uint64_t vsize, rss;
    long fds = open_fds();
    int rc = 0;

    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                     (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;

        rc |= metrics_header(b, "process_cpu_seconds_total", "counter",
                             "user and system CPU time spent, seconds");
        rc |= metrics_sample(b, "process_cpu_seconds_total", NULL, cpu);
    }
    if (memory(&vsize, &rss) == 0) {
        rc |= metrics_header(b, "process_resident_memory_bytes", "gauge",
                             "resident memory size, bytes");
        rc |= metrics_sample_u64(b, "process_resident_memory_bytes", NULL, rss);
        rc |= metrics_header(b, "process_virtual_memory_bytes", "gauge",
                             "virtual memory size, bytes");
        rc |= metrics_sample_u64(b, "process_virtual_memory_bytes", NULL, vsize);
    }
    if (fds >= 0) {
        rc |= metrics_header(b, "process_open_fds", "gauge", "open file descriptors");
        rc |= metrics_sample_u64(b, "process_open_fds", NULL, (uint64_t)fds);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        rc |= metrics_header(b, "process_max_fds", "gauge", "limit of open file descriptors");
        rc |= metrics_sample_u64(b, "process_max_fds", NULL, (uint64_t)rl.rlim_cur);
    }
    rc |= metrics_header(b, "process_start_time_seconds", "gauge",
                         "start time of the process since the Unix epoch, seconds");
    rc |= metrics_sample(b, "process_start_time_seconds", NULL, (double)start_ms / 1000.0);
    return rc ? -ENOMEM : 0;
}
