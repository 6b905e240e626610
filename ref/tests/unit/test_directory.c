/* Unit tests for directory: the users.cfg snapshot (CFG-2): lookups,
 * defaults, file order (ROST-1), duplicates and bad values warned (CFG-4),
 * user and group DomainRestriction flags (DOM-3), large files.
 * Run from the repository root (fixtures/config/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "directory.h"
#include "log.h"
#include "scratch.h"

#define FIXTURES "fixtures/config/"


static size_t count_lines(const char *text)
{
    size_t n = 0;
    for (; *text; text++) n += *text == '\n';
    return n;
}

static struct directory *load_ok(const char *path)
{
    struct directory *dir = NULL;
    struct buf err;
    buf_init(&err);
    int rc = directory_load(path, &dir, &err);
    if (rc != 0) print_error("unexpected error: %s\n", err.data);
    assert_int_equal(rc, 0);
    buf_free(&err);
    return dir;
}

/* CFG-2: every field read; defaults Enabled 1, PublishInGAL 1,
 * DomainRestriction 0; lookups ignore ASCII case. */
static void test_lookups_and_defaults(void **state)
{
    (void)state;
    struct directory *dir = load_ok(FIXTURES "users.cfg");
    const struct dir_user *alice = directory_find_user(dir, "alice", "localhost");
    assert_non_null(alice);
    assert_string_equal(alice->name, "alice");
    assert_string_equal(alice->domain, "localhost");
    assert_string_equal(alice->fullname, "Alice Example");
    assert_string_equal(alice->email, "alice@localhost");
    assert_string_equal(alice->password,
                        "SCRAM$4096$c2FsdA==$a2V5MQ==$a2V5Mg==$a2V5Mw==$a2V5NA==");
    assert_true(alice->enabled);
    assert_true(alice->publish_in_gal);
    assert_false(alice->domain_restriction);
    assert_string_equal(alice->access_policy, "Office only");
    assert_int_equal(alice->n_groups, 2);
    assert_string_equal(alice->groups[0], "sales");
    assert_string_equal(alice->groups[1], "support");
    assert_ptr_equal(directory_find_user(dir, "ALICE", "LOCALHOST"), alice);

    const struct dir_user *bob = directory_find_user(dir, "bob", "localhost");
    assert_non_null(bob);
    assert_string_equal(bob->name, "Bob");
    assert_string_equal(bob->fullname, "");
    assert_string_equal(bob->email, "");
    assert_string_equal(bob->password, "");
    assert_string_equal(bob->access_policy, "");
    assert_true(bob->enabled);
    assert_true(bob->publish_in_gal);
    assert_false(bob->domain_restriction);
    assert_int_equal(bob->n_groups, 0);

    const struct dir_user *carol = directory_find_user(dir, "carol", "example.com");
    assert_non_null(carol);
    assert_false(carol->enabled);
    assert_false(carol->publish_in_gal);
    assert_true(carol->domain_restriction);          /* DOM-3 */

    /* the same name on another domain is another user */
    const struct dir_user *alice2 = directory_find_user(dir, "alice", "example.com");
    assert_non_null(alice2);
    assert_ptr_not_equal(alice2, alice);
    assert_null(directory_find_user(dir, "carol", "localhost"));
    assert_null(directory_find_user(dir, "alic", "localhost"));
    assert_null(directory_find_user(dir, "nodomain", ""));

    const struct dir_group *sales = directory_find_group(dir, "Sales", "localhost");
    assert_non_null(sales);
    assert_string_equal(sales->name, "sales");
    assert_true(sales->domain_restriction);          /* first one wins */
    const struct dir_group *support = directory_find_group(dir, "support", "LOCALHOST");
    assert_non_null(support);
    assert_false(support->domain_restriction);
    assert_null(directory_find_group(dir, "sales", "example.com"));
    assert_null(directory_find_user(dir, "sales", "localhost"));
    directory_free(dir);
}

/* ROST-1: users in the order of users.cfg (skipped items leave no gap). */
static void test_file_order(void **state)
{
    (void)state;
    struct directory *dir = load_ok(FIXTURES "users.cfg");
    static const char *const expected[][2] = {
        { "alice", "localhost" }, { "Bob", "LocalHost" }, { "carol", "example.com" },
        { "dave", "localhost" }, { "alice", "example.com" },
    };
    assert_int_equal(directory_user_count(dir), 5);
    for (size_t i = 0; i < 5; i++) {
        const struct dir_user *u = directory_user_at(dir, i);
        assert_non_null(u);
        assert_string_equal(u->name, expected[i][0]);
        assert_string_equal(u->domain, expected[i][1]);
        assert_int_equal(u->order, i);
        assert_ptr_equal(directory_find_user(dir, u->name, u->domain), u);
    }
    assert_null(directory_user_at(dir, 5));
    directory_free(dir);
}

/* CFG-4: items without Name or Domain, repeats and bad booleans are
 * Warning lines naming the file; bad booleans take their defaults. */
