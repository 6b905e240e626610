#include "svcprobe.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "xmlstream.h"
#include "xnode.h"

#define NS_CLIENT "jabber:client"
#define NS_SERVER "jabber:server"
#define NS_DIALBACK "jabber:server:dialback"
#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define READ_CHUNK 16384
#define MAX_PROBE_BYTES (1024u * 1024)  /* all a server may send us in one probe */
#define MAX_NAMES 8                     /* certificate names listed */
#define MAX_NAME_BYTES 255

/* What the parser saw last. */
enum probe_event { EV_NONE, EV_HEADER, EV_STANZA, EV_CLOSE, EV_ERROR };

struct probe {
    int fd;
    SSL *ssl;               /* NULL before TLS */
    long long deadline;     /* CLOCK_MONOTONIC, ms */
    unsigned timeout_seconds;
    const char *stage;      /* what we wait for, for the failure text */
    xmlstream *xs;
    struct buf pending;     /* received, not parsed yet */
    size_t received;        /* in all, at most MAX_PROBE_BYTES */
    enum probe_event event;
    xnode *stanza;          /* EV_STANZA's element, owned */
    char *parse_error;      /* EV_ERROR's "condition: text" */
    struct buf failure;     /* the first failure, "stage: reason" */
};

static const struct xmlstream_limits probe_limits = {
    .max_stanza_bytes = 65536, .max_elements = 1000, .max_depth = 32, .max_attrs = 64,
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

__attribute__((format(printf, 2, 3)))
static int fail(struct probe *p, const char *fmt, ...)
{
    if (p->failure.len) return -1;
    buf_printf(&p->failure, "%s: ", p->stage);
    char *text = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&text, fmt, ap) < 0) text = NULL;
    va_end(ap);
    buf_puts(&p->failure, text ? text : fmt);
    free(text);
    return -1;
}

/* ---- the parser's events ---------------------------------------------------- */

static void on_open(void *ctx, const xnode *header)
{
    struct probe *p = ctx;
    p->event = EV_HEADER;
    xmlstream_pause(p->xs);
}

static void on_stanza(void *ctx, xnode *stanza)
{
    struct probe *p = ctx;
    xnode_free(p->stanza);
    p->stanza = stanza;
    p->event = EV_STANZA;
    xmlstream_pause(p->xs);
}

static void on_close(void *ctx)
{
    struct probe *p = ctx;
    p->event = EV_CLOSE;
}

static void on_error(void *ctx, const char *condition, const char *text)
{
    struct probe *p = ctx;
    free(p->parse_error);
    if (asprintf(&p->parse_error, "%s: %s", condition, text ? text : "") < 0) p->parse_error = NULL;
    p->event = EV_ERROR;
}

static const struct xmlstream_callbacks probe_callbacks = { on_open, on_stanza, on_close, on_error };

/* ---- bytes, plain or TLS -------------------------------------------------- */

/* Waits for `events` until the deadline: 0, or -1 with the failure. */
static int wait_io(struct probe *p, short events)
{
    for (;;) {
        long long left = p->deadline - now_ms();
        if (left <= 0) return fail(p, "no answer within %u s", p->timeout_seconds);
        struct pollfd pfd = { .fd = p->fd, .events = events };
        int n = poll(&pfd, 1, (int)left);
        if (n > 0) return 0;
        if (n < 0 && errno != EINTR) return fail(p, "poll: %s", strerror(errno));
    }
}

/* The reason of the last OpenSSL failure (static string). */
static const char *tls_reason(int ssl_error)
{
    unsigned long e = ERR_peek_last_error();
    if (e) return ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "unknown TLS error";
    if (ssl_error == SSL_ERROR_SYSCALL && errno) return strerror(errno);
    return "the server closed the connection";
}

/* For an I/O call that did not move bytes (it returned r): the poll events
 * to wait for (`plain_events` for a plain socket that would block), or 0
 * with the failure set. */
