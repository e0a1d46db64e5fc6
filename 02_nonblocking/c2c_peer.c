/*
 * c2c_peer - a chat node that listens and connects out, on one loop.
 *
 * Usage: c2c_peer [PORT]               (default 10086; 0 picks a free port)
 *
 * Protocol (c2c): lines. Typed on stdin: /connect HOST PORT, /peers,
 * /close ID, /quit, @ID TEXT (to one peer), TEXT (to every peer); a line
 * from peer ID prints as "[ID] TEXT". EOF on stdin is /quit.
 * Pairs with: itself (or `nc localhost 10086`).
 * Try it:   ./build/02_nonblocking/c2c_peer 10086
 *           ./build/02_nonblocking/c2c_peer 10087     (second terminal)
 *           /connect localhost 10086                   (typed in the second)
 * What to notice:
 *   - every descriptor is O_NONBLOCK and one loop tries each in turn;
 *     EAGAIN means "nothing now", and a pass that did nothing sleeps 10 ms;
 *   - connect says EINPROGRESS; later passes ask SO_ERROR how it went;
 *   - each peer has its own input and bounded output buffer, so a peer
 *     that stops reading is dropped instead of stalling everyone;
 *   - O_NONBLOCK on stdin is shared with the shell: restored at exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define DEFAULT_PORT "10086"  /* the original tour's port */
#define BACKLOG 16            /* connections the kernel queues for accept */
#define MAX_PEERS 32          /* connections at once; more are refused */
#define CHUNK 4096            /* bytes read from one source in one pass */
#define OUT_LIMIT (64 * 1024) /* queued bytes a peer may fall behind by */
#define IDLE_NS 10000000L     /* a pass that did nothing sleeps 10 ms */
#define CLOSE_SECONDS 2       /* a closing peer's time to send its FIN */
#define COMMANDS                                                               \
    "commands: /connect HOST PORT, /peers, /close ID, /quit, @ID TEXT, TEXT"

/* One connection to another node: accepted, or connected out. */
struct peer {
    unsigned long long id;     /* shown as [ID]; 0 marks a free slot */
    int fd;                    /* the socket; -1 between connect attempts */
    int outgoing;              /* 1 if we connected out, 0 if accepted */
    int connecting;            /* our non-blocking connect is under way */
    int closing;               /* 1: FIN when out is sent; 2: FIN sent */
    time_t close_by;           /* closing: give up waiting at this time */
    char addr[NET_ADDRSTRLEN]; /* the other end (or the address tried) */
    struct addrinfo *ai_list;  /* /connect's addresses, until connected */
    struct addrinfo *ai_next;  /* the next address to try */
    struct byte_buf in;        /* received bytes, not yet a whole line */
    struct byte_buf out;       /* bytes send() has not taken yet */
};

/* Everything the loop works on. */
struct node {
    int listen_fd;                /* accepts other nodes */
    int accept_failing;           /* accept's last error was reported */
    unsigned long long next_id;   /* ids count up, never reused */
    int quit;                     /* /quit or EOF on stdin */
    int skipping;                 /* dropping the rest of a too-long line */
    struct byte_buf typed;        /* stdin bytes, not yet a whole line */
    struct peer peers[MAX_PEERS]; /* the connections */
};

static void usage(FILE *out)
{
    fprintf(out, "usage: c2c_peer [PORT]\n");
}

/* Close P's socket and free its buffers and addresses: the slot is free. */
static void free_peer(struct peer *p)
{
    if (p->fd >= 0) {
        close(p->fd);
    }
    buf_free(&p->in);
    buf_free(&p->out);
    if (p->ai_list != NULL) {
        freeaddrinfo(p->ai_list);
    }
    memset(p, 0, sizeof *p);
}

/* A free slot with the next id, or NULL when MAX_PEERS are in use. */
static struct peer *new_peer(struct node *n, int outgoing)
{
    for (size_t i = 0; i < MAX_PEERS; i++) {
        struct peer *p = &n->peers[i];
        if (p->id == 0) {
            p->id = n->next_id++;
            p->fd = -1;
            p->outgoing = outgoing;
            return p;
        }
    }
    return NULL;
}

