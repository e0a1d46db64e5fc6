/*
 * select_server - the echo server on select(): one thread, many clients,
 * asleep until one of them is ready.
 *
 * Usage: select_server [PORT]          (default 10086; 0 picks a free port)
 *
 * Protocol: echo (RFC 862 style): every byte received is sent back, in
 * order; after the client's EOF the rest follows, then the server closes.
 * Pairs with: 02_nonblocking/echo_client, `nc -N localhost 10086`.
 * Try it:   ./build/03_epoll/select_server
 *           nc -N localhost 10086 < /etc/services | cmp - /etc/services
 * What to notice:
 *   - one call sleeps until some socket is ready: no busy polling as in
 *     chapter 2, and no CPU at all while every client is idle;
 *   - the fd_sets are in-out: rebuilt before every call, and scanned bit
 *     by bit after it, up to the highest descriptor;
 *   - FD_SETSIZE (1024) bounds the descriptor numbers select can watch;
 *   - pselect unblocks SIGINT/SIGTERM only while it sleeps: no lost stop,
 *     and sigpending() once a pass: no stop put off by a busy server.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/select.h>

#include "echo.h"

#define MAX_CLIENTS FD_SETSIZE /* the descriptor limit below comes first */

/* Ask for what each socket needs now: the listening socket and every
 * client that may read into readable, every client with output waiting
 * into writable. select overwrites the sets with its answer, so they are
 * made anew before every call. Returns the highest descriptor put in. */
static int fill_sets(const struct echo_server *s, fd_set *readable,
                     fd_set *writable)
{
    FD_ZERO(readable);
    FD_ZERO(writable);
    FD_SET(s->listen_fd, readable);
    int top = s->listen_fd;
    for (const struct client *c = s->first; c != NULL; c = c->next) {
        unsigned want = client_interest(c);
        if (want & WANT_READ) {
            FD_SET(c->fd, readable);
        }
        if (want & WANT_WRITE) {
            FD_SET(c->fd, writable);
        }
        top = c->fd > top ? c->fd : top;
    }
    return top;
}

/* Serve the clients select marked. Readable means bytes, EOF or a pending
 * error (recv returns it); then whatever waits is sent: right after a
 * read it is the echo, which usually goes out at once, so write interest
 * is needed only when the client falls behind. Only clients that were in
 * the sets are here: new ones are accepted after this. */
static void serve_ready(struct echo_server *s, const fd_set *readable,
                        const fd_set *writable)
{
    struct client *next;
    for (struct client *c = s->first; c != NULL; c = next) {
        next = c->next; /* c may be freed below */
        bool can_read = FD_ISSET(c->fd, readable);
        if (!can_read && !FD_ISSET(c->fd, writable)) {
            continue;
        }
        bool ok = can_read ? client_read(c, false) : true;
        if (ok) {
            ok = client_write(c);
        }
        if (!ok) {
            echo_drop(s, c);
        }
    }
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *port = echo_parse_args(argc, argv, "select_server", NULL);
    install_stop_handlers();
    sigset_t wait_mask;
    echo_block_stop_signals(&wait_mask);

    /* An fd_set is a bitmap of FD_SETSIZE bits: FD_SET on descriptor 1024
     * or more writes past its end (memory corruption; glibc's fortified
     * build aborts instead). However high `ulimit -n` is, select cannot
     * watch such a descriptor, so echo_accept refuses one: accepted, said
     * on stderr, closed, never put in a set. */
    struct echo_server srv;
    echo_open(&srv, port, MAX_CLIENTS, FD_SETSIZE);

    /* Stopping without a race. The handler of SIGINT/SIGTERM sets a flag,
     * and "while (!stop_requested) select(...)" has a hole: a signal
     * landing after the check but before select starts to sleep sets the
     * flag, and select sleeps on regardless, until some client happens to
     * send something. So the two signals are kept blocked (one sent
     * meanwhile waits, pending), and pselect swaps in WAIT_MASK, which
     * lets them through, atomically with going to sleep: a pending stop
     * interrupts it at once (EINTR), the handler runs, the loop sees the
     * flag. But only if pselect would sleep. When a socket is ready
     * already, it returns that and puts the blocking mask back, and the
     * signal stays pending: on a busy server, for as long as the load
     * lasts. So echo_stop_requested also asks sigpending() once a pass.
     * ppoll and epoll_pwait behave the same way. */
    int status = 0;
    while (!echo_stop_requested()) {
        fd_set readable, writable;
        int top = fill_sets(&srv, &readable, &writable);
        int n = pselect(top + 1, &readable, &writable, NULL, NULL, &wait_mask);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            warn_errno("pselect");
            status = 1;
            break;
        }
        serve_ready(&srv, &readable, &writable);
        if (FD_ISSET(srv.listen_fd, &readable)) {
            while (echo_accept(&srv) != NULL) { /* into the sets next time */
            }
        }
    }
    echo_close(&srv);
    return status;
}
