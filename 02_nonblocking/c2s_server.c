/*
 * c2s_server - a chat server for many clients: one thread, one loop that
 * tries every descriptor in turn (busy polling, no select/poll/epoll).
 *
 * Usage: c2s_server [--spin] [PORT]    (default 10086; 0 picks a free port)
 *
 * Protocol: a client's line is printed here as "[ID] TEXT" and sent to every
 * other client as "[ID] TEXT"; a line typed here goes to every client as
 * "[server] TEXT", or to one with "@ID TEXT"; "/list" lists the clients.
 * Pairs with: c2s_client (or `nc localhost 10086`).
 * Try it:   ./build/02_nonblocking/c2s_server
 *           ./build/02_nonblocking/c2s_client        (in two more terminals)
 * What to notice:
 *   - EAGAIN means "nothing now": accept, recv, read and send never block;
 *   - a pass that finds nothing sleeps 10 ms; with --spin it does not, and
 *     one core runs at 100% doing nothing (watch top);
 *   - each client has an input buffer (lines split over recvs) and a bounded
 *     output buffer (a client that does not read never blocks the others);
 *   - O_NONBLOCK on stdin changes the shell's terminal too: it is restored.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

/*
 * The protocol, exactly (chapter 3's epoll c2s_server keeps all of it, and
 * tests/02_nonblocking/c2s_*.pair check it). Lines end in "\n" ("\r\n"
 * is taken too); a line's TEXT is at most TEXT_LIMIT bytes.
 *   a client gets  "[server] you are ID" on joining, "[server] ID joined"
 *                  and "[server] ID left" about the others, "[ID] TEXT" for
 *                  their lines, "[server] TEXT" for ours (to all, or to it
 *                  alone), "[server] stopping" at SIGINT/SIGTERM; or
 *                  "[server] error: line too long (limit 1000 bytes)" or
 *                  "[server] error: server full", and then we close.
 *   stdout shows   "[ID] connected from ADDR", "[ID] TEXT", "[ID] closed",
 *                  "[ID] closed (ECONNRESET)", "[ID] line too long (limit
 *                  1000 bytes): dropped", "[ID] too slow (1024 KiB queued):
 *                  dropped", "refused ADDR: server full", "stdin closed;
 *                  still serving"; "/list" prints "clients: N", then
 *                  "  [ID] ADDR" per client in ID order.
 *   stderr shows   "@ID: no such client", "usage: @ID TEXT", "unknown
 *                  command: /X (try /list)", "line too long (limit 1000
 *                  bytes); not sent".
 * IDs count up from 1 and are never reused while the server runs.
 */
#define DEFAULT_PORT "10086" /* the original tour's port */
#define BACKLOG 16           /* connections the kernel queues for accept */
#define MAX_CLIENTS 32       /* every pass costs one recv per client */
#define TEXT_LIMIT 1000      /* longest text: "[ID] " + text fits LINE_LIMIT */
#define OUT_LIMIT (1 << 20)  /* bytes queued for one client before the drop */
#define CHUNK 4096           /* bytes read from one descriptor per pass */
#define IDLE_MS 10           /* sleep after a pass that found nothing */
#define LINGER_MS 1000       /* how long a leaving client may take to close */

/* Where a client is in its life. DROP and BYE are set during a pass (by
 * anyone) and acted on by end_of_pass, so that nothing is freed while a
 * loop is still looking at it. */
enum state {
    FREE,     /* slot unused */
    CHATTING, /* reading its lines, getting everyone's */
    DROP,     /* must go now: closed at the end of this pass */
    BYE,      /* must go after its last line: lingers from the next pass */
    LINGER,   /* gone from the chat: flush, FIN, wait for its FIN, close */
};

struct client {
    enum state state;
    int fd;                    /* the connected socket */
    unsigned long long id;     /* shown as [ID]; 20 digits at most */
    char addr[NET_ADDRSTRLEN]; /* the peer's address, for /list */
    char why[64];              /* the event printed when it leaves */
    struct byte_buf in;        /* received bytes, not yet a whole line */
    struct byte_buf out;       /* bytes for it that send has not taken */
    int fin_sent;              /* LINGER: shutdown(SHUT_WR) done */
    long long deadline;        /* LINGER: when to stop waiting for it */
};

