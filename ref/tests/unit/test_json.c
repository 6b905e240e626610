/* Unit tests for json: the strict reader of control requests and the writer
 * of replies (the control protocol of ADM-1..ADM-4 and ADM-7), and
 * robustness against malformed input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"

static struct json *parse_ok(const char *text)
{
    struct buf err;
    buf_init(&err);
    struct json *doc = json_parse(text, strlen(text), &err);
    if (!doc) fail_msg("parse of %s failed: %s", text, err.data);
    buf_free(&err);
    return doc;
}

/* The error message for text[0..len), "" if it parsed. */
static char *parse_error(const char *text, size_t len)
{
    struct buf err;
    buf_init(&err);
    struct json *doc = json_parse(text, len, &err);
    json_free(doc);
    if (doc) buf_reset(&err);
    return buf_steal(&err);
}

/* ADM-1..ADM-4: every value type a request or reply carries */
static void test_scalars(void **state)
{
    (void)state;
    struct json *doc = parse_ok(" null ");
    assert_int_equal(json_type(doc), JSON_NULL);
    bool b = true;
    assert_false(json_bool(doc, &b));
    json_free(doc);

    doc = parse_ok("true");
    assert_int_equal(json_type(doc), JSON_BOOL);
    assert_true(json_bool(doc, &b));
    assert_true(b);
    json_free(doc);
    doc = parse_ok("\t\r\nfalse\n");
    assert_true(json_bool(doc, &b));
    assert_false(b);
    json_free(doc);

    static const struct { const char *text; double value; } numbers[] = {
        { "0", 0 }, { "-0", 0 }, { "12", 12 }, { "-3.5", -3.5 }, { "1e3", 1000 },
        { "1E-2", 0.01 }, { "2.5e+2", 250 }, { "123456789", 123456789 }, { "0.125", 0.125 },
    };
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
        doc = parse_ok(numbers[i].text);
        double d = -1;
        assert_int_equal(json_type(doc), JSON_NUMBER);
        assert_true(json_number(doc, &d));
        assert_true(d == numbers[i].value);
        assert_null(json_string(doc));
        json_free(doc);
    }

    doc = parse_ok("\"alice@example.com\"");
    assert_int_equal(json_type(doc), JSON_STRING);
    assert_string_equal(json_string(doc), "alice@example.com");
    double d;
    assert_false(json_number(doc, &d));
    assert_int_equal(json_array_len(doc), 0);
    assert_null(json_get(doc, "x"));
    json_free(doc);

    doc = parse_ok("\"\"");
    assert_string_equal(json_string(doc), "");
    json_free(doc);
}

/* ADM-4: a request is an object of arguments; results nest arrays in objects */
static void test_nesting(void **state)
{
    (void)state;
    struct json *doc = parse_ok(
        "{\"action\":\"group.members\",\"list\":[1,{\"b\":[true,null]},[]],\"o\":{},\"n\":-2}");
    assert_int_equal(json_type(doc), JSON_OBJECT);
    assert_int_equal(json_object_len(doc), 4);
    assert_string_equal(json_object_key_at(doc, 0), "action");
    assert_string_equal(json_object_key_at(doc, 3), "n");
    assert_null(json_object_key_at(doc, 4));
    assert_null(json_object_value_at(doc, 4));
    assert_string_equal(json_string(json_get(doc, "action")), "group.members");
    assert_ptr_equal(json_object_value_at(doc, 0), json_get(doc, "action"));
    assert_null(json_get(doc, "absent"));
    assert_null(json_string(json_get(doc, "absent")));

    const struct json *list = json_get(doc, "list");
    assert_int_equal(json_type(list), JSON_ARRAY);
    assert_int_equal(json_array_len(list), 3);
    assert_null(json_array_at(list, 3));
    double d = 0;
    assert_true(json_number(json_array_at(list, 0), &d));
    assert_true(d == 1);
    const struct json *inner = json_get(json_array_at(list, 1), "b");
    assert_int_equal(json_array_len(inner), 2);
    bool b = false;
    assert_true(json_bool(json_array_at(inner, 0), &b));
    assert_true(b);
    assert_int_equal(json_type(json_array_at(inner, 1)), JSON_NULL);
    assert_int_equal(json_type(json_array_at(list, 2)), JSON_ARRAY);
    assert_int_equal(json_array_len(json_array_at(list, 2)), 0);
    assert_int_equal(json_type(json_get(doc, "o")), JSON_OBJECT);
    assert_int_equal(json_object_len(json_get(doc, "o")), 0);
    assert_null(json_get(list, "action"));   /* not an object */
    json_free(doc);

    doc = parse_ok(" [ { } , [ ] , \"x\" ] ");
    assert_int_equal(json_array_len(doc), 3);
    json_free(doc);
}

