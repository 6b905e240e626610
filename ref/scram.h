/* scram: SCRAM key derivation and the stored password form (AUTH-2, AUTH-3).
 * The stored form is "SCRAM$<iter>$<salt b64>$<sha1 StoredKey b64>$
 * <sha1 ServerKey b64>$<sha256 StoredKey b64>$<sha256 ServerKey b64>".
 * scram_hash_password returns a malloc'd string the caller frees;
 * struct scram_record is plain data (fixed arrays), nothing to free.
 * Passwords are SASLprep'd before hashing; no plaintext is ever stored. */
#ifndef IMREF_SCRAM_H
#define IMREF_SCRAM_H

#include <stdbool.h>
#include <stddef.h>

#define SCRAM_DEFAULT_ITERATIONS 10000
#define SCRAM_MIN_ITERATIONS 4096
#define SCRAM_MAX_ITERATIONS 1000000 /* bounds the work of one PLAIN login */
#define SCRAM_SALT_LEN 16
#define SCRAM_SHA1_LEN 20
#define SCRAM_SHA256_LEN 32

struct scram_record {
    unsigned iterations;
    unsigned char salt[SCRAM_SALT_LEN];
    unsigned char sha1_stored_key[SCRAM_SHA1_LEN];
    unsigned char sha1_server_key[SCRAM_SHA1_LEN];
    unsigned char sha256_stored_key[SCRAM_SHA256_LEN];
    unsigned char sha256_server_key[SCRAM_SHA256_LEN];
};

/* The stored form for `password` with a fresh random salt; iterations below
 * SCRAM_MIN_ITERATIONS are raised to it (above SCRAM_MAX_ITERATIONS lowered).
 * malloc'd; NULL when the password is empty or fails SASLprep. */
char *scram_hash_password(const char *password, unsigned iterations);

/* A record for `password` with a fresh random salt (iterations clamped to
 * SCRAM_MIN_ITERATIONS..SCRAM_MAX_ITERATIONS). 0, or -1 when the password
 * fails SASLprep or is empty. */
int scram_make_record(const char *password, unsigned iterations,
                      struct scram_record *out);

/* The same with an explicit salt (deterministic; iterations not clamped). */
int scram_derive_record(const char *password, const unsigned char *salt,
                        unsigned iterations, struct scram_record *out);

/* The stored form of `rec`, malloc'd. */
char *scram_format_record(const struct scram_record *rec);

/* Strict parse of the stored form: 0, or -1 (wrong field count, bad or
 * non-canonical base64, wrong salt/key length, iterations outside
 * SCRAM_MIN_ITERATIONS..SCRAM_MAX_ITERATIONS or not plain decimal). */
int scram_parse_record(const char *stored, struct scram_record *out);

/* True when `password` (SASLprep'd) derives the record's SHA-256 StoredKey;
 * the comparison is constant-time. Costs one PBKDF2 run, like a real login. */
bool scram_verify_plain(const struct scram_record *rec, const char *password);

/* A deterministic record for a user that does not exist (AUTH-3): salt and
 * keys are HMAC(process-random secret, label || username), so repeated
 * attempts see the same salt, and no password matches in practice.
 * `username` should be the prepared "node@domain". Iterations are those set
 * by scram_set_fake_iterations (default SCRAM_DEFAULT_ITERATIONS); set them
 * to the configured ScramIterations so that unknown users look alike. */
void scram_fake_record(const char *username, struct scram_record *out);
void scram_set_fake_iterations(unsigned iterations);

/* Raw SCRAM primitives (RFC 5802 section 3); `sha256` selects SHA-256
 * (outputs SCRAM_SHA256_LEN bytes) over SHA-1 (SCRAM_SHA1_LEN bytes).
 * scram_salted_password takes an already SASLprep'd password; 0 or -1. */
int scram_salted_password(bool sha256, const char *prepped_password,
                          const unsigned char *salt, size_t salt_len,
                          unsigned iterations, unsigned char *out);
/* StoredKey, ServerKey and (when client_key is not NULL) ClientKey. */
void scram_keys_from_salted(bool sha256, const unsigned char *salted,
                            unsigned char *stored_key, unsigned char *server_key,
                            unsigned char *client_key);
void scram_hmac(bool sha256, const unsigned char *key, size_t key_len,
                const void *data, size_t data_len, unsigned char *out);

/* Standard base64 (RFC 4648, padded), as SCRAM and XMPP use it. encode
 * returns a malloc'd string. decode is strict (no whitespace, exact padding,
 * canonical final bits): 0 with *out malloc'd (NUL-terminated for
 * convenience, *out_len excludes it), or -1 with *out NULL. */
char *scram_base64_encode(const void *data, size_t len);
int scram_base64_decode(const char *in, size_t in_len, unsigned char **out,
                        size_t *out_len);

#endif
