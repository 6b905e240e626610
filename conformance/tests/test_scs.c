/* Unit tests: the .scs script parser (CONF-2 scansion compatibility, CONF-3
 * extension steps and metadata, CONF-4 "PATH:LINE: reason" errors).
 * Run from the repository root: scripts are read from conformance/tests/data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scs.h"

#define DATA "conformance/tests/data/"

static struct scenario *load_ok(const char *path)
{
    struct buf err;
    buf_init(&err);
    struct scenario *sc = NULL;
    int rc = scs_load(path, &sc, &err);
    if (rc != 0) print_error("%s\n", err.data);
    assert_int_equal(rc, 0);
    assert_non_null(sc);
    buf_free(&err);
    return sc;
}

/* The error of a script that must not parse (malloc'd). */
static char *parse_error_of(const char *text, const char *path)
{
    struct buf err;
    buf_init(&err);
    struct scenario *sc = NULL;
    assert_int_equal(scs_parse(text, strlen(text), path, &sc, &err), -1);
    assert_null(sc);
    return buf_steal(&err);
}

static char *load_error_of(const char *path)
{
    struct buf err;
    buf_init(&err);
    struct scenario *sc = NULL;
    assert_int_equal(scs_load(path, &sc, &err), -1);
    assert_null(sc);
    return buf_steal(&err);
}

static void assert_step(const struct scs_step *st, enum scs_step_kind kind, const char *client,
                        unsigned line, const char *text)
{
    assert_int_equal(st->kind, kind);
    if (client) assert_string_equal(st->client, client);
    else assert_null(st->client);
    assert_int_equal(st->line, line);
    assert_string_equal(st->text, text);
    assert_int_equal(st->text_len, strlen(text));
}

/* CONF-2: a scansion-style script: two clients (one name with an
 * apostrophe and a space), tab and space indentation, whitespace-only lines
 * inside and between blocks, the separator, comments, the four core steps,
 * variables kept for run time, multi-line and multi-element payloads. */
static void test_full_scansion_script(void **state)
{
    (void)state;
    struct scenario *sc = load_ok(DATA "good/full.scs");
    assert_string_equal(sc->path, DATA "good/full.scs");
    assert_string_equal(sc->title, "Roster and presence basics, written the scansion way");

    assert_int_equal(sc->n_clients, 2);
    const struct scs_client *romeo = &sc->clients[0];
    assert_string_equal(romeo->name, "Romeo");
    assert_int_equal(romeo->line, 5);
    assert_int_equal(romeo->n_options, 3);
    assert_string_equal(romeo->options[0].key, "jid");
    assert_string_equal(romeo->options[0].value, "romeo@localhost");
    assert_string_equal(romeo->options[1].key, "password");
    assert_string_equal(romeo->options[2].key, "resource");
    assert_string_equal(scs_client_option(romeo, "resource"), "balcony");
    assert_null(scs_client_option(romeo, "tls"));

    const struct scs_client *juliet = scs_find_client(sc, "Juliet's tablet");
    assert_ptr_equal(juliet, &sc->clients[1]);
    assert_int_equal(juliet->line, 11);
    assert_string_equal(scs_client_option(juliet, "jid"), "juliet@localhost");
    assert_string_equal(scs_client_option(juliet, "password"), "nurse");
    assert_string_equal(scs_client_option(juliet, "tls"), "direct-tls");
    assert_null(scs_find_client(sc, "Juliet"));

    assert_int_equal(sc->n_steps, 10);
    const struct scs_step *st = sc->steps;
    assert_step(&st[0], SCS_CONNECTS, "Romeo", 19, "");
    assert_step(&st[1], SCS_CONNECTS, "Juliet's tablet", 21, "");
    assert_step(&st[2], SCS_SENDS, "Romeo", 23, "<presence/>");
    assert_step(&st[3], SCS_RECEIVES, "Romeo", 26, "<presence from=\"${Romeo's full JID}\"/>");
    assert_step(&st[4], SCS_SENDS, "Romeo", 29,
                "<iq type=\"get\" id=\"r1\">\n<query xmlns=\"jabber:iq:roster\"/>\n</iq>");
    assert_step(&st[5], SCS_RECEIVES, "Romeo", 34,
                "<iq type=\"result\" id=\"r1\">\n"
                "<query xmlns=\"jabber:iq:roster\" ver=\"{scansion:any}\"/>\n</iq>");
    assert_step(&st[6], SCS_SENDS, "Juliet's tablet", 39,
                "<message to=\"${Romeo's JID}\" type=\"chat\">\n"
                "<body>Hello ${Romeo's resource} at ${Romeo's domain}</body>\n"
                "</message>\n<presence/>");
    assert_step(&st[7], SCS_RECEIVES, "Romeo", 47,
                "<message from=\"${Juliet's tablet's full JID}\" type=\"chat\">"
                "<body>Hello balcony at localhost</body></message>");
    assert_step(&st[8], SCS_DISCONNECTS, "Juliet's tablet", 50, "");
    assert_step(&st[9], SCS_DISCONNECTS, "Romeo", 51, "");
    for (size_t i = 0; i < sc->n_steps; i++) assert_null(st[i].log_name);
    scs_free(sc);
}

