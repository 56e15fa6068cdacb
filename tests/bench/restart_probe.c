/* restart_probe: start a command (tcnode), and time from its start to the
 * first SIP REGISTER answered 200 and to the first /healthz answered 200,
 * polling both every few milliseconds on loopback; the process's CPU time
 * (all threads) at the first 200, which a busy machine disturbs less than
 * the wall-clock time, and how long its main thread had waited for a CPU
 * (runnable, not running: what a busy machine adds); then the process's
 * memory. Used by tests/bench/restart. A measurement, not a
 * test.
 *
 *   bench_restart_probe --sip 127.0.0.1:P --http 127.0.0.1:P --dn DN
 *                       [--interval-ms N] [--timeout S] -- COMMAND [ARG...]
 *
 * Prints "probe: key=value" lines (times in ms from just before the fork),
 * then "probe: measured", and then waits for the command to exit (the
 * caller stops it; its pid is the first line), so the command stays this
 * process's child and is reaped here. Exits 0 when both answered, 3 when
 * the timeout passed first, 1 on a usage error, 2 when it could not run. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct probe {
    struct sockaddr_in sip, http;
    unsigned long dn;
    unsigned interval_ms;
    double timeout_s;
    uint64_t t0;
    pid_t pid;
    int udp;
    uint16_t udp_port;
    unsigned sent;
    int first_code; /* of the first SIP answer of any code */
    double first_answer_ms, first_200_ms, healthz_ms, exited_ms;
    double cpu_at_200_ms; /* the command's CPU time (all threads) then */
    double run_ms, wait_ms; /* its main thread's time on a CPU and waiting for one */
    /* /healthz: one connection at a time. */
    int http_fd;
    bool http_sent;
    uint64_t http_next;
    char http_buf[64];
    size_t http_len;
};

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double ms_since(const struct probe *p)
{
    return (double)(now_ns() - p->t0) / 1e6;
}

static int parse_addr(struct sockaddr_in *a, const char *s)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    char *end;
    unsigned long port;

    if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    port = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || port == 0 || port > 65535)
        return -1;
    memset(a, 0, sizeof(*a));
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
        return -1;
    return (ntohl(a->sin_addr.s_addr) >> 24) == 127 ? 0 : -1;
}

static void usage(FILE *out)
{
    fputs("usage: bench_restart_probe --sip 127.0.0.1:P --http 127.0.0.1:P --dn DN\n"
          "           [--interval-ms N (default 2)] [--timeout S (default 60)] -- COMMAND [ARG...]\n",
          out);
}

static int parse_options(struct probe *p, int argc, char **argv)
{
    static const struct option opts[] = {
            {"sip", required_argument, NULL, 's'},
            {"http", required_argument, NULL, 'H'},
            {"dn", required_argument, NULL, 'd'},
            {"interval-ms", required_argument, NULL, 'i'},
            {"timeout", required_argument, NULL, 't'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
    };
    bool have_sip = false, have_http = false;
    int c;

    p->interval_ms = 2;
    p->timeout_s = 60;
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            have_sip = parse_addr(&p->sip, optarg) == 0;
            break;
        case 'H':
            have_http = parse_addr(&p->http, optarg) == 0;
            break;
        case 'd':
            p->dn = strtoul(optarg, NULL, 10);
            break;
        case 'i':
            p->interval_ms = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 't':
            p->timeout_s = strtod(optarg, NULL);
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            return -1;
        }
    }
    if (!have_sip || !have_http || p->dn == 0 || p->interval_ms == 0 || p->interval_ms > 1000 ||
        !(p->timeout_s > 0 && p->timeout_s <= 600) || optind >= argc)
        return -1;
    return 0;
}

static int udp_open(struct probe *p)
{
    struct sockaddr_in me = {.sin_family = AF_INET};
    socklen_t len = sizeof(me);

    /* Not connected: an ICMP "port unreachable" while the server is not
     * listening yet must not turn into errors on later sends. */
    p->udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->udp < 0)
        return -1;
    me.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(p->udp, (struct sockaddr *)&me, sizeof(me)) != 0 ||
        getsockname(p->udp, (struct sockaddr *)&me, &len) != 0)
        return -1;
    p->udp_port = ntohs(me.sin_port);
    return 0;
}

