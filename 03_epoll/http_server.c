#define _DEFAULT_SOURCE /* SO_REUSEPORT: glibc hides it under strict POSIX */
/*
 * http_server - an HTTP/1.1 file server on the reactor, one loop a thread.
 *
 * Usage: http_server [-q] [--threads N] [PORT [DOCROOT]]
 *        (default 8080 and this tour's docs/; -q: no connection log)
 *
 * Protocol: HTTP/1.1 (docs/http.md): GET and HEAD of files under DOCROOT,
 * OPTIONS, POST /echo; keep-alive and pipelining; many clients at once.
 * Pairs with: curl, ab, wrk, a browser, 01_blocking/http_client.
 * Try it:   ./build/03_epoll/http_server --threads 2
 *           curl -v http://localhost:8080/    (or open it in a browser)
 *           wrk -c 50 -d 5 http://localhost:8080/index.html
 * What to notice:
 *   - the HTTP decisions are common/http's; this file is the callbacks of
 *     one connection on reactor.c's loop;
 *   - no allocation per request: a request is read into the loop's scratch
 *     buffer and answered from there; an idle connection holds no buffer;
 *   - each loop keeps a file cache (common/http_cache.c): a small file's
 *     bytes and head, a large file's descriptor, so a repeated GET is a
 *     recv and a sendmsg (and a sendfile for a large file);
 *   - large files go out with sendfile(2), page cache to socket;
 *   - --threads N: N loops, each with its own SO_REUSEPORT listener.
 */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "http.h"
#include "reactor.h"

#define DEFAULT_PORT "8080"
#define BACKLOG 4096             /* handshakes queued (capped by somaxconn) */
#define MAX_THREADS 64           /* --threads, at most */
#define IDLE_TIMEOUT_MS 5000     /* wait for the next keep-alive request */
#define REQUEST_TIMEOUT_MS 10000 /* a whole request, from its first byte */
#define SEND_TIMEOUT_MS 10000    /* a client that takes none of the answer */
#define FLUSH_MS 10000           /* closing: the last answer goes by then */
#define LINGER_MS 1000           /* after our FIN, wait this long for theirs */
#define LINGER_BYTES 65536       /* ... and discard at most this much */
#define RECV_CHUNK 65536         /* the scratch buffer: bytes one recv asks */
#define SMALL_FILE 16384         /* read, not sendfile, files up to this */
#define SENDFILE_CHUNK 524288    /* bytes one sendfile call asks */
#define ANSWERS_PER_TURN 64      /* pipelined requests answered per event */
#define FDS_RESERVED 4           /* stdio and the signalfd */
#define FDS_PER_LOOP 5           /* epoll, timerfd, eventfd, listener, spare */
#define FDS_CACHED HTTP_CACHE_SLOTS /* ... and the cache's large files */
#define FILE_RESERVE 64             /* descriptors kept for files being sent */
/* The largest request: the longest head, and the largest body. */
#define REQUEST_MAX (HTTP_MAX_HEAD + HTTP_MAX_BODY)

/* What the server says to a client it has no room for. */
#define REFUSAL                                                                \
    "HTTP/1.1 503 Service Unavailable\r\nServer: tour-ch03-http\r\n"           \
    "Content-Length: 0\r\nConnection: close\r\n\r\n"

/* What every loop shares: read-only but for the atomic counter. */
struct shared {
    struct http_site site; /* the document root and the Server name */
    atomic_int next_id;    /* [id] of the next connection, in any loop */
    bool quiet;            /* -q: no connection log */
};

/* One loop and its thread. */
struct worker {
    struct reactor *loop;
    struct shared *sh;
    struct http_cache *cache; /* this loop's own: no locks */
    pthread_t thread;         /* (loop 0 runs in the main thread) */
    int count;                /* connections open in this loop */
    int max_conns;            /* more are refused with 503 */
    bool stopping;            /* reactor_free is closing what is left */
    char scratch[RECV_CHUNK]; /* every recv of this loop lands here */
    char small[SMALL_FILE];   /* a small file, on its way out */
};

