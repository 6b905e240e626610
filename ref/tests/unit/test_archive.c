/* Unit tests of the message archive: ARCH-2 (the line format, day files
 * named by local date, listing), ARCH-3 (lines durable before the batch is
 * released, torn lines skipped, failures refused or delivered by policy),
 * ARCH-4 (reading and listing the files an export is made of). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "archive.h"
#include "buf.h"
#include "log.h"
#include "scratch.h"
#include "xnode.h"

#define NASTY_BODY "Gr\xC3\xBC\xC3\x9F" "e \xF0\x9F\x91\x8B\nzweite Zeile\r\n\ttab \"dq\" 'sq' <lt> &amp; ]]>"
#define NASTY_FROM "alice@localhost/r\xC3\xA9s \"1\"\n<&>\t'x'\r"
#define MAX_RELEASED 16

static xnode *make_message(const char *from, const char *to, const char *body)
{
    xnode *m = xnode_new("message", "jabber:client");
    xnode_set_attr(m, "from", from);
    xnode_set_attr(m, "to", to);
    xnode_set_attr(m, "type", "chat");
    xnode *b = xnode_add_child(m, "body", NULL);
    xnode_add_text(b, body, strlen(body));
    return m;
}

static char *path_join(const char *a, const char *b)
{
    struct buf p;
    buf_init(&p);
    buf_printf(&p, "%s/%s", a, b);
    return buf_steal(&p);
}

static void write_file(const char *path, const char *data)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(data, f);
    fclose(f);
}

/* The lines of every day file of an archive, in file then line order. */
struct lines {
    char *text[32];
    size_t n;
    size_t skipped;
};

static void collect_line(const char *line, size_t len, void *ctx)
{
    struct lines *l = ctx;
    assert_true(l->n < 32);
    l->text[l->n++] = xstrndup(line, len);
}

static void lines_free(struct lines *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->text[i]);
    l->n = l->skipped = 0;
}

/* An archive whose xmpp directory cannot be listed reads as empty. */
static void read_archive(const char *dir, struct lines *l)
{
    char **names;
    size_t n;
    if (archive_list_files(dir, &names, &n) != 0) return;
    char *xmpp = path_join(dir, ARCHIVE_SUBDIR);
    for (size_t i = 0; i < n; i++) {
        char *path = path_join(xmpp, names[i]);
        size_t skipped = 0;
        assert_int_equal(archive_read_file(path, collect_line, l, &skipped), 0);
        l->skipped += skipped;
        free(path);
        free(names[i]);
    }
    free(names);
    free(xmpp);
}

static char *line_body(const char *line)
{
    time_t t;
    xnode *m;
    assert_int_equal(archive_parse_line(line, strlen(line), &t, &m), 0);
    char *body = xnode_child_text(m, "body", NULL);
    xnode_free(m);
    return body;
}

/* The release callback's record. */
struct released {
    size_t n;
    char *body[MAX_RELEASED];
    char *sender[MAX_RELEASED];
    bool deliver[MAX_RELEASED];
    size_t archived_at_release[MAX_RELEASED];   /* lines on disk when released */
    const char *dir;
    struct archive *a;
    bool resubmit_once;
};

static void on_release(void *owner, xnode *msg, const char *sender, bool deliver)
{
    struct released *r = owner;
    assert_true(r->n < MAX_RELEASED);
    r->body[r->n] = xnode_child_text(msg, "body", NULL);
    r->sender[r->n] = sender ? xstrdup(sender) : NULL;
    r->deliver[r->n] = deliver;
    struct lines l = { 0 };
    read_archive(r->dir, &l);
    r->archived_at_release[r->n] = l.n;
    lines_free(&l);
    r->n++;
    xnode_free(msg);
    if (r->resubmit_once) {
        r->resubmit_once = false;
        archive_submit(r->a, make_message("bob@localhost/b", "alice@localhost", "reply"), "bob");
    }
}

static void released_free(struct released *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->body[i]);
        free(r->sender[i]);
    }
    r->n = 0;
}

static char *test_dir(void **state, const char *name)
{
    const struct scratch *s = *state;
    char *dir = path_join(s->dir, name);
    return dir;
}

static size_t count_char(const char *s, size_t len, char c)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) n += s[i] == c;
    return n;
}

