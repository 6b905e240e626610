#include "ctlcmd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* ---- the table ------------------------------------------------------------ */

enum cell_kind { CELL_TEXT, CELL_YESNO, CELL_RUNNING, CELL_DURATION, CELL_NUMBER, CELL_LIST };

struct ctl_column {
    const char *title;
    const char *key;        /* in each row object of the result */
    enum cell_kind kind;
};

struct ctl_option {
    const char *flag;       /* "--password" */
    const char *key;        /* request argument */
    bool required;
};

typedef void (*render_fn)(const struct ctl_invocation *inv, const struct json *result, struct buf *out);

/* Positional "@group": NAME@DOMAIN, sent as "name" and "domain". */
#define GROUP_ARG "@group"
#define MAX_POSITIONALS 3
#define MAX_OPTIONS 3

struct ctl_command {
    const char *words;                      /* "user add" */
    const char *action;                     /* control-socket action; local: NULL */
    const char *positionals[MAX_POSITIONALS]; /* request keys, in order */
    size_t required;                        /* positionals that must be given */
    struct ctl_option options[MAX_OPTIONS];
    const char *usage;                      /* the arguments, for help; NULL: none */
    const char *summary;                    /* one line, for help */
    render_fn render;
    const struct ctl_column *columns;       /* render_table, render_row */
    const char *done;                       /* render_done: "added user %s" */
    bool verbatim;                          /* arguments are never options (but a lone --help) */
    bool repeat_last;                       /* the last positional may be given any number of times */
};

static void render_table(const struct ctl_invocation *inv, const struct json *result, struct buf *out);
static void render_row(const struct ctl_invocation *inv, const struct json *result, struct buf *out);
static void render_settings(const struct ctl_invocation *inv, const struct json *result, struct buf *out);
static void render_done(const struct ctl_invocation *inv, const struct json *result, struct buf *out);
static void render_kick(const struct ctl_invocation *inv, const struct json *result, struct buf *out);
static void render_members(const struct ctl_invocation *inv, const struct json *result, struct buf *out);
static void render_reload(const struct ctl_invocation *inv, const struct json *result, struct buf *out);
static void render_check(const struct ctl_invocation *inv, const struct json *result, struct buf *out);
static void render_export(const struct ctl_invocation *inv, const struct json *result, struct buf *out);

/* ARCH-4 */
static const struct ctl_column archive_columns[] = {
    { "File", "file", CELL_TEXT },         { "Messages", "messages", CELL_NUMBER },
    { "Unreadable", "skipped", CELL_NUMBER }, { "Bytes", "bytes", CELL_NUMBER },
    { NULL, NULL, CELL_TEXT },
};

/* ADM-1 */
static const struct ctl_column connection_columns[] = {
    { "Protocol", "protocol", CELL_TEXT }, { "Secure", "secure", CELL_YESNO },
    { "Time", "time", CELL_DURATION },     { "From", "from", CELL_TEXT },
    { "User", "user", CELL_TEXT },         { "Description", "description", CELL_TEXT },
    { "TLS", "tls_version", CELL_TEXT },   { "Cipher", "cipher", CELL_TEXT },
    { "SASL", "sasl", CELL_TEXT },         { NULL, NULL, CELL_TEXT },
};

/* ADM-2 */
static const struct ctl_column service_columns[] = {
    { "Service", "id", CELL_TEXT },          { "Name", "name", CELL_TEXT },
    { "Status", "running", CELL_RUNNING },   { "Startup", "startup", CELL_TEXT },
    { "Connections", "connections", CELL_NUMBER }, { "Listeners", "listeners", CELL_LIST },
    { NULL, NULL, CELL_TEXT },
};

/* ADM-4 */
static const struct ctl_column user_columns[] = {
    { "User", "jid", CELL_TEXT },           { "Full name", "name", CELL_TEXT },
    { "Email", "email", CELL_TEXT },        { "Enabled", "enabled", CELL_YESNO },
    { "GAL", "publish_in_gal", CELL_YESNO }, { "Restricted", "domain_restriction", CELL_YESNO },
    { "Access policy", "access_policy", CELL_TEXT }, { "Groups", "groups", CELL_LIST },
    { NULL, NULL, CELL_TEXT },
};