/* Where a connection is in its life. */
enum phase {
    OPEN,   /* answering requests */
    FLUSH,  /* closing: the last answer goes out, input is discarded */
    LINGER, /* our FIN is sent: waiting briefly for the peer's */
};

/* One connection (its channel's user pointer): about 160 bytes while idle,
 * since both buffers are freed whenever they are empty. */
struct conn {
    struct channel *ch;  /* its channel in the loop */
    struct worker *w;    /* its loop */
    int id;              /* [id] in the log */
    enum phase phase;    /* see above */
    bool eof;            /* the peer has finished sending (recv gave 0) */
    bool close_after;    /* the answer going out ends the connection */
    bool sent_continue;  /* "100 Continue" went out for this request */
    bool yielded;        /* serve() stopped at ANSWERS_PER_TURN with more
                            input in `in`: answers still to make */
    struct byte_buf in;  /* requests not yet answered, or not yet whole */
    struct byte_buf out; /* answer bytes the socket has not taken yet */
    int file_fd;         /* the file being sent, or -1 */
    off_t file_off;      /* where sendfile goes on in it */
    off_t file_left;     /* bytes of it still to send */
    long long started;   /* when this request's first byte came; 0: none */
    long long progress;  /* when the answer last moved (send timeout) */
    long long close_by;  /* FLUSH, LINGER: close at this time anyway */
    size_t discarded;    /* FLUSH, LINGER: input bytes thrown away */
    const char *why;     /* the reason logged at close; NULL: normal */
};

static void usage(FILE *out)
{
    fprintf(out, "usage: http_server [-q] [--threads N] [PORT [DOCROOT]]\n");
}

/* A line of the connection log on stdout, unless -q. */
TOUR_PRINTF(2, 3)
static void log_event(const struct worker *w, const char *fmt, ...)
{
    if (!w->sh->quiet) {
        va_list ap;
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
    }
}

static long long now(const struct conn *c)
{
    return reactor_now(c->ch->loop);
}

/* Whether answer bytes wait: in the buffer, or in the file; or answers
 * still to be made, after serve() yielded (EPOLLOUT, writable at once,
 * brings the connection back next turn). */
static bool pending(const struct conn *c)
{
    return buf_len(&c->out) > 0 || c->file_left > 0 || c->yielded;
}

/* Whether C reads now. OPEN: only while no answer is pending, so
 * pipelined requests wait in the socket (back-pressure) and are answered
 * in order. Closing: always, to discard, until the peer's EOF. */
static bool reading(const struct conn *c)
{
    return !c->eof &&
           (c->phase != OPEN || (!pending(c) && buf_len(&c->in) < REQUEST_MAX));
}

/* Have C closed and freed after this batch (reactor.h); WHY is logged. */
static void finish(struct conn *c, const char *why)
{
    c->why = why;
    channel_close(c->ch);
}

/* A failed recv or send: true for "try again later", else the connection
 * is finished (a vanished peer is ECONNRESET or EPIPE). */
static bool again(struct conn *c, int err)
{
    if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR) {
        return true;
    }
    finish(c, err == ECONNRESET ? "connection reset" : errno_name(err));
    return false;
}

/* The last byte is out: our FIN, then a moment (LINGER) for the peer's,
 * discarding what it still sends: closing with unread input would send a
 * reset, which can destroy the answer before the peer has read it. */
static void shut_write(struct conn *c)
{
    shutdown(c->ch->fd, SHUT_WR);
    if (c->eof) {
        finish(c, NULL);
        return;
    }
    c->phase = LINGER;
    if (c->close_by > now(c) + LINGER_MS) {
        c->close_by = now(c) + LINGER_MS;
    }
}

/* Close gracefully: no more requests; what is pending still goes out,
 * for FLUSH_MS at most, then shut_write. */
