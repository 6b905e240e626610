#include "svccheck.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <ev.h>
#include <openssl/x509.h>

#define PROBE_TIMEOUT_SECONDS 10
#define DAY_SECONDS 86400LL
#define DNS_HINT "fix: check the DNS server (table DNS, Server and Timeout, in mailserver.cfg)"

/* ---- results ---------------------------------------------------------------- */

const char *svccheck_status_name(enum svccheck_status st)
{
    static const char *const names[] = { "ok", "failed", "warning", "skipped" };
    return names[st];
}

void svccheck_report_init(struct svccheck_report *rep)
{
    *rep = (struct svccheck_report){ 0 };
}

void svccheck_report_free(struct svccheck_report *rep)
{
    for (size_t i = 0; i < rep->n; i++) {
        struct svccheck_result *r = &rep->results[i];
        free(r->domain);
        free(r->check);
        free(r->detail);
        free(r->hint);
    }
    free(rep->results);
    svccheck_report_init(rep);
}

void svccheck_report_add(struct svccheck_report *rep, const char *domain, const char *check,
                         enum svccheck_status status, bool required, const char *detail,
                         const char *hint)
{
    rep->results = xrealloc(rep->results, (rep->n + 1) * sizeof *rep->results);
    rep->results[rep->n++] = (struct svccheck_result){
        .domain = xstrdup(domain), .check = xstrdup(check), .status = status, .required = required,
        .detail = xstrdup(detail), .hint = hint ? xstrdup(hint) : NULL,
    };
}

/* Adds a result whose detail and hint were built in bufs (hint empty: none). */
static void add_result(struct svccheck_report *rep, const char *domain, const char *check,
                       enum svccheck_status status, bool required, const struct buf *detail,
                       const struct buf *hint)
{
    svccheck_report_add(rep, domain, check, status, required, detail->len ? detail->data : "",
                        hint && hint->len ? hint->data : NULL);
}

size_t svccheck_report_failed(const struct svccheck_report *rep)
{
    size_t n = 0;
    for (size_t i = 0; i < rep->n; i++) n += rep->results[i].status == SVCCHECK_FAILED;
    return n;
}

void svccheck_report_json(const struct svccheck_report *rep, struct jsonw *w)
{
    jsonw_object_begin(w);
    jsonw_key(w, "checks");
    jsonw_array_begin(w);
    for (size_t i = 0; i < rep->n; i++) {
        const struct svccheck_result *r = &rep->results[i];
        jsonw_object_begin(w);
        jsonw_key(w, "domain");
        jsonw_string(w, r->domain);
        jsonw_key(w, "check");
        jsonw_string(w, r->check);
        jsonw_key(w, "status");
        jsonw_string(w, svccheck_status_name(r->status));
        jsonw_key(w, "required");
        jsonw_bool(w, r->required);
        jsonw_key(w, "detail");
        jsonw_string(w, r->detail);
        jsonw_key(w, "hint");
        jsonw_string(w, r->hint);
        jsonw_object_end(w);
    }
    jsonw_array_end(w);
    jsonw_key(w, "failed");
    jsonw_int(w, (long long)svccheck_report_failed(rep));
    jsonw_object_end(w);
}

/* ---- addresses --------------------------------------------------------------- */

static void append_address(struct buf *out, const struct sockaddr_storage *a)
{
    char text[INET6_ADDRSTRLEN];
    const void *raw = a->ss_family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)a)->sin6_addr
                                               : (const void *)&((const struct sockaddr_in *)a)->sin_addr;
    buf_puts(out, inet_ntop(a->ss_family, raw, text, sizeof text) ? text : "?");
}

static void append_addresses(struct buf *out, const struct svccheck_addrs *addrs)
{
    for (size_t i = 0; i < addrs->n; i++) {
        if (i) buf_puts(out, ", ");
        append_address(out, &addrs->list[i]);
    }
}

