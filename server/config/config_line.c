/* config_line: the lines of the INI file, as inih reads them. Each line is
 * classified before inih sees it (sections are handled here, where line
 * numbers are known), and each KEY = VALUE inih hands back is given to its
 * key's parser. */
#include <string.h>

#include "server/config/config_int.h"
#include "server/config/config_reader.h"

/* Decide what the line s (len bytes) is, handle section headers here (inih
 * calls no handler for them and keeps no line numbers), and give inih in out
 * only what it should see: a key line, a continuation line or nothing. */
static void classify(struct load *st, char *s, size_t len, char *out, size_t size)
{
    const char *p = s + strspn(s, " \t");

    st->cont = false;
    out[0] = '\0';
    if (strlen(s) != len) {
        config__report(st, st->lineno, "line holds a NUL byte");
        return;
    }
    if (len >= size) {
        config__report(st, st->lineno, "line too long (max %zu characters)", size - 1);
        if (*p == '[') {
            config__end_section(st);
            snprintf(out, size, "[]");
        }
        return;
    }
    if (*p == '\0' || *p == ';' || *p == '#')
        return;
    /* An indented line without '=' continues a list (it may start with an
     * IPv6 address in brackets); elsewhere indentation means nothing, so
     * inih gets the line without it. */
    if (p > s && st->prev_key != NULL && st->prev_key->list && !config_reader_has(p, "=") &&
        !config_reader_is_header(p)) {
        /* inih strips no comment from a continuation line. */
        len = (size_t)(config_reader_find(s, "") - s);
        st->cont = true;
        memcpy(out, s, len);
        out[len] = '\0';
        return;
    }
    if (*p == '[') {
        config__on_section(st, p);
        /* inih must see a section too, so it ends the previous key. */
        snprintf(out, size, "[]");
        return;
    }
    if (!config_reader_has(p, "=:")) {
        config__report(st, st->lineno, "expected KEY = VALUE or [SECTION], got \"%s\"", p);
        return;
    }
    memcpy(out, p, len + 1 - (size_t)(p - s));
}

/* inih's reader: one whole line per call, so this counts the lines. */
char *config__on_read(char *out, int size, void *stream)
{
    struct load *st = stream;
    char *s;
    ssize_t n = config_reader_next(&st->rd, &s);

    if (n < 0 || size < 2)
        return NULL;
    st->lineno++;
    classify(st, s, (size_t)n, out, (size_t)size);
    return out;
}

/* Stands for a key whose continuation lines are ignored. */
static const struct key skip_key = {"", NULL, 0, true};

int config__on_pair(void *user, const char *section, const char *name, const char *value)
{
    struct load *st = user;
    const struct key *k = NULL;
    size_t i;

    (void)section;
    if (st->cont) {
        if (st->prev_ok)
            st->prev_key->parse(st, st->prev_key, (char *)st->target + st->prev_key->off, value);
        return 1;
    }
    if (st->kind == SECT_NONE) {
        config__report(st, st->lineno, "key %s outside any section", name);
        return 1;
    }
    for (i = 0; i < st->n_keys; i++) {
        if (strcmp(st->keys[i].name, name) == 0) {
            k = &st->keys[i];
            break;
        }
    }
    /* Lines that continue an unknown or repeated key are skipped quietly. */
    st->prev_key = &skip_key;
    st->prev_ok = false;
    if (st->kind == SECT_SKIP)
        return 1;
    if (k == NULL && strpbrk(name, " \t") != NULL) {
        /* "tc-listen 127.0.0.1:3001": inih cut it at the ':'. */
        config__report(st, st->lineno,
                       "expected KEY = VALUE, got '%s:%s' (is '=' missing after %.*s?)", name,
                       value, (int)strcspn(name, " \t"), name);
        return 1;
    }
    if (k == NULL) {
        config__report(st, st->lineno, "unknown key %s in [%s]", name, st->label);
        return 1;
    }
    if (st->seen[i] != 0) {
        config__report(st, st->lineno, "duplicate key %s in [%s] (first at line %u)", name,
                       st->label, st->seen[i]);
        return 1;
    }
    st->seen[i] = st->lineno;
    st->prev_key = k;
    st->prev_ok = true;
    k->parse(st, k, (char *)st->target + k->off, value);
    return 1;
}
