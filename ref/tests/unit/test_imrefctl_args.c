/* Unit tests for ctlcmd: imrefctl's command line (ADM-1..4, ADM-7):
 * parsing argv into requests, usage errors, help, and the rendering of
 * results as tables, lines and JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ctlcmd.h"
#include "json.h"

#define ARGV(...) ((char *[]){ "imrefctl", __VA_ARGS__, NULL })
#define ARGC(...) ((int)(sizeof((char *[]){ "imrefctl", __VA_ARGS__ }) / sizeof(char *)))
#define PARSE(inv, err, ...) ctlcmd_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (inv), (err))

/* The request line for argv, which must parse. */
static char *request_for(int argc, char **argv)
{
    struct ctl_invocation inv;
    struct buf err, line;
    buf_init(&err);
    buf_init(&line);
    int rc = ctlcmd_parse(argc, argv, &inv, &err);
    if (rc != 0) print_error("unexpected usage error: %s\n", err.data);
    assert_int_equal(rc, 0);
    assert_false(inv.help);
    ctlcmd_request(&inv, &line);
    ctlcmd_invocation_free(&inv);
    buf_free(&err);
    return buf_steal(&line);
}
#define REQUEST(...) request_for(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__))

static void assert_request(char *got, const char *want)
{
    assert_string_equal(got, want);
    free(got);
}

/* The usage error for argv, which must not parse. */
static void assert_usage_error(int argc, char **argv, const char *want)
{
    struct ctl_invocation inv;
    struct buf err;
    buf_init(&err);
    assert_int_equal(ctlcmd_parse(argc, argv, &inv, &err), -1);
    assert_non_null(err.data);
    assert_string_equal(err.data, want);
    ctlcmd_invocation_free(&inv);
    buf_free(&err);
}
#define USAGE_ERROR(want, ...) assert_usage_error(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), want)

/* ADM-4: the existing form `--dir DIR user add JID --password PW` and the
 * other user commands become the actions of ADMIN_API.md. */
static void test_user_requests(void **state)
{
    (void)state;
    assert_request(REQUEST("--dir", "/srv", "user", "add", "alice@localhost", "--password", "pw",
                           "--name", "Alice \"A\" Example"),
                   "{\"action\":\"user.add\",\"jid\":\"alice@localhost\",\"password\":\"pw\","
                   "\"name\":\"Alice \\\"A\\\" Example\"}\n");
    assert_request(REQUEST("user", "add", "--email", "a@x", "--password", "-pw-", "a@b"),
                   "{\"action\":\"user.add\",\"email\":\"a@x\",\"password\":\"-pw-\",\"jid\":\"a@b\"}\n");
    assert_request(REQUEST("user", "list"), "{\"action\":\"user.list\"}\n");
    assert_request(REQUEST("user", "list", "example.com"),
                   "{\"action\":\"user.list\",\"domain\":\"example.com\"}\n");
    assert_request(REQUEST("user", "remove", "a@b"), "{\"action\":\"user.remove\",\"jid\":\"a@b\"}\n");
    assert_request(REQUEST("user", "enable", "a@b"), "{\"action\":\"user.enable\",\"jid\":\"a@b\"}\n");
    assert_request(REQUEST("user", "disable", "a@b"), "{\"action\":\"user.disable\",\"jid\":\"a@b\"}\n");
    assert_request(REQUEST("user", "kick", "a@b"), "{\"action\":\"user.kick\",\"jid\":\"a@b\"}\n");
    assert_request(REQUEST("user", "unlock", "a@b"), "{\"action\":\"user.unlock\",\"jid\":\"a@b\"}\n");
    assert_request(REQUEST("user", "restore-contacts", "a@b,c@d"),
                   "{\"action\":\"user.restore-contacts\",\"jid\":\"a@b,c@d\"}\n");
    assert_request(REQUEST("user", "passwd", "a@b", "--password", "n"),
                   "{\"action\":\"user.passwd\",\"jid\":\"a@b\",\"password\":\"n\"}\n");
    assert_request(REQUEST("user", "set", "a@b", "Groups", "x,y"),
                   "{\"action\":\"user.set\",\"jid\":\"a@b\",\"field\":\"Groups\",\"value\":\"x,y\"}\n");
    /* `--` ends the options: a value may then start with '-'. */
    assert_request(REQUEST("user", "set", "a@b", "FullName", "--", "-x-"),
                   "{\"action\":\"user.set\",\"jid\":\"a@b\",\"field\":\"FullName\",\"value\":\"-x-\"}\n");
}

