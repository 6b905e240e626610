/* Unit tests for usersedit: the administrator's changes to users.cfg
 * (ADM-4, CFG-2): every operation, its refusals, preservation of unknown
 * content (CFG-3), file order of users (ROST-1) and atomic saves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "directory.h"
#include "scram.h"
#include "scratch.h"
#include "usersedit.h"

#define ITER SCRAM_MIN_ITERATIONS

static const char sample_users[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
    "<!-- kept comment -->\n"
    "<config>\n"
    "  <table name=\"Unknown\">\n"
    "    <variable name=\"Keep\">me</variable>\n"
    "  </table>\n"
    "  <list name=\"User\">\n"
    "    <listitem>\n"
    "      <variable name=\"Name\">Alice</variable>\n"
    "      <variable name=\"Domain\">localhost</variable>\n"
    "      <variable name=\"FullName\">Alice Example</variable>\n"
    "      <variable name=\"Groups\">sales, support</variable>\n"
    "      <variable name=\"Extra\">custom</variable><!-- item comment -->\n"
    "    </listitem>\n"
    "    <listitem>\n"
    "      <variable name=\"Name\">bob</variable>\n"
    "      <variable name=\"Domain\">localhost</variable>\n"
    "      <variable name=\"Groups\">Sales</variable>\n"
    "    </listitem>\n"
    "    <listitem>\n"
    "      <variable name=\"Name\">carol</variable>\n"
    "      <variable name=\"Domain\">example.com</variable>\n"
    "      <variable name=\"Groups\">sales</variable>\n"
    "    </listitem>\n"
    "  </list>\n"
    "  <list name=\"Group\">\n"
    "    <listitem>\n"
    "      <variable name=\"Name\">sales</variable>\n"
    "      <variable name=\"Domain\">localhost</variable>\n"
    "      <variable name=\"DomainRestriction\">0</variable>\n"
    "    </listitem>\n"
    "  </list>\n"
    "  <list name=\"Other\"><listitem><variable name=\"X\">1</variable></listitem></list>\n"
    "</config>\n";

/* One test's users.cfg in the scratch directory; freed with path_free. */
static char *users_path(void **state, const char *name, const char *content)
{
    struct scratch *s = *state;
    struct buf p;
    buf_init(&p);
    buf_printf(&p, "%s/%s", s->dir, name);
    unlink(p.data);
    if (content) {
        FILE *f = fopen(p.data, "w");
        assert_non_null(f);
        fputs(content, f);
        fclose(f);
    }
    return buf_steal(&p);
}

static struct directory *load(const char *path)
{
    struct directory *dir = NULL;
    struct buf err;
    buf_init(&err);
    assert_int_equal(directory_load(path, &dir, &err), 0);
    buf_free(&err);
    return dir;
}

/* Asserts that the call failed with exactly `message`, leaving the file as it was. */
#define assert_refused(call, path, message)                                   \
    do {                                                                      \
        char *before_ = scratch_read_file(path);                              \
        struct buf err_;                                                      \
        buf_init(&err_);                                                      \
        int rc_ = usersedit_##call;                                           \
        assert_int_equal(rc_, -1);                                            \
        assert_non_null(err_.data);                                           \
        assert_string_equal(err_.data, message);                              \
        char *after_ = scratch_read_file(path);                               \
        assert_string_equal(before_, after_);                                 \
        free(before_);                                                        \
        free(after_);                                                         \
        buf_free(&err_);                                                      \
    } while (0)

#define assert_done(call)                                                     \
    do {                                                                      \
        struct buf err_;                                                      \
        buf_init(&err_);                                                      \
        int rc_ = usersedit_##call;                                           \
        if (rc_ != 0) print_error("unexpected error: %s\n", err_.data);       \
        assert_int_equal(rc_, 0);                                             \
        buf_free(&err_);                                                      \
    } while (0)

/* ADM-4, AUTH-2, ROST-1: a new user is appended with its SCRAM keys and
 * the defaults; the file is created (mode 0600) if absent. */
