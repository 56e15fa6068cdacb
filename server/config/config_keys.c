/* The keys of each section and the parser of each kind of value: each
 * parses with config_value.h and words the problem for the operator. */
#include "server/config/config_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/base/tc_err.h"
#include "server/config/config_value.h"

static void bad_value(struct load *st, const struct key *k, const char *expect, const char *v)
{
    config__report(st, st->lineno, "%s: expected %s, got \"%s\"", k->name, expect, v);
}

static void key_name(struct load *st, const struct key *k, void *field, const char *v)
{
    if (!config_value_is_name(v)) {
        bad_value(st, k, "a name of 1 to 31 characters A-Z a-z 0-9 _ . -", v);
        return;
    }
    strcpy(field, v);
}

static void key_str(struct load *st, const struct key *k, void *field, const char *v)
{
    char **s = field;

    if (*v == '\0') {
        bad_value(st, k, "a value", v);
        return;
    }
    free(*s);
    *s = strdup(v);
    if (*s == NULL)
        st->nomem = true;
}

static void key_bool(struct load *st, const struct key *k, void *field, const char *v)
{
    if (config_value_bool(v, field) != 0)
        bad_value(st, k, "true or false", v);
}

/* A [dn] section's dr-forward: set either way, else the node's. */
static void key_dr_forward(struct load *st, const struct key *k, void *field, const char *v)
{
    bool on;

    if (config_value_bool(v, &on) != 0) {
        bad_value(st, k, "true or false", v);
        return;
    }
    *(enum dn_dr_forward *)field = on ? DN_DR_FORWARD_ON : DN_DR_FORWARD_OFF;
}

static void key_access_number(struct load *st, const struct key *k, void *field, const char *v)
{
    size_t len = strspn(v, "0123456789");

    if (len == 0 || v[len] != '\0' || len >= CONFIG_ACCESS_MAX) {
        bad_value(st, k, "1 to 31 digits", v);
        return;
    }
    memcpy(field, v, len + 1);
}

static void key_duration(struct load *st, const struct key *k, void *field, const char *v)
{
    if (config_value_duration(v, field) != 0)
        bad_value(st, k, "a duration from 1ms to 49d such as 500ms, 3s or 2m", v);
}

/* commit-window: 0, or a short duration (the latency a change may gain). */
static void key_window(struct load *st, const struct key *k, void *field, const char *v)
{
    uint32_t ms;

    if (strcmp(v, "0") == 0) {
        *(uint32_t *)field = 0;
        return;
    }
    if (config_value_duration(v, &ms) != 0 || ms > CONFIG_COMMIT_WINDOW_MAX_MS) {
        bad_value(st, k, "0 or a duration up to 100ms such as 5ms", v);
        return;
    }
    *(uint32_t *)field = ms;
}

/* A size from 1 to max into *n. Returns false after reporting a bad value. */
static bool size_value(struct load *st, const struct key *k, uint64_t max, const char *v,
                       uint64_t *n)
{
    char expect[96];

    if (config_value_size(v, max, n) == 0)
        return true;
    snprintf(expect, sizeof(expect), "a size from 1 to %llu such as 65536, 64k, 1m or 1g",
             (unsigned long long)max);
    bad_value(st, k, expect, v);
    return false;
}

static void key_size32(struct load *st, const struct key *k, void *field, const char *v)
{
    uint64_t n;

    if (size_value(st, k, UINT32_MAX, v, &n))
        *(uint32_t *)field = (uint32_t)n;
}

static void key_size64(struct load *st, const struct key *k, void *field, const char *v)
{
    size_value(st, k, UINT64_MAX, v, field);
}

/* A whole number from 1 to UINT32_MAX: a count, or seconds. */
static void key_count(struct load *st, const struct key *k, void *field, const char *v)
{
    if (config_value_count(v, field) != 0)
        bad_value(st, k, "a whole number from 1 to 4294967295", v);
}

static void key_durability(struct load *st, const struct key *k, void *field, const char *v)
{
    if (config_value_durability(v, field) != 0)
        bad_value(st, k, "sync or async", v);
}

