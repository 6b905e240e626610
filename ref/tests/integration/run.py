"""Runs the imref integration suite; see ci/run-integration.

usage: run.py --build DIR [-v] [FILTER...]
FILTER selects tests whose name or clause IDs contain it. Output: one
'ok N - name [IDS]' / 'not ok N - name [IDS]: reason' line per test, '#'
diagnostic lines after a failure, and last 'N passed, N failed'.
"""
import argparse
import asyncio
import logging
import os
import signal
import sys
import tempfile
import time
import traceback
import warnings

# slixmpp logs a warning at import time; keep stderr for real trouble.
logging.basicConfig(level=logging.CRITICAL, stream=sys.stderr)

import harness  # noqa: E402
from harness import SCALE, Failure, Server, describe_status  # noqa: E402
from suite import TESTS, Context, keep_dirs  # noqa: E402

import test_auth      # noqa: F401  (modules register their tests)
import test_security  # noqa: F401
import test_session   # noqa: F401
import test_im        # noqa: F401
import test_xml       # noqa: F401
import test_admin  # noqa: F401
import test_services  # noqa: F401
import test_config    # noqa: F401
import test_check     # noqa: F401
import test_s2s       # noqa: F401
import test_archive   # noqa: F401
import test_abuse     # noqa: F401
import test_idle      # noqa: F401


class Reporter:
    def __init__(self):
        self.number = 0
        self.passed = self.failed = 0

    def result(self, name, ids, reason=None, diagnostics=()):
        self.number += 1
        label = '%d - %s [%s]' % (self.number, name, ids)
        if reason is None:
            self.passed += 1
            print('ok ' + label, flush=True)
            return
        self.failed += 1
        print('not ok %s: %s' % (label, ' '.join(str(reason).split())[:400]),
              flush=True)
        for line in diagnostics:
            print('#   ' + line, flush=True)

    def summary(self):
        print('%d passed, %d failed' % (self.passed, self.failed),
              flush=True)


async def run_case(test, ctx):
    """Returns None on success or a failure reason."""
    try:
        await asyncio.wait_for(test.fn(ctx), test.timeout * SCALE)
        reason = None
    except Failure as e:
        reason = str(e)
    except asyncio.TimeoutError:
        reason = 'test timed out after %ds' % (test.timeout * SCALE)
    except Exception as e:  # a bug in the test or an unexpected reply
        reason = '%s: %s (%s)' % (type(e).__name__, e,
                                  traceback.extract_tb(e.__traceback__)[-1])
    problems = await ctx.cleanup()
    if reason is None and problems:
        reason = '; '.join(problems)
    return reason


STOP_CHECK = 'server %s exits 0 on SIGTERM (and valgrind found no error)'


async def run_group(fixture, tests, build, cert, report):
    """Runs tests against one shared server; a server that dies during a
    test fails that test and is started again for the next."""
    srv = None
    try:
        srv = Server(build, cert, fixture.name, **fixture.server_options)
        srv.start()
    except Failure as e:
        for test in tests:
            report.result(test.name, test.ids, 'server %s did not start: %s'
                          % (fixture.name, e),
                          srv.diagnostics() if srv else [])
        return
    clean = True
    for test in tests:
        if srv.proc is None:
            report.result(test.name, test.ids, 'not run: server %s could not'
                          ' be restarted' % fixture.name)
            continue
        ctx = Context(build, cert, srv)
        reason = await run_case(test, ctx)
        status = srv.exit_status()
        if status is not None:
            reason = 'imrefd %s during the test%s' % (
                describe_status(status), '; ' + reason if reason else '')
        report.result(test.name, test.ids, reason,
                      ctx.diagnostics() if reason else ())
        clean = clean and reason is None
        if status is not None:
            try:
                srv.start()
            except Failure:
                pass
    try:
        srv.stop()
        report.result(STOP_CHECK % fixture.name, '-')
    except Failure as e:
        report.result(STOP_CHECK % fixture.name, '-', e, srv.diagnostics())
        clean = False
    if clean and not keep_dirs():
        srv.remove()


def groups(tests):
    """[(fixture or None, [tests])] in order of first appearance; tests
    without a fixture each form their own group."""
    order = []
    by_fixture = {}
    for test in tests:
        if test.fixture is None:
            order.append((None, [test]))
        elif test.fixture in by_fixture:
            by_fixture[test.fixture].append(test)
        else:
            by_fixture[test.fixture] = [test]
            order.append((test.fixture, by_fixture[test.fixture]))
    return order


async def main(args):
    build = os.path.abspath(args.build)
    report = Reporter()
    missing = [b for b in ('imrefd', 'imrefctl')
               if not os.access(os.path.join(build, b), os.X_OK)]
    if missing:
        report.result('binaries built', '-', 'missing in %s: %s'
                      % (build, ', '.join(missing)))
        report.summary()
        return 1
    selected = [t for t in TESTS if not args.filters or any(
        f in t.name or f in t.ids for f in args.filters)]
    with tempfile.TemporaryDirectory(prefix='imref-it-cert-') as certdir:
        cert = harness.make_fixture_cert(certdir)
        for fixture, tests in groups(selected):
            if fixture is not None:
                await run_group(fixture, tests, build, cert, report)
                continue
            for test in tests:
                ctx = Context(build, cert)
                reason = await run_case(test, ctx)
                report.result(test.name, test.ids, reason,
                              ctx.diagnostics() if reason else ())
                if reason is None and not keep_dirs():
                    for srv in ctx.servers:
                        srv.remove()
    report.summary()
    return 1 if report.failed else 0


def quiet_asyncio(loop, context):
    """slixmpp leaves tasks behind when we abort clients; not our topic."""
    if args.verbose:
        loop.default_exception_handler(context)


if __name__ == '__main__':
    parser = argparse.ArgumentParser()
    parser.add_argument('--build', required=True)
    parser.add_argument('-v', '--verbose', action='store_true')
    parser.add_argument('filters', nargs='*')
    args = parser.parse_args()
    warnings.simplefilter('ignore')
    if args.verbose:
        logging.getLogger().setLevel(logging.DEBUG)
    started = time.monotonic()

    async def entry():
        asyncio.get_running_loop().set_exception_handler(quiet_asyncio)
        return await main(args)
    # Interrupted (SIGTERM, ^C, a closed stdout): stop our servers anyway.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        status = asyncio.run(entry())
    finally:
        harness.kill_started_servers()
    if args.verbose:
        print('# %.1fs' % (time.monotonic() - started), file=sys.stderr)
    sys.exit(status)
