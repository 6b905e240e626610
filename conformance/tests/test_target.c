/* Unit tests for target: profile parsing, ${ENV} expansion, errors with
 * line numbers, capabilities and skip matching (CONF-1, CONF-3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "target.h"

static struct target *parse_ok(const char *text)
{
    struct buf err;
    buf_init(&err);
    struct target *t = NULL;
    int rc = target_parse(text, strlen(text), "targets/test.target", &t, &err);
    if (rc != 0) fail_msg("unexpected error: %s", err.data);
    buf_free(&err);
    return t;
}

/* Parses text that must fail; returns the error (caller frees). */
static char *parse_error(const char *text)
{
    struct buf err;
    buf_init(&err);
    struct target *t = NULL;
    int rc = target_parse(text, strlen(text), "bad.target", &t, &err);
    assert_int_equal(rc, -1);
    assert_null(t);
    return buf_steal(&err);
}

/* CONF-1: every key, comments, trailing comments, repeated capabilities. */
static void test_full_profile_conf1(void **state)
{
    (void)state;
    struct target *t = parse_ok(
        "# a comment\n"
        "\n"
        "name: imref\n"
        "host: 127.0.0.1\n"
        "port: 5222   # the c2s port\n"
        "direct-tls-port: 5223\n"
        "domain: example.org\n"
        "ca-file: /tmp/cert.pem\n"
        "capabilities: starttls direct-tls\tplus\n"
        "capabilities: logs\n"
        "quiet-period: 0.25\n"
        "scenario-timeout: 12\n"
        "receive-timeout: 15\n"
        "setup: hook setup\n"
        "teardown: hook teardown\n"
        "admin: hook admin\n"
        "log: hook log\n"
        "  skip: core/a.scs: Prosody answers differently\r\n"
        "skip: b.scs: no: colons: trouble\n");
    assert_string_equal(t->path, "targets/test.target");
    assert_string_equal(t->name, "imref");
    assert_string_equal(t->host, "127.0.0.1");
    assert_int_equal(t->port, 5222);
    assert_int_equal(t->direct_tls_port, 5223);
    assert_string_equal(t->domain, "example.org");
    assert_string_equal(t->ca_file, "/tmp/cert.pem");
    assert_int_equal(t->n_capabilities, 4);
    assert_string_equal(t->capabilities[2], "plus");
    assert_string_equal(t->capabilities[3], "logs");
    assert_true(t->quiet_period > 0.24 && t->quiet_period < 0.26);
    assert_true(t->scenario_timeout > 11.9 && t->scenario_timeout < 12.1);
    assert_true(t->receive_timeout > 14.9 && t->receive_timeout < 15.1);
    assert_string_equal(t->setup, "hook setup");
    assert_string_equal(t->teardown, "hook teardown");
    assert_string_equal(t->admin, "hook admin");
    assert_string_equal(t->log, "hook log");
    assert_int_equal(t->n_skips, 2);
    assert_string_equal(t->skips[0].scenario, "core/a.scs");
    assert_string_equal(t->skips[0].reason, "Prosody answers differently");
    assert_string_equal(t->skips[1].scenario, "b.scs");
    assert_string_equal(t->skips[1].reason, "no: colons: trouble");
    target_free(t);
}

/* CONF-1: defaults for the optional keys. */
static void test_defaults_conf1(void **state)
{
    (void)state;
    struct target *t = parse_ok("host: ::1\nport: 1\nca-file:\n");
    assert_string_equal(t->name, "test");
    assert_string_equal(t->domain, "localhost");
    assert_null(t->ca_file);
    assert_int_equal(t->direct_tls_port, 0);
    assert_true(t->quiet_period > 0.49 && t->quiet_period < 0.51);
    assert_true(t->scenario_timeout > 29.9 && t->scenario_timeout < 30.1);
    assert_true(t->receive_timeout > 4.9 && t->receive_timeout < 5.1);
    assert_null(t->setup);
    assert_null(t->teardown);
    assert_null(t->admin);
    assert_null(t->log);
    assert_int_equal(t->n_capabilities, 0);
    assert_false(target_has(t, "starttls"));
    target_free(t);
}

