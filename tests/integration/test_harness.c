/* The harness itself, where a flaw in it makes other tests flaky: the
 * ports it hands out must stay one test process's, even when test runs
 * overlap on the machine (other worktrees' ctest, tests started at the
 * same time). */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/integration/harness_phone.h"
#include "tests/tc_test.h"

TestSuite(harness, .fini = tc_test_leak_check, .timeout = 60);

/* Run take(port) in a child process, another test process as far as the
 * machine can tell; returns what it returned. */
static bool taken_by_other_process(uint16_t port)
{
    pid_t pid = fork();
    int status;

    cr_assert_neq(pid, -1);
    if (pid == 0)
        _exit(harness_port_take(port) ? 0 : 1);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status));
    return WEXITSTATUS(status) == 0;
}

/* A port handed out, but not yet bound by a node (the window in which a
 * node starts), is not handed to another test process; once its holder
 * exits, it is free again. Before, a bind test alone decided, and two
 * runs that overlapped gave their nodes the same port. */
Test(harness, a_port_handed_out_stays_this_process_until_it_exits)
{
    uint16_t port = harness_free_port();
    pid_t pid;
    int ready[2], status;

    cr_assert_not(taken_by_other_process(port), "port %u handed to a second process", port);
    cr_assert_not(harness_port_take(port), "port %u handed out twice in one process", port);

    /* The other way round: a child holds a port until it exits. */
    cr_assert_eq(pipe(ready), 0);
    pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        uint16_t p = harness_free_port();

        if (write(ready[1], &p, sizeof(p)) != sizeof(p))
            _exit(2);
        for (;;)
            pause();
    }
    close(ready[1]);
    cr_assert_eq(read(ready[0], &port, sizeof(port)), (ssize_t)sizeof(port));
    close(ready[0]);
    cr_assert_not(harness_port_take(port), "port %u held by a live child handed out", port);
    kill(pid, SIGKILL);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(harness_port_take(port), "port %u not free once its holder exited", port);
}

/* A phone started by a test that ends without stopping it (a failed
 * assertion) dies with it. It did not: leftover phones of failed tests
 * went on registering to ports that later tests' nodes were given. */
Test(harness, a_phone_dies_with_its_test)
{
    char *dir = tc_test_tmpdir("harness-phone");
    char args[128];
    int pids[2], status;
    struct hphone p;
    uint64_t deadline;
    pid_t test, phone;

    /* A phone that runs until stopped: its server never answers. */
    snprintf(args, sizeof(args), "-n 1 --dns 1000-1000 --servers 127.0.0.1:%u --json",
             harness_free_port());
    cr_assert_eq(pipe(pids), 0);
    test = fork();
    cr_assert_neq(test, -1);
    if (test == 0) {
        hphone_start(&p, dir, "orphan", args);
        if (write(pids[1], &p.pid, sizeof(p.pid)) != sizeof(p.pid))
            _exit(2);
        _exit(0); /* without hphone_stop() */
    }
    close(pids[1]);
    cr_assert_eq(read(pids[0], &phone, sizeof(phone)), (ssize_t)sizeof(phone));
    close(pids[0]);
    cr_assert_eq(waitpid(test, &status, 0), test);
    deadline = harness_now_ms() + (uint64_t)harness_ms(5000);
    while (kill(phone, 0) == 0 || errno != ESRCH) {
        if (harness_now_ms() >= deadline) {
            kill(phone, SIGKILL);
            cr_assert_fail("phone %d outlived its test", (int)phone);
        }
        usleep(20000);
    }
    tc_test_rmrf(dir);
    free(dir);
}
