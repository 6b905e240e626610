/* Unit tests for store.c: rosters with versions (IM-3) and offline messages
 * (IM-4), durability across a restart and across kill -9 of the writer; the
 * users' changes to Colleagues items (ROST-5..7) sharing the roster version,
 * and the upgrade of a schema-version-1 database. */
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "log.h"
#include "store.h"

struct fixture {
    char dir[64];
    struct store *st;
};

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/imref-store-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    struct buf err;
    buf_init(&err);
    int rc = store_open(f->dir, &f->st, &err);
    buf_free(&err);
    *state = f;
    return rc;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(f->st);
    nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void reopen(struct fixture *f)
{
    struct buf err;
    buf_init(&err);
    store_close(f->st);
    f->st = NULL;
    assert_int_equal(store_open(f->dir, &f->st, &err), 0);
    buf_free(&err);
}

static struct roster_item make_item(const char *jid, const char *name, enum sub_state sub, const char **groups,
                                    size_t n_groups)
{
    struct roster_item it = { (char *)jid, (char *)name, { sub, false, false, false, true }, (char **)groups,
                              n_groups };
    return it;
}

static void assert_item_equal(const struct roster_item *got, const struct roster_item *want)
{
    assert_string_equal(got->jid, want->jid);
    if (want->name) assert_string_equal(got->name, want->name);
    else assert_null(got->name);
    assert_int_equal(got->state.sub, want->state.sub);
    assert_int_equal(got->state.ask_out, want->state.ask_out);
    assert_int_equal(got->state.pending_in, want->state.pending_in);
    assert_int_equal(got->state.preapproved, want->state.preapproved);
    assert_int_equal(got->state.exists, want->state.exists);
    assert_int_equal(got->n_groups, want->n_groups);
    for (size_t i = 0; i < want->n_groups; i++) assert_string_equal(got->groups[i], want->groups[i]);
}