static void begin_close(struct conn *c)
{
    if (c->ch->closed || c->phase != OPEN) {
        return;
    }
    c->phase = FLUSH;
    c->close_by = now(c) + FLUSH_MS;
    buf_free(&c->in);
    if (!pending(c)) {
        shut_write(c);
    }
}

/* Send what is pending as far as the socket takes it: the output buffer,
 * then the file, with sendfile(2): from the page cache to the socket,
 * never through our memory. A short count means the socket is full:
 * EPOLLOUT says when to go on. Returns false if the connection failed. */
static bool send_out(struct conn *c)
{
    size_t want = buf_len(&c->out);
    if (want > 0) {
        int more = c->file_left > 0 ? MSG_MORE : 0; /* see start_answer */
        ssize_t n =
            send(c->ch->fd, buf_data(&c->out), want, MSG_NOSIGNAL | more);
        if (n < 0) {
            return again(c, errno);
        }
        buf_consume(&c->out, (size_t)n);
        c->progress = now(c);
        if ((size_t)n < want) {
            return true;
        }
        buf_free(&c->out); /* no storage kept between answers */
    }
    while (c->file_left > 0) {
        want = c->file_left < SENDFILE_CHUNK ? (size_t)c->file_left
                                             : SENDFILE_CHUNK;
        ssize_t n = sendfile(c->ch->fd, c->file_fd, &c->file_off, want);
        if (n < 0) {
            return again(c, errno);
        }
        if (n == 0) { /* the file shrank since it was opened */
            finish(c, "file shrank");
            return false;
        }
        c->file_left -= n;
        c->progress = now(c);
        if ((size_t)n < want) {
            return true;
        }
    }
    if (c->file_fd >= 0) {
        close(c->file_fd);
        c->file_fd = -1;
    }
    return true;
}

/* Send the COUNT buffers of IOV in one call, and keep in the output
 * buffer what the socket does not take. MORE: a file follows. */
static bool emit(struct conn *c, struct iovec *iov, int count, bool more)
{
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = count};
    ssize_t n = sendmsg(c->ch->fd, &msg, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
    if (n < 0 && !again(c, errno)) {
        return false;
    }
    size_t sent = n > 0 ? (size_t)n : 0;
    for (int i = 0; i < count; i++) {
        if (sent >= iov[i].iov_len) { /* all of it went (or it is empty) */
            sent -= iov[i].iov_len;
        } else if (buf_append(&c->out, (char *)iov[i].iov_base + sent,
                              iov[i].iov_len - sent) < 0) {
            finish(c, "out of memory");
            return false;
        } else {
            sent = 0;
        }
    }
    c->progress = now(c);
    return true;
}

/* Start sending PLAN: head and body in one call, and then the file, if
 * any. A small file is read and goes with the head: for a few bytes,
 * read and one sendmsg cost less than sendfile, whose splice machinery
 * pays off only for larger files. Before a large one, the head goes with
 * MSG_MORE, so the kernel holds it until sendfile's first bytes join it
 * (TCP_CORK would do the same for two more system calls). Of the 9 KiB
 * plan, only the file descriptor is kept, and how far it has gone. */
static void start_answer(struct conn *c, struct http_plan *plan)
{
    struct iovec iov[2] = {
        {.iov_base = plan->head, .iov_len = plan->head_len},
        {.iov_base = (void *)(uintptr_t)plan->body, .iov_len = plan->body_len},
    };
    bool file = plan->fd >= 0 && plan->file_len > 0;
    c->close_after = !plan->keep_alive;
    if (file && plan->file_len <= SMALL_FILE) {
        ssize_t n = pread(plan->fd, c->w->small, (size_t)plan->file_len, 0);
        if (n != plan->file_len) { /* an error, or it shrank */
            finish(c, n < 0 ? errno_name(errno) : "file shrank");
            return;
        }
        iov[1] = (struct iovec){.iov_base = c->w->small, .iov_len = (size_t)n};
        file = false;
    }
    if (!emit(c, iov, 2, file) || !file) {
        return;
    }
    c->file_fd = plan->fd;
    plan->fd = -1; /* ours now: http_plan_free leaves it open */
    c->file_off = 0;
    c->file_left = plan->file_len;
    if (buf_len(&c->out) == 0) {
        send_out(c);
    }
}

