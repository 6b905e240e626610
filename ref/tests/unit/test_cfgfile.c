/* Unit tests for cfgfile: the XML shape of mailserver.cfg and users.cfg
 * (CFG-1, CFG-2), preservation on rewrite (CFG-3), parse errors with file,
 * line and column (CFG-4), atomic saves (ADM-3, ADM-4).
 * Run from the repository root (fixtures/config/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cfgfile.h"

#define FIXTURES "fixtures/config/"

static char *read_whole(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    struct buf b;
    buf_init(&b);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) buf_append(&b, chunk, n);
    fclose(f);
    return buf_steal(&b);
}

static struct cfgfile *load_ok(const char *path)
{
    struct cfgfile *cf = NULL;
    struct buf err;
    buf_init(&err);
    int rc = cfgfile_load(path, &cf, &err);
    if (rc != 0) print_error("unexpected error: %s\n", err.data);
    assert_int_equal(rc, 0);
    assert_non_null(cf);
    buf_free(&err);
    return cf;
}

static struct cfgfile *parse_ok(const char *text)
{
    struct cfgfile *cf = NULL;
    struct buf err;
    buf_init(&err);
    int rc = cfgfile_parse(text, strlen(text), "mem", &cf, &err);
    if (rc != 0) print_error("unexpected error: %s\n", err.data);
    assert_int_equal(rc, 0);
    buf_free(&err);
    return cf;
}

static char *serialize(const struct cfgfile *cf)
{
    struct buf out;
    buf_init(&out);
    cfgfile_serialize(cf, &out);
    return buf_steal(&out);
}

static char *make_temp_dir(void)
{
    char *dir = xstrdup("/tmp/test_cfgfile.XXXXXX");
    assert_non_null(mkdtemp(dir));
    return dir;
}

static void remove_temp_dir(char *dir, const char *file)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    unlink(path);
    rmdir(dir);
    free(dir);
}

/* CFG-3: a file in the writer's layout comes back byte for byte, unknown
 * tables, variables, elements, comments and processing instructions included. */
static void test_roundtrip_preserves_bytes(void **state)
{
    (void)state;
    char *original = read_whole(FIXTURES "roundtrip.cfg");
    struct cfgfile *cf = load_ok(FIXTURES "roundtrip.cfg");
    char *written = serialize(cf);
    assert_string_equal(written, original);
    free(written);
    free(original);
    cfgfile_free(cf);
}

/* CFG-1: reading tables, variables and list items. */
static void test_get_values(void **state)
{
    (void)state;
    struct cfgfile *cf = load_ok(FIXTURES "roundtrip.cfg");
    assert_string_equal(cfgfile_get(cf, "InstantMessaging", "MaximumRoster"), "300");
    assert_string_equal(cfgfile_get(cf, "InstantMessaging", "FutureSetting"),
                        "kept & escaped <tag> \"quoted\" it's");
    assert_string_equal(cfgfile_get(cf, "UnknownTable", "Empty"), "");
    assert_string_equal(cfgfile_get(cf, "Log", "Debug"), "0");
    assert_null(cfgfile_get(cf, "InstantMessaging", "Missing"));
    assert_null(cfgfile_get(cf, "NoSuchTable", "Debug"));
    /* names are case-sensitive */
    assert_null(cfgfile_get(cf, "log", "Debug"));

    struct cfgnode *item = cfgfile_items(cf, "Domain");
    assert_non_null(item);
    assert_string_equal(cfgfile_item_get(item, "Name"), "localhost");
    assert_string_equal(cfgfile_item_get(item, "IMEnabled"), "1");
    assert_null(cfgfile_item_get(item, "Certificate"));
    assert_null(cfgfile_item_next(item));
    assert_null(cfgfile_items(cf, "Service"));
    cfgfile_free(cf);
}

/* CFG-1: items of several lists with one name are read in document order;
 * text split by entity references and CDATA is one value. */
