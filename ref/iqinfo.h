/* iqinfo: the server's answers to informational IQs (SPEC IM-6): XEP-0030
 * disco#info/items, XEP-0199 ping, XEP-0092 version, XEP-0012 last activity
 * on the domain; disco and XEP-0054 vcard-temp (read-only, from the
 * directory) on accounts; and stanza error replies (IM-5) for everyone.
 * Every xnode returned is a new tree the caller owns (xnode_free); every
 * argument is borrowed for the call only. */
#ifndef IMREF_IQINFO_H
#define IMREF_IQINFO_H

#include "xnode.h"

struct dir_user;

struct iqinfo_server {
    const char *name;        /* software name, also the server identity's name */
    const char *version;
    const char *os;          /* NULL: not disclosed */
    long long started_unix;  /* for jabber:iq:last on the domain (uptime) */
};

/* If `iq` (a get/set iq in jabber:client, already routed to us) is one of
 * the informational queries addressed to the server domain `to` (to_user ==
 * NULL) or to the account `to_user` (bare JID `to`), returns a new reply
 * (type result or error, id copied, from = to, to = from_full); else NULL.
 * Domain: disco#info (identity server/im, the features below), disco#items
 * (empty), ping, version, last (seconds since start).
 * Account: disco#info (identity account/registered), disco#items (empty),
 * vcard-temp get (FN and EMAIL from the directory).
 * Errors: a `node` the server does not have → cancel/item-not-found; a set
 * of vcard-temp → cancel/not-allowed (read-only); a set of the other
 * (get-only) queries → modify/bad-request. Ping, version and last to an
 * account are left to the router (NULL). */
xnode *iqinfo_answer(const xnode *iq, const char *from_full, const char *to,
                     const struct dir_user *to_user, const struct iqinfo_server *srv);

/* An error reply to `stanza` (RFC 6120 §8.3): same element and namespace,
 * type='error', from/to swapped, id copied; for message and presence the
 * original children are kept, for iq none; then
 * <error type='TYPE'><CONDITION xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
 * [<text xmlns='...stanzas' xml:lang='en'>TEXT</text>]</error>.
 * Never NULL. The caller must not answer an error (or an iq result) with an
 * error. */
xnode *stanza_error_reply(const xnode *stanza, const char *type, const char *condition,
                          const char *text);

#endif
