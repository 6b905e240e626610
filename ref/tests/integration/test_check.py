"""`imrefctl check`, Check Service Accessibility (ADM-6), against a real
DNS server on loopback (dns.DnsServer, dnsmasq) and the real imrefd: good
records, broken ones (no client SRV, a wrong port), certificates that are
near expiry or for another name, SendOutside on and off, imrefd stopped,
DNS silent. Every run is made twice, as text and with --json, and the two
must agree line for line. IMREF_CHECK_TRANSCRIPT=1 prints each text run
(the command, its output and exit status) on stderr."""
import asyncio
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

from dns import Address, DnsServer, Srv
from harness import (DOMAIN, HOST, OTHER_DOMAIN, SCALE, Failure, check,
                     free_port, set_listitem_variable)
from suite import case

TARGET = 'xmpp.%s'   # the SRV target host of a domain in these tests
LINE = re.compile(r'^(OK|FAILED|WARNING|SKIPPED) +(\S+) +(.+?)  +(.*)$')


# -- certificates ----------------------------------------------------------
def openssl(*args):
    res = subprocess.run(['openssl', *args], capture_output=True, text=True)
    if res.returncode != 0:
        raise Failure('openssl %s: %s' % (args[0], res.stderr.strip()[:300]))


def make_ca(directory):
    """A test CA: (ca.pem, ca.key)."""
    cert, key = (os.path.join(directory, n) for n in ('ca.pem', 'ca.key'))
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt',
            'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=imref test CA',
            '-addext', 'basicConstraints=critical,CA:TRUE',
            '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
            '-days', '365', '-keyout', key, '-out', cert)
    return cert, key


def make_cert(directory, stem, ca, names, days):
    """A certificate signed by ca for DNS names, valid `days`:
    (stem.pem, stem.key)."""
    cert, key = (os.path.join(directory, stem + ext)
                 for ext in ('.pem', '.key'))
    openssl('req', '-x509', '-CA', ca[0], '-CAkey', ca[1], '-newkey', 'ec',
            '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
            '-subj', '/CN=%s' % names[0],
            '-addext', 'subjectAltName=' + ','.join('DNS:' + n for n in names),
            '-days', str(days), '-keyout', key, '-out', cert)
    return cert, key


def not_after(cert):
    """notAfter of a PEM certificate as 'YYYY-MM-DD' (UTC)."""
    res = subprocess.run(['openssl', 'x509', '-noout', '-enddate', '-in', cert],
                         capture_output=True, text=True, check=True)
    seconds = ssl.cert_time_to_seconds(res.stdout.strip().split('=', 1)[1])
    return time.strftime('%Y-%m-%d', time.gmtime(seconds))


# -- the server's configuration -----------------------------------------------
def set_table_variable(cfg, table, name, value):
    """In a CFG-1 file, sets <table name=table><variable name=name>."""
    tree = ET.parse(cfg)
    root = tree.getroot()
    tbl = next((t for t in root.findall('table') if t.get('name') == table),
               None)
    if tbl is None:
        tbl = ET.SubElement(root, 'table', name=table)
    var = next((v for v in tbl.findall('variable')
                if v.get('name') == name), None)
    if var is None:
        var = ET.SubElement(tbl, 'variable', name=name)
    var.text = str(value)
    tree.write(cfg, encoding='utf-8', xml_declaration=True)


def good_records(srv, domains=(DOMAIN, OTHER_DOMAIN), s2s=False):
    """Each domain: its target host's A record, client and xmpps SRV to
    the server's listeners (and the server SRV with s2s)."""
    records = []
    for d in domains:
        records += [Address(d, HOST), Address(TARGET % d, HOST),
                    Srv('_xmpp-client._tcp.' + d, TARGET % d,
                        srv.ports['xmpp']),
                    Srv('_xmpps-client._tcp.' + d, TARGET % d,
                        srv.ports['xmpps'])]
        if s2s:
            records.append(Srv('_xmpp-server._tcp.' + d, TARGET % d,
                               srv.ports['s2s']))
    return records