/* CONF-3, CONF-5: "# covers:" and "# requires:" words (commas or spaces;
 * anywhere in the file), the title being the first other comment. */
static void test_metadata(void **state)
{
    (void)state;
    struct scenario *sc = load_ok(DATA "good/full.scs");
    assert_int_equal(sc->n_covers, 3);
    assert_string_equal(sc->covers[0], "CONF-2");
    assert_string_equal(sc->covers[1], "IM-3");
    assert_string_equal(sc->covers[2], "RFC6121-2.1");
    assert_int_equal(sc->n_requires, 2);
    assert_string_equal(sc->requires[0], "starttls");
    assert_string_equal(sc->requires[1], "scram-sha-1");
    scs_free(sc);

    sc = load_ok(DATA "good/extensions.scs");
    assert_string_equal(sc->title, "Every imref extension step");
    assert_int_equal(sc->n_covers, 1);
    assert_string_equal(sc->covers[0], "CONF-3");
    assert_int_equal(sc->n_requires, 2);
    assert_string_equal(sc->requires[0], "admin");
    assert_string_equal(sc->requires[1], "logs");
    scs_free(sc);

    static const char no_title[] = "[Client] A\n\tjid: a@localhost\n# later comment\nA connects\n";
    struct buf err;
    buf_init(&err);
    assert_int_equal(scs_parse(no_title, strlen(no_title), "t.scs", &sc, &err), 0);
    assert_string_equal(sc->title, "");
    assert_int_equal(sc->n_covers, 0);
    assert_null(sc->covers);
    scs_free(sc);
    buf_free(&err);
}

