"""Starts and stops a real imrefd for the integration tests.

A Server owns one temporary directory (mailserver.cfg, users.cfg, the
fixture certificate, the store and the logs) and the one imrefd process it
started, known by PID: it never signals any other process. Ports are free
127.0.0.1 ports picked at construction. Under IMREF_VALGRIND=1 imrefd runs
under valgrind and every timeout is multiplied by SCALE.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET

import ports

VALGRIND = os.environ.get('IMREF_VALGRIND') == '1'
SCALE = 10 if VALGRIND else 1
VALGRIND_ERROR_STATUS = 99
VALGRIND_CMD = ['valgrind', '--error-exitcode=%d' % VALGRIND_ERROR_STATUS,
                '--leak-check=full', '--errors-for-leak-kinds=definite',
                '--track-fds=no']

DOMAIN = 'example.com'
OTHER_DOMAIN = 'example.net'
HOST = '127.0.0.1'
LOG_NAMES = ('warning', 'error', 'security', 'config', 'debug')
RUNNING = set()   # Servers whose imrefd we started and have not reaped


class Failure(Exception):
    """A test expectation that did not hold; the message is the reason."""


def check(condition, reason):
    if not condition:
        raise Failure(reason)


HANDED_OUT = set()   # ports free_port gave: a server may not have bound its yet


def free_port(udp_too=False):
    """A loopback port free now (TCP, and UDP too if asked) and never handed
    out before in this run: servers get their ports before they bind them,
    so a second caller must not get the same one meanwhile (ports.py)."""
    return ports.free_ports(1, HANDED_OUT, udp_too)[0]


def listening_ports(pid):
    """TCP ports on which process pid has a listening socket (from /proc,
    without connecting: a probe connection would count against a
    service's MaxConnections)."""
    inodes = set()
    fd_dir = '/proc/%d/fd' % pid
    try:
        for fd in os.listdir(fd_dir):
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target.startswith('socket:['):
                inodes.add(target[8:-1])
    except OSError:
        return set()
    ports = set()
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[3] == '0A' and fields[9] in inodes:  # 0A: LISTEN
                    ports.add(int(fields[1].rsplit(':', 1)[1], 16))
    return ports


def password_of(user):
    return 'pw-%s-Secret' % user


def make_fixture_cert(directory):
    """Self-signed P-256 certificate for example.com; returns (cert, key)."""
    cert = os.path.join(directory, 'cert.pem')
    key = os.path.join(directory, 'key.pem')
    subprocess.run(
        ['openssl', 'req', '-x509', '-newkey', 'ec',
         '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
         '-subj', '/CN=example.com',
         '-addext', 'subjectAltName=DNS:example.com', '-days', '30',
         '-keyout', key, '-out', cert],
        check=True, capture_output=True)
    return cert, key


class ServiceSpec:
    """One <list name="Service"> item; listen is a list of 'addr:port',
    None for the server's own free port for that service id."""

    def __init__(self, listen=None, startup='Automatic', max_connections=0,
                 ip_group=''):
        self.listen = listen
        self.startup = startup
        self.max_connections = max_connections
        self.ip_group = ip_group


def _variable(parent, name, value):
    var = ET.SubElement(parent, 'variable', name=name)
    var.text = str(value)


def _table(root, name, variables):
    table = ET.SubElement(root, 'table', name=name)
    for key, value in variables.items():
        _variable(table, key, value)


def _list(root, name, items):
    lst = ET.SubElement(root, 'list', name=name)
    for item in items:
        listitem = ET.SubElement(lst, 'listitem')
        for key, value in item.items():
            _variable(listitem, key, value)


def mailserver_cfg(policy, services, ports, ip_groups=(), limits=None,
                   debug=False, maximum_roster=0, host=HOST, domains=None,
                   send_outside=0, tables=None, ca_file=None):
    """Text of a mailserver.cfg in the CFG-1 format. tables: further
    tables, {name: {variable: value}} (e.g. DNS for federation); ca_file:
    Paths/CAFile, the CAs trusted for other servers."""
    root = ET.Element('config')
    # Colleagues (ROST) off unless a test asks: the IM tests expect the
    # rosters their users build themselves.
    _table(root, 'InstantMessaging', {'SendOutside': send_outside,
                                      'MaximumRoster': maximum_roster})
    for name, variables in (tables or {}).items():
        _table(root, name, variables)
    _table(root, 'Security', {'SecurityPolicy': policy,
                              'AuthenticationExceptionGroup': '',
                              'EncryptionExceptionGroup': '',
                              'ScramIterations': 10000})
    # The whole suite connects from 127.0.0.1: keep SEC-7 out of the way
    # (the connect conformance suite tests it, from its own addresses).
    _table(root, 'AntiHammering', {'Enabled': 0})
    _table(root, 'Limits', limits or {})
    paths = {'UsersFile': 'users.cfg', 'StorePath': 'store',
             'LogPath': 'logs', 'Certificate': 'cert.pem',
             'PrivateKey': 'key.pem'}
    if ca_file:
        paths['CAFile'] = ca_file
    _table(root, 'Paths', paths)
    _table(root, 'Log', {'Debug': 1 if debug else 0})
    _list(root, 'Domain', [
        {'Name': d, 'IMEnabled': 1, 'Certificate': '', 'PrivateKey': ''}
        for d in (domains or (DOMAIN, OTHER_DOMAIN))])
    _list(root, 'Service', [
        {'Id': sid, 'Startup': s.startup,
         'Listen': ','.join(s.listen or ['%s:%d' % (host, ports[sid])]),
         'MaxConnections': s.max_connections, 'IpGroup': s.ip_group}
        for sid, s in services.items()])
    _list(root, 'IpAddressGroup', [{'Name': n, 'Address': a}
                                   for n, a in ip_groups])
    ET.indent(root)
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            + ET.tostring(root, encoding='unicode') + '\n')


