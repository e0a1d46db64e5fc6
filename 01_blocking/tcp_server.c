/*
 * tcp_server - lock-step chat with one client at a time (iterative server).
 *
 * Usage: tcp_server [PORT]             (default 10086; 0 picks a free port)
 *
 * Protocol: the client sends a line; the server prints it and answers with
 * a line typed on its own stdin; repeat. EOF on either side ends it.
 * Pairs with: tcp_client (or `nc localhost 10086`).
 * Try it:   ./build/01_blocking/tcp_server
 *           ./build/01_blocking/tcp_client        (in a second terminal)
 * What to notice:
 *   - getaddrinfo, socket, bind, listen, accept: the whole sequence by hand;
 *   - iterative: a second client waits in the listen backlog until the
 *     first one leaves;
 *   - a line is whatever reaches the next '\n', however recv splits it;
 *   - a vanished client (EPIPE, ECONNRESET) ends its conversation, not us.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define DEFAULT_PORT "10086" /* the original tour's port */
#define BACKLOG 16 /* completed connections the kernel queues (Linux: 17) */

/* How a conversation ended, which decides what the server does next. */
enum outcome {
    NEXT_CLIENT, /* the client left or failed: accept the next one */
    STOP_SERVER, /* our stdin ended, or SIGINT/SIGTERM: stop */
};

static void usage(FILE *out)
{
    fprintf(out, "usage: tcp_server [PORT]\n");
}

/* Open the listening socket, one step at a time. Later programs call
 * net_listen() in common/net.c, which is this function plus error text. */
static int open_listener(const char *port)
{
    /* 1. Ask the resolver which local addresses to bind. AI_PASSIVE with
     *    no host gives the wildcard address; asking for AF_INET6 gets "::",
     *    which (with IPV6_V6ONLY off below) receives IPv4 clients too. */
    struct addrinfo hints = {0}, *list = NULL;
    hints.ai_family = AF_INET6;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int rc = getaddrinfo(NULL, port, &hints, &list);
    if (rc != 0) {
        /* No IPv6 on this machine: fall back to 0.0.0.0. */
        hints.ai_family = AF_INET;
        rc = getaddrinfo(NULL, port, &hints, &list);
    }
    if (rc != 0) {
        die("getaddrinfo port %s: %s", port, gai_strerror(rc));
    }

    /* 2. socket() makes an endpoint: a descriptor with no address yet. */
    int fd = socket(list->ai_family, list->ai_socktype, list->ai_protocol);
    if (fd < 0) {
        die_errno("socket");
    }

    /* 3. Options before bind. SO_REUSEADDR lets a restarted server bind
     *    the port while old connections sit in TIME_WAIT; IPV6_V6ONLY off
     *    makes "::" dual stack (IPv4 clients appear as ::ffff:a.b.c.d). */
    int on = 1, off = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0) {
        die_errno("setsockopt SO_REUSEADDR");
    }
    if (list->ai_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) < 0) {
        die_errno("setsockopt IPV6_V6ONLY");
    }

    /* 4. bind() gives it the local address and port. Port 0 means "any
     *    free port": the kernel picks one, and getsockname() tells which. */
    if (bind(fd, list->ai_addr, list->ai_addrlen) < 0) {
        die_errno("bind port %s", port);
    }
    freeaddrinfo(list);

    /* 5. listen() turns it passive: from now on the kernel itself answers
     *    SYNs and completes handshakes, queueing up to BACKLOG connections
     *    for accept() to pick up, whether or not we are calling accept. */
    if (listen(fd, BACKLOG) < 0) {
        die_errno("listen");
    }

    /* 6. Non-blocking, for accept_client: it only calls accept() once the
     *    socket is readable, but a client can give up in between, and then
     *    accept() must say EAGAIN rather than block. */
    if (set_nonblocking(fd) < 0) {
        die_errno("fcntl O_NONBLOCK");
    }
    return fd;
}

/* Wait for the next client. Returns its descriptor, or -1 when a signal
 * asked us to stop. */
