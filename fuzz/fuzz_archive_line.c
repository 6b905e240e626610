/* The archive's day-file line format and reader (SPEC ARCH-1..3,
 * archive.h), in UTC. Every '\n'-terminated piece of the input that
 * archive_parse_line accepts, written again by archive_format_line with its
 * time, is one line that parses to the same time and the same stanza
 * serialisation. archive_read_file on the input as a file hands over
 * exactly the pieces that parse, in order, byte for byte and without '\n',
 * and counts the others: returned + skipped == pieces + (1 if a torn tail). */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "archive.h"

void fuzz_init(void)
{
    setenv("TZ", "UTC0", 1);
    tzset();
}

static void serialize(const xnode *stanza, struct buf *out)
{
    xnode_serialize(stanza, "jabber:client", out);
}

/* A line that parses formats to a line that parses to the same. */
static void check_line_round_trip(const char *line, size_t len)
{
    time_t t;
    xnode *stanza;
    if (archive_parse_line(line, len, &t, &stanza) != 0) return;
    FUZZ_ASSERT(strcmp(stanza->name, "message") == 0);
    struct buf formatted, first, second;
    buf_init(&formatted), buf_init(&first), buf_init(&second);
    archive_format_line(t, stanza, &formatted);
    FUZZ_ASSERT(formatted.len > 1 && formatted.data[formatted.len - 1] == '\n');
    FUZZ_ASSERT(memchr(formatted.data, '\n', formatted.len - 1) == NULL);
    FUZZ_ASSERT(memchr(formatted.data, '\r', formatted.len) == NULL);
    time_t t2;
    xnode *again;
    FUZZ_ASSERT(archive_parse_line(formatted.data, formatted.len - 1, &t2, &again) == 0);
    FUZZ_ASSERT(t2 == t);
    serialize(stanza, &first);
    serialize(again, &second);
    FUZZ_ASSERT(first.len == second.len && memcmp(first.data, second.data, first.len) == 0);
    xnode_free(stanza);
    xnode_free(again);
    buf_free(&formatted), buf_free(&first), buf_free(&second);
}

/* What archive_read_file should hand over: the pieces that parse. */
struct expected {
    const char *data;
    size_t len;
    size_t next;        /* offset of the next piece to compare */
    size_t returned;
};

static bool piece_parses(const char *s, size_t len)
{
    time_t t;
    xnode *stanza;
    if (archive_parse_line(s, len, &t, &stanza) != 0) return false;
    xnode_free(stanza);
    return true;
}

static void on_line(const char *line, size_t len, void *ctx)
{
    struct expected *e = ctx;
    FUZZ_ASSERT(line[len] == '\0');
    FUZZ_ASSERT(memchr(line, '\n', len) == NULL);
    /* The next piece that parses must be this one. */
    for (;;) {
        const char *start = e->data + e->next;
        const char *nl = memchr(start, '\n', e->len - e->next);
        FUZZ_ASSERT(nl != NULL);
        size_t plen = (size_t)(nl - start);
        e->next += plen + 1;
        if (!piece_parses(start, plen)) continue;
        FUZZ_ASSERT(plen == len && memcmp(start, line, len) == 0);
        break;
    }
    e->returned++;
}

int fuzz_one(const uint8_t *data, size_t len)
{
    /* Made by the first input: under the AFL++ fork server fuzz_init runs
     * once in the parent. */
    const char *path = fuzz_input_file("archive_line");
    const char *text = (const char *)data;
    size_t pieces = 0, start = 0, parsing = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] != '\n') continue;
        check_line_round_trip(text + start, i - start);
        parsing += piece_parses(text + start, i - start);
        pieces++;
        start = i + 1;
    }
    bool torn = start < len;
    if (torn) check_line_round_trip(text + start, len - start);

    fuzz_write_input_file(data, len);
    struct expected e = { text, len, 0, 0 };
    size_t skipped = 12345;
    FUZZ_ASSERT(archive_read_file(path, on_line, &e, &skipped) == 0);
    FUZZ_ASSERT(e.returned == parsing);
    FUZZ_ASSERT(e.returned + skipped == pieces + (torn ? 1 : 0));
    return 0;
}
