#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/base/tc_err.h"
#include "server/config/config.h"
#include "server/config/config_gws.h"
#include "tests/tc_test.h"

TestSuite(config, .fini = tc_test_leak_check);

#define MAX_MSGS 64

/* Problems reported by the last load(). */
static struct {
    unsigned n;
    unsigned line[MAX_MSGS];
    char msg[MAX_MSGS][512];
} errs;

static void collect(void *arg, const char *path, unsigned line, const char *msg)
{
    (void)arg;
    cr_assert_str_eq(path, "t.ini");
    if (errs.n < MAX_MSGS) {
        errs.line[errs.n] = line;
        snprintf(errs.msg[errs.n], sizeof(errs.msg[0]), "%s", msg);
    }
    errs.n++;
}

static int load(const char *text, struct config **c)
{
    memset(&errs, 0, sizeof(errs));
    *c = NULL;
    return config_load_string("t.ini", text, c, collect, NULL);
}

static void dump(void)
{
    for (unsigned i = 0; i < errs.n && i < MAX_MSGS; i++)
        cr_log_info("t.ini:%u: %s", errs.line[i], errs.msg[i]);
}

/* Assert that the last load reported msg at line. */
static void has(unsigned line, const char *msg)
{
    for (unsigned i = 0; i < errs.n && i < MAX_MSGS; i++) {
        if (errs.line[i] == line && strcmp(errs.msg[i], msg) == 0)
            return;
    }
    dump();
    cr_assert_fail("missing \"t.ini:%u: %s\" among %u problems", line, msg, errs.n);
}

/* Load text, which must succeed without a problem. */
static struct config *ok(const char *text)
{
    struct config *c;
    int rc = load(text, &c);

    if (rc != 0 || errs.n != 0)
        dump();
    cr_assert_eq(rc, 0, "rc %d (%s)", rc, tc_strerror(rc));
    cr_assert_eq(errs.n, 0);
    cr_assert_not_null(c);
    return c;
}

/* Load text, which must fail with exactly one problem: msg at line. */
static void bad(const char *text, unsigned line, const char *msg)
{
    struct config *c;
    int rc = load(text, &c);

    cr_assert_eq(rc, TC_ECONFIG, "rc %d", rc);
    cr_assert_null(c);
    has(line, msg);
    if (errs.n != 1)
        dump();
    cr_assert_eq(errs.n, 1, "%u problems", errs.n);
}

#define NODE "[node]\nname = sip1\ndata-dir = /var/lib/tc\n" /* lines 1-3 */

Test(config, minimal_file_gets_the_defaults)
{
    struct config *c = ok(NODE);
    char buf[80];

    cr_assert_str_eq(c->path, "t.ini");
    cr_assert_str_eq(c->name, "sip1");
    cr_assert_str_eq(c->data_dir, "/var/lib/tc");
    cr_assert_eq(c->n_sip_listen, 1);
    cr_assert_str_eq(config_addr_str(&c->sip_listen[0], buf, sizeof(buf)), "127.0.0.1:5060");
    cr_assert_str_eq(config_addr_str(&c->default_listen, buf, sizeof(buf)), "127.0.0.1:3000");
    cr_assert_str_eq(config_addr_str(&c->tc_listen, buf, sizeof(buf)), "127.0.0.1:3001");
    cr_assert_str_eq(config_addr_str(&c->peer_listen, buf, sizeof(buf)), "127.0.0.1:3002");
    cr_assert_str_eq(config_addr_str(&c->http_listen, buf, sizeof(buf)), "127.0.0.1:8080");
    cr_assert_eq(c->durability, CONFIG_DURABILITY_SYNC);
    cr_assert_null(c->cluster_secret_file);
    cr_assert_eq(c->n_gws_client_names, 0);
    cr_assert(c->dr_forward);
    cr_assert_eq(c->heartbeat_interval_ms, 1000);
    cr_assert_eq(c->link_timeout_ms, 3000);
    cr_assert_eq(c->limits.max_frame, 65536);
    cr_assert_eq(c->limits.max_connections, 1024);
    cr_assert_eq(c->limits.max_sip_message, 65535);
    cr_assert_eq(c->limits.max_sip_headers, 100);
    cr_assert_eq(c->limits.max_contacts, 10);
    cr_assert_eq(c->limits.min_expires, 60);
    cr_assert_eq(c->limits.max_expires, 7200);
    cr_assert_eq(c->limits.default_expires, 3600);
    cr_assert_eq(c->limits.idle_timeout_ms, 60000);
    cr_assert_eq(c->limits.message_timeout_ms, 10000);
    cr_assert_eq(c->limits.max_connections_per_source, 64);
    cr_assert_eq(c->limits.subscriber_backlog, 100000);
    cr_assert_eq(c->limits.http_max_header, 8192);
    cr_assert_eq(c->limits.store_queue, 262144);
    cr_assert_eq(c->limits.store_map_size, UINT64_C(1) << 30);
    cr_assert_eq(c->n_peers, 0);
    cr_assert_eq(c->dir.n_dns, 0, "no [dn] section: empty directory");
    cr_assert_eq(c->dir.n_ranges, 0);
    config_free(c);
}

static const char full[] = "; tcluster node sip1\n"                   /* 1 */
                           "[node]\n"                                 /* 2 */
                           "name = sip1\n"                            /* 3 */
                           "sip-listen = 10.0.0.1:5060, [::1]:5070\n" /* 4 */
                           "default-listen = 10.0.0.1:4000\n"         /* 5 */
                           "tc-listen = [2001:db8::7]:4001\n"         /* 6 */
                           "peer-listen = 0.0.0.0:4002\n"             /* 7 */
                           "http-listen = 127.0.0.1:9090\n"           /* 8 */
                           "data-dir = /srv/tc/sip1\n"                /* 9 */
                           "durability = async\n"                     /* 10 */
                           "cluster-secret-file = /etc/tc/secret\n"   /* 11 */
                           "gws-client-names = GWS_1, gws-2\n"        /* 12 */
                           "dr-forward = no\n"                        /* 13 */
                           "heartbeat-interval = 250ms\n"             /* 14 */
                           "link-timeout = 2s\n"                      /* 15 */
                           "max-frame = 128k\n"                       /* 16 */
                           "max-connections = 50\n"                   /* 17 */
                           "max-sip-message = 8k\n"                   /* 18 */
                           "max-sip-headers = 40\n"                   /* 19 */
                           "max-contacts = 3\n"                       /* 20 */
                           "min-expires = 30\n"                       /* 21 */
                           "max-expires = 600\n"                      /* 22 */
                           "default-expires = 300\n"                  /* 23 */
                           "idle-timeout = 2m\n"                      /* 24 */
                           "subscriber-backlog = 5000\n"              /* 25 */
                           "http-max-header = 4096\n"                 /* 26 */
                           "store-queue = 1000\n"                     /* 27 */
                           "store-map-size = 4g\n"                    /* 28 */
                           "\n"                                       /* 29 */
                           "[peer sip2]\n"                            /* 30 */
                           "address = 10.0.0.2:4002\n"                /* 31 */
                           "sip-address = sip2.example.com:5060\n"    /* 32 */
                           "tc-address = [fe80::2]:4001\n"            /* 33 */
                           "dr-peer-location = east\n"                /* 34 */
                           "[peer sip3]\n"                            /* 35 */
                           "address = sip3:4002 ; inline comment\n"   /* 36 */
                           "\n"                                       /* 37 */
                           "[dn 1000-1999]\n"                         /* 38 */
                           "type = extension\n"                       /* 39 */
                           "group = sales\n"                          /* 40 */
                           "password = s3cr;et\n"                     /* 41 */
                           "[dn 5000]\n"                              /* 42 */
                           "shared-line = true\n"                     /* 43 */
                           "members = 1001, 1002,\n"                  /* 44 */
                           "    1003\n"                               /* 45 */
                           "sca-preferred-site = sip2\n"              /* 46 */
                           "[dn 7000]\n"                              /* 47 */
                           "type = routing-point\n"                   /* 48 */
                           "group = sales\n"                          /* 49 */
                           "distribution = local-first\n"             /* 50 */
                           "[dn 0100-0199]\n"                         /* 51 */
                           "[gws GWS_1]\n"                            /* 52 */
                           "secret-file = /etc/tc/gws1\n"             /* 53 */
                           "[gws gws-2]\n"                            /* 54 */
                           "allow-from = 10.1.0.0/16, ::1\n";         /* 55 */

