#ifndef TC_SERVER_SIP_SIP_OSIP_H
#define TC_SERVER_SIP_SIP_OSIP_H

/* libosip2 set up for sip_msg: the parser's tables initialised once, its
 * traces sent to our log at debug level, and its allocations for one
 * message taken from an arena that goes with the message. */

struct osip_chunk;

/* Everything libosip2 allocated while this arena was current. */
struct sip_osip_arena {
    struct osip_chunk *chunks;
};

/* Initialise libosip2 (once per process; any thread). */
void sip_osip_init(void);

/* Until sip_osip_arena_end(), this thread's libosip2 allocations come from
 * a, and its frees do nothing; at any other time they are plain malloc,
 * realloc and free. */
void sip_osip_arena_begin(struct sip_osip_arena *a);
void sip_osip_arena_end(void);

/* Free all a holds (what libosip2 built in it must not be used after). */
void sip_osip_arena_release(struct sip_osip_arena *a);

#endif
