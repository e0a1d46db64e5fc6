#define _GNU_SOURCE /* accept4: one call for accept, O_NONBLOCK, FD_CLOEXEC */
/*
 * reactor.c - the event loop of reactor.h: epoll, channels, the tick,
 * stopping, and accepting.
 *
 * The loop is four steps: wait (epoll_wait), note the time, call each
 * ready channel's callbacks, free what they closed (reap). Everything the
 * loop reacts to is a descriptor in the same epoll set: sockets, the
 * timerfd tick, the eventfd of reactor_stop, and the signalfd. A signal
 * handler could only set a flag, and then the flag would have to be
 * checked without losing a signal that lands just before epoll_wait
 * (epoll_pwait's job, see epoll_server.c); with several threads a handler
 * runs in whichever thread the kernel picks. A blocked signal read from a
 * signalfd is just another readable descriptor, handled in the loop's own
 * thread like everything else.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "reactor.h"

#define MAX_EVENTS 256 /* ready descriptors taken from one epoll_wait */
#define TICK_MS 1000   /* the timerfd tick that checks deadlines */
#define PAUSE_MS 1000  /* accepting pauses this long when it cannot go on */
#define DRAIN_READS 16 /* recvs of a refused client's bytes, at most */

struct reactor {
    int ep_fd;              /* the epoll descriptor */
    int wake_fd;            /* eventfd: reactor_stop writes, the loop reads */
    bool running;           /* reactor_run goes on */
    long long now;          /* monotonic ms at the last wake-up */
    struct channel *first;  /* every channel, oldest first */
    struct channel *last;   /* ... the newest */
    struct channel *closed; /* marked by channel_close, freed by reap */
};

/* A listening channel's state (its user pointer). */
struct acceptor {
    int spare_fd;        /* /dev/null, given up when accept says EMFILE */
    accept_fn on_accept; /* the program's */
    void *user;          /* ... and its pointer */
};

static long long monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long reactor_now(const struct reactor *r)
{
    return r->now;
}

struct channel *reactor_add(struct reactor *r, int fd, uint32_t events,
                            const struct channel_ops *ops, void *user)
{
    struct channel *ch = calloc(1, sizeof *ch);
    /* data.ptr takes each event straight to its channel. */
    struct epoll_event ev = {.events = events, .data.ptr = ch};
    if (ch == NULL || epoll_ctl(r->ep_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int err = errno;
        free(ch);
        close(fd);
        errno = err;
        return NULL;
    }
    *ch = (struct channel){.fd = fd,
                           .user = user,
                           .loop = r,
                           .ops = ops,
                           .interest = events,
                           .prev = r->last};
    if (r->last != NULL) {
        r->last->next = ch;
    } else {
        r->first = ch;
    }
    r->last = ch;
    return ch;
}

int channel_watch(struct channel *ch, uint32_t events)
{
    if (events == ch->interest) {
        return 0; /* the common case: no system call */
    }
    struct epoll_event ev = {.events = events, .data.ptr = ch};
    if (epoll_ctl(ch->loop->ep_fd, EPOLL_CTL_MOD, ch->fd, &ev) < 0) {
        return -1;
    }
    ch->interest = events;
    return 0;
}

void channel_set_deadline(struct channel *ch, long long when)
{
    ch->deadline = when;
}

void channel_close(struct channel *ch)
{
    if (!ch->closed) {
        ch->closed = true;
        ch->reap = ch->loop->closed;
        ch->loop->closed = ch;
    }
}

/* The one place a channel ends: the program's on_close, then close()
 * (the last reference to the socket, so the kernel drops it from the
 * epoll set: no EPOLL_CTL_DEL needed), then the memory. */
static void free_channel(struct reactor *r, struct channel *ch)
{
    if (ch->prev != NULL) {
        ch->prev->next = ch->next;
    } else {
        r->first = ch->next;
    }
    if (ch->next != NULL) {
        ch->next->prev = ch->prev;
    } else {
        r->last = ch->prev;
    }
    if (ch->ops->on_close != NULL) {
        ch->ops->on_close(ch);
    }
    close(ch->fd);
    free(ch);
}

/* After a batch: free every channel marked closed during it. */
static void reap(struct reactor *r)
{
    while (r->closed != NULL) {
        struct channel *ch = r->closed;
        r->closed = ch->reap;
        free_channel(r, ch);
    }
}

/* The tick: call on_timeout of every channel whose deadline has passed.
 * Nothing is freed during the walk (reap comes after), so a callback may
 * close any channel without breaking it. */
static void tick_read(struct channel *ch, uint32_t events)
{
    (void)events;
    uint64_t expirations;
    if (read(ch->fd, &expirations, sizeof expirations) < 0) {
        return; /* EAGAIN: nothing expired after all */
    }
    struct reactor *r = ch->loop;
    for (struct channel *c = r->first; c != NULL; c = c->next) {
        if (!c->closed && c->deadline != 0 && c->deadline <= r->now &&
            c->ops->on_timeout != NULL) {
            c->deadline = 0;
            c->ops->on_timeout(c);
        }
    }
}

/* The eventfd written by reactor_stop, or the signalfd: either way, stop
 * after this batch. */
static void stop_read(struct channel *ch, uint32_t events)
{
    (void)events;
    char buf[sizeof(struct signalfd_siginfo)];
    if (read(ch->fd, buf, sizeof buf) > 0) {
        ch->loop->running = false;
    }
}

static const struct channel_ops tick_ops = {.on_read = tick_read};
static const struct channel_ops stop_ops = {.on_read = stop_read};

struct reactor *reactor_new(void)
{
    struct reactor *r = calloc(1, sizeof *r);
    if (r == NULL) {
        warn_errno("calloc");
        return NULL;
    }
    r->now = monotonic_ms();
    r->ep_fd = epoll_create1(EPOLL_CLOEXEC);
    if (r->ep_fd < 0) {
        warn_errno("epoll_create1");
        free(r);
        return NULL;
    }
    /* The tick: a periodic timer that is a descriptor, so it wakes
     * epoll_wait like any socket. */
    struct itimerspec tick = {.it_interval = {.tv_sec = TICK_MS / 1000},
                              .it_value = {.tv_sec = TICK_MS / 1000}};
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd >= 0 && timerfd_settime(fd, 0, &tick, NULL) < 0) {
        close(fd);
        fd = -1;
    }
    if (fd < 0 || reactor_add(r, fd, EPOLLIN, &tick_ops, NULL) == NULL) {
        warn_errno("timerfd");
        goto fail;
    }
    r->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (r->wake_fd < 0 ||
        reactor_add(r, r->wake_fd, EPOLLIN, &stop_ops, NULL) == NULL) {
        warn_errno("eventfd");
        goto fail;
    }
    return r;
fail:
    reactor_free(r);
    return NULL;
}

