#ifndef TC_SERVER_HTTP_PAGE_PAGE_INT_H
#define TC_SERVER_HTTP_PAGE_PAGE_INT_H

/* Inside the live page: its state, shared by page.c (routes, listening,
 * flushing) and page_json.c (the JSON it writes). */

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "server/base/buf.h"
#include "server/core/core.h"
#include "server/http/page/page.h"

struct page {
    uv_loop_t *loop;
    const struct config *cfg;
    struct core *core;
    struct http_server *http;
    uv_timer_t flush;
    uint64_t started_ms; /* the since of links that have not changed */
    bool dirty;            /* counts or links changed since the last flush */
    struct tc_buf pending; /* feed items of this flush, comma-separated */
    unsigned n_pending;
    uint64_t skipped;          /* items not built in this flush: over PAGE_FEED_MAX */
    char *recent[PAGE_RECENT]; /* ring of the last items built */
    unsigned recent_next, n_recent;
};

/* An embedded asset (page_assets.c, generated from assets/ at build time). */
struct page_asset {
    const char *path; /* "/" for index.html, else "/NAME" */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
};

extern const struct page_asset page_assets[];
extern const size_t page_n_assets;

/* The JSON objects (page_json.c); each appends to b and returns 0 or
 * -ENOMEM. */
int page__json_state(struct tc_buf *b, const struct page *p);
int page__json_change(struct tc_buf *b, const struct page *p, const struct dn_change *c,
                      uint64_t seq);
int page__json_link(struct tc_buf *b, const struct page *p, uint16_t node, bool up, uint64_t seq,
                    uint64_t now_ms);
int page__json_call(struct tc_buf *b, const struct page *p, const struct core_call *call,
                    uint64_t seq);
/* The answer to /api/dn?q=...: returns the HTTP status (200, 400). */
int page__json_search(struct tc_buf *b, const struct page *p, const char *query);

#endif
