/*
 * reactor.h - a small event loop on epoll: what muduo calls EventLoop and
 * Channel, in C.
 *
 * A reactor is one thread's loop: it owns an epoll descriptor and a list
 * of channels, waits, and calls a channel's callbacks for the events
 * epoll_wait RETURNED (not for what was asked: EPOLLERR and EPOLLHUP come
 * unasked, and count as readable, so the read callback's recv reports the
 * error or EOF). A channel is one descriptor in the loop: its callbacks,
 * a user pointer for the program, the interest epoll has for it now
 * (channel_watch calls epoll_ctl only when that changes), and a deadline.
 * Deadlines are checked by one timerfd tick a second that walks the
 * channels, as lighttpd does: O(channels) a second, O(1) to re-arm, and
 * timeouts of whole seconds are late by at most one tick. SIGINT and
 * SIGTERM arrive as one more channel (signalfd); reactor_stop wakes a
 * loop from another thread (eventfd).
 *
 * Ownership. reactor_add hands a descriptor to the loop: from then on only
 * the loop closes it, in one function (free_channel: called after each
 * batch of events for the channels closed during it, and by reactor_free
 * for the rest), which calls the channel's on_close once, for the program
 * to free what `user` points to (without closing the descriptor), closes
 * the descriptor (the kernel then drops it from the epoll set, nothing
 * else referring to it) and frees the channel. channel_close only marks a
 * channel: any callback may call it, for any channel, any number of
 * times; a marked channel gets no more callbacks, and its events still in
 * the current batch are skipped. So no callback, however it closes its
 * own connection or another, can free memory that a later event of the
 * same batch points to.
 */
#ifndef TOUR_REACTOR_H
#define TOUR_REACTOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>

struct reactor;
struct channel;

/* A channel's callbacks; NULL where there is nothing to do. EVENTS is
 * what epoll_wait returned for the descriptor. A callback may come when
 * there is nothing to do (on_write right after on_read wrote everything):
 * it does what the descriptor allows now and returns. */
struct channel_ops {
    void (*on_read)(struct channel *ch, uint32_t events);  /* EPOLLIN, or
                                           EPOLLERR / EPOLLHUP / EPOLLRDHUP */
    void (*on_write)(struct channel *ch, uint32_t events); /* EPOLLOUT */
    void (*on_timeout)(struct channel *ch); /* its deadline has passed */
    void (*on_close)(struct channel *ch);   /* being freed: free ch->user */
};

/* One descriptor in a loop. The program reads the first three fields;
 * the rest belongs to the loop. */
struct channel {
    int fd;               /* the descriptor, closed by the loop */
    void *user;           /* the program's, for its callbacks */
    struct reactor *loop; /* the loop it is in */
    const struct channel_ops *ops;
    uint32_t interest;    /* the events epoll watches for now */
    bool closed;          /* channel_close was called */
    long long deadline;   /* reactor_now() time for on_timeout; 0: none */
    struct channel *prev; /* the loop's list of channels */
    struct channel *next; /* ... */
    struct channel *reap; /* the list of closed channels to free */
};

/* A new loop (epoll, a 1 s timerfd tick, an eventfd for reactor_stop), or
 * NULL after printing why. */
struct reactor *reactor_new(void);

/* Make SIGINT and SIGTERM stop this loop: they are blocked in the calling
 * thread (call it before starting other threads: they inherit the mask)
 * and read from a signalfd in the loop. Returns 0, or -1 after printing
 * why. */
int reactor_stop_on_signals(struct reactor *r);

/* Watch FD for EVENTS (EPOLLIN, EPOLLOUT, EPOLLET...) with OPS and USER.
 * The loop owns FD from now on, even when this fails: then it is closed
 * and NULL returned (errno set). */
struct channel *reactor_add(struct reactor *r, int fd, uint32_t events,
                            const struct channel_ops *ops, void *user);

/* Watch CH for EVENTS from now on: one epoll_ctl, only if they differ
 * from what is watched already. 0, or -1 with errno set. */
int channel_watch(struct channel *ch, uint32_t events);

/* Call CH's on_timeout once the loop's clock passes WHEN (a reactor_now()
 * value; 0 cancels). Just a store: re-arm it as often as you like. */
void channel_set_deadline(struct channel *ch, long long when);

/* Mark CH closed: see the ownership paragraph above. */
void channel_close(struct channel *ch);

/* Milliseconds on the monotonic clock, as of the loop's last wake-up. */
long long reactor_now(const struct reactor *r);

/* Called for each connection accepted from a listening channel. FD is
 * non-blocking and the callback's: it hands it to reactor_add or closes
 * it. ERR is 0, or EMFILE/ENFILE: the process is out of descriptors and
 * FD was taken with the spare one only to be turned away at once (see
 * close_refused); the callback must close it before returning. */
typedef void (*accept_fn)(struct reactor *r, int fd, const struct sockaddr *sa,
                          socklen_t len, int err, void *user);

/* Accept connections on the listening socket LISTEN_FD (which the loop
 * now owns) until the queue is empty, each handed to ON_ACCEPT with USER.
 * Out of descriptors it sheds clients with a spare descriptor instead of
 * spinning. Returns 0, or -1 after printing why. */
int reactor_listen(struct reactor *r, int listen_fd, accept_fn on_accept,
                   void *user);

/* Send ANSWER (if not NULL) to a client being turned away, shut down our
 * side, read what it sent already (a bounded amount, so that close sends
 * FIN rather than RST), and close FD. Never waits. */
void close_refused(int fd, const char *answer);

/* Run the loop until reactor_stop or a stop signal. 0, or -1 after
 * printing why epoll_wait failed. */
int reactor_run(struct reactor *r);

/* Make the loop return after its current batch. Safe from any thread. */
void reactor_stop(struct reactor *r);

/* Free every channel still open (on_close, close, free), then the loop. */
void reactor_free(struct reactor *r);

#endif
