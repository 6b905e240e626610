"""Federation (S2S-1..5, SVC-3, DOM-6, ADM-1): two imrefd, a.example on
127.0.0.1 and b.example on 127.0.0.2, found through a real DNS server
(dnsmasq) on loopback, with certificates from a CA the test makes. Also
raw server streams that try to cheat, bounces, and the s2s listener
following SendOutside. The two-target conformance suite (suites/s2s)
covers the IM traffic at length; these are what it cannot express."""
import os
import shutil
import socket
import subprocess
import tempfile
import xml.etree.ElementTree as ET
import time

from dns import Address, DnsServer, Srv
from harness import SCALE, Failure, ServiceSpec, check, listening_ports
from rawxmpp import RawStream, local
from suite import case
from test_admin import ok, ok_json
from xmppclient import is_error_reply, is_message

A, B = 'a.example', 'b.example'
HOST_A, HOST_B = '127.0.0.1', '127.0.0.2'
STREAMS = 'http://etherx.jabber.org/streams'
DIALBACK = 'jabber:server:dialback'
ALL = ('xmpp', 'xmpps', 's2s')


def openssl(*args):
    res = subprocess.run(['openssl', *args], capture_output=True, text=True)
    check(res.returncode == 0, 'openssl %s: %s' % (args[0], res.stderr[-300:]))


class TestCA:
    """A CA and leaf certificates (serverAuth and clientAuth,
    subjectAltName DNS:<domain>) in a directory of its own."""

    def __init__(self, name):
        self.dir = tempfile.mkdtemp(prefix='imref-it-ca-')
        self.cert = os.path.join(self.dir, 'ca.pem')
        key = os.path.join(self.dir, 'ca-key.pem')
        self.key = key
        openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt',
                'ec_paramgen_curve:P-256', '-nodes', '-days', '30', '-subj',
                '/CN=' + name, '-keyout', key, '-out', self.cert)

    def leaf(self, domain):
        base = os.path.join(self.dir, domain)
        with open(base + '.ext', 'w') as f:
            f.write('subjectAltName=DNS:%s\n'
                    'extendedKeyUsage=serverAuth,clientAuth\n' % domain)
        openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
                '-nodes', '-subj', '/CN=' + domain, '-keyout',
                base + '-key.pem', '-out', base + '.csr')
        openssl('x509', '-req', '-in', base + '.csr', '-CA', self.cert,
                '-CAkey', self.key, '-CAcreateserial', '-days', '30',
                '-extfile', base + '.ext', '-out', base + '.pem')
        return base + '.pem', base + '-key.pem'

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class Federation:
    """A dnsmasq and the servers for a.example (alice) and b.example
    (bob), configured but not started. srv_records=False leaves only the
    A records (S2S-1 fallback: b then listens on 127.0.0.2:5269)."""

    def __init__(self, t, b_trusts_ca=True, srv_records=True, extra=(),
                 a_options=None, dns_timeout=2, tables=None):
        self.t = t
        self.ca = TestCA('imref test CA')
        self.other_ca = TestCA('another CA')
        self.dns = DnsServer(local=('example',))
        self.dns.start()
        tables = {'DNS': {'Server': self.dns.address, 'Timeout': dns_timeout},
                  **(tables or {})}
        self.a = t.server('a', cert=self.ca.leaf(A), host=HOST_A,
                          domains=(A,), send_outside=1, debug=True,
                          users=('alice',), wait_for=ALL, tables=tables,
                          ca_file=self.ca.cert, **(a_options or {}))
        b_services = None
        if not srv_records:
            b_services = {'xmpp': ServiceSpec(), 'xmpps': ServiceSpec(),
                          's2s': ServiceSpec(['%s:5269' % HOST_B])}
        self.b = t.server('b', cert=self.ca.leaf(B), host=HOST_B,
                          domains=(B,), send_outside=1, debug=True,
                          users=('bob',), wait_for=('xmpp', 'xmpps'),
                          tables=tables, services=b_services,
                          ca_file=(self.ca if b_trusts_ca
                                   else self.other_ca).cert)
        records = [Address(A, HOST_A), Address(B, HOST_B), *extra]
        if srv_records:
            records += [Srv('_xmpp-server._tcp.' + A, A, self.a.ports['s2s']),
                        Srv('_xmpp-server._tcp.' + B, B, self.b.ports['s2s'])]
        self.dns.restart(records)

    def start(self):
        self.a.start()
        self.b.start()

    async def login(self, srv, user):
        client = await self.t.login(user, server=srv, cafile=self.ca.cert)
        await client.go_online()
        return client

    def close(self):
        self.dns.remove()
        self.ca.remove()
        self.other_ca.remove()


async def exchange(fed, both_ways=True):
    """alice@a writes to bob@b and (both_ways) he answers; they arrive."""
    alice = await fed.login(fed.a, 'alice')
    bob = await fed.login(fed.b, 'bob')
    alice.send_message('bob@' + B, 'over the wall')
    await bob.inbox.take(is_message(frm='alice@' + A, body='over the wall'),
                         'the message from alice@a', timeout=10)
    if not both_ways:
        return alice, bob
    bob.send_message('alice@' + A, 'and back')
    await alice.inbox.take(is_message(frm='bob@' + B, body='and back'),
                           'the reply from bob@b', timeout=10)
    return alice, bob


