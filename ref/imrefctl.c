/* imrefctl: the admin command (minimal for now; SPEC ADM-4, AUTH-2, CFG-2).
 *   imrefctl hash-password PW        prints the stored SCRAM form
 *   imrefctl --dir DIR user add JID --password PW [--name N] [--email E]
 * `user add` edits users.cfg (Paths/UsersFile of DIR/mailserver.cfg, else
 * DIR/users.cfg) atomically while the server is stopped.
 * Exit status: 0 done, 1 refused or failed, 2 usage error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cfgfile.h"
#include "config.h"
#include "directory.h"
#include "jid.h"
#include "scram.h"

enum { EXIT_REFUSED = 1, EXIT_USAGE = 2 };

static const char usage_text[] =
    "usage: imrefctl [--dir DIR] hash-password PASSWORD\n"
    "       imrefctl --dir DIR user add JID --password PASSWORD [--name \"Full Name\"] [--email ADDRESS]\n"
    "       imrefctl --help\n"
    "\n"
    "  hash-password  print the stored form of PASSWORD (SCRAM keys), with the\n"
    "                 ScramIterations of DIR/mailserver.cfg if given, else 10000\n"
    "  user add       add an account to the server's users.cfg (stop the server first)\n";

static int usage_error(const char *problem)
{
    fprintf(stderr, "imrefctl: %s\n%s", problem, usage_text);
    return EXIT_USAGE;
}

/* The server's settings that the commands need: from DIR/mailserver.cfg if
 * it exists, else the defaults. */
struct settings {
    struct server_config *cfg;  /* NULL: no mailserver.cfg */
    unsigned scram_iterations;
    char *users_path;
};

static int settings_load(const char *dir, struct settings *out)
{
    out->cfg = NULL;
    out->scram_iterations = SCRAM_DEFAULT_ITERATIONS;
    out->users_path = NULL;
    if (!dir) return 0;
    struct buf path;
    buf_init(&path);
    buf_printf(&path, "%s/%s", dir, CONFIG_FILE_NAME);
    struct stat st;
    bool have_config = stat(path.data, &st) == 0;
    buf_reset(&path);
    if (have_config) {
        if (config_load(dir, &out->cfg, &path) != 0) {
            fprintf(stderr, "imrefctl: %s\n", path.data);
            buf_free(&path);
            return -1;
        }
        out->scram_iterations = out->cfg->scram_iterations;
        out->users_path = xstrdup(out->cfg->users_path);
    } else {
        buf_printf(&path, "%s/%s", dir, USERS_FILE_NAME);
        out->users_path = buf_steal(&path);
    }
    buf_free(&path);
    return 0;
}

static void settings_free(struct settings *s)
{
    config_free(s->cfg);
    free(s->users_path);
}

/* AUTH-2 */
static int cmd_hash_password(const char *dir, int argc, char **argv)
{
    if (argc != 1) return usage_error("hash-password takes one PASSWORD");
    struct settings s;
    if (settings_load(dir, &s) != 0) return EXIT_REFUSED;
    char *stored = scram_hash_password(argv[0], s.scram_iterations);
    settings_free(&s);
    if (!stored) {
        fputs("imrefctl: the password is not valid (it fails SASLprep)\n", stderr);
        return EXIT_REFUSED;
    }
    puts(stored);
    free(stored);
    return 0;
}

struct user_add_args {
    const char *jid, *password, *name, *email;
};

/* NULL, or what is wrong with the arguments. */
static const char *parse_user_add(int argc, char **argv, struct user_add_args *a)
{
    *a = (struct user_add_args){ .name = "", .email = "" };
    for (int i = 0; i < argc; i++) {
        const char **slot = strcmp(argv[i], "--password") == 0 ? &a->password
                          : strcmp(argv[i], "--name") == 0     ? &a->name
                          : strcmp(argv[i], "--email") == 0    ? &a->email
                                                               : NULL;
        if (slot && i + 1 >= argc) return "--password, --name and --email need a value";
        if (slot) *slot = argv[++i];
        else if (argv[i][0] != '-' && !a->jid) a->jid = argv[i];
        else return "unexpected argument to user add";
    }
    if (!a->jid) return "user add needs a JID";
    if (!a->password) return "user add needs --password";
    return NULL;
}

/* Reads users.cfg (an empty document if absent); refuses an existing account. */
static int load_users_for_add(const char *path, const struct jid *jid, struct cfgfile **out)
{
    struct buf err;
    buf_init(&err);
    struct directory *dir = NULL;
    int rc = directory_load(path, &dir, &err);
    if (rc == 0 && directory_find_user(dir, jid->node, jid->domain)) {
        fprintf(stderr, "imrefctl: user %s@%s already exists in %s\n", jid->node, jid->domain, path);
        rc = -1;
    } else if (rc == 0 && access(path, F_OK) == 0) {
        rc = cfgfile_load(path, out, &err);
    } else if (rc == 0) {
        *out = cfgfile_new();
    }
    if (rc != 0 && err.len) fprintf(stderr, "imrefctl: %s\n", err.data);
    directory_free(dir);
    buf_free(&err);
    return rc;
}

/* ADM-4, CFG-2 */
static int cmd_user_add(const char *dir, int argc, char **argv)
{
    struct user_add_args a;
    const char *problem = parse_user_add(argc, argv, &a);
    if (problem) return usage_error(problem);
    struct jid jid;
    if (jid_parse(a.jid, &jid) != 0 || !jid.node || jid.resource) {
        jid_clear(&jid);
        fprintf(stderr, "imrefctl: '%s' is not a valid user JID (name@domain)\n", a.jid);
        return EXIT_REFUSED;
    }
    struct settings s;
    struct cfgfile *users = NULL;
    char *stored = NULL;
    int status = EXIT_REFUSED;
    struct buf err;
    buf_init(&err);
    if (settings_load(dir, &s) != 0) goto done;
    if (s.cfg && !config_find_domain(s.cfg, jid.domain))
        fprintf(stderr, "imrefctl: note: domain %s is not in %s\n", jid.domain, s.cfg->path);
    if (load_users_for_add(s.users_path, &jid, &users) != 0) goto done;
    stored = scram_hash_password(a.password, s.scram_iterations);
    if (!stored) {
        fputs("imrefctl: the password is not valid (it fails SASLprep)\n", stderr);
    } else if (directory_append_user(users, jid.node, jid.domain, a.name, a.email, stored) != 0) {
        fputs("imrefctl: --name and --email must be valid UTF-8 without control characters\n",
              stderr);
    } else if (cfgfile_save(users, s.users_path, &err) != 0) {
        fprintf(stderr, "imrefctl: %s\n", err.data);
    } else {
        printf("imrefctl: added %s@%s to %s\n", jid.node, jid.domain, s.users_path);
        status = 0;
    }
done:
    free(stored);
    cfgfile_free(users);
    settings_free(&s);
    buf_free(&err);
    jid_clear(&jid);
    return status;
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--dir") != 0 || i + 1 >= argc)
            return usage_error(strcmp(argv[i], "--dir") == 0 ? "--dir needs a value"
                                                             : "unknown option");
        dir = argv[++i];
    }
    if (i >= argc) return usage_error("no command");
    if (strcmp(argv[i], "hash-password") == 0) return cmd_hash_password(dir, argc - i - 1, argv + i + 1);
    if (strcmp(argv[i], "user") == 0 && i + 1 < argc && strcmp(argv[i + 1], "add") == 0) {
        if (!dir) return usage_error("user add needs --dir DIR");
        return cmd_user_add(dir, argc - i - 2, argv + i + 2);
    }
    return usage_error("unknown command");
}