Test(config, full_file_round_trips)
{
    struct config *c = ok(full);
    const struct dn_profile *p;
    char buf[80];

    cr_assert_str_eq(c->name, "sip1");
    cr_assert_eq(c->n_sip_listen, 2);
    cr_assert_str_eq(c->sip_listen[0].host, "10.0.0.1");
    cr_assert_eq(c->sip_listen[0].port, 5060);
    cr_assert_str_eq(c->sip_listen[1].host, "::1");
    cr_assert_eq(c->sip_listen[1].port, 5070);
    cr_assert_str_eq(config_addr_str(&c->sip_listen[1], buf, sizeof(buf)), "[::1]:5070");
    cr_assert_str_eq(config_addr_str(&c->default_listen, buf, sizeof(buf)), "10.0.0.1:4000");
    cr_assert_str_eq(config_addr_str(&c->tc_listen, buf, sizeof(buf)), "[2001:db8::7]:4001");
    cr_assert_str_eq(config_addr_str(&c->peer_listen, buf, sizeof(buf)), "0.0.0.0:4002");
    cr_assert_str_eq(config_addr_str(&c->http_listen, buf, sizeof(buf)), "127.0.0.1:9090");
    cr_assert_str_eq(c->data_dir, "/srv/tc/sip1");
    cr_assert_eq(c->durability, CONFIG_DURABILITY_ASYNC);
    cr_assert_str_eq(c->cluster_secret_file, "/etc/tc/secret");
    cr_assert_eq(c->n_gws_client_names, 2);
    cr_assert_str_eq(c->gws_client_names[0], "GWS_1");
    cr_assert_str_eq(c->gws_client_names[1], "gws-2");
    cr_assert_eq(c->n_gws, 2);
    cr_assert_str_eq(c->gws[0].secret_file, "/etc/tc/gws1");
    cr_assert_eq(c->gws[0].secret_line, 53);
    cr_assert_eq(c->gws[0].n_allow, 0);
    cr_assert_null(c->gws[1].secret_file);
    cr_assert_eq(c->gws[1].n_allow, 2);
    cr_assert_eq(c->gws[1].allow[0].bits, 16);
    cr_assert_eq(c->gws[1].allow[1].bits, 128);
    cr_assert_not(c->dr_forward);
    cr_assert_eq(c->heartbeat_interval_ms, 250);
    cr_assert_eq(c->link_timeout_ms, 2000);
    cr_assert_eq(c->limits.max_frame, 128 * 1024);
    cr_assert_eq(c->limits.max_connections, 50);
    cr_assert_eq(c->limits.max_sip_message, 8192);
    cr_assert_eq(c->limits.max_sip_headers, 40);
    cr_assert_eq(c->limits.max_contacts, 3);
    cr_assert_eq(c->limits.min_expires, 30);
    cr_assert_eq(c->limits.max_expires, 600);
    cr_assert_eq(c->limits.default_expires, 300);
    cr_assert_eq(c->limits.idle_timeout_ms, 120000);
    cr_assert_eq(c->limits.subscriber_backlog, 5000);
    cr_assert_eq(c->limits.http_max_header, 4096);
    cr_assert_eq(c->limits.store_queue, 1000);
    cr_assert_eq(c->limits.store_map_size, UINT64_C(4) << 30);

    cr_assert_eq(c->n_peers, 2);
    cr_assert_str_eq(c->peers[0].name, "sip2");
    cr_assert_eq(c->peers[0].line, 30);
    cr_assert_str_eq(config_addr_str(&c->peers[0].address, buf, sizeof(buf)), "10.0.0.2:4002");
    cr_assert_str_eq(config_addr_str(&c->peers[0].sip_address, buf, sizeof(buf)),
                     "sip2.example.com:5060");
    cr_assert_str_eq(config_addr_str(&c->peers[0].tc_address, buf, sizeof(buf)), "[fe80::2]:4001");
    cr_assert_str_eq(c->peers[0].location, "east");
    cr_assert_str_eq(c->peers[1].name, "sip3");
    cr_assert_eq(c->peers[1].line, 35);
    cr_assert_str_eq(config_addr_str(&c->peers[1].address, buf, sizeof(buf)), "sip3:4002");
    cr_assert_eq(c->peers[1].sip_address.port, 0, "unset");
    cr_assert_eq(c->peers[1].tc_address.port, 0, "unset");
    cr_assert_str_eq(c->peers[1].location, "");

    cr_assert_eq(c->dir.n_ranges, 4);
    cr_assert_eq(c->dir.n_dns, 1000 + 1 + 1 + 100);
    p = dn_dir_lookup(&c->dir, dn_key_make(4, 1500));
    cr_assert_not_null(p);
    cr_assert_eq(p->type, DN_TYPE_EXTENSION);
    cr_assert_not(p->shared_line);
    cr_assert_str_eq(p->group, "sales");
    cr_assert_str_eq(p->password, "s3cr;et", "';' without a space before it is not a comment");
    cr_assert_null(p->sca_preferred_site);
    cr_assert_eq(p->line, 38);
    p = dn_dir_lookup(&c->dir, dn_key_make(4, 5000));
    cr_assert_not_null(p);
    cr_assert(p->shared_line);
    cr_assert_eq(p->n_members, 3);
    cr_assert_eq(p->members[0], dn_key_make(4, 1001));
    cr_assert_eq(p->members[1], dn_key_make(4, 1002));
    cr_assert_eq(p->members[2], dn_key_make(4, 1003));
    cr_assert_str_eq(p->sca_preferred_site, "sip2");
    cr_assert_null(p->password);
    p = dn_dir_lookup(&c->dir, dn_key_make(4, 7000));
    cr_assert_not_null(p);
    cr_assert_eq(p->type, DN_TYPE_ROUTING_POINT);
    cr_assert_eq(p->distribution, DN_DIST_LOCAL_FIRST);
    cr_assert_str_eq(p->group, "sales");
    p = dn_dir_lookup(&c->dir, dn_key_make(4, 100));
    cr_assert_not_null(p);
    cr_assert_eq(p->line, 51);
    cr_assert_null(dn_dir_lookup(&c->dir, dn_key_make(3, 100)));
    cr_assert_null(dn_dir_lookup(&c->dir, dn_key_make(4, 2000)));
    config_free(c);
}

Test(config, file_on_disk)
{
    char *dir = tc_test_tmpdir("config");
    char path[512];
    struct config *c = NULL;

    snprintf(path, sizeof(path), "%s/node.ini", dir);
    tc_test_write_file(path, full);
    cr_assert_eq(config_load(path, &c, NULL, NULL), 0);
    cr_assert_str_eq(c->path, path);
    cr_assert_eq(c->n_peers, 2);
    cr_assert_eq(c->dir.n_dns, 1102);
    config_free(c);
    tc_test_rmrf(dir);
    free(dir);
}

static unsigned file_errs;
static unsigned file_line;
static char file_msg[256];

