"""A raw XMPP connection for hostile and byte-exact tests.

RawStream sends exact bytes over a plain or TLS socket and parses what the
server sends with a namespace-aware pull parser, one top-level element at
a time. It owns its socket and closes it in close(). Blocking, with
timeouts scaled by harness.SCALE.
"""
import base64
import socket
import ssl
import time
import warnings
import xml.etree.ElementTree as ET

from harness import DOMAIN, HOST, SCALE, Failure, check

STREAMS = 'http://etherx.jabber.org/streams'
CLIENT = 'jabber:client'
TLS_NS = 'urn:ietf:params:xml:ns:xmpp-tls'
SASL = 'urn:ietf:params:xml:ns:xmpp-sasl'
BIND = 'urn:ietf:params:xml:ns:xmpp-bind'
STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas'
STREAM_ERRORS = 'urn:ietf:params:xml:ns:xmpp-streams'
XML_LANG = '{http://www.w3.org/XML/1998/namespace}lang'


def header(to=DOMAIN, sender=None, stream_ns=STREAMS, version='1.0'):
    attrs = "to='%s' version='%s' xml:lang='en'" % (to, version)
    if sender:
        attrs += " from='%s'" % sender
    return ("<stream:stream xmlns='jabber:client' xmlns:stream='%s' %s>"
            % (stream_ns, attrs))


