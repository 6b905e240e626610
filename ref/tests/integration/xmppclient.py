"""A real XMPP client (slixmpp 1.8.3) wired for the test servers.

Client answers its own DNS lookups with the test address and port, trusts
the fixture certificate for example.com, picks one SASL mechanism, and
records every message, presence and iq it receives in an Inbox that tests
wait on. All waits are bounded (timeouts scaled by harness.SCALE).
"""
import asyncio
import copy
import itertools
import ssl
import xml.etree.ElementTree as ET

import slixmpp
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from harness import DOMAIN, HOST, SCALE, Failure
from rawxmpp import describe, local, stanza_error

CLIENT = 'jabber:client'
DEFAULT_MECH = 'SCRAM-SHA-256'
_ids = itertools.count(1)


class LoginFailed(Failure):
    """SASL <failure/>; condition is its child's name."""

    def __init__(self, condition):
        super().__init__('SASL failure <%s/>' % condition)
        self.condition = condition


class Inbox:
    """Every received stanza (as an ElementTree element), in order; take()
    removes and returns the first one matching a predicate."""

    def __init__(self):
        self.items = []
        self.arrived = asyncio.Event()

    def put(self, element):
        self.items.append(element)
        self.arrived.set()

    async def take(self, predicate, what, timeout=5):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout * SCALE
        while True:
            for i, element in enumerate(self.items):
                if predicate(element):
                    return self.items.pop(i)
            remaining = deadline - loop.time()
            if remaining <= 0:
                seen = '; '.join(describe(e) for e in self.items[-4:])
                raise Failure('%s: not received in %ds (unmatched: %s)'
                              % (what, timeout, seen or 'nothing'))
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    def pending(self, predicate=lambda e: True):
        return [e for e in self.items if predicate(e)]


class Client(slixmpp.ClientXMPP):
    def __init__(self, port, cafile, jid, password, mech=DEFAULT_MECH,
                 username=None, tls_max=None, keep_channel_binding=False,
                 host=HOST):
        super().__init__(jid, password)
        self.host = host
        self.port = port
        self.mech = mech
        self.keep_channel_binding = keep_channel_binding
        if username:
            self.credentials['username'] = username
        self.ssl_context = ssl.create_default_context(cafile=cafile)
        if tls_max:
            self.ssl_context.maximum_version = tls_max
        if mech:
            self['feature_mechanisms'].use_mech = mech
        self['feature_mechanisms'].sasl_callback = self._credentials
        self.roster.auto_authorize = None      # we answer subscriptions
        self.roster.auto_subscribe = False
        self.whitespace_keepalive = False
        self.inbox = Inbox()
        self.stream_errors = []
        self._stream_error_seen = asyncio.Event()
        self._negotiated = None
        for kind in ('message', 'presence', 'iq'):
            self.register_handler(Callback(
                'inbox ' + kind, MatchXPath('{%s}%s' % (CLIENT, kind)),
                lambda stanza: self.inbox.put(copy.deepcopy(stanza.xml))))
        self.add_event_handler('session_start', self._on_session_start)
        self.add_event_handler('failed_auth', self._on_failed_auth)
        self.add_event_handler('stream_error', self._on_stream_error)
        self.add_event_handler('connection_failed', self._on_connection_failed)
        self.add_event_handler('disconnected', self._on_disconnected)

    async def get_dns_records(self, domain, port=None):
        return [(domain, self.host, self.port)]

    def _credentials(self, required, optional):
        """slixmpp's credentials, minus the channel binding unless we use
        a -PLUS mechanism: otherwise slixmpp sends the gs2 flag 'y', which
        a server offering -PLUS must refuse (RFC 5802 downgrade check)."""
        creds = self['feature_mechanisms']._default_credentials(required,
                                                                 optional)
        if not (self.keep_channel_binding
                or (self.mech or '').endswith('-PLUS')):
            creds.pop('channel_binding', None)
        return creds

    # -- negotiation ---------------------------------------------------
    async def start(self, tls='starttls', timeout=5):
        """Connects and negotiates up to a bound resource.
        tls: 'starttls' | 'direct' | 'none'."""
        self._negotiated = asyncio.get_running_loop().create_future()
        self.connect(address=(self.host, self.port), use_ssl=(tls == 'direct'),
                     force_starttls=(tls == 'starttls'),
                     disable_starttls=(tls != 'starttls'))
        try:
            await asyncio.wait_for(asyncio.shield(self._negotiated),
                                   timeout * SCALE)
        except asyncio.TimeoutError:
            self.close()
            raise Failure('%s: no session within %ds' % (self.boundjid,
                                                          timeout))
        except Exception:
            self.close()
            raise
        self.inbox.items.clear()

    def close(self):
        """Drops the connection at once (no </stream:stream>)."""
        if self.transport is None or self.transport.is_closing():
            return
        try:
            self.abort()
        except AttributeError:
            pass  # asyncio's TLS transport is already half torn down

    def _settle(self, error=None):
        if self._negotiated is not None and not self._negotiated.done():
            if error is None:
                self._negotiated.set_result(True)
            else:
                self._negotiated.set_exception(error)

    def _on_session_start(self, _):
        self._settle()

    def _on_failed_auth(self, failure):
        self._settle(LoginFailed(failure['condition']))

    def _on_stream_error(self, error):
        self.stream_errors.append(error['condition'])
        self._stream_error_seen.set()
        self._settle(Failure('stream error <%s/> during negotiation'
                             % error['condition']))

    def _on_connection_failed(self, error):
        self.cancel_connection_attempt()
        self._settle(Failure('connection failed: %s' % error))

    def _on_disconnected(self, reason):
        self._settle(Failure('disconnected during negotiation (%s)'
                             % (reason or 'no reason')))

    async def wait_stream_error(self, timeout=5):
        """The condition of the stream error the server sent us."""
        try:
            await asyncio.wait_for(self._stream_error_seen.wait(),
                                   timeout * SCALE)
        except asyncio.TimeoutError:
            raise Failure('no stream error at %s within %ds'
                          % (self.boundjid, timeout))
        return self.stream_errors[-1]

    async def wait_disconnected(self, timeout=5):
        if self.transport is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self.disconnected),
                                   timeout * SCALE)
        except asyncio.TimeoutError:
            raise Failure('%s still connected after %ds'
                          % (self.boundjid, timeout))

    # -- stanzas -------------------------------------------------------
    def send_xml(self, text):
        self.send_raw(text)

    def send_message(self, to, body, mtype='chat', msg_id=None):
        self.send_xml("<message to='%s' type='%s' id='%s'><body>%s</body>"
                      "</message>" % (to, mtype, msg_id or 'm%d' % next(_ids),
                                      body))

    def send_presence_xml(self, to=None, ptype=None, priority=None,
                          status=None):
        attrs = ''.join(" %s='%s'" % (k, v) for k, v in
                        (('to', to), ('type', ptype)) if v)
        children = ''
        if priority is not None:
            children += '<priority>%d</priority>' % priority
        if status:
            children += '<status>%s</status>' % status
        self.send_xml('<presence%s>%s</presence>' % (attrs, children))

    async def iq(self, iq_type, payload, to=None, timeout=5):
        """Sends an iq and returns the reply element (result or error)."""
        iq_id = 'iq%d' % next(_ids)
        to_attr = " to='%s'" % to if to else ''
        self.send_xml("<iq type='%s' id='%s'%s>%s</iq>"
                      % (iq_type, iq_id, to_attr, payload))
        return await self.inbox.take(
            lambda e: (local(e.tag) == 'iq' and e.get('id') == iq_id
                       and e.get('type') in ('result', 'error')),
            'reply to iq %s %s' % (iq_type, payload[:60]), timeout)

    async def sync(self):
        """Ping round trip to the server: everything we sent before has
        been processed, and everything routed to us before it has arrived."""
        await self.iq('get', "<ping xmlns='urn:xmpp:ping'/>",
                      to=self.boundjid.domain)

    async def wait(self, predicate, what, timeout=5):
        return await self.inbox.take(
            predicate, '%s at %s' % (what, self.boundjid), timeout)

    async def go_online(self, priority=None, status=None):
        """Initial presence; returns after the server has processed it."""
        self.send_presence_xml(priority=priority, status=status)
        await self.sync()