static const struct ctl_column group_columns[] = {
    { "Group", "name", CELL_TEXT },      { "Domain", "domain", CELL_TEXT },
    { "Restricted", "domain_restriction", CELL_YESNO }, { "Members", "members", CELL_LIST },
    { NULL, NULL, CELL_TEXT },
};

/* To add a command: one row here (and, if it works without imrefd, one row
 * in imrefctl.c's offline table). */
static const struct ctl_command commands[] = {
    { .words = "connections", .action = "connections", .render = render_table,
      .columns = connection_columns, .summary = "list the active connections" },
    { .words = "services", .action = "services", .render = render_table, .columns = service_columns,
      .summary = "list the services and their state" },
    { .words = "service stop", .action = "service.stop", .positionals = { "name" }, .required = 1,
      .usage = "NAME", .render = render_row, .columns = service_columns,
      .summary = "stop a service (xmpp, xmpps, s2s): close its listeners and connections" },
    { .words = "service start", .action = "service.start", .positionals = { "name" }, .required = 1,
      .usage = "NAME", .render = render_row, .columns = service_columns,
      .summary = "start a stopped service" },
    { .words = "service restart", .action = "service.restart", .positionals = { "name" }, .required = 1,
      .usage = "NAME", .render = render_row, .columns = service_columns,
      .summary = "stop and start a service" },
    { .words = "settings get", .action = "settings.get", .render = render_settings,
      .summary = "show SendOutside and SecurityPolicy" },
    { .words = "settings set", .action = "settings.set", .positionals = { "name", "value" }, .required = 2,
      .usage = "NAME VALUE", .render = render_settings,
      .summary = "set SendOutside (0|1) or SecurityPolicy (NoRestrictions|AuthenticationRequired|"
                 "EncryptionRequired) in mailserver.cfg" },
    { .words = "user list", .action = "user.list", .positionals = { "domain" }, .usage = "[DOMAIN]",
      .render = render_table, .columns = user_columns, .summary = "list the accounts (of one domain)" },
    { .words = "user add", .action = "user.add", .positionals = { "jid" }, .required = 1,
      .options = { { "--password", "password", true }, { "--name", "name", false },
                   { "--email", "email", false } },
      .usage = "JID --password PW [--name \"Full Name\"] [--email ADDRESS]",
      .render = render_done, .done = "added user %s", .summary = "add an account (appended to users.cfg)" },
    { .words = "user remove", .action = "user.remove", .positionals = { "jid" }, .required = 1,
      .usage = "JID", .render = render_done, .done = "removed user %s",
      .summary = "remove an account (its sessions end)" },
    { .words = "user enable", .action = "user.enable", .positionals = { "jid" }, .required = 1,
      .usage = "JID", .render = render_done, .done = "enabled user %s",
      .summary = "allow an account to log in" },
    { .words = "user disable", .action = "user.disable", .positionals = { "jid" }, .required = 1,
      .usage = "JID", .render = render_done, .done = "disabled user %s",
      .summary = "refuse an account's logins" },
    { .words = "user passwd", .action = "user.passwd", .positionals = { "jid" }, .required = 1,
      .options = { { "--password", "password", true } }, .usage = "JID --password PW",
      .render = render_done, .done = "changed the password of user %s",
      .summary = "set an account's password (stored as SCRAM keys)" },
    { .words = "user set", .action = "user.set", .positionals = { "jid", "field", "value" }, .required = 3,
      .usage = "JID FIELD VALUE", .render = render_done, .done = "changed user %s",
      .summary = "set FullName, Email, PublishInGAL (0|1), DomainRestriction (0|1), AccessPolicy or "
                 "Groups (a,b)" },
    { .words = "user kick", .action = "user.kick", .positionals = { "jid" }, .required = 1,
      .usage = "JID", .render = render_kick,
      .summary = "end an account's sessions (needs a running imrefd)" },
    { .words = "user restore-contacts", .action = "user.restore-contacts", .positionals = { "jid" },
      .required = 1, .usage = "JID[,JID...]", .render = render_done, .done = "restored the contact list of %s",
      .summary = "Restore IM Contact List: discard the user's changes to Colleagues (ROST-7)" },
    { .words = "user unlock", .action = "user.unlock", .positionals = { "jid" }, .required = 1,
      .usage = "JID", .render = render_done, .done = "unlocked user %s",
      .summary = "lift an account lockout (SEC-8; needs a running imrefd)" },
    { .words = "group list", .action = "group.list", .positionals = { "domain" }, .usage = "[DOMAIN]",
      .render = render_table, .columns = group_columns, .summary = "list the groups and their members" },
    { .words = "group add", .action = "group.add", .positionals = { GROUP_ARG }, .required = 1,
      .usage = "NAME@DOMAIN", .render = render_done, .done = "added group %s", .summary = "add a group" },
    { .words = "group remove", .action = "group.remove", .positionals = { GROUP_ARG }, .required = 1,
      .usage = "NAME@DOMAIN", .render = render_done, .done = "removed group %s",
      .summary = "remove a group (and it from its members)" },
    { .words = "group set", .action = "group.set", .positionals = { GROUP_ARG, "field", "value" },
      .required = 3, .usage = "NAME@DOMAIN FIELD VALUE", .render = render_done, .done = "changed group %s",
      .summary = "set a group's DomainRestriction (0|1)" },
    { .words = "group members", .action = "group.members", .positionals = { GROUP_ARG }, .required = 1,
      .options = { { "--add", "add", false }, { "--remove", "remove", false } },
      .usage = "NAME@DOMAIN [--add JID] [--remove JID]", .render = render_members,
      .summary = "show, or change, a group's members" },
    { .words = "reload", .action = "reload", .render = render_reload, .summary = "reload users.cfg (ADM-7)" },
    { .words = "check", .positionals = { "domain" }, .repeat_last = true, .usage = "[DOMAIN...]",
      .render = render_check,
      .summary = "Check Service Accessibility (ADM-6): DNS records, listeners and certificates of each "
                 "domain; exit 1 if a required check fails" },
    { .words = "archive list", .render = render_table, .columns = archive_columns,
      .summary = "list the message archive's day files (ARCH-4): messages and unreadable lines in each" },
    { .words = "archive export",
      .options = { { "--from", "from", true }, { "--to", "to", true }, { "-o", "output", false } },
      .usage = "--from YYYY-MM-DD --to YYYY-MM-DD [-o FILE]", .render = render_export,
      .summary = "the archived messages of a date range as one file (ARCH-4); stdout without -o" },
    { .words = "hash-password", .positionals = { "password" }, .required = 1, .usage = "PASSWORD",
      .verbatim = true,
      .summary = "print the stored form of PASSWORD (SCRAM keys; ScramIterations of DIR/mailserver.cfg)" },
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const char global_usage[] = "imrefctl [--dir DIR] [--socket PATH] [--json]";

const char *ctlcmd_action(const struct ctl_command *cmd)
{
    return cmd->action ? cmd->action : cmd->words;
}

bool ctlcmd_is_local(const struct ctl_command *cmd)
{
    return cmd->action == NULL;
}

const char *ctlcmd_title(const struct ctl_command *cmd)
{
    return cmd->words;
}

/* ---- parsing -------------------------------------------------------------- */

/* Length of the first word of "user add" (the family). */
static size_t family_len(const struct ctl_command *cmd)
{
    return strcspn(cmd->words, " ");
}

static bool in_family(const struct ctl_command *cmd, const char *family)
{
    size_t len = family_len(cmd);
    return strlen(family) == len && strncmp(cmd->words, family, len) == 0;
}

static bool has_subcommand(const struct ctl_command *cmd)
{
    return cmd->words[family_len(cmd)] == ' ';
}

/* The command for words[0] (and words[1] if the family has subcommands). */
static const struct ctl_command *find_command(const char *family, const char *sub)
{
    for (size_t i = 0; i < N_COMMANDS; i++) {
        const struct ctl_command *c = &commands[i];
        if (!in_family(c, family)) continue;
        if (!has_subcommand(c) || (sub && strcmp(c->words + family_len(c) + 1, sub) == 0)) return c;
    }
    return NULL;
}

static bool family_exists(const char *family)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (in_family(&commands[i], family)) return true;
    return false;
}

