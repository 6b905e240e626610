/* scratch: a temporary directory for one cmocka test group, with the log
 * files open in it, and file reading for assertions. Header-only, shared by
 * the unit tests. The scratch owns its directory: the teardown removes it
 * with everything a test wrote there. Strings returned are malloc'd. */
#ifndef IMREF_TEST_SCRATCH_H
#define IMREF_TEST_SCRATCH_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"

struct scratch {
    char dir[64];
};

/* cmocka group setup: *state = a scratch with the logs open in it. */
static inline int scratch_setup(void **state)
{
    struct scratch *s = xcalloc(1, sizeof *s);
    strcpy(s->dir, "/tmp/imref-unit.XXXXXX");
    if (!mkdtemp(s->dir) || log_open(s->dir, false) != 0) {
        free(s);
        return -1;
    }
    *state = s;
    return 0;
}

static inline int scratch_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st; (void)flag; (void)f;
    return remove(path);
}

static inline int scratch_teardown(void **state)
{
    struct scratch *s = *state;
    log_close();
    nftw(s->dir, scratch_remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(s);
    return 0;
}

/* The whole file ("" if it cannot be read). */
static inline char *scratch_read_file(const char *path)
{
    struct buf b;
    buf_init(&b);
    FILE *f = fopen(path, "rb");
    if (f) {
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) buf_append(&b, chunk, n);
        fclose(f);
    }
    return buf_steal(&b);
}

/* The Warning log written so far. */
static inline char *scratch_warnings(const struct scratch *s)
{
    char path[128];
    snprintf(path, sizeof path, "%s/warning.log", s->dir);
    return scratch_read_file(path);
}

#endif
