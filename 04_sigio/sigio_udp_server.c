/*
 * sigio_udp_server - UDP echo driven by SIGIO: the kernel sends the process
 * a signal when a datagram arrives, and the process reads it then.
 *
 * Usage: sigio_udp_server [PORT]       (default 10086; 0 picks a free port)
 *
 * Protocol: each datagram received is sent back, byte for byte, to its
 * sender (the UDP echo of 01_blocking/udp_server.c).
 * Pairs with: 01_blocking/udp_client (or `nc -u localhost 10086`).
 * Try it:   ./build/04_sigio/sigio_udp_server
 *           ./build/01_blocking/udp_client        (in a second terminal)
 *           ./build/tests/04_sigio/udp_burst localhost 10086 1000
 *           then Ctrl-C the server: how many datagrams, how many SIGIOs
 * What to notice:
 *   - F_SETOWN and O_ASYNC ask for a SIGIO whenever a datagram arrives;
 *     the handler only sets a flag, and the main loop does the work;
 *   - the signals are blocked except inside sigsuspend, which unblocks
 *     them and sleeps in one step, so no wake-up is lost in between;
 *   - signals do not queue: one SIGIO may stand for many datagrams, so
 *     each is followed by reading until EAGAIN.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

#define DEFAULT_PORT "10086"
#define MAX_DATAGRAM 65536             /* above any UDP payload: never cut */
#define RCVBUF_BYTES (4 * 1024 * 1024) /* asked for; see main */
#define DRAIN_BUDGET 64 /* datagrams read before looking at signals again */

/* What the server did, printed when it stops. */
struct counts {
    unsigned long received; /* datagrams read */
    unsigned long answered; /* echoes sent */
    unsigned long dropped;  /* echoes sendto refused */
    unsigned long signals;  /* SIGIOs that woke the loop */
};

/* Set by the SIGIO handler, cleared by the loop. Like stop_requested
 * (common/io.c), a volatile sig_atomic_t: the only kind of variable a
 * handler may safely write while the program may be reading it. */
static volatile sig_atomic_t io_signalled = 0;

static void usage(FILE *out)
{
    fprintf(out, "usage: sigio_udp_server [PORT]\n");
}

/* The handler only notes that the signal came. The work is done in the
 * main loop, where every call is safe: printf or malloc in a handler could
 * deadlock, or corrupt the very call the signal interrupted. */
static void on_sigio(int sig)
{
    (void)sig;
    io_signalled = 1;
}

/* Ask the kernel for a SIGIO whenever FD becomes readable: the handler,
 * the owner (which process gets the signal), then O_ASYNC, which starts
 * the signals. With SIGIO unblocked that order is the only safe one: a
 * signal before the handler ends the process (SIGIO's default action),
 * one before the owner goes nowhere. Here main has SIGIO blocked, so an
 * early signal would wait, pending, for the handler, and serve's first
 * drain reads what came before any signal: the order is belt and braces,
 * kept because it is safe everywhere. O_NONBLOCK makes the drain end in
 * EAGAIN instead of sleeping in recvfrom. */
static void enable_sigio(int fd)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigio;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGIO, &sa, NULL) < 0) {
        die_errno("sigaction SIGIO");
    }
    if (fcntl(fd, F_SETOWN, getpid()) < 0) {
        die_errno("fcntl F_SETOWN");
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_ASYNC | O_NONBLOCK) < 0) {
        die_errno("fcntl F_SETFL O_ASYNC");
    }
}

/* Print one datagram and send it back to its sender. A datagram goes whole
 * or not at all, so there is no short write to finish. When the send
 * buffer is full (EAGAIN; on the BSDs also ENOBUFS, the interface's queue
 * full), the answer is dropped and counted: waiting would stall every
 * other client, and UDP promises no delivery anyway (the client retries
 * or gives up). */
static void answer(int fd, const char *buf, size_t n,
                   const struct sockaddr_storage *peer, socklen_t len,
                   struct counts *c)
{
    char addr[NET_ADDRSTRLEN], prefix[NET_ADDRSTRLEN + 4];
    net_addr_str((const struct sockaddr *)peer, len, addr, sizeof addr);
    snprintf(prefix, sizeof prefix, "[%s] ", addr);
    print_text(prefix, buf, n);