/* "list, add, remove" of a family. */
static void family_subcommands(const char *family, struct buf *out)
{
    const char *sep = "";
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (!in_family(&commands[i], family) || !has_subcommand(&commands[i])) continue;
        buf_printf(out, "%s%s", sep, commands[i].words + family_len(&commands[i]) + 1);
        sep = ", ";
    }
}

static void add_arg(struct ctl_invocation *inv, const char *key, const char *value, size_t value_len)
{
    inv->args = xrealloc(inv->args, (inv->n_args + 1) * sizeof *inv->args);
    inv->args[inv->n_args++] = (struct ctl_arg){ xstrdup(key), xstrndup(value, value_len) };
}

static int usage_fail(struct buf *err, const char *what, const char *detail)
{
    buf_reset(err);
    buf_printf(err, "%s%s", what, detail ? detail : "");
    return -1;
}

/* A global option at argv[*i]: 1 taken (with its value), 0 not one, -1 error. */
static int take_global_option(int argc, char **argv, int *i, struct ctl_invocation *inv, struct buf *err)
{
    const char *opt = argv[*i];
    const char **slot = strcmp(opt, "--dir") == 0 ? &inv->dir : strcmp(opt, "--socket") == 0 ? &inv->socket : NULL;
    if (slot) {
        if (*i + 1 >= argc) return usage_fail(err, opt, " needs a value");
        *slot = argv[++*i];
        return 1;
    }
    if (strcmp(opt, "--json") == 0) inv->json = true;
    else if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) inv->help = true;
    else return 0;
    return 1;
}

