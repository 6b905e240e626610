/* JID preparation (RFC 7622, SPEC BIND-3): any bytes parse or are refused;
 * a parsed JID written out parses again to the same JID (preparation is
 * idempotent), and every part stays within 1023 bytes. Each jid_prep_*,
 * with its ASCII shortcut, gives what the full libidn path gives, and
 * jid_parse_into what jid_parse gives. */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "jid.h"

static void same_part(const char *a, const char *b)
{
    FUZZ_ASSERT((a == NULL) == (b == NULL));
    FUZZ_ASSERT(!a || strcmp(a, b) == 0);
}

static void same_as_full(const char *in, int (*prep)(const char *, char **),
                         int (*full)(const char *, char **))
{
    char *a = NULL, *b = NULL;
    FUZZ_ASSERT(prep(in, &a) == full(in, &b));
    same_part(a, b);
    free(a);
    free(b);
}

int fuzz_one(const uint8_t *data, size_t len)
{
    char *text = fuzz_text(data, len);
    if (strlen(text) == len) {
        same_as_full(text, jid_prep_node, jid_prep_node_full);
        same_as_full(text, jid_prep_resource, jid_prep_resource_full);
        same_as_full(text, jid_prep_domain, jid_prep_domain_full);
    }
    struct jid j = { 0 };
    if (strlen(text) == len) {
        /* jid_parse_into (the router's, into reused storage) agrees */
        static struct buf storage;
        struct jid into = { 0 }, parsed = { 0 };
        int rc = jid_parse_into(text, &into, &storage);
        FUZZ_ASSERT(rc == jid_parse(text, &parsed));
        if (rc == 0) {
            same_part(into.node, parsed.node);
            same_part(into.domain, parsed.domain);
            same_part(into.resource, parsed.resource);
        }
        jid_clear(&parsed);
    }
    if (strlen(text) == len && jid_parse(text, &j) == 0) {
        FUZZ_ASSERT(j.domain && *j.domain);
        FUZZ_ASSERT(strlen(j.domain) <= 1023);
        FUZZ_ASSERT(!j.node || (*j.node && strlen(j.node) <= 1023));
        FUZZ_ASSERT(!j.resource || (*j.resource && strlen(j.resource) <= 1023));
        char *full = jid_full(&j);
        struct jid again = { 0 };
        FUZZ_ASSERT(jid_parse(full, &again) == 0);
        same_part(j.node, again.node);
        same_part(j.domain, again.domain);
        same_part(j.resource, again.resource);
        jid_clear(&again);
        free(full);
    }
    jid_clear(&j);
    free(text);
    return 0;
}
