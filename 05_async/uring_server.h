/*
 * uring_server.h - what the files of uring_echo_server share: the server,
 * a connection, the numbers in user_data, and the calls across files.
 *
 *   uring_echo_server.c  the echo: requests, a recv into a pool buffer,
 *                        the send of its echo (partial, or spilled), the
 *                        buffer given back; completions; main
 *   uring_listener.c     accepting: the cap on clients, and running out
 *                        of descriptors (a poll first, then the spare)
 *   uring_stop.c         signals and the stop: a signalfd watched through
 *                        the ring, every request cancelled and awaited
 *   uring.h, uring.c     the ring itself, on the raw system calls
 */
#ifndef TOUR_URING_SERVER_H
#define TOUR_URING_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "uring.h"

#define CQ_ENTRIES 65536 /* CQ slots: the most the kernel gives */

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

/* uring_echo_server.c: every request goes through request (the next SQE,
 * filled in and counted in flight); next_recv is a client's next recv,
 * or its place in the queue for a pool buffer. */
struct io_uring_sqe *request(struct server *s, int opcode, int fd,
                             uint64_t user_data);
void next_recv(struct server *s, struct conn *c, bool wait);

/* uring_listener.c: listen on PORT with a spare descriptor (exit 1 if it
 * cannot), accept (OP_ACCEPT or OP_SHED), take an accept's or a poll's
 * completion, and close a socket after reading what it sent. */
void open_listener(struct server *s, const char *port);
void submit_accept(struct server *s, enum op op);
void listener_done(struct server *s, enum op op, int res);
void close_after_drain(int fd);

/* uring_stop.c: SIGPIPE ignored; SIGINT and SIGTERM on a signalfd,
 * watched through the ring, whose completion begins the stop; and once
 * every request is back, the clients closed and everything freed. */
void ignore_sigpipe(void);
int open_signalfd(void);
void watch_signals(struct server *s);
void signal_done(struct server *s, int res);
void finish_stop(struct server *s);

#endif
