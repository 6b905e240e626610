/* The policy decisions under random configurations (SPEC DOM, ROST, ACC,
 * SEC-3..6, AUTH-4): the input is read as a small configuration — up to 3
 * domains, 10 users, 3 groups per domain, 3 access policies, an IP group,
 * SendOutside, MaximumRoster, the security policy and its exception groups
 * — written to mailserver.cfg and users.cfg and loaded by the real code,
 * then as one client stream over a socketpair. A reference model in this
 * file computes every answer from the SPEC rules alone, and any difference
 * aborts:
 *   DOM-3/4  policy_user_restricted and router_domain_allows for every pair
 *            of users, domain JIDs, unknown and remote accounts (a
 *            restricted user's stanza never crosses a domain);
 *   ROST-1..4 the Colleagues lists (members, order, limit, no over-limit
 *            user in any roster through rosterview) and the Warning lines
 *            (exactly one ROST-3 line per exceeding domain, none otherwise;
 *            plus one ACC-1 line per user naming an unknown policy);
 *   ACC-1..3 policy_access_allowed per user and client address; a denied
 *            login gets the refusal, a Security-log line and no session;
 *   SEC-3..6 the features before TLS (PLAIN only where allowed; only
 *            <starttls><required/> under EncryptionRequired) and that
 *            nothing but STARTTLS is accepted before TLS there. */
#include "fuzz.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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
#include "jid.h"
#include "log.h"
#include "policy.h"
#include "router.h"
#include "rosterview.h"
#include "sasl.h"
#include "scram.h"
#include "server.h"
#include "service.h"
#include "session.h"
#include "store.h"
#include "tls.h"
#include "tests/unit/scratch.h"   /* scratch_read_file */

#define TMP_PREFIX "imref-fuzz-invariants-"
#define N_DOMAINS_MAX 3
#define N_USERS_MAX 10
#define N_GROUPS 3
#define N_POLICIES 3
#define N_ADDRS 5
#define PASSWORD "pw-secret"
#define DEFAULT_MAXIMUM_ROSTER 300
#define MAX_TURNS 2000
#define IDLE_TURNS 3

/* ---- the input as a configuration ---------------------------------------- */


static bool flip(struct fuzz_reader *r)
{
    return fuzz_pick(r, 2) == 1;
}

enum group_ref { GROUP_NONE, GROUP_G, GROUP_MISSING };   /* "", "G", "Missing" (undefined) */

struct m_policy {
    bool defined;
    enum access_rule rule;
    enum group_ref group;
    bool is_default;
};

struct m_user {
    unsigned domain;
    bool upper_name, upper_domain;  /* users.cfg spells it in capitals */
    bool enabled, published, restricted_flag;
    int policy;                     /* -1: none; 0..2: p0..p2; 3: "zz", defined nowhere */
    bool upper_policy;
    unsigned groups;                /* bit g: member of g<g>; bit 3: of "gx", defined nowhere */
};

struct model {
    unsigned n_domains;
    bool im_enabled[N_DOMAINS_MAX];
    bool group_defined[N_DOMAINS_MAX][N_GROUPS], group_flag[N_DOMAINS_MAX][N_GROUPS];
    struct m_policy policies[N_POLICIES];
    bool g_has_range, g_has_loopback6;   /* G always holds 10.0.0.0/8 */
    bool send_outside;
    int maximum_roster_written;
    enum security_policy secpol;
    enum group_ref auth_exception, enc_exception;
    unsigned n_users;
    struct m_user users[N_USERS_MAX];
    /* the client stream */
    unsigned addr;
    unsigned action;
    unsigned login_user;
};

static const char *const domain_names[N_DOMAINS_MAX] = { "a.test", "b.test", "c.test" };
static const char *const domain_upper[N_DOMAINS_MAX] = { "A.TEST", "B.Test", "C.tEST" };
static const int roster_limits[] = { 0, 1, 2, 3, 5, DEFAULT_MAXIMUM_ROSTER, -1 };
static const char *const addr_text[N_ADDRS] = { "10.1.2.3", "192.0.2.7", "198.51.100.1", "::ffff:10.1.2.3",
                                                "::1" };
static const char *const addr_logged[N_ADDRS] = { "10.1.2.3", "192.0.2.7", "198.51.100.1", "10.1.2.3", "::1" };

enum action { ACT_STARTTLS, ACT_PLAIN, ACT_SCRAM, ACT_STANZA, ACT_RAW, ACT_COUNT };

