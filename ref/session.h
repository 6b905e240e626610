/* session: the registry of bound resources (RFC 6120 §7) and their
 * presence state, keyed by bare JID. The registry owns every struct session
 * and its strings and stored presence; a session borrows its c2s stream
 * (the c2s removes its session before it goes). Lookups are O(1) average. */
#ifndef IMREF_SESSION_H
#define IMREF_SESSION_H

#include <stdbool.h>
#include <stddef.h>

#include "xnode.h"

struct c2s;

struct session {
    struct c2s *c2s;           /* borrowed: the stream this resource is bound on */
    char *full_jid, *bare_jid, *node, *domain, *resource;
    bool available;            /* has sent available presence */
    int priority;
    xnode *presence;           /* last available broadcast presence (owned) */
    bool interested;           /* has requested the roster: gets pushes */
    char **directed;           /* JIDs that got directed available presence */
    size_t n_directed;
    struct session *next;      /* next resource of the same account */
};

struct sessions;

struct sessions *sessions_new(void);
void sessions_free(struct sessions *reg);   /* the registry must be empty of c2s users */

/* Binds a resource; node/domain/resource are prepared. Returns the new
 * session, or NULL if that full JID is bound (see sessions_find). */
struct session *sessions_add(struct sessions *reg, struct c2s *c2s, const char *node,
                             const char *domain, const char *resource);
void sessions_remove(struct sessions *reg, struct session *s);
/* The account's resources (a list through ->next), NULL if none. */
struct session *sessions_of(const struct sessions *reg, const char *bare_jid);
struct session *sessions_find(const struct sessions *reg, const char *full_jid);
/* The same two lookups by prepared parts, building no string (the routing
 * hot path). */
struct session *sessions_of_account(const struct sessions *reg, const char *node, const char *domain);
struct session *sessions_find_resource(const struct sessions *reg, const char *node,
                                       const char *domain, const char *resource);
size_t sessions_count_of(const struct sessions *reg, const char *bare_jid);

void session_set_presence(struct session *s, const xnode *presence);  /* copies */
void session_add_directed(struct session *s, const char *jid);
void session_remove_directed(struct session *s, const char *jid);

#endif
