/* libFuzzer target for the peer protocol's decoder (tcport/peer_wire.c):
 * decode the input as one frame body (a Msg), read every Claim it carries
 * with peer_wire_claim_parse() against a small table, describe each claim
 * that parses as a Claim again and check it reads back the same; the same
 * for a Call (peer_wire_call_parse / peer_wire_call_fill); check an
 * Auth's mac, and frame the Msg again with peer_wire_frame().
 *
 * Input: one frame body, without its 4-byte length. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/core.h"
#include "server/core/dn_table.h"
#include "tcport/peer/peer_wire.h"

static struct dn_dir dir;
static struct dn_table table;

/* A directory of 1000-1999 and nodes sip1 (self), sip2, sip3, as the unit
 * tests have; kept for the whole run. */
static void setup(void)
{
    static int done;
    struct dn_profile p = {.type = DN_TYPE_EXTENSION};

    if (done)
        return;
    dn_dir_init(&dir);
    if (dn_dir_add_profile(&dir, &p) < 0 || dn_dir_add_range(&dir, "1000-1999", 0, 1) != 0 ||
        dn_dir_finish(&dir, NULL, NULL) != 0 || dn_table_init(&table, &dir, "sip1") != 0 ||
        dn_table_add_node(&table, "sip2") != 2 || dn_table_add_node(&table, "sip3") != 3)
        abort();
    done = 1;
}

static void check_claim(const Tc__Peer__Claim *pb)
{
    struct peer_claim c, again;
    struct peer_wire_claim w;
    int rc;

    rc = peer_wire_claim_parse(&table, pb, &c);
    if (rc == -EINVAL || rc == -ENOENT)
        return;
    if (rc != 0)
        abort();
    if (c.owner >= table.n_nodes || c.version.node == DN_NODE_NONE ||
        c.version.node >= table.n_nodes || c.version.hlc == 0 || c.source > DN_SOURCE_TLIB)
        abort();
    peer_wire_claim_fill(&w, &table, &c);
    if (peer_wire_claim_size(&w.pb) < tc__peer__claim__get_packed_size(&w.pb) + 2)
        abort();
    memset(&again, 0, sizeof(again));
    if (peer_wire_claim_parse(&table, &w.pb, &again) != 0 || again.dn != c.dn ||
        again.owner != c.owner || again.source != c.source || again.version.hlc != c.version.hlc ||
        again.version.node != c.version.node || again.since_ms != c.since_ms || again.seq != c.seq)
        abort();
}

static void check_call(const Tc__Peer__Call *pb)
{
    struct core_call c, again;
    struct peer_wire_call w;
    int rc;

    rc = peer_wire_call_parse(&table, pb, &c);
    if (rc == -EINVAL || rc == -ENOENT)
        return;
    if (rc != 0 || c.target >= table.n_nodes || c.code < 100 || c.code > 699 ||
        strlen(c.call_id) > PEER_CALL_ID_MAX)
        abort();
    c.origin = 2;
    peer_wire_call_fill(&w, &table, &c);
    if (peer_wire_call_parse(&table, &w.pb, &again) != 0 || again.dn != c.dn ||
        again.target != c.target || again.code != c.code || again.outbound != c.outbound ||
        again.time_ms != c.time_ms || strcmp(again.call_id, c.call_id) != 0 ||
        strcmp(again.outcome, c.outcome) != 0 || (again.contact == NULL) != (c.contact == NULL) ||
        (c.contact != NULL && strcmp(again.contact, c.contact) != 0))
        abort();
}

static void check_msg(const Tc__Peer__Msg *m)
{
    static const uint8_t nonce[PEER_NONCE_LEN];
    struct tc_buf b = TC_BUF_INIT;
    size_t n = tc__peer__msg__get_packed_size(m), i;
    long framed;

    switch (m->body_case) {
    case TC__PEER__MSG__BODY_CLAIMS:
        for (i = 0; i < m->claims->n_claims; i++)
            check_claim(m->claims->claims[i]);
        break;
    case TC__PEER__MSG__BODY_SYNC_CHUNK:
        for (i = 0; i < m->sync_chunk->n_claims; i++)
            check_claim(m->sync_chunk->claims[i]);
        break;
    case TC__PEER__MSG__BODY_CALL:
        check_call(m->call);
        break;
    case TC__PEER__MSG__BODY_AUTH:
        (void)peer_wire_mac_ok("secret", 6, "sip2", "sip1", nonce, nonce, m->auth->mac.data,
                               m->auth->mac.len);
        break;
    default:
        break;
    }
    framed = peer_wire_frame(&b, m);
    if (framed < 0 || (size_t)framed != PEER_FRAME_HDR + n || b.len != (size_t)framed)
        abort();
    /* Not checked: that the frame decodes again (see fuzz_tcport_frame.c:
     * libprotobuf-c cannot read back an unknown field 0 it kept). */
    tc_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Tc__Peer__Msg *m;

    setup();
    m = peer_wire_decode(data, size);
    if (m != NULL)
        check_msg(m);
    peer_wire_free(m);
    return 0;
}
