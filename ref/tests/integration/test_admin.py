"""Administration: the control socket and imrefctl (ADM-1..4, ADM-7,
SVC-5, CFG-3). Every imrefctl command against a running imrefd, the
protocol on the socket itself, the Config log, offline editing of
users.cfg, and concurrent edits with imrefctl killed mid-way."""
import asyncio
import json
import os
import random
import re
import signal
import socket
import stat
import subprocess
import threading
import time
import xml.etree.ElementTree as ET

from fixtures import ADMIN
from harness import (DOMAIN, HOST, SCALE, Failure, check,
                     set_listitem_variable)
from rawxmpp import TLS_NS, describe, mechanisms
from suite import case, jid
from xmppclient import LoginFailed

REQUEST_MAX = 65536      # bytes per request line (ADMIN_API.md)
NOT_RUNNING = 'imrefd is not running: editing users.cfg directly'


class Ctl:
    """One finished imrefctl run."""

    def __init__(self, args, status, out, err, pid):
        self.args, self.status, self.out, self.err, self.pid = (
            args, status, out, err, pid)

    def __str__(self):
        return 'imrefctl %s: exit %s, stdout %r, stderr %r' % (
            ' '.join(self.args), self.status, self.out.strip()[:300],
            self.err.strip()[:300])


def ctl_command(srv, args, as_json=False):
    return ([os.path.join(srv.build, 'imrefctl'), '--dir', srv.dir]
            + (['--json'] if as_json else []) + list(args))


async def ctl(srv, *args, as_json=False, timeout=10):
    """Runs imrefctl --dir SRV [--json] ARGS without blocking the loop (the
    test's XMPP clients keep reading meanwhile)."""
    proc = await asyncio.create_subprocess_exec(
        *ctl_command(srv, args, as_json), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(),
                                          timeout * SCALE)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise Failure('imrefctl %s did not finish within %ds'
                      % (' '.join(args), timeout * SCALE))
    return Ctl(args, proc.returncode, out.decode(errors='replace'),
               err.decode(errors='replace'), proc.pid)


async def ok(srv, *args):
    res = await ctl(srv, *args)
    check(res.status == 0, 'expected exit 0: %s' % res)
    return res


async def ok_json(srv, *args):
    res = await ctl(srv, *args, as_json=True)
    check(res.status == 0, 'expected exit 0: %s' % res)
    try:
        return json.loads(res.out)
    except ValueError as e:
        raise Failure('imrefctl --json %s printed no JSON (%s): %r'
                      % (' '.join(args), e, res.out[:300]))


async def fails(srv, *args, status=1, says=None):
    res = await ctl(srv, *args)
    check(res.status == status, 'expected exit %d: %s' % (status, res))
    if says:
        check(says.lower() in (res.out + res.err).lower(),
              'expected %r in the output: %s' % (says, res))
    return res


# -- config files -----------------------------------------------------------
def list_items(path, list_name):
    """The listitems of list `list_name`, each as {variable: text}."""
    items = []
    for lst in ET.parse(path).getroot().findall('list'):
        if lst.get('name') == list_name:
            for item in lst.findall('listitem'):
                items.append({v.get('name'): v.text or ''
                              for v in item.findall('variable')})
    return items


def user_item(srv, address):
    node, domain = address.lower().split('@')
    for item in list_items(srv.path('users.cfg'), 'User'):
        if (item.get('Name', '').lower() == node
                and item.get('Domain', '').lower() == domain):
            return item
    return None


def group_item(srv, name, domain=DOMAIN):
    for item in list_items(srv.path('users.cfg'), 'Group'):
        if item.get('Name') == name and item.get('Domain') == domain:
            return item
    return None


def table_value(path, table, name):
    for tbl in ET.parse(path).getroot().findall('table'):
        if tbl.get('name') == table:
            for var in tbl.findall('variable'):
                if var.get('name') == name:
                    return var.text or ''
    return None


def inode(path):
    return os.stat(path).st_ino


def temp_leftovers(srv):
    """Files next to the config files that are neither ours nor imrefd's
    usual ones (a temporary file left behind by a save). users.cfg.lock is
    the edit lock, kept on purpose: removing a lock file races its users."""
    usual = {'mailserver.cfg', 'users.cfg', 'users.cfg.lock', 'cert.pem',
             'key.pem', 'imrefd.sock', 'store', 'logs'}
    return sorted(n for n in os.listdir(srv.dir) if n not in usual
                  and not n.startswith(('stdout-', 'stderr-',
                                        'valgrind-')))


def split_groups(value):
    return [g.strip() for g in (value or '').split(',') if g.strip()]


# -- the control socket -----------------------------------------------------
def socket_path(srv):
    return srv.path('imrefd.sock')


def wait_socket(srv, path=None, timeout=10):
    path = path or socket_path(srv)
    deadline = time.monotonic() + timeout * SCALE
    while True:
        try:
            if stat.S_ISSOCK(os.stat(path).st_mode):
                return path
        except FileNotFoundError:
            pass
        if time.monotonic() > deadline:
            raise Failure('no control socket at %s after %ds'
                          % (path, timeout * SCALE))
        time.sleep(0.05)


