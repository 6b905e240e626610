/* archivectl: imrefctl's archive commands (SPEC ARCH-4), run on the day
 * files directly (they need no server: every batch is durable before its
 * messages are delivered): list the files, export a date range as one
 * file. Results are JSON written to a caller-owned jsonw; the export's
 * lines go to the named file (written whole, then renamed into place) or
 * to stdout. */
#ifndef IMREF_ARCHIVECTL_H
#define IMREF_ARCHIVECTL_H

#include <stdbool.h>
#include <stdio.h>

#include "buf.h"
#include "json.h"

/* [{"file","date","messages","skipped","bytes"}], oldest first. 0, or -1
 * with err ("PATH: reason"). */
int archivectl_list(const char *archive_dir, struct jsonw *w, struct buf *err);

/* True if `date` is a real calendar date written YYYY-MM-DD. */
bool archivectl_valid_date(const char *date);

/* The complete lines of the day files `from`..`to` (YYYY-MM-DD, both
 * included), in order, to out_path, or to `out` when out_path is NULL.
 * Result {"from","to","files","messages","skipped","output"}. 0; -1 with
 * err for bad dates (*usage set) or an I/O failure (nothing is left at
 * out_path then). */
int archivectl_export(const char *archive_dir, const char *from, const char *to, const char *out_path,
                      FILE *out, struct jsonw *w, bool *usage, struct buf *err);

#endif
