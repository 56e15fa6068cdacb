#include "server/config/config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "server/base/tc_err.h"
#include "server/config/config_check.h"
#include "server/config/config_int.h"
#include "server/config/config_reader.h"
#include "server/config/config_value.h"

static void emit(struct load *st, unsigned line, const char *msg)
{
    if (st->on_error != NULL)
        st->on_error(st->arg, st->path, line, msg);
    else if (line != 0)
        fprintf(stderr, "%s:%u: %s\n", st->path, line, msg);
    else
        fprintf(stderr, "%s: %s\n", st->path, msg);
}

__attribute__((format(printf, 3, 0))) static void vreport(void *arg, unsigned line, const char *fmt,
                                                          va_list ap)
{
    struct load *st = arg;
    char msg[1024];

    if (++st->n_errors > CONFIG_MAX_ERRORS)
        return;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    emit(st, line, msg);
}

void config__report(struct load *st, unsigned line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vreport(st, line, fmt, ap);
    va_end(ap);
}

/* Line where key name was set in the current section (or [node]), or 0. */
static uint32_t seen_at(const struct key *keys, size_t n, const uint32_t *seen, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(keys[i].name, name) == 0)
            return seen[i];
    }
    return 0;
}

/* Sections */

static void free_profile(struct dn_profile *p)
{
    free(p->password);
    free(p->auth_realm);
    free(p->sca_preferred_site);
    free(p->group);
    free(p->members);
    memset(p, 0, sizeof(*p));
}

static uint32_t dn_seen(const struct load *st, const char *name)
{
    return seen_at(config__dn_keys, config__n_dn_keys, st->seen, name);
}

/* A [dn] section's group: on a routing point a DN range or a name, on an
 * extension a name; a name starts with a letter so the two never mix. A bad
 * group is reported here and dropped, so the checks of the whole file do not
 * report it again. */
static void check_group(struct load *st)
{
    struct dn_profile *p = &st->prof;
    bool rp = p->type == DN_TYPE_ROUTING_POINT;
    uint32_t line = dn_seen(st, "group");

    p->group_lo = p->group_hi = DN_KEY_NONE;
    if (p->group == NULL)
        return;
    if (rp && isdigit((unsigned char)p->group[0])) {
        if (dn_range_parse(p->group, &p->group_lo, &p->group_hi) == 0)
            return;
        config__report(st, line,
                       "group: bad DN range \"%s\": expected LO-HI or DN, LO and HI of one width, "
                       "LO not greater than HI",
                       p->group);
    } else if (config_value_is_name(p->group) && isalpha((unsigned char)p->group[0])) {
        return;
    } else {
        config__report(st, line,
                       "group: expected %sa name of 1 to 31 characters A-Z a-z 0-9 _ . - starting "
                       "with a letter, got \"%s\"",
                       rp ? "a DN range or " : "", p->group);
    }
    p->group_lo = p->group_hi = DN_KEY_NONE;
    free(p->group);
    p->group = NULL;
}

/* Options of the [dn] section that ends here that contradict each other. */
static void check_dn(struct load *st)
{
    struct dn_profile *p = &st->prof;
    uint32_t members = dn_seen(st, "members");
    uint32_t dist = dn_seen(st, "distribution");

    if (p->shared_line && p->n_members == 0 && members == 0)
        config__report(st, st->sect_line, "[%s]: shared-line without members", st->label);
    if (!p->shared_line && members != 0)
        config__report(st, members, "members: only for a shared line (set shared-line = true)");
    if (p->type == DN_TYPE_ROUTING_POINT && p->shared_line)
        config__report(st, dn_seen(st, "shared-line"), "shared-line: not for a routing point");
    if (p->type == DN_TYPE_ROUTING_POINT && p->group == NULL)
        config__report(st, st->sect_line, "[%s]: routing point without group", st->label);
    if (p->type != DN_TYPE_ROUTING_POINT && dist != 0)
        config__report(st, dist, "distribution: only for a routing point (type = routing-point)");
    check_group(st);
}

