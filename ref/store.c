#include "store.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

#define SCHEMA_VERSION 2
#define STR_(x) #x
#define STR(x) STR_(x)
#define BUSY_TIMEOUT_MS 5000

/* migrations[v] takes a database from schema version v to v + 1; a new
 * database runs them all. */
static const char *const migrations[SCHEMA_VERSION] = {
    "CREATE TABLE roster_version ("
    "  user TEXT PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE roster_item ("
    "  id INTEGER PRIMARY KEY, user TEXT NOT NULL, jid TEXT NOT NULL, name TEXT,"
    "  subscription TEXT NOT NULL, ask_out INTEGER NOT NULL, pending_in INTEGER NOT NULL,"
    "  preapproved INTEGER NOT NULL, item_exists INTEGER NOT NULL, UNIQUE (user, jid));"
    "CREATE TABLE roster_group ("
    "  item_id INTEGER NOT NULL, pos INTEGER NOT NULL, name TEXT NOT NULL,"
    "  PRIMARY KEY (item_id, pos)) WITHOUT ROWID;"
    /* AUTOINCREMENT: an id is never reused, so delete_upto cannot hit a newer message. */
    "CREATE TABLE offline ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT, user TEXT NOT NULL, stamp INTEGER NOT NULL, xml TEXT NOT NULL);"
    "CREATE INDEX offline_by_user ON offline (user, id);",
    /* 2: the users' changes to Colleagues items (ROST-6). */
    "CREATE TABLE colleague_override ("
    "  id INTEGER PRIMARY KEY, user TEXT NOT NULL, contact TEXT NOT NULL, removed INTEGER NOT NULL,"
    "  name TEXT, has_groups INTEGER NOT NULL, UNIQUE (user, contact));"
    "CREATE TABLE colleague_override_group ("
    "  override_id INTEGER NOT NULL, pos INTEGER NOT NULL, name TEXT NOT NULL,"
    "  PRIMARY KEY (override_id, pos)) WITHOUT ROWID;",
};

enum stmt_id {
    SQL_BEGIN_READ, SQL_BEGIN_WRITE, SQL_COMMIT, SQL_ROLLBACK,
    SQL_VERSION_GET, SQL_VERSION_BUMP,
    SQL_ROSTER_LIST, SQL_ROSTER_ITEM, SQL_ITEM_UPSERT, SQL_ITEM_DELETE,
    SQL_GROUPS_DELETE, SQL_GROUP_INSERT,
    SQL_OFFLINE_COUNT, SQL_OFFLINE_INSERT, SQL_OFFLINE_LIST, SQL_OFFLINE_DELETE_UPTO,
    SQL_OVERRIDE_LIST, SQL_OVERRIDE_ONE, SQL_OVERRIDE_UPSERT, SQL_OVERRIDE_GROUPS_DELETE,
    SQL_OVERRIDE_GROUP_INSERT, SQL_OVERRIDE_CLEAR_GROUPS, SQL_OVERRIDE_CLEAR, SQL_OVERRIDE_REMOVED_EITHER,
    SQL_COUNT
};

#define ITEM_COLUMNS \
    "SELECT i.id, i.jid, i.name, i.subscription, i.ask_out, i.pending_in, i.preapproved, i.item_exists, g.name " \
    "FROM roster_item i LEFT JOIN roster_group g ON g.item_id = i.id "

#define OVERRIDE_COLUMNS \
    "SELECT o.id, o.contact, o.removed, o.name, o.has_groups, g.name " \
    "FROM colleague_override o LEFT JOIN colleague_override_group g ON g.override_id = o.id "