struct server {
    int listen_fd;              /* non-blocking listening socket */
    int accept_failing;         /* accept's last error was reported */
    int spin;                   /* --spin: never sleep */
    int stdin_flags;            /* fd 0's flags before ours, -1: no stdin */
    int stdin_skip;             /* discarding the rest of a too-long line */
    struct byte_buf stdin_buf;  /* typed bytes, not yet a whole line */
    unsigned long long next_id; /* the ID the next client gets */
    struct client clients[MAX_CLIENTS];
};

static void usage(FILE *out)
{
    fprintf(out, "usage: c2s_server [--spin] [PORT]\n");
}

/* Milliseconds on the monotonic clock (the wall clock can jump). */
static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Make stdin non-blocking, so the loop can try it like a socket. Returns
 * the old flags, or -1 if there is no usable stdin.
 * O_NONBLOCK belongs to the open file description, not to our descriptor:
 * on a terminal, the shell that started us shares that description (and
 * so does our stdout, usually). Left set, the shell's next read fails
 * with EAGAIN. So main puts the old flags back on every way out; only
 * SIGKILL or a crash can skip that. A socket has a per-call alternative,
 * recv(MSG_DONTWAIT); a terminal has none (chapter 3's poll needs none). */
static int stdin_nonblocking(void)
{
    int flags = fcntl(STDIN_FILENO, F_GETFL);
    if (flags < 0 || fcntl(STDIN_FILENO, F_SETFL, flags | O_NONBLOCK) < 0) {
        return -1;
    }
    return flags;
}

/* Record why C must go (the first reason wins) and when: STATE is DROP
 * or BYE. */
TOUR_PRINTF(3, 4)
static void mark(struct client *c, enum state state, const char *fmt, ...)
{
    if (c->state != CHATTING) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof c->why, fmt, ap);
    va_end(ap);
    c->state = state;
}

/* Queue "PREFIX TEXT\n" for C. Nothing is sent here: the loop sends
 * later, as much as the socket takes. A client with OUT_LIMIT bytes
 * already waiting is not reading; it is dropped rather than let grow. */
static void send_line(struct client *c, const char *prefix, const char *text,
                      size_t len)
{
    char line[LINE_LIMIT + 32]; /* a prefix, TEXT_LIMIT bytes, '\n' */
    size_t plen = strlen(prefix), n = plen + len + 1;
    if (c->state != CHATTING || n > sizeof line) {
        return;
    }
    memcpy(line, prefix, plen); /* not snprintf: TEXT may hold '\0' */
    memcpy(line + plen, text, len);
    line[n - 1] = '\n';
    if (buf_len(&c->out) + n > OUT_LIMIT) {
        mark(c, DROP, "too slow (%d KiB queued): dropped", OUT_LIMIT / 1024);
    } else if (buf_append(&c->out, line, n) < 0) {
        mark(c, DROP, "closed (out of memory)");
    }
}

/* send_line to every chatting client but FROM (NULL: to all). */
static void broadcast(struct server *s, const struct client *from,
                      const char *prefix, const char *text, size_t len)
{
    for (int i = 0; i < MAX_CLIENTS; i++) {
        if (&s->clients[i] != from) {
            send_line(&s->clients[i], prefix, text, len);
        }
    }
}

/* A new client in the free slot C: greet it, tell the others. */
static void welcome(struct server *s, struct client *c, int fd,
                    const char *addr)
{
    memset(c, 0, sizeof *c);
    c->state = CHATTING;
    c->fd = fd;
    c->id = s->next_id++;
    snprintf(c->addr, sizeof c->addr, "%s", addr);
    printf("[%llu] connected from %s\n", c->id, addr);
    char text[48];
    int n = snprintf(text, sizeof text, "you are %llu", c->id);
    send_line(c, "[server] ", text, (size_t)n);
    n = snprintf(text, sizeof text, "%llu joined", c->id);
    broadcast(s, c, "[server] ", text, (size_t)n);
}

/* Turn away a client we have no room for: one try to send the error
 * line (MSG_DONTWAIT: this socket is still blocking), FIN, close. A fresh
 * socket's send buffer is empty, so the short line fits; a client that
 * has vanished makes send fail (EPIPE, as SIGPIPE is ignored): so be it.
 * The client may have sent a line already, and close() with unread bytes
 * sends RST instead of FIN, which can destroy the error line before the
 * client reads it. So the FIN goes first (shutdown): queued ahead of any
 * reset, it reads as end of file after the line. Then what has arrived
 * is read (a bounded amount, without waiting), so that usually no reset
 * is sent at all. */