static void test_items_across_lists(void **state)
{
    (void)state;
    struct cfgfile *cf = parse_ok(
        "<config><list name='A'><listitem><variable name='N'>1</variable></listitem>"
        "<listitem><variable name='N'>2</variable></listitem></list>"
        "<list name='B'><listitem><variable name='N'>x</variable></listitem></list>"
        "<list name='A'><other/><listitem><variable name='N'>3&amp;<![CDATA[<4>]]></variable>"
        "</listitem></list></config>");
    const char *expected[] = { "1", "2", "3&<4>" };
    size_t count = 0;
    for (struct cfgnode *it = cfgfile_items(cf, "A"); it; it = cfgfile_item_next(it)) {
        assert_true(count < 3);
        assert_string_equal(cfgfile_item_get(it, "N"), expected[count]);
        count++;
    }
    assert_int_equal(count, 3);
    cfgfile_free(cf);
}

/* CFG-3: edits change only what they touch, in the file's own layout. */
static void test_edit_preserves_the_rest(void **state)
{
    (void)state;
    struct cfgfile *cf = load_ok(FIXTURES "roundtrip.cfg");
    assert_int_equal(cfgfile_set(cf, "InstantMessaging", "SendOutside", "1"), 0);
    assert_int_equal(cfgfile_set(cf, "InstantMessaging", "NewVariable", "new"), 0);
    assert_int_equal(cfgfile_set(cf, "Log", "Extra", "e"), 0);
    assert_int_equal(cfgfile_set(cf, "Security", "SecurityPolicy", "EncryptionRequired"), 0);

    struct cfgnode *old = cfgfile_items(cf, "Domain");
    struct cfgnode *added = cfgfile_item_append(cf, "Domain");
    assert_non_null(added);
    assert_int_equal(cfgfile_item_set(added, "Name", "example.com"), 0);
    assert_int_equal(cfgfile_item_set(added, "IMEnabled", "0"), 0);
    assert_ptr_equal(cfgfile_item_next(old), added);
    cfgfile_item_remove(old);
    assert_ptr_equal(cfgfile_items(cf, "Domain"), added);

    char *expected = read_whole(FIXTURES "roundtrip-edited.cfg");
    char *written = serialize(cf);
    assert_string_equal(written, expected);
    free(written);
    free(expected);

    assert_string_equal(cfgfile_get(cf, "InstantMessaging", "SendOutside"), "1");
    assert_string_equal(cfgfile_get(cf, "Security", "SecurityPolicy"), "EncryptionRequired");
    cfgfile_free(cf);
}

/* Writer output is re-readable and stable: load, save, load, save gives the
 * same bytes, even from a file written in another style. */
static void test_writer_is_stable(void **state)
{
    (void)state;
    const char *input =
        "<?xml version='1.0' encoding='ISO-8859-1'?>\r\n"
        "<config>\r\n <table name='T'>\r\n"
        "  <variable name='V' a='tab\there'>caf\xe9 &apos;&#13;&#x41;]]&gt;</variable>\r\n"
        "  <variable name='E'/>\r\n </table>\r\n</config>";
    struct cfgfile *first = parse_ok(input);
    assert_string_equal(cfgfile_get(first, "T", "V"), "caf\xc3\xa9 '\rA]]>");
    assert_string_equal(cfgfile_get(first, "T", "E"), "");
    char *once = serialize(first);
    struct cfgfile *second = parse_ok(once);
    char *twice = serialize(second);
    assert_string_equal(once, twice);
    assert_string_equal(cfgfile_get(second, "T", "V"), "caf\xc3\xa9 '\rA]]>");
    free(once);
    free(twice);
    cfgfile_free(first);
    cfgfile_free(second);
}

