/* sasl: see sasl.h.
 *
 * Notes on GNU SASL 2.2.0 as installed (checked by test_sasl):
 * - the SCRAM server asks for GSASL_SCRAM_ITER (decimal) and GSASL_SCRAM_SALT
 *   (base64) after the client-first message, then for GSASL_SCRAM_SERVERKEY
 *   and GSASL_SCRAM_STOREDKEY after the client-final message. gsasl.h calls
 *   the keys "hex-encoded", but this version's server decodes them as
 *   base64 (hex makes every login fail), so base64 is what we give;
 * - channel-binding data goes in GSASL_CB_TLS_UNIQUE / GSASL_CB_TLS_EXPORTER
 *   as base64; the server uses the one the client's gs2 header names;
 * - PLAIN calls GSASL_VALIDATE_SIMPLE with GSASL_AUTHID, GSASL_AUTHZID and
 *   GSASL_PASSWORD set. */
#include "sasl.h"

#include <gsasl.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jid.h"
#include "log.h"
#include "scram.h"

struct mech_info {
    const char *name;
    bool plus;
    bool sha256; /* SCRAM hash; meaningless for PLAIN */
};

/* Strongest first (AUTH-1). */
static const struct mech_info mechanisms[] = {
    { "SCRAM-SHA-256-PLUS", true, true },
    { "SCRAM-SHA-1-PLUS", true, false },
    { "SCRAM-SHA-256", false, true },
    { "SCRAM-SHA-1", false, false },
    { "PLAIN", false, false },
};
#define MECHANISM_COUNT (sizeof mechanisms / sizeof mechanisms[0])

struct sasl_server {
    const struct mech_info *mech;
    Gsasl_session *session;
    char *domain;
    sasl_lookup_fn lookup;
    void *lookup_ctx;
    bool started;       /* a step has run */
    bool finished;      /* SUCCESS or a failure was returned */
    bool resolved;      /* the authcid has been looked up */
    bool user_known;    /* ... and names an existing user with a valid record */
    char *authcid;      /* as the client sent it */
    char *node;         /* prepared node of the authcid, NULL if unusable */
    bool authenticated;
    struct scram_record record; /* the user's, or scram_fake_record's */
};

static Gsasl *gsasl_ctx;

/* ---- the user behind the authcid ------------------------------------- */

/* The prepared node for "alice" or "alice@<stream domain>", else NULL. */
static char *node_of_authcid(const char *authcid, const char *domain)
{
    char *node = NULL;
    if (!strchr(authcid, '@')) {
        jid_prep_node(authcid, &node);
        return node;
    }
    struct jid j;
    if (jid_parse(authcid, &j) != 0)
        return NULL;
    if (j.node && !j.resource && strcmp(j.domain, domain) == 0) {
        node = j.node;
        j.node = NULL;
    }
    jid_clear(&j);
    return node;
}

/* Loads the stored record for the authcid, or a fake one (AUTH-3). */
static void resolve_user(struct sasl_server *s, const char *authcid)
{
    s->resolved = true;
    s->authcid = xstrdup(authcid);
    s->node = node_of_authcid(authcid, s->domain);
    const char *stored = s->node ? s->lookup(s->lookup_ctx, s->node, s->domain) : NULL;
    if (stored && scram_parse_record(stored, &s->record) == 0) {
        s->user_known = true;
        return;
    }
    if (stored)
        log_write(LOG_WARNING, "Stored password of user %s@%s is not a valid SCRAM record.",
                  s->node, s->domain);
    struct buf name;
    buf_init(&name);
    buf_printf(&name, "%s@%s", s->node ? s->node : authcid, s->domain);
    scram_fake_record(name.data, &s->record);
    buf_free(&name);
}

static int resolve_from_session(struct sasl_server *s, Gsasl_session *session)
{
    if (s->resolved)
        return GSASL_OK;
    const char *authcid = gsasl_property_fast(session, GSASL_AUTHID);
    if (!authcid)
        return GSASL_NO_AUTHID;
    resolve_user(s, authcid);
    return GSASL_OK;
}

/* An authzid is accepted only when it names the authenticated user. */
static bool authzid_ok(const struct sasl_server *s, const char *authzid)
{
    if (!authzid || authzid[0] == '\0' || strcmp(authzid, s->authcid) == 0)
        return true;
    struct jid j;
    if (jid_parse(authzid, &j) != 0)
        return false;
    bool same = j.node && !j.resource && strcmp(j.node, s->node) == 0
        && strcmp(j.domain, s->domain) == 0;
    jid_clear(&j);
    return same;
}

/* ---- gsasl callback -------------------------------------------------- */

