#include "server/config/config.h"

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

/* Checks of the whole file */

static uint32_t node_key_line(void *arg, const char *name)
{
    struct load *st = arg;

    return config__seen_at(config__node_keys, config__n_node_keys, st->node_seen, name);
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
    rc = ini_parse_stream(config__on_read, st, config__on_pair, st);
    config__end_section(st);
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
    config__free_profile(&st->prof);
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
