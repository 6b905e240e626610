/* Unit tests for hammer: anti-hammering per IP address (SEC-7) and account
 * lockout (SEC-8), with explicit times: the threshold within the window,
 * the block's length, disabling, unlocking, success resetting, and the
 * bounded table. Settings used unless a test says otherwise:
 * AntiHammering 3 failures in 20 s block 120 s; lockout 4 failures, 15 min. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "hammer.h"

static const struct antihammer_config ANTIHAMMER = { true, 3, 20, 120, NULL };
static const struct lockout_config LOCKOUT = { true, 4, 15 };
#define LOCK_SECONDS (15 * 60.0)

static struct hammer *new_hammer(void)
{
    return hammer_new(&ANTIHAMMER, &LOCKOUT);
}

/* SEC-7: the FailedLogins-th failure within CheckTime blocks, not one
 * before; the failure at the window's edge still counts; other addresses
 * are unaffected. */
static void test_ip_blocked_at_threshold(void **state)
{
    (void)state;
    struct hammer *h = new_hammer();
    assert_int_equal(hammer_failure(h, "192.0.2.1", NULL, 100), 0);
    assert_int_equal(hammer_failure(h, "192.0.2.1", NULL, 110), 0);
    assert_false(hammer_ip_blocked(h, "192.0.2.1", 119));
    assert_int_equal(hammer_failure(h, "192.0.2.1", NULL, 120), HAMMER_IP_BLOCKED); /* 0..20 s */
    assert_true(hammer_ip_blocked(h, "192.0.2.1", 120));
    assert_false(hammer_ip_blocked(h, "192.0.2.2", 120));
    assert_int_equal(hammer_failure(h, "2001:db8::1", NULL, 120), 0);
    assert_false(hammer_ip_blocked(h, "2001:DB8::1", 121));
    hammer_free(h);
}

/* SEC-7: failures spread wider than CheckTime never block; the window
 * slides (0, 15, 25, 30: the last three are within 20 s). */
static void test_ip_spread_failures(void **state)
{
    (void)state;
    struct hammer *h = new_hammer();
    for (int i = 0; i < 50; i++) {
        assert_int_equal(hammer_failure(h, "192.0.2.1", NULL, i * 10.5), 0);
        assert_false(hammer_ip_blocked(h, "192.0.2.1", i * 10.5));
    }
    assert_int_equal(hammer_failure(h, "192.0.2.9", NULL, 0), 0);
    assert_int_equal(hammer_failure(h, "192.0.2.9", NULL, 15), 0);
    assert_int_equal(hammer_failure(h, "192.0.2.9", NULL, 25), 0);
    assert_int_equal(hammer_failure(h, "192.0.2.9", NULL, 30), HAMMER_IP_BLOCKED);
    hammer_free(h);
}

/* SEC-7: the block lasts BlockTime, failures during it start nothing, and
 * counting starts afresh after it. */
static void test_ip_block_lifts(void **state)
{
    (void)state;
    struct hammer *h = new_hammer();
    for (int i = 0; i < 3; i++) hammer_failure(h, "192.0.2.1", NULL, 1000 + i);
    assert_true(hammer_ip_blocked(h, "192.0.2.1", 1002));
    assert_int_equal(hammer_failure(h, "192.0.2.1", NULL, 1050), 0);
    assert_true(hammer_ip_blocked(h, "192.0.2.1", 1121.9));
    assert_false(hammer_ip_blocked(h, "192.0.2.1", 1122));     /* 1002 + 120 */
    assert_int_equal(hammer_failure(h, "192.0.2.1", NULL, 1123), 0);
    assert_int_equal(hammer_failure(h, "192.0.2.1", NULL, 1124), 0);
    assert_false(hammer_ip_blocked(h, "192.0.2.1", 1124));
    assert_int_equal(hammer_failure(h, "192.0.2.1", NULL, 1125), HAMMER_IP_BLOCKED);
    assert_true(hammer_ip_blocked(h, "192.0.2.1", 1244.5));
    assert_false(hammer_ip_blocked(h, "192.0.2.1", 1245));
    hammer_free(h);
}

