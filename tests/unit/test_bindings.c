#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/bindings.h"
#include "tests/tc_test.h"

TestSuite(bindings, .fini = tc_test_leak_check);

#define T0 UINT64_C(1795000000000) /* ms since the epoch */

/* Each test runs in its own process: one set is enough. */
static struct bindings bs;
static struct u64map dns; /* of struct dn_entry, as the DN table's */
static char rbuf[BINDING_RECEIVED_MAX];

static int init(uint64_t now_ms)
{
    u64map_init(&dns, sizeof(struct dn_entry));
    return bindings_init(&bs, &dns, now_ms);
}

static void fini(void)
{
    bindings_free(&bs);
    u64map_free(&dns);
}

static struct binding *mk(dn_key dn, const char *contact, uint64_t expires_ms)
{
    struct binding *b = binding_new(&bs, dn, contact, strlen(contact), "cid@x", 5,
                                    "udp:127.0.0.1:9", NULL, 0, 1, expires_ms, T0);

    cr_assert_not_null(b);
    return b;
}

/* The strings of a binding, params last, each found after the other. */
Test(bindings, params_are_kept)
{
    dn_key k = dn_key_make(4, 1001);
    struct binding *b;

    cr_assert_eq(init(T0), 0);
    b = binding_new(&bs, k, "sip:a@h", 7, "cid@x", 5, "udp:127.0.0.1:9",
                    ";+sip.instance=\"<urn:uuid:1>\";reg-id=1", 0, 1, T0 + 1000, T0);
    cr_assert_not_null(b);
    cr_assert_str_eq(binding_contact(b), "sip:a@h");
    cr_assert_str_eq(binding_call_id(b), "cid@x");
    cr_assert_str_eq(binding_received(b, rbuf), "udp:127.0.0.1:9");
    cr_assert_str_eq(binding_params(b), ";+sip.instance=\"<urn:uuid:1>\";reg-id=1");
    binding_free(&bs, b);
    b = mk(k, "sip:b@h", T0 + 1000);
    cr_assert_str_eq(binding_params(b), "");
    binding_free(&bs, b);
    fini();
}

static void on_expired(void *arg, struct binding *b)
{
    (*(int *)arg)++;
    binding_free(&bs, b);
}

Test(bindings, add_find_replace_remove)
{
    dn_key k = dn_key_make(4, 1001);

    cr_assert_eq(init(T0), 0);
    cr_assert_eq(bindings_add(&bs, mk(k, "sip:a@h", T0 + 60000)), 0);
    cr_assert_eq(bindings_add(&bs, mk(k, "sip:b@h", T0 + 60000)), 0);
    cr_assert_eq(bindings_count(&bs, bindings_dn(&bs, k)), 2);
    /* Same contact again replaces, never duplicates. */
    cr_assert_eq(bindings_add(&bs, mk(k, "sip:a@h", T0 + 120000)), 0);
    cr_assert_eq(bindings_count(&bs, bindings_dn(&bs, k)), 2);
    cr_assert_eq(bs.n_bindings, 2);
    struct binding *a = bindings_find(&bs, k, "sip:a@h", 7);

    cr_assert_not_null(a);
    cr_assert_eq(binding_expires_ms(a), T0 + 120000);
    cr_assert_str_eq(binding_call_id(a), "cid@x");
    cr_assert_str_eq(binding_received(a, rbuf), "udp:127.0.0.1:9");
    cr_assert_eq(binding_remaining(a, T0), 120);
    bindings_remove(&bs, a);
    cr_assert_null(bindings_find(&bs, k, "sip:a@h", 7));
    cr_assert_eq(bs.n_bindings, 1);
    fini();
}

