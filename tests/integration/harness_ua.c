#include "tests/integration/harness_ua.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/integration/harness.h"

void hua_init(struct hua *u, const char *dir)
{
    memset(u, 0, sizeof(*u));
    u->fd = -1;
    snprintf(u->dir, sizeof(u->dir), "%s", dir);
    cr_assert(mkdir(u->dir, 0700) == 0 || errno == EEXIST, "mkdir %s", u->dir);
    snprintf(u->out, sizeof(u->out), "%s/out", u->dir);
}

void hua_start(struct hua *u, char *const argv[], const char *home)
{
    char fifo[400];
    pid_t pid;
    int out;

    snprintf(fifo, sizeof(fifo), "%s/in", u->dir);
    unlink(fifo);
    cr_assert_eq(mkfifo(fifo, 0600), 0, "mkfifo %s", fifo);
    /* Read-write, so that neither side blocks in open and the agent never
     * sees end of file on stdin while the test runs. */
    u->fd = open(fifo, O_RDWR | O_CLOEXEC);
    cr_assert_geq(u->fd, 0, "open %s", fifo);
    out = open(u->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    cr_assert_geq(out, 0, "open %s", u->out);
    fflush(NULL);
    pid = fork();
    cr_assert_geq(pid, 0, "fork");
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(u->fd, STDIN_FILENO);
        dup2(out, STDOUT_FILENO);
        dup2(out, STDERR_FILENO);
        if (home != NULL)
            setenv("HOME", home, 1);
        if (chdir(u->dir) != 0)
            _exit(126);
        /* Line-buffered: its output is a file the test reads as it goes. */
        char *args[16] = {"/usr/bin/stdbuf", "-oL", "-eL"};
        int n = 3;

        for (int i = 0; argv[i] != NULL && n < 15; i++)
            args[n++] = argv[i];
        args[n] = NULL;
        execv(args[0], args);
        _exit(127);
    }
    close(out);
    u->pid = pid;
}

int hua_cmd(struct hua *u, const char *line)
{
    char buf[512];
    int len = snprintf(buf, sizeof(buf), "%s\n", line);

    if (len < 0 || (size_t)len >= sizeof(buf))
        return -EMSGSIZE;
    if (write(u->fd, buf, (size_t)len) != len)
        return -errno;
    return 0;
}

char *hua_output(const struct hua *u)
{
    return harness_read_file(u->out);
}

int hua_count(const struct hua *u, const char *text)
{
    char *s = hua_output(u);
    int n = 0;

    for (const char *p = s; p != NULL && (p = strstr(p, text)) != NULL; p += strlen(text))
        n++;
    free(s);
    return n;
}

struct wait_arg {
    const struct hua *u;
    const char *text;
};

static bool has_output(void *arg)
{
    const struct wait_arg *a = arg;

    return hua_count(a->u, a->text) > 0;
}

bool hua_wait_output(const struct hua *u, const char *text, int ms)
{
    struct wait_arg a = {u, text};

    return harness_wait(has_output, &a, ms);
}

void hua_stop(struct hua *u, const char *quit)
{
    uint64_t deadline;
    int status;

    if (u->pid > 0) {
        if (quit != NULL)
            hua_cmd(u, quit);
        deadline = harness_now_ms() + (uint64_t)harness_ms(5000);
        while (waitpid(u->pid, &status, WNOHANG) == 0) {
            if (harness_now_ms() >= deadline) {
                kill(u->pid, SIGKILL);
                waitpid(u->pid, &status, 0);
                break;
            }
            usleep(20000);
        }
        u->pid = 0;
    }
    if (u->fd >= 0) {
        close(u->fd);
        u->fd = -1;
    }
}
