"""Core IM: roster, subscriptions, presence, routing, offline storage,
stanza errors and server features (IM-1..IM-6)."""
import asyncio
import datetime
import re

from fixtures import DEFAULT
from harness import DOMAIN, check
from rawxmpp import describe, stanza_error
from suite import case, jid
from xmppclient import (CLIENT, ROSTER, error_condition, is_message,
                        is_presence, is_roster_push, roster_items)

DELAY = 'urn:xmpp:delay'
DISCO_INFO = 'http://jabber.org/protocol/disco#info'
DISCO_ITEMS = 'http://jabber.org/protocol/disco#items'


# -- roster ------------------------------------------------------------
async def roster_get(client, ver=None):
    ver_attr = " ver='%s'" % ver if ver is not None else ''
    reply = await client.iq('get',
                            "<query xmlns='%s'%s/>" % (ROSTER, ver_attr))
    check(reply.get('type') == 'result', 'roster get: %s' % describe(reply))
    return reply


def roster_ver(element):
    query = element.find('{%s}query' % ROSTER)
    return query.get('ver') if query is not None else None


@case('roster get, set with pushes to every resource, versioning, remove',
      'IM-3', DEFAULT)
async def test_roster(t):
    first = await t.online('erin', 'first')
    second = await t.online('erin', 'second')
    check('rosterver' in first.features, 'roster versioning not advertised')
    empty = await roster_get(first, ver='')
    check(not roster_items(empty), 'new roster not empty: %s'
          % describe(empty))
    check(roster_ver(empty) is not None, 'roster result without ver: %s'
          % describe(empty))
    await roster_get(second)
    xavier = jid('xavier')
    reply = await first.iq('set', "<query xmlns='%s'><item jid='%s' name='X'>"
                           "<group>Friends</group></item></query>"
                           % (ROSTER, xavier))
    check(reply.get('type') == 'result', 'roster set: %s' % describe(reply))
    for client in (first, second):
        push = await client.wait(is_roster_push(xavier, 'none'),
                                 'roster push adding xavier')
        item = roster_items(push)[0]
        check(item.get('name') == 'X' and item.findtext(
            '{%s}group' % ROSTER) == 'Friends', 'push item %s'
            % describe(push))
        check(roster_ver(push) not in (None, roster_ver(empty)),
              'push ver %r (empty roster had %r)'
              % (roster_ver(push), roster_ver(empty)))
        current = roster_ver(push)
    unchanged = await roster_get(first, ver=current)
    check(len(unchanged) == 0, 'get with the current ver should be an empty'
          ' result: %s' % describe(unchanged))
    full = await roster_get(first, ver='')
    check([i.get('jid') for i in roster_items(full)] == [xavier],
          'roster: %s' % describe(full))
    await first.iq('set', "<query xmlns='%s'><item jid='%s' "
                   "subscription='remove'/></query>" % (ROSTER, xavier))
    for client in (first, second):
        await client.wait(is_roster_push(xavier, 'remove'),
                          "roster push with subscription='remove'")
    check(not roster_items(await roster_get(first)), 'xavier not removed')


# -- subscriptions and presence -----------------------------------------
async def subscribe(user, contact):
    """user asks for contact's presence; contact approves. Both first
    request the roster, as clients do: the approval goes to the user's
    interested resources (RFC 6121 3.1.6)."""
    for client in (user, contact):
        await roster_get(client)
    user_jid, contact_jid = user.boundjid.bare, contact.boundjid.bare
    user.send_presence_xml(to=contact_jid, ptype='subscribe')
    await contact.wait(is_presence(user_jid, 'subscribe', exact=True),
                       'subscription request from %s' % user_jid)
    contact.send_presence_xml(to=user_jid, ptype='subscribed')
    await user.wait(is_presence(contact_jid, 'subscribed', exact=True),
                    'subscription approval from %s' % contact_jid)


@case('subscription handshake both ways with roster pushes and presence',
      'IM-2 IM-3', DEFAULT)
