#ifndef TC_SERVER_CORE_BINDINGS_H
#define TC_SERVER_CORE_BINDINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "server/base/slab.h"
#include "server/base/u64map.h"
#include "server/config/dn_dir.h"
#include "server/core/dn_table.h"
#include "server/core/received_addr.h"

/* A binding's transport; the same values as enum sip_proto (server/sip). */
#define BINDING_UDP 0
#define BINDING_TCP 1

/* The longest text binding_received() writes, NUL included. */
#define BINDING_RECEIVED_MAX RECEIVED_ADDR_MAX

/* The SIP bindings held at this node: for each DN, its registered Contacts
 * with absolute expiry times (DESIGN §1 "binding"). Loop thread only.
 *
 * Sized for a million bindings at about 145 bytes each, all told: one slab
 * object per binding holding its strings inline, linked by 32-bit slab
 * handles; the DN's entry is the DN table's (struct dn_entry, in the map
 * the set borrows), which holds the handle of its first binding; and a
 * timing wheel of one-second slots so expiry costs O(expired) per tick,
 * whatever the total. */

/* On the last binding of a DN, next is this bit and the position of the
 * DN's entry in the map (slab handles stay below it). */
#define BINDING_TAIL 0x80000000u

struct binding {
    /* In the set: the next binding of the same DN (a handle), or on the
     * last one BINDING_TAIL | its DN entry's position. Out of it: 0. */
    uint32_t next;
    /* In the set: the expiry wheel slot's list (handles, 0: none). Out
     * of it: the binding's DN key (low, high half). */
    uint32_t wheel_prev, wheel_next;
    uint32_t cseq;
    uint32_t expires_lo;    /* expiry, wall clock ms since the epoch: bits 0-31 */
    uint32_t registered_s;  /* when first registered, seconds since the epoch */
    uint16_t expires_hi;    /* the expiry's bits 32-47 (until the year 10889) */
    uint16_t contact_len;   /* strlen of the contact; the others end at their NUL */
    uint8_t proto : 1;      /* BINDING_UDP or BINDING_TCP */
    uint8_t has_params : 1; /* params follow received; else none, not even a NUL */
    uint8_t addr : 2;       /* RECEIVED_ADDR_*: how received is kept */
    uint8_t in_set : 1;
    /* contact NUL call_id NUL received [params NUL], allocated to its
     * exact size: the header is 29 bytes, so a typical binding (41 bytes
     * of contact, 28 of Call-ID, 6 of IPv4 address) fits a 104-byte slab
     * slot. */
    char data[];
};

static inline uint64_t binding_expires_ms(const struct binding *b)
{
    return (uint64_t)b->expires_hi << 32 | b->expires_lo;
}

/* When first registered, to the second (ms since the epoch). */
static inline uint64_t binding_registered_ms(const struct binding *b)
{
    return (uint64_t)b->registered_s * 1000;
}

static inline const char *binding_contact(const struct binding *b)
{
    return b->data;
}

static inline const char *binding_call_id(const struct binding *b)
{
    return b->data + b->contact_len + 1;
}

/* The source address the REGISTER came from, as the registrar wrote it
 * ("udp:1.2.3.4:5060", "tcp:[::1]:5060"): in buf (BINDING_RECEIVED_MAX
 * bytes) or in b itself. Valid while both are. */
const char *binding_received(const struct binding *b, char *buf);

/* The Contact header parameters registered with the binding, to be echoed
 * in the 200 (";+sip.instance=...;reg-id=1", RFC 5626), or "". */
const char *binding_params(const struct binding *b);

/* The flags of struct dn_entry's bind_flags. */
#define BINDINGS_CLAIM_NEXT 1u
/* The next REGISTER accepted for the DN counts as an initial registration
 * (a claim) unless the DN is owned here: set when its bindings came back
 * from the store at a restart (DESIGN §3 "Restart"), or when the claim of
 * an initial registration was refused. Set and cleared by the core. */
static inline bool bindings_claim_next(const struct dn_entry *e)
{
    return (e->bind_flags & BINDINGS_CLAIM_NEXT) != 0;
}

