/*
 * c2s_server - chapter 2's chat server on epoll: one thread, one loop,
 * asleep in epoll_pwait until some descriptor is ready.
 *
 * Usage: c2s_server [PORT]             (default 10086; 0 picks a free port)
 *
 * Protocol: chapter 2's, to the byte: a client's line is printed here as
 * "[ID] TEXT" and sent to every other client; a line typed here goes to
 * every client as "[server] TEXT", or to one with "@ID TEXT"; "/list"
 * lists the clients.
 * Pairs with: 02_nonblocking/c2s_client (or `nc localhost 10086`).
 * Try it:   ./build/03_epoll/c2s_server
 *           ./build/02_nonblocking/c2s_client        (in two more terminals)
 * What to notice:
 *   - no pass over every descriptor, no 10 ms nap: epoll names the ready
 *     ones, and an idle server uses no CPU at all;
 *   - stdin is one more descriptor in the interest list, and needs no
 *     O_NONBLOCK: one read per readiness never blocks;
 *   - EPOLLOUT is watched only while a client's queue is not empty;
 *   - out of descriptors (EMFILE), a spare one keeps accept from spinning.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

/*
 * The protocol, exactly: see the comment at the top of
 * 02_nonblocking/c2s_server.c. The functions that speak it are that
 * file's, nearly line for line, so that a diff of the two shows what epoll
 * changes; tests/03_epoll/c2s_*.pair run chapter 2's scenarios here.
 */
#define DEFAULT_PORT "10086" /* the original tour's port */
#define BACKLOG 16           /* connections the kernel queues for accept */
#define MAX_CLIENTS 32       /* chapter 2's limit, kept so that both agree */
#define TEXT_LIMIT 1000      /* longest text: "[ID] " + text fits LINE_LIMIT */
#define OUT_LIMIT (1 << 20)  /* bytes queued for one client before the drop */
#define CHUNK 4096           /* bytes read from one descriptor per wake-up */
#define LINGER_MS 1000       /* how long a leaving client may take to close */
#define MAX_EVENTS 64        /* ready descriptors taken from one epoll_pwait */
#define TAG_LISTEN MAX_CLIENTS      /* epoll data.u32 of the listener; */
#define TAG_STDIN (MAX_CLIENTS + 1) /* of stdin; of a client: its slot */

/* Where a client is in its life. DROP and BYE are set while a batch of
 * events is served (by anyone) and acted on by end_of_batch, so that
 * nothing is freed while a loop is still looking at it. */
enum state {
    FREE,     /* slot unused */
    CHATTING, /* reading its lines, getting everyone's */
    DROP,     /* must go now: closed at the end of this batch */
    BYE,      /* must go after its last line: lingers from now on */
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
    uint32_t watched;          /* the events epoll watches it for now */
    int fin_sent;              /* LINGER: shutdown(SHUT_WR) done */
    long long deadline;        /* LINGER: when to stop waiting for it */
};

/* How stdin is read: see watch_stdin. */
enum stdin_mode { STDIN_DONE, STDIN_WATCHED, STDIN_POLLED };

struct server {
    int listen_fd;              /* non-blocking listening socket */
    int ep_fd;                  /* the epoll instance: the interest list */
    int spare_fd;               /* /dev/null, given up to accept at EMFILE */
    int accept_failing;         /* accept's last error was reported */
    enum stdin_mode stdin_mode; /* watched, read without asking, or done */
    int stdin_skip;             /* discarding the rest of a too-long line */
    struct byte_buf stdin_buf;  /* typed bytes, not yet a whole line */
    unsigned long long next_id; /* the ID the next client gets */
    struct client clients[MAX_CLIENTS];
};

static void usage(FILE *out)
{
    fprintf(out, "usage: c2s_server [PORT]\n");
}

/* Milliseconds on the monotonic clock (the wall clock can jump). */
static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Keep SIGINT and SIGTERM blocked except inside epoll_pwait, and store
 * the mask it sleeps under in *WAIT_MASK. Checking stop_requested and then
 * sleeping would lose a signal landing in between (the server would sleep
 * on until a client spoke); blocked, it stays pending, and epoll_pwait
 * lets it in atomically with going to sleep, so it returns EINTR at once.
 * The whole story: 03_epoll/select_server.c. (signalfd would work as well:
 * the signal becomes a readable descriptor in the interest list.) */
static void block_stop_signals(sigset_t *wait_mask)
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

