#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "jid.h"

/* TLS 1.2 suites: forward secrecy and AEAD only. TLS 1.3 keeps its defaults. */
#define TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL"
/* TLS 1.3: AES-128-GCM first (OpenSSL's default puts AES-256-GCM-SHA384
 * first, whose SHA-384 key schedule is the dearer part of a handshake's
 * HKDF work: NOTES.md, M6); all three remain available. */
#define TLS13_CIPHERSUITES "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384"
#define SESSION_ID_CONTEXT "imref"
#define EXPORTER_LABEL "EXPORTER-Channel-Binding"
#define EXPORTER_LEN 32

struct tls_domain_ctx {
    char *sni_name;   /* the domain's A-label form, as SNI carries it */
    SSL_CTX *ctx;
    char *cert_file, *key_file;   /* also the client certificate of S2S streams */
};

struct tls_server {
    SSL_CTX *default_ctx;
    struct tls_domain_ctx *domains;
    size_t n_domains;
    char *default_cert, *default_key;
    SSL_CTX *client_ctx;      /* S2S-2: outbound streams; NULL until tls_server_set_peer_ca */
};

/* Sets err to "subject: what (why)", why being the earliest queued OpenSSL
 * error, and empties the error queue. */
static void set_error(struct buf *err, const char *subject, const char *what)
{
    unsigned long e = ERR_peek_error();
    const char *why = NULL;
    if (e && ERR_SYSTEM_ERROR(e)) why = strerror(ERR_GET_REASON(e));
    else if (e) why = ERR_reason_error_string(e);
    buf_reset(err);
    buf_printf(err, "%s: %s", subject, what);
    if (why) buf_printf(err, " (%s)", why);
    ERR_clear_error();
}

static bool key_mismatch_queued(void)
{
    unsigned long e = ERR_peek_error();
    return ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH;
}

static void set_mismatch_error(struct buf *err, const char *key_file, const char *cert_file)
{
    ERR_clear_error();
    buf_reset(err);
    buf_printf(err, "%s: private key does not match the certificate %s", key_file, cert_file);
}

static SSL_CTX *new_ctx(const char *cert_file, const char *key_file, struct buf *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        set_error(err, cert_file, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                             SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_clear_options(ctx, SSL_OP_ALLOW_CLIENT_RENEGOTIATION |
                               SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION | SSL_OP_NO_TICKET);
    /* idle sessions keep no TLS record buffers (about 34 KiB each); the
     * certificate file holds the whole chain, which is sent as it is (no
     * search of the trust store, a directory scan, on every handshake) */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                          SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)SESSION_ID_CONTEXT,
                                   sizeof SESSION_ID_CONTEXT - 1);
    if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1 ||
        SSL_CTX_set_ciphersuites(ctx, TLS13_CIPHERSUITES) != 1) {
        set_error(err, cert_file, "no usable TLS cipher");
    } else if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        set_error(err, cert_file, "cannot load the certificate");
    } else if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        if (key_mismatch_queued()) set_mismatch_error(err, key_file, cert_file);
        else set_error(err, key_file, "cannot load the private key");
    } else if (SSL_CTX_check_private_key(ctx) != 1) {
        set_mismatch_error(err, key_file, cert_file);
    } else {
        return ctx;
    }
    SSL_CTX_free(ctx);
    return NULL;
}

/* SNI (RFC 6066 §3) and dNSName (RFC 5280 §4.2.1.6) carry A-labels:
 * "bücher.example" becomes "xn--bcher-kva.example". A name libidn2 refuses
 * is kept as written. */
static char *sni_form(const char *domain)
{
    char *ascii;
    return jid_domain_to_ascii(domain, &ascii) == 0 ? ascii : xstrdup(domain);
}

static SSL_CTX *find_domain_ctx(const struct tls_server *ts, const char *name)
{
    for (size_t i = 0; i < ts->n_domains; i++) {
        if (strcasecmp(ts->domains[i].sni_name, name) == 0) return ts->domains[i].ctx;
    }
    return NULL;
}

/* SNI: switch to the named domain's context; unknown names keep the default. */
static int servername_cb(SSL *ssl, int *alert, void *arg)
{
    (void)alert;
    const struct tls_server *ts = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    SSL_CTX *ctx = name ? find_domain_ctx(ts, name) : NULL;
    if (ctx && !SSL_set_SSL_CTX(ssl, ctx)) return SSL_TLSEXT_ERR_ALERT_FATAL;
    return SSL_TLSEXT_ERR_OK;
}

