/* Unit tests for jid: RFC 6122 preparation of node, domain, resource (BIND-3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jid.h"

struct valid_case {
    const char *in;
    const char *full;     /* expected jid_full */
    const char *bare;     /* expected jid_bare */
};

/* BIND-3: valid JIDs and their prepared forms. */
static const struct valid_case valid_cases[] = {
    { "alice@example.com", "alice@example.com", "alice@example.com" },
    { "example.com", "example.com", "example.com" },
    { "example.com/Res", "example.com/Res", "example.com" },
    /* case folding: node and domain fold, resource keeps case */
    { "Alice@Example.COM/Res Ource", "alice@example.com/Res Ource", "alice@example.com" },
    { "Stra\xc3\x9f" "e@example.com", "strasse@example.com", "strasse@example.com" },
    /* Unicode normalisation (NFKC): a + combining acute, fullwidth letters */
    { "a\xcc\x81@example.com", "\xc3\xa1@example.com", "\xc3\xa1@example.com" },
    { "\xef\xbd\x81lice@example.com", "alice@example.com", "alice@example.com" },
    /* soft hyphen is mapped to nothing */
    { "al\xc2\xad" "ice@example.com", "alice@example.com", "alice@example.com" },
    /* IDN domain: U-label, upper case, A-label all give the U-label form */
    { "user@b\xc3\xbc" "cher.example", "user@b\xc3\xbc" "cher.example", "user@b\xc3\xbc" "cher.example" },
    { "user@B\xc3\x9c" "CHER.example", "user@b\xc3\xbc" "cher.example", "user@b\xc3\xbc" "cher.example" },
    { "user@xn--bcher-kva.example", "user@b\xc3\xbc" "cher.example", "user@b\xc3\xbc" "cher.example" },
    /* trailing dot removed */
    { "alice@example.com./r", "alice@example.com/r", "alice@example.com" },
    /* IP literals */
    { "user@127.0.0.1", "user@127.0.0.1", "user@127.0.0.1" },
    { "user@[::1]/r", "user@[::1]/r", "user@[::1]" },
    { "user@[0:0:0:0:0:0:0:1]", "user@[::1]", "user@[::1]" },
    { "user@[2001:DB8::A]", "user@[2001:db8::a]", "user@[2001:db8::a]" },
    /* the resource is everything after the first slash */
    { "alice@example.com/a/b@c", "alice@example.com/a/b@c", "alice@example.com" },
    { "al/ice@example.com", "al/ice@example.com", "al" },
    { "localhost", "localhost", "localhost" },
};

static void test_valid_jids_bind3(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof valid_cases / sizeof valid_cases[0]; i++) {
        const struct valid_case *c = &valid_cases[i];
        struct jid j;
        if (jid_parse(c->in, &j) != 0)
            fail_msg("BIND-3: '%s' should be valid", c->in);
        char *full = jid_full(&j);
        char *bare = jid_bare(&j);
        assert_string_equal(full, c->full);
        assert_string_equal(bare, c->bare);
        free(full);
        free(bare);
        jid_clear(&j);
        assert_null(j.domain);
    }
}

/* BIND-3: malformed JIDs. */
static const char *const invalid_cases[] = {
    "",
    "@example.com",             /* empty node */
    "alice@",                   /* empty domain */
    "alice@example.com/",       /* empty resource */
    "/res",                     /* empty domain */
    "a@b@example.com",          /* '@' twice */
    "al\"ice@example.com",      /* prohibited in node */
    "al&ice@example.com",
    "al'ice@example.com",
    "al:ice@example.com",
    "al<ice@example.com",
    "al>ice@example.com",
    "al ice@example.com",
    "\xc2\xad@example.com",     /* node empty after mapping */
    "\xf0\x9f\x98\x80@example.com", /* unassigned in Unicode 3.2 */
    "al\xffice@example.com",    /* invalid UTF-8 */
    "alice@exa mple.com",
    "alice@exa_mple.com",
    "alice@example..com",
    "alice@.example.com",
    "alice@.",
    "alice@-example.com",
    "alice@xn--zz.example",     /* bad punycode */
    "alice@[::1",
    "alice@[zz::1]",
    "alice@[127.0.0.1]",
    "alice@ex\xff.com",
    "alice@\xf0\x9f\x98\x80.example", /* symbol not allowed by IDNA2008 */
};

static void test_invalid_jids_bind3(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof invalid_cases / sizeof invalid_cases[0]; i++) {
        struct jid j;
        memset(&j, 0x55, sizeof j);
        if (jid_parse(invalid_cases[i], &j) != -1)
            fail_msg("BIND-3: '%s' should be invalid", invalid_cases[i]);
        assert_null(j.node);
        assert_null(j.domain);
        assert_null(j.resource);
    }
}