static const char *const stmt_sql[SQL_COUNT] = {
    [SQL_BEGIN_READ] = "BEGIN",
    [SQL_BEGIN_WRITE] = "BEGIN IMMEDIATE",
    [SQL_COMMIT] = "COMMIT",
    [SQL_ROLLBACK] = "ROLLBACK",
    [SQL_VERSION_GET] = "SELECT version FROM roster_version WHERE user = ?1",
    [SQL_VERSION_BUMP] = "INSERT INTO roster_version (user, version) VALUES (?1, 1) "
                         "ON CONFLICT (user) DO UPDATE SET version = version + 1 RETURNING version",
    [SQL_ROSTER_LIST] = ITEM_COLUMNS "WHERE i.user = ?1 ORDER BY i.id, g.pos",
    [SQL_ROSTER_ITEM] = ITEM_COLUMNS "WHERE i.user = ?1 AND i.jid = ?2 ORDER BY g.pos",
    [SQL_ITEM_UPSERT] = "INSERT INTO roster_item (user, jid, name, subscription, ask_out, pending_in, "
                        "preapproved, item_exists) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
                        "ON CONFLICT (user, jid) DO UPDATE SET name = excluded.name, "
                        "subscription = excluded.subscription, ask_out = excluded.ask_out, "
                        "pending_in = excluded.pending_in, preapproved = excluded.preapproved, "
                        "item_exists = excluded.item_exists RETURNING id",
    [SQL_ITEM_DELETE] = "DELETE FROM roster_item WHERE user = ?1 AND jid = ?2 RETURNING id",
    [SQL_GROUPS_DELETE] = "DELETE FROM roster_group WHERE item_id = ?1",
    [SQL_GROUP_INSERT] = "INSERT INTO roster_group (item_id, pos, name) VALUES (?1, ?2, ?3)",
    [SQL_OFFLINE_COUNT] = "SELECT count(*) FROM offline WHERE user = ?1",
    [SQL_OFFLINE_INSERT] = "INSERT INTO offline (user, stamp, xml) VALUES (?1, ?2, ?3)",
    [SQL_OFFLINE_LIST] = "SELECT id, stamp, xml FROM offline WHERE user = ?1 ORDER BY id",
    [SQL_OFFLINE_DELETE_UPTO] = "DELETE FROM offline WHERE user = ?1 AND id <= ?2",
    [SQL_OVERRIDE_LIST] = OVERRIDE_COLUMNS "WHERE o.user = ?1 ORDER BY o.id, g.pos",
    [SQL_OVERRIDE_ONE] = OVERRIDE_COLUMNS "WHERE o.user = ?1 AND o.contact = ?2 ORDER BY g.pos",
    [SQL_OVERRIDE_UPSERT] = "INSERT INTO colleague_override (user, contact, removed, name, has_groups) "
                            "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (user, contact) DO UPDATE SET "
                            "removed = excluded.removed, name = excluded.name, "
                            "has_groups = excluded.has_groups RETURNING id",
    [SQL_OVERRIDE_GROUPS_DELETE] = "DELETE FROM colleague_override_group WHERE override_id = ?1",
    [SQL_OVERRIDE_GROUP_INSERT] = "INSERT INTO colleague_override_group (override_id, pos, name) "
                                  "VALUES (?1, ?2, ?3)",
    [SQL_OVERRIDE_CLEAR_GROUPS] = "DELETE FROM colleague_override_group WHERE override_id IN "
                                  "(SELECT id FROM colleague_override WHERE user = ?1)",
    [SQL_OVERRIDE_CLEAR] = "DELETE FROM colleague_override WHERE user = ?1",
    [SQL_OVERRIDE_REMOVED_EITHER] = "SELECT 1 FROM colleague_override WHERE removed <> 0 AND "
                                    "((user = ?1 AND contact = ?2) OR (user = ?2 AND contact = ?1)) LIMIT 1",
};

struct store {
    sqlite3 *db;
    sqlite3_stmt *stmts[SQL_COUNT];
};

/* ---- errors, statements, transactions ---------------------------------- */

static int fail(struct store *st, const char *what)
{
    log_write(LOG_ERROR, "Store: %s failed: %s", what, sqlite3_errmsg(st->db));
    return -1;
}

/* The statement, reset and unbound, ready to bind. Every user resets it
 * again (release()) once the rows are read, so that no read stays open. */
static sqlite3_stmt *stmt(struct store *st, enum stmt_id id)
{
    sqlite3_stmt *s = st->stmts[id];
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return s;
}

static void release(sqlite3_stmt *s)
{
    sqlite3_reset(s);
}

static int run(struct store *st, enum stmt_id id, const char *what)
{
    sqlite3_stmt *s = stmt(st, id);
    int rc = sqlite3_step(s);
    release(s);
    return rc == SQLITE_DONE ? 0 : fail(st, what);
}

static int begin_read(struct store *st) { return run(st, SQL_BEGIN_READ, "begin"); }
static int begin_write(struct store *st) { return run(st, SQL_BEGIN_WRITE, "begin"); }
static int commit(struct store *st) { return run(st, SQL_COMMIT, "commit"); }

