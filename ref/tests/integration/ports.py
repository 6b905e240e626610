"""Free loopback ports for the test servers, chosen below the kernel's
ephemeral range (/proc/sys/net/ipv4/ip_local_port_range): a port picked by
binding port 0 comes from that range, so between the choice and the
server's bind any outgoing connection could take it as its source port
("Address already in use"). Ports are tried from a start that depends on
the process ID, so runs side by side seldom try the same ones.

As a program (for ci/run-conformance): `ports.py COUNT` prints COUNT
ports free for TCP and UDP both, one per line."""
import os
import socket
import sys

HOST = '127.0.0.1'
LOWEST = 10000


def _ephemeral_low():
    try:
        with open('/proc/sys/net/ipv4/ip_local_port_range') as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port, udp_too):
    kinds = [socket.SOCK_STREAM] + ([socket.SOCK_DGRAM] if udp_too else [])
    for kind in kinds:
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((HOST, port))
            except OSError:
                return False
    return True


def free_ports(count, taken, udp_too=False):
    """`count` ports free now, not in `taken` (which grows by them)."""
    top = max(_ephemeral_low(), LOWEST + 1000)
    span = top - LOWEST
    first = (os.getpid() * 7919) % span
    ports = []
    for i in range(span):
        port = LOWEST + (first + i) % span
        if port in taken or not _bindable(port, udp_too):
            continue
        taken.add(port)
        ports.append(port)
        if len(ports) == count:
            return ports
    raise RuntimeError('no free loopback port below %d' % top)


if __name__ == '__main__':
    for p in free_ports(int(sys.argv[1]) if len(sys.argv) > 1 else 4, set(),
                        udp_too=True):
        print(p)