static void key_dn_type(struct load *st, const struct key *k, void *field, const char *v)
{
    if (config_value_dn_type(v, field) != 0)
        bad_value(st, k, "extension or routing-point", v);
}

static void key_distribution(struct load *st, const struct key *k, void *field, const char *v)
{
    if (config_value_distribution(v, field) != 0)
        bad_value(st, k, "most-agents or local-first", v);
}

/* Parse address v of key k into *a. Returns false after reporting it. */
static bool addr_value(struct load *st, const struct key *k, bool numeric, const char *v,
                       struct config_addr *a)
{
    const char *why = config_value_addr(v, numeric, a);

    if (why == NULL)
        return true;
    config__report(st, st->lineno, "%s: bad address \"%s\": %s (expected HOST:PORT or [IPV6]:PORT)",
                   k->name, v, why);
    return false;
}

static void key_listen(struct load *st, const struct key *k, void *field, const char *v)
{
    addr_value(st, k, true, v, field);
}

static void key_addr(struct load *st, const struct key *k, void *field, const char *v)
{
    addr_value(st, k, false, v, field);
}

/* Lists: each item goes to an item_fn with the load and the key. */
typedef void (*item_fn)(struct load *st, const struct key *k, const char *item);

struct list_ctx {
    struct load *st;
    const struct key *k;
    item_fn one_item;
};

static void on_list_item(void *arg, const char *item)
{
    struct list_ctx *l = arg;

    l->one_item(l->st, l->k, item);
}

static void parse_list(struct load *st, const struct key *k, const char *v, item_fn one_item)
{
    struct list_ctx l = {st, k, one_item};

    if (config_value_list(v, on_list_item, &l) == 0)
        bad_value(st, k, "a comma-separated list", v);
}

static void sip_listen_item(struct load *st, const struct key *k, const char *item)
{
    struct config *c = st->cfg;
    struct config_addr a;

    if (!addr_value(st, k, true, item, &a))
        return;
    if (c->n_sip_listen == CONFIG_MAX_LISTEN)
        config__report(st, st->lineno, "%s: more than %d addresses", k->name, CONFIG_MAX_LISTEN);
    else
        c->sip_listen[c->n_sip_listen++] = a;
}

static void key_sip_listen(struct load *st, const struct key *k, void *field, const char *v)
{
    (void)field;
    /* The key replaces the default; its continuation lines add to it. */
    if (!st->cont)
        st->cfg->n_sip_listen = 0;
    parse_list(st, k, v, sip_listen_item);
}

static void client_item(struct load *st, const struct key *k, const char *item)
{
    struct config *c = st->cfg;

    if (strlen(item) >= CONFIG_NAME_MAX)
        bad_value(st, k, "names of at most 31 characters", item);
    else if (c->n_gws_client_names == CONFIG_MAX_CLIENTS)
        config__report(st, st->lineno, "%s: more than %d names", k->name, CONFIG_MAX_CLIENTS);
    else
        strcpy(c->gws_client_names[c->n_gws_client_names++], item);
}

static void key_clients(struct load *st, const struct key *k, void *field, const char *v)
{
    (void)field;
    parse_list(st, k, v, client_item);
}

static void allow_item(struct load *st, const struct key *k, const char *item)
{
    struct config_gws *g = st->target;
    const char *why;

    if (g->n_allow == CONFIG_MAX_ALLOW) {
        config__report(st, st->lineno, "%s: more than %d address blocks", k->name,
                       CONFIG_MAX_ALLOW);
        return;
    }
    why = config_value_cidr(item, &g->allow[g->n_allow]);
    if (why != NULL) {
        config__report(st, st->lineno,
                       "%s: bad address block \"%s\": %s (expected ADDR or ADDR/BITS, IPv4 or "
                       "IPv6, e.g. 10.1.0.0/16)",
                       k->name, item, why);
        return;
    }
    g->n_allow++;
}

static void key_allow(struct load *st, const struct key *k, void *field, const char *v)
{
    struct config_gws *g = st->target;

    (void)field;
    if (!st->cont)
        g->allow_line = st->lineno;
    parse_list(st, k, v, allow_item);
}

