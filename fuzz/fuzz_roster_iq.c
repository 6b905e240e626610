/* The roster item and iq handlers (SPEC IM-3, IM-5, IM-6, ROST-1, ROST-6;
 * RFC 6120 §8.2.3, RFC 6121 §2): the fixed in-process server of
 * fuzz_common.c (localhost, alice and bob, each the other's Colleagues
 * item) and per input up to three logged-in client streams (alice/one
 * always, alice/two and bob/b as the first byte says). The rest of the
 * input is decoded into a sequence of at most MAX_OPS structured stanzas —
 * roster get (with or without ver), set (JIDs from a pool with invalid and
 * unprepared ones, names and groups with XML specials, many and repeated
 * groups, subscription/ask/approved attributes a client must not set),
 * remove, malformed roster sets, and iqs of every type to every kind of
 * address with ping, disco, version, last, vCard, session, unknown,
 * zero or two payloads, with and without id, and available presence —
 * each serialised with escaping and sent by one of the clients. The
 * clients answer roster pushes and iqs routed to them with a result, as
 * RFC 6120 §8.2.3 asks. Oracles, after every stanza:
 *   - an iq get/set gets exactly one response, with its id (none if it had
 *     none), of the type and, where the RFCs fix it, the condition the
 *     model predicts; one addressed to a bound full JID is delivered there
 *     once (and the answer comes from that client); a result or error is
 *     never answered; no client gets a result or error nobody asked for;
 *   - a successful roster set or remove pushes exactly one iq set with one
 *     <item/> (the model's item, or subscription='remove') to each of the
 *     account's resources that asked for the roster, nothing to the
 *     others, and no push follows a refused change;
 *   - the account's roster (rosterview_load, and every roster get result)
 *     equals a reference model: Colleagues item with its override or
 *     removed, the items the client set with name and groups, each with
 *     subscription none and no ask or approved (client-set subscription,
 *     ask and approved are ignored); the version changes exactly when the
 *     roster did, and a get with the current version gets an empty result;
 *   - the streams stay open, and each client's whole output is
 *     namespace-well-formed XML.
 * The store rows of alice and bob are deleted after each input. */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "rosterview.h"
#include "server.h"
#include "store.h"
#include "xmlstream.h"
#include "xnode.h"

#define TMP_PREFIX "imref-fuzz-roster-iq-"
#define MAX_OPS 64
#define MAX_TURNS 2000          /* loop turns for one stanza to be handled */
#define MAX_REPLY_ROUNDS 4      /* clients answering what they were sent, per stanza */
#define MAX_SET_GROUPS 24
#define N_GROUP_CHOICES 32
#define NS_ROSTER "jabber:iq:roster"
#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"

/* ---- the pools the input picks from ------------------------------------------ */

enum contact { C_CAROL, C_DAVE, C_ALICE, C_BOB, C_EVE, C_DOMAIN, C_EMILE, C_FRANK, N_CONTACTS };

static const char *const contact_jid[N_CONTACTS] = {
    "carol@localhost", "dave@localhost", "alice@localhost", "bob@localhost",
    "eve@example.org", "localhost", "\xc3\xa9mile@localhost", "frank@localhost",
};

/* JIDs as a client may spell them in a roster item: the contact they
 * prepare to, or -1 if they are not JIDs. */
static const struct {
    const char *text;
    int contact;
} jid_pool[] = {
    { "carol@localhost", C_CAROL },     { "Dave@LocalHost", C_DAVE },
    { "alice@localhost", C_ALICE },     { "bob@localhost", C_BOB },
    { "bob@localhost/phone", C_BOB },   { "eve@example.org", C_EVE },
    { "localhost", C_DOMAIN },          { "\xc3\x89mile@localhost", C_EMILE },
    { "frank@localhost/Res", C_FRANK }, { "CAROL@localhost/x", C_CAROL },
    { "ALICE@LOCALHOST", C_ALICE },     { "", -1 },
    { "@localhost", -1 },               { "a@b@c", -1 },
    { "carol@", -1 },                   { "carol@localhost/", -1 },
    { "a b@localhost", -1 },
};
#define N_JIDS (sizeof jid_pool / sizeof *jid_pool)

static char long_name[301];
static const char *names[] = { NULL, "", "Carol", "A & B <x> 'q' \"d\"", "\xc3\x9c" "n\xc3\xaf" "code \xe2\x98\x83",
                               "line\nbreak\ttab", " spaced ", long_name };
#define N_NAMES (sizeof names / sizeof *names)

static char group_storage[N_GROUP_CHOICES][208];
static const char *groups[N_GROUP_CHOICES];   /* all distinct; "" is the one a server refuses */

static void init_pools(void)
{
    static const char *const fixed_groups[] = { "Friends", "Work", "a&b<c>", "'q\"", "\xc3\x9c" "n\xc3\xaf" "code",
                                                "", "Colleagues", " x " };
    size_t n_fixed = sizeof fixed_groups / sizeof *fixed_groups;
    for (size_t i = 0; i < N_GROUP_CHOICES; i++) {
        if (i < n_fixed) snprintf(group_storage[i], sizeof group_storage[i], "%s", fixed_groups[i]);
        else if (i == n_fixed) memset(group_storage[i], 'g', sizeof group_storage[i] - 1);
        else snprintf(group_storage[i], sizeof group_storage[i], "grp-%zu", i);
        groups[i] = group_storage[i];
    }
    memset(long_name, 'n', sizeof long_name - 1);
}

