#ifndef TC_SERVER_SIP_SIP_FIELDS_H
#define TC_SERVER_SIP_SIP_FIELDS_H

#include <stdbool.h>
#include <stddef.h>

#include "server/sip/sip_msg.h"
#include "server/sip/sip_scan.h"

/* sip_fields: reads and checks the header fields of a struct sip_msg from
 * the header index sip_msg built (RFC 3261 §8.1.1, §10.3, §20; RFC 4475
 * §3.1.2): the fields every message needs at once, Contact and
 * Authorization when sip_msg is asked for them. Internal to sip_msg. Pure:
 * any thread, one message at a time. */

struct sip_arena_chunk;
struct sip_auth_digest;

/* Storage behind what a message exposes. The caller provides the arena
 * (arena_cap bytes) and frees it; sip_fields_release() frees the rest. */
struct sip_fields_mem {
    char *arena;
    size_t arena_used, arena_cap;
    struct sip_arena_chunk *extra; /* strings that did not fit the arena */
    bool oom;
    struct sip_contact *contacts; /* the array behind sip_msg_contacts() */
    size_t contacts_cap;
    struct sip_auth_digest *digest; /* behind sip_msg_auth(), when Digest */
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
 * sip_fields_release() free it; with p NULL, only reserve n + 1 bytes (the
 * last a NUL) for the caller to fill. Without memory: "" and mem->oom set. */
const char *sip_fields_str(struct sip_fields_mem *mem, const char *p, size_t n);

/* Fill m from src (m->is_request, m->method and m->method_id already set):
 * Request-URI, Vias, From, To, Call-ID, CSeq, Max-Forwards, Expires,
 * Content-Type, User-Agent. Returns 0, -EPROTO with err->code and
 * err->reason set, or -ENOMEM. */
int sip_fields_read(struct sip_msg *m, const struct sip_fields_src *src, struct sip_fields_mem *mem,
                    struct sip_msg_err *err);

/* Read every Contact entry of m into out (the entries live in mem).
 * Returns 0, -EPROTO (a bad Contact or a misplaced "*"), -EDOM (an
 * expires parameter that is not delta-seconds) or -ENOMEM. */
int sip_fields_contacts(const struct sip_msg *m, const struct sip_fields_src *src,
                        struct sip_fields_mem *mem, struct sip_contacts *out);

/* Read the first Authorization header into out (its strings live in mem).
 * Returns 0 (out->scheme NULL without the header), -EPROTO or -ENOMEM. */
int sip_fields_auth(const struct sip_fields_src *src, struct sip_fields_mem *mem,
                    struct sip_auth *out);

/* Free the chunks, contacts and digest mem holds; not the arena. */
void sip_fields_release(struct sip_fields_mem *mem);

#endif
