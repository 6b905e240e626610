/* server: the one running engine — the loop, the configuration, the user
 * directory, the store, TLS, the session registry and the services. One
 * instance per process, built by imrefd.c and passed (borrowed) to every
 * handler. It owns everything it points to. */
#ifndef IMREF_SERVER_H
#define IMREF_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#include <ev.h>

#include "iqinfo.h"

#define IMREF_NAME "imref"
#define IMREF_VERSION "0.1.0"

struct server_config;
struct directory;
struct store;
struct tls_server;
struct sessions;
struct hammer;
struct colleagues;
struct service;
struct resolver;
struct archive;

struct server {
    struct ev_loop *loop;
    struct server_config *cfg;
    struct directory *dir;
    struct store *store;
    struct tls_server *tls;
    struct sessions *sessions;
    struct hammer *hammer;           /* failed logins: anti-hammering, lockout */
    struct colleagues *colleagues;   /* the automatic contact lists, built from dir */
    unsigned long long colleagues_generation;   /* bumped when any list changes */
    struct service **services;
    size_t n_services;
    struct resolver *resolver;       /* DNS for federation (S2S-1) */
    struct archive *archive;         /* ARCH-1..3: always there; cfg->archive.enabled switches it */
    bool s2s_wanted;                 /* SVC-3: s2s is Automatic or the admin started it */
    struct iqinfo_server info;
    double started;
    unsigned long long id_counter;   /* for server-generated ids */
};

/* A fresh id for a server-generated stanza or stream ("imref-<n>-<rand>"). */
void server_new_id(struct server *srv, char *out, size_t outlen);
/* Re-reads users.cfg into a new directory snapshot and swaps it in (ADM-7);
 * on a failure the old one stays. Returns 0 (Config-log line) or -1 with err. */
int server_reload_users(struct server *srv, struct buf *err);

/* Installs `dir` (ownership passes) as the directory: warns of unknown access
 * policies, builds the Colleagues lists (ROST-1..4) and, when it replaces a
 * directory, pushes the lists' changes (ROST-8) and frees the old one. Used
 * at start and by every reload. */
void server_set_directory(struct server *srv, struct directory *dir);

/* ADM-7: the reload of SIGHUP and `imrefctl reload`: the access policies
 * and IP groups of mailserver.cfg, then users.cfg. 0 or -1 with err. */
int server_reload(struct server *srv, struct buf *err);

/* ARCH-1: hands the archive its path and failure policy from cfg. */
void server_configure_archive(struct server *srv);

/* True if `domain` (prepared) is hosted here. */
bool server_hosts_domain(const struct server *srv, const char *domain);

#endif
