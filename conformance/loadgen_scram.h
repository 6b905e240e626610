/* loadgen_scram: the client side of SCRAM-SHA-1 / SCRAM-SHA-256 (RFC 5802,
 * RFC 7677) for the load generator, without channel binding (gs2 "n,,"),
 * with a cache of salted passwords keyed by (hash, password, salt,
 * iterations) so that PBKDF2 runs once per distinct key per worker.
 * struct lg_scram is one exchange: lg_scram_free releases what it holds.
 * Returned messages are malloc'd; the caller frees them. The cache owns
 * its entries; lg_scram_cache_free releases them. */
#ifndef IMREF_LOADGEN_SCRAM_H
#define IMREF_LOADGEN_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lg_scram_cache;

struct lg_scram_cache *lg_scram_cache_new(void);
void lg_scram_cache_free(struct lg_scram_cache *cache);
/* The salted password (32 bytes for SHA-256, 20 for SHA-1) into out,
 * computed once per key: 0, or -1 when the password fails SASLprep. */
int lg_scram_cache_salted(struct lg_scram_cache *cache, bool sha256, const char *password,
                          const unsigned char *salt, size_t salt_len, unsigned iterations,
                          unsigned char *out);
/* How many lookups were answered from the cache / computed. */
uint64_t lg_scram_cache_hits(const struct lg_scram_cache *cache);
uint64_t lg_scram_cache_misses(const struct lg_scram_cache *cache);

struct lg_scram {
    bool sha256;
    char *client_first_bare;       /* "n=user,r=nonce" */
    unsigned char server_signature[32];
};

/* The client-first message "n,,n=<user>,r=<nonce>"; nonce NULL: a fresh
 * random one. */
char *lg_scram_client_first(struct lg_scram *s, bool sha256, const char *username,
                            const char *nonce);
/* The client-final message for the server-first message (not base64),
 * or NULL when it is malformed, does not extend our nonce, or has
 * iterations outside 1..10,000,000. */
char *lg_scram_client_final(struct lg_scram *s, struct lg_scram_cache *cache,
                            const char *password, const char *server_first, size_t len);
/* True when the server-final message ("v=...") proves the server knows the key. */
bool lg_scram_verify_final(const struct lg_scram *s, const char *server_final, size_t len);
void lg_scram_free(struct lg_scram *s);

#endif
