/* tls: the server's TLS contexts (SPEC SEC-1), channel bindings for SASL
 * (AUTH-1) and the self-signed certificate of a first start (CFG-5).
 * A tls_server owns one SSL_CTX per domain plus the default; tls_server_free
 * releases them. SSLs made from it hold their own context references but
 * must finish their handshake (the SNI callback uses the tls_server) before
 * it is freed. The caller owns each SSL from tls_server_session (SSL_free).
 * Strings returned by tls_session_sni belong to the SSL. */
#ifndef IMREF_TLS_H
#define IMREF_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "buf.h"

struct tls_cert_spec {
    const char *domain;
    const char *cert_file;   /* PEM, leaf first then its chain */
    const char *key_file;    /* PEM private key */
};

struct tls_server;

/* Builds one SSL_CTX per domain plus the default: TLS 1.2 and 1.3 only, no
 * compression, no renegotiation (client-initiated ones refused on 1.2),
 * server cipher preference, session tickets on; partial writes and a moving
 * write buffer are allowed (non-blocking callers). An SNI callback picks the
 * domain's context (case-insensitive), the default otherwise. Returns NULL
 * with err "FILE: reason" on a bad cert/key or a mismatch. */
struct tls_server *tls_server_new(const char *default_cert, const char *default_key,
                                  const struct tls_cert_spec *domains, size_t n,
                                  struct buf *err);
void tls_server_free(struct tls_server *ts);

/* A server-side SSL (accept state) for an accepted socket; the caller
 * drives SSL_accept/read/write, non-blocking. NULL on failure. */
SSL *tls_server_session(struct tls_server *ts, int fd);

/* Channel-binding data for SASL once the handshake is done:
 * "tls-unique" (RFC 5929: the first Finished message; also on TLS 1.3,
 * where RFC 9266 leaves it undefined, for OpenSSL-based clients) or
 * "tls-exporter" (RFC 9266: 32 bytes of keying material, label
 * "EXPORTER-Channel-Binding", no context; TLS 1.3, or 1.2 with extended
 * master secret). Works for either side of the connection. Returns the
 * length written, 0 if unavailable (unknown type, handshake not
 * finished, outlen too small). */
size_t tls_channel_binding(SSL *ssl, const char *type, unsigned char *out, size_t outlen);

/* The host name the client sent in SNI; NULL if none. */
const char *tls_session_sni(SSL *ssl);

/* CFG-5: a self-signed certificate for `domain` (CN and subjectAltName
 * DNS:domain, EC P-256 key, SHA-256, valid `days` from now, serverAuth and
 * clientAuth), written as PEM; the key file gets mode 0600. Returns 0, or -1
 * with err "FILE: reason" (or "DOMAIN: reason"). */
int tls_make_self_signed(const char *domain, const char *cert_path, const char *key_path,
                         unsigned days, struct buf *err);

/* S2S-2: the CAs trusted for other servers' certificates (PEM bundle; NULL:
 * OpenSSL's default paths), for both directions; also creates the client
 * context of outbound streams. 0, or -1 with err. */
int tls_server_set_peer_ca(struct tls_server *ts, const char *ca_file, struct buf *err);
/* An inbound S2S SSL: as tls_server_session, and asks for the peer's
 * certificate (any is accepted; judge it with tls_peer_valid_for). */
SSL *tls_s2s_server_session(struct tls_server *ts, int fd);
/* An outbound S2S SSL (connect state): SNI remote_domain, presenting the
 * certificate of local_domain (or the default one). NULL on failure or
 * before tls_server_set_peer_ca. The caller owns it. */
SSL *tls_client_session(struct tls_server *ts, int fd, const char *remote_domain,
                        const char *local_domain);
/* After the handshake: is the peer's certificate trusted and valid for
 * `domain` (RFC 6125 DNS-ID)? If not, why says so. */
bool tls_peer_valid_for(SSL *ssl, const char *domain, struct buf *why);

/* notAfter of the first certificate in a PEM file, as Unix time; -1 on error. */
long long tls_cert_not_after(const char *cert_path);

#endif