/* A positional argument: "@group" splits NAME@DOMAIN (at the last '@'). */
static int take_positional(struct ctl_invocation *inv, const char *key, const char *value, struct buf *err)
{
    if (strcmp(key, GROUP_ARG) != 0) {
        add_arg(inv, key, value, strlen(value));
        return 0;
    }
    const char *at = strrchr(value, '@');
    if (!at || at == value || !at[1]) return usage_fail(err, "a group is NAME@DOMAIN, not ", value);
    add_arg(inv, "name", value, (size_t)(at - value));
    add_arg(inv, "domain", at + 1, strlen(at + 1));
    return 0;
}

static const struct ctl_option *find_option(const struct ctl_command *cmd, const char *flag)
{
    for (size_t i = 0; i < MAX_OPTIONS && cmd->options[i].flag; i++)
        if (strcmp(cmd->options[i].flag, flag) == 0) return &cmd->options[i];
    return NULL;
}

static size_t positional_count(const struct ctl_command *cmd)
{
    size_t n = 0;
    while (n < MAX_POSITIONALS && cmd->positionals[n]) n++;
    return n;
}

/* Everything after the command's words: its positionals and options, and
 * global options anywhere. */
static int parse_command_args(int argc, char **argv, int i, struct ctl_invocation *inv, struct buf *err)
{
    const struct ctl_command *cmd = inv->command;
    size_t given = 0, max = positional_count(cmd);
    bool options_done = cmd->verbatim && !(argc - i == 1 && strcmp(argv[i], "--help") == 0);
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!options_done && strcmp(a, "--") == 0) {
            options_done = true;
            continue;
        }
        if (!options_done && a[0] == '-' && a[1]) {
            const struct ctl_option *o = find_option(cmd, a);
            int g = o ? 0 : take_global_option(argc, argv, &i, inv, err);
            if (g < 0) return -1;
            if (g > 0) continue;
            if (!o) return usage_fail(err, "unknown option ", a);
            if (i + 1 >= argc) return usage_fail(err, a, " needs a value");
            if (ctlcmd_arg(inv, o->key)) return usage_fail(err, a, " is given twice");
            add_arg(inv, o->key, argv[i + 1], strlen(argv[i + 1]));
            i++;
            continue;
        }
        if (given >= max && !(cmd->repeat_last && max)) return usage_fail(err, "unexpected argument ", a);
        const char *key = cmd->positionals[given < max ? given : max - 1];
        given++;
        if (take_positional(inv, key, a, err) < 0) return -1;
    }
    if (inv->help) return 0;
    buf_reset(err);
    if (given < cmd->required) buf_printf(err, "%s needs %s", cmd->words, cmd->usage);
    for (size_t k = 0; !err->len && k < MAX_OPTIONS && cmd->options[k].flag; k++)
        if (cmd->options[k].required && !ctlcmd_arg(inv, cmd->options[k].key))
            buf_printf(err, "%s needs %s", cmd->words, cmd->options[k].flag);
    return err->len ? -1 : 0;
}