/* Whether SIGINT or SIGTERM asked us to stop: the flag, or the signal
 * still pending. epoll_pwait lets it in only when it sleeps; with events
 * ready it returns them and blocks it again, so under steady load the
 * flag is never set and the loop would run on for as long as the load
 * lasts (found by tests/hostile --term-busy). One sigpending() a turn, as
 * echo_stop_requested in echo.c (select_server.c tells the story). */
static int stop_pending(void)
{
    sigset_t pending;
    return stop_requested ||
           (sigpending(&pending) == 0 && (sigismember(&pending, SIGINT) == 1 ||
                                          sigismember(&pending, SIGTERM) == 1));
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

/* Queue "PREFIX TEXT\n" for C. Nothing is sent here: end_of_batch sends,
 * as much as the socket takes. A client with OUT_LIMIT bytes already
 * waiting is not reading; it is dropped rather than let grow. */
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
    c->watched = EPOLLIN; /* as accept_client registered it */
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
 * line, FIN, read what the client sent already, close (see
 * 02_nonblocking/c2s_server.c: so that it reads the line, not a reset). */
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

/* accept said EMFILE (or ENFILE): no descriptor for the connection, so it
 * stays queued and the listener stays readable. Chapter 2 left it there
 * (its loop polled anyway); level-triggered epoll would report it again
 * at once, for ever: 100% CPU doing nothing. So one descriptor is kept in
 * reserve, open on /dev/null: give it up, accept the connection into it,
 * refuse it as when full, and take the reserve back (the number just freed
 * is the lowest free one, so open gets it again). */
static void shed_one(struct server *s)
{
    if (s->spare_fd < 0) { /* ENFILE kept it last time: try again */
        s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        return;
    }
    close(s->spare_fd);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = accept(s->listen_fd, (struct sockaddr *)&ss, &len);
    if (fd >= 0) {
        char addr[NET_ADDRSTRLEN];
        refuse(fd,
               net_addr_str((struct sockaddr *)&ss, len, addr, sizeof addr));
    }
    s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* The listener is readable: accept one connection and register it for
 * EPOLLIN, its slot number as epoll's data. One, not all: if more wait,
 * level-triggered epoll says so again. (Looping until EAGAIN would also
 * meet a false EMFILE: accept takes a descriptor number before it looks
 * at the queue, so with the last one in use it fails even when empty.) */
static void accept_client(struct server *s)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = accept(s->listen_fd, (struct sockaddr *)&ss, &len);
    if (fd < 0) {
        /* EAGAIN: none after all. ECONNABORTED: it gave up. Others
         * (EMFILE) may last a while: say so once per streak. */
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
            errno != ECONNABORTED && !s->accept_failing) {
            warn_errno("accept"); /* errno is kept */
            s->accept_failing = 1;
        }
        if (errno == EMFILE || errno == ENFILE) {
            shed_one(s);
        }
        return;
    }
    s->accept_failing = 0;
    char addr[NET_ADDRSTRLEN];
    net_addr_str((struct sockaddr *)&ss, len, addr, sizeof addr);
    int slot = 0;
    while (slot < MAX_CLIENTS && s->clients[slot].state != FREE) {
        slot++;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)slot};
    /* Not inherited from the listening socket on Linux: ask. */
    if (slot == MAX_CLIENTS || set_nonblocking(fd) < 0 ||
        epoll_ctl(s->ep_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        refuse(fd, addr);
    } else {
        welcome(s, &s->clients[slot], fd, addr);
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

/* stdin is readable: one read, then every whole line. Chapter 2 had to
 * make stdin non-blocking (the shell's terminal with it) and restore it on
 * every way out; here one read per readiness cannot block, since readable
 * means it returns at once (bytes, or 0 at EOF), and more is reported
 * again: stdin's flags are never touched. At EOF we stop watching it but
 * keep serving, as chapter 2 does. */
static void read_stdin(struct server *s)
{
    char *room = buf_reserve(&s->stdin_buf, CHUNK);
    ssize_t n = room == NULL ? -1 : read(STDIN_FILENO, room, CHUNK);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return; /* someone else's O_NONBLOCK, and another reader was first */
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
    if (n <= 0) { /* done with it: at EOF a pipe would be ready forever */
        if (s->stdin_mode == STDIN_WATCHED) {
            epoll_ctl(s->ep_fd, EPOLL_CTL_DEL, STDIN_FILENO, NULL);
        }
        s->stdin_mode = STDIN_DONE;
    }
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

/* Client C is readable: one recv of at most CHUNK bytes (so a client that
 * sends without pause cannot starve the others: level-triggered epoll
 * reports the rest next time), then every whole line in its buffer. */
static void read_client(struct server *s, struct client *c)
{
    char *room = buf_reserve(&c->in, CHUNK);
    ssize_t n = room == NULL ? -1 : recv(c->fd, room, CHUNK, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return; /* a spurious wake-up: nothing after all */
    }
    if (n < 0) {
        mark(c, DROP, "closed (%s)", errno_name(errno));
        return;
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
}

/* Send as much of C's queue as the socket takes now. Returns 0, or -1 on
 * an error (errno says which); EAGAIN is no error: EPOLLOUT says when. */
static int flush(struct client *c)
{
    while (buf_len(&c->out) > 0) {
        ssize_t n = send(c->fd, buf_data(&c->out), buf_len(&c->out), 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) { /* EAGAIN: its send buffer is full */
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        }
        buf_consume(&c->out, (size_t)n);
    }
    return 0;
}

/* Free C's slot. close() also takes the socket out of the interest list
 * (no other descriptor refers to it). */
static void close_client(struct client *c)
{
    close(c->fd);
    buf_free(&c->in);
    buf_free(&c->out);
    memset(c, 0, sizeof *c);
}

/* A client that has left: send what is still queued for it (its error
 * line), then FIN, then read and discard until its own FIN (or an error,
 * or LINGER_MS), so that it reads our last line rather than a reset. One
 * step per call: when READABLE (epoll said so), or to try sending. */
static void linger(struct client *c, int readable, long long now)
{
    int gone = flush(c) < 0; /* EPIPE, ECONNRESET: nobody to wait for */
    if (!gone && buf_len(&c->out) == 0 && !c->fin_sent) {
        shutdown(c->fd, SHUT_WR);
        c->fin_sent = 1;
    }
    if (!gone && readable) {
        char sink[CHUNK];
        ssize_t n = recv(c->fd, sink, sizeof sink, 0);
        int quiet = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
        gone = (n == 0 && c->fin_sent) || (n < 0 && !quiet && errno != EINTR);
    }
    if (gone || now > c->deadline) {
        close_client(c);
    }
}

/* Clients marked DROP are closed, clients marked BYE start lingering, and
 * the others hear "[server] ID left". Returns 1 if anyone left. */
static int leave(struct server *s, long long now)
{
    int left = 0;
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
        left = 1;
    }
    return left;
}

/* Tell epoll what C waits for now, if that changed (each change is a
 * system call): a chatting client, its lines; a lingering one, its FIN
 * once its queue is empty; both, room to send while it is not. */
static int watch(struct server *s, struct client *c)
{
    uint32_t want = buf_len(&c->out) > 0 ? EPOLLOUT : 0;
    if (c->state == CHATTING || want == 0) {
        want |= EPOLLIN;
    }
    struct epoll_event ev = {.events = want,
                             .data.u32 = (uint32_t)(c - s->clients)};
    if (want != c->watched &&
        epoll_ctl(s->ep_fd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
        return -1;
    }
    c->watched = want;
    return 0;
}

/* After a batch of events: what it queued goes out now, as far as each
 * socket takes it (usually all: no EPOLLOUT needed), leavers leave (which
 * queues "left" lines, and may push another over OUT_LIMIT: hence the
 * loop), and epoll is told what each client waits for. */
static void end_of_batch(struct server *s)
{
    long long now = now_ms();
    do {
        for (int i = 0; i < MAX_CLIENTS; i++) {
            struct client *c = &s->clients[i];
            if (c->state == CHATTING && (flush(c) < 0 || watch(s, c) < 0)) {
                mark(c, DROP, "closed (%s)", errno_name(errno));
            } else if (c->state == LINGER) {
                linger(c, 0, now);
            }
            if (c->state == LINGER && watch(s, c) < 0) {
                close_client(c);
            }
        }
    } while (leave(s, now));
}

/* How long epoll_pwait may sleep: for ever (-1) when idle; until the
 * first lingering client's deadline; not at all while stdin is a file. */
static int next_timeout(const struct server *s)
{
    if (s->stdin_mode == STDIN_POLLED) {
        return 0;
    }
    long long now = now_ms(), timeout = -1;
    for (int i = 0; i < MAX_CLIENTS; i++) {
        const struct client *c = &s->clients[i];
        long long left = c->deadline - now + 1;
        if (c->state == LINGER && (timeout < 0 || left < timeout)) {
            timeout = left > 0 ? left : 0;
        }
    }
    return (int)timeout;
}

/* One ready descriptor, dispatched on the events epoll_wait returned.
 * EPOLLERR and EPOLLHUP need no asking and count as readable: recv then
 * reports the error, or EOF. A client that is not chatting or lingering
 * (marked DROP or BYE earlier in this batch) waits for end_of_batch. */
static void dispatch(struct server *s, const struct epoll_event *ev)
{
    int readable = (ev->events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0;
    if (ev->data.u32 == TAG_LISTEN) {
        accept_client(s);
    } else if (ev->data.u32 == TAG_STDIN) {
        read_stdin(s);
    } else {
        struct client *c = &s->clients[ev->data.u32];
        if (c->state == CHATTING && readable) {
            read_client(s, c);
        }
        if (c->state == CHATTING && (ev->events & EPOLLOUT) && flush(c) < 0) {
            mark(c, DROP, "closed (%s)", errno_name(errno));
        }
        if (c->state == LINGER) {
            linger(c, readable, now_ms());
        }
    }
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
    if (s->spare_fd >= 0) { /* -1 if ENFILE kept it from us */
        close(s->spare_fd);
    }
    close(s->ep_fd);
}

/* Put stdin in the interest list. A terminal, a pipe or a socket can be
 * watched. A regular file (or /dev/null) cannot: it is always ready, so
 * epoll_ctl says EPERM (select and poll would say "readable" every time).
 * Such a stdin is read without asking, once per turn of the loop, until
 * its EOF: a zero timeout meanwhile, then back to sleeping. No stdin at
 * all (fd 0 closed, so that epoll_create1 got that number) is like one at
 * its end, silently. */
static enum stdin_mode watch_stdin(int ep_fd)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = TAG_STDIN};
    if (ep_fd == STDIN_FILENO) {
        return STDIN_DONE;
    }
    if (epoll_ctl(ep_fd, EPOLL_CTL_ADD, STDIN_FILENO, &ev) == 0) {
        return STDIN_WATCHED;
    }
    if (errno == EPERM) {
        return STDIN_POLLED;
    }
    warn_errno("epoll_ctl ADD stdin");
    return STDIN_DONE;
}

/* The command line: [PORT]. Returns -1 to go on, or the exit status (0
 * after --help, 2 after a usage error). */
static int parse_args(int argc, char **argv, const char **port)
{
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        return 0;
    }
    if (argc > 2 || (argc == 2 && net_parse_port(argv[1]) < 0)) {
        usage(stderr);
        return 2;
    }
    *port = argc == 2 ? argv[1] : DEFAULT_PORT;
    return -1;
}

/* Set up the epoll instance, stdin, the listening socket (non-blocking:
 * a client that gives up between "readable" and accept must not leave us
 * blocked in it) and the spare descriptor. Returns 0, or -1 if the port
 * cannot be had (net_listen said why). */
static int open_server(struct server *s, const char *port)
{
    s->ep_fd = epoll_create1(EPOLL_CLOEXEC);
    if (s->ep_fd < 0) {
        die_errno("epoll_create1");
    }
    s->stdin_mode = watch_stdin(s->ep_fd);
    s->listen_fd = net_listen(NULL, port, BACKLOG);
    if (s->listen_fd < 0) {
        close(s->ep_fd);
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = TAG_LISTEN};
    if (set_nonblocking(s->listen_fd) < 0 ||
        epoll_ctl(s->ep_fd, EPOLL_CTL_ADD, s->listen_fd, &ev) < 0) {
        die_errno("listening socket");
    }
    s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC); /* see shed_one */
    if (s->spare_fd < 0) {
        die_errno("open /dev/null");
    }
    char addr[NET_ADDRSTRLEN];
    printf("listening on %s\n", net_local_str(s->listen_fd, addr, sizeof addr));
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct server s = {.next_id = 1}; /* the rest zero: every slot FREE */
    const char *port = NULL;
    int status = parse_args(argc, argv, &port);
    if (status >= 0) {
        return status;
    }
    install_stop_handlers();
    sigset_t wait_mask;
    block_stop_signals(&wait_mask);
    if (open_server(&s, port) < 0) {
        return 1;
    }

    /* The loop: sleep until something is ready (or a lingering client's
     * deadline comes), serve what is, then send what that queued. */
    struct epoll_event ready[MAX_EVENTS];
    status = 0;
    while (!stop_pending()) {
        int n = epoll_pwait(s.ep_fd, ready, MAX_EVENTS, next_timeout(&s),
                            &wait_mask);
        if (n < 0 && errno != EINTR) {
            warn_errno("epoll_pwait");
            status = 1;
            break;
        }
        for (int i = 0; i < n; i++) {
            dispatch(&s, &ready[i]);
        }
        if (s.stdin_mode == STDIN_POLLED) {
            read_stdin(&s);
        }
        end_of_batch(&s);
    }
    stop_all(&s);
    return status;
}
