#include "server/sip/sip_frame.h"

#include <criterion/criterion.h>
#include <string.h>

#include "tests/tc_test.h"

TestSuite(sip_frame, .fini = tc_test_leak_check);

static enum sip_frame frame(const char *s, size_t max, size_t *len)
{
    struct sip_frame_state st = {0};

    return sip_frame_scan(s, strlen(s), max, &st, len);
}

Test(sip_frame, cases)
{
    size_t len = 0;

    cr_assert_eq(frame("", 100, &len), SIP_FRAME_MORE);
    cr_assert_eq(frame("\r", 100, &len), SIP_FRAME_MORE);
    cr_assert_eq(frame("\r\n", 100, &len), SIP_FRAME_MORE);
    cr_assert_eq(frame("\r\n\r", 100, &len), SIP_FRAME_MORE);
    cr_assert_eq(frame("\r\n\r\nX", 100, &len), SIP_FRAME_PING);
    cr_assert_eq(len, 4);
    cr_assert_eq(frame("\r\nINVITE", 100, &len), SIP_FRAME_CRLF);
    cr_assert_eq(len, 2);
    cr_assert_eq(frame("A\r\nl:3\r\n\r\nabcdef", 100, &len), SIP_FRAME_MESSAGE);
    cr_assert_eq(len, 13);
    cr_assert_eq(frame("A\r\nL\t: 3\t\r\n\r\nab", 100, &len), SIP_FRAME_MORE);
    cr_assert_eq(frame("A\r\nContent-Length: 0\r\nl: 0\r\n\r\n", 100, &len), SIP_FRAME_MESSAGE);
    cr_assert_eq(frame("A\r\nContent-Length:\r\n\r\n", 100, &len), SIP_FRAME_BAD_FRAMING);
    cr_assert_eq(frame("A\r\nContent-Length: -1\r\n\r\n", 100, &len), SIP_FRAME_BAD_FRAMING);
    cr_assert_eq(frame("A\r\nX-Content-Length: 1\r\n\r\n", 100, &len), SIP_FRAME_BAD_FRAMING);
    cr_assert_eq(frame("A\r\nContent-Length: 99999999999999999999\r\n\r\n", 100, &len),
                 SIP_FRAME_TOO_LARGE);
    cr_assert_eq(frame("A\r\nl: 90\r\n\r\n", 100, &len), SIP_FRAME_TOO_LARGE);
    cr_assert_eq(frame("A\r\nl: 88\r\n\r\n", 100, &len), SIP_FRAME_MORE);
    /* A folded line is not a header of its own. */
    cr_assert_eq(frame("A\r\nX: a\r\n l: 5\r\nl: 0\r\n\r\n", 100, &len), SIP_FRAME_MESSAGE);
}

Test(sip_frame, resumes_scan)
{
    static const char msg[] = "OPTIONS sip:a SIP/2.0\r\nl: 2\r\n\r\nok";
    struct sip_frame_state st = {0};
    size_t n, len = 0;

    for (n = 1; n < sizeof(msg) - 1; n++)
        cr_assert_eq(sip_frame_scan(msg, n, 1000, &st, &len), SIP_FRAME_MORE, "at %zu", n);
    cr_assert_eq(sip_frame_scan(msg, n, 1000, &st, &len), SIP_FRAME_MESSAGE);
    cr_assert_eq(len, sizeof(msg) - 1);
}
