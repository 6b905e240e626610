/* jid: parsing and preparation of XMPP addresses (SPEC BIND-3, RFC 6122).
 * Node and resource go through the stringprep Nodeprep / Resourceprep
 * profiles (libidn); the domain through IDNA2008 + UTS#46 (libidn2) and is
 * kept in its Unicode lower-case form (U-labels), so "xn--bcher-kva.example"
 * and "BÜCHER.example" both prepare to "bücher.example"; jid_domain_to_ascii
 * gives the A-label form for DNS. Every function returning char * or filling
 * a struct jid hands the caller malloc'd strings (free / jid_clear), except
 * jid_parse_into, whose parts live in the caller's buffer. */
#ifndef IMREF_JID_H
#define IMREF_JID_H

#include "buf.h"

#define JID_MAX_PART 1023 /* bytes, before and after preparation */

struct jid {
    char *node;     /* NULL when absent */
    char *domain;
    char *resource; /* NULL when absent */
};

/* Splits and prepares "[node@]domain[/resource]". 0, or -1 for a malformed
 * JID (empty or over-long part, prohibited character, bad domain); on -1
 * `out` is left zeroed. */
int jid_parse(const char *s, struct jid *out);
void jid_clear(struct jid *j);
char *jid_bare(const struct jid *j); /* "node@domain" or "domain" */
char *jid_full(const struct jid *j); /* bare + "/resource" when present */

/* jid_parse without an allocation per part, for the routing hot path: the
 * prepared parts are written to `storage` (emptied first; the caller owns
 * it and may reuse it, its memory with it, from call to call) and `out`
 * points into it. `out` stays valid until `storage` changes; never
 * jid_clear it. 0, or -1 as jid_parse. */
int jid_parse_into(const char *s, struct jid *out, struct buf *storage);
/* Append what jid_bare / jid_full return to `out`. */
void jid_append_bare(const struct jid *j, struct buf *out);
void jid_append_full(const struct jid *j, struct buf *out);

/* Each prepares one part: 0 with *out malloc'd, or -1 with *out NULL.
 * Nodeprep refuses unassigned code points (accounts are stored strings);
 * Resourceprep allows them (RFC 3454 query semantics, as Prosody does).
 * Domains: one trailing dot is dropped; IPv4 literals and bracketed IPv6
 * literals ("[::1]") are accepted in canonical form; other names must be
 * letter-digit-hyphen labels of 1..63 bytes in A-label form (no '_'),
 * at most 253 bytes in all. */
int jid_prep_node(const char *in, char **out);
int jid_prep_resource(const char *in, char **out);
int jid_prep_domain(const char *in, char **out);

/* The same preparations without the ASCII shortcut the three above take
 * for plain host names and printable ASCII: always libidn / libidn2. They
 * give the same results; test_jid and fuzz_jid check that they do. */
int jid_prep_node_full(const char *in, char **out);
int jid_prep_resource_full(const char *in, char **out);
int jid_prep_domain_full(const char *in, char **out);

/* The A-label (ASCII) form of a prepared domain, for DNS; IP literals are
 * returned unchanged. 0 or -1 like the above. */
int jid_domain_to_ascii(const char *domain, char **out);

#endif
