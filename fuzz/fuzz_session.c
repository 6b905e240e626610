/* A whole client session (SPEC IM, ROST, BIND, XML): the fixed in-process
 * server of fuzz_common.c (domain localhost, users alice and bob,
 * NoRestrictions, SendOutside 0, no listener), and per input one client
 * stream over a socketpair that logs in as alice with PLAIN, binds, then
 * sends the fuzzer's bytes, so they reach the router, roster, presence and
 * iq handlers. Invariants: the bind succeeds; the c2s consumes its input in
 * a bounded number of loop turns; everything the server writes parses as
 * namespace-well-formed XML (one document per stream header); once the
 * client hangs up the c2s and every session are gone. The store is emptied
 * of alice's and bob's rows after each input, so state does not grow. */
#include "fuzz.h"

#include <string.h>

#include "buf.h"

#define INPUT_CAP (64 * 1024)
#define MAX_TURNS 4000                  /* loop turns to consume one input */
#define TMP_PREFIX "imref-fuzz-session-"

int fuzz_one(const uint8_t *data, size_t len)
{
    fuzz_fixed_server(TMP_PREFIX);
    if (len > INPUT_CAP) len = INPUT_CAP;
    struct buf script;
    buf_init(&script);
    fuzz_login_script(&script, "alice", "fuzz");
    buf_append(&script, (const char *)data, len);

    struct fuzz_client client;
    fuzz_client_open(&client);
    if (!fuzz_exchange(&client, 1, 0, script.data, script.len, MAX_TURNS))
        fuzz_fail("the c2s consumes its input in a bounded number of loop turns");
    if (!client.over) {
        static const char bound[] = "<jid>alice@localhost/fuzz</jid>";   /* BIND-1 */
        FUZZ_ASSERT(client.out.len && memmem(client.out.data, client.out.len, bound, sizeof bound - 1));
        fuzz_check_client_output(client.out.data, client.out.len);
    }
    fuzz_clients_close(&client, 1);
    buf_free(&script);
    fuzz_fixed_server_reset_store();
    return 0;
}