static short io_wait_events(struct probe *p, int r, short plain_events)
{
    if (p->ssl) {
        int e = SSL_get_error(p->ssl, r);
        if (e == SSL_ERROR_WANT_READ) return POLLIN;
        if (e == SSL_ERROR_WANT_WRITE) return POLLOUT;
        if (e == SSL_ERROR_ZERO_RETURN) fail(p, "the server closed the connection");
        else fail(p, "TLS: %s", tls_reason(e));
        return 0;
    }
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) return plain_events;
    if (r == 0) fail(p, "the server closed the connection");
    else fail(p, "%s", strerror(errno));
    return 0;
}

static int send_all(struct probe *p, const char *data, size_t len)
{
    for (size_t sent = 0; sent < len;) {
        ERR_clear_error();
        int r = p->ssl ? SSL_write(p->ssl, data + sent, (int)(len - sent))
                       : (int)send(p->fd, data + sent, len - sent, MSG_NOSIGNAL);
        if (r > 0) {
            sent += (size_t)r;
            continue;
        }
        short events = io_wait_events(p, r, POLLOUT);
        if (!events || wait_io(p, events) < 0) return -1;
    }
    return 0;
}

/* Appends what the server sends next to p->pending. 0, or -1 with the failure. */
static int read_some(struct probe *p)
{
    if (p->received >= MAX_PROBE_BYTES) return fail(p, "the server sent over %u bytes", MAX_PROBE_BYTES);
    char chunk[READ_CHUNK];
    for (;;) {
        ERR_clear_error();
        int r = p->ssl ? SSL_read(p->ssl, chunk, sizeof chunk) : (int)recv(p->fd, chunk, sizeof chunk, 0);
        if (r > 0) {
            buf_append(&p->pending, chunk, (size_t)r);
            p->received += (size_t)r;
            return 0;
        }
        short events = io_wait_events(p, r, POLLIN);
        if (!events || wait_io(p, events) < 0) return -1;
    }
}

/* ---- the stream ----------------------------------------------------------- */

/* Parses (reading as needed) up to the next stream event. */
static int next_event(struct probe *p)
{
    p->event = EV_NONE;
    for (;;) {
        if (p->pending.len) {
            size_t used = 0;
            enum xmlstream_status st = xmlstream_feed(p->xs, p->pending.data, p->pending.len, &used);
            buf_consume(&p->pending, st == XS_PAUSED ? used : p->pending.len);
            if (p->event != EV_NONE) return 0;
            if (st == XS_ERROR) return fail(p, "malformed XML");
        }
        if (read_some(p) < 0) return -1;
    }
}

/* A failure for an event other than the one the stage waits for. */
static int unexpected(struct probe *p)
{
    switch (p->event) {
    case EV_CLOSE: return fail(p, "the server closed the stream");
    case EV_ERROR: return fail(p, "malformed XML (%s)", p->parse_error ? p->parse_error : "");
    case EV_HEADER: return fail(p, "an unexpected stream header");
    case EV_STANZA:
        if (strcmp(p->stanza->name, "error") == 0 && strcmp(xnode_ns(p->stanza), XMLNS_STREAMS) == 0) {
            xnode *cond = xnode_child(p->stanza, NULL, NULL);
            return fail(p, "stream error <%s/>", cond ? cond->name : "?");
        }
        return fail(p, "unexpected <%s/>", p->stanza->name);
    case EV_NONE: break;
    }
    return fail(p, "no answer");
}

static bool stanza_is(const struct probe *p, const char *name, const char *ns)
{
    return p->event == EV_STANZA && strcmp(p->stanza->name, name) == 0 && strcmp(xnode_ns(p->stanza), ns) == 0;
}

static int send_header(struct probe *p, const char *domain, enum svcprobe_kind kind)
{
    bool server = kind == SVCPROBE_SERVER_STARTTLS;
    struct buf h;
    buf_init(&h);
    buf_printf(&h, "<?xml version='1.0'?><stream:stream xmlns='%s' xmlns:stream='%s'%s to='",
               server ? NS_SERVER : NS_CLIENT, XMLNS_STREAMS, server ? " xmlns:db='" NS_DIALBACK "'" : "");
    buf_append_xml_escaped(&h, domain, strlen(domain));
    buf_puts(&h, "' version='1.0'>");
    int rc = send_all(p, h.data, h.len);
    buf_free(&h);
    return rc;
}