/* CONF-3: every extension step, client options, raw escapes with \x00. */
static void test_extension_steps(void **state)
{
    (void)state;
    struct scenario *sc = load_ok(DATA "good/extensions.scs");
    const struct scs_client *mallory = scs_find_client(sc, "Mallory");
    assert_non_null(mallory);
    assert_int_equal(mallory->n_options, 7);
    assert_string_equal(mallory->options[2].key, "sasl");
    assert_string_equal(scs_client_option(mallory, "sasl"), "SCRAM-SHA-256");
    assert_string_equal(scs_client_option(mallory, "channel-binding"), "tls-exporter");
    assert_string_equal(scs_client_option(mallory, "sni"), "localhost");
    assert_string_equal(scs_client_option(mallory, "tls"), "plain");
    assert_string_equal(scs_client_option(mallory, "login"), "no");

    assert_int_equal(sc->n_steps, 12);
    const struct scs_step *st = sc->steps;
    assert_step(&st[0], SCS_FAILS_TO_CONNECT, "Mallory", 17, "not-authorized");
    assert_step(&st[1], SCS_CONNECTS, "Romeo", 18, "");
    assert_step(&st[2], SCS_RECEIVES_NOTHING, "Romeo", 19, "");

    static const char raw[] = "<message to='a@b'>\n<body>x\0y\t\\\r\x7f</body>";
    assert_int_equal(st[3].kind, SCS_SENDS_RAW);
    assert_int_equal(st[3].line, 20);
    assert_int_equal(st[3].text_len, sizeof raw - 1);
    assert_memory_equal(st[3].text, raw, sizeof raw - 1);

    assert_step(&st[4], SCS_RECEIVES_STREAM_ERROR, "Romeo", 24, "not-well-formed");
    assert_step(&st[5], SCS_IS_DISCONNECTED, "Romeo", 25, "");
    assert_step(&st[6], SCS_ADMIN_RUNS, NULL, 26, "user add ${Romeo's JID} --password \"x y\"");
    assert_null(st[6].log_name);
    static const char *const logs[] = { "warning", "error", "security", "config", "archive" };
    static const char *const texts[] = {
        "refused ${Mallory's JID}", "boom", "sasl failure", "bad value", "<body>kept</body>",
    };
    for (unsigned i = 0; i < 5; i++) {
        assert_step(&st[7 + i], SCS_LOG_CONTAINS, NULL, 27 + i, texts[i]);
        assert_string_equal(st[7 + i].log_name, logs[i]);
    }
    scs_free(sc);
}

/* CONF-3: the admin expectation steps: "Admin fails: ARGS" and "Admin output
 * contains: TEXT", their arguments trimmed with variables kept for run time. */
static void test_admin_steps_conf3(void **state)
{
    (void)state;
    static const char script[] =
        "[Client] Romeo\n"                                           /* 1 */
        "\tjid: romeo@localhost\n"                                   /* 2 */
        "Admin runs: connections\n"                                  /* 3 */
        "Admin output contains:  ${Romeo's JID}   XMPPS \n"          /* 4 */
        "\n"                                                          /* 5 */
        "Admin fails: user add ${Romeo's JID} --password x\n"        /* 6 */
        "Admin output contains: user romeo@localhost exists\n"       /* 7 */
        "Admin fails:user kick nobody@localhost\n";                  /* 8 */
    struct buf err;
    buf_init(&err);
    struct scenario *sc = NULL;
    assert_int_equal(scs_parse(script, strlen(script), "adm.scs", &sc, &err), 0);
    assert_int_equal(sc->n_steps, 5);
    const struct scs_step *st = sc->steps;
    assert_step(&st[0], SCS_ADMIN_RUNS, NULL, 3, "connections");
    assert_step(&st[1], SCS_ADMIN_OUTPUT_CONTAINS, NULL, 4, "${Romeo's JID}   XMPPS");
    assert_step(&st[2], SCS_ADMIN_FAILS, NULL, 6, "user add ${Romeo's JID} --password x");
    assert_step(&st[3], SCS_ADMIN_OUTPUT_CONTAINS, NULL, 7, "user romeo@localhost exists");
    assert_step(&st[4], SCS_ADMIN_FAILS, NULL, 8, "user kick nobody@localhost");
    for (size_t i = 0; i < sc->n_steps; i++) assert_null(st[i].log_name);
    scs_free(sc);
    assert_int_equal(err.len, 0);
    buf_free(&err);
}