/* Ends a failed transaction; returns -1 for the caller to pass on. */
static int rollback(struct store *st)
{
    if (sqlite3_get_autocommit(st->db) == 0) run(st, SQL_ROLLBACK, "rollback");
    return -1;
}

static void bind_text(sqlite3_stmt *s, int col, const char *text)
{
    if (text) sqlite3_bind_text(s, col, text, -1, SQLITE_STATIC);
    else sqlite3_bind_null(s, col);
}

static char *column_dup(sqlite3_stmt *s, int col)
{
    const unsigned char *text = sqlite3_column_text(s, col);
    if (!text) return NULL;
    return xstrndup((const char *)text, (size_t)sqlite3_column_bytes(s, col));
}

/* ---- open / close -------------------------------------------------------- */

static int open_failed(struct store *st, struct buf *err, const char *what, const char *path)
{
    const char *reason = st->db ? sqlite3_errmsg(st->db) : "out of memory";
    buf_printf(err, "cannot %s %s: %s", what, path, reason);
    log_write(LOG_ERROR, "Store: cannot %s %s: %s", what, path, reason);
    return -1;
}

/* mkdir -p with mode 0700 for the parts that do not exist yet. */
static int make_dirs(const char *dir)
{
    if (*dir == '\0') {
        errno = ENOENT;
        return -1;
    }
    char *path = xstrdup(dir);
    int saved_errno = 0;
    for (char *p = path + 1; saved_errno == 0; p++) {
        bool end = *p == '\0';
        if (*p != '/' && !end) continue;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) saved_errno = errno;
        if (end) break;
        *p = '/';
    }
    free(path);
    errno = saved_errno;
    return saved_errno ? -1 : 0;
}

static int pragma_is(struct store *st, const char *sql, const char *want)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) return -1;
    int rc = sqlite3_step(s);
    const char *got = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : NULL;
    bool ok = got && strcmp(got, want) == 0;
    sqlite3_finalize(s);
    return ok ? 0 : -1;
}

static int schema_version(struct store *st, int *version)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK) return -1;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* Runs the migrations from `version` up to SCHEMA_VERSION inside the open
 * transaction and records the new version. */
static int migrate(struct store *st, int version)
{
    for (int v = version; v < SCHEMA_VERSION; v++) {
        if (sqlite3_exec(st->db, migrations[v], NULL, NULL, NULL) != SQLITE_OK) return -1;
    }
    if (version == SCHEMA_VERSION) return 0;
    return sqlite3_exec(st->db, "PRAGMA user_version = " STR(SCHEMA_VERSION), NULL, NULL, NULL) == SQLITE_OK
               ? 0 : -1;
}

/* Creates the schema in an empty database, brings an older one up to date;
 * refuses one from a newer imref. */
static int ensure_schema(struct store *st, struct buf *err, const char *path)
{
    int version;
    if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK || schema_version(st, &version) != 0)
        return open_failed(st, err, "read the schema of", path);
    if (version > SCHEMA_VERSION) {
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        buf_printf(err, "%s has schema version %d; this imref knows up to %d", path, version, SCHEMA_VERSION);
        log_write(LOG_ERROR, "Store: %s has schema version %d; this imref knows up to %d", path, version,
                  SCHEMA_VERSION);
        return -1;
    }
    if (migrate(st, version) != 0 || sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        open_failed(st, err, version == 0 ? "create the schema in" : "upgrade the schema of", path);
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

static int prepare_all(struct store *st)
{
    for (int i = 0; i < SQL_COUNT; i++) {
        if (sqlite3_prepare_v3(st->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st->stmts[i], NULL) != SQLITE_OK)
            return -1;
    }
    return 0;
}

static int open_database(struct store *st, const char *path, struct buf *err)
{
    if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
        return open_failed(st, err, "open", path);
    sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
    if (pragma_is(st, "PRAGMA journal_mode = WAL", "wal") != 0)
        return open_failed(st, err, "switch to WAL", path);
    if (sqlite3_exec(st->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL) != SQLITE_OK ||
        pragma_is(st, "PRAGMA synchronous", "2") != 0)
        return open_failed(st, err, "set synchronous=FULL on", path);
    if (ensure_schema(st, err, path) != 0) return -1;
    if (prepare_all(st) != 0) return open_failed(st, err, "prepare statements for", path);
    return 0;
}

int store_open(const char *dir, struct store **out, struct buf *err)
{
    *out = NULL;
    if (make_dirs(dir) != 0) {
        const char *reason = strerror(errno);
        buf_printf(err, "cannot create %s: %s", dir, reason);
        log_write(LOG_ERROR, "Store: cannot create %s: %s", dir, reason);
        return -1;
    }
    struct store *st = xcalloc(1, sizeof *st);
    struct buf path;
    buf_init(&path);
    buf_printf(&path, "%s/imref.db", dir);
    int rc = open_database(st, path.data, err);
    buf_free(&path);
    if (rc != 0) {
        store_close(st);
        return -1;
    }
    *out = st;
    return 0;
}

void store_close(struct store *st)
{
    if (!st) return;
    for (int i = 0; i < SQL_COUNT; i++) sqlite3_finalize(st->stmts[i]);
    sqlite3_close(st->db);
    free(st);
}

/* ---- roster -------------------------------------------------------------- */

void roster_item_clear(struct roster_item *it)
{
    free(it->jid);
    free(it->name);
    for (size_t i = 0; i < it->n_groups; i++) free(it->groups[i]);
    free(it->groups);
    memset(it, 0, sizeof *it);
}

void roster_items_free(struct roster_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) roster_item_clear(&items[i]);
    free(items);
}

