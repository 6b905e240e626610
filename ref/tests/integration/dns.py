"""A real DNS server on loopback for the integration tests (S2S-1, ADM-6).

DnsServer runs /usr/sbin/dnsmasq on a free 127.0.0.1 port (UDP and TCP)
answering only from the records it is given: no upstream server, no
resolv.conf, no hosts file, so no query ever leaves the machine. Names
under the `local` domains that have no record get NXDOMAIN (other names:
REFUSED). It owns the one process it started and signals only that PID.

    dns = DnsServer([Srv('_xmpp-client._tcp.example.com',
                         'xmpp.example.com', 5222),
                     Address('xmpp.example.com', '127.0.0.1')],
                    local=('example.com',))
    dns.start()          # then point table DNS Server at dns.address
    dns.restart([...])   # new records, same port
    dns.stop()
"""
import atexit
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

from harness import HOST, SCALE, Failure, free_port, tail

DNSMASQ = '/usr/sbin/dnsmasq'
RUNNING = set()   # DnsServers whose dnsmasq we started and have not reaped


class Srv:
    """An SRV record: name -> target:port (RFC 2782)."""

    def __init__(self, name, target, port, priority=0, weight=5):
        self.name, self.target, self.port = name, target, port
        self.priority, self.weight = priority, weight

    def option(self):
        return '--srv-host=%s,%s,%d,%d,%d' % (self.name, self.target,
                                              self.port, self.priority,
                                              self.weight)


class Address:
    """A and/or AAAA records of one name (IPv4 and IPv6 addresses)."""

    def __init__(self, name, *addresses):
        self.name, self.addresses = name, addresses

    def option(self):
        return '--host-record=%s,%s' % (self.name, ','.join(self.addresses))


def _query(name='ready.invalid', qtype=1):
    """A DNS query packet (recursion desired) for name/qtype."""
    header = struct.pack('>HHHHHH', 0x1d0c, 0x0100, 1, 0, 0, 0)
    labels = b''.join(bytes([len(p)]) + p.encode()
                      for p in name.split('.') if p)
    return header + labels + b'\0' + struct.pack('>HH', qtype, 1)


class DnsServer:
    def __init__(self, records=(), local=()):
        self.records = list(records)
        self.local = tuple(local)
        self.port = None
        self.proc = None
        self.stderr_text = ''   # of a dnsmasq that exited at start
        self.dir = tempfile.mkdtemp(prefix='imref-it-dns-')

    @property
    def address(self):
        """'127.0.0.1:PORT', the value for table DNS, variable Server."""
        return '%s:%d' % (HOST, self.port)

    def log_path(self):
        return os.path.join(self.dir, 'dnsmasq.log')

    def command(self):
        cmd = [DNSMASQ, '--keep-in-foreground', '--no-resolv', '--no-hosts',
               '--no-poll', '--bind-interfaces', '--listen-address=' + HOST,
               '--port=%d' % self.port, '--conf-file=/dev/null',
               '--pid-file=', '--log-queries',
               '--log-facility=' + self.log_path()]
        cmd += ['--local=/%s/' % domain for domain in self.local]
        return cmd + [record.option() for record in self.records]

    def start(self, attempts=3):
        """Starts dnsmasq (a new free port unless restarting) and waits
        until it answers."""
        if self.proc is not None:
            raise Failure('dnsmasq already running')
        for _ in range(attempts):
            self.port = self.port or free_port(udp_too=True)
            self.proc = subprocess.Popen(self.command(),
                                         stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE)
            RUNNING.add(self)
            if self._wait_ready():
                return
            self.port = None   # taken meanwhile: try another
        raise Failure('dnsmasq did not start: %s' % ' | '.join(
            self.diagnostics()))

    def _wait_ready(self):
        """True once dnsmasq answers a query; False if it exited."""
        deadline = time.monotonic() + 5 * SCALE
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.1)
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    self.stderr_text = self.proc.stderr.read().decode(
                        errors='replace')
                    self._reap()
                    return False
                try:
                    s.sendto(_query(), (HOST, self.port))
                    s.recv(512)
                    return True
                except OSError:   # timeout or ICMP port unreachable
                    continue
        self.stop()
        raise Failure('dnsmasq on port %d did not answer within %ds'
                      % (self.port, 5 * SCALE))

    def stop(self):
        """SIGTERM to our dnsmasq (SIGKILL if it lingers) and reap it."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reap()

    def restart(self, records=None):
        """Stops and starts again on the same port, with new records if
        given."""
        if records is not None:
            self.records = list(records)
        self.stop()
        self.start()

    def _reap(self):
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()
        RUNNING.discard(self)
        self.proc = None

    def diagnostics(self):
        """The command's records, dnsmasq's stderr and its query log."""
        lines = ['dns %s records: %s' % (
            self.address if self.port else '-',
            ' '.join(r.option() for r in self.records))]
        lines += self.stderr_text.splitlines()
        lines += tail(self.log_path(), 20)
        return lines

    def remove(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@atexit.register
def stop_started_servers():
    """The runner exits (or is interrupted): stop every dnsmasq we started."""
    for server in list(RUNNING):
        server.stop()