/* ---- the input ---------------------------------------------------------------- */


/* ---- the clients -------------------------------------------------------------- */

enum { CL_ALICE_ONE, CL_ALICE_TWO, CL_BOB, N_CLIENTS };
enum account { ALICE, BOB };

static const struct {
    const char *node, *resource, *full;
    enum account account;
} client_info[N_CLIENTS] = {
    { "alice", "one", "alice@localhost/one", ALICE },
    { "alice", "two", "alice@localhost/two", ALICE },
    { "bob", "b", "bob@localhost/b", BOB },
};
static const char *const account_bare[] = { FUZZ_ALICE, FUZZ_BOB };
static const char *const account_node[] = { "alice", "bob" };
static const char *const account_fullname[] = { "Alice Example", "Bob Example" };
static const enum contact account_colleague[] = { C_BOB, C_ALICE };

struct inbox {
    xnode **items;
    size_t n, cap, handled;   /* handled: answered (or seen not to need an answer) */
};

struct client_state {
    bool connected;
    bool interested;          /* asked for the roster: gets pushes */
    bool closed;              /* the server closed the stream */
    xmlstream *parser;        /* the server's output after the bind */
    size_t parsed;            /* bytes of out fed to parser */
    struct inbox inbox;       /* stanzas received during the current operation */
};

static struct client_state cs[N_CLIENTS];
static struct fuzz_client clients[N_CLIENTS];

static void on_open(void *ctx, const xnode *header)
{
    (void)ctx, (void)header;
}

static void on_stanza(void *ctx, xnode *st)
{
    struct inbox *in = &((struct client_state *)ctx)->inbox;
    if (in->n == in->cap) {
        in->cap = in->cap ? in->cap * 2 : 8;
        in->items = xrealloc(in->items, in->cap * sizeof *in->items);
    }
    in->items[in->n++] = st;
}

static void on_close(void *ctx)
{
    ((struct client_state *)ctx)->closed = true;
}

static void on_error(void *ctx, const char *condition, const char *text)
{
    (void)ctx;
    fprintf(stderr, "fuzz: server output: %s (%s)\n", condition, text ? text : "");
    fuzz_fail("the server's output is a valid XMPP stream");
}

static void inbox_clear(struct inbox *in)
{
    for (size_t i = 0; i < in->n; i++) xnode_free(in->items[i]);
    in->n = in->handled = 0;
}

/* Feeds what the clients got since the last call to their parsers. */
static void parse_new_output(void)
{
    for (size_t i = 0; i < N_CLIENTS; i++) {
        struct client_state *c = &cs[i];
        if (!c->connected) continue;
        if (clients[i].over) fuzz_fail("a few stanzas never make megabytes of output");
        struct buf *out = &clients[i].out;
        size_t fresh = out->len - c->parsed;
        if (fresh && xmlstream_feed(c->parser, out->data + c->parsed, fresh, NULL) != XS_OK)
            fuzz_fail("the server's output is a valid XMPP stream");
        c->parsed = out->len;
        if (c->closed) fuzz_fail("the server keeps a stream open that sent only valid stanzas");
    }
}

static void exchange(size_t sender, const struct buf *xml)
{
    if (!fuzz_exchange(clients, N_CLIENTS, sender, xml->data, xml->len, MAX_TURNS))
        fuzz_fail("the server handles one stanza in a bounded number of loop turns");
    parse_new_output();
}

static void connect_client(size_t i)
{
    static const struct xmlstream_callbacks cb = { on_open, on_stanza, on_close, on_error };
    static const struct xmlstream_limits limits = { 1u << 24, 1u << 20, 1024, 1024 };
    fuzz_client_open(&clients[i]);
    struct buf script;
    buf_init(&script);
    fuzz_login_script(&script, client_info[i].node, client_info[i].resource);
    if (!fuzz_exchange(clients, i + 1, i, script.data, script.len, MAX_TURNS)) fuzz_fail("the login completes");
    buf_free(&script);
    struct buf bound;
    buf_init(&bound);
    buf_printf(&bound, "<jid>%s</jid>", client_info[i].full);
    struct buf *out = &clients[i].out;
    FUZZ_ASSERT(out->len && memmem(out->data, out->len, bound.data, bound.len));   /* BIND-1 */
    buf_free(&bound);
    struct client_state *c = &cs[i];
    *c = (struct client_state){ .connected = true, .parsed = out->len };
    c->parser = xmlstream_new(&cb, c, &limits);
    static const char header[] =
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";
    if (xmlstream_feed(c->parser, header, sizeof header - 1, NULL) != XS_OK) fuzz_fail("the output parser starts");
}

static void disconnect_all(void)
{
    size_t n = 0;
    for (size_t i = 0; i < N_CLIENTS; i++) {
        if (!cs[i].connected) continue;
        fuzz_check_client_output(clients[i].out.data, clients[i].out.len);
        xmlstream_free(cs[i].parser);
        inbox_clear(&cs[i].inbox);
        free(cs[i].inbox.items);
        clients[n++] = clients[i];   /* compacted for fuzz_clients_close */
        cs[i] = (struct client_state){ 0 };
    }
    fuzz_clients_close(clients, n);
    for (size_t i = 0; i < N_CLIENTS; i++) clients[i] = (struct fuzz_client){ .fd = -1 };
}

