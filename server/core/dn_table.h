#ifndef TC_SERVER_CORE_DN_TABLE_H
#define TC_SERVER_CORE_DN_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/base/u64map.h"
#include "server/config/dn_dir.h"

/* The DN table: for every DN of the directory, who owns it, how, since when
 * and at which version (DESIGN §1, §3). Loop thread only: nothing else may
 * read or write it.
 *
 * Only DNs that ever had a claim hold an entry (a u64map on the DN key,
 * which grows incrementally so no claim pays for a full rehash); an idle DN
 * costs nothing, so a directory of 1,000,000 DNs stays small until phones
 * register. Entries carry the last version seen even after a release, so an
 * older claim can never win later.
 *
 * Nodes are named by small ids: DN_NODE_NONE (0) is "no owner", id 1 is this
 * node, peers are added with dn_table_add_node(). Versions compare by hybrid
 * logical clock, then by node name. A DN is InSrv when its owner is this
 * node, or a peer whose link is up. */

#define DN_NODE_NONE   0
#define DN_NODE_SELF   1
#define DN_TABLE_NODES 64 /* self + peers; ids fit struct dn_entry's bytes */

enum dn_source {
    DN_SOURCE_NONE = 0,
    DN_SOURCE_SIP,
    DN_SOURCE_TLIB,
};

enum dn_status {
    DN_OOS = 0,
    DN_INSRV,
};

struct tc_version {
    uint64_t hlc;  /* (wall ms << 16) | logical counter */
    uint16_t node; /* node id of the claimer; the tie-break compares names */
};

/* One entry per DN for the table and for the SIP bindings held here
 * (server/core/bindings.h), which share the map: 32 bytes. An entry with
 * version zero (hlc 0) and no owner is idle, what an absent entry means:
 * made by the bindings before a claim, or left by dn_table_restore() or a
 * reload. dn_table_next() skips idle entries. */
struct dn_entry {
    dn_key key;
    uint64_t hlc;      /* version.hlc */
    uint64_t since_ms; /* wall time of the last change, ms since the epoch */
    /* The bindings' own fields: their first binding's handle (0: none) and
     * their flags. The table never changes them, and keeps an entry that
     * has a binding when its DN leaves the directory. */
    uint32_t bind_head;
    uint8_t bind_flags;
    uint8_t vnode;  /* version.node (< DN_TABLE_NODES) */
    uint8_t owner;  /* DN_NODE_NONE when released */
    uint8_t source; /* enum dn_source */
};

/* What one decision changed; filled by the calls below. */
struct dn_change {
    dn_key key;
    uint16_t owner; /* new owner, DN_NODE_NONE for a release */
    uint16_t old_owner;
    enum dn_source source;
    struct tc_version version;
    uint64_t since_ms;
    enum dn_status status; /* as seen here after the change */
    enum dn_status old_status;
    /* The entry as it was before the change (prev_none: the DN had none),
     * so that dn_table_restore() can undo a change the store refused. */
    struct dn_entry prev;
    bool prev_none;
};

struct dn_table {
    const struct dn_dir *dir; /* borrowed; must outlive the table */
    struct u64map map;        /* of struct dn_entry */
    char names[DN_TABLE_NODES][32];
    bool link_up[DN_TABLE_NODES]; /* self is always up */
    /* When each link last went up or down (wall clock ms; 0: not since
     * this process started). A peer's DNs changed status then. */
    uint64_t link_since_ms[DN_TABLE_NODES];
    uint64_t owned[DN_TABLE_NODES]; /* DNs owned per node id */
    uint16_t n_nodes;               /* ids in use, including NONE and SELF */
    size_t n_tracked;               /* entries that are not idle */
    uint64_t hlc_last;
};

/* Start an empty table over dir for the node named self. Returns 0 or
 * -ENOMEM. */
int dn_table_init(struct dn_table *t, const struct dn_dir *dir, const char *self);

void dn_table_free(struct dn_table *t);

/* Make room for n entries in all, so that adding them does not grow the
 * index (u64map_reserve()): before a restore. Returns 0 or -ENOMEM (the
 * table is unchanged in content and still usable). */
int dn_table_reserve(struct dn_table *t, size_t n);

/* Add a peer by name (link down at first). Returns its id, the existing id
 * if the name is known, or -ENOSPC past DN_TABLE_NODES. */
int dn_table_add_node(struct dn_table *t, const char *name);

/* Id of a node name, or DN_NODE_NONE when unknown. */
uint16_t dn_table_node_id(const struct dn_table *t, const char *name);

/* The same for a name given by its length. */
uint16_t dn_table_node_id_n(const struct dn_table *t, const char *name, size_t len);

/* Name of a node id ("" for DN_NODE_NONE). */
const char *dn_table_node_name(const struct dn_table *t, uint16_t id);

/* A new version stamped now by this node, later than every version this
 * table has made or seen. */
