#ifndef TC_SERVER_BASE_BUF_H
#define TC_SERVER_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>

/* A growable byte buffer. The struct is the caller's; the bytes it points to
 * belong to the buffer until tc_buf_free(). data is always NUL-terminated
 * (not counted in len) once anything was appended. Not thread-safe. */
struct tc_buf {
    char *data;
    size_t len;
    size_t cap;
};

#define TC_BUF_INIT \
    {               \
        NULL, 0, 0  \
    }

/* Make room for n more bytes. Returns 0 or -ENOMEM. */
int tc_buf_reserve(struct tc_buf *b, size_t n);

/* Append n bytes. Returns 0 or -ENOMEM (b unchanged). */
int tc_buf_append(struct tc_buf *b, const void *p, size_t n);

/* Append a C string. Returns 0 or -ENOMEM. */
int tc_buf_puts(struct tc_buf *b, const char *s);

/* Append formatted text. Returns 0 or -ENOMEM (b unchanged). */
int tc_buf_printf(struct tc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int tc_buf_vprintf(struct tc_buf *b, const char *fmt, va_list ap);

/* Drop the first n bytes (n <= len), keeping the rest. */
void tc_buf_consume(struct tc_buf *b, size_t n);

/* Forget the contents, keep the memory. */
void tc_buf_reset(struct tc_buf *b);

/* Release the memory; b is empty and reusable afterwards. */
void tc_buf_free(struct tc_buf *b);

#endif