/* ADM-4: names and full names arrive escaped, in any script */
static void test_escapes_and_unicode(void **state)
{
    (void)state;
    struct json *doc = parse_ok("\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t\"");
    assert_string_equal(json_string(doc), "q\" b\\ s/ \b\f\n\r\t");
    json_free(doc);

    doc = parse_ok("\"\\u00e9\\u20AC\\u0041\\u007f\"");
    assert_string_equal(json_string(doc), "\xC3\xA9\xE2\x82\xAC" "A\x7F");
    json_free(doc);

    doc = parse_ok("\"\\ud83d\\ude00 \\uD800\\uDC00 \\uDBFF\\uDFFF\"");
    assert_string_equal(json_string(doc), "\xF0\x9F\x98\x80 \xF0\x90\x80\x80 \xF4\x8F\xBF\xBF");
    json_free(doc);

    /* raw UTF-8 of 2, 3 and 4 bytes passes unchanged */
    doc = parse_ok("{\"name\":\"J\xC3\xBCrgen \xE6\x9D\xB1 \xF0\x9F\x98\x80\"}");
    assert_string_equal(json_string(json_get(doc, "name")), "J\xC3\xBCrgen \xE6\x9D\xB1 \xF0\x9F\x98\x80");
    json_free(doc);

    /* keys are unescaped too, and looked up by their value */
    doc = parse_ok("{\"a\\u0062c\":1}");
    assert_non_null(json_get(doc, "abc"));
    json_free(doc);
}

#define BAD(text, error) { text, sizeof(text) - 1, error }