/* ARCH-2: one line, any body and attribute survive exactly. */
static void test_format_parse_round_trip(void **state)
{
    (void)state;
    xnode *m = make_message(NASTY_FROM, "bob@localhost/\xE2\x98\x83", NASTY_BODY);
    time_t t = 1700000000; /* 14/Nov/2023 22:13:20 UTC */
    struct buf line;
    buf_init(&line);
    archive_format_line(t, m, &line);
    assert_memory_equal(line.data, "[14/Nov/2023 22:13:20] <message ", 32);
    assert_int_equal(line.data[line.len - 1], '\n');
    assert_int_equal(count_char(line.data, line.len, '\n'), 1);
    assert_int_equal(count_char(line.data, line.len, '\r'), 0);
    assert_int_equal(count_char(line.data, line.len, '\t'), 0);

    time_t parsed_t = 0;
    xnode *parsed = NULL;
    assert_int_equal(archive_parse_line(line.data, line.len - 1, &parsed_t, &parsed), 0);
    assert_int_equal(parsed_t, t);
    assert_string_equal(parsed->name, "message");
    assert_string_equal(xnode_attr(parsed, "from"), NASTY_FROM);
    assert_string_equal(xnode_attr(parsed, "to"), "bob@localhost/\xE2\x98\x83");
    assert_string_equal(xnode_attr(parsed, "type"), "chat");
    char *body = xnode_child_text(parsed, "body", NULL);
    assert_string_equal(body, NASTY_BODY);
    free(body);

    /* Writing the parsed stanza again gives the same line. */
    struct buf again;
    buf_init(&again);
    archive_format_line(parsed_t, parsed, &again);
    assert_int_equal(again.len, line.len);
    assert_memory_equal(again.data, line.data, line.len);
    buf_free(&again);
    xnode_free(parsed);
    buf_free(&line);
    xnode_free(m);
}

/* ARCH-2: a stanza routed from a peer server (jabber:server) is written
 * as the same stanza in jabber:client. */
static void test_format_server_namespace(void **state)
{
    (void)state;
    xnode *m = make_message("carol@remote/x", "alice@localhost", "hi");
    xnode_rename_ns(m, "jabber:client", "jabber:server");
    struct buf line;
    buf_init(&line);
    archive_format_line(1700000000, m, &line);
    assert_null(strstr(line.data, "xmlns"));
    time_t t;
    xnode *parsed;
    assert_int_equal(archive_parse_line(line.data, line.len - 1, &t, &parsed), 0);
    assert_string_equal(xnode_attr(parsed, "from"), "carol@remote/x");
    xnode_free(parsed);
    buf_free(&line);
    xnode_free(m);
}

/* ARCH-2, ARCH-3: what is not a whole archive line is refused. */
static void test_parse_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "[14/Nov/2023 22:13:20] ",
        "[14/Nov/2023 22:13:20] <message",
        "[14/Nov/2023 22:13:20] <message><body>x</body>",
        "[14/Nov/2023 22:13:20] <iq type='get' id='1'/>",
        "[14/Nov/2023 22:13:20] <message/><message/>",
        "[14/Nov/2023 22:13:20] <message/>trailing",
        "[14/Nov/2023 22:13:20] <message/><body>",
        "[14/Nov/2023 22:13:20] </stream:stream>",
        "[14/Nov/2023 22:13:20] <message xmlns='jabber:server'/>",
        "[14/Nov/2023 22:13:20] <message><!-- c --></message>",
        "[14/Foo/2023 22:13:20] <message/>",
        "[31/Feb/2023 22:13:20] <message/>",
        "[14/Nov/2023 24:13:20] <message/>",
        "[14/Nov/2023 22:13:20]<message/>",
        "14/Nov/2023 22:13:20] <message/>",
        "[1x/Nov/2023 22:13:20] <message/>",
        "garbage",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        time_t t = 42;
        xnode *m = NULL;
        assert_int_equal(archive_parse_line(bad[i], strlen(bad[i]), &t, &m), -1);
        assert_null(m);
        assert_int_equal(t, 42);
    }
    static const char with_nul[] = "[14/Nov/2023 22:13:20] <message>\0</message>";
    time_t t;
    xnode *m = NULL;
    assert_int_equal(archive_parse_line(with_nul, sizeof with_nul - 1, &t, &m), -1);
    static const char good[] = "[14/Nov/2023 22:13:20] <message/>";
    assert_int_equal(archive_parse_line(good, sizeof good - 1, &t, &m), 0);
    assert_int_equal(t, 1700000000);
    xnode_free(m);
}

