/* Unit tests for control: the admin control socket that carries every
 * administrator action (ADM-1..ADM-4, ADM-7): its protection (mode 0600,
 * own uid only), request framing, ordering, limits, and robustness against
 * misbehaving clients. The loop is driven in small non-blocking steps; a
 * stub admin_handle (below) echoes each request's action. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "control.h"
#include "json.h"
#include "server.h"
#include "scratch.h"

#define BIG_REPLY_SIZE 600000

/* ---- stub admin_handle: replies {"ok":true,"result":"<action>"} ---- */

static int handle_calls;
static struct buf last_line;
static struct buf last_who;

void admin_handle(struct server *srv, const char *line, size_t len, const char *who, struct buf *reply)
{
    (void)srv;
    handle_calls++;
    assert_int_equal(line[len], '\0');
    assert_null(memchr(line, '\n', len));
    buf_reset(&last_line);
    buf_append(&last_line, line, len);
    buf_reset(&last_who);
    buf_puts(&last_who, who);
    struct buf err;
    buf_init(&err);
    struct json *request = json_parse(line, len, &err);
    const char *action = json_string(json_get(request, "action"));
    struct jsonw w;
    jsonw_init(&w, reply);
    jsonw_object_begin(&w);
    jsonw_key(&w, "ok");
    jsonw_bool(&w, request != NULL);
    jsonw_key(&w, request ? "result" : "error");
    if (!request) {
        jsonw_string(&w, err.data);
    } else if (action && strcmp(action, "big") == 0) {
        char *big = xmalloc(BIG_REPLY_SIZE + 1);
        memset(big, 'x', BIG_REPLY_SIZE);
        big[BIG_REPLY_SIZE] = '\0';
        jsonw_string(&w, big);
        free(big);
    } else {
        jsonw_string(&w, action);
    }
    jsonw_object_end(&w);
    buf_puts(reply, "\n");
    json_free(request);
    buf_free(&err);
}

/* ---- fixture: a loop, a server with just the loop, a running control ---- */

struct fixture {
    struct scratch *scratch;
    char path[128];
    struct ev_loop *loop;
    struct server srv;
    struct control *ctl;
};

static struct fixture fx;

static int setup(void **state)
{
    void *scratch;
    if (scratch_setup(&scratch) != 0) return -1;
    fx.scratch = scratch;
    snprintf(fx.path, sizeof fx.path, "%s/imrefd.sock", fx.scratch->dir);
    fx.loop = ev_loop_new(EVFLAG_AUTO);
    fx.srv = (struct server){ .loop = fx.loop };
    struct buf err;
    buf_init(&err);
    fx.ctl = control_start(&fx.srv, fx.path, &err);
    if (!fx.ctl) fprintf(stderr, "control_start: %s\n", err.data);
    buf_free(&err);
    handle_calls = 0;
    *state = &fx;
    return fx.ctl ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    control_stop(fx.ctl);
    fx.ctl = NULL;
    ev_loop_destroy(fx.loop);
    void *scratch = fx.scratch;
    scratch_teardown(&scratch);
    buf_free(&last_line);
    buf_free(&last_who);
    return 0;
}

static void pump(void)
{
    for (int i = 0; i < 4; i++) ev_run(fx.loop, EVRUN_NOWAIT);
}

static void pause_briefly(void)
{
    struct timespec ts = { 0, 1000000 };
    nanosleep(&ts, NULL);
}

static int connect_to(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    strcpy(addr.sun_path, path);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int client_connect(void)
{
    int fd = connect_to(fx.path);
    assert_true(fd >= 0);
    return fd;
}

static void send_all(int fd, const char *data, size_t len)
{
    for (int tries = 0; len && tries < 100000; tries++) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
        } else {
            assert_true(n < 0 && errno == EAGAIN);
            pump();
        }
    }
    assert_int_equal(len, 0);
}

static void send_str(int fd, const char *s)
{
    send_all(fd, s, strlen(s));
}

/* Runs the loop and collects what the server sends until at least
 * `want_bytes` arrived (and, if want_close, the server closed), or about
 * 5 s passed without progress. */
static char *receive(int fd, size_t want_bytes, bool want_close, bool *closed)
{
    struct buf in;
    buf_init(&in);
    *closed = false;
    for (int idle = 0; idle < 5000;) {
        pump();
        char chunk[65536];
        ssize_t n = recv(fd, chunk, sizeof chunk, MSG_DONTWAIT);
        if (n > 0) {
            buf_append(&in, chunk, (size_t)n);
            idle = 0;
        } else if (n == 0 || errno == ECONNRESET) {
            *closed = true;
        } else {
            assert_int_equal(errno, EAGAIN);
            pause_briefly();
            idle++;
        }
        if (*closed || (in.len >= want_bytes && !want_close)) break;
    }
    return buf_steal(&in);
}

