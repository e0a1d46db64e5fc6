/*
 * reactor_echo_server - the echo server on the reactor (reactor.c).
 *
 * Usage: reactor_echo_server [PORT]    (default 10086; 0 picks a free port)
 *
 * Protocol: echo (RFC 862 style), as epoll_server: every byte received is
 * sent back, in order; after the client's EOF the rest follows, then the
 * server closes. Same log, same limits, same tests.
 * Pairs with: 02_nonblocking/echo_client, `nc -N localhost 10086`, loadgen.
 * Try it:   ./build/03_epoll/reactor_echo_server
 *           ./build/03_epoll/loadgen -c 50 -s 64 -d 5
 * What to notice:
 *   - the loop, accepting, EMFILE and stopping are reactor.c's: what is
 *     left is three callbacks, read, write and close;
 *   - the echo path: one recv into the loop's scratch buffer, one send
 *     straight from it. Only what the socket does not take is copied
 *     into the client's own buffer, so a client costs no buffer at all
 *     while its echoes go out whole, and no malloc per message;
 *   - back-pressure and half-close as in echo.c, by what epoll watches.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "reactor.h"

#define DEFAULT_PORT "10086"       /* the original tour's port */
#define BACKLOG 4096               /* handshakes queued (capped by somaxconn) */
#define MAX_CLIENTS 20000          /* beyond `ulimit -n`, accept says EMFILE */
#define OUTPUT_LIMIT (1024 * 1024) /* queued for a client: stop reading it */
#define RECV_CHUNK 65536           /* bytes asked of one recv */
#define DRAIN_READS 4              /* recvs of leftover input before close */

/* The server: one loop, and what its callbacks share. */
struct server {
    struct reactor *loop;
    int next_id;              /* [id] of the next connection */
    int count;                /* clients connected now */
    bool stopping;            /* reactor_free is closing what is left */
    char scratch[RECV_CHUNK]; /* every recv lands here */
};

/* One client (its channel's user pointer): 64 bytes, no buffer while idle. */
struct client {
    struct channel *ch;  /* its channel in the loop */
    struct server *s;    /* the server */
    int id;              /* [id] in the log */
    bool eof;            /* the client has finished sending */
    int error;           /* the errno that ended it, or 0 */
    struct byte_buf out; /* echo bytes the socket has not taken yet */
};

static void usage(FILE *out)
{
    fprintf(out, "usage: reactor_echo_server [PORT]\n");
}

/* Send what waits in C's output buffer until it is empty or the socket is
 * full; free the buffer once empty. False if the client is gone. */
static bool flush(struct client *c)
{
    while (buf_len(&c->out) > 0) {
        ssize_t n =
            send(c->ch->fd, buf_data(&c->out), buf_len(&c->out), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return true; /* EPOLLOUT says when to go on */
            }
            if (errno != EINTR) {
                c->error = errno; /* EPIPE, ECONNRESET: vanished */
                return false;
            }
            continue;
        }
        buf_consume(&c->out, (size_t)n);
    }
    buf_free(&c->out); /* idle clients hold no buffer */
    return true;
}

/* Echo the N bytes of DATA: straight to the socket if nothing is queued
 * before them (the usual case), and queue what it does not take. False
 * if the client is gone (or we are out of memory). */
static bool echo(struct client *c, const char *data, size_t n)
{
    size_t sent = 0;
    if (buf_len(&c->out) == 0) {
        ssize_t k = send(c->ch->fd, data, n, MSG_NOSIGNAL);
        if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
            errno != EINTR) {
            c->error = errno;
            return false;
        }
        sent = k > 0 ? (size_t)k : 0;
    }
    if (buf_append(&c->out, data + sent, n - sent) < 0) {
        c->error = errno;
        return false;
    }
    return true;
}

/* After every event of C: close it once it is finished, else tell epoll
 * what it waits for (epoll_ctl only on a change: reactor.c). Read while
 * the client may send and less than OUTPUT_LIMIT waits for it; write
 * while something waits. */
static void update(struct client *c, bool ok)
{
    bool pending = buf_len(&c->out) > 0;
    if (!ok || (c->eof && !pending)) {
        channel_close(c->ch);
        return;
    }
    bool reading = !c->eof && buf_len(&c->out) < OUTPUT_LIMIT;
    uint32_t events = (reading ? EPOLLIN : 0) | (pending ? EPOLLOUT : 0);
    if (channel_watch(c->ch, events) < 0) {
        c->error = errno;
        channel_close(c->ch);
    }
}

