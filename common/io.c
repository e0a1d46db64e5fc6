/*
 * io.c - the small I/O helpers: send_all, set_nonblocking, and the
 * SIGINT/SIGTERM stop flag every server loop checks.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/select.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

/* MSG_NOSIGNAL is Linux's (and POSIX.1-2024's) per-call "no SIGPIPE".
 * Where it is missing, the SIGPIPE that install_stop_handlers ignores
 * does the same job. */
#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

volatile sig_atomic_t stop_requested = 0;

/* Milliseconds on the monotonic clock (not the wall clock, which can
 * jump). */
static long long monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ssize_t send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    size_t left = len;
    while (left > 0) {
        /* send may take fewer bytes than asked: a signal that arrives
         * after some bytes were queued, or SO_SNDTIMEO expiring, or any
         * non-blocking socket. Carry on from where it stopped. */
        ssize_t n = send(fd, p, left, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        p += n;
        left -= (size_t)n;
    }
    return (ssize_t)len;
}

ssize_t sendv_all(int fd, struct iovec *iov, int count)
{
    size_t total = 0;
    for (int i = 0; i < count; i++) {
        total += iov[i].iov_len;
    }
    while (count > 0) {
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = count};
        ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        count = iov_skip(&iov, count, (size_t)n);
    }
    return (ssize_t)total;
}

int iov_skip(struct iovec **iov, int count, size_t sent)
{
    struct iovec *v = *iov;
    while (count > 0 && sent >= v->iov_len) { /* whole buffers */
        sent -= v->iov_len;
        v++;
        count--;
    }
    if (count > 0) { /* then part of the next */
        v->iov_base = (char *)v->iov_base + sent;
        v->iov_len -= sent;
    }
    *iov = v;
    return count;
}

int set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) {
        return -1;
    }
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/* The handler only sets the flag: almost nothing else is safe in a
 * signal handler (no printf, no malloc, no free). */
static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

void install_stop_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);

    /* Writing to a peer that has gone raises SIGPIPE, whose default action
     * kills the process. Ignored, the write fails with EPIPE instead. */
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) < 0) {
        die_errno("sigaction SIGPIPE");
    }

    /* No SA_RESTART: a blocking accept/recv returns EINTR on a signal,
     * so the loop around it gets to see stop_requested. */
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = 0;
    if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0) {
        die_errno("sigaction SIGINT/SIGTERM");
    }
}

void close_gracefully(int fd)
{
    /* FIN after our last byte: the peer reads our answer, then EOF. */
    shutdown(fd, SHUT_WR);

    /* Wait at most ~1 s in all for the peer's own FIN, discarding at most
     * 64 KiB: a peer that keeps sending cannot hold us here. */
    long long deadline = monotonic_ms() + 1000;
    char sink[4096];
    size_t total = 0;
    while (total < 64 * 1024) {
        long long left = deadline - monotonic_ms();
        if (left <= 0 || wait_readable(fd, (int)left) <= 0) {
            break;
        }
        ssize_t n = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
        if (n > 0) {
            total += (size_t)n;
        } else if (n == 0 || (errno != EINTR && errno != EAGAIN &&
                              errno != EWOULDBLOCK)) {
            break;
        }
    }
    close(fd);
}

int wait_readable(int fd, int timeout_ms)
{
    return wait_either(fd, -1, timeout_ms);
}

int wait_either(int fd, int other, int timeout_ms)
{
    int top = fd > other ? fd : other;
    if (fd < 0 || top >= FD_SETSIZE) {
        errno = EINVAL; /* an fd_set holds descriptors below FD_SETSIZE */
        return -1;
    }
    sigset_t stop_signals, old_mask, wait_mask;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &stop_signals, &old_mask) < 0) {
        return -1;
    }
    wait_mask = old_mask;
    sigdelset(&wait_mask, SIGINT);
    sigdelset(&wait_mask, SIGTERM);

    long long deadline = monotonic_ms() + timeout_ms;
    int rc = 0;
    fd_set readable;
    while (!stop_requested) {
        long long left = deadline - monotonic_ms();
        left = left > 0 ? left : 0;
        struct timespec ts = {.tv_sec = left / 1000,
                              .tv_nsec = (long)(left % 1000) * 1000000};
        FD_ZERO(&readable);
        FD_SET(fd, &readable);
        if (other >= 0) {
            FD_SET(other, &readable);
        }
        /* Sleeps with WAIT_MASK in force: a stop signal arriving now
         * interrupts it (EINTR) and the loop sees the flag. */
        rc = pselect(top + 1, &readable, NULL, NULL,
                     timeout_ms >= 0 ? &ts : NULL, &wait_mask);
        if (rc == 0) {
            rc = -1;
            errno = ETIMEDOUT;
        }
        if (rc > 0 || errno != EINTR) {
            break;
        }
    }
    int saved = errno;
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    errno = saved;
    if (stop_requested) {
        return 0;
    }
    return rc <= 0 ? -1 : FD_ISSET(fd, &readable) ? 1 : 2;
}
