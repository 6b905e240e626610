/* Unit tests for report: TAP lines, diagnostics, the summary line and
 * JUnit XML for passed, failed and skipped scenarios (CONF-4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "report.h"

static char *const covers_a[] = { "IM-3", "RFC6121-2.1" };
static char *const covers_c[] = { "CONF-4" };

/* Adds a pass, a skip and a failure to r. */
static void add_three(struct report *r)
{
    struct runner_result pass = { .outcome = RUNNER_PASS, .transcript = "t.scs:3: Romeo connects" };
    struct runner_result skip = { .outcome = RUNNER_SKIP, .message = "requires plus, which target x lacks" };
    struct runner_result fail = {
        .outcome = RUNNER_FAIL, .message = "unexpected stanza",
        .diagnostic = "at core/c.scs:12: Romeo receives:\n\nexpected:\n  <presence type='a&b'/>\n"
                      "received:\n  <message>\x01<\"\xff</message>\n",
    };
    struct report_entry e[] = {
        { .path = "core/a.scs", .title = "Roster get", .covers = covers_a, .n_covers = 2,
          .result = &pass, .seconds = 0.25 },
        { .path = "core/b.scs", .title = "", .result = &skip, .seconds = 0 },
        { .path = "core/c.scs", .title = "Title with # hash", .covers = covers_c, .n_covers = 1,
          .result = &fail, .seconds = 1.5 },
    };
    for (size_t i = 0; i < 3; i++) report_add(r, &e[i]);
}

static char *tap_of(bool verbose)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    struct report *r = report_new(f, 3, verbose);
    add_three(r);
    report_summary(r);
    assert_int_equal(report_count(r, RUNNER_PASS), 1);
    assert_int_equal(report_count(r, RUNNER_FAIL), 1);
    assert_int_equal(report_count(r, RUNNER_SKIP), 1);
    report_free(r);
    fclose(f);
    return text;
}

/* CONF-4: TAP lines, # SKIP, not ok with "# " diagnostics, the summary. */
static void test_tap_conf4(void **state)
{
    (void)state;
    char *text = tap_of(false);
    assert_string_equal(text,
        "1..3\n"
        "ok 1 - core/a.scs: Roster get [IM-3 RFC6121-2.1]\n"
        "ok 2 - core/b.scs # SKIP requires plus, which target x lacks\n"
        "not ok 3 - core/c.scs: Title with \\# hash [CONF-4]\n"
        "# unexpected stanza\n"
        "# at core/c.scs:12: Romeo receives:\n"
        "#\n"
        "# expected:\n"
        "#   <presence type='a&b'/>\n"
        "# received:\n"
        "#   <message>\x01<\"\xff</message>\n"
        "1 passed, 1 failed, 1 skipped\n");
    free(text);
}

/* CONF-4: --verbose adds the transcript as comments. */
static void test_tap_verbose_conf4(void **state)
{
    (void)state;
    char *text = tap_of(true);
    assert_non_null(strstr(text, "ok 1 - core/a.scs: Roster get [IM-3 RFC6121-2.1]\n"
                                 "# t.scs:3: Romeo connects\n"
                                 "ok 2"));
    free(text);
}

/* CONF-4: JUnit XML with escaping, failure and skipped elements. */
static void test_junit_conf4(void **state)
{
    (void)state;
    FILE *devnull = fopen("/dev/null", "w");
    assert_non_null(devnull);
    struct report *r = report_new(devnull, 3, false);
    add_three(r);
    struct buf out;
    buf_init(&out);
    report_junit(r, "imref", &out);
    assert_string_equal(out.data,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<testsuite name=\"imconform.imref\" tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\" time=\"1.750\">\n"
        "  <testcase classname=\"imconform.imref\" name=\"core/a.scs: Roster get [IM-3 RFC6121-2.1]\" file=\"core/a.scs\" time=\"0.250\"/>\n"
        "  <testcase classname=\"imconform.imref\" name=\"core/b.scs\" file=\"core/b.scs\" time=\"0.000\">\n"
        "    <skipped message=\"requires plus, which target x lacks\"/>\n"
        "  </testcase>\n"
        "  <testcase classname=\"imconform.imref\" name=\"core/c.scs: Title with # hash [CONF-4]\" file=\"core/c.scs\" time=\"1.500\">\n"
        "    <failure message=\"unexpected stanza\">at core/c.scs:12: Romeo receives:\n\nexpected:\n"
        "  &lt;presence type='a&amp;b'/&gt;\nreceived:\n"
        "  &lt;message&gt;\xEF\xBF\xBD&lt;\"\xEF\xBF\xBD&lt;/message&gt;\n</failure>\n"
        "  </testcase>\n"
        "</testsuite>\n");

    /* written to a file */
    char path[] = "/tmp/imconform-junit-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct buf err;
    buf_init(&err);
    assert_int_equal(report_write_junit(r, "imref", path, &err), 0);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *file_text = xcalloc(1, out.len + 2);
    assert_int_equal(fread(file_text, 1, out.len + 1, f), out.len);
    fclose(f);
    assert_string_equal(file_text, out.data);
    free(file_text);
    unlink(path);
    assert_int_equal(report_write_junit(r, "imref", "/nonexistent-dir/x.xml", &err), -1);
    assert_non_null(strstr(err.data, "/nonexistent-dir/x.xml"));
    buf_free(&err);
    buf_free(&out);
    report_free(r);
    fclose(devnull);
}

/* CONF-4: attribute escaping of quotes, line breaks and valid UTF-8. */
static void test_junit_attribute_escaping_conf4(void **state)
{
    (void)state;
    FILE *devnull = fopen("/dev/null", "w");
    assert_non_null(devnull);
    struct report *r = report_new(devnull, 1, false);
    struct runner_result fail = { .outcome = RUNNER_FAIL, .message = "a \"q\" 'x'\n<b>\t\xc3\xa9" };
    struct report_entry e = { .path = "p&q.scs", .title = "T", .result = &fail };
    report_add(r, &e);
    struct buf out;
    buf_init(&out);
    report_junit(r, "t", &out);
    assert_non_null(strstr(out.data, "name=\"p&amp;q.scs: T\" file=\"p&amp;q.scs\""));
    assert_non_null(strstr(out.data,
        "<failure message=\"a &quot;q&quot; &apos;x&apos;&#10;&lt;b&gt;&#9;\xc3\xa9\"></failure>"));
    assert_int_equal(report_count(r, RUNNER_FAIL), 1);
    buf_free(&out);
    report_free(r);
    fclose(devnull);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tap_conf4),
        cmocka_unit_test(test_tap_verbose_conf4),
        cmocka_unit_test(test_junit_conf4),
        cmocka_unit_test(test_junit_attribute_escaping_conf4),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
