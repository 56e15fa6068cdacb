#include "server/core/bindings.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void binding_free(struct bindings *bs, struct binding *b)
{
    if (b != NULL)
        slab_free(&bs->slab, b);
}

int bindings_init(struct bindings *bs, uint64_t now_ms)
{
    memset(bs, 0, sizeof(*bs));
    slab_init(&bs->slab);
    bs->wheel_sec = now_ms / 1000;
    u64map_init(&bs->dns, sizeof(struct bindings_dn));
    return 0;
}

void bindings_free(struct bindings *bs)
{
    struct bindings_dn *d;
    size_t cursor = 0;

    while ((d = u64map_next(&bs->dns, &cursor)) != NULL) {
        struct binding *b = d->head;

        while (b != NULL) {
            struct binding *next = b->next;

            binding_free(bs, b);
            b = next;
        }
    }
    slab_destroy(&bs->slab);
    u64map_free(&bs->dns);
    memset(bs, 0, sizeof(*bs));
}

int bindings_reserve(struct bindings *bs, size_t n)
{
    return u64map_reserve(&bs->dns, n) ? 0 : -ENOMEM;
}

struct bindings_dn *bindings_dn(struct bindings *bs, dn_key dn, bool create)
{
    /* The map never holds key 0. */
    if (dn == DN_KEY_NONE)
        return NULL;
    if (!create)
        return u64map_find(&bs->dns, dn);
    /* Entries are never removed (a DN that had bindings is likely to get
     * them again): pointers to them move only when a new DN is added. */
    return u64map_insert(&bs->dns, dn);
}

struct bindings_dn *bindings_dn_append(struct bindings *bs, dn_key dn)
{
    if (dn == DN_KEY_NONE)
        return NULL;
    return u64map_insert_new(&bs->dns, dn);
}

struct bindings_dn *bindings_next_dn(struct bindings *bs, size_t *cursor)
{
    return u64map_next(&bs->dns, cursor);
}

struct binding *bindings_find(struct bindings *bs, dn_key dn, const char *contact, size_t len)
{
    struct bindings_dn *d = bindings_dn(bs, dn, false);

    if (d == NULL)
        return NULL;
    for (struct binding *b = d->head; b != NULL; b = b->next) {
        if (b->contact_len == len && memcmp(binding_contact(b), contact, len) == 0)
            return b;
    }
    return NULL;
}

struct binding *binding_new(struct bindings *bs, dn_key dn, const char *contact, size_t contact_len,
                            const char *call_id, size_t call_id_len, const char *received,
                            const char *params, uint8_t proto, uint32_t cseq, uint64_t expires_ms,
                            uint64_t registered_ms)
{
    return binding_new_n(bs, dn, contact, contact_len, call_id, call_id_len, received,
                         strlen(received), params, params != NULL ? strlen(params) : 0, proto,
                         cseq, expires_ms, registered_ms);
}

struct binding *binding_new_n(struct bindings *bs, dn_key dn, const char *contact,
                              size_t contact_len, const char *call_id, size_t call_id_len,
                              const char *received, size_t received_len, const char *params,
                              size_t params_len, uint8_t proto, uint32_t cseq, uint64_t expires_ms,
                              uint64_t registered_ms)
{
    size_t head = offsetof(struct binding, data);
    struct binding *b;
    char *p;

    if (contact_len > UINT16_MAX || call_id_len > UINT16_MAX || received_len > UINT16_MAX ||
        params_len > UINT16_MAX)
        return NULL;
    /* The call-id and received strings are found by their NUL. */
    if (memchr(call_id, '\0', call_id_len) != NULL)
        return NULL;
    /* Not sizeof(*b): that pads the header to 56, and the whole may then
     * take the next slot size for no use. */
    b = slab_alloc(&bs->slab, head + contact_len + call_id_len + received_len + 3 +
                                      (params_len > 0 ? params_len + 1 : 0));
    if (b == NULL)
        return NULL;
    memset(b, 0, head);
    b->dn = dn;
    b->expires_ms = expires_ms;
    b->registered_ms = registered_ms;
    b->cseq = cseq;
    b->proto = proto;
    b->contact_len = (uint16_t)contact_len;
    p = b->data;
    memcpy(p, contact, contact_len);
    p[contact_len] = '\0';
    p += contact_len + 1;
    memcpy(p, call_id, call_id_len);
    p[call_id_len] = '\0';
    p += call_id_len + 1;
    memcpy(p, received, received_len);
    p[received_len] = '\0';
    if (params_len > 0) {
        p += received_len + 1;
        memcpy(p, params, params_len);
        p[params_len] = '\0';
        b->has_params = 1;
    }
    return b;
}

