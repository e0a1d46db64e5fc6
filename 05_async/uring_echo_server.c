/*
 * uring_echo_server - the echo server on io_uring: the kernel waits and
 * copies; we hear when it is done.
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
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "uring.h"

#define DEFAULT_PORT "10086" /* the original tour's port */
#define RING_ENTRIES 256     /* SQ slots: requests queued between submits */
#define CQ_ENTRIES 65536     /* CQ slots: the most the kernel gives */
#define BUF_SIZE 16384       /* bytes per pool buffer: the most a recv gets */
#define BUF_GROUP 0          /* the pool's buffer group ID */
#define BACKLOG 4096         /* handshakes the kernel queues */
#define DRAIN_READS 4        /* recvs of leftover input before a close */
#define PAUSE_NS 100000000   /* 100 ms without accepting after an error */

/* Clients at once; more are refused. Why a cap: each request completes
 * exactly once, and at most 2 * MAX_CONNS + 3 are in flight at once (a
 * client's recv or send, and at the stop its cancellation; the same for
 * the listener; the signal watch). With a CQ slot for each, the CQ cannot
 * overflow, and it must not: the kernel would hold the extra completions
 * back (NODROP), and older kernels (from 5.5) refuse every submission
 * (EBUSY) until they are reaped, which uring_get_sqe, flushing a full SQ
 * in the middle of a batch, cannot do. (The tests build a copy with a cap
 * of 2, to see the refusal.) */
#ifndef MAX_CONNS
#define MAX_CONNS 32000
#endif
_Static_assert(2 * MAX_CONNS + 3 <= CQ_ENTRIES, "a CQ slot for each request");

/* Buffers in the pool (a power of two). Only bytes in flight hold one,
 * from the recv that fills it until its echo is sent or spilled: the
 * pool is sized for data in flight, not for clients. 16 MiB of address
 * space, memory only where the kernel writes. (The tests build a copy
 * with 8, so that recvs find the pool empty.) */
#ifndef BUF_COUNT
#define BUF_COUNT 1024
#endif
_Static_assert((BUF_COUNT & (BUF_COUNT - 1)) == 0, "a power of two");

/* What a request was, read back from a completion's user_data. The
 * server's own requests use these small numbers; a connection's use the
 * address of its struct conn, which is never that small. */
enum op {
    OP_SIGNAL = 1, /* poll of the signalfd: SIGINT or SIGTERM came */
    OP_ACCEPT,     /* accept a connection */
    OP_POLL,       /* poll the listener: a connection is queued */
    OP_SHED,       /* accept into the spare descriptor, to refuse */
    OP_PAUSE,      /* a timeout, then accept again */
    OP_CANCEL,     /* a cancellation, at the stop */
    OP_RECV,       /* (struct conn) recv into a pool buffer */
    OP_SEND,       /* (struct conn) send the rest of out */
    OP_WAIT,       /* (struct conn) none: queued for a pool buffer */
};

/* One client. While a request is in flight, out belongs to the kernel. */
struct conn {
    int fd;                   /* the connected socket */
    unsigned long long id;    /* [id] in the log, in accept order */
    enum op op;               /* OP_RECV, OP_SEND in flight, or OP_WAIT */
    int bid;                  /* the pool buffer it holds, or -1 */
    char *out;                /* what goes back: that buffer, or spill */
    char *spill;              /* malloc'd copy of a stalled echo, or NULL */
    size_t len;               /* bytes in out */
    size_t sent;              /* how many of them are sent back */
    struct conn *prev, *next; /* every client, oldest first */
    struct conn *wait_next;   /* the next one queued for a buffer */
};

/* The server: the ring, its descriptors, and what the kernel fills in. */
struct server {
    struct uring ring;
    struct uring_bufs bufs;          /* the pool the recvs share */
    int listen_fd, spare_fd, sig_fd; /* spare: /dev/null, for EMFILE */
    unsigned inflight;               /* requests whose completion is to come */
    unsigned nconns;                 /* clients, at most MAX_CONNS */
    enum op listener_op;             /* OP_ACCEPT/POLL/SHED/PAUSE in flight */
    bool queued;                     /* the poll saw a connection waiting */
    int shed_err;                    /* EMFILE or ENFILE: why we refuse */
    bool stopping;                   /* the signal came: cancel, wait, quit */
    unsigned long long next_id;      /* id of the next connection */
    struct sockaddr_storage peer;    /* accept writes the address here */
    socklen_t peer_len;              /* and its length here */
    struct __kernel_timespec pause;  /* OP_PAUSE's timeout */
    struct conn *first, *last;       /* the clients, oldest first */
    struct conn *wait_first, *wait_last; /* queued for a buffer, in order */
};

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

/* SIGPIPE ignored, as install_stop_handlers (common/io.c) does for the
 * other servers: every send has MSG_NOSIGNAL, but a write to a pipe whose
 * reader is gone (stdout through `| head`) would still end the server. */