/* ADM-4: NAME@DOMAIN is sent as name and domain (split at the last '@'). */
static void test_group_requests(void **state)
{
    (void)state;
    assert_request(REQUEST("group", "add", "sales@localhost"),
                   "{\"action\":\"group.add\",\"name\":\"sales\",\"domain\":\"localhost\"}\n");
    assert_request(REQUEST("group", "add", "a@b@localhost"),
                   "{\"action\":\"group.add\",\"name\":\"a@b\",\"domain\":\"localhost\"}\n");
    assert_request(REQUEST("group", "remove", "s@d"), "{\"action\":\"group.remove\",\"name\":\"s\",\"domain\":\"d\"}\n");
    assert_request(REQUEST("group", "set", "s@d", "DomainRestriction", "1"),
                   "{\"action\":\"group.set\",\"name\":\"s\",\"domain\":\"d\",\"field\":\"DomainRestriction\","
                   "\"value\":\"1\"}\n");
    assert_request(REQUEST("group", "members", "s@d", "--add", "a@d", "--remove", "b@d"),
                   "{\"action\":\"group.members\",\"name\":\"s\",\"domain\":\"d\",\"add\":\"a@d\","
                   "\"remove\":\"b@d\"}\n");
    assert_request(REQUEST("group", "list"), "{\"action\":\"group.list\"}\n");
    USAGE_ERROR("a group is NAME@DOMAIN, not sales", "group", "add", "sales");
    USAGE_ERROR("a group is NAME@DOMAIN, not @d", "group", "add", "@d");
    USAGE_ERROR("a group is NAME@DOMAIN, not s@", "group", "add", "s@");
}

/* ADM-1, ADM-2, ADM-3, ADM-7 */
static void test_other_requests(void **state)
{
    (void)state;
    assert_request(REQUEST("connections"), "{\"action\":\"connections\"}\n");
    assert_request(REQUEST("services"), "{\"action\":\"services\"}\n");
    assert_request(REQUEST("service", "stop", "xmpp"), "{\"action\":\"service.stop\",\"name\":\"xmpp\"}\n");
    assert_request(REQUEST("service", "start", "xmpps"), "{\"action\":\"service.start\",\"name\":\"xmpps\"}\n");
    assert_request(REQUEST("service", "restart", "s2s"), "{\"action\":\"service.restart\",\"name\":\"s2s\"}\n");
    assert_request(REQUEST("settings", "get"), "{\"action\":\"settings.get\"}\n");
    assert_request(REQUEST("settings", "set", "SendOutside", "1"),
                   "{\"action\":\"settings.set\",\"name\":\"SendOutside\",\"value\":\"1\"}\n");
    assert_request(REQUEST("reload"), "{\"action\":\"reload\"}\n");
}

