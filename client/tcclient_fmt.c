#include "client/tcclient_fmt.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

/* Length of the valid UTF-8 sequence at p (NUL-terminated), or 0. */
static size_t utf8_len(const unsigned char *p)
{
    unsigned char lo = 0x80, hi = 0xBF;
    size_t n;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xC2 && p[0] <= 0xDF)
        n = 2;
    else if (p[0] >= 0xE0 && p[0] <= 0xEF)
        n = 3;
    else if (p[0] >= 0xF0 && p[0] <= 0xF4)
        n = 4;
    else
        return 0;
    /* The second byte's range rules out overlong forms, surrogates and
     * code points past U+10FFFF. */
    if (p[0] == 0xE0)
        lo = 0xA0;
    else if (p[0] == 0xED)
        hi = 0x9F;
    else if (p[0] == 0xF0)
        lo = 0x90;
    else if (p[0] == 0xF4)
        hi = 0x8F;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    }
    return n;
}

int tcclient_json_str(struct tc_buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    int rc;

    if (s == NULL)
        return tc_buf_puts(b, "null");
    rc = tc_buf_puts(b, "\"");
    while (rc == 0 && *p != '\0') {
        size_t n = utf8_len(p);

        if (n == 0) {
            rc = tc_buf_puts(b, "\\ufffd");
            p++;
        } else if (*p == '"' || *p == '\\') {
            rc = tc_buf_printf(b, "\\%c", *p);
            p++;
        } else if (*p == '\n') {
            rc = tc_buf_puts(b, "\\n");
            p++;
        } else if (*p == '\r') {
            rc = tc_buf_puts(b, "\\r");
            p++;
        } else if (*p == '\t') {
            rc = tc_buf_puts(b, "\\t");
            p++;
        } else if (*p < 0x20 || *p == 0x7F) {
            rc = tc_buf_printf(b, "\\u%04x", *p);
            p++;
        } else {
            rc = tc_buf_append(b, p, n);
            p += n;
        }
    }
    if (rc == 0)
        rc = tc_buf_puts(b, "\"");
    return rc;
}

char *tcclient_iso8601(uint64_t unix_ms, char *buf, size_t cap)
{
    time_t secs = (time_t)(unix_ms / 1000);
    struct tm tm;

    if (unix_ms == 0 || gmtime_r(&secs, &tm) == NULL) {
        snprintf(buf, cap, "-");
        return buf;
    }
    snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(unix_ms % 1000));
    return buf;
}

const char *tcclient_status_name(Tc__DnStatus s)
{
    return s == TC__DN_STATUS__DN_STATUS_INSRV ? "InSrv" : "OOS";
}

const char *tcclient_status_word(Tc__DnStatus s)
{
    return s == TC__DN_STATUS__DN_STATUS_INSRV ? "insrv" : "oos";
}

const char *tcclient_source_name(Tc__Source s)
{
    switch (s) {
    case TC__SOURCE__SOURCE_SIP:
        return "sip";
    case TC__SOURCE__SOURCE_TLIB:
        return "tlib";
    default:
        return "";
    }
}

/* A string field as JSON; empty strings (proto3's "unset") as null. */
static int json_opt(struct tc_buf *b, const char *s)
{
    return tcclient_json_str(b, (s != NULL && *s != '\0') ? s : NULL);
}

/* {"text":"TIME#COUNTER@NODE","hlc":"N","node":..}: the raw clock as a
 * string, since JSON readers round integers above 2^53. */
static int json_version(struct tc_buf *b, const Tc__Version *v)
{
    char text[TCCLIENT_VERSION_MAX];
    int rc;

    if (v == NULL)
        return tc_buf_puts(b, "null");
    rc = tc_buf_puts(b, "{\"text\":");
    if (rc == 0)
        rc = tcclient_json_str(b, tcclient_version_text(v, text, sizeof(text)));
    if (rc == 0)
        rc = tc_buf_printf(b, ",\"hlc\":\"%" PRIu64 "\",\"node\":", v->hlc);
    if (rc == 0)
        rc = json_opt(b, v->node);
    if (rc == 0)
        rc = tc_buf_puts(b, "}");
    return rc;
}

