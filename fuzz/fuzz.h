/* fuzz: the contract of every fuzz target (fuzz/fuzz_<name>.c). A target
 * defines fuzz_one, which takes one input (borrowed for the call), runs it
 * through the code under test and returns 0; it calls fuzz_fail (abort) on
 * a broken invariant, so AFL++ records a crash and the replay fails. The
 * same target links with driver_afl.c (AFL++ persistent mode, built by
 * afl-cc: `make fuzz TARGET=name SECONDS=n`) or with driver_replay.c (runs
 * the files given, e.g. the corpus and the kept crashes, under ASan+UBSan in
 * `make check`). Optional fuzz_init runs once before the first input. */
#ifndef IMREF_FUZZ_H
#define IMREF_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int fuzz_one(const uint8_t *data, size_t len);
/* Weak default: nothing. */
void fuzz_init(void);

/* Prints "fuzz: invariant broken: <what>" to stderr and aborts. */
_Noreturn void fuzz_fail(const char *what);
#define FUZZ_ASSERT(cond) ((cond) ? (void)0 : fuzz_fail(#cond))

/* Helpers shared by the targets (fuzz_common.c). Files a target needs are
 * made by its first input, not in fuzz_init: under the AFL++ fork server
 * fuzz_init runs once in the parent, whose files every child would share. */

/* Opens the log files (log_open) as links to /dev/null in /tmp/fuzz_NAME_log.*, then removes the links and the directory. */
void fuzz_silence_logs(const char *name);
/* Path (/proc/self/fd/N) of this process's input file, made by the first call in /tmp/fuzz_NAME.* and unlinked at once. */
const char *fuzz_input_file(const char *name);
/* Replaces the content of the file fuzz_input_file made with data. */
void fuzz_write_input_file(const uint8_t *data, size_t len);
/* Makes dir (size bytes) BASE/PREFIX<pid>-XXXXXX, BASE /dev/shm or $TMPDIR or /tmp, after removing those of dead processes. */
void fuzz_make_scratch_dir(const char *prefix, char *dir, size_t size);
/* Removes path and everything below it, following no links. */
void fuzz_remove_tree(const char *path);
/* Writes text to dir/name; fuzz_fail if it cannot. */
void fuzz_write_text(const char *dir, const char *name, const char *text);

#endif
