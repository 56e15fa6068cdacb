#include "server/sip/sip_osip.h"

#include <osipparser2/osip_parser.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/base/log.h"

/* Where libosip2's allocations for one message go (see osip_arena_take). */
struct osip_chunk {
    struct osip_chunk *next;
    size_t cap, used;
    alignas(max_align_t) unsigned char data[];
};

/* libosip2 allocates every element of a parse on its own (some 60 mallocs
 * for a REGISTER) and frees them one by one: glibc's malloc and free were
 * as costly as the parse itself. While this thread parses a message, the
 * allocators we give libosip2 take memory from that message's chunks
 * instead and free nothing; the chunks go with the message, which never
 * calls osip_message_free(). At any other time, and on other threads, they
 * are plain malloc, realloc and free. */
static _Thread_local struct sip_osip_arena *osip_arena;

/* Bytes of a message's first chunk: a common REGISTER's parse fits. */
#define OSIP_CHUNK_MIN 8192

/* A block's size sits before it, for realloc. */
struct osip_block {
    size_t size;
    alignas(max_align_t) unsigned char data[];
};

#if defined(__SANITIZE_ADDRESS__)
#define OSIP_ARENA_EXACT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define OSIP_ARENA_EXACT 1
#endif
#endif
#ifndef OSIP_ARENA_EXACT
#define OSIP_ARENA_EXACT 0 /* under ASan each block is its own chunk: exact bounds */
#endif

static void *osip_arena_take(struct sip_osip_arena *pv, size_t size)
{
    size_t need = (sizeof(struct osip_block) + size + alignof(max_align_t) - 1) &
                  ~(alignof(max_align_t) - 1);
    struct osip_chunk *c = pv->chunks;
    struct osip_block *b;

    if (c == NULL || c->cap - c->used < need) {
        size_t cap = OSIP_ARENA_EXACT ? need : (c != NULL ? c->cap * 2 : OSIP_CHUNK_MIN);

        while (cap < need)
            cap *= 2;
        c = malloc(sizeof(*c) + cap);
        if (c == NULL)
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = pv->chunks;
        pv->chunks = c;
    }
    b = (struct osip_block *)(c->data + c->used);
    c->used += need;
    b->size = size;
    return b->data;
}

static void *osip_arena_malloc(size_t size)
{
    if (osip_arena == NULL)
        return malloc(size);
    return osip_arena_take(osip_arena, size);
}

static void *osip_arena_realloc(void *p, size_t size)
{
    struct osip_block *b;
    void *n;

    if (osip_arena == NULL)
        return realloc(p, size);
    n = osip_arena_take(osip_arena, size);
    if (n != NULL && p != NULL) {
        b = (struct osip_block *)((unsigned char *)p - offsetof(struct osip_block, data));
        memcpy(n, p, b->size < size ? b->size : size);
    }
    return n;
}

static void osip_arena_free(void *p)
{
    if (osip_arena == NULL)
        free(p);
}

void sip_osip_arena_release(struct sip_osip_arena *pv)
{
    while (pv->chunks != NULL) {
        struct osip_chunk *c = pv->chunks;

        pv->chunks = c->next;
        free(c);
    }
}

/* libosip2 traces bad input at ERROR level; keep it off stdout and out of
 * the log unless debugging. */
static void on_osip_trace(const char *file, int line, osip_trace_level_t level, const char *fmt,
                          va_list ap)
{
    char text[256];
    size_t n;

    (void)file;
    (void)line;
    (void)level;
    if (!tc_log_enabled(TC_LOG_DEBUG))
        return;
    vsnprintf(text, sizeof(text), fmt, ap);
    n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = '\0';
    tc_log(TC_LOG_DEBUG, "sip: osip: %s", text);
}

static pthread_once_t osip_once = PTHREAD_ONCE_INIT;

static void osip_setup(void)
{
    parser_init();
    osip_trace_initialize_func(TRACE_LEVEL3, on_osip_trace);
    osip_set_allocators(osip_arena_malloc, osip_arena_realloc, osip_arena_free);
}

void sip_osip_init(void)
{
    pthread_once(&osip_once, osip_setup);
}

void sip_osip_arena_begin(struct sip_osip_arena *a)
{
    osip_arena = a;
}

void sip_osip_arena_end(void)
{
    osip_arena = NULL;
}
