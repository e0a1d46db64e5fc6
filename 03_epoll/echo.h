/*
 * echo.h - everything of chapter 3's echo servers except the waiting.
 *
 * select_server.c, poll_server.c and epoll_server.c serve the same echo
 * protocol (RFC 862 style, like 02_nonblocking/echo_server) and differ only
 * in how they wait for sockets to become ready and how they find the
 * client a ready descriptor belongs to. The rest is here, shared, so that
 * the three files can be read side by side:
 *
 *   setting up   echo_parse_args, echo_open (listener, spare descriptor)
 *   stopping     echo_block_stop_signals (for pselect/ppoll/epoll_pwait),
 *                echo_stop_requested
 *   clients      struct client, echo_accept, echo_drop, echo_close
 *   I/O          client_read, client_write, client_interest
 *
 * A client's received bytes go straight into its output buffer (there is
 * nothing to parse), and leave it as send() takes them.
 */
#ifndef TOUR_ECHO_H
#define TOUR_ECHO_H

#include <signal.h>
#include <stdbool.h>

#include "common.h"

#define DEFAULT_PORT "10086"       /* the original tour's port */
#define OUTPUT_LIMIT (1024 * 1024) /* queued for a client: stop reading it */
#define RECV_CHUNK 65536           /* bytes asked of one recv */
#define RECV_MIN 4096 /* less room than this left: make RECV_CHUNK of it */

/* What a client wants the multiplexer to watch for: bits of
 * client_interest(). */
enum {
    WANT_READ = 1,  /* readable: bytes, EOF or an error to pick up */
    WANT_WRITE = 2, /* writable: room in the socket's send buffer */
};

/* One connected client. */
struct client {
    int fd;                    /* the connected socket, non-blocking */
    int id;                    /* [id] in the log: 1, 2, 3... in accept order */
    char peer[NET_ADDRSTRLEN]; /* "127.0.0.1:51234", for the log */
    struct byte_buf out;       /* received, not yet sent back */
    bool read_closed;          /* the peer has shut its sending side */
    bool input_left;           /* the last client_read stopped at
                                  OUTPUT_LIMIT, maybe with input queued */
    int error;                 /* the errno that ended it, or 0 */
    unsigned watched;          /* the interest the multiplexer has
                                  registered (epoll_server, to skip
                                  EPOLL_CTL_MOD when nothing changed) */
    struct client *prev, *next; /* the list of struct echo_server */
};

/* The listening side and the list of clients. */
struct echo_server {
    int listen_fd;        /* non-blocking listening socket */
    int spare_fd;         /* /dev/null, given up when accept says EMFILE */
    int fd_limit;         /* refuse descriptors at or above this
                             (select_server: FD_SETSIZE) */
    int max_clients;      /* more are refused */
    int count;            /* clients connected now */
    int next_id;          /* id of the next connection accepted */
    struct client *first; /* every client, oldest first */
    struct client *last;  /* the newest */
};

/* The command line of the three servers: [--et] [PORT], --et only where
 * ET is not NULL (it is set when given). Returns the port to listen on.
 * -h or --help alone: the usage line on stdout and exit 0; anything else
 * it does not know: the usage line on stderr and exit 2. */
const char *echo_parse_args(int argc, char **argv, const char *name, bool *et);

/* Listen on PORT (every address, IPv4 and IPv6; non-blocking), keep the
 * spare descriptor, and print "listening on ADDR:PORT". At most
 * MAX_CLIENTS clients at once, and none whose descriptor is FD_LIMIT or
 * more. Dies (exit 1) if it cannot. */
void echo_open(struct echo_server *s, const char *port, int max_clients,
               int fd_limit);

/* Block SIGINT and SIGTERM, and store in *WAIT_MASK the signal mask to
 * wait under: today's mask without those two. pselect, ppoll and
 * epoll_pwait install it only while they sleep; select_server.c says
 * why. Dies if it cannot. */
void echo_block_stop_signals(sigset_t *wait_mask);

/* Whether SIGINT or SIGTERM asked us to stop: stop_requested (set by the
 * handler when a signal interrupted the wait), or a stop signal still
 * pending, blocked, because the wait returned ready sockets instead. One
 * sigpending() a pass; select_server.c says why it is needed. */
bool echo_stop_requested(void);

/* Accept the next queued connection and return it as a new client (in
 * the list, "[id] connected from ADDR" logged), or NULL once the queue is
 * empty. Connections beyond the limits are accepted, refused and closed
 * here, so that call it until NULL and the queue is drained. */
struct client *echo_accept(struct echo_server *s);

/* recv what C sent into its output buffer: one recv (level-triggered
 * waits report the rest again), or until EAGAIN when EDGE (an edge-
 * triggered wait will not). None while OUTPUT_LIMIT bytes wait for the
 * client: then C->input_left is set, since input may be left unread.
 * Returns false when C is finished: an error, or EOF with nothing left to
 * send. Call it when C is readable or in error. */
bool client_read(struct client *c, bool edge);

/* send what waits in C's output buffer, until it is empty or the socket
 * says EAGAIN. Returns false when C is finished: an error (a vanished
 * peer is EPIPE or ECONNRESET), or everything sent after the peer's EOF.
 * Cheap when nothing waits, so call it after every event of C. */
bool client_write(struct client *c);

/* What to watch C for now: WANT_READ unless the peer has finished or too
 * much output waits (back-pressure); WANT_WRITE while output waits. */
unsigned client_interest(const struct client *c);

/* Take C out of the list, log "[id] closed" (with the reason if it
 * failed), close its socket and free it. */
void echo_drop(struct echo_server *s, struct client *c);

/* At the end: every client closed and freed ("[id] closed (stopping)"),
 * the listening socket and the spare descriptor closed. */
void echo_close(struct echo_server *s);

#endif