/* SEC-7, SEC-8: disabled settings never block nor lock; settings can be
 * changed on a running table. */
static void test_disabled(void **state)
{
    (void)state;
    struct antihammer_config ah = ANTIHAMMER;
    struct lockout_config lo = LOCKOUT;
    ah.enabled = false;
    lo.enabled = false;
    struct hammer *h = hammer_new(&ah, &lo);
    for (int i = 0; i < 100; i++)
        assert_int_equal(hammer_failure(h, "192.0.2.1", "alice@a.test", i), 0);
    assert_false(hammer_ip_blocked(h, "192.0.2.1", 100));
    assert_false(hammer_account_locked(h, "alice@a.test", 100));
    hammer_configure(h, &ANTIHAMMER, &LOCKOUT);
    hammer_failure(h, "192.0.2.1", "alice@a.test", 200);
    hammer_failure(h, "192.0.2.1", "alice@a.test", 201);
    assert_int_equal(hammer_failure(h, "192.0.2.1", "alice@a.test", 202), HAMMER_IP_BLOCKED);
    assert_int_equal(hammer_failure(h, "192.0.2.2", "alice@a.test", 203), HAMMER_ACCOUNT_LOCKED);
    hammer_configure(h, &ah, &lo);                             /* blocks no longer apply */
    assert_false(hammer_ip_blocked(h, "192.0.2.1", 204));
    assert_false(hammer_account_locked(h, "alice@a.test", 204));
    hammer_free(h);
}

/* SEC-8: the N-th failure for one account locks it, whatever the addresses
 * (no IP reaches its own threshold); a failure can start both blocks. */
static void test_account_lockout_across_ips(void **state)
{
    (void)state;
    struct hammer *h = new_hammer();
    static const char *const ips[] = { "192.0.2.1", "192.0.2.2", "2001:db8::1", "198.51.100.4" };
    for (int i = 0; i < 3; i++) {
        assert_int_equal(hammer_failure(h, ips[i], "alice@a.test", i), 0);
        assert_false(hammer_account_locked(h, "alice@a.test", i));
    }
    assert_int_equal(hammer_failure(h, ips[3], "alice@a.test", 3), HAMMER_ACCOUNT_LOCKED);
    assert_true(hammer_account_locked(h, "alice@a.test", 3));
    assert_true(hammer_account_locked(h, "ALICE@A.test", 3));
    assert_false(hammer_account_locked(h, "bob@a.test", 3));
    assert_false(hammer_ip_blocked(h, ips[3], 3));

    hammer_failure(h, "192.0.2.50", "bob@a.test", 10);
    hammer_failure(h, "192.0.2.50", "bob@a.test", 11);
    hammer_failure(h, "192.0.2.51", "bob@a.test", 12);
    assert_int_equal(hammer_failure(h, "192.0.2.50", "bob@a.test", 13),
                     HAMMER_IP_BLOCKED | HAMMER_ACCOUNT_LOCKED);
    hammer_free(h);
}

/* SEC-8: a lock lasts LockTime minutes; failures older than that are
 * forgotten. */
static void test_account_lock_expiry(void **state)
{
    (void)state;
    struct hammer *h = new_hammer();
    for (int i = 0; i < 4; i++) hammer_failure(h, NULL, "alice@a.test", 50);
    assert_true(hammer_account_locked(h, "alice@a.test", 50 + LOCK_SECONDS - 0.5));
    assert_false(hammer_account_locked(h, "alice@a.test", 50 + LOCK_SECONDS));

    for (int i = 0; i < 3; i++) hammer_failure(h, NULL, "bob@a.test", 2000);
    assert_int_equal(hammer_failure(h, NULL, "bob@a.test", 2000 + LOCK_SECONDS + 1), 0);
    assert_false(hammer_account_locked(h, "bob@a.test", 2000 + LOCK_SECONDS + 1));
    hammer_free(h);
}