static void refuse(int fd, const char *addr)
{
    static const char msg[] = "[server] error: server full\n";
    printf("refused %s: server full\n", addr);
    send(fd, msg, sizeof msg - 1, MSG_DONTWAIT);
    shutdown(fd, SHUT_WR);
    char sink[CHUNK];
    for (int i = 0; i < 4; i++) {
        if (recv(fd, sink, sizeof sink, MSG_DONTWAIT) <= 0) {
            break;
        }
    }
    close(fd);
}

/* Take every connection waiting in the listen queue. Returns 1 if any. */
static int accept_clients(struct server *s)
{
    int progress = 0;
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept(s->listen_fd, (struct sockaddr *)&ss, &len);
        if (fd < 0) {
            /* EAGAIN: the queue is empty. ECONNABORTED: one gave up.
             * Others (EMFILE) repeat on every pass while they last: say
             * so once, not a hundred times a second. */
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                errno != ECONNABORTED && !s->accept_failing) {
                warn_errno("accept");
                s->accept_failing = 1;
            }
            return progress;
        }
        progress = 1;
        s->accept_failing = 0;
        char addr[NET_ADDRSTRLEN];
        net_addr_str((struct sockaddr *)&ss, len, addr, sizeof addr);
        struct client *c = NULL;
        for (int i = 0; i < MAX_CLIENTS && c == NULL; i++) {
            c = s->clients[i].state == FREE ? &s->clients[i] : NULL;
        }
        /* Not inherited from the listening socket on Linux: ask. */
        if (c == NULL || set_nonblocking(fd) < 0) {
            refuse(fd, addr);
        } else {
            welcome(s, c, fd, addr);
        }
    }
}

/* "/list": every client in the chat, in ID order, on stdout. (The slots
 * are not in ID order: a newcomer takes the first free one.) */
static void list_clients(const struct server *s)
{
    int count = 0;
    for (int i = 0; i < MAX_CLIENTS; i++) {
        count += s->clients[i].state == CHATTING;
    }
    printf("clients: %d\n", count);
    unsigned long long last = 0;
    for (int k = 0; k < count; k++) {
        const struct client *next = NULL;
        for (int i = 0; i < MAX_CLIENTS; i++) {
            const struct client *c = &s->clients[i];
            if (c->state == CHATTING && c->id > last &&
                (next == NULL || c->id < next->id)) {
                next = c;
            }
        }
        printf("  [%llu] %s\n", next->id, next->addr);
        last = next->id;
    }
}

/* "@ID TEXT": TEXT to client ID only. */
static void send_private(struct server *s, const char *line, size_t len)
{
    char *end = NULL;
    unsigned long long id = 0;
    if (line[1] >= '0' && line[1] <= '9') {
        errno = 0;
        id = strtoull(line + 1, &end, 10);
    }
    if (end == NULL || errno != 0 || *end != ' ') {
        fprintf(stderr, "usage: @ID TEXT\n");
        return;
    }
    for (int i = 0; i < MAX_CLIENTS; i++) {
        struct client *c = &s->clients[i];
        if (c->state == CHATTING && c->id == id) {
            send_line(c, "[server] ", end + 1, len - (size_t)(end + 1 - line));
            return;
        }
    }
    fprintf(stderr, "@%llu: no such client\n", id);
}

/* A line typed on our stdin: a command, a private line, or for all. */
static void server_line(struct server *s, const char *line, size_t len)
{
    if (len > TEXT_LIMIT) {
        fprintf(stderr, "line too long (limit %d bytes); not sent\n",
                TEXT_LIMIT);
    } else if (strcmp(line, "/list") == 0) {
        list_clients(s);
    } else if (line[0] == '/') {
        fprintf(stderr, "unknown command: %s (try /list)\n", line);
    } else if (line[0] == '@') {
        send_private(s, line, len);
    } else {
        broadcast(s, NULL, "[server] ", line, len);
    }
}

/* Try stdin: whatever has been typed, line by line. At EOF we stop
 * reading it but keep serving: a server started with </dev/null (as a
 * service) must still work. Returns 1 if anything happened. */
