/* Unit tests for policy: domain restriction (DOM-1..5) and user access
 * policies (ACC-1..3), as decision tables over real parsed configuration:
 * fixtures/config/policy/ (mailserver.cfg: domains a.test and b.test, the
 * policies and IP groups; users.cfg: every DomainRestriction combination).
 * Run from the repository root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "directory.h"
#include "log.h"
#include "policy.h"
#include "scratch.h"

#define FIXTURES "fixtures/config/"

static struct server_config *load_config(const char *dir)
{
    struct server_config *cfg = NULL;
    struct buf err;
    buf_init(&err);
    if (config_load(dir, &cfg, &err) != 0) print_error("unexpected error: %s\n", err.data);
    assert_non_null(cfg);
    buf_free(&err);
    return cfg;
}

static struct directory *load_users(const struct server_config *cfg)
{
    struct directory *dir = NULL;
    struct buf err;
    buf_init(&err);
    if (directory_load(cfg->users_path, &dir, &err) != 0)
        print_error("unexpected error: %s\n", err.data);
    assert_non_null(dir);
    buf_free(&err);
    return dir;
}

static const struct dir_user *find_user(const struct directory *dir, const char *bare_jid)
{
    char *node = xstrdup(bare_jid);
    char *at = strchr(node, '@');
    assert_non_null(at);
    *at = '\0';
    const struct dir_user *u = directory_find_user(dir, node, at + 1);
    if (!u) print_error("no user %s in the fixture\n", bare_jid);
    assert_non_null(u);
    free(node);
    return u;
}

/* DOM-3: restricted when SendOutside=0, or the user's flag, or any of the
 * user's groups defined for the user's own domain; undefined groups count
 * for nothing; "closed" is restricted in a.test, not in b.test. */
static void test_user_restricted(void **state)
{
    (void)state;
    static const struct { const char *user; bool so0, so1; } rows[] = {
        /* user                   SendOutside=0  SendOutside=1 */
        { "free@a.test",          true,          false },   /* flag 0, no groups */
        { "inopen@a.test",        true,          false },   /* flag 0, one unrestricted */
        { "inclosed@a.test",      true,          true  },   /* flag 0, one restricted */
        { "inmany@a.test",        true,          true  },   /* flag 0, several, one restricted */
        { "inundefined@a.test",   true,          false },   /* flag 0, group not in users.cfg */
        { "flagged@a.test",       true,          true  },   /* flag 1, no groups */
        { "flaggedopen@a.test",   true,          true  },   /* flag 1, one unrestricted */
        { "flaggedclosed@a.test", true,          true  },   /* flag 1, one restricted */
        { "flaggedmany@a.test",   true,          true  },   /* flag 1, several, one restricted */
        { "free@b.test",          true,          false },
        { "closed@b.test",        true,          false },   /* b.test's "closed" is unrestricted */
    };
    struct server_config *cfg = load_config(FIXTURES "policy");
    struct directory *dir = load_users(cfg);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const struct dir_user *u = find_user(dir, rows[i].user);
        for (int so = 0; so <= 1; so++) {
            bool expected = so ? rows[i].so1 : rows[i].so0;
            if (policy_user_restricted(so, u, dir) != expected)
                print_error("%s with SendOutside=%d\n", rows[i].user, so);
            assert_int_equal(policy_user_restricted(so, u, dir), expected);
        }
    }
    directory_free(dir);
    config_free(cfg);
}

/* One end of a stanza as the router builds it: local accounts looked up in
 * the directory, their restriction from policy_user_restricted. */
static struct policy_end end_of(const char *jid, bool send_outside, const struct directory *dir,
                                char **scratch_node)
{
    struct policy_end end = { jid, false, false, false };
    const char *at = strchr(jid, '@');
    if (!at) return end;
    *scratch_node = xstrndup(jid, (size_t)(at - jid));
    end.domain = at + 1;
    end.has_node = true;
    const struct dir_user *u = directory_find_user(dir, *scratch_node, end.domain);
    end.local_account = u != NULL;
    end.restricted = u && policy_user_restricted(send_outside, u, dir);
    return end;
}

