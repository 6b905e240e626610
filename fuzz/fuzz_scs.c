/* imconform's scenario parser (SPEC CONF-2/CONF-3, conformance/scs.h): the
 * input as a script, parsed from memory and (the same bytes) from a file;
 * both give the same result. A refusal is "PATH:LINE: reason" with LINE
 * within the file. A scenario has its clients (each with a jid, declared
 * before the first step) and steps within the file's lines in
 * non-decreasing order; client steps name a declared client, Admin and log
 * steps none; a peer client or step implies "# requires: peer". */
#include "fuzz.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "scs.h"

/* The input as a file (fuzz_input_file), made by the first input. */
static const char *path;

static unsigned long line_count(const uint8_t *data, size_t len)
{
    unsigned long lines = 0;
    for (size_t i = 0; i < len; i++) lines += data[i] == '\n';
    if (len > 0 && data[len - 1] != '\n') lines++;
    return lines ? lines : 1;
}

static void check_error(const struct buf *err, unsigned long lines)
{
    size_t plen = strlen(path);
    FUZZ_ASSERT(err->len > plen + 1 && strncmp(err->data, path, plen) == 0);
    const char *s = err->data + plen;
    FUZZ_ASSERT(s[0] == ':' && isdigit((unsigned char)s[1]));
    char *end;
    unsigned long line = strtoul(s + 1, &end, 10);
    FUZZ_ASSERT(line >= 1 && line <= lines);
    FUZZ_ASSERT(end[0] == ':' && end[1] == ' ' && end[2] != '\0');
}

static bool is_client_step(enum scs_step_kind kind)
{
    return kind != SCS_ADMIN_RUNS && kind != SCS_ADMIN_FAILS && kind != SCS_LOG_CONTAINS
        && kind != SCS_ADMIN_OUTPUT_CONTAINS;
}

static bool is_log_name(const char *name)
{
    static const char *const names[] = { "warning", "error", "security", "config", "archive" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0) return true;
    return false;
}

static void check_scenario(const struct scenario *sc, unsigned long lines)
{
    FUZZ_ASSERT(sc->path && strcmp(sc->path, path) == 0 && sc->title);
    bool uses_peer = false;
    unsigned last_client_line = 0;
    for (size_t i = 0; i < sc->n_clients; i++) {
        const struct scs_client *c = &sc->clients[i];
        FUZZ_ASSERT(c->name && *c->name);
        FUZZ_ASSERT(scs_find_client(sc, c->name) == c);
        const char *jid = scs_client_option(c, "jid");
        FUZZ_ASSERT(jid && *jid);
        FUZZ_ASSERT(c->line >= 1 && c->line <= lines && c->line > last_client_line);
        last_client_line = c->line;
        uses_peer = uses_peer || c->peer;
    }
    unsigned last = 0;
    for (size_t i = 0; i < sc->n_steps; i++) {
        const struct scs_step *st = &sc->steps[i];
        FUZZ_ASSERT(st->line >= 1 && st->line <= lines);
        FUZZ_ASSERT(st->line >= last && st->line > last_client_line);
        last = st->line;
        FUZZ_ASSERT(st->text != NULL);
        if (st->kind == SCS_SENDS_RAW) FUZZ_ASSERT(strlen(st->text) <= st->text_len);
        else FUZZ_ASSERT(strlen(st->text) == st->text_len);
        if (is_client_step(st->kind)) FUZZ_ASSERT(st->client && scs_find_client(sc, st->client));
        else FUZZ_ASSERT(!st->client);
        FUZZ_ASSERT((st->kind == SCS_LOG_CONTAINS) == (st->log_name != NULL));
        FUZZ_ASSERT(!st->log_name || is_log_name(st->log_name));
        if ((st->kind == SCS_SENDS || st->kind == SCS_RECEIVES || st->kind == SCS_SENDS_RAW))
            FUZZ_ASSERT(st->text_len > 0);
        uses_peer = uses_peer || st->peer;
    }
    FUZZ_ASSERT(!uses_peer || scs_requires_peer(sc));
}

int fuzz_one(const uint8_t *data, size_t len)
{
    /* Made by the first input: under the AFL++ fork server fuzz_init runs
     * once in the parent. */
    path = fuzz_input_file("scs");
    unsigned long lines = line_count(data, len);
    struct scenario *sc = NULL, *loaded = NULL;
    struct buf err, load_err;
    buf_init(&err), buf_init(&load_err);
    int rc = scs_parse((const char *)data, len, path, &sc, &err);
    fuzz_write_input_file(data, len);
    int load_rc = scs_load(path, &loaded, &load_err);
    FUZZ_ASSERT(rc == load_rc);
    if (rc == 0) {
        FUZZ_ASSERT(sc && loaded);
        check_scenario(sc, lines);
        FUZZ_ASSERT(sc->n_steps == loaded->n_steps && sc->n_clients == loaded->n_clients);
        for (size_t i = 0; i < sc->n_steps; i++)
            FUZZ_ASSERT(sc->steps[i].line == loaded->steps[i].line
                        && sc->steps[i].kind == loaded->steps[i].kind);
    } else {
        FUZZ_ASSERT(rc == -1);
        check_error(&err, lines);
        FUZZ_ASSERT(err.len == load_err.len && memcmp(err.data, load_err.data, err.len) == 0);
    }
    scs_free(sc);
    scs_free(loaded);
    buf_free(&err), buf_free(&load_err);
    return 0;
}