/* One REGISTER for p->dn, CSeq = its number, same Call-ID for all. */
static void sip_send(struct probe *p)
{
    char host[INET_ADDRSTRLEN], msg[768];
    unsigned n = ++p->sent;
    int len;

    inet_ntop(AF_INET, &p->sip.sin_addr, host, sizeof(host));
    len = snprintf(msg, sizeof(msg),
                   "REGISTER sip:%s:%u SIP/2.0\r\n"
                   "Via: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bK-probe-%d-%u;rport\r\n"
                   "Max-Forwards: 70\r\n"
                   "From: <sip:%lu@%s>;tag=probe%u\r\n"
                   "To: <sip:%lu@%s>\r\n"
                   "Call-ID: restart-probe-%d@bench\r\n"
                   "CSeq: %u REGISTER\r\n"
                   "Contact: <sip:%lu@127.0.0.1:%u>\r\n"
                   "Expires: 3600\r\n"
                   "Content-Length: 0\r\n\r\n",
                   host, ntohs(p->sip.sin_port), p->udp_port, (int)getpid(), n, p->dn, host, n,
                   p->dn, host, (int)getpid(), n, p->dn, p->udp_port);
    /* Refused or dropped while the server is not up: the next one goes. */
    (void)sendto(p->udp, msg, (size_t)len, 0, (struct sockaddr *)&p->sip, sizeof(p->sip));
}

