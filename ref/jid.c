/* jid: see jid.h. */
#include "jid.h"

#include <arpa/inet.h>
#include <idn2.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <stringprep.h>

#include "buf.h"

#define DNS_MAX_NAME 253
#define DNS_MAX_LABEL 63
#define IDNA_FLAGS (IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL)

static bool part_length_ok(size_t len)
{
    return len >= 1 && len <= JID_MAX_PART;
}

/* Runs a libidn stringprep profile; the result must be 1..JID_MAX_PART bytes. */
static int prep_with_profile(const char *in, const char *profile,
                             Stringprep_profile_flags flags, char **out)
{
    *out = NULL;
    if (!part_length_ok(strlen(in)))
        return -1;
    char *prepared = NULL;
    if (stringprep_profile(in, &prepared, profile, flags) != STRINGPREP_OK)
        return -1;
    if (!part_length_ok(strlen(prepared))) {
        free(prepared);
        return -1;
    }
    *out = prepared;
    return 0;
}

/* The ASCII shortcuts. For printable ASCII the profiles reduce to simple
 * rules (no mapping but case folding, NFKC and bidi change nothing, nothing
 * is unassigned), so the routing hot path need not run libidn on every
 * address. A shortcut only ever accepts: input it would refuse, and any
 * non-ASCII input, takes the full path, so refusals and their reasons stay
 * the full path's. The full path is the oracle (test_jid, fuzz_jid). */

/* Each shortcut appends the prepared part and its NUL to `out` and
 * returns true, or appends nothing and returns false. */
static void append_lower(struct buf *out, const char *in, size_t len)
{
    size_t start = out->len;
    buf_append(out, in, len);
    for (char *c = out->data + start; c < out->data + out->len; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    buf_append(out, "", 1);
}

/* Nodeprep on ASCII: A-Z fold to a-z; space, controls and "&'/:<>@ are
 * prohibited (RFC 3454 C.1.1, C.2.1; RFC 6122 A.5). */
static bool node_shortcut(const char *in, size_t len, struct buf *out)
{
    if (!part_length_ok(len))
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '&' || c == '\'' || c == '/' || c == ':' ||
            c == '<' || c == '>' || c == '@')
            return false;
    }
    append_lower(out, in, len);
    return true;
}

/* Resourceprep on ASCII: unchanged; controls are prohibited (C.2.1), the
 * ASCII space is not. */
static bool resource_shortcut(const char *in, size_t len, struct buf *out)
{
    if (!part_length_ok(len))
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c < 0x20 || c >= 0x7f)
            return false;
    }
    buf_append(out, in, len);
    buf_append(out, "", 1);
    return true;
}

typedef bool (*shortcut_fn)(const char *in, size_t len, struct buf *out);
typedef int (*full_prep_fn)(const char *in, char **out);

/* Appends the prepared in[0..len) and its NUL to `out`: 0, or -1 (nothing
 * appended). */
static int prep_part(const char *in, size_t len, shortcut_fn shortcut, full_prep_fn full,
                     struct buf *out)
{
    if (shortcut(in, len, out))
        return 0;
    char *copy = xstrndup(in, len);
    char *prepared = NULL;
    int rc = full(copy, &prepared);
    free(copy);
    if (rc == 0)
        buf_append(out, prepared, strlen(prepared) + 1);
    free(prepared);
    return rc;
}

/* prep_part into a string of its own: 0 with *out malloc'd, or -1. */
static int prep_part_dup(const char *in, shortcut_fn shortcut, full_prep_fn full, char **out)
{
    struct buf b;
    buf_init(&b);
    if (prep_part(in, strlen(in), shortcut, full, &b) != 0) {
        buf_free(&b);
        *out = NULL;
        return -1;
    }
    *out = buf_steal(&b);
    return 0;
}

int jid_prep_node_full(const char *in, char **out)
{
    return prep_with_profile(in, "Nodeprep", STRINGPREP_NO_UNASSIGNED, out);
}

int jid_prep_resource_full(const char *in, char **out)
{
    return prep_with_profile(in, "Resourceprep", 0, out);
}

int jid_prep_node(const char *in, char **out)
{
    return prep_part_dup(in, node_shortcut, jid_prep_node_full, out);
}

int jid_prep_resource(const char *in, char **out)
{
    return prep_part_dup(in, resource_shortcut, jid_prep_resource_full, out);
}

/* "1.2.3.4" or "[v6]" in canonical form, malloc'd; NULL if `in` is neither. */
static char *canonical_ip_literal(const char *in, size_t len)
{
    char text[INET6_ADDRSTRLEN];
    unsigned char addr[sizeof(struct in6_addr)];

    if (len >= 2 && in[0] == '[' && in[len - 1] == ']') {
        char *inner = xstrndup(in + 1, len - 2);
        int ok = inet_pton(AF_INET6, inner, addr);
        free(inner);
        if (ok != 1 || !inet_ntop(AF_INET6, addr, text, sizeof text))
            return NULL;
        struct buf b;
        buf_init(&b);
        buf_printf(&b, "[%s]", text);
        return buf_steal(&b);
    }
    char *copy = xstrndup(in, len);
    int ok = inet_pton(AF_INET, copy, addr);
    free(copy);
    if (ok != 1 || !inet_ntop(AF_INET, addr, text, sizeof text))
        return NULL;
    return xstrdup(text);
}