def s2s_rows(rows, direction):
    return [r for r in rows if r['protocol'] == 'XMPP-S2S'
            and r['description'].startswith(direction)]


@case('messages both ways between two servers found through SRV, TLS and'
      ' SASL EXTERNAL; the streams are listed as XMPP-S2S',
      'S2S-1 S2S-2 S2S-4 ADM-1', timeout=40)
async def test_federated_messages(t):
    fed = Federation(t)
    try:
        fed.start()
        await exchange(fed)
        rows = await ok_json(fed.a, 'connections')
        out, inbound = s2s_rows(rows, 'to ' + B), s2s_rows(rows, 'from ' + B)
        check(out and inbound, 'a lists no S2S stream both ways: %s' % rows)
        for row in out + inbound:
            check(row['secure'] and row['sasl'] == 'EXTERNAL' and
                  row['user'] == '', 'S2S row %s: expected TLS, EXTERNAL'
                  ' and no user' % row)
    finally:
        fed.close()


@case('a peer that does not trust our certificate: Server Dialback, the key'
      ' checked with the authoritative server', 'S2S-2 S2S-3', timeout=40)
async def test_dialback(t):
    fed = Federation(t, b_trusts_ca=False)
    try:
        fed.start()
        await exchange(fed)
        rows = await ok_json(fed.b, 'connections')
        inbound = s2s_rows(rows, 'from ' + A)
        check(inbound and all(r['sasl'] == 'dialback' for r in inbound),
              'b should have authenticated a by dialback: %s' % rows)
        fed.a.wait_log('debug', r"<verify xmlns='%s' from='%s' to='%s' id="
                       r"'[^']+' type='valid'/>" % (DIALBACK, A, B))
    finally:
        fed.close()


def raw_s2s(srv, sender=B):
    """A raw server stream to srv's s2s port claiming to be `sender`."""
    stream = RawStream(srv.ports['s2s'], None, host=srv.host)
    stream.send("<?xml version='1.0'?><stream:stream xmlns='jabber:server'"
                " xmlns:stream='%s' xmlns:db='%s' from='%s' to='%s'"
                " version='1.0'>" % (STREAMS, DIALBACK, sender,
                                     srv.domains[0]))
    root = stream.wait_root()
    features = stream.expect('{%s}features' % STREAMS, 'stream features')
    return stream, root, features


@case('a forged dialback key is refused after the authoritative server says'
      ' invalid; stanzas from an unauthenticated domain end the stream with'
      ' <not-authorized/>', 'S2S-3', timeout=40)
async def test_spoofed_dialback(t):
    fed = Federation(t)
    try:
        fed.start()
        stream, root, _ = raw_s2s(fed.a)
        stream.send("<db:result from='%s' to='%s'>%s</db:result>"
                    % (B, A, 'ab' * 32))
        result = stream.expect('{%s}result' % DIALBACK, 'dialback result')
        check(result.get('type') == 'invalid',
              'forged key answered %s' % result.attrib)
        fed.b.wait_log('debug', r"from='%s' to='%s' id='%s' type='invalid'"
                       % (B, A, root.get('id')))
        fed.a.wait_log('security', 'dialback key of %s for %s' % (B, A))
        stream.send("<message from='bob@%s' to='alice@%s'><body>spoof</body>"
                    "</message>" % (B, A))
        stream.expect_stream_error('not-authorized')

        stream, _, _ = raw_s2s(fed.a)          # no dialback at all
        stream.send("<message from='bob@%s' to='alice@%s'><body>spoof</body>"
                    "</message>" % (B, A))
        stream.expect_stream_error('not-authorized')
        fed.a.wait_log('security', 'not authenticated', more_than=1)
    finally:
        fed.close()


@case('EncryptionRequired: an inbound S2S stream must do STARTTLS first',
      'SEC-5 S2S-2', timeout=40)
async def test_s2s_encryption_required(t):
    fed = Federation(t, a_options={'policy': 'EncryptionRequired'})
    try:
        fed.a.start()
        stream, _, features = raw_s2s(fed.a)
        kinds = [local(f.tag) for f in features]
        check(kinds == ['starttls'] and features[0].find(
            '{urn:ietf:params:xml:ns:xmpp-tls}required') is not None,
            'features before TLS: %s (expected only a required STARTTLS)'
            % kinds)
        stream.send("<db:result from='%s' to='%s'>%s</db:result>"
                    % (B, A, 'ab' * 32))
        stream.expect_stream_error('policy-violation')
    finally:
        fed.close()


@case('no SRV record for b.example: its A record, port 5269 (a.example is'
      ' not on 5269, so only a to b)', 'S2S-1',
      timeout=40)
