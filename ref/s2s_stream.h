/* s2s_stream: what inbound and outbound S2S streams share (internal to
 * s2s*.c): the connection, the parser, headers, stream errors, timers and
 * the list of live streams. A stream owns its conn, parser, strings, queue
 * and pairs; it is freed once its conn reports `closed` (or, for an
 * outbound stream that never connected, by s2s_stream_discard). The
 * direction-specific handlers live in s2s_in.c and s2s_out.c. */
#ifndef IMREF_S2S_STREAM_H
#define IMREF_S2S_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <ev.h>

#include "resolver.h"
#include "xnode.h"

struct server;
struct service;
struct conn;
typedef struct xmlstream xmlstream;

#define NS_DIALBACK_FEATURE "urn:xmpp:features:dialback"

enum s2s_dir { S2S_IN, S2S_OUT };
/* An outbound stream carries stanzas (ROUTE) or asks the authoritative
 * server to verify one dialback key (VERIFY, XEP-0220 §2.1.2). */
enum s2s_purpose { S2S_ROUTE, S2S_VERIFY };
enum s2s_restart { S2S_RESTART_NONE, S2S_RESTART_AFTER_TLS, S2S_RESTART_AFTER_SASL };

/* A (remote, local) domain pair authenticated on an inbound stream (S2S-3). */
struct s2s_pair {
    char *remote, *local;
    struct s2s_pair *next;
};

/* A stanza waiting for its outbound stream (S2S-4). */
struct s2s_queued {
    xnode *stanza;       /* jabber:server */
    struct s2s_queued *next;
};

struct s2s_stream {
    struct server *srv;
    enum s2s_dir dir;
    unsigned long long serial;      /* for callbacks that may outlive the stream */
    struct conn *conn;              /* NULL while an outbound stream resolves and connects */
    xmlstream *xs;
    bool header_sent, closing, tls;
    enum s2s_restart restart;
    char stream_id[64];             /* inbound: ours; outbound: the peer's */
    char *local, *remote;           /* prepared domains; inbound: from the header (may be NULL) */
    ev_timer deadline;              /* set-up deadline, then the idle timeout */
    const char *auth_method;        /* "EXTERNAL", "dialback": how it authenticated */
    struct s2s_stream *prev, *next;

    /* inbound */
    struct service *svc;
    struct s2s_pair *pairs;

    /* outbound */
    enum s2s_purpose purpose;
    bool ready;                     /* authenticated: stanzas flow */
    bool authenticating;            /* an <auth/> or <db:result/> is out */
    struct resolver_query *query;
    struct resolved_target *targets;
    size_t n_targets, next_target;
    int connect_fd;
    ev_io connect_watcher;
    const char *failure;            /* the bounce condition if it ends now */
    struct s2s_queued *queue, *queue_tail;
    size_t queued_bytes;
    /* VERIFY: the inbound stream waiting, the id and key to verify */
    unsigned long long verify_for;
    char *verify_id, *verify_key;
};

/* Every live stream, newest first. */
extern struct s2s_stream *s2s_streams;

struct s2s_stream *s2s_stream_new(struct server *srv, enum s2s_dir dir);
/* Starts the connection (fd owned from now on; ssl: direct TLS). */
void s2s_stream_attach(struct s2s_stream *st, int fd, const struct sockaddr_storage *peer, void *ssl);
/* Frees a stream that has no connection (an outbound one that failed
 * before connecting). */
void s2s_stream_discard(struct s2s_stream *st);
struct s2s_stream *s2s_stream_find(unsigned long long serial);

void s2s_stream_write(struct s2s_stream *st, const char *data, size_t len);
void s2s_stream_send(struct s2s_stream *st, const xnode *stanza);
void s2s_stream_send_header(struct s2s_stream *st);
/* <stream:error><condition/>[<text/>]</stream:error></stream:stream>, close. */
void s2s_stream_error(struct s2s_stream *st, const char *condition, const char *text);
/* </stream:stream> and close once written. */
void s2s_stream_close(struct s2s_stream *st);
/* The deadline timer: `seconds` from now. */
void s2s_stream_arm(struct s2s_stream *st, double seconds);
/* Parser limits for S2S (XML-4: StanzaSizeS2S). */
void s2s_stream_set_limits(struct s2s_stream *st, bool authenticated);
/* Writes to the Debug log. */
void s2s_stream_debug(const struct s2s_stream *st, const char *direction, const xnode *el);
bool s2s_is(const xnode *el, const char *name, const char *ns);

/* Direction handlers (s2s_in.c, s2s_out.c), called by s2s_stream.c. */
void s2s_in_open(struct s2s_stream *st, const xnode *header);
void s2s_in_element(struct s2s_stream *st, xnode *el);
void s2s_in_tls_ready(struct s2s_stream *st);
void s2s_in_closed(struct s2s_stream *st);
void s2s_out_open(struct s2s_stream *st, const xnode *header);
void s2s_out_element(struct s2s_stream *st, xnode *el);
void s2s_out_tls_ready(struct s2s_stream *st);
void s2s_out_closed(struct s2s_stream *st);

/* s2s_out.c: starts an outbound stream local -> remote (resolving first). */
struct s2s_stream *s2s_out_start(struct server *srv, const char *local, const char *remote,
                                 enum s2s_purpose purpose);

/* s2s.c: the dialback secret; the outcome of a verification for the
 * inbound stream `serial` (XEP-0220 §2.1.3). */
const char *s2s_secret(void);
void s2s_in_dialback_done(unsigned long long serial, const char *local, const char *remote, bool valid);
/* s2s.c: an outbound ROUTE stream is up (flush) or failed (bounce). */
void s2s_route_ready(struct s2s_stream *st);
void s2s_route_bounce(struct s2s_stream *st, const char *condition);

#endif
