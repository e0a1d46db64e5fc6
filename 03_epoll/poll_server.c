#define _GNU_SOURCE /* ppoll: glibc declares it only with _GNU_SOURCE */
/*
 * poll_server - the echo server on poll(): select's loop without its
 * FD_SETSIZE ceiling.
 *
 * Usage: poll_server [PORT]            (default 10086; 0 picks a free port)
 *
 * Protocol: echo (RFC 862 style): every byte received is sent back, in
 * order; after the client's EOF the rest follows, then the server closes.
 * Pairs with: 02_nonblocking/echo_client, `nc -N localhost 10086`.
 * Try it:   ./build/03_epoll/poll_server
 *           nc -N localhost 10086 < /etc/services | cmp - /etc/services
 * What to notice:
 *   - one struct pollfd per socket: the question in `events`, the answer
 *     in `revents`, any descriptor number, as many as `ulimit -n` allows;
 *   - still a walk over every socket per wake-up, in the kernel and here:
 *     the cost grows with the clients, ready or not;
 *   - POLLHUP and POLLERR come unasked: handled as readable.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "echo.h"

#define MAX_CLIENTS 20000 /* beyond `ulimit -n`, accept says EMFILE */

/* The array poll reads and writes: the listening socket in slot 0, a
 * client in every other slot, and which client each slot is. */
struct watch_list {
    struct pollfd *fds;    /* 1 + MAX_CLIENTS of them */
    struct client **owner; /* owner[i] is the client of fds[i] (i > 0) */
    nfds_t count;          /* slots in use */
};

/* One pollfd per socket with what it needs now. poll leaves `events`
 * alone (it answers in `revents`), but the interest changes as output
 * comes and goes, so the array is filled again every pass: the same walk
 * over every client that the kernel makes of it anyway. */
static void fill_list(struct watch_list *w, const struct echo_server *s)
{
    w->fds[0] = (struct pollfd){.fd = s->listen_fd, .events = POLLIN};
    w->count = 1;
    for (struct client *c = s->first; c != NULL; c = c->next) {
        unsigned want = client_interest(c);
        short events = (short)((want & WANT_READ ? POLLIN : 0) |
                               (want & WANT_WRITE ? POLLOUT : 0));
        w->owner[w->count] = c;
        w->fds[w->count++] = (struct pollfd){.fd = c->fd, .events = events};
    }
}

/* Serve the clients whose slot has an answer, as select_server does.
 * POLLHUP and POLLERR (and POLLNVAL, a descriptor that is not open) are
 * reported whether asked for or not: handled as readable, so that recv
 * says what happened (EOF, ECONNRESET). */
static void serve_ready(struct echo_server *s, const struct watch_list *w)
{
    for (nfds_t i = 1; i < w->count; i++) {
        short ev = w->fds[i].revents;
        if (ev == 0) {
            continue;
        }
        struct client *c = w->owner[i];
        bool ok = true;
        if (ev & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) {
            ok = client_read(c, false);
        }
        if (ok) {
            ok = client_write(c);
        }
        if (!ok) {
            echo_drop(s, c); /* its slot is not looked at again */
        }
    }
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *port = echo_parse_args(argc, argv, "poll_server", NULL);
    install_stop_handlers();
    sigset_t wait_mask;
    echo_block_stop_signals(&wait_mask);

    struct watch_list w = {
        .fds = calloc(1 + MAX_CLIENTS, sizeof *w.fds),
        .owner = calloc(1 + MAX_CLIENTS, sizeof *w.owner),
    };
    if (w.fds == NULL || w.owner == NULL) {
        die_errno("calloc");
    }
    struct echo_server srv;
    echo_open(&srv, port, MAX_CLIENTS, INT_MAX);

    int status = 0;
    while (!echo_stop_requested()) {
        fill_list(&w, &srv);
        /* ppoll: SIGINT/SIGTERM let in only while asleep, and
         * sigpending() in the loop's test (see select_server.c). */
        int n = ppoll(w.fds, w.count, NULL, &wait_mask);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            warn_errno("ppoll");
            status = 1;
            break;
        }
        serve_ready(&srv, &w);
        if (w.fds[0].revents != 0) {
            while (echo_accept(&srv) != NULL) { /* in the list next time */
            }
        }
    }
    echo_close(&srv);
    free(w.fds);
    free(w.owner);
    return status;
}
