/* xclient: see xclient.h.
 *
 * One blocking connection: the socket is non-blocking and every wait is a
 * poll() bounded by a deadline, so a call never waits longer than its
 * timeout. The stream parser is paused after every event (header, element),
 * so bytes after an element that changes the transport (<proceed/>, SASL
 * <success/>) are never parsed as the old stream. */
#include "xclient.h"

#include <errno.h>
#include <gsasl.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "xmlstream.h"

#define NS_CLIENT "jabber:client"
#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"
#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"

#define EXPORTER_LABEL "EXPORTER-Channel-Binding"
#define EXPORTER_LEN 32
#define READ_CHUNK 16384
#define DEFAULT_TIMEOUT 10.0
#define CLOSE_WAIT 2.0
#define FALLBACK_MECHANISM "SCRAM-SHA-256"

/* A client: generous limits, the server is the one under test. */
static const struct xmlstream_limits client_limits = {
    .max_stanza_bytes = 10u * 1024 * 1024,
    .max_elements = 100000,
    .max_depth = 200,
    .max_attrs = 500,
};

/* What one read produced. */
enum read_kind { RD_NONE, RD_HEADER, RD_ELEMENT, RD_CLOSE, RD_EOF, RD_PARSE_ERROR, RD_TIMEOUT };

struct xclient {
    int fd;
    SSL_CTX *ssl_ctx;
    SSL *ssl;
    xmlstream *xs;
    struct buf inbuf;          /* received bytes not yet fed to the parser */
    enum read_kind event;      /* set by the parser callbacks */
    xnode *element;            /* RD_ELEMENT: owned until handed on */
    char parse_condition[64];  /* RD_PARSE_ERROR */
    bool peer_closed;          /* </stream:stream> or EOF seen */
    bool tls_broken;           /* a fatal TLS error: no SSL_shutdown */
    double timeout;
    char *domain, *node, *resource, *sni;
    char *full_jid;
    xnode *features;
    unsigned iq_counter;
};

/* ---- small helpers ---------------------------------------------------- */

