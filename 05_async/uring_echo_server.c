/*
 * uring_echo_server - the echo server on io_uring: the kernel waits and
 * copies; we hear when it is done. This file is the echo; accepting is in
 * uring_listener.c, the signals and the stop in uring_stop.c.
 *
 * Usage: uring_echo_server [PORT]    (default 10086; 0 picks a free port)
 *        Exit status: 0 after SIGINT/SIGTERM (1 after a second one, if
 *        the stop has not finished), 1 on a failure, 2 on bad usage, 77
 *        when the kernel refuses io_uring (a sysctl, seccomp, a kernel
 *        older than 5.19): said on stderr.
 * Protocol: echo (RFC 862 style), as 03_epoll/epoll_server.
 * Pairs with: 02_nonblocking/echo_client, `nc -N localhost 10086`, loadgen.
 * Try it:   ./build/05_async/uring_echo_server
 *           ./build/03_epoll/loadgen -c 1000 -d 5      (second terminal)
 * What to notice:
 *   - no readiness and no EAGAIN: we ask "recv into this buffer" and are
 *     told later that it happened, and how many bytes came (a proactor);
 *   - user_data takes each completion back to its connection;
 *   - provided buffers: a recv names no buffer, the kernel takes one
 *     from a shared pool when bytes come, so an idle client costs no
 *     buffer; -ENOBUFS (pool empty) queues the client for the next one;
 *   - one request in flight per connection: a client that does not read
 *     is not read, and holds no pool buffer while it does not;
 *   - the stop signal is a completion too (a poll of a signalfd), and
 *     stopping cancels every request and waits for each before anything
 *     is freed.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "uring_server.h"

#define DEFAULT_PORT "10086" /* the original tour's port */
#define RING_ENTRIES 256     /* SQ slots: requests queued between submits */
#define BUF_SIZE 16384       /* bytes per pool buffer: the most a recv gets */
#define BUF_GROUP 0          /* the pool's buffer group ID */

/* Buffers in the pool (a power of two). Only bytes in flight hold one,
 * from the recv that fills it until its echo is sent or spilled: the
 * pool is sized for data in flight, not for clients. 16 MiB of address
 * space, memory only where the kernel writes. (The tests build a copy
 * with 8, so that recvs find the pool empty.) */
#ifndef BUF_COUNT
#define BUF_COUNT 1024
#endif
_Static_assert((BUF_COUNT & (BUF_COUNT - 1)) == 0, "a power of two");

static void usage(FILE *out)
{
    fprintf(out, "usage: uring_echo_server [PORT]\n");
}

/* The port from the command line, as 03_epoll's servers take it. */
static const char *parse_args(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        exit(0);
    }
    if (argc > 2 || (argc == 2 && net_parse_port(argv[1]) < 0)) {
        usage(stderr);
        exit(2);
    }
    return argc == 2 ? argv[1] : DEFAULT_PORT;
}

/* Set up the ring and the buffer pool, or say why the kernel will not
 * and exit 77 (so a test is skipped, not failed, where io_uring is
 * refused). */
static void open_ring(struct server *s)
{
    const char *what;
    if (uring_init(&s->ring, RING_ENTRIES, CQ_ENTRIES, &what) == 0 &&
        uring_bufs_init(&s->bufs, &s->ring, BUF_GROUP, BUF_COUNT, BUF_SIZE,
                        &what) == 0) {
        return;
    }
    int err = errno; /* exit closes the ring, if there is one */
    fprintf(stderr, "%s: %s (%s)\n", what, errno_name(err), strerror(err));
    if (err != ENOSYS && err != EPERM && err != EOPNOTSUPP) {
        exit(1);
    }
    fprintf(stderr, "io_uring is refused here: kernel too old or built "
                    "without it, /proc/sys/kernel/io_uring_disabled set, "
                    "or a seccomp filter (Docker's default) blocks it\n");
    exit(77);
}

/* A new request: the next SQE with OPCODE, FD and USER_DATA, counted in
 * flight. Dies if even a full submission cannot make room. */