static void collect_file(void *arg, const char *path, unsigned line, const char *msg)
{
    (void)path;
    (void)arg;
    file_errs++;
    file_line = line;
    snprintf(file_msg, sizeof(file_msg), "%s", msg);
}

Test(config, unreadable_file)
{
    char *dir = tc_test_tmpdir("config");
    char path[512];
    struct config *c = NULL;

    snprintf(path, sizeof(path), "%s/missing.ini", dir);
    cr_assert_eq(config_load(path, &c, collect_file, NULL), -ENOENT);
    cr_assert_null(c);
    cr_assert_eq(file_errs, 1);
    cr_assert_eq(file_line, 0);
    cr_assert_str_eq(file_msg, "cannot read: No such file or directory");

    file_errs = 0;
    cr_assert_eq(config_load(dir, &c, collect_file, NULL), -EISDIR);
    cr_assert_null(c);
    cr_assert_eq(file_errs, 1);
    cr_assert_eq(file_line, 0);
    cr_assert_str_eq(file_msg, "cannot read: Is a directory");
    tc_test_rmrf(dir);
    free(dir);
}

Test(config, durations)
{
    struct config *c = ok(NODE "heartbeat-interval = 500\nlink-timeout = 1h\nidle-timeout = 45s\n");

    cr_assert_eq(c->heartbeat_interval_ms, 500, "a bare number is milliseconds");
    cr_assert_eq(c->link_timeout_ms, 3600000);
    cr_assert_eq(c->limits.idle_timeout_ms, 45000);
    config_free(c);
    c = ok(NODE "sip-shed-delay = 49d\n");
    cr_assert_eq(c->limits.sip_shed_delay_ms, 49u * 86400000u, "the largest duration, in days");
    config_free(c);
    c = ok(NODE "message-timeout = 3s\nmax-connections-per-source = 16\n");
    cr_assert_eq(c->limits.message_timeout_ms, 3000);
    cr_assert_eq(c->limits.max_connections_per_source, 16);
    config_free(c);
    bad(NODE "max-connections-per-source = 0\n", 4,
        "max-connections-per-source: expected a whole number from 1 to 4294967295, got \"0\"");

    bad(NODE "idle-timeout = 3x\n", 4,
        "idle-timeout: expected a duration from 1ms to 49d such as 500ms, 3s or 2m, got \"3x\"");
    bad(NODE "idle-timeout = 0s\n", 4,
        "idle-timeout: expected a duration from 1ms to 49d such as 500ms, 3s or 2m, got \"0s\"");
    bad(NODE "idle-timeout = -1s\n", 4,
        "idle-timeout: expected a duration from 1ms to 49d such as 500ms, 3s or 2m, got \"-1s\"");
    bad(NODE "idle-timeout = s\n", 4,
        "idle-timeout: expected a duration from 1ms to 49d such as 500ms, 3s or 2m, got \"s\"");
    bad(NODE "idle-timeout = 50d\n", 4,
        "idle-timeout: expected a duration from 1ms to 49d such as 500ms, 3s or 2m, got \"50d\"");
    bad(NODE "idle-timeout = 4294968s\n", 4,
        "idle-timeout: expected a duration from 1ms to 49d such as 500ms, 3s or 2m, got "
        "\"4294968s\"");
    bad(NODE "idle-timeout = 3 s\n", 4,
        "idle-timeout: expected a duration from 1ms to 49d such as 500ms, 3s or 2m, got \"3 s\"");
}

Test(config, sizes)
{
    struct config *c = ok(NODE "max-frame = 1m\nhttp-max-header = 2K\nmax-sip-message = 1500\n"
                               "store-map-size = 64G\n");

    cr_assert_eq(c->limits.max_frame, 1 << 20);
    cr_assert_eq(c->limits.http_max_header, 2048);
    cr_assert_eq(c->limits.max_sip_message, 1500);
    cr_assert_eq(c->limits.store_map_size, UINT64_C(64) << 30);
    config_free(c);

    c = ok(NODE "max-frame = 3g\n");
    cr_assert_eq(c->limits.max_frame, UINT32_C(3) << 30);
    config_free(c);

    bad(NODE "max-frame = 4g\n", 4,
        "max-frame: expected a size from 1 to 4294967295 such as 65536, 64k, 1m or 1g, got "
        "\"4g\"");
    bad(NODE "max-frame = 0\n", 4,
        "max-frame: expected a size from 1 to 4294967295 such as 65536, 64k, 1m or 1g, got "
        "\"0\"");
    bad(NODE "max-frame = 10kb\n", 4,
        "max-frame: expected a size from 1 to 4294967295 such as 65536, 64k, 1m or 1g, got "
        "\"10kb\"");
    bad(NODE "store-map-size = 99999999999999999999\n", 4,
        "store-map-size: expected a size from 1 to 18446744073709551615 such as 65536, 64k, 1m "
        "or 1g, got \"99999999999999999999\"");
    bad(NODE "max-connections = 1k\n", 4,
        "max-connections: expected a whole number from 1 to 4294967295, got \"1k\"");
    bad(NODE "max-contacts = 0\n", 4,
        "max-contacts: expected a whole number from 1 to 4294967295, got \"0\"");
    bad(NODE "store-queue = 4294967296\n", 4,
        "store-queue: expected a whole number from 1 to 4294967295, got \"4294967296\"");
}

Test(config, booleans)
{
    static const char *const yes[] = {"true", "yes", "on", "1", "TRUE", "Yes"};
    static const char *const no[] = {"false", "no", "off", "0", "False", "OFF"};
    char text[256];
    struct config *c;

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        snprintf(text, sizeof(text), NODE "dr-forward = %s\n", no[i]);
        c = ok(text);
        cr_assert_not(c->dr_forward, "%s", no[i]);
        config_free(c);
        snprintf(text, sizeof(text), NODE "dr-forward = %s\n", yes[i]);
        c = ok(text);
        cr_assert(c->dr_forward, "%s", yes[i]);
        config_free(c);
    }
    bad(NODE "dr-forward = maybe\n", 4, "dr-forward: expected true or false, got \"maybe\"");
    bad(NODE "dr-forward =\n", 4, "dr-forward: expected true or false, got \"\"");
}

Test(config, enums)
{
    bad(NODE "durability = fast\n", 4, "durability: expected sync or async, got \"fast\"");
    bad(NODE "[dn 1000]\ntype = agent\n", 5,
        "type: expected extension or routing-point, got \"agent\"");
    bad(NODE "[dn 1001]\n[dn 1000]\ntype = routing-point\ngroup = 1001\ndistribution = random\n", 8,
        "distribution: expected most-agents or local-first, got \"random\"");
}

