/*
 * nonblock_demo - what accept, recv, read, connect and send do on a
 * non-blocking descriptor, shown on loopback sockets and on a pipe.
 *
 * Usage: nonblock_demo [-h | --help]
 *
 * Each line is one call, what it returned and the errno it set. The
 * program exits with status 1 if any call did not do what its line says.
 * Pairs with: nothing - it stands alone.
 *
 * Try it:
 *   ./build/02_nonblocking/nonblock_demo
 *   strace -e trace=network,read,poll ./build/02_nonblocking/nonblock_demo
 *
 * What to notice:
 *   - a non-blocking call never sleeps: "nothing yet" is -1 with EAGAIN,
 *     while 0 from recv or read still means end of file;
 *   - a non-blocking connect says EINPROGRESS; writable means finished,
 *     and SO_ERROR says how: 0, or the reason (ECONNREFUSED);
 *   - send takes what fits, then says EAGAIN: the rest must wait.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

#define WAIT_MS 1000              /* the longest wait for what is due now */
#define CHUNK 65536               /* bytes per send while filling buffers */
#define FILL_LIMIT (256L << 20)   /* no send buffer is this big: give up */
#define STEP "  %-19s %s -> %s\n" /* one call: what happens, call, result */

static void usage(FILE *out)
{
    fprintf(out, "usage: nonblock_demo [-h | --help]\n");
}

/* close(), which only fails for a bad descriptor: a bug. */
static void close_fd(int fd)
{
    if (close(fd) < 0) {
        die_errno("close %d", fd);
    }
}

/* Whether ERR means "nothing now, try again later". POSIX allows EAGAIN
 * and EWOULDBLOCK to differ; Linux gives both names one value. */
static int would_block(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK;
}

/* What a call returned, in BUF: "-1 ENAME" if RC is -1 (ERR is the errno
 * saved right after the call), "0 (end of file)" (what 0 means from recv
 * and read), or the number. */
static const char *result(ssize_t rc, int err, char *buf, size_t size)
{
    if (rc < 0) {
        snprintf(buf, size, "-1 %s", errno_name(err));
    } else {
        snprintf(buf, size, rc == 0 ? "%zd (end of file)" : "%zd", rc);
    }
    return buf;
}

/* Wait at most WAIT_MS for EVENTS on FD, and name what poll reported in
 * BUF. Only for what is due at once on loopback: a timeout is a failed
 * claim. Returns the revents bits, 0 after a timeout. */
static short wait_for(int fd, short events, char *buf, size_t size)
{
    static const struct {
        short bit;
        const char *name;
    } bits[] = {{POLLIN, "POLLIN"},   {POLLPRI, "POLLPRI"},
                {POLLOUT, "POLLOUT"}, {POLLERR, "POLLERR"},
                {POLLHUP, "POLLHUP"}, {POLLNVAL, "POLLNVAL"}};
    struct pollfd pfd = {.fd = fd, .events = events};
    int n = poll(&pfd, 1, WAIT_MS);
    if (n < 0) {
        die_errno("poll");
    }
    snprintf(buf, size, "%s", n == 0 ? "0 (timed out)" : "");
    for (size_t i = 0; n > 0 && i < sizeof bits / sizeof bits[0]; i++) {
        if (pfd.revents & bits[i].bit) {
            size_t len = strlen(buf);
            snprintf(buf + len, size - len, "%s%s", len ? " " : "",
                     bits[i].name);
        }
    }
    return n == 0 ? 0 : pfd.revents;
}

/* A non-blocking TCP listener on 127.0.0.1, on a port the kernel picks;
 * its address goes to *ADDR. */
static int open_listener(struct sockaddr_in *addr)
{
    int fd = net_listen("127.0.0.1", "0", SOMAXCONN);
    if (fd < 0) {
        die("cannot listen on 127.0.0.1"); /* net_listen said why */
    }
    socklen_t len = sizeof *addr;
    if (getsockname(fd, (struct sockaddr *)addr, &len) < 0 ||
        set_nonblocking(fd) < 0) {
        die_errno("listener");
    }
    return fd;
}

/* accept with an empty queue, then after a client connects. The client
 * goes to *CLIENT, our (non-blocking) end to *CONN. Returns 1 if both
 * calls did what they claim. */
