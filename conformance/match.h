/* match: run-time handling of .scs payloads (SPEC CONF-2): ${...} variable
 * expansion, parsing payload XML into xnode trees (with the server's
 * xmlstream), matching a received stanza against an expected one, and
 * pretty-printing for failure reports. Results of scs_expand and the nodes
 * of scs_parse_payload belong to the caller; `why`/`out`/`err` are appended to. */
#ifndef IMCONFORM_MATCH_H
#define IMCONFORM_MATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "xnode.h"

/* The attribute value or text that matches anything. */
#define SCS_ANY "{scansion:any}"
/* The namespace bound to the `scansion:` prefix in payloads (scripts use it
   undeclared, e.g. scansion:strict='false'). Attributes in it are matching
   directives, never compared; strict='false' on an expected element lets its
   element children match in any order. */
#define SCS_NS_SCANSION "https://matthewwild.co.uk/projects/scansion"

/* The four variable forms, "${NAME's full JID}" etc. */
enum scs_var_kind { SCS_VAR_FULL_JID, SCS_VAR_BARE_JID, SCS_VAR_RESOURCE, SCS_VAR_DOMAIN };
/* Splits a variable name ("Juliet's phone's full JID") into the client name
   (malloc'd into *client: "Juliet's phone") and its kind; false (and *client
   NULL) if it is none of the four forms. */
bool scs_var_split(const char *var, char **client, enum scs_var_kind *kind);
/* Profile variables: "target:NAME" (the var-NAME of the target profile) and
   "peer:NAME" (of the --peer profile). True with *peer set and *name
   pointing into var (non-empty) if var is one of the two forms. */
bool scs_profile_var_split(const char *var, bool *peer, const char **name);

/* Looks up a variable (the text inside ${...}, e.g. "Romeo's full JID");
   returns a borrowed value or NULL if unknown. */
typedef const char *(*scs_var_fn)(void *ctx, const char *name);
/* Expands ${...}; malloc'd result, or NULL with err naming the unknown variable.
   A '$' not followed by '{' is kept as is; an unterminated "${" is an error. */
char *scs_expand(const char *text, scs_var_fn lookup, void *ctx, struct buf *err);
/* Parses an (expanded) payload of one or more top-level elements, in the
   default namespace `default_ns` ("jabber:client"); each element an xnode the
   caller owns (free each, then the array). 0 or -1 with err. Uses xmlstream. */
int scs_parse_payload(const char *xml, size_t len, const char *default_ns, xnode ***out, size_t *n, struct buf *err);
/* Frees the n nodes of a scs_parse_payload result and the array (NULL ok). */
void scs_free_payload(xnode **nodes, size_t n);
/* CONF-2 matching of a received element against an expected one:
   - same local name and namespace URI (prefixes are irrelevant);
   - every expected attribute present in received with an equal value; the
     value "{scansion:any}" matches any value (but the attribute must exist);
     extra attributes in received are ignored;
   - expected element children are matched, in order, against a subsequence of
     received's element children (extra received children are ignored; a
     child found only out of order is a mismatch); an expected element with
     no children matches any content;
   - if expected has non-whitespace text, received's text must equal it after
     trimming leading/trailing whitespace ("{scansion:any}" matches any text).
   On mismatch, returns false and appends a one-line reason to `why`
   (e.g. "/iq/query: attribute ver missing"). */
bool scs_match(const xnode *expected, const xnode *received, struct buf *why);
/* Pretty-prints an element (2-space indentation, one element or text per
   line, each line ending in \n; xmlns shown where it differs from the
   parent's, on the root where it is not jabber:client) for failure reports. */
void scs_pretty(const xnode *n, struct buf *out);

#endif