static inline void bindings_set_claim_next(struct dn_entry *e, bool on)
{
    e->bind_flags = (uint8_t)(on ? e->bind_flags | BINDINGS_CLAIM_NEXT
                                 : e->bind_flags & ~BINDINGS_CLAIM_NEXT);
}

#define BINDINGS_WHEEL_SLOTS 8192 /* one second each */

struct bindings {
    /* Borrowed: the DN table's map of struct dn_entry (an entry made here
     * is idle to the table until a claim). Entries are never removed here;
     * a move of one (a reload's removal) is followed by a hook. */
    struct u64map *dns;
    uint64_t n_bindings;
    uint32_t wheel[BINDINGS_WHEEL_SLOTS]; /* handles */
    uint64_t wheel_sec;                   /* the next second the wheel will look at */
    /* Bindings come from a slab: a million malloc() chunks cost 8 bytes
     * of header each, sizes rounded up to 16, and - worse - sat between the
     * loop's short-lived allocations (store changes, answers), whose freed
     * holes stayed resident: about 50 bytes per binding at 1M. Its handles
     * are half a pointer. */
    struct slab slab;
};

/* Start an empty set over dns, the map of struct dn_entry that the DN table
 * uses (or one of the caller's, for tests), which must outlive the set or
 * be freed before it. Returns 0. */
int bindings_init(struct bindings *bs, struct u64map *dns, uint64_t now_ms);

/* Free every binding; the entries stay, without bindings. */
void bindings_free(struct bindings *bs);

/* Make room for entries of n DNs in all, so that adding them does not grow
 * the index (u64map_reserve()): before a restore. Returns 0 or -ENOMEM (bs
 * is unchanged in content and still usable). */
int bindings_reserve(struct bindings *bs, size_t n);

/* The DN's entry, or NULL; always NULL for DN_KEY_NONE. Valid until the
 * next call that creates or removes an entry. */
struct dn_entry *bindings_dn(const struct bindings *bs, dn_key dn);

/* The DN's entry, made (idle) if absent, and its position in *pos. NULL on
 * -ENOMEM or for DN_KEY_NONE. Valid as bindings_dn()'s. */
struct dn_entry *bindings_dn_make(struct bindings *bs, dn_key dn, uint32_t *pos);

/* A new entry for dn, which the caller knows has none (a restore reading
 * DNs in increasing order): no look-up (u64map_insert_new()). NULL on
 * -ENOMEM or for DN_KEY_NONE. Valid as bindings_dn()'s. */
struct dn_entry *bindings_dn_append(struct bindings *bs, dn_key dn, uint32_t *pos);

/* The first binding of e (from bindings_dn()), or NULL. */
static inline struct binding *bindings_first(const struct bindings *bs, const struct dn_entry *e)
{
    return e != NULL && e->bind_head != 0 ? slab_ptr(&bs->slab, e->bind_head) : NULL;
}

/* The binding after b of the same DN, or NULL. */
static inline struct binding *binding_next(const struct bindings *bs, const struct binding *b)
{
    return b->next != 0 && !(b->next & BINDING_TAIL) ? slab_ptr(&bs->slab, b->next) : NULL;
}

/* How many bindings e holds. */
unsigned bindings_count(const struct bindings *bs, const struct dn_entry *e);

/* The DN of b (in the set or not). */
dn_key binding_dn(const struct bindings *bs, const struct binding *b);

/* The DN's binding with this contact URI (exact byte match), or NULL. */
struct binding *bindings_find(struct bindings *bs, dn_key dn, const char *contact, size_t len);

/* Make a new binding of bs (not yet added). Strings are copied; params
 * (the Contact's header parameters, see binding_params()) may be NULL for
 * none; registered_ms is kept to the second, expires_ms up to 2^48 - 1.
 * Returns NULL on -ENOMEM, when a string is longer than 65535 bytes or
 * when call_id holds a NUL. Free it with binding_free() on the same bs,
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

/* bindings_add() for b whose DN's entry the caller holds (e at position
 * pos, from bindings_dn_make() or bindings_dn_append() for b's DN): no
 * look-up in the DN index. Cannot fail. */
void bindings_add_to(struct bindings *bs, struct dn_entry *e, uint32_t pos, struct binding *b);

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