/* ARCH-2: the day file is named by the local date; it switches at local midnight. */
static void test_day_file_name(void **state)
{
    (void)state;
    char name[16];
    time_t last_second = 1700006399; /* 2023-11-14 23:59:59 UTC */
    archive_day_file_name(last_second, name);
    assert_string_equal(name, "2023-11-14.log");
    archive_day_file_name(last_second + 1, name);
    assert_string_equal(name, "2023-11-15.log");

    setenv("TZ", "XST-2", 1);   /* local = UTC+2: midnight is at 22:00 UTC */
    tzset();
    archive_day_file_name(last_second - 7200, name);
    assert_string_equal(name, "2023-11-14.log");
    archive_day_file_name(last_second - 7200 + 1, name);
    assert_string_equal(name, "2023-11-15.log");
    struct buf line;
    buf_init(&line);
    xnode *m = make_message("a@localhost", "b@localhost", "x");
    archive_format_line(last_second - 7200 + 1, m, &line);
    assert_memory_equal(line.data, "[15/Nov/2023 00:00:00] ", 23);
    time_t t;
    xnode *parsed;
    assert_int_equal(archive_parse_line(line.data, line.len - 1, &t, &parsed), 0);
    assert_int_equal(t, last_second - 7200 + 1);
    xnode_free(parsed);
    xnode_free(m);
    buf_free(&line);
    setenv("TZ", "UTC", 1);
    tzset();
}

/* ARCH-3, ARCH-4: the reader returns whole lines in order and skips a
 * garbage line and a torn last line. */
