/* record_wire reads what protobuf-c writes (and what it would read). */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/store.pb-c.h"
#include "server/core/record_wire.h"
#include "tests/tc_test.h"

static void teardown(void)
{
    tc_test_leak_check();
}

TestSuite(record_wire, .fini = teardown);

static void expect_str(struct wire_str s, const char *want)
{
    cr_assert_eq(s.len, strlen(want), "%.*s vs %s", (int)s.len, s.p, want);
    cr_assert_eq(memcmp(s.p, want, s.len), 0, "%.*s vs %s", (int)s.len, s.p, want);
}

static uint64_t rnd64(void)
{
    uint64_t v = 0;

    for (int i = 0; i < 4; i++)
        v = (v << 16) ^ (uint64_t)(rand() & 0xffff);
    /* Small values too: one-byte varints and zeros (not written). */
    return rand() % 4 == 0 ? v % 200 : v;
}

static void rnd_str(char *buf, size_t cap)
{
    size_t n = rand() % 4 == 0 ? 0 : (size_t)rand() % (cap - 1);

    for (size_t i = 0; i < n; i++)
        buf[i] = (char)(' ' + rand() % 95);
    buf[n] = '\0';
}

Test(record_wire, binding_matches_protobuf_c)
{
    char dn[12], contact[300], call_id[200], received[40], transport[8], params[80];
    uint8_t buf[1024];

    srand(15);
    for (int i = 0; i < 2000; i++) {
        Tc__Binding rec = TC__BINDING__INIT;
        struct binding_wire w;
        size_t len;

        rnd_str(dn, sizeof(dn));
        rnd_str(contact, sizeof(contact));
        rnd_str(call_id, sizeof(call_id));
        rnd_str(received, sizeof(received));
        rnd_str(transport, sizeof(transport));
        rnd_str(params, sizeof(params));
        rec.dn = dn;
        rec.contact = contact;
        rec.call_id = call_id;
        rec.cseq = (uint32_t)rnd64();
        rec.expires_unix_ms = rnd64();
        rec.received = received;
        rec.transport = transport;
        rec.registered_unix_ms = rnd64();
        rec.params = params;
        len = tc__binding__get_packed_size(&rec);
        cr_assert_leq(len, sizeof(buf));
        tc__binding__pack(&rec, buf);
        cr_assert_eq(binding_wire_decode(buf, len, &w), 0);
        expect_str(w.dn, dn);
        expect_str(w.contact, contact);
        expect_str(w.call_id, call_id);
        expect_str(w.received, received);
        expect_str(w.transport, transport);
        expect_str(w.params, params);
        cr_assert_eq(w.cseq, rec.cseq);
        cr_assert_eq(w.expires_unix_ms, rec.expires_unix_ms);
        cr_assert_eq(w.registered_unix_ms, rec.registered_unix_ms);
        /* Every cut short of the whole is refused by both, or read the
         * same by both where protobuf-c still reads it. */
        for (size_t cut = 0; cut < len; cut++) {
            Tc__Binding *pb = tc__binding__unpack(NULL, cut, buf);

            cr_assert_eq(binding_wire_decode(buf, cut, &w) == 0, pb != NULL, "cut %zu of %zu", cut,
                         len);
            if (pb != NULL) {
                expect_str(w.contact, pb->contact);
                tc__binding__free_unpacked(pb, NULL);
            }
        }
    }
}

Test(record_wire, dn_record_matches_protobuf_c)
{
    char dn[12], owner[40], node[40];
    uint8_t buf[256];

    srand(16);
    for (int i = 0; i < 2000; i++) {
        Tc__DnRecord rec = TC__DN_RECORD__INIT;
        Tc__Version ver = TC__VERSION__INIT;
        struct dn_record_wire w;
        size_t len;

        rnd_str(dn, sizeof(dn));
        rnd_str(owner, sizeof(owner));
        rnd_str(node, sizeof(node));
        rec.dn = dn;
        rec.owner = owner;
        rec.source = (Tc__Source)(rand() % 3);
        ver.hlc = rnd64();
        ver.node = node;
        rec.version = i % 10 == 0 ? NULL : &ver;
        rec.since_unix_ms = rnd64();
        len = tc__dn_record__get_packed_size(&rec);
        cr_assert_leq(len, sizeof(buf));
        tc__dn_record__pack(&rec, buf);
        cr_assert_eq(dn_record_wire_decode(buf, len, &w), 0);
        expect_str(w.dn, dn);
        expect_str(w.owner, owner);
        cr_assert_eq(w.source, (int32_t)rec.source);
        cr_assert_eq(w.has_version, rec.version != NULL);
        cr_assert_eq(w.hlc, rec.version != NULL ? ver.hlc : 0);
        expect_str(w.version_node, rec.version != NULL ? node : "");
        cr_assert_eq(w.since_unix_ms, rec.since_unix_ms);
        for (size_t cut = 0; cut < len; cut++) {
            Tc__DnRecord *pb = tc__dn_record__unpack(NULL, cut, buf);

            cr_assert_eq(dn_record_wire_decode(buf, cut, &w) == 0, pb != NULL, "cut %zu of %zu",
                         cut, len);
            if (pb != NULL)
                tc__dn_record__free_unpacked(pb, NULL);
        }
    }
}

/* Fields a later version may add are skipped; a NUL ends a string (as the
 * C string protobuf-c gives would); the last of a repeated field wins; a
 * known field of the wrong wire type and a group are refused. */
Test(record_wire, unknown_fields_nul_and_bad_types)
{
    static const uint8_t later[] = {
            0x0a, 0x04, '1', '0', '0', '1',                 /* dn "1001" */
            0x12, 0x05, 's', 'i', 'p', 0x00, 'x',           /* contact "sip\0x" */
            0x68, 0x96, 0x01,                               /* field 13 varint: unknown */
            0x52, 0x02, 'h', 'i',                           /* field 10 bytes: unknown */
            0x59, 1, 2, 3, 4, 5, 6, 7, 8,                   /* field 11 fixed64 */
            0x65, 1, 2, 3, 4,                               /* field 12 fixed32 */
            0x20, 0x07,                                     /* cseq 7 */
            0x20, 0x09,                                     /* cseq 9: the last wins */
    };
    static const uint8_t bad_type[] = {0x0d, 1, 2, 3, 4}; /* dn as fixed32 */
    static const uint8_t group[] = {0x0b, 0x0c};          /* field 1 start/end group */
    static const uint8_t long_varint[] = {0x20, 0xff, 0xff, 0xff, 0xff, 0xff,
                                          0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    struct binding_wire w;
    Tc__Binding *pb;

    cr_assert_eq(binding_wire_decode(later, sizeof(later), &w), 0);
    expect_str(w.dn, "1001");
    expect_str(w.contact, "sip");
    cr_assert_eq(w.cseq, 9);
    pb = tc__binding__unpack(NULL, sizeof(later), later);
    cr_assert_not_null(pb);
    cr_assert_str_eq(pb->contact, "sip");
    cr_assert_eq(pb->cseq, 9);
    tc__binding__free_unpacked(pb, NULL);
    cr_assert_neq(binding_wire_decode(bad_type, sizeof(bad_type), &w), 0);
    cr_assert_neq(binding_wire_decode(group, sizeof(group), &w), 0);
    cr_assert_neq(binding_wire_decode(long_varint, sizeof(long_varint), &w), 0);
    cr_assert_eq(binding_wire_decode("", 0, &w), 0, "an empty record is all defaults");
}
