/* sip_scan_text: the character classes of RFC 3261 §25.1 and the small
 * readers the rest of sip_scan and its users build on: quoted strings,
 * the top level of a list, trimming, comparing, numbers. */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "server/sip/sip_scan.h"
#include "server/sip/sip_scan_int.h"

/* token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~") */
const unsigned char sip_scan__token_chars[256] = {
        ['-'] = 1,  ['.'] = 1, ['!'] = 1, ['%'] = 1, ['*'] = 1, ['_'] = 1, ['+'] = 1, ['`'] = 1,
        ['\''] = 1, ['~'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
        ['6'] = 1,  ['7'] = 1, ['8'] = 1, ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1,
        ['E'] = 1,  ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
        ['M'] = 1,  ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1,
        ['U'] = 1,  ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1,
        ['c'] = 1,  ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1,
        ['k'] = 1,  ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
        ['s'] = 1,  ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

bool sip_scan_is_token(unsigned char c)
{
    return sip_scan__token_chars[c] != 0;
}

struct sip_span sip_scan_trim(struct sip_span s)
{
    while (s.len > 0 && sip_scan_is_lws(s.p[0])) {
        s.p++;
        s.len--;
    }
    while (s.len > 0 && sip_scan_is_lws(s.p[s.len - 1]))
        s.len--;
    return s;
}

bool sip_scan_ieq(struct sip_span s, const char *lit)
{
    size_t n = strlen(lit);

    return s.len == n && strncasecmp(s.p, lit, n) == 0;
}

int sip_scan_u32(struct sip_span s, uint32_t max, uint32_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (s.len == 0)
        return -EINVAL;
    for (i = 0; i < s.len; i++) {
        if (!sip_scan__is_digit(s.p[i]))
            return -EINVAL;
        v = v * 10 + (uint64_t)(s.p[i] - '0');
        if (v > max)
            return -EINVAL;
    }
    *out = (uint32_t)v;
    return 0;
}

int sip_scan_delta(struct sip_span s, uint32_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (s.len == 0)
        return -EINVAL;
    for (i = 0; i < s.len; i++) {
        if (!sip_scan__is_digit(s.p[i]))
            return -EINVAL;
        if (v <= UINT32_MAX)
            v = v * 10 + (uint64_t)(s.p[i] - '0');
    }
    *out = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
    return 0;
}
