/* Server Dialback keys (SPEC S2S-2/S2S-3, XEP-0220/XEP-0185, dialback.h).
 * The input, up to its first NUL, is a key as received: dialback_key_valid
 * accepts it against a fixed secret and stream exactly when, trimmed and
 * lower-cased, it is dialback_key's output. Then the whole input is
 * received inside a jabber:server stream declaring the db: prefix; each
 * <db:result/> or <db:verify/> that arrives is checked the same way with
 * its to, from and id attributes and its text as the key, and the stream
 * parser's errors are RFC 6120 conditions. */
#include "fuzz.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "dialback.h"
#include "xmlstream.h"

#define SECRET "fuzz-dialback-secret"
#define RECEIVING "a.example"
#define ORIGINATING "b.example"
#define STREAM_ID "D60000229F"
#define NS_DIALBACK "jabber:server:dialback"

/* The validity the key should have: trimmed and lower-cased, the key. */
static bool expected_valid(const char *secret, const char *receiving, const char *originating,
                           const char *stream_id, const char *key)
{
    char expected[DIALBACK_KEY_LEN + 1];
    dialback_key(secret, receiving, originating, stream_id, expected);
    FUZZ_ASSERT(strlen(expected) == DIALBACK_KEY_LEN);
    for (size_t i = 0; i < DIALBACK_KEY_LEN; i++)
        FUZZ_ASSERT(isdigit((unsigned char)expected[i]) || (expected[i] >= 'a' && expected[i] <= 'f'));
    while (isspace((unsigned char)*key)) key++;
    size_t n = strlen(key);
    while (n > 0 && isspace((unsigned char)key[n - 1])) n--;
    if (n != DIALBACK_KEY_LEN) return false;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)key[i]) != expected[i]) return false;
    return true;
}

static void check_key(const char *secret, const char *receiving, const char *originating,
                      const char *stream_id, const char *key)
{
    bool valid = dialback_key_valid(secret, receiving, originating, stream_id, key);
    FUZZ_ASSERT(valid == expected_valid(secret, receiving, originating, stream_id, key));
}

/* ---- the elements, as an S2S stream receives them ----------------------------- */

static void on_open(void *ctx, const xnode *header) { (void)ctx, (void)header; }
static void on_close(void *ctx) { (void)ctx; }

static void on_error(void *ctx, const char *condition, const char *text)
{
    (void)ctx, (void)text;
    static const char *const known[] = { "not-well-formed", "restricted-xml",
                                         "invalid-namespace", "policy-violation",
                                         "bad-format", "unsupported-encoding" };
    bool ok = false;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        ok = ok || strcmp(condition, known[i]) == 0;
    FUZZ_ASSERT(ok);
}

static void on_stanza(void *ctx, xnode *stanza)
{
    (void)ctx;
    bool dialback = stanza->ns && strcmp(stanza->ns, NS_DIALBACK) == 0
                    && (strcmp(stanza->name, "result") == 0 || strcmp(stanza->name, "verify") == 0);
    if (dialback) {
        const char *to = xnode_attr(stanza, "to"), *from = xnode_attr(stanza, "from");
        const char *id = xnode_attr(stanza, "id");
        char *key = xnode_text_dup(stanza);
        check_key(SECRET, to ? to : RECEIVING, from ? from : ORIGINATING, id ? id : STREAM_ID,
                  key ? key : "");
        free(key);
    }
    xnode_free(stanza);
}

static void receive_in_stream(const char *data, size_t len)
{
    static const struct xmlstream_callbacks cb = { on_open, on_stanza, on_close, on_error };
    static const struct xmlstream_limits limits = { 65536, 64, 16, 32 };
    static const char header[] =
        "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'"
        " xmlns:db='" NS_DIALBACK "' to='" RECEIVING "' from='" ORIGINATING "' version='1.0'>";
    xmlstream *xs = xmlstream_new(&cb, NULL, &limits);
    xmlstream_feed(xs, header, sizeof header - 1, NULL);
    FUZZ_ASSERT(strcmp(xmlstream_content_ns(xs), "jabber:server") == 0);
    xmlstream_feed(xs, data, len, NULL);
    xmlstream_feed(xs, "</stream:stream>", 16, NULL);
    xmlstream_free(xs);
}

int fuzz_one(const uint8_t *data, size_t len)
{
    char *text = fuzz_text(data, len);
    check_key(SECRET, RECEIVING, ORIGINATING, STREAM_ID, text);
    /* The key for values taken from the input is valid in upper case with
     * white space around it, and not with its first digit changed. */
    char key[DIALBACK_KEY_LEN + 1], wrapped[DIALBACK_KEY_LEN + 5];
    dialback_key(text, RECEIVING, ORIGINATING, text, key);
    wrapped[0] = ' ', wrapped[1] = '\t';
    for (size_t i = 0; i < DIALBACK_KEY_LEN; i++) wrapped[2 + i] = (char)toupper((unsigned char)key[i]);
    strcpy(wrapped + 2 + DIALBACK_KEY_LEN, "\r\n");
    FUZZ_ASSERT(dialback_key_valid(text, RECEIVING, ORIGINATING, text, wrapped));
    key[0] = key[0] == '0' ? '1' : '0';
    FUZZ_ASSERT(!dialback_key_valid(text, RECEIVING, ORIGINATING, text, key));
    receive_in_stream((const char *)data, len);
    free(text);
    return 0;
}