static void test_add_user_creates_and_appends(void **state)
{
    char *path = users_path(state, "add.cfg", NULL);
    assert_done(add_user(path, "Zed@LocalHost", "secret", "Zed Z", "zed@localhost", ITER, &err_));
    assert_done(add_user(path, "amy@localhost", "pw2", NULL, NULL, ITER, &err_));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    struct directory *dir = load(path);
    assert_int_equal(directory_user_count(dir), 2);
    const struct dir_user *zed = directory_user_at(dir, 0);
    assert_string_equal(zed->name, "zed");      /* prepared by jid_parse */
    assert_string_equal(zed->domain, "localhost");
    assert_string_equal(zed->fullname, "Zed Z");
    assert_string_equal(zed->email, "zed@localhost");
    assert_true(zed->enabled);
    assert_true(zed->publish_in_gal);
    assert_false(zed->domain_restriction);
    struct scram_record rec;
    assert_int_equal(scram_parse_record(zed->password, &rec), 0);
    assert_true(scram_verify_plain(&rec, "secret"));
    char *text = scratch_read_file(path);
    assert_null(strstr(text, "secret"));
    free(text);
    assert_string_equal(directory_user_at(dir, 1)->name, "amy");   /* after zed */
    directory_free(dir);
    free(path);
}

/* ADM-4: refusals leave the file untouched. */
static void test_add_user_refusals(void **state)
{
    char *path = users_path(state, "refuse.cfg", sample_users);
    assert_refused(add_user(path, "alice@LOCALHOST", "pw", "", "", ITER, &err_), path,
                   "user alice@localhost exists");
    assert_refused(add_user(path, "localhost", "pw", "", "", ITER, &err_), path,
                   "'localhost' is not a valid user JID (name@domain)");
    assert_refused(add_user(path, "a@b/res", "pw", "", "", ITER, &err_), path,
                   "'a@b/res' is not a valid user JID (name@domain)");
    assert_refused(add_user(path, "a b@localhost", "pw", "", "", ITER, &err_), path,
                   "'a b@localhost' is not a valid user JID (name@domain)");
    assert_refused(add_user(path, "new@localhost", "", "", "", ITER, &err_), path,
                   "the password must not be empty");
    assert_refused(add_user(path, "new@localhost", NULL, "", "", ITER, &err_), path,
                   "the password must not be empty");
    assert_refused(add_user(path, "new@localhost", "pw", "two\nlines", "", ITER, &err_), path,
                   "FullName must be one line of UTF-8 text without control characters");
    assert_refused(add_user(path, "new@localhost", "pw", "", "\x01", ITER, &err_), path,
                   "Email must be one line of UTF-8 text without control characters");
    free(path);
}

/* CFG-3, ROST-1: unknown tables, lists, variables and comments survive an
 * edit; the order of users is kept. */
static void test_unknown_content_and_order_kept(void **state)
{
    char *path = users_path(state, "keep.cfg", sample_users);
    assert_done(add_user(path, "dave@localhost", "pw", "Dave", "", ITER, &err_));
    assert_done(set_user(path, "bob@localhost", "FullName", "Bob B", &err_));
    char *text = scratch_read_file(path);
    assert_non_null(strstr(text, "<!-- kept comment -->"));
    assert_non_null(strstr(text, "<variable name=\"Keep\">me</variable>"));
    assert_non_null(strstr(text, "<variable name=\"Extra\">custom</variable><!-- item comment -->"));
    assert_non_null(strstr(text, "<list name=\"Other\"><listitem><variable name=\"X\">1</variable>"));
    assert_non_null(strstr(text, "<variable name=\"Groups\">sales, support</variable>"));
    free(text);
    struct directory *dir = load(path);
    assert_int_equal(directory_user_count(dir), 4);
    const char *order[] = { "Alice", "bob", "carol", "dave" };
    for (size_t i = 0; i < 4; i++) assert_string_equal(directory_user_at(dir, i)->name, order[i]);
    assert_string_equal(directory_user_at(dir, 1)->fullname, "Bob B");
    directory_free(dir);
    free(path);
}

/* ADM-4: removal (matching like directory_find_user), unknown user. */
static void test_remove_user(void **state)
{
    char *path = users_path(state, "remove.cfg", sample_users);
    assert_done(remove_user(path, "ALICE@localhost", &err_));
    assert_refused(remove_user(path, "alice@localhost", &err_), path, "no such user alice@localhost");
    assert_refused(remove_user(path, "@localhost", &err_), path,
                   "'@localhost' is not a valid user JID (name@domain)");
    struct directory *dir = load(path);
    assert_int_equal(directory_user_count(dir), 2);
    assert_null(directory_find_user(dir, "alice", "localhost"));
    assert_string_equal(directory_user_at(dir, 0)->name, "bob");
    directory_free(dir);
    char *text = scratch_read_file(path);
    assert_null(strstr(text, "item comment"));     /* went with its item */
    assert_non_null(strstr(text, "kept comment"));
    free(text);
    free(path);
}

