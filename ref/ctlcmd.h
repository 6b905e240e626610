/* ctlcmd: imrefctl's commands as the administrator sees them (SPEC ADM-1..4,
 * ADM-7): one table row per command (words, arguments, control-socket
 * action, help, how its result is shown); parsing of argv, the request line,
 * help texts and the rendering of a result as text or JSON. An invocation
 * owns its argument values (ctlcmd_invocation_free); dir and socket point
 * into argv. Output goes to caller-owned bufs. */
#ifndef IMREF_CTLCMD_H
#define IMREF_CTLCMD_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct json;
struct ctl_command;

struct ctl_arg {
    char *key;      /* request argument name: "jid", "password", "name", ... */
    char *value;
};

struct ctl_invocation {
    const char *dir, *socket;           /* --dir, --socket; NULL if not given */
    bool json;                          /* --json */
    bool help;                          /* --help: show help, run nothing */
    const char *help_family;            /* --help after a family word alone ("user") */
    const struct ctl_command *command;  /* NULL only with help */
    struct ctl_arg *args;               /* in command-line order */
    size_t n_args;
};

/* Parses argv (argv[0] is the program). 0, or -1 with a usage error in err
 * (the caller exits 2). With --help anywhere, the arguments are not checked. */
int ctlcmd_parse(int argc, char **argv, struct ctl_invocation *out, struct buf *err);
void ctlcmd_invocation_free(struct ctl_invocation *inv);

/* The value of a request argument, NULL if not given. */
const char *ctlcmd_arg(const struct ctl_invocation *inv, const char *key);

/* The command's control-socket action ("user.add"); for a command run by
 * imrefctl itself (hash-password) its own name. */
const char *ctlcmd_action(const struct ctl_command *cmd);
/* True for commands that never use the socket (hash-password). */
bool ctlcmd_is_local(const struct ctl_command *cmd);
/* "user add", for messages. */
const char *ctlcmd_title(const struct ctl_command *cmd);

/* The request: one JSON object {"action":...,args...} and '\n'. */
void ctlcmd_request(const struct ctl_invocation *inv, struct buf *line);

/* Help: the command's, the family's ("user") or, with both NULL, the
 * overview of every command. */
void ctlcmd_help(const struct ctl_command *cmd, const char *family, struct buf *out);

/* The result of the invocation's action: with inv->json the result as
 * indented JSON, else the command's table or message line. */
void ctlcmd_render(const struct ctl_invocation *inv, const struct json *result, struct buf *out);

/* Seconds as "12s", "2m05s", "1h02m" (ADM-1 Time). */
void ctlcmd_format_duration(long long seconds, struct buf *out);

#endif
