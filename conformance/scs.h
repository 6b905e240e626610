/* scs: parser for imconform's scenario scripts (.scs, SPEC CONF-2/CONF-3):
 * Prosody scansion scripts plus imref's extension steps and metadata.
 * scs_parse/scs_load return a struct scenario the caller owns (scs_free frees
 * it and every string and array in it). Payloads are validated as XML at
 * parse time (with ${...} replaced by a placeholder) but kept as text;
 * variables are expanded at run time (match.h). */
#ifndef IMCONFORM_SCS_H
#define IMCONFORM_SCS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

enum scs_step_kind {
    SCS_CONNECTS, SCS_DISCONNECTS, SCS_SENDS, SCS_RECEIVES, SCS_RECEIVES_NOTHING,
    SCS_SENDS_RAW, SCS_FAILS_TO_CONNECT, SCS_RECEIVES_STREAM_ERROR, SCS_IS_DISCONNECTED,
    SCS_ADMIN_RUNS, SCS_LOG_CONTAINS, SCS_ADMIN_OUTPUT_CONTAINS, SCS_ADMIN_FAILS,
};

struct scs_option { char *key; char *value; };

struct scs_client {
    char *name;                 /* "Romeo" */
    struct scs_option *options; /* every key: value in file order (jid, password, ...) */
    size_t n_options;
    unsigned line;              /* line of the [Client] header */
    bool peer;                  /* "target: peer": the client belongs to the --peer target */
};

struct scs_step {
    enum scs_step_kind kind;
    char *client;      /* client name; NULL for the Admin and log steps */
    char *text;        /* SENDS/RECEIVES: the XML payload (indentation removed, lines joined with \n);
                          SENDS_RAW: the decoded bytes (may hold NUL: see text_len);
                          FAILS_TO_CONNECT / RECEIVES_STREAM_ERROR: the condition name ("not-authorized");
                          ADMIN_RUNS / ADMIN_FAILS: the argument string;
                          LOG_CONTAINS / ADMIN_OUTPUT_CONTAINS: the text;
                          "" (never NULL) for the other kinds */
    size_t text_len;
    char *log_name;    /* LOG_CONTAINS: "warning", "error", "security", "config"; else NULL */
    bool peer;         /* ADMIN_RUNS / ADMIN_FAILS written "Peer admin ...": the peer's hook */
    unsigned line;     /* 1-based line of the step's first line */
};

struct scenario {
    char *path;                   /* as given */
    char *title;                  /* first comment line without '#', trimmed; "" if none */
    char **covers; size_t n_covers;       /* "# covers:" words */
    char **requires; size_t n_requires;   /* "# requires:" words */
    struct scs_client *clients; size_t n_clients;
    struct scs_step *steps; size_t n_steps;
};

/* Parses a script. 0, or -1 with err = "PATH:LINE: reason" (unknown step, step
   for an undeclared client, a client without jid, a sends:/receives: without
   payload, payload XML not well-formed, bad escape in raw, duplicate client,
   a `target:` option other than main or peer, a use of the peer target (a
   `target: peer` client, a `Peer admin` step, ${peer:NAME}) in a script
   without `# requires: peer`...). */
int scs_parse(const char *text, size_t len, const char *path, struct scenario **out, struct buf *err);
/* Reads the file at `path` and parses it; err "PATH: reason" if unreadable. */
int scs_load(const char *path, struct scenario **out, struct buf *err);
void scs_free(struct scenario *sc);
const char *scs_client_option(const struct scs_client *c, const char *key);   /* NULL if absent */
/* True if `# requires:` names `peer` or a peer capability (`peer:admin`). */
bool scs_requires_peer(const struct scenario *sc);
const struct scs_client *scs_find_client(const struct scenario *sc, const char *name);

#endif