/* Take one queued connection, if any: EAGAIN means nobody is waiting.
 * Linux does not pass the listener's O_NONBLOCK on to the new socket (BSD
 * does), so set it. Returns 1 if anything happened, as do the others. */
static int accept_peer(struct node *n)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = accept(n->listen_fd, (struct sockaddr *)&ss, &len);
    if (fd < 0) {
        /* ECONNABORTED: it gave up while queued. EMFILE and the like
         * repeat on every pass while they last: report them once. */
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
            errno != ECONNABORTED && !n->accept_failing) {
            warn_errno("accept");
            n->accept_failing = 1;
        }
        return 0;
    }
    n->accept_failing = 0;
    char addr[NET_ADDRSTRLEN];
    net_addr_str((struct sockaddr *)&ss, len, addr, sizeof addr);
    struct peer *p = set_nonblocking(fd) == 0 ? new_peer(n, 0) : NULL;
    if (p == NULL) {
        /* The line if it fits (never waits), then FIN, and what the peer
         * sent already read, so that close() sends no RST that could
         * destroy the line before it is read (see c2s_server's refuse). */
        static const char msg[] = "error: too many peers\n";
        send(fd, msg, sizeof msg - 1, 0);
        shutdown(fd, SHUT_WR);
        char sink[CHUNK];
        for (int i = 0; i < 4; i++) {
            if (recv(fd, sink, sizeof sink, MSG_DONTWAIT) <= 0) {
                break;
            }
        }
        close(fd);
        printf("refused %s: too many peers\n", addr);
        return 1;
    }
    p->fd = fd;
    memcpy(p->addr, addr, sizeof addr);
    printf("[%llu] connected from %s\n", p->id, p->addr);
    return 1;
}

/* Queue TEXT and a newline for P; flush_peer sends it. A peer that lets
 * OUT_LIMIT bytes pile up is not reading: dropped, or we would hold its
 * backlog without bound (or block on it and stall every other peer). */
static void queue_text(struct peer *p, const char *text, size_t len)
{
    if (buf_len(&p->out) + len + 1 > OUT_LIMIT ||
        buf_append(&p->out, text, len) < 0 ||
        buf_append(&p->out, "\n", 1) < 0) {
        printf("[%llu] too slow (%d KiB queued): dropped\n", p->id,
               OUT_LIMIT / 1024);
        free_peer(p);
    }
}

/* Seconds on the monotonic clock (the wall clock can jump). */
static time_t now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

/* Close P politely: send what is queued, then FIN (shutdown SHUT_WR), and
 * close() only after the peer's own FIN (or CLOSE_SECONDS), since close()
 * with unread input sends RST and the peer could lose our last lines. */
static void begin_close(struct peer *p)
{
    if (p->connecting) {
        free_peer(p);
        return;
    }
    p->closing = 1;
    p->close_by = now_seconds() + CLOSE_SECONDS;
}

/* Start a connect to the next address of P's list. On a non-blocking
 * socket connect() sends the SYN and returns at once, usually with
 * EINPROGRESS; check_connect learns the outcome on a later pass. Returns
 * 0, or the errno of the last failure (ERR if none was tried). */
static int try_next_address(struct peer *p, int err)
{
    while (p->ai_next != NULL) {
        struct addrinfo *ai = p->ai_next;
        p->ai_next = ai->ai_next;
        net_addr_str(ai->ai_addr, ai->ai_addrlen, p->addr, sizeof p->addr);
        p->fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (p->fd >= 0 && set_nonblocking(p->fd) == 0 &&
            (connect(p->fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
             errno == EINPROGRESS || errno == EINTR)) {
            return 0; /* EINTR too: the handshake goes on regardless */
        }
        err = errno;
        if (p->fd >= 0) {
            close(p->fd); /* nothing half-open stays behind */
            p->fd = -1;
        }
    }
    return err;
}

/* Every address of P failed, the last (P->addr) with ERR: say so, and
 * free the slot. */
static void connect_failed(struct peer *p, int err)
{
    errno = err;
    warn_errno("[%llu] connect to %s", p->id, p->addr);
    free_peer(p);
}

/* /connect HOST PORT. getaddrinfo blocks (a DNS query can take seconds,
 * and no peer is served meanwhile); numeric addresses and localhost answer
 * at once. A program that must not stall resolves on another thread. */
static void start_connect(struct node *n, const char *host, const char *port)
{
    struct addrinfo hints = {0}, *list = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, port, &hints, &list);
    if (rc != 0) {
        fprintf(stderr, "getaddrinfo %s port %s: %s\n", host, port,
                gai_strerror(rc));
        return;
    }
    struct peer *p = new_peer(n, 1);
    if (p == NULL) {
        fprintf(stderr, "too many peers (%d)\n", MAX_PEERS);
        freeaddrinfo(list);
        return;
    }
    p->ai_list = p->ai_next = list;
    p->connecting = 1;
    int err = try_next_address(p, EADDRNOTAVAIL);
    if (err != 0) {
        connect_failed(p, err);
    }
}

