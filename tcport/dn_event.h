#ifndef TC_TCPORT_DN_EVENT_H
#define TC_TCPORT_DN_EVENT_H

#include <stdbool.h>

#include "proto/tcport.pb-c.h"
#include "server/core/dn_table.h"

/* DN states as the client ports show them (proto/tcport.proto DnState),
 * shared by the TC port (cluster view) and the default port (local view).
 * Loop thread only: they read the DN table. */

/* A DnState and the storage it points to. Strings point into the table's
 * node names (valid until the table changes its nodes) or into dn. */
struct dn_event_state {
    Tc__DnState st;
    Tc__Version ver;
    char dn[DN_DIR_MAX_DIGITS + 1];
};

/* Which event carries a DnState. */
enum dn_event_kind {
    DN_EVENT_INFO = 0,        /* EventAddressInfo */
    DN_EVENT_BACK_IN_SERVICE, /* EventDNBackInService */
    DN_EVENT_OUT_OF_SERVICE,  /* EventDNOutOfService */
    DN_EVENT_REGISTERED,      /* EventRegistered */
    DN_EVENT_UNREGISTERED,    /* EventUnregistered */
};

/* Storage for the event body that wraps the DnState. */
union dn_event_body {
    Tc__EventAddressInfo info;
    Tc__EventDNBackInService back;
    Tc__EventDNOutOfService out;
    Tc__EventRegistered registered;
    Tc__EventUnregistered unregistered;
};

/* k's state now, as this node sees the cluster. Idle DNs: OOS, no owner,
 * no version. */
void dn_event_current(struct dn_event_state *s, const struct dn_table *t, dn_key k);

/* The state a published change describes. */
void dn_event_change(struct dn_event_state *s, const struct dn_table *t, const struct dn_change *c);

/* k's state in the local view (default port): InSrv only while this node
 * owns it; otherwise OOS with owner, source and version left empty. */
void dn_event_local(struct dn_event_state *s, const struct dn_table *t, dn_key k);

/* The local view of the state a published change describes. */
void dn_event_local_change(struct dn_event_state *s, const struct dn_table *t,
                           const struct dn_change *c);

/* The kind for a DN the client last saw with status seen and that is now
 * now: a status change, or an address info. */
enum dn_event_kind dn_event_kind_for(enum dn_status seen, enum dn_status now);

/* Make ev (already initialised) carry st as kind, wrapped in *body. */
void dn_event_set(Tc__Event *ev, union dn_event_body *body, enum dn_event_kind kind,
                  Tc__DnState *st);

/* The first directory key at or after k, or DN_KEY_NONE past the end; *hi
 * gets the last key of its range, so callers can walk a range without
 * searching again. O(log ranges). Keys sort like the directory. */
dn_key dn_event_dir_from(const struct dn_dir *d, dn_key k, dn_key *hi);

#endif
