/* tcphone: many simulated SIP phones against a tcluster (DESIGN §9, §10).
 * main() builds the one process state (struct tcphone), starts the phones
 * at --rate per second, prints counts every second (a progress line on a
 * terminal, or JSON lines), and on --duration or SIGINT/SIGTERM unregisters
 * every phone, waiting a bounded time, and prints the summary. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "client/tcphone_int.h"

#define START_TICK_MS 10
#define STOP_WAIT_MAX 5000

static void finish(struct tcphone *app);

void tcphone__count(const struct tcphone *app, unsigned *registered, unsigned *failing,
                    unsigned *moved)
{
    *registered = *failing = *moved = 0;
    for (unsigned i = 0; i < app->started; i++) {
        const struct tcphone__leg *m = &app->phones[i].leg[app->phones[i].main];

        if (m->registered)
            (*registered)++;
        else
            (*failing)++;
        if (m->srv > 0)
            (*moved)++;
    }
}

/* Registered main legs per server. */
static void per_server(const struct tcphone *app, unsigned *at)
{
    memset(at, 0, sizeof(*at) * TCPHONE_MAX_SERVERS);
    for (unsigned i = 0; i < app->started; i++) {
        const struct tcphone__leg *m = &app->phones[i].leg[app->phones[i].main];

        if (m->registered && m->srv >= 0)
            at[app->phones[i].order[m->srv]]++;
    }
}

/* The call counts as JSON members (64-bit values as strings). */
static void json_calls(const struct tcphone_stats *s)
{
    printf("\"calls_attempted\":\"%llu\",\"calls_completed\":\"%llu\","
           "\"calls_failed\":\"%llu\",\"redirects\":\"%llu\",\"last_resort\":\"%llu\","
           "\"answered\":\"%llu\",\"busy\":\"%llu\",\"call_fail\":{",
           (unsigned long long)s->calls_attempted, (unsigned long long)s->calls_completed,
           (unsigned long long)s->calls_failed, (unsigned long long)s->redirects,
           (unsigned long long)s->last_resort, (unsigned long long)s->answered,
           (unsigned long long)s->busy);
    for (unsigned f = 0; f < TCPHONE_CALL_FAIL_COUNT; f++)
        printf("%s\"%s\":\"%llu\"", f > 0 ? "," : "", tcphone__call_fail_name(f),
               (unsigned long long)s->call_fail[f]);
    printf("}");
}

/* The call counts for people, after "calls ". */
static void text_calls(const struct tcphone_stats *s)
{
    printf("%llu attempted, %llu completed, %llu failed (", (unsigned long long)s->calls_attempted,
           (unsigned long long)s->calls_completed, (unsigned long long)s->calls_failed);
    for (unsigned f = 0; f < TCPHONE_CALL_FAIL_COUNT; f++)
        printf("%s%s %llu", f > 0 ? ", " : "", tcphone__call_fail_name(f),
               (unsigned long long)s->call_fail[f]);
    printf("), %llu redirects, %llu last resort, %llu answered, %llu busy\n",
           (unsigned long long)s->redirects, (unsigned long long)s->last_resort,
           (unsigned long long)s->answered, (unsigned long long)s->busy);
}

static void json_counts(struct tcphone *app, const char *type)
{
    unsigned reg, failing, moved, at[TCPHONE_MAX_SERVERS];

    tcphone__count(app, &reg, &failing, &moved);
    per_server(app, at);
    printf("{\"type\":\"%s\",\"t_ms\":\"%llu\",\"phones\":%u,\"started\":%u,\"registered\":%u,"
           "\"failing\":%u,\"moved\":%u,\"calls\":%llu,\"at\":{",
           type, (unsigned long long)(uv_now(app->loop) - app->t0_ms), app->o.n, app->started, reg,
           failing, moved, (unsigned long long)app->st.calls_active);
    for (unsigned s = 0; s < app->o.n_servers; s++) {
        char host[INET_ADDRSTRLEN];

        inet_ntop(AF_INET, &app->o.servers[s].sin_addr, host, sizeof(host));
        printf("%s\"%s:%u\":%u", s > 0 ? "," : "", host, ntohs(app->o.servers[s].sin_port), at[s]);
    }
    printf("},\"requests\":\"%llu\",\"retransmits\":\"%llu\",\"moves\":\"%llu\","
           "\"returns\":\"%llu\",\"auth_challenges\":\"%llu\",\"auth_failed\":\"%llu\",",
           (unsigned long long)app->st.requests, (unsigned long long)app->st.retransmits,
           (unsigned long long)app->st.moves, (unsigned long long)app->st.returns,
           (unsigned long long)app->st.challenges, (unsigned long long)app->st.auth_failed);
    json_calls(&app->st);
    printf("}\n");
    fflush(stdout);
}