/* SEC-8: the administrator unlocks; unlocking an unlocked account says so. */
static void test_account_unlock(void **state)
{
    (void)state;
    struct hammer *h = new_hammer();
    assert_false(hammer_unlock_account(h, "alice@a.test"));
    for (int i = 0; i < 4; i++) hammer_failure(h, NULL, "alice@a.test", 10);
    assert_true(hammer_account_locked(h, "alice@a.test", 11));
    assert_true(hammer_unlock_account(h, "Alice@a.test"));
    assert_false(hammer_account_locked(h, "alice@a.test", 11));
    assert_false(hammer_unlock_account(h, "alice@a.test"));
    for (int i = 0; i < 3; i++)                                 /* the count restarted too */
        assert_int_equal(hammer_failure(h, NULL, "alice@a.test", 12), 0);
    assert_int_equal(hammer_failure(h, NULL, "alice@a.test", 12), HAMMER_ACCOUNT_LOCKED);
    assert_false(hammer_unlock_account(h, "bob@a.test"));
    hammer_free(h);
}

/* SEC-8: a successful login resets the account's count (not a lock). */
static void test_success_resets(void **state)
{
    (void)state;
    struct hammer *h = new_hammer();
    for (int i = 0; i < 3; i++) hammer_failure(h, NULL, "alice@a.test", 1);
    hammer_success(h, "alice@a.test");
    for (int i = 0; i < 3; i++)
        assert_int_equal(hammer_failure(h, NULL, "alice@a.test", 2), 0);
    assert_false(hammer_account_locked(h, "alice@a.test", 2));
    assert_int_equal(hammer_failure(h, NULL, "alice@a.test", 2), HAMMER_ACCOUNT_LOCKED);
    hammer_success(h, "alice@a.test");
    assert_true(hammer_account_locked(h, "alice@a.test", 3));
    hammer_success(h, "nobody@a.test");
    hammer_success(h, NULL);
    hammer_free(h);
}

static void numbered_ip(char *out, size_t len, unsigned i)
{
    snprintf(out, len, "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
}

/* SEC-7, SEC-8: at most HAMMER_MAX_ENTRIES addresses and accounts are
 * tracked, the oldest forgotten first; the newest are still counted. */
static void test_entry_cap(void **state)
{
    (void)state;
    struct hammer *h = new_hammer();
    hammer_failure(h, "192.0.2.1", "first@a.test", 0);
    hammer_failure(h, "192.0.2.1", "first@a.test", 0);
    unsigned total = HAMMER_MAX_ENTRIES + 1000;
    char ip[32], account[48];
    for (unsigned i = 0; i < total; i++) {
        numbered_ip(ip, sizeof ip, i);
        snprintf(account, sizeof account, "u%u@a.test", i);
        hammer_failure(h, ip, account, 1);
    }
    size_t ips, accounts;
    hammer_counts(h, &ips, &accounts);
    assert_int_equal(ips, HAMMER_MAX_ENTRIES);
    assert_int_equal(accounts, HAMMER_MAX_ENTRIES);

    /* the first entries were forgotten: their count starts again at 1 */
    assert_int_equal(hammer_failure(h, "192.0.2.1", "first@a.test", 2), 0);
    assert_false(hammer_ip_blocked(h, "192.0.2.1", 2));
    /* the newest still hold their failure */
    numbered_ip(ip, sizeof ip, total - 1);
    snprintf(account, sizeof account, "u%u@a.test", total - 1);
    assert_int_equal(hammer_failure(h, ip, account, 2), 0);
    assert_int_equal(hammer_failure(h, ip, account, 2), HAMMER_IP_BLOCKED);
    assert_int_equal(hammer_failure(h, NULL, account, 2), HAMMER_ACCOUNT_LOCKED);
    hammer_counts(h, &ips, &accounts);
    assert_int_equal(ips, HAMMER_MAX_ENTRIES);
    assert_int_equal(accounts, HAMMER_MAX_ENTRIES);
    hammer_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ip_blocked_at_threshold),
        cmocka_unit_test(test_ip_spread_failures),
        cmocka_unit_test(test_ip_block_lifts),
        cmocka_unit_test(test_disabled),
        cmocka_unit_test(test_account_lockout_across_ips),
        cmocka_unit_test(test_account_lock_expiry),
        cmocka_unit_test(test_account_unlock),
        cmocka_unit_test(test_success_resets),
        cmocka_unit_test(test_entry_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
