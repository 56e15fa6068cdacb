/* sip_uri: the URI parser behind the Request-URI, From, To and Contact. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "server/sip/sip_uri.h"
#include "tests/tc_test.h"

TestSuite(sip_uri, .fini = tc_test_leak_check);

static struct sip_span span(const char *s)
{
    return (struct sip_span){s, strlen(s)};
}

static bool span_is(struct sip_span s, const char *want)
{
    return s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

static struct sip_uri_parts parse_ok(const char *s)
{
    struct sip_uri_parts u;

    cr_assert_eq(sip_uri_parse(span(s), &u), 0, "%s", s);
    return u;
}

Test(sip_uri, sip_parts)
{
    struct sip_uri_parts u = parse_ok("sip:alice:secret@example.com:5070;transport=tcp;lr"
                                      "?subject=project%20x&priority=urgent");

    cr_assert_eq(u.kind, SIP_URI_SIP);
    cr_assert(span_is(u.scheme, "sip"));
    cr_assert(u.has_user);
    cr_assert(span_is(u.user, "alice"));
    cr_assert(u.has_password);
    cr_assert(span_is(u.password, "secret"));
    cr_assert(span_is(u.host, "example.com"));
    cr_assert_eq(u.port, 5070);
    cr_assert(span_is(u.params, ";transport=tcp;lr"));
    cr_assert(span_is(u.headers, "subject=project%20x&priority=urgent"));

    u = parse_ok("SIPS:[2001:db8::1]");
    cr_assert_eq(u.kind, SIP_URI_SIPS);
    cr_assert_not(u.has_user);
    cr_assert(u.host_v6);
    cr_assert(span_is(u.host, "2001:db8::1"));
    cr_assert_eq(u.port, 0);

    u = parse_ok("sip:1001@192.0.2.10");
    cr_assert(span_is(u.user, "1001"));
    cr_assert(span_is(u.host, "192.0.2.10"));
}

/* RFC 4475 §3.1.1.6 (semiuri) and §3.1.1.3 (esc01): user-unreserved
 * characters and escapes in the user part. */
Test(sip_uri, torture_users)
{
    struct sip_uri_parts u = parse_ok("sip:user;par=u%40example.net@example.com");
    char buf[64];
    size_t n;

    cr_assert(span_is(u.user, "user;par=u%40example.net"));
    cr_assert(span_is(u.host, "example.com"));
    u = parse_ok("sip:sips%3Auser%40example.com@example.net");
    n = sip_uri_unescape(u.user, buf);
    cr_assert_eq(n, strlen("sips:user@example.com"));
    cr_assert_eq(memcmp(buf, "sips:user@example.com", n), 0);
    u = parse_ok("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31");
    cr_assert(span_is(u.params, ";%6C%72;n%61me=v%61lue%25%34%31"));
    u = parse_ok("sip:+1-212-555-1212:1234@gateway.com;user=phone");
    cr_assert(span_is(u.user, "+1-212-555-1212"));
    cr_assert(span_is(u.password, "1234"));
}

Test(sip_uri, escaped_nul)
{
    cr_assert(sip_uri_has_escaped_nul(span("null-%00-null")));
    cr_assert_not(sip_uri_has_escaped_nul(span("null-%01-null")));
    cr_assert_not(sip_uri_has_escaped_nul(span("%0")));
}

Test(sip_uri, tel_and_others)
{
    struct sip_uri_parts u = parse_ok("tel:+12015550123;phone-context=x");

    cr_assert_eq(u.kind, SIP_URI_TEL);
    cr_assert(span_is(u.user, "+12015550123"));
    cr_assert(span_is(u.params, ";phone-context=x"));
    cr_assert_eq(u.host.len, 0);
    u = parse_ok("isbn:2983792873");
    cr_assert_eq(u.kind, SIP_URI_OTHER);
    cr_assert(span_is(u.scheme, "isbn"));
    cr_assert_not(u.has_user);
    u = parse_ok("soap.beep://192.0.2.103:3002");
    cr_assert_eq(u.kind, SIP_URI_OTHER);
}

Test(sip_uri, refusals)
{
    static const char *const bad[] = {
            "sip:",                    /* no host */
            "sip:user@",               /* no host */
            "sip:@example.com",        /* empty user */
            "sip:user:@example.com",   /* empty password */
            "sip:example.com:",        /* empty port */
            "sip:example.com:65536",   /* port out of range */
            "sip:example.com:50a",     /* junk after the port */
            "sip:us%zzer@example.com", /* bad escape */
            "sip:us%2@example.com",    /* short escape */
            "sip:us#er@example.com",   /* '#' must be escaped */
            "sip:[2001:db8::1",        /* unclosed IPv6 */
            "sip:[]",                  /* empty IPv6 */
            "sip:-example.com",        /* a label starts with '-' */
            "sip:example.com;;lr",     /* empty parameter */
            "sip:example.com;lr=",     /* empty parameter value */
            "sip:example.com?",        /* empty headers */
            "sip:example.com?=x",      /* empty header name */
            "sip:example.com?a",       /* header without '=' */
            "sip:exa mple.com",        /* LWS */
            "sip:<example.com>",       /* angle brackets */
            "tel:",                    /* no number */
            "tel:+1 201",              /* LWS in the number */
            "tel:+1201?x=y",           /* headers in a tel URI */
            "example.com",             /* no scheme */
            "1sip:example.com",        /* a scheme starts with a letter */
    };
    struct sip_uri_parts u;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(sip_uri_parse(span(bad[i]), &u), -EPROTO, "accepted %s", bad[i]);
}

/* Spans, not strings: a URI is read only up to its length. */
Test(sip_uri, span_bounds)
{
    static const char text[] = "sip:1001@tc.example.com>;tag=1";
    struct sip_uri_parts u;

    cr_assert_eq(sip_uri_parse((struct sip_span){text, strlen("sip:1001@tc.example.com")}, &u), 0);
    cr_assert(span_is(u.host, "tc.example.com"));
}