/* ---- the reference model of the rosters --------------------------------------- */

struct m_entry {
    bool present;
    unsigned name;                        /* index in names */
    unsigned char groups[MAX_SET_GROUPS]; /* indexes in groups */
    size_t n_groups;
};

enum colleague_state { COLL_DEFAULT, COLL_CHANGED, COLL_REMOVED };

struct m_account {
    struct m_entry items[N_CONTACTS];   /* what the client set; never the colleague */
    enum colleague_state coll;
    struct m_entry coll_override;       /* COLL_CHANGED: the name and groups set */
    char ver[64];
};

static struct m_account model[2];

/* An item as the server must show it. */
struct exp_item {
    const char *jid, *name, *sub;         /* name NULL: none */
    const char *groups[MAX_SET_GROUPS];
    size_t n_groups;
};

static const char *nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

static void entry_to_exp(const struct m_entry *e, const char *jid, const char *sub, const char *default_name,
                         struct exp_item *out)
{
    out->jid = jid;
    out->sub = sub;
    out->name = e->name ? nonempty(names[e->name]) : default_name;
    out->n_groups = e->n_groups;
    for (size_t g = 0; g < e->n_groups; g++) out->groups[g] = groups[e->groups[g]];
}

/* The colleague item of account a (ROST-1, ROST-6); false if removed. */
static bool colleague_exp(enum account a, struct exp_item *out)
{
    const struct m_account *m = &model[a];
    const char *jid = contact_jid[account_colleague[a]];
    const char *full = account_fullname[!a];
    if (m->coll == COLL_REMOVED) return false;
    if (m->coll == COLL_CHANGED) {
        entry_to_exp(&m->coll_override, jid, "both", full, out);
        return true;
    }
    *out = (struct exp_item){ .jid = jid, .name = full, .sub = "both", .groups = { "Colleagues" }, .n_groups = 1 };
    return true;
}

/* Every item of account a's roster; returns how many. */
static size_t model_items(enum account a, struct exp_item *out)
{
    size_t n = colleague_exp(a, &out[0]) ? 1 : 0;
    for (size_t c = 0; c < N_CONTACTS; c++) {
        const struct m_entry *e = &model[a].items[c];
        if (e->present) entry_to_exp(e, contact_jid[c], "none", NULL, &out[n++]);
    }
    return n;
}

static bool same_item(const struct exp_item *e, const char *name, const char *sub, const char *const *grp,
                      size_t n_groups)
{
    if (strcmp(e->sub, sub) != 0 || n_groups != e->n_groups) return false;
    if ((e->name == NULL) != (nonempty(name) == NULL) || (e->name && strcmp(e->name, name) != 0)) return false;
    for (size_t g = 0; g < n_groups; g++)
        if (strcmp(grp[g], e->groups[g]) != 0) return false;
    return true;
}

static const struct exp_item *find_exp(const struct exp_item *items, size_t n, const char *jid)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(items[i].jid, jid) == 0) return &items[i];
    return NULL;
}

/* The store's view of account a equals the model; returns its version. */
static void check_store_roster(enum account a, char *ver, size_t verlen)
{
    struct exp_item want[N_CONTACTS + 1];
    size_t n_want = model_items(a, want);
    struct roster_item *items = NULL;
    size_t n = 0;
    if (rosterview_load(fuzz_fixed_server(TMP_PREFIX), account_node[a], "localhost", &items, &n, ver, verlen) < 0)
        fuzz_fail("rosterview_load");
    bool ok = n == n_want;
    for (size_t i = 0; ok && i < n; i++) {
        const struct roster_item *it = &items[i];
        const struct exp_item *e = find_exp(want, n_want, it->jid);
        ok = e && it->state.exists && !it->state.ask_out && !it->state.preapproved &&
             same_item(e, it->name, sub_state_name(it->state.sub), (const char *const *)it->groups, it->n_groups);
    }
    if (!ok) {
        fprintf(stderr, "fuzz: %s's roster has %zu items, the model %zu\n", account_bare[a], n, n_want);
        for (size_t i = 0; i < n; i++) fprintf(stderr, "fuzz:   %s\n", items[i].jid);
        fuzz_fail("the roster equals the reference model");
    }
    roster_items_free(items, n);
}

/* ---- checking stanzas ---------------------------------------------------------- */

/* An <item/> of a roster result or push against the model's item (NULL:
 * a removal of jid). */
static bool item_xml_matches(const xnode *item, const struct exp_item *e, const char *removed_jid)
{
    const char *jid = xnode_attr(item, "jid"), *sub = xnode_attr(item, "subscription");
    if (!jid || !sub || xnode_attr(item, "ask") || xnode_attr(item, "approved")) return false;
    if (!e) return strcmp(jid, removed_jid) == 0 && strcmp(sub, "remove") == 0;
    char *grp[MAX_SET_GROUPS + 1] = { 0 };
    size_t n = 0;
    bool ok = strcmp(jid, e->jid) == 0;
    for (xnode *g = xnode_child(item, "group", NULL); ok && g; g = xnode_next_child(item, g, "group", NULL)) {
        ok = n < MAX_SET_GROUPS + 1;
        if (ok) grp[n++] = xnode_text_dup(g);
    }
    ok = ok && same_item(e, xnode_attr(item, "name"), sub, (const char *const *)grp, n);
    for (size_t i = 0; i < n; i++) free(grp[i]);
    return ok;
}

