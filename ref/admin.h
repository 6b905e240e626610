/* admin: the administrator's actions on a running server (SPEC ADM-1..5,
 * ADM-7, SVC-5), one small handler per action in a table, reached through
 * the control socket. Every action is written to the Config log with who
 * asked and what (secrets masked). Handlers borrow the server; the reply is
 * appended to the caller's buffer. To add an action: write its handler and
 * add one row to the table in admin.c. */
#ifndef IMREF_ADMIN_H
#define IMREF_ADMIN_H

#include <stddef.h>

#include "buf.h"

struct server;

/* Handles one request line (a JSON object with "action" and its string
 * arguments, without the newline) from the peer described by `who` (e.g.
 * "uid 0 pid 1234"); appends exactly one reply line, with its '\n', to
 * `reply`: {"ok":true,"result":...} or {"ok":false,"error":"..."}. */
void admin_handle(struct server *srv, const char *line, size_t len, const char *who, struct buf *reply);

/* The actions' names, in table order (for help texts and tests). */
size_t admin_action_count(void);
const char *admin_action_name(size_t i);

#endif
