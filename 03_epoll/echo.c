/*
 * echo.c - the echo servers' clients: accepting, reading, writing, closing.
 *
 * Nothing here waits: every socket is non-blocking, and each function does
 * what the socket allows right now and returns. Waiting is the business of
 * the three servers (select, poll, epoll), which call these when the
 * kernel says a socket is ready. What every one of them gets from here:
 *   - accepting until the queue is empty, with a limit on clients, and
 *     with EMFILE (out of descriptors) handled without spinning;
 *   - back-pressure: a client that sends and does not read is not read
 *     while OUTPUT_LIMIT bytes wait for it, so it costs about that much
 *     memory, not whatever it cares to send;
 *   - half-close: after the client's EOF, what it is owed is sent, then
 *     the connection is closed, so the client reads every byte and EOF;
 *   - a vanished client (ECONNRESET, EPIPE) is an event in the log.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "echo.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* no per-call flag: the ignored SIGPIPE does it */
#endif

#define BACKLOG 4096  /* handshakes the kernel queues (capped by somaxconn) */
#define DRAIN_READS 4 /* recvs of leftover input before a close */

static void usage(FILE *out, const char *name, bool et)
{
    fprintf(out, "usage: %s%s [PORT]\n", name, et ? " [--et]" : "");
}

const char *echo_parse_args(int argc, char **argv, const char *name, bool *et)
{
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout, name, et != NULL);
        exit(0);
    }
    int i = 1;
    if (et != NULL && i < argc && strcmp(argv[i], "--et") == 0) {
        *et = true;
        i++;
    }
    const char *port = DEFAULT_PORT;
    if (i < argc && net_parse_port(argv[i]) >= 0) {
        port = argv[i++];
    }
    if (i < argc) {
        usage(stderr, name, et != NULL);
        exit(2);
    }
    return port;
}

void echo_open(struct echo_server *s, const char *port, int max_clients,
               int fd_limit)
{
    memset(s, 0, sizeof *s);
    s->max_clients = max_clients;
    s->fd_limit = fd_limit;
    s->next_id = 1;
    s->listen_fd = net_listen(NULL, port, BACKLOG);
    if (s->listen_fd < 0) {
        exit(1); /* net_listen said why */
    }
    /* Non-blocking: accept is called until it says EAGAIN, and a client
     * that gives up between "readable" and accept() must not leave the
     * whole server blocked in it. */
    if (set_nonblocking(s->listen_fd) < 0) {
        die_errno("fcntl O_NONBLOCK");
    }
    /* The spare descriptor for EMFILE: see shed_one. */
    s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (s->spare_fd < 0) {
        die_errno("open /dev/null");
    }
    char addr[NET_ADDRSTRLEN];
    printf("listening on %s\n", net_local_str(s->listen_fd, addr, sizeof addr));
}

void echo_block_stop_signals(sigset_t *wait_mask)
{
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &stop_signals, wait_mask) < 0) {
        die_errno("sigprocmask");
    }
    sigdelset(wait_mask, SIGINT);
    sigdelset(wait_mask, SIGTERM);
}

bool echo_stop_requested(void)
{
    sigset_t pending;
    if (stop_requested) {
        return true;
    }
    if (sigpending(&pending) < 0) {
        return false;
    }
    return sigismember(&pending, SIGINT) == 1 ||
           sigismember(&pending, SIGTERM) == 1;
}

/* Read and discard what the peer has sent already (a bounded amount),
 * then close FD. close() with unread bytes in the receive buffer sends a
 * reset instead of FIN, and a reset can destroy data the peer has not
 * read yet; this way the peer sees an orderly end wherever possible. */
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

/* accept() said EMFILE: every descriptor this process may have is in use.
 * The connection stays in the queue, so the listening socket stays
 * readable: a level-triggered loop wakes at once, fails again, and spins
 * at 100% CPU (an edge-triggered one never hears of the queue again).
 * Waiting for a client to leave helps neither, and neither does closing
 * the listener. The way out (libev's manual: "the special problem of
 * accept()ing when you can't"): hold one descriptor in reserve, open on
 * /dev/null. Give it up now, accept the connection into it, close that at
 * once (the client sees its connection end instead of hanging in the
 * queue), and take the reserve back. Returns whether one was taken off
 * the queue. */
static bool shed_one(struct echo_server *s, int err)
{
    if (s->spare_fd < 0) {
        return false; /* could not take it back last time */
    }
    close(s->spare_fd);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = accept(s->listen_fd, (struct sockaddr *)&ss, &len);
    if (fd >= 0) {
        char peer[NET_ADDRSTRLEN];
        net_addr_str((struct sockaddr *)&ss, len, peer, sizeof peer);
        errno = err;
        warn_errno("[%d] refused %s: accept", s->next_id++, peer);
        close_after_drain(fd);
    }
    /* The number just freed is the lowest free one, so this gets it back.
     * (Unless the whole system is out of files, ENFILE: then accept failures
     * are reported until echo_accept manages to reopen it.) */
    s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return fd >= 0;
}

/* Append C to the list of clients, oldest first. */
static void link_client(struct echo_server *s, struct client *c)
{
    c->prev = s->last;
    c->next = NULL;
    if (s->last != NULL) {
        s->last->next = c;
    } else {
        s->first = c;
    }
    s->last = c;
    s->count++;
}

/* A new client for the accepted socket FD, or NULL (reported, FD closed)
 * if it is beyond a limit or cannot be set up. */
