"""SASL login: mechanisms, login names, failures and their logs
(AUTH-1, AUTH-3, AUTH-4, AUTH-5, SVC-1, SVC-2, XML-1)."""
import base64
import ssl

from fixtures import DEFAULT
from harness import DOMAIN, Failure, check, password_of
from rawxmpp import (SASL, STREAMS, TLS_NS, XML_LANG, StreamClosed, describe,
                     local, mechanisms)
from suite import case
from xmppclient import LoginFailed

TLS12 = ssl.TLSVersion.TLSv1_2
# slixmpp 1.8.3 binds only with tls-unique (tls-exporter: not in slixmpp);
# imrefd accepts tls-unique on TLS 1.2 and, for such clients, on 1.3.
MECHANISMS = [('SCRAM-SHA-1', None), ('SCRAM-SHA-256', None),
              ('SCRAM-SHA-1-PLUS', TLS12), ('SCRAM-SHA-256-PLUS', TLS12),
              ('SCRAM-SHA-1-PLUS', None), ('SCRAM-SHA-256-PLUS', None),
              ('PLAIN', None)]
TRANSPORTS = [('starttls', 'STARTTLS on the xmpp port', 'SVC-1'),
              ('direct', 'direct TLS on the xmpps port', 'SVC-2')]


def login_with(mech, tls, tls_max):
    async def test(t):
        client = await t.login('alice', 'mech', tls=tls, mech=mech,
                               tls_max=tls_max)
        check(client.boundjid.full == 'alice@%s/mech' % DOMAIN,
              'bound %s' % client.boundjid.full)
        await client.sync()
    return test


for _tls, _label, _svc in TRANSPORTS:
    for _mech, _tls_max in MECHANISMS:
        case('alice logs in over %s with %s%s'
             % (_label, _mech, ' (TLS 1.2)' if _tls_max else ''),
             'AUTH-1 %s XML-1' % _svc, DEFAULT)(
                 login_with(_mech, _tls, _tls_max))


@case('slixmpp with its default settings (its own mechanism choice and '
      'channel binding) logs in over STARTTLS and direct TLS', 'AUTH-1', DEFAULT)
async def test_default_client_settings(t):
    for tls in ('starttls', 'direct'):
        client = await t.login('alice', 'defaults-' + tls, tls=tls, mech=None,
                               keep_channel_binding=True)
        check(client.boundjid.full == 'alice@%s/defaults-%s' % (DOMAIN, tls),
              'bound %s' % client.boundjid.full)
        await client.sync()


def check_strongest_first(mechs, expected):
    """The offer is exactly `expected` (a set), ordered strongest first:
    -PLUS before its plain form, SHA-256 before SHA-1, PLAIN last."""
    check(set(mechs) == set(expected) and len(mechs) == len(expected),
          'mechanisms offered %s, expected %s' % (mechs, sorted(expected)))
    stronger = [('SCRAM-SHA-256-PLUS', 'SCRAM-SHA-1-PLUS'),
                ('SCRAM-SHA-256', 'SCRAM-SHA-1'),
                ('SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'),
                ('SCRAM-SHA-1-PLUS', 'SCRAM-SHA-1')]
    stronger += [(m, 'PLAIN') for m in mechs if m != 'PLAIN']
    for a, b in stronger:
        if a in mechs and b in mechs:
            check(mechs.index(a) < mechs.index(b),
                  'mechanisms %s: %s offered after %s' % (mechs, a, b))


def check_header(root, previous_id=None):
    check(root.tag == '{%s}stream' % STREAMS, 'stream root %s' % root.tag)
    check(root.get('from') == DOMAIN, "header from=%r" % root.get('from'))
    check(root.get('to') == 'alice@%s' % DOMAIN,
          "header to=%r, expected our from" % root.get('to'))
    check(root.get('version') == '1.0', 'version=%r' % root.get('version'))
    check(root.get('id'), 'no stream id')
    check(root.get(XML_LANG), 'no xml:lang')
    check(root.get('id') != previous_id, 'stream id not renewed on restart')
    return root.get('id')


@case('raw STARTTLS stream: header, features, restarts after TLS and SASL',
      'XML-1 AUTH-1 SEC-3 SVC-1', DEFAULT)
async def test_raw_negotiation(t):
    s = t.raw()
    features = s.open(sender='alice@' + DOMAIN)
    stream_id = check_header(s.root)
    starttls = features.find('{%s}starttls' % TLS_NS)
    check(starttls is not None, 'no <starttls/> in %s' % describe(features))
    check(starttls.find('{%s}required' % TLS_NS) is None,
          'starttls required under NoRestrictions')
    check_strongest_first(mechanisms(features),
                          {'SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'})
    s.starttls()
    features = s.open(sender='alice@' + DOMAIN)
    stream_id = check_header(s.root, stream_id)
    check(features.find('{%s}starttls' % TLS_NS) is None,
          'starttls offered again under TLS')
    check_strongest_first(mechanisms(features),
                          {'SCRAM-SHA-256-PLUS', 'SCRAM-SHA-1-PLUS',
                           'SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'})
    reply = s.auth_plain('alice', password_of('alice'))
    check(reply.tag == '{%s}success' % SASL, 'PLAIN: %s' % describe(reply))
    features = s.open(sender='alice@' + DOMAIN)
    check_header(s.root, stream_id)
    check(features.find('{urn:ietf:params:xml:ns:xmpp-bind}bind') is not None,
          'no <bind/> after SASL: %s' % describe(features))
    check(not mechanisms(features), 'mechanisms offered after SASL')
    check(s.bind('raw').startswith('alice@%s/' % DOMAIN), 'bind jid')


