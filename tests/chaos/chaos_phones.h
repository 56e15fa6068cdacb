#ifndef TC_TESTS_CHAOS_CHAOS_PHONES_H
#define TC_TESTS_CHAOS_CHAOS_PHONES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* The chaos test's phones: one thread, one UDP socket, n phones (DNs
 * dn_base .. dn_base+n-1) that register, refresh, unregister (Expires: 0)
 * and move to another node, one request at a time each, without
 * retransmission. Every request is recorded with its outcome and its
 * times, so that the check can tell what the cluster acknowledged.
 * The thread uses no Criterion assertion: it only records. */

#define CHAOS_NODES        5
#define CHAOS_CONTACT_PORT 5999 /* the phones' Contact: sip:DN@127.0.0.1:5999 */

enum chaos_op {
    CHAOS_OP_REGISTER,   /* the phone had no binding it knew of */
    CHAOS_OP_REFRESH,    /* at the node it is registered at */
    CHAOS_OP_MOVE,       /* REGISTER at another node */
    CHAOS_OP_UNREGISTER, /* Expires: 0 */
    CHAOS_OPS,
};

enum chaos_result {
    CHAOS_ACKED,   /* 200 OK */
    CHAOS_REFUSED, /* another final answer: the node says nothing changed */
    CHAOS_TIMEOUT, /* no answer in time: the change may or may not be made */
};

/* One request. Times are harness_now_ms(). expires: asked, or, when
 * acked, the expiry the 200 granted for the phone's Contact. */
struct chaos_rec {
    uint64_t sent_ms, done_ms;
    uint32_t phone;
    uint32_t expires;
    uint16_t code; /* the answer's status code, 0 on timeout */
    uint8_t node;
    uint8_t op;     /* enum chaos_op */
    uint8_t result; /* enum chaos_result */
};

struct chaos_phones {
    /* set before chaos_phones_start */
    uint16_t sip_port[CHAOS_NODES];
    unsigned n;       /* phones */
    unsigned dn_base; /* first DN */
    uint64_t seed;
    int timeout_ms; /* a request without answer after this is a timeout */

    /* filled by the thread; read after chaos_phones_stop */
    struct chaos_rec *recs;
    size_t nrecs, cap;
    uint64_t late; /* answers that came after their request timed out */

    pthread_t th;
    int fd;
    atomic_bool stop;
};

/* Open the socket and start the thread. Returns 0 or -errno. */
int chaos_phones_start(struct chaos_phones *w);

/* Stop sending new requests, wait for the pending ones to be answered or
 * to time out, and join the thread. */
void chaos_phones_stop(struct chaos_phones *w);

/* Free the records. */
void chaos_phones_free(struct chaos_phones *w);

/* "sip:DN@127.0.0.1:5999" for dn. */
void chaos_contact(char *out, size_t size, unsigned dn);

extern const char *const chaos_op_names[CHAOS_OPS];

#endif
