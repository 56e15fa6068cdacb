#ifndef TC_SERVER_CONFIG_CONFIG_INT_H
#define TC_SERVER_CONFIG_CONFIG_INT_H

/* Inside config_load(): the loader's state, the key tables and the
 * reporting helpers shared by config.c (the API, reporting, the checks of
 * the whole file), config_line.c (the lines inih reads), config_section.c
 * (section headers, the end of each section) and config_keys.c (one
 * parser per kind of value). Not for other modules. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/config/config.h"
#include "server/config/config_reader.h"
#include "server/config/dn_dir.h"

/* Past this many, problems are counted but not reported one by one. */
#define CONFIG_MAX_ERRORS 1000
/* Keys of the largest section, [node]. */
#define KEYS_MAX 32

struct load;
struct key;

/* Parse value v of key k into field. Reports problems itself. */
typedef void (*key_parse)(struct load *st, const struct key *k, void *field, const char *v);

struct key {
    const char *name;
    key_parse parse;
    size_t off;
    bool list; /* comma list: indented lines below continue it */
};

enum sect_kind {
    SECT_NONE = 0, /* before the first section */
    SECT_SKIP,     /* a section with errors: its keys are ignored */
    SECT_NODE,
    SECT_PEER,
    SECT_DN,
    SECT_GWS,
};

struct load {
    struct config *cfg;
    const char *path;
    config_error_cb on_error;
    void *arg;
    unsigned n_errors;
    bool nomem;

    /* Input: a file or a string, read one whole line at a time. */
    struct config_reader rd;
    unsigned lineno;
    bool cont;                  /* this line continues prev_key's list */
    const struct key *prev_key; /* last key line of this section */
    bool prev_ok;               /* and it was accepted */

    /* The current section. */
    enum sect_kind kind;
    char label[CONFIG_LINE_MAX + 1];
    unsigned sect_line;
    const struct key *keys;
    size_t n_keys;
    void *target;
    uint32_t *seen; /* line of each key in this section, 0 if not yet */
    uint32_t sect_seen[KEYS_MAX];

    /* [node], checked at the end. */
    unsigned node_line;
    uint32_t node_seen[KEYS_MAX];

    /* The [dn] section being read. */
    bool dn_valid;
    dn_key lo, hi;
    struct dn_profile prof;
    size_t cap_members;
    struct config_dn_lines *plines; /* per profile in cfg->dir */
    size_t cap_plines;
};

/* config.c --------------------------------------------------------------- */

/* Report a problem at line (0: the file as a whole), counting it. */
void config__report(struct load *st, unsigned line, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* config_section.c ------------------------------------------------------- */

/* Line where key name was set in the current section (or [node]), or 0:
 * seen holds the lines of keys, n of them, in their order. */
uint32_t config__seen_at(const struct key *keys, size_t n, const uint32_t *seen, const char *name);

/* Free what profile p holds and zero it. */
void config__free_profile(struct dn_profile *p);

/* End the current section: a [dn] section is checked and added to the
 * directory, required keys of the others are checked; then no section is
 * current (its keys are ignored until the next header). */
void config__end_section(struct load *st);

/* A section header line; p points at its '['. Ends the current section
 * and starts the one p names, or reports why it cannot. */
void config__on_section(struct load *st, const char *p);

/* config_line.c ---------------------------------------------------------- */

/* inih's reader (ini_reader): one whole line of st (stream) per call, into
 * out (size bytes), as inih should see it. Returns out, or NULL at the end
 * of the input. */
char *config__on_read(char *out, int size, void *stream);

/* inih's handler: one KEY = VALUE (or a continuation line) of section,
 * given to its key's parser. user is st. Always returns 1: problems are
 * reported, never stop the parse. */
int config__on_pair(void *user, const char *section, const char *name, const char *value);

/* config_keys.c ---------------------------------------------------------- */

/* The keys of each section, in the order their "seen" lines are kept. */
extern const struct key config__node_keys[];
extern const size_t config__n_node_keys;
extern const struct key config__peer_keys[];
extern const size_t config__n_peer_keys;
extern const struct key config__dn_keys[];
extern const size_t config__n_dn_keys;
extern const struct key config__gws_keys[];
extern const size_t config__n_gws_keys;

#endif