/* Global options before the command or anywhere after it. */
static void test_global_options(void **state)
{
    (void)state;
    struct ctl_invocation inv;
    struct buf err;
    buf_init(&err);
    assert_int_equal(PARSE(&inv, &err, "--socket", "/s", "user", "list", "--json", "--dir", "/d"), 0);
    assert_string_equal(inv.socket, "/s");
    assert_string_equal(inv.dir, "/d");
    assert_true(inv.json);
    assert_string_equal(ctlcmd_title(inv.command), "user list");
    assert_string_equal(ctlcmd_action(inv.command), "user.list");
    assert_false(ctlcmd_is_local(inv.command));
    ctlcmd_invocation_free(&inv);

    /* hash-password takes any PASSWORD, as before, even "-x" or "--". */
    assert_int_equal(PARSE(&inv, &err, "hash-password", "--"), 0);
    assert_string_equal(ctlcmd_arg(&inv, "password"), "--");
    ctlcmd_invocation_free(&inv);
    assert_int_equal(PARSE(&inv, &err, "hash-password", "-x"), 0);
    assert_string_equal(ctlcmd_arg(&inv, "password"), "-x");
    ctlcmd_invocation_free(&inv);
    assert_int_equal(PARSE(&inv, &err, "hash-password", "--help"), 0);
    assert_true(inv.help);
    ctlcmd_invocation_free(&inv);
    assert_int_equal(PARSE(&inv, &err, "--dir", "/d", "hash-password", "secret"), 0);
    assert_true(ctlcmd_is_local(inv.command));
    assert_string_equal(ctlcmd_arg(&inv, "password"), "secret");
    assert_null(ctlcmd_arg(&inv, "jid"));
    assert_false(inv.json);
    assert_null(inv.socket);
    ctlcmd_invocation_free(&inv);
    buf_free(&err);
}

/* Usage errors (exit 2) say what is wrong. */
static void test_usage_errors(void **state)
{
    (void)state;
    USAGE_ERROR("no command", "--json");
    USAGE_ERROR("unknown command frob", "frob");
    USAGE_ERROR("unknown option --frob", "--frob", "connections");
    USAGE_ERROR("--dir needs a value", "--dir");
    USAGE_ERROR("user takes one of: list, add, remove, enable, disable, passwd, set, kick, restore-contacts, unlock", "user");
    USAGE_ERROR("unknown command user frob; user takes one of: list, add, remove, enable, disable, passwd, "
                "set, kick, restore-contacts, unlock", "user", "frob");
    USAGE_ERROR("user add needs --password", "user", "add", "a@b");
    USAGE_ERROR("user add needs JID --password PW [--name \"Full Name\"] [--email ADDRESS]", "user", "add",
                "--password", "x");
    USAGE_ERROR("--password needs a value", "user", "add", "a@b", "--password");
    USAGE_ERROR("--password is given twice", "user", "add", "a@b", "--password", "x", "--password", "y");
    USAGE_ERROR("unknown option --name", "user", "remove", "a@b", "--name", "x");
    USAGE_ERROR("unexpected argument extra", "user", "remove", "a@b", "extra");
    USAGE_ERROR("unexpected argument x", "connections", "x");
    USAGE_ERROR("user set needs JID FIELD VALUE", "user", "set", "a@b", "Enabled");
    USAGE_ERROR("hash-password needs PASSWORD", "hash-password");
    USAGE_ERROR("unexpected argument b", "hash-password", "a", "b");
    USAGE_ERROR("settings takes one of: get, set", "settings");
}

/* --help: overall, per family, per command; arguments then not checked. */
static void test_help(void **state)
{
    (void)state;
    struct ctl_invocation inv;
    struct buf err, out;
    buf_init(&err);
    buf_init(&out);
    assert_int_equal(PARSE(&inv, &err, "--help"), 0);
    assert_true(inv.help);
    assert_null(inv.command);
    ctlcmd_help(inv.command, inv.help_family, &out);
    assert_non_null(strstr(out.data, "  group members NAME@DOMAIN [--add JID] [--remove JID]\n"));
    assert_non_null(strstr(out.data, "  connections\n"));
    assert_non_null(strstr(out.data, "  hash-password PASSWORD\n"));
    assert_non_null(strstr(out.data, "--socket PATH"));
    ctlcmd_invocation_free(&inv);

    buf_reset(&out);
    assert_int_equal(PARSE(&inv, &err, "group", "--help"), 0);
    assert_true(inv.help);
    assert_string_equal(inv.help_family, "group");
    ctlcmd_help(inv.command, inv.help_family, &out);
    assert_non_null(strstr(out.data, "  group add NAME@DOMAIN\n"));
    assert_null(strstr(out.data, "user add"));
    ctlcmd_invocation_free(&inv);

    buf_reset(&out);
    assert_int_equal(PARSE(&inv, &err, "user", "add", "--help"), 0);
    assert_true(inv.help);
    ctlcmd_help(inv.command, inv.help_family, &out);
    assert_string_equal(out.data,
                        "usage: imrefctl [--dir DIR] [--socket PATH] [--json] user add JID --password PW "
                        "[--name \"Full Name\"] [--email ADDRESS]\n"
                        "  add an account (appended to users.cfg)\n");
    ctlcmd_invocation_free(&inv);
    buf_free(&out);
    buf_free(&err);
}

