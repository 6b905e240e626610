/* Unit tests for colleagues: the automatic contact list per domain
 * (ROST-1..4) and the membership changes between two builds (ROST-8).
 * Each test writes its users.cfg into the scratch directory, where the
 * Warning log is read back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "colleagues.h"
#include "directory.h"
#include "log.h"
#include "scratch.h"

#define DEFAULT_MAXIMUM_ROSTER 300

struct user_spec {
    const char *name, *domain;
    bool enabled, published;
};

#define ON(n, d) { n, d, true, true }
#define DISABLED(n, d) { n, d, false, true }
#define UNPUBLISHED(n, d) { n, d, true, false }

static void write_user(FILE *fp, const char *name, const char *domain, bool enabled, bool published)
{
    fprintf(fp, "<listitem><variable name=\"Name\">%s</variable><variable name=\"Domain\">%s</variable>"
                "<variable name=\"Enabled\">%d</variable><variable name=\"PublishInGAL\">%d</variable>"
                "</listitem>\n", name, domain, enabled, published);
}

static FILE *begin_users(const struct scratch *s, const char *file, char *path, size_t path_size)
{
    snprintf(path, path_size, "%s/%s", s->dir, file);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<config><list name=\"User\">\n", fp);
    return fp;
}

static struct directory *end_users(FILE *fp, const char *path)
{
    fputs("</list></config>\n", fp);
    assert_int_equal(fclose(fp), 0);
    struct directory *dir = NULL;
    struct buf err;
    buf_init(&err);
    int rc = directory_load(path, &dir, &err);
    if (rc != 0) print_error("directory_load: %s\n", err.data);
    assert_int_equal(rc, 0);
    buf_free(&err);
    return dir;
}

static struct directory *load_users(const struct scratch *s, const char *file, const struct user_spec *users,
                                    size_t n)
{
    char path[160];
    FILE *fp = begin_users(s, file, path, sizeof path);
    for (size_t i = 0; i < n; i++) write_user(fp, users[i].name, users[i].domain, users[i].enabled, users[i].published);
    return end_users(fp, path);
}

/* `count` enabled, published users u0, u1, ... of `domain`. */
static struct directory *load_numbered(const struct scratch *s, const char *domain, size_t count)
{
    char path[160], name[32];
    FILE *fp = begin_users(s, "numbered.cfg", path, sizeof path);
    for (size_t i = 0; i < count; i++) {
        snprintf(name, sizeof name, "u%zu", i);
        write_user(fp, name, domain, true, true);
    }
    return end_users(fp, path);
}

/* The members of `domain` as "a,b,c". */
static char *member_names(const struct colleagues *c, const char *domain)
{
    size_t n = 99;
    const struct dir_user *const *members = colleagues_members(c, domain, &n);
    struct buf b;
    buf_init(&b);
    for (size_t i = 0; i < n; i++) buf_printf(&b, "%s%s", i ? "," : "", members[i]->name);
    return buf_steal(&b);
}

static void assert_members(const struct colleagues *c, const char *domain, const char *want)
{
    char *got = member_names(c, domain);
    assert_string_equal(got, want);
    free(got);
}

static size_t warning_length(const struct scratch *s)
{
    char *text = scratch_warnings(s);
    size_t len = strlen(text);
    free(text);
    return len;
}

/* The Warning-log lines written since `from` bytes, without their stamps, "\n"-terminated. */
static char *warnings_since(const struct scratch *s, size_t from)
{
    char *text = scratch_warnings(s);
    assert_true(strlen(text) >= from);
    struct buf b;
    buf_init(&b);
    for (const char *line = text + from; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        const char *body = strstr(line, "] ");
        assert_non_null(body);
        body += 2;
        buf_append(&b, body, len - (size_t)(body - line));
        buf_append(&b, "\n", 1);
        line += len + (end != NULL);
    }
    free(text);
    return buf_steal(&b);
}

static void assert_warnings_since(const struct scratch *s, size_t from, const char *want)
{
    char *got = warnings_since(s, from);
    assert_string_equal(got, want);
    free(got);
}

/* ROST-1: enabled, published users only, in users.cfg order; membership
 * ignores ASCII case; a domain without eligible users has an empty list. */