/* "127.0.0.1:5222", "[::1]:5222". */
static void append_listener(struct buf *out, const struct listen_addr *l)
{
    bool v6 = strchr(l->host, ':') != NULL;
    buf_printf(out, "%s%s%s:%u", v6 ? "[" : "", l->host, v6 ? "]" : "", l->port);
}

/* A numeric listener host as an address (port 0). */
static bool listener_address(const struct listen_addr *l, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof *out);
    struct sockaddr_in *v4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
    if (inet_pton(AF_INET, l->host, &v4->sin_addr) == 1) v4->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, l->host, &v6->sin6_addr) == 1) v6->sin6_family = AF_INET6;
    else return false;
    return true;
}

static bool same_address(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family) return false;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr == ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)a)->sin6_addr;
    const struct in6_addr *b6 = &((const struct sockaddr_in6 *)b)->sin6_addr;
    return a->ss_family == AF_INET6 && memcmp(a6, b6, sizeof *a6) == 0;
}

static bool is_wildcard(const struct sockaddr_storage *a)
{
    if (a->ss_family == AF_INET) return ((const struct sockaddr_in *)a)->sin_addr.s_addr == htonl(INADDR_ANY);
    return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)a)->sin6_addr);
}

static bool is_loopback(const struct sockaddr_storage *a)
{
    if (a->ss_family == AF_INET) return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
    return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)a)->sin6_addr);
}

static bool is_local(const struct sockaddr_storage *a, const struct svccheck_server *srv)
{
    if (is_loopback(a)) return true;
    for (size_t i = 0; i < srv->n_local; i++)
        if (same_address(&srv->local[i], a)) return true;
    return false;
}

bool svccheck_listener_reached(const struct listen_addr *l, const struct sockaddr_storage *addr,
                               unsigned short port, const struct svccheck_server *srv)
{
    struct sockaddr_storage la;
    if (l->port != port || !listener_address(l, &la) || la.ss_family != addr->ss_family) return false;
    return same_address(&la, addr) || (is_wildcard(&la) && is_local(addr, srv));
}

/* Does `addrs` hold an address of this server (any running listener's
 * address, whatever the port)? */
static bool addresses_are_ours(const struct svccheck_addrs *addrs, const struct svccheck_server *srv)
{
    for (size_t s = 0; s < srv->n_services; s++) {
        const struct svccheck_service *svc = &srv->services[s];
        for (size_t l = 0; svc->running && l < svc->n_listen; l++)
            for (size_t a = 0; a < addrs->n; a++)
                if (svccheck_listener_reached(&svc->listen[l], &addrs->list[a], svc->listen[l].port, srv))
                    return true;
    }
    return false;
}

/* ---- the running server ------------------------------------------------------- */

static void service_free(struct svccheck_service *svc)
{
    free(svc->id);
    for (size_t i = 0; i < svc->n_listen; i++) free(svc->listen[i].host);
    free(svc->listen);
}

static int service_from_json(const struct json *item, struct svccheck_service *svc, struct buf *err)
{
    const char *id = json_string(json_get(item, "id"));
    const struct json *listeners = json_get(item, "listeners");
    if (!id || !json_bool(json_get(item, "running"), &svc->running) || json_type(listeners) != JSON_ARRAY) {
        buf_puts(err, "a service without id, running or listeners in the reply of imrefd");
        return -1;
    }
    svc->id = xstrdup(id);
    svc->listen = xcalloc(json_array_len(listeners) + 1, sizeof *svc->listen);
    for (size_t i = 0; i < json_array_len(listeners); i++) {
        const char *text = json_string(json_array_at(listeners, i));
        if (!text || config_parse_listen(text, &svc->listen[svc->n_listen]) != 0) {
            buf_printf(err, "service %s: a listener that is not address:port in the reply of imrefd", id);
            return -1;
        }
        svc->n_listen++;
    }
    return 0;
}

