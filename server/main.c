/* tcnode: one node of a tcluster cluster (DESIGN §10). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "server/base/log.h"
#include "server/base/tc_err.h"
#include "server/config/config.h"
#include "server/config/config_gws.h"
#include "server/config/config_secret.h"
#include "server/node.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: tcnode -c FILE [--log-level err|warn|notice|info|debug]\n"
               "       tcnode --check-config FILE\n"
               "       tcnode --version\n"
               "Runs one tcluster node in the foreground, logging to stderr.\n"
               "SIGTERM/SIGINT stop it cleanly; SIGHUP reloads the DN directory.\n"
               "The INI file has sections [node], [peer NAME], [dn RANGE] and [gws NAME]\n"
               "(secret-file, allow-from: what a client opening as a GWS name must prove);\n"
               "README.md describes every key.\n");
}

static void print_config_error(void *arg, const char *path, unsigned line, const char *msg)
{
    (void)arg;
    if (line > 0)
        fprintf(stderr, "%s:%u: %s\n", path, line, msg);
    else
        fprintf(stderr, "%s: %s\n", path, msg);
}

/* The files the configuration names, read as the node will read them:
 * the cluster secret, which peers need, and the GWS clients' secrets.
 * Returns 0 or 1 (reported). */
static int check_files(const char *path, const struct config *cfg)
{
    uint8_t secret[1024];
    const char *why, *warn;
    size_t len;
    int rc;

    if (config_gws_check_files(cfg, print_config_error, NULL) != 0)
        return 1;
    if (cfg->n_peers == 0)
        return 0;
    rc = config_secret_read(cfg->cluster_secret_file, secret, sizeof(secret), &len, &why, &warn);
    if (rc != 0) {
        fprintf(stderr, "%s: cluster-secret-file %s: %s\n", path,
                cfg->cluster_secret_file != NULL ? cfg->cluster_secret_file : "(unset)",
                why != NULL ? why : tc_strerror(rc));
        return 1;
    }
    if (warn != NULL)
        fprintf(stderr, "%s: warning: cluster-secret-file %s: %s\n", path, cfg->cluster_secret_file,
                warn);
    return 0;
}

static int check_config(const char *path)
{
    struct config *cfg;
    int rc = config_load(path, &cfg, print_config_error, NULL);

    /* config_load() reported every problem, a file it cannot read too. */
    if (rc == -ENOMEM)
        fprintf(stderr, "%s: %s\n", path, tc_strerror(rc));
    if (rc != 0)
        return NODE_EXIT_CONFIG;
    if (check_files(path, cfg) != 0) {
        config_free(cfg);
        return NODE_EXIT_CONFIG;
    }
    printf("%s: ok (node %s, %u peer%s, %llu DNs)\n", path, cfg->name, cfg->n_peers,
           cfg->n_peers == 1 ? "" : "s", (unsigned long long)cfg->dir.n_dns);
    config_free(cfg);
    return NODE_EXIT_OK;
}

static int run(const char *path)
{
    struct tc_node node;
    struct config *cfg;
    uv_loop_t loop;
    int rc;

    rc = config_load(path, &cfg, print_config_error, NULL);
    if (rc == -ENOMEM)
        fprintf(stderr, "%s: %s\n", path, tc_strerror(rc));
    if (rc != 0)
        return NODE_EXIT_CONFIG; /* the rest is reported by config_load() */
    uv_loop_init(&loop);
    rc = node_start(&node, &loop, cfg);
    if (rc != 0)
        rc = rc == TC_ESTORE ? NODE_EXIT_STORE : NODE_EXIT_CONFIG;
    if (rc == 0) {
        uv_run(&loop, UV_RUN_DEFAULT);
        tc_log(NOTICE, "node %s: stopped", node.cfg->name);
        dn_table_free(&node.table);
        config_free(node.cfg);
    }
    /* Let close callbacks of a failed start run before closing the loop. */
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
            {"config", required_argument, NULL, 'c'},
            {"check-config", required_argument, NULL, 'C'},
            {"log-level", required_argument, NULL, 'l'},
            {"version", no_argument, NULL, 'V'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL;
    enum tc_log_level level;
    int c;

    tc_log_init();
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'C':
            return check_config(optarg);
        case 'l':
            if (tc_log_parse_level(optarg, &level) != 0) {
                fprintf(stderr, "tcnode: bad --log-level %s (err, warn, notice, info or debug)\n",
                        optarg);
                return NODE_EXIT_CONFIG;
            }
            tc_log_set_level(level);
            break;
        case 'V':
            printf("tcnode %s (%s)\n", TC_VERSION, TC_GIT_REV);
            return NODE_EXIT_OK;
        case 'h':
            usage(stdout);
            return NODE_EXIT_OK;
        default:
            usage(stderr);
            return NODE_EXIT_CONFIG;
        }
    }
    if (config_path == NULL || optind != argc) {
        usage(stderr);
        return NODE_EXIT_CONFIG;
    }
    return run(config_path);
}