/* Fills `it` from the item columns of the current row; -1 if the stored
 * subscription is not one we wrote. */
static int read_item(sqlite3_stmt *s, struct roster_item *it)
{
    memset(it, 0, sizeof *it);
    const char *sub = (const char *)sqlite3_column_text(s, 3);
    if (!sub || sub_state_parse(sub, &it->state.sub) != 0) return -1;
    it->jid = column_dup(s, 1);
    it->name = column_dup(s, 2);
    it->state.ask_out = sqlite3_column_int(s, 4) != 0;
    it->state.pending_in = sqlite3_column_int(s, 5) != 0;
    it->state.preapproved = sqlite3_column_int(s, 6) != 0;
    it->state.exists = sqlite3_column_int(s, 7) != 0;
    return 0;
}

static void add_group(struct roster_item *it, sqlite3_stmt *s)
{
    char *group = column_dup(s, 8);
    if (!group) return;
    it->groups = xrealloc(it->groups, (it->n_groups + 1) * sizeof *it->groups);
    it->groups[it->n_groups++] = group;
}

/* Reads the rows of ITEM_COLUMNS (one row per group, ordered by item). */
static int collect_items(struct store *st, sqlite3_stmt *s, struct roster_item **items, size_t *n)
{
    struct roster_item *list = NULL;
    size_t count = 0;
    sqlite3_int64 last_id = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        sqlite3_int64 id = sqlite3_column_int64(s, 0);
        if (count == 0 || id != last_id) {
            list = xrealloc(list, (count + 1) * sizeof *list);
            if (read_item(s, &list[count]) != 0) {
                log_write(LOG_ERROR, "Store: roster item %lld has an unknown subscription", (long long)id);
                rc = SQLITE_CORRUPT;
                break;
            }
            count++;
            last_id = id;
        }
        add_group(&list[count - 1], s);
    }
    if (rc != SQLITE_DONE) {
        if (rc != SQLITE_CORRUPT) fail(st, "reading a roster");
        release(s);
        roster_items_free(list, count);
        return -1;
    }
    release(s);
    *items = list;
    *n = count;
    return 0;
}

