/*
 * uring_listener.c - uring_echo_server's accepting: one IORING_OP_ACCEPT
 * in flight at a time, each completion submitting the next.
 *
 * Two things to get right (see uring_server.h for the other files):
 *   - the cap on clients, MAX_CONNS, which keeps the CQ from overflowing:
 *     a client beyond it is refused, its input read, then closed, so it
 *     sees FIN and not a reset (add_conn);
 *   - out of descriptors (EMFILE), io_uring's accept fails whether or not
 *     a client waits: poll the listener first, and only then give up the
 *     spare descriptor to refuse the client (out_of_descriptors). Any
 *     other error pauses accepting for a moment (pause_accepting).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "uring_server.h"

#define BACKLOG 4096       /* handshakes the kernel queues */
#define DRAIN_READS 4      /* recvs of leftover input before a close */
#define PAUSE_NS 100000000 /* 100 ms without accepting after an error */

/* Listen on PORT and keep the spare descriptor (/dev/null) for EMFILE.
 * If it cannot listen: the ring and the pool freed, exit 1. */
void open_listener(struct server *s, const char *port)
{
    s->listen_fd = net_listen(NULL, port, BACKLOG);
    if (s->listen_fd < 0) {
        uring_free(&s->ring);
        uring_bufs_free(&s->bufs);
        exit(1); /* net_listen said why */
    }
    s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (s->spare_fd < 0) {
        die_errno("open /dev/null");
    }
}

/* Accept the next connection: as OP_ACCEPT, or as OP_SHED into the spare
 * descriptor's number. The kernel writes the peer's address into s->peer
 * when a connection comes, maybe much later: it must stay put till then.
 * (Zeroed first: valgrind cannot see the kernel write it.) */
void submit_accept(struct server *s, enum op op)
{
    memset(&s->peer, 0, sizeof s->peer);
    s->peer_len = sizeof s->peer;
    struct io_uring_sqe *sqe = request(s, IORING_OP_ACCEPT, s->listen_fd, op);
    sqe->addr = (uintptr_t)&s->peer;
    sqe->addr2 = (uintptr_t)&s->peer_len;
    sqe->accept_flags = SOCK_CLOEXEC;
    s->listener_op = op;
}

/* Wait PAUSE_NS, then accept again: after an accept error that could
 * come back at once, resubmitting straight away would spin. */
static void pause_accepting(struct server *s)
{
    s->pause = (struct __kernel_timespec){.tv_nsec = PAUSE_NS};
    struct io_uring_sqe *sqe = request(s, IORING_OP_TIMEOUT, -1, OP_PAUSE);
    sqe->addr = (uintptr_t)&s->pause;
    sqe->len = 1;
    s->listener_op = OP_PAUSE;
}

/* Read and discard what the client sent already (a bounded amount), then
 * close: closing with unread input would send a reset, not FIN. */
void close_after_drain(int fd)
{
    char sink[4096];
    for (int i = 0; i < DRAIN_READS; i++) {
        if (recv(fd, sink, sizeof sink, MSG_DONTWAIT) <= 0) {
            break;
        }
    }
    close(fd);
}

/* A new client on the accepted socket FD: log it, start its first recv.
 * Beyond MAX_CONNS it is refused: closed at once, after reading what it
 * sent, so that it sees FIN and not a reset. */
static void add_conn(struct server *s, int fd)
{
    char peer[NET_ADDRSTRLEN];
    net_addr_str((struct sockaddr *)&s->peer, s->peer_len, peer, sizeof peer);
    unsigned long long id = s->next_id++;
    if (s->nconns == MAX_CONNS) {
        printf("[%llu] refused %s: too many clients (limit %d)\n", id, peer,
               MAX_CONNS);
        close_after_drain(fd);
        return;
    }
    struct conn *c = malloc(sizeof *c);
    if (c == NULL) {
        warn_errno("[%llu] refused %s", id, peer);
        close(fd);
        return;
    }
    *c = (struct conn){.fd = fd, .id = id, .bid = -1, .prev = s->last};
    if (s->last != NULL) {
        s->last->next = c;
    } else {
        s->first = c;
    }
    s->last = c;
    s->nconns++;
    printf("[%llu] connected from %s\n", id, peer);
    next_recv(s, c, false);
}

/* accept said EMFILE or ENFILE: no descriptor for the connection, which
 * stays queued. 03_epoll/echo.c (shed_one) takes it off the queue with a
 * spare descriptor and closes it, so the client hears no and the loop
 * does not spin. One difference here: io_uring's accept takes the
 * descriptor before it looks at the queue, so EMFILE does not mean that
 * a client waits. Poll the listener first; accept again when it says one
 * does, and if that fails too, refuse the client with the spare. */
static void out_of_descriptors(struct server *s, int err)
{
    if (!s->queued) {
        struct io_uring_sqe *sqe =
            request(s, IORING_OP_POLL_ADD, s->listen_fd, OP_POLL);
        sqe->poll32_events = uring_poll_events(POLLIN);
        s->listener_op = OP_POLL;
        return;
    }
    if (s->spare_fd < 0) {
        s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    if (s->spare_fd < 0) {
        warn_errno("accept: %s, and no spare descriptor", errno_name(err));
        pause_accepting(s);
        return;
    }
    close(s->spare_fd); /* its number is now the lowest free one */
    s->spare_fd = -1;
    s->shed_err = err;
    submit_accept(s, OP_SHED);
}

/* The listener's request completed with RES: go on accepting. */
void listener_done(struct server *s, enum op op, int res)
{
    if (op == OP_ACCEPT && res >= 0) {
        s->queued = false;
        add_conn(s, res);
    } else if (op == OP_ACCEPT && (res == -EMFILE || res == -ENFILE)) {
        out_of_descriptors(s, -res);
        return;
    } else if (op == OP_POLL && res > 0) {
        s->queued = true;
    } else if (op == OP_SHED) {
        if (res >= 0) {
            char peer[NET_ADDRSTRLEN];
            net_addr_str((struct sockaddr *)&s->peer, s->peer_len, peer,
                         sizeof peer);
            errno = s->shed_err;
            warn_errno("[%llu] refused %s: accept", s->next_id++, peer);
            close_after_drain(res);
        }
        s->queued = false;
        s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    } else if (res < 0 && res != -ETIME && res != -ECONNABORTED &&
               res != -EINTR) {
        errno = -res;
        warn_errno("%s", op == OP_POLL ? "poll" : "accept");
        pause_accepting(s);
        return;
    }
    submit_accept(s, OP_ACCEPT);
}
