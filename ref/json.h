/* json: a small strict JSON (RFC 8259) reader for control requests and a
 * writer for replies. A parsed document owns all its values (one tree);
 * json_free releases it, and every pointer obtained from it (values, keys,
 * strings) dies with it. Limits: depth 32, input size is the caller's.
 * The writer only appends to a caller-owned buf. */
#ifndef IMREF_JSON_H
#define IMREF_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define JSON_MAX_DEPTH 32

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json;

/* Parses exactly one JSON value (surrounding whitespace allowed). Strict:
 * no trailing commas, comments, leading zeros; exact escapes (surrogate
 * pairs must pair); invalid UTF-8, duplicate object keys, \u0000 and nesting
 * deeper than JSON_MAX_DEPTH are refused. On error: NULL, and "offset N:
 * reason" (N = byte offset into text) is appended to err unless it is NULL. */
struct json *json_parse(const char *text, size_t len, struct buf *err);
void json_free(struct json *doc);

/* Accessors accept NULL (e.g. json_string(json_get(req, "jid"))) and then
 * return NULL / false / 0. */
enum json_type json_type(const struct json *v);
const struct json *json_get(const struct json *object, const char *key);  /* NULL if absent or not an object */
const char *json_string(const struct json *v);    /* NUL-terminated UTF-8; NULL unless a string */
bool json_bool(const struct json *v, bool *out);   /* false unless a bool */
bool json_number(const struct json *v, double *out); /* false unless a number */
size_t json_array_len(const struct json *v);       /* 0 unless an array */
const struct json *json_array_at(const struct json *v, size_t i);   /* NULL if out of range / not an array */
size_t json_object_len(const struct json *v);      /* 0 unless an object */
const char *json_object_key_at(const struct json *v, size_t i);     /* NULL if out of range / not an object */
const struct json *json_object_value_at(const struct json *v, size_t i);

/* Writer: appends compact JSON to a buf; commas handled for you.
 * Nesting deeper than JSON_MAX_DEPTH aborts (a programming error). */
struct jsonw { struct buf *out; unsigned depth; bool first[33]; };
void jsonw_init(struct jsonw *w, struct buf *out);
void jsonw_object_begin(struct jsonw *w);
void jsonw_object_end(struct jsonw *w);
void jsonw_array_begin(struct jsonw *w);
void jsonw_array_end(struct jsonw *w);
void jsonw_key(struct jsonw *w, const char *key);       /* inside an object, before each value */
void jsonw_string(struct jsonw *w, const char *s);      /* escapes as RFC 8259 requires; invalid UTF-8 bytes become U+FFFD; NULL writes null */
void jsonw_int(struct jsonw *w, long long n);
void jsonw_bool(struct jsonw *w, bool b);
void jsonw_null(struct jsonw *w);
void jsonw_raw(struct jsonw *w, const char *json);     /* an already-encoded value */

#endif