static void read_model(struct fuzz_reader *r, struct model *m)
{
    memset(m, 0, sizeof *m);
    m->n_domains = 1 + fuzz_pick(r, N_DOMAINS_MAX);
    for (unsigned d = 0; d < m->n_domains; d++) {
        m->im_enabled[d] = fuzz_pick(r, 4) != 0;
        for (unsigned g = 0; g < N_GROUPS; g++) {
            m->group_defined[d][g] = flip(r);
            m->group_flag[d][g] = flip(r);
        }
    }
    for (unsigned i = 0; i < N_POLICIES; i++) {
        struct m_policy *p = &m->policies[i];
        p->defined = fuzz_pick(r, 4) != 0;
        p->rule = (enum access_rule)fuzz_pick(r, 4);
        p->group = (enum group_ref)fuzz_pick(r, 3);
        p->is_default = fuzz_pick(r, 3) == 0;
    }
    m->g_has_range = flip(r);
    m->g_has_loopback6 = flip(r);
    m->send_outside = flip(r);
    m->maximum_roster_written = roster_limits[fuzz_pick(r, sizeof roster_limits / sizeof *roster_limits)];
    m->secpol = (enum security_policy)fuzz_pick(r, 3);
    m->auth_exception = (enum group_ref)fuzz_pick(r, 3);
    m->enc_exception = (enum group_ref)fuzz_pick(r, 3);
    m->n_users = fuzz_pick(r, N_USERS_MAX + 1);
    for (unsigned i = 0; i < m->n_users; i++) {
        struct m_user *u = &m->users[i];
        u->domain = fuzz_pick(r, m->n_domains);
        unsigned spelling = fuzz_pick(r, 4);
        u->upper_name = spelling & 1;
        u->upper_domain = spelling & 2;
        unsigned flags = fuzz_pick(r, 8);
        u->enabled = (flags & 3) != 0;      /* mostly enabled and published */
        u->published = (flags & 4) != 0 || (flags & 1);
        u->restricted_flag = fuzz_pick(r, 4) == 0;
        u->policy = (int)fuzz_pick(r, 5) - 1;
        u->upper_policy = flip(r);
        u->groups = fuzz_pick(r, 16);
    }
    m->addr = fuzz_pick(r, N_ADDRS);
    m->action = fuzz_pick(r, ACT_COUNT);
    m->login_user = m->n_users ? fuzz_pick(r, m->n_users) : 0;
}

/* ---- the reference model (SPEC rules only) ----------------------------- */

static bool model_in_g(const struct model *m, unsigned addr)
{
    switch (addr) {
    case 0: case 3: return true;          /* 10.0.0.0/8, also IPv4-mapped */
    case 1: return m->g_has_range;        /* 192.0.2.0-192.0.2.9 */
    case 4: return m->g_has_loopback6;    /* ::1 */
    }
    return false;
}

static bool model_in_group(const struct model *m, enum group_ref g, unsigned addr)
{
    return g == GROUP_G && model_in_g(m, addr);
}

/* DOM-3 */
static bool model_restricted(const struct model *m, const struct m_user *u)
{
    if (!m->send_outside || u->restricted_flag) return true;
    for (unsigned g = 0; g < N_GROUPS; g++)
        if ((u->groups >> g & 1) && m->group_defined[u->domain][g] && m->group_flag[u->domain][g]) return true;
    return false;
}

/* ACC-1: the user's policy, else the first default; -1: none (allowed). */
static int model_policy_of(const struct model *m, const struct m_user *u)
{
    if (u->policy >= 0 && u->policy < N_POLICIES && m->policies[u->policy].defined) return u->policy;
    for (int i = 0; i < N_POLICIES; i++)
        if (m->policies[i].defined && m->policies[i].is_default) return i;
    return -1;
}

/* ACC-1..2 */
static bool model_access(const struct model *m, const struct m_user *u, unsigned addr)
{
    int i = model_policy_of(m, u);
    if (i < 0) return true;
    const struct m_policy *p = &m->policies[i];
    switch (p->rule) {
    case ACCESS_DENIED: return false;
    case ACCESS_IP_ALLOWED: return model_in_group(m, p->group, addr);
    case ACCESS_IP_DENIED: return !model_in_group(m, p->group, addr);
    case ACCESS_ALLOWED: break;
    }
    return true;
}

static int model_maximum_roster(const struct model *m)
{
    return m->maximum_roster_written < 0 ? DEFAULT_MAXIMUM_ROSTER : m->maximum_roster_written;   /* ROST-4 */
}

/* ROST-1/2: the members of domain d, as user indexes in file order. */
static unsigned model_members(const struct model *m, unsigned d, unsigned *out, unsigned *eligible)
{
    unsigned n = 0, limit = (unsigned)model_maximum_roster(m);
    *eligible = 0;
    for (unsigned i = 0; i < m->n_users && limit; i++) {
        const struct m_user *u = &m->users[i];
        if (u->domain != d || !u->enabled || !u->published) continue;
        ++*eligible;
        if (n < limit) out[n++] = i;
    }
    return n;
}

static bool model_is_member(const struct model *m, unsigned user)
{
    unsigned members[N_USERS_MAX], eligible;
    unsigned n = model_members(m, m->users[user].domain, members, &eligible);
    for (unsigned i = 0; i < n; i++)
        if (members[i] == user) return true;
    return false;
}

/* SEC-5/6 */
static bool model_encryption_required(const struct model *m)
{
    return m->secpol == SECPOL_ENCRYPTION_REQUIRED && !model_in_group(m, m->enc_exception, m->addr);
}

/* SEC-3/4/6: PLAIN before TLS */
static bool model_plain_allowed(const struct model *m)
{
    switch (m->secpol) {
    case SECPOL_NO_RESTRICTIONS: return true;
    case SECPOL_AUTH_REQUIRED: return model_in_group(m, m->auth_exception, m->addr);
    case SECPOL_ENCRYPTION_REQUIRED: return model_in_group(m, m->enc_exception, m->addr);
    }
    return false;
}

