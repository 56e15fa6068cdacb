#include "server/config/config_value.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

const char *config_value_digits(const char *s, uint64_t *n)
{
    const char *p = s;

    *n = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        uint64_t d = (uint64_t)(*p - '0');

        if (*n > (UINT64_MAX - d) / 10)
            return NULL;
        *n = *n * 10 + d;
    }
    return p == s ? NULL : p;
}

bool config_value_is_name(const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || len >= CONFIG_NAME_MAX)
        return false;
    for (const char *p = s; *p != '\0'; p++) {
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
            return false;
    }
    return true;
}

int config_value_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -EINVAL;
}

int config_value_duration(const char *v, uint32_t *ms)
{
    static const struct {
        const char *unit;
        uint32_t ms;
    } units[] = {{"", 1}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    const char *end;
    uint64_t n;

    end = config_value_digits(v, &n);
    for (size_t i = 0; end != NULL && i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].unit) != 0)
            continue;
        if (n == 0 || n > UINT32_MAX / units[i].ms)
            break;
        *ms = (uint32_t)n * units[i].ms;
        return 0;
    }
    return -EINVAL;
}

int config_value_size(const char *v, uint64_t max, uint64_t *out)
{
    const char *end;
    unsigned shift = 0;
    uint64_t n;

    end = config_value_digits(v, &n);
    if (end != NULL && end[0] != '\0' && end[1] == '\0') {
        const char *p = strchr("kmg", tolower((unsigned char)end[0]));

        if (p != NULL && *p != '\0') {
            shift = 10 * (unsigned)(p - "kmg" + 1);
            end++;
        }
    }
    if (end == NULL || *end != '\0' || n == 0 || n > (max >> shift))
        return -EINVAL;
    *out = n << shift;
    return 0;
}

int config_value_count(const char *v, uint32_t *out)
{
    const char *end;
    uint64_t n;

    end = config_value_digits(v, &n);
    if (end == NULL || *end != '\0' || n == 0 || n > UINT32_MAX)
        return -EINVAL;
    *out = (uint32_t)n;
    return 0;
}

int config_value_durability(const char *v, enum config_durability *out)
{
    if (strcmp(v, "sync") == 0)
        *out = CONFIG_DURABILITY_SYNC;
    else if (strcmp(v, "async") == 0)
        *out = CONFIG_DURABILITY_ASYNC;
    else
        return -EINVAL;
    return 0;
}

int config_value_dn_type(const char *v, enum dn_type *out)
{
    if (strcmp(v, "extension") == 0)
        *out = DN_TYPE_EXTENSION;
    else if (strcmp(v, "routing-point") == 0)
        *out = DN_TYPE_ROUTING_POINT;
    else
        return -EINVAL;
    return 0;
}

int config_value_distribution(const char *v, enum dn_distribution *out)
{
    if (strcmp(v, "most-agents") == 0)
        *out = DN_DIST_MOST_AGENTS;
    else if (strcmp(v, "local-first") == 0)
        *out = DN_DIST_LOCAL_FIRST;
    else
        return -EINVAL;
    return 0;
}

static bool is_ipv4ish(const char *s)
{
    return s[strspn(s, "0123456789.")] == '\0';
}

static bool is_hostname(const char *s)
{
    if (*s == '.' || *s == '-')
        return false;
    for (const char *p = s; *p != '\0'; p++) {
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_')
            return false;
    }
    return true;
}

/* The host of "[v6]:port" into host. Returns NULL and sets *port, or why not. */
static const char *bracket_host(const char *v, char *host, size_t size, const char **port)
{
    const char *close = strchr(v, ']');
    unsigned char bin[16];
    size_t len;

    if (close == NULL)
        return "missing ] after the IPv6 address";
    if (close[1] != ':')
        return "missing :PORT";
    len = (size_t)(close - v - 1);
    if (len >= size)
        return "bad IPv6 address";
    memcpy(host, v + 1, len);
    host[len] = '\0';
    if (inet_pton(AF_INET6, host, bin) != 1)
        return "bad IPv6 address";
    *port = close + 2;
    return NULL;
}