static void key_secret_file(struct load *st, const struct key *k, void *field, const char *v)
{
    struct config_gws *g = st->target;

    g->secret_line = st->lineno;
    key_str(st, k, field, v);
}

static void member_item(struct load *st, const struct key *k, const char *item)
{
    struct dn_profile *p = &st->prof;
    dn_key key;

    if (dn_key_parse(item, strlen(item), &key) != 0) {
        bad_value(st, k, "DNs of 1 to 17 digits", item);
        return;
    }
    if (p->n_members == st->cap_members) {
        size_t cap = st->cap_members != 0 ? st->cap_members * 2 : 8;
        dn_key *m = realloc(p->members, cap * sizeof(*m));

        if (m == NULL || cap > UINT32_MAX) {
            /* A failed realloc() leaves the old block to us. */
            free(m != NULL ? m : p->members);
            p->members = NULL;
            p->n_members = 0;
            st->cap_members = 0;
            st->nomem = true;
            return;
        }
        p->members = m;
        st->cap_members = cap;
    }
    p->members[p->n_members++] = key;
}

static void key_members(struct load *st, const struct key *k, void *field, const char *v)
{
    (void)field;
    parse_list(st, k, v, member_item);
}

/* One name of auth-algorithms, appended to the list at the key's field. */
static void auth_alg_item(struct load *st, const struct key *k, const char *item)
{
    uint8_t *algs = (uint8_t *)st->target + k->off;
    uint8_t a;
    unsigned n = 0;

    if (strcasecmp(item, "md5") == 0) {
        a = DN_AUTH_MD5;
    } else if (strcasecmp(item, "sha-256") == 0) {
        a = DN_AUTH_SHA256;
    } else {
        config__report(st, st->lineno,
                       "%s: unknown algorithm \"%s\" (expected md5, sha-256 or both, "
                       "comma-separated, in the order the challenges are sent)",
                       k->name, item);
        return;
    }
    while (n < DN_AUTH_ALGS_MAX && algs[n] != DN_AUTH_NONE && algs[n] != a)
        n++;
    if (n < DN_AUTH_ALGS_MAX && algs[n] == a) {
        config__report(st, st->lineno, "%s: %s is listed twice", k->name, item);
        return;
    }
    /* Two known names, each once: there is always room. */
    algs[n] = a;
}

static void key_auth_algs(struct load *st, const struct key *k, void *field, const char *v)
{
    /* The key replaces the default (or what a wider section set); its
     * continuation lines add to it. */
    if (!st->cont)
        memset(field, DN_AUTH_NONE, DN_AUTH_ALGS_MAX);
    parse_list(st, k, v, auth_alg_item);
}

/* A realm goes between quotes in WWW-Authenticate: no '"', '\\' or control
 * characters, and a bound on its length. */
static void key_realm(struct load *st, const struct key *k, void *field, const char *v)
{
    size_t len = strlen(v);

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];

        if (c == '"' || c == '\\' || c < 0x20 || c == 0x7f) {
            bad_value(st, k, "a realm without quotes, backslashes or control characters", v);
            return;
        }
    }
    if (len == 0 || len >= CONFIG_REALM_MAX) {
        bad_value(st, k, "a realm of 1 to 127 characters", v);
        return;
    }
    key_str(st, k, field, v);
}

#define NODE_OFF(f)  offsetof(struct config, f)
#define LIMIT_OFF(f) offsetof(struct config, limits.f)
#define PEER_OFF(f)  offsetof(struct config_peer, f)
#define DN_OFF(f)    offsetof(struct dn_profile, f)
#define GWS_OFF(f)   offsetof(struct config_gws, f)