static void expect_replies(int fd, const char *expected)
{
    bool closed;
    char *got = receive(fd, strlen(expected), false, &closed);
    assert_false(closed);
    assert_string_equal(got, expected);
    free(got);
}

static void expect_closed(int fd, const char *last_reply)
{
    bool closed;
    char *got = receive(fd, SIZE_MAX, true, &closed);
    assert_true(closed);
    assert_string_equal(got, last_reply);
    free(got);
}

/* ---- tests ---- */

/* ADM-1..ADM-4 (protection): the socket is mode 0600 even under umask 0 */
static void test_socket_mode_0600(void **state)
{
    (void)state;
    struct stat st;
    assert_int_equal(lstat(fx.path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);

    control_stop(fx.ctl);
    mode_t old = umask(0);
    struct buf err;
    buf_init(&err);
    fx.ctl = control_start(&fx.srv, fx.path, &err);
    umask(old);
    assert_non_null(fx.ctl);
    assert_int_equal(lstat(fx.path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_uid, geteuid());
    buf_free(&err);
}

/* ADM-1, ADM-4: two requests in one write get two replies, in order; the
 * handler learns who asked */
static void test_two_requests_in_order(void **state)
{
    (void)state;
    int fd = client_connect();
    send_str(fd, "{\"action\":\"user.add\",\"jid\":\"a@b\"}\n{\"action\":\"connections\"}\n");
    expect_replies(fd, "{\"ok\":true,\"result\":\"user.add\"}\n{\"ok\":true,\"result\":\"connections\"}\n");
    assert_int_equal(handle_calls, 2);
    assert_string_equal(last_line.data, "{\"action\":\"connections\"}");
    char who[64];
    snprintf(who, sizeof who, "uid %u pid %d", (unsigned)geteuid(), (int)getpid());
    assert_string_equal(last_who.data, who);

    /* the connection stays open for more */
    send_str(fd, "{\"action\":\"reload\"}\n");
    expect_replies(fd, "{\"ok\":true,\"result\":\"reload\"}\n");
    close(fd);
}

/* ADM-4, robustness: a request split over many writes is reassembled */
static void test_request_split_across_writes(void **state)
{
    (void)state;
    int fd = client_connect();
    const char *request = "{\"action\":\"user.passwd\",\"jid\":\"alice@example.com\",\"password\":\"s3cret\"}\n";
    for (size_t i = 0; request[i]; i++) {
        send_all(fd, request + i, 1);
        pump();
        if (request[i + 1]) assert_int_equal(handle_calls, 0);
    }
    expect_replies(fd, "{\"ok\":true,\"result\":\"user.passwd\"}\n");
    assert_int_equal(handle_calls, 1);
    assert_int_equal(last_line.len, strlen(request) - 1);
    close(fd);
}

/* robustness: 65537 bytes without a newline: "request too long", closed */
static void test_request_too_long(void **state)
{
    (void)state;
    int fd = client_connect();
    char *junk = xmalloc(CONTROL_MAX_REQUEST + 1);
    memset(junk, 'x', CONTROL_MAX_REQUEST + 1);
    send_all(fd, junk, CONTROL_MAX_REQUEST + 1);
    expect_closed(fd, "{\"ok\":false,\"error\":\"request too long\"}\n");
    assert_int_equal(handle_calls, 0);
    close(fd);

    /* the same with its newline, arriving in one piece */
    fd = client_connect();
    send_all(fd, junk, CONTROL_MAX_REQUEST + 1);
    send_str(fd, "\n{\"action\":\"never\"}\n");
    expect_closed(fd, "{\"ok\":false,\"error\":\"request too long\"}\n");
    assert_int_equal(handle_calls, 0);
    close(fd);
    free(junk);
}

/* robustness: a request of exactly 65536 bytes is still served */
static void test_request_at_the_limit(void **state)
{
    (void)state;
    struct buf request;
    buf_init(&request);
    buf_puts(&request, "{\"action\":\"");
    while (request.len < CONTROL_MAX_REQUEST - 2) buf_puts(&request, "a");
    buf_puts(&request, "\"}\n");
    assert_int_equal(request.len, CONTROL_MAX_REQUEST + 1);
    int fd = client_connect();
    send_all(fd, request.data, request.len);
    size_t reply_len = strlen("{\"ok\":true,\"result\":\"\"}\n") + CONTROL_MAX_REQUEST - 13;
    bool closed;
    char *got = receive(fd, reply_len, false, &closed);
    assert_false(closed);
    assert_int_equal(handle_calls, 1);
    assert_int_equal(last_line.len, CONTROL_MAX_REQUEST);
    assert_int_equal(strlen(got), reply_len);
    assert_int_equal(got[reply_len - 1], '\n');
    free(got);
    buf_free(&request);
    close(fd);
}

/* ADM-4, robustness: malformed JSON reaches admin_handle as sent, and its
 * error reply comes back; the connection goes on */
static void test_malformed_json_passed_through(void **state)
{
    (void)state;
    int fd = client_connect();
    send_str(fd, "{\"action\": nope,}\n\n");
    expect_replies(fd, "{\"ok\":false,\"error\":\"offset 11: invalid literal\"}\n"
                       "{\"ok\":false,\"error\":\"offset 0: unexpected end of input\"}\n");
    assert_int_equal(handle_calls, 2);
    assert_int_equal(last_line.len, 0);
    send_str(fd, "[1,]\r\n");
    expect_replies(fd, "{\"ok\":false,\"error\":\"offset 2: trailing comma\"}\n");
    assert_string_equal(last_line.data, "[1,]\r");
    close(fd);
}

/* robustness: at most 16 clients at a time; the 17th is told and closed;
 * a freed slot is served again */
static void test_client_limit(void **state)
{
    (void)state;
    int fds[CONTROL_MAX_CLIENTS];
    for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
        fds[i] = client_connect();
        send_str(fds[i], "{\"action\":\"services\"}\n");
        expect_replies(fds[i], "{\"ok\":true,\"result\":\"services\"}\n");
    }
    int extra = client_connect();
    send_str(extra, "{\"action\":\"services\"}\n");
    expect_closed(extra, "{\"ok\":false,\"error\":\"too many control connections\"}\n");
    assert_int_equal(handle_calls, CONTROL_MAX_CLIENTS);
    close(extra);

    close(fds[0]);
    pump();
    fds[0] = client_connect();
    send_str(fds[0], "{\"action\":\"settings.get\"}\n");
    expect_replies(fds[0], "{\"ok\":true,\"result\":\"settings.get\"}\n");
    for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) send_str(fds[i], "{\"action\":\"again\"}\n");
    for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) expect_replies(fds[i], "{\"ok\":true,\"result\":\"again\"}\n");
    for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) close(fds[i]);
}