/* The host of "host:port" into host. Returns NULL and sets *port, or why not. */
static const char *plain_host(const char *v, bool numeric, char *host, size_t size,
                              const char **port)
{
    const char *colon = strrchr(v, ':');
    unsigned char bin[16];
    size_t len;

    if (colon == NULL)
        return "missing :PORT";
    if (memchr(v, ':', (size_t)(colon - v)) != NULL)
        return "an IPv6 address takes brackets, as in [::1]:5060";
    len = (size_t)(colon - v);
    if (len == 0)
        return "missing host";
    if (len >= size)
        return "host name too long";
    memcpy(host, v, len);
    host[len] = '\0';
    if (is_ipv4ish(host)) {
        if (inet_pton(AF_INET, host, bin) != 1)
            return "bad IPv4 address";
    } else if (numeric) {
        return "a listen address must be numeric, as in 127.0.0.1 or [::1]";
    } else if (!is_hostname(host)) {
        return "bad host name";
    }
    *port = colon + 1;
    return NULL;
}

const char *config_value_addr(const char *v, bool numeric, struct config_addr *out)
{
    char host[CONFIG_HOST_MAX];
    /* Set by the host readers on success; gcc without ASan cannot see it. */
    const char *port = NULL, *end, *why;
    uint64_t n;

    if (v[0] == '[')
        why = bracket_host(v, host, sizeof(host), &port);
    else
        why = plain_host(v, numeric, host, sizeof(host), &port);
    if (why != NULL)
        return why;
    end = config_value_digits(port, &n);
    if (end == NULL || *end != '\0' || n == 0 || n > 65535)
        return "port must be 1 to 65535";
    memcpy(out->host, host, strlen(host) + 1);
    out->port = (uint16_t)n;
    return NULL;
}

unsigned config_value_list(const char *v, config_value_item_cb on_item, void *arg)
{
    char item[CONFIG_LINE_MAX + 1];
    unsigned n = 0;

    for (const char *p = v;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);

        while (len > 0 && isspace((unsigned char)*p)) {
            p++;
            len--;
        }
        while (len > 0 && isspace((unsigned char)p[len - 1]))
            len--;
        if (len > 0 && len < sizeof(item)) {
            memcpy(item, p, len);
            item[len] = '\0';
            on_item(arg, item);
            n++;
        }
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    return n;
}

const char *config_value_cidr(const char *v, struct config_cidr *out)
{
    char host[INET6_ADDRSTRLEN];
    const char *slash = strchr(v, '/');
    size_t len = slash != NULL ? (size_t)(slash - v) : strlen(v);
    struct config_cidr c = {0};
    unsigned max;
    uint64_t bits;

    if (len == 0 || len >= sizeof(host))
        return "not an IP address";
    memcpy(host, v, len);
    host[len] = '\0';
    if (inet_pton(AF_INET, host, c.addr) == 1)
        c.family = AF_INET;
    else if (inet_pton(AF_INET6, host, c.addr) == 1)
        c.family = AF_INET6;
    else
        return "not an IP address";
    max = c.family == AF_INET ? 32 : 128;
    bits = max;
    if (slash != NULL) {
        const char *end = config_value_digits(slash + 1, &bits);

        if (end == NULL || *end != '\0' || bits > max)
            return c.family == AF_INET ? "the prefix length is not 0 to 32"
                                       : "the prefix length is not 0 to 128";
    }
    c.bits = (uint8_t)bits;
    for (unsigned i = c.bits; i < max; i++) {
        if (c.addr[i / 8] & (0x80u >> (i % 8)))
            return "bits are set past the prefix length (write the network address)";
    }
    *out = c;
    return NULL;
}