int svccheck_server_from_json(const struct json *services, const struct json *settings,
                              struct svccheck_server *out, struct buf *err)
{
    *out = (struct svccheck_server){ 0 };
    double send_outside = 0;
    if (json_type(services) != JSON_ARRAY || !json_number(json_get(settings, "SendOutside"), &send_outside)) {
        buf_puts(err, "imrefd's reply to services or settings.get is not as expected");
        return -1;
    }
    out->send_outside = send_outside != 0;
    out->services = xcalloc(json_array_len(services) + 1, sizeof *out->services);
    for (size_t i = 0; i < json_array_len(services); i++) {
        int rc = service_from_json(json_array_at(services, i), &out->services[out->n_services], err);
        out->n_services++;
        if (rc != 0) {
            svccheck_server_free(out);
            return -1;
        }
    }
    return 0;
}

void svccheck_server_add_local_addresses(struct svccheck_server *srv)
{
    struct ifaddrs *list;
    if (getifaddrs(&list) != 0) return;
    for (const struct ifaddrs *i = list; i; i = i->ifa_next) {
        if (!i->ifa_addr || (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6)) continue;
        struct sockaddr_storage a = { 0 };
        memcpy(&a, i->ifa_addr, i->ifa_addr->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                                                  : sizeof(struct sockaddr_in6));
        srv->local = xrealloc(srv->local, (srv->n_local + 1) * sizeof *srv->local);
        srv->local[srv->n_local++] = a;
    }
    freeifaddrs(list);
}

void svccheck_server_free(struct svccheck_server *srv)
{
    for (size_t i = 0; i < srv->n_services; i++) service_free(&srv->services[i]);
    free(srv->services);
    free(srv->local);
    *srv = (struct svccheck_server){ 0 };
}

const struct svccheck_service *svccheck_running_service(const struct svccheck_server *srv, const char *id)
{
    for (size_t i = 0; i < srv->n_services; i++)
        if (srv->services[i].running && strcmp(srv->services[i].id, id) == 0) return &srv->services[i];
    return NULL;
}

/* The address to put in an A/AAAA record for this server: a running
 * client listener's, or for a wildcard listener one of the machine's own
 * (not loopback) addresses. "AAAA ::1" style; a placeholder if none. */
static void append_our_address_record(struct buf *out, const struct svccheck_server *srv)
{
    static const char *const ids[] = { "xmpp", "xmpps", "s2s" };
    for (size_t k = 0; k < sizeof ids / sizeof ids[0]; k++) {
        const struct svccheck_service *svc = svccheck_running_service(srv, ids[k]);
        for (size_t l = 0; svc && l < svc->n_listen; l++) {
            struct sockaddr_storage la;
            if (!listener_address(&svc->listen[l], &la)) continue;
            for (size_t i = 0; is_wildcard(&la) && i < srv->n_local; i++)
                if (srv->local[i].ss_family == la.ss_family && !is_loopback(&srv->local[i])) {
                    la = srv->local[i];
                    break;
                }
            if (is_wildcard(&la)) continue;
            buf_puts(out, la.ss_family == AF_INET6 ? "AAAA " : "A ");
            append_address(out, &la);
            return;
        }
    }
    buf_puts(out, "A <this server's address>");
}

/* ---- DNS answers --------------------------------------------------------------- */

static void addrs_free(struct svccheck_addrs *a)
{
    free(a->list);
    a->list = NULL;
    a->n = 0;
}

void svccheck_dns_free(struct svccheck_dns *dns)
{
    addrs_free(&dns->addrs);
    for (size_t k = 0; k < SVCCHECK_N_SRV; k++) {
        for (size_t i = 0; i < dns->srv[k].n; i++) {
            free(dns->srv[k].targets[i].host);
            addrs_free(&dns->srv[k].targets[i].addrs);
        }
        free(dns->srv[k].targets);
    }
    *dns = (struct svccheck_dns){ 0 };
}