/* Answer the error STATUS (a bad request, or 408), then close. */
static void answer_error(struct conn *c, int status)
{
    struct http_plan plan;
    http_plan_error(&plan, status, &c->w->sh->site, time(NULL));
    log_event(c->w, "[%d] bad request: %d\n", c->id, plan.status);
    start_answer(c, &plan);
    http_plan_free(&plan);
    begin_close(c);
}

/* Answer the whole requests at the start of DATA (LEN bytes), in order,
 * for as long as each answer goes out at once (pipelining), up to one
 * that is not whole yet, and ANSWERS_PER_TURN at most: 64 KiB of small
 * pipelined GETs is 1,700 answers, and a batch of 256 such clients would
 * hold the loop (and SIGTERM) for seconds. Returns the bytes used. */
static size_t serve(struct conn *c, const char *data, size_t len)
{
    size_t used = 0;
    int answered = 0;
    c->yielded = false;
    while (c->phase == OPEN && !c->ch->closed && !pending(c) &&
           !c->close_after) {
        if (answered++ == ANSWERS_PER_TURN) {
            c->yielded = used < len; /* the rest: next turn */
            break;
        }
        struct http_request req;
        const char *p = data + used;
        size_t left = len - used;
        enum http_parse_result r = http_parse_request(p, left, &req);
        if (r == HTTP_PARSE_ERROR) {
            answer_error(c, req.status);
            return len;
        }
        if (r == HTTP_PARSE_MORE || left < http_request_len(&req)) {
            if (c->started == 0 && left > 0) {
                c->started = now(c); /* the request timer starts */
            }
            if (r == HTTP_PARSE_OK && req.expect_continue &&
                !c->sent_continue) {
                c->sent_continue = true; /* the client waits for it */
                struct iovec iov = {.iov_base =
                                        (void *)(uintptr_t)HTTP_CONTINUE,
                                    .iov_len = sizeof HTTP_CONTINUE - 1};
                emit(c, &iov, 1, false);
            }
            break;
        }
        struct http_plan plan;
        http_plan_cached(&plan, &req, p, &c->w->sh->site, c->w->cache,
                         time(NULL));
        log_event(c->w, "[%d] %.*s %.*s %d\n", c->id, (int)req.method_name.len,
                  req.method_name.ptr, (int)req.target.len, req.target.ptr,
                  plan.status);
        start_answer(c, &plan);
        http_plan_free(&plan);
        used += http_request_len(&req);
        c->started = 0;
        c->sent_continue = false;
    }
    return used;
}

/* serve() what waits in C's input buffer; free the buffer once empty. */
static void serve_buffered(struct conn *c)
{
    size_t used = serve(c, buf_data(&c->in), buf_len(&c->in));
    if (c->phase == OPEN) {
        buf_consume(&c->in, used);
        if (buf_len(&c->in) == 0) {
            buf_free(&c->in);
        }
    }
}

/* After every event of C: close once nothing more can be answered, then
 * tell epoll what C waits for (a system call only on a change) and set
 * its one deadline: send, idle or request timeout while OPEN, close_by
 * while closing. */
static void update(struct conn *c)
{
    if (c->ch->closed) {
        return;
    }
    if (c->phase == OPEN && !pending(c) && (c->close_after || c->eof)) {
        begin_close(c);
    } else if (c->phase == FLUSH && !pending(c)) {
        shut_write(c);
    }
    if (c->ch->closed) {
        return;
    }
    uint32_t events = (reading(c) ? EPOLLIN : 0) | (pending(c) ? EPOLLOUT : 0);
    if (channel_watch(c->ch, events) < 0) {
        again(c, errno);
        return;
    }
    long long deadline = c->close_by;
    if (c->phase == OPEN) {
        deadline = pending(c)             ? c->progress + SEND_TIMEOUT_MS
                   : buf_len(&c->in) == 0 ? now(c) + IDLE_TIMEOUT_MS
                                          : c->started + REQUEST_TIMEOUT_MS;
    }
    channel_set_deadline(c->ch, deadline);
}