static void test_node_prohibited_bind3(void **state)
{
    (void)state;
    const char *prohibited = "\"&'/:<>@ ";
    for (const char *p = prohibited; *p; p++) {
        char in[4] = { 'a', *p, 'b', '\0' };
        char *out = (char *)"sentinel";
        assert_int_equal(jid_prep_node(in, &out), -1);
        assert_null(out);
    }
    char *out = NULL;
    assert_int_equal(jid_prep_node("a.b-c_d", &out), 0);
    assert_string_equal(out, "a.b-c_d");
    free(out);
}

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static void test_part_lengths_bind3(void **state)
{
    (void)state;
    char *out = NULL;
    char *s1023 = repeat('a', 1023);
    char *s1024 = repeat('a', 1024);

    assert_int_equal(jid_prep_node(s1023, &out), 0);
    assert_int_equal(strlen(out), 1023);
    free(out);
    assert_int_equal(jid_prep_node(s1024, &out), -1);
    assert_int_equal(jid_prep_resource(s1023, &out), 0);
    assert_int_equal(strlen(out), 1023);
    free(out);
    assert_int_equal(jid_prep_resource(s1024, &out), -1);
    assert_int_equal(jid_prep_domain(s1024, &out), -1);

    /* "ß" folds to "ss": 512 of them (1024 bytes) prepare to 1024 bytes */
    char *eszett = malloc(2 * 512 + 1);
    for (size_t i = 0; i < 512; i++)
        memcpy(eszett + 2 * i, "\xc3\x9f", 2);
    eszett[1024] = '\0';
    assert_int_equal(jid_prep_node(eszett, &out), -1);
    eszett[1022] = '\0'; /* 511 of them: 1022 bytes in, 1022 out */
    assert_int_equal(jid_prep_node(eszett, &out), 0);
    assert_int_equal(strlen(out), 1022);
    free(out);

    /* whole JIDs with the longest node and resource */
    char *full = malloc(1023 + 1 + 11 + 1 + 1023 + 1);
    sprintf(full, "%s@example.com/%s", s1023, s1023);
    struct jid j;
    assert_int_equal(jid_parse(full, &j), 0);
    assert_int_equal(strlen(j.node), 1023);
    assert_int_equal(strlen(j.resource), 1023);
    jid_clear(&j);
    sprintf(full, "%s@example.com", s1024);
    assert_int_equal(jid_parse(full, &j), -1);

    free(full);
    free(eszett);
    free(s1023);
    free(s1024);
}

static void test_domain_label_lengths_bind3(void **state)
{
    (void)state;
    char *l63 = repeat('a', 63);
    char *l64 = repeat('a', 64);
    char *l61 = repeat('b', 61);
    char name[300];
    char *out = NULL;

    snprintf(name, sizeof name, "%s.example", l63);
    assert_int_equal(jid_prep_domain(name, &out), 0);
    free(out);
    snprintf(name, sizeof name, "%s.example", l64);
    assert_int_equal(jid_prep_domain(name, &out), -1);
    /* 63+1+63+1+63+1+61 = 253 bytes: the longest DNS name */
    snprintf(name, sizeof name, "%s.%s.%s.%s", l63, l63, l63, l61);
    assert_int_equal(jid_prep_domain(name, &out), 0);
    assert_int_equal(strlen(out), 253);
    free(out);
    snprintf(name, sizeof name, "%s.%s.%s.%sb", l63, l63, l63, l61);
    assert_int_equal(jid_prep_domain(name, &out), -1);

    free(l63);
    free(l64);
    free(l61);
}

static void test_domain_to_ascii_bind3(void **state)
{
    (void)state;
    char *out = NULL;
    assert_int_equal(jid_domain_to_ascii("b\xc3\xbc" "cher.example", &out), 0);
    assert_string_equal(out, "xn--bcher-kva.example");
    free(out);
    assert_int_equal(jid_domain_to_ascii("localhost", &out), 0);
    assert_string_equal(out, "localhost");
    free(out);
    assert_int_equal(jid_domain_to_ascii("[::1]", &out), 0);
    assert_string_equal(out, "[::1]");
    free(out);
    assert_int_equal(jid_domain_to_ascii("a b", &out), -1);
    assert_null(out);
}

static void test_parts_absent_bind3(void **state)
{
    (void)state;
    struct jid j;
    assert_int_equal(jid_parse("example.com", &j), 0);
    assert_null(j.node);
    assert_null(j.resource);
    assert_string_equal(j.domain, "example.com");
    jid_clear(&j);

    assert_int_equal(jid_parse("alice@example.com", &j), 0);
    assert_string_equal(j.node, "alice");
    assert_null(j.resource);
    jid_clear(&j);
}

static void assert_same_part(const char *a, const char *b)
{
    if (!a || !b) assert_ptr_equal(a, b);
    else assert_string_equal(a, b);
}