/* ADM-4: a repeated entry would become the user once the first is gone, so
 * every entry for the user is removed. */
static void test_remove_user_removes_repeats(void **state)
{
    char *path = users_path(state, "repeat.cfg", NULL);
    assert_done(add_user(path, "eve@localhost", "pw", "First", "", ITER, &err_));
    char *text = scratch_read_file(path);
    /* Duplicate the User item by hand. */
    char *item = strstr(text, "<listitem>");
    char *end = strstr(text, "</listitem>") + strlen("</listitem>");
    struct buf doubled;
    buf_init(&doubled);
    buf_append(&doubled, text, (size_t)(end - text));
    buf_append(&doubled, item, (size_t)(end - item));
    buf_puts(&doubled, end);
    free(text);
    FILE *f = fopen(path, "w");
    fputs(doubled.data, f);
    fclose(f);
    buf_free(&doubled);
    assert_done(remove_user(path, "eve@localhost", &err_));
    struct directory *dir = load(path);
    assert_int_equal(directory_user_count(dir), 0);
    directory_free(dir);
    free(path);
}

/* ADM-4, AUTH-2: a new password as SCRAM keys; the old one no longer works. */
static void test_set_password(void **state)
{
    char *path = users_path(state, "passwd.cfg", NULL);
    assert_done(add_user(path, "fay@localhost", "old", "", "", ITER, &err_));
    assert_done(set_password(path, "fay@localhost", "new pass", ITER + 1, &err_));
    struct directory *dir = load(path);
    struct scram_record rec;
    assert_int_equal(scram_parse_record(directory_find_user(dir, "fay", "localhost")->password, &rec), 0);
    assert_int_equal(rec.iterations, ITER + 1);
    assert_true(scram_verify_plain(&rec, "new pass"));
    assert_false(scram_verify_plain(&rec, "old"));
    directory_free(dir);
    assert_refused(set_password(path, "fay@localhost", "", ITER, &err_), path,
                   "the password must not be empty");
    assert_refused(set_password(path, "nobody@localhost", "x", ITER, &err_), path,
                   "no such user nobody@localhost");
    assert_refused(set_password(path, "fay@", "x", ITER, &err_), path,
                   "'fay@' is not a valid user JID (name@domain)");
    free(path);
}

/* ADM-4, DOM-3, ACC-1: every settable field, with booleans checked and
 * field names matched case-insensitively. */
static void test_set_user_fields(void **state)
{
    char *path = users_path(state, "fields.cfg", sample_users);
    assert_done(set_user(path, "alice@localhost", "Enabled", "0", &err_));
    assert_done(set_user(path, "alice@localhost", "publishingal", "0", &err_));
    assert_done(set_user(path, "alice@localhost", "DomainRestriction", "1", &err_));
    assert_done(set_user(path, "alice@localhost", "AccessPolicy", "Office only", &err_));
    assert_done(set_user(path, "alice@localhost", "Email", "a@example.com", &err_));
    assert_done(set_user(path, "alice@localhost", "FullName", "Älice", &err_));
    assert_done(set_user(path, "alice@localhost", "Groups", " b , a,, B ,undefined", &err_));
    struct directory *dir = load(path);
    const struct dir_user *a = directory_find_user(dir, "alice", "localhost");
    assert_false(a->enabled);
    assert_false(a->publish_in_gal);
    assert_true(a->domain_restriction);
    assert_string_equal(a->access_policy, "Office only");
    assert_string_equal(a->email, "a@example.com");
    assert_string_equal(a->fullname, "Älice");
    assert_int_equal(a->n_groups, 3);
    assert_string_equal(a->groups[0], "b");
    assert_string_equal(a->groups[1], "a");
    assert_string_equal(a->groups[2], "undefined");   /* not a defined group: allowed */
    directory_free(dir);
    char *text = scratch_read_file(path);
    assert_non_null(strstr(text, "<variable name=\"PublishInGAL\">0</variable>"));
    assert_non_null(strstr(text, "<variable name=\"Groups\">b,a,undefined</variable>"));
    free(text);

    assert_refused(set_user(path, "alice@localhost", "PublishInGAL", "yes", &err_), path,
                   "PublishInGAL must be 0 or 1");
    assert_refused(set_user(path, "alice@localhost", "Enabled", "", &err_), path,
                   "Enabled must be 0 or 1");
    assert_refused(set_user(path, "alice@localhost", "DomainRestriction", "2", &err_), path,
                   "DomainRestriction must be 0 or 1");
    assert_refused(set_user(path, "alice@localhost", "Password", "x", &err_), path,
                   "unknown user field 'Password' (Enabled, FullName, Email, PublishInGAL, "
                   "DomainRestriction, AccessPolicy, Groups)");
    assert_refused(set_user(path, "alice@localhost", "Name", "x", &err_), path,
                   "unknown user field 'Name' (Enabled, FullName, Email, PublishInGAL, "
                   "DomainRestriction, AccessPolicy, Groups)");
    assert_refused(set_user(path, "nobody@localhost", "Enabled", "1", &err_), path,
                   "no such user nobody@localhost");
    assert_refused(set_user(path, "bad jid", "Enabled", "1", &err_), path,
                   "'bad jid' is not a valid user JID (name@domain)");
    assert_refused(set_user(path, "alice@localhost", "FullName", "\xff", &err_), path,
                   "FullName must be one line of UTF-8 text without control characters");
    free(path);
}

