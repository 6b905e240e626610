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

#endif
