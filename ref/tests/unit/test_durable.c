/* durable: whole writes and directory fsyncs (CFG-3, ARCH-3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "durable.h"

/* A pipe takes 64 KiB at a time: a larger buffer needs several writes. */
static void test_write_all_partial_writes(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    size_t len = 300000;
    char *data = malloc(len), *got = malloc(len);
    for (size_t i = 0; i < len; i++) data[i] = (char)(i * 7);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        _exit(durable_write_all(p[1], data, len) == 0 ? 0 : 1);
    }
    close(p[1]);
    size_t have = 0;
    ssize_t n;
    while ((n = read(p[0], got + have, len - have)) > 0) have += (size_t)n;
    close(p[0]);
    assert_int_equal(have, len);
    assert_memory_equal(got, data, len);
    free(data);
    free(got);
}

static void test_write_all_error(void **state)
{
    (void)state;
    assert_int_equal(durable_write_all(-1, "x", 1), -1);
    assert_int_equal(errno, EBADF);
}

static void test_sync_dirs(void **state)
{
    (void)state;
    char dir[] = "/tmp/imref-durable.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char file[64];
    snprintf(file, sizeof file, "%s/f", dir);
    assert_int_equal(durable_sync_dir(dir), 0);
    assert_int_equal(durable_sync_parent(file), 0);        /* dir itself */
    assert_int_equal(durable_sync_parent("/etc"), 0);      /* "/" */
    assert_int_equal(durable_sync_parent("relative-name"), 0);   /* "." */
    assert_int_equal(rmdir(dir), 0);
    assert_int_equal(durable_sync_dir(dir), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(durable_sync_parent(file), -1);
    assert_int_equal(errno, ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_all_partial_writes),
        cmocka_unit_test(test_write_all_error),
        cmocka_unit_test(test_sync_dirs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