/* The error of a socket epoll reported in error or hung up. */
static int socket_error(int fd)
{
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    return err != 0 ? err : ECONNRESET; /* hung up: the peer is gone */
}

/* Readable (or in error, or hung up). One recv, into the loop's scratch
 * buffer: level-triggered, epoll reports the rest next time, so asking
 * again until EAGAIN would cost a system call per request for nothing.
 * Usually a whole request arrives at once and is answered from there;
 * only an unfinished rest is copied into the connection's own buffer. */
static void conn_read(struct channel *ch, uint32_t events)
{
    struct conn *c = ch->user;
    char *scratch = c->w->scratch;
    if (!reading(c)) { /* not watched: an error or a hang-up */
        if (events & (EPOLLERR | EPOLLHUP)) {
            again(c, socket_error(ch->fd));
        }
        return;
    }
    size_t room = c->phase == OPEN ? REQUEST_MAX - buf_len(&c->in) : 0;
    ssize_t n = recv(ch->fd, scratch,
                     room > 0 && room < RECV_CHUNK ? room : RECV_CHUNK, 0);
    if (n < 0) {
        again(c, errno);
        return;
    }
    c->eof = n == 0;
    if (c->phase != OPEN) { /* closing: discard */
        c->discarded += (size_t)n;
        if (c->phase == LINGER && (c->eof || c->discarded > LINGER_BYTES)) {
            finish(c, NULL);
        }
    } else if (buf_len(&c->in) == 0) {
        size_t used = serve(c, scratch, (size_t)n);
        if (c->phase == OPEN && used < (size_t)n &&
            buf_append(&c->in, scratch + used, (size_t)n - used) < 0) {
            finish(c, "out of memory");
        }
    } else if (buf_append(&c->in, scratch, (size_t)n) < 0) {
        finish(c, "out of memory");
    } else {
        serve_buffered(c);
    }
    update(c);
}

/* Writable: go on sending; once all is out, answer the requests that
 * waited behind it. */
static void conn_write(struct channel *ch, uint32_t events)
{
    (void)events;
    struct conn *c = ch->user;
    if (!pending(c) || !send_out(c)) {
        return;
    }
    c->yielded = false; /* its turn has come */
    if (c->phase == OPEN && !pending(c) && buf_len(&c->in) > 0) {
        serve_buffered(c);
    }
    update(c);
}

/* The deadline update() set has passed. */
static void conn_timeout(struct channel *ch)
{
    struct conn *c = ch->user;
    if (c->phase != OPEN) {
        finish(c, c->phase == FLUSH ? "flush timeout" : NULL);
    } else if (pending(c)) {
        finish(c, "send timeout");
    } else if (buf_len(&c->in) == 0) {
        begin_close(c); /* idle between requests: just close */
    } else {
        answer_error(c, 408); /* half a request: say so */
    }
    update(c);
}

/* on_close: log, and free what the connection holds; the loop closes the
 * socket next. Input still queued is read first (bounded), so that close
 * sends FIN rather than RST wherever it can. */
static void conn_release(struct channel *ch)
{
    struct conn *c = ch->user;
    struct worker *w = c->w;
    for (int i = 0; i < 4 && !c->eof; i++) {
        if (recv(ch->fd, w->scratch, RECV_CHUNK, MSG_DONTWAIT) <= 0) {
            break;
        }
    }
    const char *why = c->why;
    if (why == NULL && w->stopping) {
        why = "stopping";
    }
    if (why != NULL) {
        log_event(w, "[%d] closed (%s)\n", c->id, why);
    } else {
        log_event(w, "[%d] closed\n", c->id);
    }
    if (c->file_fd >= 0) {
        close(c->file_fd);
    }
    buf_free(&c->in);
    buf_free(&c->out);
    w->count--;
    free(c);
}

