#include "server/core/bindings.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EXPIRES_MAX (((uint64_t)1 << 48) - 1)

static struct binding *at(const struct bindings *bs, uint32_t h)
{
    return slab_ptr(&bs->slab, h);
}

static uint32_t handle(const struct bindings *bs, const struct binding *b)
{
    return slab_handle(&bs->slab, b);
}

/* Where received starts in b's data. */
static const char *received_at(const struct binding *b)
{
    const char *call_id = binding_call_id(b);

    return call_id + strlen(call_id) + 1;
}

const char *binding_received(const struct binding *b, char *buf)
{
    if (b->addr == RECEIVED_ADDR_TEXT)
        return received_at(b);
    received_addr_format(b->addr, (const uint8_t *)received_at(b), b->proto == BINDING_TCP, buf);
    return buf;
}

const char *binding_params(const struct binding *b)
{
    const char *r;

    if (!b->has_params)
        return "";
    r = received_at(b);
    if (b->addr == RECEIVED_ADDR_TEXT)
        return r + strlen(r) + 1;
    return r + received_addr_size(b->addr);
}

/* An out-of-set binding keeps its DN's key in its wheel links. */
static void hold_key(struct binding *b, dn_key dn)
{
    b->next = 0;
    b->in_set = 0;
    b->wheel_prev = (uint32_t)dn;
    b->wheel_next = (uint32_t)(dn >> 32);
}

/* The last binding of b's DN list (b in the set). */
static const struct binding *tail_of(const struct bindings *bs, const struct binding *b)
{
    while (!(b->next & BINDING_TAIL))
        b = at(bs, b->next);
    return b;
}

/* The entry of b, in the set, and its position. */
static struct dn_entry *entry_of(const struct bindings *bs, const struct binding *b, uint32_t *pos)
{
    *pos = tail_of(bs, b)->next & ~BINDING_TAIL;
    return u64map_at(bs->dns, *pos);
}

dn_key binding_dn(const struct bindings *bs, const struct binding *b)
{
    uint32_t pos;

    if (!b->in_set)
        return (dn_key)b->wheel_next << 32 | b->wheel_prev;
    return entry_of(bs, b, &pos)->key;
}

void binding_free(struct bindings *bs, struct binding *b)
{
    if (b != NULL)
        slab_free(&bs->slab, b);
}

/* A reload removed an entry and moved another into its place (pos): the
 * tail of its bindings says where it is now. */
static void on_entry_moved(void *arg, void *elem, size_t pos)
{
    struct bindings *bs = arg;
    struct dn_entry *e = elem;
    struct binding *b;

    if (e->bind_head == 0)
        return;
    b = at(bs, e->bind_head);
    while (!(b->next & BINDING_TAIL))
        b = at(bs, b->next);
    b->next = BINDING_TAIL | (uint32_t)pos;
}

int bindings_init(struct bindings *bs, struct u64map *dns, uint64_t now_ms)
{
    memset(bs, 0, sizeof(*bs));
    slab_init(&bs->slab);
    bs->wheel_sec = now_ms / 1000;
    bs->dns = dns;
    u64map_set_move_hook(dns, on_entry_moved, bs);
    return 0;
}

void bindings_free(struct bindings *bs)
{
    struct dn_entry *e;
    size_t cursor = 0;

    if (bs->dns == NULL)
        return;
    /* The slab frees every binding at once; the entries forget them. The
     * map may be gone already (then it is empty). */
    while ((e = u64map_next(bs->dns, &cursor)) != NULL) {
        e->bind_head = 0;
        e->bind_flags = 0;
    }
    if (bs->dns->moved_arg == bs)
        u64map_set_move_hook(bs->dns, NULL, NULL);
    slab_destroy(&bs->slab);
    memset(bs, 0, sizeof(*bs));
}

int bindings_reserve(struct bindings *bs, size_t n)
{
    return u64map_reserve(bs->dns, n) ? 0 : -ENOMEM;
}

struct dn_entry *bindings_dn(const struct bindings *bs, dn_key dn)
{
    /* The map never holds key 0. */
    if (dn == DN_KEY_NONE)
        return NULL;
    return u64map_find(bs->dns, dn);
}