/* The command named by argv[*i] (and the subcommand after it). */
static int parse_command_words(int argc, char **argv, int *i, struct ctl_invocation *inv, struct buf *err)
{
    const char *family = argv[*i];
    if (!family_exists(family)) return usage_fail(err, "unknown command ", family);
    const char *sub = *i + 1 < argc ? argv[*i + 1] : NULL;
    const struct ctl_command *cmd = find_command(family, sub);
    if (cmd && has_subcommand(cmd)) (*i)++;
    (*i)++;
    if (cmd) {
        inv->command = cmd;
        return 0;
    }
    if (sub && (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0)) {
        inv->help = true;
        inv->help_family = family;
        return 0;
    }
    buf_reset(err);
    if (sub) buf_printf(err, "unknown command %s %s; ", family, sub);
    buf_printf(err, "%s takes one of: ", family);
    family_subcommands(family, err);
    return -1;
}

int ctlcmd_parse(int argc, char **argv, struct ctl_invocation *out, struct buf *err)
{
    *out = (struct ctl_invocation){ 0 };
    int i = 1;
    while (i < argc && argv[i][0] == '-') {
        int g = take_global_option(argc, argv, &i, out, err);
        if (g < 0) return -1;
        if (g == 0) return usage_fail(err, "unknown option ", argv[i]);
        i++;
    }
    if (i >= argc) return out->help ? 0 : usage_fail(err, "no command", NULL);
    if (parse_command_words(argc, argv, &i, out, err) < 0) return -1;
    if (!out->command) return 0;
    return parse_command_args(argc, argv, i, out, err);
}

void ctlcmd_invocation_free(struct ctl_invocation *inv)
{
    for (size_t i = 0; i < inv->n_args; i++) {
        free(inv->args[i].key);
        free(inv->args[i].value);
    }
    free(inv->args);
    inv->args = NULL;
    inv->n_args = 0;
}

const char *ctlcmd_arg(const struct ctl_invocation *inv, const char *key)
{
    for (size_t i = 0; i < inv->n_args; i++)
        if (strcmp(inv->args[i].key, key) == 0) return inv->args[i].value;
    return NULL;
}

void ctlcmd_request(const struct ctl_invocation *inv, struct buf *line)
{
    struct jsonw w;
    jsonw_init(&w, line);
    jsonw_object_begin(&w);
    jsonw_key(&w, "action");
    jsonw_string(&w, ctlcmd_action(inv->command));
    for (size_t i = 0; i < inv->n_args; i++) {
        jsonw_key(&w, inv->args[i].key);
        jsonw_string(&w, inv->args[i].value);
    }
    jsonw_object_end(&w);
    buf_puts(line, "\n");
}

/* ---- help ----------------------------------------------------------------- */

static void command_synopsis(const struct ctl_command *cmd, struct buf *out)
{
    buf_printf(out, "%s%s%s", cmd->words, cmd->usage ? " " : "", cmd->usage ? cmd->usage : "");
}

/* Each command's synopsis, its summary indented below it. */
static void help_lines(const char *family, struct buf *out)
{
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (family && !in_family(&commands[i], family)) continue;
        buf_puts(out, "  ");
        command_synopsis(&commands[i], out);
        buf_printf(out, "\n      %s\n", commands[i].summary);
    }
}

static const char global_help[] =
    "Options:\n"
    "  --dir DIR      the server's directory (mailserver.cfg, users.cfg)\n"
    "  --socket PATH  the control socket (default: Admin/ControlSocket of\n"
    "                 DIR/mailserver.cfg, else DIR/imrefd.sock)\n"
    "  --json         print the result as JSON\n"
    "  --help         this text; COMMAND --help for one command\n"
    "User and group commands edit users.cfg directly when imrefd is not running.\n"
    "Exit status: 0 done, 1 refused or failed, 2 usage error.\n";

