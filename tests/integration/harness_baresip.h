#ifndef TC_TESTS_INTEGRATION_HARNESS_BARESIP_H
#define TC_TESTS_INTEGRATION_HARNESS_BARESIP_H

#include <stdbool.h>
#include <stdint.h>

#include "tests/integration/harness_ua.h"

/* A headless baresip (Debian's, a SIP user agent nobody here wrote) for
 * integration tests: a config dir of its own (stdio, g711 and ausine
 * modules, listening on 127.0.0.1 only), commands written to its stdin
 * through a fifo, its output read back from a file with a deadline. The
 * process dies with the test (PR_SET_PDEATHSIG) and by itself after its
 * -t bound. Failures to set it up abort the test. */

struct hbaresip {
    struct hua ua; /* its dir holds config and accounts too */
    uint16_t port; /* its sip_listen port */
};

/* True when baresip and its stdio module are installed. */
bool hbaresip_available(void);

/* Start baresip in a new dir under parent with one account line (e.g.
 * "<sip:1002@127.0.0.1:5060;transport=udp>;answermode=auto"), listening on
 * a free port; it quits by itself after max_s seconds. */
void hbaresip_start(struct hbaresip *b, const char *parent, const char *tag, const char *account,
                    int max_s);

/* Write one command line (a newline is added). Returns 0 or -errno. */
int hbaresip_cmd(struct hbaresip *b, const char *line);

/* True once baresip's output holds text, within ms. */
bool hbaresip_wait_output(const struct hbaresip *b, const char *text, int ms);

/* Number of times text occurs in baresip's output so far. */
int hbaresip_count(const struct hbaresip *b, const char *text);

/* Its output so far (malloc'd), or NULL. */
char *hbaresip_output(const struct hbaresip *b);

/* Ask it to quit, wait up to 5 s, then SIGKILL; reap it. Safe to call
 * twice. */
void hbaresip_stop(struct hbaresip *b);

#endif