class Setup:
    """A server of the test's own with a test CA, a certificate for both
    domains valid a year, table DNS pointing at a DnsServer (Timeout 2 s)
    and Paths/CAFile the CA. The test adds its records, then start()s."""

    def __init__(self, t, name, send_outside=0, dns_timeout=2):
        self.t = t
        self.srv = t.server(name)
        self.cfg = self.srv.path('mailserver.cfg')
        self.ca = make_ca(self.srv.dir)
        cert, key = make_cert(self.srv.dir, 'domains', self.ca,
                              [DOMAIN, OTHER_DOMAIN], 365)
        os.replace(cert, self.srv.path('cert.pem'))
        os.replace(key, self.srv.path('key.pem'))
        self.dns = DnsServer(local=(DOMAIN, OTHER_DOMAIN))
        set_table_variable(self.cfg, 'Paths', 'CAFile', 'ca.pem')
        set_table_variable(self.cfg, 'InstantMessaging', 'SendOutside',
                           send_outside)
        set_table_variable(self.cfg, 'DNS', 'Timeout', dns_timeout)

    def domain_certificate(self, domain, names, days):
        """The domain gets a certificate of its own (SNI, SEC-1)."""
        cert, key = make_cert(self.srv.dir, 'cert-' + domain, self.ca,
                              names, days)
        for var, path in (('Certificate', cert), ('PrivateKey', key)):
            set_listitem_variable(self.cfg, 'Domain', {'Name': domain}, var,
                                  os.path.basename(path))
        return cert

    def start(self, records):
        self.dns.records = list(records)
        self.dns.start()
        set_table_variable(self.cfg, 'DNS', 'Server', self.dns.address)
        self.srv.start()

    def close(self):
        self.dns.remove()


class CheckRun:
    """`imrefctl check` run as text and as --json, the two compared."""

    def __init__(self, args, text, text_status, doc, json_status):
        self.args, self.text, self.status = args, text, text_status
        self.checks, self.doc = doc['checks'], doc
        self.json_status = json_status

    def transcript(self):
        return '$ imrefctl --dir DIR %s  (exit %d)\n%s' % (
            ' '.join(self.args), self.status, self.text)

    def fail(self, reason):
        """A Failure whose message ends with the whole transcript, also
        printed as '#' lines (the runner cuts long reasons)."""
        for line in self.transcript().splitlines():
            print('#   ' + line, flush=True)
        return Failure('%s\n%s' % (reason, self.transcript()))

    def find(self, domain, name):
        found = [c for c in self.checks
                 if c['domain'] == domain and c['check'] == name]
        if not found:
            raise self.fail('no check %s for %s' % (name, domain))
        return found[0]

    def expect(self, domain, name, status, *fragments):
        c = self.find(domain, name)
        text = c['detail'] + ('; ' + c['hint'] if c['hint'] else '')
        if c['status'] != status or not all(f in text for f in fragments):
            raise self.fail('%s %s: expected %s with %s, got %s: %s'
                            % (domain, name, status, fragments, c['status'],
                               text))
        return c

    def expect_exit(self, status):
        if self.status != status:
            raise self.fail('imrefctl check exited %d, expected %d'
                            % (self.status, status))


async def imrefctl(srv, args):
    proc = await asyncio.create_subprocess_exec(
        os.path.join(srv.build, 'imrefctl'), '--dir', srv.dir, *args,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60 * SCALE)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise Failure('imrefctl %s did not finish' % ' '.join(args))
    return proc.returncode, out.decode(), err.decode()


