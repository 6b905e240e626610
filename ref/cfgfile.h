/* cfgfile: reader and writer of the product's XML configuration shape
 * (SPEC CFG-1..4): <config> holding <table name> of <variable name>value
 * </variable> and <list name> of <listitem> of variables. The whole document
 * (unknown tables, lists, variables, comments, whitespace, order) is kept so
 * that a rewrite preserves what it does not change (CFG-3). A cfgfile owns
 * every node and string in it; cfgfile_free releases them all. Strings and
 * item pointers it returns are borrowed: valid until that node is changed
 * or removed, or the cfgfile is freed. */
#ifndef IMREF_CFGFILE_H
#define IMREF_CFGFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct cfgfile;
struct cfgnode;   /* a <listitem> of a list, owned by its cfgfile */

/* A new document holding an empty <config>. */
struct cfgfile *cfgfile_new(void);
/* Reads and parses `path`. Returns 0, or -1 with err set to
 * "FILE:LINE:COLUMN: reason" (parse errors; a DOCTYPE, and with it any
 * entity declaration, is refused; undefined entities are errors) or
 * "FILE: reason" (I/O errors). */
int cfgfile_load(const char *path, struct cfgfile **out, struct buf *err);
/* Parses a document held in memory; `name` stands for FILE in errors. */
int cfgfile_parse(const char *data, size_t len, const char *name, struct cfgfile **out,
                  struct buf *err);
void cfgfile_free(struct cfgfile *cf);

/* The value of a table's variable, NULL if absent (the first table of that
 * name holding the variable). The value is the text as written, untrimmed. */
const char *cfgfile_get(const struct cfgfile *cf, const char *table, const char *variable);
/* Sets it, creating the table (at the end of <config>) and the variable (at
 * the end of the table) if needed. Returns 0, or -1 if a string holds
 * something XML 1.0 cannot carry (invalid UTF-8, control characters). */
int cfgfile_set(struct cfgfile *cf, const char *table, const char *variable, const char *value);

/* The first <listitem> of the lists named `list` (NULL: none), and the next
 * one, continuing into later lists of the same name. Get the next item
 * before removing the current one. */
struct cfgnode *cfgfile_items(const struct cfgfile *cf, const char *list);
struct cfgnode *cfgfile_item_next(const struct cfgnode *item);
/* An item's variable, NULL if absent. */
const char *cfgfile_item_get(const struct cfgnode *item, const char *variable);
/* Sets an item's variable (created at the end of the item if absent);
 * 0, or -1 as cfgfile_set. */
int cfgfile_item_set(struct cfgnode *item, const char *variable, const char *value);
/* Appends an empty item to the last list named `list` (created at the end of
 * <config> if absent). Returns it (borrowed), NULL if `list` is not valid
 * XML text. */
struct cfgnode *cfgfile_item_append(struct cfgfile *cf, const char *list);
/* Removes and frees the item (and the indentation before it). */
void cfgfile_item_remove(struct cfgnode *item);

/* The document as XML (UTF-8, with an XML declaration), appended to out.
 * Serialising a document parsed from this output gives the same bytes. */
void cfgfile_serialize(const struct cfgfile *cf, struct buf *out);
/* Writes the document to `path` atomically: a uniquely named PATH.tmp-XXXXXX,
 * fsync, rename, fsync of the directory, so a reader (or a crash) only ever
 * sees the old or the new file, whatever else saves at the same time. An
 * existing file's mode is kept; a new file gets 0600.
 * Returns 0, or -1 with err set to "PATH: reason". */
int cfgfile_save(const struct cfgfile *cf, const char *path, struct buf *err);

/* True if `s` is text XML 1.0 can carry: valid UTF-8 without control
 * characters other than tab, newline and carriage return. */
bool cfgfile_valid_text(const char *s);

#endif
