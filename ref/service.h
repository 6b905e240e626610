/* service: one configured service (xmpp, xmpps) and its listening sockets
 * (SPEC SVC-1, SVC-2, SVC-4, SVC-6, SVC-7). It owns its listening fds and
 * counts the connections it has handed out; the c2s calls
 * service_connection_closed when one of them ends. */
#ifndef IMREF_SERVICE_H
#define IMREF_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct server;
struct service_config;
struct service;

/* Called for each accepted connection the IP group allows; over_limit is true
 * when the service's connection limit is reached (SVC-6: the stream gets
 * <resource-constraint/>). Takes ownership of fd. */
typedef void (*service_accept_fn)(struct server *srv, struct service *svc, int fd,
                                  const struct sockaddr_storage *peer, bool over_limit);

struct service *service_new(struct server *srv, const struct service_config *cfg,
                            service_accept_fn on_accept);
void service_free(struct service *svc);

/* Binds and listens on every listener. Each that fails is written to the
 * Error log (SVC-7); returns the number bound. Running iff at least one. */
size_t service_start(struct service *svc);
void service_stop(struct service *svc);
bool service_running(const struct service *svc);
const char *service_id(const struct service *svc);
const char *service_display_name(const struct service *svc);   /* "Instant Messaging" ... */
const struct service_config *service_config_of(const struct service *svc);
bool service_direct_tls(const struct service *svc);    /* xmpps */
const char *service_protocol(const struct service *svc); /* "XMPP", "XMPPS" */
void service_connection_closed(struct service *svc);
unsigned service_connections(const struct service *svc);

#endif
