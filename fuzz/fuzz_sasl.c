/* The server side of SASL (SPEC AUTH-1..3, sasl.h, scram.h) for a fixed
 * account alice@localhost (password "pencil", stored as a SCRAM record of
 * SCRAM_MIN_ITERATIONS with a fixed salt) and fixed channel-binding data.
 * Input: byte 0 picks the mechanism (low 3 bits), whether the messages go
 * as given instead of base64-encoded (bit 3: the "bad base64" case) and
 * whether <auth> has no initial response (bit 4); the rest is up to 3
 * client messages separated by 0xff bytes.
 * Oracle: SUCCESS exactly when the mechanism is PLAIN and the message
 * carries alice's credentials (the fuzzer cannot compute a SCRAM proof);
 * a challenge always comes with valid base64 and a failure without output;
 * after SUCCESS or a failure every step fails as malformed; the
 * authenticated node is alice's, and only after SUCCESS. */
#include "fuzz.h"

#include <gsasl.h>
#include <stdlib.h>
#include <string.h>

#include "jid.h"
#include "log.h"
#include "sasl.h"
#include "scram.h"

#define DOMAIN "localhost"
#define USER "alice"
#define PASSWORD "pencil"
#define MAX_MESSAGES 3

static const char *const mechanisms[] = {
    "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN",
};
#define N_MECHANISMS (sizeof mechanisms / sizeof mechanisms[0])

static char *stored;
static const unsigned char exporter[32] = "fuzz-tls-exporter-binding-data!";
static const unsigned char unique[12] = "fuzz-unique";
static const struct sasl_channel_binding binding = { unique, sizeof unique,
                                                     exporter, sizeof exporter };

void fuzz_init(void)
{
    fuzz_silence_logs("sasl");
    if (sasl_global_init() != 0) abort();
    static const unsigned char salt[SCRAM_SALT_LEN] = "fuzz-fixed-salt";
    struct scram_record rec;
    if (scram_derive_record(PASSWORD, salt, SCRAM_MIN_ITERATIONS, &rec) != 0) abort();
    stored = scram_format_record(&rec);
    scram_set_fake_iterations(SCRAM_MIN_ITERATIONS);
}

/* alice has the record; bob's stored value is broken (a fake record then). */
static const char *lookup(void *ctx, const char *node, const char *domain)
{
    (void)ctx;
    FUZZ_ASSERT(strcmp(domain, DOMAIN) == 0);
    if (strcmp(node, USER) == 0) return stored;
    if (strcmp(node, "bob") == 0) return "SCRAM$4096$broken";
    return NULL;
}

/* ---- what PLAIN should accept ----------------------------------------------- */

static char *prepped(const char *s)
{
    char *out = NULL;
    if (gsasl_saslprep(s, GSASL_ALLOW_UNASSIGNED, &out, NULL) != GSASL_OK) return NULL;
    return out;
}

/* sasl.c's rule: "alice", or "alice@localhost" as a bare JID. */
static bool names_alice(const char *authcid)
{
    bool yes = false;
    if (!strchr(authcid, '@')) {
        char *node = NULL;
        yes = jid_prep_node(authcid, &node) == 0 && node && strcmp(node, USER) == 0;
        free(node);
        return yes;
    }
    struct jid j = { 0 };
    if (jid_parse(authcid, &j) == 0)
        yes = j.node && strcmp(j.node, USER) == 0 && !j.resource && strcmp(j.domain, DOMAIN) == 0;
    jid_clear(&j);
    return yes;
}

static bool authzid_acceptable(const char *authzid, const char *authcid)
{
    if (!*authzid || strcmp(authzid, authcid) == 0) return true;
    struct jid j = { 0 };
    bool yes = jid_parse(authzid, &j) == 0 && j.node && strcmp(j.node, USER) == 0
               && !j.resource && strcmp(j.domain, DOMAIN) == 0;
    jid_clear(&j);
    return yes;
}