static const char *iq_type(const xnode *st)
{
    const char *t = strcmp(st->name, "iq") == 0 ? xnode_attr(st, "type") : NULL;
    return t ? t : "";
}

static bool is_response(const xnode *st)
{
    return strcmp(iq_type(st), "result") == 0 || strcmp(iq_type(st), "error") == 0;
}

static bool is_request(const xnode *st)
{
    return strcmp(iq_type(st), "get") == 0 || strcmp(iq_type(st), "set") == 0;
}

/* A roster push to client i (RFC 6121 §2.1.6): an iq set from the account
 * itself (no 'from', or its bare JID). */
static bool is_push(size_t i, const xnode *st)
{
    const char *from = xnode_attr(st, "from");
    return strcmp(iq_type(st), "set") == 0 && xnode_child(st, "query", NS_ROSTER) &&
           (!from || strcmp(from, account_bare[client_info[i].account]) == 0);
}

static bool same_id(const xnode *st, const char *id)
{
    const char *got = xnode_attr(st, "id");
    return id ? got && strcmp(got, id) == 0 : got == NULL;
}

/* Clients answer the iq requests they were sent (pushes included) with a
 * result, until nothing is left to answer. */
static void answer_requests(void)
{
    for (int round = 0; round < MAX_REPLY_ROUNDS; round++) {
        bool sent = false;
        for (size_t i = 0; i < N_CLIENTS; i++) {
            struct inbox *in = &cs[i].inbox;
            for (; cs[i].connected && in->handled < in->n; in->handled++) {
                const xnode *st = in->items[in->handled];
                const char *id = xnode_attr(st, "id");
                if (!is_request(st) || !id) continue;
                struct buf reply;
                buf_init(&reply);
                buf_puts(&reply, "<iq type='result' id='");
                buf_append_xml_escaped(&reply, id, strlen(id));
                const char *from = is_push(i, st) ? NULL : xnode_attr(st, "from");
                if (from) {
                    buf_puts(&reply, "' to='");
                    buf_append_xml_escaped(&reply, from, strlen(from));
                }
                buf_puts(&reply, "'/>");
                exchange(i, &reply);
                buf_free(&reply);
                sent = true;
            }
        }
        if (!sent) return;
    }
    fuzz_fail("answering iqs comes to an end");
}

/* ---- what an operation must produce ------------------------------------------ */

enum outcome { OUT_NONE, OUT_RESULT, OUT_ERROR, OUT_FORWARD };

struct expect {
    enum outcome outcome;
    const char *condition;   /* OUT_ERROR: the condition the RFCs fix, or NULL for any */
    size_t forward_to;       /* OUT_FORWARD: the client */
    bool request;            /* not an iq result or error: it gets a reply */
    /* a roster change: */
    bool change;             /* succeeds: pushed, version bumped */
    enum account account;
    const struct exp_item *pushed;   /* NULL: the removal of removed_jid */
    const char *removed_jid;
    /* a roster get: */
    bool roster_get;
    bool ver_current;        /* the client sent the current version */
};

struct op {
    size_t sender;
    char id[24];
    bool has_id;
    struct buf xml;
    struct expect want;
};

static void check_error_condition(const xnode *st, const char *condition)
{
    const xnode *err = xnode_child(st, "error", NULL);
    if (!err || !xnode_child(err, condition, NS_STANZAS)) {
        fprintf(stderr, "fuzz: expected <%s/>\n", condition);
        fuzz_fail("the error reply has the condition the RFCs prescribe");
    }
}

static void check_roster_result(const struct op *op, const xnode *st)
{
    enum account a = client_info[op->sender].account;
    const xnode *q = xnode_child(st, "query", NS_ROSTER);
    if (op->want.ver_current) {
        if (xnode_count_children(st) != 0) fuzz_fail("RFC 6121 2.6.3: a get with the current ver gets an empty result");
        return;
    }
    FUZZ_ASSERT(q && xnode_count_children(st) == 1);
    const char *ver = xnode_attr(q, "ver");
    if (!ver || strcmp(ver, model[a].ver) != 0) fuzz_fail("the roster result carries the current version");
    struct exp_item want[N_CONTACTS + 1];
    size_t n_want = model_items(a, want), n = 0;
    for (xnode *it = xnode_child(q, NULL, NULL); it; it = xnode_next_child(q, it, NULL, NULL), n++) {
        const char *jid = xnode_attr(it, "jid");
        const struct exp_item *e = jid ? find_exp(want, n_want, jid) : NULL;
        if (strcmp(it->name, "item") != 0 || !e || !item_xml_matches(it, e, NULL))
            fuzz_fail("a roster result shows the model's items");
    }
    if (n != n_want) fuzz_fail("a roster result shows every item of the model once");
}

