#ifndef TC_SERVER_CONFIG_CONFIG_SECRET_H
#define TC_SERVER_CONFIG_CONFIG_SECRET_H

#include <stddef.h>
#include <stdint.h>

/* The cluster secret (cluster-secret-file): read the same way by
 * `tcnode --check-config` and by the peer links at start, so a file that
 * check-config passes is one the node can use. */

#define CONFIG_SECRET_MIN 16 /* bytes below which a secret is weak */

/* Read the secret at path into buf (cap bytes; a longer file is cut),
 * trailing white space removed, and set *len. Returns 0, or a negative
 * errno with *why set to a static reason: -EINVAL "required when peers are
 * configured" (path NULL) or "empty", else the file's open/read error
 * (*why NULL: use tc_strerror). *warn is set to a static text, or NULL,
 * when the secret is usable but weak (shorter than CONFIG_SECRET_MIN, or
 * readable by the group or others). Any thread. */
int config_secret_read(const char *path, uint8_t *buf, size_t cap, size_t *len, const char **why,
                       const char **warn);

#endif