void ctlcmd_help(const struct ctl_command *cmd, const char *family, struct buf *out)
{
    if (cmd) {
        buf_printf(out, "usage: %s ", global_usage);
        command_synopsis(cmd, out);
        buf_printf(out, "\n  %s\n", cmd->summary);
        return;
    }
    buf_printf(out, "usage: %s COMMAND ...\n\nCommands:\n", global_usage);
    help_lines(family, out);
    if (!family) buf_printf(out, "\n%s", global_help);
}

/* ---- rendering ------------------------------------------------------------ */

void ctlcmd_format_duration(long long seconds, struct buf *out)
{
    if (seconds < 0) seconds = 0;
    if (seconds < 60) buf_printf(out, "%llds", seconds);
    else if (seconds < 3600) buf_printf(out, "%lldm%02llds", seconds / 60, seconds % 60);
    else buf_printf(out, "%lldh%02lldm", seconds / 3600, seconds % 3600 / 60);
}

static bool number_as_integer(const struct json *v, long long *out)
{
    double d;
    if (!json_number(v, &d) || !isfinite(d) || d != floor(d) || fabs(d) > 9007199254740992.0) return false;
    *out = (long long)d;
    return true;
}

static void append_number(const struct json *v, struct buf *out)
{
    long long n;
    double d = 0;
    if (number_as_integer(v, &n)) buf_printf(out, "%lld", n);
    else if (json_number(v, &d)) buf_printf(out, "%.17g", d);
}

/* Text for a terminal: control characters (a peer could put ESC in a
 * name) become '?'. */
static void append_printable(const char *s, struct buf *out)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        buf_append(out, c < 0x20 || c == 0x7f ? "?" : s, 1);
    }
}

/* A scalar as plain text ("" for null, "yes"/"no" style left to callers). */
static void append_scalar(const struct json *v, struct buf *out)
{
    bool b;
    if (json_string(v)) append_printable(json_string(v), out);
    else if (json_bool(v, &b)) buf_puts(out, b ? "1" : "0");
    else if (json_type(v) == JSON_NUMBER) append_number(v, out);
}

static void append_cell(const struct json *v, enum cell_kind kind, struct buf *out)
{
    bool b = false;
    long long n = 0;
    switch (kind) {
    case CELL_YESNO:
        json_bool(v, &b);
        buf_puts(out, b ? "yes" : "no");
        break;
    case CELL_RUNNING:
        json_bool(v, &b);
        buf_puts(out, b ? "running" : "stopped");
        break;
    case CELL_DURATION:
        if (number_as_integer(v, &n)) ctlcmd_format_duration(n, out);
        break;
    case CELL_LIST:
        for (size_t i = 0; i < json_array_len(v); i++) {
            if (i) buf_puts(out, ",");
            append_scalar(json_array_at(v, i), out);
        }
        break;
    case CELL_TEXT:
    case CELL_NUMBER:
        append_scalar(v, out);
        break;
    }
}

/* Display width: UTF-8 code points (not continuation bytes). */
static size_t text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++) w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

static size_t column_count(const struct ctl_column *cols)
{
    size_t n = 0;
    while (cols[n].title) n++;
    return n;
}

/* The cells of the rows (objects) as text; cells[r * n + c], row 0 the
 * titles. */
static char **table_cells(const struct ctl_column *cols, size_t n, const struct json *const *rows,
                          size_t n_rows)
{
    char **cells = xcalloc((n_rows + 1) * n, sizeof *cells);
    for (size_t c = 0; c < n; c++) cells[c] = xstrdup(cols[c].title);
    struct buf b;
    buf_init(&b);
    for (size_t r = 0; r < n_rows; r++) {
        const struct json *row = rows[r];
        for (size_t c = 0; c < n; c++) {
            buf_reset(&b);
            append_cell(json_get(row, cols[c].key), cols[c].kind, &b);
            cells[(r + 1) * n + c] = xstrdup(b.len ? b.data : "");
        }
    }
    buf_free(&b);
    return cells;
}

/* Columns separated by two spaces, each padded to its widest cell (the
 * last one not padded). */
