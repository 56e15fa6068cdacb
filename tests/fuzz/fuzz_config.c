/* libFuzzer target: the INI configuration loader (server/config*.c) on any
 * text, as config_load() would read it from a file. Problems are reported to
 * a callback that only checks their shape; a crash, a leak or a sanitizer
 * report is a bug. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/base/tc_err.h"
#include "server/config/config.h"

static void on_error(void *arg, const char *path, unsigned line, const char *msg)
{
    unsigned *n = arg;

    /* Touch every byte, so ASan sees a message that is not a string. */
    if (strlen(path) + strlen(msg) + line == 0)
        abort();
    (*n)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config *cfg = NULL;
    unsigned n_errors = 0;
    char *text;
    int rc;

    text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    rc = config_load_string("fuzz.ini", text, &cfg, on_error, &n_errors);
    /* The contract: 0, a config and no problem; or an error, *out left
     * alone, and for TC_ECONFIG at least one problem reported. */
    if ((rc == 0) != (cfg != NULL) || (rc == 0 && n_errors != 0) ||
        (rc == TC_ECONFIG && n_errors == 0))
        abort();
    config_free(cfg);
    free(text);
    return 0;
}
