#ifndef TC_SERVER_CONFIG_CONFIG_GWS_H
#define TC_SERVER_CONFIG_CONFIG_GWS_H

#include <stdbool.h>
#include <sys/socket.h>

#include "server/config/config.h"

/* The credentials of GWS client names ([gws NAME] sections): lookup, the
 * source-address check of allow-from, and the check of their secret files
 * that `tcnode --check-config` runs. No state; any thread. */

/* The [gws NAME] section of c, or NULL. Borrowed from c. */
const struct config_gws *config_gws_find(const struct config *c, const char *name);

/* True when sa (AF_INET or AF_INET6; an IPv4-mapped IPv6 address counts as
 * its IPv4 address) is in block b. */
bool config_cidr_match(const struct config_cidr *b, const struct sockaddr *sa);

/* True when g lets a client from sa open: allow-from is unset, or sa is in
 * one of its blocks. */
bool config_gws_source_ok(const struct config_gws *g, const struct sockaddr *sa);

/* Read every secret-file of c as the node will read it at start
 * (config_secret_read()); report a file that cannot be used as an error,
 * and a weak one (short, readable by others) as a message starting
 * "warning: ", each at the line of its secret-file key. Returns the number
 * of errors (0: the node can use them all). */
unsigned config_gws_check_files(const struct config *c, config_error_cb on_error, void *arg);

#endif
