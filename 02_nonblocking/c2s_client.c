/*
 * c2s_client - the chat client: it types and listens at the same time.
 *
 * Usage: c2s_client [HOST [PORT]]      (default localhost 10086)
 *
 * Protocol: each line typed on stdin goes to the server; each line from the
 * server ("[ID] TEXT" from another client, "[server] TEXT") is printed as it
 * arrives. EOF on stdin (Ctrl-D) leaves: we shut down our sending side and
 * print what the server still sends until it closes the connection.
 * Pairs with: c2s_server (this chapter's, or chapter 3's epoll one).
 * Try it:   ./build/02_nonblocking/c2s_server
 *           ./build/02_nonblocking/c2s_client        (in two more terminals)
 * What to notice:
 *   - the server's polling loop again, over two descriptors: stdin and the
 *     socket; a line from the others shows up while you are typing;
 *   - while the queue to the server is full we stop reading stdin: the
 *     slow side slows the fast one down instead of filling our memory;
 *   - stdin's O_NONBLOCK is the terminal's too: restored on the way out.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define DEFAULT_HOST "localhost"
#define DEFAULT_PORT "10086"
#define TEXT_LIMIT 1000       /* the server's limit: longer lines get us out */
#define OUT_LIMIT (64 * 1024) /* queued for the server: stop reading stdin */
#define CHUNK 4096            /* bytes read from one descriptor per pass */
#define IDLE_MS 10            /* sleep after a pass that found nothing */

/* Everything the loop works on. */
struct chat {
    int fd;                /* the connection, non-blocking */
    int stdin_flags;       /* fd 0's flags before ours; -1: done with it */
    int stdin_skip;        /* discarding the rest of a too-long line */
    int fin_sent;          /* shutdown(SHUT_WR) done */
    int status;            /* -1 while running, then the exit status */
    struct byte_buf typed; /* stdin bytes, not yet a whole line */
    struct byte_buf out;   /* lines for the server, not yet sent */
    struct byte_buf in;    /* bytes from the server, not yet a line */
};

static void usage(FILE *out)
{
    fprintf(out, "usage: c2s_client [HOST [PORT]]\n");
}

/* Connect (a blocking connect: nothing else to do meanwhile), say where,
 * then make the socket non-blocking for the loop. */
static int open_connection(const char *host, const char *port)
{
    int fd = net_connect(host, port);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char addr[NET_ADDRSTRLEN] = "?";
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
        net_addr_str((struct sockaddr *)&ss, len, addr, sizeof addr);
    }
    printf("connected to %s\n", addr);
    if (set_nonblocking(fd) < 0) {
        die_errno("fcntl O_NONBLOCK");
    }
    return fd;
}

/* Make stdin non-blocking; returns the old flags, or -1. O_NONBLOCK is
 * shared with the terminal and the shell: see stdin_nonblocking in
 * c2s_server.c for why the old flags must go back before we exit. */
static int stdin_nonblocking(void)
{
    int flags = fcntl(STDIN_FILENO, F_GETFL);
    if (flags < 0 || fcntl(STDIN_FILENO, F_SETFL, flags | O_NONBLOCK) < 0) {
        return -1;
    }
    return flags;
}

/* Done with stdin (EOF, or exiting): put its flags back. */
static void restore_stdin(struct chat *ch)
{
    if (ch->stdin_flags >= 0) {
        fcntl(STDIN_FILENO, F_SETFL, ch->stdin_flags);
        ch->stdin_flags = -1;
    }
}

/* Queue the whole lines typed so far for the server. Too long for the
 * server: refused here (c2s_server would drop us). */
static void queue_typed(struct chat *ch)
{
    char line[LINE_LIMIT + 1];
    size_t len;
    enum line_result r;
    while ((r = buf_take_line(&ch->typed, line, &len)) != LINE_EOF) {
        int skipping = ch->stdin_skip; /* see read_stdin in c2s_server.c */
        ch->stdin_skip = r == LINE_TOO_LONG;
        if (r == LINE_TOO_LONG) {
            buf_consume(&ch->typed, LINE_LIMIT);
            len = TEXT_LIMIT + 1;
        }
        if (!skipping && len > TEXT_LIMIT) {
            fprintf(stderr, "line too long (limit %d bytes); not sent\n",
                    TEXT_LIMIT);
        }
        if (skipping || len > TEXT_LIMIT) {
            continue;
        }
        line[len] = '\n';
        if (buf_append(&ch->out, line, len + 1) < 0) {
            warn_errno("queue"); /* not die: stdin's flags must go back */
            ch->status = 1;
            return;
        }
    }
}

