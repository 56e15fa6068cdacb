/* The default port's index from a DN to the registrations that name it:
 * open addressing with shift-back deletion, grown before it is half full.
 * Loop thread only. */
#include <stdlib.h>

#include "tcport/default_port_int.h"

#define MIN_SLOTS 64

/* --- DN -> registrations: open addressing, shift-back deletion --- */

static size_t slot_home(dn_key k, size_t mask)
{
    k ^= k >> 31;
    k *= UINT64_C(0x9e3779b97f4a7c15);
    k ^= k >> 29;
    return (size_t)k & mask;
}

static size_t slot_find(const struct dp_slot *slots, size_t n_slots, dn_key k)
{
    size_t mask = n_slots - 1, i = slot_home(k, mask);

    while (slots[i].key != DN_KEY_NONE && slots[i].key != k)
        i = (i + 1) & mask;
    return i;
}

struct dp_reg *default_port__regs_of(const struct default_port *p, dn_key k)
{
    size_t i;

    if (p->n_keys == 0)
        return NULL;
    i = slot_find(p->slots, p->n_slots, k);
    return p->slots[i].key == k ? p->slots[i].head : NULL;
}

static int idx_grow(struct default_port *p)
{
    size_t n = p->n_slots ? p->n_slots * 2 : MIN_SLOTS;
    struct dp_slot *slots = calloc(n, sizeof(*slots));

    if (slots == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < p->n_slots; i++) {
        if (p->slots[i].key != DN_KEY_NONE)
            slots[slot_find(slots, n, p->slots[i].key)] = p->slots[i];
    }
    free(p->slots);
    p->slots = slots;
    p->n_slots = n;
    return 0;
}

int default_port__idx_add(struct default_port *p, struct dp_reg *r)
{
    size_t i;

    if ((p->n_keys + 1) * 4 > p->n_slots * 3 && idx_grow(p) != 0)
        return -ENOMEM;
    i = slot_find(p->slots, p->n_slots, r->key);
    if (p->slots[i].key == DN_KEY_NONE) {
        p->slots[i].key = r->key;
        p->n_keys++;
    }
    r->key_prev = NULL;
    r->key_next = p->slots[i].head;
    if (r->key_next != NULL)
        r->key_next->key_prev = r;
    p->slots[i].head = r;
    return 0;
}

static void idx_del_slot(struct default_port *p, size_t i)
{
    size_t mask = p->n_slots - 1, j = i;

    for (;;) {
        size_t h;

        j = (j + 1) & mask;
        if (p->slots[j].key == DN_KEY_NONE)
            break;
        h = slot_home(p->slots[j].key, mask);
        if (i <= j ? (h <= i || h > j) : (h <= i && h > j)) {
            p->slots[i] = p->slots[j];
            i = j;
        }
    }
    p->slots[i].key = DN_KEY_NONE;
    p->slots[i].head = NULL;
    p->n_keys--;
}

void default_port__idx_del(struct default_port *p, struct dp_reg *r)
{
    if (r->key_next != NULL)
        r->key_next->key_prev = r->key_prev;
    if (r->key_prev != NULL) {
        r->key_prev->key_next = r->key_next;
        return;
    }
    size_t i = slot_find(p->slots, p->n_slots, r->key);

    p->slots[i].head = r->key_next;
    if (p->slots[i].head == NULL)
        idx_del_slot(p, i);
}

/* --- registrations --- */
