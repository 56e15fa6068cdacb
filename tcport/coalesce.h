#ifndef TC_TCPORT_COALESCE_H
#define TC_TCPORT_COALESCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/config/dn_dir.h"

/* The DNs a client still has to hear about (DESIGN §5: a slow subscriber's
 * pending changes coalesce per DN). A set of DN keys, each with a 2-bit tag
 * kept from its first insertion (the ports store the status the client
 * last saw), bounded by cap entries: past it an add is refused and the set
 * says so (overflow), and the port falls back to a full snapshot. Memory:
 * 8 bytes per slot, slots a power of two at most 4/3 of the entries plus
 * one doubling (shrunk as it drains); the slots are released when the set
 * empties. Pops take keys in a scattered order. Not
 * thread-safe. */

#define COALESCE_TAG_MAX 3

struct coalesce {
    uint64_t *slots; /* 0: empty; else key | tag << 62 */
    size_t n_slots;  /* 0 or a power of two */
    size_t n;        /* entries */
    size_t cap;      /* most entries allowed */
    size_t cursor;   /* where coalesce_pop() looks next */
    bool overflow;   /* an add was refused since the last coalesce_clear() */
};

/* An empty set of at most cap entries (cap 0: no entry fits). */
void coalesce_init(struct coalesce *s, size_t cap);

/* Release the slots; the set is empty and usable again. */
void coalesce_free(struct coalesce *s);

/* Add k (not DN_KEY_NONE) with tag (<= COALESCE_TAG_MAX) unless it is
 * there; a key already there keeps its first tag. Returns 1 when added, 0
 * when already there, -ENOSPC when the set is full or -ENOMEM (both set
 * overflow). */
int coalesce_add(struct coalesce *s, dn_key k, unsigned tag);

/* True when k is in the set; its tag goes to *tag (may be NULL). */
bool coalesce_has(const struct coalesce *s, dn_key k, unsigned *tag);

/* Remove k. Returns whether it was there. */
bool coalesce_remove(struct coalesce *s, dn_key k);

/* Take any one key out of the set with its tag. Returns false when the set
 * is empty. Every key added is taken by some later call, even when adds and
 * pops alternate. */
bool coalesce_pop(struct coalesce *s, dn_key *k, unsigned *tag);

/* Empty the set, clear overflow and release the slots. */
void coalesce_clear(struct coalesce *s);

/* Bytes the set holds. */
size_t coalesce_bytes(const struct coalesce *s);

#endif
