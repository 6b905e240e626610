#include "dialback.h"

#include <ctype.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

static void to_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void dialback_key(const char *secret, const char *receiving, const char *originating,
                  const char *stream_id, char out[DIALBACK_KEY_LEN + 1])
{
    unsigned char digest[32];
    char secret_hex[65];
    SHA256((const unsigned char *)secret, strlen(secret), digest);
    to_hex(digest, sizeof digest, secret_hex);
    size_t rlen = strlen(receiving), olen = strlen(originating), ilen = strlen(stream_id);
    size_t len = rlen + 1 + olen + 1 + ilen;
    unsigned char *text = OPENSSL_malloc(len);
    memcpy(text, receiving, rlen);
    text[rlen] = ' ';
    memcpy(text + rlen + 1, originating, olen);
    text[rlen + 1 + olen] = ' ';
    memcpy(text + rlen + 1 + olen + 1, stream_id, ilen);
    unsigned int mac_len = sizeof digest;
    HMAC(EVP_sha256(), secret_hex, 64, text, len, digest, &mac_len);
    OPENSSL_free(text);
    to_hex(digest, sizeof digest, out);
}

bool dialback_key_valid(const char *secret, const char *receiving, const char *originating,
                        const char *stream_id, const char *key)
{
    while (isspace((unsigned char)*key)) key++;
    size_t n = strlen(key);
    while (n > 0 && isspace((unsigned char)key[n - 1])) n--;
    if (n != DIALBACK_KEY_LEN) return false;
    char expected[DIALBACK_KEY_LEN + 1];
    dialback_key(secret, receiving, originating, stream_id, expected);
    char given[DIALBACK_KEY_LEN];
    for (size_t i = 0; i < n; i++) given[i] = (char)tolower((unsigned char)key[i]);
    return CRYPTO_memcmp(expected, given, DIALBACK_KEY_LEN) == 0;
}
