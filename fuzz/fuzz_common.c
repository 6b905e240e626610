#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <expat.h>
#include <ftw.h>
#include <limits.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "c2s.h"
#include "colleagues.h"
#include "config.h"
#include "directory.h"
#include "hammer.h"
#include "log.h"
#include "resolver.h"
#include "s2s.h"
#include "sasl.h"
#include "scram.h"
#include "server.h"
#include "service.h"
#include "session.h"
#include "store.h"

__attribute__((weak)) void fuzz_init(void)
{
}

_Noreturn void fuzz_fail(const char *what)
{
    fprintf(stderr, "fuzz: invariant broken: %s\n", what);
    abort();
}

/* ---- logs ------------------------------------------------------------------ */

/* Log lines go to files that are links to /dev/null; the links and their
 * directory are removed once the files are open. */
void fuzz_silence_logs(const char *name)
{
    static const char *const files[] = { "warning.log", "error.log", "security.log",
                                         "config.log", "debug.log" };
    char dir[256];
    snprintf(dir, sizeof dir, "/tmp/fuzz_%s_log.XXXXXX", name);
    if (!mkdtemp(dir)) abort();
    char path[sizeof dir + 32];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        if (symlink("/dev/null", path) != 0) abort();
    }
    if (log_open(dir, false) != 0) abort();
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* ---- the input as a file ---------------------------------------------------- */

/* Created and unlinked at once (so that nothing is left behind, even by a
 * killed process) and read through /proc/self/fd. */
static int input_fd = -1;
static char input_path[64];

const char *fuzz_input_file(const char *name)
{
    if (input_fd >= 0) return input_path;
    char tmpl[256];
    snprintf(tmpl, sizeof tmpl, "/tmp/fuzz_%s.XXXXXX", name);
    input_fd = mkstemp(tmpl);
    if (input_fd < 0) abort();
    unlink(tmpl);
    snprintf(input_path, sizeof input_path, "/proc/self/fd/%d", input_fd);
    return input_path;
}

void fuzz_write_input_file(const uint8_t *data, size_t len)
{
    if (ftruncate(input_fd, 0) != 0) abort();
    if (len && pwrite(input_fd, data, len, 0) != (ssize_t)len) abort();
}

/* ---- scratch directories ---------------------------------------------------- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(path);
}

void fuzz_remove_tree(const char *path)
{
    nftw(path, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static const char *scratch_base(void)
{
    if (access("/dev/shm", W_OK) == 0) return "/dev/shm";   /* no fsync cost for a store */
    const char *t = getenv("TMPDIR");
    return t && *t ? t : "/tmp";
}

/* Removes the directories of earlier runs whose process is gone (an AFL++
 * campaign ends its children with SIGKILL, so their atexit never ran). */
static void remove_stale(const char *base, const char *prefix)
{
    DIR *d = opendir(base);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0) continue;
        long pid = strtol(e->d_name + strlen(prefix), NULL, 10);
        if (pid <= 0 || (kill((pid_t)pid, 0) < 0 && errno == ESRCH)) {
            char path[512];
            snprintf(path, sizeof path, "%s/%s", base, e->d_name);
            fuzz_remove_tree(path);
        }
    }
    closedir(d);
}

void fuzz_make_scratch_dir(const char *prefix, char *dir, size_t size)
{
    const char *base = scratch_base();
    remove_stale(base, prefix);
    snprintf(dir, size, "%s/%s%ld-XXXXXX", base, prefix, (long)getpid());
    if (!mkdtemp(dir)) fuzz_fail("mkdtemp");
}

void fuzz_write_text(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) fuzz_fail("cannot write the scratch configuration");
}

/* ---- the fixed in-process server --------------------------------------------- */

#define IDLE_TURNS 3          /* quiet loop turns that mean "all consumed" */
#define MAX_CLOSE_TURNS 1000  /* loop turns for the c2s to go after hang-up */

static const char *const fixed_accounts[] = { FUZZ_ALICE, FUZZ_BOB };

