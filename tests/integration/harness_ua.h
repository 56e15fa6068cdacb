#ifndef TC_TESTS_INTEGRATION_HARNESS_UA_H
#define TC_TESTS_INTEGRATION_HARNESS_UA_H

#include <stdbool.h>
#include <sys/types.h>

/* A user agent process (baresip, linphonec: programs nobody here wrote)
 * driven like a person at its console: commands go to its stdin through a
 * fifo held open read-write (so it never sees end of file), its stdout and
 * stderr go line-buffered to a file the test reads with a deadline. The
 * process dies with the test (PR_SET_PDEATHSIG). Failures to set it up
 * abort the test. */

struct hua {
    char dir[320]; /* its own dir: in (fifo), out */
    char out[400]; /* stdout+stderr */
    int fd;        /* write end of the stdin fifo */
    pid_t pid;     /* 0 when not running */
};

/* Make dir (if missing) for u; call before writing files into it. */
void hua_init(struct hua *u, const char *dir);

/* Start argv (argv[0] an absolute path) in u's dir, with HOME set to home
 * when not NULL. */
void hua_start(struct hua *u, char *const argv[], const char *home);

/* Write one command line (a newline is added). Returns 0 or -errno. */
int hua_cmd(struct hua *u, const char *line);

/* Its output so far (malloc'd), or NULL. */
char *hua_output(const struct hua *u);

/* Number of times text occurs in the output so far. */
int hua_count(const struct hua *u, const char *text);

/* True once the output holds text, within ms. */
bool hua_wait_output(const struct hua *u, const char *text, int ms);

/* Send quit (a command line; NULL for none), wait up to 5 s, then SIGKILL;
 * reap it. Safe to call twice. */
void hua_stop(struct hua *u, const char *quit);

#endif