/* CONF-3, CONF-4: bad admin expectation steps name file, line and reason. */
static void test_admin_step_errors_conf3(void **state)
{
    (void)state;
    static const struct {
        const char *script, *error;
    } cases[] = {
        { "[Client] A\n\tjid: a@b\nA connects\nAdmin fails:\n", "t.scs:4: Admin fails: without an argument" },
        { "Admin output contains: \t \n", "t.scs:1: Admin output contains: without an argument" },
        { "[Client] A\n\tjid: a@b\n\nAdmin output contains: ${B's JID}\n",
          "t.scs:4: unknown variable ${B's JID}" },
        { "[Client] A\n\tjid: a@b\nAdmin fails: user kick ${A's nick}\n",
          "t.scs:3: unknown variable ${A's nick}" },
        { "Admin output contain: x\n", "t.scs:1: unknown step 'Admin output contain: x'" },
        { "Admin fail: x\n", "t.scs:1: unknown step 'Admin fail: x'" },
        { "[Client] A\n\tjid: a@b\nAdmin fails: x\n\t<presence/>\n",
          "t.scs:4: indented line outside a client or a step" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = parse_error_of(cases[i].script, "t.scs");
        assert_string_equal(got, cases[i].error);
        free(got);
    }
}

/* CONF-1, CONF-3: the peer target: a `target: peer` client, `Peer admin`
   steps, ${target:NAME} / ${peer:NAME}; `requires: peer` (or peer:CAP). */
static void test_peer_target_conf3(void **state)
{
    (void)state;
    static const char script[] =
        "# Across servers\n"                                         /* 1 */
        "# requires: peer peer:admin\n"                              /* 2 */
        "[Client] Romeo\n"                                           /* 3 */
        "\tjid: romeo@localhost\n"                                   /* 4 */
        "\ttarget: main\n"                                           /* 5 */
        "[Client] Juliet\n"                                          /* 6 */
        "\tjid: juliet@localhost\n"                                  /* 7 */
        "\ttarget: peer\n"                                           /* 8 */
        "Peer admin runs: user set ${Juliet's JID} DomainRestriction 1\n"   /* 9 */
        "Peer admin fails: user add ${Juliet's JID}\n"               /* 10 */
        "Admin runs: x\n"                                            /* 11 */
        "Romeo sends:\n"                                             /* 12 */
        "\t<message to='nobody@${target:unreachable-domain}' id='${peer:id}'/>\n";
    struct buf err;
    buf_init(&err);
    struct scenario *sc = NULL;
    if (scs_parse(script, strlen(script), "p.scs", &sc, &err) != 0) fail_msg("%s", err.data);
    assert_true(scs_requires_peer(sc));
    assert_false(sc->clients[0].peer);
    assert_true(sc->clients[1].peer);
    assert_int_equal(sc->n_steps, 4);
    assert_step(&sc->steps[0], SCS_ADMIN_RUNS, NULL, 9, "user set ${Juliet's JID} DomainRestriction 1");
    assert_true(sc->steps[0].peer);
    assert_step(&sc->steps[1], SCS_ADMIN_FAILS, NULL, 10, "user add ${Juliet's JID}");
    assert_true(sc->steps[1].peer);
    assert_step(&sc->steps[2], SCS_ADMIN_RUNS, NULL, 11, "x");
    assert_false(sc->steps[2].peer);
    assert_string_equal(sc->steps[3].text,
                        "<message to='nobody@${target:unreachable-domain}' id='${peer:id}'/>");
    scs_free(sc);
    buf_free(&err);

    /* a peer capability alone declares the peer too; ${target:...} does not need it */
    static const char *const fine[] = {
        "# requires: peer:admin\n[Client] J\n\tjid: j@localhost\n\ttarget: peer\n",
        "[Client] R\n\tjid: r@localhost\nR sends:\n\t<message to='a@${target:down}'/>\n",
    };
    for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
        buf_init(&err);
        if (scs_parse(fine[i], strlen(fine[i]), "t.scs", &sc, &err) != 0) fail_msg("%zu: %s", i, err.data);
        assert_int_equal(scs_requires_peer(sc), i == 0);
        scs_free(sc);
        buf_free(&err);
    }

    static const struct { const char *script, *error; } cases[] = {
        { "[Client] J\n\tjid: j@localhost\n\ttarget: peer\nJ connects\n",
          "t.scs:1: uses the peer target without '# requires: peer'" },
        { "# requires: admin\n[Client] R\n\tjid: r@localhost\nR connects\nPeer admin runs: x\n",
          "t.scs:5: uses the peer target without '# requires: peer'" },
        { "[Client] R\n\tjid: r@localhost\nR sends:\n\t<message to='${peer:domain}'/>\n",
          "t.scs:3: uses the peer target without '# requires: peer'" },
        { "# requires: peer\n[Client] J\n\tjid: j@localhost\n\ttarget: other\n",
          "t.scs:2: client 'J': target must be main or peer, not 'other'" },
        { "# requires: peer\n[Client] J\n\tjid: j@localhost\nJ sends:\n\t<message to='${peer:}'/>\n",
          "t.scs:4: unknown variable ${peer:}" },
        { "# requires: peer\n[Client] J\n\tjid: j@localhost\nJ sends:\n\t<message to='${server:x}'/>\n",
          "t.scs:4: unknown variable ${server:x}" },
        { "# requires: peer\nPeer admin output contains: x\n", "t.scs:2: unknown step 'Peer admin output contains: x'" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = parse_error_of(cases[i].script, "t.scs");
        if (strcmp(got, cases[i].error) != 0) fail_msg("case %zu: got '%s', want '%s'", i, got, cases[i].error);
        free(got);
    }
}

/* CONF-3: variables in raw lines are checked but kept for run time. */
static void test_raw_keeps_variables(void **state)
{
    (void)state;
    static const char script[] = "[Client] A\n\tjid: a@b\nA sends raw:\n\t<m to='${A's JID}'/>\\x20\n";
    struct buf err;
    buf_init(&err);
    struct scenario *sc;
    assert_int_equal(scs_parse(script, strlen(script), "raw.scs", &sc, &err), 0);
    assert_step(&sc->steps[0], SCS_SENDS_RAW, "A", 3, "<m to='${A's JID}'/> ");
    scs_free(sc);
    buf_free(&err);
}

/* CONF-2: CRLF line endings, a last line without a newline, an empty script. */
static void test_line_endings(void **state)
{
    (void)state;
    static const char crlf[] = "# T \r\n[Client] A\r\n\tjid: a@localhost \r\n\r\nA sends:\r\n\t<presence/>\r\nA disconnects";
    struct buf err;
    buf_init(&err);
    struct scenario *sc;
    assert_int_equal(scs_parse(crlf, strlen(crlf), "crlf.scs", &sc, &err), 0);
    assert_string_equal(sc->title, "T");
    assert_string_equal(scs_client_option(&sc->clients[0], "jid"), "a@localhost");
    assert_int_equal(sc->n_steps, 2);
    assert_step(&sc->steps[0], SCS_SENDS, "A", 5, "<presence/>");
    assert_step(&sc->steps[1], SCS_DISCONNECTS, "A", 7, "");
    scs_free(sc);

    assert_int_equal(scs_parse("", 0, "empty.scs", &sc, &err), 0);
    assert_int_equal(sc->n_clients + sc->n_steps, 0);
    scs_free(sc);
    assert_int_equal(err.len, 0);
    buf_free(&err);
}

/* CONF-4: each bad script names its file, line and reason exactly. */
static void test_bad_scripts(void **state)
{
    (void)state;
    static const struct {
        const char *file, *error;
    } cases[] = {
        { "unknown_step", "unknown step 'Romeo dances'" },
        { "undeclared_client", "undeclared client 'Mercutio'" },
        { "missing_jid", "client 'Romeo' has no jid" },
        { "sends_without_payload", "sends: without payload" },
        { "malformed_payload", "payload is not well-formed XML (not-well-formed: mismatched tag)" },
        { "bad_escape", "bad escape '\\q' in raw data" },
        { "duplicate_client", "duplicate client 'Romeo'" },
        { "payload_before_step", "indented line outside a client or a step" },
        { "unknown_variable", "unknown variable ${Tybalt's JID}" },
        { "bad_condition", "expected a condition such as <not-authorized/>, got 'not-authorized'" },
    };
    static const unsigned lines[] = { 8, 8, 3, 8, 8, 9, 6, 7, 7, 7 };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[256], want[512];
        snprintf(path, sizeof path, DATA "bad/%s.scs", cases[i].file);
        snprintf(want, sizeof want, "%s:%u: %s", path, lines[i], cases[i].error);
        char *got = load_error_of(path);
        assert_string_equal(got, want);
        free(got);
    }
}

