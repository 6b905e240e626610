"""Message archiving (ARCH-1..4): what is archived and what is not, the
day files and their lines, the switch, path and failure policy at run
time, `imrefctl archive list|export`, federation, and a crash test that
kills imrefd with SIGKILL again and again while two clients talk."""
import os
import random
import re
import threading
import time
import xml.etree.ElementTree as ET

from harness import OTHER_DOMAIN, SCALE, VALGRIND, Failure, check
from rawxmpp import StreamClosed
from suite import case, jid
from test_admin import ctl, ok, ok_json
from xmppclient import is_error_reply, is_message

ARCHIVE_ON = {'Archive': {'XmppArchive': 1}}
LINE = re.compile(r'^\[(\d\d)/([A-Z][a-z]{2})/(\d{4}) (\d\d):(\d\d):(\d\d)\] '
                  r'(<message[ >].*</message>|<message[^>]*/>)$')


def archive_lines(srv, path=None):
    """(valid, unreadable): the parsed <message/> elements of every day
    file under ArchivePath/xmpp, in order, and the lines that are not
    archive lines (a torn last line after a crash)."""
    base = os.path.join(path or srv.path('archive'), 'xmpp')
    valid, unreadable = [], []
    if not os.path.isdir(base):
        return valid, unreadable
    for name in sorted(os.listdir(base)):
        check(re.fullmatch(r'\d{4}-\d\d-\d\d\.log', name),
              'unexpected file %s in %s' % (name, base))
        with open(os.path.join(base, name), 'rb') as f:
            data = f.read()
        pieces = data.split(b'\n')
        for n, raw in enumerate(pieces):
            if n == len(pieces) - 1:
                if raw:
                    unreadable.append(raw)      # no final newline: torn
                break
            text = raw.decode('utf-8')
            m = LINE.match(text)
            try:
                valid.append(ET.fromstring(m.group(7)) if m else None)
            except ET.ParseError:
                valid.append(None)
            if valid[-1] is None:
                valid.pop()
                unreadable.append(raw)
    return valid, unreadable


def bodies(elements):
    return [e.findtext('body') for e in elements]


async def wait_archived(srv, count, path=None, timeout=3):
    deadline = time.monotonic() + timeout * SCALE
    while True:
        valid, _ = archive_lines(srv, path)
        if len(valid) >= count or time.monotonic() > deadline:
            return valid
        time.sleep(0.05)


@case('archive on: local and offline messages archived once, in the day'
      ' file, as routed; refused, bodiless and error messages not',
      'ARCH-1 ARCH-2 ARCH-3 DOM-5 IM-1', timeout=20)
async def test_archived_once(t):
    srv = t.server('arch', users=('alice', 'bob', 'dave'), tables=ARCHIVE_ON)
    srv.add_user('carol', OTHER_DOMAIN)
    srv.start()
    alice = await t.online('alice', server=srv)
    bob = await t.online('bob', server=srv)
    body = "Grüße 👋\nzweite Zeile\r\twith <tags> & 'quotes'"
    # a raw CR would be read as LF (XML end-of-line handling): send &#13;
    alice.send_xml("<message to='%s' type='chat' id='a1'><body>%s</body>"
                   "</message>" % (jid('bob'), body.replace('&', '&amp;')
                                   .replace('<', '&lt;').replace('>', '&gt;')
                                   .replace('\r', '&#13;')))
    got = await bob.inbox.take(is_message(frm=jid('alice')), 'the message')
    check(got.findtext('{jabber:client}body') == body,
          'body changed on the way: %r' % got.findtext('{jabber:client}body'))
    alice.send_message(jid('carol', OTHER_DOMAIN), 'refused')   # SendOutside 0
    await alice.inbox.take(is_error_reply('not-allowed'), 'the DOM-5 error')
    alice.send_xml("<message to='%s' type='chat'><active xmlns="
                   "'http://jabber.org/protocol/chatstates'/></message>"
                   % jid('bob'))
    alice.send_message(jid('dave'), 'kept for later')           # offline
    dave = await t.online('dave', server=srv)
    await dave.inbox.take(is_message(body='kept for later'), 'offline message')
    valid, unreadable = archive_lines(srv)
    check(bodies(valid) == [body, 'kept for later'] and not unreadable,
          'archive holds %r, unreadable %r' % (bodies(valid), unreadable))
    first = valid[0]
    check(first.get('from', '').startswith(jid('alice') + '/') and
          first.get('to') == jid('bob') and first.get('id') == 'a1',
          'line as routed: %s' % ET.tostring(first, encoding='unicode'))
    today = time.strftime('%Y-%m-%d.log')
    check(os.listdir(srv.path('archive', 'xmpp')) == [today],
          'day files: %s (expected %s)' % (
              os.listdir(srv.path('archive', 'xmpp')), today))


@case('XmppArchive, ArchivePath and ArchiveFailurePolicy through imrefctl'
      ' settings, at once and persisted', 'ARCH-1 ADM-3', timeout=20)