static int json_bindings(struct tc_buf *b, const Tc__DnState *s)
{
    int rc = tc_buf_puts(b, ",\"bindings\":[");

    for (size_t i = 0; rc == 0 && i < s->n_bindings; i++) {
        if (i > 0)
            rc = tc_buf_puts(b, ",");
        if (rc == 0)
            rc = tcclient_json_str(b, s->bindings[i]);
    }
    if (rc == 0)
        rc = tc_buf_puts(b, "]");
    return rc;
}

/* ,"binding_info":[{"contact":..,"expires":..,"expires_unix_ms":"N",
 * "transport":..,"received":..}],"bindings_at":NODE|null */
static int json_binding_info(struct tc_buf *b, const Tc__DnState *s)
{
    char when[TCCLIENT_TIME_MAX];
    int rc = tc_buf_puts(b, ",\"binding_info\":[");

    for (size_t i = 0; rc == 0 && i < s->n_binding_info; i++) {
        const Tc__BindingInfo *x = s->binding_info[i];

        rc = tc_buf_puts(b, i > 0 ? ",{\"contact\":" : "{\"contact\":");
        if (rc == 0)
            rc = tcclient_json_str(b, x->contact);
        if (rc == 0)
            rc = tc_buf_puts(b, ",\"expires\":");
        if (rc == 0)
            rc = tcclient_json_str(b, tcclient_iso8601(x->expires_unix_ms, when, sizeof(when)));
        if (rc == 0)
            rc = tc_buf_printf(
                    b, ",\"expires_unix_ms\":\"%" PRIu64 "\",\"transport\":", x->expires_unix_ms);
        if (rc == 0)
            rc = json_opt(b, x->transport);
        if (rc == 0)
            rc = tc_buf_puts(b, ",\"received\":");
        if (rc == 0)
            rc = json_opt(b, x->received);
        if (rc == 0)
            rc = tc_buf_puts(b, "}");
    }
    if (rc == 0)
        rc = tc_buf_puts(b, "],\"bindings_at\":");
    if (rc == 0)
        rc = json_opt(b, s->bindings_at);
    return rc;
}

int tcclient_json_dn(struct tc_buf *b, const Tc__DnState *s, int with_bindings)
{
    char since[TCCLIENT_TIME_MAX];
    int rc;

    if (s == NULL)
        return tc_buf_puts(b, "\"dn\":null");
    rc = tc_buf_puts(b, "\"dn\":");
    if (rc == 0)
        rc = tcclient_json_str(b, s->dn);
    if (rc == 0)
        rc = tc_buf_printf(b, ",\"status\":\"%s\",\"owner\":", tcclient_status_word(s->status));
    if (rc == 0)
        rc = json_opt(b, s->owner);
    if (rc == 0)
        rc = tc_buf_puts(b, ",\"source\":");
    if (rc == 0)
        rc = json_opt(b, tcclient_source_name(s->source));
    if (rc == 0)
        rc = tc_buf_puts(b, ",\"version\":");
    if (rc == 0)
        rc = json_version(b, s->version);
    if (rc == 0)
        rc = tc_buf_puts(b, ",\"since\":");
    if (rc == 0)
        rc = json_opt(b, s->since_unix_ms != 0
                                 ? tcclient_iso8601(s->since_unix_ms, since, sizeof(since))
                                 : NULL);
    if (rc == 0)
        rc = tc_buf_printf(b, ",\"since_unix_ms\":\"%" PRIu64 "\"", s->since_unix_ms);
    if (rc == 0 && with_bindings)
        rc = json_bindings(b, s);
    if (rc == 0 && with_bindings)
        rc = json_binding_info(b, s);
    return rc;
}

