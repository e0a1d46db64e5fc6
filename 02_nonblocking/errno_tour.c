/*
 * errno_tour - the errors a socket program meets, provoked one by one on
 * loopback, each shown with its name and what a program does about it.
 *
 * Usage: errno_tour [-h | --help]
 *
 * One block per errno: its name and how the tour provokes it, then the
 * failing call's real result, then the lesson. The program exits with
 * status 1 if any call did not fail with the errno its block claims.
 * Pairs with: nothing - it stands alone (docs/errno.md is its page).
 *
 * Try it:
 *   ./build/02_nonblocking/errno_tour
 *   strace -e trace=network,close ./build/02_nonblocking/errno_tour
 *
 * What to notice:
 *   - errno is read right after the call, before anything can change it;
 *   - EAGAIN, EINPROGRESS and EINTR are not failures: call again later;
 *   - EPIPE and ECONNRESET are a peer that has gone: an event, not a bug;
 *   - EBADF and ENOTCONN are bugs in the program: fix them, never retry.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common.h"

#define WAIT_MS 1000            /* the longest wait for what is due now */
#define TICK_US 50000           /* SIGALRM period while recv waits for EINTR */
#define NOFILE_LOW 16           /* RLIMIT_NOFILE while socket runs out */
#define INDENT "              " /* where a block's text column starts */

static void usage(FILE *out)
{
    fprintf(out, "usage: errno_tour [-h | --help]\n");
}

/* close(), which only fails for a bad descriptor: a bug. */
static void close_fd(int fd)
{
    if (close(fd) < 0) {
        die_errno("close %d", fd);
    }
}

/* A new TCP socket for IPv4. */
static int open_tcp(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        die_errno("socket");
    }
    return fd;
}

/* The address socket FD is bound to. */
static struct sockaddr_in local_addr(int fd)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0) {
        die_errno("getsockname");
    }
    return addr;
}

/* A TCP socket bound to a port of 127.0.0.1 the kernel picks, and not
 * listening. Nothing can connect to it, and while it is open nothing else
 * can bind the port (it has no SO_REUSEADDR): a port nobody listens on. */
static int bound_socket(void)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = open_tcp();
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        die_errno("bind 127.0.0.1");
    }
    return fd;
}

/* A listener on 127.0.0.1 (net_listen sets SO_REUSEADDR); its address in
 * *ADDR. */
static int open_listener(struct sockaddr_in *addr)
{
    int fd = net_listen("127.0.0.1", "0", SOMAXCONN);
    if (fd < 0) {
        die("cannot listen on 127.0.0.1"); /* net_listen said why */
    }
    *addr = local_addr(fd);
    return fd;
}

/* A connection over loopback: the client end in *CLIENT, the server end
 * returned. Both blocking. */
static int connect_pair(int *client)
{
    struct sockaddr_in addr;
    int listen_fd = open_listener(&addr);
    *client = open_tcp();
    if (connect(*client, (struct sockaddr *)&addr, sizeof addr) < 0) {
        die_errno("connect");
    }
    int conn = accept(listen_fd, NULL, NULL);
    if (conn < 0) {
        die_errno("accept");
    }
    close_fd(listen_fd);
    return conn;
}

/* Wait at most WAIT_MS for EVENTS (or an error, or a hang-up) on FD, for
 * what is due at once on loopback. Returns 0 if it came, -1 if not. */
static int wait_for(int fd, short events)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    return poll(&pfd, 1, WAIT_MS) > 0 ? 0 : -1;
}

/* Connect a new socket, made non-blocking first if NONBLOCKING, to ADDR.
 * Returns the errno connect gave, 0 if it connected. */
static int try_connect(const struct sockaddr_in *addr, int nonblocking)
{
    int fd = open_tcp();
    if (nonblocking && set_nonblocking(fd) < 0) {
        die_errno("fcntl O_NONBLOCK");
    }
    int err = 0;
    if (connect(fd, (const struct sockaddr *)addr, sizeof *addr) < 0) {
        err = errno; /* saved before close() can change it */
    }
    close_fd(fd);
    return err;
}

/* Each provoke_ function below makes one call fail on purpose, and
 * returns the errno it failed with: saved at once, before close or
 * printf can overwrite it. 0 means the call succeeded. */