static void test_rost1_eligible_users_in_file_order(void **state)
{
    struct scratch *s = *state;
    const struct user_spec users[] = {
        ON("dave", "a.example"), DISABLED("bob", "a.example"), ON("carol", "b.example"),
        UNPUBLISHED("eve", "a.example"), ON("alice", "a.example"), ON("frank", "A.Example"),
        DISABLED("gina", "c.example"), UNPUBLISHED("hank", "c.example"),
    };
    struct directory *dir = load_users(s, "users.cfg", users, sizeof users / sizeof *users);
    struct colleagues *c = colleagues_build(dir, DEFAULT_MAXIMUM_ROSTER);

    assert_members(c, "a.example", "dave,alice,frank");
    assert_members(c, "A.EXAMPLE", "dave,alice,frank");
    assert_members(c, "b.example", "carol");
    assert_members(c, "c.example", "");
    assert_members(c, "nowhere.example", "");
    assert_true(colleagues_is_member(c, "dave", "a.example"));
    assert_true(colleagues_is_member(c, "ALICE", "a.EXAMPLE"));
    assert_true(colleagues_is_member(c, "frank", "a.example"));
    assert_true(colleagues_is_member(c, "carol", "b.example"));
    assert_false(colleagues_is_member(c, "bob", "a.example"));
    assert_false(colleagues_is_member(c, "eve", "a.example"));
    assert_false(colleagues_is_member(c, "gina", "c.example"));
    assert_false(colleagues_is_member(c, "hank", "c.example"));
    assert_false(colleagues_is_member(c, "carol", "a.example"));
    assert_false(colleagues_is_member(c, "nobody", "a.example"));
    assert_string_equal(COLLEAGUES_GROUP, "Colleagues");
    colleagues_free(c);
    directory_free(dir);
}

/* Builds `eligible` users of one domain (with ineligible ones between)
 * under `limit`; checks the list, membership and the ROST-3 line. */
static void check_limit(const struct scratch *s, size_t eligible, int limit)
{
    char path[160], name[32];
    FILE *fp = begin_users(s, "limit.cfg", path, sizeof path);
    for (size_t i = 0; i < eligible; i++) {
        snprintf(name, sizeof name, "off%zu", i);
        write_user(fp, name, "limit.example", i % 2 == 0, i % 2 != 0);
        snprintf(name, sizeof name, "u%zu", i);
        write_user(fp, name, "limit.example", true, true);
    }
    struct directory *dir = end_users(fp, path);
    size_t before = warning_length(s);
    struct colleagues *c = colleagues_build(dir, limit);

    size_t kept = limit <= 0 ? 0 : eligible < (size_t)limit ? eligible : (size_t)limit;
    size_t n = 99;
    const struct dir_user *const *members = colleagues_members(c, "limit.example", &n);
    assert_int_equal(n, kept);
    for (size_t i = 0; i < eligible; i++) {
        snprintf(name, sizeof name, "u%zu", i);
        if (i < kept) assert_string_equal(members[i]->name, name);
        assert_int_equal(colleagues_is_member(c, name, "limit.example"), i < kept);
    }
    char want[200] = "";
    if (limit > 0 && eligible > (size_t)limit)
        snprintf(want, sizeof want, "IM: Automatic contact list for domain limit.example is incomplete: %zu users "
                 "exceed the maximum of %d (MaximumRoster).\n", eligible - (size_t)limit, limit);
    assert_warnings_since(s, before, want);
    colleagues_free(c);
    directory_free(dir);
}

/* ROST-2, ROST-3: around the limit; only beyond it is the list cut and warned. */
static void test_rost2_rost3_counts_around_the_limit(void **state)
{
    struct scratch *s = *state;
    check_limit(s, 4, 5);
    check_limit(s, 5, 5);
    check_limit(s, 6, 5);
    check_limit(s, 9, 5);
    check_limit(s, 1, 1);
    check_limit(s, 2, 1);
    check_limit(s, 0, 5);
}

/* ROST-2, ROST-3: the default 300 with 301 users leaves the last one out. */
static void test_rost2_rost3_default_limit_301_users(void **state)
{
    struct scratch *s = *state;
    check_limit(s, 301, DEFAULT_MAXIMUM_ROSTER);
    check_limit(s, 300, DEFAULT_MAXIMUM_ROSTER);
}

/* ROST-4: 0 disables the list: no members, no warning however many users. */
static void test_rost4_zero_disables_without_warning(void **state)
{
    struct scratch *s = *state;
    check_limit(s, 12, 0);
    struct directory *dir = load_numbered(s, "zero.example", 400);
    size_t before = warning_length(s);
    struct colleagues *c = colleagues_build(dir, 0);
    assert_members(c, "zero.example", "");
    assert_false(colleagues_is_member(c, "u0", "zero.example"));
    assert_warnings_since(s, before, "");
    colleagues_free(c);
    directory_free(dir);
}

/* ROST-2, ROST-3: domains are counted and cut independently; one line per
 * exceeding domain, in order of first appearance, again at each build. */