static const struct srv_kind {
    const char *check, *label, *service_id;
} srv_kinds[SVCCHECK_N_SRV] = {
    [SVCCHECK_CLIENT_SRV] = { "client-srv", "_xmpp-client._tcp", "xmpp" },
    [SVCCHECK_XMPPS_SRV] = { "xmpps-srv", "_xmpps-client._tcp", "xmpps" },
    [SVCCHECK_SERVER_SRV] = { "server-srv", "_xmpp-server._tcp", "s2s" },
};

const char *svccheck_srv_label(enum svccheck_srv_kind kind)
{
    return srv_kinds[kind].label;
}

static bool srv_found(const struct svccheck_srv *s)
{
    return s->status == RESOLVE_OK && s->n > 0;
}

/* ---- (a) address ---------------------------------------------------------------- */

/* One host a peer would connect to: "host: addresses" into ok, or its
 * name into missing and its record into hint. */
static void judge_host(const char *host, const struct svccheck_addrs *addrs, const struct svccheck_server *srv,
                       struct buf *ok, struct buf *missing, struct buf *hint, bool *dns_trouble)
{
    if (addrs->status == RESOLVE_OK && addrs->n) {
        buf_printf(ok, "%s%s: ", ok->len ? "; " : "", host);
        append_addresses(ok, addrs);
        return;
    }
    if (addrs->status == RESOLVE_TIMEOUT || addrs->status == RESOLVE_ERROR) *dns_trouble = true;
    buf_printf(missing, "%s%s (DNS: %s)", missing->len ? ", " : "", host, resolve_status_name(addrs->status));
    buf_printf(hint, "%s%s. IN ", hint->len ? ", " : "add: ", host);
    append_our_address_record(hint, srv);
}

static bool already_judged(const struct svccheck_dns *dns, size_t kind, size_t index)
{
    const char *host = dns->srv[kind].targets[index].host;
    for (size_t k = 0; k <= kind; k++)
        for (size_t i = 0; i < (k == kind ? index : dns->srv[k].n); i++)
            if (strcasecmp(dns->srv[k].targets[i].host, host) == 0) return true;
    return false;
}

void svccheck_judge_address(const char *domain, const struct svccheck_dns *dns,
                            const struct svccheck_server *srv, struct svccheck_report *rep)
{
    struct buf ok, missing, hint;
    buf_init(&ok);
    buf_init(&missing);
    buf_init(&hint);
    bool any_srv = false, dns_trouble = false;
    for (size_t k = 0; k < SVCCHECK_N_SRV; k++) {
        if (!srv_found(&dns->srv[k])) continue;
        any_srv = true;
        for (size_t i = 0; i < dns->srv[k].n; i++)
            if (!already_judged(dns, k, i))
                judge_host(dns->srv[k].targets[i].host, &dns->srv[k].targets[i].addrs, srv, &ok, &missing, &hint,
                           &dns_trouble);
    }
    if (!any_srv) judge_host(domain, &dns->addrs, srv, &ok, &missing, &hint, &dns_trouble);
    if (!missing.len) {
        add_result(rep, domain, "address", SVCCHECK_OK, true, &ok, NULL);
    } else {
        struct buf detail;
        buf_init(&detail);
        buf_printf(&detail, "no A/AAAA record for %s", missing.data);
        if (dns_trouble) {
            buf_reset(&hint);
            buf_puts(&hint, DNS_HINT);
        }
        add_result(rep, domain, "address", SVCCHECK_FAILED, true, &detail, &hint);
        buf_free(&detail);
    }
    buf_free(&ok);
    buf_free(&missing);
    buf_free(&hint);
}

/* ---- (b), (c) SRV records --------------------------------------------------------- */

/* The SRV target to suggest: a host in DNS that resolves to this server
 * (from any SRV record, or the domain), else the domain. */
