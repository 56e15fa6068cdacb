/* The client ports' framing (tcport/frame.h): a 4-byte big-endian length,
 * then one protobuf message. */
#include "tcport/frame.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proto/tcport.pb-c.h"
#include "tests/tc_test.h"

TestSuite(frame, .fini = tc_test_leak_check);

/* Frame a QueryDn for dn with ref_id into b. */
static void pack_query(struct tc_buf *b, uint32_t ref_id, const char *dn)
{
    Tc__Request rq = TC__REQUEST__INIT;
    Tc__QueryDn q = TC__QUERY_DN__INIT;

    q.dn = (char *)dn;
    rq.ref_id = ref_id;
    rq.body_case = TC__REQUEST__BODY_QUERY_DN;
    rq.query_dn = &q;
    cr_assert_eq(frame_pack(b, &rq.base), 0);
}

static Tc__Request *decode(const uint8_t *p, uint32_t n)
{
    Tc__Request *rq = tc__request__unpack(NULL, n, p);

    cr_assert_not_null(rq);
    return rq;
}

Test(frame, pack_then_next_round_trips)
{
    struct tc_buf b = TC_BUF_INIT;
    const uint8_t *payload;
    uint32_t plen;
    Tc__Request *rq;

    pack_query(&b, 7, "1001");
    cr_assert_eq(frame_next((uint8_t *)b.data, b.len, FRAME_DEFAULT_MAX, &payload, &plen),
                 FRAME_READY);
    cr_assert_eq(FRAME_HEADER + plen, b.len);
    cr_assert_eq(payload, (uint8_t *)b.data + FRAME_HEADER);
    /* Big-endian length. */
    cr_assert_eq(((uint8_t *)b.data)[3], plen);
    cr_assert_eq(((uint8_t *)b.data)[0], 0);
    rq = decode(payload, plen);
    cr_assert_eq(rq->ref_id, 7);
    cr_assert_eq(rq->body_case, TC__REQUEST__BODY_QUERY_DN);
    cr_assert_str_eq(rq->query_dn->dn, "1001");
    tc__request__free_unpacked(rq, NULL);
    tc_buf_free(&b);
}

Test(frame, split_frame_needs_every_byte)
{
    struct tc_buf b = TC_BUF_INIT;
    const uint8_t *payload;
    uint32_t plen;

    pack_query(&b, 1, "123456");
    /* Every proper prefix, header included, is "more". */
    for (size_t n = 0; n < b.len; n++)
        cr_assert_eq(frame_next((uint8_t *)b.data, n, FRAME_DEFAULT_MAX, &payload, &plen),
                     FRAME_MORE, "prefix of %zu bytes", n);
    cr_assert_eq(frame_next((uint8_t *)b.data, b.len, FRAME_DEFAULT_MAX, &payload, &plen),
                 FRAME_READY);
    tc_buf_free(&b);
}

Test(frame, many_frames_in_one_buffer)
{
    struct tc_buf b = TC_BUF_INIT;
    const uint8_t *payload;
    uint32_t plen;
    size_t off = 0;
    unsigned n = 0;
    char dn[16];

    for (unsigned i = 0; i < 1000; i++) {
        snprintf(dn, sizeof(dn), "%u", 1000 + i);
        pack_query(&b, i + 1, dn);
    }
    /* A partial frame at the end too. */
    pack_query(&b, 5000, "99");
    b.len -= 2;
    for (;;) {
        int rc = frame_next((uint8_t *)b.data + off, b.len - off, FRAME_DEFAULT_MAX, &payload,
                            &plen);
        Tc__Request *rq;

        if (rc == FRAME_MORE)
            break;
        cr_assert_eq(rc, FRAME_READY);
        rq = decode(payload, plen);
        cr_assert_eq(rq->ref_id, n + 1);
        snprintf(dn, sizeof(dn), "%u", 1000 + n);
        cr_assert_str_eq(rq->query_dn->dn, dn);
        tc__request__free_unpacked(rq, NULL);
        off += FRAME_HEADER + plen;
        n++;
    }
    cr_assert_eq(n, 1000);
    cr_assert_lt(b.len - off, 16u);
    tc_buf_free(&b);
}

Test(frame, oversize_is_refused_from_the_header_alone)
{
    uint8_t hdr[4] = {0x00, 0x01, 0x00, 0x01}; /* 65537 */
    uint8_t max[4] = {0x00, 0x01, 0x00, 0x00}; /* 65536 */
    uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
    const uint8_t *payload;
    uint32_t plen;

    cr_assert_eq(frame_next(hdr, 4, 65536, &payload, &plen), -EMSGSIZE);
    cr_assert_eq(frame_next(huge, 4, 65536, &payload, &plen), -EMSGSIZE);
    /* Exactly max is allowed: it waits for its bytes. */
    cr_assert_eq(frame_next(max, 4, 65536, &payload, &plen), FRAME_MORE);
    cr_assert_eq(frame_next(hdr, 4, 0, &payload, &plen), -EMSGSIZE);
}

Test(frame, zero_length_frame_is_an_empty_request)
{
    uint8_t buf[8] = {0, 0, 0, 0, 0, 0, 0, 5};
    const uint8_t *payload;
    uint32_t plen = 99;
    Tc__Request *rq;

    cr_assert_eq(frame_next(buf, sizeof(buf), 16, &payload, &plen), FRAME_READY);
    cr_assert_eq(plen, 0);
    /* It decodes, with no body: the port answers "unknown request". */
    rq = decode(payload, plen);
    cr_assert_eq(rq->body_case, TC__REQUEST__BODY__NOT_SET);
    tc__request__free_unpacked(rq, NULL);
    /* The next frame starts right after the header. */
    cr_assert_eq(frame_next(buf + 4, 4, 16, &payload, &plen), FRAME_MORE);
}

Test(frame, garbage_payload_does_not_decode)
{
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x08};

    cr_assert_null(tc__request__unpack(NULL, sizeof(junk), junk));
}

Test(frame, event_with_state_round_trips)
{
    Tc__Event ev = TC__EVENT__INIT, *back;
    Tc__EventDNBackInService bis = TC__EVENT_DNBACK_IN_SERVICE__INIT;
    Tc__DnState st = TC__DN_STATE__INIT;
    struct tc_buf b = TC_BUF_INIT;
    const uint8_t *payload;
    uint32_t plen;

    st.dn = "1001";
    st.owner = "sip1";
    st.status = TC__DN_STATUS__DN_STATUS_INSRV;
    bis.state = &st;
    ev.seq = 42;
    ev.body_case = TC__EVENT__BODY_DN_BACK_IN_SERVICE;
    ev.dn_back_in_service = &bis;
    cr_assert_eq(frame_pack(&b, &ev.base), 0);
    cr_assert_eq(frame_next((uint8_t *)b.data, b.len, 1024, &payload, &plen), FRAME_READY);
    back = tc__event__unpack(NULL, plen, payload);
    cr_assert_not_null(back);
    cr_assert_eq(back->seq, 42);
    cr_assert_str_eq(back->dn_back_in_service->state->owner, "sip1");
    tc__event__free_unpacked(back, NULL);
    tc_buf_free(&b);
}