async def run_check(srv, *domains):
    """Both runs; every text line must be its JSON entry (ADM-6 --json)."""
    args = ['check', *domains]
    status, text, err = await imrefctl(srv, args)
    json_status, json_text, json_err = await imrefctl(srv, args + ['--json'])
    try:
        doc = json.loads(json_text)
    except ValueError as e:
        raise Failure('check --json is not JSON (%s): %r %r'
                      % (e, json_text[:300], json_err[:300]))
    run = CheckRun(args, text + err, status, doc, json_status)
    if os.environ.get('IMREF_CHECK_TRANSCRIPT') == '1':
        print(run.transcript(), file=sys.stderr)
    lines = text.splitlines()
    if json_status != status or len(lines) != len(run.checks):
        raise run.fail('text (exit %d, %d lines) and --json (exit %d, %d '
                       'checks) differ' % (status, len(lines), json_status,
                                           len(run.checks)))
    for line, c in zip(lines, run.checks):
        m = LINE.match(line)
        want = (c['status'].upper(), c['domain'], c['check'],
                c['detail'] + ('; ' + c['hint'] if c['hint'] else ''))
        if not m or m.groups() != want:
            raise run.fail('line %r is not its JSON entry %r' % (line, c))
    failed = sum(c['status'] == 'failed' for c in run.checks)
    if doc['failed'] != failed or (failed > 0) != (status == 1):
        raise run.fail('"failed": %s, %d failed checks, exit %d'
                       % (doc['failed'], failed, status))
    for c in run.checks:
        if (c['status'] == 'warning') == c['required'] and c['status'] in (
                'failed', 'warning'):
            raise run.fail('%s %s: status %s with required %s'
                           % (c['domain'], c['check'], c['status'],
                              c['required']))
    return run


def service_check(srv, sid):
    return 'service %s %s:%d' % (sid, HOST, srv.ports[sid])


def expect_good_domain(run, srv, domain):
    run.expect(domain, 'address', 'ok', TARGET % domain, HOST)
    run.expect(domain, 'client-srv', 'ok',
               '%s:%d' % (TARGET % domain, srv.ports['xmpp']))
    run.expect(domain, 'xmpps-srv', 'ok',
               '%s:%d' % (TARGET % domain, srv.ports['xmpps']))
    for sid in ('xmpp', 'xmpps'):
        run.expect(domain, service_check(srv, sid), 'ok',
                   'certificate for %s valid until' % domain)


# -- the cases -------------------------------------------------------------
@case('check: good records and certificates: every check OK, server-srv'
      ' SKIPPED with SendOutside=0, exit 0; --json agrees', 'ADM-6 DOM-1',
      timeout=60)
async def test_check_good(t):
    setup = Setup(t, 'check-good')
    try:
        setup.start(good_records(setup.srv))
        run = await run_check(setup.srv)
        for domain in (DOMAIN, OTHER_DOMAIN):
            expect_good_domain(run, setup.srv, domain)
            run.expect(domain, 'server-srv', 'skipped', 'SendOutside is 0')
        run.expect_exit(0)
    finally:
        setup.close()


@case('check: no _xmpp-client._tcp SRV record: FAILED with the record to'
      ' add, exit 1', 'ADM-6', timeout=60)
async def test_check_missing_client_srv(t):
    setup = Setup(t, 'check-nosrv')
    try:
        records = [r for r in good_records(setup.srv, (DOMAIN,))
                   if not r.name.startswith('_xmpp-client.')]
        setup.start(records)
        run = await run_check(setup.srv, DOMAIN)
        run.expect(DOMAIN, 'client-srv', 'failed',
                   'no SRV record _xmpp-client._tcp.%s' % DOMAIN,
                   'add: _xmpp-client._tcp.%s. IN SRV 0 5 %d %s.'
                   % (DOMAIN, setup.srv.ports['xmpp'], TARGET % DOMAIN))
        run.expect(DOMAIN, 'xmpps-srv', 'ok')
        run.expect_exit(1)
    finally:
        setup.close()


@case('check: _xmpp-client._tcp SRV with the wrong port: FAILED naming'
      ' the listener, the right record to add, exit 1', 'ADM-6', timeout=60)
async def test_check_wrong_port(t):
    setup = Setup(t, 'check-port')
    try:
        wrong = free_port()
        records = [Srv(r.name, r.target, wrong)
                   if r.name.startswith('_xmpp-client.') else r
                   for r in good_records(setup.srv, (DOMAIN,))]
        setup.start(records)
        run = await run_check(setup.srv, DOMAIN)
        run.expect(DOMAIN, 'client-srv', 'failed',
                   'points to %s:%d' % (TARGET % DOMAIN, wrong),
                   'not to a running xmpp listener (%s:%d)'
                   % (HOST, setup.srv.ports['xmpp']),
                   'add: _xmpp-client._tcp.%s. IN SRV 0 5 %d %s.'
                   % (DOMAIN, setup.srv.ports['xmpp'], TARGET % DOMAIN))
        run.expect_exit(1)
    finally:
        setup.close()


