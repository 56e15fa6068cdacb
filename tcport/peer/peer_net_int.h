#ifndef TC_TCPORT_PEER_PEER_NET_INT_H
#define TC_TCPORT_PEER_PEER_NET_INT_H

/* Private to peer_net.c and peer_conn.c: the event queue and the
 * connections, shared between the loop and nng's threads. */

#include <pthread.h>

#include "tcport/peer/peer_net.h"

#define PEER_NET_DIALERS     64
#define PEER_NET_HDR         4          /* frame length prefix, big-endian */
#define PEER_NET_DRAIN_BATCH 256        /* events handled per loop turn at most */
#define PEER_NET_TURN_MS     4          /* and milliseconds spent on them */
#define PEER_NET_RX_MIN      16384      /* read buffer bytes at least */
#define PEER_NET_TX_KEEP     (1u << 20) /* larger write buffers are freed after use */

struct peer_conn {
    struct peer_net *net;
    struct peer_conn *next; /* in net->conns (loop) */
    uint64_t id;
    nng_stream *stream;
    nng_aio *rx_aio, *tx_aio;
    char remote[64];

    /* The reading side: nng's thread while a read is under way. */
    uint8_t *rx_buf;
    size_t rx_len, rx_cap;
    struct peer_ev *rx_fatal, *tx_fatal; /* the last event of each side */

    /* Under net->mtx. */
    bool closing;
    uint32_t q_frames;
    size_t q_bytes;
    uint64_t last_rx_ms;

    /* The writing side: tx_flight and tx_off belong to nng's thread while
     * tx_busy; the rest to the loop. */
    struct tc_buf tx_out, tx_flight;
    size_t tx_off;
    bool tx_busy;
};

struct peer_dialer {
    struct peer_net *net;
    nng_stream_dialer *d;
    nng_aio *aio;
    struct peer_ev *ev;
    bool busy;
};

struct peer_net {
    uv_async_t async;
    struct peer_net_options o;
    pthread_mutex_t mtx;
    struct peer_ev *head, **tail; /* under mtx */
    nng_stream_listener *listener;
    nng_aio *accept_aio;
    struct peer_ev *accept_ev;
    struct peer_dialer dialers[PEER_NET_DIALERS];
    struct peer_conn *conns;
    struct peer_ev *current; /* the event the handler is looking at */
    uint64_t next_id;
};

/* A zeroed event with room for len bytes of data, or NULL. Any thread. */
struct peer_ev *peer_net__ev_new(enum peer_ev_type type, size_t len);

/* Append first..last to the queue; the caller holds n->mtx and wakes the
 * loop. */
void peer_net__push_locked(struct peer_net *n, struct peer_ev *first, struct peer_ev *last);

/* Append one event and wake the loop. Any thread. */
void peer_net__push(struct peer_net *n, struct peer_ev *ev);

/* The open connection with this id, or NULL. Loop thread. */
struct peer_conn *peer_net__find_conn(struct peer_net *n, uint64_t id);

#endif