/* ADM-4, CFG-2: groups added with DomainRestriction 0; duplicates refused. */
static void test_add_group(void **state)
{
    char *path = users_path(state, "groups.cfg", sample_users);
    assert_done(add_group(path, " support ", "LocalHost", &err_));
    assert_refused(add_group(path, "SALES", "localhost", &err_), path, "group SALES@localhost exists");
    assert_refused(add_group(path, "a,b", "localhost", &err_), path,
                   "'a,b' is not a valid group name (one line of text without ',')");
    assert_refused(add_group(path, "  ", "localhost", &err_), path,
                   "'' is not a valid group name (one line of text without ',')");
    assert_refused(add_group(path, "x", "bad domain", &err_), path, "'bad domain' is not a valid domain");
    struct directory *dir = load(path);
    assert_int_equal(directory_group_count(dir), 2);
    const struct dir_group *g = directory_group_at(dir, 1);
    assert_string_equal(g->name, "support");
    assert_string_equal(g->domain, "localhost");
    assert_false(g->domain_restriction);
    directory_free(dir);
    free(path);
}

/* ADM-4, DOM-3: the group's DomainRestriction; other fields refused. */
static void test_set_group(void **state)
{
    char *path = users_path(state, "setgroup.cfg", sample_users);
    assert_done(set_group(path, "Sales", "localhost", "domainrestriction", "1", &err_));
    struct directory *dir = load(path);
    assert_true(directory_find_group(dir, "sales", "localhost")->domain_restriction);
    directory_free(dir);
    assert_refused(set_group(path, "sales", "localhost", "DomainRestriction", "true", &err_), path,
                   "DomainRestriction must be 0 or 1");
    assert_refused(set_group(path, "sales", "localhost", "Name", "x", &err_), path,
                   "unknown group field 'Name' (DomainRestriction)");
    assert_refused(set_group(path, "nope", "localhost", "DomainRestriction", "1", &err_), path,
                   "no such group nope@localhost");
    free(path);
}

/* ADM-4: removing a group drops it from its members' Groups (users of its
 * domain only); other groups and other domains' users are untouched. */
static void test_remove_group(void **state)
{
    char *path = users_path(state, "rmgroup.cfg", sample_users);
    assert_done(remove_group(path, "SALES", "localhost", &err_));
    assert_refused(remove_group(path, "sales", "localhost", &err_), path, "no such group sales@localhost");
    struct directory *dir = load(path);
    assert_int_equal(directory_group_count(dir), 0);
    const struct dir_user *alice = directory_find_user(dir, "alice", "localhost");
    assert_int_equal(alice->n_groups, 1);
    assert_string_equal(alice->groups[0], "support");
    assert_int_equal(directory_find_user(dir, "bob", "localhost")->n_groups, 0);
    const struct dir_user *carol = directory_find_user(dir, "carol", "example.com");
    assert_int_equal(carol->n_groups, 1);
    assert_string_equal(carol->groups[0], "sales");
    directory_free(dir);
    free(path);
}

/* ADM-4: membership through the user's Groups: add, remove, refusals (an
 * undefined group, a user of another domain, not / already a member). */
