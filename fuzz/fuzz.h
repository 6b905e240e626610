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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

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

/* ---- the fixed in-process server of the client-session targets ----------
 * As imrefd's start-up from one fixed configuration: domain localhost,
 * accounts alice (password "alice-secret", full name "Alice Example") and
 * bob ("bob-secret", "Bob Example"), both published (each is the other's
 * Colleagues item), NoRestrictions, SendOutside 0, MaximumRoster 300, an
 * xmpp service without listener; no TLS, no control socket. Made by the
 * first call in a scratch directory named after prefix (in the process
 * that fuzzes, after AFL++'s fork), freed at exit. */
struct server;
struct server *fuzz_fixed_server(const char *prefix);
/* The fixed server's accounts (prepared bare JIDs). */
#define FUZZ_ALICE "alice@localhost"
#define FUZZ_BOB "bob@localhost"
#define FUZZ_MAX_OUTPUT (8 * 1024 * 1024)   /* server output kept per client; beyond it `over` is set */
/* Deletes every roster, override and offline row of alice and bob. */
void fuzz_fixed_server_reset_store(void);

/* One client stream of the fixed server over a socketpair (the server end
 * accepted by the c2s as from 127.0.0.1): the client's fd and everything
 * the server wrote to it. */
struct fuzz_client {
    int fd;
    struct buf out;
    bool over;   /* output beyond FUZZ_MAX_OUTPUT was dropped */
};
void fuzz_client_open(struct fuzz_client *c);
/* Appends to script the stream header, a PLAIN login of node (the
 * password is "<node>-secret"), the stream restart and the bind of resource. */
void fuzz_login_script(struct buf *script, const char *node, const char *resource);
/* Sends len bytes on clients[sender] and runs the loop until the server
 * has read them and, for a few turns, written nothing to any client, or no
 * c2s is left; what it writes is appended to each client's out. False if
 * that took more than max_turns turns. */
bool fuzz_exchange(struct fuzz_client *clients, size_t n, size_t sender, const char *data, size_t len,
                   int max_turns);
/* Closes every client, runs the loop until the c2s are gone, and asserts
 * that neither account has a session left; frees the outputs. */
void fuzz_clients_close(struct fuzz_client *clients, size_t n);
/* The oracle on a client's whole output: one namespace-well-formed XML
 * document per stream header (the restart after SASL begins a new one). */
void fuzz_check_client_output(const char *data, size_t len);

/* The input as a NUL-terminated string (malloc'd; the caller frees); a NUL
 * inside the input stays, so strlen tells whether there was one. */
char *fuzz_text(const uint8_t *data, size_t len);

/* Structured inputs: a target reads its input as a sequence of choices. */
struct fuzz_reader {
    const uint8_t *p;
    size_t n;
};

/* The next byte reduced to 0..range-1 (0 once the input is used up). */
unsigned fuzz_pick(struct fuzz_reader *r, unsigned range);

#endif