async def test_a_record_fallback(t):
    try:
        socket.create_connection((HOST_B, 5269), timeout=1).close()
        raise Failure('127.0.0.2:5269 is in use: cannot test the fallback')
    except OSError:
        pass
    fed = Federation(t, srv_records=False)
    try:
        fed.start()
        await exchange(fed, both_ways=False)
    finally:
        fed.close()


@case('the remote server down, no address, or DNS silent: the sender gets'
      ' <remote-server-not-found/> or <remote-server-timeout/>', 'S2S-4',
      timeout=40)
async def test_bounces(t):
    closed = socket.socket()
    closed.bind((HOST_A, 0))
    down_port = closed.getsockname()[1]
    closed.close()
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind((HOST_A, 0))               # takes queries, never answers
    fed = Federation(t, extra=[
        Srv('_xmpp-server._tcp.down.example', 'down.example', down_port),
        Address('down.example', HOST_A)], dns_timeout=1)
    quiet = t.server('quiet', host=HOST_A, send_outside=1, users=('carol',),
                     tables={'DNS': {'Server': '%s:%d' % (
                         HOST_A, silent.getsockname()[1]), 'Timeout': 1}})
    try:
        fed.a.start()
        quiet.start()
        alice = await fed.login(fed.a, 'alice')
        for n, to in enumerate(('x@down.example', 'x@nowhere.example')):
            alice.send_message(to, 'hello', msg_id='b%d' % n)
            await alice.inbox.take(is_error_reply('remote-server-not-found'),
                                   'remote-server-not-found for ' + to,
                                   timeout=10)
        carol = await t.online('carol', server=quiet)
        began = time.monotonic()
        carol.send_message('x@' + B, 'into the silence')
        await carol.inbox.take(is_error_reply('remote-server-timeout'),
                               'remote-server-timeout', timeout=10)
        check(time.monotonic() - began >= 0.9,
              'the timeout bounce came before the DNS timeout')
    finally:
        silent.close()
        fed.close()


def s2s_open(srv):
    return srv.ports['s2s'] in listening_ports(srv.proc.pid)


async def expect_s2s(srv, is_open, why):
    deadline = time.monotonic() + 3 * SCALE
    while s2s_open(srv) != is_open:
        check(time.monotonic() < deadline, 's2s listener should be %s %s'
              % ('open' if is_open else 'closed', why))
        time.sleep(0.05)


@case('the s2s listener is open exactly while SendOutside is on, the'
      ' service is wanted and a client service runs', 'SVC-3 DOM-6 ADM-2',
      timeout=30)
async def test_listener_follows_settings(t):
    srv = t.server('svc3', users=('alice',))
    srv.start()
    await expect_s2s(srv, False, 'with SendOutside 0')
    await ok(srv, 'settings', 'set', 'SendOutside', '1')
    await expect_s2s(srv, True, 'once SendOutside is 1')
    await ok(srv, 'service', 'stop', 'xmpp')
    await expect_s2s(srv, True, 'while xmpps still runs')
    await ok(srv, 'service', 'stop', 'xmpps')
    await expect_s2s(srv, False, 'with no client service')
    await ok(srv, 'service', 'start', 'xmpp')
    await expect_s2s(srv, True, 'once xmpp runs again')
    await ok(srv, 'service', 'stop', 's2s')
    await expect_s2s(srv, False, 'after service stop s2s')
    await ok(srv, 'service', 'start', 's2s')
    await expect_s2s(srv, True, 'after service start s2s')
    await ok(srv, 'settings', 'set', 'SendOutside', '0')
    await expect_s2s(srv, False, 'once SendOutside is 0 again')
    srv.wait_log('config', 'federation listener is closed')


@case('dialback keys waiting for their authoritative servers are bounded per'
      ' stream: the ninth gets <resource-constraint/>', 'S2S-3', timeout=40)
async def test_verification_bound(t):
    tarpit = socket.socket()
    tarpit.bind((HOST_A, 0))        # accepts (the kernel does), never answers
    tarpit.listen(32)
    claimed = ['tarpit%d.example' % i for i in range(9)]
    fed = Federation(t, extra=[Address('tarpit.example', HOST_A)] + [
        Srv('_xmpp-server._tcp.' + d, 'tarpit.example',
            tarpit.getsockname()[1]) for d in claimed])
    try:
        fed.a.start()
        stream, _, _ = raw_s2s(fed.a, sender=claimed[0])
        for domain in claimed:
            stream.send("<db:result from='%s' to='%s'>%s</db:result>"
                        % (domain, A, 'ab' * 32))
        reply = stream.expect('{%s}result' % DIALBACK, 'a dialback result')
        check(reply.get('from') == A and reply.get('to') == claimed[8] and
              reply.get('type') == 'error' and reply.find(
                  '{%s}error/{urn:ietf:params:xml:ns:xmpp-stanzas}'
                  'resource-constraint' % DIALBACK) is not None,
              'expected the 9th key refused with resource-constraint, got %s'
              % ET.tostring(reply, encoding='unicode'))
    finally:
        tarpit.close()
        fed.close()