static void check_push(size_t i, const struct op *op, const xnode *st)
{
    const xnode *q = xnode_child(st, "query", NS_ROSTER);
    if (!xnode_attr(st, "id") || xnode_count_children(st) != 1 || !xnode_attr(q, "ver"))
        fuzz_fail("a roster push is an iq set with an id and one query with ver");
    const xnode *item = xnode_child(q, NULL, NULL);
    if (!item || strcmp(item->name, "item") != 0 || xnode_count_children(q) != 1)
        fuzz_fail("RFC 6121 2.1.6: a roster push carries exactly one item");
    const struct expect *w = &op->want;
    if (!w->change || client_info[i].account != w->account || !cs[i].interested)
        fuzz_fail("roster pushes go only to the changed account's resources that asked for the roster");
    if (!item_xml_matches(item, w->pushed, w->removed_jid)) fuzz_fail("the push carries the changed item");
}

/* Everything the clients got for one operation, against what it must produce. */
static void check_operation(const struct op *op)
{
    const struct expect *w = &op->want;
    const char *id = op->has_id ? op->id : NULL;
    size_t responses[N_CLIENTS] = { 0 }, forwards[N_CLIENTS] = { 0 }, pushes[N_CLIENTS] = { 0 };
    for (size_t i = 0; i < N_CLIENTS; i++) {
        const struct inbox *in = &cs[i].inbox;
        for (size_t k = 0; k < in->n; k++) {
            const xnode *st = in->items[k];
            if (is_push(i, st)) {
                check_push(i, op, st);
                pushes[i]++;
            } else if (is_response(st) || (is_request(st) && same_id(st, id))) {
                if (!same_id(st, id)) fuzz_fail("no client gets an iq response nobody asked for");
                const char *from = xnode_attr(st, "from");
                bool from_sender = from && strcmp(from, client_info[op->sender].full) == 0;
                if (w->outcome == OUT_FORWARD && i == w->forward_to && from_sender && (is_request(st) || !w->request))
                    forwards[i]++;
                else if (is_response(st))
                    responses[i]++;
                else
                    fuzz_fail("an iq request reaches only the JID it is addressed to");
                if (i == op->sender && is_response(st)) {
                    if (w->outcome == OUT_ERROR && strcmp(iq_type(st), "error") != 0)
                        fuzz_fail("the model expects an error reply");
                    if (w->outcome == OUT_RESULT && strcmp(iq_type(st), "result") != 0) {
                        fprintf(stderr, "fuzz: got an error for %s\n", op->xml.data);
                        fuzz_fail("the model expects a result");
                    }
                    if (w->outcome == OUT_ERROR && w->condition) check_error_condition(st, w->condition);
                    if (w->roster_get && w->outcome == OUT_RESULT) check_roster_result(op, st);
                }
            }
        }
    }
    for (size_t i = 0; i < N_CLIENTS; i++) {
        bool sender = i == op->sender;
        size_t want_responses = sender && w->request && w->outcome != OUT_NONE ? 1 : 0;
        size_t want_forwards = w->outcome == OUT_FORWARD && i == w->forward_to ? 1 : 0;
        if (responses[i] != want_responses) {
            fprintf(stderr, "fuzz: client %zu got %zu responses to %s\n", i, responses[i], op->xml.data);
            fuzz_fail("RFC 6120 8.2.3: an iq get/set gets exactly one response; a result or error none");
        }
        if (forwards[i] != want_forwards) fuzz_fail("an iq to a bound full JID is delivered there once");
        bool pushed = w->change && cs[i].connected && client_info[i].account == w->account && cs[i].interested;
        if (pushes[i] != (pushed ? 1 : 0)) {
            fprintf(stderr, "fuzz: client %zu got %zu pushes for %s\n", i, pushes[i], op->xml.data);
            fuzz_fail("a roster change is pushed once to each interested resource of the account");
        }
    }
}

/* ---- building the operations ------------------------------------------------- */

static void attr(struct buf *b, const char *name, const char *value)
{
    if (!value) return;
    buf_printf(b, " %s='", name);
    buf_append_xml_escaped(b, value, strlen(value));
    buf_puts(b, "'");
}

static void element_text(struct buf *b, const char *name, const char *text)
{
    buf_printf(b, "<%s>", name);
    buf_append_xml_escaped(b, text, strlen(text));
    buf_printf(b, "</%s>", name);
}

static void iq_open(struct op *op, const char *type, const char *to)
{
    buf_puts(&op->xml, "<iq");
    attr(&op->xml, "type", type);
    attr(&op->xml, "id", op->has_id ? op->id : NULL);
    attr(&op->xml, "to", to);
    buf_puts(&op->xml, ">");
}

static const char *own_bare_or_none(const struct op *op, bool own)
{
    return own ? account_bare[client_info[op->sender].account] : NULL;
}

static void op_roster_get(struct fuzz_reader *r, struct op *op)
{
    unsigned flags = fuzz_pick(r, 8);
    enum account a = client_info[op->sender].account;
    static const char *const bogus_vers[] = { NULL, "", NULL, "999999-0" };
    const char *ver = (flags & 3) == 2 ? model[a].ver : bogus_vers[flags & 3];
    iq_open(op, "get", own_bare_or_none(op, flags & 4));
    buf_puts(&op->xml, "<query xmlns='" NS_ROSTER "'");
    attr(&op->xml, "ver", ver);
    buf_puts(&op->xml, "/></iq>");
    op->want = (struct expect){ .outcome = OUT_RESULT, .request = true, .roster_get = true,
                                .ver_current = ver && strcmp(ver, model[a].ver) == 0 };
}