int reactor_stop_on_signals(struct reactor *r)
{
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    /* Blocked, a signal stays pending until the signalfd is read: none is
     * lost, and no handler interrupts anything. */
    errno = pthread_sigmask(SIG_BLOCK, &stop, NULL);
    int fd = errno == 0 ? signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC) : -1;
    if (fd < 0 || reactor_add(r, fd, EPOLLIN, &stop_ops, NULL) == NULL) {
        warn_errno("signalfd");
        return -1;
    }
    return 0;
}

void close_refused(int fd, const char *answer)
{
    if (answer != NULL) {
        send(fd, answer, strlen(answer), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    shutdown(fd, SHUT_WR);
    char sink[4096];
    for (int i = 0; i < DRAIN_READS; i++) {
        if (recv(fd, sink, sizeof sink, MSG_DONTWAIT) <= 0) {
            break;
        }
    }
    close(fd);
}

/* accept() said EMFILE (or ENFILE): the connection stays queued, so a
 * level-triggered listener is reported again at once and the loop spins.
 * Give up the spare descriptor, accept into it, let the program turn the
 * client away, and take the spare back (see echo.c, shed_one). Linux
 * checks for a free descriptor before it looks at the queue, so EMFILE
 * does not even mean that a client waits. Returns 1 if one was shed, 0
 * if the queue is empty, -1 if shedding failed (errno set). */
static int shed_one(struct channel *ch, struct acceptor *a, int err)
{
    if (a->spare_fd < 0) { /* lost last time (another thread won it) */
        a->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    if (a->spare_fd < 0) {
        errno = err;
        return -1;
    }
    close(a->spare_fd);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = accept4(ch->fd, (struct sockaddr *)&ss, &len,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    int saved = errno;
    if (fd >= 0) {
        a->on_accept(ch->loop, fd, (struct sockaddr *)&ss, len, err, a->user);
    }
    a->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    errno = saved;
    return fd >= 0 ? 1 : errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
}

/* Whether accept's ERR means "try the next one": the client gave up while
 * queued, or (Linux) a network error of the new connection reported early.
 * accept(2) says to treat those like EAGAIN, that is: not as the
 * listener's failure. */
static bool accept_again(int err)
{
    return err == EINTR || err == ECONNABORTED || err == EPROTO ||
           err == ENETDOWN || err == ENOPROTOOPT || err == EHOSTDOWN ||
           err == ENONET || err == EHOSTUNREACH || err == EOPNOTSUPP ||
           err == ENETUNREACH;
}

/* The listening socket is readable: accept until the queue is empty
 * (EAGAIN). The loop is level-triggered, so fewer would do, but each
 * accept saves a trip through epoll_wait. What it cannot get past (out of
 * memory, no spare descriptor) pauses accepting for PAUSE_MS: the
 * listener is unwatched, and its deadline brings it back. */
static void acceptor_read(struct channel *ch, uint32_t events)
{
    (void)events;
    struct acceptor *a = ch->user;
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept4(ch->fd, (struct sockaddr *)&ss, &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            a->on_accept(ch->loop, fd, (struct sockaddr *)&ss, len, 0, a->user);
            continue;
        }
        int err = errno, shed = -1;
        if (err == EMFILE || err == ENFILE) {
            shed = shed_one(ch, a, err);
            err = errno;
        }
        if (shed == 0 || (shed < 0 && (err == EAGAIN || err == EWOULDBLOCK))) {
            return; /* the queue is empty */
        }
        if (shed == 1 || accept_again(err)) {
            continue;
        }
        errno = err;
        warn_errno("accept (pausing for %d ms)", PAUSE_MS);
        channel_watch(ch, 0);
        channel_set_deadline(ch, ch->loop->now + PAUSE_MS);
        return;
    }
}

/* The pause is over: watch the listener again. */
static void acceptor_resume(struct channel *ch)
{
    channel_watch(ch, EPOLLIN);
}

static void acceptor_close(struct channel *ch)
{
    struct acceptor *a = ch->user;
    if (a->spare_fd >= 0) {
        close(a->spare_fd);
    }
    free(a);
}

static const struct channel_ops acceptor_ops = {.on_read = acceptor_read,
                                                .on_timeout = acceptor_resume,
                                                .on_close = acceptor_close};

int reactor_listen(struct reactor *r, int listen_fd, accept_fn on_accept,
                   void *user)
{
    struct acceptor *a = malloc(sizeof *a);
    int spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (a == NULL || spare < 0) {
        warn_errno("listener");
        free(a);
        close(listen_fd);
        if (spare >= 0) {
            close(spare);
        }
        return -1;
    }
    *a = (struct acceptor){
        .spare_fd = spare, .on_accept = on_accept, .user = user};
    if (reactor_add(r, listen_fd, EPOLLIN, &acceptor_ops, a) == NULL) {
        warn_errno("epoll_ctl ADD listener");
        close(spare);
        free(a);
        return -1;
    }
    return 0;
}

/* One ready descriptor: the read callback for input, and for errors and
 * hang-ups too (recv says which), then the write callback. A channel
 * closed earlier in the batch, by itself or by another, is skipped. */
static void dispatch(struct channel *ch, uint32_t events)
{
    const struct channel_ops *ops = ch->ops;
    if (!ch->closed && ops->on_read != NULL &&
        (events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))) {
        ops->on_read(ch, events);
    }
    if (!ch->closed && ops->on_write != NULL && (events & EPOLLOUT)) {
        ops->on_write(ch, events);
    }
}

int reactor_run(struct reactor *r)
{
    struct epoll_event ready[MAX_EVENTS];
    r->running = true;
    while (r->running) {
        int n = epoll_wait(r->ep_fd, ready, MAX_EVENTS, -1);
        if (n < 0 && errno != EINTR) {
            warn_errno("epoll_wait");
            return -1;
        }
        r->now = monotonic_ms();
        for (int i = 0; i < n; i++) {
            dispatch(ready[i].data.ptr, ready[i].events);
        }
        reap(r);
    }
    return 0;
}

void reactor_stop(struct reactor *r)
{
    uint64_t one = 1;
    if (write(r->wake_fd, &one, sizeof one) < 0) {
        warn_errno("reactor_stop");
    }
}

void reactor_free(struct reactor *r)
{
    while (r->first != NULL) {
        free_channel(r, r->first);
    }
    close(r->ep_fd);
    free(r);
}