static struct {
    bool ready;
    pid_t owner;               /* the process that made dir (removes it at exit) */
    char dir[256];
    struct server srv;
    struct service *xmpp;
} fixed;

static const char fixed_mailserver_cfg[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<config>\n"
    "<table name=\"InstantMessaging\"><variable name=\"SendOutside\">0</variable>"
    "<variable name=\"MaximumRoster\">300</variable></table>\n"
    "<table name=\"DNS\"><variable name=\"Server\">127.0.0.1:9</variable>"
    "<variable name=\"Timeout\">1</variable></table>\n"
    "<table name=\"Security\"><variable name=\"SecurityPolicy\">NoRestrictions</variable>"
    "<variable name=\"ScramIterations\">4096</variable></table>\n"
    "<table name=\"Limits\"><variable name=\"ReadRate\">0</variable></table>\n"
    "<table name=\"Paths\"><variable name=\"UsersFile\">users.cfg</variable>"
    "<variable name=\"StorePath\">store</variable><variable name=\"LogPath\">logs</variable>"
    "<variable name=\"CAFile\"></variable></table>\n"
    "<table name=\"Log\"><variable name=\"Debug\">0</variable></table>\n"
    "<list name=\"Domain\"><listitem><variable name=\"Name\">localhost</variable>"
    "<variable name=\"IMEnabled\">1</variable></listitem></list>\n"
    "<list name=\"Service\"><listitem><variable name=\"Id\">xmpp</variable>"
    "<variable name=\"Startup\">Manual</variable><variable name=\"Listen\">127.0.0.1:5222</variable>"
    "</listitem></list>\n</config>\n";

static void append_user(struct buf *b, const char *name, const char *full_name)
{
    char password[64];
    snprintf(password, sizeof password, "%s-secret", name);
    char *stored = scram_hash_password(password, SCRAM_MIN_ITERATIONS);
    if (!stored) fuzz_fail("scram_hash_password");
    buf_printf(b, "<listitem><variable name=\"Name\">%s</variable><variable name=\"Domain\">localhost</variable>"
                  "<variable name=\"FullName\">%s</variable><variable name=\"Password\">%s</variable>"
                  "</listitem>\n", name, full_name, stored);
    free(stored);
}

static void write_fixed_users(void)
{
    struct buf b;
    buf_init(&b);
    buf_puts(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<config><list name=\"User\">\n");
    append_user(&b, "alice", "Alice Example");
    append_user(&b, "bob", "Bob Example");
    buf_puts(&b, "</list></config>\n");
    fuzz_write_text(fixed.dir, "users.cfg", b.data);
    buf_free(&b);
}

static void fixed_cleanup(void)
{
    if (!fixed.ready || getpid() != fixed.owner) return;
    struct server *srv = &fixed.srv;
    c2s_abort_all();
    for (int i = 0; i < MAX_CLOSE_TURNS && c2s_any(); i++) ev_run(srv->loop, EVRUN_NOWAIT);
    service_free(fixed.xmpp);
    sessions_free(srv->sessions);
    resolver_free(srv->resolver);
    hammer_free(srv->hammer);
    store_close(srv->store);
    colleagues_free(srv->colleagues);
    directory_free(srv->dir);
    config_free(srv->cfg);
    sasl_global_done();
    log_close();
    fuzz_remove_tree(fixed.dir);
    fixed.ready = false;
}

static void fixed_setup(const char *prefix)
{
    signal(SIGPIPE, SIG_IGN);
    fuzz_make_scratch_dir(prefix, fixed.dir, sizeof fixed.dir);
    fixed.owner = getpid();
    fuzz_write_text(fixed.dir, "mailserver.cfg", fixed_mailserver_cfg);
    write_fixed_users();

    struct server *srv = &fixed.srv;
    struct buf err;
    buf_init(&err);
    srv->loop = EV_DEFAULT;
    if (sasl_global_init() < 0) fuzz_fail("sasl_global_init");
    if (config_load(fixed.dir, &srv->cfg, &err) < 0) fuzz_fail(err.data);
    mkdir(srv->cfg->log_path, 0700);
    if (log_open(srv->cfg->log_path, false) < 0) fuzz_fail("log_open");
    struct directory *users = NULL;
    if (directory_load(srv->cfg->users_path, &users, &err) < 0) fuzz_fail(err.data);
    server_set_directory(srv, users);
    if (store_open(srv->cfg->store_path, &srv->store, &err) < 0) fuzz_fail(err.data);
    const struct dns_config *dns = &srv->cfg->dns;
    srv->resolver = resolver_new(srv->loop, dns->server.host, dns->server.port, dns->timeout, &err);
    if (!srv->resolver) fuzz_fail(err.data);
    buf_free(&err);
    scram_set_fake_iterations(srv->cfg->scram_iterations);
    srv->sessions = sessions_new();
    srv->hammer = hammer_new(&srv->cfg->antihammer, &srv->cfg->lockout);
    srv->started = ev_now(srv->loop);
    srv->info = (struct iqinfo_server){ .name = IMREF_NAME, .version = IMREF_VERSION,
                                        .started_unix = (long long)time(NULL) };
    s2s_init();
    const struct service_config *sc = config_find_service(srv->cfg, "xmpp");
    if (!sc) fuzz_fail("no xmpp service in the configuration");
    fixed.xmpp = service_new(srv, sc, c2s_accept);
    fixed.ready = true;
    atexit(fixed_cleanup);
}

struct server *fuzz_fixed_server(const char *prefix)
{
    if (!fixed.ready) fixed_setup(prefix);
    return &fixed.srv;
}

void fuzz_fixed_server_reset_store(void)
{
    struct store *st = fixed.srv.store;
    for (size_t a = 0; a < sizeof fixed_accounts / sizeof *fixed_accounts; a++) {
        const char *user = fixed_accounts[a];
        struct roster_item *items = NULL;
        size_t n = 0;
        unsigned long long version;
        if (store_roster_get(st, user, &items, &n, &version) < 0) fuzz_fail("store_roster_get");
        for (size_t i = 0; i < n; i++)
            if (store_roster_delete(st, user, items[i].jid, &version) < 0) fuzz_fail("store_roster_delete");
        roster_items_free(items, n);
        struct colleague_override *ovs = NULL;
        if (store_override_list(st, user, &ovs, &n) < 0) fuzz_fail("store_override_list");
        colleague_overrides_free(ovs, n);
        if (n && store_override_clear(st, user, &version) < 0) fuzz_fail("store_override_clear");
        if (store_offline_count(st, user) && store_offline_delete_upto(st, user, LLONG_MAX) < 0)
            fuzz_fail("store_offline_delete_upto");
    }
}

/* ---- client streams ------------------------------------------------------------ */

void fuzz_client_open(struct fuzz_client *c)
{
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0) fuzz_fail("socketpair");
    struct sockaddr_storage peer = { 0 };
    struct sockaddr_in *sin = (struct sockaddr_in *)&peer;
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin->sin_port = htons(40000);
    c2s_accept(&fixed.srv, fixed.xmpp, fds[0], &peer, false);
    c->fd = fds[1];
    buf_init(&c->out);
    c->over = false;
}