    if (sendto(fd, buf, n, 0, (const struct sockaddr *)peer, len) >= 0) {
        c->answered++;
        return;
    }
    c->dropped++;
    printf("[%s] answer dropped: %s\n", addr, errno_name(errno));
}

/* Read and answer datagrams until the socket is empty (EAGAIN), or until
 * DRAIN_BUDGET of them (errors included). Returns 1 when the budget ran
 * out first: more may be waiting, and no new SIGIO will say so. */
static int drain(int fd, struct counts *c)
{
    char buf[MAX_DATAGRAM];
    for (int i = 0; i < DRAIN_BUDGET; i++) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof peer;
        ssize_t n =
            recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&peer, &len);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0; /* empty: the next datagram raises a new SIGIO */
        }
        if (n < 0) {
            /* A socket error (ECONNREFUSED, from an ICMP, on a connected
             * socket or one with IP_RECVERR) is reported once, ahead of
             * any datagram queued behind it, which raises no new signal:
             * report it and read on. */
            warn_errno("recvfrom");
            continue;
        }
        c->received++;
        answer(fd, buf, (size_t)n, &peer, len, c);
    }
    return 1;
}

/* After a drain cut short by its budget: unblock the signals for a moment
 * so that pending ones run their handlers. A flood of datagrams must not
 * hold off SIGTERM. */
static void take_pending_signals(const sigset_t *wait_mask)
{
    sigset_t blocked;
    if (sigprocmask(SIG_SETMASK, wait_mask, &blocked) < 0 ||
        sigprocmask(SIG_SETMASK, &blocked, NULL) < 0) {
        die_errno("sigprocmask");
    }
}

/* The loop. SIGIO, SIGINT and SIGTERM stay blocked, except inside
 * sigsuspend, which installs WAIT_MASK (the three unblocked) and sleeps in
 * one atomic step. A signal that comes while the flags are being checked
 * stays pending, and ends the next sigsuspend at once. (Checking the flags
 * and then calling pause() with the signals unblocked would lose a signal
 * that landed in between, and sleep with a datagram waiting.) */
static void serve(int fd, const sigset_t *wait_mask, struct counts *c)
{
    /* Drain once before any signal: a datagram that came before O_ASYNC
     * was set raised none. */
    int more = 1;
    while (!stop_requested) {
        if (io_signalled) {
            io_signalled = 0;
            c->signals++;
            more = 1;
        }
        if (!more) {
            sigsuspend(wait_mask); /* returns -1, EINTR: a handler ran */
            continue;
        }
        more = drain(fd, c);
        if (more) {
            take_pending_signals(wait_mask);
        }
    }
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        return 0;
    }
    if (argc > 2 || (argc == 2 && net_parse_port(argv[1]) < 0)) {
        usage(stderr);
        return 2;
    }
    install_stop_handlers();

    /* Block the three signals from here on. WAIT_MASK, for sigsuspend, is
     * the mask we started with, minus them (a parent may have left any of
     * them blocked). */
    sigset_t blocked, wait_mask;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGIO);
    sigaddset(&blocked, SIGINT);
    sigaddset(&blocked, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &blocked, &wait_mask) < 0) {
        die_errno("sigprocmask");
    }
    sigdelset(&wait_mask, SIGIO);
    sigdelset(&wait_mask, SIGINT);
    sigdelset(&wait_mask, SIGTERM);

    int fd = net_bind_udp(NULL, argc == 2 ? argv[1] : DEFAULT_PORT);
    if (fd < 0) {
        return 1;
    }
    /* A datagram that finds the receive buffer full is dropped without a
     * word. A burst queues up while the signal is on its way and while we
     * print, so ask for a big buffer. Linux caps the request at
     * net.core.rmem_max (208 KiB by default) and doubles it for its own
     * bookkeeping; a small datagram takes about 800 bytes of it. */
    int size = RCVBUF_BYTES;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size) < 0) {
        die_errno("setsockopt SO_RCVBUF");
    }
    enable_sigio(fd);
    char addr[NET_ADDRSTRLEN];
    printf("listening on %s\n", net_local_str(fd, addr, sizeof addr));

    struct counts c = {0};
    serve(fd, &wait_mask, &c);
    printf("stopped: %lu datagrams received, %lu answered, %lu answers "
           "dropped; %lu SIGIO signals\n",
           c.received, c.answered, c.dropped, c.signals);
    close(fd);
    return 0;
}
