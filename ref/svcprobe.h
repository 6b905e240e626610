/* svcprobe: one client's look at a listener of this server (SPEC ADM-6 d):
 * connect, stream header (to=DOMAIN, version 1.0), features, STARTTLS (or
 * TLS from the first byte), the handshake with SNI = DOMAIN, the stream
 * header again over TLS, and the certificate the server presented.
 * Blocking, with poll and one deadline for the whole probe: for imrefctl,
 * never for the server's loop. A svcprobe_result owns its strings
 * (svcprobe_result_free); the SSL_CTX is the caller's (SSL_CTX_free). */
#ifndef IMREF_SVCPROBE_H
#define IMREF_SVCPROBE_H

#include <stdbool.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "buf.h"

enum svcprobe_kind {
    SVCPROBE_CLIENT_STARTTLS,   /* xmpp (SVC-1): jabber:client, <starttls/> required */
    SVCPROBE_CLIENT_DIRECT_TLS, /* xmpps (SVC-2): TLS first, then jabber:client */
    SVCPROBE_SERVER_STARTTLS,   /* s2s (SVC-3): jabber:server, <starttls/> required */
};

/* The certificate the server presented. */
struct svcprobe_cert {
    long long not_after;    /* Unix time */
    bool valid_for_domain;  /* X509_check_host(DOMAIN) */
    char *names;            /* its DNS names (subjectAltName, else the CN), ", " between */
    long verify_code;       /* X509_V_OK, or why the chain is not trusted */
    char *verify_reason;    /* X509_verify_cert_error_string(verify_code) */
};

struct svcprobe_result {
    char *failure;          /* NULL: the stream came up over TLS; else what went wrong */
    char *tls_version;      /* "TLSv1.3"; NULL on failure */
    struct svcprobe_cert cert;   /* set when failure is NULL */
};

/* A TLS client context: TLS 1.2 and 1.3, trusting the CAs of `ca_file`
 * (NULL: the system's). NULL with err "FILE: reason". */
SSL_CTX *svcprobe_tls_context(const char *ca_file, struct buf *err);

/* Probes the listener at addr (port set) as `domain`'s client or peer
 * server, within timeout_seconds in all. Fills *out (always). */
void svcprobe_run(SSL_CTX *ctx, const struct sockaddr_storage *addr, socklen_t addrlen,
                  const char *domain, enum svcprobe_kind kind, unsigned timeout_seconds,
                  struct svcprobe_result *out);
void svcprobe_result_free(struct svcprobe_result *r);

#endif
