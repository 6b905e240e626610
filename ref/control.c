#include "control.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <ev.h>

#include "admin.h"
#include "log.h"
#include "server.h"

#define REPLY_PERMISSION_DENIED "{\"ok\":false,\"error\":\"permission denied\"}\n"
#define REPLY_TOO_LONG "{\"ok\":false,\"error\":\"request too long\"}\n"
#define REPLY_TOO_MANY "{\"ok\":false,\"error\":\"too many control connections\"}\n"
#define READ_CHUNK 16384

struct control_client {
    struct control *ctl;
    struct control_client *prev, *next;
    int fd;
    ev_io io;
    struct buf in;        /* bytes of requests not yet handled */
    size_t in_scanned;    /* in[0..in_scanned) holds no '\n' */
    struct buf out;       /* replies not yet written */
    char *who;            /* "uid U pid P" */
    bool closing;         /* no more requests: close once `out` is written */
};

struct control {
    struct server *srv;
    char *path;
    dev_t dev;            /* the socket file we created, to unlink only it */
    ino_t ino;
    int fd;
    ev_io accept_io;
    struct control_client *clients;
    unsigned n_clients;
};

/* ---- clients ---- */

static void client_close(struct control_client *c)
{
    struct control *ctl = c->ctl;
    ev_io_stop(ctl->srv->loop, &c->io);
    close(c->fd);
    if (c->prev) c->prev->next = c->next;
    else ctl->clients = c->next;
    if (c->next) c->next->prev = c->prev;
    ctl->n_clients--;
    buf_free(&c->in);
    buf_free(&c->out);
    free(c->who);
    free(c);
}

/* Watches for what the client needs next; closes it when nothing is left. */
static void client_sync(struct control_client *c)
{
    int events = (c->closing ? 0 : EV_READ) | (c->out.len ? EV_WRITE : 0);
    if (!events) {
        client_close(c);
        return;
    }
    if (events == (c->io.events & (EV_READ | EV_WRITE))) return;
    struct ev_loop *loop = c->ctl->srv->loop;
    ev_io_stop(loop, &c->io);
    ev_io_set(&c->io, c->fd, events);
    ev_io_start(loop, &c->io);
}

/* Ends the conversation with one last reply (written before the close). */
static void client_finish(struct control_client *c, const char *reply)
{
    buf_puts(&c->out, reply);
    buf_reset(&c->in);
    c->in_scanned = 0;
    c->closing = true;
}

/* Writes what it can; false on a write error. */
static bool client_flush(struct control_client *c)
{
    while (c->out.len) {
        ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            buf_consume(&c->out, (size_t)n);
            continue;
        }
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
    }
    return true;
}

/* Hands every complete line to admin_handle; false if the replies overflow
 * the output queue. */
static bool client_handle_lines(struct control_client *c)
{
    size_t start = 0;
    for (;;) {
        size_t from = start > c->in_scanned ? start : c->in_scanned;
        char *newline = memchr(c->in.data + from, '\n', c->in.len - from);
        if (!newline) break;
        size_t len = (size_t)(newline - (c->in.data + start));
        if (len > CONTROL_MAX_REQUEST) {
            client_finish(c, REPLY_TOO_LONG);
            return true;
        }
        *newline = '\0';
        admin_handle(c->ctl->srv, c->in.data + start, len, c->who, &c->out);
        start += len + 1;
        if (c->out.len > CONTROL_MAX_OUTPUT) return false;
    }
    buf_consume(&c->in, start);
    c->in_scanned = c->in.len;
    if (c->in.len > CONTROL_MAX_REQUEST) client_finish(c, REPLY_TOO_LONG);
    return true;
}

/* Reads one chunk; false if the client must be closed now. */
static bool client_read(struct control_client *c)
{
    char chunk[READ_CHUNK];
    ssize_t n = recv(c->fd, chunk, sizeof chunk, MSG_DONTWAIT);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    if (n == 0) {                   /* EOF: an unterminated last line is dropped */
        buf_reset(&c->in);
        c->closing = true;
        return true;
    }
    buf_append(&c->in, chunk, (size_t)n);
    return client_handle_lines(c);
}

static void client_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct control_client *c = w->data;
    (void)loop;
    if ((revents & EV_WRITE) && !client_flush(c)) {
        client_close(c);
        return;
    }
    if ((revents & EV_READ) && !c->closing && !client_read(c)) {
        client_close(c);
        return;
    }
    client_sync(c);
}

