/* OpenApp on the default port and the credential of GWS names (DESIGN §3):
 * a client that opens with a name of gws-client-names claims DNs, so it
 * must prove what its [gws NAME] section asks: a source address in
 * allow-from, and the secret of secret-file through an HMAC challenge
 * (tcport/challenge.h, the peers' primitive). A client that fails gets
 * EventError ERROR_AUTH and the connection closes; other names open as
 * before. Loop thread only. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "server/base/log.h"
#include "server/base/tc_err.h"
#include "server/config/config_gws.h"
#include "server/config/config_secret.h"
#include "server/core/core.h"
#include "tcport/default_port_int.h"

int default_port__auth_load(struct default_port *p)
{
    const struct config *cfg = p->cfg;

    for (unsigned i = 0; i < cfg->n_gws; i++) {
        const struct config_gws *g = &cfg->gws[i];
        struct dp_cred *cr = &p->creds[p->n_creds++];
        const char *why, *warn;
        int rc;

        cr->cfg = g;
        if (g->secret_file == NULL)
            continue;
        rc = config_secret_read(g->secret_file, cr->secret, sizeof(cr->secret), &cr->secret_len,
                                &why, &warn);
        if (rc != 0) {
            tc_log(ERR, "default port: %s:%u: [gws %s] secret-file %s: %s", cfg->path,
                   g->secret_line, g->name, g->secret_file, why != NULL ? why : tc_strerror(rc));
            return rc;
        }
        if (warn != NULL)
            tc_log(WARN, "default port: [gws %s] secret-file %s: %s", g->name, g->secret_file,
                   warn);
    }
    return 0;
}

void default_port__auth_wipe(struct default_port *p)
{
    explicit_bzero(p->creds, sizeof(p->creds));
    p->n_creds = 0;
}

static const struct dp_cred *find_cred(const struct default_port *p, const char *app)
{
    for (unsigned i = 0; i < p->n_creds; i++) {
        if (strcmp(p->creds[i].cfg->name, app) == 0)
            return &p->creds[i];
    }
    return NULL;
}

static void opened(struct dp_client *cl, uint32_t ref_id, bool gws)
{
    struct default_port *p = cl->p;
    Tc__Event ev = TC__EVENT__INIT;
    Tc__EventOpened op = TC__EVENT_OPENED__INIT;

    cl->open = true;
    cl->gws = gws;
    if (gws) {
        p->n_gws++;
        p->st.auth[DP_AUTH_OK]++;
    } else {
        p->n_other++;
    }
    conn_idle(cl->c, false);
    op.node = (char *)p->cfg->name;
    op.seq = p->core->seq;
    ev.ref_id = ref_id;
    ev.body_case = TC__EVENT__BODY_OPENED;
    ev.opened = &op;
    conn_send(cl->c, &ev);
    tc_log_limited(INFO, "default port: %s: application %s opened%s", conn_peer(cl->c), cl->app,
                   gws ? " (GWS client: its registrations claim DNs)" : "");
}

/* A GWS name that did not prove its credential: say why, count, log (a
 * line any client can cause, so limited), and close after the error. The
 * name is a configured one, so it is safe to print. */
static void refuse(struct dp_client *cl, uint32_t ref_id, enum dp_auth_result r, const char *why)
{
    cl->p->st.auth[r]++;
    tc_log_limited(WARN, "default port: %s: application %s refused: %s", conn_peer(cl->c), cl->app,
                   why);
    conn_send_error(cl->c, ref_id, TC__ERROR_CODE__ERROR_AUTH, why, CONN_REFUSED_OTHER);
    conn_finish(cl->c);
}

static void challenge(struct dp_client *cl, uint32_t ref_id, const struct dp_cred *cr)
{
    Tc__Event ev = TC__EVENT__INIT;
    Tc__EventChallenge ch = TC__EVENT_CHALLENGE__INIT;

    if (challenge_nonce(cl->nonce) != 0) {
        tc_log(ERR, "default port: %s: no random bytes for a challenge", conn_peer(cl->c));
        conn_send_error(cl->c, ref_id, TC__ERROR_CODE__ERROR_BUSY,
                        "the node cannot make a challenge now", CONN_REFUSED_OTHER);
        return;
    }
    cl->challenged = true;
    cl->cred = cr;
    ch.node = (char *)cl->p->cfg->name;
    ch.nonce.data = cl->nonce;
    ch.nonce.len = sizeof(cl->nonce);
    ev.ref_id = ref_id;
    ev.body_case = TC__EVENT__BODY_CHALLENGE;
    ev.challenge = &ch;
    conn_send(cl->c, &ev);
}

void default_port__open_app(struct dp_client *cl, uint32_t ref_id, const Tc__OpenApp *o)
{
    const char *app = o->application != NULL ? o->application : "";
    const struct dp_cred *cr;
    char why[200];

    if (cl->open || cl->challenged) {
        conn_send_error(cl->c, ref_id, TC__ERROR_CODE__ERROR_BUSY, "already open",
                        CONN_REFUSED_OTHER);
        return;
    }
    if (app[0] == '\0' || strlen(app) >= sizeof(cl->app)) {
        conn_send_error(cl->c, ref_id, TC__ERROR_CODE__ERROR_NOT_OPEN,
                        "OpenApp needs an application name of 1 to 63 bytes", CONN_REFUSED_OTHER);
        return;
    }
    snprintf(cl->app, sizeof(cl->app), "%s", app);
    cr = find_cred(cl->p, app);
    if (cr == NULL) {
        opened(cl, ref_id, false);
        return;
    }
    if (!config_gws_source_ok(cr->cfg, (const struct sockaddr *)conn_peer_addr(cl->c))) {
        snprintf(why, sizeof(why), "application %s is not allowed from this address (allow-from)",
                 cl->app);
        refuse(cl, ref_id, DP_AUTH_SOURCE_REFUSED, why);
        return;
    }
    if (cr->secret_len == 0) {
        opened(cl, ref_id, true);
        return;
    }
    challenge(cl, ref_id, cr);
}

void default_port__authenticate(struct dp_client *cl, uint32_t ref_id, const Tc__Authenticate *a)
{
    const struct dp_cred *cr = cl->cred;
    char why[200];

    if (cl->open) {
        conn_send_error(cl->c, ref_id, TC__ERROR_CODE__ERROR_BUSY, "already open",
                        CONN_REFUSED_OTHER);
        return;
    }
    if (!cl->challenged) {
        conn_send_error(cl->c, ref_id, TC__ERROR_CODE__ERROR_NOT_OPEN,
                        "Authenticate answers an EventChallenge: OpenApp with a GWS name first",
                        CONN_REFUSED_OTHER);
        return;
    }
    cl->challenged = false;
    if (a->nonce.len != CHALLENGE_NONCE_LEN ||
        !challenge_mac_ok(CHALLENGE_GWS_LABEL, cr->secret, cr->secret_len, cl->app,
                          cl->p->cfg->name, cl->nonce, a->nonce.data, a->mac.data, a->mac.len)) {
        snprintf(why, sizeof(why), "application %s: wrong secret (secret-file of [gws %s])",
                 cl->app, cl->app);
        refuse(cl, ref_id, DP_AUTH_WRONG_SECRET, why);
        return;
    }
    opened(cl, ref_id, true);
}