/* CPU time (user + system, all threads) of pid so far, in ms, or -1. */
static double cpu_ms(pid_t pid)
{
    char path[64], buf[1024], *s;
    unsigned long ut, st;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    /* Fields 14 and 15, counted after the command name's ')'. */
    s = strrchr(buf, ')');
    if (s == NULL || sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
                            &st) != 2)
        return -1;
    return (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

/* The main thread's time on a CPU and time runnable but waiting for one,
 * in ms (/proc/PID/schedstat), or -1. */
static void sched_ms(pid_t pid, double *run, double *wait)
{
    char path[64];
    unsigned long long r, w;
    FILE *f;

    *run = *wait = -1;
    snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
    f = fopen(path, "re");
    if (f == NULL)
        return;
    if (fscanf(f, "%llu %llu", &r, &w) == 2) {
        *run = (double)r / 1e6;
        *wait = (double)w / 1e6;
    }
    fclose(f);
}

static void sip_read(struct probe *p)
{
    char buf[2048];
    ssize_t n;
    int code;

    while ((n = recv(p->udp, buf, sizeof(buf) - 1, 0)) >= 0) {
        buf[n] = '\0';
        if (sscanf(buf, "SIP/2.0 %d", &code) != 1)
            continue;
        if (p->first_answer_ms < 0) {
            p->first_answer_ms = ms_since(p);
            p->first_code = code;
        }
        if (code == 200 && p->first_200_ms < 0) {
            p->first_200_ms = ms_since(p);
            p->cpu_at_200_ms = cpu_ms(p->pid);
            sched_ms(p->pid, &p->run_ms, &p->wait_ms);
        }
    }
}

static void http_reset(struct probe *p, uint64_t retry_ns)
{
    if (p->http_fd >= 0)
        close(p->http_fd);
    p->http_fd = -1;
    p->http_sent = false;
    p->http_len = 0;
    p->http_next = now_ns() + retry_ns;
}

/* Drive the /healthz poll one step: connect, send, read the status line. */
static void http_step(struct probe *p, short revents)
{
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n";
    uint64_t retry = (uint64_t)p->interval_ms * 1000000u;
    ssize_t n;

    if (p->healthz_ms >= 0)
        return;
    if (p->http_fd < 0) {
        if (now_ns() < p->http_next)
            return;
        p->http_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (p->http_fd < 0)
            return;
        if (connect(p->http_fd, (struct sockaddr *)&p->http, sizeof(p->http)) != 0 &&
            errno != EINPROGRESS)
            http_reset(p, retry);
        return;
    }
    if ((revents & (POLLERR | POLLHUP)) != 0 && (revents & POLLIN) == 0) {
        http_reset(p, retry);
        return;
    }
    if (!p->http_sent && (revents & POLLOUT)) {
        if (send(p->http_fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(req) - 1) {
            http_reset(p, retry);
            return;
        }
        p->http_sent = true;
    }
    if (p->http_sent && (revents & POLLIN)) {
        n = recv(p->http_fd, p->http_buf + p->http_len, sizeof(p->http_buf) - 1 - p->http_len, 0);
        if (n <= 0) {
            http_reset(p, retry);
            return;
        }
        p->http_len += (size_t)n;
        p->http_buf[p->http_len] = '\0';
        if (strchr(p->http_buf, '\n') == NULL && p->http_len < sizeof(p->http_buf) - 1)
            return;
        if (strncmp(p->http_buf, "HTTP/1.1 200", 12) == 0)
            p->healthz_ms = ms_since(p);
        http_reset(p, retry);
    }
}

static pid_t start(char **argv)
{
    pid_t pid = fork();

    if (pid == 0) {
        execvp(argv[0], argv);
        fprintf(stderr, "probe: %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

/* The command's memory lines of /proc/PID/status, as key_kB=value. */
static void print_memory(pid_t pid)
{
    static const char *const keys[] = {"VmRSS", "VmHWM", "RssAnon", "RssFile"};
    char path[64], line[256], key[32];
    unsigned long kb;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "%31[^:]: %lu kB", key, &kb) != 2)
            continue;
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            if (strcmp(key, keys[i]) == 0)
                printf("probe: at_first_200 %s_kB=%lu\n", key, kb);
        }
    }
    fclose(f);
}

static void print_ms(const char *key, double ms)
{
    if (ms >= 0)
        printf("probe: %s=%.1f\n", key, ms);
    else
        printf("probe: %s=none\n", key);
}

int main(int argc, char **argv)
{
    static struct probe p;
    uint64_t deadline, next_send;
    int status, rc;

    p.http_fd = -1;
    p.first_answer_ms = p.first_200_ms = p.healthz_ms = p.exited_ms = p.cpu_at_200_ms = -1;
    if (parse_options(&p, argc, argv) != 0) {
        usage(stderr);
        return 1;
    }
    if (udp_open(&p) != 0) {
        perror("probe: udp socket");
        return 2;
    }
    p.t0 = now_ns();
    p.pid = start(argv + optind);
    if (p.pid < 0) {
        perror("probe: fork");
        return 2;
    }
    printf("probe: pid=%d\n", (int)p.pid);
    fflush(stdout);
    deadline = p.t0 + (uint64_t)(p.timeout_s * 1e9);
    next_send = p.t0;
    while ((p.first_200_ms < 0 || p.healthz_ms < 0) && now_ns() < deadline) {
        struct pollfd fds[2] = {{p.udp, POLLIN, 0}, {p.http_fd, POLLOUT | POLLIN, 0}};
        uint64_t now = now_ns();

        if (p.first_200_ms < 0 && now >= next_send) {
            sip_send(&p);
            next_send = now + (uint64_t)p.interval_ms * 1000000u;
        }
        if (p.http_sent)
            fds[1].events = POLLIN;
        (void)poll(fds, 2, 1);
        sip_read(&p);
        http_step(&p, fds[1].fd >= 0 ? fds[1].revents : 0);
        if (waitpid(p.pid, &status, WNOHANG) == p.pid) {
            p.exited_ms = ms_since(&p);
            break;
        }
    }
    print_ms("first_answer_ms", p.first_answer_ms);
    if (p.first_answer_ms >= 0)
        printf("probe: first_answer_code=%d\n", p.first_code);
    print_ms("first_200_ms", p.first_200_ms);
    if (p.first_200_ms >= 0) {
        print_ms("cpu_at_first_200_ms", p.cpu_at_200_ms);
        print_ms("main_thread_run_ms", p.run_ms);
        print_ms("main_thread_runq_wait_ms", p.wait_ms);
    }
    print_ms("healthz_ms", p.healthz_ms);
    printf("probe: registers_sent=%u\n", p.sent);
    if (p.exited_ms >= 0) {
        printf("probe: exited_ms=%.1f status=%d\n", p.exited_ms, status);
        printf("probe: measured\n");
        return 2;
    }
    print_memory(p.pid);
    printf("probe: measured\n");
    fflush(stdout);
    rc = p.first_200_ms >= 0 && p.healthz_ms >= 0 ? 0 : 3;
    while (waitpid(p.pid, &status, 0) < 0 && errno == EINTR)
        ;
    return rc;
}
