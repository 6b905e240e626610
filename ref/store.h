/* store: the durable store (SPEC IM-3, IM-4, ROST-6): rosters with their
 * versions, the users' changes to Colleagues items and offline messages, in
 * one SQLite database DIR/imref.db (WAL, synchronous=FULL: a call that
 * returned success is committed and survives kill -9). The handle owns the
 * connection and its prepared statements. Strings passed in are borrowed;
 * everything handed out (items, overrides, messages) is malloc'd and the
 * caller frees it with the matching *_clear/_free. */
#ifndef IMREF_STORE_H
#define IMREF_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "subscription.h"

struct store;

/* A roster record. state.exists == false: no roster item, only an inbound
 * subscription request from that JID (RFC 6121 3.1.3); such records are
 * returned by the getters and must not be shown to the user. */
struct roster_item {
    char *jid;
    char *name;      /* NULL: no name */
    struct sub_item_state state;
    char **groups;   /* in the order given */
    size_t n_groups;
};

/* Opens (creating dir and schema if absent). On failure returns -1 with a
 * message in err (also written to the Error log). */
int store_open(const char *dir, struct store **out, struct buf *err);
void store_close(struct store *st);

/* Roster of `user` (a bare JID). Items in insertion order. *version: the
 * user's roster version (0 if none yet). Returns 0 or -1. */
int store_roster_get(struct store *st, const char *user, struct roster_item **items, size_t *n,
                     unsigned long long *version);
/* 1 found (out filled; roster_item_clear it), 0 absent, -1 error. */
int store_roster_get_item(struct store *st, const char *user, const char *contact, struct roster_item *out);
/* Insert or replace the item (matched by jid; a replaced item keeps its
 * place); bumps and returns the user's version. Returns 0 or -1. */
int store_roster_put(struct store *st, const char *user, const struct roster_item *item,
                     unsigned long long *new_version);
/* 1 deleted (version bumped), 0 absent (version unchanged), -1 error. */
int store_roster_delete(struct store *st, const char *user, const char *contact, unsigned long long *new_version);
int store_roster_version(struct store *st, const char *user, unsigned long long *version);
void roster_item_clear(struct roster_item *it);
void roster_items_free(struct roster_item *items, size_t n);

/* Offline messages (XEP-0160): the stanza as serialised XML. Returns 0
 * stored, 1 refused because the user already holds `max` messages (max 0
 * refuses every message), -1 error. */
int store_offline_push(struct store *st, const char *user, const char *stanza_xml, long long stamp_unix, unsigned max);
/* The same; on 0 also sets *id to the new message's id (ids only grow). */
int store_offline_push_id(struct store *st, const char *user, const char *stanza_xml, long long stamp_unix,
                          unsigned max, long long *id);
struct offline_msg { long long id; char *xml; long long stamp; };
/* All of the user's messages in arrival order (does not delete). 0 or -1. */
int store_offline_list(struct store *st, const char *user, struct offline_msg **msgs, size_t *n);
/* Deletes the user's messages with id <= upto_id (after they were delivered). 0 or -1. */
int store_offline_delete_upto(struct store *st, const char *user, long long upto_id);
void offline_msgs_free(struct offline_msg *msgs, size_t n);
/* 0 on error (logged). */
size_t store_offline_count(struct store *st, const char *user);

/* One user's change to one colleague item: removed, or a different name
 * and/or groups (ROST-6, ROST-7). Changing it bumps the user's roster
 * version (the one store_roster_version reports). */
struct colleague_override {
    char *contact;
    bool removed;
    char *name;      /* NULL: the full name */
    char **groups;
    size_t n_groups;
    bool has_groups; /* false: "Colleagues" */
};
/* 1 found (out filled; colleague_override_clear it), 0 absent, -1 error. */
int store_override_get(struct store *st, const char *user, const char *contact, struct colleague_override *out);
/* All of the user's overrides (colleague_overrides_free them). 0 or -1. */
int store_override_list(struct store *st, const char *user, struct colleague_override **out, size_t *n);
/* Insert or replace the override for ov->contact; bumps and returns the
 * user's version. 0 or -1. */
int store_override_put(struct store *st, const char *user, const struct colleague_override *ov,
                       unsigned long long *new_version);
/* ROST-7: removes all of the user's overrides; returns how many (>= 0) or -1; bumps the version when > 0. */
int store_override_clear(struct store *st, const char *user, unsigned long long *new_version);
/* Is the pair's colleague presence cut (either side removed the other)? */
int store_override_removed_either(struct store *st, const char *a, const char *b); /* 1 yes, 0 no, -1 error */
void colleague_override_clear(struct colleague_override *ov);
void colleague_overrides_free(struct colleague_override *ovs, size_t n);

#endif