/* The peer whose id is the decimal ID (not one already closing), or NULL
 * after saying there is none. */
static struct peer *find_peer(struct node *n, const char *id)
{
    char *end;
    unsigned long long value = strtoull(id, &end, 10);
    if (*id != '\0' && *end == '\0') {
        for (size_t i = 0; i < MAX_PEERS; i++) {
            struct peer *p = &n->peers[i];
            if (p->id != 0 && p->id == value && !p->closing) {
                return p;
            }
        }
    }
    fprintf(stderr, "no peer %s (see /peers)\n", id);
    return NULL;
}

/* /peers: "[ID] ADDR in|out" for each live peer. */
static void list_peers(struct node *n)
{
    int count = 0;
    for (size_t i = 0; i < MAX_PEERS; i++) {
        struct peer *p = &n->peers[i];
        if (p->id != 0 && !p->closing) {
            printf("[%llu] %s %s%s\n", p->id, p->addr,
                   p->outgoing ? "out" : "in",
                   p->connecting ? " (connecting)" : "");
            count++;
        }
    }
    if (count == 0) {
        printf("no peers\n");
    }
}

/* Plain TEXT: to every live peer (one still connecting gets it once it
 * is connected). */
static void send_to_all(struct node *n, const char *text, size_t len)
{
    int count = 0;
    for (size_t i = 0; i < MAX_PEERS; i++) {
        struct peer *p = &n->peers[i];
        if (p->id != 0 && !p->closing) {
            queue_text(p, text, len);
            count++;
        }
    }
    if (count == 0) {
        fprintf(stderr, "no peers yet: /connect HOST PORT\n");
    }
}

/* One line typed on stdin (LEN bytes; it may hold NULs). Mistakes get
 * the list of commands on stderr; none of them stops the node. */
static void run_command(struct node *n, char *line, size_t len)
{
    char *text = memchr(line, ' ', len);
    if (line[0] == '@' && text != NULL) {
        *text++ = '\0';
        struct peer *p = find_peer(n, line + 1);
        if (p != NULL) {
            queue_text(p, text, len - (size_t)(text - line));
        }
        return;
    }
    if (line[0] != '/' && line[0] != '@') {
        send_to_all(n, line, len);
        return;
    }
    char *save = NULL;
    char *cmd = strtok_r(line, " \t", &save);
    char *arg = strtok_r(NULL, " \t", &save);
    char *arg2 = strtok_r(NULL, " \t", &save);
    int more = strtok_r(NULL, " \t", &save) != NULL;
    struct peer *p;
    if (!strcmp(cmd, "/connect") && arg2 && !more && net_parse_port(arg2) > 0) {
        start_connect(n, arg, arg2);
    } else if (!strcmp(cmd, "/peers") && !arg) {
        list_peers(n);
    } else if (!strcmp(cmd, "/close") && arg && !arg2) {
        if ((p = find_peer(n, arg)) != NULL) {
            printf("[%llu] closed\n", p->id);
            begin_close(p);
        }
    } else if (!strcmp(cmd, "/quit") && !arg) {
        n->quit = 1;
    } else {
        fprintf(stderr, "%s\n", COMMANDS);
    }
}

/* Run each whole line waiting in N->typed. A line longer than LINE_LIMIT
 * is refused, and its rest (up to its newline) skipped. */
