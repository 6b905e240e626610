/* firstrun: the working default of a first start (SPEC CFG-5) — a
 * mailserver.cfg for the domain localhost with loopback listeners, a
 * self-signed certificate, and two demo accounts with random passwords
 * written to demo-accounts.txt (mode 0600). Owns nothing after it returns. */
#ifndef IMREF_FIRSTRUN_H
#define IMREF_FIRSTRUN_H

#include <stdbool.h>

#include "buf.h"

/* Creates the default in `dir` unless dir/mailserver.cfg exists. Sets
 * *created. Returns 0, or -1 with err set. */
int firstrun_init(const char *dir, bool *created, struct buf *err);

/* Prints the demo logins kept in dir/demo-accounts.txt, if any. */
void firstrun_print_logins(const char *dir);

#endif