/* CONF-1: ${ENV} expansion in values. */
static void test_env_expansion_conf1(void **state)
{
    (void)state;
    setenv("IMCONFORM_TEST_PORT", "15222", 1);
    setenv("IMCONFORM_TEST_DIR", "/srv/im ref", 1);
    setenv("IMCONFORM_TEST_EMPTY", "", 1);
    struct target *t = parse_ok(
        "host: 127.0.0.1\n"
        "port: ${IMCONFORM_TEST_PORT}\n"
        "ca-file: ${IMCONFORM_TEST_DIR}/cert.pem\n"
        "setup: x${IMCONFORM_TEST_EMPTY}y $HOME ${IMCONFORM_TEST_PORT}${IMCONFORM_TEST_PORT}\n");
    assert_int_equal(t->port, 15222);
    assert_string_equal(t->ca_file, "/srv/im ref/cert.pem");
    assert_string_equal(t->setup, "xy $HOME 1522215222");
    target_free(t);
}

/* CONF-1: an unset variable is an error naming it and its line. */
static void test_env_unset_conf1(void **state)
{
    (void)state;
    unsetenv("IMCONFORM_TEST_UNSET");
    char *e = parse_error("host: 127.0.0.1\n\nport: ${IMCONFORM_TEST_UNSET}\n");
    assert_string_equal(e, "bad.target:3: environment variable IMCONFORM_TEST_UNSET is not set");
    free(e);
    e = parse_error("host: ${IMCONFORM_TEST_PORT\nport: 1\n");
    assert_string_equal(e, "bad.target:1: unterminated ${ in value");
    free(e);
}

