#ifndef TC_SERVER_NET_TCP_SERVER_INT_H
#define TC_SERVER_NET_TCP_SERVER_INT_H

/* Inside the TCP server: the state tcp_server.c (listeners, accept, the
 * server) and tcp_conn.c (one connection: reading, writing, timer,
 * closing) share. Not for other modules. Loop thread only. */

#include <arpa/inet.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "server/base/u64map.h"
#include "server/net/tcp_server.h"

#define TCP_SERVER_LINGER_MS 2000 /* linger_ms when options give 0 */

enum conn_state {
    CONN_OPEN,   /* input goes to on_read */
    CONN_ENDING, /* tcp_conn_linger(): input discarded, closed at the linger deadline */
    CONN_DRAIN,  /* tcp_conn_shutdown(): FIN queued, input discarded until end of file */
    CONN_CLOSED, /* uv_close called */
};

struct tcp_listener {
    struct tcp_server *srv;
    uv_tcp_t tcp;
    bool open;     /* its close callback has not run */
    bool deferred; /* libuv holds a connection for on_turn() to take */
};

struct tcp_conn {
    struct tcp_server *srv;
    struct tcp_conn *prev, *next; /* every connection not freed yet */
    uv_tcp_t tcp;
    uv_timer_t timer; /* idle while open, then the linger deadline */
    uv_shutdown_t sreq;
    enum conn_state state;
    int open_handles; /* closes to wait for before freeing */
    bool counted;     /* holds one of max_conns */
    bool accepted;    /* on_accept was called: on_close is owed */
    bool in_map;      /* findable by id */
    bool reading;     /* uv_read_start in effect */
    bool eof;         /* the peer shut down its side */
    bool idle_on;
    bool per_source; /* holds one of its source's max_per_source */
    unsigned listener;
    uint64_t id;
    uint64_t last;      /* uv_now() of the last activity, for the idle timer */
    uint64_t msg_start; /* uv_now() when the incomplete message began; 0: none */
    uint64_t due;       /* uv_now() when the timer fires while open; 0: not armed */
    uint64_t source;    /* key in srv->sources */
    struct sockaddr_storage peer;
    char peer_str[INET6_ADDRSTRLEN + 8];
    alignas(max_align_t) unsigned char data[]; /* the user area */
};

struct tcp_server {
    uv_loop_t *loop;
    struct tcp_server_options o;
    struct tcp_listener listeners[TCP_SERVER_MAX_LISTEN];
    unsigned n_listeners;
    unsigned open_listeners; /* close callbacks not run yet */
    struct tcp_conn *conns;
    struct u64map map;     /* by_id: id -> struct map_elem */
    struct u64map sources; /* max_per_source: source key -> struct source_elem */
    uint64_t next_id;
    struct tcp_server_stats st;
    uv_check_t turn;       /* ends each turn of the loop: see on_connection() */
    bool turn_open;        /* its close callback has not run */
    unsigned turn_accepts; /* connections taken this turn */
    bool stopping;
    void (*on_stopped)(void *arg);
    char *rbuf; /* shared: each read is consumed before the next */
};

struct map_elem {
    uint64_t id;
    struct tcp_conn *c;
};

struct source_elem {
    uint64_t key;
    uint64_t open; /* connections of this source holding a slot */
};

struct tcp_write {
    uv_write_t req;
    char data[];
};

/* tcp_server.c */

/* Free s if it is stopping and its listeners and connections are gone,
 * then call its on_stopped. */
void tcp_server__maybe_free(struct tcp_server *s);

/* Give back c's slot and its source's (idempotent): at the free, or when
 * c is evicted so a new connection can take the slot at once. */
void tcp_server__release(struct tcp_conn *c);

/* tcp_conn.c */

/* Arm c's timer for the earlier of its idle and message deadlines, or
 * stop it when there is neither. Open connections only. */
void tcp_conn__arm(struct tcp_conn *c);

#endif