static const char *suggested_target(const char *domain, const struct svccheck_dns *dns,
                                    const struct svccheck_server *srv)
{
    for (size_t k = 0; k < SVCCHECK_N_SRV; k++)
        for (size_t i = 0; i < dns->srv[k].n; i++)
            if (addresses_are_ours(&dns->srv[k].targets[i].addrs, srv)) return dns->srv[k].targets[i].host;
    return domain;
}

/* The record that points `kind` at svc's first listener. */
static void append_srv_record(struct buf *out, const char *domain, enum svccheck_srv_kind kind,
                              const struct svccheck_service *svc, const struct svccheck_dns *dns,
                              const struct svccheck_server *srv)
{
    buf_printf(out, "add: %s.%s. IN SRV 0 5 %u %s.", srv_kinds[kind].label, domain, svc->listen[0].port,
               suggested_target(domain, dns, srv));
}

/* The record of `s` that reaches a listener of svc: its index, with the
 * address and listener in *addr and *listener; -1 if none. */
static long find_reaching_record(const struct svccheck_srv *s, const struct svccheck_service *svc,
                                 const struct svccheck_server *srv, size_t *addr, size_t *listener)
{
    for (size_t i = 0; i < s->n; i++)
        for (*addr = 0; *addr < s->targets[i].addrs.n; (*addr)++)
            for (*listener = 0; *listener < svc->n_listen; (*listener)++)
                if (svccheck_listener_reached(&svc->listen[*listener], &s->targets[i].addrs.list[*addr],
                                              s->targets[i].port, srv))
                    return (long)i;
    return -1;
}

/* "host:port (addresses)" of every record. */
static void append_targets(struct buf *out, const struct svccheck_srv *s)
{
    for (size_t i = 0; i < s->n; i++) {
        const struct svccheck_target *t = &s->targets[i];
        buf_printf(out, "%s%s:%u (", i ? ", " : "", t->host, t->port);
        if (t->addrs.n) append_addresses(out, &t->addrs);
        else buf_printf(out, "no A/AAAA: %s", resolve_status_name(t->addrs.status));
        buf_puts(out, ")");
    }
}

static void append_listeners(struct buf *out, const struct svccheck_service *svc)
{
    for (size_t i = 0; i < svc->n_listen; i++) {
        if (i) buf_puts(out, ", ");
        append_listener(out, &svc->listen[i]);
    }
}

/* The verdict on an SRV answer when the service runs. */
static void judge_srv_answer(const char *domain, enum svccheck_srv_kind kind, const struct svccheck_dns *dns,
                             const struct svccheck_service *svc, const struct svccheck_server *srv,
                             bool required, struct svccheck_report *rep)
{
    const struct svccheck_srv *s = &dns->srv[kind];
    const char *label = srv_kinds[kind].label;
    struct buf detail, hint;
    buf_init(&detail);
    buf_init(&hint);
    enum svccheck_status failed = required ? SVCCHECK_FAILED : SVCCHECK_WARNING;
    size_t a = 0, l = 0;
    long hit = srv_found(s) ? find_reaching_record(s, svc, srv, &a, &l) : -1;
    if (hit >= 0) {
        const struct svccheck_target *t = &s->targets[hit];
        buf_printf(&detail, "%s.%s -> %s:%u (", label, domain, t->host, t->port);
        append_address(&detail, &t->addrs.list[a]);
        buf_printf(&detail, ") reaches the %s listener ", svc->id);
        append_listener(&detail, &svc->listen[l]);
        add_result(rep, domain, srv_kinds[kind].check, SVCCHECK_OK, required, &detail, NULL);
    } else if (s->status == RESOLVE_TIMEOUT || s->status == RESOLVE_ERROR) {
        buf_printf(&detail, "DNS lookup of %s.%s failed: %s", label, domain, resolve_status_name(s->status));
        buf_puts(&hint, DNS_HINT);
        add_result(rep, domain, srv_kinds[kind].check, failed, required, &detail, &hint);
    } else {
        if (!srv_found(s)) {
            buf_printf(&detail, "no SRV record %s.%s", label, domain);
        } else {
            buf_printf(&detail, "%s.%s points to ", label, domain);
            append_targets(&detail, s);
            buf_printf(&detail, ", not to a running %s listener (", svc->id);
            append_listeners(&detail, svc);
            buf_puts(&detail, ")");
        }
        append_srv_record(&hint, domain, kind, svc, dns, srv);
        add_result(rep, domain, srv_kinds[kind].check, failed, required, &detail, &hint);
    }
    buf_free(&detail);
    buf_free(&hint);
}

