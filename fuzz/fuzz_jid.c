/* JID preparation (RFC 7622, SPEC BIND-3): any bytes parse or are refused;
 * a parsed JID written out parses again to the same JID (preparation is
 * idempotent), and every part stays within 1023 bytes. */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "jid.h"

static void same_part(const char *a, const char *b)
{
    FUZZ_ASSERT((a == NULL) == (b == NULL));
    FUZZ_ASSERT(!a || strcmp(a, b) == 0);
}

int fuzz_one(const uint8_t *data, size_t len)
{
    char *text = malloc(len + 1);
    if (!text) abort();
    memcpy(text, data, len);
    text[len] = '\0';
    struct jid j = { 0 };
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
