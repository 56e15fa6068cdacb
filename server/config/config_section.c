/* config_section: the sections of the INI file. A header ends the section
 * before it ([dn] sections are checked and added to the directory there)
 * and starts [node], [peer NAME], [gws NAME] or [dn RANGE]: which keys it
 * takes and where their values go. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/config/config_check.h"
#include "server/config/config_int.h"
#include "server/config/config_reader.h"
#include "server/config/config_value.h"

uint32_t config__seen_at(const struct key *keys, size_t n, const uint32_t *seen, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(keys[i].name, name) == 0)
            return seen[i];
    }
    return 0;
}

void config__free_profile(struct dn_profile *p)
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
    return config__seen_at(config__dn_keys, config__n_dn_keys, st->seen, name);
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
    config__free_profile(p);
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

void config__end_section(struct load *st)
{
    if (st->kind == SECT_DN)
        end_dn(st);
    if (st->kind == SECT_PEER &&
        config__seen_at(config__peer_keys, config__n_peer_keys, st->seen, "address") == 0)
        config__report(st, st->sect_line, "missing required key address in [%s]", st->label);
    if (st->kind == SECT_GWS &&
        config__seen_at(config__gws_keys, config__n_gws_keys, st->seen, "secret-file") == 0 &&
        config__seen_at(config__gws_keys, config__n_gws_keys, st->seen, "allow-from") == 0)
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

void config__on_section(struct load *st, const char *p)
{
    const char *close = config_reader_find(p + 1, "]");
    const char *after, *arg;
    size_t len, kind_len;

    config__end_section(st);
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