/* Readable, or in error, or hung up. One recv a wake-up: level-triggered,
 * epoll reports the rest next time, and no client can hog the loop. */
static void client_read(struct channel *ch, uint32_t events)
{
    (void)events; /* recv (or send) says what happened */
    struct client *c = ch->user;
    if (c->eof || buf_len(&c->out) >= OUTPUT_LIMIT) {
        /* Not watched for input: an error or hang-up, which the send
         * of what waits will report. */
        update(c, flush(c));
        return;
    }
    bool ok = true;
    ssize_t n = recv(ch->fd, c->s->scratch, RECV_CHUNK, 0);
    if (n > 0) {
        ok = echo(c, c->s->scratch, (size_t)n);
    } else if (n == 0) {
        c->eof = true; /* the client's FIN: what it is owed, then close */
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        c->error = errno; /* ECONNRESET: the client vanished */
        ok = false;
    }
    update(c, ok);
}

/* Writable: go on sending what waits. */
static void client_write(struct channel *ch, uint32_t events)
{
    (void)events;
    struct client *c = ch->user;
    update(c, flush(c));
}

/* on_close: log and free; the loop closes the socket next. Input still
 * queued is read first (bounded), so that close sends FIN, not RST. */
static void client_release(struct channel *ch)
{
    struct client *c = ch->user;
    for (int i = 0; i < DRAIN_READS && !c->eof; i++) {
        if (recv(ch->fd, c->s->scratch, RECV_CHUNK, MSG_DONTWAIT) <= 0) {
            break;
        }
    }
    if (c->s->stopping) {
        printf("[%d] closed (stopping)\n", c->id);
    } else if (c->error == 0) {
        printf("[%d] closed\n", c->id);
    } else if (c->error == ECONNRESET) {
        printf("[%d] closed (connection reset)\n", c->id);
    } else {
        printf("[%d] closed (%s)\n", c->id, errno_name(c->error));
    }
    c->s->count--;
    buf_free(&c->out);
    free(c);
}

static const struct channel_ops client_ops = {.on_read = client_read,
                                              .on_write = client_write,
                                              .on_close = client_release};

/* A new connection (reactor.h, accept_fn): a client, or refused. */
static void on_accept(struct reactor *r, int fd, const struct sockaddr *sa,
                      socklen_t len, int err, void *user)
{
    struct server *s = user;
    int id = s->next_id++;
    char peer[NET_ADDRSTRLEN];
    net_addr_str(sa, len, peer, sizeof peer);
    if (err != 0) { /* shed at EMFILE: see reactor.c */
        errno = err;
        warn_errno("[%d] refused %s: accept", id, peer);
        close_refused(fd, NULL);
        return;
    }
    if (s->count >= MAX_CLIENTS) {
        printf("[%d] refused %s: too many clients (limit %d)\n", id, peer,
               MAX_CLIENTS);
        close_refused(fd, NULL);
        return;
    }
    struct client *c = calloc(1, sizeof *c);
    if (c == NULL) {
        warn_errno("[%d] refused %s: cannot set it up", id, peer);
        close_refused(fd, NULL);
        return;
    }
    *c = (struct client){.s = s, .id = id};
    c->ch = reactor_add(r, fd, EPOLLIN, &client_ops, c);
    if (c->ch == NULL) {
        warn_errno("[%d] refused %s: epoll_ctl ADD", id, peer);
        free(c);
        return;
    }
    s->count++;
    printf("[%d] connected from %s\n", id, peer);
}

/* The command line: [PORT], or exit (0 after --help, 2 after a usage
 * error). */
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

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *port = parse_args(argc, argv);
    static struct server s = {.next_id = 1};
    s.loop = reactor_new();
    if (s.loop == NULL) {
        return 1;
    }
    int status = 1;
    /* SIGINT/SIGTERM through a signalfd; net_listen prints its errors. */
    int fd = -1;
    if (reactor_stop_on_signals(s.loop) < 0 ||
        (fd = net_listen(NULL, port, BACKLOG)) < 0) {
        goto out;
    }
    char addr[NET_ADDRSTRLEN];
    net_local_str(fd, addr, sizeof addr);
    if (set_nonblocking(fd) < 0) {
        warn_errno("fcntl O_NONBLOCK");
        close(fd);
        goto out;
    }
    if (reactor_listen(s.loop, fd, on_accept, &s) < 0) {
        goto out;
    }
    printf("listening on %s\n", addr);
    status = reactor_run(s.loop) < 0;
out:
    s.stopping = true;
    reactor_free(s.loop);
    return status;
}
