/* A whole tcnode inside a libFuzzer process: see node_harness.h. */
#include "tests/fuzz/node_harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/base/clock.h"
#include "server/base/log.h"
#include "server/base/tc_err.h"
#include "server/config/config.h"
#include "server/core/bindings.h"
#include "storage/store.h"

#define SETTLE_MS 5000

struct fnode fnode;

void fnode_fail(const char *fmt, ...)
{
    va_list ap;

    fputs("fuzz: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

static bool bindable(int type, uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    int fd = socket(AF_INET, type, 0);
    bool ok;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* A port free for TCP and UDP on 127.0.0.1, from a range the kernel does not
 * hand out as ephemeral ports (as tests/integration/harness.c does). */
static uint16_t free_port(void)
{
    static uint16_t next;

    if (next == 0)
        next = (uint16_t)(40000 + (getpid() % 1000) * 10);
    for (int tries = 0; tries < 10000; tries++) {
        uint16_t p = next++;

        if (next >= 50000)
            next = 40000;
        if (bindable(SOCK_STREAM, p) && bindable(SOCK_DGRAM, p))
            return p;
    }
    fnode_fail("no free port");
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
        fnode_fail("cannot write %s", path);
}

static void on_config_error(void *arg, const char *path, unsigned line, const char *msg)
{
    (void)arg;
    fprintf(stderr, "fuzz: %s:%u: %s\n", path, line, msg);
}

void fnode_start(void)
{
    char path[300], secret[300], text[4096];
    const char *tmp = getenv("TMPDIR");
    struct config *cfg;
    int rc;

    signal(SIGPIPE, SIG_IGN);
    tc_log_set_level(TC_LOG_ERR);
    snprintf(fnode.dir, sizeof(fnode.dir), "%s/tcfuzz-node.XXXXXX",
             tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
    if (mkdtemp(fnode.dir) == NULL)
        fnode_fail("mkdtemp: %s", strerror(errno));
    snprintf(secret, sizeof(secret), "%s/secret", fnode.dir);
    write_file(secret, FNODE_SECRET "\n");
    chmod(secret, 0600);
    fnode.sip_port = free_port();
    fnode.default_port = free_port();
    fnode.tc_port = free_port();
    fnode.peer_port = free_port();
    fnode.http_port = free_port();
    snprintf(text, sizeof(text),
             "[node]\n"
             "name = " FNODE_SELF "\n"
             "sip-listen = 127.0.0.1:%u\n"
             "default-listen = 127.0.0.1:%u\n"
             "tc-listen = 127.0.0.1:%u\n"
             "peer-listen = 127.0.0.1:%u\n"
             "http-listen = 127.0.0.1:%u\n"
             "data-dir = %s/data\n"
             "durability = async\n"
             "cluster-secret-file = %s\n"
             "gws-client-names = GWS\n"
             "heartbeat-interval = 1s\n"
             "link-timeout = 60s\n"
             "max-frame = %u\n"
             "max-contacts = %u\n"
             "max-connections = 64\n"
             "idle-timeout = 10s\n"
             "subscriber-backlog = 64\n"
             "store-map-size = 64m\n"
             "\n[peer " FNODE_PEER "]\n"
             "address = 127.0.0.1:%u\n"
             "sip-address = 127.0.0.1:%u\n"
             "access-number = 9001\n"
             "\n[gws GWS]\n"
             "allow-from = 127.0.0.0/8\n"
             "\n[dn %u-%u]\n"
             "type = extension\n"
             "\n[dn %u-%u]\n"
             "password = " FNODE_PASSWORD "\n",
             fnode.sip_port, fnode.default_port, fnode.tc_port, fnode.peer_port, fnode.http_port,
             fnode.dir, secret, FNODE_MAX_FRAME, FNODE_MAX_CONTACTS, free_port(), free_port(),
             FNODE_DN_FIRST, FNODE_DN_LAST, FNODE_DN_PW_FIRST, FNODE_DN_PW_LAST);
    snprintf(path, sizeof(path), "%s/node.ini", fnode.dir);
    write_file(path, text);
    if (config_load(path, &cfg, on_config_error, NULL) != 0)
        fnode_fail("configuration %s refused", path);
    if (uv_loop_init(&fnode.loop) != 0)
        fnode_fail("uv_loop_init");
    rc = node_start(&fnode.node, &fnode.loop, cfg);
    if (rc != 0)
        fnode_fail("node_start: %s", tc_strerror(rc));
    fnode_settle();
}

void fnode_step(int fd, short events, int ms)
{
    struct pollfd p[2] = {{uv_backend_fd(&fnode.loop), POLLIN, 0}, {fd, events, 0}};
    int timeout = uv_backend_timeout(&fnode.loop);

    if (timeout < 0 || timeout > ms)
        timeout = ms;
    poll(p, fd >= 0 ? 2 : 1, timeout);
    uv_run(&fnode.loop, UV_RUN_NOWAIT);
}

bool fnode_settled(void)
{
    const struct tc_node *n = &fnode.node;

    return store_pending(n->store) == 0 && n->sip.waiting == 0 && n->core.sweeps == NULL &&
           n->core.bw_head == NULL;
}

void fnode_settle(void)
{
    uint64_t deadline = uv_hrtime() + (uint64_t)SETTLE_MS * 1000000;

    /* One turn more than needed: answers and published changes leave at
     * the end of the turn that made them. */
    do {
        fnode_step(-1, 0, 1);
        if (uv_hrtime() > deadline)
            fnode_fail("the node did not settle within %d ms (store pending %u, sip waiting %llu)",
                       SETTLE_MS, store_pending(fnode.node.store),
                       (unsigned long long)fnode.node.sip.waiting);
    } while (!fnode_settled());
    uv_run(&fnode.loop, UV_RUN_NOWAIT);
}

int fnode_connect(uint16_t port)
{
    struct sockaddr_in src = {.sin_family = AF_INET}, dst = {.sin_family = AF_INET};
    struct linger lin = {1, 0};
    int fd;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fnode_fail("socket: %s", strerror(errno));
    /* 127.2.0.1 to 127.2.255.254. */
    src.sin_addr.s_addr = htonl(0x7f020000u | (1 + fnode.n_conns++ % 0xfffeu));
    bind(fd, (struct sockaddr *)&src, sizeof(src));
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
    dst.sin_port = htons(port);
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) != 0 && errno != EINPROGRESS)
        fnode_fail("connect to port %u: %s", port, strerror(errno));
    return fd;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    /* FNV-1a over the eight bytes of v. */
    for (int i = 0; i < 8; i++) {
        h ^= (v >> (8 * i)) & 0xff;
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t mix_str(uint64_t h, const char *s)
{
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return mix(h, 0xff);
}

uint64_t fnode_digest(void)
{
    const struct tc_node *n = &fnode.node;
    const struct dn_entry *e;
    const struct bindings *bs = n->core.bindings;
    char received[BINDING_RECEIVED_MAX];
    uint64_t h = 0xcbf29ce484222325ull, sum = 0;
    size_t cur = 0;

    /* Entries and DNs come in table order, which a rehash may change:
     * add per-DN digests, which does not depend on the order. */
    while ((e = dn_table_next(&n->table, &cur)) != NULL) {
        uint64_t d = mix(mix(mix(h, e->key), e->hlc),
                         e->owner | (uint64_t)e->vnode << 16 | (uint64_t)e->source << 32);
        sum += mix(d, e->since_ms);
    }
    cur = 0;
    while ((e = u64map_next(bs->dns, &cur)) != NULL) {
        for (const struct binding *b = bindings_first(bs, e); b != NULL; b = binding_next(bs, b)) {
            uint64_t d = mix(mix(mix(h, e->key), binding_expires_ms(b)),
                             b->cseq | (uint64_t)b->proto << 32);

            d = mix_str(mix_str(mix_str(d, binding_contact(b)), binding_call_id(b)),
                        binding_received(b, received));
            sum += d;
        }
    }
    return mix(sum, n->core.bindings->n_bindings);
}

void fnode_check_bounds(void)
{
    const struct tc_node *n = &fnode.node;
    const struct dn_table *t = &n->table;
    const struct dn_entry *e;
    const struct bindings *bs = n->core.bindings;
    uint64_t bindings = 0, insrv = 0;
    size_t cur = 0;

    if (dn_table_count(t) > FNODE_DNS)
        fnode_fail("%zu table entries for %d DNs", dn_table_count(t), FNODE_DNS);
    while ((e = dn_table_next(t, &cur)) != NULL) {
        bool up;

        if (!dn_dir_contains(t->dir, e->key))
            fnode_fail("table entry for a DN outside the directory");
        if (e->owner >= t->n_nodes || e->vnode >= t->n_nodes || e->source > DN_SOURCE_TLIB)
            fnode_fail("table entry with owner %u, version node %u, source %u", e->owner, e->vnode,
                       e->source);
        if (e->owner != DN_NODE_NONE && (e->hlc == 0 || e->vnode == DN_NODE_NONE))
            fnode_fail("owned DN without a version");
        up = e->owner != DN_NODE_NONE && t->link_up[e->owner];
        if ((dn_table_status(t, e->key) == DN_INSRV) != up)
            fnode_fail("DN status %d, owner %u, link %s", dn_table_status(t, e->key), e->owner,
                       up ? "up" : "down");
        insrv += up;
    }
    if (insrv != dn_table_insrv(t))
        fnode_fail("%llu DNs InSrv by the entries, %llu by the count", (unsigned long long)insrv,
                   (unsigned long long)dn_table_insrv(t));
    cur = 0;
    while ((e = u64map_next(bs->dns, &cur)) != NULL) {
        unsigned count = 0;

        for (const struct binding *b = bindings_first(bs, e); b != NULL; b = binding_next(bs, b)) {
            if (binding_dn(bs, b) != e->key || !b->in_set)
                fnode_fail("a binding's list does not end at its DN's entry");
            count++;
        }
        if (count > FNODE_MAX_CONTACTS)
            fnode_fail("%u bindings for a DN (max-contacts %u)", count, FNODE_MAX_CONTACTS);
        bindings += count;
    }
    if (bindings != n->core.bindings->n_bindings)
        fnode_fail("%llu bindings listed, %llu counted", (unsigned long long)bindings,
                   (unsigned long long)n->core.bindings->n_bindings);
}

uint64_t fnode_dn_key(const char *s, size_t len)
{
    dn_key k;

    if (s == NULL || dn_key_parse(s, len, &k) != 0 || !dn_dir_contains(&fnode.node.cfg->dir, k))
        return 0;
    return k;
}