void svccheck_judge_srv(const char *domain, enum svccheck_srv_kind kind, const struct svccheck_dns *dns,
                        const struct svccheck_server *srv, struct svccheck_report *rep)
{
    const struct srv_kind *k = &srv_kinds[kind];
    bool required = kind == SVCCHECK_CLIENT_SRV || (kind == SVCCHECK_SERVER_SRV && srv->send_outside);
    if (kind == SVCCHECK_SERVER_SRV && !srv->send_outside) {
        svccheck_report_add(rep, domain, k->check, SVCCHECK_SKIPPED, false,
                            "SendOutside is 0: no federation, no record needed", NULL);
        return;
    }
    const struct svccheck_service *svc = svccheck_running_service(srv, k->service_id);
    if (svc && svc->n_listen) {
        judge_srv_answer(domain, kind, dns, svc, srv, required, rep);
        return;
    }
    struct buf detail, hint;
    buf_init(&detail);
    buf_init(&hint);
    buf_printf(&detail, "service %s is not running", k->service_id);
    if (required) {
        buf_printf(&detail, ": no listener for %s.%s to point to", k->label, domain);
        buf_printf(&hint, "fix: imrefctl service start %s", k->service_id);
    }
    add_result(rep, domain, k->check, required ? SVCCHECK_FAILED : SVCCHECK_SKIPPED, required, &detail, &hint);
    buf_free(&detail);
    buf_free(&hint);
}

/* ---- (d) the services ----------------------------------------------------------- */