/* Try stdin, unless the server is behind (OUT_LIMIT queued): then the
 * bytes wait in the terminal or pipe, which slows down whoever writes
 * them. Returns 1 if anything happened. */
static int read_stdin(struct chat *ch)
{
    if (ch->stdin_flags < 0 || buf_len(&ch->out) >= OUT_LIMIT) {
        return 0;
    }
    char *room = buf_reserve(&ch->typed, CHUNK);
    ssize_t n = room == NULL ? -1 : read(STDIN_FILENO, room, CHUNK);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return 0; /* nothing typed since the last pass */
    }
    if (n > 0) {
        buf_commit(&ch->typed, (size_t)n);
    } else {
        if (n < 0) {
            warn_errno("stdin");
        }
        if (buf_len(&ch->typed) > 0) { /* a last line without '\n' */
            buf_append(&ch->typed, "\n", 1);
        }
        restore_stdin(ch); /* EOF: the loop sends FIN once out is sent */
    }
    queue_typed(ch);
    return 1;
}

/* Send what the socket takes of our queue; after stdin's EOF and the
 * last byte, shutdown(SHUT_WR): the server reads EOF, says goodbye to
 * the others and closes, and we see its EOF. Returns 1 on progress. */
static int send_queued(struct chat *ch)
{
    int progress = 0;
    while (buf_len(&ch->out) > 0) {
        ssize_t n = send(ch->fd, buf_data(&ch->out), buf_len(&ch->out), 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return progress; /* its send buffer is full: next pass */
        }
        if (n < 0) { /* EPIPE, ECONNRESET: recv will tell the story */
            buf_consume(&ch->out, buf_len(&ch->out));
            return 1;
        }
        buf_consume(&ch->out, (size_t)n);
        progress = 1;
    }
    if (ch->stdin_flags < 0 && !ch->fin_sent) {
        shutdown(ch->fd, SHUT_WR);
        ch->fin_sent = 1;
        progress = 1;
    }
    return progress;
}

/* The server's end: print how, set the exit status. */
static void server_closed(struct chat *ch, int err)
{
    if (err != 0) {
        printf("server closed the connection (%s)\n", errno_name(err));
    } else {
        printf("%s\n",
               ch->fin_sent ? "closed" : "server closed the connection");
    }
    ch->status = err != 0;
}

/* Try the socket: print every whole line the server sent. Returns 1 if
 * anything happened. */
static int read_server(struct chat *ch)
{
    char *room = buf_reserve(&ch->in, CHUNK);
    if (room == NULL) {
        warn_errno("recv");
        ch->status = 1;
        return 1;
    }
    ssize_t n = recv(ch->fd, room, CHUNK, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return 0;
    }
    int err = n < 0 ? errno : 0;
    if (n > 0) {
        buf_commit(&ch->in, (size_t)n);
    } else if (buf_len(&ch->in) > 0) { /* a last line without '\n' */
        buf_append(&ch->in, "\n", 1);
    }
    char line[LINE_LIMIT + 1];
    size_t len;
    enum line_result r;
    while ((r = buf_take_line(&ch->in, line, &len)) == LINE_OK) {
        print_text("", line, len);
    }
    if (r == LINE_TOO_LONG) {
        fprintf(stderr, "a line from the server over %d bytes\n",
                LINE_LIMIT - 1);
        ch->status = 1;
    } else if (n <= 0) {
        server_closed(ch, err);
    }
    return 1;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        return 0;
    }
    if (argc > 3 || (argc == 3 && net_parse_port(argv[2]) <= 0)) {
        usage(stderr);
        return 2;
    }
    install_stop_handlers(); /* SIGPIPE ignored; Ctrl-C ends the loop */
    struct chat ch = {.status = -1};
    ch.fd = open_connection(argc >= 2 ? argv[1] : DEFAULT_HOST,
                            argc == 3 ? argv[2] : DEFAULT_PORT);
    if (ch.fd < 0) {
        return 1;
    }
    ch.stdin_flags = stdin_nonblocking();

    /* The loop of c2s_server, over two descriptors. */
    while (ch.status < 0 && !stop_requested) {
        int progress = read_stdin(&ch);
        progress |= send_queued(&ch);
        progress |= read_server(&ch);
        if (!progress) {
            struct timespec idle = {.tv_sec = 0, .tv_nsec = IDLE_MS * 1000000L};
            nanosleep(&idle, NULL);
        }
    }
    restore_stdin(&ch);
    close(ch.fd);
    buf_free(&ch.typed);
    buf_free(&ch.out);
    buf_free(&ch.in);
    return ch.status < 0 ? 1 : ch.status;
}