async def test_subscription(t):
    frank = await t.online('frank', 'pc')
    grace = await t.online('grace', 'pc')
    f, g = jid('frank'), jid('grace')
    for client in (frank, grace):
        await roster_get(client)
    frank.send_presence_xml(to=g, ptype='subscribe')
    await frank.wait(is_roster_push(g, 'none', ask='subscribe'),
                     "frank's push: grace none, ask=subscribe")
    await grace.wait(is_presence(f, 'subscribe', exact=True),
                     'subscribe from frank (bare JID)')
    grace.send_presence_xml(to=f, ptype='subscribed')
    await grace.wait(is_roster_push(f, 'from'), "grace's push: frank from")
    await frank.wait(is_roster_push(g, 'to'), "frank's push: grace to")
    await frank.wait(is_presence(g, 'subscribed', exact=True),
                     'subscribed from grace')
    await frank.wait(is_presence(g + '/pc'), "grace's current presence")

    grace.send_presence_xml(to=f, ptype='subscribe')
    await grace.wait(is_roster_push(f, 'from', ask='subscribe'),
                     "grace's push: frank from, ask=subscribe")
    await frank.wait(is_presence(g, 'subscribe', exact=True),
                     'subscribe from grace')
    frank.send_presence_xml(to=g, ptype='subscribed')
    await frank.wait(is_roster_push(g, 'both'), "frank's push: grace both")
    await grace.wait(is_roster_push(f, 'both'), "grace's push: frank both")
    await grace.wait(is_presence(f + '/pc'), "frank's current presence")

    frank.send_presence_xml(status='frank busy')
    await grace.wait(is_presence(f + '/pc', status='frank busy'),
                     "frank's presence broadcast")
    grace.send_presence_xml(status='grace away')
    await frank.wait(is_presence(g + '/pc', status='grace away'),
                     "grace's presence broadcast")


@case('unsubscribe and cancel: roster pushes on both sides, unavailable'
      ' presence to the other side', 'IM-2 IM-3', DEFAULT)
async def test_unsubscribe(t):
    victor = await t.online('victor', 'pc')
    wendy = await t.online('wendy', 'pc')
    v, w = jid('victor'), jid('wendy')
    for client in (victor, wendy):
        await roster_get(client)
    await subscribe(victor, wendy)
    await subscribe(wendy, victor)
    await victor.wait(is_roster_push(w, 'both'), "victor's push: wendy both")
    await wendy.wait(is_roster_push(v, 'both'), "wendy's push: victor both")

    victor.send_presence_xml(to=w, ptype='unsubscribe')
    await victor.wait(is_roster_push(w, 'from'), "victor's push: wendy from")
    await wendy.wait(is_presence(v, 'unsubscribe', exact=True),
                     'unsubscribe from victor')
    await wendy.wait(is_roster_push(v, 'to'), "wendy's push: victor to")

    victor.send_presence_xml(to=w, ptype='unsubscribed')
    await victor.wait(is_roster_push(w, 'none'), "victor's push: wendy none")
    await wendy.wait(is_presence(v, 'unsubscribed', exact=True),
                     'unsubscribed from victor')
    await wendy.wait(is_roster_push(v, 'none'), "wendy's push: victor none")
    await wendy.wait(is_presence(v + '/pc', 'unavailable'),
                     "victor's unavailable after he cancelled wendy's"
                     " subscription (RFC 6121 3.2.2)")
    await victor.wait(is_presence(w + '/pc', 'unavailable'),
                      "wendy's unavailable after victor unsubscribed"
                      " (RFC 6121 3.3.3)")


@case('presence unavailable on disconnect (clean and abrupt)', 'IM-2',
      DEFAULT)
async def test_unavailable_on_disconnect(t):
    heidi = await t.online('heidi', 'one')
    ivan = await t.online('ivan', 'pc')
    await subscribe(ivan, heidi)
    await ivan.wait(is_presence(jid('heidi') + '/one'), "heidi's presence")
    await heidi.disconnect()
    await ivan.wait(is_presence(jid('heidi') + '/one', 'unavailable'),
                    'unavailable after a clean close')
    heidi = await t.online('heidi', 'two')
    await ivan.wait(is_presence(jid('heidi') + '/two'), "heidi/two online")
    heidi.close()
    await ivan.wait(is_presence(jid('heidi') + '/two', 'unavailable'),
                    'unavailable after the TCP connection dropped')


@case('directed presence reaches a non-subscriber; unavailable follows on'
      ' disconnect', 'IM-2', DEFAULT)
