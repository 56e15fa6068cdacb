#ifndef TC_SERVER_CONFIG_DN_DIR_H
#define TC_SERVER_CONFIG_DN_DIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The DN directory: which DNs exist and their options, as configured by
 * [dn RANGE] sections. Held as sorted ranges sharing profiles, so a
 * directory of 1,000,000 DNs costs a few bytes per range, not per DN.
 *
 * A DN is 1 to DN_DIR_MAX_DIGITS decimal digits. "0100" and "100" are
 * different DNs. A DN is named inside the program by a dn_key, which packs
 * the digit count and the number into 64 bits; keys of one width sort like
 * their numbers. Not thread-safe; built once, then read-only. */

#define DN_DIR_MAX_DIGITS 17
#define DN_KEY_NONE       0 /* never a valid key */

typedef uint64_t dn_key;

enum dn_type {
    DN_TYPE_EXTENSION = 0,
    DN_TYPE_ROUTING_POINT,
};

enum dn_distribution {
    DN_DIST_MOST_AGENTS = 0,
    DN_DIST_LOCAL_FIRST,
};

/* A [dn] section's dr-forward: unset (the node's [node] dr-forward), or set. */
enum dn_dr_forward {
    DN_DR_FORWARD_NODE = 0,
    DN_DR_FORWARD_ON,
    DN_DR_FORWARD_OFF,
};

/* Digest algorithms a DN may be challenged with (auth-algorithms). */
enum dn_auth_alg {
    DN_AUTH_NONE = 0, /* ends a shorter list */
    DN_AUTH_MD5,
    DN_AUTH_SHA256,
};

#define DN_AUTH_ALGS_MAX 2 /* each algorithm at most once */

/* Options shared by every DN of one [dn ...] section. Strings are owned by
 * the directory; NULL when not set. */
struct dn_profile {
    enum dn_type type;
    bool shared_line;
    enum dn_distribution distribution;
    char *password;           /* digest password, or NULL: no authentication */
    char *sca_preferred_site; /* node name */
    /* Agent group. On an extension: the name of the group it belongs to.
     * On a routing point: the agents it serves, either a DN range (group_lo
     * and group_hi set: the extensions of the directory in that range) or a
     * name (group_lo == DN_KEY_NONE: the extensions whose group is that
     * name). */
    char *group;
    dn_key group_lo, group_hi;
    dn_key *members; /* shared-line members */
    uint32_t n_members;
    enum dn_dr_forward dr_forward;
    /* auth-algorithms in the order challenged, DN_AUTH_NONE after the
     * last, and auth-realm; once the file is read every profile has them,
     * from its section, a wider one or [node]. */
    uint8_t auth_algs[DN_AUTH_ALGS_MAX];
    char *auth_realm;
    uint32_t line;   /* line of the section header, for messages */
    uint32_t set;    /* DN_SET_* bits: the keys its own section set */
    uint32_t parent; /* the profile of the section it is nested in, or DN_PROFILE_NONE */
};

#define DN_PROFILE_NONE UINT32_MAX

/* Keys a [dn] section sets itself; a section nested in a wider one takes
 * the others from it (DESIGN §8). */
enum {
    DN_SET_TYPE = 1u << 0,
    DN_SET_SHARED_LINE = 1u << 1,
    DN_SET_MEMBERS = 1u << 2,
    DN_SET_SCA = 1u << 3,
    DN_SET_PASSWORD = 1u << 4,
    DN_SET_GROUP = 1u << 5,
    DN_SET_DISTRIBUTION = 1u << 6,
    DN_SET_DR_FORWARD = 1u << 7,
    DN_SET_AUTH_ALGS = 1u << 8,
    DN_SET_AUTH_REALM = 1u << 9,
};

struct dn_range {
    dn_key lo; /* first and last key; same width */
    dn_key hi;
    uint64_t base;    /* DNs in the ranges before this one; set by dn_dir_finish() */
    uint32_t profile; /* index into profiles */
    uint32_t line;    /* line of the section header */
};

/* Bytes dn_range_str() needs: "LO-HI" and a NUL. */
#define DN_RANGE_STR_MAX (2 * DN_DIR_MAX_DIGITS + 2)

struct dn_dir {
    struct dn_range *ranges; /* sorted by lo after dn_dir_finish() */
    size_t n_ranges, cap_ranges;
    struct dn_profile *profiles;
    size_t n_profiles, cap_profiles;
    uint64_t n_dns; /* total DNs, valid after dn_dir_finish() */
};