struct tc_version dn_table_next_version(struct dn_table *t, uint64_t now_ms);

/* Compare versions: <0, 0, >0. */
int dn_table_version_cmp(const struct dn_table *t, struct tc_version a, struct tc_version b);

/* This node claims k by source at a new version. Returns 0 and fills *c, or
 * TC_EUNKNOWN_DN, -ENOMEM. */
int dn_table_claim(struct dn_table *t, dn_key k, enum dn_source source, uint64_t now_ms,
                   struct dn_change *c);

/* This node releases k, which it owns. Returns 0 and fills *c, TC_ESTALE if
 * this node is not the owner, TC_EUNKNOWN_DN. */
int dn_table_release(struct dn_table *t, dn_key k, uint64_t now_ms, struct dn_change *c);

/* Apply a decision made elsewhere (a peer, or the store at startup): owner
 * (DN_NODE_NONE for a release) at version v. Applied only when v is newer
 * than what the table holds. Returns 0 and fills *c, TC_ESTALE when not
 * newer, TC_EUNKNOWN_DN, -ENOMEM. */
int dn_table_apply(struct dn_table *t, dn_key k, uint16_t owner, enum dn_source source,
                   struct tc_version v, uint64_t since_ms, struct dn_change *c);

/* dn_table_apply() for k that the caller knows has no entry but e, idle,
 * when not NULL (a restore reading keys in increasing order into a table
 * that held only smaller ones, and the bindings' idle entries, which it
 * walks alongside): no look-up (u64map_insert_new()), so always applied.
 * Same returns, without TC_ESTALE. */
int dn_table_load(struct dn_table *t, dn_key k, struct dn_entry *e, uint16_t owner,
                  enum dn_source source, struct tc_version v, uint64_t since_ms,
                  struct dn_change *c);

/* Prefetch what dn_table_load() of k will touch (u64map_prefetch()). */
static inline void dn_table_prefetch(const struct dn_table *t, dn_key k)
{
    u64map_prefetch(&t->map, k);
}

/* Undo change c, which the store refused (DESIGN §2 rule 7): when c->key's
 * entry still holds c's version, put back the entry c replaced (c->prev:
 * owner, source, version, since), or make it idle again when c created
 * it (no owner, version zero: what an absent entry means; it is kept so
 * that walks of the table in progress miss nothing).
 * The clock (hlc_last) is not turned back: later versions stay later.
 * Returns 0 when undone, or TC_ESTALE when the entry holds another version
 * (a newer decision stands; nothing changes) or is gone (a directory
 * reload dropped it). Loop thread only. */
int dn_table_restore(struct dn_table *t, const struct dn_change *c);

/* The entry for k, or NULL when k never had a claim or its entry is idle
 * (OOS, no owner). Valid until the next change to the table. */
const struct dn_entry *dn_table_get(const struct dn_table *t, dn_key k);

/* Status of k as this node sees it. */
enum dn_status dn_table_status(const struct dn_table *t, dn_key k);

/* Since when e's status holds (wall clock ms): its claim's time, or the
 * last change of its owner's link if that came later (a peer's DNs go OOS
 * when its link goes down, and back InSrv when it comes up). */
uint64_t dn_table_since(const struct dn_table *t, const struct dn_entry *e);

/* Mark a peer's link up or down. Changes the status of every DN it owns;
 * call dn_table_foreach() to publish them. */
void dn_table_set_link(struct dn_table *t, uint16_t node, bool up);

/* Same, recording now_ms as the time of the change (link_since_ms). */
void dn_table_set_link_at(struct dn_table *t, uint16_t node, bool up, uint64_t now_ms);

/* Number of DNs InSrv here; the rest of dir->n_dns are OOS. */
uint64_t dn_table_insrv(const struct dn_table *t);

/* Number of entries, idle ones included: the end of a dn_table_next()
 * walk's cursor. */
size_t dn_table_count(const struct dn_table *t);

/* Number of entries that are not idle: DNs with a recorded ownership
 * history. */
size_t dn_table_tracked(const struct dn_table *t);

/* Iterate over the entries that are not idle, in no particular order: set
 * *cursor to 0, then call until NULL. Valid only while the table is not
 * changed. */
const struct dn_entry *dn_table_next(const struct dn_table *t, size_t *cursor);

/* Call fn for every entry, in no particular order. fn must not change the
 * table. */
void dn_table_foreach(const struct dn_table *t, void (*fn)(void *arg, const struct dn_entry *e),
                      void *arg);

/* Switch to a new directory: entries of DNs still in it are kept, the rest
 * are dropped (made idle when they hold a binding: the bindings keep their
 * entry until they expire). Returns the number of entries dropped, or
 * -ENOMEM (the table is then unchanged). */
long dn_table_reload(struct dn_table *t, const struct dn_dir *dir);

#endif
