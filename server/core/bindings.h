#ifndef TC_SERVER_CORE_BINDINGS_H
#define TC_SERVER_CORE_BINDINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "server/base/slab.h"
#include "server/base/u64map.h"
#include "server/config/dn_dir.h"

/* A binding's transport; the same values as enum sip_proto (server/sip). */
#define BINDING_UDP 0
#define BINDING_TCP 1

/* The SIP bindings held at this node: for each DN, its registered Contacts
 * with absolute expiry times (DESIGN §1 "binding"). Loop thread only.
 *
 * Sized for a million bindings: one allocation per binding holding its
 * strings inline, a per-DN index in a u64map (which grows incrementally, so
 * no REGISTER pays for a full rehash), and a timing wheel of one-second
 * slots so expiry costs O(expired) per tick, whatever the total. */

struct binding {
    struct binding *next;                    /* next binding of the same DN */
    struct binding *wheel_prev, *wheel_next; /* expiry wheel slot list */
    dn_key dn;
    uint64_t expires_ms;    /* wall clock, ms since the epoch */
    uint64_t registered_ms; /* when first registered */
    uint32_t cseq;
    uint16_t contact_len; /* strlen of the contact; the others end at their NUL */
    uint8_t proto : 7;      /* BINDING_UDP or BINDING_TCP */
    uint8_t has_params : 1; /* params follow received; else none, not even a NUL */
    /* contact NUL call_id NUL received NUL [params NUL], allocated to its
     * exact size: the header is 55 bytes, so a typical binding (86 bytes
     * of strings) fits a 144-byte slab slot; an empty params' NUL would
     * take it to the next (152) for nothing. */
    char data[];
};

static inline const char *binding_contact(const struct binding *b)
{
    return b->data;
}

static inline const char *binding_call_id(const struct binding *b)
{
    return b->data + b->contact_len + 1;
}

static inline const char *binding_received(const struct binding *b)
{
    const char *call_id = binding_call_id(b);

    return call_id + strlen(call_id) + 1;
}

/* The Contact header parameters registered with the binding, to be echoed
 * in the 200 (";+sip.instance=...;reg-id=1", RFC 5626), or "". */
static inline const char *binding_params(const struct binding *b)
{
    const char *received;

    if (!b->has_params)
        return "";
    received = binding_received(b);
    return received + strlen(received) + 1;
}

struct bindings_dn {
    dn_key dn; /* the map key; first, as u64map requires */
    struct binding *head;
    uint16_t count; /* bindings in the list */
    /* The next REGISTER accepted for the DN counts as an initial
     * registration (a claim) unless the DN is owned here: set when its
     * bindings came back from the store at a restart (DESIGN §3
     * "Restart"), or when the claim of an initial registration was
     * refused. Set and cleared by the core. */
    bool claim_next;
};

#define BINDINGS_WHEEL_SLOTS 8192 /* one second each */

struct bindings {
    struct u64map dns; /* of struct bindings_dn; entries are never removed */
    uint64_t n_bindings;
    struct binding *wheel[BINDINGS_WHEEL_SLOTS];
    uint64_t wheel_sec; /* the next second the wheel will look at */
    /* Bindings come from a slab: a million malloc() chunks cost 8 bytes
     * of header each, sizes rounded up to 16, and - worse - sat between the
     * loop's short-lived allocations (store changes, answers), whose freed
     * holes stayed resident: about 50 bytes per binding at 1M. */
    struct slab slab;
};

int bindings_init(struct bindings *bs, uint64_t now_ms);
void bindings_free(struct bindings *bs);

/* Make room for entries of n DNs in all, so that adding them does not grow
 * the index (u64map_reserve()): before a restore. Returns 0 or -ENOMEM (bs
 * is unchanged in content and still usable). */
int bindings_reserve(struct bindings *bs, size_t n);

/* The DN's entry, created when create is true. NULL: absent, or -ENOMEM
 * when create is true; always NULL for DN_KEY_NONE. The pointer is valid
 * until the next call that creates an entry. */
struct bindings_dn *bindings_dn(struct bindings *bs, dn_key dn, bool create);

/* A new entry for dn, which the caller knows has none (a restore reading
 * DNs in increasing order): no look-up (u64map_insert_new()). NULL on
 * -ENOMEM or for DN_KEY_NONE. Valid as bindings_dn()'s. Entries are kept
 * in the order they were made, which bindings_next_dn() follows. */
struct bindings_dn *bindings_dn_append(struct bindings *bs, dn_key dn);

/* Prefetch what bindings_dn_append() of dn will touch (u64map_prefetch()). */
static inline void bindings_prefetch(const struct bindings *bs, dn_key dn)
{
    u64map_prefetch(&bs->dns, dn);
}

/* Iterate over the DN entries (some may have no binding left), in no
 * particular order: set *cursor to 0, then call until NULL. Valid only while
 * no entry is created; bindings may be added to or removed from the entry
 * returned. */
struct bindings_dn *bindings_next_dn(struct bindings *bs, size_t *cursor);

/* The DN's binding with this contact URI (exact byte match), or NULL. */
struct binding *bindings_find(struct bindings *bs, dn_key dn, const char *contact, size_t len);

/* Make a new binding of bs (not yet added). Strings are copied; params
 * (the Contact's header parameters, see binding_params()) may be NULL for
 * none. Returns NULL on -ENOMEM, when a string is longer than 65535 bytes
 * or when call_id holds a NUL. Free it with binding_free() on the same bs,
 * never free(). */
struct binding *binding_new(struct bindings *bs, dn_key dn, const char *contact, size_t contact_len,
                            const char *call_id, size_t call_id_len, const char *received,
                            const char *params, uint8_t proto, uint32_t cseq, uint64_t expires_ms,
                            uint64_t registered_ms);

/* binding_new() with received and params given by their lengths (no NUL
 * inside; params may be NULL when params_len is 0). */
struct binding *binding_new_n(struct bindings *bs, dn_key dn, const char *contact,
                              size_t contact_len, const char *call_id, size_t call_id_len,
                              const char *received, size_t received_len, const char *params,
                              size_t params_len, uint8_t proto, uint32_t cseq, uint64_t expires_ms,
                              uint64_t registered_ms);

/* Free b, made by binding_new() on bs and not in the set (or taken out of
 * it by bindings_expire()). NULL is fine. */
void binding_free(struct bindings *bs, struct binding *b);

/* Add b (from binding_new) to its DN; the set takes it. If the DN already
 * has a binding with the same contact, that one is replaced and freed.
 * Returns 0 or -ENOMEM (b is then freed). */
int bindings_add(struct bindings *bs, struct binding *b);

/* bindings_add() for b whose DN's entry the caller holds (d, from
 * bindings_dn() or bindings_dn_append() for b->dn): no look-up in the DN
 * index. Cannot fail. */
void bindings_add_to(struct bindings *bs, struct bindings_dn *d, struct binding *b);

/* Take b out of the set without freeing it: the caller owns it again (it
 * may add it back with bindings_add(), or binding_free() it). */
void bindings_take(struct bindings *bs, struct binding *b);

/* Remove b from the set and free it. */
void bindings_remove(struct bindings *bs, struct binding *b);

/* Take every binding whose expiry is at or before now_ms out of the set and
 * call fn for it; fn takes the binding and must binding_free() it. */
void bindings_expire(struct bindings *bs, uint64_t now_ms, void (*fn)(void *arg, struct binding *b),
                     void *arg);

/* Remaining seconds of b at now_ms (0 when due). */
uint32_t binding_remaining(const struct binding *b, uint64_t now_ms);

#endif
