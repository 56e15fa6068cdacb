#include "server/config/config_secret.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

int config_secret_read(const char *path, uint8_t *buf, size_t cap, size_t *len, const char **why,
                       const char **warn)
{
    struct stat st;
    FILE *f;
    size_t n;
    int rc = 0;

    *why = NULL;
    *warn = NULL;
    if (path == NULL) {
        *why = "required when peers are configured";
        return -EINVAL;
    }
    f = fopen(path, "rb");
    if (f == NULL)
        return -errno;
    n = fread(buf, 1, cap, f);
    if (ferror(f))
        rc = -EIO;
    else if (fstat(fileno(f), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
        *warn = "readable by other users: chmod 600 it";
    fclose(f);
    if (rc != 0)
        return rc;
    while (n > 0 &&
           (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        n--;
    if (n == 0) {
        *why = "empty";
        return -EINVAL;
    }
    if (n < CONFIG_SECRET_MIN)
        *warn = "shorter than 16 bytes: use at least 16 random bytes";
    *len = n;
    return 0;
}
