/* runner: runs ONE parsed scenario against a target and returns its result
 * (SPEC CONF-1..4): pass, fail with a diagnostic, or skip with a reason.
 * Clients are reached only through a runner_driver (production: xclient;
 * tests: a fake), so the step logic is testable without a server. The
 * scenario, target and driver are borrowed; the result's strings belong to
 * the caller (runner_result_free). Hooks run as /bin/sh -c children. */
#ifndef IMCONFORM_RUNNER_H
#define IMCONFORM_RUNNER_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "scs.h"
#include "target.h"
#include "xclient.h"

/* Semantics of the steps (CONF-2, CONF-3):
 * - Skips, checked first: the target's skip list (reason as written), then
 *   each `requires:` capability the target lacks ("requires X, which target
 *   NAME lacks"). A skipped scenario runs no hook and opens no connection.
 * - Hooks: the target's setup hook runs before the first step, the teardown
 *   hook after the last step, even when a step failed (after every client is
 *   closed). Environment: IMCONFORM_SCENARIO (script path), IMCONFORM_TARGET
 *   (profile path), IMCONFORM_ACCOUNTS ("JID PASSWORD" per client, one a
 *   line, JIDs after domain mapping). Output (stdout+stderr, the last
 *   RUNNER_HOOK_OUTPUT_MAX bytes) is shown on failure. A failing setup fails
 *   the scenario without running steps; a failing teardown fails a scenario
 *   that had passed. `Admin runs: ARGS` runs "<admin> ARGS" (ARGS expanded,
 *   then split by the shell); `Admin fails: ARGS` likewise but must exit
 *   non-zero; `Admin output contains: TEXT` checks that the output
 *   (stdout+stderr, its last RUNNER_ADMIN_OUTPUT_MAX bytes) of the most
 *   recent of those two steps contains TEXT (expanded), and fails, showing
 *   both, if not or if no admin step ran before it. `X log contains:
 *   TEXT` runs "<log> x" every 0.2 s until its output contains TEXT
 *   (expanded) or the target's receive-timeout passes. The admin and log steps fail if the
 *   target has no such hook.
 * - Domain mapping: a client whose jid's domain is "localhost" uses the
 *   target's domain instead when that differs (romeo@localhost becomes
 *   romeo@example.org); scripts should name JIDs through variables.
 * - `connects`: options from the client block (jid, password, resource,
 *   tls: starttls|direct-tls|plain, sasl, channel-binding, sni, login:
 *   yes|no|no-stream|no-bind, port, ca-file (or none), source-address: a numeric local
 *   address to connect from) and the target (host; port, or direct-tls-port
 *   for direct-tls; ca-file). Any other client option fails the step.
 *   Negotiation time limit RUNNER_CONNECT_TIMEOUT.
 * - `sends:` expands variables and sends the payload bytes; `sends raw:`
 *   sends the decoded bytes (expanded too, unless they hold a NUL byte).
 * - `receives:` expands and parses the payload (default namespace
 *   jabber:client); each expected element is matched against the next
 *   received stanza, in order: a mismatch is "unexpected stanza" (reason,
 *   expected, received), nothing within the target's receive-timeout is "missing stanza",
 *   a stream error or close instead is reported as such.
 * - `receives nothing`: fails if anything arrives within the target's
 *   quiet period.
 * - `fails to connect with <x/>`: the connection must fail with condition x.
 * - `receives stream error <x/>`: the next event is a stream error x, then
 *   the stream ends (within the receive-timeout each).
 * - `is disconnected`: the stream ends (EOF or </stream:stream>) within
 *   the receive-timeout; a stanza or stream error first is a failure.
 * - `disconnects`: closes the stream.
 * - Variables: ${Name's full JID} (the JID bound at connect), ${Name's JID}
 *   (bare), ${Name's resource}, ${Name's domain}; before Name has
 *   connected, the bare JID, domain and (configured) resource come from the
 *   client block; the full JID is unknown until bound.
 * - The peer target (imconform --peer): a scenario that `requires: peer`
 *   (or a peer capability `peer:CAP`, checked against the peer's
 *   capabilities) is skipped without one ("requires peer, and imconform
 *   runs without --peer"); the peer's skip list applies to it too. In such
 *   a scenario a `target: peer` client maps localhost to the peer's domain
 *   and connects to the peer's host, port, direct-tls-port and ca-file; the
 *   peer's setup hook runs after the main one, its teardown after the main
 *   one, each with IMCONFORM_TARGET its own profile and IMCONFORM_ACCOUNTS
 *   its own clients only; `Peer admin runs:` / `Peer admin fails:` run the
 *   peer's admin hook (`Admin output contains:` checks the most recent admin
 *   step of either). ${target:NAME} and ${peer:NAME} expand to the var-NAME
 *   of the main or peer profile (unknown: the step fails). Scenarios that
 *   do not require peer run exactly as without --peer.
 * Every step on a client needs it connected (except connects / fails to
 * connect, which need it not connected). */

#define RUNNER_CONNECT_TIMEOUT 10.0  /* seconds per connection operation */
#define RUNNER_HOOK_OUTPUT_MAX 8192  /* bytes of hook output kept (shown) */
#define RUNNER_ADMIN_OUTPUT_MAX (1024 * 1024)  /* bytes of admin output kept for matching */

/* How the runner reaches clients. `conn` handles are the driver's own. */
struct runner_driver {
    void *ctx;
    /* NULL on failure with *fail filled (conditions as xclient_connect). */
    void *(*connect)(void *ctx, const struct xclient_opts *o, struct xclient_failure *fail);
    int (*send)(void *ctx, void *conn, const void *data, size_t len);   /* 0 or -1 */
    /* As xclient_next: ev->stanza (if any) becomes the runner's. */
    void (*next)(void *ctx, void *conn, double timeout, struct xclient_event *ev);
    const char *(*full_jid)(void *ctx, void *conn);   /* borrowed; "" if not bound */
    void (*close)(void *ctx, void *conn);             /* frees the handle */
};

/* The production driver: xclient_* (ctx unused). */
extern const struct runner_driver runner_xclient_driver;

enum runner_outcome { RUNNER_PASS, RUNNER_FAIL, RUNNER_SKIP };

struct runner_result {
    enum runner_outcome outcome;
    char *message;     /* FAIL: one line ("unexpected stanza"); SKIP: the reason; PASS: NULL */
    char *diagnostic;  /* FAIL: lines: "at PATH:LINE: <step>", then details
                          (reason, expected, received, hook output); else NULL */
    char *transcript;  /* lines, one per step run ("PATH:LINE: Romeo sends:" +
                          payloads and received stanzas); NULL unless requested */
};

/* Runs `sc` against `t`, with `peer` (NULL: none) as the peer target.
   With `transcript`, fills result->transcript. */
void runner_run(const struct scenario *sc, const struct target *t, const struct target *peer,
                const struct runner_driver *d, bool transcript,
                struct runner_result *result);
void runner_result_free(struct runner_result *r);

/* Result transport between processes: encode appends a byte string;
 * decode parses one (0, or -1 if malformed; on success the caller owns the
 * strings). */
void runner_result_encode(const struct runner_result *r, struct buf *out);
int runner_result_decode(const char *data, size_t len, struct runner_result *r);

#endif
