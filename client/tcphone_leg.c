/* One registration of one phone at one server: the REGISTER client
 * transaction (RFC 3261 §17.1.2: retransmit from T1 doubling to T2 over
 * UDP, give up after 64×T1), the answer's handling, and the refresh at
 * about half the granted expiry. What to do on success or failure is the
 * phone's policy (tcphone_phone.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/tcphone_int.h"
#include "server/sip/sip_msg.h"

static void on_timer(uv_timer_t *t);

void tcphone__leg_init(struct tcphone__phone *ph, struct tcphone__leg *leg)
{
    memset(leg, 0, sizeof(*leg));
    leg->ph = ph;
    leg->srv = -1;
    leg->expires = ph->app->o.expires;
    uv_timer_init(ph->app->loop, &leg->timer);
    leg->timer.data = leg;
}

/* The PBX trunk's failover timer when set, else Timer F (64 * T1). */
static unsigned timeout_ms(const struct tcphone__leg *leg)
{
    const struct tcphone_opts *o = &leg->ph->app->o;

    return o->failover_ms != 0 ? o->failover_ms : 64 * o->t1_ms;
}

/* Begin a new transaction: next CSeq, build, send, arm the timer.
 * answering: it answers the challenge just received. */
static void transaction_as(struct tcphone__leg *leg, bool answering)
{
    struct tcphone *app = leg->ph->app;
    int rc;

    leg->cseq++;
    leg->auth_fresh = answering;
    leg->auth_sent = leg->auth != NULL && app->o.password != NULL;
    if (tcphone__net_prepare(leg) != 0) {
        tcphone__leg_on_fail(leg, app->o.tcp ? TCPHONE_FAIL_TCP : TCPHONE_FAIL_ICMP);
        return;
    }
    if (tcphone__sip_register(leg, leg->unreg ? 0 : leg->expires) != 0) {
        tcphone__leg_on_fail(leg, TCPHONE_FAIL_TCP);
        return;
    }
    leg->st = TCPHONE_LEG_TRYING;
    leg->t_start = uv_now(app->loop);
    leg->rto = app->o.t1_ms;
    app->st.requests++;
    rc = tcphone__net_send(leg);
    if (rc != 0) {
        tcphone__leg_on_fail(leg, app->o.tcp ? TCPHONE_FAIL_TCP : TCPHONE_FAIL_ICMP);
        return;
    }
    uv_timer_start(&leg->timer, on_timer, app->o.tcp ? timeout_ms(leg) : leg->rto, 0);
}

static void transaction(struct tcphone__leg *leg)
{
    transaction_as(leg, false);
}

/* Forget the challenge: the next REGISTER goes without credentials. */
static void auth_forget(struct tcphone__leg *leg)
{
    tcphone__auth_free(leg->auth);
    leg->auth = NULL;
    leg->challenges = 0;
}

void tcphone__leg_start(struct tcphone__leg *leg, int srv, unsigned delay_ms)
{
    if (leg->srv != srv) {
        tcphone__net_reset(leg);
        auth_forget(leg); /* another server, another realm and nonce */
    }
    leg->srv = srv;
    leg->unreg = false;
    uv_timer_stop(&leg->timer);
    if (delay_ms == 0) {
        transaction(leg);
        return;
    }
    leg->st = TCPHONE_LEG_WAIT;
    uv_timer_start(&leg->timer, on_timer, delay_ms, 0);
}

void tcphone__leg_drop(struct tcphone__leg *leg)
{
    uv_timer_stop(&leg->timer);
    tcphone__net_reset(leg);
    leg->st = TCPHONE_LEG_IDLE;
    leg->registered = false;
    leg->srv = -1;
}

bool tcphone__leg_unregister(struct tcphone__leg *leg)
{
    uv_timer_stop(&leg->timer);
    if (!leg->registered || leg->srv < 0) {
        leg->st = TCPHONE_LEG_IDLE;
        return false;
    }
    leg->unreg = true;
    leg->ph->app->pending++;
    transaction(leg);
    return true;
}

