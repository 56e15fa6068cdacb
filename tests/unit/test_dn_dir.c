#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/config/dn_dir.h"
#include "tests/tc_test.h"

TestSuite(dn_dir, .fini = tc_test_leak_check);

static dn_key key(const char *s)
{
    dn_key k;

    cr_assert_eq(dn_key_parse(s, strlen(s), &k), 0, "parse %s", s);
    return k;
}

static int add(struct dn_dir *d, const char *spec, uint32_t line)
{
    struct dn_profile p = {.line = line};
    int idx = dn_dir_add_profile(d, &p);

    cr_assert_geq(idx, 0);
    return dn_dir_add_range(d, spec, (uint32_t)idx, line);
}

Test(dn_dir, key_parse_keeps_leading_zeros)
{
    char buf[DN_DIR_MAX_DIGITS + 1];
    dn_key a = key("0100"), b = key("100");

    cr_assert_eq(dn_key_width(a), 4);
    cr_assert_eq(dn_key_number(a), 100);
    cr_assert_eq(dn_key_width(b), 3);
    cr_assert_neq(a, b);
    cr_assert_eq(dn_key_format(a, buf, sizeof(buf)), 4);
    cr_assert_str_eq(buf, "0100");
    cr_assert_eq(dn_key_format(key("0"), buf, sizeof(buf)), 1);
    cr_assert_str_eq(buf, "0");
    cr_assert_eq(dn_key_format(key("00000000000000000"), buf, sizeof(buf)), 17);
    cr_assert_str_eq(buf, "00000000000000000");
    cr_assert_eq(dn_key_format(key("99999999999999999"), buf, sizeof(buf)), 17);
    cr_assert_str_eq(buf, "99999999999999999");
    /* Keys of one width sort like their numbers; shorter DNs sort first. */
    cr_assert_lt(key("0999"), key("1000"));
    cr_assert_lt(key("9999"), key("00000"));
}

Test(dn_dir, key_parse_rejects_bad_input)
{
    dn_key k;

    cr_assert_eq(dn_key_parse("", 0, &k), -EINVAL);
    cr_assert_eq(dn_key_parse("123456789012345678", 18, &k), -EINVAL);
    cr_assert_eq(dn_key_parse("12a4", 4, &k), -EINVAL);
    cr_assert_eq(dn_key_parse("-1", 2, &k), -EINVAL);
    cr_assert_eq(dn_key_parse(" 1", 2, &k), -EINVAL);
    /* Only len bytes are read. */
    cr_assert_eq(dn_key_parse("12x", 2, &k), 0);
    cr_assert_eq(k, dn_key_make(2, 12));
}

Test(dn_dir, key_format_checks_its_arguments)
{
    char buf[4];

    cr_assert_eq(dn_key_format(key("1234"), buf, 4), -ENOSPC);
    cr_assert_eq(dn_key_format(key("123"), buf, 4), 3);
    cr_assert_eq(dn_key_format(DN_KEY_NONE, buf, sizeof(buf)), -EINVAL);
    cr_assert_eq(dn_key_format(dn_key_make(2, 100), buf, sizeof(buf)), -EINVAL);
}

Test(dn_dir, range_parse)
{
    dn_key lo, hi;

    cr_assert_eq(dn_range_parse("1000-1999", &lo, &hi), 0);
    cr_assert_eq(lo, key("1000"));
    cr_assert_eq(hi, key("1999"));
    cr_assert_eq(dn_range_parse("0042", &lo, &hi), 0);
    cr_assert_eq(lo, key("0042"));
    cr_assert_eq(hi, lo);
    cr_assert_eq(dn_range_parse("100-0999", &lo, &hi), -EDOM);
    cr_assert_eq(dn_range_parse("2000-1000", &lo, &hi), -ERANGE);
    cr_assert_eq(dn_range_parse("", &lo, &hi), -EINVAL);
    cr_assert_eq(dn_range_parse("-", &lo, &hi), -EINVAL);
    cr_assert_eq(dn_range_parse("1000-", &lo, &hi), -EINVAL);
    cr_assert_eq(dn_range_parse("-1000", &lo, &hi), -EINVAL);
    cr_assert_eq(dn_range_parse("1000-2000-3000", &lo, &hi), -EINVAL);
    cr_assert_eq(dn_range_parse("10a0", &lo, &hi), -EINVAL);
    cr_assert_eq(dn_range_parse("1000 - 1999", &lo, &hi), -EINVAL);
}

