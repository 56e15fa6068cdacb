#include "tcport/call_event.h"

#include <string.h>

#include "server/core/core.h"
#include "server/core/dn_table.h"

/* The generated structs want char *; the strings are only read. */
static char *str(const char *s)
{
    return (char *)(s != NULL ? s : "");
}

void call_event_fill(struct call_event *e, const struct dn_table *t, const struct core_call *call)
{
    tc__event_call_delivered__init(&e->pb);
    e->dn[0] = '\0';
    if (call->dn != DN_KEY_NONE)
        dn_key_format(call->dn, e->dn, sizeof(e->dn));
    e->pb.call_id = str(call->call_id);
    e->pb.dn = e->dn;
    e->pb.code = call->code;
    e->pb.outcome = str(call->outcome);
    e->pb.origin = str(dn_table_node_name(t, call->origin));
    e->pb.target = str(dn_table_node_name(t, call->target));
    e->pb.contact = str(call->contact);
    e->pb.other_dn = str(call->other_dn);
    e->pb.call_type =
            call->outbound ? TC__CALL_TYPE__CALL_TYPE_OUTBOUND : TC__CALL_TYPE__CALL_TYPE_INBOUND;
    e->pb.time_unix_ms = call->time_ms;
}

void call_event_set(Tc__Event *ev, struct call_event *e)
{
    ev->body_case = TC__EVENT__BODY_CALL_DELIVERED;
    ev->call_delivered = &e->pb;
}

const char *call_event_outcome_label(const char *outcome, char *buf)
{
    size_t n = outcome != NULL ? strnlen(outcome, CALL_EVENT_OUTCOME_MAX + 1) : 0;

    if (n == 0 || n > CALL_EVENT_OUTCOME_MAX ||
        strspn(outcome, "abcdefghijklmnopqrstuvwxyz0123456789_") != n) {
        memcpy(buf, "other", sizeof("other"));
        return buf;
    }
    memcpy(buf, outcome, n);
    buf[n] = '\0';
    return buf;
}