async def test_directed_presence(t):
    judy = await t.online('judy', 'j')
    kim = await t.online('kim', 'k')
    judy_full = jid('judy') + '/j'
    judy.send_presence_xml(to=jid('kim'), status='just for kim')
    await kim.wait(is_presence(judy_full, status='just for kim'),
                   'directed presence')
    judy.send_presence_xml(status='broadcast')
    await judy.sync()
    await kim.sync()
    check(not kim.inbox.pending(is_presence(judy_full, status='broadcast')),
          'broadcast presence reached a non-subscriber')
    judy.close()
    await kim.wait(is_presence(judy_full, 'unavailable'),
                   'unavailable to the directed-presence recipient')


# -- message routing -----------------------------------------------------
@case('message to a full JID and to a bare JID', 'IM-1', DEFAULT)
async def test_message_full_and_bare(t):
    mia = await t.online('mia', 'one')
    leo = await t.online('leo', 'x')
    leo.send_message(jid('mia') + '/one', 'to full')
    await mia.wait(is_message(jid('leo') + '/x', 'to full'),
                   'message to the full JID (from stamped with full JID)')
    leo.send_message(jid('mia'), 'to bare')
    await mia.wait(is_message(jid('leo') + '/x', 'to bare'),
                   'message to the bare JID')


async def nothing_arrived(sender, receiver, predicate, what):
    await sender.sync()
    await receiver.sync()
    check(not receiver.inbox.pending(predicate),
          '%s at %s' % (what, receiver.boundjid))


@case('bare-JID message goes to the highest priority resource only',
      'IM-1', DEFAULT)
async def test_priorities(t):
    high = await t.online('nick', 'high', priority=5)
    low = await t.online('nick', 'low', priority=1)
    leo = await t.online('leo', 'prio')
    leo.send_message(jid('nick'), 'to nick')
    await high.wait(is_message(body='to nick'), 'message at priority 5')
    await nothing_arrived(leo, low, is_message(body='to nick'),
                          'bare-JID message delivered to the lower priority')
    leo.send_message(jid('nick') + '/low', 'to low')
    await low.wait(is_message(body='to low'), 'full-JID message at low')


@case('bare-JID message goes to all resources of equal highest priority',
      'IM-1', DEFAULT)
async def test_equal_priorities(t):
    first = await t.online('quinn', 'a', priority=3)
    second = await t.online('quinn', 'b', priority=3)
    leo = await t.online('leo', 'eq')
    leo.send_message(jid('quinn'), 'to both')
    for client in (first, second):
        await client.wait(is_message(body='to both'), 'message at equal'
                          ' priority')


def check_delay(message, sent_after):
    delay = message.find('{%s}delay' % DELAY)
    check(delay is not None, 'no <delay/>: %s' % describe(message))
    check(delay.get('from') == DOMAIN, "delay from=%r" % delay.get('from'))
    stamp = delay.get('stamp') or ''
    check(re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z', stamp),
          'delay stamp %r is not UTC XEP-0082' % stamp)
    when = datetime.datetime.strptime(stamp[:19], '%Y-%m-%dT%H:%M:%S')
    when = when.replace(tzinfo=datetime.timezone.utc)
    check(sent_after - datetime.timedelta(seconds=2) <= when
          <= datetime.datetime.now(datetime.timezone.utc),
          'delay stamp %s not the time it was sent (%s)' % (stamp,
                                                            sent_after))


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


@case('negative priority gets no bare-JID message; it is stored offline',
      'IM-1 IM-4', DEFAULT)
async def test_negative_priority(t):
    negative = await t.online('olga', 'neg', priority=-1)
    pat = await t.online('pat', 'p')
    sent = utc_now()
    pat.send_message(jid('olga'), 'while negative')
    await nothing_arrived(pat, negative, is_message(body='while negative'),
                          'bare-JID message delivered at priority -1')
    pat.send_message(jid('olga') + '/neg', 'full to negative')
    await negative.wait(is_message(body='full to negative'),
                        'full-JID message at priority -1')
    positive = await t.online('olga', 'pos', priority=1)
    message = await positive.wait(is_message(body='while negative'),
                                  'stored message on available presence')
    check_delay(message, sent)


@case('offline messages delivered on next login with <delay/>, in order',
      'IM-4', DEFAULT)
