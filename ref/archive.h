/* archive: compliance archiving of the messages the server routes (SPEC
 * ARCH-1..4). Day files <ArchivePath>/xmpp/YYYY-MM-DD.log (server local
 * date), one line per message: "[DD/Mon/YYYY HH:MM:SS] " then the stanza
 * on one line. Lines are batched per loop iteration and made durable
 * (write, fdatasync, and an fsync of the directory for a new file) before
 * the batch's messages are released for delivery (ARCH-3).
 * An archive owns its open day file, its directory path, the pending
 * batch (lines, and the messages waiting for them) and its ev_prepare
 * watcher; a message submitted belongs to the archive until it is handed
 * back through the release callback. */
#ifndef IMREF_ARCHIVE_H
#define IMREF_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <ev.h>

#include "buf.h"
#include "config.h"      /* enum archive_failure_mode (ArchiveFailurePolicy) */
#include "xnode.h"

#define ARCHIVE_SUBDIR "xmpp"

/* ---- the line format (pure) -------------------------------------------- */

/* Appends one archive line for `stanza` at time t (local time), with its
 * final '\n'. The stanza is serialised in jabber:client; CR, LF and TAB in
 * it become character references (&#13; &#10; &#9;), so any body stays
 * one line and reads back the same. */
void archive_format_line(time_t t, const xnode *stanza, struct buf *out);

/* Parses one line (without its '\n'): 0 with *t (local time) and *stanza
 * (the caller frees it), or -1 when it is not an archive line (torn,
 * garbage, not a <message/>). */
int archive_parse_line(const char *line, size_t len, time_t *t, xnode **stanza);

/* "YYYY-MM-DD.log" for t in local time. */
void archive_day_file_name(time_t t, char out[16]);

/* Calls fn for each complete, well-formed line of a day file, in order
 * (the line without '\n'); lines without a final '\n' or that do not
 * parse are skipped and counted in *skipped (may be NULL). 0, or -1 with
 * errno set when the file cannot be read. */
int archive_read_file(const char *path, void (*fn)(const char *line, size_t len, void *ctx),
                      void *ctx, size_t *skipped);

/* ---- the writer ---------------------------------------------------------- */

/* Hands a submitted message back: `deliver` is true when its line is
 * durable, or when writing failed under ARCHIVE_ON_FAILURE_DELIVER; false
 * when writing failed under ARCHIVE_ON_FAILURE_REFUSE (the sender is then
 * told <resource-constraint/>). `sender` is the string given to
 * archive_submit (borrowed for the call). The callee owns msg. */
typedef void (*archive_release_fn)(void *owner, xnode *msg, const char *sender, bool deliver);

struct archive;

/* `dir` is ArchivePath (day files go to dir/xmpp/, created as needed). */
struct archive *archive_new(struct ev_loop *loop, const char *dir,
                            enum archive_failure_mode policy,
                            archive_release_fn release, void *owner);
/* Flushes what is pending (releasing it), then frees everything. */
void archive_free(struct archive *a);
/* A new ArchivePath or failure policy (admin settings), from the next batch. */
void archive_configure(struct archive *a, const char *dir, enum archive_failure_mode policy);

/* Takes ownership of msg: formats its line now (time: now) and keeps the
 * message until the batch is flushed, at the end of this loop iteration. */
void archive_submit(struct archive *a, xnode *msg, const char *sender);
/* Writes the batch and releases its messages at once (the ev_prepare
 * watcher does this; tests and shutdown call it too). */
void archive_flush(struct archive *a);

/* The day files under dir/xmpp, sorted by name (oldest first): names
 * ("YYYY-MM-DD.log") malloc'd in *names, *n of them; the caller frees
 * each and the array. 0, or -1 with errno (a missing directory: 0 files). */
int archive_list_files(const char *dir, char ***names, size_t *n);

#endif