static void print_table(const struct ctl_column *cols, const struct json *const *rows, size_t n_rows,
                        struct buf *out)
{
    size_t n = column_count(cols);
    char **cells = table_cells(cols, n, rows, n_rows);
    size_t *width = xcalloc(n, sizeof *width);
    for (size_t i = 0; i < (n_rows + 1) * n; i++)
        if (text_width(cells[i]) > width[i % n]) width[i % n] = text_width(cells[i]);
    for (size_t r = 0; r <= n_rows; r++) {
        for (size_t c = 0; c < n; c++) {
            const char *cell = cells[r * n + c];
            buf_puts(out, cell);
            if (c + 1 < n)
                for (size_t pad = text_width(cell); pad < width[c] + 2; pad++) buf_puts(out, " ");
        }
        while (out->len && out->data[out->len - 1] == ' ') out->data[--out->len] = '\0';
        buf_puts(out, "\n");
    }
    for (size_t i = 0; i < (n_rows + 1) * n; i++) free(cells[i]);
    free(cells);
    free(width);
}

static void render_table(const struct ctl_invocation *inv, const struct json *result, struct buf *out)
{
    size_t n = json_array_len(result);
    const struct json **rows = xcalloc(n ? n : 1, sizeof *rows);
    for (size_t i = 0; i < n; i++) rows[i] = json_array_at(result, i);
    print_table(inv->command->columns, rows, n, out);
    free(rows);
}

/* A result that is one row of the command's table (service stop/start). */
static void render_row(const struct ctl_invocation *inv, const struct json *result, struct buf *out)
{
    print_table(inv->command->columns, &result, 1, out);
}

/* name  value, aligned (settings). */
static void render_settings(const struct ctl_invocation *inv, const struct json *result, struct buf *out)
{
    (void)inv;
    size_t width = 0;
    for (size_t i = 0; i < json_object_len(result); i++)
        if (strlen(json_object_key_at(result, i)) > width) width = strlen(json_object_key_at(result, i));
    for (size_t i = 0; i < json_object_len(result); i++) {
        buf_printf(out, "%-*s  ", (int)width, json_object_key_at(result, i));
        append_scalar(json_object_value_at(result, i), out);
        buf_puts(out, "\n");
    }
}

/* What the command acted on: the JID, or NAME@DOMAIN. */
static void append_target(const struct ctl_invocation *inv, struct buf *out)
{
    const char *jid = ctlcmd_arg(inv, "jid");
    if (jid) append_printable(jid, out);
    else {
        append_printable(ctlcmd_arg(inv, "name") ? ctlcmd_arg(inv, "name") : "", out);
        buf_puts(out, "@");
        append_printable(ctlcmd_arg(inv, "domain") ? ctlcmd_arg(inv, "domain") : "", out);
    }
}

static void render_done(const struct ctl_invocation *inv, const struct json *result, struct buf *out)
{
    (void)result;
    const char *format = inv->command->done;
    const char *mark = strstr(format, "%s");
    buf_append(out, format, (size_t)(mark - format));
    append_target(inv, out);
    buf_printf(out, "%s\n", mark + 2);
}

static void render_kick(const struct ctl_invocation *inv, const struct json *result, struct buf *out)
{
    long long n = 0;
    number_as_integer(json_get(result, "sessions"), &n);
    append_target(inv, out);
    buf_printf(out, ": %lld session%s ended\n", n, n == 1 ? "" : "s");
}

static void render_members(const struct ctl_invocation *inv, const struct json *result, struct buf *out)
{
    const struct json *members = json_get(result, "members");
    append_target(inv, out);
    buf_puts(out, ":");
    for (size_t i = 0; i < json_array_len(members); i++) {
        buf_puts(out, " ");
        append_scalar(json_array_at(members, i), out);
    }
    if (json_array_len(members) == 0) buf_puts(out, " (no members)");
    buf_puts(out, "\n");
}

static void render_reload(const struct ctl_invocation *inv, const struct json *result, struct buf *out)
{
    (void)inv;
    long long n = 0;
    number_as_integer(json_get(result, "users"), &n);
    buf_printf(out, "reloaded users.cfg: %lld user%s\n", n, n == 1 ? "" : "s");
}

