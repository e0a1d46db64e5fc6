#define _DEFAULT_SOURCE /* glibc hides SO_REUSEPORT from plain POSIX */
/*
 * sockopt_tour.c - the socket options of the original tutorial, read back
 * from fresh sockets, and three of them shown at work on loopback.
 *
 * Usage: sockopt_tour [-h | --help]
 *
 * Prints each option's value on a fresh TCP and a fresh UDP socket, then
 * runs three demonstrations, each on its own loopback connection, and
 * exits with status 1 if one of them did not show what it says.
 * Pairs with: nothing - it stands alone.
 *
 * Try it:
 *   ./build/01_blocking/sockopt_tour
 *   ss -tan state time-wait        (the connections it left behind)
 *
 * What to notice:
 *   - a TCP option asked of a UDP socket is an error, not a value;
 *   - the side that closes first holds the port in TIME_WAIT, and only a
 *     socket with SO_REUSEADDR can bind that port again before it ends;
 *   - SO_LINGER {1, 0} turns close() into a reset: the peer gets ECONNRESET;
 *   - Linux doubles a SO_RCVBUF request: read the real size back.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

#define RCVBUF_ASK 32768 /* the receive buffer demo 3 asks for, bytes */
#define EOF_TEXT "0, end of file (a FIN)" /* what recv returning 0 means */

/* The options the original tutorial lists, in its order. SO_REUSEPORT,
 * TCP_CORK and TCP_QUICKACK are not POSIX: where missing, left out. */