Test(dn_dir, range_str)
{
    struct dn_range r = {.lo = key("0100"), .hi = key("0199")};
    char buf[DN_RANGE_STR_MAX];

    cr_assert_str_eq(dn_range_str(&r, buf, sizeof(buf)), "0100-0199");
    r.hi = r.lo;
    cr_assert_str_eq(dn_range_str(&r, buf, sizeof(buf)), "0100");
}

Test(dn_dir, empty_directory)
{
    struct dn_dir d;

    dn_dir_init(&d);
    cr_assert_eq(dn_dir_finish(&d, NULL, NULL), 0);
    cr_assert_eq(d.n_dns, 0);
    cr_assert_null(dn_dir_lookup(&d, key("1000")));
    cr_assert_not(dn_dir_contains(&d, key("1000")));
    cr_assert_eq(dn_dir_at(&d, 0), DN_KEY_NONE);
    dn_dir_free(&d);
}

Test(dn_dir, add_range_rejects_bad_specs)
{
    struct dn_dir d;

    dn_dir_init(&d);
    cr_assert_eq(add(&d, "2000-1000", 1), -EINVAL);
    cr_assert_eq(add(&d, "100-1000", 2), -EINVAL);
    cr_assert_eq(add(&d, "abc", 3), -EINVAL);
    cr_assert_eq(dn_dir_add_range(&d, "1000", 99, 4), -EINVAL, "no such profile");
    cr_assert_eq(dn_dir_add_keys(&d, key("10"), key("100"), 0, 5), -EINVAL);
    cr_assert_eq(d.n_ranges, 0);
    dn_dir_free(&d);
}

Test(dn_dir, lookup_at_boundaries)
{
    struct dn_dir d;

    dn_dir_init(&d);
    cr_assert_eq(add(&d, "3000", 1), 0);
    cr_assert_eq(add(&d, "1000-1999", 2), 0);
    cr_assert_eq(add(&d, "0100-0199", 3), 0);
    cr_assert_eq(add(&d, "2000-2999", 4), 0, "adjacent to 1000-1999");
    cr_assert_eq(dn_dir_finish(&d, NULL, NULL), 0);
    cr_assert_eq(d.n_dns, 1 + 1000 + 100 + 1000);

    cr_assert_null(dn_dir_lookup(&d, key("0999")));
    cr_assert_null(dn_dir_lookup(&d, key("999")));
    cr_assert_eq(dn_dir_lookup(&d, key("1000"))->line, 2);
    cr_assert_eq(dn_dir_lookup(&d, key("1500"))->line, 2);
    cr_assert_eq(dn_dir_lookup(&d, key("1999"))->line, 2);
    cr_assert_eq(dn_dir_lookup(&d, key("2000"))->line, 4);
    cr_assert_eq(dn_dir_lookup(&d, key("2999"))->line, 4);
    cr_assert_eq(dn_dir_lookup(&d, key("3000"))->line, 1);
    cr_assert_null(dn_dir_lookup(&d, key("3001")));
    cr_assert_null(dn_dir_lookup(&d, key("9999")));
    cr_assert_eq(dn_dir_lookup(&d, key("0100"))->line, 3);
    cr_assert_eq(dn_dir_lookup(&d, key("0199"))->line, 3);
    cr_assert_null(dn_dir_lookup(&d, key("0099")));
    cr_assert_null(dn_dir_lookup(&d, key("0200")));
    /* Same numbers, other widths: different DNs. */
    cr_assert_null(dn_dir_lookup(&d, key("100")));
    cr_assert_null(dn_dir_lookup(&d, key("01000")));
    cr_assert_null(dn_dir_lookup(&d, key("00100")));
    cr_assert(dn_dir_contains(&d, key("1234")));
    cr_assert_not(dn_dir_contains(&d, key("01234")));
    dn_dir_free(&d);
}

Test(dn_dir, at_walks_in_directory_order)
{
    struct dn_dir d;
    uint64_t i;

    dn_dir_init(&d);
    cr_assert_eq(add(&d, "50-52", 1), 0);
    cr_assert_eq(add(&d, "007", 2), 0);
    cr_assert_eq(add(&d, "10-11", 3), 0);
    cr_assert_eq(add(&d, "001-002", 4), 0);
    cr_assert_eq(dn_dir_finish(&d, NULL, NULL), 0);
    cr_assert_eq(d.n_dns, 8);

    const char *want[] = {"10", "11", "50", "51", "52", "001", "002", "007"};

    for (i = 0; i < 8; i++) {
        cr_assert_eq(dn_dir_at(&d, i), key(want[i]), "at %llu", (unsigned long long)i);
        cr_assert(dn_dir_contains(&d, dn_dir_at(&d, i)));
    }
    cr_assert_eq(dn_dir_at(&d, 8), DN_KEY_NONE);
    cr_assert_eq(dn_dir_at(&d, UINT64_MAX), DN_KEY_NONE);
    dn_dir_free(&d);
}

