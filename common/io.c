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
#include <unistd.h>

#include "common.h"

/* MSG_NOSIGNAL is Linux's (and POSIX.1-2024's) per-call "no SIGPIPE".
 * Where it is missing, the SIGPIPE that install_stop_handlers ignores
 * does the same job. */
#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

volatile sig_atomic_t stop_requested = 0;

ssize_t send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    size_t left = len;
    while (left > 0) {
        /* send may take fewer bytes than asked (a signal, a full socket
         * buffer on a huge write): carry on from where it stopped. */
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

    /* Wait at most ~1 s for the peer's own FIN, discarding at most 64 KiB:
     * a peer that keeps sending cannot hold us here. */
    struct timeval tv = {.tv_sec = 1, .tv_usec = 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char sink[4096];
    size_t total = 0;
    while (total < 64 * 1024) {
        ssize_t n = recv(fd, sink, sizeof sink, 0);
        if (n > 0) {
            total += (size_t)n;
        } else if (n == 0 || errno != EINTR || stop_requested) {
            break;
        }
    }
    close(fd);
}

int wait_readable(int fd)
{
    if (fd < 0 || fd >= FD_SETSIZE) {
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

    int rc = 0;
    while (!stop_requested) {
        fd_set readable;
        FD_ZERO(&readable);
        FD_SET(fd, &readable);
        /* Sleeps with WAIT_MASK in force: a stop signal arriving now
         * interrupts it (EINTR) and the loop sees the flag. */
        rc = pselect(fd + 1, &readable, NULL, NULL, NULL, &wait_mask);
        if (rc > 0 || (rc < 0 && errno != EINTR)) {
            break;
        }
    }
    int saved = errno;
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    errno = saved;
    return stop_requested ? 0 : (rc > 0 ? 1 : -1);
}
