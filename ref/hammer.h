/* hammer: failed-login bookkeeping for anti-hammering (SPEC SEC-7: per IP
 * address) and account lockout (SEC-8: per account), with time passed in
 * (seconds, any monotonic origin) so it is testable. Memory is bounded: at
 * most HAMMER_MAX_ENTRIES addresses and accounts each, the least recently
 * failed forgotten first. A hammer owns its entries and copies of the keys
 * and the configuration (safe_acl is not used here: the caller checks it). */
#ifndef IMREF_HAMMER_H
#define IMREF_HAMMER_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define HAMMER_MAX_ENTRIES 65536

struct hammer;

struct hammer *hammer_new(const struct antihammer_config *ah, const struct lockout_config *lo);
void hammer_free(struct hammer *h);
/* New settings; existing counts, blocks and locks are kept. */
void hammer_configure(struct hammer *h, const struct antihammer_config *ah,
                      const struct lockout_config *lo);

enum { HAMMER_IP_BLOCKED = 1, HAMMER_ACCOUNT_LOCKED = 2 };

/* A failed login from `ip` (numeric text) for `account` (bare JID; NULL
 * when unknown). Returns the HAMMER_* flags for blocks that START with this
 * failure. */
unsigned hammer_failure(struct hammer *h, const char *ip, const char *account, double now);
/* A successful login: the account's failure count is reset. */
void hammer_success(struct hammer *h, const char *account);
bool hammer_ip_blocked(struct hammer *h, const char *ip, double now);
bool hammer_account_locked(struct hammer *h, const char *account, double now);
/* Ends a lock and clears the count; false: was not locked. */
bool hammer_unlock_account(struct hammer *h, const char *account);
/* How many addresses and accounts are tracked (each <= HAMMER_MAX_ENTRIES). */
void hammer_counts(const struct hammer *h, size_t *ips, size_t *accounts);

#endif