/* "OK", "FAILED", "WARNING", "SKIPPED" for a check's status. */
static const char *status_word(const char *status)
{
    static const char *const words[][2] = {
        { "ok", "OK" }, { "failed", "FAILED" }, { "warning", "WARNING" }, { "skipped", "SKIPPED" },
    };
    for (size_t i = 0; status && i < sizeof words / sizeof words[0]; i++)
        if (strcmp(status, words[i][0]) == 0) return words[i][1];
    return "?";
}

/* ADM-6: one line per check, "STATUS  domain  check  detail; hint", the
 * columns aligned. */
static void render_check(const struct ctl_invocation *inv, const struct json *result, struct buf *out)
{
    (void)inv;
    const struct json *checks = json_get(result, "checks");
    size_t n = json_array_len(checks), domain_width = 0, check_width = 0;
    for (size_t i = 0; i < n; i++) {
        const struct json *c = json_array_at(checks, i);
        const char *domain = json_string(json_get(c, "domain")), *check = json_string(json_get(c, "check"));
        if (domain && text_width(domain) > domain_width) domain_width = text_width(domain);
        if (check && text_width(check) > check_width) check_width = text_width(check);
    }
    for (size_t i = 0; i < n; i++) {
        const struct json *c = json_array_at(checks, i);
        const char *status = json_string(json_get(c, "status")), *hint = json_string(json_get(c, "hint"));
        buf_printf(out, "%-8s", status_word(status));
        const struct json *cells[] = { json_get(c, "domain"), json_get(c, "check") };
        const size_t widths[] = { domain_width, check_width };
        for (size_t k = 0; k < 2; k++) {
            size_t cell_start = out->len;
            append_scalar(cells[k], out);
            for (size_t pad = text_width(out->data + cell_start); pad < widths[k] + 2; pad++) buf_puts(out, " ");
        }
        append_scalar(json_get(c, "detail"), out);
        if (hint) {
            buf_puts(out, "; ");
            append_printable(hint, out);
        }
        buf_puts(out, "\n");
    }
}

/* Indented JSON of any value. */
static void append_json(const struct json *v, unsigned indent, struct buf *out)
{
    enum json_type t = json_type(v);
    bool is_object = t == JSON_OBJECT;
    size_t n = is_object ? json_object_len(v) : json_array_len(v);
    if (t != JSON_OBJECT && t != JSON_ARRAY) {
        struct jsonw w;
        jsonw_init(&w, out);
        bool b;
        if (t == JSON_STRING) jsonw_string(&w, json_string(v));
        else if (t == JSON_BOOL && json_bool(v, &b)) jsonw_bool(&w, b);
        else if (t == JSON_NUMBER) append_number(v, out);
        else jsonw_null(&w);
        return;
    }
    buf_puts(out, is_object ? "{" : "[");
    for (size_t i = 0; i < n; i++) {
        buf_printf(out, "%s\n%*s", i ? "," : "", (int)(indent + 2), "");
        if (is_object) {
            struct jsonw w;
            jsonw_init(&w, out);
            jsonw_string(&w, json_object_key_at(v, i));
            buf_puts(out, ": ");
        }
        append_json(is_object ? json_object_value_at(v, i) : json_array_at(v, i), indent + 2, out);
    }
    if (n) buf_printf(out, "\n%*s", (int)indent, "");
    buf_puts(out, is_object ? "}" : "]");
}

void ctlcmd_render(const struct ctl_invocation *inv, const struct json *result, struct buf *out)
{
    if (inv->json || !inv->command->render) {
        append_json(result, 0, out);
        buf_puts(out, "\n");
        return;
    }
    inv->command->render(inv, result, out);
}

static void render_export(const struct ctl_invocation *inv, const struct json *result, struct buf *out)
{
    (void)inv;
    double messages = 0, files = 0, skipped = 0;
    json_number(json_get(result, "messages"), &messages);
    json_number(json_get(result, "files"), &files);
    json_number(json_get(result, "skipped"), &skipped);
    buf_printf(out, "exported %.0f messages of %s to %s from %.0f day files", messages,
               json_string(json_get(result, "from")), json_string(json_get(result, "to")), files);
    if (skipped > 0) buf_printf(out, " (%.0f unreadable lines skipped)", skipped);
    buf_printf(out, " to %s\n", json_string(json_get(result, "output")));
}