const struct key config__node_keys[] = {
        {"name", key_name, NODE_OFF(name), false},
        {"sip-listen", key_sip_listen, 0, true},
        {"default-listen", key_listen, NODE_OFF(default_listen), false},
        {"tc-listen", key_listen, NODE_OFF(tc_listen), false},
        {"peer-listen", key_listen, NODE_OFF(peer_listen), false},
        {"http-listen", key_listen, NODE_OFF(http_listen), false},
        {"data-dir", key_str, NODE_OFF(data_dir), false},
        {"durability", key_durability, NODE_OFF(durability), false},
        {"commit-window", key_window, NODE_OFF(commit_window_ms), false},
        {"cluster-secret-file", key_str, NODE_OFF(cluster_secret_file), false},
        {"gws-client-names", key_clients, 0, true},
        {"dr-forward", key_bool, NODE_OFF(dr_forward), false},
        {"heartbeat-interval", key_duration, NODE_OFF(heartbeat_interval_ms), false},
        {"link-timeout", key_duration, NODE_OFF(link_timeout_ms), false},
        {"auth-algorithms", key_auth_algs, NODE_OFF(auth_algs), true},
        {"auth-realm", key_realm, NODE_OFF(auth_realm), false},
        {"max-frame", key_size32, LIMIT_OFF(max_frame), false},
        {"max-connections", key_count, LIMIT_OFF(max_connections), false},
        {"max-sip-message", key_size32, LIMIT_OFF(max_sip_message), false},
        {"max-sip-headers", key_count, LIMIT_OFF(max_sip_headers), false},
        {"max-contacts", key_count, LIMIT_OFF(max_contacts), false},
        {"min-expires", key_count, LIMIT_OFF(min_expires), false},
        {"max-expires", key_count, LIMIT_OFF(max_expires), false},
        {"default-expires", key_count, LIMIT_OFF(default_expires), false},
        {"idle-timeout", key_duration, LIMIT_OFF(idle_timeout_ms), false},
        {"sip-shed-delay", key_duration, LIMIT_OFF(sip_shed_delay_ms), false},
        {"message-timeout", key_duration, LIMIT_OFF(message_timeout_ms), false},
        {"max-connections-per-source", key_count, LIMIT_OFF(max_connections_per_source), false},
        {"subscriber-backlog", key_count, LIMIT_OFF(subscriber_backlog), false},
        {"http-max-header", key_size32, LIMIT_OFF(http_max_header), false},
        {"store-queue", key_count, LIMIT_OFF(store_queue), false},
        {"store-map-size", key_size64, LIMIT_OFF(store_map_size), false},
};

const struct key config__peer_keys[] = {
        {"address", key_addr, PEER_OFF(address), false},
        {"sip-address", key_addr, PEER_OFF(sip_address), false},
        {"tc-address", key_addr, PEER_OFF(tc_address), false},
        {"dr-peer-location", key_name, PEER_OFF(location), false},
        {"access-number", key_access_number, PEER_OFF(access_number), false},
};

const struct key config__gws_keys[] = {
        {"secret-file", key_secret_file, GWS_OFF(secret_file), false},
        {"allow-from", key_allow, 0, true},
};

const struct key config__dn_keys[] = {
        {"type", key_dn_type, DN_OFF(type), false},
        {"shared-line", key_bool, DN_OFF(shared_line), false},
        {"members", key_members, DN_OFF(members), true},
        {"sca-preferred-site", key_str, DN_OFF(sca_preferred_site), false},
        {"password", key_str, DN_OFF(password), false},
        {"auth-algorithms", key_auth_algs, DN_OFF(auth_algs), true},
        {"auth-realm", key_realm, DN_OFF(auth_realm), false},
        {"group", key_str, DN_OFF(group), false},
        {"distribution", key_distribution, DN_OFF(distribution), false},
        {"dr-forward", key_dr_forward, DN_OFF(dr_forward), false},
};

#define N_KEYS(a) (sizeof(a) / sizeof((a)[0]))
_Static_assert(N_KEYS(config__node_keys) <= KEYS_MAX, "raise KEYS_MAX");
const size_t config__n_node_keys = N_KEYS(config__node_keys);
const size_t config__n_peer_keys = N_KEYS(config__peer_keys);
const size_t config__n_dn_keys = N_KEYS(config__dn_keys);
const size_t config__n_gws_keys = N_KEYS(config__gws_keys);