static int demo_accept(int listen_fd, const struct sockaddr_in *addr, int *conn,
                       int *client)
{
    char where[NET_ADDRSTRLEN], port[8], buf[96];
    printf("accept on a non-blocking listener, %s\n",
           net_addr_str((const struct sockaddr *)addr, sizeof *addr, where,
                        sizeof where));

    /* Nobody has connected: a blocking accept would sleep, this one says
     * EAGAIN at once. errno is saved before printf can change it. */
    int fd = accept(listen_fd, NULL, NULL);
    int err = errno;
    printf(STEP, "no client yet:", "accept", result(fd, err, buf, sizeof buf));
    int ok = fd < 0 && would_block(err);

    snprintf(port, sizeof port, "%u", ntohs(addr->sin_port));
    if ((*client = net_connect("127.0.0.1", port)) < 0) {
        die("cannot connect to %s", where); /* net_connect said why */
    }
    ok = wait_for(listen_fd, POLLIN, buf, sizeof buf) && ok;
    printf(STEP, "a client connects:", "poll", buf);
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    *conn = accept(listen_fd, (struct sockaddr *)&peer, &len);
    err = errno;
    result(*conn, err, buf, sizeof buf);
    if (*conn >= 0) {
        snprintf(
            buf, sizeof buf, "%d, from %s", *conn,
            net_addr_str((struct sockaddr *)&peer, len, where, sizeof where));
    }
    printf(STEP, "", "accept", buf);

    /* On Linux an accepted socket does not inherit O_NONBLOCK (on BSD it
     * does): set it, as every non-blocking server must. */
    if (*conn < 0 || set_nonblocking(*conn) < 0) {
        die_errno("accept");
    }
    return ok;
}

/* recv on CONN before, while and after CLIENT sends, then after CLIENT
 * closes: -1 EAGAIN, bytes, -1 EAGAIN again, 0. Returns 1 if so. */
static int demo_recv(int conn, int client)
{
    static const char hello[] = "hello\n";
    char data[64], buf[96];
    printf("recv on the accepted connection, made non-blocking\n");
    ssize_t n = recv(conn, data, sizeof data, 0);
    int err = errno;
    printf(STEP, "nothing sent yet:", "recv", result(n, err, buf, sizeof buf));
    int ok = n < 0 && would_block(err);

    if (send_all(client, hello, sizeof hello - 1) < 0) {
        die_errno("send");
    }
    ok = wait_for(conn, POLLIN, buf, sizeof buf) && ok;
    printf(STEP, "the client sends 6:", "poll", buf);
    n = recv(conn, data, sizeof data, 0);
    err = errno;
    printf(STEP, "", "recv", result(n, err, buf, sizeof buf));
    ok = ok && n == (ssize_t)sizeof hello - 1;

    /* All of it read: a loop that reads until EAGAIN ends here, and comes
     * back when poll says POLLIN again. EAGAIN is not end of file. */
    n = recv(conn, data, sizeof data, 0);
    err = errno;
    printf(STEP, "all of it read:", "recv", result(n, err, buf, sizeof buf));
    ok = ok && n < 0 && would_block(err);

    close_fd(client); /* FIN: end of file, non-blocking or not */
    ok = wait_for(conn, POLLIN, buf, sizeof buf) && ok;
    printf(STEP, "the client closes:", "poll", buf);
    n = recv(conn, data, sizeof data, 0);
    err = errno;
    printf(STEP, "", "recv", result(n, err, buf, sizeof buf));
    return ok && n == 0;
}

/* read on the non-blocking end of a pipe: empty, one byte, closed.
 *
 * Why a pipe of our own, not stdin: O_NONBLOCK belongs to the open file
 * description, which fd 0 shares with every process that inherited it
 * (the shell, and the programs it runs next). Set on a terminal, it stays
 * set after we exit, and the next program that reads the terminal gets
 * EAGAIN ("cat: -: Resource temporarily unavailable"). A program that
 * must do it saves the flags (F_GETFL) and restores them on every way
 * out, which a crash skips. */
static int demo_pipe(void)
{
    int p[2];
    char byte, buf[96];
    printf("read on a non-blocking pipe (stdin would do the same)\n");
    if (pipe(p) < 0 || set_nonblocking(p[0]) < 0) {
        die_errno("pipe");
    }
    ssize_t n = read(p[0], &byte, 1);
    int err = errno;
    printf(STEP, "pipe empty:", "read", result(n, err, buf, sizeof buf));
    int ok = n < 0 && would_block(err);

    if (write(p[1], "x", 1) != 1) {
        die_errno("write");
    }
    ok = wait_for(p[0], POLLIN, buf, sizeof buf) && ok;
    printf(STEP, "a byte written:", "poll", buf);
    n = read(p[0], &byte, 1);
    err = errno;
    printf(STEP, "", "read", result(n, err, buf, sizeof buf));
    ok = ok && n == 1;

    close_fd(p[1]); /* no writer left: end of file */
    ok = wait_for(p[0], POLLIN, buf, sizeof buf) && ok;
    printf(STEP, "write end closed:", "poll", buf);
    n = read(p[0], &byte, 1);
    err = errno;
    printf(STEP, "", "read", result(n, err, buf, sizeof buf));
    close_fd(p[0]);
    return ok && n == 0;
}

