#ifndef TC_TESTS_INTEGRATION_HARNESS_PEER_H
#define TC_TESTS_INTEGRATION_HARNESS_PEER_H

#include <stddef.h>
#include <stdint.h>

#include "proto/peer.pb-c.h"

/* A test client on a node's peer port: raw frames (4-byte big-endian
 * length + one Tc__Peer__Msg), and the Hello/Auth exchange played as a
 * peer that holds the cluster secret. Failures are Criterion assertions. */

/* Connect to 127.0.0.1:port. */
int hpeer_dial(uint16_t port);

void hpeer_send_raw(int fd, const void *p, size_t len);
void hpeer_send_msg(int fd, const Tc__Peer__Msg *m);

/* One frame within ms (the rest of it within 3 s more), or NULL when
 * nothing came or the connection closed; *len (may be NULL) is the body's
 * length. An undecodable frame fails the test. */
Tc__Peer__Msg *hpeer_read_msg(int fd, int ms, size_t *len);

/* Read until a message of this kind within 3 s each; others are skipped. */
Tc__Peer__Msg *hpeer_expect(int fd, Tc__Peer__Msg__BodyCase kind);

/* Play `from` against the node `to` behind fd, which speaks first: take its
 * Hello (checks name, protocol major, nonce), answer with ours (protocol
 * minor `minor`), check its proof of secret over our nonce and send ours.
 * Nothing more. */
void hpeer_authenticate(int fd, const char *secret, const char *from, const char *to,
                        uint32_t minor);

/* Play `from` against the node `to` behind fd, which speaks first: take its
 * Hello (checks name, protocol major, nonce), answer with ours (protocol
 * minor `minor`), check its proof of secret over our nonce and send ours.
 * From minor PEER_MINOR_RESYNC on, take the node's SyncRequest and ask
 * it for everything. What follows is the node's snapshot. */
void hpeer_handshake(int fd, const char *secret, const char *from, const char *to, uint32_t minor);

#endif