/* BIND-3: jid_parse_into prepares exactly as jid_parse does, into one
 * storage buffer reused from call to call (valid and invalid JIDs mixed, so
 * a failure leaves nothing behind for the next call). */
static void test_parse_into_matches_parse_bind3(void **state)
{
    (void)state;
    struct buf storage;
    buf_init(&storage);
    size_t n_valid = sizeof valid_cases / sizeof valid_cases[0];
    size_t n_invalid = sizeof invalid_cases / sizeof invalid_cases[0];
    for (size_t i = 0; i < n_valid + n_invalid; i++) {
        const char *in = i < n_valid ? valid_cases[i].in : invalid_cases[i - n_valid];
        struct jid owned, view;
        int rc_owned = jid_parse(in, &owned);
        memset(&view, 0x55, sizeof view);
        int rc_view = jid_parse_into(in, &view, &storage);
        assert_int_equal(rc_view, rc_owned);
        assert_same_part(view.node, owned.node);
        assert_same_part(view.domain, owned.domain);
        assert_same_part(view.resource, owned.resource);
        if (rc_view == 0) {
            struct buf text;
            buf_init(&text);
            buf_puts(&text, "<");
            jid_append_full(&view, &text);
            buf_puts(&text, "|");
            jid_append_bare(&view, &text);
            char *expected = NULL;
            assert_true(asprintf(&expected, "<%s|%s", valid_cases[i].full, valid_cases[i].bare) > 0);
            assert_string_equal(text.data, expected);
            free(expected);
            buf_free(&text);
        }
        jid_clear(&owned);
    }
    buf_free(&storage);
}

/* The ASCII shortcuts of jid_prep_* (BIND-3) give exactly what the full
 * stringprep / IDNA path gives. */
static void same_as_full(const char *in, int (*prep)(const char *, char **),
                         int (*full)(const char *, char **))
{
    char *a = NULL, *b = NULL;
    int rc_a = prep(in, &a), rc_b = full(in, &b);
    if (rc_a != rc_b || (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0))
        fail_msg("\"%s\": shortcut %d \"%s\", full %d \"%s\"", in, rc_a, a ? a : "", rc_b, b ? b : "");
    free(a);
    free(b);
}

static void same_as_full_all(const char *in)
{
    same_as_full(in, jid_prep_node, jid_prep_node_full);
    same_as_full(in, jid_prep_resource, jid_prep_resource_full);
    same_as_full(in, jid_prep_domain, jid_prep_domain_full);
}

static void test_ascii_shortcuts_match_full_path_bind3(void **state)
{
    (void)state;
    /* every string of 1..3 characters over these, and each of them inside a
     * longer host name */
    static const char alphabet[] = "aZ09-._@/&'\" :<>\x01\x7f~x";
    const size_t n = sizeof alphabet - 1;
    char s[64];
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j <= n; j++) {
            for (size_t k = 0; k <= (j < n ? n : 0); k++) {
                size_t len = 0;
                s[len++] = alphabet[i];
                if (j < n) s[len++] = alphabet[j];
                if (j < n && k < n) s[len++] = alphabet[k];
                s[len] = '\0';
                same_as_full_all(s);
                snprintf(s + len, sizeof s - len, "%s", ".Example.COM");
                same_as_full_all(s);
            }
        }
    }
    static const char *const names[] = {
        "xn--bcher-kva.example", "ab--cd.example", "a-b.example", "-ab.example", "ab-.example",
        "1.2.3.4", "01.2.3.4", "1.2.3.4a", "999.1.1.1", "a..b", ".a", "a.", "a..", "EXAMPLE.COM.",
        "localhost", "LOCALHOST", "a_b.example", "[::1]", "x.xn--", "xn--.a", "Abc--d.e",
    };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        same_as_full_all(names[i]);
    /* labels and names at and past the DNS limits */
    char long_name[300];
    memset(long_name, 'a', sizeof long_name);
    for (size_t len = 60; len < sizeof long_name; len += 1) {
        long_name[len] = '\0';
        same_as_full_all(long_name);
        if (len % 64 == 63) long_name[len - 30] = '.';
        long_name[len] = 'B';
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_jids_bind3),
        cmocka_unit_test(test_invalid_jids_bind3),
        cmocka_unit_test(test_node_prohibited_bind3),
        cmocka_unit_test(test_part_lengths_bind3),
        cmocka_unit_test(test_domain_label_lengths_bind3),
        cmocka_unit_test(test_domain_to_ascii_bind3),
        cmocka_unit_test(test_parts_absent_bind3),
        cmocka_unit_test(test_parse_into_matches_parse_bind3),
        cmocka_unit_test(test_ascii_shortcuts_match_full_path_bind3),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
