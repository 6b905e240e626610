/* Unit tests: the load generator's client SCRAM (RFC 5802 and RFC 7677
 * test vectors) and its salted-password cache (issue 10). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "loadgen_scram.h"

static void run_vector(bool sha256, const char *nonce, const char *server_first,
                       const char *want_final, const char *server_final)
{
    struct lg_scram_cache *cache = lg_scram_cache_new();
    struct lg_scram s;
    char *first = lg_scram_client_first(&s, sha256, "user", nonce);
    char want_first[128] = "n,,n=user,r=";
    strcat(want_first, nonce);
    assert_string_equal(first, want_first);
    char *final = lg_scram_client_final(&s, cache, "pencil", server_first, strlen(server_first));
    assert_non_null(final);
    assert_string_equal(final, want_final);
    assert_true(lg_scram_verify_final(&s, server_final, strlen(server_final)));
    assert_false(lg_scram_verify_final(&s, "v=AAAA", 6));
    free(first);
    free(final);
    lg_scram_free(&s);
    lg_scram_cache_free(cache);
}

static void test_rfc5802_sha1(void **state)
{
    (void)state;
    run_vector(false, "fyko+d2lbbFgONRv9qkxdawL",
               "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
               "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
               "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
}

static void test_rfc7677_sha256(void **state)
{
    (void)state;
    run_vector(true, "rOprNGfwEbeRWgbNEkqO",
               "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
               "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
               "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
               "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
}

static void test_bad_server_first_refused(void **state)
{
    (void)state;
    struct lg_scram_cache *cache = lg_scram_cache_new();
    struct lg_scram s;
    char *first = lg_scram_client_first(&s, true, "a=b,c", "abc");
    assert_string_equal(first, "n,,n=a=3Db=2Cc,r=abc");
    static const char *const bad[] = {
        "r=xyzdef,s=QSXCR+Q6sek8bf92,i=4096",      /* does not extend our nonce */
        "r=abc,s=QSXCR+Q6sek8bf92,i=4096",         /* no server part */
        "r=abcdef,s=QSXCR+Q6sek8bf92",             /* no iterations */
        "r=abcdef,s=QSXCR+Q6sek8bf92,i=0",
        "r=abcdef,s=!!!,i=4096",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_null(lg_scram_client_final(&s, cache, "pw", bad[i], strlen(bad[i])));
    free(first);
    lg_scram_free(&s);
    lg_scram_cache_free(cache);
}

static void test_cache_computes_once_per_key(void **state)
{
    (void)state;
    struct lg_scram_cache *cache = lg_scram_cache_new();
    unsigned char a[32], b[32], salt[16] = { 1, 2, 3 };
    for (int round = 0; round < 2; round++) {
        for (unsigned i = 0; i < 100; i++) {
            salt[15] = (unsigned char)i;
            assert_int_equal(lg_scram_cache_salted(cache, true, "pw", salt, 16, 4096, a), 0);
        }
    }
    assert_int_equal(lg_scram_cache_misses(cache), 100);
    assert_int_equal(lg_scram_cache_hits(cache), 100);
    salt[15] = 7;
    lg_scram_cache_salted(cache, true, "pw", salt, 16, 4096, a);
    lg_scram_cache_salted(cache, true, "pw2", salt, 16, 4096, b);
    assert_memory_not_equal(a, b, 32);
    lg_scram_cache_salted(cache, true, "pw", salt, 16, 4097, b);
    assert_memory_not_equal(a, b, 32);
    assert_int_equal(lg_scram_cache_misses(cache), 102);
    lg_scram_cache_free(cache);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc5802_sha1),
        cmocka_unit_test(test_rfc7677_sha256),
        cmocka_unit_test(test_bad_server_first_refused),
        cmocka_unit_test(test_cache_computes_once_per_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