async def test_offline_messages(t):
    sam = await t.online('sam', 's')
    sent = utc_now()
    bodies = ['first', 'second', 'third']
    for body in bodies:
        sam.send_message(jid('rob'), body)
    sam.send_message(jid('rob'), 'normal one', mtype='normal')
    sam.send_message(jid('rob'), 'news', mtype='headline')
    await sam.sync()
    rob = await t.login('rob', 'r')
    await rob.sync()
    check(not rob.inbox.pending(is_message()),
          'offline messages delivered before available presence')
    rob.send_presence_xml()
    got = [await rob.wait(is_message(), 'offline message %d' % (i + 1))
           for i in range(4)]
    check([m.findtext('{%s}body' % CLIENT) for m in got]
          == bodies + ['normal one'],
          'offline messages in order %s' % [m.findtext('{%s}body' % CLIENT)
                                            for m in got])
    for message in got:
        check(message.get('from') == jid('sam') + '/s',
              'offline message from=%r' % message.get('from'))
        check_delay(message, sent)
    await rob.sync()
    check(not rob.inbox.pending(is_message(body='news')),
          'headline message was stored offline')
    rob.close()
    again = await t.online('rob', 'r2')
    check(not again.inbox.pending(is_message()),
          'offline messages delivered twice')


async def offline_after(t, stop_and_start):
    srv = t.server('offline', users=('sam', 'rob'))
    srv.start()
    sam = await t.online('sam', server=srv)
    sent = utc_now()
    sam.send_message(jid('rob'), 'kept')
    await sam.sync()
    await stop_and_start(srv)
    rob = await t.online('rob', server=srv)
    check_delay(await rob.wait(is_message(body='kept'),
                               'stored message after the restart'), sent)


@case('offline message survives a restart (SIGTERM, start)', 'IM-4')
async def test_offline_survives_restart(t):
    async def restart(srv):
        srv.stop()
        srv.start()
    await offline_after(t, restart)


@case('offline message survives kill -9 of the server', 'IM-4')
async def test_offline_survives_kill(t):
    async def crash(srv):
        await asyncio.sleep(0.5)
        srv.kill9()
        srv.start()
    await offline_after(t, crash)


# -- stanza errors and server features ----------------------------------
@case('stanza errors: unknown user, unknown namespace; exactly one reply'
      ' per iq', 'IM-5', DEFAULT)
async def test_stanza_errors(t):
    s = t.raw_session('tina')
    nobody = jid('nobody')
    expected = {
        'msg-unknown': ('message', nobody, 'service-unavailable'),
        'iq-domain-ns': ('get', DOMAIN, 'service-unavailable'),
        'iq-domain-set': ('set', DOMAIN, 'service-unavailable'),
        'iq-own-ns': ('get', None, 'service-unavailable'),
        'iq-unknown-user': ('get', nobody, 'service-unavailable'),
        'iq-gone-resource': ('get', jid('alice') + '/nowhere',
                             'service-unavailable'),
    }
    for stanza_id, (kind, to, _) in expected.items():
        to_attr = " to='%s'" % to if to else ''
        if kind == 'message':
            s.send("<message id='%s'%s type='chat'><body>x</body></message>"
                   % (stanza_id, to_attr))
        else:
            s.send("<iq type='%s' id='%s'%s><query xmlns='urn:example:none'/>"
                   "</iq>" % (kind, stanza_id, to_attr))
    s.send("<presence to='%s' type='subscribe'/>" % nobody)
    reply = s.iq('get', "<ping xmlns='urn:xmpp:ping'/>", to=DOMAIN,
                 iq_id='barrier')
    check(reply.get('type') == 'result', 'ping: %s' % describe(reply))
    received = s.skipped + s.received_within(0.3)
    replies = {}
    for element in received:
        replies.setdefault(element.get('id'), []).append(element)
    for stanza_id, (kind, to, condition) in expected.items():
        got = replies.get(stanza_id, [])
        check(len(got) == 1, '%s (%s to %s): %d replies'
              % (stanza_id, kind, to, len(got)))
        check(got[0].get('type') == 'error'
              and error_condition(got[0]) == condition,
              '%s: %s, expected <%s/>' % (stanza_id, describe(got[0]),
                                          condition))
        check(stanza_error(got[0])[0] == 'cancel', '%s: error type %s,'
              ' expected cancel' % (stanza_id, stanza_error(got[0])[0]))
    extra = [describe(e) for e in received
             if e.get('id') not in expected]
    check(not extra, 'unexpected stanzas (presence to an unknown user must'
          ' be dropped): %s' % extra)