/* ADM-7, robustness: EOF after a request: the reply is still written, then
 * the connection closes; an unterminated last line is dropped */
static void test_eof_after_request(void **state)
{
    (void)state;
    int fd = client_connect();
    send_str(fd, "{\"action\":\"reload\"}\n{\"action\":\"partial\"}");
    shutdown(fd, SHUT_WR);
    expect_closed(fd, "{\"ok\":true,\"result\":\"reload\"}\n");
    assert_int_equal(handle_calls, 1);
    close(fd);
}

/* robustness: replies queued beyond 1 MiB close the client; a client that
 * vanishes with replies pending costs nothing (no SIGPIPE) */
static void test_output_queue_bounded(void **state)
{
    (void)state;
    int fd = client_connect();
    send_str(fd, "{\"action\":\"big\"}\n{\"action\":\"big\"}\n{\"action\":\"big\"}\n{\"action\":\"big\"}\n");
    bool closed;
    char *got = receive(fd, SIZE_MAX, true, &closed);
    assert_true(closed);
    assert_true(strlen(got) < 2 * BIG_REPLY_SIZE);
    assert_int_equal(handle_calls, 2);
    free(got);
    close(fd);

    fd = client_connect();
    send_str(fd, "{\"action\":\"big\"}\n");
    pump();
    close(fd);
    pump();

    fd = client_connect();
    send_str(fd, "{\"action\":\"still-here\"}\n");
    expect_replies(fd, "{\"ok\":true,\"result\":\"still-here\"}\n");
    close(fd);
}

/* ADM-1..ADM-4 (protection): a peer of another uid gets one error reply and
 * is closed, its request never handled; the Security log says so */