void fuzz_login_script(struct buf *script, const char *node, const char *resource)
{
    struct buf auth;
    buf_init(&auth);
    buf_printf(&auth, "%c%s%c%s-secret", 0, node, 0, node);
    char *b64 = scram_base64_encode(auth.data, auth.len);
    buf_free(&auth);
    static const char header[] =
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
        "to='localhost' version='1.0'>";
    buf_printf(script, "<?xml version='1.0'?>%s"
                       "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>"
                       "%s<iq type='set' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                       "<resource>%s</resource></bind></iq>", header, b64, header, resource);
    free(b64);
}

/* Reads what the server wrote; true if anything came. */
static bool drain(struct fuzz_client *c)
{
    bool got = false;
    char chunk[16384];
    ssize_t n;
    while ((n = recv(c->fd, chunk, sizeof chunk, MSG_DONTWAIT)) > 0) {
        got = true;
        if (c->out.len + (size_t)n > FUZZ_MAX_OUTPUT) c->over = true;
        if (!c->over) buf_append(&c->out, chunk, (size_t)n);
    }
    return got;
}

static size_t unread_by_server(int fd)
{
    int queued = 0;
    if (ioctl(fd, SIOCOUTQ, &queued) < 0) return 0;
    return queued > 0 ? (size_t)queued : 0;
}

bool fuzz_exchange(struct fuzz_client *clients, size_t n, size_t sender, const char *data, size_t len,
                   int max_turns)
{
    size_t sent = 0;
    int fd = clients[sender].fd, idle = 0;
    for (int turn = 0; turn < max_turns; turn++) {
        if (!c2s_any()) return true;
        if (sent < len) {
            ssize_t k = send(fd, data + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (k > 0) sent += (size_t)k;
            else if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK) sent = len;   /* server hung up */
        }
        ev_run(fixed.srv.loop, EVRUN_NOWAIT);
        bool got = false;
        for (size_t i = 0; i < n; i++) got |= drain(&clients[i]);
        if (sent == len && !got && unread_by_server(fd) == 0) {
            if (++idle >= IDLE_TURNS) return true;
        } else {
            idle = 0;
        }
    }
    return false;
}

void fuzz_clients_close(struct fuzz_client *clients, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        close(clients[i].fd);
        buf_free(&clients[i].out);
    }
    for (int turn = 0; turn < MAX_CLOSE_TURNS && c2s_any(); turn++) ev_run(fixed.srv.loop, EVRUN_NOWAIT);
    FUZZ_ASSERT(!c2s_any());
    for (size_t a = 0; a < sizeof fixed_accounts / sizeof *fixed_accounts; a++)
        FUZZ_ASSERT(sessions_of(fixed.srv.sessions, fixed_accounts[a]) == NULL);
}