static void test_read_file_skips_torn_and_garbage(void **state)
{
    char *dir = test_dir(state, "reader");
    assert_int_equal(mkdir(dir, 0750), 0);
    char *path = path_join(dir, "2023-11-14.log");
    struct buf content;
    buf_init(&content);
    xnode *m1 = make_message("a@localhost/1", "b@localhost", "first\nline");
    xnode *m2 = make_message("a@localhost/1", "b@localhost", "second");
    archive_format_line(1700000000, m1, &content);
    buf_puts(&content, "not an archive line\n");
    archive_format_line(1700000001, m2, &content);
    buf_puts(&content, "[14/Nov/2023 22:13:22] <message><body>torn");
    write_file(path, content.data);

    struct lines l = { 0 };
    size_t skipped = 99;
    assert_int_equal(archive_read_file(path, collect_line, &l, &skipped), 0);
    assert_int_equal(skipped, 2);
    assert_int_equal(l.n, 2);
    char *b1 = line_body(l.text[0]), *b2 = line_body(l.text[1]);
    assert_string_equal(b1, "first\nline");
    assert_string_equal(b2, "second");
    free(b1);
    free(b2);
    lines_free(&l);

    char *missing = path_join(dir, "2023-11-13.log");
    errno = 0;
    assert_int_equal(archive_read_file(missing, collect_line, &l, NULL), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(l.n, 0);
    free(missing);
    xnode_free(m1);
    xnode_free(m2);
    buf_free(&content);
    free(path);
    free(dir);
}

/* ARCH-3: a batch is written and synced at the end of the loop iteration,
 * and only then are its messages released, in submit order. */
static void test_writer_batch_released_after_write(void **state)
{
    char *dir = test_dir(state, "batch");
    struct ev_loop *loop = ev_loop_new(0);
    struct released r = { .dir = dir };
    struct archive *a = archive_new(loop, dir, ARCHIVE_ON_FAILURE_REFUSE, on_release, &r);
    r.a = a;
    archive_submit(a, make_message("alice@localhost/a", "bob@localhost/b", "one"), "alice@localhost/a");
    archive_submit(a, make_message("alice@localhost/a", "bob@localhost/b", NASTY_BODY), "alice@localhost/a");
    archive_submit(a, make_message("bob@localhost/b", "alice@localhost/a", "three"), NULL);
    assert_int_equal(r.n, 0);
    struct lines l = { 0 };
    read_archive(dir, &l);
    assert_int_equal(l.n, 0);   /* nothing written before the iteration ends */

    ev_run(loop, EVRUN_NOWAIT);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.body[0], "one");
    assert_string_equal(r.body[1], NASTY_BODY);
    assert_string_equal(r.body[2], "three");
    assert_string_equal(r.sender[0], "alice@localhost/a");
    assert_null(r.sender[2]);
    for (size_t i = 0; i < 3; i++) {
        assert_true(r.deliver[i]);
        assert_int_equal(r.archived_at_release[i], 3);   /* all durable before the first release */
    }
    read_archive(dir, &l);
    assert_int_equal(l.n, 3);
    assert_int_equal(l.skipped, 0);
    const char *expected[] = { "one", NASTY_BODY, "three" };
    for (size_t i = 0; i < 3; i++) {
        char *body = line_body(l.text[i]);
        assert_string_equal(body, expected[i]);
        free(body);
    }
    lines_free(&l);
    struct stat st;
    char *xmpp = path_join(dir, ARCHIVE_SUBDIR);
    assert_int_equal(stat(xmpp, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0750);
    free(xmpp);

    /* Nothing pending: the loop has nothing left to run. */
    ev_run(loop, EVRUN_NOWAIT);
    assert_int_equal(r.n, 3);
    archive_free(a);
    released_free(&r);
    ev_loop_destroy(loop);
    free(dir);
}

static void on_watchdog(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    *(bool *)w->data = true;
    ev_break(loop, EVBREAK_ALL);
}

/* ARCH-3: a release that submits again starts a new batch, which the next
 * iteration writes without the loop blocking in between. */
static void test_writer_submit_from_release(void **state)
{
    char *dir = test_dir(state, "resubmit");
    struct ev_loop *loop = ev_loop_new(0);
    struct released r = { .dir = dir, .resubmit_once = true };
    struct archive *a = archive_new(loop, dir, ARCHIVE_ON_FAILURE_REFUSE, on_release, &r);
    r.a = a;
    archive_submit(a, make_message("alice@localhost/a", "bob@localhost", "question"), "alice");
    /* A watchdog that does not keep the loop alive: it fires only if the
       loop blocks with the reply pending. */
    bool watchdog_fired = false;
    ev_timer watchdog;
    ev_timer_init(&watchdog, on_watchdog, 5.0, 0.0);
    watchdog.data = &watchdog_fired;
    ev_timer_start(loop, &watchdog);
    ev_unref(loop);
    ev_run(loop, 0);   /* both batches flushed, then nothing is left active */
    ev_ref(loop);
    ev_timer_stop(loop, &watchdog);
    assert_false(watchdog_fired);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.body[0], "question");
    assert_string_equal(r.body[1], "reply");
    assert_string_equal(r.sender[1], "bob");
    assert_true(r.deliver[1]);
    assert_int_equal(r.archived_at_release[1], 2);
    archive_free(a);
    released_free(&r);
    ev_loop_destroy(loop);
    free(dir);
}

/* ARCH-3: after a crash left a torn line, new lines start on their own line;
 * the reader returns the complete lines and skips the fragment. */
static void test_writer_after_torn_tail(void **state)
{
    char *dir = test_dir(state, "torn");
    char *xmpp = path_join(dir, ARCHIVE_SUBDIR);
    assert_int_equal(mkdir(dir, 0750), 0);
    assert_int_equal(mkdir(xmpp, 0750), 0);
    char day[16];
    archive_day_file_name(time(NULL), day);
    char *path = path_join(xmpp, day);
    struct buf content;
    buf_init(&content);
    xnode *earlier = make_message("a@localhost/1", "b@localhost", "earlier");
    archive_format_line(time(NULL), earlier, &content);
    buf_puts(&content, "[14/Nov/2023 22:13:22] <message from='a@localhost'><body>cut off here");
    write_file(path, content.data);

    struct ev_loop *loop = ev_loop_new(0);
    struct released r = { .dir = dir };
    struct archive *a = archive_new(loop, dir, ARCHIVE_ON_FAILURE_REFUSE, on_release, &r);
    archive_submit(a, make_message("a@localhost/1", "b@localhost", "new one"), "a");
    archive_submit(a, make_message("a@localhost/1", "b@localhost", "new two"), "a");
    archive_flush(a);
    assert_int_equal(r.n, 2);
    assert_true(r.deliver[0] && r.deliver[1]);

    struct lines l = { 0 };
    size_t skipped = 0;
    assert_int_equal(archive_read_file(path, collect_line, &l, &skipped), 0);
    assert_int_equal(skipped, 1);
    assert_int_equal(l.n, 3);
    const char *expected[] = { "earlier", "new one", "new two" };
    for (size_t i = 0; i < 3; i++) {
        char *body = line_body(l.text[i]);
        assert_string_equal(body, expected[i]);
        free(body);
    }
    lines_free(&l);
    char *raw = scratch_read_file(path);
    assert_non_null(strstr(raw, "cut off here\n["));
    free(raw);

    archive_free(a);
    released_free(&r);
    ev_loop_destroy(loop);
    xnode_free(earlier);
    buf_free(&content);
    free(path);
    free(xmpp);
    free(dir);
}

