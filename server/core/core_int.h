#ifndef TC_SERVER_CORE_CORE_INT_H
#define TC_SERVER_CORE_CORE_INT_H

#include "server/core/core.h"

/* Shared by the files of the core (core.c, core_bindings.c,
 * core_restore.c); nothing outside server/core includes it. Loop thread
 * only. */

/* Make ch durable, then publish it and call done (may be NULL). Returns 0
 * (done will be called) or the store's error (nothing happens then). */
int core__persist(struct core *c, const struct dn_change *ch, core_done_cb done, void *arg);

/* 0 when the store has room for one more change, -EBUSY when its queue is
 * full, -ESHUTDOWN once it is closed. Checked before the table changes, so
 * a decision is never made without being made durable. */
int core__store_room(const struct core *c);

/* Count a change the store could not make durable, and log it. */
void core__store_error(struct core *c, const char *what, int err);

#endif
