/* Unit tests for ipgroup: IP address groups of hosts, CIDR networks and
 * ranges, IPv4 and IPv6 (ACC-2), used to restrict who may connect to a
 * service (SVC-4) and for the security exception groups (SEC-6). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "ipgroup.h"

/* A sockaddr for a numeric address: AF_INET6 if it has a colon. */
static struct sockaddr_storage sockaddr_of(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (strchr(text, ':')) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1);
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, text, &sin->sin_addr), 1);
    }
    return ss;
}

static bool contains(const struct ipgroup_set *set, const char *group, const char *addr)
{
    struct sockaddr_storage ss = sockaddr_of(addr);
    return ipgroup_contains(set, group, (const struct sockaddr *)&ss);
}

/* ACC-2: one group per entry; each row: an address and whether it is in. */
static void test_membership_table(void **state)
{
    (void)state;
    static const struct {
        const char *entry;
        const char *address;
        bool expected;
    } rows[] = {
        /* hosts */
        { "127.0.0.1", "127.0.0.1", true },
        { "127.0.0.1", "127.0.0.2", false },
        { " 10.1.2.3 ", "10.1.2.3", true },
        { "::1", "::1", true },
        { "::1", "::2", false },
        { "::1", "127.0.0.1", false },
        /* IPv4 entries match IPv4-mapped IPv6 client addresses */
        { "127.0.0.1", "::ffff:127.0.0.1", true },
        { "10.0.0.0/8", "::ffff:10.200.0.1", true },
        { "10.0.0.0/8", "::ffff:11.0.0.1", false },
        { "::ffff:192.0.2.7", "192.0.2.7", true },
        /* CIDR */
        { "10.0.0.0/8", "10.0.0.0", true },
        { "10.0.0.0/8", "10.255.255.255", true },
        { "10.0.0.0/8", "11.0.0.0", false },
        { "10.0.0.0/8", "9.255.255.255", false },
        { "192.168.1.77/24", "192.168.1.1", true },   /* host bits ignored */
        { "192.168.1.77/24", "192.168.2.1", false },
        { "172.16.0.0/12", "172.31.255.255", true },
        { "172.16.0.0/12", "172.32.0.0", false },
        { "0.0.0.0/0", "1.2.3.4", true },
        { "0.0.0.0/0", "255.255.255.255", true },
        { "0.0.0.0/0", "2001:db8::1", false },        /* IPv4 /0 is all of IPv4 only */
        { "10.9.8.7/32", "10.9.8.7", true },
        { "10.9.8.7/32", "10.9.8.6", false },
        { "2001:db8::/32", "2001:db8:ffff::1", true },
        { "2001:db8::/32", "2001:db9::1", false },
        { "2001:db8::/33", "2001:db8:7fff::1", true },
        { "2001:db8::/33", "2001:db8:8000::1", false },
        { "::/0", "2001:db8::1", true },
        { "::/0", "10.0.0.1", true },
        { "2001:db8::5/128", "2001:db8::5", true },
        { "2001:db8::5/128", "2001:db8::4", false },
        /* ranges */
        { "10.0.0.1-10.0.0.9", "10.0.0.1", true },
        { "10.0.0.1-10.0.0.9", "10.0.0.9", true },
        { "10.0.0.1-10.0.0.9", "10.0.0.5", true },
        { "10.0.0.1-10.0.0.9", "10.0.0.10", false },
        { "10.0.0.1-10.0.0.9", "10.0.0.0", false },
        { "10.0.0.250 - 10.0.1.5", "10.0.1.2", true },
        { "10.0.0.250 - 10.0.1.5", "10.0.1.6", false },
        { "2001:db8::1-2001:db8::ff", "2001:db8::80", true },
        { "2001:db8::1-2001:db8::ff", "2001:db8::100", false },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct ip_range range;
        assert_int_equal(ipgroup_parse_entry(rows[i].entry, &range), 0);
        struct ipgroup_set *set = ipgroup_set_new();
        ipgroup_set_add(set, "G", &range);
        bool in = contains(set, "G", rows[i].address);
        if (in != rows[i].expected)
            print_error("row %zu: %s in %s: got %d\n", i, rows[i].address, rows[i].entry, in);
        assert_int_equal(in, rows[i].expected);
        ipgroup_set_free(set);
    }
}

/* ACC-2: malformed entries are refused. */
static void test_bad_entries(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "   ", "localhost", "10.0.0", "10.0.0.256", "10.0.0.1/33", "10.0.0.1/", "/8",
        "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/8x", "2001:db8::/129", "2001:db8::/1234",
        "10.0.0.9-10.0.0.1", "10.0.0.1-::1", "10.0.0.1-", "-10.0.0.1", "10.0.0.1-10.0.0.2-10.0.0.3",
        "10.0.0.0/8-10.0.0.9", "fe80::1%eth0", "192.168.*.*", "[::1]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ip_range range;
        if (ipgroup_parse_entry(bad[i], &range) != -1) print_error("accepted: '%s'\n", bad[i]);
        assert_int_equal(ipgroup_parse_entry(bad[i], &range), -1);
    }
}

/* ACC-2: items sharing a name form one group; names are case-insensitive;
 * an unknown group contains nothing (SVC-4: nobody may connect). */
static void test_groups(void **state)
{
    (void)state;
    struct ipgroup_set *set = ipgroup_set_new();
    struct ip_range r;
    assert_int_equal(ipgroup_parse_entry("127.0.0.1", &r), 0);
    ipgroup_set_add(set, "Local", &r);
    assert_int_equal(ipgroup_parse_entry("::1", &r), 0);
    ipgroup_set_add(set, "local", &r);
    assert_int_equal(ipgroup_parse_entry("192.0.2.0/24", &r), 0);
    ipgroup_set_add(set, "Office", &r);

    assert_true(ipgroup_exists(set, "LOCAL"));
    assert_false(ipgroup_exists(set, "Remote"));
    assert_true(contains(set, "Local", "127.0.0.1"));
    assert_true(contains(set, "LOCAL", "::1"));
    assert_false(contains(set, "Local", "192.0.2.1"));
    assert_true(contains(set, "Office", "192.0.2.1"));
    assert_false(contains(set, "Office", "127.0.0.1"));
    assert_false(contains(set, "Remote", "127.0.0.1"));
    assert_false(contains(NULL, "Local", "127.0.0.1"));

    struct sockaddr unix_addr = { .sa_family = AF_UNIX };
    assert_false(ipgroup_contains(set, "Local", &unix_addr));
    ipgroup_set_free(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_membership_table),
        cmocka_unit_test(test_bad_entries),
        cmocka_unit_test(test_groups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