/* Sends our header, then waits for the server's header and its features
 * (left in p->stanza). */
static int open_stream(struct probe *p, const char *domain, enum svcprobe_kind kind, bool over_tls)
{
    p->stage = over_tls ? "stream header over TLS" : "stream header";
    if (send_header(p, domain, kind) < 0 || next_event(p) < 0) return -1;
    if (p->event != EV_HEADER) return unexpected(p);
    p->stage = over_tls ? "stream features over TLS" : "stream features";
    if (next_event(p) < 0) return -1;
    return stanza_is(p, "features", XMLNS_STREAMS) ? 0 : unexpected(p);
}

/* RFC 6120 5.4.2: <starttls/> offered, asked for, <proceed/>. */
static int starttls(struct probe *p)
{
    p->stage = "STARTTLS";
    if (!xnode_child(p->stanza, "starttls", NS_TLS)) return fail(p, "no <starttls/> in the stream features");
    static const char request[] = "<starttls xmlns='" NS_TLS "'/>";
    if (send_all(p, request, sizeof request - 1) < 0 || next_event(p) < 0) return -1;
    if (stanza_is(p, "failure", NS_TLS)) return fail(p, "the server answered <failure/>");
    if (!stanza_is(p, "proceed", NS_TLS)) return unexpected(p);
    buf_reset(&p->pending);   /* nothing may come between <proceed/> and TLS (XML-5) */
    xmlstream_restart(p->xs);
    return 0;
}

static int tls_handshake(struct probe *p, SSL_CTX *ctx, const char *domain)
{
    p->stage = "TLS handshake";
    p->ssl = SSL_new(ctx);
    if (!p->ssl || SSL_set_fd(p->ssl, p->fd) != 1 || SSL_set_tlsext_host_name(p->ssl, domain) != 1)
        return fail(p, "%s", tls_reason(SSL_ERROR_SSL));
    for (;;) {
        ERR_clear_error();
        int r = SSL_connect(p->ssl);
        if (r == 1) return 0;
        short events = io_wait_events(p, r, POLLIN);
        if (!events || wait_io(p, events) < 0) return -1;
    }
}

static int connect_to(struct probe *p, const struct sockaddr_storage *addr, socklen_t addrlen)
{
    p->stage = "connect";
    p->fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd < 0) return fail(p, "socket: %s", strerror(errno));
    if (connect(p->fd, (const struct sockaddr *)addr, addrlen) == 0) return 0;
    if (errno != EINPROGRESS) return fail(p, "%s", strerror(errno));
    if (wait_io(p, POLLOUT) < 0) return -1;
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0) soerr = errno;
    return soerr ? fail(p, "%s", strerror(soerr)) : 0;
}

/* ---- the certificate ------------------------------------------------------ */

/* Peer-supplied text for a message: at most MAX_NAME_BYTES, controls as '?'. */
static void append_name(struct buf *out, const unsigned char *s, int len)
{
    if (out->len) buf_puts(out, ", ");
    for (int i = 0; i < len && i < MAX_NAME_BYTES; i++) {
        bool control = s[i] < 0x20 || s[i] == 0x7f;
        buf_append(out, control ? "?" : (const char *)&s[i], 1);
    }
}