def set_listitem_variable(cfg, list_name, match, name, value):
    """In a CFG-1 file, sets variable `name` of the listitem of list
    `list_name` whose variables include every (key, text) in `match`."""
    tree = ET.parse(cfg)
    for lst in tree.getroot().iter('list'):
        if lst.get('name') != list_name:
            continue
        for item in lst.iter('listitem'):
            values = {v.get('name'): v for v in item.findall('variable')}
            if all(key in values and values[key].text == text
                   for key, text in match.items()):
                if name not in values:
                    values[name] = ET.SubElement(item, 'variable', name=name)
                values[name].text = str(value)
                tree.write(cfg, encoding='utf-8', xml_declaration=True)
                return
    raise Failure('no %s item %s in %s' % (list_name, match, cfg))


def kill_started_servers():
    """SIGKILL to every imrefd this run started and has not reaped (when
    the runner itself is interrupted)."""
    for server in list(RUNNING):
        server.kill9()


def describe_status(status):
    if status < 0:
        return 'was killed by signal %d' % -status
    return 'exited with status %d' % status


def run_tool(args, timeout=30):
    return subprocess.run(args, capture_output=True, text=True,
                          timeout=timeout * SCALE)


def tail(path, lines=15):
    try:
        with open(path, errors='replace') as f:
            return f.read().splitlines()[-lines:]
    except OSError:
        return []


