/* control: the admin control socket of imrefd (SPEC ADM-*). Listens on a
 * UNIX stream socket (mode 0600, own uid only, SO_PEERCRED), reads
 * newline-framed requests (bounded), hands each to admin_handle and writes
 * the reply. Owns the listening socket and its client connections; the
 * server (and its loop) is borrowed and must outlive the control. */
#ifndef IMREF_CONTROL_H
#define IMREF_CONTROL_H

#include "buf.h"

#define CONTROL_MAX_REQUEST 65536        /* bytes per request line, without '\n' */
#define CONTROL_MAX_OUTPUT  (1024 * 1024) /* bytes of replies queued per client */
#define CONTROL_MAX_CLIENTS 16

struct server;
struct control;

/* Starts listening on `path` in srv->loop; unlinks a stale socket first
 * (only a socket nobody listens on: a live one or a non-socket file is an
 * error). NULL + err on failure. Each request line reaches admin_handle
 * NUL-terminated at line[len] (the '\n' replaced). admin_handle must not
 * call control_stop. */
struct control *control_start(struct server *srv, const char *path, struct buf *err);
void control_stop(struct control *ctl);   /* closes everything, unlinks the path; NULL is a no-op */

#endif