/* DOM-1 (one switch for every domain), DOM-2 (a.test and b.test, both
 * hosted here, are "other" to each other), DOM-3 (restricted users: flagged,
 * inclosed, inmany; with SendOutside=0 every local user), DOM-4 (sender
 * or recipient restricted refuses; own account, own domain and hosted
 * domain JIDs always pass). A = allow, R = refuse (DOM-5 answers it). */
static void test_domain_table(void **state)
{
    (void)state;
    static const char *const to[] = {
        "free@a.test", "flagged@a.test", "inopen@a.test", "inclosed@a.test", "inmany@a.test",
        "free@b.test", "closed@b.test", "bob@remote.example",
        "a.test", "b.test", "remote.example",
    };
    static const struct { const char *from; const char *send_outside[2]; } rows[] = {
        /* columns, the recipients `to`: 0-4 the a.test users, 5-6 the b.test
         * users, 7 a remote user, 8-9 the hosted domain JIDs, 10 a remote one
         *                          SendOutside=0  SendOutside=1
         *                           01234567890    01234567890 */
        { "free@a.test",           { "AAAAARRRAAR", "AAAAAAAAAAA" } },
        { "flagged@a.test",        { "AAAAARRRAAR", "AAAAARRRAAR" } },
        { "inopen@a.test",         { "AAAAARRRAAR", "AAAAAAAAAAA" } },
        { "inclosed@a.test",       { "AAAAARRRAAR", "AAAAARRRAAR" } },
        { "inmany@a.test",         { "AAAAARRRAAR", "AAAAARRRAAR" } },
        { "free@b.test",           { "RRRRRAARAAR", "ARARRAAAAAA" } },
        { "closed@b.test",         { "RRRRRAARAAR", "ARARRAAAAAA" } },
        { "bob@remote.example",    { "RRRRRRRAAAA", "ARARRAAAAAA" } },
    };
    struct server_config *cfg = load_config(FIXTURES "policy");
    struct directory *dir = load_users(cfg);
    for (int so = 0; so <= 1; so++) {
        for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
            for (size_t c = 0; c < sizeof to / sizeof to[0]; c++) {
                char *from_node = NULL, *to_node = NULL;
                struct policy_end from = end_of(rows[r].from, so, dir, &from_node);
                struct policy_end dest = end_of(to[c], so, dir, &to_node);
                bool hosted = config_find_domain(cfg, dest.domain) != NULL;
                char got = policy_domain(&from, &dest, hosted) == POLICY_ALLOW ? 'A' : 'R';
                char expected = rows[r].send_outside[so][c];
                if (got != expected)
                    print_error("SendOutside=%d %s -> %s: got %c\n", so, rows[r].from, to[c], got);
                assert_int_equal(got, expected);
                free(from_node);
                free(to_node);
            }
        }
    }
    directory_free(dir);
    config_free(cfg);
}

/* DOM-4: own account and own domain pass whatever the flags, and domains
 * compare without regard to case; DOM-5: the error text. */
static void test_domain_edges(void **state)
{
    (void)state;
    struct policy_end restricted_a = { "a.test", true, true, true };
    struct policy_end upper_a = { "A.TEST", true, true, true };
    struct policy_end restricted_b = { "b.test", true, true, true };
    struct policy_end unrestricted_b = { "b.test", true, true, false };
    /* the flag of a remote end is ignored: it is no local account */
    struct policy_end remote_node = { "remote.example", true, false, true };
    assert_int_equal(policy_domain(&restricted_a, &restricted_a, true), POLICY_ALLOW);
    assert_int_equal(policy_domain(&restricted_a, &upper_a, true), POLICY_ALLOW);
    assert_int_equal(policy_domain(&restricted_a, &unrestricted_b, true), POLICY_REFUSE);
    assert_int_equal(policy_domain(&unrestricted_b, &restricted_b, true), POLICY_ALLOW);
    assert_int_equal(policy_domain(&unrestricted_b, &remote_node, false), POLICY_ALLOW);
    assert_int_equal(policy_domain(&remote_node, &unrestricted_b, true), POLICY_ALLOW);
    assert_string_equal(POLICY_DOMAIN_TEXT,
                        "Sending instant messages outside of the domain is not allowed");
}

static struct sockaddr_storage address(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
    }
    return ss;
}