/* AUTH-4, ACC-3: may the user (right password) bind from the stream's address? */
static bool model_login_ok(const struct model *m, unsigned user)
{
    const struct m_user *u = &m->users[user];
    return u->enabled && m->im_enabled[u->domain] && model_access(m, u, m->addr);
}

/* ---- writing the configuration --------------------------------------------- */

static struct {
    bool ready;
    pid_t owner;
    char dir[256];
    char *stored_password;     /* PASSWORD's SCRAM form, one for every user */
    struct server srv;
    struct service *xmpp;
} fx;

static const char *group_ref_name(enum group_ref g)
{
    return g == GROUP_G ? "G" : g == GROUP_MISSING ? "Missing" : "";
}

static void user_name(const struct model *m, unsigned i, bool spelled, char *out, size_t n)
{
    snprintf(out, n, "%s%u", spelled && m->users[i].upper_name ? "U" : "u", i);
}

#define VAR(b, name, ...) (buf_puts(b, "<variable name=\"" name "\">"), buf_printf(b, __VA_ARGS__), \
                           buf_puts(b, "</variable>"))

static void write_mailserver_cfg(const struct model *m)
{
    struct buf b;
    buf_init(&b);
    buf_puts(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<config>\n<table name=\"InstantMessaging\">");
    VAR(&b, "SendOutside", "%d", m->send_outside);
    VAR(&b, "MaximumRoster", "%d", m->maximum_roster_written);
    buf_puts(&b, "</table>\n<table name=\"Security\">");
    VAR(&b, "SecurityPolicy", "%s", security_policy_name(m->secpol));
    VAR(&b, "AuthenticationExceptionGroup", "%s", group_ref_name(m->auth_exception));
    VAR(&b, "EncryptionExceptionGroup", "%s", group_ref_name(m->enc_exception));
    VAR(&b, "ScramIterations", "%d", SCRAM_MIN_ITERATIONS);
    buf_puts(&b, "</table>\n<table name=\"Limits\">");
    VAR(&b, "ReadRate", "0");
    buf_puts(&b, "</table>\n<table name=\"Paths\">");
    VAR(&b, "StorePath", "store");
    VAR(&b, "LogPath", "logs");
    VAR(&b, "Certificate", "cert.pem");
    VAR(&b, "PrivateKey", "key.pem");
    VAR(&b, "CAFile", "%s", "");
    buf_puts(&b, "</table>\n<table name=\"Log\">");
    VAR(&b, "Debug", "0");
    buf_puts(&b, "</table>\n<list name=\"Domain\">");
    for (unsigned d = 0; d < m->n_domains; d++) {
        buf_puts(&b, "<listitem>");
        VAR(&b, "Name", "%s", domain_names[d]);
        VAR(&b, "IMEnabled", "%d", m->im_enabled[d]);
        buf_puts(&b, "</listitem>");
    }
    buf_puts(&b, "</list>\n<list name=\"Service\"><listitem>");
    VAR(&b, "Id", "xmpp");
    VAR(&b, "Startup", "Manual");
    VAR(&b, "Listen", "127.0.0.1:5222");
    buf_puts(&b, "</listitem></list>\n<list name=\"IpAddressGroup\">");
    const char *entries[] = { "10.0.0.0/8", m->g_has_range ? "192.0.2.0-192.0.2.9" : NULL,
                              m->g_has_loopback6 ? "::1" : NULL };
    for (size_t i = 0; i < sizeof entries / sizeof *entries; i++) {
        if (!entries[i]) continue;
        buf_puts(&b, "<listitem>");
        VAR(&b, "Name", "G");
        VAR(&b, "Address", "%s", entries[i]);
        buf_puts(&b, "</listitem>");
    }
    buf_puts(&b, "</list>\n<list name=\"AccessPolicy\">");
    static const char *const policy_names[N_POLICIES] = { "p0", "p1", "p2" };
    for (unsigned i = 0; i < N_POLICIES; i++) {
        const struct m_policy *p = &m->policies[i];
        if (!p->defined) continue;
        buf_puts(&b, "<listitem>");
        VAR(&b, "Name", "%s", policy_names[i]);
        VAR(&b, "Xmpp", "%s", access_rule_name(p->rule));
        if (p->group != GROUP_NONE) VAR(&b, "IpGroup", "%s", group_ref_name(p->group));
        VAR(&b, "Default", "%d", p->is_default);
        buf_puts(&b, "</listitem>");
    }
    buf_puts(&b, "</list>\n</config>\n");
    fuzz_write_text(fx.dir, "mailserver.cfg", b.data);
    buf_free(&b);
}

