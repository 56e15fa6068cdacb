/* The live page: its routes, its listener on the core, and the flush that
 * turns what the core published into events for the page's streams. */
#include "server/http/page/page.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/base/clock.h"
#include "server/base/log.h"
#include "server/http/http.h"
#include "server/http/page/page_int.h"

/* A feed item was built in b: add it to this flush and to the ring. */
static void feed_add(struct page *p, const struct tc_buf *b)
{
    char *copy = strdup(b->data);

    if (copy != NULL) {
        free(p->recent[p->recent_next]);
        p->recent[p->recent_next] = copy;
        p->recent_next = (p->recent_next + 1) % PAGE_RECENT;
        if (p->n_recent < PAGE_RECENT)
            p->n_recent++;
    }
    if ((p->n_pending > 0 && tc_buf_puts(&p->pending, ",") != 0) ||
        tc_buf_append(&p->pending, b->data, b->len) != 0) {
        p->skipped++;
        return;
    }
    p->n_pending++;
}

/* Room for one more item in this flush; else it is counted as skipped. */
static bool feed_room(struct page *p)
{
    if (p->n_pending < PAGE_FEED_MAX)
        return true;
    p->skipped++;
    return false;
}

static void on_change(void *arg, const struct dn_change *c, uint64_t seq)
{
    struct page *p = arg;
    struct tc_buf b = TC_BUF_INIT;

    p->dirty = true;
    if (feed_room(p) && page__json_change(&b, p, c, seq) == 0)
        feed_add(p, &b);
    tc_buf_free(&b);
}

static void on_link(void *arg, uint16_t node, bool up, uint64_t seq)
{
    struct page *p = arg;
    struct tc_buf b = TC_BUF_INIT;
    uint64_t now = tc_now_ms();

    p->dirty = true;
    /* Links are few and matter most: never skipped for DN changes. */
    if (page__json_link(&b, p, node, up, seq, now) == 0)
        feed_add(p, &b);
    tc_buf_free(&b);
}

static void on_call(void *arg, const struct core_call *call, uint64_t seq)
{
    struct page *p = arg;
    struct tc_buf b = TC_BUF_INIT;

    if (feed_room(p) && page__json_call(&b, p, call, seq) == 0)
        feed_add(p, &b);
    tc_buf_free(&b);
}

static void broadcast(struct page *p, const char *name, const struct tc_buf *b)
{
    http_server_broadcast(p->http, name, b->data, b->len);
}

static void on_flush(uv_timer_t *t)
{
    struct page *p = t->data;
    struct tc_buf b = TC_BUF_INIT;

    if (p->http != NULL && http_server_event_clients(p->http) > 0) {
        if (p->dirty && page__json_state(&b, p) == 0)
            broadcast(p, "state", &b);
        tc_buf_reset(&b);
        if ((p->n_pending > 0 || p->skipped > 0) &&
            tc_buf_printf(&b, "{\"skipped\":\"%llu\",\"items\":[%s]}",
                          (unsigned long long)p->skipped,
                          p->pending.data != NULL ? p->pending.data : "") == 0)
            broadcast(p, "feed", &b);
    }
    tc_buf_free(&b);
    p->dirty = false;
    p->skipped = 0;
    p->n_pending = 0;
    tc_buf_reset(&p->pending);
}

int page_start(struct page **out, uv_loop_t *loop, const struct config *cfg, struct core *core,
               struct http_server *http)
{
    struct core_listener l = {on_change, on_link, on_call, NULL};
    uint64_t now = tc_now_ms();
    struct page *p;
    int rc;

    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    p->loop = loop;
    p->cfg = cfg;
    p->core = core;
    p->http = http;
    p->started_ms = now;
    l.arg = p;
    rc = core_listen(core, &l);
    if (rc != 0) {
        free(p);
        return rc;
    }
    uv_timer_init(loop, &p->flush);
    p->flush.data = p;
    uv_timer_start(&p->flush, on_flush, PAGE_FLUSH_MS, PAGE_FLUSH_MS);
    *out = p;
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    struct page *p = h->data;

    for (unsigned i = 0; i < PAGE_RECENT; i++)
        free(p->recent[i]);
    tc_buf_free(&p->pending);
    free(p);
}

void page_stop(struct page *p)
{
    core_unlisten(p->core, p);
    p->http = NULL;
    uv_timer_stop(&p->flush);
    uv_close((uv_handle_t *)&p->flush, on_closed);
}

/* The recent feed items, oldest first. */
static int json_recent(struct tc_buf *b, const struct page *p)
{
    unsigned first = (p->recent_next + PAGE_RECENT - p->n_recent) % PAGE_RECENT;
    int rc = tc_buf_puts(b, "{\"items\":[");

    for (unsigned i = 0; rc == 0 && i < p->n_recent; i++) {
        if (i > 0)
            rc = tc_buf_puts(b, ",");
        if (rc == 0)
            rc = tc_buf_puts(b, p->recent[(first + i) % PAGE_RECENT]);
    }
    if (rc == 0)
        rc = tc_buf_puts(b, "]}");
    return rc;
}

/* The stream opens with the state, so a page that (re)connects needs no
 * other request to be current. */
static void serve_events(struct page *p, struct http_response *res)
{
    if (tc_buf_puts(&res->body, "retry: 2000\n\nevent: state\ndata: ") != 0 ||
        page__json_state(&res->body, p) != 0 || tc_buf_puts(&res->body, "\n\n") != 0) {
        res->status = 503;
        return;
    }
    res->content_type = "text/event-stream";
    http_server_events(p->http, res);
}

static bool serve_asset(const struct http_request *req, struct http_response *res)
{
    const char *path = strcmp(req->path, "/index.html") == 0 ? "/" : req->path;

    for (size_t i = 0; i < page_n_assets; i++) {
        const struct page_asset *a = &page_assets[i];

        if (strcmp(a->path, path) != 0)
            continue;
        res->content_type = a->type;
        if (tc_buf_append(&res->body, a->data, a->len) != 0)
            res->status = 503;
        return true;
    }
    return false;
}

bool page_serve(struct page *p, const struct http_request *req, struct http_response *res)
{
    int rc = 0;

    if (strcmp(req->path, "/events") == 0) {
        serve_events(p, res);
        return true;
    }
    if (strncmp(req->path, "/api/", 5) != 0)
        return serve_asset(req, res);
    res->content_type = "application/json";
    if (strcmp(req->path, "/api/state") == 0)
        rc = page__json_state(&res->body, p);
    else if (strcmp(req->path, "/api/feed") == 0)
        rc = json_recent(&res->body, p);
    else if (strcmp(req->path, "/api/dn") == 0)
        res->status = page__json_search(&res->body, p, req->query);
    else
        return false;
    if (rc != 0 || res->status == 500) {
        res->status = 503;
        tc_buf_reset(&res->body);
        tc_buf_puts(&res->body, "{\"error\":\"out of memory\"}");
    }
    return true;
}