static const struct channel_ops conn_ops = {.on_read = conn_read,
                                            .on_write = conn_write,
                                            .on_timeout = conn_timeout,
                                            .on_close = conn_release};

/* A new connection on W's listener (reactor.h, accept_fn). */
static void on_accept(struct reactor *r, int fd, const struct sockaddr *sa,
                      socklen_t len, int err, void *user)
{
    struct worker *w = user;
    int id = atomic_fetch_add(&w->sh->next_id, 1);
    char peer[NET_ADDRSTRLEN];
    net_addr_str(sa, len, peer, sizeof peer);
    if (err != 0) {
        errno = err;
        warn_errno("[%d] refused %s: accept", id, peer);
        close_refused(fd, REFUSAL);
        return;
    }
    if (w->count >= w->max_conns) {
        log_event(w, "[%d] refused %s: too many connections (limit %d)\n", id,
                  peer, w->max_conns);
        close_refused(fd, REFUSAL);
        return;
    }
    /* Each answer leaves as soon as it is written: Nagle's algorithm would
     * hold a pipelined answer until the one before it is acknowledged. */
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        warn_errno("[%d] refused %s", id, peer);
        close_refused(fd, REFUSAL);
        return;
    }
    *c = (struct conn){.w = w, .id = id, .file_fd = -1};
    c->ch = reactor_add(r, fd, EPOLLIN, &conn_ops, c);
    if (c->ch == NULL) {
        warn_errno("[%d] epoll_ctl ADD", id);
        free(c);
        return;
    }
    w->count++;
    log_event(w, "[%d] connected from %s\n", id, peer);
    channel_set_deadline(c->ch, reactor_now(r) + IDLE_TIMEOUT_MS);
}

/* The command line, or exit: 0 after --help, 2 after a usage error. */
static void parse_args(int argc, char **argv, int *threads, bool *quiet,
                       const char **port, const char **docroot)
{
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        exit(0);
    }
    bool ok = true;
    int i = 1;
    while (ok && i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "-q") == 0) {
            *quiet = true;
            i++;
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            char *end = NULL;
            long n = strtol(argv[i + 1], &end, 10);
            ok = end != argv[i + 1] && *end == '\0' && n >= 1 &&
                 n <= MAX_THREADS;
            *threads = (int)n;
            i += 2;
        } else {
            ok = false;
        }
    }
    if (ok && i < argc) {
        ok = net_parse_port(argv[i]) >= 0;
        *port = argv[i++];
    }
    if (ok && i < argc) {
        *docroot = argv[i++];
    }
    if (!ok || i < argc) {
        usage(stderr);
        exit(2);
    }
}