static int read_version(struct store *st, const char *user, unsigned long long *version)
{
    sqlite3_stmt *s = stmt(st, SQL_VERSION_GET);
    bind_text(s, 1, user);
    int rc = sqlite3_step(s);
    *version = rc == SQLITE_ROW ? (unsigned long long)sqlite3_column_int64(s, 0) : 0;
    release(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(st, "reading a roster version");
}

static int bump_version(struct store *st, const char *user, unsigned long long *version)
{
    sqlite3_stmt *s = stmt(st, SQL_VERSION_BUMP);
    bind_text(s, 1, user);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *version = (unsigned long long)sqlite3_column_int64(s, 0);
    release(s);
    return rc == SQLITE_ROW ? 0 : fail(st, "bumping a roster version");
}

int store_roster_version(struct store *st, const char *user, unsigned long long *version)
{
    return read_version(st, user, version);
}

int store_roster_get(struct store *st, const char *user, struct roster_item **items, size_t *n,
                     unsigned long long *version)
{
    *items = NULL;
    *n = 0;
    if (begin_read(st) != 0) return -1;
    sqlite3_stmt *s = stmt(st, SQL_ROSTER_LIST);
    bind_text(s, 1, user);
    if (collect_items(st, s, items, n) != 0) return rollback(st);
    if (read_version(st, user, version) != 0 || commit(st) != 0) {
        roster_items_free(*items, *n);
        *items = NULL;
        *n = 0;
        return rollback(st);
    }
    return 0;
}

int store_roster_get_item(struct store *st, const char *user, const char *contact, struct roster_item *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = stmt(st, SQL_ROSTER_ITEM);
    bind_text(s, 1, user);
    bind_text(s, 2, contact);
    struct roster_item *found;
    size_t n;
    if (collect_items(st, s, &found, &n) != 0) return -1;
    if (n == 0) return 0;
    *out = found[0];
    free(found);
    return 1;
}

static int write_item(struct store *st, const char *user, const struct roster_item *item, sqlite3_int64 *id)
{
    sqlite3_stmt *s = stmt(st, SQL_ITEM_UPSERT);
    bind_text(s, 1, user);
    bind_text(s, 2, item->jid);
    bind_text(s, 3, item->name);
    bind_text(s, 4, sub_state_name(item->state.sub));
    sqlite3_bind_int(s, 5, item->state.ask_out);
    sqlite3_bind_int(s, 6, item->state.pending_in);
    sqlite3_bind_int(s, 7, item->state.preapproved);
    sqlite3_bind_int(s, 8, item->state.exists);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *id = sqlite3_column_int64(s, 0);
    release(s);
    return rc == SQLITE_ROW ? 0 : fail(st, "writing a roster item");
}

static int write_groups(struct store *st, sqlite3_int64 item_id, const struct roster_item *item)
{
    sqlite3_stmt *s = stmt(st, SQL_GROUPS_DELETE);
    sqlite3_bind_int64(s, 1, item_id);
    int rc = sqlite3_step(s);
    release(s);
    if (rc != SQLITE_DONE) return fail(st, "replacing roster groups");
    for (size_t i = 0; i < item->n_groups; i++) {
        s = stmt(st, SQL_GROUP_INSERT);
        sqlite3_bind_int64(s, 1, item_id);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)i);
        bind_text(s, 3, item->groups[i]);
        rc = sqlite3_step(s);
        release(s);
        if (rc != SQLITE_DONE) return fail(st, "writing a roster group");
    }
    return 0;
}

int store_roster_put(struct store *st, const char *user, const struct roster_item *item,
                     unsigned long long *new_version)
{
    sqlite3_int64 id;
    if (begin_write(st) != 0) return -1;
    if (write_item(st, user, item, &id) != 0 || write_groups(st, id, item) != 0 ||
        bump_version(st, user, new_version) != 0 || commit(st) != 0)
        return rollback(st);
    return 0;
}

int store_roster_delete(struct store *st, const char *user, const char *contact, unsigned long long *new_version)
{
    if (begin_write(st) != 0) return -1;
    sqlite3_stmt *s = stmt(st, SQL_ITEM_DELETE);
    bind_text(s, 1, user);
    bind_text(s, 2, contact);
    int rc = sqlite3_step(s);
    sqlite3_int64 id = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    release(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        fail(st, "deleting a roster item");
        return rollback(st);
    }
    if (rc == SQLITE_DONE) {
        if (read_version(st, user, new_version) != 0 || commit(st) != 0) return rollback(st);
        return 0;
    }
    const struct roster_item no_groups = { 0 };
    if (write_groups(st, id, &no_groups) != 0 || bump_version(st, user, new_version) != 0 || commit(st) != 0)
        return rollback(st);
    return 1;
}

/* ---- changes to Colleagues items (ROST-6, ROST-7) ------------------------ */

void colleague_override_clear(struct colleague_override *ov)
{
    free(ov->contact);
    free(ov->name);
    for (size_t i = 0; i < ov->n_groups; i++) free(ov->groups[i]);
    free(ov->groups);
    memset(ov, 0, sizeof *ov);
}

void colleague_overrides_free(struct colleague_override *ovs, size_t n)
{
    for (size_t i = 0; i < n; i++) colleague_override_clear(&ovs[i]);
    free(ovs);
}