/* The certificate's DNS names: subjectAltName, else its common name. */
static char *certificate_names(X509 *x)
{
    struct buf names;
    buf_init(&names);
    GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    int listed = 0;
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
        if (gn->type != GEN_DNS) continue;
        if (listed++ == MAX_NAMES) {
            buf_puts(&names, ", ...");
            break;
        }
        append_name(&names, ASN1_STRING_get0_data(gn->d.dNSName), ASN1_STRING_length(gn->d.dNSName));
    }
    GENERAL_NAMES_free(sans);
    const X509_NAME *subject = X509_get_subject_name(x);
    int cn = listed ? -1 : X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (cn >= 0) {
        const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, cn));
        append_name(&names, ASN1_STRING_get0_data(s), ASN1_STRING_length(s));
    }
    return names.len ? buf_steal(&names) : (buf_free(&names), xstrdup("(none)"));
}

static int read_certificate(struct probe *p, const char *domain, struct svcprobe_cert *cert)
{
    X509 *x = SSL_get1_peer_certificate(p->ssl);
    if (!x) return fail(p, "the server presented no certificate");
    struct tm tm;
    cert->not_after = ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1 ? (long long)timegm(&tm) : 0;
    cert->valid_for_domain = X509_check_host(x, domain, 0, 0, NULL) == 1;
    cert->names = certificate_names(x);
    cert->verify_code = SSL_get_verify_result(p->ssl);
    cert->verify_reason = xstrdup(X509_verify_cert_error_string(cert->verify_code));
    X509_free(x);
    return 0;
}

/* ---- the probe ------------------------------------------------------------- */

SSL_CTX *svcprobe_tls_context(const char *ca_file, struct buf *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx && SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1
        && (ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) : SSL_CTX_set_default_verify_paths(ctx)) == 1) {
        /* Not refused in the handshake: judged after it, to say why (ADM-6). */
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        return ctx;
    }
    unsigned long e = ERR_peek_last_error();
    buf_printf(err, "%s: cannot load the trusted CA certificates (%s)", ca_file ? ca_file : "the system's CA store",
               e && ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "unknown error");
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

static int probe_steps(struct probe *p, SSL_CTX *ctx, const struct sockaddr_storage *addr, socklen_t addrlen,
                       const char *domain, enum svcprobe_kind kind, struct svcprobe_result *out)
{
    if (connect_to(p, addr, addrlen) < 0) return -1;
    if (kind != SVCPROBE_CLIENT_DIRECT_TLS && (open_stream(p, domain, kind, false) < 0 || starttls(p) < 0))
        return -1;
    if (tls_handshake(p, ctx, domain) < 0 || read_certificate(p, domain, &out->cert) < 0) return -1;
    out->tls_version = xstrdup(SSL_get_version(p->ssl));
    if (open_stream(p, domain, kind, true) < 0) return -1;
    static const char close_tag[] = "</stream:stream>";
    send_all(p, close_tag, sizeof close_tag - 1);
    return 0;
}

void svcprobe_run(SSL_CTX *ctx, const struct sockaddr_storage *addr, socklen_t addrlen,
                  const char *domain, enum svcprobe_kind kind, unsigned timeout_seconds,
                  struct svcprobe_result *out)
{
    *out = (struct svcprobe_result){ 0 };
    struct probe p = { .fd = -1, .timeout_seconds = timeout_seconds,
                       .deadline = now_ms() + (long long)timeout_seconds * 1000 };
    buf_init(&p.pending);
    buf_init(&p.failure);
    p.xs = xmlstream_new(&probe_callbacks, &p, &probe_limits);
    if (probe_steps(&p, ctx, addr, addrlen, domain, kind, out) < 0) {
        char *failure = buf_steal(&p.failure);
        svcprobe_result_free(out);
        out->failure = failure;
    }
    if (p.ssl) {
        SSL_shutdown(p.ssl);
        SSL_free(p.ssl);
    }
    if (p.fd >= 0) close(p.fd);
    ERR_clear_error();
    xmlstream_free(p.xs);
    xnode_free(p.stanza);
    free(p.parse_error);
    buf_free(&p.pending);
    buf_free(&p.failure);
}

void svcprobe_result_free(struct svcprobe_result *r)
{
    free(r->failure);
    free(r->tls_version);
    free(r->cert.names);
    free(r->cert.verify_reason);
    *r = (struct svcprobe_result){ 0 };
}