struct io_uring_sqe *request(struct server *s, int opcode, int fd,
                             uint64_t user_data)
{
    struct io_uring_sqe *sqe = uring_get_sqe(&s->ring);
    if (sqe == NULL) {
        die_errno("io_uring_enter");
    }
    sqe->opcode = (uint8_t)opcode;
    sqe->fd = fd;
    sqe->user_data = user_data;
    s->inflight++;
    return sqe;
}

/* recv into a buffer the kernel picks from the pool when bytes come;
 * the completion says which, and how much came. */
static void submit_recv(struct server *s, struct conn *c)
{
    struct io_uring_sqe *sqe = request(s, IORING_OP_RECV, c->fd, (uintptr_t)c);
    sqe->flags = IOSQE_BUFFER_SELECT;
    sqe->buf_group = BUF_GROUP; /* len 0: the buffer's size */
    c->op = OP_RECV;
}

/* send what of C's out is not sent yet. MSG_NOSIGNAL: a vanished client
 * is -EPIPE in the completion, not a SIGPIPE. From a pool buffer, also
 * MSG_DONTWAIT: what the socket cannot take at once comes back short
 * (or -EAGAIN), to be spilled, instead of holding the buffer. */
static void submit_send(struct server *s, struct conn *c)
{
    struct io_uring_sqe *sqe = request(s, IORING_OP_SEND, c->fd, (uintptr_t)c);
    sqe->addr = (uintptr_t)(c->out + c->sent);
    sqe->len = (uint32_t)(c->len - c->sent);
    sqe->msg_flags = MSG_NOSIGNAL | (c->bid >= 0 ? MSG_DONTWAIT : 0);
    c->op = OP_SEND;
}

/* C's next recv. If clients are queued for a pool buffer, or if WAIT
 * (C's recv found the pool empty: -ENOBUFS), C joins the end of that
 * queue instead, with no request in flight, until give_back submits its
 * recv: first come, first served, so that no client starves. */
void next_recv(struct server *s, struct conn *c, bool wait)
{
    if (!wait && s->wait_first == NULL) {
        submit_recv(s, c);
        return;
    }
    c->op = OP_WAIT;
    c->wait_next = NULL;
    *(s->wait_last != NULL ? &s->wait_last->wait_next : &s->wait_first) = c;
    s->wait_last = c;
}

/* Offer C's pool buffer, if it holds one, to the kernel again, and give
 * the first queued client a try. Also when a client ends without one:
 * the try it had may have been meant for a buffer it never took. Never
 * after -ENOBUFS: no buffer came back, and the queue would spin. */
static void give_back(struct server *s, struct conn *c)
{
    if (c->bid >= 0) {
        uring_buf_put(&s->bufs, (unsigned)c->bid);
        c->bid = -1;
    }
    struct conn *w = s->wait_first;
    if (w != NULL) {
        s->wait_first = w->wait_next;
        s->wait_last = w == s->wait_last ? NULL : s->wait_last;
        submit_recv(s, w);
    }
}

/* Close C, log its end (ERR: the errno that ended it, or 0), free it.
 * Closed before the log line, so that whoever reads the log and then
 * looks at the server's descriptors finds it gone. */
static void drop_conn(struct server *s, struct conn *c, int err)
{
    *(c->prev != NULL ? &c->prev->next : &s->first) = c->next;
    *(c->next != NULL ? &c->next->prev : &s->last) = c->prev;
    s->nconns--;
    give_back(s, c);
    free(c->spill);
    close(c->fd);
    if (err == 0) {
        printf("[%llu] closed\n", c->id);
    } else if (err == ECONNRESET) {
        printf("[%llu] closed (connection reset)\n", c->id);
    } else {
        printf("[%llu] closed (%s)\n", c->id, errno_name(err));
    }
    free(c);
}

/* The client does not read as fast as it sends: a send from its pool
 * buffer came back short. Copy the rest into memory of its own and give
 * the buffer back, so that clients that do not read cannot hold the
 * pool; they hold at most BUF_SIZE each, as chapter 3's output buffers.
 * Returns -1 when out of memory. */
static int spill(struct server *s, struct conn *c)
{
    c->len -= c->sent;
    c->spill = malloc(c->len);
    if (c->spill == NULL) {
        return -1;
    }
    memcpy(c->spill, c->out + c->sent, c->len);
    c->out = c->spill;
    c->sent = 0;
    give_back(s, c);
    return 0;
}

