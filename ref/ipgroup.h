/* ipgroup: named IP address groups (SPEC ACC-2, SVC-4, SEC-6): hosts, CIDR
 * networks and ranges, IPv4 and IPv6. Every entry is held as a range of
 * IPv6 addresses, IPv4 as IPv4-mapped (::ffff:a.b.c.d), so an IPv4-mapped
 * client address matches IPv4 entries. A set owns its groups and entries;
 * ipgroup_set_free releases them. Group names compare ASCII case-insensitively. */
#ifndef IMREF_IPGROUP_H
#define IMREF_IPGROUP_H

#include <stdbool.h>
#include <sys/socket.h>

/* An inclusive range of addresses, big-endian IPv6 (IPv4 mapped). */
struct ip_range {
    unsigned char first[16];
    unsigned char last[16];
};

struct ipgroup_set;

/* Parses one entry: a host ("10.0.0.1", "::1"), a CIDR network
 * ("10.0.0.0/8", "2001:db8::/32"; host bits are ignored) or a range
 * ("10.0.0.1-10.0.0.9", both ends of one family, first <= last).
 * Surrounding spaces are allowed. Returns 0, or -1 if malformed. */
int ipgroup_parse_entry(const char *text, struct ip_range *out);

struct ipgroup_set *ipgroup_set_new(void);
void ipgroup_set_free(struct ipgroup_set *set);
/* Adds a range to the group `group` (created on first use; name copied). */
void ipgroup_set_add(struct ipgroup_set *set, const char *group, const struct ip_range *range);
bool ipgroup_exists(const struct ipgroup_set *set, const char *group);
/* True if `addr` (AF_INET or AF_INET6) is in the group; an unknown group
 * (or a NULL set) contains nothing. */
bool ipgroup_contains(const struct ipgroup_set *set, const char *group, const struct sockaddr *addr);

#endif