static void write_users_cfg(const struct model *m)
{
    struct buf b;
    buf_init(&b);
    buf_puts(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<config>\n<list name=\"User\">\n");
    for (unsigned i = 0; i < m->n_users; i++) {
        const struct m_user *u = &m->users[i];
        char name[16];
        user_name(m, i, true, name, sizeof name);
        buf_puts(&b, "<listitem>");
        VAR(&b, "Name", "%s", name);
        VAR(&b, "Domain", "%s", u->upper_domain ? domain_upper[u->domain] : domain_names[u->domain]);
        VAR(&b, "FullName", "User %u", i);
        VAR(&b, "Password", "%s", fx.stored_password);
        VAR(&b, "Enabled", "%d", u->enabled);
        VAR(&b, "PublishInGAL", "%d", u->published);
        VAR(&b, "DomainRestriction", "%d", u->restricted_flag);
        if (u->policy >= 0)
            VAR(&b, "AccessPolicy", "%s%d", u->policy == 3 ? "zz" : u->upper_policy ? "P" : "p", u->policy);
        buf_puts(&b, "<variable name=\"Groups\">");
        const char *sep = "";
        for (unsigned g = 0; g <= N_GROUPS; g++) {
            if (!(u->groups >> g & 1)) continue;
            if (g == N_GROUPS) buf_printf(&b, "%s gx ", sep);
            else buf_printf(&b, "%s%s%u", sep, (i + g) % 2 ? "G" : "g", g);
            sep = ",";
        }
        buf_puts(&b, "</variable></listitem>\n");
    }
    buf_puts(&b, "</list>\n<list name=\"Group\">\n");
    for (unsigned d = 0; d < m->n_domains; d++)
        for (unsigned g = 0; g < N_GROUPS; g++) {
            if (!m->group_defined[d][g]) continue;
            buf_puts(&b, "<listitem>");
            VAR(&b, "Name", "g%u", g);
            VAR(&b, "Domain", "%s", domain_names[d]);
            VAR(&b, "DomainRestriction", "%d", m->group_flag[d][g]);
            buf_puts(&b, "</listitem>\n");
        }
    buf_puts(&b, "</list>\n</config>\n");
    fuzz_write_text(fx.dir, "users.cfg", b.data);
    buf_free(&b);
}

/* ---- the long-lived parts of the server ------------------------------------------ */

static void unload_config(void)
{
    struct server *srv = &fx.srv;
    service_free(fx.xmpp);
    fx.xmpp = NULL;
    hammer_free(srv->hammer);
    srv->hammer = NULL;
    colleagues_free(srv->colleagues);
    srv->colleagues = NULL;
    directory_free(srv->dir);
    srv->dir = NULL;
    config_free(srv->cfg);
    srv->cfg = NULL;
}

static void cleanup(void)
{
    if (!fx.ready || getpid() != fx.owner) return;
    struct server *srv = &fx.srv;
    c2s_abort_all();
    for (int i = 0; i < MAX_TURNS && c2s_any(); i++) ev_run(srv->loop, EVRUN_NOWAIT);
    unload_config();
    sessions_free(srv->sessions);
    store_close(srv->store);
    tls_server_free(srv->tls);
    sasl_global_done();
    log_close();
    free(fx.stored_password);
    fuzz_remove_tree(fx.dir);
    fx.ready = false;
}

/* The parts that do not depend on the configuration: loop, logs, store,
 * TLS (a self-signed certificate made once), the session registry. */
static void setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    fuzz_make_scratch_dir(TMP_PREFIX, fx.dir, sizeof fx.dir);
    fx.owner = getpid();
    struct server *srv = &fx.srv;
    srv->loop = EV_DEFAULT;
    if (sasl_global_init() < 0) fuzz_fail("sasl_global_init");
    char path[512], key[512];
    snprintf(path, sizeof path, "%s/logs", fx.dir);
    mkdir(path, 0700);
    if (log_open(path, false) < 0) fuzz_fail("log_open");
    struct buf err;
    buf_init(&err);
    snprintf(path, sizeof path, "%s/store", fx.dir);
    if (store_open(path, &srv->store, &err) < 0) fuzz_fail(err.data);
    snprintf(path, sizeof path, "%s/cert.pem", fx.dir);
    snprintf(key, sizeof key, "%s/key.pem", fx.dir);
    if (tls_make_self_signed("a.test", path, key, 30, &err) < 0) fuzz_fail(err.data);
    if (!(srv->tls = tls_server_new(path, key, NULL, 0, &err))) fuzz_fail(err.data);
    buf_free(&err);
    fx.stored_password = scram_hash_password(PASSWORD, SCRAM_MIN_ITERATIONS);
    scram_set_fake_iterations(SCRAM_MIN_ITERATIONS);
    srv->sessions = sessions_new();
    srv->started = ev_now(srv->loop);
    srv->info = (struct iqinfo_server){ .name = IMREF_NAME, .version = IMREF_VERSION,
                                        .started_unix = (long long)time(NULL) };
    fx.ready = true;
    atexit(cleanup);
}

/* ---- logs --------------------------------------------------------------------- */

static void log_path(const char *file, char *out, size_t n)
{
    snprintf(out, n, "%s/logs/%s", fx.dir, file);
}

/* Empties every log (the module appends with O_APPEND), so they never grow. */
static void truncate_logs(void)
{
    static const char *const files[] = { "warning.log", "error.log", "security.log", "config.log", "debug.log" };
    char path[512];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        log_path(files[i], path, sizeof path);
        if (truncate(path, 0) < 0 && errno != ENOENT) fuzz_fail("truncate a log");
    }
}

static char *read_log(const char *file)
{
    char path[512];
    log_path(file, path, sizeof path);
    return scratch_read_file(path);
}

