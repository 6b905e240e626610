"""Logs and configuration files: LOG-1, AUTH-2, CFG-4, CFG-5."""
import base64
import os
import re
import stat
import subprocess
import time
import xml.etree.ElementTree as ET

from fixtures import DEFAULT
from harness import (LOG_NAMES, SCALE, VALGRIND, VALGRIND_ERROR_STATUS,
                     Failure, check, listening_ports, password_of,
                     set_listitem_variable)
from suite import case
from xmppclient import LoginFailed

LOG_LINE = re.compile(r'\[(\d\d)/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|'
                      r'Nov|Dec)/(\d{4}) (\d\d):(\d\d):(\d\d)\] ')
LEAK_PROBE = 'Leak-Probe-Pw-4711'


async def failed_login(t, password, mech='PLAIN'):
    try:
        await t.login('alice', password=password, mech=mech)
    except LoginFailed:
        return
    raise Failure('login with %r succeeded' % password)


@case('every log line starts with [DD/Mon/YYYY HH:MM:SS]', 'LOG-1',
      DEFAULT)
async def test_log_format(t):
    await failed_login(t, 'wrong')   # at least one Security log line
    t.srv.wait_log('security', 'Failed XMPP login')
    logs = t.srv.path('logs')
    names = sorted(os.listdir(logs))
    unknown = set(names) - {n + '.log' for n in LOG_NAMES}
    check(not unknown, 'unexpected files in the log directory: %s'
          % sorted(unknown))
    now = time.time()
    for name in names:
        with open(os.path.join(logs, name), errors='replace') as f:
            for number, line in enumerate(f, 1):
                match = LOG_LINE.match(line)
                check(match, '%s:%d: %r' % (name, number, line[:80]))
                stamp = time.mktime(time.strptime(match.group(0)[1:21],
                                                  '%d/%b/%Y %H:%M:%S'))
                check(abs(stamp - now) < 3600, '%s:%d: time %s is not local'
                      ' time now' % (name, number, match.group(0)))


@case('no password stored or logged in clear, not even in the Debug log of '
      'the stream traffic; users.cfg holds SCRAM keys', 'AUTH-2 LOG-2', DEFAULT)
async def test_no_plaintext_password(t):
    await failed_login(t, LEAK_PROBE)
    client = await t.login('alice', mech='PLAIN')
    await client.sync()
    client.close()
    t.srv.wait_log('security', 'Failed XMPP login')
    t.srv.wait_log('debug', re.escape("<auth xmlns='urn:ietf:params:xml:ns:"
                                      "xmpp-sasl' mechanism='PLAIN'>[masked]"))
    t.srv.wait_log('debug', 'urn:xmpp:ping')
    plain = b'\0alice\0' + password_of('alice').encode()
    secrets = [LEAK_PROBE.encode(), password_of('alice').encode(),
               base64.b64encode(plain), base64.b64encode(b'\0' + plain[1:])]
    for folder, _, files in os.walk(t.srv.dir):
        for name in files:
            if not stat.S_ISREG(os.lstat(os.path.join(folder, name)).st_mode):
                continue                        # the control socket
            with open(os.path.join(folder, name), 'rb') as f:
                data = f.read()
            for secret in secrets:
                check(secret not in data, 'password %r found in %s'
                      % (secret.decode(), os.path.join(folder, name)))
    for item in ET.parse(t.srv.path('users.cfg')).getroot().iter('listitem'):
        stored = {v.get('name'): v.text for v in item.findall('variable')}
        if 'Password' in stored:
            parts = (stored['Password'] or '').split('$')
            check(len(parts) == 7 and parts[0] == 'SCRAM'
                  and int(parts[1]) >= 4096,
                  'stored password of %s: %r' % (stored.get('Name'),
                                                 stored['Password']))


def broken_copy(text):
    """The file with a mismatched end tag on line 4."""
    lines = text.splitlines()
    return '\n'.join(lines[:2] + ['  <table name="Broken">', '  </tabel>']
                     + lines[2:]) + '\n'


@case('a config file that does not parse stops start-up with FILE:LINE:COL'
      ' and a reason', 'CFG-4')