static bool is_ldh(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* libidn2 passes most ASCII through unchecked (and with STD3 rules would
 * silently drop characters), so the A-label form is checked here. */
static bool ascii_domain_ok(const char *ascii)
{
    size_t total = strlen(ascii);
    if (total == 0 || total > DNS_MAX_NAME)
        return false;
    const char *label = ascii;
    for (;;) {
        size_t len = strcspn(label, ".");
        if (len == 0 || len > DNS_MAX_LABEL)
            return false;
        if (label[0] == '-' || label[len - 1] == '-')
            return false;
        for (size_t i = 0; i < len; i++)
            if (!is_ldh(label[i]))
                return false;
        if (label[len] == '\0')
            return true;
        label += len + 1;
    }
}

/* True if a label has "--" in its third and fourth places ("xn--..."). */
static bool has_reserved_label(const char *name)
{
    for (const char *label = name;;) {
        size_t len = strcspn(label, ".");
        if (len >= 4 && label[2] == '-' && label[3] == '-')
            return true;
        if (label[len] == '\0')
            return false;
        label += len + 1;
    }
}

/* A host name of letter-digit-hyphen labels needs no IDNA: it prepares to
 * its lower case. Labels that IDNA treats specially ("xn--" A-labels, "??--"
 * reserved), all-digit names (IPv4 literals) and anything not LDH take the
 * full path. */
static bool domain_shortcut(const char *in, size_t len, struct buf *out)
{
    if (len > 0 && in[len - 1] == '.')
        len--;
    if (len == 0 || len > DNS_MAX_NAME)
        return false;
    size_t start = out->len;
    append_lower(out, in, len);
    const char *name = out->data + start;
    bool letter = false;
    for (size_t i = 0; i < len; i++)
        letter |= name[i] >= 'a' && name[i] <= 'z';
    if (!letter || has_reserved_label(name) || !ascii_domain_ok(name)) {
        out->len = start;
        out->data[start] = '\0';
        return false;
    }
    return true;
}

int jid_prep_domain_full(const char *in, char **out)
{
    *out = NULL;
    size_t len = strlen(in);
    if (!part_length_ok(len))
        return -1;
    if (in[len - 1] == '.')
        len--;
    if (len == 0)
        return -1;

    char *name = xstrndup(in, len);
    char *ip = canonical_ip_literal(name, len);
    if (ip) {
        free(name);
        *out = ip;
        return 0;
    }

    char *ascii = NULL;
    char *unicode = NULL;
    int rc = -1;
    if (idn2_to_ascii_8z(name, &ascii, IDNA_FLAGS) == IDN2_OK
        && ascii_domain_ok(ascii)
        && idn2_to_unicode_8z8z(ascii, &unicode, 0) == IDN2_OK
        && part_length_ok(strlen(unicode))) {
        *out = xstrdup(unicode);
        rc = 0;
    }
    idn2_free(unicode);
    idn2_free(ascii);
    free(name);
    return rc;
}

int jid_prep_domain(const char *in, char **out)
{
    return prep_part_dup(in, domain_shortcut, jid_prep_domain_full, out);
}

int jid_domain_to_ascii(const char *domain, char **out)
{
    *out = NULL;
    char *ip = canonical_ip_literal(domain, strlen(domain));
    if (ip) {
        *out = ip;
        return 0;
    }
    char *ascii = NULL;
    int rc = -1;
    if (idn2_to_ascii_8z(domain, &ascii, IDNA_FLAGS) == IDN2_OK
        && ascii_domain_ok(ascii)) {
        *out = xstrdup(ascii);
        rc = 0;
    }
    idn2_free(ascii);
    return rc;
}

int jid_parse_into(const char *s, struct jid *out, struct buf *storage)
{
    memset(out, 0, sizeof *out);
    buf_reset(storage);
    const char *slash = strchr(s, '/');
    size_t bare_len = slash ? (size_t)(slash - s) : strlen(s);
    const char *at = memchr(s, '@', bare_len);

    const char *domain_start = at ? at + 1 : s;
    size_t domain_len = bare_len - (size_t)(domain_start - s);

    /* offsets until the end: storage may move while it grows */
    if (at && prep_part(s, (size_t)(at - s), node_shortcut, jid_prep_node_full, storage) != 0)
        return -1;
    size_t domain_at = storage->len;
    if (prep_part(domain_start, domain_len, domain_shortcut, jid_prep_domain_full, storage) != 0)
        return -1;
    size_t resource_at = storage->len;
    if (slash && prep_part(slash + 1, strlen(slash + 1), resource_shortcut,
                           jid_prep_resource_full, storage) != 0)
        return -1;
    out->node = at ? storage->data : NULL;
    out->domain = storage->data + domain_at;
    out->resource = slash ? storage->data + resource_at : NULL;
    return 0;
}

int jid_parse(const char *s, struct jid *out)
{
    struct buf storage;
    buf_init(&storage);
    struct jid view;
    int rc = jid_parse_into(s, &view, &storage);
    memset(out, 0, sizeof *out);
    if (rc == 0) {
        out->node = view.node ? xstrdup(view.node) : NULL;
        out->domain = xstrdup(view.domain);
        out->resource = view.resource ? xstrdup(view.resource) : NULL;
    }
    buf_free(&storage);
    return rc;
}

void jid_clear(struct jid *j)
{
    free(j->node);
    free(j->domain);
    free(j->resource);
    memset(j, 0, sizeof *j);
}

void jid_append_bare(const struct jid *j, struct buf *out)
{
    if (j->node) {
        buf_puts(out, j->node);
        buf_append(out, "@", 1);
    }
    buf_puts(out, j->domain);
}

void jid_append_full(const struct jid *j, struct buf *out)
{
    jid_append_bare(j, out);
    if (j->resource) {
        buf_append(out, "/", 1);
        buf_puts(out, j->resource);
    }
}

char *jid_bare(const struct jid *j)
{
    struct buf b;
    buf_init(&b);
    jid_append_bare(j, &b);
    return buf_steal(&b);
}

char *jid_full(const struct jid *j)
{
    struct buf b;
    buf_init(&b);
    jid_append_full(j, &b);
    return buf_steal(&b);
}
