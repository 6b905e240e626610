#include "json.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct json {
    enum json_type type;
    union {
        bool boolean;
        double number;
        char *string;
        struct { struct json **items; size_t n, cap; } array;
        struct { char **keys; struct json **values; size_t n, cap; } object;
    } u;
};

/* ---- UTF-8 ---- */

static bool is_continuation(unsigned char c, unsigned char lo, unsigned char hi)
{
    return c >= lo && c <= hi;
}

/* Length of the well-formed UTF-8 sequence at s (n bytes available), or 0
 * if it is not one (overlong forms, surrogates and > U+10FFFF included). */
static size_t utf8_sequence_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    if (c < 0xC2) return 0;
    if (c < 0xE0) return n >= 2 && is_continuation(s[1], 0x80, 0xBF) ? 2 : 0;
    if (c < 0xF0) {
        unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        return n >= 3 && is_continuation(s[1], lo, hi) && is_continuation(s[2], 0x80, 0xBF) ? 3 : 0;
    }
    if (c < 0xF5) {
        unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        return n >= 4 && is_continuation(s[1], lo, hi) && is_continuation(s[2], 0x80, 0xBF) &&
               is_continuation(s[3], 0x80, 0xBF) ? 4 : 0;
    }
    return 0;
}

static void utf8_append(struct buf *b, unsigned long cp)
{
    unsigned char out[4];
    size_t n;
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        out[0] = (unsigned char)(0xF0 | (cp >> 18));
        out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    buf_append(b, out, n);
}

/* ---- tree ---- */

static struct json *node_new(enum json_type type)
{
    struct json *v = xcalloc(1, sizeof *v);
    v->type = type;
    return v;
}

void json_free(struct json *v)
{
    if (!v) return;
    switch (v->type) {
    case JSON_STRING:
        free(v->u.string);
        break;
    case JSON_ARRAY:
        for (size_t i = 0; i < v->u.array.n; i++) json_free(v->u.array.items[i]);
        free(v->u.array.items);
        break;
    case JSON_OBJECT:
        for (size_t i = 0; i < v->u.object.n; i++) {
            free(v->u.object.keys[i]);
            json_free(v->u.object.values[i]);
        }
        free(v->u.object.keys);
        free(v->u.object.values);
        break;
    default:
        break;
    }
    free(v);
}

static void array_push(struct json *array, struct json *item)
{
    if (array->u.array.n == array->u.array.cap) {
        array->u.array.cap = array->u.array.cap ? 2 * array->u.array.cap : 4;
        array->u.array.items = xrealloc(array->u.array.items, array->u.array.cap * sizeof(struct json *));
    }
    array->u.array.items[array->u.array.n++] = item;
}

static void object_push(struct json *object, char *key, struct json *value)
{
    if (object->u.object.n == object->u.object.cap) {
        size_t cap = object->u.object.cap ? 2 * object->u.object.cap : 4;
        object->u.object.keys = xrealloc(object->u.object.keys, cap * sizeof(char *));
        object->u.object.values = xrealloc(object->u.object.values, cap * sizeof(struct json *));
        object->u.object.cap = cap;
    }
    object->u.object.keys[object->u.object.n] = key;
    object->u.object.values[object->u.object.n++] = value;
}

/* ---- parser ---- */

struct parser {
    const unsigned char *s;
    size_t len, pos;
    struct buf *err;
    bool failed;
};

static void fail(struct parser *p, size_t at, const char *reason)
{
    if (p->failed) return;
    p->failed = true;
    if (p->err) buf_printf(p->err, "offset %zu: %s", at, reason);
}

static int peek(const struct parser *p)
{
    return p->pos < p->len ? p->s[p->pos] : -1;
}

static void skip_whitespace(struct parser *p)
{
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
        p->pos++;
    }
}

static struct json *parse_value(struct parser *p, unsigned depth);

