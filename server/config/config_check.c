#include "server/config/config_check.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "server/config/config.h"
#include "server/config/config_gws.h"
#include "server/config/dn_dir.h"

__attribute__((format(printf, 3, 4))) static void report(const struct config_check *ck,
                                                         unsigned line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ck->report(ck->arg, line, fmt, ap);
    va_end(ap);
}

/* The line of the first of two [node] keys that is set, else the header's. */
static uint32_t blame(const struct config_check *ck, const char *first, const char *second)
{
    uint32_t line = ck->key_line(ck->arg, first);

    if (line == 0)
        line = ck->key_line(ck->arg, second);
    return line != 0 ? line : ck->node_line;
}

static void check_listen(const struct config_check *ck)
{
    const struct config *c = ck->cfg;
    struct {
        const char *key;
        const struct config_addr *a;
    } l[CONFIG_MAX_LISTEN + 4];
    size_t n = 0;
    char buf[CONFIG_HOST_MAX + 8];

    for (unsigned i = 0; i < c->n_sip_listen; i++) {
        l[n].key = "sip-listen";
        l[n++].a = &c->sip_listen[i];
    }
    l[n].key = "default-listen";
    l[n++].a = &c->default_listen;
    l[n].key = "tc-listen";
    l[n++].a = &c->tc_listen;
    l[n].key = "peer-listen";
    l[n++].a = &c->peer_listen;
    l[n].key = "http-listen";
    l[n++].a = &c->http_listen;
    for (size_t i = 1; i < n; i++) {
        for (size_t j = 0; j < i; j++) {
            if (l[i].a->port != l[j].a->port || strcmp(l[i].a->host, l[j].a->host) != 0)
                continue;
            report(ck, blame(ck, l[i].key, l[j].key), "%s %s is already used by %s", l[i].key,
                   config_addr_str(l[i].a, buf, sizeof(buf)), l[j].key);
            break;
        }
    }
}

static bool listed_gws(const struct config *c, const char *name)
{
    for (unsigned i = 0; i < c->n_gws_client_names; i++) {
        if (strcmp(c->gws_client_names[i], name) == 0)
            return true;
    }
    return false;
}

/* Every GWS name comes with a credential, and every credential names a
 * GWS name: a name anyone could say must not claim DNs (issue 13). */
static void check_gws(const struct config_check *ck)
{
    const struct config *c = ck->cfg;

    for (unsigned i = 0; i < c->n_gws_client_names; i++) {
        const char *name = c->gws_client_names[i];

        if (config_gws_find(c, name) == NULL)
            report(ck, blame(ck, "gws-client-names", "name"),
                   "gws-client-names: %s has no credential: add a [gws %s] section with "
                   "secret-file and/or allow-from",
                   name, name);
    }
    for (unsigned i = 0; i < c->n_gws; i++) {
        if (!listed_gws(c, c->gws[i].name))
            report(ck, c->gws[i].line, "[gws %s]: %s is not in gws-client-names", c->gws[i].name,
                   c->gws[i].name);
    }
}

void config_check_node(const struct config_check *ck)
{
    const struct config *c = ck->cfg;
    const struct config_limits *l = &c->limits;

    if (ck->key_line(ck->arg, "name") == 0)
        report(ck, ck->node_line, "missing required key name in [node]");
    if (ck->key_line(ck->arg, "data-dir") == 0)
        report(ck, ck->node_line, "missing required key data-dir in [node]");
    if (l->min_expires > l->max_expires)
        report(ck, blame(ck, "min-expires", "max-expires"),
               "min-expires (%u) is greater than max-expires (%u)", l->min_expires, l->max_expires);
    else if (l->default_expires < l->min_expires || l->default_expires > l->max_expires)
        report(ck, blame(ck, "default-expires", "min-expires"),
               "default-expires (%u) is not between min-expires (%u) and max-expires (%u)",
               l->default_expires, l->min_expires, l->max_expires);
    if (c->heartbeat_interval_ms >= c->link_timeout_ms)
        report(ck, blame(ck, "heartbeat-interval", "link-timeout"),
               "heartbeat-interval (%ums) must be shorter than link-timeout (%ums)",
               c->heartbeat_interval_ms, c->link_timeout_ms);
    check_listen(ck);
    check_gws(ck);
    for (unsigned i = 0; i < c->n_peers; i++) {
        const struct config_peer *p = &c->peers[i];

        if (strcmp(p->name, c->name) == 0)
            report(ck, p->line, "peer %s has the name of this node", p->name);
    }
}