/* A non-blocking connect to TO: EINPROGRESS, then poll for writable, then
 * SO_ERROR, which must be WANT (0: connected). The socket goes to *OUT.
 * Returns 1 if all three did what they claim. */
static int demo_connect(const struct sockaddr_in *to, int want, int *out)
{
    char buf[96];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || set_nonblocking(fd) < 0) {
        die_errno("socket");
    }
    /* The SYN is sent and connect returns before any answer: Linux says
     * EINPROGRESS even on loopback. (POSIX lets a connect that can finish
     * at once return 0, so real code handles 0 as well.) */
    int rc = connect(fd, (const struct sockaddr *)to, sizeof *to);
    int err = errno;
    printf(STEP, "at once:", "connect", result(rc, err, buf, sizeof buf));
    int ok = rc < 0 && err == EINPROGRESS;

    /* Writable means the handshake is over, not that it worked. */
    short revents = wait_for(fd, POLLOUT, buf, sizeof buf);
    printf(STEP, "handshake over:", "poll", buf);
    ok = ok && (revents & POLLOUT);

    /* SO_ERROR holds the outcome, and reading it clears it. */
    int so_error = 0;
    socklen_t len = sizeof so_error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) < 0) {
        die_errno("getsockopt SO_ERROR");
    }
    printf(STEP, "its outcome:", "getsockopt SO_ERROR",
           so_error == 0 ? "0 (connected)" : errno_name(so_error));
    *out = fd;
    return ok && so_error == want;
}

/* send on FD, CHUNK bytes at a time, until the buffers are full: the
 * peer reads nothing. Returns 1 if send ended in EAGAIN. */
static int demo_send(int fd)
{
    static const char chunk[CHUNK]; /* zeros */
    char buf[32], what[96];
    long total = 0;
    ssize_t n = 0;
    printf("send on that connection, which nobody reads\n");
    while (total < FILL_LIMIT && (n = send(fd, chunk, sizeof chunk, 0)) > 0) {
        total += n; /* the last one may be short: it took what fitted */
    }
    int err = errno;
    snprintf(what, sizeof what, "%s after %ld bytes",
             result(n, err, buf, sizeof buf), total);
    printf(STEP, "until it is full:", "send", what);
    return n < 0 && would_block(err);
}

/* A TCP socket bound to a port on 127.0.0.1 but not listening: a SYN to
 * it is answered with RST, and while it is open no one else can take the
 * port (it has no SO_REUSEADDR). Its address goes to *ADDR. */
static int hold_port(struct sockaddr_in *addr)
{
    struct sockaddr_in any = {.sin_family = AF_INET};
    any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof *addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&any, sizeof any) < 0 ||
        getsockname(fd, (struct sockaddr *)addr, &len) < 0) {
        die_errno("bind 127.0.0.1");
    }
    return fd;
}

int main(int argc, char **argv)
{
    if (argc == 2 &&
        (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc > 1) {
        usage(stderr);
        return 2;
    }
    if (setvbuf(stdout, NULL, _IOLBF, 0) != 0) {
        die("setvbuf: cannot make stdout line-buffered");
    }
    /* A send to a vanished peer must fail (EPIPE), not kill us: see
     * install_stop_handlers in common/io.c. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        die_errno("signal SIGPIPE");
    }
    printf("EAGAIN is %d, EWOULDBLOCK is %d: %s; portable code tests both\n",
           EAGAIN, EWOULDBLOCK,
           EAGAIN == EWOULDBLOCK ? "one value, two names" : "two values");

    struct sockaddr_in addr, closed;
    int conn, client, fd;
    int listen_fd = open_listener(&addr);
    int failed = !demo_accept(listen_fd, &addr, &conn, &client);
    failed += !demo_recv(conn, client);
    close_fd(conn);
    failed += !demo_pipe();

    printf("connect from a non-blocking socket to the listener\n");
    failed += !demo_connect(&addr, 0, &fd);
    /* The listener never accepts this connection: the kernel completed
     * it, and receives for it, all the same. */
    failed += !demo_send(fd);
    close_fd(fd);
    close_fd(listen_fd);

    int holder = hold_port(&closed);
    printf("connect from a non-blocking socket to a port nobody listens on\n");
    failed += !demo_connect(&closed, ECONNREFUSED, &fd);
    close_fd(fd);
    close_fd(holder);
    if (failed > 0) {
        fprintf(stderr, "nonblock_demo: %d demonstration(s) failed\n", failed);
        return 1;
    }
    return 0;
}