static struct binding **wheel_slot(struct bindings *bs, uint64_t expires_ms)
{
    uint64_t sec = (expires_ms + 999) / 1000;

    /* Anything already due goes where the next tick looks first. */
    if (sec < bs->wheel_sec)
        sec = bs->wheel_sec;
    return &bs->wheel[sec % BINDINGS_WHEEL_SLOTS];
}

static void wheel_insert(struct bindings *bs, struct binding *b)
{
    struct binding **slot = wheel_slot(bs, b->expires_ms);

    b->wheel_prev = NULL;
    b->wheel_next = *slot;
    if (*slot != NULL)
        (*slot)->wheel_prev = b;
    *slot = b;
}

static void wheel_unlink(struct bindings *bs, struct binding *b)
{
    if (b->wheel_prev != NULL) {
        b->wheel_prev->wheel_next = b->wheel_next;
    } else {
        struct binding **slot = wheel_slot(bs, b->expires_ms);

        /* The head may sit in the "due now" slot it was moved to. */
        if (*slot != b) {
            for (size_t i = 0; i < BINDINGS_WHEEL_SLOTS; i++) {
                if (bs->wheel[i] == b) {
                    slot = &bs->wheel[i];
                    break;
                }
            }
        }
        *slot = b->wheel_next;
    }
    if (b->wheel_next != NULL)
        b->wheel_next->wheel_prev = b->wheel_prev;
    b->wheel_prev = b->wheel_next = NULL;
}

static void dn_unlink(struct bindings *bs, struct binding *b)
{
    struct bindings_dn *d = bindings_dn(bs, b->dn, false);

    for (struct binding **pp = &d->head; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == b) {
            *pp = b->next;
            d->count--;
            bs->n_bindings--;
            return;
        }
    }
}

void bindings_add_to(struct bindings *bs, struct bindings_dn *d, struct binding *b)
{
    for (struct binding *old = d->head; old != NULL; old = old->next) {
        if (old->contact_len == b->contact_len &&
            memcmp(binding_contact(old), binding_contact(b), b->contact_len) == 0) {
            bindings_remove(bs, old);
            break;
        }
    }
    b->next = d->head;
    d->head = b;
    d->count++;
    bs->n_bindings++;
    wheel_insert(bs, b);
}

int bindings_add(struct bindings *bs, struct binding *b)
{
    struct bindings_dn *d = bindings_dn(bs, b->dn, true);

    if (d == NULL) {
        binding_free(bs, b);
        return -ENOMEM;
    }
    bindings_add_to(bs, d, b);
    return 0;
}

void bindings_take(struct bindings *bs, struct binding *b)
{
    wheel_unlink(bs, b);
    dn_unlink(bs, b);
    b->next = NULL;
}

void bindings_remove(struct bindings *bs, struct binding *b)
{
    bindings_take(bs, b);
    binding_free(bs, b);
}

void bindings_expire(struct bindings *bs, uint64_t now_ms, void (*fn)(void *arg, struct binding *b),
                     void *arg)
{
    uint64_t now_sec = now_ms / 1000;

    /* After a long pause (suspend, clock jump) look at each slot once. */
    if (now_sec > bs->wheel_sec + BINDINGS_WHEEL_SLOTS)
        bs->wheel_sec = now_sec - BINDINGS_WHEEL_SLOTS;
    for (; bs->wheel_sec <= now_sec; bs->wheel_sec++) {
        struct binding **slot = &bs->wheel[bs->wheel_sec % BINDINGS_WHEEL_SLOTS];
        struct binding *b = *slot;

        while (b != NULL) {
            struct binding *next = b->wheel_next;

            if (b->expires_ms <= now_ms) {
                wheel_unlink(bs, b);
                dn_unlink(bs, b);
                fn(arg, b);
            }
            b = next;
        }
    }
}

uint32_t binding_remaining(const struct binding *b, uint64_t now_ms)
{
    if (b->expires_ms <= now_ms)
        return 0;
    return (uint32_t)((b->expires_ms - now_ms + 500) / 1000);
}