static bool known_node(const struct config *c, const char *name)
{
    if (strcmp(c->name, name) == 0)
        return true;
    for (unsigned i = 0; i < c->n_peers; i++) {
        if (strcmp(c->peers[i].name, name) == 0)
            return true;
    }
    return false;
}

static void on_overlap(void *arg, const struct dn_range *later, const struct dn_range *earlier)
{
    char a[DN_RANGE_STR_MAX], b[DN_RANGE_STR_MAX];

    report(arg, later->line, "dn range %s overlaps %s (line %u)", dn_range_str(later, a, sizeof(a)),
           dn_range_str(earlier, b, sizeof(b)), earlier->line);
}

static void check_members(const struct config_check *ck, const struct dn_profile *p, uint32_t line)
{
    const struct dn_dir *d = &ck->cfg->dir;
    char dn[DN_DIR_MAX_DIGITS + 1];

    for (uint32_t m = 0; m < p->n_members; m++) {
        const struct dn_profile *mp = dn_dir_lookup(d, p->members[m]);

        dn_key_format(p->members[m], dn, sizeof(dn));
        if (mp == NULL)
            report(ck, line, "members: %s is not in the directory", dn);
        else if (mp->type != DN_TYPE_EXTENSION)
            report(ck, line, "members: %s is not an extension", dn);
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The group names of the extension sections, sorted, or NULL (with *n 0)
 * when there are none; NULL with *n 1 when out of memory. */
static const char **extension_groups(const struct dn_dir *d, size_t *n)
{
    const char **names = malloc((d->n_profiles + 1) * sizeof(*names));

    *n = 0;
    if (names == NULL) {
        *n = 1;
        return NULL;
    }
    for (size_t i = 0; i < d->n_profiles; i++) {
        if (d->profiles[i].type == DN_TYPE_EXTENSION && d->profiles[i].group != NULL)
            names[(*n)++] = d->profiles[i].group;
    }
    qsort(names, *n, sizeof(*names), cmp_str);
    return names;
}

/* A routing point's group must name at least one extension: a DN range
 * holding one, or the group of an extension section. */
static void check_groups(const struct config_check *ck)
{
    const struct dn_dir *d = &ck->cfg->dir;
    size_t n;
    const char **names = extension_groups(d, &n);

    if (names == NULL && n != 0) {
        report(ck, 0, "out of memory while checking groups");
        return;
    }
    for (size_t i = 0; i < d->n_profiles; i++) {
        const struct dn_profile *p = &d->profiles[i];

        if (p->type != DN_TYPE_ROUTING_POINT || p->group == NULL)
            continue;
        if (p->group_lo != DN_KEY_NONE) {
            if (!dn_dir_any_in(d, p->group_lo, p->group_hi, DN_TYPE_EXTENSION))
                report(ck, ck->dn_lines[i].group, "group: no extension in %s", p->group);
        } else if (bsearch(&p->group, names, n, sizeof(*names), cmp_str) == NULL) {
            report(ck, ck->dn_lines[i].group, "group: no extension has group = %s", p->group);
        }
    }
    free(names);
}

static char *dup_or_null(const char *s, bool *nomem)
{
    char *d = s != NULL ? strdup(s) : NULL;

    if (s != NULL && d == NULL)
        *nomem = true;
    return d;
}

/* Give p the keys its own section did not set from its parent's profile q
 * (already complete). Returns false when memory ran out. */
static bool take_from(struct dn_profile *p, const struct dn_profile *q)
{
    uint32_t take = q->set & ~p->set;
    bool nomem = false;

    if (take & DN_SET_TYPE)
        p->type = q->type;
    if (take & DN_SET_SHARED_LINE)
        p->shared_line = q->shared_line;
    if ((take & DN_SET_MEMBERS) && q->n_members > 0) {
        p->members = malloc(q->n_members * sizeof(*p->members));
        if (p->members != NULL) {
            memcpy(p->members, q->members, q->n_members * sizeof(*p->members));
            p->n_members = q->n_members;
        } else {
            nomem = true;
        }
    }
    if (take & DN_SET_SCA)
        p->sca_preferred_site = dup_or_null(q->sca_preferred_site, &nomem);
    if (take & DN_SET_PASSWORD)
        p->password = dup_or_null(q->password, &nomem);
    if (take & DN_SET_GROUP) {
        p->group = dup_or_null(q->group, &nomem);
        p->group_lo = q->group_lo;
        p->group_hi = q->group_hi;
    }
    if (take & DN_SET_DISTRIBUTION)
        p->distribution = q->distribution;
    if (take & DN_SET_DR_FORWARD)
        p->dr_forward = q->dr_forward;
    if (take & DN_SET_AUTH_ALGS)
        memcpy(p->auth_algs, q->auth_algs, sizeof(p->auth_algs));
    if (take & DN_SET_AUTH_REALM)
        p->auth_realm = dup_or_null(q->auth_realm, &nomem);
    p->set |= take;
    return !nomem;
}

/* Complete profile i and, first, the profiles it is nested in. done[]
 * marks completed ones; nesting is a tree, so this ends. */
static bool inherit(struct dn_dir *d, size_t i, bool *done)
{
    struct dn_profile *p = &d->profiles[i];

    if (done[i])
        return true;
    done[i] = true;
    if (p->parent == DN_PROFILE_NONE)
        return true;
    return inherit(d, p->parent, done) && take_from(p, &d->profiles[p->parent]);
}

/* Give p the node's digest settings where no section set them, so the
 * registrar finds them in the profile (and a SIGHUP reloads them with the
 * directory). Returns false when memory ran out. */
static bool take_node_auth(struct dn_profile *p, const struct config *c)
{
    bool nomem = false;

    if (!(p->set & DN_SET_AUTH_ALGS))
        memcpy(p->auth_algs, c->auth_algs, sizeof(p->auth_algs));
    if (!(p->set & DN_SET_AUTH_REALM))
        p->auth_realm = dup_or_null(c->auth_realm, &nomem);
    return !nomem;
}

void config_check_dir(const struct config_check *ck)
{
    const struct config *c = ck->cfg;
    struct dn_dir *d = &ck->cfg->dir;
    bool *done = NULL, ok = true;
    int rc;

    /* on_overlap gets ck through dn_dir_finish()'s void pointer. */
    rc = dn_dir_finish(d, on_overlap, (void *)ck);
    if (rc == 0 && d->n_profiles > 0) {
        done = calloc(d->n_profiles, sizeof(*done));
        ok = done != NULL;
        for (size_t i = 0; ok && i < d->n_profiles; i++)
            ok = inherit(d, i, done);
        for (size_t i = 0; ok && i < d->n_profiles; i++)
            ok = take_node_auth(&d->profiles[i], c);
        free(done);
    }
    if (rc == -ENOMEM || !ok)
        report(ck, 0, "out of memory reading the DN directory");
    for (size_t i = 0; i < d->n_profiles; i++) {
        const struct dn_profile *p = &d->profiles[i];

        check_members(ck, p, ck->dn_lines[i].members);
        if (p->sca_preferred_site != NULL && !known_node(c, p->sca_preferred_site))
            report(ck, ck->dn_lines[i].sca,
                   "sca-preferred-site: no node named %s (neither this node nor a peer)",
                   p->sca_preferred_site);
    }
    check_groups(ck);
}
