"""Server configurations shared by groups of tests (one server each)."""
from harness import ServiceSpec
from suite import Fixture

# Each test uses its own accounts, so that rosters and offline messages of
# one test never show up in another. dora is disabled (AUTH-4).
USERS = ('alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi',
         'ivan', 'judy', 'kim', 'leo', 'mia', 'nick', 'olga', 'pat', 'quinn',
         'rob', 'sam', 'tina', 'uma', 'victor', 'wendy', 'dora')

# The Debug log is on here, so that the password scan (AUTH-2, LOG-2) also
# reads the stream traffic it records.
DEFAULT = Fixture('default', users=USERS, disabled=('dora',), debug=True)
AUTH_REQUIRED = Fixture('authreq', policy='AuthenticationRequired',
                        users=('alice',))
ENCRYPTION_REQUIRED = Fixture('encreq', policy='EncryptionRequired',
                              users=('alice',))
# xmpp takes two connections; xmpps only from 10.9.9.9 (no traffic ever
# goes there: it is only a configuration value).
LIMITED_SERVICES = Fixture(
    'services', users=('alice',),
    services={'xmpp': ServiceSpec(max_connections=2),
              'xmpps': ServiceSpec(ip_group='Remote'),
              's2s': ServiceSpec()},
    ip_groups=[('Remote', '10.9.9.9')])
# Administration (test_admin): the fixture's users are changed through
# imrefctl, each test on its own users (hal gets disabled by test_reload).
ADMIN = Fixture('admin', users=('amy', 'ben', 'cat', 'dan', 'eve', 'fay',
                                'gus', 'hal', 'ian'))
