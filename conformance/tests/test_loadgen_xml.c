/* Unit tests: the load generator's cheap stream scanner (issue 10: no DOM
 * parsing of incoming bytes): header, elements split across reads, quotes,
 * CDATA, whitespace pings, attributes and content read in place. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "loadgen_xml.h"

static void test_header_elements_close(void **state)
{
    (void)state;
    const char *s = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' id='x'>"
                    " <message to='a' x='1>2'><body>a &gt; b<![CDATA[</body>]]></body></message>"
                    "\n<iq type='get'/></stream:stream>";
    size_t n = strlen(s), off = 0, start = 0, used = 0;
    assert_int_equal(lg_xml_next(s, n, false, &start, &used), LGX_HEADER);
    assert_true(lg_xml_named(s + start, used - start, "stream:stream"));
    off += used;
    assert_int_equal(lg_xml_next(s + off, n - off, true, &start, &used), LGX_ELEMENT);
    const char *el = s + off + start;
    size_t len = used - start;
    assert_true(lg_xml_named(el, len, "message"));
    assert_int_equal(len, strlen("<message to='a' x='1>2'><body>a &gt; b<![CDATA[</body>]]></body></message>"));
    size_t vlen = 0;
    const char *v = lg_xml_attr(el, len, "x", &vlen);
    assert_non_null(v);
    assert_int_equal(vlen, 3);
    assert_memory_equal(v, "1>2", 3);
    assert_null(lg_xml_attr(el, len, "from", &vlen));
    off += used;
    assert_int_equal(lg_xml_next(s + off, n - off, true, &start, &used), LGX_ELEMENT);
    assert_true(lg_xml_named(s + off + start, used - start, "iq"));
    off += used;
    assert_int_equal(lg_xml_next(s + off, n - off, true, &start, &used), LGX_CLOSE);
    assert_int_equal(off + used, n);
}

static void test_every_split_point_waits(void **state)
{
    (void)state;
    const char *el = "<presence from=\"u1@d/r\"><status>lgts=01.x</status><x/></presence>";
    size_t n = strlen(el);
    for (size_t cut = 0; cut < n; cut++) {
        size_t start = 0, used = 0;
        assert_int_equal(lg_xml_next(el, cut, true, &start, &used), LGX_MORE);
        assert_true(used <= cut);
    }
    size_t start = 0, used = 0;
    assert_int_equal(lg_xml_next(el, n, true, &start, &used), LGX_ELEMENT);
    assert_int_equal(used, n);
}

static void test_whitespace_ping_is_dropped(void **state)
{
    (void)state;
    size_t start = 0, used = 0;
    assert_int_equal(lg_xml_next(" \n ", 3, true, &start, &used), LGX_MORE);
    assert_int_equal(used, 3);
}

static void test_content(void **state)
{
    (void)state;
    const char *c = "<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>cj1hYmM=</challenge>";
    size_t clen = 0;
    const char *text = lg_xml_content(c, strlen(c), &clen);
    assert_int_equal(clen, 8);
    assert_memory_equal(text, "cj1hYmM=", 8);
    lg_xml_content("<success/>", 10, &clen);
    assert_int_equal(clen, 0);
    assert_true(lg_xml_contains(c, strlen(c), "xmpp-sasl"));
    assert_false(lg_xml_contains(c, strlen(c), "xmpp-tls"));
}

/* Tags whose quoted values hold '>', the other quote or '<'-free text:
 * the memchr skips must find the same ends as reading byte by byte. */
static void test_quoted_values_skip_gt(void **state)
{
    (void)state;
    static const char *const elements[] = {
        "<message to='a>b' type=\"c'>d\" from='x\"y'><body>lgts=</body></message>",
        "<iq id=\"1>2\" type='get'><q a='>' b=\">\"/></iq>",
        "<presence from='u1@d/r'/>",
        "<message  to = 'a' ><body/><x y='</message>'></x></message>",
    };
    for (size_t k = 0; k < sizeof elements / sizeof *elements; k++) {
        const char *el = elements[k];
        size_t n = strlen(el), start = 0, used = 0;
        assert_int_equal(lg_xml_next(el, n, true, &start, &used), LGX_ELEMENT);
        assert_int_equal(start, 0);
        assert_int_equal(used, n);
        for (size_t cut = 0; cut < n; cut++)
            assert_int_equal(lg_xml_next(el, cut, true, &start, &used), LGX_MORE);
    }
    size_t vlen = 0;
    const char *v = lg_xml_attr(elements[0], strlen(elements[0]), "type", &vlen);
    assert_non_null(v);
    assert_int_equal(vlen, 4);
    assert_memory_equal(v, "c'>d", 4);
}

/* An unterminated quote never ends the tag (the element is incomplete). */
static void test_open_quote_waits(void **state)
{
    (void)state;
    const char *s = "<message to='a><body>x</body></message>";
    size_t start = 0, used = 0;
    assert_int_equal(lg_xml_next(s, strlen(s), true, &start, &used), LGX_MORE);
}

static void test_named(void **state)
{
    (void)state;
    assert_true(lg_xml_named("<iq type='get'/>", 16, "iq"));
    assert_true(lg_xml_named("<iq/>", 5, "iq"));
    assert_true(lg_xml_named("<iq>", 4, "iq"));
    assert_true(lg_xml_named("<iq\n>", 5, "iq"));
    assert_false(lg_xml_named("<iqx/>", 6, "iq"));
    assert_false(lg_xml_named("<i/>", 4, "iq"));
    assert_false(lg_xml_named("<stream:features>", 17, "stream:error"));
    assert_true(lg_xml_named("<stream:error>", 14, "stream:error"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_elements_close),
        cmocka_unit_test(test_every_split_point_waits),
        cmocka_unit_test(test_whitespace_ping_is_dropped),
        cmocka_unit_test(test_content),
        cmocka_unit_test(test_quoted_values_skip_gt),
        cmocka_unit_test(test_open_quote_waits),
        cmocka_unit_test(test_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
