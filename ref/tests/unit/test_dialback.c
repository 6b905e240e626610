/* dialback: XEP-0185 keys (S2S-2, S2S-3). The reference value was computed
 * independently with Python's hmac and hashlib:
 *   hmac.new(sha256(b"s3cr3tf0rd14lb4ck").hexdigest().encode(),
 *            b"example.net example.com D60000229F", sha256).hexdigest() */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dialback.h"

#define SECRET "s3cr3tf0rd14lb4ck"
#define REFERENCE "008c689ff366b50c63d69a3e2d2c0e0e1f8404b0118eb688a0102c87cb691bdc"

static void test_key_matches_reference(void **state)
{
    (void)state;
    char key[DIALBACK_KEY_LEN + 1];
    dialback_key(SECRET, "example.net", "example.com", "D60000229F", key);
    assert_string_equal(key, REFERENCE);
}

static void test_key_depends_on_every_input(void **state)
{
    (void)state;
    char a[DIALBACK_KEY_LEN + 1], b[DIALBACK_KEY_LEN + 1];
    dialback_key(SECRET, "example.net", "example.com", "D60000229F", a);
    dialback_key(SECRET, "example.com", "example.net", "D60000229F", b);   /* roles swapped */
    assert_string_not_equal(a, b);
    dialback_key(SECRET, "example.net", "example.com", "D60000229G", b);
    assert_string_not_equal(a, b);
    dialback_key("other secret", "example.net", "example.com", "D60000229F", b);
    assert_string_not_equal(a, b);
}

static void test_valid_accepts_case_and_space(void **state)
{
    (void)state;
    assert_true(dialback_key_valid(SECRET, "example.net", "example.com", "D60000229F", REFERENCE));
    assert_true(dialback_key_valid(SECRET, "example.net", "example.com", "D60000229F",
                                   "\n  008C689FF366B50C63D69A3E2D2C0E0E1F8404B0118EB688A0102C87CB691BDC \n"));
}

/* S2S-3: a forged or replayed key is refused. */
static void test_valid_refuses_forgeries(void **state)
{
    (void)state;
    assert_false(dialback_key_valid(SECRET, "example.net", "example.com", "another-stream", REFERENCE));
    assert_false(dialback_key_valid(SECRET, "example.net", "evil.example", "D60000229F", REFERENCE));
    assert_false(dialback_key_valid(SECRET, "example.net", "example.com", "D60000229F", ""));
    assert_false(dialback_key_valid(SECRET, "example.net", "example.com", "D60000229F",
                                    "008c689ff366b50c63d69a3e2d2c0e0e"));                 /* a prefix */
    assert_false(dialback_key_valid(SECRET, "example.net", "example.com", "D60000229F",
                                    REFERENCE "00"));
    char flipped[] = REFERENCE;
    flipped[10] = flipped[10] == 'a' ? 'b' : 'a';
    assert_false(dialback_key_valid(SECRET, "example.net", "example.com", "D60000229F", flipped));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_matches_reference),
        cmocka_unit_test(test_key_depends_on_every_input),
        cmocka_unit_test(test_valid_accepts_case_and_space),
        cmocka_unit_test(test_valid_refuses_forgeries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