/* A listening socket on SA, non-blocking; SO_REUSEPORT if SHARED. */
static int listen_on(const struct sockaddr *sa, socklen_t len, bool shared)
{
    int fd =
        socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int on = 1, off = 0;
    if (fd < 0) {
        return -1;
    }
    if (sa->sa_family == AF_INET6) { /* dual stack, as net_listen */
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0 ||
        (shared &&
         setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0) ||
        bind(fd, sa, len) < 0 || listen(fd, BACKLOG) < 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

/* One listener per loop, all on PORT of the IPv6 wildcard (IPv4 too) or
 * of 0.0.0.0. With several, each has SO_REUSEPORT, and the kernel spreads
 * new connections over them by a hash of their addresses: no lock, no
 * thundering herd, each loop accepts only its own. Prints "listening on"
 * and returns 0, or -1 after printing why. */
static int listen_all(const char *port, struct worker **w, int n)
{
    static const int families[] = {AF_INET6, AF_INET};
    int fd = -1;
    for (int i = 0; i < 2 && fd < 0; i++) {
        struct addrinfo hints = {.ai_family = families[i],
                                 .ai_socktype = SOCK_STREAM,
                                 .ai_flags = AI_PASSIVE},
                        *ai = NULL;
        if (getaddrinfo(NULL, port, &hints, &ai) == 0) {
            fd = listen_on(ai->ai_addr, ai->ai_addrlen, n > 1);
            freeaddrinfo(ai);
        }
    }
    /* The others take the first one's address, and so its port (the
     * kernel's pick for port 0). */
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char addr[NET_ADDRSTRLEN];
    if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        warn_errno("listen on port %s", port);
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    net_local_str(fd, addr, sizeof addr);
    for (int i = 0; i < n; i++) {
        if (i > 0) {
            fd = listen_on((struct sockaddr *)&ss, len, true);
        }
        if (fd < 0) {
            warn_errno("listen on %s (SO_REUSEPORT)", addr);
            return -1;
        }
        if (reactor_listen(w[i]->loop, fd, on_accept, w[i]) < 0) {
            return -1;
        }
    }
    printf("listening on %s\n", addr);
    return 0;
}

/* Connections each loop takes: what `ulimit -n` leaves after the loops'
 * own descriptors (their caches' too) and FILE_RESERVE for files being
 * sent, shared out. */
static int conn_limit(int threads)
{
    struct rlimit rl;
    long long fds = 1 << 20;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        fds = (long long)rl.rlim_cur;
    }
    long long fit = (fds - FDS_RESERVED -
                     (FDS_PER_LOOP + FDS_CACHED) * threads - FILE_RESERVE) /
                    threads;
    return fit < 1 ? 1 : fit > INT_MAX ? INT_MAX : (int)fit;
}

static void *run_worker(void *arg)
{
    struct worker *w = arg;
    reactor_run(w->loop);
    return NULL;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    static struct shared sh;
    int threads = 1;
    const char *port = DEFAULT_PORT, *docroot = TOUR_DOCS_DIR;
    parse_args(argc, argv, &threads, &sh.quiet, &port, &docroot);
    if (http_site_init(&sh.site, docroot, "tour-ch03-http") < 0) {
        die_errno("document root %s", docroot);
    }
    atomic_init(&sh.next_id, 1);
    /* sendfile has no MSG_NOSIGNAL: a vanished client must be EPIPE. */
    signal(SIGPIPE, SIG_IGN);

    int status = 1, running = 1;
    struct worker *w[MAX_THREADS] = {0};
    for (int i = 0; i < threads; i++) {
        w[i] = calloc(1, sizeof *w[i]);
        if (w[i] == NULL || (w[i]->loop = reactor_new()) == NULL ||
            (w[i]->cache = http_cache_new()) == NULL) {
            goto out;
        }
        w[i]->sh = &sh;
        w[i]->max_conns = conn_limit(threads);
    }
    /* Before any other thread exists, so that they all block the stop
     * signals too: only loop 0's signalfd takes them. */
    if (reactor_stop_on_signals(w[0]->loop) < 0 ||
        listen_all(port, w, threads) < 0) {
        goto out;
    }
    for (; running < threads; running++) {
        errno =
            pthread_create(&w[running]->thread, NULL, run_worker, w[running]);
        if (errno != 0) {
            warn_errno("pthread_create");
            break;
        }
    }
    if (running == threads) {
        status = reactor_run(w[0]->loop) < 0;
    }
    /* Loop 0 has stopped (a signal): stop the others, and wait for them. */
    for (int i = 1; i < running; i++) {
        reactor_stop(w[i]->loop);
    }
    for (int i = 1; i < running; i++) {
        pthread_join(w[i]->thread, NULL);
    }
out:
    for (int i = 0; i < threads && w[i] != NULL; i++) {
        w[i]->stopping = true;
        if (w[i]->loop != NULL) {
            reactor_free(w[i]->loop);
        }
        http_cache_free(w[i]->cache);
        free(w[i]);
    }
    return status;
}