Test(config, ipv6_and_addresses)
{
    struct config *c = ok(NODE "sip-listen = [::]:5060, [2001:db8:0:0::1]:5061, 0.0.0.0:5062,\n"
                               "  [::ffff:10.0.0.1]:5063\n"
                               "[peer sip2]\naddress = [fd00::2]:4002\n"
                               "[peer sip3]\naddress = localhost:4002\n");
    char buf[80];

    cr_assert_eq(c->n_sip_listen, 4);
    cr_assert_str_eq(c->sip_listen[0].host, "::");
    cr_assert_str_eq(config_addr_str(&c->sip_listen[1], buf, sizeof(buf)),
                     "[2001:db8:0:0::1]:5061");
    cr_assert_str_eq(c->sip_listen[2].host, "0.0.0.0");
    cr_assert_str_eq(c->sip_listen[3].host, "::ffff:10.0.0.1");
    cr_assert_eq(c->sip_listen[3].port, 5063);
    cr_assert_str_eq(c->peers[0].address.host, "fd00::2");
    cr_assert_str_eq(c->peers[1].address.host, "localhost");
    config_free(c);

    bad(NODE "tc-listen = ::1:3001\n", 4,
        "tc-listen: bad address \"::1:3001\": an IPv6 address takes brackets, as in [::1]:5060 "
        "(expected HOST:PORT or [IPV6]:PORT)");
    bad(NODE "tc-listen = [::1:3001\n", 4,
        "tc-listen: bad address \"[::1:3001\": missing ] after the IPv6 address (expected "
        "HOST:PORT or [IPV6]:PORT)");
    bad(NODE "tc-listen = [::1]\n", 4,
        "tc-listen: bad address \"[::1]\": missing :PORT (expected HOST:PORT or [IPV6]:PORT)");
    bad(NODE "tc-listen = [::g]:1\n", 4,
        "tc-listen: bad address \"[::g]:1\": bad IPv6 address (expected HOST:PORT or "
        "[IPV6]:PORT)");
    bad(NODE "tc-listen = 10.0.0:3001\n", 4,
        "tc-listen: bad address \"10.0.0:3001\": bad IPv4 address (expected HOST:PORT or "
        "[IPV6]:PORT)");
    bad(NODE "tc-listen = 10.0.0.256:3001\n", 4,
        "tc-listen: bad address \"10.0.0.256:3001\": bad IPv4 address (expected HOST:PORT or "
        "[IPV6]:PORT)");
    bad(NODE "tc-listen = 127.0.0.1\n", 4,
        "tc-listen: bad address \"127.0.0.1\": missing :PORT (expected HOST:PORT or "
        "[IPV6]:PORT)");
    bad(NODE "tc-listen = 127.0.0.1:0\n", 4,
        "tc-listen: bad address \"127.0.0.1:0\": port must be 1 to 65535 (expected HOST:PORT or "
        "[IPV6]:PORT)");
    bad(NODE "tc-listen = 127.0.0.1:65536\n", 4,
        "tc-listen: bad address \"127.0.0.1:65536\": port must be 1 to 65535 (expected "
        "HOST:PORT or [IPV6]:PORT)");
    bad(NODE "tc-listen = :3001\n", 4,
        "tc-listen: bad address \":3001\": missing host (expected HOST:PORT or [IPV6]:PORT)");
    bad(NODE "tc-listen = localhost:3001\n", 4,
        "tc-listen: bad address \"localhost:3001\": a listen address must be numeric, as in "
        "127.0.0.1 or [::1] (expected HOST:PORT or [IPV6]:PORT)");
    bad(NODE "[peer sip2]\naddress = bad_host!:1\n", 5,
        "address: bad address \"bad_host!:1\": bad host name (expected HOST:PORT or "
        "[IPV6]:PORT)");
    bad(NODE "[peer sip2]\naddress = "
             "a123456789b123456789c123456789d123456789e123456789f123456789g1234.example:1\n",
        5,
        "address: bad address "
        "\"a123456789b123456789c123456789d123456789e123456789f123456789g1234.example:1\": host "
        "name too long (expected HOST:PORT or [IPV6]:PORT)");
}

Test(config, sip_listen_takes_at_most_four)
{
    bad(NODE "sip-listen = 127.0.0.1:1, 127.0.0.1:2, 127.0.0.1:3, 127.0.0.1:4, 127.0.0.1:5\n", 4,
        "sip-listen: more than 4 addresses");
    bad(NODE "sip-listen = ,\n", 4, "sip-listen: expected a comma-separated list, got \",\"");
}

Test(config, listen_addresses_must_differ)
{
    bad(NODE "tc-listen = 127.0.0.1:3000\n", 4,
        "tc-listen 127.0.0.1:3000 is already used by default-listen");
    bad(NODE "sip-listen = 127.0.0.1:8080\n", 4,
        "http-listen 127.0.0.1:8080 is already used by sip-listen");
}

#define GWS_ABCD                                                         \
    "[gws a]\nallow-from = 127.0.0.1\n[gws b]\nallow-from = 127.0.0.1\n" \
    "[gws c]\nallow-from = 127.0.0.1\n[gws d]\nallow-from = 127.0.0.1\n"

Test(config, gws_client_names)
{
    struct config *c = ok(NODE "gws-client-names = a, b,c ,\n  d\n" GWS_ABCD);

    cr_assert_eq(c->n_gws_client_names, 4);
    cr_assert_str_eq(c->gws_client_names[2], "c");
    cr_assert_str_eq(c->gws_client_names[3], "d");
    config_free(c);
    bad(NODE "gws-client-names = a, abcdefghijabcdefghijabcdefghij12\n[gws a]\nallow-from = ::1\n",
        4,
        "gws-client-names: expected names of at most 31 characters, got "
        "\"abcdefghijabcdefghijabcdefghij12\"");
    cr_assert_eq(load(NODE "gws-client-names = 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17\n", &c),
                 TC_ECONFIG);
    has(4, "gws-client-names: more than 16 names");
}

Test(config, gws_credentials)
{
    struct config *c;
    struct sockaddr_in a4 = {.sin_family = AF_INET};
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};

    /* A GWS name anyone can say needs a credential; a credential needs a name. */
    bad(NODE "gws-client-names = GWS\n", 4,
        "gws-client-names: GWS has no credential: add a [gws GWS] section with secret-file "
        "and/or allow-from");
    bad(NODE "gws-client-names = GWS\n[gws GWS]\n", 5,
        "[gws GWS]: no credential: set secret-file, allow-from or both");
    bad(NODE "[gws GWS]\nallow-from = 127.0.0.1\n", 4, "[gws GWS]: GWS is not in gws-client-names");
    bad(NODE "gws-client-names = G\n[gws G]\nallow-from = 127.0.0.1\n[gws G]\nallow-from = ::1\n",
        7, "duplicate section [gws G] (first at line 5)");
    bad(NODE "gws-client-names = G\n[gws G]\nallow-from = 10.0.0.1/8\n", 6,
        "allow-from: bad address block \"10.0.0.1/8\": bits are set past the prefix length "
        "(write the network address) (expected ADDR or ADDR/BITS, IPv4 or IPv6, e.g. "
        "10.1.0.0/16)");
    bad(NODE "gws-client-names = G\n[gws G]\nallow-from = 10.0.0.0/33\n", 6,
        "allow-from: bad address block \"10.0.0.0/33\": the prefix length is not 0 to 32 "
        "(expected ADDR or ADDR/BITS, IPv4 or IPv6, e.g. 10.1.0.0/16)");
    bad(NODE "gws-client-names = G\n[gws G]\nallow-from = gws.example.com\n", 6,
        "allow-from: bad address block \"gws.example.com\": not an IP address (expected ADDR or "
        "ADDR/BITS, IPv4 or IPv6, e.g. 10.1.0.0/16)");
    bad(NODE "gws-client-names = G\n[gws G]\nsecret-file = /a\nsecret-file = /b\n", 7,
        "duplicate key secret-file in [gws G] (first at line 6)");

    c = ok(NODE "gws-client-names = G\n[gws G]\nallow-from = 10.1.0.0/16,\n  192.168.7.9, "
                "fd00::/8\n");
    cr_assert_eq(c->gws[0].n_allow, 3);
    cr_assert_eq(c->gws[0].allow_line, 6);
    inet_pton(AF_INET, "10.1.200.3", &a4.sin_addr);
    cr_assert(config_gws_source_ok(&c->gws[0], (struct sockaddr *)&a4));
    inet_pton(AF_INET, "10.2.0.1", &a4.sin_addr);
    cr_assert_not(config_gws_source_ok(&c->gws[0], (struct sockaddr *)&a4));
    inet_pton(AF_INET, "192.168.7.9", &a4.sin_addr);
    cr_assert(config_gws_source_ok(&c->gws[0], (struct sockaddr *)&a4));
    inet_pton(AF_INET, "192.168.7.8", &a4.sin_addr);
    cr_assert_not(config_gws_source_ok(&c->gws[0], (struct sockaddr *)&a4));
    /* A dual-stack listener sees IPv4 clients as IPv4-mapped addresses. */
    inet_pton(AF_INET6, "::ffff:10.1.0.1", &a6.sin6_addr);
    cr_assert(config_gws_source_ok(&c->gws[0], (struct sockaddr *)&a6));
    inet_pton(AF_INET6, "fd12::1", &a6.sin6_addr);
    cr_assert(config_gws_source_ok(&c->gws[0], (struct sockaddr *)&a6));
    inet_pton(AF_INET6, "fe80::1", &a6.sin6_addr);
    cr_assert_not(config_gws_source_ok(&c->gws[0], (struct sockaddr *)&a6));
    cr_assert_eq(config_gws_find(c, "G"), &c->gws[0]);
    cr_assert_null(config_gws_find(c, "g"));
    config_free(c);
}