int tcclient_json_node(struct tc_buf *b, const Tc__NodeInfo *n)
{
    char since[TCCLIENT_TIME_MAX];
    int rc = tc_buf_puts(b, "\"name\":");

    if (rc == 0)
        rc = tcclient_json_str(b, n->name);
    if (rc == 0)
        rc = tc_buf_printf(b, ",\"self\":%s,\"link_up\":%s,\"dns_owned\":%" PRIu64 ",\"address\":",
                           n->self ? "true" : "false", n->link_up ? "true" : "false", n->dns_owned);
    if (rc == 0)
        rc = tcclient_json_str(b, n->address != NULL && *n->address != '\0' ? n->address : NULL);
    if (rc == 0)
        rc = tc_buf_puts(b, ",\"since\":");
    if (rc == 0)
        rc = tcclient_json_str(b, n->since_unix_ms != 0
                                          ? tcclient_iso8601(n->since_unix_ms, since, sizeof(since))
                                          : NULL);
    if (rc == 0)
        rc = tc_buf_printf(b, ",\"since_unix_ms\":\"%" PRIu64 "\"", n->since_unix_ms);
    return rc;
}

int tcclient_json_summary(struct tc_buf *b, const Tc__EventSummary *s)
{
    int rc = tc_buf_printf(
            b, "\"total\":%" PRIu64 ",\"insrv\":%" PRIu64 ",\"oos\":%" PRIu64 ",\"by_owner\":{",
            s->total, s->insrv, s->oos);

    for (size_t i = 0; rc == 0 && i < s->n_by_owner; i++) {
        if (i > 0)
            rc = tc_buf_puts(b, ",");
        if (rc == 0)
            rc = tcclient_json_str(b, s->by_owner[i]->key != NULL ? s->by_owner[i]->key : "");
        if (rc == 0)
            rc = tc_buf_printf(b, ":%" PRIu64, s->by_owner[i]->value);
    }
    if (rc == 0)
        rc = tc_buf_puts(b, "}");
    return rc;
}

char *tcclient_version_text(const Tc__Version *v, char *buf, size_t cap)
{
    char when[TCCLIENT_TIME_MAX];

    if (v == NULL || (v->hlc == 0 && (v->node == NULL || *v->node == '\0'))) {
        snprintf(buf, cap, "-");
        return buf;
    }
    /* The hybrid logical clock is (wall ms << 16) | counter. */
    snprintf(buf, cap, "%s#%" PRIu64 "@%s", tcclient_iso8601(v->hlc >> 16, when, sizeof(when)),
             v->hlc & 0xffff, v->node != NULL ? v->node : "");
    return buf;
}

char *tcclient_dn_version(const Tc__DnState *s, char *buf, size_t cap)
{
    return tcclient_version_text(s != NULL ? s->version : NULL, buf, cap);
}

/* Print one row whose cells follow each other NUL-terminated at p; returns
 * the byte after its last cell. */
static const char *print_row(struct tcclient_table *t, const char *p)
{
    for (int i = 0; i < t->ncols; i++) {
        size_t n = strlen(p);
        size_t pad = t->width[i] > n ? t->width[i] - n : 0;

        if (i + 1 < t->ncols)
            fprintf(t->out, "%s%*s", p, (int)pad + 2, "");
        else
            fprintf(t->out, "%s\n", p);
        p += n + 1;
    }
    return p;
}

static void print_held(struct tcclient_table *t)
{
    const char *p = t->held.data;

    for (int r = 0; r < t->nheld; r++)
        p = print_row(t, p);
    tc_buf_reset(&t->held);
    t->nheld = 0;
    t->printed = 1;
}

int tcclient_table_init(struct tcclient_table *t, FILE *out, int ncols, const char *const *header)
{
    memset(t, 0, sizeof(*t));
    if (ncols < 1 || ncols > TCCLIENT_TABLE_COLS)
        return -EINVAL;
    t->out = out;
    t->ncols = ncols;
    return tcclient_table_row(t, header);
}

