#ifndef TC_SERVER_CONFIG_CONFIG_H
#define TC_SERVER_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "server/config/dn_dir.h"

/* One node's configuration, read from an INI file (DESIGN §8, §10):
 *
 *   [node]            name, *-listen addresses, data-dir, durability,
 *                     cluster-secret-file, gws-client-names, dr-forward,
 *                     heartbeat-interval, link-timeout, limits,
 *                     auth-algorithms, auth-realm
 *   [peer NAME]       address (peer port), sip-address, tc-address,
 *                     dr-peer-location, access-number
 *   [gws NAME]        secret-file, allow-from: the credential of a name of
 *                     gws-client-names (every name needs one)
 *   [dn RANGE]        type, shared-line, members, sca-preferred-site,
 *                     password, auth-algorithms, auth-realm, group,
 *                     distribution, dr-forward
 *
 * Durations take a unit: "500ms", "3s", "2m"; a bare number is
 * milliseconds. Sizes take "k", "m" or "g" (powers of 1024). Booleans are
 * true/false, yes/no, on/off, 1/0. Lists are comma-separated; an indented
 * line without '=' goes on with the list above it, and elsewhere indentation
 * means nothing. Addresses are HOST:PORT or [IPV6]:PORT; *-listen hosts must
 * be numeric, peer hosts may be names. A line holds at most CONFIG_LINE_MAX
 * characters; ';' or '#' starts a comment line, " ;" an inline comment. */

#define CONFIG_NAME_MAX    32 /* node name: [A-Za-z0-9_.-], 1..31 chars */
#define CONFIG_HOST_MAX    64
#define CONFIG_MAX_PEERS   32
#define CONFIG_MAX_LISTEN  4  /* addresses per *-listen key */
#define CONFIG_MAX_CLIENTS 16 /* gws-client-names entries */
#define CONFIG_LINE_MAX    199
#define CONFIG_ACCESS_MAX  32 /* access-number: 1..31 digits */
#define CONFIG_MAX_ALLOW   16 /* allow-from entries of one [gws] section */

/* auth-realm: at most CONFIG_REALM_MAX - 1 bytes; the default. */
#define CONFIG_REALM_MAX     128
#define CONFIG_DEFAULT_REALM "tcluster"

struct config_addr {
    char host[CONFIG_HOST_MAX]; /* numeric IPv4 or IPv6 (no brackets) or name */
    uint16_t port;
};

struct config_peer {
    char name[CONFIG_NAME_MAX];
    struct config_addr address;     /* peer port; required */
    struct config_addr sip_address; /* where to redirect calls; port 0: unset */
    struct config_addr tc_address;  /* port 0: unset */
    char location[CONFIG_NAME_MAX]; /* dr-peer-location; "" if unset */
    /* access-number: digits, the prefix of the peer's inter-site trunk,
     * reported as other-DN of a call forwarded there; "" if unset. */
    char access_number[CONFIG_ACCESS_MAX];
    uint32_t line;
};

/* An address block of allow-from: "10.0.0.0/8", "::1", "fd00::/8". */
struct config_cidr {
    int family;       /* AF_INET or AF_INET6 */
    uint8_t addr[16]; /* network byte order; 4 bytes used for AF_INET */
    uint8_t bits;     /* prefix length; host bits of addr are zero */
};

/* [gws NAME]: what a default-port client must prove to open as NAME (one
 * of gws-client-names) and claim DNs. Both set: both are required. */
struct config_gws {
    char name[CONFIG_NAME_MAX];
    char *secret_file; /* secret-file: HMAC challenge; NULL if unset */
    struct config_cidr allow[CONFIG_MAX_ALLOW];
    unsigned n_allow; /* allow-from: source addresses; 0 if unset */
    uint32_t line, secret_line, allow_line;
};

enum config_durability {
    CONFIG_DURABILITY_SYNC = 0,
    CONFIG_DURABILITY_ASYNC,
};