struct tls_server *tls_server_new(const char *default_cert, const char *default_key,
                                  const struct tls_cert_spec *domains, size_t n,
                                  struct buf *err)
{
    ERR_clear_error();
    struct tls_server *ts = xcalloc(1, sizeof *ts);
    ts->default_ctx = new_ctx(default_cert, default_key, err);
    ts->default_cert = xstrdup(default_cert);
    ts->default_key = xstrdup(default_key);
    if (!ts->default_ctx) {
        tls_server_free(ts);
        return NULL;
    }
    ts->domains = xcalloc(n ? n : 1, sizeof *ts->domains);
    for (size_t i = 0; i < n; i++) {
        SSL_CTX *ctx = new_ctx(domains[i].cert_file, domains[i].key_file, err);
        if (!ctx) {
            tls_server_free(ts);
            return NULL;
        }
        ts->domains[i].sni_name = sni_form(domains[i].domain);
        ts->domains[i].ctx = ctx;
        ts->domains[i].cert_file = xstrdup(domains[i].cert_file);
        ts->domains[i].key_file = xstrdup(domains[i].key_file);
        ts->n_domains = i + 1;
    }
    SSL_CTX_set_tlsext_servername_callback(ts->default_ctx, servername_cb);
    SSL_CTX_set_tlsext_servername_arg(ts->default_ctx, ts);
    return ts;
}

void tls_server_free(struct tls_server *ts)
{
    if (!ts) return;
    for (size_t i = 0; i < ts->n_domains; i++) {
        SSL_CTX_free(ts->domains[i].ctx);
        free(ts->domains[i].sni_name);
        free(ts->domains[i].cert_file);
        free(ts->domains[i].key_file);
    }
    free(ts->domains);
    SSL_CTX_free(ts->default_ctx);
    SSL_CTX_free(ts->client_ctx);
    free(ts->default_cert);
    free(ts->default_key);
    free(ts);
}

