/*
 * epoll_server - the echo server on epoll, level- or edge-triggered.
 *
 * Usage: epoll_server [--et] [PORT]    (default 10086; 0 picks a free port)
 *
 * Protocol: echo (RFC 862 style): every byte received is sent back, in
 * order; after the client's EOF the rest follows, then the server closes.
 * Pairs with: 02_nonblocking/echo_client, `nc -N localhost 10086`, loadgen.
 * Try it:   ./build/03_epoll/epoll_server --et
 *           nc -N localhost 10086 < /etc/services | cmp - /etc/services
 * What to notice:
 *   - the kernel keeps the interest list (epoll_ctl), so a wake-up hands
 *     over only the ready sockets: its cost follows the traffic, not the
 *     number of clients;
 *   - data.ptr takes each event straight to its client;
 *   - EPOLL_CTL_MOD only when a client's interest changes;
 *   - --et (edge-triggered): accept, recv and send each run until EAGAIN,
 *     and a comment at each place says why.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "echo.h"

#define MAX_CLIENTS 20000 /* beyond `ulimit -n`, accept says EMFILE */
#define MAX_EVENTS 256    /* ready sockets taken from one epoll_wait */

/* The epoll events for an interest (WANT_READ, WANT_WRITE bits). EPOLLERR
 * and EPOLLHUP need no asking: epoll always reports them. (EPOLLRDHUP
 * would announce the client's FIN; recv returning 0 tells us as well.) */
static uint32_t events_for(unsigned want, bool edge)
{
    return (want & WANT_READ ? EPOLLIN : 0u) |
           (want & WANT_WRITE ? EPOLLOUT : 0u) | (edge ? EPOLLET : 0u);
}

/* Register the clients waiting in the listening socket's queue, each for
 * reading, with data.ptr pointing at it. A client whose bytes arrived
 * before EPOLL_CTL_ADD is not missed, even edge-triggered: adding a
 * socket that is ready already reports it.
 * --et: echo_accept is called until the queue is empty (EAGAIN). That is
 * a must here: the edge came when the queue became non-empty, and any
 * connection left in it would wait for the next client's edge. */
static void accept_clients(struct echo_server *s, int ep_fd, bool edge)
{
    struct client *c;
    while ((c = echo_accept(s)) != NULL) {
        struct epoll_event ev = {.events = events_for(WANT_READ, edge),
                                 .data.ptr = c};
        if (epoll_ctl(ep_fd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
            warn_errno("[%d] epoll_ctl ADD", c->id);
            c->error = errno;
            echo_drop(s, c);
            continue;
        }
        c->watched = WANT_READ;
    }
}

/* Tell epoll what C needs now, if that changed: each EPOLL_CTL_MOD is a
 * system call. A MOD also looks at the socket afresh and reports it if it
 * is ready already (EPOLLONESHOT's re-arming relies on that), so input
 * left unread during back-pressure is heard of once reading is wanted
 * again. --et needs one more MOD: when client_read stopped at
 * OUTPUT_LIMIT and client_write then sent it all, the interest is what it
 * was, but input is waiting and no edge may ever come for it (the client
 * may have sent everything, FIN included): re-arm anyway. */
static bool update_interest(int ep_fd, struct client *c, bool edge)
{
    unsigned want = client_interest(c);
    bool rearm = edge && c->input_left && (want & WANT_READ);
    if (want == c->watched && !rearm) {
        return true;
    }
    struct epoll_event ev = {.events = events_for(want, edge), .data.ptr = c};
    if (epoll_ctl(ep_fd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
        c->error = errno;
        return false;
    }
    c->watched = want;
    return true;
}

/* One event of client C, dispatched on what epoll_wait returned (EVENTS),
 * not on what was registered. */
static void serve(struct echo_server *s, int ep_fd, struct client *c,
                  uint32_t events, bool edge)
{
    bool ok = true;
    /* EPOLLERR and EPOLLHUP count as readable: recv reports the error, or
     * EOF. --et: client_read reads until EAGAIN. The edge came when bytes
     * arrived; bytes left unread now would sit until more arrive, which
     * for a client waiting for its echo is never. */
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        ok = client_read(c, edge);
    }
    /* On EPOLLOUT, and right after a read (the echo usually goes at once):
     * send until empty or EAGAIN. --et: stopping earlier would be a
     * stall, since the next EPOLLOUT edge comes only when a full send
     * buffer gains room. */
    if (ok) {
        ok = client_write(c);
    }
    if (ok) {
        ok = update_interest(ep_fd, c, edge);
    }
    if (!ok) {
        /* close() also takes the socket out of the interest list (no
         * other descriptor refers to it). Each socket appears at most
         * once in one epoll_wait's answer, so no later event of this
         * batch points at the freed client. */
        echo_drop(s, c);
    }
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    bool edge = false;
    const char *port = echo_parse_args(argc, argv, "epoll_server", &edge);
    install_stop_handlers();
    sigset_t wait_mask;
    echo_block_stop_signals(&wait_mask);
    struct echo_server srv;
    echo_open(&srv, port, MAX_CLIENTS, INT_MAX);

    /* The interest list lives in the kernel, behind this descriptor. The
     * listening socket's data.ptr is NULL: that tells it from a client. */
    int ep_fd = epoll_create1(EPOLL_CLOEXEC);
    if (ep_fd < 0) {
        die_errno("epoll_create1");
    }
    struct epoll_event listener = {.events = events_for(WANT_READ, edge),
                                   .data.ptr = NULL};
    if (epoll_ctl(ep_fd, EPOLL_CTL_ADD, srv.listen_fd, &listener) < 0) {
        die_errno("epoll_ctl ADD listener");
    }

    struct epoll_event ready[MAX_EVENTS];
    int status = 0;
    while (!echo_stop_requested()) {
        /* epoll_pwait: SIGINT/SIGTERM let in only while asleep, and
         * sigpending() in the loop's test (see select_server.c). */
        int n = epoll_pwait(ep_fd, ready, MAX_EVENTS, -1, &wait_mask);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            warn_errno("epoll_pwait");
            status = 1;
            break;
        }
        for (int i = 0; i < n; i++) {
            struct client *c = ready[i].data.ptr;
            if (c == NULL) {
                accept_clients(&srv, ep_fd, edge);
            } else {
                serve(&srv, ep_fd, c, ready[i].events, edge);
            }
        }
    }
    echo_close(&srv);
    close(ep_fd);
    return status;
}