Test(bindings, expire_takes_only_due_bindings)
{
    int expired = 0;

    cr_assert_eq(init(T0), 0);
    cr_assert_eq(bindings_add(&bs, mk(dn_key_make(4, 1001), "sip:a@h", T0 + 1500)), 0);
    cr_assert_eq(bindings_add(&bs, mk(dn_key_make(4, 1002), "sip:a@h", T0 + 3000)), 0);
    /* Far beyond one turn of the wheel: must survive the slot's earlier visits. */
    cr_assert_eq(bindings_add(&bs, mk(dn_key_make(4, 1003), "sip:a@h",
                                      T0 + (BINDINGS_WHEEL_SLOTS + 2) * 1000ULL)),
                 0);
    bindings_expire(&bs, T0 + 1000, on_expired, &expired);
    cr_assert_eq(expired, 0);
    bindings_expire(&bs, T0 + 2000, on_expired, &expired);
    cr_assert_eq(expired, 1);
    bindings_expire(&bs, T0 + 4000, on_expired, &expired);
    cr_assert_eq(expired, 2);
    bindings_expire(&bs, T0 + 3000 * 1000ULL, on_expired, &expired);
    cr_assert_eq(expired, 2, "the long binding is not due yet");
    cr_assert_eq(bs.n_bindings, 1);
    bindings_expire(&bs, T0 + (BINDINGS_WHEEL_SLOTS + 3) * 1000ULL, on_expired, &expired);
    cr_assert_eq(expired, 3);
    cr_assert_eq(bs.n_bindings, 0);
    cr_assert_eq(bindings_count(&bs, bindings_dn(&bs, dn_key_make(4, 1001))), 0);
    fini();
}

Test(bindings, many_dns_grow_the_index)
{
    char c[32];
    int expired = 0;

    cr_assert_eq(init(T0), 0);
    for (int i = 0; i < 20000; i++) {
        snprintf(c, sizeof(c), "sip:%d@h", i);
        cr_assert_eq(bindings_add(&bs, mk(dn_key_make(6, 100000 + (uint64_t)i), c,
                                          T0 + 1000 + (uint64_t)(i % 50) * 1000)),
                     0);
    }
    cr_assert_eq(bs.n_bindings, 20000);
    cr_assert_not_null(bindings_find(&bs, dn_key_make(6, 119999), "sip:19999@h", 11));
    bindings_expire(&bs, T0 + 60000, on_expired, &expired);
    cr_assert_eq(expired, 20000);
    fini();
}

Test(bindings, removing_a_binding_already_due_is_safe)
{
    int expired = 0;

    cr_assert_eq(init(T0 + 10000), 0);
    /* Already in the past when added (as after a restart). */
    struct binding *b = mk(dn_key_make(4, 1001), "sip:a@h", T0);

    cr_assert_eq(bindings_add(&bs, b), 0);
    cr_assert_eq(bindings_add(&bs, mk(dn_key_make(4, 1002), "sip:a@h", T0 + 5000)), 0);
    bindings_remove(&bs, b);
    bindings_expire(&bs, T0 + 11000, on_expired, &expired);
    cr_assert_eq(expired, 1);
    fini();
}

/* Bindings of every size, small ones from shared blocks and big ones on
 * their own, keep their strings through frees and reuse of slots. */
Test(bindings, slab_keeps_strings_of_every_size)
{
    static char contact[3000], call_id[100];
    struct binding *b[400];

    cr_assert_eq(init(T0), 0);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 400; i++) {
            size_t len = (size_t)(i * 7 + round) % sizeof(contact);

            if (round > 0 && i % 3 != 0)
                continue; /* refill only the freed third */
            memset(contact, 'a' + i % 26, len);
            snprintf(call_id, sizeof(call_id), "cid-%d-%d", round, i);
            b[i] = binding_new(&bs, dn_key_make(4, 1000 + (uint64_t)i), contact, len, call_id,
                               strlen(call_id), "127.0.0.1:5060", NULL, 1, (uint32_t)i, T0 + 60000,
                               T0);
            cr_assert_not_null(b[i]);
            cr_assert_eq(b[i]->contact_len, len);
            cr_assert_eq(b[i]->cseq, (uint32_t)i);
        }
        for (int i = 0; i < 400; i++) {
            size_t len = b[i]->contact_len;

            for (size_t j = 0; j < len; j++)
                cr_assert_eq(binding_contact(b[i])[j], 'a' + i % 26);
            cr_assert_eq(binding_contact(b[i])[len], '\0');
            cr_assert_str_eq(binding_received(b[i], rbuf), "127.0.0.1:5060");
        }
        for (int i = 0; i < 400; i += 3)
            binding_free(&bs, b[i]);
    }
    for (int i = 0; i < 400; i++) {
        if (i % 3 != 0)
            binding_free(&bs, b[i]);
    }
    fini();
}

Test(bindings, call_id_with_nul_is_refused)
{
    cr_assert_eq(init(T0), 0);
    cr_assert_null(binding_new(&bs, dn_key_make(4, 1001), "sip:a@h", 7, "a\0b", 3, "x", NULL, 0, 1,
                               T0 + 1000, T0));
    fini();
}

