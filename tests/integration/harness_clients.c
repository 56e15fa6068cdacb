#include "tests/integration/harness_clients.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int hclient_sipsak(const struct hnode *n, const char *dn, const char *extra, char **out)
{
    char cmd[512];

    snprintf(cmd, sizeof(cmd), "timeout 10 sipsak -i -U -s sip:%s@127.0.0.1:%u -x 300 %s", dn,
             n->sip_port, extra ? extra : "");
    return harness_run(cmd, out);
}

int hclient_sipp(const struct hnode *n, const char *scenario, const char *fields, const char *tr)
{
    char csv[400], cmd[1400];
    char *out;
    FILE *f;
    int rc;

    snprintf(csv, sizeof(csv), "%s/sipp-%d.csv", n->dir, (int)getpid());
    f = fopen(csv, "w");
    cr_assert_not_null(f);
    fprintf(f, "SEQUENTIAL\n%s\n", fields);
    fclose(f);
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && timeout 60 sipp -sf '%s/tests/sip/%s' -inf '%s' -m 1 -nostdin "
             "-timeout 30 -timeout_error -t %s -i 127.0.0.1 -p %u 127.0.0.1:%u -trace_err",
             n->dir, TC_SOURCE_DIR, scenario, csv, tr, harness_free_port(), n->sip_port);
    rc = harness_run(cmd, &out);
    if (rc != 0)
        cr_log_info("sipp %s: %s", scenario, out);
    free(out);
    return rc;
}

int hclient_netsip(const struct hnode *n, const char *args)
{
    char cmd[600];
    char *out;
    int rc;

    snprintf(cmd, sizeof(cmd), "timeout 20 perl '%s/tests/sip/netsip_register.pl' 127.0.0.1:%u %s",
             TC_SOURCE_DIR, n->sip_port, args);
    rc = harness_run(cmd, &out);
    if (rc != 0)
        cr_log_info("netsip: %s", out);
    free(out);
    return rc;
}
