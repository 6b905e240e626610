/* imrefd: the reference XMPP server. Start-up, signals and shutdown; all
 * the work happens in the modules it wires together (see server.h). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <ev.h>

#include "archive.h"
#include "c2s.h"
#include "colleagues.h"
#include "config.h"
#include "control.h"
#include "directory.h"
#include "firstrun.h"
#include "hammer.h"
#include "log.h"
#include "resolver.h"
#include "router.h"
#include "s2s.h"
#include "sasl.h"
#include "scram.h"
#include "server.h"
#include "service.h"
#include "session.h"
#include "store.h"
#include "tls.h"

#define SHUTDOWN_GRACE_SECONDS 2.0

static void usage(FILE *out)
{
    fprintf(out, "usage: imrefd [--dir DIR] [--init]\n"
                 "  --dir DIR  server directory holding mailserver.cfg (default: .)\n"
                 "  --init     on a first start, create a working default in DIR\n");
}

static int make_dir(const char *path)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST) return 0;
    fprintf(stderr, "imrefd: %s: %s\n", path, strerror(errno));
    return -1;
}

static struct tls_server *load_tls(const struct server_config *cfg)
{
    struct tls_cert_spec *specs = xcalloc(cfg->n_domains, sizeof *specs);
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_domains; i++) {
        if (!cfg->domains[i].cert_file) continue;
        specs[n].domain = cfg->domains[i].name;
        specs[n].cert_file = cfg->domains[i].cert_file;
        specs[n].key_file = cfg->domains[i].key_file;
        n++;
    }
    struct buf err;
    buf_init(&err);
    struct tls_server *ts = tls_server_new(cfg->cert_file, cfg->key_file, specs, n, &err);
    if (!ts) {
        fprintf(stderr, "imrefd: TLS: %s\n", err.data);
        log_write(LOG_ERROR, "TLS: %s", err.data);
    }
    buf_free(&err);
    free(specs);
    return ts;
}

static void start_services(struct server *srv)
{
    const struct server_config *cfg = srv->cfg;
    srv->services = xcalloc(cfg->n_services, sizeof *srv->services);
    for (size_t i = 0; i < cfg->n_services; i++) {
        const struct service_config *sc = &cfg->services[i];
        bool s2s = strcmp(sc->id, "s2s") == 0;
        struct service *svc = service_new(srv, sc, s2s ? s2s_accept : c2s_accept);
        srv->services[srv->n_services++] = svc;
        if (s2s) srv->s2s_wanted = sc->startup == STARTUP_AUTOMATIC;
        if (s2s || sc->startup != STARTUP_AUTOMATIC) continue;
        if (service_start(svc) == 0) continue;
        for (size_t k = 0; k < sc->n_listen; k++)
            printf("imrefd: %s listening on %s%s%s:%u\n", sc->id, strchr(sc->listen[k].host, ':') ? "[" : "",
                   sc->listen[k].host, strchr(sc->listen[k].host, ':') ? "]" : "", sc->listen[k].port);
    }
    s2s_sync_listener(srv);           /* SVC-3 */
    const struct service_config *s2s = config_find_service(cfg, "s2s");
    for (size_t k = 0; s2s && k < srv->n_services; k++)
        if (strcmp(service_id(srv->services[k]), "s2s") == 0 && service_running(srv->services[k]))
            for (size_t i = 0; i < s2s->n_listen; i++)
                printf("imrefd: s2s listening on %s%s%s:%u\n", strchr(s2s->listen[i].host, ':') ? "[" : "",
                       s2s->listen[i].host, strchr(s2s->listen[i].host, ':') ? "]" : "", s2s->listen[i].port);
    fflush(stdout);
}

static ev_timer shutdown_timer;
static double shutdown_began;

/* Ends the loop once every stream is gone; after the grace time, drops them. */
static void on_shutdown_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    if (!c2s_any() && !s2s_any()) {
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    if (ev_now(loop) - shutdown_began >= SHUTDOWN_GRACE_SECONDS) {
        c2s_abort_all();
        s2s_abort_all();
    }
}

static void on_stop_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct server *srv = w->data;
    if (ev_is_active(&shutdown_timer)) return;
    log_write(LOG_CONFIG, "imrefd: stopping on signal %d", w->signum);
    for (size_t i = 0; i < srv->n_services; i++) service_stop(srv->services[i]);
    c2s_shutdown_all();
    s2s_shutdown_all(NULL);
    shutdown_began = ev_now(loop);
    ev_timer_init(&shutdown_timer, on_shutdown_tick, 0., 0.05);
    ev_timer_start(loop, &shutdown_timer);
}

/* SIGHUP: reload users.cfg and the access policies (ADM-7). */
static void on_reload_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct server *srv = w->data;
    struct buf err;
    buf_init(&err);
    if (server_reload(srv, &err) < 0)
        log_write(LOG_ERROR, "reload: %s (the previous settings are kept)", err.data);
    buf_free(&err);
}

