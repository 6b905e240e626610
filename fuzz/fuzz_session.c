/* A whole client session (SPEC IM, ROST, BIND, XML): one in-process server
 * from a fixed configuration (domain localhost, users alice and bob,
 * NoRestrictions, SendOutside 0, no listener), and per input one client
 * stream over a socketpair that logs in as alice with PLAIN, binds, then
 * sends the fuzzer's bytes, so they reach the router, roster, presence and
 * iq handlers. Invariants: the bind succeeds; the c2s consumes its input in
 * a bounded number of loop turns; everything the server writes parses as
 * namespace-well-formed XML (one document per stream header); once the
 * client hangs up the c2s and every session are gone. The store is emptied
 * of alice's and bob's rows after each input, so state does not grow. */
#include "fuzz.h"

#include <errno.h>
#include <expat.h>
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

#include "buf.h"
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

#define INPUT_CAP (64 * 1024)
#define MAX_OUTPUT (8 * 1024 * 1024)   /* beyond it the output is not checked */
#define MAX_TURNS 4000                  /* loop turns to consume one input */
#define MAX_CLOSE_TURNS 1000            /* loop turns for the c2s to go after hang-up */
#define IDLE_TURNS 3                    /* quiet turns that mean "all consumed" */
#define TMP_PREFIX "imref-fuzz-session-"

static const char *const accounts[] = { "alice@localhost", "bob@localhost" };

static struct {
    bool ready;
    pid_t owner;               /* the process that made dir (removes it at exit) */
    char dir[256];
    struct server srv;
    struct service *xmpp;
    struct buf prefix;         /* stream header, PLAIN auth, restart, bind */
} fx;

/* ---- the server -------------------------------------------------------------- */

static const char mailserver_cfg[] =
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

static void append_user(struct buf *b, const char *name, const char *full_name, const char *password)
{
    char *stored = scram_hash_password(password, SCRAM_MIN_ITERATIONS);
    if (!stored) fuzz_fail("scram_hash_password");
    buf_printf(b, "<listitem><variable name=\"Name\">%s</variable><variable name=\"Domain\">localhost</variable>"
                  "<variable name=\"FullName\">%s</variable><variable name=\"Password\">%s</variable>"
                  "</listitem>\n", name, full_name, stored);
    free(stored);
}

static void write_users(void)
{
    struct buf b;
    buf_init(&b);
    buf_puts(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<config><list name=\"User\">\n");
    append_user(&b, "alice", "Alice Example", "alice-secret");
    append_user(&b, "bob", "Bob Example", "bob-secret");
    buf_puts(&b, "</list></config>\n");
    fuzz_write_text(fx.dir, "users.cfg", b.data);
    buf_free(&b);
}

static void cleanup(void)
{
    if (!fx.ready || getpid() != fx.owner) return;
    struct server *srv = &fx.srv;
    c2s_abort_all();
    for (int i = 0; i < MAX_CLOSE_TURNS && c2s_any(); i++) ev_run(srv->loop, EVRUN_NOWAIT);
    service_free(fx.xmpp);
    sessions_free(srv->sessions);
    resolver_free(srv->resolver);
    hammer_free(srv->hammer);
    store_close(srv->store);
    colleagues_free(srv->colleagues);
    directory_free(srv->dir);
    config_free(srv->cfg);
    sasl_global_done();
    log_close();
    buf_free(&fx.prefix);
    fuzz_remove_tree(fx.dir);
    fx.ready = false;
}

static void build_prefix(void)
{
    static const char auth[] = "\0alice\0alice-secret";
    char *b64 = scram_base64_encode(auth, sizeof auth - 1);
    static const char header[] =
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
        "to='localhost' version='1.0'>";
    buf_init(&fx.prefix);
    buf_printf(&fx.prefix, "<?xml version='1.0'?>%s"
                           "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>"
                           "%s<iq type='set' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                           "<resource>fuzz</resource></bind></iq>", header, b64, header);
    free(b64);
}

/* As imrefd's start-up, from the fixed configuration, without listeners,
 * TLS or the control socket. Runs in the process that fuzzes (after AFL++'s
 * fork), so the loop and the database are never shared across a fork. */
static void setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    fuzz_make_scratch_dir(TMP_PREFIX, fx.dir, sizeof fx.dir);
    fx.owner = getpid();
    fuzz_write_text(fx.dir, "mailserver.cfg", mailserver_cfg);
    write_users();

    struct server *srv = &fx.srv;
    struct buf err;
    buf_init(&err);
    srv->loop = EV_DEFAULT;
    if (sasl_global_init() < 0) fuzz_fail("sasl_global_init");
    if (config_load(fx.dir, &srv->cfg, &err) < 0) fuzz_fail(err.data);
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
    fx.xmpp = service_new(srv, sc, c2s_accept);
    build_prefix();
    fx.ready = true;
    atexit(cleanup);
}