/* IM-3: put/get/delete, insertion order, versions only grow. */
static void test_im3_roster_put_get_delete_versions(void **state)
{
    struct fixture *f = *state;
    const char *user = "alice@localhost";
    unsigned long long v = 99;
    struct roster_item *items;
    size_t n;

    assert_int_equal(store_roster_get(f->st, user, &items, &n, &v), 0);
    assert_int_equal(n, 0);
    assert_int_equal(v, 0);

    struct roster_item bob = make_item("bob@localhost", "Bob", SUB_BOTH, NULL, 0);
    struct roster_item carol = make_item("carol@example.com", NULL, SUB_NONE, NULL, 0);
    carol.state.ask_out = true;
    assert_int_equal(store_roster_put(f->st, user, &bob, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(store_roster_put(f->st, user, &carol, &v), 0);
    assert_int_equal(v, 2);

    /* replacing bob keeps his place and bumps the version */
    bob.name = "Bobby";
    bob.state.sub = SUB_TO;
    assert_int_equal(store_roster_put(f->st, user, &bob, &v), 0);
    assert_int_equal(v, 3);
    assert_int_equal(store_roster_get(f->st, user, &items, &n, &v), 0);
    assert_int_equal(n, 2);
    assert_int_equal(v, 3);
    assert_item_equal(&items[0], &bob);
    assert_item_equal(&items[1], &carol);
    roster_items_free(items, n);

    struct roster_item one;
    assert_int_equal(store_roster_get_item(f->st, user, "carol@example.com", &one), 1);
    assert_item_equal(&one, &carol);
    roster_item_clear(&one);
    assert_int_equal(store_roster_get_item(f->st, user, "Carol@example.com", &one), 0); /* exact match */
    assert_int_equal(store_roster_get_item(f->st, "bob@localhost", "carol@example.com", &one), 0);

    assert_int_equal(store_roster_delete(f->st, user, "carol@example.com", &v), 1);
    assert_int_equal(v, 4);
    assert_int_equal(store_roster_delete(f->st, user, "carol@example.com", &v), 0);
    assert_int_equal(v, 4);
    assert_int_equal(store_roster_version(f->st, user, &v), 0);
    assert_int_equal(v, 4);
    assert_int_equal(store_roster_version(f->st, "bob@localhost", &v), 0);
    assert_int_equal(v, 0);

    /* a new item after a deletion goes last */
    struct roster_item dave = make_item("dave@localhost", "Dave", SUB_FROM, NULL, 0);
    assert_int_equal(store_roster_put(f->st, user, &dave, &v), 0);
    assert_int_equal(v, 5);
    assert_int_equal(store_roster_get(f->st, user, &items, &n, &v), 0);
    assert_int_equal(n, 2);
    assert_string_equal(items[0].jid, "bob@localhost");
    assert_string_equal(items[1].jid, "dave@localhost");
    roster_items_free(items, n);
}

/* IM-3: groups keep their order per item; state flags round trip. */
static void test_im3_groups_and_state_round_trip(void **state)
{
    struct fixture *f = *state;
    const char *user = "alice@localhost";
    unsigned long long v;
    const char *groups[] = { "Work", "Friends", "Colleagues", "Ünïcødé 'q' \"x\" <&>" };
    const char *fewer[] = { "Friends" };
    struct roster_item a = make_item("a@localhost", "A", SUB_FROM, groups, 4);
    a.state.ask_out = true;
    struct roster_item b = make_item("b@localhost", "B", SUB_NONE, fewer, 1);
    b.state.preapproved = true;
    struct roster_item c = make_item("c@remote.example", NULL, SUB_NONE, NULL, 0);
    c.state.pending_in = true;
    c.state.exists = false;
    assert_int_equal(store_roster_put(f->st, user, &a, &v), 0);
    assert_int_equal(store_roster_put(f->st, user, &b, &v), 0);
    assert_int_equal(store_roster_put(f->st, user, &c, &v), 0);

    struct roster_item *items;
    size_t n;
    assert_int_equal(store_roster_get(f->st, user, &items, &n, &v), 0);
    assert_int_equal(n, 3);
    assert_item_equal(&items[0], &a);
    assert_item_equal(&items[1], &b);
    assert_item_equal(&items[2], &c);
    roster_items_free(items, n);

    /* replacing the groups drops the old ones */
    a.groups = (char **)fewer;
    a.n_groups = 1;
    assert_int_equal(store_roster_put(f->st, user, &a, &v), 0);
    struct roster_item got;
    assert_int_equal(store_roster_get_item(f->st, user, "a@localhost", &got), 1);
    assert_item_equal(&got, &a);
    roster_item_clear(&got);
}

/* IM-3, IM-4: everything is found again after closing and reopening. */
static void test_im3_im4_reopen_finds_everything(void **state)
{
    struct fixture *f = *state;
    const char *groups[] = { "G1", "G2" };
    struct roster_item bob = make_item("bob@localhost", "Bob", SUB_BOTH, groups, 2);
    unsigned long long v;
    assert_int_equal(store_roster_put(f->st, "alice@localhost", &bob, &v), 0);
    assert_int_equal(store_offline_push(f->st, "alice@localhost", "<message><body>1</body></message>", 1000, 10), 0);
    assert_int_equal(store_offline_push(f->st, "alice@localhost", "<message><body>2</body></message>", 1001, 10), 0);

    reopen(f);

    struct roster_item *items;
    size_t n;
    assert_int_equal(store_roster_get(f->st, "alice@localhost", &items, &n, &v), 0);
    assert_int_equal(n, 1);
    assert_int_equal(v, 1);
    assert_item_equal(&items[0], &bob);
    roster_items_free(items, n);
    struct offline_msg *msgs;
    assert_int_equal(store_offline_list(f->st, "alice@localhost", &msgs, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(msgs[0].xml, "<message><body>1</body></message>");
    assert_int_equal(msgs[1].stamp, 1001);
    offline_msgs_free(msgs, n);

    /* the database is in WAL mode with the schema version set */
    sqlite3 *db;
    char path[128];
    snprintf(path, sizeof path, "%s/imref.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(s, 0), 2);
    sqlite3_finalize(s);
    sqlite3_close(db);
}

/* IM-4: arrival order, the per-user bound, list then delete_upto. */
static void test_im4_offline_order_bound_delete(void **state)
{
    struct fixture *f = *state;
    const char *user = "bob@localhost";
    char xml[64];
    for (int i = 0; i < 5; i++) {
        snprintf(xml, sizeof xml, "<message><body>m%d</body></message>", i);
        assert_int_equal(store_offline_push(f->st, user, xml, 2000 + i, 5), 0);
    }
    assert_int_equal(store_offline_push(f->st, user, "<message><body>over</body></message>", 3000, 5), 1);
    assert_int_equal(store_offline_count(f->st, user), 5);
    assert_int_equal(store_offline_push(f->st, "carol@localhost", "<message/>", 1, 5), 0); /* per user */
    assert_int_equal(store_offline_push(f->st, "carol@localhost", "<message/>", 1, 0), 1);

    struct offline_msg *msgs;
    size_t n;
    assert_int_equal(store_offline_list(f->st, user, &msgs, &n), 0);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++) {
        snprintf(xml, sizeof xml, "<message><body>m%zu</body></message>", i);
        assert_string_equal(msgs[i].xml, xml);
        assert_int_equal(msgs[i].stamp, 2000 + (long long)i);
        if (i > 0) assert_true(msgs[i].id > msgs[i - 1].id);
    }
    long long third = msgs[2].id, last = msgs[4].id;
    offline_msgs_free(msgs, n);
    assert_int_equal(store_offline_count(f->st, user), 5); /* listing does not delete */

    assert_int_equal(store_offline_delete_upto(f->st, user, third), 0);
    assert_int_equal(store_offline_list(f->st, user, &msgs, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(msgs[0].xml, "<message><body>m3</body></message>");
    offline_msgs_free(msgs, n);
    assert_int_equal(store_offline_count(f->st, "carol@localhost"), 1); /* other users untouched */

    /* below the bound again; new ids are never reused */
    long long id = 0;
    assert_int_equal(store_offline_delete_upto(f->st, user, last), 0);
    assert_int_equal(store_offline_count(f->st, user), 0);
    assert_int_equal(store_offline_push_id(f->st, user, "<message/>", 1, 5, &id), 0);
    assert_true(id > last);
}

/* IM-4: a stanza near the 256 KiB limit with quotes and Unicode survives byte for byte. */
static void test_im4_large_payload(void **state)
{
    struct fixture *f = *state;
    struct buf xml;
    buf_init(&xml);
    buf_puts(&xml, "<message to='bob@localhost' from=\"alice@localhost/r\" type='chat'><body>");
    while (xml.len < 250000) buf_puts(&xml, "'\"&amp;&lt; Grüße 日本語 😀 \\ % ");
    buf_puts(&xml, "</body></message>");
    assert_int_equal(store_offline_push(f->st, "bob@localhost", xml.data, 42, 1000), 0);
    reopen(f);
    struct offline_msg *msgs;
    size_t n;
    assert_int_equal(store_offline_list(f->st, "bob@localhost", &msgs, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(strlen(msgs[0].xml), xml.len);
    assert_memory_equal(msgs[0].xml, xml.data, xml.len);
    offline_msgs_free(msgs, n);
    buf_free(&xml);
}

/* The child of the kill -9 test: commits messages and reports each id on
 * the pipe only after its commit returned. Never returns. */
static void commit_until_killed(const char *dir, int report_fd)
{
    struct store *st;
    struct buf err;
    buf_init(&err);
    if (store_open(dir, &st, &err) != 0) _exit(2);
    for (int i = 0; i < 1000000; i++) {
        long long id;
        if (store_offline_push_id(st, "victim@localhost", "<message><body>x</body></message>", i, UINT32_MAX,
                                  &id) != 0)
            _exit(3);
        if (write(report_fd, &id, sizeof id) != (ssize_t)sizeof id) _exit(4);
    }
    _exit(0);
}

/* IM-4: every message whose commit was acknowledged survives kill -9. */
static void test_im4_kill9_keeps_acknowledged_messages(void **state)
{
    struct fixture *f = *state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        commit_until_killed(f->dir, fds[1]);
    }
    close(fds[1]);

    size_t cap = 1024, n = 0;
    long long *reported = malloc(cap * sizeof *reported);
    long long id;
    bool killed = false;
    while (read(fds[0], &id, sizeof id) == (ssize_t)sizeof id) {
        if (n == cap) reported = realloc(reported, (cap *= 2) * sizeof *reported);
        reported[n++] = id;
        if (n == 200 && !killed) killed = kill(pid, SIGKILL) == 0; /* part way */
    }
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(killed);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_true(n >= 200);

    reopen(f);
    struct offline_msg *msgs;
    size_t stored;
    assert_int_equal(store_offline_list(f->st, "victim@localhost", &msgs, &stored), 0);
    assert_true(stored >= n);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        while (j < stored && msgs[j].id < reported[i]) j++;
        if (j == stored || msgs[j].id != reported[i]) fail_msg("acknowledged id %lld lost after kill -9", reported[i]);
    }
    print_message("kill -9 after %zu acknowledged commits; %zu messages found\n", n, stored);
    offline_msgs_free(msgs, stored);
    free(reported);
}

static char *read_file(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp) return NULL;
    struct buf b;
    buf_init(&b);
    char chunk[512];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, fp)) > 0) buf_append(&b, chunk, got);
    fclose(fp);
    return b.data ? buf_steal(&b) : xstrdup("");
}

/* IM-4 (storage failures, LOG-2): a store that cannot open says why, in err and the Error log. */
static void test_im4_open_errors_are_logged(void **state)
{
    struct fixture *f = *state;
    char path[256];
    assert_int_equal(log_open(f->dir, false), 0);

    snprintf(path, sizeof path, "%s/plainfile", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
    struct store *st = (struct store *)1;
    struct buf err;
    buf_init(&err);
    assert_int_equal(store_open(path, &st, &err), -1);
    assert_null(st);
    assert_non_null(err.data);
    assert_non_null(strstr(err.data, "imref.db"));

    /* a database from a newer schema is refused, not touched */
    char newer[128];
    snprintf(newer, sizeof newer, "%s/newer", f->dir);
    assert_int_equal(mkdir(newer, 0700), 0);
    snprintf(path, sizeof path, "%s/imref.db", newer);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    buf_reset(&err);
    assert_int_equal(store_open(newer, &st, &err), -1);
    assert_non_null(strstr(err.data, "schema version 99"));
    buf_free(&err);
    log_close();

    snprintf(path, sizeof path, "%s/error.log", f->dir);
    char *log = read_file(path);
    assert_non_null(log);
    assert_non_null(strstr(log, "Store: cannot open"));
    assert_non_null(strstr(log, "schema version 99"));
    free(log);
}

/* ---- changes to Colleagues items (ROST-5, ROST-6, ROST-7) ---------------- */

static struct colleague_override make_override(const char *contact, bool removed, const char *name,
                                               const char **groups, size_t n_groups, bool has_groups)
{
    struct colleague_override ov = { (char *)contact, removed, (char *)name, (char **)groups, n_groups,
                                     has_groups };
    return ov;
}

static void assert_override_equal(const struct colleague_override *got, const struct colleague_override *want)
{
    assert_string_equal(got->contact, want->contact);
    assert_int_equal(got->removed, want->removed);
    if (want->name) assert_string_equal(got->name, want->name);
    else assert_null(got->name);
    assert_int_equal(got->has_groups, want->has_groups);
    size_t want_groups = want->has_groups ? want->n_groups : 0;
    assert_int_equal(got->n_groups, want_groups);
    for (size_t i = 0; i < want_groups; i++) assert_string_equal(got->groups[i], want->groups[i]);
}

static unsigned long long version_of(struct store *st, const char *user)
{
    unsigned long long v = 12345;
    assert_int_equal(store_roster_version(st, user, &v), 0);
    return v;
}

/* ROST-6: put/get/list; replacing keeps the place; every change bumps the
 * one per-user roster version, shared with the stored roster items. */
static void test_rost6_override_put_get_list_versions(void **state)
{
    struct fixture *f = *state;
    const char *user = "alice@localhost";
    unsigned long long v = 0;
    struct colleague_override got;

    assert_int_equal(store_override_get(f->st, user, "bob@localhost", &got), 0);
    struct colleague_override bob = make_override("bob@localhost", true, NULL, NULL, 0, false);
    assert_int_equal(store_override_put(f->st, user, &bob, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(version_of(f->st, user), 1);

    /* a roster item continues the same sequence */
    struct roster_item dave = make_item("dave@example.com", "Dave", SUB_BOTH, NULL, 0);
    assert_int_equal(store_roster_put(f->st, user, &dave, &v), 0);
    assert_int_equal(v, 2);

    const char *groups[] = { "Friends", "Work" };
    struct colleague_override carol = make_override("carol@localhost", false, "Caro", groups, 2, true);
    assert_int_equal(store_override_put(f->st, user, &carol, &v), 0);
    assert_int_equal(v, 3);
    assert_int_equal(store_override_get(f->st, user, "carol@localhost", &got), 1);
    assert_override_equal(&got, &carol);
    colleague_override_clear(&got);

    /* bob restored with a new name and no group at all: replaced in place */
    bob = make_override("bob@localhost", false, "Robert", NULL, 0, true);
    assert_int_equal(store_override_put(f->st, user, &bob, &v), 0);
    assert_int_equal(v, 4);
    /* carol back to the default groups: the stored groups are dropped */
    carol = make_override("carol@localhost", false, "Caro", groups, 2, false);
    assert_int_equal(store_override_put(f->st, user, &carol, &v), 0);
    assert_int_equal(v, 5);
    assert_int_equal(version_of(f->st, user), 5);

    struct colleague_override *list;
    size_t n;
    assert_int_equal(store_override_list(f->st, user, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_override_equal(&list[0], &bob);
    assert_override_equal(&list[1], &carol);
    colleague_overrides_free(list, n);

    /* the stored roster is untouched; other users see nothing */
    struct roster_item *items;
    assert_int_equal(store_roster_get(f->st, user, &items, &n, &v), 0);
    assert_int_equal(n, 1);
    assert_string_equal(items[0].jid, "dave@example.com");
    assert_int_equal(v, 5);
    roster_items_free(items, n);
    assert_int_equal(store_override_list(f->st, "bob@localhost", &list, &n), 0);
    assert_int_equal(n, 0);
    assert_null(list);
    assert_int_equal(store_override_get(f->st, "bob@localhost", "carol@localhost", &got), 0);
    assert_int_equal(store_override_get(f->st, user, "Carol@localhost", &got), 0); /* exact match */
    assert_int_equal(version_of(f->st, "bob@localhost"), 0);
}

/* ROST-5: a removal by either side cuts the pair; renaming does not. */
static void test_rost5_removed_either_direction(void **state)
{
    struct fixture *f = *state;
    unsigned long long v;
    const char *a = "alice@localhost", *b = "bob@localhost", *c = "carol@localhost";

    assert_int_equal(store_override_removed_either(f->st, a, b), 0);
    struct colleague_override removed_b = make_override(b, true, NULL, NULL, 0, false);
    assert_int_equal(store_override_put(f->st, a, &removed_b, &v), 0);
    assert_int_equal(store_override_removed_either(f->st, a, b), 1);
    assert_int_equal(store_override_removed_either(f->st, b, a), 1);
    assert_int_equal(store_override_removed_either(f->st, a, c), 0);
    assert_int_equal(store_override_removed_either(f->st, c, b), 0);

    struct colleague_override renamed_a = make_override(a, false, "Al", NULL, 0, false);
    assert_int_equal(store_override_put(f->st, c, &renamed_a, &v), 0);
    assert_int_equal(store_override_removed_either(f->st, a, c), 0);
    assert_int_equal(store_override_removed_either(f->st, c, a), 0);

    /* bob removes carol: cut from carol's side too */
    struct colleague_override removed_c = make_override(c, true, NULL, NULL, 0, false);
    assert_int_equal(store_override_put(f->st, b, &removed_c, &v), 0);
    assert_int_equal(store_override_removed_either(f->st, c, b), 1);

    /* alice takes bob back: the pair flows again */
    struct colleague_override restored_b = make_override(b, false, NULL, NULL, 0, false);
    assert_int_equal(store_override_put(f->st, a, &restored_b, &v), 0);
    assert_int_equal(store_override_removed_either(f->st, b, a), 0);
    assert_int_equal(store_override_removed_either(f->st, a, b), 0);
}

/* ROST-7: clearing drops every change of the user (and only that user's),
 * keeps the contacts the user added, and bumps the version only if it
 * dropped something. */
static void test_rost7_clear_keeps_added_contacts(void **state)
{
    struct fixture *f = *state;
    const char *user = "alice@localhost";
    unsigned long long v;
    const char *groups[] = { "Mine" };

    struct roster_item added = make_item("zoe@example.com", "Zoe", SUB_BOTH, groups, 1);
    assert_int_equal(store_roster_put(f->st, user, &added, &v), 0);
    struct colleague_override bob = make_override("bob@localhost", true, NULL, NULL, 0, false);
    struct colleague_override carol = make_override("carol@localhost", false, "C", groups, 1, true);
    assert_int_equal(store_override_put(f->st, user, &bob, &v), 0);
    assert_int_equal(store_override_put(f->st, user, &carol, &v), 0);
    assert_int_equal(store_override_put(f->st, "bob@localhost", &carol, &v), 0);
    unsigned long long before = version_of(f->st, user);
    assert_int_equal(before, 3);

    assert_int_equal(store_override_clear(f->st, user, &v), 2);
    assert_int_equal(v, 4);
    assert_int_equal(version_of(f->st, user), 4);
    struct colleague_override *list;
    size_t n;
    assert_int_equal(store_override_list(f->st, user, &list, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(store_override_removed_either(f->st, user, "bob@localhost"), 0);

    v = 0;
    assert_int_equal(store_override_clear(f->st, user, &v), 0);
    assert_int_equal(v, 4);
    assert_int_equal(version_of(f->st, user), 4);

    struct roster_item *items;
    assert_int_equal(store_roster_get(f->st, user, &items, &n, &v), 0);
    assert_int_equal(n, 1);
    assert_item_equal(&items[0], &added);
    roster_items_free(items, n);

    assert_int_equal(store_override_list(f->st, "bob@localhost", &list, &n), 0);
    assert_int_equal(n, 1);
    assert_override_equal(&list[0], &carol);
    colleague_overrides_free(list, n);
}

/* ROST-6: the changes survive a restart. */
static void test_rost6_overrides_survive_reopen(void **state)
{
    struct fixture *f = *state;
    unsigned long long v;
    const char *groups[] = { "Team", "Lunch" };
    struct colleague_override bob = make_override("bob@localhost", true, NULL, NULL, 0, false);
    struct colleague_override carol = make_override("carol@localhost", false, "Carol C.", groups, 2, true);
    assert_int_equal(store_override_put(f->st, "alice@localhost", &bob, &v), 0);
    assert_int_equal(store_override_put(f->st, "alice@localhost", &carol, &v), 0);

    reopen(f);
    assert_int_equal(version_of(f->st, "alice@localhost"), 2);
    struct colleague_override *list;
    size_t n;
    assert_int_equal(store_override_list(f->st, "alice@localhost", &list, &n), 0);
    assert_int_equal(n, 2);
    assert_override_equal(&list[0], &bob);
    assert_override_equal(&list[1], &carol);
    colleague_overrides_free(list, n);
    assert_int_equal(store_override_removed_either(f->st, "bob@localhost", "alice@localhost"), 1);
}

/* The schema imref wrote before the Colleagues changes existed (version 1). */
static const char schema_v1[] =
    "CREATE TABLE roster_version (user TEXT PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE roster_item (id INTEGER PRIMARY KEY, user TEXT NOT NULL, jid TEXT NOT NULL, name TEXT,"
    "  subscription TEXT NOT NULL, ask_out INTEGER NOT NULL, pending_in INTEGER NOT NULL,"
    "  preapproved INTEGER NOT NULL, item_exists INTEGER NOT NULL, UNIQUE (user, jid));"
    "CREATE TABLE roster_group (item_id INTEGER NOT NULL, pos INTEGER NOT NULL, name TEXT NOT NULL,"
    "  PRIMARY KEY (item_id, pos)) WITHOUT ROWID;"
    "CREATE TABLE offline (id INTEGER PRIMARY KEY AUTOINCREMENT, user TEXT NOT NULL, stamp INTEGER NOT NULL,"
    "  xml TEXT NOT NULL);"
    "CREATE INDEX offline_by_user ON offline (user, id);"
    "INSERT INTO roster_version VALUES ('alice@localhost', 7);"
    "INSERT INTO roster_item VALUES (1, 'alice@localhost', 'zoe@example.com', 'Zoe', 'both', 0, 0, 0, 1);"
    "INSERT INTO roster_group VALUES (1, 0, 'Friends');"
    "INSERT INTO offline (user, stamp, xml) VALUES ('alice@localhost', 1700000000, '<message/>');"
    "PRAGMA user_version = 1;";

static int user_version(const char *dir)
{
    char path[128];
    snprintf(path, sizeof path, "%s/imref.db", dir);
    sqlite3 *db;
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return version;
}

/* A version-1 database opens, keeps its rosters, versions and messages,
 * and gains the Colleagues changes (schema version 2, once). */
static void test_rost6_migrates_version1_database(void **state)
{
    struct fixture *f = *state;
    char dir[128], path[160];
    snprintf(dir, sizeof dir, "%s/v1", f->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/imref.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, schema_v1, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    struct store *st = NULL;
    struct buf err;
    buf_init(&err);
    int rc = store_open(dir, &st, &err);
    if (rc != 0) print_error("store_open: %s\n", err.data);
    assert_int_equal(rc, 0);
    buf_free(&err);
    assert_int_equal(user_version(dir), 2);

    struct roster_item *items;
    size_t n;
    unsigned long long v;
    assert_int_equal(store_roster_get(st, "alice@localhost", &items, &n, &v), 0);
    assert_int_equal(n, 1);
    assert_int_equal(v, 7);
    assert_string_equal(items[0].jid, "zoe@example.com");
    assert_int_equal(items[0].n_groups, 1);
    assert_string_equal(items[0].groups[0], "Friends");
    roster_items_free(items, n);
    assert_int_equal(store_offline_count(st, "alice@localhost"), 1);

    struct colleague_override bob = make_override("bob@localhost", true, NULL, NULL, 0, false);
    assert_int_equal(store_override_put(st, "alice@localhost", &bob, &v), 0);
    assert_int_equal(v, 8);
    store_close(st);

    /* opening again does not migrate twice */
    buf_init(&err);
    assert_int_equal(store_open(dir, &st, &err), 0);
    buf_free(&err);
    assert_int_equal(user_version(dir), 2);
    assert_int_equal(store_override_removed_either(st, "bob@localhost", "alice@localhost"), 1);
    store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_im3_roster_put_get_delete_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_im3_groups_and_state_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_im3_im4_reopen_finds_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_im4_offline_order_bound_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_im4_large_payload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_im4_kill9_keeps_acknowledged_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_im4_open_errors_are_logged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rost6_override_put_get_list_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rost5_removed_either_direction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rost7_clear_keeps_added_contacts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rost6_overrides_survive_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rost6_migrates_version1_database, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