/* NULL, or the condition RFC 6121 2.3.3 gives for the first bad group:
 * not-acceptable for an empty one, bad-request for a duplicate. */
static const char *groups_refused(const unsigned char *g, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!*groups[g[i]]) return "not-acceptable";
        for (size_t k = 0; k < i; k++)
            if (g[k] == g[i]) return "bad-request";
    }
    return NULL;
}

static struct exp_item pushed_item;

/* Applies a successful set of entry e for contact c to account a's model. */
static void model_set(enum account a, int contact, const struct m_entry *e, struct expect *w)
{
    struct m_account *m = &model[a];
    if (contact == (int)account_colleague[a]) {
        m->coll = COLL_CHANGED;
        m->coll_override = *e;
        colleague_exp(a, &pushed_item);
    } else {
        m->items[contact] = *e;
        entry_to_exp(e, contact_jid[contact], "none", NULL, &pushed_item);
    }
    w->change = true;
    w->account = a;
    w->pushed = &pushed_item;
}

static void model_remove(enum account a, int contact, struct expect *w)
{
    struct m_account *m = &model[a];
    if (contact == (int)account_colleague[a] && m->coll != COLL_REMOVED) {
        m->coll = COLL_REMOVED;
    } else if (m->items[contact].present) {
        m->items[contact].present = false;
    } else {
        *w = (struct expect){ .outcome = OUT_ERROR, .condition = "item-not-found", .request = true };
        return;
    }
    w->change = true;
    w->account = a;
    w->pushed = NULL;
    w->removed_jid = contact_jid[contact];
}

static void op_roster_set(struct fuzz_reader *r, struct op *op)
{
    unsigned j = fuzz_pick(r, N_JIDS);
    struct m_entry e = { .present = true, .name = fuzz_pick(r, N_NAMES), .n_groups = fuzz_pick(r, MAX_SET_GROUPS + 1) };
    for (size_t g = 0; g < e.n_groups; g++) e.groups[g] = (unsigned char)fuzz_pick(r, N_GROUP_CHOICES);
    unsigned flags = fuzz_pick(r, 128);
    static const char *const subs[] = { "none", "to", "from", "both", "bogus", "", "none", "both" };
    iq_open(op, "set", own_bare_or_none(op, flags & 64));
    buf_puts(&op->xml, "<query xmlns='" NS_ROSTER "'><item");
    attr(&op->xml, "jid", jid_pool[j].text);
    attr(&op->xml, "name", names[e.name]);
    if (flags & 1) attr(&op->xml, "subscription", subs[flags >> 1 & 7]);   /* RFC 6121 2.1.2.5: ignored */
    if (flags & 16) attr(&op->xml, "ask", "subscribe");                     /* 2.1.2.2: ignored */
    if (flags & 32) attr(&op->xml, "approved", "true");                     /* 2.1.2.1: ignored */
    buf_puts(&op->xml, ">");
    for (size_t g = 0; g < e.n_groups; g++) element_text(&op->xml, "group", groups[e.groups[g]]);
    buf_puts(&op->xml, "</item></query></iq>");
    op->want = (struct expect){ .outcome = OUT_RESULT, .request = true };
    const char *refused = jid_pool[j].contact < 0 ? "bad-request" : groups_refused(e.groups, e.n_groups);
    if (refused) {
        op->want.outcome = OUT_ERROR;
        op->want.condition = refused;
        return;
    }
    model_set(client_info[op->sender].account, jid_pool[j].contact, &e, &op->want);
}

static void op_roster_remove(struct fuzz_reader *r, struct op *op)
{
    unsigned j = fuzz_pick(r, N_JIDS), flags = fuzz_pick(r, 4);
    iq_open(op, "set", own_bare_or_none(op, flags & 2));
    buf_puts(&op->xml, "<query xmlns='" NS_ROSTER "'><item");
    attr(&op->xml, "jid", jid_pool[j].text);
    attr(&op->xml, "subscription", "remove");
    buf_puts(&op->xml, ">");
    if (flags & 1) element_text(&op->xml, "group", "Friends");
    buf_puts(&op->xml, "</item></query></iq>");
    op->want = (struct expect){ .outcome = OUT_RESULT, .request = true };
    if (jid_pool[j].contact < 0) op->want.outcome = OUT_ERROR;
    else model_remove(client_info[op->sender].account, jid_pool[j].contact, &op->want);
}

/* Roster sets a server must refuse: no item, two items (RFC 6121 2.3.3),
 * an item without jid, text instead of an item. */
static void op_roster_bad_set(struct fuzz_reader *r, struct op *op)
{
    unsigned variant = fuzz_pick(r, 4), j1 = fuzz_pick(r, N_JIDS), j2 = fuzz_pick(r, N_JIDS);
    iq_open(op, "set", NULL);
    buf_puts(&op->xml, "<query xmlns='" NS_ROSTER "'>");
    const char *condition = NULL;
    switch (variant) {
    case 0: break;
    case 1:
        buf_puts(&op->xml, "<item");
        attr(&op->xml, "jid", jid_pool[j1].text);
        buf_puts(&op->xml, "/><item");
        attr(&op->xml, "jid", jid_pool[j2].text);
        buf_puts(&op->xml, "/>");
        condition = "bad-request";
        break;
    case 2: buf_puts(&op->xml, "<item name='x'><group>Friends</group></item>"); break;
    case 3: buf_puts(&op->xml, "text"); break;
    }
    buf_puts(&op->xml, "</query></iq>");
    op->want = (struct expect){ .outcome = OUT_ERROR, .condition = condition, .request = true };
}