/* CONF-3, CONF-4: further errors, on inline scripts. */
static void test_more_errors(void **state)
{
    (void)state;
    static const struct {
        const char *script, *error;
    } cases[] = {
        { "[Client] A\n\tjid: a@b\nA receives:\nA connects\n", "t.scs:3: receives: without payload" },
        { "[Client] A\n\tjid: a@b\nA sends raw:\n\n", "t.scs:3: sends raw: without payload" },
        { "[Client] A\n\tjid: a@b\nA sends raw:\n\tab\\x4\n", "t.scs:4: bad escape '\\x4' in raw data" },
        { "[Client] A\n\tjid: a@b\nA sends raw:\n\tab\\\n", "t.scs:4: bad escape '\\' in raw data" },
        { "[Client] A\n\tjid: a@b\nA sends raw:\n\t\\xG0\n", "t.scs:4: bad escape '\\xG0' in raw data" },
        { "[Client] A\n\tjid: a@b\nA sends raw:\n\t<a>\n\t${B's JID}\n", "t.scs:5: unknown variable ${B's JID}" },
        { "[Client] A\n\tjid: a@b\nA sends:\n\t<a/>x\n", "t.scs:3: payload is not well-formed XML "
          "(bad-format: character data between stanzas)" },
        { "[Client] A\n\tjid: a@b\nA sends:\n\t<a>${A's JID</a>\n", "t.scs:3: unterminated ${" },
        { "[Client] A\n\tjid: a@b\nA sends:\n\t<a>${A's nick}</a>\n", "t.scs:3: unknown variable ${A's nick}" },
        { "[Client] A\n\tjid: a@b\n\tjid: c@d\n", "t.scs:3: duplicate option 'jid' in client 'A'" },
        { "[Client] A\n\tjid a@b\n", "t.scs:2: expected 'key: value' in client 'A'" },
        { "[Client]   \n", "t.scs:1: [Client] without a name" },
        { "[Clients] A\n", "t.scs:1: unknown step '[Clients] A'" },
        { "[Client] A\n\tjid: a@b\nA connects\n[Client] B\n\tjid: b@c\n",
          "t.scs:4: client 'B' declared after the steps began" },
        { "[Client] A\n\tjid: a@b\n---\n---\n", "t.scs:4: a second separator line" },
        { "[Client] A\n\tjid: a@b\nA connects\n\t<presence/>\n", "t.scs:4: indented line outside a client or a step" },
        { "Debug log contains: x\n", "t.scs:1: unknown log 'Debug' (warning, error, security, config or archive)" },
        { "Admin runs:   \n", "t.scs:1: Admin runs: without an argument" },
        { "[Client] A\n\tjid: a@b\nA receives stream error <Bad/>\n",
          "t.scs:3: expected a condition such as <not-authorized/>, got '<Bad/>'" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = parse_error_of(cases[i].script, "t.scs");
        assert_string_equal(got, cases[i].error);
        free(got);
    }
    static const char with_nul[] = "[Client] A\n\tjid: a@b\nA\0connects\n";
    struct buf err;
    buf_init(&err);
    struct scenario *sc = NULL;
    assert_int_equal(scs_parse(with_nul, sizeof with_nul - 1, "t.scs", &sc, &err), -1);
    assert_null(sc);
    assert_string_equal(err.data, "t.scs:3: NUL byte in the script");
    buf_free(&err);
    char *missing = load_error_of(DATA "no/such.scs");
    assert_string_equal(missing, DATA "no/such.scs: No such file or directory");
    free(missing);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_scansion_script),
        cmocka_unit_test(test_metadata),
        cmocka_unit_test(test_extension_steps),
        cmocka_unit_test(test_admin_steps_conf3),
        cmocka_unit_test(test_admin_step_errors_conf3),
        cmocka_unit_test(test_peer_target_conf3),
        cmocka_unit_test(test_raw_keeps_variables),
        cmocka_unit_test(test_line_endings),
        cmocka_unit_test(test_bad_scripts),
        cmocka_unit_test(test_more_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
