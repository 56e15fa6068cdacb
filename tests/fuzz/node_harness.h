#ifndef TC_TESTS_FUZZ_NODE_HARNESS_H
#define TC_TESTS_FUZZ_NODE_HARNESS_H

/* A whole tcnode inside a libFuzzer process, for the targets that drive a
 * request from bytes in to answer and table change out (fuzz_node_*.c).
 *
 * fnode_start() writes a configuration into a fresh temporary folder (its
 * data-dir holds a real LMDB store, durability async so that a commit
 * costs no fsync), starts the node with node_start() on a libuv loop of
 * its own, and leaves it running for the whole process; each input then
 * talks to it over loopback sockets while fnode_step() runs the loop.
 *
 * The node is sip2 with one configured peer, sip1 (the lower name, so
 * sip1 dials; nothing dials on its own), the cluster secret FNODE_SECRET,
 * DNs FNODE_DN_FIRST..FNODE_DN_LAST of type extension, of which
 * FNODE_DN_PW_FIRST..FNODE_DN_PW_LAST have the password FNODE_PASSWORD,
 * gws-client-names = GWS, max-contacts FNODE_MAX_CONTACTS.
 *
 * The wall clock (tc_now_ms(), tests/fuzz/fuzz_clock.c) stands still at its
 * first reading: no binding expires and no version is stamped by time
 * between the views before and after an input, so whatever changed in the
 * table was changed by that input; and the table stays bounded by the
 * directory (FNODE_DNS entries, FNODE_DNS * FNODE_MAX_CONTACTS bindings).
 *
 * Every check failure prints what failed and abort()s, which libFuzzer
 * reports with the input. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "server/node.h"

#define FNODE_DN_FIRST     1000
#define FNODE_DN_LAST      1019
#define FNODE_DNS          (FNODE_DN_LAST - FNODE_DN_FIRST + 1)
#define FNODE_DN_PW_FIRST  1010
#define FNODE_DN_PW_LAST   1014
#define FNODE_PASSWORD     "fuzz-pw"
#define FNODE_SECRET       "0123456789abcdef0123456789abcdef"
#define FNODE_MAX_CONTACTS 4
#define FNODE_SELF         "sip2"
#define FNODE_PEER         "sip1"
#define FNODE_MAX_FRAME    8192

struct fnode {
    uv_loop_t loop;
    struct tc_node node;
    char dir[256];
    uint16_t sip_port, default_port, tc_port, peer_port, http_port;
    uint32_t n_conns; /* client connections made, for their source addresses */
};

extern struct fnode fnode;

/* Start the node once per process (LLVMFuzzerInitialize). Aborts if it
 * cannot. */
void fnode_start(void);

/* Wait up to ms for fd (events; fd < 0: none) or the loop, then run what the
 * loop has ready. */
void fnode_step(int fd, short events, int ms);

/* True when nothing the node started is still on its way: no change waiting
 * for the store, no SIP answer waiting for it, no sweep. */
bool fnode_settled(void);

/* Run the loop until fnode_settled() (at most a few seconds: aborts past
 * that, a hang is a bug). */
void fnode_settle(void);

/* A non-blocking TCP socket connecting to 127.0.0.1:port from its own
 * loopback address (127.2.x.y), so that neither TIME_WAIT nor the per-source
 * caps run out. Closed with a reset. */
int fnode_connect(uint16_t port);

/* A digest of what the node holds: every DN table entry (owner, source,
 * version) and every binding (contact, expiry, Call-ID, CSeq). */
uint64_t fnode_digest(void);

/* Check the bounds that must hold after every input: table entries and
 * bindings within the directory and max-contacts, owners known, a DN InSrv
 * exactly when its owner is this node or a peer whose link is up. */
void fnode_check_bounds(void);

/* The key of a DN given as text (digits), or 0 when it is not one of the
 * directory's. */
uint64_t fnode_dn_key(const char *s, size_t len);

/* Print "fuzz: " what and abort. */
void fnode_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