static int set_base64_property(Gsasl_session *session, Gsasl_property prop,
                               const unsigned char *data, size_t len)
{
    char *text = scram_base64_encode(data, len);
    int rc = gsasl_property_set(session, prop, text);
    free(text);
    return rc;
}

static int provide_scram_property(struct sasl_server *s, Gsasl_session *session,
                                  Gsasl_property prop)
{
    int rc = resolve_from_session(s, session);
    if (rc != GSASL_OK)
        return rc;
    const struct scram_record *r = &s->record;
    bool sha256 = s->mech->sha256;
    size_t key_len = sha256 ? SCRAM_SHA256_LEN : SCRAM_SHA1_LEN;
    switch (prop) {
    case GSASL_SCRAM_ITER: {
        struct buf b;
        buf_init(&b);
        buf_printf(&b, "%u", r->iterations);
        rc = gsasl_property_set(session, prop, b.data);
        buf_free(&b);
        return rc;
    }
    case GSASL_SCRAM_SALT:
        return set_base64_property(session, prop, r->salt, sizeof r->salt);
    case GSASL_SCRAM_STOREDKEY:
        return set_base64_property(session, prop,
                                   sha256 ? r->sha256_stored_key : r->sha1_stored_key,
                                   key_len);
    case GSASL_SCRAM_SERVERKEY:
        return set_base64_property(session, prop,
                                   sha256 ? r->sha256_server_key : r->sha1_server_key,
                                   key_len);
    default:
        return GSASL_NO_CALLBACK;
    }
}

static int validate_plain(struct sasl_server *s, Gsasl_session *session)
{
    int rc = resolve_from_session(s, session);
    if (rc != GSASL_OK)
        return rc;
    const char *password = gsasl_property_fast(session, GSASL_PASSWORD);
    /* The fake record costs the same PBKDF2 run as a real one (AUTH-3). */
    bool match = password && scram_verify_plain(&s->record, password);
    return match && s->user_known ? GSASL_OK : GSASL_AUTHENTICATION_ERROR;
}

static int server_callback(Gsasl *ctx, Gsasl_session *session, Gsasl_property prop)
{
    (void)ctx;
    struct sasl_server *s = gsasl_session_hook_get(session);
    if (!s)
        return GSASL_NO_CALLBACK;
    switch (prop) {
    case GSASL_SCRAM_ITER:
    case GSASL_SCRAM_SALT:
    case GSASL_SCRAM_STOREDKEY:
    case GSASL_SCRAM_SERVERKEY:
        return provide_scram_property(s, session, prop);
    case GSASL_VALIDATE_SIMPLE:
        return validate_plain(s, session);
    default:
        return GSASL_NO_CALLBACK;
    }
}

/* ---- public ---------------------------------------------------------- */

int sasl_global_init(void)
{
    if (gsasl_ctx)
        return 0;
    if (gsasl_init(&gsasl_ctx) != GSASL_OK) {
        gsasl_ctx = NULL;
        return -1;
    }
    gsasl_callback_set(gsasl_ctx, server_callback);
    return 0;
}

void sasl_global_done(void)
{
    if (gsasl_ctx)
        gsasl_done(gsasl_ctx);
    gsasl_ctx = NULL;
}

static bool has_binding(const struct sasl_channel_binding *cb)
{
    return cb && ((cb->tls_unique && cb->tls_unique_len > 0)
                  || (cb->tls_exporter && cb->tls_exporter_len > 0));
}

size_t sasl_offered_mechanisms(bool plain_allowed, const struct sasl_channel_binding *cb,
                               const char **out, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < MECHANISM_COUNT && count < n; i++) {
        const struct mech_info *m = &mechanisms[i];
        if (m->plus && !has_binding(cb))
            continue;
        if (!plain_allowed && strcmp(m->name, "PLAIN") == 0)
            continue;
        out[count++] = m->name;
    }
    return count;
}

static const struct mech_info *find_mechanism(const char *name)
{
    for (size_t i = 0; i < MECHANISM_COUNT; i++)
        if (strcmp(mechanisms[i].name, name) == 0)
            return &mechanisms[i];
    return NULL;
}

static int set_binding(Gsasl_session *session, Gsasl_property prop,
                       const unsigned char *data, size_t len)
{
    if (!data || len == 0)
        return GSASL_OK;
    return set_base64_property(session, prop, data, len);
}