static int hex_value(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads "\uXXXX" at p->pos (the backslash); -1 if malformed. */
static long read_u_escape(struct parser *p)
{
    if (p->len - p->pos < 6 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') return -1;
    long cp = 0;
    for (size_t i = 2; i < 6; i++) {
        int h = hex_value(p->s[p->pos + i]);
        if (h < 0) return -1;
        cp = cp * 16 + h;
    }
    p->pos += 6;
    return cp;
}

/* A \u escape (with its low surrogate if it is a high one) into out. */
static bool parse_u_escape(struct parser *p, struct buf *out)
{
    size_t start = p->pos;
    long cp = read_u_escape(p);
    if (cp < 0) {
        fail(p, start, "invalid \\u escape");
        return false;
    }
    if (cp == 0) {
        fail(p, start, "\\u0000 is not allowed");
        return false;
    }
    if (cp >= 0xDC00 && cp <= 0xDFFF) {
        fail(p, start, "unpaired surrogate");
        return false;
    }
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        long low = read_u_escape(p);
        if (low < 0xDC00 || low > 0xDFFF) {
            fail(p, start, "unpaired surrogate");
            return false;
        }
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    utf8_append(out, (unsigned long)cp);
    return true;
}

static bool parse_escape(struct parser *p, struct buf *out)
{
    if (p->pos + 1 >= p->len) {
        fail(p, p->pos, "unterminated string");
        return false;
    }
    char plain;
    switch (p->s[p->pos + 1]) {
    case '"': plain = '"'; break;
    case '\\': plain = '\\'; break;
    case '/': plain = '/'; break;
    case 'b': plain = '\b'; break;
    case 'f': plain = '\f'; break;
    case 'n': plain = '\n'; break;
    case 'r': plain = '\r'; break;
    case 't': plain = '\t'; break;
    case 'u': return parse_u_escape(p, out);
    default:
        fail(p, p->pos, "invalid escape");
        return false;
    }
    buf_append(out, &plain, 1);
    p->pos += 2;
    return true;
}

/* A string at p->pos (the opening quote): its malloc'd UTF-8 value, or NULL. */
static char *parse_string(struct parser *p)
{
    struct buf out;
    buf_init(&out);
    p->pos++;
    for (;;) {
        int c = peek(p);
        if (c < 0) {
            fail(p, p->pos, "unterminated string");
            break;
        }
        if (c == '"') {
            p->pos++;
            return buf_steal(&out);
        }
        if (c == '\\') {
            if (!parse_escape(p, &out)) break;
            continue;
        }
        if (c < 0x20) {
            fail(p, p->pos, "control character in string");
            break;
        }
        size_t n = utf8_sequence_len(p->s + p->pos, p->len - p->pos);
        if (n == 0) {
            fail(p, p->pos, "invalid UTF-8");
            break;
        }
        buf_append(&out, p->s + p->pos, n);
        p->pos += n;
    }
    buf_free(&out);
    return NULL;
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static bool skip_digits(struct parser *p, const char *missing)
{
    if (!is_digit(peek(p))) {
        fail(p, p->pos, missing);
        return false;
    }
    while (is_digit(peek(p))) p->pos++;
    return true;
}

static struct json *parse_number(struct parser *p)
{
    size_t start = p->pos;
    if (peek(p) == '-') p->pos++;
    if (peek(p) == '0') {
        p->pos++;
        if (is_digit(peek(p))) {
            fail(p, p->pos - 1, "leading zero in number");
            return NULL;
        }
    } else if (!skip_digits(p, "digit expected in number")) {
        return NULL;
    }
    if (peek(p) == '.') {
        p->pos++;
        if (!skip_digits(p, "digit expected after '.'")) return NULL;
    }
    if (peek(p) == 'e' || peek(p) == 'E') {
        p->pos++;
        if (peek(p) == '+' || peek(p) == '-') p->pos++;
        if (!skip_digits(p, "digit expected in exponent")) return NULL;
    }
    char *text = xstrndup((const char *)p->s + start, p->pos - start);
    double number = strtod(text, NULL);
    free(text);
    if (isinf(number)) {
        fail(p, start, "number out of range");
        return NULL;
    }
    struct json *v = node_new(JSON_NUMBER);
    v->u.number = number;
    return v;
}

static struct json *parse_literal(struct parser *p)
{
    static const struct { const char *word; enum json_type type; bool value; } literals[] = {
        { "true", JSON_BOOL, true }, { "false", JSON_BOOL, false }, { "null", JSON_NULL, false },
    };
    for (size_t i = 0; i < sizeof literals / sizeof literals[0]; i++) {
        size_t n = strlen(literals[i].word);
        if (p->len - p->pos >= n && memcmp(p->s + p->pos, literals[i].word, n) == 0) {
            p->pos += n;
            struct json *v = node_new(literals[i].type);
            v->u.boolean = literals[i].value;
            return v;
        }
    }
    fail(p, p->pos, "invalid literal");
    return NULL;
}

/* After a member or element: true at the closing bracket (consumed), false
 * after a ',' (consumed) that is followed by another entry, or on error. */
static bool at_container_end(struct parser *p, char close, const char *expected, bool *error)
{
    skip_whitespace(p);
    int c = peek(p);
    if (c == close) {
        p->pos++;
        return true;
    }
    if (c != ',') {
        fail(p, p->pos, c < 0 ? "unexpected end of input" : expected);
        *error = true;
        return false;
    }
    size_t comma = p->pos++;
    skip_whitespace(p);
    if (peek(p) == close) {
        fail(p, comma, "trailing comma");
        *error = true;
    }
    return false;
}

static struct json *parse_array(struct parser *p, unsigned depth)
{
    struct json *array = node_new(JSON_ARRAY);
    p->pos++;
    skip_whitespace(p);
    if (peek(p) == ']') {
        p->pos++;
        return array;
    }
    bool error = false;
    do {
        struct json *item = parse_value(p, depth);
        if (!item) {
            error = true;
            break;
        }
        array_push(array, item);
    } while (!at_container_end(p, ']', "expected ',' or ']'", &error) && !error);
    if (!error) return array;
    json_free(array);
    return NULL;
}

struct key_position {
    const char *key;
    size_t offset;
};

static int compare_key_positions(const void *a, const void *b)
{
    const struct key_position *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c) return c;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Refuses the object if a key repeats: the error points at the first repeat. */
static bool check_duplicate_keys(struct parser *p, const struct json *object, const size_t *offsets)
{
    size_t n = object->u.object.n;
    if (n < 2) return true;
    struct key_position *sorted = xmalloc(n * sizeof *sorted);
    for (size_t i = 0; i < n; i++) sorted[i] = (struct key_position){ object->u.object.keys[i], offsets[i] };
    qsort(sorted, n, sizeof *sorted, compare_key_positions);
    size_t first_repeat = SIZE_MAX;
    for (size_t i = 1; i < n; i++)
        if (strcmp(sorted[i - 1].key, sorted[i].key) == 0 && sorted[i].offset < first_repeat)
            first_repeat = sorted[i].offset;
    free(sorted);
    if (first_repeat == SIZE_MAX) return true;
    fail(p, first_repeat, "duplicate key");
    return false;
}

static bool parse_member(struct parser *p, unsigned depth, struct json *object, struct buf *offsets)
{
    skip_whitespace(p);
    size_t key_offset = p->pos;
    if (peek(p) != '"') {
        fail(p, p->pos, peek(p) < 0 ? "unexpected end of input" : "expected a string key");
        return false;
    }
    char *key = parse_string(p);
    if (!key) return false;
    skip_whitespace(p);
    if (peek(p) != ':') {
        fail(p, p->pos, peek(p) < 0 ? "unexpected end of input" : "expected ':'");
        free(key);
        return false;
    }
    p->pos++;
    struct json *value = parse_value(p, depth);
    if (!value) {
        free(key);
        return false;
    }
    object_push(object, key, value);
    buf_append(offsets, &key_offset, sizeof key_offset);
    return true;
}

static struct json *parse_object(struct parser *p, unsigned depth)
{
    struct json *object = node_new(JSON_OBJECT);
    struct buf offsets;
    buf_init(&offsets);
    p->pos++;
    skip_whitespace(p);
    bool error = false;
    if (peek(p) == '}') {
        p->pos++;
    } else {
        do {
            if (!parse_member(p, depth, object, &offsets)) {
                error = true;
                break;
            }
        } while (!at_container_end(p, '}', "expected ',' or '}'", &error) && !error);
    }
    if (!error) error = !check_duplicate_keys(p, object, (const size_t *)(void *)offsets.data);
    buf_free(&offsets);
    if (!error) return object;
    json_free(object);
    return NULL;
}

static struct json *parse_value(struct parser *p, unsigned depth)
{
    skip_whitespace(p);
    int c = peek(p);
    if ((c == '[' || c == '{') && depth >= JSON_MAX_DEPTH) {
        fail(p, p->pos, "nesting deeper than 32");
        return NULL;
    }
    if (c == '[') return parse_array(p, depth + 1);
    if (c == '{') return parse_object(p, depth + 1);
    if (c == '"') {
        char *s = parse_string(p);
        if (!s) return NULL;
        struct json *v = node_new(JSON_STRING);
        v->u.string = s;
        return v;
    }
    if (c == '-' || is_digit(c)) return parse_number(p);
    if (c == 't' || c == 'f' || c == 'n') return parse_literal(p);
    fail(p, p->pos, c < 0 ? "unexpected end of input" : "unexpected character");
    return NULL;
}

struct json *json_parse(const char *text, size_t len, struct buf *err)
{
    struct parser p = { (const unsigned char *)text, len, 0, err, false };
    struct json *doc = parse_value(&p, 0);
    if (!doc) return NULL;
    skip_whitespace(&p);
    if (p.pos != p.len) {
        fail(&p, p.pos, "unexpected data after the value");
        json_free(doc);
        return NULL;
    }
    return doc;
}

/* ---- accessors ---- */

enum json_type json_type(const struct json *v)
{
    return v ? v->type : JSON_NULL;
}

const struct json *json_get(const struct json *object, const char *key)
{
    if (!object || object->type != JSON_OBJECT) return NULL;
    for (size_t i = 0; i < object->u.object.n; i++)
        if (strcmp(object->u.object.keys[i], key) == 0) return object->u.object.values[i];
    return NULL;
}

const char *json_string(const struct json *v)
{
    return v && v->type == JSON_STRING ? v->u.string : NULL;
}

bool json_bool(const struct json *v, bool *out)
{
    if (!v || v->type != JSON_BOOL) return false;
    *out = v->u.boolean;
    return true;
}

bool json_number(const struct json *v, double *out)
{
    if (!v || v->type != JSON_NUMBER) return false;
    *out = v->u.number;
    return true;
}

size_t json_array_len(const struct json *v)
{
    return v && v->type == JSON_ARRAY ? v->u.array.n : 0;
}

const struct json *json_array_at(const struct json *v, size_t i)
{
    return i < json_array_len(v) ? v->u.array.items[i] : NULL;
}

size_t json_object_len(const struct json *v)
{
    return v && v->type == JSON_OBJECT ? v->u.object.n : 0;
}

const char *json_object_key_at(const struct json *v, size_t i)
{
    return i < json_object_len(v) ? v->u.object.keys[i] : NULL;
}

const struct json *json_object_value_at(const struct json *v, size_t i)
{
    return i < json_object_len(v) ? v->u.object.values[i] : NULL;
}

/* ---- writer ---- */

void jsonw_init(struct jsonw *w, struct buf *out)
{
    w->out = out;
    w->depth = 0;
    memset(w->first, 1, sizeof w->first);
}

/* The separator before a value (or a key) in the current container. */
static void value_prefix(struct jsonw *w)
{
    if (w->depth > 0 && !w->first[w->depth]) buf_append(w->out, ",", 1);
    w->first[w->depth] = false;
}

static void container_begin(struct jsonw *w, char open)
{
    if (w->depth >= JSON_MAX_DEPTH) {
        fputs("jsonw: nesting deeper than 32\n", stderr);
        abort();
    }
    value_prefix(w);
    buf_append(w->out, &open, 1);
    w->first[++w->depth] = true;
}

static void container_end(struct jsonw *w, char close)
{
    if (w->depth == 0) {
        fputs("jsonw: end without begin\n", stderr);
        abort();
    }
    buf_append(w->out, &close, 1);
    w->depth--;
}

void jsonw_object_begin(struct jsonw *w) { container_begin(w, '{'); }
void jsonw_object_end(struct jsonw *w) { container_end(w, '}'); }
void jsonw_array_begin(struct jsonw *w) { container_begin(w, '['); }
void jsonw_array_end(struct jsonw *w) { container_end(w, ']'); }

static void append_escaped(struct buf *out, const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t n = strlen(text);
    buf_append(out, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        const char *escape = NULL;
        switch (c) {
        case '"': escape = "\\\""; break;
        case '\\': escape = "\\\\"; break;
        case '\b': escape = "\\b"; break;
        case '\f': escape = "\\f"; break;
        case '\n': escape = "\\n"; break;
        case '\r': escape = "\\r"; break;
        case '\t': escape = "\\t"; break;
        default: break;
        }
        if (escape) {
            buf_puts(out, escape);
            i++;
        } else if (c < 0x20) {
            buf_printf(out, "\\u%04x", c);
            i++;
        } else {
            size_t len = utf8_sequence_len(s + i, n - i);
            if (len) {
                buf_append(out, s + i, len);
                i += len;
            } else {
                buf_puts(out, "\xEF\xBF\xBD");
                i++;
            }
        }
    }
    buf_append(out, "\"", 1);
}

void jsonw_key(struct jsonw *w, const char *key)
{
    value_prefix(w);
    append_escaped(w->out, key);
    buf_append(w->out, ":", 1);
    w->first[w->depth] = true;   /* the value that follows takes no comma */
}

void jsonw_string(struct jsonw *w, const char *s)
{
    if (!s) {
        jsonw_null(w);
        return;
    }
    value_prefix(w);
    append_escaped(w->out, s);
}

void jsonw_int(struct jsonw *w, long long n)
{
    value_prefix(w);
    buf_printf(w->out, "%lld", n);
}

void jsonw_bool(struct jsonw *w, bool b)
{
    value_prefix(w);
    buf_puts(w->out, b ? "true" : "false");
}

void jsonw_null(struct jsonw *w)
{
    value_prefix(w);
    buf_puts(w->out, "null");
}

void jsonw_raw(struct jsonw *w, const char *json)
{
    value_prefix(w);
    buf_puts(w->out, json);
}