class Control:
    """A raw connection to the control socket: exact bytes out, reply
    lines in."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5 * SCALE)
        self.sock.connect(path)
        self.pending = b''

    def send(self, data):
        """Sends; a server that closed early shows when we read (its
        reply stays readable)."""
        try:
            self.sock.sendall(data if isinstance(data, bytes)
                              else data.encode())
        except (BrokenPipeError, ConnectionResetError):
            pass

    def reply(self):
        """The next reply line, parsed; Failure on EOF or timeout."""
        while b'\n' not in self.pending:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise Failure('no reply line from the control socket '
                              'within %ds (got %r)' % (5 * SCALE,
                                                       self.pending[:200]))
            except ConnectionResetError:
                data = b''
            if not data:
                raise Failure('control socket closed without a reply '
                              '(got %r)' % self.pending[:200])
            self.pending += data
        line, self.pending = self.pending.split(b'\n', 1)
        try:
            reply = json.loads(line)
        except ValueError:
            raise Failure('reply is not JSON: %r' % line[:200])
        check(isinstance(reply, dict) and isinstance(reply.get('ok'), bool),
              'reply without a boolean "ok": %r' % line[:200])
        if reply['ok']:
            check('result' in reply, 'ok reply without "result": %r'
                  % line[:200])
        else:
            check(isinstance(reply.get('error'), str) and reply['error'],
                  'error reply without an "error" message: %r' % line[:200])
        return reply

    def request(self, **fields):
        self.send(json.dumps(fields) + '\n')
        return self.reply()

    def closed(self, timeout=5):
        """True if the server closes the connection within the time."""
        self.sock.settimeout(timeout * SCALE)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()


def control(t, srv=None):
    conn = Control(wait_socket(srv or t.srv))
    t.raws.append(conn)          # closed after the test
    return conn


# -- XMPP helpers -----------------------------------------------------------
async def login_fails(t, user, condition, **options):
    try:
        client = await t.login(user, **options)
    except LoginFailed as e:
        check(e.condition == condition, 'login of %s: <%s/>, expected <%s/>'
              % (user, e.condition, condition))
        return
    client.close()
    raise Failure('login of %s succeeded, expected <%s/>' % (user, condition))


def tls_of(client):
    """(local 'ip:port', TLS version, cipher) of a slixmpp client's stream."""
    ssl_object = client.transport.get_extra_info('ssl_object')
    host, port = client.transport.get_extra_info('sockname')[:2]
    return '%s:%d' % (host, port), ssl_object.version(), ssl_object.cipher()[0]


def refused(port):
    try:
        socket.create_connection((HOST, port), timeout=2 * SCALE).close()
    except ConnectionRefusedError:
        return True
    return False


# ===========================================================================
@case('connections: one row per connection, XMPP/XMPPS, Secure, From, User,'
      ' Description, TLS, cipher, SASL; table and --json', 'ADM-1', ADMIN)
async def test_connections(t):
    amy = await t.login('amy', resource='desk', mech='SCRAM-SHA-256')
    ben = await t.login('ben', resource='phone', tls='direct',
                        mech='SCRAM-SHA-1')
    raw = t.raw()            # plain TCP, stream open, not authenticated
    raw.open()
    raw_from = '%s:%d' % raw.sock.getsockname()[:2]
    expected = {}
    for client, user, protocol, mech in ((amy, 'amy', 'XMPP', 'SCRAM-SHA-256'),
                                         (ben, 'ben', 'XMPPS', 'SCRAM-SHA-1')):
        address, version, cipher = tls_of(client)
        expected[address] = {
            'protocol': protocol, 'secure': True, 'from': address,
            'user': jid(user), 'description': client.boundjid.resource,
            'tls_version': version, 'cipher': cipher, 'sasl': mech}
    expected[raw_from] = {'protocol': 'XMPP', 'secure': False,
                          'from': raw_from, 'user': '', 'description': '',
                          'tls_version': '', 'cipher': '', 'sasl': ''}
    rows = await ok_json(t.srv, 'connections')
    check(isinstance(rows, list), 'connections --json: %r' % rows)
    by_from = {row.get('from'): row for row in rows if isinstance(row, dict)}
    for address, want in expected.items():
        row = by_from.get(address)
        check(row is not None, 'no row from %s in %s' % (address, rows))
        got = {key: row.get(key) for key in want}
        check(got == want, 'row from %s: %s, expected %s'
              % (address, got, want))
        check(isinstance(row.get('time'), (int, float))
              and not isinstance(row.get('time'), bool)
              and 0 <= row['time'] < 600,
              'row from %s: time %r' % (address, row.get('time')))
    table = (await ok(t.srv, 'connections')).out
    lines = table.splitlines()
    check(lines, 'connections printed nothing')
    for column in ('Protocol', 'Secure', 'Time', 'From', 'User',
                   'Description', 'TLS', 'Cipher', 'SASL'):
        check(column in lines[0], 'no column %s in the header %r'
              % (column, lines[0]))
    for address, want in expected.items():
        row = [line for line in lines if address in line.split()]
        check(len(row) == 1, 'table rows from %s: %r' % (address, row))
        words = row[0].split()
        for key in ('protocol', 'user', 'description', 'tls_version',
                    'cipher', 'sasl'):
            if want[key]:
                check(want[key] in words, 'table row %r lacks %s %r'
                      % (row[0], key, want[key]))
        check(('yes' if want['secure'] else 'no') in words,
              'table row %r: Secure is not %s' % (row[0], want['secure']))


@case('services: status; service stop xmpp ends its clients with'
      ' <system-shutdown/>, xmpps keeps working, xmpp refuses; start and'
      ' restart', 'ADM-2 SVC-5', timeout=40)
