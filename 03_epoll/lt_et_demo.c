/*
 * lt_et_demo - level-triggered versus edge-triggered epoll, on one
 * loopback connection, one wake-up at a time.
 *
 * Usage: lt_et_demo [-h | --help]
 *
 * A client sends 3000 bytes in one send; the server side reads 1024 bytes
 * per wake-up and prints each one, three times over: level-triggered,
 * edge-triggered with one read per wake-up (the classic bug), and
 * edge-triggered reading until EAGAIN (the fix). It exits with status 1 if
 * the kernel did not do what a line claims.
 * Pairs with: nothing - it stands alone.
 * Try it:   ./build/03_epoll/lt_et_demo
 *           strace -e trace=epoll_wait,recvfrom ./build/03_epoll/lt_et_demo
 * What to notice:
 *   - level-triggered: epoll reports the socket while unread bytes remain;
 *   - edge-triggered: epoll reports a change (bytes arrived) once; bytes
 *     left unread are stranded until the peer sends again, which a peer
 *     waiting for our answer never does;
 *   - with EPOLLET, read until EAGAIN on every wake-up.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

#define MESSAGE 3000   /* bytes the client sends, in one send */
#define READ_SIZE 1024 /* bytes the server asks for per recv */
#define WAIT_MS 200    /* epoll_wait's bound: enough for loopback */
#define MAX_WAKEUPS 8  /* more than any round needs: a runaway guard */

/* One round: how the socket is registered, how the server reads, and what
 * the kernel should do about it. */
struct round {
    const char *title;  /* what the round shows */
    unsigned events;    /* EPOLLIN, or EPOLLIN | EPOLLET */
    int drain;          /* 1: recv until EAGAIN; 0: one recv per wake-up */
    int want_wakeups;   /* wake-ups the kernel should give */
    size_t want_bytes;  /* bytes read before epoll_wait times out */
    const char *lesson; /* the line printed when it did */
};

static void usage(FILE *out)
{
    fprintf(out, "usage: lt_et_demo [-h | --help]\n");
}

/* A connected pair over 127.0.0.1: *CLIENT (blocking, TCP_NODELAY) and
 * *CONN, the server's accepted end (non-blocking, as epoll wants). The
 * listener is closed again: one connection is all the demo needs. */
static void open_pair(int *client, int *conn)
{
    char port[8], from[NET_ADDRSTRLEN], to[NET_ADDRSTRLEN];
    int listen_fd = net_listen("127.0.0.1", "0", 1);
    if (listen_fd < 0) {
        die("cannot listen on 127.0.0.1"); /* net_listen said why */
    }
    net_local_str(listen_fd, to, sizeof to);
    snprintf(port, sizeof port, "%s", strrchr(to, ':') + 1);
    if ((*client = net_connect("127.0.0.1", port)) < 0) {
        die("cannot connect to %s", to);
    }
    /* Nagle's algorithm may hold a small send back until the previous one
     * is acknowledged (up to a delayed ACK later): off, so each round's
     * 3000 bytes leave at once, in one segment. */
    int on = 1;
    if (setsockopt(*client, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) < 0) {
        die_errno("setsockopt TCP_NODELAY");
    }
    if ((*conn = accept(listen_fd, NULL, NULL)) < 0 ||
        set_nonblocking(*conn) < 0) {
        die_errno("accept");
    }
    printf("connection %s -> %s\n", net_local_str(*client, from, sizeof from),
           to);
    close(listen_fd);
}

/* Bytes waiting in FD's receive buffer (FIONREAD), read without taking
 * any, so each line can say what is left. */
static size_t unread(int fd)
{
    int n = 0;
    if (ioctl(fd, FIONREAD, &n) < 0) {
        die_errno("ioctl FIONREAD");
    }
    return (size_t)n;
}

/* One wake-up's reading: one recv, or recv until EAGAIN (DRAIN), each
 * result printed on the current line. Returns the bytes read. */