/* Check the [dn] section that ends here and add it to the directory. */
static void end_dn(struct load *st)
{
    struct dn_profile *p = &st->prof;
    struct dn_dir *d = &st->cfg->dir;
    int idx;

    check_dn(st);
    if (!st->dn_valid)
        goto out_drop;
    if (st->cfg->dir.n_profiles == st->cap_plines) {
        size_t cap = st->cap_plines != 0 ? st->cap_plines * 2 : 16;
        struct config_dn_lines *l = realloc(st->plines, cap * sizeof(*l));

        if (l == NULL)
            goto out_nomem;
        st->plines = l;
        st->cap_plines = cap;
    }
    p->line = st->sect_line;
    p->set = (dn_seen(st, "type") ? DN_SET_TYPE : 0) |
             (dn_seen(st, "shared-line") ? DN_SET_SHARED_LINE : 0) |
             (dn_seen(st, "members") ? DN_SET_MEMBERS : 0) |
             (dn_seen(st, "sca-preferred-site") ? DN_SET_SCA : 0) |
             (dn_seen(st, "password") ? DN_SET_PASSWORD : 0) |
             (dn_seen(st, "group") ? DN_SET_GROUP : 0) |
             (dn_seen(st, "distribution") ? DN_SET_DISTRIBUTION : 0) |
             (dn_seen(st, "dr-forward") ? DN_SET_DR_FORWARD : 0) |
             (dn_seen(st, "auth-algorithms") ? DN_SET_AUTH_ALGS : 0) |
             (dn_seen(st, "auth-realm") ? DN_SET_AUTH_REALM : 0);
    idx = dn_dir_add_profile(d, p);
    if (idx < 0)
        goto out_nomem;
    memset(p, 0, sizeof(*p));
    st->plines[idx].members = dn_seen(st, "members");
    st->plines[idx].sca = dn_seen(st, "sca-preferred-site");
    st->plines[idx].group = dn_seen(st, "group");
    if (dn_dir_add_keys(d, st->lo, st->hi, (uint32_t)idx, st->sect_line) != 0)
        st->nomem = true;
    st->cap_members = 0;
    return;

out_nomem:
    st->nomem = true;
out_drop:
    free_profile(p);
    st->cap_members = 0;
}

static void start_node(struct load *st, const char *arg)
{
    if (*arg != '\0') {
        config__report(st, st->lineno, "section [node] takes no name, got [%s]", st->label);
        return;
    }
    if (st->node_line != 0) {
        config__report(st, st->lineno, "duplicate section [node] (first at line %u)",
                       st->node_line);
        return;
    }
    st->node_line = st->lineno;
    st->kind = SECT_NODE;
    st->keys = config__node_keys;
    st->n_keys = config__n_node_keys;
    st->target = st->cfg;
    st->seen = st->node_seen;
}

static void start_peer(struct load *st, const char *name)
{
    struct config *c = st->cfg;
    struct config_peer *p;

    if (!config_value_is_name(name)) {
        config__report(
                st, st->lineno,
                "bad peer name \"%s\": expected [peer NAME], NAME of 1 to 31 characters A-Z a-z "
                "0-9 _ . -",
                name);
        return;
    }
    for (unsigned i = 0; i < c->n_peers; i++) {
        if (strcmp(c->peers[i].name, name) == 0) {
            config__report(st, st->lineno, "duplicate peer %s (first at line %u)", name,
                           c->peers[i].line);
            return;
        }
    }
    if (c->n_peers == CONFIG_MAX_PEERS) {
        config__report(st, st->lineno, "too many peers (max %d)", CONFIG_MAX_PEERS);
        return;
    }
    p = &c->peers[c->n_peers++];
    strcpy(p->name, name);
    p->line = st->lineno;
    st->kind = SECT_PEER;
    st->keys = config__peer_keys;
    st->n_keys = config__n_peer_keys;
    st->target = p;
}

static void start_gws(struct load *st, const char *name)
{
    struct config *c = st->cfg;
    struct config_gws *g;

    if (!config_value_is_name(name)) {
        config__report(st, st->lineno,
                       "bad gws name \"%s\": expected [gws NAME], NAME one of gws-client-names",
                       name);
        return;
    }
    for (unsigned i = 0; i < c->n_gws; i++) {
        if (strcmp(c->gws[i].name, name) == 0) {
            config__report(st, st->lineno, "duplicate section [gws %s] (first at line %u)", name,
                           c->gws[i].line);
            return;
        }
    }
    if (c->n_gws == CONFIG_MAX_CLIENTS) {
        config__report(st, st->lineno, "too many [gws] sections (max %d)", CONFIG_MAX_CLIENTS);
        return;
    }
    g = &c->gws[c->n_gws++];
    strcpy(g->name, name);
    g->line = st->lineno;
    st->kind = SECT_GWS;
    st->keys = config__gws_keys;
    st->n_keys = config__n_gws_keys;
    st->target = g;
}

