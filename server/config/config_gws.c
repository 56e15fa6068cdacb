#include "server/config/config_gws.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "server/base/tc_err.h"
#include "server/config/config_secret.h"

const struct config_gws *config_gws_find(const struct config *c, const char *name)
{
    for (unsigned i = 0; i < c->n_gws; i++) {
        if (strcmp(c->gws[i].name, name) == 0)
            return &c->gws[i];
    }
    return NULL;
}

bool config_cidr_match(const struct config_cidr *b, const struct sockaddr *sa)
{
    static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    const uint8_t *a;
    int family = sa->sa_family;
    unsigned full, rest;

    if (family == AF_INET) {
        a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
    } else if (family == AF_INET6) {
        a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        if (b->family == AF_INET && memcmp(a, v4_mapped, sizeof(v4_mapped)) == 0) {
            a += sizeof(v4_mapped);
            family = AF_INET;
        }
    } else {
        return false;
    }
    if (family != b->family)
        return false;
    full = b->bits / 8;
    rest = b->bits % 8;
    if (memcmp(a, b->addr, full) != 0)
        return false;
    return rest == 0 || ((a[full] ^ b->addr[full]) & (0xffu << (8 - rest)) & 0xffu) == 0;
}

bool config_gws_source_ok(const struct config_gws *g, const struct sockaddr *sa)
{
    if (g->n_allow == 0)
        return true;
    for (unsigned i = 0; i < g->n_allow; i++) {
        if (config_cidr_match(&g->allow[i], sa))
            return true;
    }
    return false;
}

static void say(config_error_cb on_error, void *arg, const char *path, unsigned line,
                const char *msg)
{
    if (on_error != NULL)
        on_error(arg, path, line, msg);
    else
        fprintf(stderr, "%s:%u: %s\n", path, line, msg);
}

unsigned config_gws_check_files(const struct config *c, config_error_cb on_error, void *arg)
{
    uint8_t secret[1024];
    unsigned errors = 0;
    char msg[512];

    for (unsigned i = 0; i < c->n_gws; i++) {
        const struct config_gws *g = &c->gws[i];
        const char *why, *warn;
        size_t len;
        int rc;

        if (g->secret_file == NULL)
            continue;
        rc = config_secret_read(g->secret_file, secret, sizeof(secret), &len, &why, &warn);
        if (rc != 0) {
            snprintf(msg, sizeof(msg), "[gws %s] secret-file %s: %s", g->name, g->secret_file,
                     why != NULL ? why : tc_strerror(rc));
            say(on_error, arg, c->path, g->secret_line, msg);
            errors++;
        } else if (warn != NULL) {
            snprintf(msg, sizeof(msg), "warning: [gws %s] secret-file %s: %s", g->name,
                     g->secret_file, warn);
            say(on_error, arg, c->path, g->secret_line, msg);
        }
    }
    memset(secret, 0, sizeof(secret));
    return errors;
}
