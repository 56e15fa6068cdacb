#ifndef TC_TESTS_INTEGRATION_HARNESS_PHONE_H
#define TC_TESTS_INTEGRATION_HARNESS_PHONE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "tests/integration/harness_cluster.h"

/* tcphone processes, fake SIP servers and cluster-wide counts for the
 * phone tests. Failures abort the test with a message. */

struct hphone {
    pid_t pid;     /* 0 when not running */
    char out[320]; /* its stdout and stderr */
};

/* Start client/tcphone with args (shell words) in the background; its
 * output goes to dir/NAME.out. It is killed when the calling process
 * exits (a failed test). */
void hphone_start(struct hphone *p, const char *dir, const char *name, const char *args);

/* SIGTERM and wait (deadline 30 s); returns the exit code, -1 on a signal. */
int hphone_stop(struct hphone *p);

/* True once p's output holds needle, within ms. */
bool hphone_wait_output(const struct hphone *p, const char *needle, int ms);

/* The last line of p's output holding needle (malloc'd), or NULL. */
char *hphone_last_line(const struct hphone *p, const char *needle);

/* True once every running node's TC port reports at least n DNs InSrv and
 * exactly n owned by owner (tcctl --json summary), within ms. */
bool hphone_wait_owned(const struct hcluster *c, const char *owner, unsigned n, int ms);

/* A fake SIP server on 127.0.0.1 UDP that answers every request with
 * code (200 grants the asked expiry; 0 never answers), on its own thread. */
struct hfake {
    int fd;
    uint16_t port;
    int code;
    pthread_t th;
    atomic_uint requests;
    atomic_uint authed;
    bool digest;
    atomic_bool stop;
    atomic_bool resend; /* hfake_release() asks the thread */
    atomic_bool hold;   /* keep answers (the last) unsent */
    char last[2048];    /* the last answer sent, and where */
    size_t last_len;
    struct sockaddr_storage last_to;
    socklen_t last_to_len;
};

void hfake_start(struct hfake *f, const char *ip, uint16_t port, int code);

/* As hfake_start() with a server that wants digest credentials for
 * password HFAKE_PASSWORD, checked with sip_digest_compute(): a REGISTER
 * gets 401 (SHA-256, qop "auth,auth-int", opaque) with nonce n1, its answer
 * with n1 a 401 with nonce n2 and stale=true, its answer with n2 a 200 (403
 * for a wrong response); an INVITE gets 407 (MD5, no qop: RFC 2069), with
 * right Proxy-Authorization 486; an ACK nothing; others 200. f->authed
 * counts the requests whose credentials were right. */
#define HFAKE_PASSWORD "fake-pw"
void hfake_start_digest(struct hfake *f, const char *ip, uint16_t port);
void hfake_stop(struct hfake *f);

/* As hfake_start(), holding its answers from the start: see hfake_hold(). */
void hfake_start_holding(struct hfake *f, const char *ip, uint16_t port, int code);

/* Hold answers: f makes them but sends none (a server slow to answer);
 * the last one is kept, for hfake_release() to send. */
void hfake_hold(struct hfake *f);

/* Stop holding and send the last answer made, to where its request came
 * from; it may reach a client that has moved on. Returns once it is sent
 * (aborts the test if it is not within 5 s, or if f made none). */
void hfake_release(struct hfake *f);

#endif