static size_t count_lines(const char *text)
{
    size_t n = 0;
    for (; *text; text++) n += *text == '\n';
    return n;
}

/* ---- loading the configuration ------------------------------------------------ */

static void load_config(const struct model *m)
{
    write_mailserver_cfg(m);
    write_users_cfg(m);
    struct server *srv = &fx.srv;
    struct buf err;
    buf_init(&err);
    if (config_load(fx.dir, &srv->cfg, &err) < 0) {
        fprintf(stderr, "fuzz: config_load: %s\n", err.data);
        fuzz_fail("the generated mailserver.cfg loads");
    }
    struct directory *dir = NULL;
    if (directory_load(srv->cfg->users_path, &dir, &err) < 0) {
        fprintf(stderr, "fuzz: directory_load: %s\n", err.data);
        fuzz_fail("the generated users.cfg loads");
    }
    buf_free(&err);
    FUZZ_ASSERT(directory_user_count(dir) == m->n_users);
    FUZZ_ASSERT(srv->cfg->send_outside == m->send_outside);
    FUZZ_ASSERT(srv->cfg->maximum_roster == model_maximum_roster(m));
    FUZZ_ASSERT(srv->cfg->security_policy == m->secpol);

    /* ROST-3 and ACC-1 Warnings come from installing the directory. */
    truncate_logs();
    server_set_directory(srv, dir);
    char *warnings = read_log("warning.log");
    size_t unknown_policy = 0;
    for (unsigned i = 0; i < m->n_users; i++) {
        int p = m->users[i].policy;
        unknown_policy += p >= 0 && (p == 3 || !m->policies[p].defined);
    }
    size_t exceeding = 0;
    for (unsigned d = 0; d < m->n_domains; d++) {
        unsigned members[N_USERS_MAX], eligible;
        unsigned n = model_members(m, d, members, &eligible);
        int limit = model_maximum_roster(m);
        if (limit == 0 || eligible <= (unsigned)limit) continue;
        FUZZ_ASSERT(n == (unsigned)limit);
        exceeding++;
        static const char head[] = "IM: Automatic contact list for domain ";
        char tail[128];
        snprintf(tail, sizeof tail, " is incomplete: %u users exceed the maximum of %d (MaximumRoster).\n",
                 eligible - (unsigned)limit, limit);
        size_t dl = strlen(domain_names[d]);
        bool found = false;
        for (const char *line = strstr(warnings, head); line && !found; line = strstr(line + 1, head)) {
            const char *dom = line + strlen(head);
            found = strncasecmp(dom, domain_names[d], dl) == 0 && strncmp(dom + dl, tail, strlen(tail)) == 0;
        }
        if (!found) {
            fprintf(stderr, "fuzz: warning.log:\n%s\n", warnings);
            fuzz_fail("ROST-3: one Warning line for each domain over MaximumRoster");
        }
    }
    if (count_lines(warnings) != exceeding + unknown_policy) {
        fprintf(stderr, "fuzz: expected %zu ROST-3 and %zu ACC-1 lines; warning.log:\n%s\n", exceeding,
                unknown_policy, warnings);
        fuzz_fail("the Warning log has exactly the ROST-3 and ACC-1 lines due");
    }
    free(warnings);

    srv->hammer = hammer_new(&srv->cfg->antihammer, &srv->cfg->lockout);
    const struct service_config *sc = config_find_service(srv->cfg, "xmpp");
    if (!sc) fuzz_fail("no xmpp service in the generated configuration");
    fx.xmpp = service_new(srv, sc, c2s_accept);
}

/* ---- pure decisions ------------------------------------------------------------ */

static void make_addr(unsigned addr, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof *out);
    if (strchr(addr_text[addr], ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(40001);
        if (inet_pton(AF_INET6, addr_text[addr], &s6->sin6_addr) != 1) abort();
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)out;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(40001);
        if (inet_pton(AF_INET, addr_text[addr], &s4->sin_addr) != 1) abort();
    }
}

static const struct dir_user *find_user(const struct model *m, unsigned i)
{
    char name[16];
    user_name(m, i, false, name, sizeof name);
    const struct dir_user *u = directory_find_user(fx.srv.dir, name, domain_names[m->users[i].domain]);
    FUZZ_ASSERT(u != NULL);
    return u;
}

/* DOM-3, ACC-1..2 */
static void check_user_decisions(const struct model *m)
{
    for (unsigned i = 0; i < m->n_users; i++) {
        const struct dir_user *u = find_user(m, i);
        if (policy_user_restricted(m->send_outside, u, fx.srv.dir) != model_restricted(m, &m->users[i]))
            fuzz_fail("DOM-3: policy_user_restricted agrees with the model");
        for (unsigned a = 0; a < N_ADDRS; a++) {
            struct sockaddr_storage ss;
            make_addr(a, &ss);
            if (policy_access_allowed(fx.srv.cfg, u, (const struct sockaddr *)&ss) != model_access(m, &m->users[i], a))
                fuzz_fail("ACC-1: policy_access_allowed agrees with the model");
        }
    }
}