static void test_rost2_rost3_domains_independent(void **state)
{
    struct scratch *s = *state;
    const struct user_spec users[] = {
        ON("a1", "big.example"), ON("s1", "small.example"), ON("a2", "big.example"),
        ON("x1", "exact.example"), ON("a3", "big.example"), ON("x2", "exact.example"),
        ON("a4", "big.example"), ON("y1", "other.example"), ON("y2", "other.example"),
        ON("y3", "other.example"), ON("a5", "big.example"), DISABLED("x3", "exact.example"),
        UNPUBLISHED("x4", "exact.example"),
    };
    struct directory *dir = load_users(s, "users.cfg", users, sizeof users / sizeof *users);
    size_t before = warning_length(s);
    struct colleagues *c = colleagues_build(dir, 2);
    assert_members(c, "big.example", "a1,a2");
    assert_members(c, "small.example", "s1");
    assert_members(c, "exact.example", "x1,x2");
    assert_members(c, "other.example", "y1,y2");
    assert_false(colleagues_is_member(c, "a3", "big.example"));
    assert_false(colleagues_is_member(c, "y3", "other.example"));
    const char *lines =
        "IM: Automatic contact list for domain big.example is incomplete: 3 users exceed the maximum of 2 "
        "(MaximumRoster).\n"
        "IM: Automatic contact list for domain other.example is incomplete: 1 users exceed the maximum of 2 "
        "(MaximumRoster).\n";
    assert_warnings_since(s, before, lines);

    before = warning_length(s);
    struct colleagues *again = colleagues_build(dir, 2);
    assert_warnings_since(s, before, lines);
    colleagues_free(again);
    colleagues_free(c);
    directory_free(dir);
}

/* ROST-2: 5000 users under the default limit, then 50000 users in 10000
 * domains: one linear pass, no per-domain search. */
static void test_rost2_large_directories(void **state)
{
    struct scratch *s = *state;
    struct directory *dir = load_numbered(s, "many.example", 5000);
    struct colleagues *c = colleagues_build(dir, DEFAULT_MAXIMUM_ROSTER);
    size_t n;
    const struct dir_user *const *members = colleagues_members(c, "many.example", &n);
    assert_int_equal(n, DEFAULT_MAXIMUM_ROSTER);
    assert_string_equal(members[0]->name, "u0");
    assert_string_equal(members[299]->name, "u299");
    assert_true(colleagues_is_member(c, "u299", "many.example"));
    assert_false(colleagues_is_member(c, "u300", "many.example"));
    assert_false(colleagues_is_member(c, "u4999", "many.example"));
    colleagues_free(c);
    directory_free(dir);

    enum { USERS = 50000, DOMAINS = 10000 };
    char path[160], name[32], domain[32];
    FILE *fp = begin_users(s, "large.cfg", path, sizeof path);
    for (size_t i = 0; i < USERS; i++) {
        snprintf(name, sizeof name, "u%zu", i);
        snprintf(domain, sizeof domain, "d%zu.example", i % DOMAINS);
        write_user(fp, name, domain, true, true);
    }
    dir = end_users(fp, path);
    size_t before = warning_length(s);
    c = colleagues_build(dir, DEFAULT_MAXIMUM_ROSTER);
    for (size_t d = 0; d < DOMAINS; d++) {
        snprintf(domain, sizeof domain, "d%zu.example", d);
        members = colleagues_members(c, domain, &n);
        assert_int_equal(n, USERS / DOMAINS);
        for (size_t i = 0; i < n; i++) assert_int_equal(members[i]->order, d + i * DOMAINS);
    }
    assert_true(colleagues_is_member(c, "u49999", "d9999.example"));
    assert_false(colleagues_is_member(c, "u49999", "d0.example"));
    assert_warnings_since(s, before, "");
    colleagues_free(c);
    directory_free(dir);
}

/* ---- ROST-8: changes between two builds --------------------------------- */

static void record_change(void *ctx, const struct dir_user *user, bool added)
{
    buf_printf(ctx, "%c%s@%s ", added ? '+' : '-', user->name, user->domain);
}

/* The changes from the users in `before` to those in `after` as "+a@d -b@d ". */
static char *diff_of(const struct scratch *s, const struct user_spec *before, size_t n_before,
                     const struct user_spec *after, size_t n_after, int limit)
{
    struct directory *old_dir = load_users(s, "old.cfg", before, n_before);
    struct directory *new_dir = load_users(s, "new.cfg", after, n_after);
    struct colleagues *old = colleagues_build(old_dir, limit);
    struct colleagues *new_ = colleagues_build(new_dir, limit);
    struct buf changes;
    buf_init(&changes);
    colleagues_diff(old, new_, record_change, &changes);
    colleagues_free(old);
    colleagues_free(new_);
    directory_free(old_dir);
    directory_free(new_dir);
    return buf_steal(&changes);
}

