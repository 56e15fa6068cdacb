#ifndef TC_SERVER_SIP_SIP_FIELDS_H
#define TC_SERVER_SIP_SIP_FIELDS_H

#include <stdbool.h>
#include <stddef.h>

#include "server/sip/sip_msg.h"
#include "server/sip/sip_scan.h"

/* sip_fields: fills the fields of a struct sip_msg from the header index
 * sip_msg built and from libosip2's parse, and checks what libosip2 lets
 * through (RFC 3261 §8.1.1, §10.3, §20; RFC 4475 §3.1.2). Internal to
 * sip_msg. Pure: any thread, one message at a time. */

struct sip_arena_chunk;

/* Storage behind what a message exposes. The caller provides the arena
 * (arena_cap bytes) and frees it; sip_fields_release() frees the rest. */
struct sip_fields_mem {
    char *arena;
    size_t arena_used, arena_cap;
    struct sip_arena_chunk *extra; /* strings that did not fit the arena */
    bool oom;
    struct sip_contact *contacts; /* m->contacts points here */
    size_t contacts_cap;
    struct sip_auth auth; /* m->auth points here */
};

/* The checked header text of a message, borrowed. */
struct sip_fields_src {
    const struct sip_hdr *hdrs;
    unsigned n_hdrs;
    const unsigned *first; /* index of the first header, per enum sip_hdr_id */
    const unsigned *count; /* headers per enum sip_hdr_id */
    struct sip_span uri;   /* the Request-URI as received */
};

/* Copy n bytes into mem as a C string, valid until the arena and
 * sip_fields_release() free it. Without memory: "" and mem->oom set. */
const char *sip_fields_str(struct sip_fields_mem *mem, const char *p, size_t n);

/* Fill m from src and m->osip (parsed; m->is_request, m->method and
 * m->method_id already set). Returns 0, -EPROTO with err->code and
 * err->reason set, or -ENOMEM. */
int sip_fields_read(struct sip_msg *m, const struct sip_fields_src *src, struct sip_fields_mem *mem,
                    struct sip_msg_err *err);

/* Free the chunks and contacts mem holds; not the arena. */
void sip_fields_release(struct sip_fields_mem *mem);

#endif
