#include "tests/integration/harness_linphonec.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/tc_test.h"

#define HLINPHONEC "/usr/bin/linphonec"

bool hlinphonec_available(void)
{
    return access(HLINPHONEC, X_OK) == 0;
}

void hlinphonec_start(struct hlinphonec *l, const char *parent, const char *tag)
{
    char dir[400], path[500], text[512];
    char *argv[] = {HLINPHONEC, "-c", path, NULL};

    memset(l, 0, sizeof(*l));
    snprintf(dir, sizeof(dir), "%s/linphonec-%s", parent, tag);
    hua_init(&l->ua, dir);
    l->port = harness_free_port();
    /* linphonec 5.1 registers only once its data dir exists. */
    snprintf(path, sizeof(path), "%s/.local", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/.local/share", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/.local/share/linphone", dir);
    cr_assert(mkdir(path, 0700) == 0 || errno == EEXIST, "mkdir %s", path);
    snprintf(path, sizeof(path), "%s/linphonerc", dir);
    snprintf(text, sizeof(text),
             "[sip]\nsip_port=%u\nsip_tcp_port=-1\nsip_tls_port=-1\nbind_address=127.0.0.1\n"
             "[rtp]\naudio_rtp_port=%u\n",
             l->port, harness_free_port());
    tc_test_write_file(path, text);
    hua_start(&l->ua, argv, dir);
}

struct reg_wait {
    struct hlinphonec *l;
    uint64_t next_ms; /* when to ask again */
};

/* linphonec answers "status register" with "registered, identity=..."
 * once the registrar said 200 (and "unregistered" or "registration in
 * progress" before); asked every 250 ms. */
static bool registered(void *arg)
{
    struct reg_wait *w = arg;
    char *out = hua_output(&w->l->ua);
    bool yes = false;

    for (const char *p = out; p != NULL && (p = strstr(p, "registered, identity=")) != NULL; p++) {
        if (p == out || p[-1] == '\n' || p[-1] == ' ')
            yes = true;
    }
    free(out);
    if (!yes && harness_now_ms() >= w->next_ms) {
        hua_cmd(&w->l->ua, "status register");
        w->next_ms = harness_now_ms() + 250;
    }
    return yes;
}

bool hlinphonec_register(struct hlinphonec *l, const char *identity, const char *proxy,
                         const char *password, int ms)
{
    struct reg_wait w = {l, harness_now_ms() + 250};
    char cmd[400];

    snprintf(cmd, sizeof(cmd), "register %s %s %s", identity, proxy, password);
    if (hua_cmd(&l->ua, cmd) != 0)
        return false;
    return harness_wait(registered, &w, ms);
}

void hlinphonec_stop(struct hlinphonec *l)
{
    hua_stop(&l->ua, "quit");
}