async def test_service_stop_start(t):
    srv = t.server('adminsvc', users=('alice', 'bob', 'carol'))
    srv.start()
    alice = await t.login('alice', resource='plain', server=srv)  # xmpp
    bob = await t.login('bob', tls='direct', server=srv)  # xmpps
    await alice.go_online()
    await bob.go_online()
    pre_auth = t.raw(server=srv)
    pre_auth.open()
    services = {s.get('id'): s for s in await ok_json(srv, 'services')}
    for sid, name in (('xmpp', 'Instant Messaging'),
                      ('xmpps', 'Secured Instant Messaging')):
        s = services.get(sid)
        check(s is not None, 'no service %s in %s' % (sid, services))
        want = {'id': sid, 'name': name, 'running': True,
                'startup': 'Automatic',
                'listeners': ['%s:%d' % (HOST, srv.ports[sid])]}
        got = {key: s.get(key) for key in want}
        check(got == want, 'service %s: %s, expected %s' % (sid, got, want))
    check(services['xmpp'].get('connections') == 2
          and services['xmpps'].get('connections') == 1,
          'connection counts xmpp %r (2 expected), xmpps %r (1 expected)'
          % (services['xmpp'].get('connections'),
             services['xmpps'].get('connections')))
    text = (await ok(srv, 'services')).out
    check('xmpp' in text and 'xmpps' in text, 'services table: %r' % text)

    result = await ok_json(srv, 'service', 'stop', 'xmpp')
    check(result.get('id') == 'xmpp' and result.get('running') is False,
          'service stop xmpp replied %r' % result)
    condition = await alice.wait_stream_error()
    check(condition == 'system-shutdown', 'xmpp client got <%s/>, expected'
          ' <system-shutdown/>' % condition)
    await alice.wait_disconnected()
    pre_auth.expect_stream_error('system-shutdown')
    check(refused(srv.ports['xmpp']), 'xmpp port still accepts after stop')
    await bob.sync()                                       # xmpps unaffected
    carol = await t.login('carol', tls='direct', server=srv)
    await carol.sync()
    services = {s.get('id'): s for s in await ok_json(srv, 'services')}
    check(services['xmpp'].get('running') is False
          and services['xmpp'].get('connections') == 0,
          'xmpp after stop: %s' % services['xmpp'])
    check(services['xmpps'].get('running') is True,
          'xmpps after stopping xmpp: %s' % services['xmpps'])
    await fails(srv, 'service', 'stop', 'nosuch')

    result = await ok_json(srv, 'service', 'start', 'xmpp')
    check(result.get('id') == 'xmpp' and result.get('running') is True,
          'service start xmpp replied %r' % result)
    alice = await t.login('alice', resource='again', server=srv)
    await alice.sync()

    result = await ok_json(srv, 'service', 'restart', 'xmpps')
    check(result.get('id') == 'xmpps' and result.get('running') is True,
          'service restart xmpps replied %r' % result)
    for client in (bob, carol):
        condition = await client.wait_stream_error()
        check(condition == 'system-shutdown', 'xmpps client got <%s/> on'
              ' restart, expected <system-shutdown/>' % condition)
    bob = await t.login('bob', tls='direct', resource='after',
                        server=srv)
    await bob.sync()
    await alice.sync()              # xmpp untouched by the xmpps restart


@case('settings get/set SendOutside and SecurityPolicy: mailserver.cfg'
      ' replaced atomically with unknown content kept, new connections see'
      ' the policy, values survive a restart', 'ADM-3 CFG-3 SEC-5',
      timeout=40)
async def test_settings(t):
    srv = t.server('adminset', users=('alice',))
    cfg = srv.path('mailserver.cfg')
    tree = ET.parse(cfg)
    root = tree.getroot()
    for tbl in root.findall('table'):
        if tbl.get('name') == 'InstantMessaging':
            ET.SubElement(tbl, 'variable', name='FutureOption').text = '42'
    custom = ET.SubElement(root, 'table', name='CustomTable')
    ET.SubElement(custom, 'variable', name='Keep').text = 'me & you'
    tree.write(cfg, encoding='utf-8', xml_declaration=True)
    srv.start()

    settings = await ok_json(srv, 'settings', 'get')
    archive_defaults = {'XmppArchive': 0, 'ArchivePath': srv.path('archive'),
                        'ArchiveFailurePolicy': 'refuse'}
    check(settings == {'SendOutside': 0, 'SecurityPolicy': 'NoRestrictions',
                       **archive_defaults},
          'settings get: %r' % settings)
    before = inode(cfg)
    settings = await ok_json(srv, 'settings', 'set', 'SecurityPolicy',
                             'EncryptionRequired')
    check(settings.get('SecurityPolicy') == 'EncryptionRequired',
          'settings set replied %r' % settings)
    check(table_value(cfg, 'Security', 'SecurityPolicy')
          == 'EncryptionRequired', 'mailserver.cfg SecurityPolicy %r'
          % table_value(cfg, 'Security', 'SecurityPolicy'))
    check(inode(cfg) != before, 'mailserver.cfg rewritten in place, not'
          ' replaced by rename (ADM-3)')
    settings = await ok_json(srv, 'settings', 'set', 'SendOutside', '1')
    check(settings == {'SendOutside': 1,
                       'SecurityPolicy': 'EncryptionRequired',
                       **archive_defaults},
          'settings after two sets: %r' % settings)
    check(table_value(cfg, 'InstantMessaging', 'SendOutside') == '1',
          'mailserver.cfg SendOutside %r'
          % table_value(cfg, 'InstantMessaging', 'SendOutside'))
    check(table_value(cfg, 'InstantMessaging', 'FutureOption') == '42'
          and table_value(cfg, 'CustomTable', 'Keep') == 'me & you',
          'unknown variable/table lost: FutureOption %r, Keep %r (CFG-3)'
          % (table_value(cfg, 'InstantMessaging', 'FutureOption'),
             table_value(cfg, 'CustomTable', 'Keep')))
    check(not temp_leftovers(srv), 'files left next to mailserver.cfg: %s'
          % temp_leftovers(srv))
    with open(cfg, 'rb') as f:
        saved = f.read()
    await fails(srv, 'settings', 'set', 'SecurityPolicy', 'Bogus')
    await fails(srv, 'settings', 'set', 'SendOutside', '2')
    await fails(srv, 'settings', 'set', 'NoSuchSetting', '1')
    with open(cfg, 'rb') as f:
        check(f.read() == saved, 'a refused settings set changed'
              ' mailserver.cfg')

    def check_encryption_required():
        features = t.raw(server=srv).open()
        starttls = features.find('{%s}starttls' % TLS_NS)
        check(starttls is not None
              and starttls.find('{%s}required' % TLS_NS) is not None
              and not mechanisms(features),
              'features under EncryptionRequired: %s' % describe(features))
    check_encryption_required()                   # a new connection
    srv.stop()
    srv.start()
    settings = await ok_json(srv, 'settings', 'get')
    check(settings == {'SendOutside': 1,
                       'SecurityPolicy': 'EncryptionRequired',
                       **archive_defaults},
          'settings after a restart: %r' % settings)
    check_encryption_required()
    await ok(srv, 'settings', 'set', 'SecurityPolicy', 'NoRestrictions')
    features = t.raw(server=srv).open()
    check('PLAIN' in mechanisms(features), 'NoRestrictions again, but no'
          ' PLAIN before TLS: %s' % describe(features))
    client = await t.login('alice', server=srv)
    await client.sync()