static void run_lines(struct node *n)
{
    char line[LINE_LIMIT + 1];
    size_t len;
    while (!n->quit && buf_len(&n->typed) > 0) {
        if (n->skipping) {
            char *start = buf_data(&n->typed);
            char *nl = memchr(start, '\n', buf_len(&n->typed));
            n->skipping = nl == NULL;
            buf_consume(&n->typed,
                        nl ? (size_t)(nl - start) + 1 : buf_len(&n->typed));
            continue;
        }
        enum line_result r = buf_take_line(&n->typed, line, &len);
        if (r == LINE_EOF) {
            return;
        }
        if (r == LINE_TOO_LONG) {
            fprintf(stderr, "line too long (limit %d bytes): not sent\n",
                    LINE_LIMIT - 1);
            n->skipping = 1;
        } else {
            run_command(n, line, len);
        }
    }
}

/* Read what stdin has now and run its lines. read() on the non-blocking
 * stdin says EAGAIN when nothing was typed. EOF (Ctrl-D) is /quit, after
 * a last line without its newline. */
static int read_stdin(struct node *n)
{
    char *room = buf_reserve(&n->typed, CHUNK);
    ssize_t got = room != NULL ? read(STDIN_FILENO, room, CHUNK) : -1;
    if (got < 0 &&
        (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return 0;
    }
    if (got > 0) {
        buf_commit(&n->typed, (size_t)got);
    } else if (got == 0 && buf_len(&n->typed) > 0 && !n->skipping) {
        buf_append(&n->typed, "\n", 1); /* room was reserved above */
    } else if (got < 0) {
        warn_errno("stdin");
    }
    run_lines(n);
    n->quit |= got <= 0;
    return 1;
}

/* Has P's connect finished? SO_ERROR holds (and clears) the error of a
 * failed handshake; 0 means "done or not yet", and getpeername tells
 * which (ENOTCONN until the handshake is done). A failure moves on to the
 * next address; after the last, it is reported and nothing stays open. */
static int check_connect(struct peer *p)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
        err = errno;
    }
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof ss;
    if (err == 0 && getpeername(p->fd, (struct sockaddr *)&ss, &sslen) < 0) {
        if (errno == ENOTCONN) {
            return 0; /* SYN sent, no answer yet */
        }
        err = errno;
    }
    if (err == 0) {
        p->connecting = 0;
        freeaddrinfo(p->ai_list);
        p->ai_list = p->ai_next = NULL;
        printf("[%llu] connected to %s\n", p->id, p->addr);
        return 1;
    }
    close(p->fd);
    p->fd = -1;
    err = try_next_address(p, err);
    if (err != 0) {
        connect_failed(p, err);
    }
    return 1;
}

/* Print each whole line in P's input as "[ID] TEXT" (control bytes shown
 * as '?'). A line over LINE_LIMIT gets an error line, and P is dropped. */
static void print_lines(struct peer *p)
{
    static const char too_long[] = "error: line too long";
    char line[LINE_LIMIT + 1], prefix[32];
    size_t len;
    enum line_result r;
    snprintf(prefix, sizeof prefix, "[%llu] ", p->id);
    while ((r = buf_take_line(&p->in, line, &len)) == LINE_OK) {
        print_text(prefix, line, len);
    }
    if (r == LINE_TOO_LONG) {
        printf("[%llu] line too long (limit %d bytes): dropped\n", p->id,
               LINE_LIMIT - 1);
        queue_text(p, too_long, sizeof too_long - 1);
        if (p->id != 0) {
            begin_close(p);
        }
    }
}

/* One recv from P. 0 is the peer's FIN (a last line without its newline
 * still counts), an error (ECONNRESET) ends it too; both are reported
 * unless we were closing it anyway. */
