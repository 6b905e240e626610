/* report: imconform's output (SPEC CONF-4): TAP on a stream as results come
 * in, the final "N passed, N failed, N skipped" line, and JUnit XML. The
 * report copies what it needs from each entry (entries stay the caller's);
 * report_free frees the report and those copies. */
#ifndef IMCONFORM_REPORT_H
#define IMCONFORM_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "buf.h"
#include "runner.h"

/* TAP (version 12 style, plan first):
 *   1..N
 *   ok 1 - core/a.scs: Title [IM-3 BIND-1]
 *   ok 2 - core/b.scs: Title # SKIP requires direct-tls, which target x lacks
 *   not ok 3 - core/c.scs: Title [IM-5]
 *   # unexpected stanza
 *   # at core/c.scs:12: Romeo receives:
 *   # ...diagnostic lines...
 *   N passed, N failed, N skipped
 * The description is "PATH: TITLE" ("PATH" without a title) plus the
 * covered clause IDs in brackets; '#' and '\' in it are escaped with '\',
 * line breaks become spaces. Diagnostic lines are prefixed "# " ("#" for an
 * empty line). With `verbose`, each result's transcript follows as "# "
 * lines.
 * JUnit: one <testsuite name="imconform.TARGET"> with a <testcase
 * classname="imconform.TARGET" name="DESCRIPTION" file="PATH" time="S"> per
 * scenario, holding <failure message="MESSAGE">DIAGNOSTIC</failure> or
 * <skipped message="REASON"/>. Text is XML-escaped; characters XML 1.0
 * cannot carry (controls, invalid UTF-8) become U+FFFD. */

struct report_entry {
    const char *path;                  /* scenario path */
    const char *title;                 /* NULL or "" if none */
    char *const *covers; size_t n_covers;
    const struct runner_result *result;
    double seconds;                    /* wall time of the scenario */
};

struct report;

/* A report writing TAP to `tap` (borrowed), announcing `planned` results. */
struct report *report_new(FILE *tap, size_t planned, bool verbose);
/* Prints the next result (numbered in call order) and records it. */
void report_add(struct report *r, const struct report_entry *e);
/* Prints "N passed, N failed, N skipped". */
void report_summary(const struct report *r);
size_t report_count(const struct report *r, enum runner_outcome outcome);
/* Appends the JUnit document for the results so far. */
void report_junit(const struct report *r, const char *target_name, struct buf *out);
/* Writes it to `path`; 0, or -1 with err. */
int report_write_junit(const struct report *r, const char *target_name, const char *path,
                       struct buf *err);
void report_free(struct report *r);

#endif
