#ifndef TC_TESTS_INTEGRATION_HARNESS_TC_H
#define TC_TESTS_INTEGRATION_HARNESS_TC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "client/tcclient_fmt.h"
#include "proto/tcport.pb-c.h"

/* Raw clients of a node's TC port and default port for integration tests:
 * a blocking socket, frames written with tcport/frame.h and events read
 * with a deadline. Failures to connect or write abort the test (except
 * where said); reads return NULL on timeout. Not for use after fork()
 * from the child, except the calls marked "any process". */

struct htc {
    int fd;
    uint8_t *buf; /* bytes read; those from off on are not yet returned */
    size_t off, len, cap;
    bool eof; /* the node closed (or reset) the connection */
};

/* Connect to 127.0.0.1:port; aborts on failure. Any process. */
void htc_connect(struct htc *c, uint16_t port);

/* Same, returning -errno instead of aborting. */
int htc_try_connect(struct htc *c, uint16_t port);

/* Set SO_RCVBUF before connecting (a slow reader's small window). */
void htc_connect_rcvbuf(struct htc *c, uint16_t port, int rcvbuf);

void htc_close(struct htc *c);

/* Write n bytes; returns 0 or -errno (EPIPE, ECONNRESET). Any process. */
int htc_write(struct htc *c, const void *p, size_t n);

/* Frame and send rq. Returns 0 or -errno. Any process. */
int htc_send(struct htc *c, const Tc__Request *rq);

/* The next event within ms, or NULL on timeout or end of file (c->eof
 * tells which). Free it with tc__event__free_unpacked(ev, NULL). Aborts
 * on a frame that does not decode. Any process. */
Tc__Event *htc_next(struct htc *c, int ms);

/* The next event, which must have body case want within ms. */
Tc__Event *htc_expect(struct htc *c, Tc__Event__BodyCase want, int ms);

/* Wait up to ms for the node to close the connection, discarding events.
 * Returns whether it did. */
bool htc_wait_eof(struct htc *c, int ms);

/* Requests; ref_id as given. */
int htc_subscribe(struct htc *c, uint32_t ref, uint64_t from_seq, uint64_t epoch);
int htc_open_app(struct htc *c, uint32_t ref, const char *app);
int htc_register(struct htc *c, uint32_t ref, const char *dn);
int htc_unregister(struct htc *c, uint32_t ref, const char *dn);
int htc_query_address(struct htc *c, uint32_t ref, const char *dn);
int htc_query_dn(struct htc *c, uint32_t ref, const char *dn);
int htc_query_summary(struct htc *c, uint32_t ref);

/* Subscribe from 0 and read the snapshot to its marker; returns the
 * number of DNs in it and puts EventOpened's seq in *seq (may be NULL). */
uint64_t htc_snapshot(struct htc *c, uint64_t *seq);

/* Read events until one carries a state for dn with status insrv (true)
 * or OOS, within ms; returns that event (caller frees) or NULL. */
Tc__Event *htc_wait_dn(struct htc *c, const char *dn, bool insrv, int ms);

/* On a GWS connection (opened), claim then release every DN from lo to hi,
 * rounds times, with up to 256 requests in flight; every request must be
 * answered (EventRegistered, EventUnregistered). Returns the number of
 * claims and releases made. */
uint64_t htc_gws_churn(struct htc *gws, unsigned lo, unsigned hi, unsigned rounds);

/* Claim (or release) every DN from lo to hi whose number is a multiple of
 * step, waiting for every answer. */
void htc_gws_set(struct htc *gws, unsigned lo, unsigned hi, unsigned step, bool claim);

/* VmRSS of pid in KiB, or -1. */
long htc_rss_kib(pid_t pid);

#endif