static void test_warnings(void **state)
{
    struct scratch *s = *state;
    struct directory *dir = load_ok(FIXTURES "users.cfg");
    const struct dir_user *dave = directory_find_user(dir, "dave", "localhost");
    assert_true(dave->enabled);
    assert_true(dave->publish_in_gal);
    assert_false(dave->domain_restriction);
    /* the repeated ALICE did not replace the first alice */
    assert_string_equal(directory_find_user(dir, "alice", "localhost")->fullname, "Alice Example");

    char *log = scratch_warnings(s);
    static const char *const expected[] = {
        "users.cfg: User item 4 has no Domain; skipped.",
        "users.cfg: User item 5 has no Name; skipped.",
        "users.cfg: User item 6 repeats ALICE@localhost; the first one is used.",
        "users.cfg: invalid value \"yes\" for Enabled (User dave@localhost); using the default 1.",
        "users.cfg: invalid value \"2\" for PublishInGAL (User dave@localhost); using the default 1.",
        "users.cfg: invalid value \"true\" for DomainRestriction (User dave@localhost); using the default 0.",
        "users.cfg: Group item 3 repeats SALES@localhost; the first one is used.",
        "users.cfg: Group item 4 has no Domain; skipped.",
    };
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        if (!strstr(log, expected[i])) print_error("missing: %s\nin:\n%s", expected[i], log);
        assert_non_null(strstr(log, expected[i]));
    }
    assert_non_null(strstr(log, "Configuration " FIXTURES "users.cfg"));
    assert_int_equal(count_lines(log), sizeof expected / sizeof expected[0]);
    free(log);
    directory_free(dir);
}

/* CFG-2: no users.cfg yet is an empty directory. */
static void test_missing_file(void **state)
{
    (void)state;
    struct directory *dir = load_ok(FIXTURES "no-such-users.cfg");
    assert_int_equal(directory_user_count(dir), 0);
    assert_null(directory_user_at(dir, 0));
    assert_null(directory_find_user(dir, "alice", "localhost"));
    assert_null(directory_find_group(dir, "sales", "localhost"));
    directory_free(dir);
}

/* CFG-4: an unparsable users.cfg is an error with file, line and column. */
static void test_broken_file(void **state)
{
    (void)state;
    struct directory *dir = (struct directory *)1;
    struct buf err;
    buf_init(&err);
    assert_int_equal(directory_load(FIXTURES "users-broken.cfg", &dir, &err), -1);
    assert_null(dir);
    /* "Alice & Bob": expat points at the character after '&' that makes it invalid */
    assert_string_equal(err.data, FIXTURES "users-broken.cfg:7:40: not well-formed (invalid token)");
    assert_int_equal(directory_load(FIXTURES, &dir, &err), -1);
    assert_string_equal(err.data, FIXTURES ": Is a directory");
    buf_free(&err);
}

/* A directory of 5000+ users loads; every one is found, in any case, and
 * the order is kept. */
static void test_many_users(void **state)
{
    struct scratch *s = *state;
    enum { USERS = 6000 };
    char path[128];
    snprintf(path, sizeof path, "%s/users.cfg", s->dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<config>\n  <list name=\"User\">\n", f);
    for (int i = 0; i < USERS; i++)
        fprintf(f, "    <listitem>\n      <variable name=\"Name\">user%d</variable>\n"
                   "      <variable name=\"Domain\">d%d.example</variable>\n"
                   "      <variable name=\"FullName\">User Number %d</variable>\n"
                   "      <variable name=\"Password\">SCRAM$4096$x$y$z$w$v</variable>\n"
                   "    </listitem>\n", i, i % 3, i);
    fputs("  </list>\n</config>\n", f);
    fclose(f);

    struct directory *dir = load_ok(path);
    assert_int_equal(directory_user_count(dir), USERS);
    for (int i = 0; i < USERS; i++) {
        char name[32], domain[32], fullname[48];
        snprintf(name, sizeof name, "USER%d", i);
        snprintf(domain, sizeof domain, "D%d.EXAMPLE", i % 3);
        snprintf(fullname, sizeof fullname, "User Number %d", i);
        const struct dir_user *u = directory_find_user(dir, name, domain);
        assert_non_null(u);
        assert_string_equal(u->fullname, fullname);
        assert_int_equal(u->order, i);
        assert_ptr_equal(directory_user_at(dir, (size_t)i), u);
        /* the right domain only */
        snprintf(domain, sizeof domain, "d%d.example", (i + 1) % 3);
        assert_null(directory_find_user(dir, name, domain));
    }
    char *log = scratch_warnings(s);
    assert_string_equal(log, "");
    free(log);
    directory_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lookups_and_defaults, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_file_order, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_warnings, scratch_setup, scratch_teardown),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_broken_file),
        cmocka_unit_test_setup_teardown(test_many_users, scratch_setup, scratch_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