/* CONF-1: malformed profiles, each error with PATH:LINE. */
static void test_errors_with_lines_conf1(void **state)
{
    (void)state;
    static const struct { const char *text, *error; } cases[] = {
        { "host: a\nport: 1\n# c\nhots: b\n", "bad.target:4: unknown key: hots" },
        { "host: a\nport: 70000\n", "bad.target:2: not a port number: 70000" },
        { "host: a\nport: 0\n", "bad.target:2: not a port number: 0" },
        { "host: a\nport: 12x\n", "bad.target:2: not a port number: 12x" },
        { "host: a\nport: 1\nport: 2\n", "bad.target:3: duplicate key: port" },
        { "host: a\nhost: b\nport: 1\n", "bad.target:2: duplicate key: host" },
        { "host: a\nport: 1\njust words\n", "bad.target:3: expected 'key: value'" },
        { "host: a\nport: 1\nskip: core/a.scs\n", "bad.target:3: skip needs 'PATH: reason'" },
        { "host: a\nport: 1\nskip: core/a.scs:   \n", "bad.target:3: skip needs 'PATH: reason'" },
        { "host: a\nport: 1\nquiet-period: -1\n", "bad.target:3: not a number of seconds: -1" },
        { "host: a\nport: 1\nscenario-timeout: 0\n", "bad.target:3: not a number of seconds: 0" },
        { "host: a\nport: 1\nreceive-timeout: 0\n", "bad.target:3: not a number of seconds: 0" },
        { "port: 1\n", "bad.target:0: missing key: host" },
        { "host: a\n", "bad.target:0: missing key: port" },
        { "host: a\n: x\nport: 1\n", "bad.target:2: empty key" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *e = parse_error(cases[i].text);
        if (strcmp(e, cases[i].error) != 0)
            fail_msg("case %zu: got '%s', want '%s'", i, e, cases[i].error);
        free(e);
    }
}

/* CONF-3: scenarios skipped by path suffix, with the reason. */
static void test_skip_matching_conf3(void **state)
{
    (void)state;
    struct target *t = parse_ok(
        "host: a\nport: 1\n"
        "skip: core/a.scs: reason A\n"
        "skip: conformance/suites/connect/b.scs: reason B\n");
    assert_string_equal(target_skip_reason(t, "core/a.scs"), "reason A");
    assert_string_equal(target_skip_reason(t, "conformance/suites/core/a.scs"), "reason A");
    assert_null(target_skip_reason(t, "conformance/suites/xcore/a.scs"));
    assert_null(target_skip_reason(t, "core/a.scs.orig"));
    assert_null(target_skip_reason(t, "a.scs"));
    assert_string_equal(target_skip_reason(t, "conformance/suites/connect/b.scs"), "reason B");
    assert_null(target_skip_reason(t, "connect/b.scs"));
    target_free(t);
}

/* CONF-3: capabilities. */
static void test_capabilities_conf3(void **state)
{
    (void)state;
    struct target *t = parse_ok("host: a\nport: 1\ncapabilities: starttls plus\n");
    assert_true(target_has(t, "starttls"));
    assert_true(target_has(t, "plus"));
    assert_false(target_has(t, "plu"));
    assert_false(target_has(t, "direct-tls"));
    target_free(t);
}

/* CONF-1: var-NAME keys (the scenarios' ${target:NAME} / ${peer:NAME}),
   expanded from the environment like every value; bad and repeated names
   are errors. */
static void test_vars_conf1(void **state)
{
    (void)state;
    setenv("IMCONFORM_TEST_DOWN", "down.s2s.example", 1);
    struct target *t = parse_ok("host: a\nport: 1\n"
                                "var-unreachable-domain: ${IMCONFORM_TEST_DOWN}   # SRV to a closed port\n"
                                "var-dns_timeout.s: 2\n");
    assert_int_equal(t->n_vars, 2);
    assert_string_equal(target_var(t, "unreachable-domain"), "down.s2s.example");
    assert_string_equal(target_var(t, "dns_timeout.s"), "2");
    assert_null(target_var(t, "unreachable"));
    assert_null(target_var(t, "var-unreachable-domain"));
    target_free(t);
    static const struct { const char *text, *error; } cases[] = {
        { "host: a\nport: 1\nvar-x: 1\nvar-x: 2\n", "bad.target:4: duplicate key: var-x" },
        { "host: a\nport: 1\nvar-: 1\n",
          "bad.target:3: bad variable name (letters, digits, '-', '_', '.'): var-" },
        { "host: a\nport: 1\nvar-a b: 1\n",
          "bad.target:3: bad variable name (letters, digits, '-', '_', '.'): var-a b" },
        { "host: a\nport: 1\nvar-a}: 1\n",
          "bad.target:3: bad variable name (letters, digits, '-', '_', '.'): var-a}" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *e = parse_error(cases[i].text);
        if (strcmp(e, cases[i].error) != 0)
            fail_msg("case %zu: got '%s', want '%s'", i, e, cases[i].error);
        free(e);
    }
}

/* CONF-1: loading from a file; a missing file is an error naming it. */
static void test_load_file_conf1(void **state)
{
    (void)state;
    char path[] = "/tmp/imconform-target-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "name: from-file\nhost: 127.0.0.1\nport: 5222\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct buf err;
    buf_init(&err);
    struct target *t = NULL;
    assert_int_equal(target_load(path, &t, &err), 0);
    assert_string_equal(t->name, "from-file");
    assert_string_equal(t->path, path);
    target_free(t);
    unlink(path);
    assert_int_equal(target_load(path, &t, &err), -1);
    assert_non_null(strstr(err.data, path));
    assert_non_null(strstr(err.data, ":0: cannot open"));
    buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_profile_conf1),
        cmocka_unit_test(test_defaults_conf1),
        cmocka_unit_test(test_env_expansion_conf1),
        cmocka_unit_test(test_env_unset_conf1),
        cmocka_unit_test(test_errors_with_lines_conf1),
        cmocka_unit_test(test_skip_matching_conf3),
        cmocka_unit_test(test_capabilities_conf3),
        cmocka_unit_test(test_load_file_conf1),
        cmocka_unit_test(test_vars_conf1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
