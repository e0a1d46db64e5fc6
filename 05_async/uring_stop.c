/*
 * uring_stop.c - uring_echo_server's signals and its stop.
 *
 * SIGPIPE is ignored. SIGINT and SIGTERM are blocked and read from a
 * signalfd, which a poll through the ring watches: a signal is one more
 * completion, handled by the loop in its turn. Stopping is where
 * asynchronous I/O bites: until a request's completion comes back, the
 * kernel may still write into its buffer. So the stop cancels every
 * request and frees nothing until each has come back (begin_stop, then
 * the loop in main), and only then closes and frees (finish_stop). See
 * uring_server.h for the other files.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "common.h"
#include "uring_server.h"

/* SIGPIPE ignored, as install_stop_handlers (common/io.c) does for the
 * other servers: every send has MSG_NOSIGNAL, but a write to a pipe whose
 * reader is gone (stdout through `| head`) would still end the server. */
void ignore_sigpipe(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGPIPE, &sa, NULL) < 0) {
        die_errno("sigaction SIGPIPE");
    }
}

/* Block SIGINT and SIGTERM and make them readable on a signalfd, watched
 * by the ring: a signal is one more completion, seen by the loop in its
 * turn (no handler, no flag, no race with the wait). */
int open_signalfd(void)
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

/* Watch the signalfd: a poll, which completes once SIGINT or SIGTERM is
 * pending. The signal itself is read by signal_done. */
void watch_signals(struct server *s)
{
    struct io_uring_sqe *sqe =
        request(s, IORING_OP_POLL_ADD, s->sig_fd, OP_SIGNAL);
    sqe->poll32_events = uring_poll_events(POLLIN);
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

/* The signal watch completed with RES (the events, or -errno). Only a
 * whole signalfd_siginfo read means a signal: the first begins the stop;
 * a second, while the stop waits for the kernel (Ctrl-C again, because
 * it hangs), ends the program at once, status 1, and the kernel cancels
 * what is left as the ring closes. An error or a wake-up with nothing to
 * read is no signal. Either way the watch is armed again. */
void signal_done(struct server *s, int res)
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

/* After the stop: every request but the signal watch is back (that one
 * holds no memory of ours, and closing the ring ends it). Close each
 * client after reading what it sent, so that it sees FIN and not a
 * reset; then the descriptors, the ring and the pool. */
void finish_stop(struct server *s)
{
    while (s->first != NULL) {
        struct conn *c = s->first;
        s->first = c->next;
        close_after_drain(c->fd);
        printf("[%llu] closed (stopping)\n", c->id);
        free(c->spill);
        free(c);
    }
    close(s->listen_fd);
    if (s->spare_fd >= 0) {
        close(s->spare_fd);
    }
    close(s->sig_fd);
    uring_free(&s->ring); /* no recv in flight: the pool is ours again */
    uring_bufs_free(&s->bufs);
}
