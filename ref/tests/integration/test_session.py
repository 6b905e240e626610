"""Resource binding, sessions, conflicts and JID checks (BIND-1..3)."""
from fixtures import DEFAULT
from harness import DOMAIN, check
from rawxmpp import describe
from suite import case, jid
from xmppclient import error_condition

SESSION = 'urn:ietf:params:xml:ns:xmpp-session'


@case('bind a chosen and a server-generated resource; legacy session iq',
      'BIND-1', DEFAULT)
async def test_bind(t):
    chosen = await t.login('bob', 'desk')
    check(chosen.boundjid.full == jid('bob') + '/desk',
          'asked /desk, bound %s' % chosen.boundjid.full)
    generated = await t.login('bob')
    check(generated.boundjid.bare == jid('bob')
          and generated.boundjid.resource
          and generated.boundjid.resource != 'desk',
          'server-generated resource: bound %s' % generated.boundjid.full)
    reply = await generated.iq('set', "<session xmlns='%s'/>" % SESSION)
    check(reply.get('type') == 'result', 'legacy session iq: %s'
          % describe(reply))
    # both sessions live: each gets a message to its full JID
    for client in (chosen, generated):
        await client.go_online()
    chosen.send_message(generated.boundjid.full, 'to generated')
    await generated.wait(lambda e: e.findtext('{jabber:client}body')
                         == 'to generated', 'message to generated resource')


@case('duplicate resource: the old session gets <conflict/>', 'BIND-2',
      DEFAULT)
async def test_resource_conflict(t):
    old = await t.online('carol', 'phone')
    new = await t.login('carol', 'phone')
    condition = await old.wait_stream_error()
    check(condition == 'conflict', 'old session got <%s/>' % condition)
    await old.wait_disconnected()
    check(new.boundjid.full == jid('carol') + '/phone',
          'new session bound %s' % new.boundjid.full)
    await new.sync()


@case('a message to an invalid JID gets <jid-malformed/>', 'BIND-3',
      DEFAULT)
async def test_jid_malformed(t):
    s = t.raw_session('dave')
    for bad in ('bad user@' + DOMAIN, 'x' * 1024 + '@' + DOMAIN,
                'dave@' + DOMAIN + '/' + 'r' * 1024, 'a@b@' + DOMAIN):
        s.send("<message to='%s' id='bad' type='chat'><body>x</body>"
               "</message>" % bad)
        reply = s.next(what='error for to=%r' % bad[:40])
        check(reply.get('type') == 'error'
              and error_condition(reply) == 'jid-malformed',
              'to=%r: got %s' % (bad[:40], describe(reply)))