/* ---- iqs to every kind of address ------------------------------------------- */

enum payload { P_ROSTER, P_PING, P_DISCO_INFO, P_DISCO_INFO_NODE, P_DISCO_ITEMS, P_DISCO_ITEMS_NODE, P_VERSION,
               P_LAST, P_VCARD, P_UNKNOWN, P_SESSION, P_NONE, P_TWO, N_PAYLOADS };

static const char *const payload_xml[N_PAYLOADS] = {
    "<query xmlns='jabber:iq:roster'/>",
    "<ping xmlns='urn:xmpp:ping'/>",
    "<query xmlns='http://jabber.org/protocol/disco#info'/>",
    "<query xmlns='http://jabber.org/protocol/disco#info' node='http://example.org/n'/>",
    "<query xmlns='http://jabber.org/protocol/disco#items'/>",
    "<query xmlns='http://jabber.org/protocol/disco#items' node='n'/>",
    "<query xmlns='jabber:iq:version'/>",
    "<query xmlns='jabber:iq:last'/>",
    "<vCard xmlns='vcard-temp'/>",
    "<query xmlns='urn:example:unknown'><x/></query>",
    "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'/>",
    "",
    "<ping xmlns='urn:xmpp:ping'/><query xmlns='jabber:iq:version'/>",
};

enum addr_kind { A_SELF, A_DOMAIN, A_NO_ACCOUNT, A_ACCOUNT, A_FULL, A_REMOTE, A_BAD };

/* Addresses; "@self" and "@other" are the sender's and the other account's bare JID. */
static const struct {
    const char *to;
    enum addr_kind kind;
    int client;   /* A_FULL: the client bound there (-1: none) */
} addrs[] = {
    { NULL, A_SELF, -1 },
    { "@self", A_SELF, -1 },
    { "@other", A_ACCOUNT, -1 },
    { "alice@localhost/one", A_FULL, CL_ALICE_ONE },
    { "alice@localhost/two", A_FULL, CL_ALICE_TWO },
    { "Bob@LocalHost/b", A_FULL, CL_BOB },
    { "alice@localhost/gone", A_FULL, -1 },
    { "localhost", A_DOMAIN, -1 },
    { "LOCALHOST", A_DOMAIN, -1 },
    { "localhost/x", A_NO_ACCOUNT, -1 },
    { "nobody@localhost", A_NO_ACCOUNT, -1 },
    { "eve@example.org", A_REMOTE, -1 },
    { "example.org", A_REMOTE, -1 },
    { "a@b@c", A_BAD, -1 },
    { "@localhost", A_BAD, -1 },
};
#define N_ADDRS (sizeof addrs / sizeof *addrs)

static const char *const iq_types[] = { "get", "set", "result", "error", NULL, "GET" };
#define N_TYPES (sizeof iq_types / sizeof *iq_types)

static struct expect ex(enum outcome o, const char *condition)
{
    return (struct expect){ .outcome = o, .condition = condition };
}

/* XEP-0030, XEP-0054 on an account; XEP-0030/0199/0092/0012 on the domain;
 * anything else: service-unavailable (IM-5). */
static struct expect info_answer(enum payload p, bool get, bool account)
{
    bool disco = p >= P_DISCO_INFO && p <= P_DISCO_ITEMS_NODE;
    bool node = p == P_DISCO_INFO_NODE || p == P_DISCO_ITEMS_NODE;
    bool handled = disco || (account ? p == P_VCARD : p == P_PING || p == P_VERSION || p == P_LAST);
    if (!handled) return ex(OUT_ERROR, "service-unavailable");
    if (!get) return ex(OUT_ERROR, p == P_VCARD ? "not-allowed" : "bad-request");
    return node ? ex(OUT_ERROR, "item-not-found") : ex(OUT_RESULT, NULL);
}

/* What the server must do with an iq of type t and payload p to address a
 * from client sender (RFC 6120 8.2.3 and 8.3, RFC 6121 8.5, SPEC IM-5/6).
 * The error reply's order: the address, its domain, the type, the id, the
 * payload count. */
static struct expect iq_outcome(enum payload p, const char *t, bool has_id, size_t a)
{
    bool request = t && (strcmp(t, "get") == 0 || strcmp(t, "set") == 0);
    bool response = t && (strcmp(t, "result") == 0 || strcmp(t, "error") == 0);
    if (p == P_SESSION && t && strcmp(t, "set") == 0) return ex(OUT_RESULT, NULL);   /* answered by the c2s */
    if (addrs[a].kind == A_BAD) return response ? ex(OUT_NONE, NULL) : ex(OUT_ERROR, "jid-malformed");
    if (addrs[a].kind == A_REMOTE) return response ? ex(OUT_NONE, NULL) : ex(OUT_ERROR, "not-allowed");
    if (!request && !response) return ex(OUT_ERROR, "bad-request");
    if (!has_id || (request && (p == P_NONE || p == P_TWO))) return ex(request ? OUT_ERROR : OUT_NONE, "bad-request");
    bool get = strcmp(t, "get") == 0;
    switch (addrs[a].kind) {
    case A_SELF:
        if (!request) return ex(OUT_NONE, NULL);
        if (p == P_ROSTER) return get ? ex(OUT_RESULT, NULL) : ex(OUT_ERROR, "bad-request");
        if (p == P_PING && get) return ex(OUT_RESULT, NULL);
        return info_answer(p, get, true);
    case A_ACCOUNT: return request ? info_answer(p, get, true) : ex(OUT_NONE, NULL);
    case A_DOMAIN: return request ? info_answer(p, get, false) : ex(OUT_NONE, NULL);
    case A_FULL:
        if (addrs[a].client >= 0 && cs[addrs[a].client].connected) {
            struct expect w = ex(OUT_FORWARD, NULL);
            w.forward_to = (size_t)addrs[a].client;
            return w;
        }
        return request ? ex(OUT_ERROR, "service-unavailable") : ex(OUT_NONE, NULL);
    default: return request ? ex(OUT_ERROR, "service-unavailable") : ex(OUT_NONE, NULL);
    }
}

