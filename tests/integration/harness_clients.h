#ifndef TC_TESTS_INTEGRATION_HARNESS_CLIENTS_H
#define TC_TESTS_INTEGRATION_HARNESS_CLIENTS_H

#include "tests/integration/harness.h"

/* One-shot SIP clients nobody here wrote, run against a node's SIP port
 * with a deadline each (timeout(1)). Each returns the client's exit code
 * (0: it got its 200). */

/* sipsak -i -U -s sip:DN@127.0.0.1:PORT -x 300 EXTRA (e.g. "-a PW -u DN",
 * "-E tcp"); its output into *out when out is not NULL (malloc'd). */
int hclient_sipsak(const struct hnode *n, const char *dn, const char *extra, char **out);

/* SIPp with scenario tests/sip/SCENARIO, one call, the CSV line fields,
 * transport mode tr ("u1", "t1"); logs SIPp's output on failure. */
int hclient_sipp(const struct hnode *n, const char *scenario, const char *fields, const char *tr);

/* tests/sip/netsip_register.pl 127.0.0.1:PORT ARGS (DN [PASSWORD [EXPIRES
 * [udp|tcp]]]): Perl's Net::SIP; logs its output on failure. */
int hclient_netsip(const struct hnode *n, const char *args);

#endif
