#include "tests/integration/harness_baresip.h"

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
#include "tests/tc_test.h"

#define HBARESIP_MODULES "/usr/lib/baresip/modules"

bool hbaresip_available(void)
{
    return access("/usr/bin/baresip", X_OK) == 0 &&
           access(HBARESIP_MODULES "/stdio.so", R_OK) == 0 &&
           access(HBARESIP_MODULES "/menu.so", R_OK) == 0;
}

static void write_files(struct hbaresip *b, const char *account)
{
    char path[400], text[1024];

    snprintf(path, sizeof(path), "%s/config", b->dir);
    /* menu gives the /dial and hangup commands that stdio reads; ausine is
     * the audio source (no player: nothing is heard). */
    snprintf(text, sizeof(text),
             "poll_method epoll\n"
             "sip_listen 127.0.0.1:%u\n"
             "net_interface 127.0.0.1\n"
             "module_path " HBARESIP_MODULES "\n"
             "module stdio.so\n"
             "module g711.so\n"
             "module ausine.so\n"
             "module_app account.so\n"
             "module_app menu.so\n"
             "audio_source ausine,440\n"
             "ausrc_srate 48000\n"
             "ausrc_channels 2\n"
             "rtp_ports 30000-39998\n",
             b->port);
    tc_test_write_file(path, text);
    snprintf(path, sizeof(path), "%s/accounts", b->dir);
    snprintf(text, sizeof(text), "%s\n", account);
    tc_test_write_file(path, text);
}

void hbaresip_start(struct hbaresip *b, const char *parent, const char *tag, const char *account,
                    int max_s)
{
    char fifo[400], secs[16];
    pid_t pid;
    int out;

    memset(b, 0, sizeof(*b));
    b->fd = -1;
    snprintf(b->dir, sizeof(b->dir), "%s/baresip-%s", parent, tag);
    cr_assert(mkdir(b->dir, 0700) == 0 || errno == EEXIST, "mkdir %s", b->dir);
    snprintf(b->out, sizeof(b->out), "%s/out", b->dir);
    snprintf(fifo, sizeof(fifo), "%s/in", b->dir);
    b->port = harness_free_port();
    write_files(b, account);
    unlink(fifo);
    cr_assert_eq(mkfifo(fifo, 0600), 0, "mkfifo %s", fifo);
    /* Read-write, so that neither side blocks in open and baresip never
     * sees end of file on stdin while the test runs. */
    b->fd = open(fifo, O_RDWR | O_CLOEXEC);
    cr_assert_geq(b->fd, 0, "open %s", fifo);
    out = open(b->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    cr_assert_geq(out, 0, "open %s", b->out);
    snprintf(secs, sizeof(secs), "%d", max_s);
    fflush(NULL);
    pid = fork();
    cr_assert_geq(pid, 0, "fork");
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(b->fd, STDIN_FILENO);
        dup2(out, STDOUT_FILENO);
        dup2(out, STDERR_FILENO);
        /* Line-buffered: its output is a file the test reads as it goes. */
        execl("/usr/bin/stdbuf", "stdbuf", "-oL", "-eL", "/usr/bin/baresip", "-f", b->dir, "-t",
              secs, (char *)NULL);
        _exit(127);
    }
    close(out);
    b->pid = pid;
}

int hbaresip_cmd(struct hbaresip *b, const char *line)
{
    char buf[512];
    int len = snprintf(buf, sizeof(buf), "%s\n", line);

    if (len < 0 || (size_t)len >= sizeof(buf))
        return -EMSGSIZE;
    if (write(b->fd, buf, (size_t)len) != len)
        return -errno;
    return 0;
}

char *hbaresip_output(const struct hbaresip *b)
{
    return harness_read_file(b->out);
}

int hbaresip_count(const struct hbaresip *b, const char *text)
{
    char *s = hbaresip_output(b);
    int n = 0;

    for (const char *p = s; p != NULL && (p = strstr(p, text)) != NULL; p += strlen(text))
        n++;
    free(s);
    return n;
}

struct wait_arg {
    const struct hbaresip *b;
    const char *text;
};

static bool has_output(void *arg)
{
    const struct wait_arg *a = arg;

    return hbaresip_count(a->b, a->text) > 0;
}

bool hbaresip_wait_output(const struct hbaresip *b, const char *text, int ms)
{
    struct wait_arg a = {b, text};

    return harness_wait(has_output, &a, ms);
}

void hbaresip_stop(struct hbaresip *b)
{
    uint64_t deadline;
    int status;

    if (b->pid > 0) {
        hbaresip_cmd(b, "/quit");
        deadline = harness_now_ms() + (uint64_t)harness_ms(5000);
        while (waitpid(b->pid, &status, WNOHANG) == 0) {
            if (harness_now_ms() >= deadline) {
                kill(b->pid, SIGKILL);
                waitpid(b->pid, &status, 0);
                break;
            }
            usleep(20000);
        }
        b->pid = 0;
    }
    if (b->fd >= 0) {
        close(b->fd);
        b->fd = -1;
    }
}