/* Makes dir/xmpp unwritable: as root permissions do not bite, so it
 * becomes a regular file (opening beneath it fails with ENOTDIR). */
static void block_archive_dir(const char *xmpp)
{
    if (geteuid() == 0) {
        write_file(xmpp, "");
    } else {
        assert_int_equal(mkdir(xmpp, 0750), 0);
        assert_int_equal(chmod(xmpp, 0500), 0);
    }
}

static void unblock_archive_dir(const char *xmpp)
{
    if (geteuid() == 0) assert_int_equal(unlink(xmpp), 0);
    else assert_int_equal(chmod(xmpp, 0750), 0);
}

static char *error_log(void **state)
{
    const struct scratch *s = *state;
    char *path = path_join(s->dir, "error.log");
    char *text = scratch_read_file(path);
    free(path);
    return text;
}

/* ARCH-3: an unwritable archive is an Error-log line; the batch is refused
 * (default) or delivered unarchived, as configured; writing resumes once
 * the archive is writable again. */
static void test_writer_failure_policies(void **state)
{
    char *dir = test_dir(state, "blocked");
    char *xmpp = path_join(dir, ARCHIVE_SUBDIR);
    assert_int_equal(mkdir(dir, 0750), 0);
    block_archive_dir(xmpp);
    struct ev_loop *loop = ev_loop_new(0);
    struct released r = { .dir = dir };
    struct archive *a = archive_new(loop, dir, ARCHIVE_ON_FAILURE_REFUSE, on_release, &r);
    archive_submit(a, make_message("a@localhost/1", "b@localhost", "m1"), "a");
    archive_submit(a, make_message("a@localhost/1", "b@localhost", "m2"), "a");
    ev_run(loop, EVRUN_NOWAIT);
    assert_int_equal(r.n, 2);
    assert_false(r.deliver[0]);
    assert_false(r.deliver[1]);
    char *log = error_log(state);
    assert_non_null(strstr(log, "Archive: cannot write "));
    assert_non_null(strstr(log, "; 2 message(s) refused."));
    assert_null(strstr(log, "delivered unarchived"));
    free(log);

    archive_configure(a, dir, ARCHIVE_ON_FAILURE_DELIVER);
    archive_submit(a, make_message("a@localhost/1", "b@localhost", "m3"), "a");
    ev_run(loop, EVRUN_NOWAIT);
    assert_int_equal(r.n, 3);
    assert_true(r.deliver[2]);
    log = error_log(state);
    assert_non_null(strstr(log, "; 1 message(s) delivered unarchived."));
    free(log);

    unblock_archive_dir(xmpp);
    archive_configure(a, dir, ARCHIVE_ON_FAILURE_REFUSE);
    archive_submit(a, make_message("a@localhost/1", "b@localhost", "m4"), "a");
    ev_run(loop, EVRUN_NOWAIT);
    assert_int_equal(r.n, 4);
    assert_true(r.deliver[3]);
    assert_int_equal(r.archived_at_release[3], 1);

    archive_free(a);
    released_free(&r);
    ev_loop_destroy(loop);
    free(xmpp);
    free(dir);
}