static struct client *new_client(struct echo_server *s, int fd,
                                 const char *peer)
{
    int id = s->next_id++;
    if (fd >= s->fd_limit) {
        fprintf(stderr,
                "[%d] refused %s: descriptor %d is too high to watch"
                " (limit %d)\n",
                id, peer, fd, s->fd_limit);
        close_after_drain(fd);
        return NULL;
    }
    if (s->count >= s->max_clients) {
        printf("[%d] refused %s: too many clients (limit %d)\n", id, peer,
               s->max_clients);
        close_after_drain(fd);
        return NULL;
    }
    struct client *c = calloc(1, sizeof *c);
    if (c == NULL || set_nonblocking(fd) < 0) {
        warn_errno("[%d] refused %s: cannot set it up", id, peer);
        free(c);
        close(fd);
        return NULL;
    }
    c->fd = fd;
    c->id = id;
    snprintf(c->peer, sizeof c->peer, "%s", peer);
    link_client(s, c);
    printf("[%d] connected from %s\n", id, peer);
    return c;
}

struct client *echo_accept(struct echo_server *s)
{
    for (;;) {
        if (s->spare_fd < 0) {
            s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        }
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept(s->listen_fd, (struct sockaddr *)&ss, &len);
        if (fd < 0) {
            /* ECONNABORTED: a client gave up while queued; try the next.
             * EAGAIN: the queue is empty, the usual end. */
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            if ((errno == EMFILE || errno == ENFILE) && shed_one(s, errno)) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                warn_errno("accept");
            }
            return NULL;
        }
        char peer[NET_ADDRSTRLEN];
        net_addr_str((struct sockaddr *)&ss, len, peer, sizeof peer);
        struct client *c = new_client(s, fd, peer);
        if (c != NULL) {
            return c;
        }
    }
}

bool client_read(struct client *c, bool edge)
{
    /* Back-pressure: while OUTPUT_LIMIT bytes wait for the client, leave
     * its input in the kernel. Its receive window fills, and its sends
     * stall: a client that does not read cannot make us buffer more. */
    while (!c->read_closed && buf_len(&c->out) < OUTPUT_LIMIT) {
        /* Straight into the output buffer: the echo is what came in.
         * Into the room there is, unless little is left: an edge-triggered
         * drain's last recv, which finds nothing (EAGAIN), must not grow
         * the buffer it then frees. */
        size_t chunk = buf_room(&c->out);
        if (chunk < RECV_MIN) {
            chunk = RECV_CHUNK;
        }
        char *room = buf_reserve(&c->out, chunk);
        if (room == NULL) {
            c->error = errno;
            return false;
        }
        ssize_t n = recv(c->fd, room, chunk, 0);
        if (n > 0) {
            buf_commit(&c->out, (size_t)n);
        } else if (n == 0) {
            c->read_closed = true; /* the client's FIN: EOF */
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            break; /* read all there was */
        } else if (errno != EINTR) {
            c->error = errno; /* ECONNRESET: the client vanished */
            return false;
        }
        if (!edge && n > 0) {
            break; /* one recv a wake-up: no client can hog the loop */
        }
    }
    c->input_left = !c->read_closed && buf_len(&c->out) >= OUTPUT_LIMIT;
    return !(c->read_closed && buf_len(&c->out) == 0);
}

bool client_write(struct client *c)
{
    while (buf_len(&c->out) > 0) {
        ssize_t n =
            send(c->fd, buf_data(&c->out), buf_len(&c->out), MSG_NOSIGNAL);
        if (n >= 0) {
            buf_consume(&c->out, (size_t)n);
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return true; /* the send buffer is full: wait for room */
        } else if (errno != EINTR) {
            c->error = errno; /* EPIPE, ECONNRESET: the client vanished */
            return false;
        }
    }
    /* All sent. Free the storage: ten thousand idle clients should not
     * hold a RECV_CHUNK each. After the client's EOF this is the end:
     * close, and the client reads EOF after the last byte. */
    buf_free(&c->out);
    return !c->read_closed;
}

unsigned client_interest(const struct client *c)
{
    unsigned want = 0;
    if (!c->read_closed && buf_len(&c->out) < OUTPUT_LIMIT) {
        want |= WANT_READ;
    }
    if (buf_len(&c->out) > 0) {
        want |= WANT_WRITE;
    }
    return want;
}

/* Take C out of the list and free it, its socket already closed. */
static void unlink_client(struct echo_server *s, struct client *c)
{
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        s->first = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    } else {
        s->last = c->prev;
    }
    s->count--;
    buf_free(&c->out);
    free(c);
}

void echo_drop(struct echo_server *s, struct client *c)
{
    if (c->error == 0) {
        printf("[%d] closed\n", c->id);
    } else if (c->error == ECONNRESET) {
        printf("[%d] closed (connection reset)\n", c->id);
    } else {
        printf("[%d] closed (%s)\n", c->id, errno_name(c->error));
    }
    close(c->fd);
    unlink_client(s, c);
}

void echo_close(struct echo_server *s)
{
    while (s->first != NULL) {
        struct client *c = s->first;
        printf("[%d] closed (stopping)\n", c->id);
        close_after_drain(c->fd);
        unlink_client(s, c);
    }
    close(s->listen_fd);
    if (s->spare_fd >= 0) {
        close(s->spare_fd);
    }
}