@case('check: a certificate expiring in 10 days: each service FAILED'
      ' "expires on", exit 1', 'ADM-6 SEC-1', timeout=60)
async def test_check_cert_expiring(t):
    setup = Setup(t, 'check-expiry')
    try:
        cert = setup.domain_certificate(DOMAIN, [DOMAIN], 10)
        setup.start(good_records(setup.srv, (DOMAIN,)))
        run = await run_check(setup.srv, DOMAIN)
        for sid in ('xmpp', 'xmpps'):
            run.expect(DOMAIN, service_check(setup.srv, sid), 'failed',
                       'certificate for %s expires on %s (in 10 days)'
                       % (DOMAIN, not_after(cert)), 'fix: renew')
        run.expect(DOMAIN, 'client-srv', 'ok')
        run.expect_exit(1)
    finally:
        setup.close()


@case('check: a certificate for another name: FAILED "not valid for",'
      ' exit 1', 'ADM-6 SEC-1', timeout=60)
async def test_check_cert_wrong_name(t):
    setup = Setup(t, 'check-name')
    try:
        setup.domain_certificate(DOMAIN, ['other.example'], 365)
        setup.start(good_records(setup.srv, (DOMAIN,)))
        run = await run_check(setup.srv, DOMAIN)
        for sid in ('xmpp', 'xmpps'):
            run.expect(DOMAIN, service_check(setup.srv, sid), 'failed',
                       'certificate not valid for %s' % DOMAIN,
                       'other.example')
        run.expect_exit(1)
    finally:
        setup.close()


@case('check: SendOutside=1: server-srv and the s2s listener checked and'
      ' OK, exit 0', 'ADM-6 DOM-1 SVC-3', timeout=60)
async def test_check_send_outside(t):
    setup = Setup(t, 'check-s2s', send_outside=1)
    try:
        setup.start(good_records(setup.srv, (DOMAIN,), s2s=True))
        run = await run_check(setup.srv, DOMAIN)
        expect_good_domain(run, setup.srv, DOMAIN)
        run.expect(DOMAIN, 'server-srv', 'ok',
                   '%s:%d' % (TARGET % DOMAIN, setup.srv.ports['s2s']))
        run.expect(DOMAIN, service_check(setup.srv, 's2s'), 'ok',
                   'certificate for %s valid until' % DOMAIN)
        run.expect_exit(0)
    finally:
        setup.close()


@case('check: DNS server silent: address and client-srv FAILED with the'
      ' DNS hint, exit 1', 'ADM-6 S2S-1', timeout=60)
async def test_check_dns_silent(t):
    setup = Setup(t, 'check-nodns', dns_timeout=1)
    try:
        setup.start(good_records(setup.srv, (DOMAIN,)))
        setup.dns.stop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
            silent.bind((HOST, setup.dns.port))   # takes queries, never answers
            run = await run_check(setup.srv, DOMAIN)
        run.expect(DOMAIN, 'address', 'failed', 'timeout', 'table DNS')
        run.expect(DOMAIN, 'client-srv', 'failed',
                   'DNS lookup of _xmpp-client._tcp.%s failed: timeout'
                   % DOMAIN)
        run.expect_exit(1)
    finally:
        setup.close()


@case('check: imrefd not running: one FAILED line, exit 1; an unknown'
      ' domain: exit 2', 'ADM-6', timeout=30)
async def test_check_not_running(t):
    setup = Setup(t, 'check-down')
    try:
        run = await run_check(setup.srv)
        check(len(run.checks) == 1, run.transcript())
        run.expect('*', 'imrefd', 'failed', 'imrefd is not running')
        run.expect_exit(1)
        status, out, err = await imrefctl(setup.srv,
                                          ['check', 'nowhere.example'])
        check(status == 2 and 'nowhere.example is not a domain' in err,
              'check of an unknown domain: exit %d, %r' % (status, err))
    finally:
        setup.close()