/* A recv or send of C completed with RES (bytes, or -errno) and FLAGS.
 * One request at a time per connection: the echo of a recv is sent
 * whole, in as many sends as it takes, before the next recv. */
static void conn_done(struct server *s, struct conn *c, int res, unsigned flags)
{
    if (flags & IORING_CQE_F_BUFFER) { /* the recv took a pool buffer */
        c->bid = (int)(flags >> IORING_CQE_BUFFER_SHIFT);
        c->out = uring_buf(&s->bufs, (unsigned)c->bid);
    }
    if (c->op == OP_RECV && res == -ENOBUFS) {
        next_recv(s, c, true); /* the pool was empty when bytes came */
        return;
    }
    if (c->op == OP_RECV && res > 0) {
        c->len = (size_t)res; /* these bytes go back */
        c->sent = 0;
    } else if (c->op == OP_SEND &&
               (res > 0 || (res == -EAGAIN && c->bid >= 0))) {
        c->sent += res > 0 ? (size_t)res : 0; /* short: the rest next */
        if (c->sent < c->len && c->bid >= 0 && spill(s, c) < 0) {
            drop_conn(s, c, ENOMEM);
            return;
        }
    } else if (res != -EINTR) {
        /* recv 0: the client's EOF, and everything is echoed already.
         * -ECONNRESET, -EPIPE: it vanished. (A send of 0 bytes, which TCP
         * does not do, would otherwise be sent again for ever.) */
        drop_conn(s, c, -res);
        return;
    }
    if (c->sent < c->len) {
        submit_send(s, c);
        return;
    }
    free(c->spill); /* all sent: the echo's memory goes back */
    c->spill = NULL;
    give_back(s, c);
    next_recv(s, c, false);
}

/* One completion: USER_DATA says whose request it was, RES its result
 * (what the system call would have returned, or -errno). */
static void complete(struct server *s, const struct io_uring_cqe *cqe)
{
    uint64_t user_data = cqe->user_data;
    int res = cqe->res;
    s->inflight--;
    if (user_data == OP_CANCEL) {
        return;
    }
    if (user_data == OP_SIGNAL) {
        signal_done(s, res);
        return;
    }
    if (s->stopping) {
        /* Too late to cancel an accept that was done already: close. */
        if ((user_data == OP_ACCEPT || user_data == OP_SHED) && res >= 0) {
            close(res);
        }
        return;
    }
    if (user_data < OP_RECV) { /* accept, poll, shed, pause */
        s->listener_op = 0;
        listener_done(s, (enum op)user_data, res);
    } else {
        conn_done(s, (struct conn *)(uintptr_t)user_data, res, cqe->flags);
    }
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *port = parse_args(argc, argv);
    ignore_sigpipe();
    static struct server s; /* static: big, and zeroed */
    s.next_id = 1;
    open_ring(&s);
    open_listener(&s, port);
    s.sig_fd = open_signalfd();
    char addr[NET_ADDRSTRLEN];
    printf("listening on %s\n", net_local_str(s.listen_fd, addr, sizeof addr));

    watch_signals(&s);
    submit_accept(&s, OP_ACCEPT);

    /* The loop: submit what the last completions asked for and wait for
     * at least one more, in one system call; then take every completion
     * there is. It ends once the stop's cancellations are all back, and
     * only the signal watch is in flight: it is armed again after every
     * signal, for a second Ctrl-C, and holds no memory of ours (closing
     * the ring ends it). */
    while (!s.stopping || s.inflight > 1) {
        int err = uring_submit(&s.ring, 1);
        if (err == -EBADR) {
            die("io_uring_enter: EBADR: the kernel lost a completion");
        }
        if (err < 0 && err != -EINTR && err != -EAGAIN && err != -EBUSY) {
            errno = -err;
            die_errno("io_uring_enter");
        }
        struct io_uring_cqe cqe;
        while (uring_next_cqe(&s.ring, &cqe)) {
            complete(&s, &cqe);
        }
    }

    finish_stop(&s);
    return 0;
}