static int provoke_econnrefused(void)
{
    int holder = bound_socket();
    struct sockaddr_in addr = local_addr(holder);
    int err = try_connect(&addr, 0);
    close_fd(holder);
    return err;
}

static int provoke_eaddrinuse(void)
{
    struct sockaddr_in addr;
    int listen_fd = open_listener(&addr);
    int fd = open_tcp(), on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0) {
        die_errno("setsockopt SO_REUSEADDR");
    }
    int err = bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 ? errno : 0;
    close_fd(fd);
    close_fd(listen_fd);
    return err;
}

static int provoke_eagain(void)
{
    char byte;
    int client, conn = connect_pair(&client);
    if (set_nonblocking(conn) < 0) {
        die_errno("fcntl O_NONBLOCK");
    }
    int err = recv(conn, &byte, 1, 0) < 0 ? errno : 0;
    close_fd(client);
    close_fd(conn);
    return err;
}

static int provoke_einprogress(void)
{
    struct sockaddr_in addr;
    int listen_fd = open_listener(&addr);
    int err = try_connect(&addr, 1);
    close_fd(listen_fd);
    return err;
}

/* The peer closes; our first send still succeeds (a FIN only says the
 * peer sends no more), and its kernel answers the data with RST. Once the
 * RST is in (POLLHUP), the next send fails. */
static int provoke_epipe(void)
{
    int client, conn = connect_pair(&client);
    close_fd(conn);
    int err = send(client, "1", 1, 0) < 0 ? errno : 0;
    if (err == 0 && wait_for(client, 0) == 0) {
        err = send(client, "2", 1, 0) < 0 ? errno : 0;
    }
    close_fd(client);
    return err;
}

/* The peer closes with our data unread in its receive buffer: the
 * kernel sends RST instead of FIN. */
static int provoke_econnreset(void)
{
    char byte;
    int client, conn = connect_pair(&client);
    if (send_all(client, "unread", 6) < 0 || wait_for(conn, POLLIN) < 0) {
        die("the data did not arrive");
    }
    close_fd(conn);
    int err = 0;
    if (wait_for(client, POLLIN) == 0 &&
        recv(client, &byte, 1, MSG_DONTWAIT) < 0) {
        err = errno;
    }
    close_fd(client);
    return err;
}

/* The SIGALRM handler: it only has to exist, and to have been installed
 * without SA_RESTART. */
static void on_alarm(int sig)
{
    (void)sig;
}

/* A blocking recv that nothing will answer, and SIGALRM every TICK_US:
 * the first tick that finds recv asleep interrupts it. */
static int provoke_eintr(void)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART */
    struct itimerval tick = {{0, TICK_US}, {0, TICK_US}}, stop = {0};
    char byte;
    int client, conn = connect_pair(&client);
    if (sigaction(SIGALRM, &sa, &old) < 0 ||
        setitimer(ITIMER_REAL, &tick, NULL) < 0) {
        die_errno("SIGALRM");
    }
    int err = recv(conn, &byte, 1, 0) < 0 ? errno : 0;
    if (setitimer(ITIMER_REAL, &stop, NULL) < 0 ||
        sigaction(SIGALRM, &old, NULL) < 0) {
        die_errno("SIGALRM");
    }
    close_fd(client);
    close_fd(conn);
    return err;
}

static int provoke_ebadf(void)
{
    char byte;
    int fd = open_tcp();
    close_fd(fd);
    return recv(fd, &byte, 1, 0) < 0 ? errno : 0;
}

static int provoke_enotconn(void)
{
    char byte;
    int fd = open_tcp();
    int err = recv(fd, &byte, 1, 0) < 0 ? errno : 0;
    close_fd(fd);
    return err;
}

/* Open sockets until the descriptor limit, lowered to NOFILE_LOW, says
 * no; then close them and put the limit back. */
static int provoke_emfile(void)
{
    struct rlimit old, low;
    if (getrlimit(RLIMIT_NOFILE, &old) < 0) {
        die_errno("getrlimit RLIMIT_NOFILE");
    }
    low = old;
    low.rlim_cur = old.rlim_cur < NOFILE_LOW ? old.rlim_cur : NOFILE_LOW;
    if (setrlimit(RLIMIT_NOFILE, &low) < 0) {
        die_errno("setrlimit RLIMIT_NOFILE");
    }
    int fds[NOFILE_LOW], n = 0, err = 0;
    while (n < NOFILE_LOW) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) {
            err = errno;
            break;
        }
        fds[n++] = fd;
    }
    while (n > 0) {
        close_fd(fds[--n]);
    }
    if (setrlimit(RLIMIT_NOFILE, &old) < 0) {
        die_errno("setrlimit RLIMIT_NOFILE");
    }
    return err;
}