Test(config, gws_secret_files_are_checked)
{
    char dir[] = "/tmp/tc-gws-XXXXXX", path[64], text[256];
    struct config *c;
    FILE *f;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/s", dir);
    snprintf(text, sizeof(text), NODE "gws-client-names = G\n[gws G]\nsecret-file = %s\n", path);
    c = ok(text);
    errs.n = 0;
    /* Missing: an error at the key's line. */
    cr_assert_eq(config_gws_check_files(c, collect, NULL), 1);
    snprintf(text, sizeof(text), "[gws G] secret-file %s: No such file or directory", path);
    has(6, text);
    errs.n = 0;
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("short\n", f);
    fclose(f);
    chmod(path, 0644);
    /* Weak: a warning, the node can still use it. */
    cr_assert_eq(config_gws_check_files(c, collect, NULL), 0);
    cr_assert_eq(errs.n, 1);
    cr_assert_eq(errs.line[0], 6);
    cr_assert_eq(strncmp(errs.msg[0], "warning: [gws G] secret-file ", 29), 0, "%s", errs.msg[0]);
    errs.n = 0;
    chmod(path, 0600);
    f = fopen(path, "w");
    fputs("0123456789abcdef0123456789abcdef\n", f);
    fclose(f);
    cr_assert_eq(config_gws_check_files(c, collect, NULL), 0);
    cr_assert_eq(errs.n, 0);
    config_free(c);
    unlink(path);
    rmdir(dir);
}

Test(config, node_name)
{
    struct config *c = ok("[node]\nname = abcdefghijabcdefghijabcdefghij1\ndata-dir = d\n");

    cr_assert_str_eq(c->name, "abcdefghijabcdefghijabcdefghij1");
    config_free(c);
    bad("[node]\nname = abcdefghijabcdefghijabcdefghij12\ndata-dir = d\n", 2,
        "name: expected a name of 1 to 31 characters A-Z a-z 0-9 _ . -, got "
        "\"abcdefghijabcdefghijabcdefghij12\"");
    bad("[node]\nname = sip 1\ndata-dir = d\n", 2,
        "name: expected a name of 1 to 31 characters A-Z a-z 0-9 _ . -, got \"sip 1\"");
    bad("[node]\nname =\ndata-dir = d\n", 2,
        "name: expected a name of 1 to 31 characters A-Z a-z 0-9 _ . -, got \"\"");
    bad(NODE "data-dir =\n", 4, "duplicate key data-dir in [node] (first at line 3)");
    bad("[node]\nname = a\ndata-dir = \n", 3, "data-dir: expected a value, got \"\"");
}

Test(config, required_keys)
{
    bad("; nothing\n\n[node]\nname = sip1\n", 3, "missing required key data-dir in [node]");
    bad("[node]\ndata-dir = /x\n", 1, "missing required key name in [node]");
    cr_assert_eq(load("[dn 1000]\n", &(struct config *){NULL}), TC_ECONFIG);
    cr_assert_eq(errs.n, 2);
    has(0, "missing required key name in [node]");
    has(0, "missing required key data-dir in [node]");
    bad(NODE "[peer sip2]\nsip-address = 1.2.3.4:5060\n", 4,
        "missing required key address in [peer sip2]");
    bad(NODE "[peer sip2]\n", 4, "missing required key address in [peer sip2]");
}

Test(config, unknown_sections_and_keys)
{
    bad(NODE "[nodes]\nname = x\n", 4, "unknown section [nodes]");
    bad(NODE "nmae = x\n", 4, "unknown key nmae in [node]");
    bad(NODE "[peer sip2]\naddress = 1.2.3.4:1\nadress = x\n", 6,
        "unknown key adress in [peer sip2]");
    bad(NODE "[dn 1000-1999]\nshared_line = true\n", 5,
        "unknown key shared_line in [dn 1000-1999]");
    bad("name = sip1\n" NODE, 1, "key name outside any section");
    bad(NODE "[Node]\n", 4, "unknown section [Node]");
}

Test(config, duplicates)
{
    bad(NODE "durability = sync\ndurability = async\n", 5,
        "duplicate key durability in [node] (first at line 4)");
    bad(NODE "[node]\nname = other\n", 4, "duplicate section [node] (first at line 1)");
    bad(NODE "\n\n\n\n\n\n\n"
             "[peer sip2]\naddress = 1.2.3.4:1\n"  /* 11 */
             "[peer sip3]\naddress = 1.2.3.5:1\n"  /* 13 */
             "[peer sip2]\naddress = 1.2.3.6:1\n", /* 15 */
        15, "duplicate peer sip2 (first at line 11)");
    bad(NODE "[peer sip1]\naddress = 1.2.3.4:1\n", 4, "peer sip1 has the name of this node");
    /* The node's name may come after its peers. */
    bad("[peer sip1]\naddress = 1.2.3.4:1\n[node]\nname = sip1\ndata-dir = d\n", 1,
        "peer sip1 has the name of this node");
    bad(NODE "[peer]\n", 4,
        "bad peer name \"\": expected [peer NAME], NAME of 1 to 31 characters A-Z a-z 0-9 _ . -");
    bad(NODE "[node x]\n", 4, "section [node] takes no name, got [node x]");
}

Test(config, too_many_peers)
{
    char text[8192];
    size_t n = (size_t)snprintf(text, sizeof(text), NODE);

    for (int i = 0; i <= CONFIG_MAX_PEERS; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "[peer p%d]\naddress = 10.0.0.%d:1\n", i,
                              i + 1);
    bad(text, 4 + 2 * CONFIG_MAX_PEERS, "too many peers (max 32)");
}

Test(config, expires_and_timers)
{
    bad(NODE "min-expires = 900\nmax-expires = 600\n", 4,
        "min-expires (900) is greater than max-expires (600)");
    bad(NODE "max-expires = 30\n", 4, "min-expires (60) is greater than max-expires (30)");
    bad(NODE "default-expires = 10\n", 4,
        "default-expires (10) is not between min-expires (60) and max-expires (7200)");
    bad(NODE "heartbeat-interval = 3s\n", 4,
        "heartbeat-interval (3000ms) must be shorter than link-timeout (3000ms)");
    bad(NODE "link-timeout = 500ms\n", 4,
        "heartbeat-interval (1000ms) must be shorter than link-timeout (500ms)");
    bad("[node]\nlink-timeout = 500\nname = a\ndata-dir = b\n", 2,
        "heartbeat-interval (1000ms) must be shorter than link-timeout (500ms)");
}