/* robustness: each class of malformed input, refused with its offset */
static void test_malformed(void **state)
{
    (void)state;
    static const struct { const char *text; size_t len; const char *error; } cases[] = {
        BAD("", "offset 0: unexpected end of input"),
        BAD("   ", "offset 3: unexpected end of input"),
        BAD("[1,]", "offset 2: trailing comma"),
        BAD("{\"a\":1,}", "offset 6: trailing comma"),
        BAD("[1 2]", "offset 3: expected ',' or ']'"),
        BAD("{\"a\":1 \"b\":2}", "offset 7: expected ',' or '}'"),
        BAD("[,1]", "offset 1: unexpected character"),
        BAD("/* c */ 1", "offset 0: unexpected character"),
        BAD("[1] // c", "offset 4: unexpected data after the value"),
        BAD("[1]x", "offset 3: unexpected data after the value"),
        BAD("1 2", "offset 2: unexpected data after the value"),
        BAD("01", "offset 0: leading zero in number"),
        BAD("[-01]", "offset 2: leading zero in number"),
        BAD("1.", "offset 2: digit expected after '.'"),
        BAD("1.e5", "offset 2: digit expected after '.'"),
        BAD("1e", "offset 2: digit expected in exponent"),
        BAD("1e+", "offset 3: digit expected in exponent"),
        BAD("-", "offset 1: digit expected in number"),
        BAD("-a", "offset 1: digit expected in number"),
        BAD("+1", "offset 0: unexpected character"),
        BAD(".5", "offset 0: unexpected character"),
        BAD("1e999", "offset 0: number out of range"),
        BAD("tru", "offset 0: invalid literal"),
        BAD("nul", "offset 0: invalid literal"),
        BAD("True", "offset 0: unexpected character"),
        BAD("\"\\x\"", "offset 1: invalid escape"),
        BAD("\"\\'\"", "offset 1: invalid escape"),
        BAD("\"ab\\", "offset 3: unterminated string"),
        BAD("\"\\u12G4\"", "offset 1: invalid \\u escape"),
        BAD("\"\\u12\"", "offset 1: invalid \\u escape"),
        BAD("\"\\U0041\"", "offset 1: invalid escape"),
        BAD("\"\\ud83d\"", "offset 1: unpaired surrogate"),
        BAD("\"\\ud83d\\u0041\"", "offset 1: unpaired surrogate"),
        BAD("\"\\ud83d\\ud83d\"", "offset 1: unpaired surrogate"),
        BAD("\"x\\ude00\"", "offset 2: unpaired surrogate"),
        BAD("\"a\\u0000b\"", "offset 2: \\u0000 is not allowed"),
        BAD("\"a\tb\"", "offset 2: control character in string"),
        BAD("\"a\nb\"", "offset 2: control character in string"),
        BAD("\"a\0b\"", "offset 2: control character in string"),
        BAD("\0", "offset 0: unexpected character"),
        BAD("\"\xC3\x28\"", "offset 1: invalid UTF-8"),
        BAD("\"ok\xC0\xAF\"", "offset 3: invalid UTF-8"),          /* overlong '/' */
        BAD("\"\xE0\x80\xAF\"", "offset 1: invalid UTF-8"),        /* overlong, 3 bytes */
        BAD("\"\xED\xA0\x80\"", "offset 1: invalid UTF-8"),        /* encoded surrogate */
        BAD("\"\xF4\x90\x80\x80\"", "offset 1: invalid UTF-8"),    /* above U+10FFFF */
        BAD("\"\xE2\x82\"", "offset 1: invalid UTF-8"),            /* truncated */
        BAD("\"\xFF\"", "offset 1: invalid UTF-8"),
        BAD("\"\x80\"", "offset 1: invalid UTF-8"),
        BAD("\xEF\xBB\xBF{}", "offset 0: unexpected character"),   /* BOM */
        BAD("\"abc", "offset 4: unterminated string"),
        BAD("{\"a\":1,\"a\":2}", "offset 7: duplicate key"),
        BAD("{\"a\":1,\"b\":2,\"a\":3,\"b\":4}", "offset 13: duplicate key"),
        BAD("{\"x\":{\"k\":1,\"k\":1}}", "offset 12: duplicate key"),
        BAD("{\"\\u0061\":1,\"a\":2}", "offset 12: duplicate key"),
        BAD("{1:2}", "offset 1: expected a string key"),
        BAD("{\"a\" 1}", "offset 5: expected ':'"),
        BAD("{\"a\"", "offset 4: unexpected end of input"),
        BAD("{\"a\":", "offset 5: unexpected end of input"),
        BAD("[1", "offset 2: unexpected end of input"),
        BAD("{\"a\":1", "offset 6: unexpected end of input"),
        BAD("{", "offset 1: unexpected end of input"),
        BAD("{\"a\":1,", "offset 7: unexpected end of input"),
        BAD("'a'", "offset 0: unexpected character"),
        BAD("{a:1}", "offset 1: expected a string key"),
        BAD("[NaN]", "offset 1: unexpected character"),
        BAD("[nan]", "offset 1: invalid literal"),
        BAD("\"a\" \x01", "offset 4: unexpected data after the value"),
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *error = parse_error(cases[i].text, cases[i].len);
        if (strcmp(error, cases[i].error) != 0)
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, error, cases[i].error);
        free(error);
    }
    /* no error buffer: still refused */
    assert_null(json_parse("[1,]", 4, NULL));
    /* the length is honoured: the text after it is not read */
    struct json *doc = json_parse("[1]garbage", 3, NULL);
    assert_int_equal(json_array_len(doc), 1);
    json_free(doc);
}

static char *nested(size_t depth, const char *open, const char *inner, const char *close)
{
    struct buf b;
    buf_init(&b);
    for (size_t i = 0; i < depth; i++) buf_puts(&b, open);
    buf_puts(&b, inner);
    for (size_t i = 0; i < depth; i++) buf_puts(&b, close);
    return buf_steal(&b);
}

/* robustness: nesting is limited to 32 levels, also far deeper input */
static void test_depth_limit(void **state)
{
    (void)state;
    char *text = nested(32, "[", "1", "]");
    struct json *doc = parse_ok(text);
    const struct json *v = doc;
    for (int i = 0; i < 32; i++) v = json_array_at(v, 0);
    assert_int_equal(json_type(v), JSON_NUMBER);
    json_free(doc);
    free(text);

    text = nested(33, "[", "1", "]");
    char *error = parse_error(text, strlen(text));
    assert_string_equal(error, "offset 32: nesting deeper than 32");
    free(error);
    free(text);

    text = nested(32, "{\"a\":", "{}", "}");
    error = parse_error(text, strlen(text));
    assert_string_equal(error, "offset 160: nesting deeper than 32");
    free(error);
    free(text);
    text = nested(31, "{\"a\":", "{}", "}");
    doc = parse_ok(text);
    json_free(doc);
    free(text);

    text = nested(200000, "[", "", "");
    error = parse_error(text, strlen(text));
    assert_string_equal(error, "offset 32: nesting deeper than 32");
    free(error);
    free(text);
}

