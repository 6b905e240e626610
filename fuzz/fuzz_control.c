/* The control socket's request reader (SPEC ADM-*, json.h, admin.h): a
 * request line is parsed by json_parse. A document that parses, written
 * back with jsonw, parses again to an equal tree and writes the same bytes;
 * a refusal says "offset N: reason" with N within the input. A line whose
 * action is absent or unknown (or that is not JSON) gets from admin_handle
 * exactly one reply line, {"ok":false,"error":"..."}; such a line reaches
 * no action, so no server is needed (srv NULL). Log lines go to files that
 * are links to /dev/null (removed once open). */
#include "fuzz.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "json.h"
#include "log.h"

void fuzz_init(void)
{
    fuzz_silence_logs("control");
}

/* ---- the re-serialiser ----------------------------------------------------- */

static void write_number(struct jsonw *w, double d)
{
    if (d >= -1e15 && d <= 1e15 && d == (double)(long long)d && !(d == 0 && signbit(d))) {
        jsonw_int(w, (long long)d);
        return;
    }
    char text[64];
    snprintf(text, sizeof text, "%.17g", d);
    jsonw_raw(w, text);
}

static void write_value(struct jsonw *w, const struct json *v)
{
    switch (json_type(v)) {
    case JSON_NULL: jsonw_null(w); break;
    case JSON_BOOL: {
        bool b = false;
        FUZZ_ASSERT(json_bool(v, &b));
        jsonw_bool(w, b);
        break;
    }
    case JSON_NUMBER: {
        double d = 0;
        FUZZ_ASSERT(json_number(v, &d));
        FUZZ_ASSERT(isfinite(d));
        write_number(w, d);
        break;
    }
    case JSON_STRING:
        FUZZ_ASSERT(json_string(v) != NULL);
        jsonw_string(w, json_string(v));
        break;
    case JSON_ARRAY:
        jsonw_array_begin(w);
        for (size_t i = 0; i < json_array_len(v); i++) write_value(w, json_array_at(v, i));
        FUZZ_ASSERT(json_array_at(v, json_array_len(v)) == NULL);
        jsonw_array_end(w);
        break;
    case JSON_OBJECT:
        jsonw_object_begin(w);
        for (size_t i = 0; i < json_object_len(v); i++) {
            const char *key = json_object_key_at(v, i);
            FUZZ_ASSERT(key != NULL);
            FUZZ_ASSERT(json_get(v, key) == json_object_value_at(v, i));   /* keys unique */
            jsonw_key(w, key);
            write_value(w, json_object_value_at(v, i));
        }
        FUZZ_ASSERT(json_object_key_at(v, json_object_len(v)) == NULL);
        jsonw_object_end(w);
        break;
    }
}

static void same_tree(const struct json *a, const struct json *b)
{
    FUZZ_ASSERT(json_type(a) == json_type(b));
    bool x, y;
    double m, n;
    switch (json_type(a)) {
    case JSON_NULL: break;
    case JSON_BOOL:
        FUZZ_ASSERT(json_bool(a, &x) && json_bool(b, &y) && x == y);
        break;
    case JSON_NUMBER:
        FUZZ_ASSERT(json_number(a, &m) && json_number(b, &n) && m == n);
        break;
    case JSON_STRING:
        FUZZ_ASSERT(strcmp(json_string(a), json_string(b)) == 0);
        break;
    case JSON_ARRAY:
        FUZZ_ASSERT(json_array_len(a) == json_array_len(b));
        for (size_t i = 0; i < json_array_len(a); i++)
            same_tree(json_array_at(a, i), json_array_at(b, i));
        break;
    case JSON_OBJECT:
        FUZZ_ASSERT(json_object_len(a) == json_object_len(b));
        for (size_t i = 0; i < json_object_len(a); i++) {
            FUZZ_ASSERT(strcmp(json_object_key_at(a, i), json_object_key_at(b, i)) == 0);
            same_tree(json_object_value_at(a, i), json_object_value_at(b, i));
        }
        break;
    }
}

static void check_round_trip(const struct json *doc)
{
    struct buf text, again, err;
    buf_init(&text), buf_init(&again), buf_init(&err);
    struct jsonw w;
    jsonw_init(&w, &text);
    write_value(&w, doc);
    FUZZ_ASSERT(text.len > 0 && memchr(text.data, '\n', text.len) == NULL);
    struct json *reparsed = json_parse(text.data, text.len, &err);
    FUZZ_ASSERT(reparsed != NULL);
    same_tree(doc, reparsed);
    jsonw_init(&w, &again);
    write_value(&w, reparsed);
    FUZZ_ASSERT(again.len == text.len && memcmp(again.data, text.data, text.len) == 0);
    json_free(reparsed);
    buf_free(&text), buf_free(&again), buf_free(&err);
}

static void check_refusal(const struct buf *err, size_t len)
{
    FUZZ_ASSERT(err->len > 0 && strncmp(err->data, "offset ", 7) == 0);
    FUZZ_ASSERT(isdigit((unsigned char)err->data[7]));
    char *end;
    unsigned long long offset = strtoull(err->data + 7, &end, 10);
    FUZZ_ASSERT(offset <= len);
    FUZZ_ASSERT(end[0] == ':' && end[1] == ' ' && end[2] != '\0');
}

/* ---- admin_handle's refusals ------------------------------------------------- */

static bool reaches_an_action(const struct json *req)
{
    const char *name = json_string(json_get(req, "action"));
    for (size_t i = 0; name && i < admin_action_count(); i++)
        if (strcmp(admin_action_name(i), name) == 0) return true;
    return false;
}

static void check_admin_refusal(const char *line, size_t len)
{
    struct buf reply, err;
    buf_init(&reply), buf_init(&err);
    admin_handle(NULL, line, len, "uid 0 pid 1", &reply);
    FUZZ_ASSERT(reply.len > 1 && reply.data[reply.len - 1] == '\n');
    FUZZ_ASSERT(memchr(reply.data, '\n', reply.len - 1) == NULL);
    struct json *r = json_parse(reply.data, reply.len - 1, &err);
    FUZZ_ASSERT(r && json_type(r) == JSON_OBJECT && json_object_len(r) == 2);
    bool ok = true;
    FUZZ_ASSERT(json_bool(json_get(r, "ok"), &ok) && !ok);
    const char *error = json_string(json_get(r, "error"));
    FUZZ_ASSERT(error && *error);
    json_free(r);
    buf_free(&reply), buf_free(&err);
}

int fuzz_one(const uint8_t *data, size_t len)
{
    /* control.c hands admin_handle a line NUL-terminated at line[len]. */
    char *line = fuzz_text(data, len);
    struct buf err;
    buf_init(&err);
    struct json *doc = json_parse(line, len, &err);
    if (doc) {
        FUZZ_ASSERT(err.len == 0);
        check_round_trip(doc);
    } else {
        check_refusal(&err, len);
    }
    if (!doc || !reaches_an_action(doc)) check_admin_refusal(line, len);
    json_free(doc);
    buf_free(&err);
    free(line);
    return 0;
}
