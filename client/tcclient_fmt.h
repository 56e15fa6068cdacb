#ifndef TC_CLIENT_TCCLIENT_FMT_H
#define TC_CLIENT_TCCLIENT_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "proto/tcport.pb-c.h"
#include "server/base/buf.h"

/* Text for the operator tools (tcctl, tcwatch): JSON strings, ISO-8601
 * times, the names of statuses and sources, one DN as JSON fields, and
 * aligned tables. Pure functions or per-object state; any thread. Append
 * functions return 0 or -ENOMEM (b may then hold part of the text). */

#define TCCLIENT_TIME_MAX    32 /* "2024-05-01T10:00:00.123Z" and a NUL, with room */
#define TCCLIENT_VERSION_MAX (TCCLIENT_TIME_MAX + 8 + 64)
#define TCCLIENT_TABLE_COLS  8
#define TCCLIENT_TABLE_HOLD  256 /* rows held to size the columns before printing */

/* Append s as a JSON string with its quotes, or null when s is NULL.
 * Quote, backslash and control characters are escaped; bytes that are not
 * valid UTF-8 become U+FFFD, so the output is always valid JSON. */
int tcclient_json_str(struct tc_buf *b, const char *s);

/* Write unix_ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC) into buf (at least
 * TCCLIENT_TIME_MAX bytes); 0 gives "-". Returns buf. */
char *tcclient_iso8601(uint64_t unix_ms, char *buf, size_t cap);

/* "InSrv"/"OOS" (human) and "insrv"/"oos" (JSON, and the --state words). */
const char *tcclient_status_name(Tc__DnStatus s);
const char *tcclient_status_word(Tc__DnStatus s);

/* "sip", "tlib", or "" for none. */
const char *tcclient_source_name(Tc__Source s);

/* The DN state an event carries (info, back-in-service, out-of-service,
 * registered, unregistered), or NULL for an event that carries none. */
const Tc__DnState *tcclient_event_state(const Tc__Event *ev);

/* "internal", "inbound", "outbound", or "unknown" (T-Library's call
 * types, lower case). */
const char *tcclient_call_type_name(Tc__CallType t);

/* Append the fields of one call event as JSON members, without braces:
 * "call_id":..,"dn":..,"code":..,"outcome":..,"call_type":..,"origin":..,
 * "target":..,"contact":..,"other_dn":..,"time":..,"time_unix_ms":..
 * (empty strings as null; time_unix_ms, 64-bit, as a string). */
int tcclient_json_call(struct tc_buf *b, const Tc__EventCallDelivered *c);

/* Value of the option name ("--name VALUE" or "--name=VALUE") at argv[*i],
 * or NULL when argv[*i] is not that option; a value in the next word moves
 * *i past it. Sets *missing when the option is last and has no value. The
 * value is borrowed from argv. */
const char *tcclient_opt_value(int argc, char **argv, int *i, const char *name, bool *missing);

/* Print "PROG: MESSAGE" and "try 'PROG --help'" to stderr for a command
 * line the tool cannot take; returns code, the tool's usage exit code. */
int tcclient_usage_error(const char *prog, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Append the fields of one DN as JSON members, without braces:
 * "dn":..,"status":..,"owner":..,"source":..,"version":{"text":..,"hlc":..,
 * "node":..},"since":..,"since_unix_ms":..[,"bindings":[contacts],
 * "binding_info":[{"contact","expires","expires_unix_ms","transport",
 * "received"}],"bindings_at":NODE or null, when with_bindings]. 64-bit
 * values (hlc, since_unix_ms, expires_unix_ms) are strings: JSON readers
 * round integers above 2^53. s may be NULL (then "dn":null). */
int tcclient_json_dn(struct tc_buf *b, const Tc__DnState *s, int with_bindings);

/* Append one node (tcctl nodes) as JSON members, without braces:
 * "name":..,"self":..,"link_up":..,"dns_owned":N,"address":..,
 * "since":ISO-8601|null,"since_unix_ms":"N" */
int tcclient_json_node(struct tc_buf *b, const Tc__NodeInfo *n);

/* Append a summary (tcctl summary) as JSON members, without braces:
 * "total":N,"insrv":N,"oos":N,"by_owner":{"NODE":N,..}, owners in the
 * order given. */
int tcclient_json_summary(struct tc_buf *b, const Tc__EventSummary *s);

/* Write a version as "TIME#COUNTER@NODE" ("2026-12-06T01:22:17.408Z#3@sip1":
 * the wall time and logical counter of its hybrid logical clock, and the
 * node that made it) into buf (TCCLIENT_VERSION_MAX bytes hold any), or
 * "-" when v is NULL or empty. Returns buf. */
char *tcclient_version_text(const Tc__Version *v, char *buf, size_t cap);

/* The same for the DN's version (s may be NULL). */
char *tcclient_dn_version(const Tc__DnState *s, char *buf, size_t cap);

/* An aligned table printed to a stream: the first TCCLIENT_TABLE_HOLD rows
 * are held to size the columns, later rows use those widths (a longer
 * cell pushes its line, never the earlier ones). */
struct tcclient_table {
    FILE *out;
    int ncols;
    size_t width[TCCLIENT_TABLE_COLS];
    struct tc_buf held; /* held rows: cells NUL-separated */
    int nheld;
    int printed; /* the held rows are out: print each new row at once */
};

/* Start a table of ncols (1..TCCLIENT_TABLE_COLS) columns with a header
 * row. Strings are copied. */
int tcclient_table_init(struct tcclient_table *t, FILE *out, int ncols, const char *const *header);

/* Add a row of ncols cells (NULL cells print as "-"). */
int tcclient_table_row(struct tcclient_table *t, const char *const *cells);

/* Print what is held, and free the table. */
void tcclient_table_end(struct tcclient_table *t);

/* Free the table without printing what is held. */
void tcclient_table_drop(struct tcclient_table *t);

#endif