/* ---- the output oracle -------------------------------------------------------- */

struct doc_state {
    int depth;
    bool root_closed;
};

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    (void)name, (void)attrs;
    ((struct doc_state *)ud)->depth++;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    (void)name;
    struct doc_state *s = ud;
    if (--s->depth == 0) s->root_closed = true;
}

/* One stream's output: a document, closed here if the server left it open. */
static void check_document(const char *data, size_t len)
{
    XML_Parser p = XML_ParserCreateNS(NULL, '\x01');
    if (!p) abort();
    struct doc_state s = { 0 };
    XML_SetUserData(p, &s);
    XML_SetElementHandler(p, on_start, on_end);
    bool ok = XML_Parse(p, data, (int)len, 0) == XML_STATUS_OK;
    if (ok && !s.root_closed) ok = XML_Parse(p, "</stream:stream>", 16, 0) == XML_STATUS_OK;
    if (ok) ok = XML_Parse(p, "", 0, 1) == XML_STATUS_OK;
    if (!ok) {
        fprintf(stderr, "fuzz: server output is not XML (%s at byte %ld):\n%.*s\n",
                XML_ErrorString(XML_GetErrorCode(p)), (long)XML_GetCurrentByteIndex(p),
                (int)(len > 4096 ? 4096 : len), data);
        fuzz_fail("the server's output parses as XML");
    }
    XML_ParserFree(p);
}

void fuzz_check_client_output(const char *data, size_t len)
{
    static const char decl[] = "<?xml version='1.0'?>";
    const size_t dlen = sizeof decl - 1;
    FUZZ_ASSERT(len >= dlen && memcmp(data, decl, dlen) == 0);
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *next = memmem(p + dlen, (size_t)(end - p) - dlen, decl, dlen);
        const char *doc_end = next ? next : end;
        check_document(p, (size_t)(doc_end - p));
        p = doc_end;
    }
}

unsigned fuzz_pick(struct fuzz_reader *r, unsigned range)
{
    if (r->n == 0) return 0;
    r->n--;
    return *r->p++ % range;
}

char *fuzz_text(const uint8_t *data, size_t len)
{
    char *text = malloc(len + 1);
    if (!text) abort();
    memcpy(text, data, len);
    text[len] = '\0';
    return text;
}
