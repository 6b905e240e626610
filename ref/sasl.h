/* sasl: the server side of SASL for client streams (AUTH-1, AUTH-3), on
 * GNU SASL 2.2: SCRAM-SHA-256-PLUS, SCRAM-SHA-1-PLUS, SCRAM-SHA-256,
 * SCRAM-SHA-1, PLAIN. SCRAM gets the stored keys (scram.h), never a password;
 * unknown users run SCRAM on scram_fake_record and fail at the proof.
 * A struct sasl_server is owned by the caller (sasl_server_free); strings
 * it returns are borrowed until then; *out_b64 from a step is malloc'd. */
#ifndef IMREF_SASL_H
#define IMREF_SASL_H

#include <stdbool.h>
#include <stddef.h>

/* Channel-binding data of the TLS connection; either may be NULL/0.
 * gsasl 2.2 takes the binding type from the client's gs2 header
 * ("p=tls-exporter" or "p=tls-unique") and fails when that data is missing;
 * the gsasl client, like most, sends tls-exporter when it has exporter data
 * and tls-unique otherwise. So supply tls_exporter (RFC 9266, 32 bytes of
 * "EXPORTER-Channel-Binding") on TLS 1.3 and tls_unique (RFC 5929, the first
 * Finished message) on TLS 1.2. The data is copied by sasl_server_start. */
struct sasl_channel_binding {
    const unsigned char *tls_unique;
    size_t tls_unique_len;
    const unsigned char *tls_exporter;
    size_t tls_exporter_len;
};

/* Looks up the stored password value (users.cfg Password) for (node, domain);
 * returns a borrowed string or NULL when the user does not exist. */
typedef const char *(*sasl_lookup_fn)(void *ctx, const char *node, const char *domain);

enum sasl_step_result {
    SASL_CONTINUE,
    SASL_SUCCESS,
    SASL_FAIL_NOT_AUTHORIZED,
    SASL_FAIL_MALFORMED,
    SASL_FAIL_INCORRECT_ENCODING,
    SASL_FAIL_INVALID_MECHANISM,
    SASL_FAIL_INVALID_AUTHZID      /* right credentials, another identity asked for (RFC 6120 §6.5.6) */
};

/* Decoded SASL messages longer than this fail as malformed. */
#define SASL_MAX_MESSAGE 8192

/* Once per process, before any other call; 0 or -1. */
int sasl_global_init(void);
void sasl_global_done(void);

/* The mechanisms to offer, strongest first; plain_allowed=false drops PLAIN;
 * -PLUS only when cb has data. Returns the count written to out (max n). */
size_t sasl_offered_mechanisms(bool plain_allowed, const struct sasl_channel_binding *cb,
                               const char **out, size_t n);

/* Starts an exchange for `mech` on a stream to `domain` (prepared); NULL if
 * mech is unknown, or -PLUS without channel-binding data. PLAIN is always
 * accepted here: the caller applies the security policy (SEC-4). cb may be
 * NULL; it is copied. lookup/ctx are used during steps. */
struct sasl_server *sasl_server_start(const char *mech, const char *domain,
                                      const struct sasl_channel_binding *cb,
                                      sasl_lookup_fn lookup, void *ctx);

/* in_b64: the base64 text of <auth>/<response> ("" or "=" for empty; NULL
 * when <auth> had no text, i.e. no initial response). *out_b64: malloc'd
 * base64 for <challenge> ("" for an empty challenge) or for <success>
 * additional data (SCRAM's server-final), otherwise NULL.
 * Bad base64 gives SASL_FAIL_INCORRECT_ENCODING; an empty or unparsable
 * message SASL_FAIL_MALFORMED; wrong credentials, an unknown user, a
 * channel-binding mismatch, an authcid on another domain or an authzid other
 * than the user's own bare JID SASL_FAIL_NOT_AUTHORIZED. After SUCCESS or a
 * failure every further step fails as malformed. */
enum sasl_step_result sasl_server_step(struct sasl_server *s, const char *in_b64,
                                       char **out_b64);

/* Prepared node of the authenticated user, after SUCCESS; NULL before. */
const char *sasl_server_node(const struct sasl_server *s);
/* Prepared node the client tried to log in as (known once the authcid was
 * read, also on failure; e.g. for account lockout), or NULL. */
const char *sasl_server_attempted_node(const struct sasl_server *s);
const char *sasl_server_mech(const struct sasl_server *s);
void sasl_server_free(struct sasl_server *s);

#endif