async def login(port, cafile, user, password, resource=None, tls='starttls',
                domain=DOMAIN, **options):
    jid = '%s@%s' % (user, domain) + ('/' + resource if resource else '')
    client = Client(port, cafile, jid, password, **options)
    await client.start(tls)
    return client


# -- predicates over received elements --------------------------------
def bare(jid):
    return (jid or '').split('/', 1)[0]


def jid_matches(actual, expected, exact=False):
    """A bare expected JID matches any resource of it, unless exact."""
    if expected is None:
        return True
    if exact or '/' in expected:
        return actual == expected
    return bare(actual) == expected


def is_message(frm=None, body=None, mtype=None):
    def match(e):
        return (e.tag == '{%s}message' % CLIENT
                and jid_matches(e.get('from'), frm)
                and (body is None or e.findtext('{%s}body' % CLIENT) == body)
                and (mtype is None or e.get('type', 'normal') == mtype))
    return match


def is_presence(frm=None, ptype=None, exact=False, status=None):
    """ptype None means available presence (no type attribute)."""
    def match(e):
        return (e.tag == '{%s}presence' % CLIENT
                and jid_matches(e.get('from'), frm, exact)
                and e.get('type') == ptype
                and (status is None
                     or e.findtext('{%s}status' % CLIENT) == status))
    return match


ROSTER = 'jabber:iq:roster'


def roster_items(element):
    return element.findall('{%s}query/{%s}item' % (ROSTER, ROSTER))


def is_roster_push(jid, subscription=None, ask=None):
    def match(e):
        if not (e.tag == '{%s}iq' % CLIENT and e.get('type') == 'set'):
            return False
        items = roster_items(e)
        return (len(items) == 1 and items[0].get('jid') == jid
                and (subscription is None
                     or items[0].get('subscription', 'none') == subscription)
                and (ask is None or items[0].get('ask') == ask))
    return match


def is_error_reply(condition):
    def match(e):
        return e.get('type') == 'error' and stanza_error(e) is not None \
            and stanza_error(e)[1] == condition
    return match


def error_condition(element):
    err = stanza_error(element)
    return err[1] if err else None


def parse(text):
    return ET.fromstring(text)
