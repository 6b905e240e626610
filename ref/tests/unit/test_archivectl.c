/* archivectl: the archive commands of imrefctl (ARCH-4) on real files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "archivectl.h"
#include "json.h"
#include "scratch.h"

static void test_valid_date(void **state)
{
    (void)state;
    assert_true(archivectl_valid_date("2026-11-23"));
    assert_true(archivectl_valid_date("2024-02-29"));           /* leap year */
    assert_true(archivectl_valid_date("2000-02-29"));
    assert_false(archivectl_valid_date("1900-02-29"));
    assert_false(archivectl_valid_date("2026-02-29"));
    assert_false(archivectl_valid_date("2026-13-01"));
    assert_false(archivectl_valid_date("2026-00-10"));
    assert_false(archivectl_valid_date("2026-04-31"));
    assert_false(archivectl_valid_date("2026-4-01"));
    assert_false(archivectl_valid_date("2026-04-01x"));
    assert_false(archivectl_valid_date("2026-04- 1"));
    assert_false(archivectl_valid_date("+026-04-01"));
    assert_false(archivectl_valid_date(""));
}

#define LINE(d, body) "[" d " 10:00:00] <message from='a@x/r' to='b@x'><body>" body "</body></message>\n"

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[700];
    snprintf(path, sizeof path, "%s/xmpp/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* An archive directory below the scratch: three day files and another file. */
static char *scratch_archive(void **state, const char *name)
{
    const struct scratch *s = *state;
    char *dir = xmalloc(512), sub[600];
    snprintf(dir, 512, "%s/%s", s->dir, name);
    snprintf(sub, sizeof sub, "%s/xmpp", dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(mkdir(sub, 0700), 0);
    write_file(dir, "2026-01-02.log", LINE("02/Jan/2026", "one") LINE("02/Jan/2026", "two") "[02/Jan/2026 10:0");
    write_file(dir, "2026-01-05.log", LINE("05/Jan/2026", "three"));
    write_file(dir, "2026-02-01.log", LINE("01/Feb/2026", "four"));
    write_file(dir, "README", "not a day file\n");
    return dir;
}

/* ARCH-4: every day file with its counts, oldest first. */
static void test_list(void **state)
{
    char *dir = scratch_archive(state, "list");
    struct buf text, err;
    buf_init(&text);
    buf_init(&err);
    struct jsonw w;
    jsonw_init(&w, &text);
    assert_int_equal(archivectl_list(dir, &w, &err), 0);
    struct json *doc = json_parse(text.data, text.len, NULL);
    assert_int_equal(json_array_len(doc), 3);
    const struct json *first = json_array_at(doc, 0);
    double messages = 0, skipped = 0;
    assert_string_equal(json_string(json_get(first, "date")), "2026-01-02");
    assert_true(json_number(json_get(first, "messages"), &messages));
    assert_true(json_number(json_get(first, "skipped"), &skipped));
    assert_true(messages == 2 && skipped == 1);
    assert_string_equal(json_string(json_get(json_array_at(doc, 2), "file")), "2026-02-01.log");
    json_free(doc);
    buf_free(&text);
    buf_free(&err);
    free(dir);
}

/* ARCH-4: a range, both ends included, as one file; bad ranges refused. */
static void test_export(void **state)
{
    char *dir = scratch_archive(state, "export");
    char out[600];
    snprintf(out, sizeof out, "%s/export.log", dir);
    struct buf text, err;
    buf_init(&text);
    buf_init(&err);
    struct jsonw w;
    jsonw_init(&w, &text);
    bool usage = true;
    assert_int_equal(archivectl_export(dir, "2026-01-02", "2026-01-05", out, NULL, &w, &usage, &err), 0);
    assert_false(usage);
    FILE *f = fopen(out, "r");
    assert_non_null(f);
    char got[1024] = { 0 };
    size_t n = fread(got, 1, sizeof got - 1, f);
    fclose(f);
    assert_true(n > 0);
    assert_string_equal(got, LINE("02/Jan/2026", "one") LINE("02/Jan/2026", "two") LINE("05/Jan/2026", "three"));
    assert_non_null(strstr(text.data, "\"messages\":3"));
    assert_non_null(strstr(text.data, "\"skipped\":1"));

    static const char *const bad[][2] = { { "2026-02-01", "2026-01-01" }, { "2026-1-01", "2026-02-01" },
                                          { "2026-02-30", "2026-03-01" } };
    char refused[600];
    snprintf(refused, sizeof refused, "%s/refused.log", dir);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        buf_reset(&err);
        usage = false;
        assert_int_equal(archivectl_export(dir, bad[i][0], bad[i][1], refused, NULL, &w, &usage, &err), -1);
        assert_true(usage);
        assert_int_equal(access(refused, F_OK), -1);
    }
    /* an output that cannot be written: an I/O error, not a usage error */
    snprintf(refused, sizeof refused, "%s/no-such-dir/out.log", dir);
    buf_reset(&err);
    assert_int_equal(archivectl_export(dir, "2026-01-01", "2026-12-31", refused, NULL, &w, &usage, &err), -1);
    assert_false(usage);
    assert_non_null(strstr(err.data, "no-such-dir"));
    buf_free(&text);
    buf_free(&err);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_date),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_export),
    };
    return cmocka_run_group_tests(tests, scratch_setup, scratch_teardown);
}
