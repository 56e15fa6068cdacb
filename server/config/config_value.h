#ifndef TC_SERVER_CONFIG_CONFIG_VALUE_H
#define TC_SERVER_CONFIG_CONFIG_VALUE_H

#include <stdbool.h>
#include <stdint.h>

#include "server/config/config.h"
#include "server/config/dn_dir.h"

/* Private to the configuration loader: the values of its keys, parsed from
 * text. Each parser reads the whole of v (a NUL-terminated string without
 * surrounding blanks) and writes *out only when v is valid; the loader
 * words the message for a bad value. No state; any thread. */

/* Parse the decimal digits at s into *n. Returns the first byte after them,
 * or NULL when there are none or the number does not fit 64 bits. */
const char *config_value_digits(const char *s, uint64_t *n);

/* True when s is a node name: 1 to CONFIG_NAME_MAX - 1 of [A-Za-z0-9_.-]. */
bool config_value_is_name(const char *s);

/* true/yes/on/1 or false/no/off/0, any case. Returns 0 or -EINVAL. */
int config_value_bool(const char *v, bool *out);

/* A duration of 1ms to UINT32_MAX ms: digits and a unit of "ms", "s", "m"
 * or "h"; no unit is milliseconds. Returns 0 or -EINVAL. */
int config_value_duration(const char *v, uint32_t *ms);

/* A size from 1 to max: digits and an optional k, m or g (any case; powers
 * of 1024). Returns 0 or -EINVAL. */
int config_value_size(const char *v, uint64_t max, uint64_t *out);

/* A whole number from 1 to UINT32_MAX. Returns 0 or -EINVAL. */
int config_value_count(const char *v, uint32_t *out);

/* "sync" or "async". Returns 0 or -EINVAL. */
int config_value_durability(const char *v, enum config_durability *out);

/* "extension" or "routing-point". Returns 0 or -EINVAL. */
int config_value_dn_type(const char *v, enum dn_type *out);

/* "most-agents" or "local-first". Returns 0 or -EINVAL. */
int config_value_distribution(const char *v, enum dn_distribution *out);

/* "HOST:PORT" or "[IPV6]:PORT", port 1 to 65535. With numeric, HOST must be
 * an IPv4 or IPv6 address; else it may also be a host name. Returns NULL,
 * or a static phrase saying what is wrong (*out is then unchanged). */
const char *config_value_addr(const char *v, bool numeric, struct config_addr *out);

/* An address block: "ADDR" (one address) or "ADDR/BITS", IPv4 or IPv6,
 * with no bit set past BITS. Returns NULL, or a static phrase saying what
 * is wrong (*out is then unchanged). */
const char *config_value_cidr(const char *v, struct config_cidr *out);

/* Called by config_value_list() with one item, NUL-terminated, trimmed. */
typedef void (*config_value_item_cb)(void *arg, const char *item);

/* Call on_item for each comma-separated item of v, trimmed of blanks. Blank
 * items, and items longer than CONFIG_LINE_MAX, are skipped, so a line may end
 * with a comma before an indented continuation line. Returns the number of
 * items passed to on_item. */
unsigned config_value_list(const char *v, config_value_item_cb on_item, void *arg);

#endif