static void start_dn(struct load *st, const char *spec)
{
    int rc = dn_range_parse(spec, &st->lo, &st->hi);

    if (rc == -EDOM)
        config__report(st, st->lineno, "dn range %s: LO and HI have different widths", spec);
    else if (rc == -ERANGE)
        config__report(st, st->lineno, "dn range %s: LO is greater than HI", spec);
    else if (rc != 0)
        config__report(st, st->lineno,
                       "bad dn range \"%s\": expected [dn LO-HI] or [dn DN], DNs of 1 to %d digits",
                       spec, DN_DIR_MAX_DIGITS);
    /* Read the keys even when the range is bad, to report their errors too. */
    st->dn_valid = rc == 0;
    st->kind = SECT_DN;
    st->keys = config__dn_keys;
    st->n_keys = config__n_dn_keys;
    st->target = &st->prof;
}

static void end_section(struct load *st)
{
    if (st->kind == SECT_DN)
        end_dn(st);
    if (st->kind == SECT_PEER &&
        seen_at(config__peer_keys, config__n_peer_keys, st->seen, "address") == 0)
        config__report(st, st->sect_line, "missing required key address in [%s]", st->label);
    if (st->kind == SECT_GWS &&
        seen_at(config__gws_keys, config__n_gws_keys, st->seen, "secret-file") == 0 &&
        seen_at(config__gws_keys, config__n_gws_keys, st->seen, "allow-from") == 0)
        config__report(st, st->sect_line,
                       "[%s]: no credential: set secret-file, allow-from or both", st->label);
    st->kind = SECT_SKIP;
    st->keys = NULL;
    st->n_keys = 0;
    st->target = NULL;
    memset(st->sect_seen, 0, sizeof(st->sect_seen));
    st->seen = st->sect_seen;
    st->prev_key = NULL;
    st->prev_ok = false;
}

/* A section header line; p points at its '['. */
static void on_section(struct load *st, const char *p)
{
    const char *close = config_reader_find(p + 1, "]");
    const char *after, *arg;
    size_t len, kind_len;

    end_section(st);
    st->sect_line = st->lineno;
    if (*close != ']') {
        config__report(st, st->lineno, "section header without closing ]");
        return;
    }
    after = close + 1 + strspn(close + 1, " \t");
    if (*after != '\0' && *after != ';' && *after != '#') {
        config__report(st, st->lineno, "unexpected text after section header: \"%s\"", after);
        return;
    }
    p += 1 + strspn(p + 1, " \t");
    len = (size_t)(close - p);
    while (len > 0 && isspace((unsigned char)p[len - 1]))
        len--;
    memcpy(st->label, p, len);
    st->label[len] = '\0';
    kind_len = strcspn(st->label, " \t");
    arg = st->label + kind_len + strspn(st->label + kind_len, " \t");
    if (kind_len == 4 && strncmp(st->label, "node", 4) == 0)
        start_node(st, arg);
    else if (kind_len == 4 && strncmp(st->label, "peer", 4) == 0)
        start_peer(st, arg);
    else if (kind_len == 2 && strncmp(st->label, "dn", 2) == 0)
        start_dn(st, arg);
    else if (kind_len == 3 && strncmp(st->label, "gws", 3) == 0)
        start_gws(st, arg);
    else
        config__report(st, st->lineno, "unknown section [%s]", st->label);
}

/* Lines */

/* Decide what the line s (len bytes) is, handle section headers here (inih
 * calls no handler for them and keeps no line numbers), and give inih in out
 * only what it should see: a key line, a continuation line or nothing. */