struct pairs {
    unsigned n;
    uint32_t later[8], earlier[8];
};

static void on_overlap(void *arg, const struct dn_range *later, const struct dn_range *earlier)
{
    struct pairs *p = arg;

    cr_assert_lt(p->n, 8);
    p->later[p->n] = later->line;
    p->earlier[p->n] = earlier->line;
    p->n++;
}

static bool has_pair(const struct pairs *p, uint32_t later, uint32_t earlier)
{
    for (unsigned i = 0; i < p->n; i++) {
        if (p->later[i] == later && p->earlier[i] == earlier)
            return true;
    }
    return false;
}

Test(dn_dir, overlaps_of_same_width_are_reported_in_pairs)
{
    struct pairs p = {0};
    struct dn_dir d;

    dn_dir_init(&d);
    cr_assert_eq(add(&d, "1000-1999", 10), 0);
    cr_assert_eq(add(&d, "1500-2500", 20), 0);
    cr_assert_eq(add(&d, "1999", 30), 0);
    cr_assert_eq(add(&d, "0900-0999", 40), 0);
    cr_assert_eq(add(&d, "3000", 5), 0);
    cr_assert_eq(add(&d, "3000", 50), 0);
    cr_assert_eq(dn_dir_finish(&d, on_overlap, &p), -EINVAL);
    /* 1999 nests in both 1000-1999 and 1500-2500: not an overlap itself. */
    cr_assert_eq(p.n, 2);
    cr_assert(has_pair(&p, 20, 10));
    cr_assert(has_pair(&p, 50, 5));
    dn_dir_free(&d);
}

/* [dn 1010] in [dn 1000-1999], [dn 1500-1599] with [dn 1550] in it: each
 * DN takes the narrowest section holding it. */
Test(dn_dir, a_narrower_range_nests_in_a_wider_one)
{
    struct pairs p = {0};
    struct dn_dir d;

    dn_dir_init(&d);
    cr_assert_eq(add(&d, "1000-1999", 10), 0);
    cr_assert_eq(add(&d, "1550", 40), 0);
    cr_assert_eq(add(&d, "1010", 20), 0);
    cr_assert_eq(add(&d, "1500-1599", 30), 0);
    cr_assert_eq(add(&d, "1999", 50), 0);
    cr_assert_eq(dn_dir_finish(&d, on_overlap, &p), 0);
    cr_assert_eq(p.n, 0);
    cr_assert_eq(d.n_dns, 1000);
    cr_assert_eq(dn_dir_lookup(&d, key("1000"))->line, 10);
    cr_assert_eq(dn_dir_lookup(&d, key("1009"))->line, 10);
    cr_assert_eq(dn_dir_lookup(&d, key("1010"))->line, 20);
    cr_assert_eq(dn_dir_lookup(&d, key("1011"))->line, 10);
    cr_assert_eq(dn_dir_lookup(&d, key("1500"))->line, 30);
    cr_assert_eq(dn_dir_lookup(&d, key("1550"))->line, 40);
    cr_assert_eq(dn_dir_lookup(&d, key("1551"))->line, 30);
    cr_assert_eq(dn_dir_lookup(&d, key("1600"))->line, 10);
    cr_assert_eq(dn_dir_lookup(&d, key("1999"))->line, 50);
    /* Parents: the narrowest enclosing section. */
    cr_assert_eq(dn_dir_lookup(&d, key("1550"))->parent, 3);
    cr_assert_eq(dn_dir_lookup(&d, key("1500"))->parent, 0);
    cr_assert_eq(dn_dir_lookup(&d, key("1000"))->parent, DN_PROFILE_NONE);
    /* Every DN once, in order. */
    for (uint64_t i = 0; i < 1000; i++)
        cr_assert_eq(dn_dir_at(&d, i), key("1000") + i);
    /* Finishing again changes nothing. */
    cr_assert_eq(dn_dir_finish(&d, on_overlap, &p), 0);
    cr_assert_eq(d.n_dns, 1000);
    dn_dir_free(&d);
}

Test(dn_dir, later_range_is_the_one_with_the_larger_line)
{
    struct pairs p = {0};
    struct dn_dir d;

    dn_dir_init(&d);
    /* The later section holds the lower DNs. */
    cr_assert_eq(add(&d, "1500-2500", 10), 0);
    cr_assert_eq(add(&d, "1000-1999", 20), 0);
    cr_assert_eq(dn_dir_finish(&d, on_overlap, &p), -EINVAL);
    cr_assert_eq(p.n, 1);
    cr_assert(has_pair(&p, 20, 10));
    dn_dir_free(&d);
}