@case('user add/passwd/enable/disable/set/list/remove: users.cfg replaced'
      ' atomically, the next login sees each change', 'ADM-4 AUTH-4 AUTH-2',
      ADMIN, timeout=40)
async def test_user_commands(t):
    srv = t.srv
    users_cfg = srv.path('users.cfg')
    zoe = jid('zoe')
    before = inode(users_cfg)
    result = await ok_json(srv, 'user', 'add', zoe, '--password', 'First-Pw1',
                           '--name', 'Zoe Admin', '--email', 'zoe@mail.test')
    check(result.get('jid') == zoe, 'user add replied %r' % result)
    check(inode(users_cfg) != before, 'users.cfg rewritten in place, not'
          ' replaced by rename (ADM-4)')
    item = user_item(srv, zoe)
    check(item is not None, 'zoe not in users.cfg')
    check(item.get('FullName') == 'Zoe Admin'
          and item.get('Email') == 'zoe@mail.test'
          and item.get('Password', '').startswith('SCRAM$')
          and 'First-Pw1' not in item.get('Password', ''),
          'zoe in users.cfg: %s' % item)
    client = await t.login('zoe', password='First-Pw1')
    await client.sync()
    client.close()
    await fails(srv, 'user', 'add', zoe, '--password', 'x', says='exists')
    await fails(srv, 'user', 'add', 'bad@@jid', '--password', 'x')

    listed = {u.get('jid'): u for u in await ok_json(srv, 'user', 'list')}
    row = listed.get(zoe)
    check(row is not None, 'zoe not in user list: %s' % sorted(listed))
    check(row.get('name') == 'Zoe Admin' and row.get('email')
          == 'zoe@mail.test' and row.get('enabled') in (True, 1)
          and row.get('publish_in_gal') in (True, 1)
          and row.get('groups') == [],
          'user list row %s' % row)
    check(jid('amy') in listed, 'fixture user amy not listed')
    only = await ok_json(srv, 'user', 'list', 'example.net')
    check(all(u.get('jid', '').endswith('@example.net') for u in only),
          'user list example.net: %s' % only)
    check('zoe' in (await ok(srv, 'user', 'list')).out,
          'zoe not in the user list table')

    await ok(srv, 'user', 'disable', zoe)
    check(user_item(srv, zoe).get('Enabled') == '0', 'Enabled not 0: %s'
          % user_item(srv, zoe))
    await login_fails(t, 'zoe', 'account-disabled', password='First-Pw1')
    await ok(srv, 'user', 'enable', zoe)
    check(user_item(srv, zoe).get('Enabled') == '1', 'Enabled not 1: %s'
          % user_item(srv, zoe))
    client = await t.login('zoe', password='First-Pw1')
    client.close()

    stored = user_item(srv, zoe)['Password']
    await ok(srv, 'user', 'passwd', zoe, '--password', 'Second-Pw2')
    check(user_item(srv, zoe)['Password'] != stored
          and user_item(srv, zoe)['Password'].startswith('SCRAM$'),
          'Password after passwd: %s' % user_item(srv, zoe)['Password'])
    await login_fails(t, 'zoe', 'not-authorized', password='First-Pw1')
    client = await t.login('zoe', password='Second-Pw2', mech='PLAIN')
    client.close()

    for field, value in (('FullName', 'Zoe Renamed'),
                         ('Email', 'z@mail.test'), ('PublishInGAL', '0'),
                         ('DomainRestriction', '1'),
                         ('AccessPolicy', 'Office'),
                         ('Groups', 'sales,support')):
        await ok(srv, 'user', 'set', zoe, field, value)
        check(user_item(srv, zoe).get(field) == value,
              'user set %s %s: users.cfg has %r' % (field, value,
                                                    user_item(srv, zoe)
                                                    .get(field)))
    row = {u.get('jid'): u for u in
           await ok_json(srv, 'user', 'list')}[zoe]
    check(row.get('name') == 'Zoe Renamed'
          and row.get('publish_in_gal') in (False, 0)
          and row.get('domain_restriction') in (True, 1)
          and row.get('access_policy') == 'Office'
          and row.get('groups') == ['sales', 'support'],
          'user list after user set: %s' % row)
    await fails(srv, 'user', 'set', zoe, 'PublishInGAL', '2')
    await fails(srv, 'user', 'set', zoe, 'Password', 'sneaky')
    await fails(srv, 'user', 'set', zoe, 'NoSuchField', 'x')
    await fails(srv, 'user', 'disable', jid('nobody'), says='no such user')
    await fails(srv, 'user', 'passwd', jid('nobody'), '--password', 'x')

    session = await t.login('zoe', password='Second-Pw2')
    result = await ok_json(srv, 'user', 'remove', zoe)
    check(result.get('jid') == zoe, 'user remove replied %r' % result)
    await session.wait_stream_error()        # a removed user's session ends
    await session.wait_disconnected()
    check(user_item(srv, zoe) is None, 'zoe still in users.cfg')
    await login_fails(t, 'zoe', 'not-authorized', password='Second-Pw2')
    await fails(srv, 'user', 'remove', zoe, says='no such user')
    check(user_item(srv, jid('amy')) is not None, 'amy lost from users.cfg')