@case('disco#info/items, ping, version, vcard of another user', 'IM-6',
      DEFAULT)
async def test_server_features(t):
    uma = await t.login('uma')
    info = await uma.iq('get', "<query xmlns='%s'/>" % DISCO_INFO, to=DOMAIN)
    check(info.get('type') == 'result', 'disco#info: %s' % describe(info))
    query = info.find('{%s}query' % DISCO_INFO)
    identities = [(i.get('category'), i.get('type'))
                  for i in query.findall('{%s}identity' % DISCO_INFO)]
    check(('server', 'im') in identities, 'identities %s' % identities)
    features = {f.get('var') for f in query.findall('{%s}feature'
                                                    % DISCO_INFO)}
    for needed in (DISCO_INFO, 'urn:xmpp:ping', 'jabber:iq:version'):
        check(needed in features, 'disco#info lacks %s: %s'
              % (needed, sorted(features)))
    for to, ns in ((DOMAIN, DISCO_ITEMS), (jid('alice'), DISCO_INFO)):
        reply = await uma.iq('get', "<query xmlns='%s'/>" % ns, to=to)
        check(reply.get('type') == 'result', '%s to %s: %s'
              % (ns, to, describe(reply)))
    ping = await uma.iq('get', "<ping xmlns='urn:xmpp:ping'/>", to=DOMAIN)
    check(ping.get('type') == 'result', 'ping: %s' % describe(ping))
    # No 'to', or the own bare JID: the server answers for the account
    # (RFC 6120 10.5.3, XEP-0199 4.3).
    for to in (None, jid('uma')):
        ping = await uma.iq('get', "<ping xmlns='urn:xmpp:ping'/>", to=to)
        check(ping.get('type') == 'result', 'ping to %s: %s' % (to, describe(ping)))
    version = await uma.iq('get', "<query xmlns='jabber:iq:version'/>",
                           to=DOMAIN)
    check(version.get('type') == 'result'
          and version.findtext('{jabber:iq:version}query/'
                               '{jabber:iq:version}name')
          and version.findtext('{jabber:iq:version}query/'
                               '{jabber:iq:version}version'),
          'version: %s' % describe(version))
    for to, full_name in ((jid('alice'), 'Alice Example'),
                          (None, 'Uma Example')):
        vcard = await uma.iq('get', "<vCard xmlns='vcard-temp'/>", to=to)
        check(vcard.findtext('{vcard-temp}vCard/{vcard-temp}FN') == full_name,
              'vcard of %s: %s' % (to or 'self', describe(vcard)))


# -- the automatic contact list (ROST) --------------------------------------
def item_jids(reply):
    return sorted(item.get('jid') for item in roster_items(reply))


@case('Colleagues: a removed colleague stays removed across a restart and a '
      'kill -9 of the server; MaximumRoster=0 turns the list off',
      'ROST-1 ROST-4 ROST-6')
async def test_colleagues_survive_restart(t):
    srv = t.server('colleagues', users=('uma', 'victor', 'wendy'),
                   maximum_roster=300)
    srv.start()
    uma = await t.online('uma', server=srv)
    check(item_jids(await roster_get(uma)) == [jid('victor'), jid('wendy')],
          'colleagues of uma: %s' % item_jids(await roster_get(uma)))
    reply = await uma.iq('set', "<query xmlns='%s'><item jid='%s' "
                         "subscription='remove'/></query>"
                         % (ROSTER, jid('victor')))
    check(reply.get('type') == 'result', 'remove: %s' % describe(reply))
    uma.close()
    for stop_and_start in ('restart', 'kill -9'):
        if stop_and_start == 'restart':
            srv.stop()
        else:
            srv.kill9()
        srv.start()
        uma = await t.online('uma', server=srv)
        check(item_jids(await roster_get(uma)) == [jid('wendy')],
              'after a %s uma sees %s' % (stop_and_start,
                                         item_jids(await roster_get(uma))))
        uma.close()
    # The same users with MaximumRoster=0: no automatic list at all.
    off = t.server('nocolleagues', users=('uma', 'victor'), maximum_roster=0)
    off.start()
    uma = await t.online('uma', server=off)
    check(item_jids(await roster_get(uma)) == [],
          'MaximumRoster=0 roster: %s' % item_jids(await roster_get(uma)))