static int receive(struct peer *p)
{
    char *room = buf_reserve(&p->in, CHUNK);
    ssize_t got = room != NULL ? recv(p->fd, room, CHUNK, 0) : -1;
    if (got < 0 &&
        (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return 0;
    }
    if (got == 0 && !p->closing) {
        if (buf_len(&p->in) > 0 && buf_append(&p->in, "\n", 1) == 0) {
            print_lines(p);
        }
        printf("[%llu] closed\n", p->id);
    } else if (got < 0 && !p->closing) {
        printf("[%llu] closed (%s)\n", p->id, errno_name(errno));
    }
    if (got <= 0) {
        free_peer(p);
    } else if (!p->closing) { /* a closing peer's bytes are dropped */
        buf_commit(&p->in, (size_t)got);
        print_lines(p);
    }
    return 1;
}

/* Send what is queued for P, as much as the socket takes now (EAGAIN: its
 * send buffer is full; try next pass). SIGPIPE is ignored (see
 * install_stop_handlers), so a vanished peer is EPIPE here. A closing peer gets
 * its FIN once all is sent. */
static int flush_peer(struct peer *p)
{
    if (buf_len(&p->out) == 0) {
        if (p->closing != 1) {
            return 0;
        }
        shutdown(p->fd, SHUT_WR);
        p->closing = 2;
        return 1;
    }
    ssize_t sent = send(p->fd, buf_data(&p->out), buf_len(&p->out), 0);
    if (sent >= 0) {
        buf_consume(&p->out, (size_t)sent);
        return 1;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        return 0;
    }
    if (!p->closing) {
        printf("[%llu] closed (%s)\n", p->id, errno_name(errno));
    }
    free_peer(p);
    return 1;
}

/* One pass's turn for one peer. */
static int service_peer(struct peer *p)
{
    if (p->connecting) {
        return check_connect(p);
    }
    if (p->closing && now_seconds() >= p->close_by) {
        free_peer(p); /* it never sent its FIN */
        return 1;
    }
    int busy = receive(p);
    if (p->id != 0) {
        busy |= flush_peer(p);
    }
    return busy;
}

/* The loop: each pass tries the listener, stdin and every peer once.
 * Without the nap an idle node would spin at 100% CPU asking "anything
 * yet?"; with it, an event waits up to 10 ms. Chapter 3 lets the kernel
 * say which descriptor is ready instead. */
static void run(struct node *n)
{
    while (!stop_requested && !n->quit) {
        int busy = accept_peer(n);
        busy |= read_stdin(n);
        for (size_t i = 0; i < MAX_PEERS && !n->quit; i++) {
            if (n->peers[i].id != 0) {
                busy |= service_peer(&n->peers[i]);
            }
        }
        if (!busy) {
            struct timespec nap = {.tv_sec = 0, .tv_nsec = IDLE_NS};
            nanosleep(&nap, NULL); /* EINTR: a signal; the loop checks */
        }
    }
}

/* On the way out: one last try at what is queued (the socket takes what
 * fits, without waiting), then close everything. */
static void close_all(struct node *n)
{
    for (size_t i = 0; i < MAX_PEERS; i++) {
        struct peer *p = &n->peers[i];
        if (p->id != 0 && !p->connecting && buf_len(&p->out) > 0) {
            send(p->fd, buf_data(&p->out), buf_len(&p->out), 0);
        }
        if (p->id != 0) {
            free_peer(p);
        }
    }
    buf_free(&n->typed);
    close(n->listen_fd);
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

    struct node n = {.next_id = 1}; /* the rest zero: slots free */
    n.listen_fd = net_listen(NULL, argc == 2 ? argv[1] : DEFAULT_PORT, BACKLOG);
    if (n.listen_fd < 0) {
        return 1; /* net_listen said why */
    }
    if (set_nonblocking(n.listen_fd) < 0) {
        die_errno("fcntl O_NONBLOCK");
    }
    char addr[NET_ADDRSTRLEN];
    printf("listening on %s\n", net_local_str(n.listen_fd, addr, sizeof addr));

    /* O_NONBLOCK belongs to the open file description, not to fd 0: the
     * shell that started us shares it (and in a terminal fds 0, 1 and 2
     * are usually one description, so stdout turns non-blocking too).
     * Left on, the next program to read this terminal or pipe gets EAGAIN.
     * So the old flags go back on every way out: /quit, EOF, SIGINT and
     * SIGTERM all return through here (after SIGKILL nothing can). */
    int stdin_flags = fcntl(STDIN_FILENO, F_GETFL);
    if (stdin_flags < 0 ||
        fcntl(STDIN_FILENO, F_SETFL, stdin_flags | O_NONBLOCK) < 0) {
        warn_errno("fcntl stdin");
        close(n.listen_fd);
        return 1;
    }
    run(&n);
    close_all(&n);
    fcntl(STDIN_FILENO, F_SETFL, stdin_flags);
    return 0;
}
