#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

__attribute__((weak)) void fuzz_init(void)
{
}

_Noreturn void fuzz_fail(const char *what)
{
    fprintf(stderr, "fuzz: invariant broken: %s\n", what);
    abort();
}

/* ---- logs ------------------------------------------------------------------ */

/* Log lines go to files that are links to /dev/null; the links and their
 * directory are removed once the files are open. */
void fuzz_silence_logs(const char *name)
{
    static const char *const files[] = { "warning.log", "error.log", "security.log",
                                         "config.log", "debug.log" };
    char dir[256];
    snprintf(dir, sizeof dir, "/tmp/fuzz_%s_log.XXXXXX", name);
    if (!mkdtemp(dir)) abort();
    char path[sizeof dir + 32];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        if (symlink("/dev/null", path) != 0) abort();
    }
    if (log_open(dir, false) != 0) abort();
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* ---- the input as a file ---------------------------------------------------- */

/* Created and unlinked at once (so that nothing is left behind, even by a
 * killed process) and read through /proc/self/fd. */
static int input_fd = -1;
static char input_path[64];

const char *fuzz_input_file(const char *name)
{
    if (input_fd >= 0) return input_path;
    char tmpl[256];
    snprintf(tmpl, sizeof tmpl, "/tmp/fuzz_%s.XXXXXX", name);
    input_fd = mkstemp(tmpl);
    if (input_fd < 0) abort();
    unlink(tmpl);
    snprintf(input_path, sizeof input_path, "/proc/self/fd/%d", input_fd);
    return input_path;
}

void fuzz_write_input_file(const uint8_t *data, size_t len)
{
    if (ftruncate(input_fd, 0) != 0) abort();
    if (len && pwrite(input_fd, data, len, 0) != (ssize_t)len) abort();
}

/* ---- scratch directories ---------------------------------------------------- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(path);
}

void fuzz_remove_tree(const char *path)
{
    nftw(path, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static const char *scratch_base(void)
{
    if (access("/dev/shm", W_OK) == 0) return "/dev/shm";   /* no fsync cost for a store */
    const char *t = getenv("TMPDIR");
    return t && *t ? t : "/tmp";
}

/* Removes the directories of earlier runs whose process is gone (an AFL++
 * campaign ends its children with SIGKILL, so their atexit never ran). */
static void remove_stale(const char *base, const char *prefix)
{
    DIR *d = opendir(base);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0) continue;
        long pid = strtol(e->d_name + strlen(prefix), NULL, 10);
        if (pid <= 0 || (kill((pid_t)pid, 0) < 0 && errno == ESRCH)) {
            char path[512];
            snprintf(path, sizeof path, "%s/%s", base, e->d_name);
            fuzz_remove_tree(path);
        }
    }
    closedir(d);
}

void fuzz_make_scratch_dir(const char *prefix, char *dir, size_t size)
{
    const char *base = scratch_base();
    remove_stale(base, prefix);
    snprintf(dir, size, "%s/%s%ld-XXXXXX", base, prefix, (long)getpid());
    if (!mkdtemp(dir)) fuzz_fail("mkdtemp");
}

void fuzz_write_text(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) fuzz_fail("cannot write the scratch configuration");
}
