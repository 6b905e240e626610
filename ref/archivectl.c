#include "archivectl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive.h"

struct file_tally {
    size_t messages;
    FILE *copy_to;          /* NULL: count only */
    bool write_failed;
};

static void tally_line(const char *line, size_t len, void *ctx)
{
    struct file_tally *t = ctx;
    t->messages++;
    if (t->copy_to && (fwrite(line, 1, len, t->copy_to) != len || fputc('\n', t->copy_to) == EOF))
        t->write_failed = true;
}

static void day_path(const char *archive_dir, const char *name, struct buf *out)
{
    buf_reset(out);
    buf_printf(out, "%s/" ARCHIVE_SUBDIR "/%s", archive_dir, name);
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

int archivectl_list(const char *archive_dir, struct jsonw *w, struct buf *err)
{
    char **names = NULL;
    size_t n = 0;
    if (archive_list_files(archive_dir, &names, &n) < 0) {
        buf_printf(err, "%s/" ARCHIVE_SUBDIR ": %s", archive_dir, strerror(errno));
        return -1;
    }
    struct buf path;
    buf_init(&path);
    int rc = 0;
    jsonw_array_begin(w);
    for (size_t i = 0; i < n && rc == 0; i++) {
        day_path(archive_dir, names[i], &path);
        struct file_tally t = { 0 };
        size_t skipped = 0;
        struct stat st;
        if (archive_read_file(path.data, tally_line, &t, &skipped) < 0 || stat(path.data, &st) < 0) {
            buf_printf(err, "%s: %s", path.data, strerror(errno));
            rc = -1;
            break;
        }
        jsonw_object_begin(w);
        jsonw_key(w, "file");
        jsonw_string(w, names[i]);
        jsonw_key(w, "date");
        char date[11];
        memcpy(date, names[i], 10);
        date[10] = '\0';
        jsonw_string(w, date);
        jsonw_key(w, "messages");
        jsonw_int(w, (long long)t.messages);
        jsonw_key(w, "skipped");
        jsonw_int(w, (long long)skipped);
        jsonw_key(w, "bytes");
        jsonw_int(w, (long long)st.st_size);
        jsonw_object_end(w);
    }
    jsonw_array_end(w);
    buf_free(&path);
    free_names(names, n);
    return rc;
}

bool archivectl_valid_date(const char *date)
{
    int y, m, d;
    char tail;
    if (strlen(date) != 10 || date[4] != '-' || date[7] != '-' ||
        sscanf(date, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3)
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (date[i] < '0' || date[i] > '9')) return false;
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m >= 1 && m <= 12 && d >= 1 && d <= days[m - 1] + (m == 2 && leap);
}

/* The output: a temporary file next to out_path, renamed at the end. */
static FILE *open_output(const char *out_path, struct buf *tmp, struct buf *err)
{
    buf_reset(tmp);
    buf_printf(tmp, "%s.tmp-XXXXXX", out_path);
    int fd = mkostemp(tmp->data, O_CLOEXEC);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        buf_printf(err, "%s: %s", out_path, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(tmp->data);
        }
    }
    return f;
}

static int finish_output(FILE *f, const char *tmp, const char *out_path, bool ok, struct buf *err)
{
    if (ok && (fflush(f) != 0 || fsync(fileno(f)) != 0)) ok = false;
    if (fclose(f) != 0) ok = false;
    if (ok && rename(tmp, out_path) == 0) return 0;
    if (!err->len) buf_printf(err, "%s: %s", out_path, strerror(errno ? errno : EIO));
    unlink(tmp);
    return -1;
}

int archivectl_export(const char *archive_dir, const char *from, const char *to, const char *out_path,
                      FILE *out, struct jsonw *w, bool *usage, struct buf *err)
{
    *usage = false;
    if (!archivectl_valid_date(from) || !archivectl_valid_date(to) || strcmp(from, to) > 0) {
        buf_printf(err, "--from and --to must be dates YYYY-MM-DD, --from not after --to (got %s and %s)", from,
                   to);
        *usage = true;
        return -1;
    }
    char **names = NULL;
    size_t n = 0;
    if (archive_list_files(archive_dir, &names, &n) < 0) {
        buf_printf(err, "%s/" ARCHIVE_SUBDIR ": %s", archive_dir, strerror(errno));
        return -1;
    }
    struct buf tmp, path;
    buf_init(&tmp);
    buf_init(&path);
    FILE *dest = out_path ? open_output(out_path, &tmp, err) : out;
    size_t files = 0, skipped = 0;
    struct file_tally t = { .copy_to = dest };
    for (size_t i = 0; dest && i < n && !t.write_failed; i++) {
        if (strncmp(names[i], from, 10) < 0 || strncmp(names[i], to, 10) > 0) continue;
        day_path(archive_dir, names[i], &path);
        size_t file_skipped = 0;
        if (archive_read_file(path.data, tally_line, &t, &file_skipped) < 0) {
            buf_printf(err, "%s: %s", path.data, strerror(errno));
            t.write_failed = true;
            break;
        }
        files++;
        skipped += file_skipped;
    }
    int rc = dest && !t.write_failed ? 0 : -1;
    if (dest && out_path) rc = finish_output(dest, tmp.data, out_path, rc == 0, err);
    else if (dest && fflush(dest) != 0) rc = -1;
    if (rc == 0) {
        jsonw_object_begin(w);
        jsonw_key(w, "from");
        jsonw_string(w, from);
        jsonw_key(w, "to");
        jsonw_string(w, to);
        jsonw_key(w, "files");
        jsonw_int(w, (long long)files);
        jsonw_key(w, "messages");
        jsonw_int(w, (long long)t.messages);
        jsonw_key(w, "skipped");
        jsonw_int(w, (long long)skipped);
        jsonw_key(w, "output");
        jsonw_string(w, out_path ? out_path : "-");
        jsonw_object_end(w);
    } else if (!err->len) {
        buf_printf(err, "%s: %s", out_path ? out_path : "stdout", strerror(errno ? errno : EIO));
    }
    buf_free(&tmp);
    buf_free(&path);
    free_names(names, n);
    return rc;
}