Test(config, dn_ranges)
{
    bad(NODE "[dn 1000-1999]\n[dn 1500-2500]\n", 5,
        "dn range 1500-2500 overlaps 1000-1999 (line 4)");
    bad(NODE "[dn 1500-2500]\n[dn 1000-1999]\n", 5,
        "dn range 1000-1999 overlaps 1500-2500 (line 4)");
    bad(NODE "[dn 1000]\n[dn 1000]\n", 5, "dn range 1000 overlaps 1000 (line 4)");
    bad(NODE "[dn 2000-1000]\n", 4, "dn range 2000-1000: LO is greater than HI");
    bad(NODE "[dn 100-1000]\n", 4, "dn range 100-1000: LO and HI have different widths");
    bad(NODE "[dn 10a0]\n", 4,
        "bad dn range \"10a0\": expected [dn LO-HI] or [dn DN], DNs of 1 to 17 digits");
    bad(NODE "[dn]\n", 4,
        "bad dn range \"\": expected [dn LO-HI] or [dn DN], DNs of 1 to 17 digits");
    bad(NODE "[dn 123456789012345678]\n", 4,
        "bad dn range \"123456789012345678\": expected [dn LO-HI] or [dn DN], DNs of 1 to 17 "
        "digits");

    /* Other widths are other DNs. */
    struct config *c = ok(NODE "[dn 100-199]\n[dn 0100-0199]\n[dn 1000-1999]\n");

    cr_assert_eq(c->dir.n_dns, 1200);
    config_free(c);

    /* Every overlapping pair is reported; a range inside another is not one. */
    cr_assert_eq(load(NODE "[dn 1000-1999]\n[dn 1500-2500]\n[dn 1999]\n[dn 2500-2600]\n",
                      &(struct config *){NULL}),
                 TC_ECONFIG);
    cr_assert_eq(errs.n, 2);
    has(5, "dn range 1500-2500 overlaps 1000-1999 (line 4)");
    has(7, "dn range 2500-2600 overlaps 1500-2500 (line 5)");
}

static dn_key dn(const char *s)
{
    dn_key k;

    cr_assert_eq(dn_key_parse(s, strlen(s), &k), 0, "parse %s", s);
    return k;
}

/* DESIGN §8: a section for one DN or a narrower range overrides the wider
 * range it falls in, and takes the keys it does not set from it. */
Test(config, a_narrower_section_overrides_a_range)
{
    struct config *c = ok(NODE "[dn 1000-1999]\ntype = extension\npassword = all\n"
                               "dr-forward = off\n"
                               "[dn 1010]\npassword = mine\n"
                               "[dn 1500-1599]\ndr-forward = on\n"
                               "[dn 1550]\npassword = deep\n");
    const struct dn_profile *p;

    cr_assert_eq(c->dir.n_dns, 1000);
    p = dn_dir_lookup(&c->dir, dn("1010"));
    cr_assert_str_eq(p->password, "mine");
    cr_assert_eq(p->type, DN_TYPE_EXTENSION);
    cr_assert_eq(p->dr_forward, dn_dir_lookup(&c->dir, dn("1000"))->dr_forward);
    cr_assert_str_eq(dn_dir_lookup(&c->dir, dn("1011"))->password, "all");
    p = dn_dir_lookup(&c->dir, dn("1550"));
    cr_assert_str_eq(p->password, "deep");
    cr_assert_eq(p->dr_forward, dn_dir_lookup(&c->dir, dn("1500"))->dr_forward);
    cr_assert_neq(p->dr_forward, dn_dir_lookup(&c->dir, dn("1000"))->dr_forward);
    cr_assert_str_eq(dn_dir_lookup(&c->dir, dn("1551"))->password, "all");
    config_free(c);
}

/* Digest challenges (issue 14): MD5 alone and realm "tcluster" unless
 * [node] says otherwise; a [dn] section overrides [node], a narrower
 * section the wider one. */
Test(config, auth_algorithms_and_realm)
{
    struct config *c = ok(NODE "[dn 1000-1999]\n");
    const struct dn_profile *p;

    p = dn_dir_lookup(&c->dir, dn("1000"));
    cr_assert_eq(p->auth_algs[0], DN_AUTH_MD5);
    cr_assert_eq(p->auth_algs[1], DN_AUTH_NONE);
    cr_assert_str_eq(p->auth_realm, "tcluster");
    config_free(c);

    c = ok(NODE "auth-algorithms = SHA-256, md5\nauth-realm = pbx.example.org\n"
                "[dn 1000-1999]\n"
                "[dn 1500-1599]\nauth-algorithms = sha-256\n"
                "[dn 1550]\nauth-realm = one\n"
                "[dn 2000-2999]\nauth-algorithms = md5,\n  sha-256\n");
    p = dn_dir_lookup(&c->dir, dn("1000"));
    cr_assert_eq(p->auth_algs[0], DN_AUTH_SHA256);
    cr_assert_eq(p->auth_algs[1], DN_AUTH_MD5);
    cr_assert_str_eq(p->auth_realm, "pbx.example.org");
    p = dn_dir_lookup(&c->dir, dn("1501"));
    cr_assert_eq(p->auth_algs[0], DN_AUTH_SHA256);
    cr_assert_eq(p->auth_algs[1], DN_AUTH_NONE);
    cr_assert_str_eq(p->auth_realm, "pbx.example.org");
    p = dn_dir_lookup(&c->dir, dn("1550"));
    cr_assert_eq(p->auth_algs[0], DN_AUTH_SHA256);
    cr_assert_eq(p->auth_algs[1], DN_AUTH_NONE);
    cr_assert_str_eq(p->auth_realm, "one");
    p = dn_dir_lookup(&c->dir, dn("2000"));
    cr_assert_eq(p->auth_algs[0], DN_AUTH_MD5);
    cr_assert_eq(p->auth_algs[1], DN_AUTH_SHA256);
    config_free(c);

    bad(NODE "auth-algorithms = md5, sha1\n", 4,
        "auth-algorithms: unknown algorithm \"sha1\" (expected md5, sha-256 or both, "
        "comma-separated, in the order the challenges are sent)");
    bad(NODE "[dn 1000]\nauth-algorithms = md5, MD5\n", 5, "auth-algorithms: MD5 is listed twice");
    bad(NODE "[dn 1000]\nauth-algorithms =\n", 5,
        "auth-algorithms: expected a comma-separated list, got \"\"");
    bad(NODE "auth-realm = a\"b\n", 4,
        "auth-realm: expected a realm without quotes, backslashes or control characters, got "
        "\"a\"b\"");
}

Test(config, dn_options)
{
    bad(NODE "[dn 1000-1999]\n[dn 5000]\nshared-line = yes\n", 5,
        "[dn 5000]: shared-line without members");
    bad(NODE "[dn 1000-1999]\n[dn 5000]\nshared-line = yes\nmembers = 1001, 2001\n", 7,
        "members: 2001 is not in the directory");
    bad(NODE "[dn 1000-1999]\n[dn 5000]\nshared-line = yes\nmembers = 1001,\n  01002\n", 7,
        "members: 01002 is not in the directory");
    bad(NODE "[dn 1000-1999]\n[dn 5000]\nmembers = 1001\n", 6,
        "members: only for a shared line (set shared-line = true)");
    bad(NODE "[dn 1000-1999]\n[dn 5000]\nshared-line = yes\nmembers = 1001, x\n", 7,
        "members: expected DNs of 1 to 17 digits, got \"x\"");
    bad(NODE "[dn 1000-1999]\n[dn 5000]\nshared-line = yes\nmembers = 1001\n"
             "sca-preferred-site = sip9\n",
        8, "sca-preferred-site: no node named sip9 (neither this node nor a peer)");
    bad(NODE "[dn 7000]\ntype = routing-point\n", 4, "[dn 7000]: routing point without group");
    bad(NODE "[dn 7000]\ndistribution = local-first\n", 5,
        "distribution: only for a routing point (type = routing-point)");
    bad(NODE "[dn 7000]\ntype = routing-point\ngroup = g\n[dn 5000]\nshared-line = 1\n"
             "members = 7000\n[dn 1000]\ngroup = g\n",
        9, "members: 7000 is not an extension");

    struct config *c = ok(NODE "[peer sip2]\naddress = 1.2.3.4:5\n"
                               "[dn 1000-1999]\n[dn 5000]\nshared-line = yes\nmembers = 1001\n"
                               "sca-preferred-site = sip1\n");

    cr_assert_str_eq(dn_dir_lookup(&c->dir, dn_key_make(4, 5000))->sca_preferred_site, "sip1");
    config_free(c);
}

