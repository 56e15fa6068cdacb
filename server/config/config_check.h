#ifndef TC_SERVER_CONFIG_CONFIG_CHECK_H
#define TC_SERVER_CONFIG_CONFIG_CHECK_H

#include <stdarg.h>
#include <stdint.h>

struct config;

/* Private to the configuration loader: the checks that need the whole file,
 * run once every section has been read. Not thread-safe; one check per
 * load. */

/* Lines of a [dn] section's keys that are checked once the directory is
 * whole; 0 when the key was not set. */
struct config_dn_lines {
    uint32_t members;
    uint32_t sca;
    uint32_t group;
};

struct config_check {
    struct config *cfg;
    unsigned node_line; /* line of the [node] header, 0 if there is none */
    /* Line of key name in [node], 0 when it was not set. */
    uint32_t (*key_line)(void *arg, const char *name);
    /* Per profile of cfg->dir, in its order. */
    const struct config_dn_lines *dn_lines;
    /* Report one problem at line (0: none); fmt is printf's. */
    void (*report)(void *arg, unsigned line, const char *fmt, va_list ap);
    void *arg; /* passed to key_line and report */
};

/* Check [node] against itself and the peers: required keys, limits that
 * contradict each other, listen addresses used twice, a peer named like the
 * node. Reports each problem through ck->report. */
void config_check_node(const struct config_check *ck);

/* Finish ck->cfg->dir (dn_dir_finish()): a section nested in a wider one
 * takes the keys it does not set from that one, and every section the
 * [node] auth-algorithms and auth-realm that none set. Then check it: ranges that
 * overlap without nesting,
 * shared-line members that are not extensions of the directory, preferred
 * sites that are no node, routing-point groups that name no extension.
 * Reports each problem through ck->report. */
void config_check_dir(const struct config_check *ck);

#endif