static void read_override(sqlite3_stmt *s, struct colleague_override *ov)
{
    memset(ov, 0, sizeof *ov);
    ov->contact = column_dup(s, 1);
    if (!ov->contact) ov->contact = xstrdup("");
    ov->removed = sqlite3_column_int(s, 2) != 0;
    ov->name = column_dup(s, 3);
    ov->has_groups = sqlite3_column_int(s, 4) != 0;
}

static void add_override_group(struct colleague_override *ov, sqlite3_stmt *s)
{
    char *group = column_dup(s, 5);
    if (!group) return;
    ov->groups = xrealloc(ov->groups, (ov->n_groups + 1) * sizeof *ov->groups);
    ov->groups[ov->n_groups++] = group;
}

/* Reads the rows of OVERRIDE_COLUMNS (one row per group, ordered by override). */
static int collect_overrides(struct store *st, sqlite3_stmt *s, struct colleague_override **out, size_t *n)
{
    struct colleague_override *list = NULL;
    size_t count = 0;
    sqlite3_int64 last_id = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        sqlite3_int64 id = sqlite3_column_int64(s, 0);
        if (count == 0 || id != last_id) {
            list = xrealloc(list, (count + 1) * sizeof *list);
            read_override(s, &list[count++]);
            last_id = id;
        }
        add_override_group(&list[count - 1], s);
    }
    release(s);
    if (rc != SQLITE_DONE) {
        colleague_overrides_free(list, count);
        return fail(st, "reading colleague changes");
    }
    *out = list;
    *n = count;
    return 0;
}

int store_override_list(struct store *st, const char *user, struct colleague_override **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = stmt(st, SQL_OVERRIDE_LIST);
    bind_text(s, 1, user);
    return collect_overrides(st, s, out, n);
}

int store_override_get(struct store *st, const char *user, const char *contact, struct colleague_override *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = stmt(st, SQL_OVERRIDE_ONE);
    bind_text(s, 1, user);
    bind_text(s, 2, contact);
    struct colleague_override *found;
    size_t n;
    if (collect_overrides(st, s, &found, &n) != 0) return -1;
    if (n == 0) return 0;
    *out = found[0];
    free(found);
    return 1;
}

static int write_override(struct store *st, const char *user, const struct colleague_override *ov,
                          sqlite3_int64 *id)
{
    sqlite3_stmt *s = stmt(st, SQL_OVERRIDE_UPSERT);
    bind_text(s, 1, user);
    bind_text(s, 2, ov->contact);
    sqlite3_bind_int(s, 3, ov->removed);
    bind_text(s, 4, ov->name);
    sqlite3_bind_int(s, 5, ov->has_groups);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *id = sqlite3_column_int64(s, 0);
    release(s);
    return rc == SQLITE_ROW ? 0 : fail(st, "writing a colleague change");
}

/* Replaces the override's groups; none are stored unless has_groups. */
static int write_override_groups(struct store *st, sqlite3_int64 override_id, const struct colleague_override *ov)
{
    sqlite3_stmt *s = stmt(st, SQL_OVERRIDE_GROUPS_DELETE);
    sqlite3_bind_int64(s, 1, override_id);
    int rc = sqlite3_step(s);
    release(s);
    if (rc != SQLITE_DONE) return fail(st, "replacing colleague groups");
    size_t n_groups = ov->has_groups ? ov->n_groups : 0;
    for (size_t i = 0; i < n_groups; i++) {
        s = stmt(st, SQL_OVERRIDE_GROUP_INSERT);
        sqlite3_bind_int64(s, 1, override_id);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)i);
        bind_text(s, 3, ov->groups[i]);
        rc = sqlite3_step(s);
        release(s);
        if (rc != SQLITE_DONE) return fail(st, "writing a colleague group");
    }
    return 0;
}

int store_override_put(struct store *st, const char *user, const struct colleague_override *ov,
                       unsigned long long *new_version)
{
    sqlite3_int64 id;
    if (begin_write(st) != 0) return -1;
    if (write_override(st, user, ov, &id) != 0 || write_override_groups(st, id, ov) != 0 ||
        bump_version(st, user, new_version) != 0 || commit(st) != 0)
        return rollback(st);
    return 0;
}

/* Runs a statement bound to `user` alone; -1 (logged) unless it completes. */
static int run_for_user(struct store *st, enum stmt_id id, const char *user, const char *what)
{
    sqlite3_stmt *s = stmt(st, id);
    bind_text(s, 1, user);
    int rc = sqlite3_step(s);
    release(s);
    return rc == SQLITE_DONE ? 0 : fail(st, what);
}

