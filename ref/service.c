#include "service.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "buf.h"
#include "config.h"
#include "ipgroup.h"
#include "log.h"
#include "server.h"

struct listener {
    ev_io watcher;
    struct service *svc;
};

struct service {
    struct server *srv;
    const struct service_config *cfg;     /* borrowed from srv->cfg */
    service_accept_fn on_accept;
    struct listener *listeners;           /* n_listen entries; fd -1 if not bound */
    unsigned connections;
    bool running;
    ev_timer accept_pause;                /* out of file descriptors: listeners rest */
    double accept_failure_logged;         /* ev_now of the last such Error line */
};

#define ACCEPT_PAUSE_SECONDS 0.1
#define ACCEPT_FAILURE_LOG_INTERVAL 10.0

const char *service_display_name(const struct service *svc)
{
    if (strcmp(svc->cfg->id, "xmpps") == 0) return "Secured Instant Messaging";
    if (strcmp(svc->cfg->id, "s2s") == 0) return "Instant Messaging Federation";
    return "Instant Messaging";
}

struct service *service_new(struct server *srv, const struct service_config *cfg,
                            service_accept_fn on_accept)
{
    struct service *svc = xcalloc(1, sizeof *svc);
    svc->srv = srv;
    svc->cfg = cfg;
    svc->on_accept = on_accept;
    svc->listeners = xcalloc(cfg->n_listen, sizeof *svc->listeners);
    for (size_t i = 0; i < cfg->n_listen; i++) svc->listeners[i].watcher.fd = -1;
    ev_init(&svc->accept_pause, NULL);
    svc->accept_failure_logged = -ACCEPT_FAILURE_LOG_INTERVAL;
    return svc;
}

void service_free(struct service *svc)
{
    if (!svc) return;
    service_stop(svc);
    free(svc->listeners);
    free(svc);
}

/* Parses a numeric host ("127.0.0.1", "::1") and port into a sockaddr; 0 or -1. */
static int service_parse_sockaddr(const char *host, unsigned short port, struct sockaddr_storage *out,
                           socklen_t *len)
{
    memset(out, 0, sizeof *out);
    struct sockaddr_in *s4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        *len = sizeof *s4;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        *len = sizeof *s6;
        return 0;
    }
    return -1;
}

static bool peer_allowed(const struct service *svc, const struct sockaddr_storage *peer)
{
    if (!svc->cfg->ip_group) return true;
    return ipgroup_contains(svc->srv->cfg->ipgroups, svc->cfg->ip_group,
                            (const struct sockaddr *)peer);
}

static void listeners_set(struct service *svc, bool on)
{
    for (size_t i = 0; i < svc->cfg->n_listen; i++) {
        ev_io *w = &svc->listeners[i].watcher;
        if (w->fd < 0) continue;
        if (on) ev_io_start(svc->srv->loop, w);
        else ev_io_stop(svc->srv->loop, w);
    }
}

static void service_on_pause_over(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct service *svc = w->data;
    if (svc->running) listeners_set(svc, true);
    (void)loop;
    (void)revents;
}

/* Out of file descriptors (EMFILE, ENFILE, ENOBUFS, ENOMEM): the pending
 * connections stay in the backlog and the listeners rest a moment instead
 * of waking the loop again at once; one Error line per interval. */
static void service_pause_accepting(struct service *svc, int err)
{
    double now = ev_now(svc->srv->loop);
    if (now - svc->accept_failure_logged >= ACCEPT_FAILURE_LOG_INTERVAL) {
        log_write(LOG_ERROR, "%s: accept failed: %s; accepting again in %.0f ms", service_display_name(svc),
                  strerror(err), ACCEPT_PAUSE_SECONDS * 1000);
        svc->accept_failure_logged = now;
    }
    listeners_set(svc, false);
    ev_timer_set(&svc->accept_pause, ACCEPT_PAUSE_SECONDS, 0.);
    svc->accept_pause.data = svc;
    ev_set_cb(&svc->accept_pause, service_on_pause_over);
    ev_timer_start(svc->srv->loop, &svc->accept_pause);
}

static void service_on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    struct listener *l = (struct listener *)w;
    struct service *svc = l->svc;
    /* Accept a bounded batch per wake-up so one listener cannot starve the loop. */
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        int fd = accept4(w->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                service_pause_accepting(svc, errno);
            else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                log_write(LOG_ERROR, "%s: accept failed: %s", service_display_name(svc), strerror(errno));
            return;
        }
        if (!peer_allowed(svc, &peer)) {
            close(fd);          /* SVC-4: refused before any byte is read */
            continue;
        }
        /* Stanzas are written whole: do not let Nagle hold their last
         * segment back for a delayed ACK (a 40 ms stall per reply). */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        bool over = svc->cfg->max_connections && svc->connections >= svc->cfg->max_connections;
        svc->connections++;
        svc->on_accept(svc->srv, svc, fd, &peer, over);
    }
    (void)loop;
    (void)revents;
}

static int open_listener(const struct listen_addr *la, const char **why)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (service_parse_sockaddr(la->host, la->port, &ss, &len) < 0) {
        *why = "not a numeric address";
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *why = strerror(errno);
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 512) < 0) {
        *why = strerror(errno);
        close(fd);
        return -1;
    }
    return fd;
}

size_t service_start(struct service *svc)
{
    if (svc->running) return 1;
    size_t bound = 0;
    for (size_t i = 0; i < svc->cfg->n_listen; i++) {
        const struct listen_addr *la = &svc->cfg->listen[i];
        const char *why = NULL;
        int fd = open_listener(la, &why);
        if (fd < 0) {
            log_write(LOG_ERROR, "Service %s (%s) cannot listen on %s%s%s:%u: %s",
                      service_display_name(svc), svc->cfg->id, strchr(la->host, ':') ? "[" : "",
                      la->host, strchr(la->host, ':') ? "]" : "", la->port, why);
            continue;
        }
        struct listener *l = &svc->listeners[i];
        l->svc = svc;
        ev_io_init(&l->watcher, service_on_accept, fd, EV_READ);
        ev_io_start(svc->srv->loop, &l->watcher);
        bound++;
    }
    svc->running = bound > 0;
    return bound;
}

void service_stop(struct service *svc)
{
    ev_timer_stop(svc->srv->loop, &svc->accept_pause);
    for (size_t i = 0; i < svc->cfg->n_listen; i++) {
        struct listener *l = &svc->listeners[i];
        if (l->watcher.fd < 0) continue;
        ev_io_stop(svc->srv->loop, &l->watcher);
        close(l->watcher.fd);
        l->watcher.fd = -1;
    }
    svc->running = false;
}

bool service_running(const struct service *svc) { return svc->running; }
const char *service_id(const struct service *svc) { return svc->cfg->id; }
const struct service_config *service_config_of(const struct service *svc) { return svc->cfg; }
bool service_direct_tls(const struct service *svc) { return strcmp(svc->cfg->id, "xmpps") == 0; }
const char *service_protocol(const struct service *svc)
{
    return service_direct_tls(svc) ? "XMPPS" : "XMPP";
}
void service_connection_closed(struct service *svc)
{
    if (svc->connections) svc->connections--;
}
unsigned service_connections(const struct service *svc) { return svc->connections; }