/* ACC-1 (a user's named policy, else the default "Office only"; names
 * compare without case), ACC-2 (group Office: 192.0.2.0/24 and
 * 2001:db8:1::/48, IPv4-mapped addresses match IPv4 entries), ACC-3 (the
 * verdict the c2s applies after the password). "minimal" has no
 * AccessPolicy list: everyone is allowed. Y = allowed, N = refused. */
static void test_access_table(void **state)
{
    (void)state;
    static const char *const from[] = {
        "192.0.2.7", "198.51.100.7", "2001:db8:1::7", "2001:db8:2::7", "::ffff:192.0.2.7",
    };
    static const struct { const char *config, *user, *allowed; } rows[] = {
        /*                                       from: v4 in, v4 out, v6 in, v6 out, mapped in */
        { "policy",  "open@a.test",      "YYYYY" },   /* ServiceAllowed */
        { "policy",  "denied@a.test",    "NNNNN" },   /* ServiceDenied (named "closed") */
        { "policy",  "office@a.test",    "YNYNY" },   /* ServiceIpAllowed Office */
        { "policy",  "notoffice@a.test", "NYNYN" },   /* ServiceIpDenied Office */
        { "policy",  "free@a.test",      "YNYNY" },   /* no policy: the default */
        { "policy",  "ghost@a.test",     "YNYNY" },   /* unknown name: the default */
        { "minimal", "denied@a.test",    "YYYYY" },   /* no policies at all */
        { "minimal", "free@a.test",      "YYYYY" },
    };
    struct server_config *users_cfg = load_config(FIXTURES "policy");
    struct directory *dir = load_users(users_cfg);
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        char cfg_dir[64];
        snprintf(cfg_dir, sizeof cfg_dir, FIXTURES "%s", rows[r].config);
        struct server_config *cfg = load_config(cfg_dir);
        const struct dir_user *u = find_user(dir, rows[r].user);
        for (size_t c = 0; c < sizeof from / sizeof from[0]; c++) {
            struct sockaddr_storage ss = address(from[c]);
            char got = policy_access_allowed(cfg, u, (struct sockaddr *)&ss) ? 'Y' : 'N';
            if (got != rows[r].allowed[c])
                print_error("%s %s from %s: got %c\n", rows[r].config, rows[r].user, from[c], got);
            assert_int_equal(got, rows[r].allowed[c]);
        }
        config_free(cfg);
    }
    assert_string_equal(POLICY_ACCESS_TEXT, "Access to instant messaging is not allowed");
    directory_free(dir);
    config_free(users_cfg);
}

static size_t count_lines(const char *text)
{
    size_t n = 0;
    for (; *text; text++) n += *text == '\n';
    return n;
}

/* ACC-1: a user naming an unknown policy is a Warning at load. */
static void test_unknown_policy_warned(void **state)
{
    struct scratch *s = *state;
    struct server_config *cfg = load_config(FIXTURES "policy");
    struct directory *dir = load_users(cfg);
    assert_int_equal(policy_warn_unknown_access(cfg, dir), 1);
    char *log = scratch_warnings(s);
    assert_int_equal(count_lines(log), 1);
    assert_non_null(strstr(log, "User ghost@a.test: AccessPolicy \"NoSuchPolicy\" is not defined"));
    assert_non_null(strstr(log, "the default policy applies: Office only."));
    free(log);

    struct server_config *bare = load_config(FIXTURES "minimal");
    /* open, denied, office, notoffice and ghost name policies "minimal" lacks */
    assert_int_equal(policy_warn_unknown_access(bare, dir), 5);
    log = scratch_warnings(s);
    assert_int_equal(count_lines(log), 6);
    assert_non_null(strstr(log, "User denied@a.test: AccessPolicy \"closed\" is not defined"));
    assert_non_null(strstr(log, "access is allowed (no default policy)."));
    free(log);
    config_free(bare);
    directory_free(dir);
    config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_restricted),
        cmocka_unit_test(test_domain_table),
        cmocka_unit_test(test_domain_edges),
        cmocka_unit_test(test_access_table),
        cmocka_unit_test_setup_teardown(test_unknown_policy_warned, scratch_setup,
                                        scratch_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
