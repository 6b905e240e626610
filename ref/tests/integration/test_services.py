"""Service limits: connection maximum, IP groups, unbindable listeners
(SVC-4, SVC-6, SVC-7)."""
import socket
import time

from fixtures import LIMITED_SERVICES
from harness import HOST, SCALE, ServiceSpec, check
from rawxmpp import header
from suite import case


@case('third connection to a service limited to 2 gets'
      ' <resource-constraint/>', 'SVC-6 SVC-4 XML-6', LIMITED_SERVICES)
async def test_max_connections(t):
    first, second = t.raw(), t.raw()
    first.open()
    second.open()
    third = t.raw()
    third.send(header())
    third.expect_stream_error('resource-constraint')
    first.send('</stream:stream>')
    first.expect_close()
    fourth = t.raw()
    fourth.open()  # the closed connection's slot is free again


@case('a service limited to an IP group refuses other addresses before'
      ' any byte', 'SVC-4', LIMITED_SERVICES)
async def test_ip_group_refused(t):
    deadline = time.monotonic() + 5 * SCALE
    with socket.create_connection((HOST, t.port('xmpps')),
                                  timeout=5 * SCALE) as sock:
        try:
            data = sock.recv(100)
        except ConnectionResetError:
            data = b''
        except socket.timeout:
            data = None
    check(data is not None and time.monotonic() <= deadline,
          'connection from 127.0.0.1 still open after 5 s')
    check(data == b'', 'server sent %r to an address outside the group'
          % data[:60])


@case('a listener on a port in use: Error log names service, address and'
      ' reason; other services run', 'SVC-7 LOG-2')
async def test_port_in_use(t):
    busy = socket.socket()
    busy.bind((HOST, 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        busy_listen = ['%s:%d' % (HOST, port)]
        srv = t.server('portinuse', users=('alice',), wait_for=('xmpp',),
                       services={'xmpp': ServiceSpec(),
                                 'xmpps': ServiceSpec(busy_listen),
                                 's2s': ServiceSpec()})
        srv.start()
        line = srv.wait_log('error', r'127\.0\.0\.1:%d' % port)
        check('xmpps' in line or 'Secured Instant Messaging' in line,
              'error line does not name the service: %r' % line)
        check('in use' in line.lower(), 'error line gives no reason: %r'
              % line)
        client = await t.login('alice', server=srv)
        await client.sync()
    finally:
        busy.close()