#define N(a) (sizeof (a) / sizeof *(a))

static void assert_diff(const struct scratch *s, const struct user_spec *before, size_t n_before,
                        const struct user_spec *after, size_t n_after, int limit, const char *want)
{
    char *got = diff_of(s, before, n_before, after, n_after, limit);
    assert_string_equal(got, want);
    free(got);
}

/* ROST-8: adding, removing, disabling, (un)publishing users; the limit
 * pushing a user out when an earlier one joins; other domains untouched. */
static void test_rost8_diff_membership_changes(void **state)
{
    struct scratch *s = *state;
    const struct user_spec base[] = {
        ON("a", "d.example"), ON("b", "d.example"), ON("x", "e.example"), ON("c", "d.example"),
    };
    assert_diff(s, base, N(base), base, N(base), 10, "");

    const struct user_spec added[] = {
        ON("a", "d.example"), ON("b", "d.example"), ON("x", "e.example"), ON("c", "d.example"),
        ON("n", "d.example"),
    };
    assert_diff(s, base, N(base), added, N(added), 10, "+n@d.example ");
    assert_diff(s, added, N(added), base, N(base), 10, "-n@d.example ");

    const struct user_spec disabled[] = {
        ON("a", "d.example"), DISABLED("b", "d.example"), ON("x", "e.example"), ON("c", "d.example"),
    };
    assert_diff(s, base, N(base), disabled, N(disabled), 10, "-b@d.example ");
    assert_diff(s, disabled, N(disabled), base, N(base), 10, "+b@d.example ");

    const struct user_spec unpublished[] = {
        ON("a", "d.example"), ON("b", "d.example"), UNPUBLISHED("x", "e.example"), ON("c", "d.example"),
    };
    assert_diff(s, base, N(base), unpublished, N(unpublished), 10, "-x@e.example ");
    assert_diff(s, unpublished, N(unpublished), base, N(base), 10, "+x@e.example ");

    /* limit 2: enabling b pushes c beyond it; a new first user pushes out the last */
    assert_diff(s, disabled, N(disabled), base, N(base), 2, "-c@d.example +b@d.example ");
    const struct user_spec inserted_first[] = {
        ON("z", "d.example"), ON("a", "d.example"), ON("b", "d.example"), ON("x", "e.example"),
        ON("c", "d.example"),
    };
    assert_diff(s, base, N(base), inserted_first, N(inserted_first), 3, "-c@d.example +z@d.example ");

    /* removing a user lets the next one in */
    const struct user_spec removed[] = { ON("a", "d.example"), ON("x", "e.example"), ON("c", "d.example") };
    assert_diff(s, base, N(base), removed, N(removed), 2, "-b@d.example +c@d.example ");

    /* disabled on both sides: nothing changes */
    assert_diff(s, base, N(base), added, N(added), 0, "");
}

/* ROST-8, ROST-4: from and to a disabled list, or no build at all. */
static void test_rost8_diff_enable_disable(void **state)
{
    struct scratch *s = *state;
    const struct user_spec users[] = { ON("a", "d.example"), ON("x", "e.example"), ON("b", "d.example") };
    struct directory *dir = load_users(s, "users.cfg", users, N(users));
    struct colleagues *off = colleagues_build(dir, 0);
    struct colleagues *on = colleagues_build(dir, 10);
    struct buf changes;
    buf_init(&changes);
    buf_append(&changes, "", 0);
    colleagues_diff(off, on, record_change, &changes);
    assert_string_equal(changes.data, "+a@d.example +b@d.example +x@e.example ");
    buf_reset(&changes);
    buf_append(&changes, "", 0);
    colleagues_diff(on, off, record_change, &changes);
    assert_string_equal(changes.data, "-a@d.example -b@d.example -x@e.example ");
    buf_reset(&changes);
    buf_append(&changes, "", 0);
    colleagues_diff(NULL, on, record_change, &changes);
    assert_string_equal(changes.data, "+a@d.example +b@d.example +x@e.example ");
    buf_free(&changes);
    colleagues_free(off);
    colleagues_free(on);
    directory_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rost1_eligible_users_in_file_order),
        cmocka_unit_test(test_rost2_rost3_counts_around_the_limit),
        cmocka_unit_test(test_rost2_rost3_default_limit_301_users),
        cmocka_unit_test(test_rost4_zero_disables_without_warning),
        cmocka_unit_test(test_rost2_rost3_domains_independent),
        cmocka_unit_test(test_rost2_large_directories),
        cmocka_unit_test(test_rost8_diff_membership_changes),
        cmocka_unit_test(test_rost8_diff_enable_disable),
    };
    return cmocka_run_group_tests(tests, scratch_setup, scratch_teardown);
}