struct dn_entry *bindings_dn_make(struct bindings *bs, dn_key dn, uint32_t *pos)
{
    struct dn_entry *e;
    size_t p;

    if (dn == DN_KEY_NONE)
        return NULL;
    /* Positions share the tail's 32 bits with BINDING_TAIL. */
    if (u64map_count(bs->dns) >= BINDING_TAIL && u64map_find(bs->dns, dn) == NULL)
        return NULL;
    e = u64map_insert_pos(bs->dns, dn, &p);
    *pos = (uint32_t)p;
    return e;
}

struct dn_entry *bindings_dn_append(struct bindings *bs, dn_key dn, uint32_t *pos)
{
    size_t p = u64map_count(bs->dns);

    if (dn == DN_KEY_NONE || p >= BINDING_TAIL)
        return NULL;
    *pos = (uint32_t)p;
    return u64map_insert_new(bs->dns, dn);
}

unsigned bindings_count(const struct bindings *bs, const struct dn_entry *e)
{
    unsigned n = 0;

    for (const struct binding *b = bindings_first(bs, e); b != NULL; b = binding_next(bs, b))
        n++;
    return n;
}

struct binding *bindings_find(struct bindings *bs, dn_key dn, const char *contact, size_t len)
{
    for (struct binding *b = bindings_first(bs, bindings_dn(bs, dn)); b != NULL;
         b = binding_next(bs, b)) {
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
                         strlen(received), params, params != NULL ? strlen(params) : 0, proto, cseq,
                         expires_ms, registered_ms);
}

struct binding *binding_new_n(struct bindings *bs, dn_key dn, const char *contact,
                              size_t contact_len, const char *call_id, size_t call_id_len,
                              const char *received, size_t received_len, const char *params,
                              size_t params_len, uint8_t proto, uint32_t cseq, uint64_t expires_ms,
                              uint64_t registered_ms)
{
    size_t head = offsetof(struct binding, data);
    uint8_t addr[18];
    unsigned kind;
    size_t rlen;
    struct binding *b;
    char *p;

    if (contact_len > UINT16_MAX || call_id_len > UINT16_MAX || received_len > UINT16_MAX ||
        params_len > UINT16_MAX)
        return NULL;
    /* The call-id and received strings are found by their NUL. */
    if (memchr(call_id, '\0', call_id_len) != NULL)
        return NULL;
    kind = received_addr_pack(received, received_len, proto == BINDING_TCP, addr);
    rlen = kind == RECEIVED_ADDR_TEXT ? received_len + 1 : received_addr_size(kind);
    /* Not sizeof(*b): that pads the header to 32, and the whole may then
     * take the next slot size for no use. */
    b = slab_alloc(&bs->slab, head + contact_len + call_id_len + 2 + rlen +
                                      (params_len > 0 ? params_len + 1 : 0));
    if (b == NULL)
        return NULL;
    memset(b, 0, head);
    hold_key(b, dn);
    if (expires_ms > EXPIRES_MAX)
        expires_ms = EXPIRES_MAX;
    b->expires_lo = (uint32_t)expires_ms;
    b->expires_hi = (uint16_t)(expires_ms >> 32);
    b->registered_s =
            registered_ms / 1000 > UINT32_MAX ? UINT32_MAX : (uint32_t)(registered_ms / 1000);
    b->cseq = cseq;
    b->proto = proto == BINDING_TCP;
    b->addr = kind & 3;
    b->contact_len = (uint16_t)contact_len;
    p = b->data;
    memcpy(p, contact, contact_len);
    p[contact_len] = '\0';
    p += contact_len + 1;
    memcpy(p, call_id, call_id_len);
    p[call_id_len] = '\0';
    p += call_id_len + 1;
    if (kind == RECEIVED_ADDR_TEXT) {
        memcpy(p, received, received_len);
        p[received_len] = '\0';
    } else {
        memcpy(p, addr, rlen);
    }
    if (params_len > 0) {
        p += rlen;
        memcpy(p, params, params_len);
        p[params_len] = '\0';
        b->has_params = 1;
    }
    return b;
}