async def test_config_parse_error(t):
    srv = t.server('badcfg', users=('alice',))
    for name in ('mailserver.cfg', 'users.cfg'):
        with open(srv.path(name)) as f:
            original = f.read()
        broken = broken_copy(original)
        srv.write_file(name, broken)
        try:
            done = subprocess.run(srv.command(), capture_output=True,
                                  text=True, timeout=10 * SCALE)
        except subprocess.TimeoutExpired:
            raise Failure('imrefd kept running with a broken %s' % name)
        check(not (VALGRIND and done.returncode == VALGRIND_ERROR_STATUS),
              'valgrind reported errors (broken %s)' % name)
        check(done.returncode != 0, 'exit status 0 with a broken %s' % name)
        output = done.stdout + done.stderr
        check(re.search(r'%s:4:\d+:?\s*\S' % re.escape(name), output),
              'no "%s:4:COL: reason" in the output: %r'
              % (name, output.strip()[-300:]))
        with open(srv.path(name)) as f:
            check(f.read() == broken, '%s was rewritten' % name)
        srv.write_file(name, original)


def wait_until(condition, what, timeout=10):
    deadline = time.monotonic() + timeout * SCALE
    while not condition():
        if time.monotonic() > deadline:
            raise Failure('%s: not within %ds' % (what, timeout * SCALE))
        time.sleep(0.05)


def read_bytes(path):
    with open(path, 'rb') as f:
        return f.read()


def config_value(cfg, table, name):
    for tbl in ET.parse(cfg).getroot().iter('table'):
        if tbl.get('name') == table:
            for var in tbl.findall('variable'):
                if var.get('name') == name:
                    return var.text
    return None


@case('--init creates a working default with demo accounts; a second start'
      ' reuses it', 'CFG-5')
async def test_init(t):
    srv = t.server('init', configure=False, wait_for=())
    accounts_file = srv.path('demo-accounts.txt')

    def accounts_written():
        try:
            return len(read_bytes(accounts_file).splitlines()) >= 2
        except FileNotFoundError:
            return False
    srv.start(extra=('--init',))
    wait_until(accounts_written, 'demo-accounts.txt with two lines')
    # listening, or an Error log line if 5222/5223 are taken on this host
    wait_until(lambda: listening_ports(srv.proc.pid) or srv.log_text('error'),
               'imrefd --init listening on its default ports')
    srv.stop()
    mode = stat.S_IMODE(os.stat(accounts_file).st_mode)
    check(mode == 0o600, 'demo-accounts.txt mode %o' % mode)
    accounts = dict(line.split() for line in
                    read_bytes(accounts_file).decode().splitlines())
    check(set(accounts) == {'alice@localhost', 'bob@localhost'},
          'demo accounts %s' % sorted(accounts))
    check(accounts['alice@localhost'] in srv.output(),
          "alice's password was not printed")
    cfg = srv.path('mailserver.cfg')
    services = {item.findtext("variable[@name='Id']"):
                item.findtext("variable[@name='Listen']")
                for item in ET.parse(cfg).getroot().findall(
                    ".//list[@name='Service']/listitem")}
    check(services.get('xmpp') == '127.0.0.1:5222'
          and services.get('xmpps') == '127.0.0.1:5223',
          'default services %s' % services)
    certificate = srv.path(config_value(cfg, 'Paths', 'Certificate')
                           or 'cert.pem')
    check(os.path.exists(certificate), 'no certificate %s' % certificate)
    state = {name: read_bytes(srv.path(name))
             for name in ('users.cfg', 'demo-accounts.txt')}
    # second start: same state, on free ports instead of 5222/5223
    for sid in services:
        set_listitem_variable(cfg, 'Service', {'Id': sid}, 'Listen',
                              '127.0.0.1:%d' % srv.ports[sid])
    srv.wait_for = ('xmpp',)
    srv.start(extra=('--init',))
    for name, data in state.items():
        check(read_bytes(srv.path(name)) == data,
              '%s changed on the second start' % name)
    client = await t.login('alice', server=srv, domain='localhost',
                           cafile=certificate,
                           password=accounts['alice@localhost'])
    await client.sync()