/* A new document, built through the API, has the layout of the examples. */
static void test_new_document_layout(void **state)
{
    (void)state;
    struct cfgfile *cf = cfgfile_new();
    assert_int_equal(cfgfile_set(cf, "Security", "SecurityPolicy", "NoRestrictions"), 0);
    struct cfgnode *user = cfgfile_item_append(cf, "User");
    assert_int_equal(cfgfile_item_set(user, "Name", "alice"), 0);
    assert_int_equal(cfgfile_item_set(user, "Groups", "a&b"), 0);
    struct cfgnode *second = cfgfile_item_append(cf, "User");
    assert_int_equal(cfgfile_item_set(second, "Name", "bob"), 0);
    char *written = serialize(cf);
    assert_string_equal(written,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
        "<config>\n"
        "  <table name=\"Security\">\n"
        "    <variable name=\"SecurityPolicy\">NoRestrictions</variable>\n"
        "  </table>\n"
        "  <list name=\"User\">\n"
        "    <listitem>\n"
        "      <variable name=\"Name\">alice</variable>\n"
        "      <variable name=\"Groups\">a&amp;b</variable>\n"
        "    </listitem>\n"
        "    <listitem>\n"
        "      <variable name=\"Name\">bob</variable>\n"
        "    </listitem>\n"
        "  </list>\n"
        "</config>\n");
    free(written);

    /* removing every item leaves a clean empty list */
    cfgfile_item_remove(cfgfile_items(cf, "User"));
    cfgfile_item_remove(cfgfile_items(cf, "User"));
    assert_null(cfgfile_items(cf, "User"));
    written = serialize(cf);
    assert_non_null(strstr(written, "  <list name=\"User\">\n  </list>\n</config>\n"));
    free(written);
    cfgfile_free(cf);
}

/* Values XML cannot carry are refused, never written as a broken file. */
static void test_invalid_text_refused(void **state)
{
    (void)state;
    struct cfgfile *cf = cfgfile_new();
    assert_int_equal(cfgfile_set(cf, "T", "V", "bell\a"), -1);
    assert_int_equal(cfgfile_set(cf, "T", "V", "bad \xff utf8"), -1);
    assert_int_equal(cfgfile_set(cf, "T", "V", "overlong \xc0\xaf"), -1);
    assert_int_equal(cfgfile_set(cf, "T", "V", "surrogate \xed\xa0\x80"), -1);
    assert_int_equal(cfgfile_set(cf, "T", "bad\x01name", "x"), -1);
    assert_null(cfgfile_item_append(cf, "L\x02"));
    assert_null(cfgfile_get(cf, "T", "V"));
    assert_int_equal(cfgfile_set(cf, "T", "V", "tab\tnewline\n \xe2\x82\xac \xf0\x9f\x98\x80"), 0);
    assert_true(cfgfile_valid_text("plain"));
    assert_false(cfgfile_valid_text("\xef\xbf\xbe"));
    cfgfile_free(cf);
}

/* ADM-3/ADM-4: saves are atomic (no temporary file left), a new file is
 * 0600, an existing file keeps its mode, and the result re-reads the same. */