static void set_fail(struct xclient_failure *f, enum xclient_failure_kind kind,
                     const char *condition, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_fail(struct xclient_failure *f, enum xclient_failure_kind kind,
                     const char *condition, const char *fmt, ...)
{
    f->kind = kind;
    snprintf(f->condition, sizeof f->condition, "%s", condition);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->text, sizeof f->text, fmt, ap);
    va_end(ap);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double deadline_in(double seconds)
{
    return now_seconds() + (seconds > 0 ? seconds : 0);
}

/* Waits for `events` on fd until the deadline: 1 ready, 0 timeout, -1 error. */
static int wait_fd(int fd, short events, double deadline)
{
    for (;;) {
        double left = deadline - now_seconds();
        if (left <= 0)
            return 0;
        struct pollfd p = { .fd = fd, .events = events };
        int r = poll(&p, 1, (int)ceil(left * 1000.0));
        if (r > 0)
            return 1;
        if (r == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

static bool is_element(const xnode *n, const char *name, const char *ns)
{
    return n && n->kind == XNODE_ELEMENT && strcmp(n->name, name) == 0
           && strcmp(xnode_ns(n) ? xnode_ns(n) : "", ns) == 0;
}

/* SIGPIPE: OpenSSL writes with write(2), so a peer that went away could kill
 * the process. Public calls block it and swallow one raised meanwhile. */
struct sigpipe_guard { sigset_t old; bool was_pending; };

static void sigpipe_block(struct sigpipe_guard *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigpending(&pending);
    g->was_pending = sigismember(&pending, SIGPIPE);
    sigprocmask(SIG_BLOCK, &set, &g->old);
}

static void sigpipe_restore(struct sigpipe_guard *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigpending(&pending);
    if (!g->was_pending && sigismember(&pending, SIGPIPE)) {
        struct timespec zero = { 0, 0 };
        sigtimedwait(&set, NULL, &zero);
    }
    sigprocmask(SIG_SETMASK, &g->old, NULL);
}

/* ---- pure helpers (xclient.h) ---------------------------------------- */

static bool offers_mechanism(const xnode *mechanisms, const char *name)
{
    for (const xnode *m = xnode_next_child(mechanisms, NULL, "mechanism", NS_SASL); m;
         m = xnode_next_child(mechanisms, m, "mechanism", NS_SASL)) {
        char *text = xnode_text_dup(m);
        bool same = strcmp(text, name) == 0;
        free(text);
        if (same)
            return true;
    }
    return false;
}

const char *xclient_choose_mechanism(const xnode *features, const char *wanted,
                                     bool plus_allowed)
{
    static const char *const strongest_first[] = {
        "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN",
    };
    if (wanted)
        return wanted;
    const xnode *mechanisms = features ? xnode_child(features, "mechanisms", NS_SASL) : NULL;
    if (!mechanisms)
        return NULL;
    for (size_t i = 0; i < sizeof strongest_first / sizeof strongest_first[0]; i++) {
        const char *name = strongest_first[i];
        bool plus = strstr(name, "-PLUS") != NULL;
        if ((!plus || plus_allowed) && offers_mechanism(mechanisms, name))
            return name;
    }
    return NULL;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

const char *xclient_binding_type(const char *mechanism, const char *channel_binding,
                                 bool tls13)
{
    if (!mechanism || !ends_with(mechanism, "-PLUS"))
        return NULL;
    if (channel_binding && strcmp(channel_binding, "none") != 0)
        return channel_binding;
    return tls13 ? "tls-exporter" : "tls-unique";
}

const char *xclient_error_condition(const xnode *n)
{
    const xnode *error = xnode_child(n, "error", NULL);
    /* A stanza (iq, message, presence) carries its condition in <error/>;
       a <stream:error/> or <failure/> holds it directly. */
    if (error && !is_element(n, "error", XMLNS_STREAMS))
        n = error;
    for (const xnode *c = n->children; c; c = c->next)
        if (c->kind == XNODE_ELEMENT && strcmp(c->name, "text") != 0)
            return c->name;
    return "undefined-condition";
}

bool xclient_session_required(const xnode *features)
{
    const xnode *session = features ? xnode_child(features, "session", NS_SESSION) : NULL;
    return session && !xnode_child(session, "optional", NS_SESSION);
}

/* [node@]domain[/resource]: the '@' counts only before the first '/'. */
static void jid_split(const char *jid, const char **node_end, const char **domain,
                      const char **domain_end)
{
    const char *slash = strchr(jid, '/');
    const char *end = slash ? slash : jid + strlen(jid);
    const char *at = memchr(jid, '@', (size_t)(end - jid));
    *node_end = at;
    *domain = at ? at + 1 : jid;
    *domain_end = end;
}

static char *dup_nonempty(const char *start, const char *end)
{
    return end > start ? xstrndup(start, (size_t)(end - start)) : NULL;
}

char *xclient_jid_node(const char *jid)
{
    const char *node_end, *domain, *domain_end;
    jid_split(jid, &node_end, &domain, &domain_end);
    return node_end ? dup_nonempty(jid, node_end) : NULL;
}

char *xclient_jid_domain(const char *jid)
{
    const char *node_end, *domain, *domain_end;
    jid_split(jid, &node_end, &domain, &domain_end);
    return dup_nonempty(domain, domain_end);
}

char *xclient_jid_resource(const char *jid)
{
    const char *slash = strchr(jid, '/');
    return slash ? dup_nonempty(slash + 1, slash + strlen(slash)) : NULL;
}

/* ---- parser callbacks -------------------------------------------------- */

static void on_open(void *ctx, const xnode *header)
{
    struct xclient *c = ctx;
    (void)header;
    c->event = RD_HEADER;
    xmlstream_pause(c->xs);
}

static void on_stanza(void *ctx, xnode *stanza)
{
    struct xclient *c = ctx;
    c->event = RD_ELEMENT;
    c->element = stanza;
    xmlstream_pause(c->xs);
}

static void on_close(void *ctx)
{
    struct xclient *c = ctx;
    c->event = RD_CLOSE;
}

static void on_error(void *ctx, const char *condition, const char *text)
{
    struct xclient *c = ctx;
    (void)text;
    c->event = RD_PARSE_ERROR;
    snprintf(c->parse_condition, sizeof c->parse_condition, "%s", condition);
}

static const struct xmlstream_callbacks parser_callbacks = {
    .open = on_open, .stanza = on_stanza, .close = on_close, .error = on_error,
};

/* ---- transport ----------------------------------------------------------- */

/* Appends received bytes to inbuf: 1 data, 0 EOF (or a dead connection),
   -1 timeout. */
static int transport_read(struct xclient *c, double deadline)
{
    char chunk[READ_CHUNK];
    for (;;) {
        short want = POLLIN;
        if (c->ssl) {
            ERR_clear_error();
            int r = SSL_read(c->ssl, chunk, sizeof chunk);
            if (r > 0) {
                buf_append(&c->inbuf, chunk, (size_t)r);
                return 1;
            }
            int err = SSL_get_error(c->ssl, r);
            if (err == SSL_ERROR_WANT_WRITE)
                want = POLLOUT;
            else if (err != SSL_ERROR_WANT_READ) {
                c->tls_broken = err != SSL_ERROR_ZERO_RETURN;
                return 0;
            }
        } else {
            ssize_t r = recv(c->fd, chunk, sizeof chunk, 0);
            if (r > 0) {
                buf_append(&c->inbuf, chunk, (size_t)r);
                return 1;
            }
            if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
                return 0;
        }
        int w = wait_fd(c->fd, want, deadline);
        if (w == 0)
            return -1;
        if (w < 0)
            return 0;
    }
}

/* Writes everything before the deadline: 0, or -1. */
static int transport_write(struct xclient *c, const void *data, size_t len, double deadline)
{
    const char *p = data;
    while (len > 0) {
        short want = POLLOUT;
        if (c->ssl) {
            ERR_clear_error();
            int chunk = len > INT_MAX ? INT_MAX : (int)len;
            int r = SSL_write(c->ssl, p, chunk);
            if (r > 0) {
                p += r;
                len -= (size_t)r;
                continue;
            }
            int err = SSL_get_error(c->ssl, r);
            if (err == SSL_ERROR_WANT_READ)
                want = POLLIN;
            else if (err != SSL_ERROR_WANT_WRITE) {
                c->tls_broken = true;
                return -1;
            }
        } else {
            ssize_t r = send(c->fd, p, len, MSG_NOSIGNAL);
            if (r > 0) {
                p += r;
                len -= (size_t)r;
                continue;
            }
            if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                return -1;
        }
        if (wait_fd(c->fd, want, deadline) <= 0)
            return -1;
    }
    return 0;
}

static int send_text(struct xclient *c, const char *text)
{
    return transport_write(c, text, strlen(text), deadline_in(c->timeout));
}

/* The next parser event (header, element, close, parse error), reading as
   needed until the deadline; RD_EOF when the connection ends. */
static enum read_kind read_event(struct xclient *c, double deadline)
{
    for (;;) {
        if (c->inbuf.len > 0) {
            size_t used = 0;
            c->event = RD_NONE;
            enum xmlstream_status st = xmlstream_feed(c->xs, c->inbuf.data, c->inbuf.len, &used);
            if (st == XS_PAUSED) {
                buf_consume(&c->inbuf, used);
                return c->event;
            }
            buf_reset(&c->inbuf);
            if (st == XS_ERROR) {
                c->peer_closed = true;
                return RD_PARSE_ERROR;
            }
            if (c->event == RD_CLOSE) {
                c->peer_closed = true;
                return RD_CLOSE;
            }
        }
        if (c->peer_closed)
            return RD_EOF;
        int r = transport_read(c, deadline);
        if (r < 0)
            return RD_TIMEOUT;
        if (r == 0) {
            c->peer_closed = true;
            return RD_EOF;
        }
    }
}

/* getaddrinfo for a numeric address ("127.0.0.1", "::1" or "[::1]"),
   never resolved; the getaddrinfo status. */
static int numeric_addrinfo(const char *host, const char *service, struct addrinfo **ai)
{
    size_t hlen = strlen(host);
    char *bare = (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']')
                     ? xstrndup(host + 1, hlen - 2) : xstrdup(host);
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
    int gai = getaddrinfo(bare, service, &hints, ai);
    free(bare);
    return gai;
}

/* Binds c->fd to the numeric local address `source` (any port) of the
   server address's family; -1 with *fail filled. */
static int bind_source(struct xclient *c, const char *source, int family,
                       struct xclient_failure *fail)
{
    struct addrinfo *ai = NULL;
    if (numeric_addrinfo(source, "0", &ai) != 0) {
        set_fail(fail, XFAIL_PROTOCOL, "protocol-error", "source %s: not a numeric address", source);
        return -1;
    }
    if (ai->ai_family != family) {
        freeaddrinfo(ai);
        set_fail(fail, XFAIL_PROTOCOL, "protocol-error",
                 "source %s is not of the server address's family", source);
        return -1;
    }
    int rc = bind(c->fd, ai->ai_addr, ai->ai_addrlen);
    int err = errno;
    freeaddrinfo(ai);
    if (rc < 0) {
        /* not "refused": a scenario expecting the server to refuse must not pass */
        set_fail(fail, XFAIL_PROTOCOL, "protocol-error", "bind to source %s: %s", source,
                 strerror(err));
        return -1;
    }
    return 0;
}

static int tcp_connect(struct xclient *c, const struct xclient_opts *o, double deadline,
                       struct xclient_failure *fail)
{
    const char *host = o->host;
    unsigned short port = o->port;
    char service[8];
    snprintf(service, sizeof service, "%u", (unsigned)port);
    struct addrinfo *ai = NULL;
    if (numeric_addrinfo(host, service, &ai) != 0) {
        set_fail(fail, XFAIL_PROTOCOL, "protocol-error", "%s: not a numeric address", host);
        return -1;
    }
    c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd >= 0 && o->source && bind_source(c, o->source, ai->ai_family, fail) < 0) {
        freeaddrinfo(ai);
        return -1;
    }
    int rc = c->fd < 0 ? -1 : connect(c->fd, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    if (rc < 0 && c->fd >= 0 && errno == EINPROGRESS) {
        int w = wait_fd(c->fd, POLLOUT, deadline);
        if (w == 0) {
            set_fail(fail, XFAIL_TIMEOUT, "timeout", "TCP connect to %s:%u timed out", host,
                     (unsigned)port);
            return -1;
        }
        int so_error = 0;
        socklen_t slen = sizeof so_error;
        if (w < 0 || getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &so_error, &slen) < 0)
            so_error = errno;
        errno = so_error;
        rc = so_error ? -1 : 0;
    }
    if (rc < 0) {
        set_fail(fail, XFAIL_CONNECT, "refused", "TCP connect to %s:%u: %s", host,
                 (unsigned)port, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- TLS --------------------------------------------------------------- */

static void openssl_error_text(char *out, size_t n)
{
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, out, n);
    else
        snprintf(out, n, "connection closed during the handshake");
}

/* True once the peer has sent at least one byte (peeked, not consumed);
   false if it closed or reset first. */
static bool peer_sent_something(int fd)
{
    char byte;
    ssize_t r = recv(fd, &byte, 1, MSG_PEEK);
    return r > 0 || (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR));
}

static int tls_setup(struct xclient *c, const struct xclient_opts *o,
                     struct xclient_failure *fail)
{
    c->ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (!c->ssl_ctx) {
        set_fail(fail, XFAIL_TLS, "tls-failure", "SSL_CTX_new failed");
        return -1;
    }
    SSL_CTX_set_min_proto_version(c->ssl_ctx, TLS1_2_VERSION);
    if (o->channel_binding && strcmp(o->channel_binding, "tls-unique") == 0)
        SSL_CTX_set_max_proto_version(c->ssl_ctx, TLS1_2_VERSION);
    if (o->ca_file && *o->ca_file) {
        if (SSL_CTX_load_verify_locations(c->ssl_ctx, o->ca_file, NULL) != 1) {
            set_fail(fail, XFAIL_TLS, "tls-failure", "%s: cannot load CA file", o->ca_file);
            return -1;
        }
        SSL_CTX_set_verify(c->ssl_ctx, SSL_VERIFY_PEER, NULL);
    }
    c->ssl = SSL_new(c->ssl_ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
        set_fail(fail, XFAIL_TLS, "tls-failure", "SSL_new failed");
        return -1;
    }
    if (*c->sni)
        SSL_set_tlsext_host_name(c->ssl, c->sni);
    if (o->ca_file && *o->ca_file)
        SSL_set1_host(c->ssl, c->domain);
    return 0;
}

/* Runs the client handshake. `direct`: nothing came from the server yet, so
   a close before its first byte is "refused" rather than "tls-failure". */
static int tls_handshake(struct xclient *c, const struct xclient_opts *o, bool direct,
                         struct xclient_failure *fail)
{
    if (tls_setup(c, o, fail) < 0)
        return -1;
    double deadline = deadline_in(c->timeout);
    bool got_bytes = !direct;
    for (;;) {
        ERR_clear_error();
        int r = SSL_connect(c->ssl);
        if (r == 1)
            return 0;
        int err = SSL_get_error(c->ssl, r);
        short want;
        if (err == SSL_ERROR_WANT_READ)
            want = POLLIN;
        else if (err == SSL_ERROR_WANT_WRITE)
            want = POLLOUT;
        else
            break;
        int w = wait_fd(c->fd, want, deadline);
        if (w == 0) {
            set_fail(fail, XFAIL_TIMEOUT, "timeout", "TLS handshake timed out");
            return -1;
        }
        if (want == POLLIN && !got_bytes) {
            if (!peer_sent_something(c->fd)) {
                set_fail(fail, XFAIL_CONNECT, "refused",
                         "server closed the connection before the TLS handshake");
                return -1;
            }
            got_bytes = true;
        }
    }
    long verify = SSL_get_verify_result(c->ssl);
    char detail[200];
    openssl_error_text(detail, sizeof detail);
    if (verify != X509_V_OK)
        set_fail(fail, XFAIL_TLS, "tls-failure", "TLS handshake: certificate: %s",
                 X509_verify_cert_error_string(verify));
    else
        set_fail(fail, XFAIL_TLS, "tls-failure", "TLS handshake: %s", detail);
    return -1;
}

/* Channel-binding data for `type` as base64 (malloc'd by gsasl), or NULL. */
static char *channel_binding_b64(SSL *ssl, const char *type)
{
    unsigned char data[128];
    size_t len = 0;
    if (strcmp(type, "tls-exporter") == 0) {
        if (SSL_export_keying_material(ssl, data, EXPORTER_LEN, EXPORTER_LABEL,
                                       sizeof EXPORTER_LABEL - 1, NULL, 0, 0) == 1)
            len = EXPORTER_LEN;
    } else if (strcmp(type, "tls-unique") == 0) {
        /* RFC 5929: the first Finished of the latest handshake: ours on a
           full handshake, the server's on a resumption. */
        len = SSL_session_reused(ssl) ? SSL_get_peer_finished(ssl, data, sizeof data)
                                      : SSL_get_finished(ssl, data, sizeof data);
        if (len > sizeof data)
            len = 0;
    }
    char *b64 = NULL;
    if (len == 0 || gsasl_base64_to((const char *)data, len, &b64, NULL) != GSASL_OK)
        return NULL;
    return b64;
}

/* ---- stream negotiation -------------------------------------------------- */

static int send_header(struct xclient *c)
{
    struct buf h;
    buf_init(&h);
    buf_puts(&h, "<?xml version='1.0'?><stream:stream xmlns='" NS_CLIENT
                 "' xmlns:stream='" XMLNS_STREAMS "' version='1.0' xml:lang='en' to='");
    buf_append_xml_escaped(&h, c->domain, strlen(c->domain));
    buf_puts(&h, "'");
    if (c->ssl && c->node) {
        buf_puts(&h, " from='");
        buf_append_xml_escaped(&h, c->node, strlen(c->node));
        buf_puts(&h, "@");
        buf_append_xml_escaped(&h, c->domain, strlen(c->domain));
        buf_puts(&h, "'");
    }
    buf_puts(&h, ">");
    int rc = transport_write(c, h.data, h.len, deadline_in(c->timeout));
    buf_free(&h);
    return rc;
}

/* Reads the next element during negotiation (caller frees). A stream
   error, a close, a parse error or a timeout fills *fail and returns NULL. */
static xnode *read_element(struct xclient *c, const char *waiting_for,
                           struct xclient_failure *fail)
{
    enum read_kind k = read_event(c, deadline_in(c->timeout));
    switch (k) {
    case RD_ELEMENT: {
        xnode *e = c->element;
        c->element = NULL;
        if (!is_element(e, "error", XMLNS_STREAMS))
            return e;
        char *text = xnode_child_text(e, "text", "urn:ietf:params:xml:ns:xmpp-streams");
        set_fail(fail, XFAIL_STREAM_ERROR, xclient_error_condition(e),
                 "stream error while waiting for %s%s%s", waiting_for, text ? ": " : "",
                 text ? text : "");
        free(text);
        xnode_free(e);
        return NULL;
    }
    case RD_TIMEOUT:
        set_fail(fail, XFAIL_TIMEOUT, "timeout", "timed out waiting for %s", waiting_for);
        return NULL;
    case RD_PARSE_ERROR:
        set_fail(fail, XFAIL_PROTOCOL, "protocol-error", "bad XML from the server (%s) while waiting for %s",
                 c->parse_condition, waiting_for);
        return NULL;
    case RD_HEADER:
        set_fail(fail, XFAIL_PROTOCOL, "protocol-error", "unexpected second stream header while waiting for %s",
                 waiting_for);
        return NULL;
    default:
        set_fail(fail, XFAIL_CLOSED, "closed", "server closed the stream while waiting for %s",
                 waiting_for);
        return NULL;
    }
}

/* Opens a (new) stream: header out, header and <stream:features> in. */
static int open_stream(struct xclient *c, struct xclient_failure *fail)
{
    xmlstream_restart(c->xs);
    buf_reset(&c->inbuf);
    if (send_header(c) < 0) {
        set_fail(fail, XFAIL_CONNECT, "refused", "cannot send the stream header");
        return -1;
    }
    enum read_kind k = read_event(c, deadline_in(c->timeout));
    if (k == RD_TIMEOUT) {
        set_fail(fail, XFAIL_TIMEOUT, "timeout", "timed out waiting for the stream header");
        return -1;
    }
    if (k == RD_PARSE_ERROR) {
        set_fail(fail, XFAIL_PROTOCOL, "protocol-error", "bad stream header from the server (%s)",
                 c->parse_condition);
        return -1;
    }
    if (k != RD_HEADER) {
        set_fail(fail, XFAIL_CONNECT, "refused", "server closed the connection before its stream header");
        return -1;
    }
    xnode *features = read_element(c, "<stream:features/>", fail);
    if (!features)
        return -1;
    if (!is_element(features, "features", XMLNS_STREAMS)) {
        set_fail(fail, XFAIL_PROTOCOL, "protocol-error", "expected <stream:features/>, got <%s/>",
                 features->name);
        xnode_free(features);
        return -1;
    }
    xnode_free(c->features);
    c->features = features;
    return 0;
}

static int starttls(struct xclient *c, const struct xclient_opts *o, struct xclient_failure *fail)
{
    if (!xnode_child(c->features, "starttls", NS_TLS)) {
        set_fail(fail, XFAIL_TLS, "tls-failure", "the server does not offer STARTTLS");
        return -1;
    }
    if (send_text(c, "<starttls xmlns='" NS_TLS "'/>") < 0) {
        set_fail(fail, XFAIL_CLOSED, "closed", "cannot send <starttls/>");
        return -1;
    }
    xnode *answer = read_element(c, "<proceed/>", fail);
    if (!answer)
        return -1;
    bool proceed = is_element(answer, "proceed", NS_TLS);
    if (!proceed)
        set_fail(fail, XFAIL_TLS, "tls-failure", "the server answered <starttls/> with <%s/>",
                 answer->name);
    xnode_free(answer);
    if (!proceed)
        return -1;
    /* Nothing the server sent after <proceed/> belongs to the TLS stream. */
    buf_reset(&c->inbuf);
    if (tls_handshake(c, o, false, fail) < 0)
        return -1;
    return open_stream(c, fail);
}

/* ---- SASL ---------------------------------------------------------------- */

static int sasl_set_binding(struct xclient *c, Gsasl_session *session, const char *mechanism,
                            const char *channel_binding, struct xclient_failure *fail)
{
    bool tls13 = c->ssl && SSL_version(c->ssl) >= TLS1_3_VERSION;
    const char *type = xclient_binding_type(mechanism, channel_binding, tls13);
    if (!type)
        return 0; /* non-PLUS: no binding data, so gs2 flag "n" */
    char *b64 = c->ssl ? channel_binding_b64(c->ssl, type) : NULL;
    if (!b64) {
        set_fail(fail, XFAIL_PROTOCOL, "protocol-error", "no %s channel-binding data%s", type,
                 c->ssl ? " from this TLS session" : " without TLS");
        return -1;
    }
    bool exporter = strcmp(type, "tls-exporter") == 0; /* else tls-unique */
    gsasl_property_set(session, exporter ? GSASL_CB_TLS_EXPORTER : GSASL_CB_TLS_UNIQUE, b64);
    gsasl_free(b64);
    return 0;
}

static int send_sasl(struct xclient *c, const char *head, const char *b64, const char *tail)
{
    struct buf out;
    buf_init(&out);
    buf_puts(&out, head);
    buf_puts(&out, *b64 ? b64 : "=");
    buf_puts(&out, tail);
    int rc = transport_write(c, out.data, out.len, deadline_in(c->timeout));
    buf_free(&out);
    return rc;
}

/* Feeds a server message (base64 text of challenge/success) to gsasl. */
static int sasl_step(Gsasl_session *session, const xnode *e, char **out, int *rc)
{
    char *in = xnode_text_dup(e);
    const char *input = strcmp(in, "=") == 0 ? "" : in;
    *out = NULL;
    *rc = gsasl_step64(session, input, out);
    free(in);
    return *rc == GSASL_OK || *rc == GSASL_NEEDS_MORE ? 0 : -1;
}

/* The exchange after <auth/> was sent; 0 on a verified <success/>. */
static int sasl_exchange(struct xclient *c, Gsasl_session *session, bool done,
                         struct xclient_failure *fail)
{
    for (;;) {
        xnode *e = read_element(c, "a SASL answer", fail);
        if (!e)
            return -1;
        char *out = NULL;
        int rc = GSASL_OK;
        if (is_element(e, "challenge", NS_SASL)) {
            if (sasl_step(session, e, &out, &rc) < 0) {
                set_fail(fail, XFAIL_PROTOCOL, "protocol-error", "SASL challenge rejected: %s",
                         gsasl_strerror(rc));
            } else if (send_sasl(c, "<response xmlns='" NS_SASL "'>", out, "</response>") < 0) {
                set_fail(fail, XFAIL_CLOSED, "closed", "cannot send a SASL response");
                rc = GSASL_AUTHENTICATION_ERROR;
            }
            done = rc == GSASL_OK;
        } else if (is_element(e, "success", NS_SASL)) {
            char *text = xnode_text_dup(e);
            bool has_data = *text != '\0';
            free(text);
            if (has_data && sasl_step(session, e, &out, &rc) == 0 && rc == GSASL_OK)
                done = true;
            if (!done)
                set_fail(fail, XFAIL_PROTOCOL, "protocol-error",
                         "SASL <success/> without a valid server proof (%s)", gsasl_strerror(rc));
            gsasl_free(out);
            xnode_free(e);
            return done ? 0 : -1;
        } else if (is_element(e, "failure", NS_SASL)) {
            char *text = xnode_child_text(e, "text", NS_SASL);
            set_fail(fail, XFAIL_SASL, xclient_error_condition(e), "SASL failure%s%s",
                     text ? ": " : "", text ? text : "");
            free(text);
            rc = GSASL_AUTHENTICATION_ERROR;
        } else {
            set_fail(fail, XFAIL_PROTOCOL, "protocol-error", "unexpected <%s/> during SASL", e->name);
            rc = GSASL_AUTHENTICATION_ERROR;
        }
        gsasl_free(out);
        xnode_free(e);
        if (rc != GSASL_OK && rc != GSASL_NEEDS_MORE)
            return -1;
    }
}

/* A mechanism GNU SASL does not implement: <auth/> without data, so that a
   scenario can see the server refuse it; anything but a failure is ours. */
static int auth_unknown_mechanism(struct xclient *c, const char *mechanism,
                                  struct xclient_failure *fail)
{
    struct buf out;
    buf_init(&out);
    buf_puts(&out, "<auth xmlns='" NS_SASL "' mechanism='");
    buf_append_xml_escaped(&out, mechanism, strlen(mechanism));
    buf_puts(&out, "'/>");
    int rc = transport_write(c, out.data, out.len, deadline_in(c->timeout));
    buf_free(&out);
    if (rc < 0) {
        set_fail(fail, XFAIL_CLOSED, "closed", "cannot send <auth/>");
        return -1;
    }
    xnode *e = read_element(c, "a SASL answer", fail);
    if (!e)
        return -1;
    if (is_element(e, "failure", NS_SASL))
        set_fail(fail, XFAIL_SASL, xclient_error_condition(e), "SASL failure for %s", mechanism);
    else
        set_fail(fail, XFAIL_PROTOCOL, "protocol-error",
                 "GNU SASL cannot run %s, and the server answered <%s/>", mechanism, e->name);
    xnode_free(e);
    return -1;
}

static int authenticate(struct xclient *c, const struct xclient_opts *o,
                        struct xclient_failure *fail)
{
    bool plus_allowed = c->ssl && o->channel_binding && strcmp(o->channel_binding, "none") != 0;
    const char *mechanism = xclient_choose_mechanism(c->features, o->mechanism, plus_allowed);
    if (!mechanism)
        mechanism = FALLBACK_MECHANISM;
    Gsasl *ctx = NULL;
    Gsasl_session *session = NULL;
    int result = -1;
    if (gsasl_init(&ctx) != GSASL_OK) {
        set_fail(fail, XFAIL_PROTOCOL, "protocol-error", "gsasl_init failed");
        return -1;
    }
    int rc = gsasl_client_start(ctx, mechanism, &session);
    if (rc != GSASL_OK) {
        result = auth_unknown_mechanism(c, mechanism, fail);
        goto out;
    }
    gsasl_property_set(session, GSASL_AUTHID, c->node);
    gsasl_property_set(session, GSASL_PASSWORD, o->password ? o->password : "");
    if (sasl_set_binding(c, session, mechanism, o->channel_binding, fail) < 0)
        goto out;
    char *initial = NULL;
    rc = gsasl_step64(session, NULL, &initial);
    if (rc != GSASL_OK && rc != GSASL_NEEDS_MORE) {
        set_fail(fail, XFAIL_PROTOCOL, "protocol-error", "%s initial response: %s", mechanism,
                 gsasl_strerror(rc));
        goto out;
    }
    struct buf head;
    buf_init(&head);
    buf_puts(&head, "<auth xmlns='" NS_SASL "' mechanism='");
    buf_append_xml_escaped(&head, mechanism, strlen(mechanism));
    buf_puts(&head, "'>");
    int sent = send_sasl(c, head.data, initial ? initial : "", "</auth>");
    buf_free(&head);
    gsasl_free(initial);
    if (sent < 0) {
        set_fail(fail, XFAIL_CLOSED, "closed", "cannot send <auth/>");
        goto out;
    }
    result = sasl_exchange(c, session, rc == GSASL_OK, fail);
out:
    if (session)
        gsasl_finish(session);
    gsasl_done(ctx);
    return result;
}

/* ---- bind and session ---------------------------------------------------- */

/* Sends an iq set with `payload` and waits for its answer; the result iq
   (caller frees) or NULL with *fail filled. */
static xnode *iq_set(struct xclient *c, const char *payload, const char *what,
                     struct xclient_failure *fail)
{
    char id[32];
    snprintf(id, sizeof id, "xclient%u", ++c->iq_counter);
    struct buf out;
    buf_init(&out);
    buf_printf(&out, "<iq type='set' id='%s'>%s</iq>", id, payload);
    int rc = transport_write(c, out.data, out.len, deadline_in(c->timeout));
    buf_free(&out);
    if (rc < 0) {
        set_fail(fail, XFAIL_CLOSED, "closed", "cannot send the %s iq", what);
        return NULL;
    }
    for (;;) {
        xnode *e = read_element(c, what, fail);
        if (!e)
            return NULL;
        const char *eid = xnode_attr(e, "id");
        const char *type = xnode_attr(e, "type");
        if (is_element(e, "iq", NS_CLIENT) && eid && strcmp(eid, id) == 0) {
            if (type && strcmp(type, "result") == 0)
                return e;
            set_fail(fail, XFAIL_BIND, xclient_error_condition(e), "%s failed (iq type %s)", what,
                     type ? type : "missing");
            xnode_free(e);
            return NULL;
        }
        xnode_free(e); /* nothing else is routed to an unbound resource */
    }
}

static int bind_resource(struct xclient *c, struct xclient_failure *fail)
{
    if (!xnode_child(c->features, "bind", NS_BIND)) {
        set_fail(fail, XFAIL_BIND, "protocol-error", "the server does not offer resource binding");
        return -1;
    }
    struct buf payload;
    buf_init(&payload);
    buf_puts(&payload, "<bind xmlns='" NS_BIND "'>");
    if (c->resource) {
        buf_puts(&payload, "<resource>");
        buf_append_xml_escaped(&payload, c->resource, strlen(c->resource));
        buf_puts(&payload, "</resource>");
    }
    buf_puts(&payload, "</bind>");
    xnode *result = iq_set(c, payload.data, "resource binding", fail);
    buf_free(&payload);
    if (!result)
        return -1;
    xnode *bind = xnode_child(result, "bind", NS_BIND);
    char *jid = bind ? xnode_child_text(bind, "jid", NS_BIND) : NULL;
    xnode_free(result);
    if (!jid || !strchr(jid, '/')) {
        set_fail(fail, XFAIL_BIND, "protocol-error", "bind result without a full JID");
        free(jid);
        return -1;
    }
    c->full_jid = jid;
    if (!xclient_session_required(c->features))
        return 0;
    result = iq_set(c, "<session xmlns='" NS_SESSION "'/>", "session establishment", fail);
    xnode_free(result);
    return result ? 0 : -1;
}

/* ---- public API ---------------------------------------------------------- */

static struct xclient *client_new(const struct xclient_opts *o, struct xclient_failure *fail)
{
    char *domain = o->jid ? xclient_jid_domain(o->jid) : NULL;
    char *node = o->jid ? xclient_jid_node(o->jid) : NULL;
    bool login = o->login && o->stop != XCLIENT_STOP_BEFORE_STREAM;
    if (!domain || !o->host || (login && !node)) {
        set_fail(fail, XFAIL_PROTOCOL, "protocol-error", "bad options: %s",
                 !domain ? "jid without a domain" : !o->host ? "no host" : "jid without a node");
        free(domain);
        free(node);
        return NULL;
    }
    struct xclient *c = xcalloc(1, sizeof *c);
    c->fd = -1;
    c->domain = domain;
    c->node = node;
    c->resource = o->resource ? xstrdup(o->resource) : xclient_jid_resource(o->jid);
    c->sni = xstrdup(o->sni ? o->sni : domain);
    c->timeout = o->timeout > 0 ? o->timeout : DEFAULT_TIMEOUT;
    buf_init(&c->inbuf);
    c->xs = xmlstream_new(&parser_callbacks, c, &client_limits);
    return c;
}

static void client_free(struct xclient *c)
{
    if (!c)
        return;
    if (c->ssl)
        SSL_free(c->ssl);
    if (c->ssl_ctx)
        SSL_CTX_free(c->ssl_ctx);
    if (c->fd >= 0)
        close(c->fd);
    xmlstream_free(c->xs);
    xnode_free(c->element);
    xnode_free(c->features);
    buf_free(&c->inbuf);
    free(c->domain);
    free(c->node);
    free(c->resource);
    free(c->sni);
    free(c->full_jid);
    free(c);
}

static int negotiate(struct xclient *c, const struct xclient_opts *o, struct xclient_failure *fail)
{
    if (tcp_connect(c, o, deadline_in(c->timeout), fail) < 0)
        return -1;
    if (o->tls == XCLIENT_DIRECT_TLS && tls_handshake(c, o, true, fail) < 0)
        return -1;
    if (o->stop == XCLIENT_STOP_BEFORE_STREAM)
        return 0;
    if (open_stream(c, fail) < 0)
        return -1;
    if (!o->login)
        return 0;
    if (o->tls == XCLIENT_STARTTLS && starttls(c, o, fail) < 0)
        return -1;
    if (authenticate(c, o, fail) < 0 || open_stream(c, fail) < 0)
        return -1;
    if (o->stop == XCLIENT_STOP_BEFORE_BIND)
        return 0;
    return bind_resource(c, fail);
}

struct xclient *xclient_connect(const struct xclient_opts *o, struct xclient_failure *fail)
{
    struct xclient_failure ignored;
    if (!fail)
        fail = &ignored;
    memset(fail, 0, sizeof *fail);
    struct xclient *c = client_new(o, fail);
    if (!c)
        return NULL;
    struct sigpipe_guard guard;
    sigpipe_block(&guard);
    int rc = negotiate(c, o, fail);
    sigpipe_restore(&guard);
    if (rc < 0) {
        client_free(c);
        return NULL;
    }
    memset(fail, 0, sizeof *fail);
    return c;
}

const char *xclient_full_jid(const struct xclient *c)
{
    return c->full_jid ? c->full_jid : "";
}

int xclient_fd(const struct xclient *c)
{
    return c->fd;
}

const xnode *xclient_features(const struct xclient *c)
{
    return c->features;
}

int xclient_send(struct xclient *c, const void *data, size_t len)
{
    if (c->peer_closed)
        return -1;
    struct sigpipe_guard guard;
    sigpipe_block(&guard);
    int rc = transport_write(c, data, len, deadline_in(c->timeout));
    sigpipe_restore(&guard);
    return rc;
}

void xclient_next(struct xclient *c, double timeout, struct xclient_event *ev)
{
    memset(ev, 0, sizeof *ev);
    struct sigpipe_guard guard;
    sigpipe_block(&guard);
    enum read_kind k;
    do
        k = read_event(c, deadline_in(timeout));
    while (k == RD_HEADER); /* a stray header is not an element */
    sigpipe_restore(&guard);
    switch (k) {
    case RD_ELEMENT:
        ev->stanza = c->element;
        c->element = NULL;
        if (is_element(ev->stanza, "error", XMLNS_STREAMS)) {
            ev->kind = XEV_STREAM_ERROR;
            snprintf(ev->condition, sizeof ev->condition, "%s",
                     xclient_error_condition(ev->stanza));
        } else {
            ev->kind = XEV_STANZA;
        }
        return;
    case RD_TIMEOUT:
        ev->kind = XEV_TIMEOUT;
        return;
    case RD_PARSE_ERROR:
        ev->kind = XEV_STREAM_ERROR;
        snprintf(ev->condition, sizeof ev->condition, "parse-error:%.50s", c->parse_condition);
        return;
    default:
        ev->kind = XEV_CLOSED;
        return;
    }
}

void xclient_close(struct xclient *c)
{
    if (!c)
        return;
    struct sigpipe_guard guard;
    sigpipe_block(&guard);
    if (!c->peer_closed && send_text(c, "</stream:stream>") == 0) {
        double deadline = deadline_in(c->timeout < CLOSE_WAIT ? c->timeout : CLOSE_WAIT);
        enum read_kind k;
        while ((k = read_event(c, deadline)) == RD_ELEMENT || k == RD_HEADER) {
            xnode_free(c->element);
            c->element = NULL;
        }
    }
    if (c->ssl && !c->tls_broken)
        SSL_shutdown(c->ssl);
    sigpipe_restore(&guard);
    client_free(c);
}