SSL *tls_server_session(struct tls_server *ts, int fd)
{
    SSL *ssl = SSL_new(ts->default_ctx);
    if (!ssl) {
        ERR_clear_error();
        return NULL;
    }
    if (SSL_set_fd(ssl, fd) != 1) {
        ERR_clear_error();
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_accept_state(ssl);
    return ssl;
}

/* ---- server-to-server (S2S-2) ------------------------------------------- */

static int load_peer_ca(SSL_CTX *ctx, const char *ca_file, struct buf *err)
{
    int ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                     : SSL_CTX_set_default_verify_paths(ctx);
    if (ok == 1) return 0;
    set_error(err, ca_file ? ca_file : "default CA paths", "cannot load the trusted CAs");
    return -1;
}

int tls_server_set_peer_ca(struct tls_server *ts, const char *ca_file, struct buf *err)
{
    ERR_clear_error();
    SSL_CTX *client = SSL_CTX_new(TLS_client_method());
    if (!client) {
        set_error(err, "TLS client", "cannot create a TLS context");
        return -1;
    }
    SSL_CTX_set_min_proto_version(client, TLS1_2_VERSION);
    SSL_CTX_set_options(client, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(client, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                             SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN);
    int rc = load_peer_ca(client, ca_file, err);
    for (size_t i = 0; rc == 0 && i < ts->n_domains; i++) rc = load_peer_ca(ts->domains[i].ctx, ca_file, err);
    if (rc == 0) rc = load_peer_ca(ts->default_ctx, ca_file, err);
    if (rc < 0) {
        SSL_CTX_free(client);
        return -1;
    }
    SSL_CTX_free(ts->client_ctx);
    ts->client_ctx = client;
    return 0;
}

/* The handshake goes on whatever the peer's certificate; the verdict is read
 * afterwards (tls_peer_valid_for), which then decides between SASL EXTERNAL
 * and dialback. */
static int accept_any_peer(int preverify_ok, X509_STORE_CTX *x509)
{
    (void)preverify_ok;
    (void)x509;
    return 1;
}

SSL *tls_s2s_server_session(struct tls_server *ts, int fd)
{
    SSL *ssl = tls_server_session(ts, fd);
    if (ssl) SSL_set_verify(ssl, SSL_VERIFY_PEER, accept_any_peer);
    return ssl;
}

SSL *tls_client_session(struct tls_server *ts, int fd, const char *remote_domain,
                        const char *local_domain)
{
    if (!ts->client_ctx) return NULL;
    SSL *ssl = SSL_new(ts->client_ctx);
    if (!ssl) {
        ERR_clear_error();
        return NULL;
    }
    const char *cert = ts->default_cert, *key = ts->default_key;
    char *local_sni = sni_form(local_domain);
    for (size_t i = 0; i < ts->n_domains; i++) {
        if (strcasecmp(ts->domains[i].sni_name, local_sni) == 0) {
            cert = ts->domains[i].cert_file;
            key = ts->domains[i].key_file;
        }
    }
    free(local_sni);
    char *sni = sni_form(remote_domain);
    bool ok = SSL_set_fd(ssl, fd) == 1 && SSL_set_tlsext_host_name(ssl, sni) == 1 &&
              SSL_use_certificate_chain_file(ssl, cert) == 1 &&
              SSL_use_PrivateKey_file(ssl, key, SSL_FILETYPE_PEM) == 1;
    free(sni);
    if (!ok) {
        ERR_clear_error();
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_verify(ssl, SSL_VERIFY_PEER, accept_any_peer);
    SSL_set_connect_state(ssl);
    return ssl;
}

bool tls_peer_valid_for(SSL *ssl, const char *domain, struct buf *why)
{
    X509 *cert = SSL_get1_peer_certificate(ssl);
    long result = SSL_get_verify_result(ssl);
    bool ok = false;
    char *name = sni_form(domain);
    if (!cert) buf_puts(why, "no certificate");
    else if (result != X509_V_OK) buf_printf(why, "certificate not trusted: %s", X509_verify_cert_error_string(result));
    else if (X509_check_host(cert, name, 0, 0, NULL) != 1) buf_printf(why, "certificate not valid for %s", domain);
    else ok = true;
    free(name);
    X509_free(cert);
    return ok;
}

/* RFC 5929 §3.1: the first Finished of the latest handshake. In a full
 * handshake the client sends it first, in a resumption the server does.
 * RFC 9266 leaves tls-unique undefined for TLS 1.3; it is computed there the
 * same way (as OpenSSL-based clients such as CPython's ssl, and so slixmpp,
 * do), so that those clients' -PLUS logins work. With no renegotiation
 * (refused on 1.2, absent from 1.3) the value is unique to the connection. */
static size_t tls_unique(SSL *ssl, unsigned char *out, size_t outlen)
{
    bool first_is_ours = SSL_is_server(ssl) ? SSL_session_reused(ssl) : !SSL_session_reused(ssl);
    size_t len = first_is_ours ? SSL_get_finished(ssl, out, outlen)
                               : SSL_get_peer_finished(ssl, out, outlen);
    return len <= outlen ? len : 0;
}

/* RFC 9266 §2; on TLS 1.2 only with the extended master secret (§3). */
static size_t tls_exporter(SSL *ssl, unsigned char *out, size_t outlen)
{
    if (outlen < EXPORTER_LEN) return 0;
    if (SSL_version(ssl) < TLS1_3_VERSION && SSL_get_extms_support(ssl) != 1) return 0;
    if (SSL_export_keying_material(ssl, out, EXPORTER_LEN, EXPORTER_LABEL,
                                   sizeof EXPORTER_LABEL - 1, NULL, 0, 0) != 1) {
        ERR_clear_error();
        return 0;
    }
    return EXPORTER_LEN;
}

size_t tls_channel_binding(SSL *ssl, const char *type, unsigned char *out, size_t outlen)
{
    if (!ssl || !type || !SSL_is_init_finished(ssl)) return 0;
    if (strcmp(type, "tls-unique") == 0) return tls_unique(ssl, out, outlen);
    if (strcmp(type, "tls-exporter") == 0) return tls_exporter(ssl, out, outlen);
    return 0;
}

const char *tls_session_sni(SSL *ssl)
{
    return SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
}

/* ---- self-signed certificate (CFG-5) ---- */

static bool add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext) return false;
    bool ok = X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

/* subjectAltName DNS:domain, built directly (no config-string parsing). */
static bool add_dns_san(X509 *x, const char *domain)
{
    GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
    GENERAL_NAME *name = GENERAL_NAME_new();
    ASN1_IA5STRING *dns = ASN1_IA5STRING_new();
    bool ok = names && name && dns && ASN1_STRING_set(dns, domain, (int)strlen(domain)) == 1;
    if (ok) {
        GENERAL_NAME_set0_value(name, GEN_DNS, dns);
        dns = NULL;
        ok = sk_GENERAL_NAME_push(names, name) > 0;
        if (ok) name = NULL;
    }
    ok = ok && X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) == 1;
    ASN1_IA5STRING_free(dns);
    GENERAL_NAME_free(name);
    GENERAL_NAMES_free(names);
    return ok;
}

static bool set_random_serial(X509 *x)
{
    unsigned char bytes[16];
    if (RAND_bytes(bytes, sizeof bytes) != 1) return false;
    bytes[0] &= 0x7f;   /* positive */
    bytes[0] |= 0x40;   /* and of full length */
    BIGNUM *bn = BN_bin2bn(bytes, sizeof bytes, NULL);
    bool ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    return ok;
}

static X509 *build_self_signed(const char *domain, EVP_PKEY *key, unsigned days)
{
    X509 *x = X509_new();
    if (!x) return NULL;
    X509_NAME *subject = X509_get_subject_name(x);
    bool ok = X509_set_version(x, X509_VERSION_3) == 1 && set_random_serial(x) &&
              X509_gmtime_adj(X509_getm_notBefore(x), 0) &&
              X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL) &&
              X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                         (const unsigned char *)domain, -1, -1, 0) == 1 &&
              X509_set_issuer_name(x, subject) == 1 && X509_set_pubkey(x, key) == 1 &&
              add_ext(x, NID_basic_constraints, "critical,CA:FALSE") &&
              add_ext(x, NID_key_usage, "critical,digitalSignature") &&
              add_ext(x, NID_ext_key_usage, "serverAuth,clientAuth") &&
              add_ext(x, NID_subject_key_identifier, "hash") && add_dns_san(x, domain) &&
              X509_sign(x, key, EVP_sha256()) > 0;
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static int write_key(const char *path, EVP_PKEY *key, struct buf *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || fchmod(fd, 0600) != 0) {
        buf_reset(err);
        buf_printf(err, "%s: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        buf_reset(err);
        buf_printf(err, "%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    bool ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1;
    if (fclose(f) != 0) ok = false;
    if (!ok) {
        set_error(err, path, "cannot write the private key");
        return -1;
    }
    return 0;
}

static int write_cert(const char *path, X509 *x, struct buf *err)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        buf_reset(err);
        buf_printf(err, "%s: %s", path, strerror(errno));
        return -1;
    }
    bool ok = PEM_write_X509(f, x) == 1;
    if (fclose(f) != 0) ok = false;
    if (!ok) {
        set_error(err, path, "cannot write the certificate");
        return -1;
    }
    return 0;
}

