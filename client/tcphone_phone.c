/* The phone's policy, as the phone administrator's guide describes it
 * (DESIGN §9). A phone has two legs: the main one, registered at the
 * working server, and an auxiliary one whose use depends on the mode:
 *   failover    main starts at the primary (server 0); after its
 *               retry-counts failures it moves to the next server, and the
 *               auxiliary leg probes the primary every --probe ms; the first
 *               200 from the primary makes it the working server again.
 *   concurrent  the auxiliary leg holds a standby registration at the
 *               next server; when main fails, the standby becomes main and
 *               the auxiliary leg retries the next one.
 *   successive  main only; on failure it moves to the next server and
 *               stays there.
 * After the last server main wraps to the first, waiting --probe ms first
 * so that a cluster that is down entirely is not hammered. */
#include <stdio.h>
#include <string.h>

#include "client/tcphone_int.h"

struct tcphone__leg *tcphone__phone_main(struct tcphone__phone *ph)
{
    return &ph->leg[ph->main];
}

struct tcphone__leg *tcphone__phone_aux(struct tcphone__phone *ph)
{
    return &ph->leg[1 - ph->main];
}

const struct sockaddr_in *tcphone__srv_addr(const struct tcphone__phone *ph, int pos)
{
    return &ph->app->o.servers[ph->order[pos]];
}

static int next_srv(const struct tcphone__phone *ph, int s)
{
    return (s + 1) % (int)ph->app->o.n_servers;
}

void tcphone__phone_init(struct tcphone *app, struct tcphone__phone *ph, unsigned idx)
{
    memset(ph, 0, sizeof(*ph));
    ph->app = app;
    ph->idx = idx;
    snprintf(ph->dn, sizeof(ph->dn), "%lu", app->o.dn_first + idx);
    for (unsigned i = 0; i < TCPHONE_MAX_SERVERS; i++)
        ph->order[i] = (uint8_t)i;
    tcphone__leg_init(ph, &ph->leg[0]);
    tcphone__leg_init(ph, &ph->leg[1]);
}

void tcphone__phone_start(struct tcphone__phone *ph)
{
    ph->started = true;
    /* Without its listening socket a phone still registers (with the
     * leg's port as Contact); it just cannot be called. */
    if (!ph->app->o.tcp && !ph->app->o.no_answer)
        (void)tcphone__answer_open(ph);
    (void)tcphone__call_init(ph);
    tcphone__leg_start(tcphone__phone_main(ph), 0, 0);
    if (ph->app->o.mode == TCPHONE_CONCURRENT && ph->app->o.n_servers > 1)
        tcphone__leg_start(tcphone__phone_aux(ph), 1, 0);
}

void tcphone__phone_on_ok(struct tcphone__phone *ph, struct tcphone__leg *leg)
{
    struct tcphone__leg *old;

    if (leg == tcphone__phone_main(ph)) {
        ph->tries = 0;
        return;
    }
    if (ph->app->o.mode != TCPHONE_FAILOVER)
        return;
    /* The primary answered a probe: it is the working server again. The
     * old registration is left to expire, as a phone in failover mode
     * does; the node that holds it keeps it as standby. */
    old = tcphone__phone_main(ph);
    ph->main = 1 - ph->main;
    ph->tries = 0;
    tcphone__leg_drop(old);
    ph->app->st.returns++;
}

/* The auxiliary leg failed: try again later, where its mode says. */
static void aux_failed(struct tcphone__phone *ph, struct tcphone__leg *leg)
{
    struct tcphone__leg *m = tcphone__phone_main(ph);
    int f;

    if (ph->app->o.mode == TCPHONE_FAILOVER) {
        if (m->srv != 0)
            tcphone__leg_start(leg, 0, ph->app->o.probe_ms);
        else
            tcphone__leg_drop(leg);
        return;
    }
    f = next_srv(ph, m->srv);
    if (f != m->srv)
        tcphone__leg_start(leg, f, ph->app->o.probe_ms);
    else
        tcphone__leg_drop(leg);
}

/* Concurrent mode: main failed; its standby takes over if it is there. */
static void concurrent_move(struct tcphone__phone *ph, struct tcphone__leg *leg, int next,
                            unsigned delay)
{
    struct tcphone__leg *aux = tcphone__phone_aux(ph);
    int after = next_srv(ph, next);

    if (aux->srv == next && aux->registered) {
        ph->main = 1 - ph->main;
        if (after != next)
            tcphone__leg_start(leg, after, ph->app->o.probe_ms);
        else
            tcphone__leg_drop(leg);
        return;
    }
    tcphone__leg_start(leg, next, delay);
    if (after != next)
        tcphone__leg_start(aux, after, ph->app->o.probe_ms);
    else
        tcphone__leg_drop(aux);
}

void tcphone__phone_on_fail(struct tcphone__phone *ph, struct tcphone__leg *leg,
                            enum tcphone_fail why)
{
    const struct tcphone_opts *o = &ph->app->o;
    int s = leg->srv, next;
    unsigned delay;

    (void)why;
    if (leg != tcphone__phone_main(ph)) {
        aux_failed(ph, leg);
        return;
    }
    if (++ph->tries < o->retry[s]) {
        tcphone__leg_start(leg, s, 0);
        return;
    }
    ph->tries = 0;
    next = next_srv(ph, s);
    delay = next == 0 ? o->probe_ms : 0;
    if (next != s)
        ph->app->st.moves++;
    if (o->mode == TCPHONE_CONCURRENT) {
        concurrent_move(ph, leg, next, delay);
        return;
    }
    tcphone__leg_start(leg, next, delay);
    if (o->mode != TCPHONE_FAILOVER)
        return;
    if (next == 0)
        tcphone__leg_drop(tcphone__phone_aux(ph));
    else if (tcphone__phone_aux(ph)->st == TCPHONE_LEG_IDLE)
        tcphone__leg_start(tcphone__phone_aux(ph), 0, o->probe_ms);
}

unsigned tcphone__phone_stop(struct tcphone__phone *ph)
{
    unsigned n = 0;

    tcphone__call_stop(ph);
    for (unsigned i = 0; i < 2; i++) {
        if (tcphone__leg_unregister(&ph->leg[i]))
            n++;
    }
    return n;
}