/* ARCH-3: archive_free writes and releases what is still pending. */
static void test_free_flushes_pending(void **state)
{
    char *dir = test_dir(state, "free");
    struct ev_loop *loop = ev_loop_new(0);
    struct released r = { .dir = dir };
    struct archive *a = archive_new(loop, dir, ARCHIVE_ON_FAILURE_REFUSE, on_release, &r);
    archive_submit(a, make_message("a@localhost/1", "b@localhost", "p1"), "a");
    archive_submit(a, make_message("a@localhost/1", "b@localhost", "p2"), "a");
    assert_int_equal(r.n, 0);
    archive_free(a);
    assert_int_equal(r.n, 2);
    assert_true(r.deliver[0] && r.deliver[1]);
    assert_string_equal(r.body[1], "p2");
    struct lines l = { 0 };
    read_archive(dir, &l);
    assert_int_equal(l.n, 2);
    lines_free(&l);
    ev_run(loop, EVRUN_NOWAIT);   /* no watcher left behind */
    assert_int_equal(ev_pending_count(loop), 0);
    released_free(&r);
    ev_loop_destroy(loop);
    free(dir);
}

/* ARCH-2: a new ArchivePath applies from the next batch. */
static void test_configure_new_dir(void **state)
{
    char *first = test_dir(state, "first"), *second = test_dir(state, "second");
    struct ev_loop *loop = ev_loop_new(0);
    struct released r = { .dir = first };
    struct archive *a = archive_new(loop, first, ARCHIVE_ON_FAILURE_REFUSE, on_release, &r);
    archive_submit(a, make_message("a@localhost/1", "b@localhost", "to first"), "a");
    archive_flush(a);
    archive_configure(a, second, ARCHIVE_ON_FAILURE_REFUSE);
    r.dir = second;
    archive_submit(a, make_message("a@localhost/1", "b@localhost", "to second"), "a");
    archive_flush(a);
    assert_true(r.deliver[0] && r.deliver[1]);
    struct lines l = { 0 };
    read_archive(first, &l);
    assert_int_equal(l.n, 1);
    lines_free(&l);
    read_archive(second, &l);
    assert_int_equal(l.n, 1);
    char *body = line_body(l.text[0]);
    assert_string_equal(body, "to second");
    free(body);
    lines_free(&l);
    archive_free(a);
    released_free(&r);
    ev_loop_destroy(loop);
    free(first);
    free(second);
}

/* ARCH-4: the day files, sorted; other names ignored; no directory, no files. */
static void test_list_files(void **state)
{
    char *dir = test_dir(state, "list");
    char **names;
    size_t n = 7;
    assert_int_equal(archive_list_files(dir, &names, &n), 0);
    assert_int_equal(n, 0);
    assert_null(names);

    char *xmpp = path_join(dir, ARCHIVE_SUBDIR);
    assert_int_equal(mkdir(dir, 0750), 0);
    assert_int_equal(mkdir(xmpp, 0750), 0);
    const char *files[] = { "2024-02-29.log", "2023-11-15.log", "notes.txt", "2023-01-02.log",
                            "2023-11-15.log.tmp", "2023-1-15.log", "x2023-11-15.log",
                            "2023-11-15.LOG", "2023_11_15.log" };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char *p = path_join(xmpp, files[i]);
        write_file(p, "");
        free(p);
    }
    assert_int_equal(archive_list_files(dir, &names, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(names[0], "2023-01-02.log");
    assert_string_equal(names[1], "2023-11-15.log");
    assert_string_equal(names[2], "2024-02-29.log");
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);

    char *file_dir = test_dir(state, "list-file");
    assert_int_equal(mkdir(file_dir, 0750), 0);
    char *file_xmpp = path_join(file_dir, ARCHIVE_SUBDIR);
    write_file(file_xmpp, "");
    errno = 0;
    assert_int_equal(archive_list_files(file_dir, &names, &n), -1);
    assert_int_equal(errno, ENOTDIR);
    free(file_xmpp);
    free(file_dir);
    free(xmpp);
    free(dir);
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    tzset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_parse_round_trip),
        cmocka_unit_test(test_format_server_namespace),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_day_file_name),
        cmocka_unit_test(test_read_file_skips_torn_and_garbage),
        cmocka_unit_test(test_writer_batch_released_after_write),
        cmocka_unit_test(test_writer_submit_from_release),
        cmocka_unit_test(test_writer_after_torn_tail),
        cmocka_unit_test(test_writer_failure_policies),
        cmocka_unit_test(test_free_flushes_pending),
        cmocka_unit_test(test_configure_new_dir),
        cmocka_unit_test(test_list_files),
    };
    return cmocka_run_group_tests(tests, scratch_setup, scratch_teardown);
}