/* The tour: what each step must fail with, and what it teaches. */
static const struct step {
    int expected;         /* the errno the call must fail with */
    const char *how;      /* how the tour provokes it */
    const char *call;     /* the call that fails */
    int (*provoke)(void); /* makes it fail; returns the errno, or 0 */
    const char *lesson;   /* what a program does about it, */
    const char *more;     /* in two lines */
} tour[] = {
    {ECONNREFUSED, "connect to a port nobody listens on", "connect",
     provoke_econnrefused,
     "the peer's kernel answered the SYN with RST: try the next address",
     "getaddrinfo gave, then report it"},
    {EADDRINUSE, "bind a port a socket listens on, even with SO_REUSEADDR",
     "bind", provoke_eaddrinuse,
     "another socket has the port: choose another, or stop the other",
     "server; SO_REUSEADDR only gets past connections in TIME_WAIT"},
    {EAGAIN, "recv on a non-blocking socket with nothing to read", "recv",
     provoke_eagain,
     "not a failure: nothing yet; call again once poll says readable,",
     "and test EWOULDBLOCK too (one value on Linux, not everywhere)"},
    {EINPROGRESS, "connect on a non-blocking socket", "connect",
     provoke_einprogress,
     "the handshake goes on without us: poll for writable, then read",
     "the outcome with getsockopt SO_ERROR (see nonblock_demo)"},
    {EPIPE, "send twice to a peer that has closed (the first draws a RST)",
     "send", provoke_epipe,
     "the peer is gone: close the connection. SIGPIPE came too, and",
     "kills a program that neither ignores it nor sends MSG_NOSIGNAL"},
    {ECONNRESET, "recv after the peer closed with our data unread", "recv",
     provoke_econnreset,
     "the peer reset the connection (closing with unread data does",
     "that): an event, not a bug; close it and carry on"},
    {EINTR, "blocking recv, then SIGALRM (handler without SA_RESTART)", "recv",
     provoke_eintr,
     "a signal handler ran: look at your flags, then call again;",
     "with SA_RESTART the kernel would have restarted recv itself"},
    {EBADF, "recv on a descriptor that was already closed", "recv",
     provoke_ebadf,
     "a bug: use after close. The number may already name another",
     "file, so the same bug can also hit the wrong connection"},
    {ENOTCONN, "recv on a TCP socket that never connected", "recv",
     provoke_enotconn,
     "a bug: this socket has no peer, connect it first; once a reset",
     "has ended a connection, shutdown says it too"},
    {EMFILE, "socket, with RLIMIT_NOFILE lowered to 16", "socket",
     provoke_emfile,
     "out of descriptors: find the leak, or raise the limit; a server",
     "reports it and goes on (its accept loop must not spin on it)"},
};

/* Run one step and print its block. Returns 1 if the call failed with
 * the errno the step claims. */
static int run(const struct step *s)
{
    int err = s->provoke();
    printf("%-13s %s\n", errno_name(s->expected), s->how);
    if (err == 0) {
        printf(INDENT "%s: succeeded\n", s->call);
    } else {
        printf(INDENT "%s: %s (%s)\n", s->call, errno_name(err), strerror(err));
    }
    printf(INDENT "%s\n" INDENT "%s\n", s->lesson, s->more);
    if (err == s->expected || (s->expected == EAGAIN && err == EWOULDBLOCK)) {
        return 1;
    }
    fprintf(stderr, "errno_tour: %s gave %s, expected %s\n", s->call,
            err == 0 ? "success" : errno_name(err), errno_name(s->expected));
    return 0;
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
    /* Without this, the EPIPE step would end the program: see
     * install_stop_handlers in common/io.c. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        die_errno("signal SIGPIPE");
    }
    int failed = 0;
    for (size_t i = 0; i < sizeof tour / sizeof tour[0]; i++) {
        failed += !run(&tour[i]);
    }
    if (failed > 0) {
        fprintf(stderr, "errno_tour: %d step(s) failed\n", failed);
        return 1;
    }
    return 0;
}