static char *write_reply(void (*build)(struct jsonw *w))
{
    struct buf out;
    buf_init(&out);
    struct jsonw w;
    jsonw_init(&w, &out);
    build(&w);
    return buf_steal(&out);
}

static void build_every_type(struct jsonw *w)
{
    jsonw_object_begin(w);
    jsonw_key(w, "ok");
    jsonw_bool(w, true);
    jsonw_key(w, "result");
    jsonw_array_begin(w);
    jsonw_object_begin(w);
    jsonw_key(w, "jid");
    jsonw_string(w, "alice@example.com");
    jsonw_key(w, "time");
    jsonw_int(w, -9223372036854775807LL - 1);
    jsonw_key(w, "secure");
    jsonw_bool(w, false);
    jsonw_key(w, "none");
    jsonw_null(w);
    jsonw_key(w, "missing");
    jsonw_string(w, NULL);
    jsonw_key(w, "groups");
    jsonw_array_begin(w);
    jsonw_array_end(w);
    jsonw_key(w, "empty");
    jsonw_object_begin(w);
    jsonw_object_end(w);
    jsonw_object_end(w);
    jsonw_int(w, 7);
    jsonw_raw(w, "{\"pre\":[1,2]}");
    jsonw_string(w, "");
    jsonw_array_end(w);
    jsonw_object_end(w);
}

/* ADM-1, ADM-4: replies of every shape, commas placed by the writer */
static void test_writer_output(void **state)
{
    (void)state;
    char *text = write_reply(build_every_type);
    assert_string_equal(text,
        "{\"ok\":true,\"result\":[{\"jid\":\"alice@example.com\",\"time\":-9223372036854775808,"
        "\"secure\":false,\"none\":null,\"missing\":null,\"groups\":[],\"empty\":{}},7,"
        "{\"pre\":[1,2]},\"\"]}");
    struct json *doc = parse_ok(text);
    const struct json *first = json_array_at(json_get(doc, "result"), 0);
    assert_string_equal(json_string(json_get(first, "jid")), "alice@example.com");
    double d = 0;
    assert_true(json_number(json_get(first, "time"), &d));
    assert_true(d == -9223372036854775808.0);
    assert_int_equal(json_type(json_get(first, "missing")), JSON_NULL);
    json_free(doc);
    free(text);
}

static char *write_string(const char *s)
{
    struct buf out;
    buf_init(&out);
    struct jsonw w;
    jsonw_init(&w, &out);
    jsonw_string(&w, s);
    return buf_steal(&out);
}

/* ADM-1, robustness: control characters, quotes, backslashes are escaped;
 * valid UTF-8 passes; invalid bytes become U+FFFD */
static void test_writer_escapes(void **state)
{
    (void)state;
    char *text = write_string("\"\\/\b\f\n\r\t\x01\x1f\x7f");
    assert_string_equal(text, "\"\\\"\\\\/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\"");
    free(text);

    text = write_string("J\xC3\xBCrgen \xF0\x9F\x98\x80");
    assert_string_equal(text, "\"J\xC3\xBCrgen \xF0\x9F\x98\x80\"");
    free(text);

    text = write_string("a\xFF" "b\xC3");
    assert_string_equal(text, "\"a\xEF\xBF\xBD" "b\xEF\xBF\xBD\"");
    free(text);
    text = write_string("\xED\xA0\x80!");     /* an encoded surrogate: three bad bytes */
    assert_string_equal(text, "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD!\"");
    free(text);

    struct jsonw w;
    struct buf out;
    buf_init(&out);
    jsonw_init(&w, &out);
    jsonw_object_begin(&w);
    jsonw_key(&w, "k\"\n\xFF");
    jsonw_int(&w, 1);
    jsonw_object_end(&w);
    assert_string_equal(out.data, "{\"k\\\"\\n\xEF\xBF\xBD\":1}");
    buf_free(&out);
}

/* The string the reader returns for what the writer wrote from s. */
static char *round_trip(const char *s)
{
    char *text = write_string(s);
    struct json *doc = parse_ok(text);
    char *back = xstrdup(json_string(doc));
    json_free(doc);
    free(text);
    return back;
}