static int accept_client(int listen_fd, char *peer, size_t size)
{
    for (;;) {
        /* Sleep until a connection is queued or SIGINT/SIGTERM arrives;
         * see wait_readable in common/io.c for why not just accept(). */
        if (wait_readable(listen_fd, -1) <= 0) {
            return -1;
        }
        /* accept() takes a finished connection off the queue (it does not
         * send anything: the handshake is already done) and returns a new
         * descriptor for it. listen_fd keeps listening. */
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept(listen_fd, (struct sockaddr *)&ss, &len);
        if (fd >= 0) {
            /* The new socket inherits nothing of O_NONBLOCK on Linux, but
             * on BSD it does: say what we want. */
            int flags = fcntl(fd, F_GETFL);
            if (flags >= 0) {
                fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
            }
            net_addr_str((struct sockaddr *)&ss, len, peer, size);
            return fd;
        }
        /* A client that gave up while queued is not our problem: Linux
         * still hands it over (its first recv then says ECONNRESET), other
         * systems fail accept with ECONNABORTED, or with EAGAIN on a
         * non-blocking socket. Anything else (EMFILE, ENOBUFS) is
         * reported, and we carry on after a pause: the connection is
         * still queued, so without one this loop would spin at 100% CPU
         * printing the same error until a descriptor is free. */
        if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK &&
            errno != ECONNABORTED) {
            warn_errno("accept");
            struct timespec pause = {.tv_sec = 0, .tv_nsec = 100000000};
            nanosleep(&pause, NULL); /* a stop signal cuts it short */
        }
    }
}

/* Tell the user how the client's line failed to arrive. */
static void report_recv(int id, enum line_result r)
{
    if (r == LINE_EOF) {
        printf("[%d] closed\n", id);
    } else if (r == LINE_ERROR && errno == ECONNRESET) {
        printf("[%d] closed (connection reset)\n", id);
    } else if (r == LINE_ERROR) {
        warn_errno("[%d] recv", id);
    }
}

/* Read our answer from stdin: LINE_OK, LINE_EOF, LINE_STOPPED or
 * LINE_ERROR. An over-long answer is refused here, so the client never
 * gets half of it. */
static enum line_result read_answer(struct line_reader *in, char *line,
                                    size_t *len)
{
    for (;;) {
        enum line_result r = read_line(in, line, len);
        if (r != LINE_TOO_LONG) {
            return r;
        }
        fprintf(stderr, "answer too long (limit %d bytes); type it again\n",
                LINE_LIMIT - 1);
    }
}

/* One conversation: their line, our line, until someone stops. */
static enum outcome converse(int conn_fd, int id, struct line_reader *in)
{
    struct line_reader from_client;
    line_reader_init(&from_client, conn_fd);
    char line[LINE_LIMIT + 1];
    size_t len;
    for (;;) {
        enum line_result r = read_line(&from_client, line, &len);
        if (r == LINE_STOPPED) {
            return STOP_SERVER;
        }
        if (r == LINE_TOO_LONG) {
            static const char msg[] = "error: line too long\n";
            printf("[%d] line too long (limit %d bytes): dropped\n", id,
                   LINE_LIMIT - 1);
            send_all(conn_fd, msg, sizeof msg - 1);
            return NEXT_CLIENT;
        }
        if (r != LINE_OK) {
            report_recv(id, r);
            return NEXT_CLIENT;
        }
        char prefix[32];
        snprintf(prefix, sizeof prefix, "[%d] ", id);
        print_text(prefix, line, len);
        r = read_answer(in, line, &len);
        if (r != LINE_OK) {
            if (r == LINE_ERROR) {
                warn_errno("stdin");
            }
            printf("[%d] closed (%s)\n", id,
                   r == LINE_STOPPED ? "stopping" : "our stdin ended");
            return STOP_SERVER;
        }
        line[len] = '\n';
        /* send() may send less than asked; send_all loops until all of it
         * is queued. A client that has gone makes it fail with EPIPE (not
         * SIGPIPE: see install_stop_handlers) or ECONNRESET. */
        if (send_all(conn_fd, line, len + 1) < 0) {
            printf("[%d] closed (%s)\n", id, errno_name(errno));
            return NEXT_CLIENT;
        }
    }
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        return 0;
    }
    if (argc > 2 || (argc == 2 && net_parse_port(argv[1]) < 0)) {
        usage(stderr);
        return 2;
    }
    install_stop_handlers();

    int listen_fd = open_listener(argc == 2 ? argv[1] : DEFAULT_PORT);
    char addr[NET_ADDRSTRLEN];
    printf("listening on %s\n", net_local_str(listen_fd, addr, sizeof addr));

    struct line_reader in;
    line_reader_init(&in, STDIN_FILENO);
    enum outcome outcome = NEXT_CLIENT;
    for (int id = 1; outcome == NEXT_CLIENT && !stop_requested; id++) {
        int conn_fd = accept_client(listen_fd, addr, sizeof addr);
        if (conn_fd < 0) {
            break;
        }
        printf("[%d] connected from %s\n", id, addr);
        outcome = converse(conn_fd, id, &in);
        close_gracefully(conn_fd);
    }
    close(listen_fd);
    return 0;
}