static void ignore_sigpipe(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGPIPE, &sa, NULL) < 0) {
        die_errno("sigaction SIGPIPE");
    }
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
static struct io_uring_sqe *request(struct server *s, int opcode, int fd,
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

/* Accept the next connection: as OP_ACCEPT, or as OP_SHED into the spare
 * descriptor's number. The kernel writes the peer's address into s->peer
 * when a connection comes, maybe much later: it must stay put till then.
 * (Zeroed first: valgrind cannot see the kernel write it.) */
static void submit_accept(struct server *s, enum op op)
{
    memset(&s->peer, 0, sizeof s->peer);
    s->peer_len = sizeof s->peer;
    struct io_uring_sqe *sqe = request(s, IORING_OP_ACCEPT, s->listen_fd, op);
    sqe->addr = (uintptr_t)&s->peer;
    sqe->addr2 = (uintptr_t)&s->peer_len;
    sqe->accept_flags = SOCK_CLOEXEC;
    s->listener_op = op;
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
static void next_recv(struct server *s, struct conn *c, bool wait)
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
static void close_after_drain(int fd)
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
static void listener_done(struct server *s, enum op op, int res)
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

/* Cancel the request whose user_data is USER_DATA. Its completion still
 * comes (-ECANCELED, or its own result if it was too late to cancel),
 * and so does the cancellation's own. */
static void cancel(struct server *s, uint64_t user_data)
{
    struct io_uring_sqe *sqe =
        request(s, IORING_OP_ASYNC_CANCEL, -1, OP_CANCEL);
    sqe->addr = user_data;
}

/* SIGINT or SIGTERM: cancel the listener's request and every client's.
 * Nothing is freed yet: until a request's completion comes back, the
 * kernel may still write into its buffer. */
static void begin_stop(struct server *s)
{
    s->stopping = true;
    if (s->listener_op != 0) {
        cancel(s, s->listener_op);
    }
    for (struct conn *c = s->first; c != NULL; c = c->next) {
        if (c->op != OP_WAIT) {
            cancel(s, (uintptr_t)c);
        }
    }
}

/* Watch the signalfd: a poll, which completes once SIGINT or SIGTERM is
 * pending. The signal itself is read by signal_done. */
static void watch_signals(struct server *s)
{
    struct io_uring_sqe *sqe =
        request(s, IORING_OP_POLL_ADD, s->sig_fd, OP_SIGNAL);
    sqe->poll32_events = uring_poll_events(POLLIN);
}

/* The signal watch completed with RES (the events, or -errno). Only a
 * whole signalfd_siginfo read means a signal: the first begins the stop;
 * a second, while the stop waits for the kernel (Ctrl-C again, because
 * it hangs), ends the program at once, status 1, and the kernel cancels
 * what is left as the ring closes. An error or a wake-up with nothing to
 * read is no signal. Either way the watch is armed again. */
static void signal_done(struct server *s, int res)
{
    struct signalfd_siginfo si;
    if (res < 0) {
        errno = -res;
        warn_errno("poll signalfd");
    } else if (read(s->sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (s->stopping) {
            fprintf(stderr, "%s while stopping: exiting at once\n",
                    si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
            exit(1);
        }
        begin_stop(s);
    }
    watch_signals(s);
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

/* Block SIGINT and SIGTERM and make them readable on a signalfd, watched
 * by the ring: a signal is one more completion, seen by the loop in its
 * turn (no handler, no flag, no race with the wait). */
static int open_signalfd(void)
{
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
        die_errno("sigprocmask");
    }
    /* The ring polls the signalfd (watch_signals) and we read it once the
     * poll says a signal is there; SFD_NONBLOCK, so that a wake-up with
     * nothing to read is EAGAIN, not a loop asleep in read. (Not a read
     * through the ring: on some kernels an IORING_OP_READ of a
     * non-blocking file completes at once with -EAGAIN instead of
     * waiting.) */
    int fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) {
        die_errno("signalfd");
    }
    return fd;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *port = parse_args(argc, argv);
    ignore_sigpipe();
    static struct server s; /* static: big, and zeroed */
    s.next_id = 1;
    open_ring(&s);
    s.listen_fd = net_listen(NULL, port, BACKLOG);
    if (s.listen_fd < 0) {
        uring_free(&s.ring);
        uring_bufs_free(&s.bufs);
        exit(1); /* net_listen said why */
    }
    s.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (s.spare_fd < 0) {
        die_errno("open /dev/null");
    }
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

    while (s.first != NULL) {
        struct conn *c = s.first;
        s.first = c->next;
        close_after_drain(c->fd);
        printf("[%llu] closed (stopping)\n", c->id);
        free(c->spill);
        free(c);
    }
    close(s.listen_fd);
    if (s.spare_fd >= 0) {
        close(s.spare_fd);
    }
    close(s.sig_fd);
    uring_free(&s.ring); /* no recv in flight: the pool is ours again */
    uring_bufs_free(&s.bufs);
    return 0;
}
