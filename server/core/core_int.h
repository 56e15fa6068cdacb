#ifndef TC_SERVER_CORE_CORE_INT_H
#define TC_SERVER_CORE_CORE_INT_H

#include "server/core/core.h"

/* Shared by the files of the core (core.c, core_bindings.c,
 * core_restore.c); nothing outside server/core includes it. Loop thread
 * only. */

/* Make ch, just decided in the table, durable, then publish it and call
 * done (may be NULL). A change the store refuses is undone in the table
 * and never published: at once when it cannot be queued (the return is
 * then the error and done is never called), or before done when its
 * commit fails. Returns 0 (done will be called) or the error. */
int core__persist(struct core *c, const struct dn_change *ch, core_done_cb done, void *arg);

/* 0 when the store has room for one more change, -EBUSY when its queue is
 * full, -ESHUTDOWN once it is closed. Checked before the table changes, so
 * a decision is never made without being made durable. */
int core__store_room(const struct core *c);

/* Count a change the store could not make durable, and log it. */
void core__store_error(struct core *c, const char *what, int err);

#endif
