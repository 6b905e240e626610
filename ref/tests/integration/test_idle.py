"""Idle streams (issue "Performance", M1/M2): a bound stream silent for a
second gives back its parser and its write queue's storage, and must go on
exactly as before: stanzas after the rest, a stanza begun before it, and
the XML-4 ping after IdleTimeout, which the rest must not bring forward."""
import time

from harness import DOMAIN, check
from rawxmpp import CLIENT, describe
from suite import case

PING = "<ping xmlns='urn:xmpp:ping'/>"
REST = 1.0      # c2s.c REST_AFTER_SECONDS


def is_ping_result(element, iq_id):
    return (element.tag == '{%s}iq' % CLIENT and element.get('id') == iq_id
            and element.get('type') == 'result')


@case('a resting stream parses what follows, a stanza split across the'
      ' rest included', 'XML-1', timeout=20)
async def test_rest_keeps_stream(t):
    srv = t.server('rest', users=('alice',))
    srv.start()
    s = t.raw_session('alice', server=srv)
    s.send('<presence/>')
    s.received_within(REST * 1.6)           # resting now
    reply = s.iq('get', PING, to=DOMAIN, iq_id='after-rest')
    check(reply.get('type') == 'result', 'ping after the rest: %s'
          % describe(reply))
    s.received_within(REST * 1.6)
    s.send(" \n<iq type='get' id='split' to='%s'><ping xmlns='urn:xmpp:ping'"
           % DOMAIN)
    got = s.received_within(REST * 1.6)     # mid-stanza: nothing released
    check(got == [], 'before the stanza ended: %s'
          % ', '.join(describe(e) for e in got))
    s.send('/></iq>')
    reply = s.next(what='reply to the split ping')
    check(is_ping_result(reply, 'split'), 'split ping: %s' % describe(reply))
    s.received_within(REST * 1.6)
    s.send('</stream:stream>')
    s.expect_close()


@case('an idle stream is pinged after IdleTimeout, not at the rest, and'
      ' closed when the ping goes unanswered', 'XML-4', timeout=30)
async def test_idle_ping_after_rest(t):
    idle, ping_wait = 3, 2
    srv = t.server('idleping', users=('bob',),
                   limits={'IdleTimeout': idle, 'PingTimeout': ping_wait})
    srv.start()
    s = t.raw_session('bob', server=srv)
    for answer in (True, False):
        quiet_since = time.monotonic()
        ping = s.next(what='the server ping')
        waited = time.monotonic() - quiet_since
        check(ping.tag == '{%s}iq' % CLIENT and ping.get('type') == 'get'
              and ping.find('{urn:xmpp:ping}ping') is not None,
              'expected a ping, got %s' % describe(ping))
        check(waited >= idle - 0.5, 'pinged after %.1f s, IdleTimeout is %d'
              % (waited, idle))
        if answer:
            s.send("<iq type='result' id='%s' to='%s'/>"
                   % (ping.get('id'), ping.get('from')))
    s.expect_stream_error('connection-timeout')
