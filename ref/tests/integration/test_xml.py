"""Hostile XML on raw sockets: stream errors, restricted XML, limits and
the STARTTLS injection defence (XML-2..XML-6)."""
from fixtures import DEFAULT
from harness import DOMAIN, check
from rawxmpp import (CLIENT, SASL, STREAMS, TLS_NS, describe, header,
                     stream_error_text)
from suite import case


def after_header(t, data, condition):
    """Opens a stream, sends data, expects the stream error (XML-6)."""
    s = t.raw()
    s.open()
    s.send(data)
    return s.expect_stream_error(condition)


@case('malformed XML, invalid UTF-8, unbound prefix: <not-well-formed/>',
      'XML-3 XML-6', DEFAULT)
async def test_not_well_formed(t):
    for data in (b"<message><body>x</message>",
                 b"<message><body>\xff\xfe</body></message>",
                 b"<foo:bar xmlns='jabber:client'/>"):
        after_header(t, data, 'not-well-formed')


@case('DOCTYPE with an entity declaration: <restricted-xml/>',
      'XML-2 XML-6', DEFAULT)
async def test_doctype(t):
    s = t.raw()
    s.send("<?xml version='1.0'?><!DOCTYPE stream:stream "
           "[<!ENTITY boom 'boom'>]>" + header())
    s.expect_stream_error('restricted-xml')


@case('comment and processing instruction: <restricted-xml/>',
      'XML-2 XML-6', DEFAULT)
async def test_comment_and_pi(t):
    after_header(t, "<!-- a comment -->", 'restricted-xml')
    after_header(t, "<?foo bar?>", 'restricted-xml')
    after_header(t, "<message to='alice@%s'><body>a<!-- c -->b</body>"
                 "</message>" % DOMAIN, 'restricted-xml')


@case('wrong stream namespace: <invalid-namespace/>', 'XML-3 XML-6',
      DEFAULT)
async def test_wrong_stream_namespace(t):
    s = t.raw()
    s.send(header(stream_ns='http://example.org/not-streams'))
    s.expect_stream_error('invalid-namespace')


@case('stanza over 16 KiB before authentication: <policy-violation/>'
      ' naming the limit', 'XML-4 XML-6', DEFAULT)
async def test_oversize_before_auth(t):
    s = t.raw()
    s.open()
    s.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>"
           % (SASL, 'A' * 20000))
    error = s.expect_stream_error('policy-violation')
    text = stream_error_text(error)
    check('16384' in text or 'size' in text.lower(),
          'policy-violation <text> %r does not name the size limit' % text)


@case('more than 32 elements or depth 16 before authentication:'
      ' <policy-violation/>', 'XML-4 XML-6', DEFAULT)
async def test_element_limits_before_auth(t):
    after_header(t, "<iq type='get' id='e'><query xmlns='urn:x'>%s</query>"
                 "</iq>" % ('<a/>' * 40), 'policy-violation')
    after_header(t, "<iq type='get' id='d'>%s%s</iq>"
                 % ('<a>' * 20, '</a>' * 20), 'policy-violation')


@case('bytes sent with <starttls/> before the handshake are discarded',
      'XML-5', DEFAULT)
async def test_starttls_injection(t):
    s = t.raw()
    s.open()
    s.send("<starttls xmlns='%s'/><iq type='get' id='injected' to='%s'>"
           "<ping xmlns='urn:xmpp:ping'/></iq>" % (TLS_NS, DOMAIN))
    s.expect('{%s}proceed' % TLS_NS, '<proceed/>')
    s.wrap_tls()
    features = s.open()
    check(features.tag == '{%s}features' % STREAMS, 'features after TLS')
    late = s.received_within(0.5)
    check(not late, 'injected bytes were processed: %s'
          % [describe(e) for e in late])


@case('bytes after </stream:stream> are ignored', 'XML-5', DEFAULT)
async def test_bytes_after_close(t):
    s = t.raw()
    s.open()
    s.send("</stream:stream><message><body>after close")
    s.expect_close()
    replies = [e for e in s.ready if e.tag in ('{%s}error' % STREAMS,
                                               '{%s}message' % CLIENT)]
    check(not replies, 'reply to bytes after the stream end: %s'
          % [describe(e) for e in replies])