static void on_tick(uv_timer_t *t)
{
    struct tcphone *app = t->data;
    unsigned reg, failing, moved;

    if (app->o.json) {
        json_counts(app, "counts");
        return;
    }
    if (app->o.quiet || !isatty(STDOUT_FILENO))
        return;
    tcphone__count(app, &reg, &failing, &moved);
    printf("\rregistered %u / failing %u / moved %u / auth failed %llu / calls %llu active, "
           "%llu ok, %llu failed   ",
           reg, failing, moved, (unsigned long long)app->st.auth_failed,
           (unsigned long long)app->st.calls_active, (unsigned long long)app->st.calls_completed,
           (unsigned long long)app->st.calls_failed);
    fflush(stdout);
}

static void on_start_tick(uv_timer_t *t)
{
    struct tcphone *app = t->data;
    unsigned batch = (app->o.rate * START_TICK_MS + 999) / 1000;

    while (batch-- > 0 && app->started < app->o.n && !app->stopping)
        tcphone__phone_start(&app->phones[app->started++]);
    if (app->started == app->o.n)
        uv_timer_stop(t);
}

static uint64_t cpu_us(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static void summary(struct tcphone *app)
{
    const struct tcphone_stats *s = &app->st;
    uint64_t cpu = cpu_us(), regs = s->ok > 0 ? s->ok : 1;

    if (app->o.json) {
        json_counts(app, "summary");
        printf("{\"type\":\"totals\",\"ok\":\"%llu\",\"fail_503\":\"%llu\",\"fail_icmp\":\"%llu\","
               "\"fail_timeout\":\"%llu\",\"fail_tcp\":\"%llu\",\"rejected\":\"%llu\","
               "\"auth_failed\":\"%llu\",\"unregistered\":\"%llu\",\"unregister_unanswered\":%u,"
               "\"cpu_us\":\"%llu\","
               "\"cpu_us_per_registration\":\"%llu\"}\n",
               (unsigned long long)s->ok, (unsigned long long)s->fail[TCPHONE_FAIL_503],
               (unsigned long long)s->fail[TCPHONE_FAIL_ICMP],
               (unsigned long long)s->fail[TCPHONE_FAIL_TIMEOUT],
               (unsigned long long)s->fail[TCPHONE_FAIL_TCP], (unsigned long long)s->rejected,
               (unsigned long long)s->auth_failed, (unsigned long long)s->unregistered,
               app->pending, (unsigned long long)cpu, (unsigned long long)(cpu / regs));
        return;
    }
    if (!app->o.quiet && isatty(STDOUT_FILENO))
        printf("\n");
    printf("phones %u, started %u, %.1f s\n", app->o.n, app->started,
           (double)(uv_now(app->loop) - app->t0_ms) / 1000.0);
    printf("registrations %llu ok, %llu requests, %llu retransmits, %llu rejected\n",
           (unsigned long long)s->ok, (unsigned long long)s->requests,
           (unsigned long long)s->retransmits, (unsigned long long)s->rejected);
    printf("auth: %llu challenges answered, %llu failures%s\n", (unsigned long long)s->challenges,
           (unsigned long long)s->auth_failed,
           s->auth_failed > 0 && app->o.password == NULL ? " (no --password given)" : "");
    printf("failures: 503 %llu, icmp %llu, timeout %llu, tcp %llu\n",
           (unsigned long long)s->fail[TCPHONE_FAIL_503],
           (unsigned long long)s->fail[TCPHONE_FAIL_ICMP],
           (unsigned long long)s->fail[TCPHONE_FAIL_TIMEOUT],
           (unsigned long long)s->fail[TCPHONE_FAIL_TCP]);
    printf("moves %llu, returns to primary %llu, unregistered %llu (%u unanswered)\n",
           (unsigned long long)s->moves, (unsigned long long)s->returns,
           (unsigned long long)s->unregistered, app->pending);
    printf("calls ");
    text_calls(s);
    printf("cpu %.3f s, %llu us per registration\n", (double)cpu / 1e6,
           (unsigned long long)(cpu / regs));
}

static void on_close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void finish(struct tcphone *app)
{
    summary(app);
    fflush(stdout);
    for (unsigned i = 0; i < app->o.n; i++) {
        tcphone__leg_close(&app->phones[i].leg[0]);
        tcphone__leg_close(&app->phones[i].leg[1]);
        tcphone__call_close(&app->phones[i]);
        tcphone__answer_close(&app->phones[i]);
    }
    uv_walk(app->loop, on_close_any, NULL);
}

static void on_stop_timeout(uv_timer_t *t)
{
    finish(t->data);
}

void tcphone__unreg_done(struct tcphone *app)
{
    if (app->pending > 0)
        app->pending--;
    if (app->stop_sent && app->pending == 0 && uv_is_active((uv_handle_t *)&app->stop))
        finish(app);
}

static void stop(struct tcphone *app)
{
    unsigned wait = 64 * app->o.t1_ms < STOP_WAIT_MAX ? 64 * app->o.t1_ms : STOP_WAIT_MAX;

    if (app->stopping) {
        /* A second signal: do not wait for the unregisters. */
        if (uv_is_active((uv_handle_t *)&app->stop)) {
            uv_timer_stop(&app->stop);
            finish(app);
        }
        return;
    }
    app->stopping = true;
    uv_timer_stop(&app->start);
    uv_timer_start(&app->stop, on_stop_timeout, wait, 0);
    for (unsigned i = 0; i < app->started; i++)
        tcphone__phone_stop(&app->phones[i]);
    app->stop_sent = true;
    if (app->pending == 0) {
        uv_timer_stop(&app->stop);
        finish(app);
    }
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    stop(s->data);
}

static void on_duration(uv_timer_t *t)
{
    stop(t->data);
}

/* Sockets per phone at most: two registrations, and unless --no-answer
 * the listening socket, and with --calls a call's. */
static rlim_t files_needed(const struct tcphone_opts *o)
{
    unsigned per = 2 + (o->no_answer ? 0 : 1) + (o->calls > 0 ? 1 : 0);

    return (rlim_t)o->n * per + 64;
}

/* Raise the soft limit of open files to what the phones need. A phone
 * that cannot be called needs one file fewer: without calls, that is
 * chosen when the limit is too low (10,000 phones under a hard limit of
 * 20,000 files). */
static void raise_nofile(struct tcphone_opts *o)
{
    struct rlimit rl;
    rlim_t need = files_needed(o);

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
        return;
    if (rl.rlim_max < need && o->calls == 0 && !o->no_answer) {
        o->no_answer = true;
        need = files_needed(o);
        fprintf(stderr,
                "tcphone: open files limited to %llu: phones will not answer calls "
                "(--no-answer)\n",
                (unsigned long long)rl.rlim_max);
    }
    rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < need)
        fprintf(stderr,
                "tcphone: open files limited to %llu, %llu wanted: some phones will fail "
                "(raise ulimit -n)\n",
                (unsigned long long)rl.rlim_cur, (unsigned long long)need);
}

