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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_elements_close),
        cmocka_unit_test(test_every_split_point_waits),
        cmocka_unit_test(test_whitespace_ping_is_dropped),
        cmocka_unit_test(test_content),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