/* The end of an unregister, whatever its outcome. */
static void unreg_end(struct tcphone__leg *leg)
{
    uv_timer_stop(&leg->timer);
    leg->unreg = false;
    leg->registered = false;
    leg->st = TCPHONE_LEG_IDLE;
    tcphone__unreg_done(leg->ph->app);
}

static void retransmit(struct tcphone__leg *leg)
{
    struct tcphone *app = leg->ph->app;
    uint64_t elapsed = uv_now(app->loop) - leg->t_start;
    uint64_t left;

    if (elapsed >= timeout_ms(leg) || app->o.tcp) {
        tcphone__leg_on_fail(leg, TCPHONE_FAIL_TIMEOUT);
        return;
    }
    app->st.retransmits++;
    if (tcphone__net_send(leg) != 0) {
        tcphone__leg_on_fail(leg, TCPHONE_FAIL_ICMP);
        return;
    }
    leg->rto = leg->rto * 2 < TCPHONE_T2_MS ? leg->rto * 2 : TCPHONE_T2_MS;
    left = timeout_ms(leg) - elapsed;
    uv_timer_start(&leg->timer, on_timer, leg->rto < left ? leg->rto : left, 0);
}

static void on_timer(uv_timer_t *t)
{
    struct tcphone__leg *leg = t->data;

    switch (leg->st) {
    case TCPHONE_LEG_TRYING:
        retransmit(leg);
        break;
    case TCPHONE_LEG_REGISTERED:
    case TCPHONE_LEG_WAIT:
        transaction(leg);
        break;
    case TCPHONE_LEG_IDLE:
        break;
    }
}

void tcphone__leg_on_fail(struct tcphone__leg *leg, enum tcphone_fail why)
{
    struct tcphone *app = leg->ph->app;

    uv_timer_stop(&leg->timer);
    app->st.fail[why]++;
    if (leg->unreg) {
        unreg_end(leg);
        return;
    }
    leg->registered = false;
    leg->st = TCPHONE_LEG_IDLE;
    if (!app->stopping)
        tcphone__phone_on_fail(leg->ph, leg, why);
}

/* The expiry the server granted: our Contact's expires parameter, else the
 * Expires header, else what we asked for. */
static unsigned granted(struct sip_msg *m, unsigned asked)
{
    const struct sip_contacts *cs;

    if (sip_msg_contacts(m, &cs) == 0 && cs->n > 0 && cs->v[0].has_expires)
        return cs->v[0].expires;
    if (m->has_expires)
        return m->expires;
    return asked;
}

static void on_ok(struct tcphone__leg *leg, struct sip_msg *m)
{
    struct tcphone *app = leg->ph->app;
    unsigned e = granted(m, leg->expires);
    uint64_t refresh;

    uv_timer_stop(&leg->timer);
    if (leg->unreg) {
        app->st.unregistered++;
        unreg_end(leg);
        return;
    }
    app->st.ok++;
    leg->registered = true;
    leg->st = TCPHONE_LEG_REGISTERED;
    /* Refresh at 45..50% of the expiry, spread so refreshes do not come in
     * waves after a mass failover. */
    refresh = (uint64_t)(e > 0 ? e : 1) * 1000 / 2;
    refresh -= refresh / 10 * (uint64_t)(rand() % 100) / 100;
    uv_timer_start(&leg->timer, on_timer, refresh, 0);
    tcphone__phone_on_ok(leg->ph, leg);
}

/* 423 Interval Too Brief: ask again with the server's Min-Expires. */
static void on_too_brief(struct tcphone__leg *leg, struct sip_msg *m)
{
    size_t len;
    const char *v = sip_msg_header(m, "Min-Expires", 0, &len);
    unsigned long me = v != NULL ? strtoul(v, NULL, 10) : 0;

    if (me == 0 || me > 86400 || me <= leg->expires) {
        leg->ph->app->st.rejected++;
        leg->st = TCPHONE_LEG_WAIT;
        uv_timer_start(&leg->timer, on_timer, leg->ph->app->o.probe_ms, 0);
        return;
    }
    leg->expires = (unsigned)me;
    transaction(leg);
}

