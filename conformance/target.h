/* target: a target profile, the server imconform runs scenarios against
 * (SPEC CONF-1): address, ports, domain, TLS trust, capabilities, time
 * limits, hook commands and the scenarios to skip. target_load returns a
 * struct the caller owns (target_free frees it and every string in it);
 * target_has and target_skip_reason return borrowed answers. */
#ifndef IMCONFORM_TARGET_H
#define IMCONFORM_TARGET_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* File format, one `key: value` per line:
 *   - blank lines and lines whose first non-blank character is `#` are
 *     ignored; elsewhere a `#` preceded by a blank starts a trailing comment;
 *   - every `${NAME}` in a value is replaced by the environment variable
 *     NAME; an unset variable is an error ("PATH:LINE: environment variable
 *     NAME is not set"); a `${` without `}` is an error;
 *   - keys: name (default: the file's base name without extension),
 *     host (required; a numeric address, never resolved),
 *     port (required), direct-tls-port (0/absent: none),
 *     domain (default "localhost"), ca-file (empty/absent: do not verify),
 *     capabilities (blank-separated words; may repeat, the lists add up),
 *     quiet-period (seconds, default 0.5), receive-timeout (seconds a
 *     receives / stream-end / log step waits, default 5), scenario-timeout
 *     (seconds, default 30), setup, teardown, admin, log (hook commands for /bin/sh -c,
 *     run from the current directory), skip (repeatable,
 *     `skip: PATH: reason`, reason required), and var-NAME (repeatable
 *     with distinct NAMEs of letters, digits, '-', '_' and '.': a value
 *     the scenarios read as ${target:NAME}, or ${peer:NAME} when the
 *     profile is the --peer one);
 *   - an unknown key, a repeated single-valued key, a bad number or a
 *     missing required key is an error "PATH:LINE: reason" (LINE 0 for a
 *     missing key). */
struct target_skip { char *scenario; char *reason; };
struct target_var { char *name; char *value; };   /* var-NAME: value */

struct target {
    char *path, *name, *host, *domain, *ca_file;   /* ca_file NULL: do not verify */
    unsigned short port, direct_tls_port;           /* direct_tls_port 0: none */
    char **capabilities; size_t n_capabilities;
    double quiet_period, receive_timeout, scenario_timeout;
    char *setup, *teardown, *admin, *log;           /* NULL if absent */
    struct target_skip *skips; size_t n_skips;
    struct target_var *vars; size_t n_vars;
};

/* Loads a profile from a file. 0, or -1 with err = "PATH:LINE: reason". */
int target_load(const char *path, struct target **out, struct buf *err);
/* Parses profile text; `path` names it in errors and becomes t->path. */
int target_parse(const char *text, size_t len, const char *path,
                 struct target **out, struct buf *err);
void target_free(struct target *t);
bool target_has(const struct target *t, const char *capability);
/* The reason a scenario is skipped, or NULL. A skip entry matches when it
 * equals the scenario path or is a suffix of it starting after a '/'
 * ("core/a.scs" matches "conformance/suites/core/a.scs", not "xcore/a.scs"). */
const char *target_skip_reason(const struct target *t, const char *scenario_path);
/* The value of the profile's var-NAME, or NULL if it has none. */
const char *target_var(const struct target *t, const char *name);

#endif
