#ifndef TC_SERVER_CONFIG_CONFIG_READER_H
#define TC_SERVER_CONFIG_CONFIG_READER_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

/* Private to the configuration loader: the lines of an INI file, read from
 * a file or a string, and the inline-comment rules inih applies to them.
 * Not thread-safe; one reader per load. */

struct config_reader {
    FILE *file;       /* read from here when not NULL (borrowed) */
    const char *text; /* else from here, which advances (borrowed) */
    char *line;       /* the last line read; owned, config_reader_free() frees */
    size_t cap;
    bool started; /* a line was read: no byte order mark to skip */
    int err;      /* errno of a failed read, else 0 */
};

/* Read the next line into r->line, without its line end ("\n" or "\r\n")
 * and, on the first line, without a UTF-8 byte order mark. Sets *line to it
 * (valid until the next call) and returns its length, which a NUL byte in
 * the line makes differ from strlen(*line). Returns -1 at the end, or on a
 * read error with r->err set (ENOMEM included). */
ssize_t config_reader_next(struct config_reader *r, char **line);

/* Release r->line. r may be read from again. */
void config_reader_free(struct config_reader *r);

/* The first of chars in s before an inline comment (';' after a blank), the
 * way inih finds it; else the end of what is not comment. */
const char *config_reader_find(const char *s, const char *chars);

/* True when s holds one of chars before any inline comment. */
bool config_reader_has(const char *s, const char *chars);

/* True when p, at a '[', is a section header: "[...]", then maybe blanks
 * and a comment. */
bool config_reader_is_header(const char *p);

#endif
