/*
 * nb_server.h - the object-style skeleton of chapter 2's servers.
 *
 * The C++ tour this one grew from built its echo server out of objects:
 * SockAddr, Event (one connection), Acceptor, and a virtual deal() that
 * each program overrides. The same shapes, in C:
 *
 *   SockAddr  struct sock_addr  an address and its length; sock_addr_str
 *   Event     struct conn       one connection: fd, id, peer, input and
 *                               output buffers, the program's state
 *   Acceptor  struct acceptor   the listening socket and the connections
 *                               (nb_acceptor.c); run_loop (nb_server.c)
 *   deal()    struct protocol   the program's handler, plugged in
 *
 * deal() never touches the socket: it consumes c->in and appends to
 * c->out, and the loop does every recv and send. That is what makes the
 * HTTP server "the echo server with deal() swapped", and what keeps the
 * partial reads, partial writes and EAGAIN in one place.
 */
#ifndef TOUR_NB_SERVER_H
#define TOUR_NB_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "common.h"

/* Stop reading from a connection while this much output waits for it:
 * a client that reads slowly holds the server's memory at about this. */
#define OUTPUT_LIMIT (1024 * 1024)

/* SockAddr: any peer address, IPv4 or IPv6, as accept() returns it. */
struct sock_addr {
    struct sockaddr_storage ss; /* big enough for every family */
    socklen_t len;              /* how much of it accept() filled in */
};

/* Format A as "127.0.0.1:5000" or "[::1]:5000" into BUF; returns BUF. */
char *sock_addr_str(const struct sock_addr *a, char *buf, size_t size);

/* Where a connection is in its life; only the loop changes it. */
enum conn_phase {
    PHASE_OPEN,   /* deal() is called as things happen */
    PHASE_FLUSH,  /* closing: sending the last output, input discarded */
    PHASE_LINGER, /* our FIN is sent: waiting briefly for the peer's */
    PHASE_DONE,   /* to be closed and freed at the end of this pass */
};

/* Event: one connection. deal() reads the first block of fields and may
 * set `deadline`; the rest is the loop's bookkeeping. */
struct conn {
    int fd;                /* the connected socket, non-blocking */
    int id;                /* shown in the log as [id], in accept order */
    struct sock_addr peer; /* who is at the other end */
    struct byte_buf in;    /* received, not yet consumed by deal() */
    struct byte_buf out;   /* appended by deal(), not yet sent */
    void *state;           /* the program's own per-connection state */
    bool eof;              /* the peer has finished sending (recv gave 0) */
    long long deadline;    /* clock_ms() time for DEAL_TIMEOUT; 0 = none */

    enum conn_phase phase;
    long long close_by;      /* FLUSH, LINGER: close at this time anyway */
    long long stalled_since; /* output waiting, socket full, since when */
    size_t discarded;        /* bytes of input thrown away while closing */
    const char *why;         /* DONE: the reason logged, NULL if normal */
};

/* Why deal() is being called. */
enum deal_event {
    DEAL_OPEN,    /* the connection was just accepted (start a timer?) */
    DEAL_INPUT,   /* new bytes at the end of c->in */
    DEAL_EOF,     /* the peer has finished sending (c->eof is set) */
    DEAL_DRAINED, /* every byte of c->out has been sent: room for more */
    DEAL_TIMEOUT, /* c->deadline has passed (and is now 0) */
};

/* What deal() wants next. */
enum deal_result {
    DEAL_KEEP,  /* carry on */
    DEAL_CLOSE, /* send what c->out holds, then close gracefully */
};

/* The handler: consume input, append output, never do I/O. CTX is the
 * program's, as given to acceptor_open. Once the peer has finished
 * sending, a connection is closed as soon as deal() leaves c->out empty:
 * there is nothing more it could answer. */
typedef enum deal_result (*deal_fn)(struct conn *c, enum deal_event ev,
                                    void *ctx);

/* What a program plugs into the skeleton. */
struct protocol {
    deal_fn deal;                    /* the handler */
    void (*release)(struct conn *c); /* frees what c->state holds, or NULL */
    size_t state_size;               /* bytes of c->state, zeroed at accept */
    size_t max_input;                /* stop reading when c->in holds this */
    int max_conns;                   /* connections at once, at most */
    int fds_per_conn;                /* descriptors one connection holds */
    int send_timeout_ms;             /* drop a peer that takes no output
                                        for this long; 0 = never */
    const char *refusal;             /* sent to a client refused for lack
                                        of room, or NULL */
};

/* Acceptor: the listening socket and every connection it made. */
struct acceptor {
    int listen_fd;                /* non-blocking listening socket */
    struct conn **conns;          /* the open connections, oldest first */
    int count;                    /* how many */
    int max_conns;                /* the limit (lowered to fit the fd limit) */
    int next_id;                  /* id of the next connection accepted */
    long long paused_until;       /* no accept before (after EMFILE) */
    int starved;                  /* EMFILE-like failures in a row */
    const struct protocol *proto; /* what the connections speak */
    void *ctx;                    /* passed to deal() */
};

/* Milliseconds on the monotonic clock, for deadlines. */
long long clock_ms(void);

/* Listen on PORT (every address, IPv4 and IPv6) and print "listening on
 * ADDR:PORT". Returns 0, or -1 after printing why. */
int acceptor_open(struct acceptor *a, const char *port,
                  const struct protocol *proto, void *ctx);

/* For the loop: accept what is queued (a batch at most), appending to
 * a->conns; refuse clients beyond the limit. Returns whether any came. */
bool accept_clients(struct acceptor *a, long long now);

/* The loop: accept, recv, deal, send, close, nap; until SIGINT/SIGTERM.
 * Needs install_stop_handlers() first. */
void run_loop(struct acceptor *a);

/* Close every connection and the listening socket; free everything. */
void acceptor_close(struct acceptor *a);

#endif