/* Make a key from a digit count (1..DN_DIR_MAX_DIGITS) and a number below
 * 10^width. */
static inline dn_key dn_key_make(unsigned width, uint64_t number)
{
    return ((uint64_t)width << 57) | number;
}

static inline unsigned dn_key_width(dn_key k)
{
    return (unsigned)(k >> 57);
}

static inline uint64_t dn_key_number(dn_key k)
{
    return k & ((UINT64_C(1) << 57) - 1);
}

/* Parse len bytes of s as a DN. Returns 0 and fills *out, or -EINVAL when s
 * is empty, too long or not all digits. */
int dn_key_parse(const char *s, size_t len, dn_key *out);

/* Write the DN's digits and a NUL into buf (at least DN_DIR_MAX_DIGITS + 1
 * bytes). Returns the number of digits written. */
int dn_key_format(dn_key k, char *buf, size_t size);

/* Parse spec, "LO-HI" or a single "DN", into *lo and *hi (equal for a single
 * DN). Returns 0, -EINVAL when it is not one or two DNs, -EDOM when LO and HI
 * differ in width, or -ERANGE when LO > HI. Any thread. */
int dn_range_parse(const char *spec, dn_key *lo, dn_key *hi);

/* Write r as "LO-HI", or "DN" when it holds one DN, into buf (at least
 * DN_RANGE_STR_MAX bytes). Returns buf. */
const char *dn_range_str(const struct dn_range *r, char *buf, size_t size);

/* Empty directory; the struct is the caller's. */
void dn_dir_init(struct dn_dir *d);

/* Release everything the directory holds. */
void dn_dir_free(struct dn_dir *d);

/* Append a profile (copied shallowly: the directory takes the strings and the
 * members array, which must be malloc'd; its parent is set to
 * DN_PROFILE_NONE until dn_dir_finish()). Returns its index, or -ENOMEM, in
 * which case the caller keeps them. */
int dn_dir_add_profile(struct dn_dir *d, const struct dn_profile *p);

/* Add "LO-HI" or a single "DN" for profile. Returns 0, -EINVAL for a bad
 * spec (LO and HI of different widths, LO > HI, not digits), -ENOMEM. */
int dn_dir_add_range(struct dn_dir *d, const char *spec, uint32_t profile, uint32_t line);

/* Same with parsed keys. Returns 0, -EINVAL when lo and hi differ in width,
 * lo > hi or profile is not an index, -ENOMEM. */
int dn_dir_add_keys(struct dn_dir *d, dn_key lo, dn_key hi, uint32_t profile, uint32_t line);

/* Sort the ranges and check them. A range strictly inside a wider one (a
 * narrower section, e.g. [dn 1010] in [dn 1000-1999]) is allowed: its DNs
 * take its own profile, and the profile's parent is set to the wider one's
 * (the narrowest enclosing range). The ranges are then cut into disjoint
 * pieces, so lookups stay one binary search. Two ranges that overlap
 * without one holding the other, or that are the same, are errors: for each
 * such pair calls on_overlap(arg, later, earlier) (later = larger line) and
 * keeps going. Returns 0, -EINVAL when a pair overlaps (the ranges are then
 * left sorted, uncut), or -ENOMEM. Calling it again is harmless. */
int dn_dir_finish(struct dn_dir *d,
                  void (*on_overlap)(void *arg, const struct dn_range *later,
                                     const struct dn_range *earlier),
                  void *arg);

/* Find a DN, after dn_dir_finish(). Returns its profile (owned by the
 * directory), or NULL when it is not in the directory. O(log ranges). */
const struct dn_profile *dn_dir_lookup(const struct dn_dir *d, dn_key k);

/* True when k is in the directory. */
bool dn_dir_contains(const struct dn_dir *d, dn_key k);

/* True when some DN of type lies in [lo, hi], after dn_dir_finish() on a
 * directory without overlaps. O(log ranges + ranges inside [lo, hi]). */
bool dn_dir_any_in(const struct dn_dir *d, dn_key lo, dn_key hi, enum dn_type type);

/* The DN at position i (0 <= i < n_dns) in directory order (ranges sorted
 * by width, then number). O(log ranges). Returns DN_KEY_NONE past the end. */
dn_key dn_dir_at(const struct dn_dir *d, uint64_t i);

#endif