static void client_open(struct control *ctl, int fd)
{
    struct control_client *c = xcalloc(1, sizeof *c);
    c->ctl = ctl;
    c->fd = fd;
    buf_init(&c->in);
    buf_init(&c->out);
    struct ucred cred;
    socklen_t len = sizeof cred;
    struct buf who;
    buf_init(&who);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
        buf_printf(&who, "uid %u pid %d", (unsigned)cred.uid, (int)cred.pid);
        if (cred.uid != geteuid()) {
            log_write(LOG_SECURITY, "control socket: refused %s (not the server's uid)", who.data);
            client_finish(c, REPLY_PERMISSION_DENIED);
        }
    } else {
        buf_puts(&who, "unknown peer");
        client_finish(c, REPLY_PERMISSION_DENIED);
    }
    c->who = buf_steal(&who);
    c->next = ctl->clients;
    if (ctl->clients) ctl->clients->prev = c;
    ctl->clients = c;
    ctl->n_clients++;
    ev_io_init(&c->io, client_cb, fd, 0);
    c->io.data = c;
    client_sync(c);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct control *ctl = w->data;
    (void)loop;
    (void)revents;
    for (;;) {
        int fd = accept4(ctl->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                log_write(LOG_ERROR, "control socket: accept failed: %s", strerror(errno));
            return;
        }
        if (ctl->n_clients >= CONTROL_MAX_CLIENTS) {
            /* best effort, never waits: the socket buffer takes a short line */
            (void)send(fd, REPLY_TOO_MANY, strlen(REPLY_TOO_MANY), MSG_NOSIGNAL | MSG_DONTWAIT);
            close(fd);
            continue;
        }
        client_open(ctl, fd);
    }
}

/* ---- listening ---- */

/* A socket file nobody listens on any more is removed; anything else at
 * the path (a live socket, a regular file) is an error. */
static int remove_stale_socket(const char *path, const struct sockaddr_un *addr, struct buf *err)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT) return 0;
        buf_printf(err, "control socket %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        buf_printf(err, "control socket %s: exists and is not a socket", path);
        return -1;
    }
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (probe < 0) {
        buf_printf(err, "control socket %s: %s", path, strerror(errno));
        return -1;
    }
    bool live = connect(probe, (const struct sockaddr *)addr, sizeof *addr) == 0 || errno == EAGAIN;
    close(probe);
    if (live) {
        buf_printf(err, "control socket %s: another server is listening on it", path);
        return -1;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        buf_printf(err, "control socket %s: cannot remove the stale socket: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Binds with a umask so the socket is never reachable by others, then
 * makes the mode exactly 0600 and starts listening. */
static int bind_private(struct control *ctl, const struct sockaddr_un *addr, struct buf *err)
{
    mode_t old_mask = umask(0177);
    int rc = bind(ctl->fd, (const struct sockaddr *)addr, sizeof *addr);
    umask(old_mask);
    struct stat st;
    if (rc != 0 || chmod(ctl->path, 0600) != 0 || lstat(ctl->path, &st) != 0 ||
        listen(ctl->fd, CONTROL_MAX_CLIENTS) != 0) {
        buf_printf(err, "control socket %s: %s", ctl->path, strerror(errno));
        if (rc == 0) unlink(ctl->path);
        return -1;
    }
    ctl->dev = st.st_dev;
    ctl->ino = st.st_ino;
    return 0;
}

struct control *control_start(struct server *srv, const char *path, struct buf *err)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof addr.sun_path) {
        buf_printf(err, "control socket %s: path too long", path);
        return NULL;
    }
    strcpy(addr.sun_path, path);
    if (remove_stale_socket(path, &addr, err) != 0) return NULL;
    struct control *ctl = xcalloc(1, sizeof *ctl);
    ctl->srv = srv;
    ctl->path = xstrdup(path);
    ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ctl->fd < 0) {
        buf_printf(err, "control socket %s: %s", path, strerror(errno));
    } else if (bind_private(ctl, &addr, err) == 0) {
        ev_io_init(&ctl->accept_io, accept_cb, ctl->fd, EV_READ);
        ctl->accept_io.data = ctl;
        ev_io_start(srv->loop, &ctl->accept_io);
        return ctl;
    } else {
        close(ctl->fd);
    }
    free(ctl->path);
    free(ctl);
    return NULL;
}

void control_stop(struct control *ctl)
{
    if (!ctl) return;
    while (ctl->clients) client_close(ctl->clients);
    ev_io_stop(ctl->srv->loop, &ctl->accept_io);
    close(ctl->fd);
    struct stat st;
    if (lstat(ctl->path, &st) == 0 && st.st_dev == ctl->dev && st.st_ino == ctl->ino) unlink(ctl->path);
    free(ctl->path);
    free(ctl);
}
