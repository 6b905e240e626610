#include "firstrun.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "cfgfile.h"
#include "directory.h"
#include "scram.h"
#include "tls.h"

#define DEMO_DOMAIN "localhost"

static const char default_mailserver_cfg[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
    "<config>\n"
    "  <table name=\"InstantMessaging\">\n"
    "    <variable name=\"SendOutside\">0</variable>\n"
    "    <variable name=\"MaximumRoster\">300</variable>\n"
    "  </table>\n"
    "  <table name=\"Security\">\n"
    "    <variable name=\"SecurityPolicy\">NoRestrictions</variable>\n"
    "    <variable name=\"ScramIterations\">10000</variable>\n"
    "  </table>\n"
    "  <table name=\"Paths\">\n"
    "    <variable name=\"UsersFile\">users.cfg</variable>\n"
    "    <variable name=\"StorePath\">store</variable>\n"
    "    <variable name=\"LogPath\">logs</variable>\n"
    "    <variable name=\"Certificate\">cert.pem</variable>\n"
    "    <variable name=\"PrivateKey\">key.pem</variable>\n"
    "  </table>\n"
    "  <list name=\"Domain\">\n"
    "    <listitem>\n"
    "      <variable name=\"Name\">" DEMO_DOMAIN "</variable>\n"
    "      <variable name=\"IMEnabled\">1</variable>\n"
    "    </listitem>\n"
    "  </list>\n"
    "  <list name=\"Service\">\n"
    "    <listitem>\n"
    "      <variable name=\"Id\">xmpp</variable>\n"
    "      <variable name=\"Startup\">Automatic</variable>\n"
    "      <variable name=\"Listen\">127.0.0.1:5222</variable>\n"
    "      <variable name=\"MaxConnections\">0</variable>\n"
    "    </listitem>\n"
    "    <listitem>\n"
    "      <variable name=\"Id\">xmpps</variable>\n"
    "      <variable name=\"Startup\">Automatic</variable>\n"
    "      <variable name=\"Listen\">127.0.0.1:5223</variable>\n"
    "      <variable name=\"MaxConnections\">0</variable>\n"
    "    </listitem>\n"
    "  </list>\n"
    "</config>\n";

static int write_file(const char *path, const char *data, mode_t mode, struct buf *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        buf_printf(err, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t len = strlen(data), off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            buf_printf(err, "%s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        off += (size_t)w;
    }
    if (fsync(fd) < 0 || close(fd) < 0) {
        buf_printf(err, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* A random password of 16 letters and digits. */
static void random_password(char out[17])
{
    static const char alphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof raw) != 1) abort();
    for (size_t i = 0; i < 16; i++) out[i] = alphabet[raw[i] % (sizeof alphabet - 1)];
    out[16] = '\0';
}

static int add_demo_user(struct cfgfile *users, const char *node, const char *full_name,
                         const char *password, struct buf *err)
{
    char *stored = scram_hash_password(password, SCRAM_DEFAULT_ITERATIONS);
    if (!stored) {
        buf_puts(err, "cannot hash the demo password");
        return -1;
    }
    char email[128];
    snprintf(email, sizeof email, "%s@%s", node, DEMO_DOMAIN);
    int rc = directory_append_user(users, node, DEMO_DOMAIN, full_name, email, stored);
    free(stored);
    if (rc < 0) buf_puts(err, "cannot write the demo account");
    return rc;
}

static int create_demo_accounts(const char *dir, struct buf *err)
{
    static const struct { const char *node, *name; } demo[] = {
        { "alice", "Alice Demo" },
        { "bob", "Bob Demo" },
    };
    struct cfgfile *users = cfgfile_new();
    struct buf logins;
    buf_init(&logins);
    int rc = 0;
    for (size_t i = 0; i < sizeof demo / sizeof demo[0] && rc == 0; i++) {
        char password[17];
        random_password(password);
        rc = add_demo_user(users, demo[i].node, demo[i].name, password, err);
        buf_printf(&logins, "%s@%s %s\n", demo[i].node, DEMO_DOMAIN, password);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/users.cfg", dir);
    if (rc == 0) rc = cfgfile_save(users, path, err);
    snprintf(path, sizeof path, "%s/demo-accounts.txt", dir);
    if (rc == 0) rc = write_file(path, logins.data, 0600, err);
    cfgfile_free(users);
    buf_free(&logins);
    return rc;
}

int firstrun_init(const char *dir, bool *created, struct buf *err)
{
    *created = false;
    char path[4096], key[4096];
    snprintf(path, sizeof path, "%s/mailserver.cfg", dir);
    if (access(path, F_OK) == 0) return 0;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        buf_printf(err, "%s: %s", dir, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    if (tls_make_self_signed(DEMO_DOMAIN, path, key, 825, err) < 0) return -1;
    if (create_demo_accounts(dir, err) < 0) return -1;
    /* mailserver.cfg last: its presence means the default is complete. */
    snprintf(path, sizeof path, "%s/mailserver.cfg", dir);
    if (write_file(path, default_mailserver_cfg, 0600, err) < 0) return -1;
    *created = true;
    return 0;
}

void firstrun_print_logins(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/demo-accounts.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[512];
    printf("Demo accounts (jid password), from %s:\n", path);
    while (fgets(line, sizeof line, f)) printf("  %s", line);
    fclose(f);
}
