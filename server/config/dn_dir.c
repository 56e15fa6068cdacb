#include "server/config/dn_dir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 10^w for each width: a key of width w holds a number below this. */
static const uint64_t pow10_tab[DN_DIR_MAX_DIGITS + 1] = {
        UINT64_C(1),
        UINT64_C(10),
        UINT64_C(100),
        UINT64_C(1000),
        UINT64_C(10000),
        UINT64_C(100000),
        UINT64_C(1000000),
        UINT64_C(10000000),
        UINT64_C(100000000),
        UINT64_C(1000000000),
        UINT64_C(10000000000),
        UINT64_C(100000000000),
        UINT64_C(1000000000000),
        UINT64_C(10000000000000),
        UINT64_C(100000000000000),
        UINT64_C(1000000000000000),
        UINT64_C(10000000000000000),
        UINT64_C(100000000000000000),
};

int dn_key_parse(const char *s, size_t len, dn_key *out)
{
    uint64_t n = 0;

    if (len == 0 || len > DN_DIR_MAX_DIGITS)
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        n = n * 10 + (uint64_t)(s[i] - '0');
    }
    *out = dn_key_make((unsigned)len, n);
    return 0;
}

int dn_key_format(dn_key k, char *buf, size_t size)
{
    unsigned w = dn_key_width(k);
    uint64_t n = dn_key_number(k);

    if (w == 0 || w > DN_DIR_MAX_DIGITS || n >= pow10_tab[w])
        return -EINVAL;
    if (size < (size_t)w + 1)
        return -ENOSPC;
    buf[w] = '\0';
    for (unsigned i = w; i > 0; i--) {
        buf[i - 1] = (char)('0' + n % 10);
        n /= 10;
    }
    return (int)w;
}

int dn_range_parse(const char *spec, dn_key *lo, dn_key *hi)
{
    const char *dash = strchr(spec, '-');
    size_t len = strlen(spec);

    if (dash == NULL) {
        if (dn_key_parse(spec, len, lo) != 0)
            return -EINVAL;
        *hi = *lo;
        return 0;
    }
    if (dn_key_parse(spec, (size_t)(dash - spec), lo) != 0 ||
        dn_key_parse(dash + 1, len - (size_t)(dash - spec) - 1, hi) != 0)
        return -EINVAL;
    if (dn_key_width(*lo) != dn_key_width(*hi))
        return -EDOM;
    if (*lo > *hi)
        return -ERANGE;
    return 0;
}

const char *dn_range_str(const struct dn_range *r, char *buf, size_t size)
{
    char lo[DN_DIR_MAX_DIGITS + 1] = "?";
    char hi[DN_DIR_MAX_DIGITS + 1] = "?";

    dn_key_format(r->lo, lo, sizeof(lo));
    if (r->lo == r->hi) {
        snprintf(buf, size, "%s", lo);
    } else {
        dn_key_format(r->hi, hi, sizeof(hi));
        snprintf(buf, size, "%s-%s", lo, hi);
    }
    return buf;
}

void dn_dir_init(struct dn_dir *d)
{
    memset(d, 0, sizeof(*d));
}

void dn_dir_free(struct dn_dir *d)
{
    for (size_t i = 0; i < d->n_profiles; i++) {
        struct dn_profile *p = &d->profiles[i];

        free(p->password);
        free(p->auth_realm);
        free(p->sca_preferred_site);
        free(p->group);
        free(p->members);
    }
    free(d->profiles);
    free(d->ranges);
    dn_dir_init(d);
}

/* Make room for one more element in *arr (n used of *cap, each size bytes).
 * Returns 0 or -ENOMEM, leaving *arr as it was. */