class Server:
    """One imrefd with its own directory, configuration and users.

    users: local parts created on example.com with password_of(user) and
    FullName '<User> Example'; disabled: local parts then set Enabled=0.
    configure=False leaves the directory empty (for --init).
    """

    def __init__(self, build, cert, name, policy='NoRestrictions',
                 users=(), disabled=(), services=None, ip_groups=(),
                 limits=None, wait_for=('xmpp', 'xmpps'), configure=True,
                 debug=False, maximum_roster=0, host=HOST, domains=None,
                 send_outside=0, tables=None, ca_file=None):
        self.build = build
        self.ca_file = ca_file
        self.host = host            # the address every listener binds
        self.domains = domains or (DOMAIN, OTHER_DOMAIN)
        self.send_outside = send_outside
        self.tables = tables
        self.name = name
        self.dir = tempfile.mkdtemp(prefix='imref-it-%s-' % name)
        self.ports = {'xmpp': free_port(), 'xmpps': free_port(),
                      's2s': free_port()}
        self.services = services or {sid: ServiceSpec() for sid in self.ports}
        self.wait_for = wait_for
        self.proc = None
        self.stdout = self.stderr = None
        self.runs = 0
        self.debug = debug
        self.maximum_roster = maximum_roster
        if configure:
            self.configure(cert, policy, users, disabled, ip_groups, limits)

    def configure(self, cert, policy, users, disabled, ip_groups, limits):
        """Writes the fixture: certificate, mailserver.cfg, users.cfg."""
        shutil.copy(cert[0], os.path.join(self.dir, 'cert.pem'))
        shutil.copy(cert[1], os.path.join(self.dir, 'key.pem'))
        self.write_file('mailserver.cfg',
                        mailserver_cfg(policy, self.services, self.ports,
                                       ip_groups, limits, self.debug,
                                       self.maximum_roster, self.host,
                                       self.domains, self.send_outside,
                                       self.tables, self.ca_file))
        for user in users:
            self.add_user(user, self.domains[0])
        for user in disabled:
            set_listitem_variable(self.path('users.cfg'), 'User',
                                  {'Name': user, 'Domain': self.domains[0]},
                                  'Enabled', 0)

    # -- files ---------------------------------------------------------
    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def write_file(self, name, text):
        with open(self.path(name), 'w') as f:
            f.write(text)

    def add_user(self, user, domain=DOMAIN):
        full_name = '%s Example' % user.capitalize()
        res = run_tool([os.path.join(self.build, 'imrefctl'), '--dir',
                        self.dir, 'user', 'add', '%s@%s' % (user, domain),
                        '--password', password_of(user),
                        '--name', full_name])
        if res.returncode != 0:
            raise Failure('imrefctl user add %s failed (%d): %s'
                          % (user, res.returncode,
                             (res.stderr or res.stdout).strip()[:300]))

    def log_path(self, log):
        return self.path('logs', log + '.log')

    def log_text(self, log):
        try:
            with open(self.log_path(log), errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def log_lines(self, log, pattern):
        regex = re.compile(pattern)
        return [line for line in self.log_text(log).splitlines()
                if regex.search(line)]

    def wait_log(self, log, pattern, more_than=0, timeout=3):
        """Waits until more than more_than lines match the regex; returns
        the last (LOG-3 lets the writer lag a little)."""
        deadline = time.monotonic() + timeout * SCALE
        while True:
            lines = self.log_lines(log, pattern)
            if len(lines) > more_than:
                return lines[-1]
            if time.monotonic() > deadline:
                raise Failure('%s.log has no line matching %r; last lines: %s'
                              % (log, pattern, tail(self.log_path(log), 5)))
            time.sleep(0.05)

    # -- process -------------------------------------------------------
    def command(self, extra=()):
        cmd = [os.path.join(self.build, 'imrefd'), '--dir', self.dir,
               *extra]
        if VALGRIND:
            log = self.path('valgrind-%d.log' % self.runs)
            cmd = VALGRIND_CMD + ['--log-file=' + log] + cmd
        return cmd

    def start(self, extra=()):
        """Starts imrefd and waits until the wait_for services accept."""
        check(self.proc is None, 'server %s already running' % self.name)
        self.runs += 1
        self.stdout = open(self.path('stdout-%d.txt' % self.runs), 'wb')
        self.stderr = open(self.path('stderr-%d.txt' % self.runs), 'wb')
        self.proc = subprocess.Popen(self.command(extra),
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.stdout, stderr=self.stderr)
        RUNNING.add(self)
        deadline = time.monotonic() + 10 * SCALE
        waiting = [self.ports[s] for s in self.wait_for]
        while waiting:
            status = self.proc.poll()
            if status is not None:
                self._reap()
                raise Failure('imrefd %s %s at start'
                              % (self.name, describe_status(status)))
            listening = listening_ports(self.proc.pid)
            waiting = [p for p in waiting if p not in listening]
            if waiting and time.monotonic() > deadline:
                self.kill9()
                raise Failure('imrefd %s: ports %s not listening after %ds'
                              % (self.name, waiting, 10 * SCALE))
            if waiting:
                time.sleep(0.05)

    def exit_status(self):
        """Exit status if the process has ended (reaping it), else None."""
        if self.proc is None:
            return None
        status = self.proc.poll()
        if status is not None:
            self._reap()
        return status

    def stop(self):
        """SIGTERM, SIGKILL after a timeout; Failure unless it exits 0."""
        if self.proc is None:
            return
        proc = self.proc
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            status = proc.wait(timeout=10 * SCALE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            self._reap()
            raise Failure('imrefd %s ignored SIGTERM for %ds (killed)'
                          % (self.name, 10 * SCALE))
        self._reap()
        check(status != VALGRIND_ERROR_STATUS or not VALGRIND,
              'valgrind reported errors in imrefd %s (exit 99)' % self.name)
        check(status == 0, 'imrefd %s %s on SIGTERM'
              % (self.name, describe_status(status)))

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._reap()

    def _reap(self):
        RUNNING.discard(self)
        self.proc = None
        for f in (self.stdout, self.stderr):
            if f:
                f.close()
        self.stdout = self.stderr = None

    def output(self):
        """stdout and stderr of the latest run."""
        text = ''
        for stream in ('stdout', 'stderr'):
            try:
                with open(self.path('%s-%d.txt' % (stream, self.runs)),
                          errors='replace') as f:
                    text += f.read()
            except FileNotFoundError:
                pass
        return text

    def diagnostics(self):
        """Tail of stderr and the logs, and valgrind's errors, for a
        failure report."""
        lines = ['server %s: %s' % (self.name, self.dir)]
        for label, path, count in (
                [('stderr', self.path('stderr-%d.txt' % self.runs), 30)]
                + [(n + '.log', self.log_path(n), 8) for n in LOG_NAMES]):
            got = tail(path, count)
            if got:
                lines.append('--- %s' % label)
                lines += got
        report = tail(self.path('valgrind-%d.log' % self.runs), 400)
        if any(re.search(r'ERROR SUMMARY: [1-9]', l) for l in report):
            lines.append('--- valgrind (first errors)')
            lines += [l for l in report if l.strip('=0123456789 ')][6:40]
        return lines

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)
