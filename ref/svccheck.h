/* svccheck: Check Service Accessibility (SPEC ADM-6) for `imrefctl check`:
 * per domain, the DNS records (A/AAAA, _xmpp-client, _xmpps-client and
 * _xmpp-server SRV) against this server's running listeners, and a probe
 * (svcprobe) of each running listener with its certificate. The pure
 * judgements are public for tests; svccheck_run does the DNS and the probes.
 * A report, svccheck_server and svccheck_dns own all their strings and arrays
 * (their _free functions); every other pointer argument is borrowed. */
#ifndef IMREF_SVCCHECK_H
#define IMREF_SVCCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "buf.h"
#include "config.h"
#include "json.h"
#include "resolver.h"
#include "svcprobe.h"

/* ---- results ---------------------------------------------------------------- */

enum svccheck_status {
    SVCCHECK_OK,
    SVCCHECK_FAILED,    /* a required check failed: the exit status is 1 */
    SVCCHECK_WARNING,   /* an optional check failed */
    SVCCHECK_SKIPPED,   /* its precondition is off (SendOutside=0, service stopped) */
};
const char *svccheck_status_name(enum svccheck_status st);   /* "ok", "failed", ... */

struct svccheck_result {
    char *domain;       /* "*" for the server as a whole */
    char *check;        /* "address", "client-srv", "service xmpp 127.0.0.1:5222" ... */
    enum svccheck_status status;
    bool required;
    char *detail;       /* what was found, or why it failed */
    char *hint;         /* "add: <zone-file record>" or "fix: ..."; NULL if none */
};

struct svccheck_report {
    struct svccheck_result *results;   /* in the order checked */
    size_t n;
};

void svccheck_report_init(struct svccheck_report *rep);
void svccheck_report_free(struct svccheck_report *rep);
/* Appends a result (copies the strings; hint may be NULL). */
void svccheck_report_add(struct svccheck_report *rep, const char *domain, const char *check,
                         enum svccheck_status status, bool required, const char *detail,
                         const char *hint);
/* Required checks that failed. */
size_t svccheck_report_failed(const struct svccheck_report *rep);
/* {"checks":[{"domain","check","status","required","detail","hint"}...],"failed":N} */
void svccheck_report_json(const struct svccheck_report *rep, struct jsonw *w);

/* ---- what the running server says -------------------------------------------- */

struct svccheck_service {
    char *id;                   /* "xmpp", "xmpps", "s2s" */
    bool running;
    struct listen_addr *listen; /* its listeners */
    size_t n_listen;
};

struct svccheck_server {
    struct svccheck_service *services;
    size_t n_services;
    bool send_outside;              /* DOM-1 */
    struct sockaddr_storage *local; /* this machine's addresses (ports 0) */
    size_t n_local;
};

/* From the results of the control actions `services` (an array of
 * {"id","running","listeners":["addr:port"...]}) and `settings.get`
 * ({"SendOutside":0|1}). 0, or -1 with err; local addresses are left empty. */
int svccheck_server_from_json(const struct json *services, const struct json *settings,
                              struct svccheck_server *out, struct buf *err);
/* Adds this machine's interface addresses to srv->local (getifaddrs). */
void svccheck_server_add_local_addresses(struct svccheck_server *srv);
void svccheck_server_free(struct svccheck_server *srv);

/* The running service `id`, NULL if it is not running or not there. */
const struct svccheck_service *svccheck_running_service(const struct svccheck_server *srv, const char *id);

/* Does a connection to addr:port reach listener l? The same address and
 * port; or l on the wildcard address of addr's family (0.0.0.0, ::) with
 * the port, and addr a loopback address or one of srv->local. */
bool svccheck_listener_reached(const struct listen_addr *l, const struct sockaddr_storage *addr,
                               unsigned short port, const struct svccheck_server *srv);

/* ---- what DNS says about a domain ------------------------------------------- */

struct svccheck_addrs {
    enum resolve_status status;
    struct sockaddr_storage *list;   /* ports 0 */
    size_t n;
};

struct svccheck_target {     /* one SRV record and its target's addresses */
    char *host;
    unsigned short port;
    struct svccheck_addrs addrs;
};

struct svccheck_srv {
    enum resolve_status status;
    struct svccheck_target *targets;  /* RFC 2782 order */
    size_t n;
};

enum svccheck_srv_kind { SVCCHECK_CLIENT_SRV, SVCCHECK_XMPPS_SRV, SVCCHECK_SERVER_SRV, SVCCHECK_N_SRV };

struct svccheck_dns {
    struct svccheck_addrs addrs;          /* the domain's own A/AAAA */
    struct svccheck_srv srv[SVCCHECK_N_SRV];
};

void svccheck_dns_free(struct svccheck_dns *dns);

/* "_xmpp-client._tcp", "_xmpps-client._tcp", "_xmpp-server._tcp". */
const char *svccheck_srv_label(enum svccheck_srv_kind kind);

/* ---- the judgements (pure) --------------------------------------------------- */

/* ADM-6 (a) "address": every host a client or server would connect to
 * (the SRV targets; the domain itself when there is no SRV record) has
 * an A or AAAA record. */
void svccheck_judge_address(const char *domain, const struct svccheck_dns *dns,
                            const struct svccheck_server *srv, struct svccheck_report *rep);

/* ADM-6 (b), (c) "client-srv", "xmpps-srv", "server-srv": the SRV name
 * exists and one of its records reaches a running listener of the
 * service (xmpp, xmpps, s2s). xmpps-srv is optional (a WARNING);
 * server-srv is required only with SendOutside=1 (else SKIPPED). */
void svccheck_judge_srv(const char *domain, enum svccheck_srv_kind kind, const struct svccheck_dns *dns,
                        const struct svccheck_server *srv, struct svccheck_report *rep);

/* ADM-6 (d) "service ID ADDR:PORT": the probe came up over TLS, and the
 * certificate is trusted, valid for the domain and valid for more than
 * 30 days after `now` (Unix time). cert_file: the domain's certificate
 * file, for the hint. */
#define SVCCHECK_CERT_MIN_DAYS 30
void svccheck_judge_probe(const char *domain, const char *check, const struct svcprobe_result *probe,
                          long long now, const char *cert_file, struct svccheck_report *rep);

/* ---- the run ----------------------------------------------------------------- */

/* Runs the checks of each domain (in the order given; names as in cfg):
 * the DNS lookups through cfg's table DNS, then address, client-srv,
 * xmpps-srv, server-srv and one probe per domain and running listener
 * (TLS trusting cfg's CAFile). 0, or -1 with err when the resolver or the
 * TLS context cannot be set up (a configuration error). */
int svccheck_run(const struct server_config *cfg, const char *const *domains, size_t n_domains,
                 const struct svccheck_server *srv, struct svccheck_report *rep, struct buf *err);

#endif