/* Start the phones once the servers are known. */
void tcphone__go(struct tcphone *app)
{
    uv_timer_start(&app->start, on_start_tick, 0, START_TICK_MS);
}

static void init_handles(struct tcphone *app)
{
    uv_signal_init(app->loop, &app->sigint);
    uv_signal_init(app->loop, &app->sigterm);
    uv_timer_init(app->loop, &app->tick);
    uv_timer_init(app->loop, &app->start);
    uv_timer_init(app->loop, &app->stop);
    app->sigint.data = app->sigterm.data = app;
    app->tick.data = app->start.data = app->stop.data = app;
    uv_signal_start(&app->sigint, on_signal, SIGINT);
    uv_signal_start(&app->sigterm, on_signal, SIGTERM);
    uv_timer_start(&app->tick, on_tick, 1000, 1000);
}

int main(int argc, char **argv)
{
    static struct tcphone app;
    uv_timer_t duration;
    int rc;

    rc = tcphone__opts_parse(&app.o, argc, argv);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    raise_nofile(&app.o);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    snprintf(app.nonce, sizeof(app.nonce), "%08x%04x", (unsigned)rand(), (unsigned)getpid());
    app.loop = uv_default_loop();
    app.phones = calloc(app.o.n, sizeof(*app.phones));
    if (app.phones == NULL) {
        fprintf(stderr, "tcphone: out of memory for %u phones\n", app.o.n);
        tcphone__opts_free(&app.o);
        return 2;
    }
    for (unsigned i = 0; i < app.o.n; i++)
        tcphone__phone_init(&app, &app.phones[i], i);
    init_handles(&app);
    uv_timer_init(app.loop, &duration);
    duration.data = &app;
    if (app.o.duration_s > 0)
        uv_timer_start(&duration, on_duration, (uint64_t)app.o.duration_s * 1000, 0);
    app.t0_ms = uv_now(app.loop);
    if (app.o.domain != NULL)
        rc = tcphone__dns_start(&app);
    else
        tcphone__go(&app);
    if (rc == 0)
        uv_run(app.loop, UV_RUN_DEFAULT);
    else
        finish(&app);
    uv_run(app.loop, UV_RUN_DEFAULT);
    uv_loop_close(app.loop);
    free(app.phones);
    tcphone__opts_free(&app.o);
    return rc == 0 ? app.exit_code : 2;
}
