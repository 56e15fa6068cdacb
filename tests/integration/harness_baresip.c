#include "tests/integration/harness_baresip.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/tc_test.h"

#define HBARESIP_MODULES "/usr/lib/baresip/modules"

bool hbaresip_available(void)
{
    return access("/usr/bin/baresip", X_OK) == 0 &&
           access(HBARESIP_MODULES "/stdio.so", R_OK) == 0 &&
           access(HBARESIP_MODULES "/menu.so", R_OK) == 0;
}

static void write_files(struct hbaresip *b, const char *account)
{
    char path[400], text[1024];

    snprintf(path, sizeof(path), "%s/config", b->ua.dir);
    /* menu gives the /dial and hangup commands that stdio reads; ausine is
     * the audio source (no player: nothing is heard). */
    snprintf(text, sizeof(text),
             "poll_method epoll\n"
             "sip_listen 127.0.0.1:%u\n"
             "net_interface 127.0.0.1\n"
             "module_path " HBARESIP_MODULES "\n"
             "module stdio.so\n"
             "module g711.so\n"
             "module ausine.so\n"
             "module_app account.so\n"
             "module_app menu.so\n"
             "audio_source ausine,440\n"
             "ausrc_srate 48000\n"
             "ausrc_channels 2\n"
             "rtp_ports 30000-39998\n",
             b->port);
    tc_test_write_file(path, text);
    snprintf(path, sizeof(path), "%s/accounts", b->ua.dir);
    snprintf(text, sizeof(text), "%s\n", account);
    tc_test_write_file(path, text);
}

void hbaresip_start(struct hbaresip *b, const char *parent, const char *tag, const char *account,
                    int max_s)
{
    char dir[400], secs[16];
    char *argv[] = {"/usr/bin/baresip", "-f", dir, "-t", secs, NULL};

    memset(b, 0, sizeof(*b));
    snprintf(dir, sizeof(dir), "%s/baresip-%s", parent, tag);
    hua_init(&b->ua, dir);
    b->port = harness_free_port();
    write_files(b, account);
    snprintf(secs, sizeof(secs), "%d", max_s);
    hua_start(&b->ua, argv, NULL);
}

int hbaresip_cmd(struct hbaresip *b, const char *line)
{
    return hua_cmd(&b->ua, line);
}

char *hbaresip_output(const struct hbaresip *b)
{
    return hua_output(&b->ua);
}

int hbaresip_count(const struct hbaresip *b, const char *text)
{
    return hua_count(&b->ua, text);
}

bool hbaresip_wait_output(const struct hbaresip *b, const char *text, int ms)
{
    return hua_wait_output(&b->ua, text, ms);
}

void hbaresip_stop(struct hbaresip *b)
{
    hua_stop(&b->ua, "/quit");
}