Test(config, peer_access_number)
{
    struct config *c = ok(NODE "[peer sip2]\naddress = 1.2.3.4:5\naccess-number = 9002\n"
                               "[peer sip3]\naddress = 1.2.3.4:6\n");

    cr_assert_str_eq(c->peers[0].access_number, "9002");
    cr_assert_str_eq(c->peers[1].access_number, "", "unset");
    config_free(c);
    c = ok(NODE
           "[peer sip2]\naddress = 1.2.3.4:5\naccess-number = 0123456789012345678901234567890\n");
    cr_assert_str_eq(c->peers[0].access_number, "0123456789012345678901234567890");
    config_free(c);

    bad(NODE "[peer sip2]\naddress = 1.2.3.4:5\naccess-number = 9x02\n", 6,
        "access-number: expected 1 to 31 digits, got \"9x02\"");
    bad(NODE "[peer sip2]\naddress = 1.2.3.4:5\naccess-number = +9002\n", 6,
        "access-number: expected 1 to 31 digits, got \"+9002\"");
    bad(NODE "[peer sip2]\naddress = 1.2.3.4:5\naccess-number =\n", 6,
        "access-number: expected 1 to 31 digits, got \"\"");
    bad(NODE "[peer sip2]\naddress = 1.2.3.4:5\n"
             "access-number = 01234567890123456789012345678901\n",
        6, "access-number: expected 1 to 31 digits, got \"01234567890123456789012345678901\"");
    bad(NODE "[dn 1000]\naccess-number = 9002\n", 5, "unknown key access-number in [dn 1000]");
}

Test(config, dn_dr_forward)
{
    struct config *c = ok(NODE "dr-forward = off\n"
                               "[dn 1000-1099]\n"
                               "[dn 1100]\ndr-forward = on\n"
                               "[dn 1101]\ndr-forward = no\n");

    cr_assert_not(c->dr_forward);
    cr_assert_eq(dn_dir_lookup(&c->dir, dn_key_make(4, 1000))->dr_forward, DN_DR_FORWARD_NODE,
                 "unset: the node's");
    cr_assert_eq(dn_dir_lookup(&c->dir, dn_key_make(4, 1100))->dr_forward, DN_DR_FORWARD_ON);
    cr_assert_eq(dn_dir_lookup(&c->dir, dn_key_make(4, 1101))->dr_forward, DN_DR_FORWARD_OFF);
    config_free(c);

    bad(NODE "[dn 1000]\ndr-forward = sometimes\n", 5,
        "dr-forward: expected true or false, got \"sometimes\"");
    bad(NODE "[dn 1000]\ndr-forward = on\ndr-forward = off\n", 6,
        "duplicate key dr-forward in [dn 1000] (first at line 5)");
}

Test(config, routing_point_group_range)
{
    struct config *c =
            ok(NODE "[dn 1000-1099]\n[dn 7000]\ntype = routing-point\n"
                    "group = 1050-1199\n[dn 7001]\ntype = routing-point\ngroup = 1001\n");
    const struct dn_profile *p = dn_dir_lookup(&c->dir, dn_key_make(4, 7000));

    cr_assert_str_eq(p->group, "1050-1199");
    cr_assert_eq(p->group_lo, dn_key_make(4, 1050));
    cr_assert_eq(p->group_hi, dn_key_make(4, 1199));
    p = dn_dir_lookup(&c->dir, dn_key_make(4, 7001));
    cr_assert_eq(p->group_lo, dn_key_make(4, 1001));
    cr_assert_eq(p->group_hi, dn_key_make(4, 1001));
    config_free(c);

    /* Lines: node 1-3, [dn 1000-1099] 4, [dn 7000] 5, type 6, group 7. */
    bad(NODE "[dn 1000-1099]\n[dn 7000]\ntype = routing-point\ngroup = 2000-2099\n", 7,
        "group: no extension in 2000-2099");
    bad(NODE "[dn 1000-1099]\n[dn 7000]\ntype = routing-point\ngroup = 01000-01099\n", 7,
        "group: no extension in 01000-01099");
    bad(NODE "[dn 1000-1099]\n[dn 7000-7001]\ntype = routing-point\ngroup = 7000-7099\n", 7,
        "group: no extension in 7000-7099");
    bad(NODE "[dn 1000-1099]\n[dn 7000]\ntype = routing-point\ngroup = 1000-10999\n", 7,
        "group: bad DN range \"1000-10999\": expected LO-HI or DN, LO and HI of one width, LO "
        "not greater than HI");
    bad(NODE "[dn 1000-1099]\n[dn 7000]\ntype = routing-point\ngroup = 1099-1000\n", 7,
        "group: bad DN range \"1099-1000\": expected LO-HI or DN, LO and HI of one width, LO "
        "not greater than HI");
    bad(NODE "[dn 1000-1099]\n[dn 7000]\ntype = routing-point\ngroup = 10x0\n", 7,
        "group: bad DN range \"10x0\": expected LO-HI or DN, LO and HI of one width, LO not "
        "greater than HI");
}

Test(config, routing_point_group_name)
{
    struct config *c = ok(NODE "[dn 1000-1049]\ngroup = sales\n[dn 1050-1099]\ngroup = support\n"
                               "[dn 7000]\ntype = routing-point\ngroup = support\n");
    const struct dn_profile *p = dn_dir_lookup(&c->dir, dn_key_make(4, 7000));

    cr_assert_str_eq(p->group, "support");
    cr_assert_eq(p->group_lo, DN_KEY_NONE);
    config_free(c);

    bad(NODE "[dn 1000-1049]\ngroup = sales\n[dn 7000]\ntype = routing-point\ngroup = Sales\n", 8,
        "group: no extension has group = Sales");
    /* A routing point's own group is not an extension's. */
    cr_assert_eq(load(NODE "[dn 1000-1049]\n[dn 7000]\ntype = routing-point\ngroup = sales\n"
                           "[dn 7001]\ntype = routing-point\ngroup = sales\n",
                      &(struct config *){NULL}),
                 TC_ECONFIG);
    cr_assert_eq(errs.n, 2);
    has(7, "group: no extension has group = sales");
    has(10, "group: no extension has group = sales");
    bad(NODE "[dn 1000]\ngroup = 1000-1099\n", 5,
        "group: expected a name of 1 to 31 characters A-Z a-z 0-9 _ . - starting with a letter, "
        "got \"1000-1099\"");
    bad(NODE "[dn 1000]\n[dn 7000]\ntype = routing-point\ngroup = sales team\n", 7,
        "group: expected a DN range or a name of 1 to 31 characters A-Z a-z 0-9 _ . - starting "
        "with a letter, got \"sales team\"");
}