int tcclient_table_row(struct tcclient_table *t, const char *const *cells)
{
    size_t start = t->held.len;
    int rc = 0;

    for (int i = 0; rc == 0 && i < t->ncols; i++) {
        const char *c = (cells[i] != NULL && *cells[i] != '\0') ? cells[i] : "-";
        size_t n = strlen(c);

        if (!t->printed && n > t->width[i])
            t->width[i] = n;
        rc = tc_buf_append(&t->held, c, n + 1);
    }
    if (rc != 0) {
        t->held.len = start;
        return rc;
    }
    if (t->printed) {
        print_row(t, t->held.data + start);
        tc_buf_reset(&t->held);
        return 0;
    }
    if (++t->nheld >= TCCLIENT_TABLE_HOLD)
        print_held(t);
    return 0;
}

void tcclient_table_end(struct tcclient_table *t)
{
    print_held(t);
    tc_buf_free(&t->held);
}

void tcclient_table_drop(struct tcclient_table *t)
{
    tc_buf_free(&t->held);
    t->nheld = 0;
}

const Tc__DnState *tcclient_event_state(const Tc__Event *ev)
{
    switch (ev->body_case) {
    case TC__EVENT__BODY_ADDRESS_INFO:
        return ev->address_info->state;
    case TC__EVENT__BODY_DN_BACK_IN_SERVICE:
        return ev->dn_back_in_service->state;
    case TC__EVENT__BODY_DN_OUT_OF_SERVICE:
        return ev->dn_out_of_service->state;
    case TC__EVENT__BODY_REGISTERED:
        return ev->registered->state;
    case TC__EVENT__BODY_UNREGISTERED:
        return ev->unregistered->state;
    default:
        return NULL;
    }
}

const char *tcclient_opt_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
    size_t n = strlen(name);

    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

int tcclient_usage_error(const char *prog, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\ntry '%s --help'\n", prog);
    va_end(ap);
    return code;
}

const char *tcclient_call_type_name(Tc__CallType t)
{
    switch (t) {
    case TC__CALL_TYPE__CALL_TYPE_INTERNAL:
        return "internal";
    case TC__CALL_TYPE__CALL_TYPE_INBOUND:
        return "inbound";
    case TC__CALL_TYPE__CALL_TYPE_OUTBOUND:
        return "outbound";
    default:
        return "unknown";
    }
}

/* s, or NULL when it is empty (printed as null). */
static const char *nonempty(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : NULL;
}

int tcclient_json_call(struct tc_buf *b, const Tc__EventCallDelivered *c)
{
    char when[TCCLIENT_TIME_MAX];
    int rc = 0;

    rc |= tc_buf_puts(b, "\"call_id\":");
    rc |= tcclient_json_str(b, c->call_id != NULL ? c->call_id : "");
    rc |= tc_buf_puts(b, ",\"dn\":");
    rc |= tcclient_json_str(b, nonempty(c->dn));
    rc |= tc_buf_printf(b, ",\"code\":%u,\"outcome\":", (unsigned)c->code);
    rc |= tcclient_json_str(b, nonempty(c->outcome));
    rc |= tc_buf_printf(b,
                        ",\"call_type\":\"%s\",\"origin\":", tcclient_call_type_name(c->call_type));
    rc |= tcclient_json_str(b, nonempty(c->origin));
    rc |= tc_buf_puts(b, ",\"target\":");
    rc |= tcclient_json_str(b, nonempty(c->target));
    rc |= tc_buf_puts(b, ",\"contact\":");
    rc |= tcclient_json_str(b, nonempty(c->contact));
    rc |= tc_buf_puts(b, ",\"other_dn\":");
    rc |= tcclient_json_str(b, nonempty(c->other_dn));
    rc |= tc_buf_printf(b, ",\"time\":\"%s\",\"time_unix_ms\":\"%" PRIu64 "\"",
                        tcclient_iso8601(c->time_unix_ms, when, sizeof(when)), c->time_unix_ms);
    return rc ? -ENOMEM : 0;
}