static int grow(void **arr, size_t n, size_t *cap, size_t size)
{
    size_t ncap;
    void *p;

    if (n < *cap)
        return 0;
    ncap = *cap != 0 ? *cap * 2 : 16;
    if (ncap > SIZE_MAX / size)
        return -ENOMEM;
    p = realloc(*arr, ncap * size);
    if (p == NULL)
        return -ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

int dn_dir_add_profile(struct dn_dir *d, const struct dn_profile *p)
{
    void *arr = d->profiles;

    if (d->n_profiles >= INT32_MAX)
        return -ENOMEM;
    if (grow(&arr, d->n_profiles, &d->cap_profiles, sizeof(*d->profiles)) != 0)
        return -ENOMEM;
    d->profiles = arr;
    d->profiles[d->n_profiles] = *p;
    d->profiles[d->n_profiles].parent = DN_PROFILE_NONE;
    return (int)d->n_profiles++;
}

int dn_dir_add_keys(struct dn_dir *d, dn_key lo, dn_key hi, uint32_t profile, uint32_t line)
{
    void *arr = d->ranges;
    struct dn_range *r;

    if (dn_key_width(lo) != dn_key_width(hi) || lo > hi || profile >= d->n_profiles)
        return -EINVAL;
    if (grow(&arr, d->n_ranges, &d->cap_ranges, sizeof(*d->ranges)) != 0)
        return -ENOMEM;
    d->ranges = arr;
    r = &d->ranges[d->n_ranges++];
    r->lo = lo;
    r->hi = hi;
    r->base = 0;
    r->profile = profile;
    r->line = line;
    return 0;
}

int dn_dir_add_range(struct dn_dir *d, const char *spec, uint32_t profile, uint32_t line)
{
    dn_key lo, hi;

    if (dn_range_parse(spec, &lo, &hi) != 0)
        return -EINVAL;
    return dn_dir_add_keys(d, lo, hi, profile, line);
}

/* Wider ranges first among those starting at one key, so a range comes
 * after every range that holds it. */
static int cmp_range(const void *a, const void *b)
{
    const struct dn_range *x = a, *y = b;

    if (x->lo != y->lo)
        return x->lo < y->lo ? -1 : 1;
    if (x->hi != y->hi)
        return x->hi > y->hi ? -1 : 1;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return 0;
}

static void
report_pair(const struct dn_range *a, const struct dn_range *b,
            void (*on_overlap)(void *, const struct dn_range *, const struct dn_range *), void *arg)
{
    if (on_overlap == NULL)
        return;
    if (a->line >= b->line)
        on_overlap(arg, a, b);
    else
        on_overlap(arg, b, a);
}

/* Check that the sorted ranges nest or stay apart, and set each nested
 * range's parent index (SIZE_MAX for none). Returns 0 or -EINVAL. */
static int check_nesting(struct dn_dir *d, size_t *parent, size_t *stack,
                         void (*on_overlap)(void *, const struct dn_range *,
                                            const struct dn_range *),
                         void *arg)
{
    size_t sp = 0;
    int rc = 0;

    for (size_t i = 0; i < d->n_ranges; i++) {
        const struct dn_range *r = &d->ranges[i];

        /* Keys of another width are other numbers: never in the stack. */
        while (sp > 0 && d->ranges[stack[sp - 1]].hi < r->lo)
            sp--;
        parent[i] = SIZE_MAX;
        for (size_t s = sp; s > 0; s--) {
            const struct dn_range *o = &d->ranges[stack[s - 1]];
            bool same = o->lo == r->lo && o->hi == r->hi;

            if (o->hi < r->lo)
                continue; /* under an entry that overlapped another: apart from r */
            if (r->hi <= o->hi && !same) {
                if (parent[i] == SIZE_MAX)
                    parent[i] = stack[s - 1];
                continue;
            }
            report_pair(r, o, on_overlap, arg);
            rc = -EINVAL;
        }
        stack[sp++] = i;
    }
    return rc;
}

/* Append [lo, hi] of range r as a piece to out. */
static void piece(struct dn_range *out, size_t *n, const struct dn_range *r, dn_key lo, dn_key hi)
{
    if (lo > hi)
        return;
    out[*n] = *r;
    out[*n].lo = lo;
    out[*n].hi = hi;
    (*n)++;
}

/* Cut nested ranges out of the ranges holding them: every DN lands in
 * exactly one piece, that of the narrowest range holding it. next[i] is
 * the first DN of range i not yet given to a piece. */
static void cut(const struct dn_dir *d, const size_t *parent, dn_key *next, struct dn_range *out,
                size_t *n)
{
    for (size_t i = 0; i < d->n_ranges; i++)
        next[i] = d->ranges[i].lo;
    for (size_t i = 0; i < d->n_ranges; i++) {
        size_t p = parent[i];

        if (p == SIZE_MAX)
            continue;
        /* The part of the parent before this range is the parent's. */
        piece(out, n, &d->ranges[p], next[p], d->ranges[i].lo - 1);
        next[p] = d->ranges[i].hi + 1;
    }
    /* What is left of each range after its last nested one. */
    for (size_t i = 0; i < d->n_ranges; i++)
        piece(out, n, &d->ranges[i], next[i], d->ranges[i].hi);
}

static int cmp_lo(const void *a, const void *b)
{
    const struct dn_range *x = a, *y = b;

    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

int dn_dir_finish(struct dn_dir *d,
                  void (*on_overlap)(void *arg, const struct dn_range *later,
                                     const struct dn_range *earlier),
                  void *arg)
{
    size_t n = d->n_ranges, np = 0, *parent, *stack;
    struct dn_range *out = NULL;
    dn_key *next = NULL;
    uint64_t total = 0;
    int rc;

    if (n > 1)
        qsort(d->ranges, n, sizeof(*d->ranges), cmp_range);
    parent = calloc(n + 1, sizeof(*parent));
    stack = calloc(n + 1, sizeof(*stack));
    if (parent == NULL || stack == NULL) {
        rc = -ENOMEM;
        goto out_free;
    }
    rc = check_nesting(d, parent, stack, on_overlap, arg);
    if (rc != 0)
        goto out_free;
    /* n ranges nested k deep cut into at most 2n - 1 pieces. */
    out = malloc((2 * n + 1) * sizeof(*out));
    next = malloc((n + 1) * sizeof(*next));
    if (out == NULL || next == NULL) {
        rc = -ENOMEM;
        goto out_free;
    }
    for (size_t i = 0; i < n; i++) {
        if (parent[i] != SIZE_MAX)
            d->profiles[d->ranges[i].profile].parent = d->ranges[parent[i]].profile;
    }
    cut(d, parent, next, out, &np);
    qsort(out, np, sizeof(*out), cmp_lo);
    for (size_t i = 0; i < np; i++) {
        out[i].base = total;
        total += out[i].hi - out[i].lo + 1;
    }
    free(d->ranges);
    d->ranges = out;
    d->n_ranges = d->cap_ranges = np;
    d->n_dns = total;
    out = NULL;

out_free:
    free(out);
    free(next);
    free(parent);
    free(stack);
    return rc;
}

/* Index of the last range whose lo is <= k, or -1 when there is none. */
static long last_range_at_or_below(const struct dn_dir *d, dn_key k)
{
    size_t lo = 0, hi = d->n_ranges;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (d->ranges[mid].lo <= k)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (long)lo - 1;
}

const struct dn_profile *dn_dir_lookup(const struct dn_dir *d, dn_key k)
{
    long i = last_range_at_or_below(d, k);

    if (i < 0 || k > d->ranges[i].hi)
        return NULL;
    return &d->profiles[d->ranges[i].profile];
}

bool dn_dir_contains(const struct dn_dir *d, dn_key k)
{
    return dn_dir_lookup(d, k) != NULL;
}

bool dn_dir_any_in(const struct dn_dir *d, dn_key lo, dn_key hi, enum dn_type type)
{
    long i = last_range_at_or_below(d, lo);

    /* The range holding lo, if any, then every range that starts inside. */
    if (i < 0 || d->ranges[i].hi < lo)
        i++;
    for (; (size_t)i < d->n_ranges && d->ranges[i].lo <= hi; i++) {
        if (d->profiles[d->ranges[i].profile].type == type)
            return true;
    }
    return false;
}

dn_key dn_dir_at(const struct dn_dir *d, uint64_t i)
{
    size_t lo = 0, hi = d->n_ranges;

    if (i >= d->n_dns)
        return DN_KEY_NONE;
    /* Find the last range whose base is <= i. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (d->ranges[mid].base <= i)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return DN_KEY_NONE;
    return d->ranges[lo - 1].lo + (i - d->ranges[lo - 1].base);
}