/* One recipient of the DOM-4 table: a JID and what the model knows of it. */
struct target {
    char jid[64];
    unsigned domain;           /* N_DOMAINS_MAX: remote.test (not hosted) */
    bool has_node;
    int user;                  /* a users.cfg account, or -1 */
};

static bool model_domain_allows(const struct model *m, unsigned from, const struct target *t)
{
    const struct m_user *f = &m->users[from];
    if (t->domain == f->domain) return true;                              /* own domain, own account */
    if (!t->has_node && t->domain < m->n_domains) return true;            /* server services */
    if (model_restricted(m, f)) return false;
    return t->user < 0 || !model_restricted(m, &m->users[t->user]);
}

static size_t targets_of(const struct model *m, struct target *out)
{
    size_t n = 0;
    for (unsigned i = 0; i < m->n_users; i++) {
        out[n] = (struct target){ .domain = m->users[i].domain, .has_node = true, .user = (int)i };
        snprintf(out[n].jid, sizeof out[n].jid, "U%u@%s%s", i, domain_upper[m->users[i].domain], i % 2 ? "/r" : "");
        n++;
    }
    for (unsigned d = 0; d <= m->n_domains; d++) {
        const char *name = d < m->n_domains ? domain_names[d] : "remote.test";
        unsigned domain = d < m->n_domains ? d : N_DOMAINS_MAX;
        out[n] = (struct target){ .domain = domain, .has_node = false, .user = -1 };
        snprintf(out[n].jid, sizeof out[n].jid, "%s", name);
        n++;
        out[n] = (struct target){ .domain = domain, .has_node = true, .user = -1 };
        snprintf(out[n].jid, sizeof out[n].jid, "nobody@%s/x", name);
        n++;
    }
    return n;
}

/* DOM-1..4: every user to every target through the router's decision. */
static void check_domain_decisions(const struct model *m)
{
    struct target targets[N_USERS_MAX + 2 * (N_DOMAINS_MAX + 1)];
    size_t n = targets_of(m, targets);
    for (unsigned from = 0; from < m->n_users; from++) {
        char node[16];
        user_name(m, from, false, node, sizeof node);
        for (size_t k = 0; k < n; k++) {
            struct jid to = { 0 };
            if (jid_parse(targets[k].jid, &to) < 0) fuzz_fail("the target JIDs parse");
            bool got = router_domain_allows(&fx.srv, node, domain_names[m->users[from].domain], &to);
            jid_clear(&to);
            bool crosses = targets[k].domain != m->users[from].domain && targets[k].has_node;
            if (got && crosses && model_restricted(m, &m->users[from]))
                fuzz_fail("DOM-4: a restricted user's stanza never crosses a domain");
            if (got != model_domain_allows(m, from, &targets[k])) {
                fprintf(stderr, "fuzz: from u%u@%s to %s: router says %d\n", from,
                        domain_names[m->users[from].domain], targets[k].jid, got);
                fuzz_fail("DOM-4: router_domain_allows agrees with the model");
            }
        }
    }
}

/* ROST-1, ROST-2: the lists, and every roster as rosterview shows it. */
static void check_colleagues(const struct model *m)
{
    struct server *srv = &fx.srv;
    int limit = model_maximum_roster(m);
    for (unsigned d = 0; d < m->n_domains; d++) {
        unsigned want[N_USERS_MAX], eligible;
        unsigned n_want = model_members(m, d, want, &eligible);
        size_t n = 0;
        const struct dir_user *const *got = colleagues_members(srv->colleagues, domain_names[d], &n);
        if (n > (size_t)limit) fuzz_fail("ROST-2: a Colleagues list is never longer than MaximumRoster");
        FUZZ_ASSERT(n == n_want);
        for (size_t i = 0; i < n; i++) {
            char name[16];
            user_name(m, want[i], false, name, sizeof name);
            if (strcasecmp(got[i]->name, name) != 0 || strcasecmp(got[i]->domain, domain_names[d]) != 0)
                fuzz_fail("ROST-1: the members are the eligible users in users.cfg order");
        }
    }
    for (unsigned i = 0; i < m->n_users; i++) {
        char node[16];
        user_name(m, i, false, node, sizeof node);
        const char *domain = domain_names[m->users[i].domain];
        bool member = model_is_member(m, i);
        if (colleagues_is_member(srv->colleagues, node, domain) != member)
            fuzz_fail("ROST-2: colleagues_is_member agrees with the model");
        unsigned expect_items = 0;
        for (unsigned k = 0; k < m->n_users; k++) {
            char contact[64];
            snprintf(contact, sizeof contact, "u%u@%s", k, domain_names[m->users[k].domain]);
            bool want = member && k != i && m->users[k].domain == m->users[i].domain && model_is_member(m, k);
            expect_items += want;
            if ((rosterview_colleague(srv, node, domain, contact) != NULL) != want)
                fuzz_fail("ROST-1/2: rosterview_colleague shows exactly the other members of the own list");
        }
        struct roster_item *items = NULL;
        size_t n_items = 0;
        char ver[64];
        if (rosterview_load(srv, node, domain, &items, &n_items, ver, sizeof ver) < 0) fuzz_fail("rosterview_load");
        unsigned colleagues = 0;
        for (size_t k = 0; k < n_items; k++) {
            bool in_group = false;
            for (size_t g = 0; g < items[k].n_groups; g++) in_group |= strcmp(items[k].groups[g], COLLEAGUES_GROUP) == 0;
            colleagues += in_group;
            const char *at = strchr(items[k].jid, '@');
            FUZZ_ASSERT(at);
            char *cnode = xstrndup(items[k].jid, (size_t)(at - items[k].jid));
            const struct dir_user *cu = directory_find_user(srv->dir, cnode, at + 1);
            if (in_group && (!cu || !colleagues_is_member(srv->colleagues, cnode, at + 1)))
                fuzz_fail("ROST-2: no over-limit user is in anybody's Colleagues");
            free(cnode);
        }
        roster_items_free(items, n_items);
        if (colleagues != expect_items) fuzz_fail("ROST-1: a roster shows every other member of its list");
    }
}