/* Many bindings of one size fill several blocks; freeing them all in any
 * order, then making as many again, works and keeps each one's data. */
Test(bindings, slab_blocks_empty_and_refill)
{
    char c[32];
    int expired = 0;

    cr_assert_eq(init(T0), 0);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 5000; i++) {
            snprintf(c, sizeof(c), "sip:%05d@h", i);
            cr_assert_eq(bindings_add(&bs, mk(dn_key_make(5, 10000 + (uint64_t)i), c,
                                              T0 + 1000 + (uint64_t)(i % 7) * 1000)),
                         0);
        }
        for (int i = 0; i < 5000; i += 2) {
            snprintf(c, sizeof(c), "sip:%05d@h", i);
            bindings_remove(&bs, bindings_find(&bs, dn_key_make(5, 10000 + (uint64_t)i), c, 11));
        }
        cr_assert_eq(bs.n_bindings, 2500);
        snprintf(c, sizeof(c), "sip:%05d@h", 4999);
        cr_assert_not_null(bindings_find(&bs, dn_key_make(5, 14999), c, 11));
        bindings_expire(&bs, T0 + 60000 + (uint64_t)round * 60000, on_expired, &expired);
        cr_assert_eq(bs.n_bindings, 0);
    }
    cr_assert_eq(expired, 5000);
    fini();
}

/* The received address: IPv4 and IPv6 as the registrar writes them come
 * back byte for byte from 6 or 18 bytes; anything else is kept as text;
 * the params after it are found either way. */
Test(bindings, received_round_trip)
{
    static const struct {
        const char *text;
        uint8_t proto;
        unsigned kind;
    } cases[] = {
            {"udp:127.0.0.1:5060", BINDING_UDP, RECEIVED_ADDR_IPV4},
            {"tcp:10.200.3.255:65535", BINDING_TCP, RECEIVED_ADDR_IPV4},
            {"udp:0.0.0.0:0", BINDING_UDP, RECEIVED_ADDR_IPV4},
            {"udp:[::1]:5060", BINDING_UDP, RECEIVED_ADDR_IPV6},
            {"tcp:[2001:db8::7:1]:40000", BINDING_TCP, RECEIVED_ADDR_IPV6},
            {"udp:[::ffff:192.0.2.1]:5060", BINDING_UDP, RECEIVED_ADDR_IPV6},
            {"udp:[fe80::1:2:3:4]:1", BINDING_UDP, RECEIVED_ADDR_IPV6},
            /* Not what formatting gives back: kept as text. */
            {"udp:127.0.0.01:5060", BINDING_UDP, RECEIVED_ADDR_TEXT},
            {"udp:127.0.0.1:05060", BINDING_UDP, RECEIVED_ADDR_TEXT},
            {"udp:127.0.0.1:65536", BINDING_UDP, RECEIVED_ADDR_TEXT},
            {"udp:256.0.0.1:5060", BINDING_UDP, RECEIVED_ADDR_TEXT},
            {"udp:1.2.3:5060", BINDING_UDP, RECEIVED_ADDR_TEXT},
            {"udp:1.2.3.4", BINDING_UDP, RECEIVED_ADDR_TEXT},
            {"udp:1.2.3.4:5060x", BINDING_UDP, RECEIVED_ADDR_TEXT},
            {"tcp:127.0.0.1:5060", BINDING_UDP, RECEIVED_ADDR_TEXT}, /* not its transport */
            {"udp:[::0001]:5060", BINDING_UDP, RECEIVED_ADDR_TEXT},
            {"udp:[0:0::1]:5060", BINDING_UDP, RECEIVED_ADDR_TEXT},
            {"udp:[::1]5060", BINDING_UDP, RECEIVED_ADDR_TEXT},
            {"udp:[::1]:", BINDING_UDP, RECEIVED_ADDR_TEXT},
            {"udp:?:0", BINDING_UDP, RECEIVED_ADDR_TEXT},
            {"127.0.0.1:5060", BINDING_UDP, RECEIVED_ADDR_TEXT},
            {"", BINDING_UDP, RECEIVED_ADDR_TEXT},
    };
    const char *params = ";+sip.instance=\"<urn:uuid:1>\"";

    cr_assert_eq(init(T0), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int with_params = 0; with_params < 2; with_params++) {
            struct binding *b =
                    binding_new(&bs, dn_key_make(4, 1001), "sip:a@h", 7, "cid", 3, cases[i].text,
                                with_params ? params : NULL, cases[i].proto, 1, T0 + 1000, T0);

            cr_assert_not_null(b);
            cr_assert_eq(b->addr, cases[i].kind, "%s", cases[i].text);
            cr_assert_str_eq(binding_received(b, rbuf), cases[i].text);
            cr_assert_str_eq(binding_params(b), with_params ? params : "");
            cr_assert_str_eq(binding_call_id(b), "cid");
            binding_free(&bs, b);
        }
    }
    fini();
}