int store_override_clear(struct store *st, const char *user, unsigned long long *new_version)
{
    if (begin_write(st) != 0) return -1;
    if (run_for_user(st, SQL_OVERRIDE_CLEAR_GROUPS, user, "clearing colleague groups") != 0 ||
        run_for_user(st, SQL_OVERRIDE_CLEAR, user, "clearing colleague changes") != 0)
        return rollback(st);
    int cleared = sqlite3_changes(st->db);
    int rc = cleared > 0 ? bump_version(st, user, new_version) : read_version(st, user, new_version);
    if (rc != 0 || commit(st) != 0) return rollback(st);
    return cleared;
}

int store_override_removed_either(struct store *st, const char *a, const char *b)
{
    sqlite3_stmt *s = stmt(st, SQL_OVERRIDE_REMOVED_EITHER);
    bind_text(s, 1, a);
    bind_text(s, 2, b);
    int rc = sqlite3_step(s);
    release(s);
    if (rc == SQLITE_ROW) return 1;
    return rc == SQLITE_DONE ? 0 : fail(st, "reading colleague removals");
}

/* ---- offline messages ---------------------------------------------------- */

static int count_offline(struct store *st, const char *user, sqlite3_int64 *count)
{
    sqlite3_stmt *s = stmt(st, SQL_OFFLINE_COUNT);
    bind_text(s, 1, user);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *count = sqlite3_column_int64(s, 0);
    release(s);
    return rc == SQLITE_ROW ? 0 : fail(st, "counting offline messages");
}

int store_offline_push_id(struct store *st, const char *user, const char *stanza_xml, long long stamp_unix,
                          unsigned max, long long *id)
{
    sqlite3_int64 count;
    if (begin_write(st) != 0) return -1;
    if (count_offline(st, user, &count) != 0) return rollback(st);
    if (count >= (sqlite3_int64)max) {
        rollback(st);
        return 1;
    }
    sqlite3_stmt *s = stmt(st, SQL_OFFLINE_INSERT);
    bind_text(s, 1, user);
    sqlite3_bind_int64(s, 2, stamp_unix);
    bind_text(s, 3, stanza_xml);
    int rc = sqlite3_step(s);
    release(s);
    if (rc != SQLITE_DONE) {
        fail(st, "storing an offline message");
        return rollback(st);
    }
    long long new_id = (long long)sqlite3_last_insert_rowid(st->db);
    if (commit(st) != 0) return rollback(st);
    if (id) *id = new_id;
    return 0;
}

int store_offline_push(struct store *st, const char *user, const char *stanza_xml, long long stamp_unix, unsigned max)
{
    return store_offline_push_id(st, user, stanza_xml, stamp_unix, max, NULL);
}

int store_offline_list(struct store *st, const char *user, struct offline_msg **msgs, size_t *n)
{
    struct offline_msg *list = NULL;
    size_t count = 0;
    sqlite3_stmt *s = stmt(st, SQL_OFFLINE_LIST);
    bind_text(s, 1, user);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        list = xrealloc(list, (count + 1) * sizeof *list);
        list[count].id = sqlite3_column_int64(s, 0);
        list[count].stamp = sqlite3_column_int64(s, 1);
        list[count].xml = column_dup(s, 2);
        if (!list[count].xml) list[count].xml = xstrdup("");
        count++;
    }
    if (rc != SQLITE_DONE) {
        fail(st, "reading offline messages");
        release(s);
        offline_msgs_free(list, count);
        *msgs = NULL;
        *n = 0;
        return -1;
    }
    release(s);
    *msgs = list;
    *n = count;
    return 0;
}

int store_offline_delete_upto(struct store *st, const char *user, long long upto_id)
{
    sqlite3_stmt *s = stmt(st, SQL_OFFLINE_DELETE_UPTO);
    bind_text(s, 1, user);
    sqlite3_bind_int64(s, 2, upto_id);
    int rc = sqlite3_step(s);
    release(s);
    return rc == SQLITE_DONE ? 0 : fail(st, "deleting offline messages");
}

void offline_msgs_free(struct offline_msg *msgs, size_t n)
{
    for (size_t i = 0; i < n; i++) free(msgs[i].xml);
    free(msgs);
}

size_t store_offline_count(struct store *st, const char *user)
{
    sqlite3_int64 count;
    if (count_offline(st, user, &count) != 0) return 0;
    return (size_t)count;
}
