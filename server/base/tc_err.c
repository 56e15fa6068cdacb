#include "server/base/tc_err.h"

#include <string.h>

const char *tc_strerror(int err)
{
    switch (err) {
    case TC_ELOCKED:
        return "in use by another process";
    case TC_ECORRUPT:
        return "corrupt or not a tcluster store";
    case TC_ESCHEMA:
        return "written by a newer tcluster (schema version too new)";
    case TC_EFOREIGN:
        return "belongs to another node";
    case TC_EFULL:
        return "store is full (raise store-map-size)";
    case TC_ECONFIG:
        return "invalid configuration";
    case TC_EUNKNOWN_DN:
        return "unknown DN";
    case TC_ESTALE:
        return "a newer version is already held";
    case TC_ESTORE:
        return "the data-dir cannot be used";
    default:
        break;
    }
    if (err < 0 && err > -4096)
        return strerror(-err);
    return "unknown error";
}
