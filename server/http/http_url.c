#include "server/http/http_url.h"

#include <errno.h>
#include <http_parser.h>

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

int http_url_decode(char *s, size_t len)
{
    size_t i, o = 0;

    for (i = 0; i < len; i++) {
        int hi, lo;

        if (s[i] != '%') {
            s[o++] = s[i];
            continue;
        }
        if (i + 2 >= len)
            return -EINVAL;
        hi = hexval(s[i + 1]);
        lo = hexval(s[i + 2]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
            return -EINVAL;
        s[o++] = (char)(hi * 16 + lo);
        i += 2;
    }
    s[o] = '\0';
    return 0;
}

int http_url_split(char *url, size_t len, bool connect, const char **path, const char **query)
{
    struct http_parser_url u;

    *path = "/";
    *query = "";
    if (url == NULL)
        return -EINVAL;
    http_parser_url_init(&u);
    if (http_parser_parse_url(url, len, connect, &u) != 0)
        return -EINVAL;
    /* The query ends before the fragment or at the end; the path ends
     * before the query. Terminate the query first: it lies after the path. */
    if (u.field_set & (1 << UF_QUERY)) {
        url[u.field_data[UF_QUERY].off + u.field_data[UF_QUERY].len] = '\0';
        *query = url + u.field_data[UF_QUERY].off;
    }
    if (u.field_set & (1 << UF_PATH)) {
        char *p = url + u.field_data[UF_PATH].off;

        if (http_url_decode(p, u.field_data[UF_PATH].len) != 0)
            return -EINVAL;
        *path = p;
    }
    return 0;
}