static int load_state(struct server *srv, const char *dir)
{
    struct buf err;
    buf_init(&err);
    int rc = -1;
    if (config_load(dir, &srv->cfg, &err) < 0) {
        fprintf(stderr, "imrefd: %s\n", err.data);
        goto out;
    }
    if (make_dir(srv->cfg->log_path) < 0) goto out;
    if (log_open(srv->cfg->log_path, srv->cfg->debug_log) < 0) {
        fprintf(stderr, "imrefd: %s: %s\n", srv->cfg->log_path, strerror(errno));
        goto out;
    }
    struct directory *users = NULL;
    if (directory_load(srv->cfg->users_path, &users, &err) < 0) {
        fprintf(stderr, "imrefd: %s\n", err.data);
        goto out;
    }
    server_set_directory(srv, users);
    if (store_open(srv->cfg->store_path, &srv->store, &err) < 0) {
        fprintf(stderr, "imrefd: %s\n", err.data);
        log_write(LOG_ERROR, "store: %s", err.data);
        goto out;
    }
    if (!(srv->tls = load_tls(srv->cfg))) goto out;
    if (tls_server_set_peer_ca(srv->tls, srv->cfg->ca_file, &err) < 0) {
        fprintf(stderr, "imrefd: TLS: %s\n", err.data);
        log_write(LOG_ERROR, "TLS: %s", err.data);
        goto out;
    }
    const struct dns_config *dns = &srv->cfg->dns;
    srv->resolver = resolver_new(srv->loop, dns->server.host, dns->server.port, dns->timeout, &err);
    if (!srv->resolver) {
        fprintf(stderr, "imrefd: DNS: %s\n", err.data);
        log_write(LOG_ERROR, "DNS: %s", err.data);
        goto out;
    }
    srv->archive = archive_new(srv->loop, srv->cfg->archive.path, srv->cfg->archive.on_failure,
                               router_archive_released, srv);
    rc = 0;
out:
    buf_free(&err);
    return rc;
}

static void free_state(struct server *srv)
{
    for (size_t i = 0; i < srv->n_services; i++) service_free(srv->services[i]);
    free(srv->services);
    archive_free(srv->archive);      /* releases (delivers) what is pending */
    sessions_free(srv->sessions);
    resolver_free(srv->resolver);
    hammer_free(srv->hammer);
    tls_server_free(srv->tls);
    store_close(srv->store);
    colleagues_free(srv->colleagues);
    directory_free(srv->dir);
    config_free(srv->cfg);
}

int main(int argc, char **argv)
{
    const char *dir = ".";
    bool init = false;
    static const struct option opts[] = {
        { "dir", required_argument, NULL, 'd' },
        { "init", no_argument, NULL, 'i' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "d:ih", opts, NULL)) != -1) {
        switch (ch) {
        case 'd': dir = optarg; break;
        case 'i': init = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (init) {
        struct buf err;
        buf_init(&err);
        bool created = false;
        if (firstrun_init(dir, &created, &err) < 0) {
            fprintf(stderr, "imrefd: first start: %s\n", err.data);
            buf_free(&err);
            return 1;
        }
        buf_free(&err);
        if (created) printf("imrefd: created a working default in %s\n", dir);
        firstrun_print_logins(dir);
    }

    struct server srv = { 0 };
    srv.loop = EV_DEFAULT;
    if (sasl_global_init() < 0 || load_state(&srv, dir) < 0) {
        free_state(&srv);
        return 1;
    }
    scram_set_fake_iterations(srv.cfg->scram_iterations);
    srv.sessions = sessions_new();
    srv.hammer = hammer_new(&srv.cfg->antihammer, &srv.cfg->lockout);
    srv.started = ev_now(srv.loop);
    srv.info = (struct iqinfo_server){ .name = IMREF_NAME, .version = IMREF_VERSION,
                                       .os = NULL, .started_unix = (long long)time(NULL) };
    s2s_init();
    start_services(&srv);
    struct buf err;
    buf_init(&err);
    struct control *control = control_start(&srv, srv.cfg->control_socket, &err);
    if (!control) log_write(LOG_ERROR, "Admin control socket %s: %s", srv.cfg->control_socket, err.data);
    buf_free(&err);
    log_write(LOG_CONFIG, "imrefd %s started in %s", IMREF_VERSION, srv.cfg->dir);

    ev_signal sigterm, sigint, sighup;
    ev_signal_init(&sigterm, on_stop_signal, SIGTERM);
    ev_signal_init(&sigint, on_stop_signal, SIGINT);
    ev_signal_init(&sighup, on_reload_signal, SIGHUP);
    sigterm.data = sigint.data = sighup.data = &srv;
    ev_signal_start(srv.loop, &sigterm);
    ev_signal_start(srv.loop, &sigint);
    ev_signal_start(srv.loop, &sighup);

    ev_run(srv.loop, 0);
    ev_timer_stop(srv.loop, &shutdown_timer);

    if (control) control_stop(control);
    log_write(LOG_CONFIG, "imrefd stopped");
    free_state(&srv);
    sasl_global_done();
    log_close();
    ev_loop_destroy(srv.loop);
    return 0;
}