/* Bounds on every input; each has a default and a key of the same name. */
#define CONFIG_COMMIT_WINDOW_MAX_MS 100

struct config_limits {
    uint32_t max_frame;                  /* max-frame: TC/default port frame bytes */
    uint32_t max_connections;            /* max-connections: per TCP port */
    uint32_t max_sip_message;            /* max-sip-message: bytes */
    uint32_t max_sip_headers;            /* max-sip-headers */
    uint32_t max_contacts;               /* max-contacts: bindings per DN */
    uint32_t min_expires;                /* min-expires: seconds */
    uint32_t max_expires;                /* max-expires: seconds */
    uint32_t default_expires;            /* default-expires: seconds */
    uint32_t idle_timeout_ms;            /* idle-timeout: TCP connections */
    uint32_t message_timeout_ms;         /* message-timeout: a whole TCP message or frame */
    uint32_t max_connections_per_source; /* max-connections-per-source: per TCP port */
    uint32_t sip_shed_delay_ms;          /* sip-shed-delay: REGISTERs waited longer get 503 */
    uint32_t subscriber_backlog;         /* subscriber-backlog: pending TC events */
    uint32_t http_max_header;            /* http-max-header: bytes of request head */
    uint32_t store_queue;                /* store-queue: changes waiting for disk */
    uint64_t store_map_size;             /* store-map-size: LMDB map bytes */
};

struct config {
    char *path; /* file it was read from */
    char name[CONFIG_NAME_MAX];
    struct config_addr sip_listen[CONFIG_MAX_LISTEN];
    unsigned n_sip_listen;
    struct config_addr default_listen;
    struct config_addr tc_listen;
    struct config_addr peer_listen;
    struct config_addr http_listen;
    char *data_dir;
    enum config_durability durability;
    uint32_t commit_window_ms; /* commit-window: 0 (none) to CONFIG_COMMIT_WINDOW_MAX_MS */
    char *cluster_secret_file; /* NULL if unset */
    char gws_client_names[CONFIG_MAX_CLIENTS][CONFIG_NAME_MAX];
    unsigned n_gws_client_names;
    struct config_gws gws[CONFIG_MAX_CLIENTS]; /* [gws NAME] sections */
    unsigned n_gws;
    bool dr_forward;
    uint32_t heartbeat_interval_ms;
    uint32_t link_timeout_ms;
    /* Digest challenges of the DNs whose [dn] sections do not say:
     * auth-algorithms (default md5 alone: every SIP client in Debian
     * answers it) and auth-realm (default CONFIG_DEFAULT_REALM). */
    uint8_t auth_algs[DN_AUTH_ALGS_MAX];
    char *auth_realm;
    struct config_limits limits;
    struct config_peer peers[CONFIG_MAX_PEERS];
    unsigned n_peers;
    struct dn_dir dir;
};

/* Called once per problem found, with the file's line (1-based; 0 when the
 * problem has no line) and a message without file or line. */
typedef void (*config_error_cb)(void *arg, const char *path, unsigned line, const char *msg);

/* Read and check path. Every problem is reported through on_error (when
 * NULL, printed to stderr as "FILE:LINE: message"), and parsing goes on to
 * find the rest; past 1000 problems only their count is reported. Returns 0
 * and fills *out (the caller frees it with config_free()), -errno (-ENOENT,
 * -EACCES, -EISDIR...) when the file cannot be read, -ENOMEM, or TC_ECONFIG
 * when it has errors; *out is left alone on failure. Any thread. */
int config_load(const char *path, struct config **out, config_error_cb on_error, void *arg);

/* Same, from a string; path is used only in messages. */
int config_load_string(const char *path, const char *text, struct config **out,
                       config_error_cb on_error, void *arg);

/* Free c and everything it holds (its directory too). NULL is fine. */
void config_free(struct config *c);

/* Format "host:port" or "[v6]:port" into buf. Returns buf. */
const char *config_addr_str(const struct config_addr *a, char *buf, size_t size);

#endif
