/* loadgen_scram: see loadgen_scram.h. The primitives (PBKDF2, HMAC,
 * base64) are those of ref/scram.c. */
#include "loadgen_scram.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stringprep.h>

#include "buf.h"
#include "scram.h"

#define MAX_ITERATIONS 10000000u
#define NONCE_BYTES 18

struct cache_entry {
    struct cache_entry *next;
    uint64_t hash;
    bool sha256;
    unsigned iterations;
    char *password;
    unsigned char *salt;
    size_t salt_len;
    unsigned char salted[SCRAM_SHA256_LEN];
};

struct lg_scram_cache {
    struct cache_entry **slots;
    size_t nslots, count;
    uint64_t hits, misses;
};

struct lg_scram_cache *lg_scram_cache_new(void)
{
    struct lg_scram_cache *c = xcalloc(1, sizeof *c);
    c->nslots = 64;
    c->slots = xcalloc(c->nslots, sizeof *c->slots);
    return c;
}

void lg_scram_cache_free(struct lg_scram_cache *cache)
{
    if (!cache)
        return;
    for (size_t i = 0; i < cache->nslots; i++) {
        for (struct cache_entry *e = cache->slots[i], *next; e; e = next) {
            next = e->next;
            free(e->password);
            free(e->salt);
            free(e);
        }
    }
    free(cache->slots);
    free(cache);
}

uint64_t lg_scram_cache_hits(const struct lg_scram_cache *cache) { return cache->hits; }
uint64_t lg_scram_cache_misses(const struct lg_scram_cache *cache) { return cache->misses; }

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static uint64_t key_hash(bool sha256, const char *password, const unsigned char *salt,
                         size_t salt_len, unsigned iterations)
{
    uint64_t h = 14695981039346656037ull;
    h = fnv1a(h, &sha256, sizeof sha256);
    h = fnv1a(h, &iterations, sizeof iterations);
    h = fnv1a(h, salt, salt_len);
    return fnv1a(h, password, strlen(password) + 1);
}

static bool entry_matches(const struct cache_entry *e, uint64_t hash, bool sha256,
                          const char *password, const unsigned char *salt, size_t salt_len,
                          unsigned iterations)
{
    return e->hash == hash && e->sha256 == sha256 && e->iterations == iterations
           && e->salt_len == salt_len && memcmp(e->salt, salt, salt_len) == 0
           && strcmp(e->password, password) == 0;
}

static void cache_grow(struct lg_scram_cache *c)
{
    size_t n = c->nslots * 2;
    struct cache_entry **slots = xcalloc(n, sizeof *slots);
    for (size_t i = 0; i < c->nslots; i++) {
        for (struct cache_entry *e = c->slots[i], *next; e; e = next) {
            next = e->next;
            e->next = slots[e->hash % n];
            slots[e->hash % n] = e;
        }
    }
    free(c->slots);
    c->slots = slots;
    c->nslots = n;
}

/* PBKDF2 over the SASLprep'd password: 0 or -1. */
static int compute_salted(bool sha256, const char *password, const unsigned char *salt,
                          size_t salt_len, unsigned iterations, unsigned char *out)
{
    char *prepped = NULL;
    if (stringprep_profile(password, &prepped, "SASLprep", STRINGPREP_NO_UNASSIGNED)
        != STRINGPREP_OK)
        return -1;
    int rc = scram_salted_password(sha256, prepped, salt, salt_len, iterations, out);
    free(prepped);
    return rc;
}

int lg_scram_cache_salted(struct lg_scram_cache *cache, bool sha256, const char *password,
                          const unsigned char *salt, size_t salt_len, unsigned iterations,
                          unsigned char *out)
{
    size_t len = sha256 ? SCRAM_SHA256_LEN : SCRAM_SHA1_LEN;
    uint64_t hash = key_hash(sha256, password, salt, salt_len, iterations);
    for (struct cache_entry *e = cache->slots[hash % cache->nslots]; e; e = e->next) {
        if (entry_matches(e, hash, sha256, password, salt, salt_len, iterations)) {
            memcpy(out, e->salted, len);
            cache->hits++;
            return 0;
        }
    }
    if (compute_salted(sha256, password, salt, salt_len, iterations, out) < 0)
        return -1;
    cache->misses++;
    if (cache->count >= cache->nslots)
        cache_grow(cache);
    struct cache_entry *e = xcalloc(1, sizeof *e);
    *e = (struct cache_entry){ .hash = hash, .sha256 = sha256, .iterations = iterations,
                               .password = xstrdup(password), .salt = xmalloc(salt_len ? salt_len : 1),
                               .salt_len = salt_len };
    memcpy(e->salt, salt, salt_len);
    memcpy(e->salted, out, len);
    e->next = cache->slots[hash % cache->nslots];
    cache->slots[hash % cache->nslots] = e;
    cache->count++;
    return 0;
}

/* ---- one exchange ------------------------------------------------------- */

/* RFC 5802 saslname: '=' as "=3D", ',' as "=2C". */
static void append_saslname(struct buf *b, const char *name)
{
    for (const char *p = name; *p; p++) {
        if (*p == '=')
            buf_puts(b, "=3D");
        else if (*p == ',')
            buf_puts(b, "=2C");
        else
            buf_append(b, p, 1);
    }
}