async def test_archive_settings(t):
    srv = t.server('archset', users=('alice', 'bob'))
    srv.start()
    alice = await t.online('alice', server=srv)
    bob = await t.online('bob', server=srv)

    async def say(text):
        alice.send_message(jid('bob'), text)
        await bob.inbox.take(is_message(body=text), text)

    await say('before')
    check(archive_lines(srv) == ([], []), 'archived while the switch is off')
    settings = await ok_json(srv, 'settings', 'set', 'XmppArchive', '1')
    check(settings['XmppArchive'] == 1, 'settings set replied %r' % settings)
    await say('during')
    await ok(srv, 'settings', 'set', 'ArchivePath', 'elsewhere')
    await say('moved')
    check(bodies(archive_lines(srv)[0]) == ['during'] and
          bodies(archive_lines(srv, srv.path('elsewhere'))[0]) == ['moved'],
          'archives: %r and %r' % (bodies(archive_lines(srv)[0]), bodies(
              archive_lines(srv, srv.path('elsewhere'))[0])))
    await ok(srv, 'settings', 'set', 'ArchiveFailurePolicy', 'deliver')
    res = await ctl(srv, 'settings', 'set', 'ArchiveFailurePolicy', 'maybe')
    check(res.status == 1 and 'refuse or deliver' in res.err, str(res))
    srv.stop()
    srv.start()
    settings = await ok_json(srv, 'settings', 'get')
    check(settings['XmppArchive'] == 1 and settings['ArchivePath'] ==
          srv.path('elsewhere') and settings['ArchiveFailurePolicy'] ==
          'deliver', 'settings after a restart: %r' % settings)


@case('an archive that cannot be written: messages refused with'
      ' <resource-constraint/> (refuse) or delivered (deliver), an Error-log'
      ' line either way', 'ARCH-1 ARCH-3 LOG-2', timeout=20)
async def test_unwritable_archive(t):
    srv = t.server('archfail', users=('alice', 'bob'), tables=ARCHIVE_ON)
    os.makedirs(srv.path('archive'))
    with open(srv.path('archive', 'xmpp'), 'w') as f:   # not a directory:
        f.write('in the way\n')                         # even root fails
    srv.start()
    alice = await t.online('alice', server=srv)
    bob = await t.online('bob', server=srv)
    alice.send_message(jid('bob'), 'not archived, not delivered')
    err = await alice.inbox.take(is_error_reply('resource-constraint'),
                                 'the refusal')
    check(err.find('{jabber:client}error').get('type') == 'wait',
          'error type %s' % ET.tostring(err, encoding='unicode'))
    line = srv.wait_log('error', r'Archive: cannot write .*refused')
    await ok(srv, 'settings', 'set', 'ArchiveFailurePolicy', 'deliver')
    alice.send_message(jid('bob'), 'delivered unarchived')
    await bob.inbox.take(is_message(body='delivered unarchived'), 'delivery')
    check(not bob.inbox.pending(is_message(body='not archived, not delivered')),
          'the refused message reached bob')
    srv.wait_log('error', r'delivered unarchived')
    check('xmpp' in line, 'error line names the path: %s' % line)


def write_day(srv, name, lines):
    base = srv.path('archive', 'xmpp')
    os.makedirs(base, exist_ok=True)
    with open(os.path.join(base, name), 'w') as f:
        f.write(lines)


@case('imrefctl archive list and export: day files, counts, a date range'
      ' as one file, torn lines skipped, bad dates refused', 'ARCH-4',
      timeout=20)
async def test_archive_list_export(t):
    srv = t.server('archctl', users=('alice', 'bob'), tables=ARCHIVE_ON)
    old = ("[02/Jan/2026 10:00:00] <message from='a@x/r' to='b@x'>"
           "<body>one</body></message>\n"
           "[02/Jan/2026 10:00:01] <message from='a@x/r' to='b@x'>"
           "<body>two</body></message>\n"
           "[02/Jan/2026 10:00:02] <message from='a@x/r' to='b@x'><bo")
    write_day(srv, '2026-01-02.log', old)
    write_day(srv, '2026-02-10.log', "[10/Feb/2026 09:00:00] <message "
              "from='a@x/r' to='b@x'><body>three</body></message>\n")
    write_day(srv, 'notes.txt', 'not a day file\n')
    srv.start()
    alice = await t.online('alice', server=srv)
    bob = await t.online('bob', server=srv)
    alice.send_message(jid('bob'), 'today')
    await bob.inbox.take(is_message(body='today'), 'today')
    today = time.strftime('%Y-%m-%d')
    rows = await ok_json(srv, 'archive', 'list')
    check([(r['file'], r['messages'], r['skipped']) for r in rows] ==
          [('2026-01-02.log', 2, 1), ('2026-02-10.log', 1, 0),
           (today + '.log', 1, 0)], 'archive list: %r' % rows)
    out = srv.path('export.log')
    res = await ok(srv, 'archive', 'export', '--from', '2026-01-01', '--to',
                   '2026-02-28', '-o', out)
    check('exported 3 messages' in res.out and '1 unreadable' in res.out,
          str(res))
    with open(out) as f:
        exported = f.read().splitlines()
    check([re.search(r'<body>(\w+)</body>', l).group(1) for l in exported]
          == ['one', 'two', 'three'], 'export: %r' % exported)
    res = await ctl(srv, 'archive', 'export', '--from', today, '--to', today)
    check(res.status == 0 and res.out.count('\n') == 1 and 'today' in res.out
          and 'exported 1 messages' in res.err, str(res))
    for bad in (('2026-13-01', '2026-12-31'), ('2026-02-30', '2026-03-01'),
                ('2026-03-01', '2026-02-01'), ('yesterday', today)):
        res = await ctl(srv, 'archive', 'export', '--from', bad[0], '--to',
                        bad[1], '-o', out + '2')
        check(res.status == 2 and not os.path.exists(out + '2'),
              'bad range %s: %s' % (bad, res))