static void classify(struct load *st, char *s, size_t len, char *out, size_t size)
{
    const char *p = s + strspn(s, " \t");

    st->cont = false;
    out[0] = '\0';
    if (strlen(s) != len) {
        config__report(st, st->lineno, "line holds a NUL byte");
        return;
    }
    if (len >= size) {
        config__report(st, st->lineno, "line too long (max %zu characters)", size - 1);
        if (*p == '[') {
            end_section(st);
            snprintf(out, size, "[]");
        }
        return;
    }
    if (*p == '\0' || *p == ';' || *p == '#')
        return;
    /* An indented line without '=' continues a list (it may start with an
     * IPv6 address in brackets); elsewhere indentation means nothing, so
     * inih gets the line without it. */
    if (p > s && st->prev_key != NULL && st->prev_key->list && !config_reader_has(p, "=") &&
        !config_reader_is_header(p)) {
        /* inih strips no comment from a continuation line. */
        len = (size_t)(config_reader_find(s, "") - s);
        st->cont = true;
        memcpy(out, s, len);
        out[len] = '\0';
        return;
    }
    if (*p == '[') {
        on_section(st, p);
        /* inih must see a section too, so it ends the previous key. */
        snprintf(out, size, "[]");
        return;
    }
    if (!config_reader_has(p, "=:")) {
        config__report(st, st->lineno, "expected KEY = VALUE or [SECTION], got \"%s\"", p);
        return;
    }
    memcpy(out, p, len + 1 - (size_t)(p - s));
}

/* inih's reader: one whole line per call, so this counts the lines. */
static char *on_read(char *out, int size, void *stream)
{
    struct load *st = stream;
    char *s;
    ssize_t n = config_reader_next(&st->rd, &s);

    if (n < 0 || size < 2)
        return NULL;
    st->lineno++;
    classify(st, s, (size_t)n, out, (size_t)size);
    return out;
}

/* Stands for a key whose continuation lines are ignored. */
static const struct key skip_key = {"", NULL, 0, true};

static int on_pair(void *user, const char *section, const char *name, const char *value)
{
    struct load *st = user;
    const struct key *k = NULL;
    size_t i;

    (void)section;
    if (st->cont) {
        if (st->prev_ok)
            st->prev_key->parse(st, st->prev_key, (char *)st->target + st->prev_key->off, value);
        return 1;
    }
    if (st->kind == SECT_NONE) {
        config__report(st, st->lineno, "key %s outside any section", name);
        return 1;
    }
    for (i = 0; i < st->n_keys; i++) {
        if (strcmp(st->keys[i].name, name) == 0) {
            k = &st->keys[i];
            break;
        }
    }
    /* Lines that continue an unknown or repeated key are skipped quietly. */
    st->prev_key = &skip_key;
    st->prev_ok = false;
    if (st->kind == SECT_SKIP)
        return 1;
    if (k == NULL && strpbrk(name, " \t") != NULL) {
        /* "tc-listen 127.0.0.1:3001": inih cut it at the ':'. */
        config__report(st, st->lineno,
                       "expected KEY = VALUE, got '%s:%s' (is '=' missing after %.*s?)", name,
                       value, (int)strcspn(name, " \t"), name);
        return 1;
    }
    if (k == NULL) {
        config__report(st, st->lineno, "unknown key %s in [%s]", name, st->label);
        return 1;
    }
    if (st->seen[i] != 0) {
        config__report(st, st->lineno, "duplicate key %s in [%s] (first at line %u)", name,
                       st->label, st->seen[i]);
        return 1;
    }
    st->seen[i] = st->lineno;
    st->prev_key = k;
    st->prev_ok = true;
    k->parse(st, k, (char *)st->target + k->off, value);
    return 1;
}

/* Checks of the whole file */

static uint32_t node_key_line(void *arg, const char *name)
{
    struct load *st = arg;

    return seen_at(config__node_keys, config__n_node_keys, st->node_seen, name);
}

static void check(struct load *st)
{
    const struct config_check ck = {
            .cfg = st->cfg,
            .node_line = st->node_line,
            .key_line = node_key_line,
            .dn_lines = st->plines,
            .report = vreport,
            .arg = st,
    };

    config_check_node(&ck);
    config_check_dir(&ck);
}

/* API */