/* ADM-1..ADM-4, robustness: write -> parse gives the same values, for every
 * byte value; invalid UTF-8 comes back as U+FFFD */
static void test_writer_round_trip(void **state)
{
    (void)state;
    char all_ascii[128];
    for (int i = 1; i < 128; i++) all_ascii[i - 1] = (char)i;
    all_ascii[127] = '\0';
    char *back = round_trip(all_ascii);
    assert_string_equal(back, all_ascii);
    free(back);

    back = round_trip("\xE6\x9D\xB1\xE4\xBA\xAC \xF4\x8F\xBF\xBF \xC2\x80");
    assert_string_equal(back, "\xE6\x9D\xB1\xE4\xBA\xAC \xF4\x8F\xBF\xBF \xC2\x80");
    free(back);

    /* every single high byte alone is invalid UTF-8 */
    for (int c = 0x80; c < 0x100; c++) {
        char s[4] = { 'x', (char)c, 'y', '\0' };
        back = round_trip(s);
        assert_string_equal(back, "x\xEF\xBF\xBDy");
        free(back);
    }

    /* a whole reply document */
    struct buf out;
    buf_init(&out);
    struct jsonw w;
    jsonw_init(&w, &out);
    jsonw_object_begin(&w);
    jsonw_key(&w, "name");
    jsonw_string(&w, "tab\there \"quoted\" back\\slash\x02");
    jsonw_key(&w, "list");
    jsonw_array_begin(&w);
    for (int i = 0; i < 100; i++) jsonw_int(&w, i * 1000 - 3);
    jsonw_array_end(&w);
    for (int depth = 0; depth < 31; depth++) {
        jsonw_key(&w, "deeper");
        jsonw_object_begin(&w);
    }
    jsonw_key(&w, "leaf");
    jsonw_bool(&w, true);
    for (int depth = 0; depth < 31; depth++) jsonw_object_end(&w);
    jsonw_object_end(&w);
    assert_int_equal(w.depth, 0);
    struct json *doc = parse_ok(out.data);
    assert_string_equal(json_string(json_get(doc, "name")), "tab\there \"quoted\" back\\slash\x02");
    const struct json *list = json_get(doc, "list");
    assert_int_equal(json_array_len(list), 100);
    for (size_t i = 0; i < 100; i++) {
        double d;
        assert_true(json_number(json_array_at(list, i), &d));
        assert_true(d == (double)((long)i * 1000 - 3));
    }
    const struct json *v = doc;
    for (int depth = 0; depth < 31; depth++) v = json_get(v, "deeper");
    bool b = false;
    assert_true(json_bool(json_get(v, "leaf"), &b));
    assert_true(b);
    json_free(doc);
    buf_free(&out);
}

/* robustness: mutated documents never crash the reader; every refusal
 * carries an "offset N: " error within the input */
static void test_mutation_fuzz(void **state)
{
    (void)state;
    static const char *seeds[] = {
        "{\"action\":\"user.add\",\"jid\":\"alice@example.com\",\"password\":\"p\\u00e9\"}",
        "[1,-2.5e3,true,false,null,{\"a\":[{}]},\"\\ud83d\\ude00\"]",
        "{\"a\":{\"b\":{\"c\":[[[\"\xC3\xA9\"]]]}}}",
    };
    uint32_t seed = 12345;
    for (int round = 0; round < 30000; round++) {
        const char *base = seeds[round % 3];
        size_t len = strlen(base);
        char *text = xstrndup(base, len);
        int flips = 1 + round % 4;
        for (int f = 0; f < flips; f++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % len;
            seed = seed * 1103515245u + 12345u;
            text[at] = (char)(seed >> 16);
        }
        seed = seed * 1103515245u + 12345u;
        size_t cut = round % 5 == 0 ? (seed >> 8) % (len + 1) : len;
        struct buf err;
        buf_init(&err);
        struct json *doc = json_parse(text, cut, &err);
        if (doc) {
            assert_int_equal(err.len, 0);
            json_free(doc);
        } else {
            size_t offset = SIZE_MAX;
            assert_int_equal(sscanf(err.data, "offset %zu: ", &offset), 1);
            assert_true(offset <= cut);
        }
        buf_free(&err);
        free(text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_nesting),
        cmocka_unit_test(test_escapes_and_unicode),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_writer_output),
        cmocka_unit_test(test_writer_escapes),
        cmocka_unit_test(test_writer_round_trip),
        cmocka_unit_test(test_mutation_fuzz),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