static void test_other_uid_refused(void **state)
{
    (void)state;
    if (geteuid() != 0) skip();    /* needs a second uid */
    assert_int_equal(chmod(fx.scratch->dir, 0711), 0);
    assert_int_equal(chmod(fx.path, 0666), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        strcpy(addr.sun_path, fx.path);
        struct timeval tv = { 5, 0 };
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) _exit(3);
        const char *request = "{\"action\":\"user.list\"}\n";
        if (write(fd, request, strlen(request)) < 0) _exit(4);
        char reply[256];
        size_t got = 0;
        for (;;) {
            ssize_t n = read(fd, reply + got, sizeof reply - 1 - got);
            if (n <= 0) break;
            got += (size_t)n;
        }
        reply[got] = '\0';
        _exit(strcmp(reply, "{\"ok\":false,\"error\":\"permission denied\"}\n") == 0 ? 0 : 5);
    }
    int status = -1;
    for (int i = 0; i < 10000 && waitpid(child, &status, WNOHANG) == 0; i++) {
        pump();
        pause_briefly();
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(handle_calls, 0);
    char path[128];
    snprintf(path, sizeof path, "%s/security.log", fx.scratch->dir);
    char *log = scratch_read_file(path);
    char expected[64];
    snprintf(expected, sizeof expected, "refused uid 65534 pid %d", (int)child);
    assert_non_null(strstr(log, expected));
    free(log);
}

/* ADM-7 (restart): a stale socket file is replaced; a live one, or a path
 * that is not a socket, is refused and left alone */
static void test_stale_socket_replaced(void **state)
{
    (void)state;
    struct buf err;
    buf_init(&err);
    struct control *second = control_start(&fx.srv, fx.path, &err);
    assert_null(second);
    assert_non_null(strstr(err.data, "another server is listening"));
    int fd = client_connect();                  /* the first is unharmed */
    send_str(fd, "{\"action\":\"ping\"}\n");
    expect_replies(fd, "{\"ok\":true,\"result\":\"ping\"}\n");
    close(fd);

    /* a socket file nobody listens on, as a crashed imrefd leaves it */
    control_stop(fx.ctl);
    fx.ctl = NULL;
    int stale = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    strcpy(addr.sun_path, fx.path);
    assert_int_equal(bind(stale, (struct sockaddr *)&addr, sizeof addr), 0);
    close(stale);
    assert_int_equal(connect_to(fx.path), -1);
    buf_reset(&err);
    fx.ctl = control_start(&fx.srv, fx.path, &err);
    assert_non_null(fx.ctl);
    fd = client_connect();
    send_str(fd, "{\"action\":\"after-restart\"}\n");
    expect_replies(fd, "{\"ok\":true,\"result\":\"after-restart\"}\n");
    close(fd);

    /* a regular file is not touched */
    control_stop(fx.ctl);
    fx.ctl = NULL;
    FILE *f = fopen(fx.path, "w");
    fputs("keep me", f);
    fclose(f);
    buf_reset(&err);
    assert_null(control_start(&fx.srv, fx.path, &err));
    assert_non_null(strstr(err.data, "not a socket"));
    char *content = scratch_read_file(fx.path);
    assert_string_equal(content, "keep me");
    free(content);
    unlink(fx.path);

    /* a path too long for a socket address */
    char long_path[200];
    memset(long_path, 'p', sizeof long_path - 1);
    long_path[sizeof long_path - 1] = '\0';
    buf_reset(&err);
    assert_null(control_start(&fx.srv, long_path, &err));
    assert_non_null(strstr(err.data, "path too long"));
    buf_free(&err);
}

/* ADM-7 (shutdown): control_stop closes the clients and unlinks the path,
 * but never a file that replaced its socket */
static void test_stop_unlinks(void **state)
{
    (void)state;
    int fd = client_connect();
    send_str(fd, "{\"action\":\"ping\"}\n");
    expect_replies(fd, "{\"ok\":true,\"result\":\"ping\"}\n");
    control_stop(fx.ctl);
    fx.ctl = NULL;
    struct stat st;
    assert_int_equal(lstat(fx.path, &st), -1);
    assert_int_equal(errno, ENOENT);
    bool closed;
    char *got = receive(fd, SIZE_MAX, true, &closed);
    assert_true(closed);
    assert_string_equal(got, "");
    free(got);
    close(fd);
    assert_int_equal(connect_to(fx.path), -1);

    struct buf err;
    buf_init(&err);
    fx.ctl = control_start(&fx.srv, fx.path, &err);
    assert_non_null(fx.ctl);
    unlink(fx.path);
    FILE *f = fopen(fx.path, "w");
    fclose(f);
    control_stop(fx.ctl);
    fx.ctl = NULL;
    assert_int_equal(lstat(fx.path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_socket_mode_0600, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_requests_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_split_across_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_too_long, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_at_the_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_json_passed_through, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eof_after_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_output_queue_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_uid_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_socket_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_unlinks, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