@case('user kick ends every session of the user with a stream error; other'
      ' users stay', 'ADM-4 ACC-4', ADMIN)
async def test_user_kick(t):
    first = await t.login('cat', resource='one')
    second = await t.login('cat', resource='two', tls='direct')
    other = await t.login('dan')
    result = await ok_json(t.srv, 'user', 'kick', jid('cat'))
    check(result.get('jid') == jid('cat') and result.get('sessions') == 2,
          'user kick replied %r (2 sessions expected)' % result)
    for client in (first, second):
        condition = await client.wait_stream_error()
        check(condition == 'policy-violation', 'kicked session got <%s/>,'
              ' expected <policy-violation/> (imrefd\'s choice)' % condition)
        await client.wait_disconnected()
    await other.sync()
    again = await t.login('cat', resource='three')   # kick is not disable
    await again.sync()
    result = await ok_json(t.srv, 'user', 'kick', jid('eve'))
    check(result.get('sessions') == 0, 'kick of a user without sessions'
          ' replied %r' % result)
    await fails(t.srv, 'user', 'kick', 'not a jid@@')


@case('group add/set/members/list/remove, persisted to users.cfg with the'
      ' members\' Groups', 'ADM-4', ADMIN)
async def test_group_commands(t):
    srv = t.srv
    group = 'sales@%s' % DOMAIN
    result = await ok_json(srv, 'group', 'add', group)
    check(result.get('name') == 'sales', 'group add replied %r' % result)
    check(group_item(srv, 'sales') is not None, 'group sales not in'
          ' users.cfg')
    await fails(srv, 'group', 'add', group, says='exists')
    await ok(srv, 'group', 'set', group, 'DomainRestriction', '1')
    check(group_item(srv, 'sales').get('DomainRestriction') == '1',
          'group DomainRestriction: %s' % group_item(srv, 'sales'))
    await fails(srv, 'group', 'set', group, 'DomainRestriction', 'yes')
    for member in ('fay', 'gus'):
        result = await ok_json(srv, 'group', 'members', group,
                               '--add', jid(member))
        check(jid(member) in result.get('members', []),
              'group members --add replied %r' % result)
        check('sales' in split_groups(user_item(srv, jid(member))
                                      .get('Groups')),
              '%s Groups: %r' % (member, user_item(srv, jid(member))
                                 .get('Groups')))
    result = await ok_json(srv, 'group', 'members', group,
                           '--remove', jid('fay'))
    check(result.get('members') == [jid('gus')], 'members after --remove:'
          ' %r' % result)
    check('sales' not in split_groups(user_item(srv, jid('fay'))
                                      .get('Groups')),
          'fay still in sales: %r' % user_item(srv, jid('fay')).get('Groups'))
    groups = {(g.get('name'), g.get('domain')): g
              for g in await ok_json(srv, 'group', 'list')}
    row = groups.get(('sales', DOMAIN))
    check(row is not None and row.get('members') == [jid('gus')]
          and row.get('domain_restriction') in (True, 1),
          'group list: %s' % groups)
    check('sales' in (await ok(srv, 'group', 'list')).out,
          'sales not in the group list table')
    await ok(srv, 'group', 'remove', group)
    check(group_item(srv, 'sales') is None, 'group sales still in users.cfg')
    check('sales' not in split_groups(user_item(srv, jid('gus'))
                                      .get('Groups')),
          'removed group left in gus Groups: %r'
          % user_item(srv, jid('gus')).get('Groups'))
    await fails(srv, 'group', 'remove', group)
    await fails(srv, 'group', 'members', 'nosuch@%s' % DOMAIN, '--add',
                jid('gus'))


@case('reload picks up users.cfg edited by hand: a new account, a disabled'
      ' one', 'ADM-7 AUTH-4', ADMIN)
async def test_reload(t):
    srv = t.srv
    stored = (await ok(srv, 'hash-password', 'Hand-Made-Pw')).out.strip()
    check(stored.startswith('SCRAM$'), 'hash-password printed %r' % stored)
    path = srv.path('users.cfg')
    tree = ET.parse(path)
    users = [lst for lst in tree.getroot().findall('list')
             if lst.get('name') == 'User'][0]
    item = ET.SubElement(users, 'listitem')
    for name, value in (('Name', 'handmade'), ('Domain', DOMAIN),
                        ('FullName', 'Hand Made'), ('Password', stored),
                        ('Enabled', '1')):
        ET.SubElement(item, 'variable', name=name).text = value
    tree.write(path, encoding='utf-8', xml_declaration=True)
    set_listitem_variable(path, 'User', {'Name': 'hal'}, 'Enabled', 0)
    await login_fails(t, 'handmade', 'not-authorized',
                      password='Hand-Made-Pw')
    client = await t.login('hal')               # not reloaded yet
    client.close()
    result = await ok_json(srv, 'reload')
    check(result.get('users') == len(list_items(path, 'User')),
          'reload replied %r; users.cfg has %d users'
          % (result, len(list_items(path, 'User'))))
    client = await t.login('handmade', password='Hand-Made-Pw')
    await client.sync()
    await login_fails(t, 'hal', 'account-disabled')


@case('Config log: one line per admin action with uid, pid and what;'
      ' passwords never logged', 'ADM-4 ADM-3 LOG-2', ADMIN)
