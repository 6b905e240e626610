/* dialback: the keys of Server Dialback (XEP-0220) as XEP-0185 recommends
 * them, HMAC-SHA256 over "receiving originating stream-id" keyed by the
 * hex SHA-256 of a secret. Pure functions; the caller owns every buffer. */
#ifndef IMREF_DIALBACK_H
#define IMREF_DIALBACK_H

#include <stdbool.h>
#include <stddef.h>

#define DIALBACK_KEY_LEN 64    /* hex characters, without the NUL */

/* Writes the key (64 lowercase hex digits and a NUL) to out. */
void dialback_key(const char *secret, const char *receiving, const char *originating,
                  const char *stream_id, char out[DIALBACK_KEY_LEN + 1]);

/* Is `key` (as received, maybe with surrounding white space) the key for
 * these values? Compares in constant time. */
bool dialback_key_valid(const char *secret, const char *receiving, const char *originating,
                        const char *stream_id, const char *key);

#endif