@case('raw direct TLS stream offers SASL with -PLUS, no STARTTLS',
      'SVC-2 AUTH-1 XML-1', DEFAULT)
async def test_raw_direct_tls(t):
    s = t.raw('xmpps', tls=True)
    features = s.open(sender='alice@' + DOMAIN)
    check_header(s.root)
    check(features.find('{%s}starttls' % TLS_NS) is None,
          'starttls offered on direct TLS')
    check_strongest_first(mechanisms(features),
                          {'SCRAM-SHA-256-PLUS', 'SCRAM-SHA-1-PLUS',
                           'SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'})


@case('login with the local part and with the full address', 'AUTH-1',
      DEFAULT)
async def test_login_names(t):
    for mech in ('SCRAM-SHA-256', 'PLAIN'):
        for username in ('alice', 'alice@' + DOMAIN):
            client = await t.login('alice', mech=mech, username=username)
            check(client.boundjid.bare == 'alice@' + DOMAIN,
                  '%s as %s bound %s' % (mech, username, client.boundjid))
            client.close()


@case('SCRAM without channel binding (gs2 flag y) refused when -PLUS is'
      ' offered', 'AUTH-1', DEFAULT)
async def test_scram_downgrade(t):
    try:
        await t.login('alice', mech='SCRAM-SHA-256', keep_channel_binding=True)
    except LoginFailed as e:
        check(e.condition == 'not-authorized', str(e))
        return
    raise Failure("server accepted gs2 flag 'y' although it offers "
                  "SCRAM-SHA-256-PLUS (RFC 5802 section 6 downgrade check)")


async def expect_login_failure(t, user, password, condition, **options):
    try:
        await t.login(user, password=password, **options)
    except LoginFailed as e:
        check(e.condition == condition, '%s: %s, expected <%s/>'
              % (user, e, condition))
        return
    raise Failure('%s logged in with %r' % (user, password))


@case('wrong password and unknown user both get <not-authorized/>',
      'AUTH-3', DEFAULT)
async def test_bad_credentials(t):
    for mech in ('SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'):
        await expect_login_failure(t, 'alice', 'wrong', 'not-authorized',
                                   mech=mech)
        await expect_login_failure(t, 'nobody', 'wrong', 'not-authorized',
                                   mech=mech)


@case('failed logins are written to the Security log (XMPP and XMPPS)',
      'AUTH-5 LOG-2', DEFAULT)
async def test_failed_login_log(t):
    for tls, protocol, mech in (('starttls', 'XMPP', 'SCRAM-SHA-1'),
                                ('direct', 'XMPPS', 'PLAIN')):
        line = (r'Failed %s login from 127\.0\.0\.1 with SASL method %s\.'
                % (protocol, mech))
        before = len(t.srv.log_lines('security', line))
        await expect_login_failure(t, 'alice', 'wrong', 'not-authorized',
                                   mech=mech, tls=tls)
        t.srv.wait_log('security', line, more_than=before)


@case('a disabled account gets <account-disabled/>', 'AUTH-4', DEFAULT)
async def test_disabled_account(t):
    await expect_login_failure(t, 'dora', password_of('dora'),
                               'account-disabled', mech='SCRAM-SHA-256')
    await expect_login_failure(t, 'dora', password_of('dora'),
                               'account-disabled', mech='PLAIN')


def sasl_failure(reply):
    check(reply.tag == '{%s}failure' % SASL, 'expected SASL <failure/>, got %s'
          % describe(reply))
    return [local(c.tag) for c in reply if local(c.tag) != 'text'][0]


@case('five failed SASL attempts on one stream close it', 'AUTH-3', DEFAULT)
async def test_five_failures(t):
    s = t.raw()
    s.open()
    for attempt in range(1, 6):
        reply = s.auth_plain('alice', 'wrong%d' % attempt)
        condition = sasl_failure(reply)
        check(condition == 'not-authorized', 'attempt %d: <%s/>'
              % (attempt, condition))
    try:  # a stream error may come first; the stream must end either way
        element = s.next(what='the stream to close after 5 failures')
        check(element.tag == '{%s}error' % STREAMS,
              'after 5 failures got %s' % describe(element))
    except StreamClosed:
        pass
    s.expect_close()


@case('malformed SASL data and <abort/>', 'AUTH-3', DEFAULT)
async def test_sasl_malformed_and_abort(t):
    s = t.raw()
    s.open()
    s.send("<auth xmlns='%s' mechanism='PLAIN'>!!not base64!!</auth>" % SASL)
    condition = sasl_failure(s.next(what='reply to bad base64'))
    check(condition in ('incorrect-encoding', 'malformed-request'),
          'bad base64 got <%s/>' % condition)
    client_first = base64.b64encode(b'n,,n=alice,r=fyko+d2lbbFgONRv9qkxdawL')
    s.send("<auth xmlns='%s' mechanism='SCRAM-SHA-1'>%s</auth>"
           % (SASL, client_first.decode()))
    challenge = s.next(what='SCRAM challenge')
    check(challenge.tag == '{%s}challenge' % SASL, 'SCRAM-SHA-1 first step'
          ' got %s' % describe(challenge))
    s.send("<abort xmlns='%s'/>" % SASL)
    condition = sasl_failure(s.next(what='reply to <abort/>'))
    check(condition == 'aborted', '<abort/> got <%s/>' % condition)
