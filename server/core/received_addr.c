#include "server/core/received_addr.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

size_t received_addr_size(unsigned kind)
{
    return kind == RECEIVED_ADDR_IPV4 ? 6 : kind == RECEIVED_ADDR_IPV6 ? 18 : 0;
}

/* A decimal number of at most max, without a leading zero, from *p up to
 * end or the first non-digit. Returns false when there is none. */
static bool decimal(const char **p, const char *end, unsigned max, unsigned *out)
{
    const char *s = *p;
    unsigned v = 0;

    if (s == end || *s < '0' || *s > '9')
        return false;
    if (*s == '0' && s + 1 < end && s[1] >= '0' && s[1] <= '9')
        return false;
    while (s < end && *s >= '0' && *s <= '9') {
        v = v * 10 + (unsigned)(*s - '0');
        if (v > max)
            return false;
        s++;
    }
    *p = s;
    *out = v;
    return true;
}

/* "a.b.c.d:port", as inet_ntop and %u write it. */
static bool pack_ipv4(const char *s, const char *end, uint8_t *out)
{
    unsigned v;

    for (int i = 0; i < 4; i++) {
        if (!decimal(&s, end, 255, &v))
            return false;
        out[i] = (uint8_t)v;
        if (s == end || *s++ != (i < 3 ? '.' : ':'))
            return false;
    }
    if (!decimal(&s, end, 65535, &v) || s != end)
        return false;
    out[4] = (uint8_t)(v >> 8);
    out[5] = (uint8_t)v;
    return true;
}

/* "[addr]:port" with addr as inet_ntop writes it. */
static bool pack_ipv6(const char *s, const char *end, uint8_t *out)
{
    const char *close = memchr(s, ']', (size_t)(end - s));
    char addr[INET6_ADDRSTRLEN], back[INET6_ADDRSTRLEN];
    size_t n;
    unsigned v;

    if (s == end || *s != '[' || close == NULL)
        return false;
    n = (size_t)(close - s - 1);
    if (n == 0 || n >= sizeof(addr))
        return false;
    memcpy(addr, s + 1, n);
    addr[n] = '\0';
    if (inet_pton(AF_INET6, addr, out) != 1 ||
        inet_ntop(AF_INET6, out, back, sizeof(back)) == NULL || strcmp(back, addr) != 0)
        return false;
    s = close + 1;
    if (s == end || *s++ != ':' || !decimal(&s, end, 65535, &v) || s != end)
        return false;
    out[16] = (uint8_t)(v >> 8);
    out[17] = (uint8_t)v;
    return true;
}

unsigned received_addr_pack(const char *text, size_t len, int tcp, uint8_t *out)
{
    const char *end = text + len;

    if (len < 4 || memcmp(text, tcp ? "tcp:" : "udp:", 4) != 0)
        return RECEIVED_ADDR_TEXT;
    if (pack_ipv4(text + 4, end, out))
        return RECEIVED_ADDR_IPV4;
    if (pack_ipv6(text + 4, end, out))
        return RECEIVED_ADDR_IPV6;
    return RECEIVED_ADDR_TEXT;
}

/* Write v in decimal at p; returns the end. */
static char *put_decimal(char *p, unsigned v)
{
    char tmp[10];
    int n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0)
        *p++ = tmp[--n];
    return p;
}

void received_addr_format(unsigned kind, const uint8_t *bytes, int tcp, char *buf)
{
    char *p = buf;

    memcpy(p, tcp ? "tcp:" : "udp:", 4);
    p += 4;
    if (kind == RECEIVED_ADDR_IPV4) {
        for (int i = 0; i < 4; i++) {
            p = put_decimal(p, bytes[i]);
            *p++ = i < 3 ? '.' : ':';
        }
        p = put_decimal(p, (unsigned)bytes[4] << 8 | bytes[5]);
    } else {
        *p++ = '[';
        if (inet_ntop(AF_INET6, bytes, p, INET6_ADDRSTRLEN) == NULL)
            *p = '\0';
        p += strlen(p);
        *p++ = ']';
        *p++ = ':';
        p = put_decimal(p, (unsigned)bytes[16] << 8 | bytes[17]);
    }
    *p = '\0';
}