static void test_atomic_save(void **state)
{
    (void)state;
    char *dir = make_temp_dir();
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/users.cfg", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    struct cfgfile *cf = load_ok(FIXTURES "roundtrip.cfg");
    struct buf err;
    buf_init(&err);

    mode_t old_mask = umask(022);
    assert_int_equal(cfgfile_save(cf, path, &err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_not_equal(access(tmp, F_OK), 0);
    char *saved = read_whole(path);
    char *expected = read_whole(FIXTURES "roundtrip.cfg");
    assert_string_equal(saved, expected);
    free(saved);

    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(cfgfile_set(cf, "Log", "Debug", "1"), 0);
    assert_int_equal(cfgfile_save(cf, path, &err), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    struct cfgfile *again = load_ok(path);
    assert_string_equal(cfgfile_get(again, "Log", "Debug"), "1");
    cfgfile_free(again);
    umask(old_mask);

    /* a failed save names the file and leaves nothing behind */
    char missing[4200];
    snprintf(missing, sizeof missing, "%s/no/such/dir/x.cfg", dir);
    assert_int_equal(cfgfile_save(cf, missing, &err), -1);
    assert_true(strncmp(err.data, missing, strlen(missing)) == 0);
    assert_non_null(strstr(err.data, "No such file or directory"));

    free(expected);
    buf_free(&err);
    cfgfile_free(cf);
    remove_temp_dir(dir, "users.cfg");
}

/* CFG-4: each unreadable file gives FILE:LINE:COLUMN: reason. */
static void test_bad_files(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        const char *error;
    } cases[] = {
        { "bad-not-xml.cfg", "1:1: syntax error" },
        { "bad-wrong-root.cfg", "2:1: root element is <settings>, expected <config>" },
        { "bad-unclosed.cfg", "5:3: mismatched tag" },
        { "bad-truncated.cfg", "4:1: no element found" },
        { "bad-doctype.cfg", "2:1: DOCTYPE declarations are not allowed" },
        { "bad-entity.cfg", "4:26: undefined entity" },
        { "bad-no-name.cfg", "4:3: element has no name attribute" },
        { "bad-variable-element.cfg", "4:37: a <variable> holds text only, not elements" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[256], expected[512];
        snprintf(path, sizeof path, FIXTURES "%s", cases[i].file);
        snprintf(expected, sizeof expected, "%s:%s", path, cases[i].error);
        struct cfgfile *cf = (struct cfgfile *)1;
        struct buf err;
        buf_init(&err);
        assert_int_equal(cfgfile_load(path, &cf, &err), -1);
        assert_null(cf);
        assert_string_equal(err.data, expected);
        buf_free(&err);
    }
}

/* CFG-4: a DOCTYPE is refused wherever its name ends; nothing is expanded. */
static void test_doctype_positions(void **state)
{
    (void)state;
    const char *doc = "<?xml version='1.0'?>\n  <!DOCTYPE\n config SYSTEM 'a<b'><config/>";
    struct cfgfile *cf;
    struct buf err;
    buf_init(&err);
    assert_int_equal(cfgfile_parse(doc, strlen(doc), "x.cfg", &cf, &err), -1);
    assert_string_equal(err.data, "x.cfg:2:3: DOCTYPE declarations are not allowed");
    assert_int_equal(cfgfile_parse("", 0, "empty.cfg", &cf, &err), -1);
    assert_string_equal(err.data, "empty.cfg:1:1: no element found");
    buf_free(&err);
}

/* CFG-4: nesting is bounded (the tree code recurses); 64 levels are fine. */
static void test_nesting_limit(void **state)
{
    (void)state;
    struct buf doc, err;
    buf_init(&doc);
    buf_init(&err);
    buf_puts(&doc, "<config>");
    for (int i = 1; i < 64; i++) buf_puts(&doc, "<x>");
    for (int i = 1; i < 64; i++) buf_puts(&doc, "</x>");
    buf_puts(&doc, "</config>");
    struct cfgfile *cf;
    assert_int_equal(cfgfile_parse(doc.data, doc.len, "deep.cfg", &cf, &err), 0);
    cfgfile_free(cf);
    buf_reset(&doc);
    buf_puts(&doc, "<config>");
    for (int i = 1; i < 100; i++) buf_puts(&doc, "<x>");
    assert_int_equal(cfgfile_parse(doc.data, doc.len, "deep.cfg", &cf, &err), -1);
    /* the 65th element starts after "<config>" and 63 "<x>" */
    assert_string_equal(err.data, "deep.cfg:1:198: elements nested too deeply");
    buf_free(&doc);
    buf_free(&err);
}

static void test_missing_file(void **state)
{
    (void)state;
    struct cfgfile *cf;
    struct buf err;
    buf_init(&err);
    assert_int_equal(cfgfile_load(FIXTURES "does-not-exist.cfg", &cf, &err), -1);
    assert_string_equal(err.data, FIXTURES "does-not-exist.cfg: No such file or directory");
    buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_preserves_bytes),
        cmocka_unit_test(test_get_values),
        cmocka_unit_test(test_items_across_lists),
        cmocka_unit_test(test_edit_preserves_the_rest),
        cmocka_unit_test(test_writer_is_stable),
        cmocka_unit_test(test_new_document_layout),
        cmocka_unit_test(test_invalid_text_refused),
        cmocka_unit_test(test_atomic_save),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_doctype_positions),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_missing_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