Test(config, syntax)
{
    bad(NODE "durability\n", 4, "expected KEY = VALUE or [SECTION], got \"durability\"");
    bad(NODE "[peer sip2\n", 4, "section header without closing ]");
    bad(NODE "[peer sip2] extra\n", 4, "unexpected text after section header: \"extra\"");
    bad(NODE "  durability\n", 4, "expected KEY = VALUE or [SECTION], got \"durability\"");
    bad(NODE "durability ; = async\n", 4,
        "expected KEY = VALUE or [SECTION], got \"durability ; = async\"");
}

Test(config, comments_crlf_and_bom)
{
    struct config *c = ok("\xEF\xBB\xBF; comment\r\n"
                          "# another\r\n"
                          "\r\n"
                          "[node] ; the node\r\n"
                          "name = sip1 ; inline\r\n"
                          "durability: async\r\n"
                          "data-dir = /a;b\r\n"
                          "[dn 1000] # a comment\r\n");

    cr_assert_str_eq(c->name, "sip1");
    cr_assert_str_eq(c->data_dir, "/a;b");
    cr_assert_eq(c->durability, CONFIG_DURABILITY_ASYNC);
    cr_assert_eq(c->dir.n_dns, 1);
    config_free(c);
}

Test(config, indentation)
{
    /* Indented keys are keys; an indented line without '=' continues a list. */
    struct config *c = ok("[node]\n"
                          "  name = sip1\n"
                          "  data-dir = /x\n"
                          "  gws-client-names = a,\n"
                          "      b ; a comment\n"
                          "      ; a comment between\n"
                          "\n"
                          "      c\n"
                          "  durability = async\n"
                          "[gws a]\nallow-from = ::1\n[gws b]\nallow-from = ::1\n"
                          "[gws c]\nallow-from = ::1\n");

    cr_assert_str_eq(c->name, "sip1");
    cr_assert_str_eq(c->data_dir, "/x");
    cr_assert_eq(c->n_gws_client_names, 3);
    cr_assert_str_eq(c->gws_client_names[1], "b");
    cr_assert_str_eq(c->gws_client_names[2], "c");
    cr_assert_eq(c->durability, CONFIG_DURABILITY_ASYNC);
    config_free(c);

    /* A scalar key takes no continuation line. */
    bad(NODE "durability = sync\n  async\n", 5, "expected KEY = VALUE or [SECTION], got \"async\"");
    /* Nor does a new section continue the last key. */
    c = ok(NODE "gws-client-names = a\n  [dn 1000] ; x\n[gws a]\nallow-from = ::1\n");
    cr_assert_eq(c->dir.n_dns, 1);
    cr_assert_eq(c->n_gws_client_names, 1);
    config_free(c);
}

Test(config, long_lines)
{
    char text[2048];
    char value[256];
    struct config *c;

    /* 199 characters fit: "data-dir = " is 11, the path 188. */
    memset(value, 'a', 188);
    value[0] = '/';
    value[188] = '\0';
    snprintf(text, sizeof(text), "[node]\nname = a\ndata-dir = %s\n", value);
    c = ok(text);
    cr_assert_eq(strlen(c->data_dir), 188);
    config_free(c);

    /* 200 do not, and the rest of the file is still read with its lines. */
    value[188] = 'a';
    value[189] = '\0';
    snprintf(text, sizeof(text),
             "[node]\nname = a\ndata-dir = %s\ndurability = fast\n; %s %s\n[peer a]\naddress = "
             "b:1\n",
             value, value, value);
    cr_assert_eq(load(text, &c), TC_ECONFIG);
    cr_assert_null(c);
    has(3, "line too long (max 199 characters)");
    has(4, "durability: expected sync or async, got \"fast\"");
    has(5, "line too long (max 199 characters)");
    has(6, "peer a has the name of this node");
    has(1, "missing required key data-dir in [node]");
    cr_assert_eq(errs.n, 5);

    /* A long section header: its keys are not taken for the section above. */
    snprintf(text, sizeof(text),
             NODE "[dn 1000]\ntype = extension\n[peer %s%s]\ntype = extension\n", value, value);
    bad(text, 6, "line too long (max 199 characters)");

    /* The line end does not count. */
    value[188] = '\0';
    snprintf(text, sizeof(text), "[node]\r\nname = a\r\ndata-dir = %s\r\n", value);
    c = ok(text);
    config_free(c);
}

Test(config, many_errors_are_all_found)
{
    cr_assert_eq(load("[node]\n"                     /* 1 */
                      "name = bad name\n"            /* 2 */
                      "durability = fast\n"          /* 3 */
                      "bogus = 1\n"                  /* 4 */
                      "[peer sip2]\n"                /* 5 */
                      "address = nowhere\n"          /* 6 */
                      "[peer sip2]\n"                /* 7 */
                      "[what]\n"                     /* 8 */
                      "[dn 1000-1999]\n"             /* 9 */
                      "[dn 1999-2000]\n"             /* 10 */
                      "sca-preferred-site = sip7\n", /* 11 */
                      &(struct config *){NULL}),
                 TC_ECONFIG);
    has(2, "name: expected a name of 1 to 31 characters A-Z a-z 0-9 _ . -, got \"bad name\"");
    has(3, "durability: expected sync or async, got \"fast\"");
    has(4, "unknown key bogus in [node]");
    has(6, "address: bad address \"nowhere\": missing :PORT (expected HOST:PORT or [IPV6]:PORT)");
    has(7, "duplicate peer sip2 (first at line 5)");
    has(8, "unknown section [what]");
    has(1, "missing required key data-dir in [node]");
    has(10, "dn range 1999-2000 overlaps 1000-1999 (line 9)");
    has(11, "sca-preferred-site: no node named sip7 (neither this node nor a peer)");
    cr_assert_eq(errs.n, 9);
}

Test(config, error_flood_is_capped)
{
    size_t size = 1200 * 8 + 64;
    char *text = malloc(size);
    size_t n = 0;

    cr_assert_not_null(text);
    n += (size_t)snprintf(text + n, size - n, NODE);
    for (int i = 0; i < 1200; i++)
        n += (size_t)snprintf(text + n, size - n, "x\n");
    cr_assert_eq(load(text, &(struct config *){NULL}), TC_ECONFIG);
    cr_assert_eq(errs.n, 1001);
    cr_assert_eq(errs.line[0], 4);
    free(text);
}

Test(config, million_dns)
{
    struct config *c = ok(NODE "[dn 1000000-1999999]\ntype = extension\n");

    cr_assert_eq(c->dir.n_dns, 1000000);
    cr_assert_eq(c->dir.n_ranges, 1);
    cr_assert_eq(c->dir.n_profiles, 1);
    cr_assert_not_null(dn_dir_lookup(&c->dir, dn_key_make(7, 1999999)));
    cr_assert_eq(dn_dir_at(&c->dir, 999999), dn_key_make(7, 1999999));
    config_free(c);
}

Test(config, commit_window)
{
    struct config *c = ok(NODE);

    cr_assert_eq(c->commit_window_ms, 0, "no window unless asked");
    config_free(c);
    c = ok(NODE "commit-window = 5ms\n");
    cr_assert_eq(c->commit_window_ms, 5);
    config_free(c);
    c = ok(NODE "commit-window = 0\n");
    cr_assert_eq(c->commit_window_ms, 0);
    config_free(c);
    c = ok(NODE "commit-window = 100ms\n");
    cr_assert_eq(c->commit_window_ms, 100);
    config_free(c);
    bad(NODE "commit-window = 101ms\n", 4,
        "commit-window: expected 0 or a duration up to 100ms such as 5ms, got \"101ms\"");
    bad(NODE "commit-window = 1s\n", 4,
        "commit-window: expected 0 or a duration up to 100ms such as 5ms, got \"1s\"");
    bad(NODE "commit-window = fast\n", 4,
        "commit-window: expected 0 or a duration up to 100ms such as 5ms, got \"fast\"");
}
