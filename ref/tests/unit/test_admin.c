/* Unit tests: admin_handle — the request/reply contract of the control
 * socket and the Config log of admin actions (ADM-3, ADM-4, ADM-7), over a
 * minimal server with a users.cfg in a scratch directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "admin.h"
#include "colleagues.h"
#include "config.h"
#include "directory.h"
#include "json.h"
#include "scratch.h"
#include "server.h"

struct fixture {
    struct scratch *scratch;
    struct server_config cfg;
    struct server srv;
};

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof *f);
    void *s = NULL;
    if (scratch_setup(&s) < 0) return -1;
    f->scratch = s;
    char path[128];
    snprintf(path, sizeof path, "%s/users.cfg", f->scratch->dir);
    f->cfg.users_path = xstrdup(path);
    f->cfg.scram_iterations = 4096;
    f->srv.cfg = &f->cfg;
    struct buf err;
    buf_init(&err);
    if (directory_load(path, &f->srv.dir, &err) < 0) return -1;   /* absent: empty */
    buf_free(&err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    colleagues_free(f->srv.colleagues);      /* built by the reloads after edits */
    directory_free(f->srv.dir);
    free(f->cfg.users_path);
    void *s = f->scratch;
    scratch_teardown(&s);
    free(f);
    return 0;
}

/* One request through admin_handle; the parsed reply (caller frees). */
static struct json *call(struct fixture *f, const char *request)
{
    struct buf reply;
    buf_init(&reply);
    admin_handle(&f->srv, request, strlen(request), "uid 0 pid 42", &reply);
    assert_true(reply.len > 0);
    assert_int_equal(reply.data[reply.len - 1], '\n');
    assert_null(memchr(reply.data, '\n', reply.len - 1));      /* exactly one line */
    struct buf err;
    buf_init(&err);
    struct json *doc = json_parse(reply.data, reply.len - 1, &err);
    if (!doc) fail_msg("reply is not JSON: %s (%s)", reply.data, err.data);
    buf_free(&err);
    buf_free(&reply);
    return doc;
}

static void assert_error(struct json *doc, const char *needle)
{
    bool ok = true;
    assert_true(json_bool(json_get(doc, "ok"), &ok));
    assert_false(ok);
    const char *e = json_string(json_get(doc, "error"));
    assert_non_null(e);
    if (!strstr(e, needle)) fail_msg("error '%s' lacks '%s'", e, needle);
    json_free(doc);
}

static const struct json *assert_ok(struct json *doc)
{
    bool ok = false;
    assert_true(json_bool(json_get(doc, "ok"), &ok));
    if (!ok) fail_msg("error: %s", json_string(json_get(doc, "error")));
    return json_get(doc, "result");
}

/* Malformed, action-less and unknown requests get an error reply. */
static void test_bad_requests_ADM_4(void **state)
{
    struct fixture *f = *state;
    assert_error(call(f, "not json"), "malformed request");
    assert_error(call(f, "{\"action\":"), "malformed request");
    assert_error(call(f, "[1,2]"), "no action");
    assert_error(call(f, "{\"jid\":\"a@b\"}"), "no action");
    assert_error(call(f, "{\"action\":42}"), "no action");
    assert_error(call(f, "{\"action\":\"format.disk\"}"), "unknown action 'format.disk'");
    assert_error(call(f, "{\"action\":\"user.add\",\"jid\":\"alice@example.com\"}"), "missing argument 'password'");
    assert_error(call(f, "{\"action\":\"user.add\",\"password\":\"x\"}"), "missing argument 'jid'");
    char path[128];
    snprintf(path, sizeof path, "%s/config.log", f->scratch->dir);
    char *log = scratch_read_file(path);
    assert_non_null(strstr(log, "Admin uid 0 pid 42: malformed request refused"));
    assert_non_null(strstr(log, "Admin uid 0 pid 42: unknown action 'format.disk'"));
    assert_non_null(strstr(log, "user.add jid=alice@example.com: failed: missing argument 'password'"));
    free(log);
}

/* ADM-4, ADM-7: an added user is in the reloaded directory at once; the
 * Config log names who and what, never the password. */
static void test_user_add_list_and_log_ADM_4(void **state)
{
    struct fixture *f = *state;
    struct json *doc = call(f, "{\"action\":\"user.add\",\"jid\":\"alice@example.com\","
                               "\"password\":\"s3cret-pw\",\"name\":\"Alice\"}");
    assert_string_equal(json_string(json_get(assert_ok(doc), "jid")), "alice@example.com");
    json_free(doc);
    assert_non_null(directory_find_user(f->srv.dir, "alice", "example.com"));
    assert_error(call(f, "{\"action\":\"user.add\",\"jid\":\"alice@example.com\",\"password\":\"x\"}"),
                 "exists");

    doc = call(f, "{\"action\":\"user.list\"}");
    const struct json *list = assert_ok(doc);
    assert_int_equal(json_array_len(list), 1);
    const struct json *u = json_array_at(list, 0);
    assert_string_equal(json_string(json_get(u, "jid")), "alice@example.com");
    assert_string_equal(json_string(json_get(u, "name")), "Alice");
    json_free(doc);

    doc = call(f, "{\"action\":\"user.disable\",\"jid\":\"alice@example.com\"}");
    assert_ok(doc);
    json_free(doc);
    assert_false(directory_find_user(f->srv.dir, "alice", "example.com")->enabled);

    char path[128];
    snprintf(path, sizeof path, "%s/config.log", f->scratch->dir);
    char *log = scratch_read_file(path);
    assert_non_null(strstr(log, "Admin uid 0 pid 42: user.add jid=alice@example.com password=*** name=Alice: done"));
    assert_non_null(strstr(log, "Admin uid 0 pid 42: user.disable jid=alice@example.com: done"));
    assert_null(strstr(log, "s3cret-pw"));
    free(log);
}

/* The table: every action has a distinct name. */
static void test_action_names_unique(void **state)
{
    (void)state;
    size_t n = admin_action_count();
    assert_true(n >= 20);
    for (size_t i = 0; i < n; i++)
        for (size_t k = i + 1; k < n; k++) assert_string_not_equal(admin_action_name(i), admin_action_name(k));
    assert_null(admin_action_name(n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bad_requests_ADM_4, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_add_list_and_log_ADM_4, setup, teardown),
        cmocka_unit_test(test_action_names_unique),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