/* Expiry keeps every millisecond up to 2^48 - 1 (past 2^32, where a
 * 32-bit offset would wrap) and stops there; registration is kept to the
 * second. */
Test(bindings, times_keep_their_precision)
{
    static const uint64_t expiries[] = {
            T0 + 1,
            (UINT64_C(1) << 32) - 1,
            UINT64_C(1) << 32,
            (UINT64_C(1) << 32) + 999,
            UINT64_C(4102444800123) /* 2100 */,
            (UINT64_C(1) << 48) - 1,
    };

    cr_assert_eq(init(T0), 0);
    for (size_t i = 0; i < sizeof(expiries) / sizeof(expiries[0]); i++) {
        struct binding *b = binding_new(&bs, dn_key_make(4, 1001), "sip:a@h", 7, "cid", 3,
                                        "udp:127.0.0.1:9", NULL, 0, 1, expiries[i], T0 + 1234);

        cr_assert_not_null(b);
        cr_assert_eq(binding_expires_ms(b), expiries[i]);
        cr_assert_eq(binding_registered_ms(b), T0 + 1000);
        binding_free(&bs, b);
    }
    struct binding *b = binding_new(&bs, dn_key_make(4, 1001), "sip:a@h", 7, "cid", 3,
                                    "udp:127.0.0.1:9", NULL, 0, 1, UINT64_MAX, UINT64_MAX);

    cr_assert_eq(binding_expires_ms(b), (UINT64_C(1) << 48) - 1, "clamped, never wrapped");
    cr_assert_eq(binding_registered_ms(b), (uint64_t)UINT32_MAX * 1000);
    cr_assert_eq(binding_remaining(b, T0), (uint32_t)(((UINT64_C(1) << 48) - 1 - T0 + 500) / 1000));
    binding_free(&bs, b);
    fini();
}

/* Each binding knows its DN, in the set (through its list's tail) or out
 * of it, and after its DN's entry moved (a reload removed another). */
Test(bindings, dn_of_a_binding_follows_its_entry)
{
    dn_key k1 = dn_key_make(4, 1001), k2 = dn_key_make(4, 1002), k3 = dn_key_make(4, 1003);
    struct binding *a, *b, *c;

    cr_assert_eq(init(T0), 0);
    a = mk(k1, "sip:a@h", T0 + 60000);
    cr_assert_eq(binding_dn(&bs, a), k1, "out of the set");
    cr_assert_eq(bindings_add(&bs, a), 0);
    cr_assert_eq(binding_dn(&bs, a), k1, "in the set");
    cr_assert_eq(bindings_add(&bs, mk(k2, "sip:x@h", T0 + 60000)), 0);
    cr_assert_eq(bindings_add(&bs, b = mk(k3, "sip:b@h", T0 + 60000)), 0);
    cr_assert_eq(bindings_add(&bs, c = mk(k3, "sip:c@h", T0 + 60000)), 0);
    cr_assert_eq(binding_dn(&bs, b), k3);
    cr_assert_eq(binding_dn(&bs, c), k3);
    /* k1's entry goes (its binding taken out first); k3's, the last,
     * moves into its place. */
    bindings_take(&bs, a);
    cr_assert_eq(binding_dn(&bs, a), k1, "taken out");
    cr_assert(u64map_remove(&dns, k1));
    cr_assert_eq(binding_dn(&bs, b), k3, "after the move");
    cr_assert_eq(binding_dn(&bs, c), k3);
    cr_assert_eq(bindings_count(&bs, bindings_dn(&bs, k3)), 2);
    bindings_remove(&bs, c);
    cr_assert_eq(binding_dn(&bs, b), k3);
    /* a comes back: a new entry for k1. */
    cr_assert_eq(bindings_add(&bs, a), 0);
    cr_assert_eq(binding_dn(&bs, a), k1);
    cr_assert_eq(bindings_find(&bs, k1, "sip:a@h", 7), a);
    cr_assert_eq(bs.n_bindings, 3);
    fini();
}
