#ifndef TC_SERVER_CORE_DN_STORE_H
#define TC_SERVER_CORE_DN_STORE_H

#include <stddef.h>

#include "server/core/dn_table.h"
#include "storage/store.h"

/* Ownership records in the store: one DnRecord (proto/store.proto) per DN
 * that ever had a claim, keyed by the DN's digits. This is the bridge
 * between the DN table's decisions and LMDB; ports never call it. Loop
 * thread only. */

/* Queue the DN's state after change c as a DnRecord. done (may be NULL) is
 * called when it is durable. Returns 0 or the store's error. */
int dn_store_put(struct store *s, const struct dn_table *t, const struct dn_change *c,
                 store_done_cb done, void *arg);

/* One record read back at startup: owner and version node are names
 * (length 0 for none), not NUL-terminated; they point into the store and
 * are valid only during the callback. */
struct dn_store_record {
    dn_key dn;
    const char *owner;
    size_t owner_len;
    enum dn_source source;
    uint64_t hlc;
    const char *version_node;
    size_t version_node_len;
    uint64_t since_ms;
};

/* Read every DnRecord in key order and call fn; a record that does not parse
 * is skipped and counted in *bad (may be NULL). Returns 0 or a store
 * error. */
int dn_store_load(struct store *s, void (*fn)(void *arg, const struct dn_store_record *r),
                  void *arg, unsigned *bad);

#endif
