#include "ipgroup.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"

struct ipgroup {
    char *name;
    struct ip_range *ranges;
    size_t n_ranges;
};

struct ipgroup_set {
    struct ipgroup *groups;
    size_t n_groups;
};

/* IPv4 and IPv6 text as a 16-byte address; *prefix_max is 32 or 128. */
static int parse_address(const char *text, unsigned char out[16], unsigned *prefix_max)
{
    struct in_addr v4;
    if (inet_pton(AF_INET, text, &v4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &v4, 4);
        *prefix_max = 32;
        return 0;
    }
    if (inet_pton(AF_INET6, text, out) == 1) {
        *prefix_max = 128;
        return 0;
    }
    return -1;
}

static int parse_prefix(const char *text, unsigned max, unsigned *out)
{
    if (!isdigit((unsigned char)text[0]) || strlen(text) > 3) return -1;
    char *end;
    unsigned long v = strtoul(text, &end, 10);
    if (*end || v > max) return -1;
    *out = (unsigned)v;
    return 0;
}

/* first = address with the low (128 - bits) bits cleared, last = set. */
static void range_from_prefix(const unsigned char addr[16], unsigned bits, struct ip_range *out)
{
    for (unsigned i = 0; i < 16; i++) {
        unsigned keep = bits >= 8 * (i + 1) ? 8 : bits > 8 * i ? bits - 8 * i : 0;
        unsigned char mask = (unsigned char)(0xff00u >> keep);
        out->first[i] = addr[i] & mask;
        out->last[i] = addr[i] | (unsigned char)~mask;
    }
}

static char *trimmed_copy(const char *text, size_t len)
{
    while (len > 0 && isspace((unsigned char)*text)) text++, len--;
    while (len > 0 && isspace((unsigned char)text[len - 1])) len--;
    return xstrndup(text, len);
}

static int parse_range(const char *text, const char *dash, struct ip_range *out)
{
    char *low = trimmed_copy(text, (size_t)(dash - text));
    char *high = trimmed_copy(dash + 1, strlen(dash + 1));
    unsigned low_max, high_max;
    int rc = -1;
    if (parse_address(low, out->first, &low_max) == 0
        && parse_address(high, out->last, &high_max) == 0 && low_max == high_max
        && memcmp(out->first, out->last, 16) <= 0)
        rc = 0;
    free(low);
    free(high);
    return rc;
}

static int parse_network(const char *text, const char *slash, struct ip_range *out)
{
    char *address = xstrndup(text, (size_t)(slash - text));
    unsigned char addr[16];
    unsigned max, bits;
    int rc = -1;
    if (parse_address(address, addr, &max) == 0 && parse_prefix(slash + 1, max, &bits) == 0) {
        range_from_prefix(addr, bits + (128 - max), out);
        rc = 0;
    }
    free(address);
    return rc;
}

int ipgroup_parse_entry(const char *text, struct ip_range *out)
{
    char *entry = trimmed_copy(text, strlen(text));
    const char *dash = strchr(entry, '-');
    const char *slash = strchr(entry, '/');
    unsigned max;
    int rc;
    if (dash) {
        rc = slash ? -1 : parse_range(entry, dash, out);
    } else if (slash) {
        rc = parse_network(entry, slash, out);
    } else {
        rc = parse_address(entry, out->first, &max);
        memcpy(out->last, out->first, 16);
    }
    free(entry);
    return rc;
}

struct ipgroup_set *ipgroup_set_new(void)
{
    return xcalloc(1, sizeof(struct ipgroup_set));
}

void ipgroup_set_free(struct ipgroup_set *set)
{
    if (!set) return;
    for (size_t i = 0; i < set->n_groups; i++) {
        free(set->groups[i].name);
        free(set->groups[i].ranges);
    }
    free(set->groups);
    free(set);
}

static struct ipgroup *find_group(const struct ipgroup_set *set, const char *name)
{
    if (!set || !name) return NULL;
    for (size_t i = 0; i < set->n_groups; i++)
        if (strcasecmp(set->groups[i].name, name) == 0) return &set->groups[i];
    return NULL;
}

void ipgroup_set_add(struct ipgroup_set *set, const char *group, const struct ip_range *range)
{
    struct ipgroup *g = find_group(set, group);
    if (!g) {
        set->groups = xrealloc(set->groups, (set->n_groups + 1) * sizeof *set->groups);
        g = &set->groups[set->n_groups++];
        g->name = xstrdup(group);
        g->ranges = NULL;
        g->n_ranges = 0;
    }
    g->ranges = xrealloc(g->ranges, (g->n_ranges + 1) * sizeof *g->ranges);
    g->ranges[g->n_ranges++] = *range;
}

bool ipgroup_exists(const struct ipgroup_set *set, const char *group)
{
    return find_group(set, group) != NULL;
}

static bool sockaddr_to_v6(const struct sockaddr *addr, unsigned char out[16])
{
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)addr;
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &sin->sin_addr, 4);
        return true;
    }
    if (addr->sa_family == AF_INET6) {
        memcpy(out, &((const struct sockaddr_in6 *)addr)->sin6_addr, 16);
        return true;
    }
    return false;
}

bool ipgroup_contains(const struct ipgroup_set *set, const char *group, const struct sockaddr *addr)
{
    const struct ipgroup *g = find_group(set, group);
    unsigned char a[16];
    if (!g || !addr || !sockaddr_to_v6(addr, a)) return false;
    for (size_t i = 0; i < g->n_ranges; i++)
        if (memcmp(g->ranges[i].first, a, 16) <= 0 && memcmp(a, g->ranges[i].last, 16) <= 0)
            return true;
    return false;
}