static const struct sockopt {
    int level;         /* SOL_SOCKET: the socket layer; IPPROTO_TCP: TCP */
    int name;          /* SO_... or TCP_... */
    const char *label; /* the name, as printed */
} options[] = {
    {SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR"},
#ifdef SO_REUSEPORT
    {SOL_SOCKET, SO_REUSEPORT, "SO_REUSEPORT"},
#endif
    {SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE"},
    {SOL_SOCKET, SO_LINGER, "SO_LINGER"},
    {SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF"},
    {SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF"},
    {IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY"},
    {IPPROTO_TCP, TCP_MAXSEG, "TCP_MAXSEG"},
#ifdef TCP_CORK
    {IPPROTO_TCP, TCP_CORK, "TCP_CORK"},
#endif
#ifdef TCP_QUICKACK
    {IPPROTO_TCP, TCP_QUICKACK, "TCP_QUICKACK"},
#endif
};

/* The usage line, on OUT. */
static void usage(FILE *out)
{
    fprintf(out, "usage: sockopt_tour [-h | --help]\n");
}

/* close(), which on a socket only fails for a bad descriptor: a bug. */
static void close_fd(int fd)
{
    if (close(fd) < 0) {
        die_errno("close %d", fd);
    }
}

/* A new socket of TYPE (SOCK_STREAM: TCP, SOCK_DGRAM: UDP) for IPv4. */
static int open_socket(int type)
{
    int fd = socket(AF_INET, type, 0);
    if (fd < 0) {
        die_errno("socket");
    }
    return fd;
}

/* Print one option of FD, a fresh socket of TYPE: its value, or the errno
 * getsockopt gave. Returns 1 if getsockopt failed where it should not. */
static int show_option(int fd, int type, const struct sockopt *opt)
{
    int value = 0;
    struct linger lg = {0};
    int is_linger = opt->level == SOL_SOCKET && opt->name == SO_LINGER;
    socklen_t len = is_linger ? sizeof lg : sizeof value;
    void *where = is_linger ? (void *)&lg : (void *)&value;

    if (getsockopt(fd, opt->level, opt->name, where, &len) < 0) {
        /* UDP has no TCP level: the kernel says so with an errno. */
        int err = errno;
        int expected = type == SOCK_DGRAM && opt->level == IPPROTO_TCP;
        printf("  %-14s %s: %s (%s)\n", opt->label,
               expected ? "not for UDP" : "getsockopt failed", errno_name(err),
               strerror(err));
        return !expected;
    }
    if (is_linger) {
        printf("  %-14s {l_onoff %d, l_linger %d}\n", opt->label, lg.l_onoff,
               lg.l_linger);
    } else {
        printf("  %-14s %d\n", opt->label, value);
    }
    return 0;
}

/* Open a fresh socket of TYPE and print every option of the table.
 * Returns how many getsockopt calls failed that should not have. */
static int show_options(const char *title, int type)
{
    int fd = open_socket(type);
    printf("%s socket (fresh)\n", title);
    int failed = 0;
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
        failed += show_option(fd, type, &options[i]);
    }
    close_fd(fd);
    return failed;
}

/* The IPv4 address socket FD is bound to. */
static struct sockaddr_in local_addr(int fd)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0) {
        die_errno("getsockname");
    }
    return addr;
}

/* One TCP connection over loopback. A listener on 127.0.0.1, on a port
 * the kernel picks, with SO_REUSEADDR (net_listen sets it, as every server
 * should); a client connects, the server accepts, the listener is closed.
 * The client's end goes to *CLIENT, the server's end is returned. */
static int connect_pair(int *client)
{
    char port[8];
    int listen_fd = net_listen("127.0.0.1", "0", SOMAXCONN);
    if (listen_fd < 0) {
        exit(EXIT_FAILURE); /* net_listen said why */
    }
    snprintf(port, sizeof port, "%u", ntohs(local_addr(listen_fd).sin_port));
    *client = net_connect("127.0.0.1", port);
    if (*client < 0) {
        exit(EXIT_FAILURE); /* net_connect said why */
    }
    int conn;
    while ((conn = accept(listen_fd, NULL, NULL)) < 0) {
        if (errno != EINTR) {
            die_errno("accept");
        }
    }
    close_fd(listen_fd);
    return conn;
}

/* Block in recv on FD until something happens. Returns 0 for end of file
 * (the peer's FIN), the errno if recv failed, -1 if data came instead. */
static int recv_outcome(int fd)
{
    char byte;
    ssize_t n;
    do {
        n = recv(fd, &byte, 1, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return errno;
    }
    return n == 0 ? 0 : -1;
}

/* What a call came to, in words: ZERO for 0 (success, or end of file),
 * "ENAME (text)" for an errno, built in BUF; -1 is recv_outcome's data. */
static const char *result_str(int err, const char *zero, char *buf, size_t size)
{
    if (err <= 0) {
        return err == 0 ? zero : "data (unexpected)";
    }
    snprintf(buf, size, "%s (%s)", errno_name(err), strerror(err));
    return buf;
}

/* Leave a connection in TIME_WAIT on a port no socket listens on any more,
 * and store that port's address in *ADDR. Returns 1 if it worked. */
static int make_time_wait(struct sockaddr_in *addr)
{
    int client;
    int conn = connect_pair(&client);
    *addr = local_addr(conn); /* the listener's address and port */

    /* The server closes first, so its end is the one that waits in
     * TIME_WAIT. shutdown(SHUT_WR) sends the FIN that close() would, but
     * keeps the descriptor, so the server can see the client's FIN come. */
    if (shutdown(conn, SHUT_WR) < 0) {
        die_errno("shutdown");
    }
    int client_eof = recv_outcome(client); /* the server's FIN is here */
    close_fd(client);                      /* the client's FIN */

    /* recv returns 0 once the client's FIN (which also acknowledges the
     * server's) is processed: from then on the server end is in TIME_WAIT,
     * no guessing with sleep. Closing the descriptor leaves it there. */
    int server_eof = recv_outcome(conn);
    close_fd(conn);
    return client_eof == 0 && server_eof == 0;
}

/* Demo 1: bind the port of a TIME_WAIT connection, without and then with
 * SO_REUSEADDR. Returns 1 if that gave EADDRINUSE, then success. */
static int demo_time_wait(void)
{
    struct sockaddr_in addr;
    char where[NET_ADDRSTRLEN], buf[128];
    printf("demo 1: rebind a port held by a TIME_WAIT connection\n");
    int made = make_time_wait(&addr);
    net_addr_str((struct sockaddr *)&addr, sizeof addr, where, sizeof where);
    printf("  %s: server closed first, %s\n", where,
           made ? "so its end is in TIME_WAIT" : "but FIN exchange FAILED");

    /* The same socket twice: a failed bind leaves it unbound, so the
     * option is the only thing that differs between the two attempts.
     * (Linux also wants it on the old socket: the listener had it.) */
    int fd = open_socket(SOCK_STREAM);
    int without =
        bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 ? errno : 0;
    printf("  without SO_REUSEADDR: bind %s -> %s\n", where,
           result_str(without, "ok", buf, sizeof buf));
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0) {
        die_errno("setsockopt SO_REUSEADDR");
    }
    int with = bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 ? errno : 0;
    printf("  with SO_REUSEADDR:    bind %s -> %s\n", where,
           result_str(with, "ok", buf, sizeof buf));
    close_fd(fd);
    return made && without == EADDRINUSE && with == 0;
}

/* Demo 2: close the server end of a connection as usual, then of another
 * with SO_LINGER {1, 0}. Returns 1 if the client saw EOF, then a reset. */
static int demo_linger(void)
{
    char buf[128];
    int client;
    printf("demo 2: SO_LINGER {1, 0} makes close() send a reset (RST)\n");
    int conn = connect_pair(&client);
    close_fd(conn);
    int plain = recv_outcome(client);
    close_fd(client);
    printf("  close():                   client's recv -> %s\n",
           result_str(plain, EOF_TEXT, buf, sizeof buf));

    /* Linger on, for 0 seconds: close() throws away anything unsent and
     * sends RST instead of FIN. No FIN handshake, so no TIME_WAIT either. */
    conn = connect_pair(&client);
    struct linger abortive = {.l_onoff = 1, .l_linger = 0};
    if (setsockopt(conn, SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive) <
        0) {
        die_errno("setsockopt SO_LINGER");
    }
    close_fd(conn);
    int reset = recv_outcome(client);
    close_fd(client);
    printf("  SO_LINGER {1, 0}, close(): client's recv -> %s\n",
           result_str(reset, EOF_TEXT, buf, sizeof buf));
    return plain == 0 && reset == ECONNRESET;
}

/* Demo 3: ask for a receive buffer of RCVBUF_ASK bytes and read back what
 * the kernel made of it. Returns 1 if that is what this system documents. */
static int demo_rcvbuf(void)
{
    int asked = RCVBUF_ASK, got = 0;
    socklen_t len = sizeof got;
    printf("demo 3: the kernel doubles a SO_RCVBUF request\n");
    int fd = open_socket(SOCK_STREAM);
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &asked, sizeof asked) < 0) {
        die_errno("setsockopt SO_RCVBUF");
    }
    if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len) < 0) {
        die_errno("getsockopt SO_RCVBUF");
    }
    close_fd(fd);
    printf("  setsockopt SO_RCVBUF %d -> getsockopt SO_RCVBUF %d\n", asked,
           got);
    if (got == 2 * asked) {
        /* socket(7): doubled "to allow space for bookkeeping overhead",
         * the sk_buff headers the data travels in, counted in the buffer. */
        printf("  twice the request: room for the kernel's bookkeeping "
               "overhead (socket(7))\n");
    }
#ifdef __linux__
    return got == 2 * asked;
#else
    return got == asked;
#endif
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

    int failed = show_options("TCP", SOCK_STREAM);
    failed += show_options("UDP", SOCK_DGRAM);
    failed += !demo_time_wait();
    failed += !demo_linger();
    failed += !demo_rcvbuf();
    if (failed > 0) {
        fprintf(stderr, "sockopt_tour: %d check(s) failed\n", failed);
        return 1;
    }
    return 0;
}
