"""TLS versions and the three security policies (SEC-1..SEC-5)."""
import base64
import ssl

from fixtures import AUTH_REQUIRED, DEFAULT, ENCRYPTION_REQUIRED
from harness import DOMAIN, Failure, check, password_of
from rawxmpp import SASL, TLS_NS, describe, local, mechanisms
from suite import case
from test_auth import check_strongest_first, sasl_failure

SCRAM_ONLY = {'SCRAM-SHA-256', 'SCRAM-SHA-1'}
UNDER_TLS = {'SCRAM-SHA-256-PLUS', 'SCRAM-SHA-1-PLUS', 'SCRAM-SHA-256',
             'SCRAM-SHA-1', 'PLAIN'}


def tls_handshake(t, service, version):
    """A raw stream after the TLS handshake (direct or STARTTLS) with the
    TLS version pinned; raises ssl.SSLError/ConnectionError if refused."""
    s = t.raw(service)
    if service == 'xmpp':
        s.open()
        s.starttls(version)
    else:
        s.wrap_tls(version)
    return s


@case('TLS 1.2 and 1.3 accepted, TLS 1.1 refused, no compression',
      'SEC-1', DEFAULT)
async def test_tls_versions(t):
    for service in ('xmpps', 'xmpp'):
        for version, name in ((ssl.TLSVersion.TLSv1_2, 'TLSv1.2'),
                              (ssl.TLSVersion.TLSv1_3, 'TLSv1.3')):
            s = tls_handshake(t, service, version)
            check(s.sock.version() == name, '%s: asked %s, got %s'
                  % (service, name, s.sock.version()))
            check(s.sock.compression() is None, 'TLS compression %s'
                  % s.sock.compression())
            check(mechanisms(s.open()), 'no SASL offer after TLS')
        try:
            s = tls_handshake(t, service, ssl.TLSVersion.TLSv1_1)
        except (ssl.SSLError, ConnectionError) as e:
            check('NO_PROTOCOLS_AVAILABLE' not in str(e),
                  'test client could not offer TLS 1.1: %s' % e)
            continue
        raise Failure('%s accepted %s' % (service, s.sock.version()))


@case('NoRestrictions: STARTTLS optional, PLAIN offered and usable without'
      ' TLS', 'SEC-2 SEC-3', DEFAULT)
async def test_no_restrictions(t):
    s = t.raw()
    features = s.open()
    starttls = features.find('{%s}starttls' % TLS_NS)
    check(starttls is not None and starttls.find('{%s}required' % TLS_NS)
          is None, 'starttls not offered as optional: %s' % describe(features))
    check_strongest_first(mechanisms(features), SCRAM_ONLY | {'PLAIN'})
    reply = s.auth_plain('alice', password_of('alice'))
    check(local(reply.tag) == 'success', 'PLAIN without TLS: %s'
          % describe(reply))
    s.open()
    s.bind('plain')
    client = await t.login('alice', tls='none', mech='SCRAM-SHA-1')
    await client.sync()


@case('AuthenticationRequired: only SCRAM without TLS, PLAIN refused with'
      ' <encryption-required/>, PLAIN under TLS', 'SEC-2 SEC-4',
      AUTH_REQUIRED)
async def test_authentication_required(t):
    s = t.raw()
    features = s.open()
    check(features.find('{%s}starttls' % TLS_NS) is not None,
          'starttls not offered: %s' % describe(features))
    check_strongest_first(mechanisms(features), SCRAM_ONLY)
    reply = s.auth_plain('alice', password_of('alice'))
    check(sasl_failure(reply) == 'encryption-required',
          'PLAIN without TLS: %s' % describe(reply))
    s = t.raw()
    s.open()
    s.starttls()
    check_strongest_first(mechanisms(s.open()), UNDER_TLS)
    for mech, tls in (('SCRAM-SHA-256', 'none'), ('SCRAM-SHA-1', 'none'),
                      ('PLAIN', 'starttls'), ('PLAIN', 'direct')):
        client = await t.login('alice', tls=tls, mech=mech)
        await client.sync()
        client.close()


@case('EncryptionRequired: only <starttls><required/> before TLS',
      'SEC-2 SEC-5', ENCRYPTION_REQUIRED)
async def test_encryption_required_features(t):
    s = t.raw()
    features = s.open()
    children = [c.tag for c in features]
    check(children == ['{%s}starttls' % TLS_NS],
          'features before TLS: %s' % describe(features))
    check(features[0].find('{%s}required' % TLS_NS) is not None,
          'starttls without <required/>')
    s.starttls()
    check_strongest_first(mechanisms(s.open()), UNDER_TLS)
    client = await t.login('alice', mech='PLAIN')
    await client.sync()


@case('EncryptionRequired: <auth/> before TLS gets <encryption-required/>',
      'SEC-5', ENCRYPTION_REQUIRED)
async def test_encryption_required_auth(t):
    s = t.raw()
    s.open()
    first = base64.b64encode(b'n,,n=alice,r=abcdefghijklmnop').decode()
    s.send("<auth xmlns='%s' mechanism='SCRAM-SHA-1'>%s</auth>"
           % (SASL, first))
    reply = s.next(what='reply to <auth/> before TLS')
    check(sasl_failure(reply) == 'encryption-required',
          '<auth/> before TLS: %s' % describe(reply))


@case('EncryptionRequired: a stanza before TLS gets <policy-violation/>',
      'SEC-5 XML-6', ENCRYPTION_REQUIRED)
async def test_encryption_required_stanza(t):
    s = t.raw()
    s.open()
    s.send("<message to='alice@%s' type='chat'><body>hi</body></message>"
           % DOMAIN)
    s.expect_stream_error('policy-violation')


@case('EncryptionRequired: the direct TLS port is unaffected',
      'SEC-5 SVC-2', ENCRYPTION_REQUIRED)
async def test_encryption_required_direct_tls(t):
    s = t.raw('xmpps', tls=True)
    check_strongest_first(mechanisms(s.open()), UNDER_TLS)
    client = await t.login('alice', tls='direct', mech='SCRAM-SHA-256')
    await client.sync()