static int read_stdin(struct server *s)
{
    if (s->stdin_flags < 0) {
        return 0; /* no stdin, or done with it */
    }
    char *room = buf_reserve(&s->stdin_buf, CHUNK);
    ssize_t n = room == NULL ? -1 : read(STDIN_FILENO, room, CHUNK);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return 0; /* nothing typed since the last pass */
    }
    if (n > 0) {
        buf_commit(&s->stdin_buf, (size_t)n);
    } else {
        if (n < 0) {
            warn_errno("stdin");
        }
        printf("stdin closed; still serving\n");
        if (buf_len(&s->stdin_buf) > 0) { /* a last line without '\n' */
            buf_append(&s->stdin_buf, "\n", 1);
        }
    }
    char line[LINE_LIMIT + 1];
    size_t len;
    enum line_result r;
    while ((r = buf_take_line(&s->stdin_buf, line, &len)) != LINE_EOF) {
        /* An over-long line is refused once; its first LINE_LIMIT bytes
         * go now, the rest up to its '\n' is skipped as the next "line". */
        int skipping = s->stdin_skip;
        s->stdin_skip = r == LINE_TOO_LONG;
        if (r == LINE_TOO_LONG) {
            buf_consume(&s->stdin_buf, LINE_LIMIT);
            len = TEXT_LIMIT + 1;
        }
        if (!skipping) {
            server_line(s, line, len);
        }
    }
    if (n <= 0) {
        fcntl(STDIN_FILENO, F_SETFL, s->stdin_flags); /* done with it */
        s->stdin_flags = -1;
    }
    return 1;
}

/* C sent a line over TEXT_LIMIT: say so, and show it the door (it
 * lingers first, so that it gets to read why). */
static void refuse_line(struct client *c)
{
    char error[64];
    int n = snprintf(error, sizeof error,
                     "error: line too long (limit %d bytes)", TEXT_LIMIT);
    send_line(c, "[server] ", error, (size_t)n);
    mark(c, BYE, "line too long (limit %d bytes): dropped", TEXT_LIMIT);
}

/* Try client C: one recv of at most CHUNK bytes (so a client that sends
 * without pause cannot starve the others), then every whole line in its
 * buffer, however the bytes were split. Returns 1 if anything happened. */
static int read_client(struct server *s, struct client *c)
{
    char *room = buf_reserve(&c->in, CHUNK);
    ssize_t n = room == NULL ? -1 : recv(c->fd, room, CHUNK, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return 0; /* nothing arrived since the last pass */
    }
    if (n < 0) {
        mark(c, DROP, "closed (%s)", errno_name(errno));
        return 1;
    }
    buf_commit(&c->in, (size_t)n);
    if (n == 0 && buf_len(&c->in) > 0) { /* a last line without '\n' */
        buf_append(&c->in, "\n", 1);
    }
    char line[LINE_LIMIT + 1], prefix[32];
    size_t len;
    enum line_result r;
    snprintf(prefix, sizeof prefix, "[%llu] ", c->id);
    while (c->state == CHATTING &&
           (r = buf_take_line(&c->in, line, &len)) != LINE_EOF) {
        if (r == LINE_TOO_LONG || len > TEXT_LIMIT) {
            refuse_line(c);
        } else {
            print_text(prefix, line, len);
            broadcast(s, c, prefix, line, len);
        }
    }
    if (n == 0) {
        mark(c, BYE, "closed");
    }
    return 1;
}

/* Send as much of C's queue as the socket takes now. Returns 1 if some
 * bytes went, 0 if none could, -1 on an error (errno says which). */
static int flush(struct client *c)
{
    int progress = 0;
    while (buf_len(&c->out) > 0) {
        ssize_t n = send(c->fd, buf_data(&c->out), buf_len(&c->out), 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) { /* EAGAIN: its send buffer is full, try next pass */
            return errno == EAGAIN || errno == EWOULDBLOCK ? progress : -1;
        }
        buf_consume(&c->out, (size_t)n);
        progress = 1;
    }
    return progress;
}

/* Free C's slot. */
static void close_client(struct client *c)
{
    close(c->fd);
    buf_free(&c->in);
    buf_free(&c->out);
    memset(c, 0, sizeof *c);
}

/* A client that has left: send what is still queued for it (its error
 * line), then FIN, then read and discard until its own FIN (or an error,
 * or LINGER_MS), so that it reads our last line rather than a reset:
 * closing a socket with unread bytes makes the kernel send RST. The same
 * thing as close_gracefully in common/io.c, one step per pass. */
static int linger(struct client *c, long long now)
{
    int progress = flush(c);
    if (progress >= 0 && buf_len(&c->out) == 0 && !c->fin_sent) {
        shutdown(c->fd, SHUT_WR);
        c->fin_sent = 1;
    }
    char sink[CHUNK];
    ssize_t n = progress < 0 ? -1 : recv(c->fd, sink, sizeof sink, 0);
    int quiet = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    if ((n == 0 && c->fin_sent) || (n < 0 && !quiet) || now > c->deadline) {
        close_client(c);
        return 1;
    }
    return progress > 0 || n > 0;
}