static void test_group_member(void **state)
{
    char *path = users_path(state, "members.cfg", sample_users);
    assert_refused(group_member(path, "support", "localhost", "bob@localhost", true, &err_), path,
                   "no such group support@localhost");
    assert_done(add_group(path, "support", "localhost", &err_));
    assert_done(group_member(path, "support", "localhost", "bob@localhost", true, &err_));
    assert_done(group_member(path, "sales", "localhost", "Alice@localhost", false, &err_));
    struct directory *dir = load(path);
    const struct dir_user *bob = directory_find_user(dir, "bob", "localhost");
    assert_int_equal(bob->n_groups, 2);
    assert_string_equal(bob->groups[0], "Sales");
    assert_string_equal(bob->groups[1], "support");
    const struct dir_user *alice = directory_find_user(dir, "alice", "localhost");
    assert_int_equal(alice->n_groups, 1);
    assert_string_equal(alice->groups[0], "support");
    directory_free(dir);

    assert_refused(group_member(path, "sales", "localhost", "bob@localhost", true, &err_), path,
                   "user bob@localhost is already a member of group sales@localhost");
    assert_refused(group_member(path, "sales", "localhost", "alice@localhost", false, &err_), path,
                   "user alice@localhost is not a member of group sales@localhost");
    assert_refused(group_member(path, "sales", "localhost", "carol@example.com", true, &err_), path,
                   "user carol@example.com is not in the domain of group sales@localhost");
    assert_refused(group_member(path, "sales", "localhost", "nobody@localhost", true, &err_), path,
                   "no such user nobody@localhost");
    assert_refused(group_member(path, "other", "localhost", "alice@localhost", false, &err_), path,
                   "no such group other@localhost");
    assert_refused(group_member(path, "sales", "localhost", "x@y@z", true, &err_), path,
                   "'x@y@z' is not a valid user JID (name@domain)");
    free(path);
}

/* CFG-4: a file that does not parse is reported and never rewritten. */
static void test_unparsable_file_untouched(void **state)
{
    char *path = users_path(state, "broken.cfg", "<config><list name=\"User\">");
    struct buf err;
    buf_init(&err);
    assert_int_equal(usersedit_add_user(path, "a@localhost", "pw", "", "", ITER, &err), -1);
    assert_non_null(strstr(err.data, "broken.cfg:"));
    char *text = scratch_read_file(path);
    assert_string_equal(text, "<config><list name=\"User\">");
    free(text);
    buf_free(&err);
    free(path);
}

/* ADM-4 (atomic): a save that fails while writing its temporary file (a
 * file-size limit stops root too) leaves the original intact and no
 * temporary file behind. */
static void test_failed_save_keeps_original(void **state)
{
    char *path = users_path(state, "atomic.cfg", sample_users);
    struct buf err;
    buf_init(&err);
    struct rlimit old_limit, small = { .rlim_cur = 16, .rlim_max = RLIM_INFINITY };
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
    small.rlim_max = old_limit.rlim_max;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    int rc = usersedit_add_user(path, "new@localhost", "pw", "", "", ITER, &err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old_limit), 0);
    signal(SIGXFSZ, old_handler);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err.data, "writing the temporary file"));
    char *text = scratch_read_file(path);
    assert_string_equal(text, sample_users);
    free(text);
    char *dir = xstrdup(path);
    *strrchr(dir, '/') = '\0';
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, ".tmp-")) fail_msg("temporary file left: %s", e->d_name);
    closedir(d);
    free(dir);

    /* A path in a directory that does not exist: the edit lock says so. */
    buf_reset(&err);
    assert_int_equal(usersedit_remove_user("/nonexistent-imref-dir/users.cfg", "a@b", &err), -1);
    assert_non_null(strstr(err.data, "/nonexistent-imref-dir/users.cfg.lock: "));
    buf_reset(&err);
    assert_int_equal(usersedit_add_user("/nonexistent-imref-dir/users.cfg", "a@b", "pw", "", "", ITER,
                                        &err), -1);
    assert_non_null(strstr(err.data, "/nonexistent-imref-dir/users.cfg.lock: "));
    buf_free(&err);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_user_creates_and_appends),
        cmocka_unit_test(test_add_user_refusals),
        cmocka_unit_test(test_unknown_content_and_order_kept),
        cmocka_unit_test(test_remove_user),
        cmocka_unit_test(test_remove_user_removes_repeats),
        cmocka_unit_test(test_set_password),
        cmocka_unit_test(test_set_user_fields),
        cmocka_unit_test(test_add_group),
        cmocka_unit_test(test_set_group),
        cmocka_unit_test(test_remove_group),
        cmocka_unit_test(test_group_member),
        cmocka_unit_test(test_unparsable_file_untouched),
        cmocka_unit_test(test_failed_save_keeps_original),
    };
    return cmocka_run_group_tests(tests, scratch_setup, scratch_teardown);
}
