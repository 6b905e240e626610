"""Test registry and the per-test context.

@case(name, ids, fixture) registers an async test function. Tests with the
same Fixture share one server, started once for the group; a test without
a fixture builds its own servers through its Context. The Context tracks
every client, raw socket and server a test opens and closes them after the
test, whatever happened.
"""
import os

from harness import DOMAIN, Failure, Server, password_of
from rawxmpp import RawStream
from xmppclient import login

TESTS = []


class Fixture:
    """A server configuration shared by a group of tests."""

    def __init__(self, name, **server_options):
        self.name = name
        self.server_options = server_options


class Case:
    def __init__(self, fn, name, ids, fixture, timeout):
        self.fn = fn
        self.name = name
        self.ids = ids
        self.fixture = fixture
        self.timeout = timeout


def case(name, ids, fixture=None, timeout=10):
    def register(fn):
        TESTS.append(Case(fn, name, ids, fixture, timeout))
        return fn
    return register


class Context:
    def __init__(self, build, cert, server=None):
        self.build = build
        self.cert = cert              # (cert.pem, key.pem) of the fixture
        self.cafile = cert[0]
        self.srv = server
        self.clients = []
        self.raws = []
        self.servers = []

    def port(self, service='xmpp', server=None):
        return (server or self.srv).ports[service]

    async def login(self, user, resource=None, tls='starttls', password=None,
                    server=None, cafile=None, **options):
        """A slixmpp client negotiated up to a bound resource (not yet
        available: call go_online()); on `server`, its first domain."""
        service = 'xmpps' if tls == 'direct' else 'xmpp'
        if server:
            options.setdefault('host', server.host)
            options.setdefault('domain', server.domains[0])
        client = await login(self.port(service, server),
                             cafile or self.cafile, user,
                             password or password_of(user), resource, tls,
                             **options)
        self.clients.append(client)
        return client

    async def online(self, user, resource=None, priority=None, **options):
        client = await self.login(user, resource, **options)
        await client.go_online(priority)
        return client

    def raw(self, service='xmpp', tls=False, tls_version=None, server=None,
            rcvbuf=None):
        stream = RawStream(self.port(service, server), self.cafile, tls=tls,
                           tls_version=tls_version, rcvbuf=rcvbuf)
        self.raws.append(stream)
        return stream

    def raw_session(self, user, resource='raw', server=None, rcvbuf=None):
        """A raw stream logged in with PLAIN over STARTTLS and bound."""
        stream = self.raw(server=server, rcvbuf=rcvbuf)
        stream.open()
        stream.starttls()
        stream.open()
        reply = stream.auth_plain(user, password_of(user))
        if not reply.tag.endswith('}success'):
            raise Failure('raw login of %s failed' % user)
        stream.open()
        stream.full_jid = stream.bind(resource)
        return stream

    def server(self, name, **options):
        """A server owned by this test (stopped after it)."""
        cert = options.pop('cert', self.cert)
        srv = Server(self.build, cert, name, **options)
        self.servers.append(srv)
        return srv

    async def cleanup(self):
        for client in self.clients:
            client.close()
        for stream in self.raws:
            stream.close()
        failures = []
        for srv in self.servers:
            try:
                srv.stop()
            except Failure as e:
                failures.append(str(e))
        return failures

    def diagnostics(self):
        lines = []
        for srv in ([self.srv] if self.srv else []) + self.servers:
            lines += srv.diagnostics()
        return lines


def jid(user, domain=DOMAIN):
    return '%s@%s' % (user, domain)


def keep_dirs():
    return os.environ.get('IMREF_KEEP') == '1'