static bool is_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s > 0x7e || (unsigned char)*s < 0x21) return false;
    return true;
}

int tls_make_self_signed(const char *domain, const char *cert_path, const char *key_path,
                         unsigned days, struct buf *err)
{
    ERR_clear_error();
    if (!domain || !*domain || days == 0 || days > 36500) {
        buf_reset(err);
        buf_printf(err, "%s: invalid domain or validity", domain ? domain : "(null)");
        return -1;
    }
    char *dns_name = sni_form(domain);
    if (!is_ascii(dns_name)) {
        free(dns_name);
        buf_reset(err);
        buf_printf(err, "%s: not a valid domain name", domain);
        return -1;
    }
    EVP_PKEY *key = EVP_EC_gen("P-256");
    if (!key) {
        free(dns_name);
        set_error(err, key_path, "cannot generate an EC key");
        return -1;
    }
    X509 *x = build_self_signed(dns_name, key, days);
    free(dns_name);
    int rc = -1;
    if (!x) {
        set_error(err, domain, "cannot build the certificate");
    } else if (write_key(key_path, key, err) == 0 && write_cert(cert_path, x, err) == 0) {
        rc = 0;
    }
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

long long tls_cert_not_after(const char *cert_path)
{
    FILE *f = fopen(cert_path, "r");
    if (!f) return -1;
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    struct tm tm;
    long long t = -1;
    if (x && ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1) t = (long long)timegm(&tm);
    X509_free(x);
    ERR_clear_error();
    return t;
}