/* ---- the client stream ------------------------------------------------------------ */

static bool drain(int fd, struct buf *out)
{
    bool got = false;
    char chunk[16384];
    ssize_t n;
    while ((n = recv(fd, chunk, sizeof chunk, MSG_DONTWAIT)) > 0) {
        got = true;
        buf_append(out, chunk, (size_t)n);
    }
    return got;
}

static size_t unread_by_server(int fd)
{
    int queued = 0;
    return ioctl(fd, SIOCOUTQ, &queued) == 0 && queued > 0 ? (size_t)queued : 0;
}

/* Sends `len` bytes and runs the loop until the server has read them and
 * gone quiet (or closed); its answer is appended to out. */
static void exchange(int fd, const char *data, size_t len, struct buf *out)
{
    size_t sent = 0;
    int idle = 0;
    for (int turn = 0; turn < MAX_TURNS && c2s_any(); turn++) {
        if (sent < len) {
            ssize_t n = send(fd, data + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) sent += (size_t)n;
            else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) sent = len;
        }
        ev_run(fx.srv.loop, EVRUN_NOWAIT);
        bool got = drain(fd, out);
        if (sent == len && !got && unread_by_server(fd) == 0) {
            if (++idle >= IDLE_TURNS) return;
        } else {
            idle = 0;
        }
    }
    if (c2s_any()) fuzz_fail("the c2s answers within a bounded number of loop turns");
}

static bool has(const struct buf *b, const char *needle)
{
    return b->len && memmem(b->data, b->len, needle, strlen(needle)) != NULL;
}

static void send_text(int fd, const char *text, struct buf *out)
{
    exchange(fd, text, strlen(text), out);
}

static void stream_header(const char *domain, struct buf *h)
{
    buf_printf(h, "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
                  "to='%s' version='1.0'>", domain);
}

static bool any_session(const struct model *m, int *who)
{
    for (unsigned i = 0; i < m->n_users; i++) {
        char bare[64];
        snprintf(bare, sizeof bare, "u%u@%s", i, domain_names[m->users[i].domain]);
        if (sessions_of(fx.srv.sessions, bare)) {
            *who = (int)i;
            return true;
        }
    }
    return false;
}