async def test_config_log(t):
    srv = t.srv
    secret = 'Never-Logged-Pw-9'
    actions = (('user', 'add', jid('logged'), '--password', secret),
               ('user', 'passwd', jid('logged'), '--password', secret + 'x'),
               ('user', 'disable', jid('logged')),
               ('connections',), ('settings', 'get'),
               ('user', 'remove', jid('logged')))
    runs = []
    for args in actions:
        runs.append(await ok(srv, *args))
    uid = os.getuid()
    for res in runs:
        line = srv.wait_log('config', r'\bpid %d\b' % res.pid)
        lines = srv.log_lines('config', r'\bpid %d\b' % res.pid)
        check(len(lines) == 1, '%d Config log lines for %s: %s'
              % (len(lines), ' '.join(res.args), lines))
        check(re.search(r'\buid %d\b' % uid, line), 'no "uid %d" in %r'
              % (uid, line))
        what = res.args[0] if len(res.args) == 1 else res.args[1]
        check(what in line, 'Config log line does not name %r: %r'
              % (what, line))
        if len(res.args) > 2:
            check(jid('logged') in line, 'Config log line does not name'
                  ' the user: %r' % line)
    for folder, _, files in os.walk(srv.dir):
        for name in files:
            path = os.path.join(folder, name)
            if not stat.S_ISREG(os.lstat(path).st_mode):
                continue          # the control socket
            with open(path, 'rb') as f:
                data = f.read()
            check(secret.encode() not in data, 'password found in %s'
                  % path)


@case('control socket: mode 0600; malformed and unknown requests get error'
      ' replies, several requests on one connection, server keeps running',
      'ADM-1 ADM-4', ADMIN)
async def test_socket_protocol(t):
    path = wait_socket(t.srv)
    mode = os.stat(path).st_mode
    check(stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600,
          'control socket mode %o' % stat.S_IMODE(mode))
    conn = control(t)
    for bad in (b'this is not json\n', b'{"action":"settings.get"\n',
                b'[1,2,3]\n', b'"settings.get"\n', b'{}\n',
                b'{"action":"no.such.action"}\n',
                b'{"action":"user.add"}\n',
                b'{"action":"user.add","jid":"x@example.com","password":7}\n',
                b'{"action":"settings.get","x":"\xff\xfe"}\n',
                b'\n'):
        conn.send(bad)
        reply = conn.reply()
        check(reply['ok'] is False, 'request %r accepted: %r' % (bad, reply))
        check(t.srv.exit_status() is None, 'imrefd died on %r' % bad)
    check(user_item(t.srv, 'x@example.com') is None,
          'user.add with a numeric password created x@example.com')
    # several requests in one write, replies in order
    conn = control(t)
    conn.send('{"action":"settings.get"}\n{"action":"nope"}\n'
              '{"action":"services"}\n')
    first, second, third = conn.reply(), conn.reply(), conn.reply()
    check(first['ok'] and 'SecurityPolicy' in first['result'],
          'first reply %r' % first)
    check(not second['ok'], 'second reply %r' % second)
    check(third['ok'] and isinstance(third['result'], list),
          'third reply %r' % third)
    client = await t.login('ian')
    await client.sync()


@case('control socket: a request line over 64 KiB is refused with "request'
      ' too long" and the connection closed; one of exactly 64 KiB is'
      ' served',
      'ADM-1', ADMIN)
async def test_socket_request_too_long(t):
    conn = control(t)
    request = '{"action":"settings.get","pad":"%s"}\n'
    exact = request % ('p' * (REQUEST_MAX - len(request % '')))
    check(len(exact) == REQUEST_MAX, 'test bug: %d bytes' % len(exact))
    conn.send(exact)                 # 65536 bytes with its newline
    reply = conn.reply()
    check(reply['ok'], 'request of %d bytes refused: %r' % (len(exact), reply))
    conn.send(request % ('p' * (REQUEST_MAX + 1 - len(request % '') + 1)))
    reply = conn.reply()             # 65537 bytes before the newline
    check(reply['ok'] is False and 'too long' in reply['error'],
          'request of %d bytes before its newline: %r'
          % (REQUEST_MAX + 1, reply))
    check(conn.closed(), 'connection not closed after an over-long request')
    conn = control(t)
    conn.send('{"action":"settings.get","pad":"' + 'x' * (REQUEST_MAX + 10))
    reply = conn.reply()
    check(reply['ok'] is False and 'too long' in reply['error'],
          'over-long request: %r' % reply)
    check(conn.closed(), 'connection not closed after an over-long request')
    conn = control(t)
    conn.send('{"action":"settings.get","pad":"%s"}\n'
              % ('y' * (4 * REQUEST_MAX)))
    reply = conn.reply()
    check(reply['ok'] is False and 'too long' in reply['error'],
          'over-long request with its newline: %r' % reply)
    check(conn.closed(), 'connection not closed after an over-long request')
    conn = control(t)
    check(conn.request(action='settings.get')['ok'], 'server stopped'
          ' answering after over-long requests')


@case('imrefctl usage: --help, unknown command and missing arguments exit'
      ' 2; commands that need the server fail with exit 1 when it is'
      ' stopped', 'ADM-1 ADM-2')
async def test_usage(t):
    srv = t.server('adminusage', users=('alice',))
    res = await ctl(srv, '--help')
    check(res.status == 0 and 'connections' in res.out + res.err,
          '--help: %s' % res)
    for command in ('connections', 'user', 'service', 'group'):
        res = await ctl(srv, command, '--help')
        check(res.status == 0 and command in res.out + res.err,
              '%s --help: %s' % (command, res))
    for args in (('no-such-command',), ('user',), ('user', 'add'),
                 ('service', 'stop'), ('settings', 'set', 'SendOutside')):
        await fails(srv, *args, status=2)
    for args in (('connections',), ('services',), ('settings', 'get'),
                 ('service', 'stop', 'xmpp'), ('reload',),
                 ('user', 'kick', jid('alice'))):
        await fails(srv, *args, status=1, says='imrefd is not running (no'
                    ' control socket at %s)' % socket_path(srv))