Test(dn_dir, different_widths_never_overlap)
{
    struct pairs p = {0};
    struct dn_dir d;

    dn_dir_init(&d);
    cr_assert_eq(add(&d, "100-199", 1), 0);
    cr_assert_eq(add(&d, "0100-0199", 2), 0);
    cr_assert_eq(add(&d, "00100-00199", 3), 0);
    cr_assert_eq(add(&d, "1000-1999", 4), 0);
    cr_assert_eq(dn_dir_finish(&d, on_overlap, &p), 0);
    cr_assert_eq(p.n, 0);
    cr_assert_eq(d.n_dns, 1300);
    dn_dir_free(&d);
}

Test(dn_dir, profile_strings_belong_to_the_directory)
{
    struct dn_dir d;
    struct dn_profile p = {.type = DN_TYPE_EXTENSION, .shared_line = true};
    const struct dn_profile *got;
    int idx;

    dn_dir_init(&d);
    p.password = strdup("secret");
    p.group = strdup("sales");
    p.sca_preferred_site = strdup("sip2");
    p.members = malloc(2 * sizeof(*p.members));
    cr_assert_not_null(p.members);
    p.members[0] = key("1001");
    p.members[1] = key("1002");
    p.n_members = 2;
    idx = dn_dir_add_profile(&d, &p);
    cr_assert_eq(idx, 0);
    cr_assert_eq(dn_dir_add_range(&d, "1000", (uint32_t)idx, 7), 0);
    cr_assert_eq(dn_dir_finish(&d, NULL, NULL), 0);
    got = dn_dir_lookup(&d, key("1000"));
    cr_assert_not_null(got);
    cr_assert_str_eq(got->password, "secret");
    cr_assert_str_eq(got->group, "sales");
    cr_assert_eq(got->n_members, 2);
    cr_assert_eq(got->members[1], key("1002"));
    dn_dir_free(&d);
    cr_assert_eq(d.n_ranges, 0);
    cr_assert_null(d.profiles);
}

Test(dn_dir, many_profiles_grow)
{
    struct dn_dir d;
    char spec[16];

    dn_dir_init(&d);
    for (unsigned i = 0; i < 5000; i++) {
        snprintf(spec, sizeof(spec), "%u", 20000 + 2 * i);
        cr_assert_eq(add(&d, spec, i + 1), 0);
    }
    cr_assert_eq(dn_dir_finish(&d, NULL, NULL), 0);
    cr_assert_eq(d.n_dns, 5000);
    for (unsigned i = 0; i < 5000; i++) {
        cr_assert_eq(dn_dir_lookup(&d, dn_key_make(5, 20000 + 2 * i))->line, i + 1);
        cr_assert_null(dn_dir_lookup(&d, dn_key_make(5, 20001 + 2 * i)));
        cr_assert_eq(dn_dir_at(&d, i), dn_key_make(5, 20000 + 2 * i));
    }
    dn_dir_free(&d);
}

Test(dn_dir, million_dns_in_one_range)
{
    struct dn_dir d;

    dn_dir_init(&d);
    cr_assert_eq(add(&d, "1000000-1999999", 1), 0);
    cr_assert_eq(add(&d, "5000000", 2), 0);
    cr_assert_eq(dn_dir_finish(&d, NULL, NULL), 0);
    cr_assert_eq(d.n_dns, 1000001);
    cr_assert_eq(d.n_ranges, 2, "ranges, not one entry per DN");
    cr_assert_null(dn_dir_lookup(&d, key("999999")));
    cr_assert_null(dn_dir_lookup(&d, key("0999999")));
    cr_assert_eq(dn_dir_lookup(&d, key("1000000"))->line, 1);
    cr_assert_eq(dn_dir_lookup(&d, key("1234567"))->line, 1);
    cr_assert_eq(dn_dir_lookup(&d, key("1999999"))->line, 1);
    cr_assert_null(dn_dir_lookup(&d, key("2000000")));
    cr_assert_eq(dn_dir_lookup(&d, key("5000000"))->line, 2);
    cr_assert_eq(dn_dir_at(&d, 0), key("1000000"));
    cr_assert_eq(dn_dir_at(&d, 999999), key("1999999"));
    cr_assert_eq(dn_dir_at(&d, 1000000), key("5000000"));
    cr_assert_eq(dn_dir_at(&d, 1000001), DN_KEY_NONE);
    dn_dir_free(&d);
}
