#ifndef TC_TCPORT_CALL_EVENT_H
#define TC_TCPORT_CALL_EVENT_H

#include "proto/tcport.pb-c.h"
#include "server/config/dn_dir.h"

struct core_call;
struct dn_table;

/* A call-delivery decision as the client ports show it
 * (proto/tcport.proto EventCallDelivered), shared by the TC port (every
 * call in the cluster) and the default port (calls decided here). Call
 * types: CALL_TYPE_OUTBOUND for a call forwarded to a peer, else
 * CALL_TYPE_INBOUND (struct core_call does not say who called, so
 * CALL_TYPE_INTERNAL is not told apart). Loop thread only (reads the
 * table's node names). */

#define CALL_EVENT_OUTCOME_MAX 32 /* bytes of an outcome used as a metrics label */

/* The message and the storage its DN points to. */
struct call_event {
    Tc__EventCallDelivered pb;
    char dn[DN_DIR_MAX_DIGITS + 1];
};

/* Describe call in e. e's strings borrow call's (valid for the
 * core_call() that published it; NULL becomes "") and the table's node
 * names; pack or copy before either goes. */
void call_event_fill(struct call_event *e, const struct dn_table *t, const struct core_call *call);

/* Make ev (already initialised) carry e. */
void call_event_set(Tc__Event *ev, struct call_event *e);

/* Copy outcome into buf (CALL_EVENT_OUTCOME_MAX + 1 bytes) as a Prometheus
 * label value: "other" when it is empty, too long, or has anything but
 * [a-z0-9_] (it may come from a peer). Returns buf. */
const char *call_event_outcome_label(const char *outcome, char *buf);

#endif
