#include "server/config/config_reader.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The next line of r->text, copied into r->line with its line end. Returns
 * its length, or -1. */
static ssize_t next_text_line(struct config_reader *r)
{
    const char *nl;
    ssize_t n;

    if (*r->text == '\0')
        return -1;
    nl = strchr(r->text, '\n');
    n = nl != NULL ? nl - r->text + 1 : (ssize_t)strlen(r->text);
    if ((size_t)n + 1 > r->cap) {
        char *l = realloc(r->line, (size_t)n + 1);

        if (l == NULL) {
            r->err = ENOMEM;
            return -1;
        }
        r->line = l;
        r->cap = (size_t)n + 1;
    }
    memcpy(r->line, r->text, (size_t)n);
    r->line[n] = '\0';
    r->text += n;
    return n;
}

ssize_t config_reader_next(struct config_reader *r, char **line)
{
    ssize_t n;
    char *s;

    if (r->file != NULL) {
        errno = 0;
        n = getline(&r->line, &r->cap, r->file);
        if (n < 0) {
            if (ferror(r->file))
                r->err = errno != 0 ? errno : EIO;
            return -1;
        }
    } else {
        n = next_text_line(r);
        if (n < 0)
            return -1;
    }
    s = r->line;
    if (n > 0 && s[n - 1] == '\n')
        s[--n] = '\0';
    if (n > 0 && s[n - 1] == '\r')
        s[--n] = '\0';
    if (!r->started && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
        s += 3;
        n -= 3;
    }
    r->started = true;
    *line = s;
    return n;
}

void config_reader_free(struct config_reader *r)
{
    free(r->line);
    r->line = NULL;
    r->cap = 0;
}

const char *config_reader_find(const char *s, const char *chars)
{
    bool was_space = false;

    for (; *s != '\0' && strchr(chars, *s) == NULL; s++) {
        if (was_space && *s == ';')
            break;
        was_space = isspace((unsigned char)*s);
    }
    return s;
}

bool config_reader_has(const char *s, const char *chars)
{
    char c = *config_reader_find(s, chars);

    return c != '\0' && strchr(chars, c) != NULL;
}

bool config_reader_is_header(const char *p)
{
    const char *close = config_reader_find(p + 1, "]");

    if (*p != '[' || *close != ']')
        return false;
    close += 1 + strspn(close + 1, " \t");
    return *close == '\0' || *close == ';' || *close == '#';
}