struct sasl_server *sasl_server_start(const char *mech, const char *domain,
                                      const struct sasl_channel_binding *cb,
                                      sasl_lookup_fn lookup, void *ctx)
{
    const struct mech_info *m = find_mechanism(mech);
    if (!gsasl_ctx || !m || (m->plus && !has_binding(cb)))
        return NULL;
    Gsasl_session *session = NULL;
    if (gsasl_server_start(gsasl_ctx, m->name, &session) != GSASL_OK)
        return NULL;
    /* Set for the non-PLUS SCRAM mechanisms too: gsasl then refuses a
     * client that says "y" (it could bind but thinks we cannot). */
    if (cb && (set_binding(session, GSASL_CB_TLS_UNIQUE, cb->tls_unique,
                           cb->tls_unique_len) != GSASL_OK
               || set_binding(session, GSASL_CB_TLS_EXPORTER, cb->tls_exporter,
                              cb->tls_exporter_len) != GSASL_OK)) {
        gsasl_finish(session);
        return NULL;
    }
    struct sasl_server *s = xcalloc(1, sizeof *s);
    s->mech = m;
    s->session = session;
    s->domain = xstrdup(domain);
    s->lookup = lookup;
    s->lookup_ctx = ctx;
    gsasl_session_hook_set(session, s);
    return s;
}

static enum sasl_step_result map_gsasl_result(int rc)
{
    switch (rc) {
    case GSASL_OK:
        return SASL_SUCCESS;
    case GSASL_NEEDS_MORE:
        return SASL_CONTINUE;
    case GSASL_MECHANISM_PARSE_ERROR:
    case GSASL_BASE64_ERROR: /* inside a SCRAM message: ours decoded the outside */
    case GSASL_SASLPREP_ERROR:
    case GSASL_MECHANISM_CALLED_TOO_MANY_TIMES:
        return SASL_FAIL_MALFORMED;
    default: /* authentication errors, missing binding data, anything else */
        return SASL_FAIL_NOT_AUTHORIZED;
    }
}

/* Decodes the client's text. Every mechanism here starts with a non-empty
 * client message and never needs an empty one, so only "no initial
 * response" (NULL on the first step) may carry no data. */
static enum sasl_step_result decode_input(const struct sasl_server *s, const char *in_b64,
                                          unsigned char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    if (!in_b64)
        return s->started ? SASL_FAIL_MALFORMED : SASL_CONTINUE;
    size_t text_len = strlen(in_b64);
    if (text_len == 0 || strcmp(in_b64, "=") == 0)
        return SASL_FAIL_MALFORMED;
    if (text_len > (SASL_MAX_MESSAGE + 2) / 3 * 4)
        return SASL_FAIL_MALFORMED;
    if (scram_base64_decode(in_b64, text_len, data, len) != 0)
        return SASL_FAIL_INCORRECT_ENCODING;
    return SASL_CONTINUE;
}

/* After gsasl accepted the credentials: the account must exist and the
 * authzid, if any, must be the user's own JID. */
static enum sasl_step_result finish_success(struct sasl_server *s)
{
    const char *authzid = gsasl_property_fast(s->session, GSASL_AUTHZID);
    if (!s->user_known || !s->node)
        return SASL_FAIL_NOT_AUTHORIZED;
    if (!authzid_ok(s, authzid))
        return SASL_FAIL_INVALID_AUTHZID;
    s->authenticated = true;
    return SASL_SUCCESS;
}

static enum sasl_step_result run_step(struct sasl_server *s, const char *in_b64,
                                      char **out_b64)
{
    unsigned char *data;
    size_t len;
    enum sasl_step_result r = decode_input(s, in_b64, &data, &len);
    s->started = true;
    if (r != SASL_CONTINUE)
        return r;
    char *out = NULL;
    size_t out_len = 0;
    int rc = gsasl_step(s->session, (const char *)data, len, &out, &out_len);
    free(data);
    r = map_gsasl_result(rc);
    if (r == SASL_SUCCESS)
        r = finish_success(s);
    if (r == SASL_CONTINUE || (r == SASL_SUCCESS && out_len > 0))
        *out_b64 = scram_base64_encode(out, out_len);
    gsasl_free(out);
    return r;
}

enum sasl_step_result sasl_server_step(struct sasl_server *s, const char *in_b64,
                                       char **out_b64)
{
    *out_b64 = NULL;
    if (s->finished)
        return SASL_FAIL_MALFORMED;
    enum sasl_step_result r = run_step(s, in_b64, out_b64);
    if (r != SASL_CONTINUE)
        s->finished = true;
    return r;
}

const char *sasl_server_node(const struct sasl_server *s)
{
    return s->authenticated ? s->node : NULL;
}

const char *sasl_server_attempted_node(const struct sasl_server *s)
{
    return s->node;
}

const char *sasl_server_mech(const struct sasl_server *s)
{
    return s->mech->name;
}

void sasl_server_free(struct sasl_server *s)
{
    if (!s)
        return;
    gsasl_finish(s->session);
    free(s->domain);
    free(s->authcid);
    free(s->node);
    OPENSSL_cleanse(&s->record, sizeof s->record);
    free(s);
}
