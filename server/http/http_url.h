#ifndef TC_SERVER_HTTP_HTTP_URL_H
#define TC_SERVER_HTTP_HTTP_URL_H

#include <stdbool.h>
#include <stddef.h>

/* Private to the HTTP server: the request target, split and decoded in
 * place. No state; any thread. */

/* Percent-decode s[0..len) in place and NUL-terminate it at its new end
 * (s[len] must be writable). Returns 0, or -EINVAL for a bad escape or an
 * encoded NUL (s is then partly decoded). */
int http_url_decode(char *s, size_t len);

/* Split the request target url (len bytes, followed by a writable byte) in
 * place, with http-parser's URL rules (connect: the target of a CONNECT,
 * "host:port"). Sets *path to the percent-decoded path, or "/" when there is
 * none, and *query to the raw query without '?', or "" when there is none;
 * both point into url or to static strings. Returns 0, or -EINVAL for a
 * malformed target (NULL included) or path. */
int http_url_split(char *url, size_t len, bool connect, const char **path, const char **query);

#endif
