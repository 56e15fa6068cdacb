#ifndef TC_TESTS_INTEGRATION_HARNESS_LINPHONEC_H
#define TC_TESTS_INTEGRATION_HARNESS_LINPHONEC_H

#include <stdbool.h>
#include <stdint.h>

#include "tests/integration/harness_ua.h"

/* Debian's linphonec (package linphone-cli, liblinphone 5.1: a SIP stack
 * nobody here wrote) run headless for integration tests: its own HOME and
 * rc file in a dir of its own, SIP on 127.0.0.1 UDP only, commands on its
 * stdin. Failures to set it up abort the test. */

struct hlinphonec {
    struct hua ua; /* its dir is also its HOME and holds its rc */
    uint16_t port; /* its SIP UDP port */
};

/* True when linphonec is installed. */
bool hlinphonec_available(void);

/* Start linphonec in a new dir under parent. */
void hlinphonec_start(struct hlinphonec *l, const char *parent, const char *tag);

/* Register identity (e.g. "sip:1001@127.0.0.1") at proxy (e.g.
 * "sip:127.0.0.1:5060") with password, then ask for the registration's
 * state until it says registered, within ms. Returns true when it did. */
bool hlinphonec_register(struct hlinphonec *l, const char *identity, const char *proxy,
                         const char *password, int ms);

/* Quit it (it unregisters first), or kill it after 5 s. Safe twice. */
void hlinphonec_stop(struct hlinphonec *l);

#endif