static void append_date(struct buf *out, long long t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm)) {
        buf_puts(out, "?");
        return;
    }
    buf_printf(out, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* Whole days from now to t, rounded up. */
static long long days_until(long long t, long long now)
{
    return (t - now + DAY_SECONDS - 1) / DAY_SECONDS;
}

/* The certificate's verdict: detail and hint; true if it passes. */
static bool judge_certificate(const char *domain, const struct svcprobe_result *probe, long long now,
                              const char *cert_file, struct buf *detail, struct buf *hint)
{
    const struct svcprobe_cert *c = &probe->cert;
    bool dates_only = c->verify_code == X509_V_ERR_CERT_HAS_EXPIRED || c->verify_code == X509_V_ERR_CERT_NOT_YET_VALID;
    if (c->verify_code != X509_V_OK && !dates_only) {
        buf_printf(detail, "certificate for %s not trusted: %s", domain, c->verify_reason ? c->verify_reason : "?");
        buf_printf(hint, "fix: put a certificate for %s from a CA its clients trust in %s", domain, cert_file);
    } else if (!c->valid_for_domain) {
        buf_printf(detail, "certificate not valid for %s (it names %s)", domain, c->names ? c->names : "?");
        buf_printf(hint, "fix: put a certificate for %s (subjectAltName DNS:%s) in %s", domain, domain, cert_file);
    } else if (c->verify_code == X509_V_ERR_CERT_NOT_YET_VALID) {
        buf_printf(detail, "certificate for %s is not valid yet", domain);
        buf_printf(hint, "fix: put a certificate for %s valid from today in %s", domain, cert_file);
    } else if (c->not_after - now <= SVCCHECK_CERT_MIN_DAYS * DAY_SECONDS) {
        buf_printf(detail, "certificate for %s %s on ", domain, c->not_after <= now ? "expired" : "expires");
        append_date(detail, c->not_after);
        if (c->not_after > now) {
            long long days = days_until(c->not_after, now);
            buf_printf(detail, " (in %lld day%s)", days, days == 1 ? "" : "s");
        }
        buf_printf(hint, "fix: renew %s (valid for more than %d days)", cert_file, SVCCHECK_CERT_MIN_DAYS);
    } else {
        buf_printf(detail, "%s, certificate for %s valid until ", probe->tls_version ? probe->tls_version : "TLS",
                   domain);
        append_date(detail, c->not_after);
        buf_printf(detail, " (%lld days)", days_until(c->not_after, now));
        return true;
    }
    return false;
}

void svccheck_judge_probe(const char *domain, const char *check, const struct svcprobe_result *probe,
                          long long now, const char *cert_file, struct svccheck_report *rep)
{
    if (probe->failure) {
        svccheck_report_add(rep, domain, check, SVCCHECK_FAILED, true, probe->failure, NULL);
        return;
    }
    struct buf detail, hint;
    buf_init(&detail);
    buf_init(&hint);
    bool ok = judge_certificate(domain, probe, now, cert_file, &detail, &hint);
    add_result(rep, domain, check, ok ? SVCCHECK_OK : SVCCHECK_FAILED, true, &detail, &hint);
    buf_free(&detail);
    buf_free(&hint);
}

/* ---- the run ------------------------------------------------------------------- */

static void on_addresses(void *ctx, enum resolve_status st, const struct sockaddr_storage *addrs, size_t n)
{
    struct svccheck_addrs *out = ctx;
    out->status = st;
    if (st != RESOLVE_OK || n == 0) return;
    out->list = xmalloc(n * sizeof *out->list);
    memcpy(out->list, addrs, n * sizeof *out->list);
    out->n = n;
}

static void on_srv(void *ctx, enum resolve_status st, const struct srv_record *recs, size_t n)
{
    struct svccheck_srv *out = ctx;
    out->status = st;
    if (st != RESOLVE_OK || n == 0) return;
    out->targets = xcalloc(n, sizeof *out->targets);
    for (size_t i = 0; i < n; i++)
        out->targets[i] = (struct svccheck_target){ .host = xstrdup(recs[i].target), .port = recs[i].port,
                                                    .addrs.status = RESOLVE_ERROR };
    out->n = n;
}

/* The domain's A/AAAA and SRV records, then the SRV targets' addresses. */
static void look_up_domain(struct resolver *r, const char *domain, struct svccheck_dns *dns)
{
    *dns = (struct svccheck_dns){ .addrs.status = RESOLVE_ERROR };
    resolver_addresses(r, domain, on_addresses, &dns->addrs);
    struct buf name;
    buf_init(&name);
    for (size_t k = 0; k < SVCCHECK_N_SRV; k++) {
        dns->srv[k].status = RESOLVE_ERROR;
        buf_reset(&name);
        buf_printf(&name, "%s.%s", srv_kinds[k].label, domain);
        resolver_srv(r, name.data, on_srv, &dns->srv[k]);
    }
    buf_free(&name);
    resolver_wait(r);
    for (size_t k = 0; k < SVCCHECK_N_SRV; k++)
        for (size_t i = 0; i < dns->srv[k].n; i++)
            resolver_addresses(r, dns->srv[k].targets[i].host, on_addresses, &dns->srv[k].targets[i].addrs);
    resolver_wait(r);
}

static const struct {
    const char *id;
    enum svcprobe_kind kind;
} probe_kinds[] = {
    { "xmpp", SVCPROBE_CLIENT_STARTTLS },
    { "xmpps", SVCPROBE_CLIENT_DIRECT_TLS },
    { "s2s", SVCPROBE_SERVER_STARTTLS },
};

/* Where to connect for listener l: its address, loopback for a wildcard. */
static socklen_t probe_address(const struct listen_addr *l, struct sockaddr_storage *out)
{
    if (!listener_address(l, out)) return 0;
    if (out->ss_family == AF_INET) {
        struct sockaddr_in *v4 = (struct sockaddr_in *)out;
        if (is_wildcard(out)) v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        v4->sin_port = htons(l->port);
        return sizeof *v4;
    }
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
    if (is_wildcard(out)) v6->sin6_addr = in6addr_loopback;
    v6->sin6_port = htons(l->port);
    return sizeof *v6;
}

static void probe_service(const char *domain, const struct svccheck_service *svc, enum svcprobe_kind kind,
                          SSL_CTX *tls, const char *cert_file, struct svccheck_report *rep)
{
    struct buf check;
    buf_init(&check);
    for (size_t l = 0; l < svc->n_listen; l++) {
        buf_reset(&check);
        buf_printf(&check, "service %s ", svc->id);
        append_listener(&check, &svc->listen[l]);
        struct sockaddr_storage addr;
        socklen_t len = probe_address(&svc->listen[l], &addr);
        struct svcprobe_result probe;
        svcprobe_run(tls, &addr, len, domain, kind, PROBE_TIMEOUT_SECONDS, &probe);
        svccheck_judge_probe(domain, check.data, &probe, (long long)time(NULL), cert_file, rep);
        svcprobe_result_free(&probe);
    }
    buf_free(&check);
}

static void probe_services(const char *domain, const struct server_config *cfg, const struct svccheck_server *srv,
                           SSL_CTX *tls, struct svccheck_report *rep)
{
    const struct domain_config *dc = config_find_domain(cfg, domain);
    const char *cert_file = dc && dc->cert_file ? dc->cert_file : cfg->cert_file;
    for (size_t k = 0; k < sizeof probe_kinds / sizeof probe_kinds[0]; k++) {
        for (size_t i = 0; i < srv->n_services; i++) {
            const struct svccheck_service *svc = &srv->services[i];
            if (strcmp(svc->id, probe_kinds[k].id) != 0) continue;
            if (svc->running) {
                probe_service(domain, svc, probe_kinds[k].kind, tls, cert_file, rep);
                continue;
            }
            struct buf check;
            buf_init(&check);
            buf_printf(&check, "service %s", svc->id);
            svccheck_report_add(rep, domain, check.data, SVCCHECK_SKIPPED, false, "not running", NULL);
            buf_free(&check);
        }
    }
}

int svccheck_run(const struct server_config *cfg, const char *const *domains, size_t n_domains,
                 const struct svccheck_server *srv, struct svccheck_report *rep, struct buf *err)
{
    SSL_CTX *tls = svcprobe_tls_context(cfg->ca_file, err);
    if (!tls) return -1;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct buf why;
    buf_init(&why);
    struct resolver *r = resolver_new(loop, cfg->dns.server.host, cfg->dns.server.port, cfg->dns.timeout, &why);
    if (!r) {
        buf_printf(err, "%s: table DNS: %s", cfg->path, why.len ? why.data : "cannot set up the resolver");
        buf_free(&why);
        ev_loop_destroy(loop);
        SSL_CTX_free(tls);
        return -1;
    }
    buf_free(&why);
    for (size_t d = 0; d < n_domains; d++) {
        struct svccheck_dns dns;
        look_up_domain(r, domains[d], &dns);
        svccheck_judge_address(domains[d], &dns, srv, rep);
        for (size_t k = 0; k < SVCCHECK_N_SRV; k++) svccheck_judge_srv(domains[d], k, &dns, srv, rep);
        probe_services(domains[d], cfg, srv, tls, rep);
        svccheck_dns_free(&dns);
    }
    resolver_free(r);
    ev_loop_destroy(loop);
    SSL_CTX_free(tls);
    return 0;
}
