#ifndef TC_SERVER_HTTP_PAGE_PAGE_H
#define TC_SERVER_HTTP_PAGE_PAGE_H

#include <stdbool.h>
#include <uv.h>

struct config;
struct core;
struct http_server;
struct http_request;
struct http_response;
struct page;

/* The live page on a node's HTTP port (DESIGN §10), for operators: the
 * cluster view - nodes and links with since when, DN counts by status
 * and owner, a feed of link, ownership and call events, a DN search -
 * kept current without a reload by Server-Sent Events.
 *
 *   GET /              the page (HTML, CSS and JS embedded at build time)
 *   GET /events        the event stream: "state" (nodes and summary) and
 *                      "feed" (a batch of events) at most every
 *                      PAGE_FLUSH_MS, from the core's published changes
 *   GET /api/state     nodes and summary, as the "state" event
 *   GET /api/feed      the last PAGE_RECENT feed items
 *   GET /api/dn?q=DN   a DN, or q=FIRST-LAST up to PAGE_SEARCH_MAX DNs of
 *                      the directory: status, owner, source, version,
 *                      since and, on the owner, the contacts
 *
 * JSON is what tcctl --json writes for the same objects (64-bit values
 * as strings). The page listens to the core like any port; the core knows
 * nothing of it. At most PAGE_FEED_MAX feed items are built per flush, the
 * rest counted as skipped, so a link loss that turns a million DNs OOS
 * costs the page a bounded amount. Loop thread only. */

#define PAGE_FLUSH_MS   250
#define PAGE_FEED_MAX   64  /* feed items per flush */
#define PAGE_RECENT     100 /* feed items kept for a page that opens */
#define PAGE_SEARCH_MAX 200 /* DNs in one search answer */

/* Start the page over core (borrowed; the page listens to it) with the
 * node's configuration (borrowed; its name and peers are read, and its
 * directory through the table) and its HTTP server (borrowed, for the
 * event streams). Returns 0 and fills *out, or -ENOMEM, -ENOSPC (the core
 * has no room for another listener). */
int page_start(struct page **out, uv_loop_t *loop, const struct config *cfg, struct core *core,
               struct http_server *http);

/* Answer req when its path is the page's: returns true with res filled,
 * false for any other path. Call for GET and HEAD only. */
bool page_serve(struct page *p, const struct http_request *req, struct http_response *res);

/* Stop listening to the core and free p once its timer has closed (run
 * the loop). Call before the HTTP server and the core stop. */
void page_stop(struct page *p);

#endif