/* 401 or 407: a new REGISTER with credentials for the challenge, unless
 * there is no password, no challenge we can answer, or the request just
 * answered a challenge and this one is not stale (the password is wrong).
 * Returns whether it was sent. */
static bool on_challenge(struct tcphone__leg *leg, struct sip_msg *m)
{
    struct tcphone *app = leg->ph->app;
    bool stale = false;

    if (app->o.password == NULL || tcphone__auth_challenge(&leg->auth, m, &stale) != 0)
        return false;
    if ((leg->auth_fresh && !stale) || ++leg->challenges > TCPHONE_MAX_CHALLENGES)
        return false;
    app->st.challenges++;
    transaction_as(leg, true);
    return true;
}

/* Credentials refused or a challenge left unanswered: counted, and tried
 * again from scratch (a fresh challenge) after the probe period. */
static void auth_failed(struct tcphone__leg *leg)
{
    struct tcphone *app = leg->ph->app;

    app->st.auth_failed++;
    auth_forget(leg);
    if (leg->unreg) {
        unreg_end(leg);
        return;
    }
    leg->registered = false;
    leg->st = TCPHONE_LEG_WAIT;
    uv_timer_start(&leg->timer, on_timer, app->o.probe_ms, 0);
}

static void on_final(struct tcphone__leg *leg, struct sip_msg *m)
{
    struct tcphone *app = leg->ph->app;

    if (m->status == 401 || m->status == 407) {
        uv_timer_stop(&leg->timer);
        if (!on_challenge(leg, m))
            auth_failed(leg);
        return;
    }
    leg->challenges = 0;
    if (m->status >= 200 && m->status < 300) {
        on_ok(leg, m);
    } else if (m->status == 403 && leg->auth_sent) {
        uv_timer_stop(&leg->timer);
        auth_failed(leg);
    } else if (leg->unreg) {
        unreg_end(leg);
    } else if (m->status == 503) {
        tcphone__leg_on_fail(leg, TCPHONE_FAIL_503);
    } else if (m->status == 423) {
        uv_timer_stop(&leg->timer);
        on_too_brief(leg, m);
    } else {
        /* Refused for another reason (unknown DN, not an extension): not
         * a server failure, so no move; try again later. */
        uv_timer_stop(&leg->timer);
        app->st.rejected++;
        leg->registered = false;
        leg->st = TCPHONE_LEG_WAIT;
        uv_timer_start(&leg->timer, on_timer, app->o.probe_ms, 0);
    }
}

void tcphone__leg_on_data(struct tcphone__leg *leg, const char *data, size_t len)
{
    const struct sip_msg_conf conf = SIP_MSG_CONF_DEFAULT;
    struct sip_msg_err err;
    struct sip_msg *m;
    char call_id[96];

    /* Only a transaction in progress takes an answer. A dropped leg (no
     * server: srv -1) may still find one waiting on its socket, read in
     * the turn that dropped it; its Call-ID names a server, so it is not
     * even made. */
    if (leg->st != TCPHONE_LEG_TRYING || leg->srv < 0)
        return;
    if (sip_msg_parse(data, len, &conf, &m, &err) != 0)
        return;
    tcphone__sip_call_id(leg, call_id, sizeof(call_id));
    if (m->is_request || m->cseq != leg->cseq || strcmp(m->call_id, call_id) != 0 ||
        strcmp(m->cseq_method, "REGISTER") != 0) {
        sip_msg_free(m);
        return;
    }
    if (m->status < 200) {
        /* A provisional answer: the server is alive; retransmit at T2
         * until the final answer (§17.1.2.2). */
        leg->rto = TCPHONE_T2_MS / 2;
    } else {
        on_final(leg, m);
    }
    sip_msg_free(m);
}

void tcphone__leg_close(struct tcphone__leg *leg)
{
    uv_timer_stop(&leg->timer);
    if (!uv_is_closing((uv_handle_t *)&leg->timer))
        uv_close((uv_handle_t *)&leg->timer, NULL);
    tcphone__net_close(leg);
    tc_buf_free(&leg->req);
    auth_forget(leg);
}