static struct config *config_new(const char *path)
{
    struct config *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->path = strdup(path);
    if (c->path == NULL) {
        free(c);
        return NULL;
    }
    strcpy(c->sip_listen[0].host, "127.0.0.1");
    c->sip_listen[0].port = 5060;
    c->n_sip_listen = 1;
    strcpy(c->default_listen.host, "127.0.0.1");
    c->default_listen.port = 3000;
    strcpy(c->tc_listen.host, "127.0.0.1");
    c->tc_listen.port = 3001;
    strcpy(c->peer_listen.host, "127.0.0.1");
    c->peer_listen.port = 3002;
    strcpy(c->http_listen.host, "127.0.0.1");
    c->http_listen.port = 8080;
    c->durability = CONFIG_DURABILITY_SYNC;
    c->dr_forward = true;
    c->auth_algs[0] = DN_AUTH_MD5;
    c->auth_realm = strdup(CONFIG_DEFAULT_REALM);
    if (c->auth_realm == NULL) {
        free(c->path);
        free(c);
        return NULL;
    }
    c->heartbeat_interval_ms = 1000;
    c->link_timeout_ms = 3000;
    c->limits = (struct config_limits){
            .max_frame = 65536,
            .max_connections = 1024,
            .max_sip_message = 65535,
            .max_sip_headers = 100,
            .max_contacts = 10,
            .min_expires = 60,
            .max_expires = 7200,
            .default_expires = 3600,
            .idle_timeout_ms = 60000,
            .sip_shed_delay_ms = 20,
            .message_timeout_ms = 10000,
            .max_connections_per_source = 64,
            .subscriber_backlog = 100000,
            .http_max_header = 8192,
            .store_queue = 262144,
            .store_map_size = UINT64_C(1) << 30,
    };
    dn_dir_init(&c->dir);
    return c;
}

static int load(struct load *st, struct config **out)
{
    struct config *c;
    int rc;

    c = config_new(st->path);
    if (c == NULL)
        return -ENOMEM;
    st->cfg = c;
    st->seen = st->sect_seen;
    rc = ini_parse_stream(on_read, st, on_pair, st);
    end_section(st);
    if (st->rd.err != 0) {
        config__report(st, 0, "cannot read: %s", strerror(st->rd.err));
        rc = -st->rd.err;
        goto out_free;
    }
    /* Every line inih could refuse was reported before it saw it. */
    if (rc != 0 && st->n_errors == 0)
        config__report(st, rc > 0 ? (unsigned)rc : 0, "syntax error");
    if (!st->nomem)
        check(st);
    if (st->n_errors > CONFIG_MAX_ERRORS) {
        char msg[64];

        snprintf(msg, sizeof(msg), "%u more problems not shown", st->n_errors - CONFIG_MAX_ERRORS);
        emit(st, 0, msg);
    }
    rc = st->nomem ? -ENOMEM : st->n_errors != 0 ? TC_ECONFIG : 0;
    if (rc != 0)
        goto out_free;
    *out = c;
    goto out_state;

out_free:
    config_free(c);
out_state:
    free_profile(&st->prof);
    free(st->plines);
    config_reader_free(&st->rd);
    return rc;
}

int config_load(const char *path, struct config **out, config_error_cb on_error, void *arg)
{
    struct load st = {.path = path, .on_error = on_error, .arg = arg};
    int rc;

    st.rd.file = fopen(path, "r");
    if (st.rd.file == NULL) {
        rc = -errno;
        config__report(&st, 0, "cannot read: %s", strerror(-rc));
        return rc;
    }
    rc = load(&st, out);
    fclose(st.rd.file);
    return rc;
}

int config_load_string(const char *path, const char *text, struct config **out,
                       config_error_cb on_error, void *arg)
{
    struct load st = {.path = path, .rd.text = text, .on_error = on_error, .arg = arg};

    return load(&st, out);
}

void config_free(struct config *c)
{
    if (c == NULL)
        return;
    dn_dir_free(&c->dir);
    for (unsigned i = 0; i < c->n_gws; i++)
        free(c->gws[i].secret_file);
    free(c->cluster_secret_file);
    free(c->auth_realm);
    free(c->data_dir);
    free(c->path);
    free(c);
}

const char *config_addr_str(const struct config_addr *a, char *buf, size_t size)
{
    if (strchr(a->host, ':') != NULL)
        snprintf(buf, size, "[%s]:%u", a->host, a->port);
    else
        snprintf(buf, size, "%s:%u", a->host, a->port);
    return buf;
}