@case('offline: with imrefd stopped, user add/disable/list edit users.cfg'
      ' and the next start sees them; a stale socket after kill -9 too',
      'ADM-4 CFG-2', timeout=40)
async def test_offline_editing(t):
    srv = t.server('adminoff', users=('alice', 'bob'))
    res = await ok(srv, 'user', 'add', jid('carol'), '--password',
                   'Carol-Pw-1', '--name', 'Carol Offline')
    check(NOT_RUNNING in res.err, 'no "%s" on stderr: %s' % (NOT_RUNNING,
                                                             res))
    await ok(srv, 'user', 'disable', jid('bob'))
    await ok(srv, 'group', 'add', 'team@%s' % DOMAIN)
    await ok(srv, 'group', 'members', 'team@%s' % DOMAIN, '--add',
             jid('alice'))
    listed = {u.get('jid'): u for u in await ok_json(srv, 'user', 'list')}
    check(set(listed) == {jid('alice'), jid('bob'), jid('carol')}
          and listed[jid('bob')].get('enabled') in (False, 0),
          'offline user list: %s' % listed)
    await fails(srv, 'user', 'add', jid('carol'), '--password', 'x',
                says='exists')
    srv.start()
    client = await t.login('carol', password='Carol-Pw-1', server=srv)
    await client.sync()
    await login_fails(t, 'bob', 'account-disabled', server=srv)
    check((await ok_json(srv, 'group', 'list'))[0].get('members')
          == [jid('alice')], 'group made offline not seen by the server')
    # kill -9 leaves the socket file behind: imrefctl edits offline, and
    # the next start replaces the stale socket
    srv.kill9()
    check(os.path.exists(socket_path(srv)), 'socket gone after kill -9?')
    res = await ok(srv, 'user', 'enable', jid('bob'))
    check(NOT_RUNNING in res.err, 'stale socket: %s' % res)
    srv.start()
    wait_socket(srv)
    await ok(srv, 'settings', 'get')
    client = await t.login('bob', server=srv)
    await client.sync()
    srv.stop()
    check(not os.path.exists(socket_path(srv)), 'control socket left after'
          ' a clean stop')


@case('offline edits are written to the Config log too, with who and'
      ' what', 'ADM-4 LOG-2')
async def test_offline_config_log(t):
    srv = t.server('adminofflog', users=('alice',))
    res = await ok(srv, 'user', 'add', jid('olga'), '--password',
                   'Olga-Offline-Pw')
    check(NOT_RUNNING in res.err, 'not offline: %s' % res)
    line = srv.wait_log('config', r'\bpid %d\b' % res.pid)
    check(re.search(r'\buid %d\b' % os.getuid(), line) and 'add' in line
          and jid('olga') in line, 'Config log line %r' % line)
    check('Olga-Offline-Pw' not in srv.log_text('config'),
          'password in the Config log')


PEER_PROBE = """
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
try:
    s.sendall(b'{"action":"settings.get"}\\n{"action":"services"}\\n')
except (BrokenPipeError, ConnectionResetError):
    pass                 # refused before our request: read the reply
data = b''
while True:
    try:
        chunk = s.recv(65536)
    except ConnectionResetError:
        sys.stdout.write(data.decode() + 'RESET')
        break
    if not chunk:
        sys.stdout.write(data.decode())
        break
    data += chunk
"""


@case('ControlSocket from mailserver.cfg: imrefctl finds it through --dir'
      ' or --socket; a peer of another uid gets one error reply, then the'
      ' connection closes', 'ADM-1 ADM-3', timeout=20)