/* "authzid NUL authcid NUL password" with alice's credentials. */
static bool plain_credentials_right(const unsigned char *msg, size_t len)
{
    const char *authzid = (const char *)msg;
    size_t zlen = strnlen(authzid, len);
    if (zlen == len) return false;
    const char *authcid = authzid + zlen + 1;
    size_t clen = strnlen(authcid, len - zlen - 1);
    if (zlen + 1 + clen == len) return false;
    const char *password = authcid + clen + 1;
    size_t plen = len - zlen - clen - 2;
    if (memchr(password, '\0', plen)) return false;
    char *pw = strndup(password, plen);
    char *cid = prepped(authcid), *pwp = pw ? prepped(pw) : NULL;
    bool right = cid && pwp && strcmp(pwp, PASSWORD) == 0 && names_alice(cid)
                 && authzid_acceptable(authzid, cid);
    free(pw);
    gsasl_free(cid);
    gsasl_free(pwp);
    return right;
}

/* Would the server decode this text to the right PLAIN message? */
static bool plain_text_right(const char *text)
{
    size_t n = strlen(text);
    if (n == 0 || strcmp(text, "=") == 0 || n > (SASL_MAX_MESSAGE + 2) / 3 * 4) return false;
    unsigned char *msg;
    size_t len;
    if (scram_base64_decode(text, n, &msg, &len) != 0) return false;
    bool right = plain_credentials_right(msg, len);
    free(msg);
    return right;
}

/* ---- the exchange -------------------------------------------------------------- */

static void check_output(enum sasl_step_result r, const char *out)
{
    if (r != SASL_CONTINUE && r != SASL_SUCCESS) {
        FUZZ_ASSERT(out == NULL);
        return;
    }
    FUZZ_ASSERT(r == SASL_SUCCESS || out != NULL);
    if (!out || !*out) return;
    unsigned char *decoded;
    size_t len;
    FUZZ_ASSERT(scram_base64_decode(out, strlen(out), &decoded, &len) == 0);
    free(decoded);
}

int fuzz_one(const uint8_t *data, size_t len)
{
    if (len == 0) return 0;
    const char *mech = mechanisms[(data[0] & 7) % N_MECHANISMS];
    bool raw = data[0] & 8, no_initial_response = data[0] & 16;
    bool plain = strcmp(mech, "PLAIN") == 0;

    /* The texts the client sends, in order (NULL: <auth> without text). */
    char *texts[MAX_MESSAGES + 1] = { 0 };
    size_t n = 0;
    if (no_initial_response) texts[n++] = NULL;
    const uint8_t *p = data + 1, *end = data + len;
    while (n < MAX_MESSAGES + 1 && p <= end) {
        const uint8_t *sep = memchr(p, 0xff, (size_t)(end - p));
        size_t mlen = (size_t)((sep ? sep : end) - p);
        texts[n++] = raw ? strndup((const char *)p, mlen) : scram_base64_encode(p, mlen);
        if (!sep) break;
        p = sep + 1;
    }

    struct sasl_server *s = sasl_server_start(mech, DOMAIN, &binding, lookup, NULL);
    FUZZ_ASSERT(s != NULL);
    FUZZ_ASSERT(strcmp(sasl_server_mech(s), mech) == 0);
    bool ended = false, succeeded = false, expect_success = false;
    size_t data_steps = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ended && plain && texts[i] && data_steps++ == 0) expect_success = plain_text_right(texts[i]);
        char *out = NULL;
        enum sasl_step_result r = sasl_server_step(s, texts[i], &out);
        check_output(r, out);
        if (ended) FUZZ_ASSERT(r == SASL_FAIL_MALFORMED);
        if (!ended && r == SASL_SUCCESS) succeeded = true;
        if (r != SASL_CONTINUE) ended = true;
        FUZZ_ASSERT((sasl_server_node(s) != NULL) == succeeded);
        free(out);
    }
    FUZZ_ASSERT(succeeded == expect_success);
    if (succeeded) FUZZ_ASSERT(strcmp(sasl_server_node(s), USER) == 0);
    const char *attempted = sasl_server_attempted_node(s);
    FUZZ_ASSERT(!attempted || *attempted);
    sasl_server_free(s);
    for (size_t i = 0; i < n; i++) free(texts[i]);
    return 0;
}
