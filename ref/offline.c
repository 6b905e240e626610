#include "offline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "c2s.h"
#include "config.h"
#include "router.h"
#include "server.h"
#include "session.h"
#include "store.h"

/* XEP-0082 UTC date-time: "2026-11-23T20:56:35Z" (out >= 21 bytes). */
static void offline_format_stamp(long long unix_time, char *out, size_t outlen)
{
    time_t t = (time_t)unix_time;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int offline_store(struct server *srv, const char *bare, const xnode *msg)
{
    long long now = (long long)time(NULL);
    xnode *copy = xnode_copy(msg, "jabber:client");
    xnode *delay = xnode_add_child(copy, "delay", "urn:xmpp:delay");
    const char *at = strchr(bare, '@');
    xnode_set_attr(delay, "from", at ? at + 1 : bare);
    char stamp[32];
    offline_format_stamp(now, stamp, sizeof stamp);
    xnode_set_attr(delay, "stamp", stamp);
    xnode_add_text(delay, "Offline Storage", 15);
    struct buf xml;
    buf_init(&xml);
    xnode_serialize(copy, "jabber:client", &xml);
    xnode_free(copy);
    int r = store_offline_push(srv->store, bare, xml.data, now, srv->cfg->limits.offline_messages);
    buf_free(&xml);
    return r;
}

void offline_deliver(struct server *srv, struct session *s)
{
    struct offline_msg *msgs = NULL;
    size_t n = 0;
    if (store_offline_list(srv->store, s->bare_jid, &msgs, &n) < 0 || n == 0) {
        offline_msgs_free(msgs, n);
        return;
    }
    struct buf out;
    buf_init(&out);
    for (size_t i = 0; i < n; i++) buf_puts(&out, msgs[i].xml);
    /* Written to the stream as stored (already serialised in jabber:client). */
    if (c2s_send_raw_stanzas(s->c2s, out.data, out.len) == 0)
        store_offline_delete_upto(srv->store, s->bare_jid, msgs[n - 1].id);
    buf_free(&out);
    offline_msgs_free(msgs, n);
}
