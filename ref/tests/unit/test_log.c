/* Unit tests: log files and their line format (LOG-1, LOG-3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

static char dir[] = "/tmp/imref-test-log-XXXXXX";

static char *read_file(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    static char data[4096];
    size_t n = fread(data, 1, sizeof data - 1, f);
    data[n] = '\0';
    fclose(f);
    return data;
}

/* LOG-1: "[DD/Mon/YYYY HH:MM:SS] " in local time. */
static void test_stamp_format(void **state)
{
    setenv("TZ", "UTC", 1);
    tzset();
    char s[32];
    log_format_stamp(1795467395, s, sizeof s);   /* 2026-11-23 20:56:35 UTC */
    assert_string_equal(s, "[23/Nov/2026 20:56:35] ");
    log_format_stamp(0, s, sizeof s);
    assert_string_equal(s, "[01/Jan/1970 00:00:00] ");
}

/* LOG-1, LOG-3: each kind to its file, one line per record, written at once. */
static void test_files_and_lines(void **state)
{
    assert_non_null(mkdtemp(dir));
    assert_int_equal(log_open(dir, false), 0);
    log_write(LOG_WARNING, "IM: warning %d", 1);
    log_write(LOG_SECURITY, "Failed XMPP login from %s with SASL method %s.", "127.0.0.1", "PLAIN");
    log_write(LOG_ERROR, "two\nlines");
    log_write(LOG_DEBUG, "not written: debug is off");
    char *w = read_file("warning.log");
    assert_non_null(w);
    assert_int_equal(strlen(w), 23 + strlen("IM: warning 1") + 1);
    assert_true(w[0] == '[' && w[3] == '/' && w[7] == '/' && w[12] == ' ' && w[21] == ']');
    assert_string_equal(w + 23, "IM: warning 1\n");
    char *s = read_file("security.log");
    assert_string_equal(s + 23, "Failed XMPP login from 127.0.0.1 with SASL method PLAIN.\n");
    char *e = read_file("error.log");
    assert_string_equal(e + 23, "two lines\n");
    assert_null(read_file("debug.log"));
    log_close();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* CFG-4, LOG-2: a Warning written before the logs are open (the
 * configuration is read first) still lands in warning.log. Runs first. */
static void test_lines_before_open(void **state)
{
    char early_dir[] = "/tmp/imref-test-log-early-XXXXXX";
    assert_non_null(mkdtemp(early_dir));
    log_write(LOG_WARNING, "mailserver.cfg: MaximumRoster 'abc' is not a number; 300 is used");
    assert_int_equal(log_open(early_dir, false), 0);
    log_write(LOG_WARNING, "after open");
    log_close();
    char path[256];
    snprintf(path, sizeof path, "%s/warning.log", early_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char text[512];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    char *first = strstr(text, "MaximumRoster 'abc'");
    char *second = strstr(text, "after open");
    assert_non_null(first);
    assert_non_null(second);
    assert_true(first < second);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", early_dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_before_open),
        cmocka_unit_test(test_stamp_format),
        cmocka_unit_test(test_files_and_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