/* ---- per input state ------------------------------------------------------------ */

/* Deletes every roster, override and offline row of alice and bob. */
static void reset_store(void)
{
    struct store *st = fx.srv.store;
    for (size_t a = 0; a < sizeof accounts / sizeof *accounts; a++) {
        struct roster_item *items = NULL;
        size_t n = 0;
        unsigned long long version;
        if (store_roster_get(st, accounts[a], &items, &n, &version) < 0) fuzz_fail("store_roster_get");
        for (size_t i = 0; i < n; i++)
            if (store_roster_delete(st, accounts[a], items[i].jid, &version) < 0) fuzz_fail("store_roster_delete");
        roster_items_free(items, n);
        struct colleague_override *ovs = NULL;
        if (store_override_list(st, accounts[a], &ovs, &n) < 0) fuzz_fail("store_override_list");
        colleague_overrides_free(ovs, n);
        if (n && store_override_clear(st, accounts[a], &version) < 0) fuzz_fail("store_override_clear");
        if (store_offline_count(st, accounts[a]) && store_offline_delete_upto(st, accounts[a], LLONG_MAX) < 0)
            fuzz_fail("store_offline_delete_upto");
    }
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

/* The server's bytes: one document per stream header (the restart after
 * SASL begins a new one). */
static void check_output(const char *data, size_t len)
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

/* ---- one session ------------------------------------------------------------------- */

/* Reads what the server wrote; true if anything came. */
static bool drain(int fd, struct buf *out, bool *over)
{
    bool got = false;
    char chunk[16384];
    ssize_t n;
    while ((n = recv(fd, chunk, sizeof chunk, MSG_DONTWAIT)) > 0) {
        got = true;
        if (out->len + (size_t)n > MAX_OUTPUT) *over = true;
        if (!*over) buf_append(out, chunk, (size_t)n);
    }
    return got;
}

static size_t unread_by_server(int fd)
{
    int queued = 0;
    if (ioctl(fd, SIOCOUTQ, &queued) < 0) return 0;
    return queued > 0 ? (size_t)queued : 0;
}

int fuzz_one(const uint8_t *data, size_t len)
{
    if (!fx.ready) setup();
    struct server *srv = &fx.srv;
    if (len > INPUT_CAP) len = INPUT_CAP;
    struct buf script;
    buf_init(&script);
    buf_append(&script, fx.prefix.data, fx.prefix.len);
    buf_append(&script, (const char *)data, len);

    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0) fuzz_fail("socketpair");
    struct sockaddr_storage peer = { 0 };
    struct sockaddr_in *sin = (struct sockaddr_in *)&peer;
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin->sin_port = htons(40000);
    c2s_accept(srv, fx.xmpp, fds[0], &peer, false);

    struct buf out;
    buf_init(&out);
    bool over = false;
    size_t sent = 0;
    int idle = 0, turn;
    for (turn = 0; turn < MAX_TURNS && c2s_any(); turn++) {
        if (sent < script.len) {
            ssize_t n = send(fds[1], script.data + sent, script.len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) sent += (size_t)n;
            else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) sent = script.len;   /* server hung up */
        }
        ev_run(srv->loop, EVRUN_NOWAIT);
        bool got = drain(fds[1], &out, &over);
        if (sent == script.len && !got && unread_by_server(fds[1]) == 0) {
            if (++idle >= IDLE_TURNS) break;
        } else {
            idle = 0;
        }
    }
    if (turn == MAX_TURNS) fuzz_fail("the c2s consumes its input in a bounded number of loop turns");

    close(fds[1]);
    for (turn = 0; turn < MAX_CLOSE_TURNS && c2s_any(); turn++) ev_run(srv->loop, EVRUN_NOWAIT);
    FUZZ_ASSERT(!c2s_any());
    for (size_t a = 0; a < sizeof accounts / sizeof *accounts; a++)
        FUZZ_ASSERT(sessions_of(srv->sessions, accounts[a]) == NULL);

    if (!over) {
        static const char bound[] = "<jid>alice@localhost/fuzz</jid>";   /* BIND-1 */
        FUZZ_ASSERT(out.len && memmem(out.data, out.len, bound, sizeof bound - 1));
        check_output(out.data, out.len);
    }
    buf_free(&out);
    buf_free(&script);
    reset_store();
    return 0;
}