char *lg_scram_client_first(struct lg_scram *s, bool sha256, const char *username,
                            const char *nonce)
{
    memset(s, 0, sizeof *s);
    s->sha256 = sha256;
    char *fresh = NULL;
    if (!nonce) {
        unsigned char raw[NONCE_BYTES];
        if (RAND_bytes(raw, sizeof raw) != 1)
            abort();
        fresh = scram_base64_encode(raw, sizeof raw);
        nonce = fresh;
    }
    struct buf b;
    buf_init(&b);
    buf_puts(&b, "n=");
    append_saslname(&b, username);
    buf_printf(&b, ",r=%s", nonce);
    free(fresh);
    s->client_first_bare = xstrdup(b.data);
    buf_reset(&b);
    buf_printf(&b, "n,,%s", s->client_first_bare);
    return buf_steal(&b);
}

struct server_first {
    const char *nonce, *salt_b64;
    size_t nonce_len, salt_len;
    unsigned long iterations;
};

/* The value of attribute `name` ("r", "s", "i") in a comma list, or NULL. */
static const char *scram_attr(const char *msg, size_t len, char name, size_t *vlen)
{
    const char *p = msg, *end = msg + len;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        if (stop - p >= 2 && p[0] == name && p[1] == '=') {
            *vlen = (size_t)(stop - p - 2);
            return p + 2;
        }
        p = comma ? comma + 1 : end;
    }
    return NULL;
}

static int parse_server_first(const char *msg, size_t len, struct server_first *sf)
{
    size_t ilen = 0;
    sf->nonce = scram_attr(msg, len, 'r', &sf->nonce_len);
    sf->salt_b64 = scram_attr(msg, len, 's', &sf->salt_len);
    const char *iter = scram_attr(msg, len, 'i', &ilen);
    if (!sf->nonce || !sf->salt_b64 || !iter || ilen == 0 || ilen > 9 || len >= 4096)
        return -1;
    sf->iterations = 0;
    for (size_t i = 0; i < ilen; i++) {
        if (iter[i] < '0' || iter[i] > '9')
            return -1;
        sf->iterations = sf->iterations * 10 + (unsigned long)(iter[i] - '0');
    }
    return sf->iterations >= 1 && sf->iterations <= MAX_ITERATIONS ? 0 : -1;
}

/* Our nonce from client-first-bare ("n=...,r=NONCE"). */
static const char *own_nonce(const struct lg_scram *s, size_t *len)
{
    return scram_attr(s->client_first_bare, strlen(s->client_first_bare), 'r', len);
}

/* ClientProof for AuthMessage `auth`; remembers the ServerSignature. */
static void make_proof(struct lg_scram *s, const unsigned char *salted, const struct buf *auth,
                       unsigned char *proof)
{
    size_t hlen = s->sha256 ? SCRAM_SHA256_LEN : SCRAM_SHA1_LEN;
    unsigned char stored[SCRAM_SHA256_LEN], server_key[SCRAM_SHA256_LEN];
    unsigned char client_key[SCRAM_SHA256_LEN], signature[SCRAM_SHA256_LEN];
    scram_keys_from_salted(s->sha256, salted, stored, server_key, client_key);
    scram_hmac(s->sha256, stored, hlen, auth->data, auth->len, signature);
    for (size_t i = 0; i < hlen; i++)
        proof[i] = client_key[i] ^ signature[i];
    scram_hmac(s->sha256, server_key, hlen, auth->data, auth->len, s->server_signature);
    OPENSSL_cleanse(client_key, sizeof client_key);
}

char *lg_scram_client_final(struct lg_scram *s, struct lg_scram_cache *cache,
                            const char *password, const char *server_first, size_t len)
{
    struct server_first sf;
    size_t own_len = 0;
    const char *own = own_nonce(s, &own_len);
    if (parse_server_first(server_first, len, &sf) < 0 || sf.nonce_len <= own_len
        || memcmp(sf.nonce, own, own_len) != 0)
        return NULL;
    unsigned char *salt = NULL;
    size_t salt_len = 0;
    unsigned char salted[SCRAM_SHA256_LEN];
    if (scram_base64_decode(sf.salt_b64, sf.salt_len, &salt, &salt_len) < 0)
        return NULL;
    int rc = lg_scram_cache_salted(cache, s->sha256, password, salt, salt_len,
                                   (unsigned)sf.iterations, salted);
    free(salt);
    if (rc < 0)
        return NULL;
    struct buf final, auth;
    buf_init(&final);
    buf_init(&auth);
    buf_puts(&final, "c=biws,r=");
    buf_append(&final, sf.nonce, sf.nonce_len);
    buf_printf(&auth, "%s,", s->client_first_bare);
    buf_append(&auth, server_first, len);
    buf_printf(&auth, ",%s", final.data);
    unsigned char proof[SCRAM_SHA256_LEN];
    make_proof(s, salted, &auth, proof);
    char *proof64 = scram_base64_encode(proof, s->sha256 ? SCRAM_SHA256_LEN : SCRAM_SHA1_LEN);
    buf_printf(&final, ",p=%s", proof64);
    free(proof64);
    buf_free(&auth);
    OPENSSL_cleanse(salted, sizeof salted);
    return buf_steal(&final);
}

bool lg_scram_verify_final(const struct lg_scram *s, const char *server_final, size_t len)
{
    size_t vlen = 0;
    const char *v = scram_attr(server_final, len, 'v', &vlen);
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    if (!v || scram_base64_decode(v, vlen, &sig, &sig_len) < 0)
        return false;
    size_t want = s->sha256 ? SCRAM_SHA256_LEN : SCRAM_SHA1_LEN;
    bool ok = sig_len == want && CRYPTO_memcmp(sig, s->server_signature, want) == 0;
    free(sig);
    return ok;
}

void lg_scram_free(struct lg_scram *s)
{
    free(s->client_first_bare);
    s->client_first_bare = NULL;
}