static uint32_t *wheel_slot(struct bindings *bs, uint64_t expires_ms)
{
    uint64_t sec = (expires_ms + 999) / 1000;

    /* Anything already due goes where the next tick looks first. */
    if (sec < bs->wheel_sec)
        sec = bs->wheel_sec;
    return &bs->wheel[sec % BINDINGS_WHEEL_SLOTS];
}

static void wheel_insert(struct bindings *bs, struct binding *b, uint32_t h)
{
    uint32_t *slot = wheel_slot(bs, binding_expires_ms(b));

    b->wheel_prev = 0;
    b->wheel_next = *slot;
    if (*slot != 0)
        at(bs, *slot)->wheel_prev = h;
    *slot = h;
}

static void wheel_unlink(struct bindings *bs, struct binding *b, uint32_t h)
{
    if (b->wheel_prev != 0) {
        at(bs, b->wheel_prev)->wheel_next = b->wheel_next;
    } else {
        uint32_t *slot = wheel_slot(bs, binding_expires_ms(b));

        /* The head may sit in the "due now" slot it was moved to. */
        if (*slot != h) {
            for (size_t i = 0; i < BINDINGS_WHEEL_SLOTS; i++) {
                if (bs->wheel[i] == h) {
                    slot = &bs->wheel[i];
                    break;
                }
            }
        }
        *slot = b->wheel_next;
    }
    if (b->wheel_next != 0)
        at(bs, b->wheel_next)->wheel_prev = b->wheel_prev;
    b->wheel_prev = b->wheel_next = 0;
}

/* Take b (handle h) out of its DN's list; it holds its DN's key after. */
static void dn_unlink(struct bindings *bs, struct binding *b, uint32_t h)
{
    uint32_t pos;
    struct dn_entry *e = entry_of(bs, b, &pos);

    if (e->bind_head == h) {
        e->bind_head = b->next & BINDING_TAIL ? 0 : b->next;
    } else {
        struct binding *prev = at(bs, e->bind_head);

        while (prev->next != h)
            prev = at(bs, prev->next);
        prev->next = b->next;
    }
    bs->n_bindings--;
    hold_key(b, e->key);
}

void bindings_add_to(struct bindings *bs, struct dn_entry *e, uint32_t pos, struct binding *b)
{
    uint32_t h = handle(bs, b);

    for (struct binding *old = bindings_first(bs, e); old != NULL; old = binding_next(bs, old)) {
        if (old->contact_len == b->contact_len &&
            memcmp(binding_contact(old), binding_contact(b), b->contact_len) == 0) {
            bindings_remove(bs, old);
            break;
        }
    }
    b->next = e->bind_head != 0 ? e->bind_head : BINDING_TAIL | pos;
    b->in_set = 1;
    e->bind_head = h;
    bs->n_bindings++;
    wheel_insert(bs, b, h);
}

int bindings_add(struct bindings *bs, struct binding *b)
{
    uint32_t pos;
    struct dn_entry *e = bindings_dn_make(bs, binding_dn(bs, b), &pos);

    if (e == NULL) {
        binding_free(bs, b);
        return -ENOMEM;
    }
    bindings_add_to(bs, e, pos, b);
    return 0;
}

void bindings_take(struct bindings *bs, struct binding *b)
{
    uint32_t h = handle(bs, b);

    wheel_unlink(bs, b, h);
    dn_unlink(bs, b, h);
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
        uint32_t *slot = &bs->wheel[bs->wheel_sec % BINDINGS_WHEEL_SLOTS];
        uint32_t h = *slot;

        while (h != 0) {
            struct binding *b = at(bs, h);
            uint32_t next = b->wheel_next;

            if (binding_expires_ms(b) <= now_ms) {
                wheel_unlink(bs, b, h);
                dn_unlink(bs, b, h);
                fn(arg, b);
            }
            h = next;
        }
    }
}

uint32_t binding_remaining(const struct binding *b, uint64_t now_ms)
{
    uint64_t expires_ms = binding_expires_ms(b);

    if (expires_ms <= now_ms)
        return 0;
    return (uint32_t)((expires_ms - now_ms + 500) / 1000);
}
