/* Unit tests: the command line of `imconform bench` for what issue 10's
 * benchmark script relies on: the presence set-up deadline (default 120 s,
 * --setup-timeout for servers that need longer to build 50,000
 * subscriptions) and --spin, which only the chat profile accepts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "loadgen_opts.h"

#define PARSE(o, ...) parse_args(o, (char *[]){ "bench", __VA_ARGS__, NULL })

static int parse_args(struct lg_opts *o, char **argv)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    FILE *saved = stderr;
    stderr = fopen("/dev/null", "w");     /* usage text of the refused cases */
    int r = lg_opts_parse(o, argc, argv);
    fclose(stderr);
    stderr = saved;
    return r;
}

static void test_setup_timeout_default_and_option(void **state)
{
    (void)state;
    struct lg_opts o;
    assert_int_equal(PARSE(&o, "--profile", "presence", "--port", "5222", "--domain", "d.example",
                           "--users", "10", "--roster", "4"), 0);
    assert_true(o.setup_timeout == 120);
    lg_opts_free(&o);
    assert_int_equal(PARSE(&o, "--profile", "presence", "--port", "5222", "--domain", "d.example",
                           "--users", "10", "--roster", "4", "--setup-timeout", "900"), 0);
    assert_true(o.setup_timeout == 900);
    lg_opts_free(&o);
}

static void test_setup_timeout_refuses_zero_and_junk(void **state)
{
    (void)state;
    struct lg_opts o;
    assert_int_equal(PARSE(&o, "--profile", "presence", "--port", "5222", "--domain", "d.example",
                           "--users", "10", "--roster", "4", "--setup-timeout", "0"), 2);
    lg_opts_free(&o);
    assert_int_equal(PARSE(&o, "--profile", "presence", "--port", "5222", "--domain", "d.example",
                           "--users", "10", "--roster", "4", "--setup-timeout", "soon"), 2);
    lg_opts_free(&o);
}

static void test_spin_is_for_chat_only(void **state)
{
    (void)state;
    struct lg_opts o;
    assert_int_equal(PARSE(&o, "--profile", "chat", "--port", "5222", "--domain", "d.example",
                           "--pairs", "2", "--rate", "10", "--spin"), 0);
    assert_true(o.spin);
    lg_opts_free(&o);
    assert_int_equal(PARSE(&o, "--profile", "login", "--port", "5222", "--domain", "d.example",
                           "--rate", "10", "--spin"), 2);
    lg_opts_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_setup_timeout_default_and_option),
        cmocka_unit_test(test_setup_timeout_refuses_zero_and_junk),
        cmocka_unit_test(test_spin_is_for_chat_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