def tls_context(cafile, version=None):
    """Client context trusting the fixture cert; version pins min=max."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile)
    if version is not None:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', DeprecationWarning)
            if version < ssl.TLSVersion.TLSv1_2:
                ctx.set_ciphers('DEFAULT:@SECLEVEL=0')  # let us offer 1.1
            ctx.minimum_version = ctx.maximum_version = version
    return ctx


def plain_payload(user, password):
    raw = ('\0%s\0%s' % (user, password)).encode()
    return base64.b64encode(raw).decode()


def local(tag):
    return tag.rsplit('}', 1)[-1]


def describe(element):
    text = ET.tostring(element, encoding='unicode')
    return text if len(text) < 300 else text[:300] + '...'


class StreamClosed(Failure):
    """The server ended the stream; saw_footer tells whether it sent
    </stream:stream> first."""

    def __init__(self, reason, saw_footer):
        super().__init__(reason)
        self.saw_footer = saw_footer


class RawStream:
    def __init__(self, port, cafile, tls=False, tls_version=None,
                 timeout=5, host=HOST, rcvbuf=None):
        self.cafile = cafile
        self.timeout = timeout  # seconds, before SCALE
        if rcvbuf:   # before connecting, so the advertised window stays small
            self.sock = socket.socket()
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(timeout * SCALE)
            self.sock.connect((host, port))
        else:
            self.sock = socket.create_connection((host, port),
                                                 timeout=timeout * SCALE)
        if tls:
            self.wrap_tls(tls_version)
        self.skipped = []
        self._restart_parser()

    # -- transport -----------------------------------------------------
    def wrap_tls(self, version=None):
        ctx = tls_context(self.cafile, version)
        self.sock = ctx.wrap_socket(self.sock, server_hostname=DOMAIN)

    def send(self, data):
        """Sends; a peer that already closed shows when we read."""
        if isinstance(data, str):
            data = data.encode()
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _recv(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout()
        self.sock.settimeout(remaining)
        try:
            return self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLEOFError, BrokenPipeError):
            return b''

    # -- parsing -------------------------------------------------------
    def _restart_parser(self):
        self.parser = ET.XMLPullParser(events=('start', 'end'))
        self.root = None
        self.depth = 0
        self.ready = []
        self.saw_footer = False

    def _feed(self, data):
        try:
            self.parser.feed(data)
            events = list(self.parser.read_events())
        except ET.ParseError as e:
            raise Failure('server sent XML we cannot parse: %s' % e)
        for event, element in events:
            if event == 'start':
                self.depth += 1
                if self.depth == 1:
                    check(element.tag == '{%s}stream' % STREAMS,
                          'server sent <%s> where its stream header belongs'
                          ' (RFC 6120 4.9.1.2)' % element.tag)
                    self.root = element
            else:
                self.depth -= 1
                if self.depth == 1:
                    self.ready.append(element)
                    self.root.remove(element)
                elif self.depth == 0:
                    self.saw_footer = True

    def next(self, timeout=None, what='an element'):
        """Next top-level element; StreamClosed on footer/EOF."""
        deadline = time.monotonic() + (timeout or self.timeout) * SCALE
        while not self.ready:
            if self.saw_footer:
                raise StreamClosed('server closed the stream (</stream:stream>'
                                   ') while we waited for %s' % what, True)
            try:
                data = self._recv(deadline)
            except socket.timeout:
                raise Failure('timed out waiting for %s' % what)
            if not data:
                raise StreamClosed('server closed the connection while we'
                                   ' waited for %s' % what, self.saw_footer)
            self._feed(data)
        return self.ready.pop(0)

    def wait_root(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout) * SCALE
        while self.root is None:
            try:
                data = self._recv(deadline)
            except socket.timeout:
                raise Failure('timed out waiting for the stream header')
            if not data:
                raise StreamClosed('connection closed before a stream header',
                                   False)
            self._feed(data)
        return self.root

    def expect(self, tag, what=None):
        element = self.next(what=what or tag)
        check(element.tag == tag, 'expected %s, got %s'
              % (what or tag, describe(element)))
        return element

    def received_within(self, seconds):
        """Elements received within a short quiet period (for asserting
        that nothing arrives)."""
        got = []
        deadline = time.monotonic() + seconds * SCALE
        while True:
            while self.ready:
                got.append(self.ready.pop(0))
            try:
                data = self._recv(deadline)
            except socket.timeout:
                return got
            if not data:
                raise StreamClosed('server closed the connection',
                                   self.saw_footer)
            self._feed(data)

    # -- XMPP steps ----------------------------------------------------
    def open(self, **header_args):
        """Sends a stream header; returns the <stream:features> element."""
        self._restart_parser()
        self.send(header(**header_args))
        self.wait_root()
        return self.expect('{%s}features' % STREAMS, 'stream features')

    def starttls(self, version=None):
        self.send("<starttls xmlns='%s'/>" % TLS_NS)
        self.expect('{%s}proceed' % TLS_NS, '<proceed/>')
        self.wrap_tls(version)

    def auth_plain(self, user, password):
        """Returns the server's reply element (success or failure)."""
        self.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>"
                  % (SASL, plain_payload(user, password)))
        return self.next(what='SASL reply')

    def bind(self, resource):
        self.send("<iq type='set' id='bind1'><bind xmlns='%s'>"
                  "<resource>%s</resource></bind></iq>" % (BIND, resource))
        reply = self.expect('{%s}iq' % CLIENT, 'bind result')
        check(reply.get('type') == 'result', 'bind failed: %s'
              % describe(reply))
        return reply.find('{%s}bind/{%s}jid' % (BIND, BIND)).text

    def iq(self, iq_type, payload, to=None, iq_id='q'):
        """Sends an iq; returns the reply with the same id. Elements that
        arrive before it are appended to self.skipped."""
        to_attr = " to='%s'" % to if to else ''
        self.send("<iq type='%s' id='%s'%s>%s</iq>"
                  % (iq_type, iq_id, to_attr, payload))
        while True:
            reply = self.next(what='reply to iq %s' % iq_id)
            if reply.tag == '{%s}iq' % CLIENT and reply.get('id') == iq_id:
                return reply
            self.skipped.append(reply)

    def expect_stream_error(self, condition):
        """Reads up to a stream error; checks its condition, then that
        </stream:stream> follows and the socket closes within 5 s (XML-6).
        Returns the error element."""
        try:
            while True:
                element = self.next(what='<stream:error/>')
                if element.tag == '{%s}error' % STREAMS:
                    break
        except StreamClosed as e:
            raise Failure('stream closed without a stream error <%s/>%s'
                          % (condition, '' if e.saw_footer else
                             ' (no </stream:stream> either)'))
        conditions = [local(c.tag) for c in element
                      if c.tag.startswith('{%s}' % STREAM_ERRORS)
                      and local(c.tag) != 'text']
        check(conditions == [condition], 'stream error %s, expected <%s/>'
              % (describe(element), condition))
        self.expect_close()
        return element

    def expect_close(self, seconds=5):
        """</stream:stream> then EOF within the given time (XML-6)."""
        deadline = time.monotonic() + seconds * SCALE
        while True:
            try:
                data = self._recv(deadline)
            except socket.timeout:
                raise Failure('server did not close the socket within %ds'
                              ' (XML-6)%s' % (seconds, '' if self.saw_footer
                                              else '; no </stream:stream>'))
            if not data:
                check(self.saw_footer,
                      'connection closed without </stream:stream> (XML-6)')
                return
            self._feed(data)


def stream_error_text(error):
    text = error.find('{%s}text' % STREAM_ERRORS)
    return text.text if text is not None else ''


def mechanisms(features):
    return [m.text for m in features.findall(
        '{%s}mechanisms/{%s}mechanism' % (SASL, SASL))]


def stanza_error(element):
    """(type, condition) of a stanza's <error/>, or None."""
    error = element.find('{%s}error' % CLIENT)
    if error is None:
        return None
    for child in error:
        if (child.tag.startswith('{%s}' % STANZAS)
                and local(child.tag) != 'text'):
            return error.get('type'), local(child.tag)
    return error.get('type'), None