/* ADM-1: Time as 12s, 2m05s, 1h02m. */
static void test_format_duration(void **state)
{
    (void)state;
    const struct { long long s; const char *text; } cases[] = {
        { 0, "0s" }, { 12, "12s" }, { 59, "59s" }, { 60, "1m00s" }, { 125, "2m05s" },
        { 3599, "59m59s" }, { 3600, "1h00m" }, { 3720, "1h02m" }, { 90061, "25h01m" }, { -5, "0s" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct buf b;
        buf_init(&b);
        ctlcmd_format_duration(cases[i].s, &b);
        assert_string_equal(b.data, cases[i].text);
        buf_free(&b);
    }
}

/* Renders `result` (JSON text) for the command line argv. */
static char *render(const char *result_text, int argc, char **argv)
{
    struct ctl_invocation inv;
    struct buf err, out;
    buf_init(&err);
    buf_init(&out);
    assert_int_equal(ctlcmd_parse(argc, argv, &inv, &err), 0);
    struct json *result = json_parse(result_text, strlen(result_text), &err);
    assert_non_null(result);
    ctlcmd_render(&inv, result, &out);
    json_free(result);
    ctlcmd_invocation_free(&inv);
    buf_free(&err);
    return buf_steal(&out);
}
#define RENDER(result, ...) render(result, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__))

static const char connections_result[] =
    "[{\"protocol\":\"XMPP\",\"secure\":true,\"time\":3725,\"from\":\"127.0.0.1:40000\","
    "\"user\":\"alice@localhost\",\"description\":\"laptop\",\"tls_version\":\"TLSv1.3\","
    "\"cipher\":\"TLS_AES_256_GCM_SHA384\",\"sasl\":\"SCRAM-SHA-256\"},"
    "{\"protocol\":\"XMPPS\",\"secure\":false,\"time\":7,\"from\":\"[::1]:5\",\"user\":\"\","
    "\"description\":\"x\\u001b[2Jy\",\"tls_version\":\"\",\"cipher\":\"\",\"sasl\":\"\"}]";

/* ADM-1: the connections table: the columns of ADMIN_API.md, aligned;
 * control characters from peers are not passed to the terminal. */
static void test_render_connections(void **state)
{
    (void)state;
    char *text = RENDER(connections_result, "connections");
    assert_string_equal(text,
        "Protocol  Secure  Time   From             User             Description  TLS      Cipher                  SASL\n"
        "XMPP      yes     1h02m  127.0.0.1:40000  alice@localhost  laptop       TLSv1.3  TLS_AES_256_GCM_SHA384  SCRAM-SHA-256\n"
        "XMPPS     no      7s     [::1]:5                           x?[2Jy\n");
    free(text);
}

/* ADM-1: --json prints the result itself, indented, as one JSON value. */
static void test_render_json(void **state)
{
    (void)state;
    char *text = RENDER(connections_result, "--json", "connections");
    struct buf err;
    buf_init(&err);
    struct json *again = json_parse(text, strlen(text), &err);
    assert_non_null(again);
    assert_int_equal(json_array_len(again), 2);
    double time = 0;
    assert_true(json_number(json_get(json_array_at(again, 0), "time"), &time));
    assert_true(time == 3725);
    assert_string_equal(json_string(json_get(json_array_at(again, 1), "description")), "x\x1b[2Jy");
    assert_non_null(strstr(text, "[\n  {\n    \"protocol\": \"XMPP\",\n    \"secure\": true,\n    \"time\": 3725,"));
    assert_int_equal(text[strlen(text) - 1], '\n');
    json_free(again);
    buf_free(&err);
    free(text);
    text = RENDER("{\"a\":[],\"b\":{},\"c\":null,\"d\":1.5}", "--json", "settings", "get");
    assert_string_equal(text, "{\n  \"a\": [],\n  \"b\": {},\n  \"c\": null,\n  \"d\": 1.5\n}\n");
    free(text);
}

/* ADM-2, ADM-3, ADM-4, ADM-7: tables and lines of the other commands. */
static void test_render_others(void **state)
{
    (void)state;
    char *text = RENDER("[{\"id\":\"xmpp\",\"name\":\"Instant Messaging\",\"running\":true,\"startup\":\"Automatic\","
                        "\"listeners\":[\"127.0.0.1:5222\",\"[::1]:5222\"],\"connections\":2}]", "services");
    assert_string_equal(text,
        "Service  Name               Status   Startup    Connections  Listeners\n"
        "xmpp     Instant Messaging  running  Automatic  2            127.0.0.1:5222,[::1]:5222\n");
    free(text);
    text = RENDER("{\"id\":\"xmpps\",\"name\":\"S\",\"running\":false,\"startup\":\"Manual\",\"listeners\":[],"
                  "\"connections\":0}", "service", "stop", "xmpps");
    assert_string_equal(text, "Service  Name  Status   Startup  Connections  Listeners\n"
                              "xmpps    S     stopped  Manual   0\n");
    free(text);
    text = RENDER("{\"SendOutside\":1,\"SecurityPolicy\":\"NoRestrictions\"}", "settings", "get");
    assert_string_equal(text, "SendOutside     1\nSecurityPolicy  NoRestrictions\n");
    free(text);
    text = RENDER("[{\"jid\":\"a@l\",\"name\":\"Ä\",\"email\":\"\",\"enabled\":true,\"publish_in_gal\":false,"
                  "\"domain_restriction\":true,\"access_policy\":\"P\",\"groups\":[\"g\",\"h\"]}]", "user", "list");
    assert_string_equal(text,
        "User  Full name  Email  Enabled  GAL  Restricted  Access policy  Groups\n"
        "a@l   Ä                 yes      no   yes         P              g,h\n");
    free(text);
    text = RENDER("[{\"name\":\"s\",\"domain\":\"l\",\"domain_restriction\":false,\"members\":[]}]", "group", "list");
    assert_string_equal(text, "Group  Domain  Restricted  Members\ns      l       no\n");
    free(text);
    text = RENDER("{\"jid\":\"a@l\"}", "user", "add", "a@l", "--password", "p");
    assert_string_equal(text, "added user a@l\n");
    free(text);
    text = RENDER("{\"name\":\"s\",\"members\":[]}", "group", "set", "s@l", "DomainRestriction", "1");
    assert_string_equal(text, "changed group s@l\n");
    free(text);
    text = RENDER("{\"name\":\"s\",\"members\":[\"a@l\",\"b@l\"]}", "group", "members", "s@l");
    assert_string_equal(text, "s@l: a@l b@l\n");
    free(text);
    text = RENDER("{\"name\":\"s\",\"members\":[]}", "group", "members", "s@l", "--remove", "a@l");
    assert_string_equal(text, "s@l: (no members)\n");
    free(text);
    text = RENDER("{\"jid\":\"a@l\",\"sessions\":2}", "user", "kick", "a@l");
    assert_string_equal(text, "a@l: 2 sessions ended\n");
    free(text);
    text = RENDER("{\"users\":1}", "reload");
    assert_string_equal(text, "reloaded users.cfg: 1 user\n");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_requests),
        cmocka_unit_test(test_group_requests),
        cmocka_unit_test(test_other_requests),
        cmocka_unit_test(test_global_options),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_format_duration),
        cmocka_unit_test(test_render_connections),
        cmocka_unit_test(test_render_json),
        cmocka_unit_test(test_render_others),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