/* The end of a pass: clients marked DROP are closed, clients marked BYE
 * start lingering, and the others hear "[server] ID left" (which may push
 * one of them over OUT_LIMIT: hence the loop). */
static void end_of_pass(struct server *s, long long now)
{
    int again = 1;
    while (again) {
        again = 0;
        for (int i = 0; i < MAX_CLIENTS; i++) {
            struct client *c = &s->clients[i];
            if (c->state != DROP && c->state != BYE) {
                continue;
            }
            char text[48];
            int n = snprintf(text, sizeof text, "%llu left", c->id);
            printf("[%llu] %s\n", c->id, c->why);
            if (c->state == DROP) {
                close_client(c);
            } else {
                c->state = LINGER;
                c->deadline = now + LINGER_MS;
            }
            broadcast(s, NULL, "[server] ", text, (size_t)n);
            again = 1;
        }
    }
}

/* One pass over every descriptor: the listening socket, stdin, each
 * client's input, then each client's output. Returns 1 if anything at
 * all happened, 0 if every call said EAGAIN. */
static int pass(struct server *s)
{
    int progress = accept_clients(s);
    progress |= read_stdin(s);
    for (int i = 0; i < MAX_CLIENTS; i++) {
        if (s->clients[i].state == CHATTING) {
            progress |= read_client(s, &s->clients[i]);
        }
    }
    long long now = now_ms();
    for (int i = 0; i < MAX_CLIENTS; i++) {
        struct client *c = &s->clients[i];
        int sent = c->state == CHATTING ? flush(c) : 0;
        if (sent < 0) {
            mark(c, DROP, "closed (%s)", errno_name(errno));
        }
        if (c->state == LINGER) {
            sent = linger(c, now);
        }
        progress |= sent != 0;
    }
    end_of_pass(s, now);
    return progress;
}

/* SIGINT/SIGTERM: tell every client, one try to send it, close all. */
static void stop_all(struct server *s)
{
    broadcast(s, NULL, "[server] ", "stopping", 8);
    for (int i = 0; i < MAX_CLIENTS; i++) {
        if (s->clients[i].state != FREE) {
            flush(&s->clients[i]);
            close_client(&s->clients[i]);
        }
    }
    buf_free(&s->stdin_buf);
    close(s->listen_fd);
}

/* The command line: [--spin] [PORT]. Returns -1 to go on, or the exit
 * status (0 after --help, 2 after a usage error). */
static int parse_args(int argc, char **argv, int *spin, const char **port)
{
    int i = 1;
    if (i < argc && strcmp(argv[i], "--spin") == 0) {
        *spin = 1;
        i++;
    }
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        return 0;
    }
    if (argc - i > 1 || (argc - i == 1 && net_parse_port(argv[i]) < 0)) {
        usage(stderr);
        return 2;
    }
    *port = argc - i == 1 ? argv[i] : DEFAULT_PORT;
    return -1;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct server s = {.next_id = 1}; /* the rest zero: every slot FREE */
    const char *port = NULL;
    int status = parse_args(argc, argv, &s.spin, &port);
    if (status >= 0) {
        return status;
    }
    install_stop_handlers();
    s.listen_fd = net_listen(NULL, port, BACKLOG);
    if (s.listen_fd < 0) {
        return 1;
    }
    if (set_nonblocking(s.listen_fd) < 0) {
        die_errno("fcntl O_NONBLOCK");
    }
    char addr[NET_ADDRSTRLEN];
    printf("listening on %s\n", net_local_str(s.listen_fd, addr, sizeof addr));
    s.stdin_flags = stdin_nonblocking();

    /* The loop. Nothing in it blocks, so when a whole pass found nothing
     * to do, sleep a moment instead of asking again at once: 10 ms keeps
     * an idle server near 0% CPU and adds at most 10 ms to a reply. A
     * SIGINT/SIGTERM cuts the sleep short (EINTR) and the loop sees
     * stop_requested; one landing just before nanosleep costs 10 ms. */
    while (!stop_requested) {
        if (!pass(&s) && !s.spin) {
            struct timespec idle = {.tv_sec = 0, .tv_nsec = IDLE_MS * 1000000L};
            nanosleep(&idle, NULL);
        }
    }
    stop_all(&s);
    if (s.stdin_flags >= 0) {
        fcntl(STDIN_FILENO, F_SETFL, s.stdin_flags); /* see stdin_nonblocking */
    }
    return 0;
}