static void op_iq(struct fuzz_reader *r, struct op *op)
{
    enum payload p = (enum payload)fuzz_pick(r, N_PAYLOADS);
    size_t a = fuzz_pick(r, N_ADDRS);
    const char *t = iq_types[fuzz_pick(r, N_TYPES)];
    op->has_id = fuzz_pick(r, 8) != 0;
    enum account acc = client_info[op->sender].account;
    const char *to = addrs[a].to;
    if (to && strcmp(to, "@self") == 0) to = acc == ALICE ? "ALICE@localhost" : "bob@LOCALHOST";
    else if (to && strcmp(to, "@other") == 0) to = account_bare[!acc];
    iq_open(op, t, to);
    buf_puts(&op->xml, payload_xml[p]);
    buf_puts(&op->xml, "</iq>");
    op->want = iq_outcome(p, t, op->has_id, a);
    /* anything but a result or error (a missing or unknown type too) gets a reply */
    op->want.request = !t || (strcmp(t, "result") != 0 && strcmp(t, "error") != 0);
    if (op->want.outcome == OUT_RESULT && p == P_ROSTER && addrs[a].kind == A_SELF) op->want.roster_get = true;
}

static void op_presence(struct fuzz_reader *r, struct op *op)
{
    buf_printf(&op->xml, "<presence><priority>%d</priority></presence>", (int)fuzz_pick(r, 256) - 128);
    op->want = ex(OUT_NONE, NULL);
}

/* ---- one input ---------------------------------------------------------------- */

typedef void op_fn(struct fuzz_reader *r, struct op *op);
static op_fn *const ops[] = { op_roster_get, op_roster_set, op_roster_remove, op_roster_bad_set, op_iq,
                              op_presence, op_roster_set, op_iq };
#define N_OPS (sizeof ops / sizeof *ops)

static size_t pick_sender(struct fuzz_reader *r)
{
    size_t connected[N_CLIENTS], n = 0;
    for (size_t i = 0; i < N_CLIENTS; i++)
        if (cs[i].connected) connected[n++] = i;
    return connected[fuzz_pick(r, (unsigned)n)];
}

static void run_op(struct fuzz_reader *r, unsigned number)
{
    op_fn *build = ops[fuzz_pick(r, N_OPS)];
    struct op op = { .sender = pick_sender(r), .has_id = true };
    snprintf(op.id, sizeof op.id, "op-%u", number);
    buf_init(&op.xml);
    build(r, &op);
    exchange(op.sender, &op.xml);
    answer_requests();
    check_operation(&op);
    if (op.want.roster_get && op.want.outcome == OUT_RESULT) cs[op.sender].interested = true;
    for (size_t i = 0; i < N_CLIENTS; i++) inbox_clear(&cs[i].inbox);
    for (enum account a = ALICE; a <= BOB; a++) {
        char ver[64];
        check_store_roster(a, ver, sizeof ver);
        bool changed = strcmp(ver, model[a].ver) != 0, want_change = op.want.change && op.want.account == a;
        if (changed != want_change) {
            fprintf(stderr, "fuzz: %s's version %s -> %s after %s\n", account_bare[a], model[a].ver, ver, op.xml.data);
            fuzz_fail("RFC 6121 2.6: the roster version changes exactly when the roster does");
        }
        snprintf(model[a].ver, sizeof model[a].ver, "%s", ver);
    }
    buf_free(&op.xml);
}

int fuzz_one(const uint8_t *data, size_t len)
{
    fuzz_fixed_server(TMP_PREFIX);
    if (!groups[0]) init_pools();
    struct fuzz_reader r = { data, len };
    unsigned streams = fuzz_pick(&r, 4);
    memset(model, 0, sizeof model);
    for (size_t i = 0; i < N_CLIENTS; i++) clients[i] = (struct fuzz_client){ .fd = -1 };
    for (size_t i = 0; i < N_CLIENTS; i++)
        if (i == CL_ALICE_ONE || (streams >> (i - 1) & 1)) connect_client(i);
    for (enum account a = ALICE; a <= BOB; a++) check_store_roster(a, model[a].ver, sizeof model[a].ver);
    for (unsigned n = 0; n < MAX_OPS && r.n; n++) run_op(&r, n);
    disconnect_all();
    fuzz_fixed_server_reset_store();
    return 0;
}