/* SEC-3..5: the features offered before TLS. */
static void check_features(const struct model *m, const struct buf *out)
{
    if (model_encryption_required(m)) {
        if (!has(out, "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"
                      "</stream:features>"))
            fuzz_fail("SEC-5: only <starttls><required/> is offered before TLS under EncryptionRequired");
        FUZZ_ASSERT(!has(out, "<mechanisms"));
        return;
    }
    FUZZ_ASSERT(has(out, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"));   /* SEC-3: not required */
    FUZZ_ASSERT(has(out, "<mechanism>SCRAM-SHA-256</mechanism>") && has(out, "<mechanism>SCRAM-SHA-1</mechanism>"));
    if (has(out, "<mechanism>PLAIN</mechanism>") != model_plain_allowed(m))
        fuzz_fail("SEC-4: PLAIN is offered without TLS exactly where the policy allows it");
    const char *mechs[8];
    size_t n = sasl_offered_mechanisms(model_plain_allowed(m), NULL, mechs, 8);
    FUZZ_ASSERT(n >= 2 && strcmp(mechs[n - 1], model_plain_allowed(m) ? "PLAIN" : "SCRAM-SHA-1") == 0);
}

/* AUTH-4, ACC-3: a PLAIN login with the right password, then a bind. */
static void check_plain_login(const struct model *m, int fd, const char *domain, struct buf *out)
{
    unsigned user = m->login_user;
    char auth[64];
    int alen = snprintf(auth, sizeof auth, "%cu%u%c" PASSWORD, 0, user, 0);
    char *b64 = scram_base64_encode(auth, (size_t)alen);
    struct buf req;
    buf_init(&req);
    buf_printf(&req, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>", b64);
    free(b64);
    size_t before = out->len;
    truncate_logs();
    send_text(fd, req.data, out);
    buf_free(&req);
    struct buf answer = { 0 };
    buf_append(&answer, out->data + before, out->len - before);
    if (model_encryption_required(m) || !model_plain_allowed(m)) {
        if (!has(&answer, "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><encryption-required/></failure>"))
            fuzz_fail("SEC-4/5: PLAIN before TLS is refused with <encryption-required/> where not allowed");
        buf_free(&answer);
        return;
    }
    const struct m_user *u = &m->users[user];
    if (!model_login_ok(m, user)) {
        if (has(&answer, "<success"))
            fuzz_fail("AUTH-4/ACC-3: a disabled or denied account does not authenticate");
        if (!u->enabled || !m->im_enabled[u->domain]) {
            FUZZ_ASSERT(has(&answer, "<account-disabled/>"));
        } else {
            FUZZ_ASSERT(has(&answer, "<not-authorized/><text xml:lang='en'>" POLICY_ACCESS_TEXT "</text>"));
            char *security = read_log("security.log");
            char want[160];
            snprintf(want, sizeof want, "XMPP: User u%u@%s is not allowed to use this service. Attempt from IP address %s.",
                     user, domain, addr_logged[m->addr]);
            if (!strstr(security, want)) fuzz_fail("ACC-3: a denied login is written to the Security log");
            free(security);
        }
        buf_free(&answer);
        return;
    }
    if (!has(&answer, "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"))
        fuzz_fail("AUTH-1: an allowed account logs in with PLAIN where PLAIN is offered");
    buf_free(&answer);
    struct buf bind;
    buf_init(&bind);
    stream_header(domain, &bind);
    buf_puts(&bind, "<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>inv</resource>"
                    "</bind></iq>");
    send_text(fd, bind.data, out);
    buf_free(&bind);
    char jid[80];
    snprintf(jid, sizeof jid, "<jid>u%u@%s/inv</jid>", user, domain);
    FUZZ_ASSERT(has(out, jid));
}

static void check_stream(const struct model *m, const uint8_t *rest, size_t rest_len)
{
    struct server *srv = &fx.srv;
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0) fuzz_fail("socketpair");
    struct sockaddr_storage peer;
    make_addr(m->addr, &peer);
    c2s_accept(srv, fx.xmpp, fds[0], &peer, false);
    const char *domain = m->n_users ? domain_names[m->users[m->login_user].domain] : domain_names[0];
    struct buf out, h;
    buf_init(&out);
    buf_init(&h);
    buf_puts(&h, "<?xml version='1.0'?>");
    stream_header(domain, &h);
    send_text(fds[1], h.data, &out);
    buf_free(&h);
    check_features(m, &out);
    bool tls_first = model_encryption_required(m);
    size_t before = out.len;
    switch (m->action) {
    case ACT_STARTTLS:
        send_text(fds[1], "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", &out);
        FUZZ_ASSERT(has(&out, "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"));
        break;
    case ACT_PLAIN:
        if (m->n_users) check_plain_login(m, fds[1], domain, &out);
        break;
    case ACT_SCRAM:
        send_text(fds[1], "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>"
                          "biwsbj11MCxyPWZ5a28rZDJsYmJGZ09OUnY5cWt4ZGF3TA==</auth>", &out);
        if (tls_first != has(&out, "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><encryption-required/>"))
            fuzz_fail("SEC-5: <auth/> before TLS gets <encryption-required/> exactly under EncryptionRequired");
        FUZZ_ASSERT(tls_first != has(&out, "<challenge"));
        break;
    case ACT_STANZA:
        send_text(fds[1], "<message to='u0@a.test' type='chat'><body>x</body></message>", &out);
        if (tls_first && !has(&out, "<policy-violation"))
            fuzz_fail("SEC-5: a stanza before TLS gets <policy-violation/> under EncryptionRequired");
        FUZZ_ASSERT(tls_first || has(&out, "<not-authorized"));
        break;
    case ACT_RAW:
        exchange(fds[1], (const char *)rest, rest_len, &out);
        break;
    }
    /* Whatever came: before TLS under EncryptionRequired nothing but STARTTLS
     * is accepted; no stream authenticates where PLAIN is not allowed; any
     * bound session belongs to an account the model lets in. */
    struct buf answer = { 0 };
    buf_append(&answer, out.data + before, out.len - before);
    if (tls_first && (has(&answer, "<success") || has(&answer, "<challenge")))
        fuzz_fail("SEC-5: nothing but STARTTLS is accepted before TLS under EncryptionRequired");
    if (!model_plain_allowed(m) && has(&answer, "<success"))
        fuzz_fail("SEC-4: no login without TLS where PLAIN is not allowed (SCRAM needs a real proof)");
    int who;
    if (any_session(m, &who) && !model_login_ok(m, (unsigned)who))
        fuzz_fail("ACC-3/AUTH-4: a denied or disabled account never binds");
    buf_free(&answer);
    buf_free(&out);
    close(fds[1]);
    for (int turn = 0; turn < MAX_TURNS && c2s_any(); turn++) ev_run(srv->loop, EVRUN_NOWAIT);
    FUZZ_ASSERT(!c2s_any());
    FUZZ_ASSERT(!any_session(m, &who));
}

int fuzz_one(const uint8_t *data, size_t len)
{
    if (!fx.ready) setup();
    struct fuzz_reader r = { data, len };
    struct model m;
    read_model(&r, &m);
    load_config(&m);
    check_user_decisions(&m);
    check_domain_decisions(&m);
    check_colleagues(&m);
    check_stream(&m, r.p, r.n > 4096 ? 4096 : r.n);
    unload_config();
    return 0;
}