@case('federation: each server archives the message once, the sender\'s'
      ' local to remote, the recipient\'s remote to local', 'ARCH-1 S2S-4',
      timeout=40)
async def test_archive_federated(t):
    from test_s2s import Federation, exchange
    fed = Federation(t, tables=ARCHIVE_ON)
    try:
        fed.start()
        await exchange(fed)
        for srv in (fed.a, fed.b):
            valid = await wait_archived(srv, 2)
            check(sorted(bodies(valid)) == ['and back', 'over the wall'],
                  '%s archived %r' % (srv.name, bodies(valid)))
    finally:
        fed.close()


CRASH_ROUNDS = 5 if VALGRIND else 50


def crash_round(srv, sent, received, rng):
    """alice and bob (raw sessions) send numbered messages to each other
    until imrefd is killed with SIGKILL at a random moment."""
    streams = {}
    for user in ('alice', 'bob'):
        streams[user] = t_raw_session(srv, user)
    killer = threading.Timer(rng.uniform(0.05, 0.4) * SCALE, srv.proc.kill)
    killer.start()
    peer = {'alice': 'bob', 'bob': 'alice'}
    try:
        while True:
            for user, stream in streams.items():
                text = 'm%d' % len(sent)
                sent.append(text)
                stream.send("<message to='%s' type='chat'><body>%s</body>"
                            "</message>" % (jid(peer[user]), text))
            for stream in streams.values():
                while True:
                    try:
                        element = stream.next(timeout=0.02)
                    except StreamClosed:
                        raise
                    except Failure:
                        break                   # nothing more for now
                    body = element.findtext('{jabber:client}body')
                    if element.tag == '{jabber:client}message' and body:
                        received.append(body)
    except (StreamClosed, OSError):
        pass
    finally:
        killer.cancel()
        for stream in streams.values():
            stream.close()
        srv.proc.wait()
        srv._reap()


def t_raw_session(srv, user):
    from rawxmpp import RawStream
    from harness import password_of
    stream = RawStream(srv.ports['xmpp'], srv.path('cert.pem'), timeout=5)
    stream.open()
    stream.starttls()
    stream.open()
    reply = stream.auth_plain(user, password_of(user))
    check(reply.tag.endswith('}success'), 'login of %s failed' % user)
    stream.open()
    stream.bind('crash')
    stream.send("<presence/>")
    return stream


@case('kill -9 at random moments while two clients talk: every message a'
      ' client received is in the archive exactly once, and every file reads',
      'ARCH-3', timeout=600)
async def test_archive_crash(t):
    srv = t.server('archcrash', users=('alice', 'bob'), tables=ARCHIVE_ON,
                   wait_for=('xmpp',))
    rng = random.Random(7)
    sent, received = [], []
    for _ in range(CRASH_ROUNDS):
        srv.start()
        crash_round(srv, sent, received, rng)
    valid, unreadable = archive_lines(srv)
    archived = bodies(valid)
    missing = [b for b in received if b not in archived]
    twice = sorted({b for b in archived if archived.count(b) > 1})
    check(not missing, '%d received messages not archived: %s'
          % (len(missing), missing[:10]))
    check(not twice, 'archived more than once: %s' % twice[:10])
    check(len(unreadable) <= CRASH_ROUNDS, '%d unreadable lines for %d'
          ' crashes' % (len(unreadable), CRASH_ROUNDS))
    check(set(archived) <= set(sent), 'archived messages nobody sent')
    report = 'crash test: %d rounds, %d sent, %d received, %d archived, %d' \
             ' torn lines skipped' % (CRASH_ROUNDS, len(sent), len(received),
                                      len(archived), len(unreadable))
    with open(os.path.join(os.environ.get('IMREF_REPORT_DIR', srv.dir),
                           'archive-crash.txt'), 'w') as f:
        f.write(report + '\n')
    print('# ' + report)
    check(len(received) >= CRASH_ROUNDS, 'too few messages got through'
          ' to mean anything: %s' % report)