static size_t read_some(int conn, int drain)
{
    char buf[READ_SIZE];
    size_t total = 0;
    for (int calls = 0;; calls++) {
        ssize_t n = recv(conn, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        const char *sep = calls > 0 ? ", " : "";
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            printf("%srecv -> -1 %s", sep, errno_name(errno));
            break;
        }
        if (n < 0) {
            die_errno("recv");
        }
        if (n == 0) {
            die("recv: unexpected end of file");
        }
        total += (size_t)n;
        printf("%srecv -> %zd", sep, n);
        if (!drain) {
            break;
        }
    }
    printf(" (%zu left)\n", unread(conn));
    return total;
}

/* Run round R: register CONN with R's events, make CLIENT send MESSAGE
 * bytes, and report every wake-up until epoll_wait times out. Returns 1
 * if the kernel did what R claims. */
static int run_round(int ep_fd, int op, int conn, int client,
                     const struct round *r)
{
    static const char message[MESSAGE]; /* zeros: the count is the point */
    printf("\n%s\n", r->title);
    /* The socket is empty here, so (re)registering it reports nothing:
     * the first wake-up of the round is the client's send. */
    struct epoll_event ev = {.events = r->events, .data.fd = conn};
    if (epoll_ctl(ep_fd, op, conn, &ev) < 0) {
        die_errno("epoll_ctl");
    }
    if (send_all(client, message, sizeof message) < 0) {
        die_errno("send");
    }
    printf("  client: send %d bytes\n", MESSAGE);

    /* Arriving bytes put the socket on epoll's ready list. Level-
     * triggered, epoll_wait checks it again after reporting it and keeps
     * it there while bytes remain unread. Edge-triggered, it is taken off
     * once reported, until the next arrival puts it back. */
    int wakeups = 0;
    size_t total = 0;
    while (wakeups < MAX_WAKEUPS) {
        int n = epoll_wait(ep_fd, &ev, 1, WAIT_MS);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            die_errno("epoll_wait");
        }
        if (n == 0) {
            printf("  epoll_wait (%d ms) -> 0, timed out: %zu bytes unread\n",
                   WAIT_MS, unread(conn));
            break;
        }
        printf("  wake-up %d, %s: ", ++wakeups,
               ev.events & EPOLLIN ? "EPOLLIN" : "not EPOLLIN");
        total += read_some(conn, r->drain);
    }
    int ok = wakeups == r->want_wakeups && total == r->want_bytes;
    printf("  %d wake-up%s, %zu bytes read: %s\n", wakeups,
           wakeups == 1 ? "" : "s", total,
           ok ? r->lesson : "NOT what this round claims");
    return ok;
}

/* Read and drop what CONN still holds, so the next round starts empty. */
static void discard(int conn)
{
    printf("  emptying it for the next round: ");
    read_some(conn, 1);
}

int main(int argc, char **argv)
{
    static const struct round rounds[] = {
        {"level-triggered (EPOLLIN), one recv per wake-up", EPOLLIN, 0, 3,
         MESSAGE, "epoll reports the socket while bytes remain"},
        {"edge-triggered (EPOLLIN | EPOLLET), one recv per wake-up: the bug",
         EPOLLIN | EPOLLET, 0, 1, READ_SIZE,
         "one edge, one recv, and the rest is stranded until the peer "
         "sends again"},
        {"edge-triggered (EPOLLIN | EPOLLET), recv until EAGAIN: the fix",
         EPOLLIN | EPOLLET, 1, 1, MESSAGE,
         "one edge, and everything read before waiting again"},
    };
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
    printf("%d bytes in one send; the server reads %d bytes per recv\n",
           MESSAGE, READ_SIZE);
    int client, conn;
    open_pair(&client, &conn);
    int ep_fd = epoll_create1(EPOLL_CLOEXEC);
    if (ep_fd < 0) {
        die_errno("epoll_create1");
    }
    int failed = 0;
    for (size_t i = 0; i < sizeof rounds / sizeof rounds[0]; i++) {
        int op = i == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
        failed += !run_round(ep_fd, op, conn, client, &rounds[i]);
        if (rounds[i].want_bytes < MESSAGE) {
            discard(conn);
        }
    }
    close(ep_fd);
    close(conn);
    close(client);
    if (failed > 0) {
        fprintf(stderr, "lt_et_demo: %d round(s) failed\n", failed);
        return 1;
    }
    return 0;
}