async def test_control_socket_path_and_peer(t):
    srv = t.server('adminpeer', users=('alice',))
    sock_dir = os.path.join(srv.dir, 'ctl')
    os.mkdir(sock_dir)
    path = os.path.join(sock_dir, 'admin.sock')
    tree = ET.parse(srv.path('mailserver.cfg'))
    admin = ET.SubElement(tree.getroot(), 'table', name='Admin')
    ET.SubElement(admin, 'variable', name='ControlSocket').text = 'ctl/admin.sock'
    tree.write(srv.path('mailserver.cfg'), encoding='utf-8',
               xml_declaration=True)
    srv.start()
    wait_socket(srv, path)
    check(not os.path.exists(socket_path(srv)), 'a socket at the default'
          ' path too')
    check(stat.S_IMODE(os.stat(path).st_mode) == 0o600, 'socket mode %o'
          % stat.S_IMODE(os.stat(path).st_mode))
    settings = await ok_json(srv, 'settings', 'get')
    check(settings.get('SecurityPolicy') == 'NoRestrictions',
          'settings through the configured socket: %r' % settings)
    res = await asyncio.create_subprocess_exec(
        os.path.join(srv.build, 'imrefctl'), '--socket', path, '--json',
        'services', stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await res.communicate()
    check(res.returncode == 0 and json.loads(out), 'imrefctl --socket: exit'
          ' %d %r %r' % (res.returncode, out[:200], err[:200]))
    if os.getuid() != 0:
        return                  # only root can play another uid
    os.chmod(srv.dir, 0o755)    # let uid 65534 reach the socket, so that
    os.chmod(sock_dir, 0o755)   # the server's own check (SO_PEERCRED) is
    os.chmod(path, 0o666)       # what refuses it
    probe = subprocess.run(
        ['/usr/bin/python3', '-c', PEER_PROBE, path], capture_output=True,
        text=True, timeout=10 * SCALE,
        preexec_fn=lambda: (os.setgid(65534), os.setuid(65534)))
    check(probe.returncode == 0, 'probe as uid 65534 failed: %s'
          % probe.stderr.strip()[-300:])
    # a reset after the reply is a close too (the server leaves the
    # refused peer's request unread)
    lines = probe.stdout.rsplit('RESET', 1)[0].splitlines()
    check(len(lines) == 1, 'uid 65534 got %d reply lines (one error'
          ' expected): %r' % (len(lines), probe.stdout[:300]))
    reply = json.loads(lines[0])
    check(reply.get('ok') is False and reply.get('error'),
          'uid 65534 got %r' % reply)
    await ok(srv, 'settings', 'get')


CONCURRENT_USERS = tuple('u%02d' % i for i in range(24))


def parallel_user_sets(srv, count, kill_every, seed):
    """Starts one `imrefctl user set uI FullName "New uI"` per user, all at
    once, and SIGKILLs every kill_every-th of them 0.5 to 5 ms after its
    own start (while it loads, edits or writes); returns {user: exit
    status} (negative: killed)."""
    rng = random.Random(seed)
    procs, deadlines = {}, []
    for i in range(count):
        user = 'u%02d' % i
        procs[user] = subprocess.Popen(
            ctl_command(srv, ('user', 'set', jid(user), 'FullName',
                              'New %s' % user)),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        if i % kill_every == 0:
            deadlines.append((time.monotonic() + rng.uniform(0.0005, 0.005),
                              user))
    for at, user in sorted(deadlines):
        delay = at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        procs[user].send_signal(signal.SIGKILL)
    return {user: proc.wait(timeout=30 * SCALE)
            for user, proc in procs.items()}


class FileWatcher:
    """Parses a file over and over in a thread while edits run; remembers
    the first content that is not well-formed XML (a reader must only ever
    see the old or the new file)."""

    def __init__(self, path):
        self.path = path
        self.bad = None
        self.reads = 0
        self.running = True
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self):
        while self.running and self.bad is None:
            try:
                with open(self.path, 'rb') as f:
                    data = f.read()
            except FileNotFoundError:
                data = b''
            self.reads += 1
            try:
                ET.fromstring(data)
            except ET.ParseError as e:
                self.bad = '%s (%d bytes: %r)' % (e, len(data), data[:80])

    def stop(self):
        self.running = False
        self.thread.join()


def reset_full_names(srv, users):
    for user in users:
        set_listitem_variable(srv.path('users.cfg'), 'User', {'Name': user},
                              'FullName', 'Old %s' % user)


def check_users_file(srv, statuses, passwords, must_apply):
    """users.cfg after a round: parses, has every user with its password,
    each FullName old or new (new if must_apply and imrefctl exited 0)."""
    try:
        items = list_items(srv.path('users.cfg'), 'User')
    except ET.ParseError as e:
        raise Failure('users.cfg does not parse: %s' % e)
    names = sorted(i.get('Name') for i in items)
    check(names == sorted(CONCURRENT_USERS), 'users: %s' % names)
    for item in items:
        user = item['Name']
        check(item.get('Password') == passwords[user],
              '%s: Password changed by a FullName edit' % user)
        check(item.get('FullName') in ('Old %s' % user, 'New %s' % user),
              '%s: FullName %r is neither old nor new'
              % (user, item.get('FullName')))
        if must_apply and statuses[user] == 0:
            check(item.get('FullName') == 'New %s' % user,
                  '%s: imrefctl exited 0 but FullName is %r'
                  % (user, item.get('FullName')))


def concurrent_fixture(t, name):
    """A server (not started) with the users u00..u23 named 'Old uNN';
    returns it and their stored passwords."""
    srv = t.server(name, users=CONCURRENT_USERS)
    reset_full_names(srv, CONCURRENT_USERS)
    passwords = {i['Name']: i['Password']
                 for i in list_items(srv.path('users.cfg'), 'User')}
    return srv, passwords


async def concurrent_round(srv, label, seed, passwords, must_apply):
    watcher = FileWatcher(srv.path('users.cfg'))
    try:
        statuses = await asyncio.get_running_loop().run_in_executor(
            None, parallel_user_sets, srv, len(CONCURRENT_USERS), 3, seed)
    finally:
        watcher.stop()
    check(watcher.bad is None, '%s: a reader saw a users.cfg that is neither'
          ' the old nor the new file: %s' % (label, watcher.bad))
    try:
        check_users_file(srv, statuses, passwords, must_apply)
    except Failure as e:
        raise Failure('%s: %s' % (label, e))


@case('offline concurrent user set, imrefctl killed by SIGKILL: users.cfg'
      ' is at any time the old or the new file, each change fully there or'
      ' absent', 'ADM-4 CFG-2', timeout=60)
async def test_concurrent_edits_offline(t):
    srv, passwords = concurrent_fixture(t, 'adminconcoff')
    for round_no in range(10):
        await concurrent_round(srv, 'round %d' % (round_no + 1), round_no,
                               passwords, must_apply=False)
        reset_full_names(srv, CONCURRENT_USERS)


@case('online concurrent user set, imrefctl killed by SIGKILL: users.cfg'
      ' always the old or the new file, every acknowledged change kept, the'
      ' server agrees with the file', 'ADM-4 CFG-2', timeout=60)
async def test_concurrent_edits_online(t):
    srv, passwords = concurrent_fixture(t, 'adminconcon')
    srv.start()
    wait_socket(srv)
    for round_no in range(3):
        await concurrent_round(srv, 'round %d' % (round_no + 1),
                               100 + round_no, passwords, must_apply=True)
        check(srv.exit_status() is None, 'imrefd died during the edits')
    listed = {u['jid']: u['name'] for u in await ok_json(srv, 'user', 'list')}
    on_file = {jid(i['Name']): i['FullName']
               for i in list_items(srv.path('users.cfg'), 'User')}
    check(listed == on_file, 'server and users.cfg disagree after the'
          ' edits: %s vs %s' % (listed, on_file))
    client = await t.login('u05', server=srv)
    await client.sync()
