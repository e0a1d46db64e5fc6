/*
 * loadgen - load an echo server from one thread and one epoll set, and
 * check every byte that comes back.
 *
 * Usage: loadgen [-c N] [-s BYTES] [-n COUNT | -d SECONDS] [--idle]
 *                [HOST [PORT]]     (defaults: 1, 64, -n 100, localhost 10086)
 *        loadgen --check-fds N     (status 0 if N descriptors fit, else 77)
 *
 * Protocol: echo, ping-pong: each of N connections sends a message, waits
 * until all of it is back, checks it, sends the next. --idle holds the N
 * connections silent until SIGINT/SIGTERM (or for SECONDS), then sends one
 * message on each. stdout: "holding: N" (--idle), then a summary, one
 * "key: value" a line. Status 0 if all connections were made and nothing
 * failed or came back wrong; 1 if not; 2 bad usage.
 * Pairs with: select_server, poll_server, epoll_server (02: echo_server).
 * Try it:   ./build/03_epoll/epoll_server
 *           ./build/03_epoll/loadgen -c 1000 -d 5       (second terminal)
 * What to notice:
 *   - connect without waiting: EINPROGRESS, writable, then SO_ERROR;
 *   - level-triggered, one recv per wake-up: fair to every connection;
 *     EPOLLOUT is asked for only while a message is left to send;
 *   - every byte is recomputed from its position: no copy is kept.
 */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define CHUNK 16384        /* bytes per send or recv */
#define MAX_CONNECTING 256 /* handshakes in flight at once */
#define MAX_EVENTS 256     /* events per epoll_wait */
#define STALL_MS 10000     /* no event for this long: the rest time out */
#define MAX_REPORTS 10     /* errors described on stderr (all are counted) */
#define SUB 32             /* histogram buckets per power of two (~3%) */
#define BUCKETS (SUB * 40) /* round trips up to 2^39 us */
#define GOLDEN UINT64_C(0x9E3779B97F4A7C15) /* 2^64 / the golden ratio */

/* Where a connection is in its life. */
enum state {
    CONNECTING, /* the handshake is under way */
    HELD,       /* connected, no message under way (--idle holds it here) */
    BUSY,       /* a message is going out or its echo coming back */
    DONE,       /* closed */
};

/* One connection and its current message. */
struct conn {
    int fd;                    /* the socket, -1 once closed */
    enum state state;          /* handshake, held (--idle), message, done */
    uint32_t events;           /* what it is registered for in epoll */
    const struct addrinfo *ai; /* the address being tried */
    unsigned long long msgs;   /* messages completed */
    uint64_t seed;             /* the current message's pattern */
    size_t sent, got;          /* its bytes sent, and echoed back */
    long long t0;              /* when it started, in microseconds */
    int bad;                   /* a byte of it came back wrong */
};

/* The options, the connections and the results of one run. */
struct run {
    size_t nconns, size;             /* -c, -s */
    unsigned long long count;        /* -n: messages per connection; 0: any */
    long long duration, deadline;    /* -d, and when it ends (us; 0: none) */
    int idle, holding, stopping;     /* --idle; all opened; finishing */
    int ep_fd;                       /* the epoll set */
    sigset_t wait_mask;              /* signals epoll_pwait lets through */
    struct addrinfo *addrs;          /* where to connect */
    struct conn *conns;              /* nconns of them */
    size_t opened, connecting, live; /* started; in handshake; not DONE */
    unsigned long long made, failed, messages, bytes, errors, mismatches;
    unsigned long long hist[BUCKETS], rtt_max; /* round trips, in us */
};

static void usage(FILE *out)
{
    fprintf(out, "usage: loadgen [-c N] [-s BYTES] [-n COUNT | -d SECONDS] "
                 "[--idle] [HOST [PORT]]\n       loadgen --check-fds N\n");
}

/* A whole number from S, 1..MAX, or 0 if S is anything else. */
static unsigned long long number(const char *s, unsigned long long max)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = *s >= '0' && *s <= '9' ? strtoull(s, &end, 10) : 0;
    return end != NULL && *end == '\0' && errno == 0 && v <= max ? v : 0;
}

/* Options into R, operands into *HOST and *PORT. 0, or -1: bad usage. */
static int parse_args(int argc, char **argv, struct run *r, const char **host,
                      const char **port)
{
    int operands = 0;
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i], *arg = i + 1 < argc ? argv[i + 1] : "";
        if (strcmp(opt, "--idle") == 0) {
            r->idle = 1;
        } else if (opt[0] != '-' && operands < 2) {
            *(operands++ == 0 ? host : port) = opt;
        } else if (strcmp(opt, "-c") == 0 && number(arg, 1000000) > 0) {
            r->nconns = (size_t)number(argv[++i], 1000000);
        } else if (strcmp(opt, "-s") == 0 && number(arg, 1 << 30) > 0) {
            r->size = (size_t)number(argv[++i], 1 << 30);
        } else if (strcmp(opt, "-n") == 0 && number(arg, ~0ULL) > 0) {
            r->count = number(argv[++i], ~0ULL);
        } else if (strcmp(opt, "-d") == 0 && number(arg, 1000000) > 0) {
            r->duration = (long long)number(argv[++i], 1000000) * 1000000;
        } else {
            return -1;
        }
    }
    if ((r->count > 0 && (r->duration > 0 || r->idle)) ||
        net_parse_port(*port) <= 0) {
        return -1; /* -n with -d or --idle (which sends one message) */
    }
    if (r->idle) {
        r->count = 1;
    } else if (r->count == 0 && r->duration == 0) {
        r->count = 100;
    }
    return 0;
}

/* Lift the soft RLIMIT_NOFILE (often 1024) to the hard limit: every
 * connection is a descriptor. Returns the limit now in force. */
static unsigned long long raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        die_errno("getrlimit RLIMIT_NOFILE");
    }
    rlim_t soft = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        return soft; /* valgrind refuses: it keeps a few for itself */
    }
    return rl.rlim_max;
}

/* Monotonic microseconds. */
static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* splitmix64's mixing: neighbouring inputs give unrelated outputs. */
static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* LEN bytes from offset OFF of the message with SEED: byte i is byte
 * i % 8 of word i / 8 of a pseudo-random sequence, so any stretch of a
 * message can be recomputed to check its echo. */
static void pattern(uint64_t seed, size_t off, unsigned char *out, size_t len)
{
    uint64_t word = mix(seed + off / 8 * GOLDEN);
    for (size_t i = 0, pos = off; i < len; i++, pos++) {
        if (pos % 8 == 0) {
            word = mix(seed + pos / 8 * GOLDEN);
        }
        out[i] = (unsigned char)(word >> (pos % 8 * 8));
    }
}

/* The histogram bucket of US microseconds: exact below 2 * SUB, then SUB
 * buckets per power of two. 10 KiB hold any number of round trips. */
static size_t bucket(unsigned long long us)
{
    unsigned shift = 0;
    while ((us >> shift) >= 2 * SUB) {
        shift++;
    }
    size_t b = shift * SUB + (size_t)(us >> shift);
    return b < BUCKETS ? b : BUCKETS - 1;
}

/* The round trip P% of the messages did not exceed: the top of the
 * bucket where the count reaches P%, or the maximum if that is less. */
static unsigned long long percentile(const struct run *r, unsigned p)
{
    unsigned long long rank = (r->messages * p + 99) / 100, seen = 0;
    for (size_t b = 0; b < BUCKETS && r->messages > 0; b++) {
        seen += r->hist[b];
        if (seen >= rank) {
            unsigned shift = b < 2 * SUB ? 0 : (unsigned)(b / SUB - 1);
            unsigned long long top = ((b - shift * SUB + 1ULL) << shift) - 1;
            return top < r->rtt_max ? top : r->rtt_max;
        }
    }
    return 0;
}

/* Close C. WHAT and ERR (an errno, or 0) say what went wrong, WHAT NULL
 * if nothing did. Errors are counted; the first few are described. */
static void end_conn(struct run *r, struct conn *c, const char *what, int err)
{
    if (what != NULL && ++r->errors <= MAX_REPORTS) {
        errno = err;
        size_t id = (size_t)(c - r->conns) + 1;
        if (err != 0) {
            warn_errno("connection %zu: %s", id, what);
        } else {
            fprintf(stderr, "connection %zu: %s\n", id, what);
        }
        if (r->errors == MAX_REPORTS) {
            fprintf(stderr, "(errors after the %dth: counted, not shown)\n",
                    MAX_REPORTS);
        }
    }
    if (c->fd >= 0) {
        close(c->fd); /* which takes it out of the epoll set too */
    }
    c->fd = -1;
    c->state = DONE;
    r->live--;
}

/* Wait for EVENTS on C, telling epoll only if that changes anything:
 * each EPOLL_CTL_MOD is a system call. */
static void want(struct run *r, struct conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (c->events != events &&
        epoll_ctl(r->ep_fd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
        die_errno("epoll_ctl");
    }
    c->events = events;
}

/* Send what the socket takes of C's message. Then wait for the echo, and
 * for room to send more (EPOLLOUT) only while some is left: a writable
 * socket with nothing to send would wake every epoll_wait. */
static void send_some(struct run *r, struct conn *c)
{
    unsigned char buf[CHUNK];
    while (c->sent < r->size) {
        size_t len = r->size - c->sent < CHUNK ? r->size - c->sent : CHUNK;
        pattern(c->seed, c->sent, buf, len);
        ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break; /* the send buffer is full */
        }
        if (n < 0 && errno != EINTR) {
            end_conn(r, c, "send", errno);
            return;
        }
        c->sent += n > 0 ? (size_t)n : 0;
    }
    want(r, c, EPOLLIN | (c->sent < r->size ? EPOLLOUT : 0));
}

/* Start C's next message. Its seed names the connection and the message,
 * so no two messages carry the same bytes. */
static void start_message(struct run *r, struct conn *c)
{
    c->seed = mix(((uint64_t)(c - r->conns) << 32) ^ c->msgs) * GOLDEN;
    c->sent = c->got = 0;
    c->bad = 0;
    c->t0 = now_us();
    c->state = BUSY;
    send_some(r, c);
}

/* Start connecting C to C->ai without waiting: connect sends SYN and
 * says EINPROGRESS (after EINTR, too, the handshake goes on), and the
 * socket turns writable when it is over. A failure moves on to the next
 * address (::1, then 127.0.0.1), as net_connect does; after the last, C
 * has failed (with ERR if there was no address left to try). */
static void open_conn(struct run *r, struct conn *c, int err)
{
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    for (; c->ai != NULL; c->ai = c->ai->ai_next) {
        const struct addrinfo *ai = c->ai;
        c->fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (c->fd >= 0 && set_nonblocking(c->fd) == 0 &&
            (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
             errno == EINPROGRESS || errno == EINTR) &&
            epoll_ctl(r->ep_fd, EPOLL_CTL_ADD, c->fd, &ev) == 0) {
            c->events = EPOLLOUT;
            c->state = CONNECTING;
            r->connecting++;
            return;
        }
        err = errno; /* EMFILE, ENETUNREACH, EADDRNOTAVAIL (no ports) */
        if (c->fd >= 0) {
            close(c->fd);
            c->fd = -1;
        }
    }
    r->failed++;
    end_conn(r, c, "connect", err);
}

/* C's handshake is over; SO_ERROR says how: 0, or why not (ECONNREFUSED,
 * ETIMEDOUT), and then the next address is tried. */
static void on_connect(struct run *r, struct conn *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    r->connecting--;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
        err = errno;
    }
    if (err != 0) {
        close(c->fd);
        c->fd = -1;
        c->ai = c->ai->ai_next;
        open_conn(r, c, err);
        return;
    }
    r->made++;
    c->state = HELD;
    if (!r->idle || r->stopping) {
        start_message(r, c);
    } else {
        want(r, c, EPOLLIN); /* to notice the server closing it */
    }
}

/* C's message is back, whole: count it; then the next one, or the end. */
static void finish_message(struct run *r, struct conn *c)
{
    unsigned long long us = (unsigned long long)(now_us() - c->t0);
    r->hist[bucket(us)]++;
    r->rtt_max = us > r->rtt_max ? us : r->rtt_max;
    r->messages++;
    r->bytes += r->size;
    r->mismatches += (unsigned long long)c->bad;
    if (++c->msgs == r->count || r->stopping) {
        end_conn(r, c, NULL, 0);
    } else {
        start_message(r, c);
    }
}

/* C is readable: one recv (level-triggered, epoll reports C again while
 * bytes remain, and the other connections get their turn first), never
 * more than the rest of the current message, checked against the
 * pattern. While no message is under way (--idle), anything is wrong. */
static void on_readable(struct run *r, struct conn *c)
{
    unsigned char buf[CHUNK], expected[CHUNK];
    size_t room = c->state == BUSY ? r->size - c->got : CHUNK;
    ssize_t n = recv(c->fd, buf, room < CHUNK ? room : CHUNK, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return;
    }
    if (n < 0) {
        end_conn(r, c, "recv", errno);
    } else if (n == 0) {
        end_conn(r, c, "closed by the server", 0);
    } else if (c->state != BUSY) {
        end_conn(r, c, "bytes nobody asked for", 0);
    } else {
        pattern(c->seed, c->got, expected, (size_t)n);
        c->bad |= memcmp(buf, expected, (size_t)n) != 0;
        c->got += (size_t)n;
        if (c->got == r->size) {
            finish_message(r, c);
        }
    }
}

/* One epoll event for C. EPOLLERR and EPOLLHUP need no asking: SO_ERROR
 * or recv says what happened. */
static void on_event(struct run *r, struct conn *c, uint32_t events)
{
    if (c->state == CONNECTING) {
        on_connect(r, c); /* writable, or EPOLLERR: the handshake is over */
        return;
    }
    if (c->state == BUSY && (events & EPOLLOUT)) {
        send_some(r, c);
    }
    if ((c->state == BUSY || c->state == HELD) &&
        (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
        on_readable(r, c);
    }
}

/* Between two waits: open connections (at most MAX_CONNECTING in their
 * handshake at once); say when --idle holds them all; on a signal or at
 * the deadline begin the end: held connections send their message. */
static void step(struct run *r)
{
    while (!r->stopping && r->opened < r->nconns &&
           r->connecting < MAX_CONNECTING) {
        struct conn *c = &r->conns[r->opened++];
        c->ai = r->addrs;
        r->live++;
        open_conn(r, c, 0);
    }
    if (r->idle && !r->holding && r->opened == r->nconns &&
        r->connecting == 0) {
        r->holding = 1;
        printf("holding: %llu\n", r->made);
        r->deadline = r->duration > 0 ? now_us() + r->duration : 0;
    }
    if (!r->stopping &&
        (stop_requested || (r->deadline > 0 && now_us() >= r->deadline))) {
        r->stopping = 1;
        for (size_t i = 0; i < r->opened; i++) {
            if (r->conns[i].state == HELD) {
                start_message(r, &r->conns[i]);
            }
        }
    }
}

/* STALL_MS without any event: what is still in its handshake or waits
 * for an echo has failed. */
static void time_out(struct run *r)
{
    for (size_t i = 0; i < r->opened; i++) {
        struct conn *c = &r->conns[i];
        if (c->state == CONNECTING) {
            r->connecting--;
            r->failed++;
        }
        if (c->state == CONNECTING || c->state == BUSY) {
            end_conn(r, c, "no progress", ETIMEDOUT);
        }
    }
}

/* The event loop, until every connection is done. SIGINT and SIGTERM
 * are blocked except inside epoll_pwait, so none can slip in between the
 * check of stop_requested and the wait (see wait_either in common/io.c). */
static void run_loop(struct run *r)
{
    struct epoll_event events[MAX_EVENTS];
    long long last = now_us();
    for (;;) {
        step(r);
        if (r->live == 0 && (r->stopping || r->opened == r->nconns)) {
            return;
        }
        long long ms = STALL_MS;
        if (r->deadline > 0 && !r->stopping) {
            ms = (r->deadline - now_us() + 999) / 1000;
            ms = ms < 0 ? 0 : ms < STALL_MS ? ms : STALL_MS;
        }
        int n =
            epoll_pwait(r->ep_fd, events, MAX_EVENTS, (int)ms, &r->wait_mask);
        if (n < 0 && errno != EINTR) {
            die_errno("epoll_pwait");
        }
        for (int i = 0; i < n; i++) {
            on_event(r, events[i].data.ptr, events[i].events);
        }
        if (n != 0) {
            last = now_us();
        } else if (now_us() - last >= STALL_MS * 1000LL) {
            time_out(r);
        }
    }
}

/* The summary: one "key: value" a line, the same keys every time. */
static void report(const struct run *r, long long us)
{
    double s = us > 0 ? (double)us / 1e6 : 1e-6;
    printf("connections made: %llu\n", r->made);
    printf("connections failed: %llu\n", r->failed);
    printf("messages: %llu\n", r->messages);
    printf("bytes: %llu\n", r->bytes);
    printf("duration (s): %.3f\n", s);
    printf("messages/s: %.0f\n", (double)r->messages / s);
    printf("bytes/s: %.0f\n", (double)r->bytes / s);
    printf("rtt p50 (us): %llu\n", percentile(r, 50));
    printf("rtt p99 (us): %llu\n", percentile(r, 99));
    printf("rtt max (us): %llu\n", r->rtt_max);
    printf("errors: %llu\n", r->errors);
    printf("mismatches: %llu\n", r->mismatches);
}

/* Everything the loop needs: descriptors, signals, addresses, memory. */
static void setup(struct run *r, const char *host, const char *port)
{
    unsigned long long limit = raise_fd_limit();
    if (limit < r->nconns + 16) {
        fprintf(stderr,
                "RLIMIT_NOFILE %llu is too low for %zu connections "
                "(beyond it: EMFILE): raise the hard limit\n",
                limit, r->nconns);
    }
    install_stop_handlers();
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &stop, &r->wait_mask) < 0) {
        die_errno("sigprocmask");
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    int rc = getaddrinfo(host, port, &hints, &r->addrs);
    if (rc != 0) {
        die("getaddrinfo %s port %s: %s", host, port, gai_strerror(rc));
    }
    r->conns = calloc(r->nconns, sizeof *r->conns);
    r->ep_fd = epoll_create1(EPOLL_CLOEXEC);
    if (r->conns == NULL || r->ep_fd < 0) {
        die_errno("setup");
    }
}

/* --check-fds N: may this process open N descriptors? Status 0 if so,
 * 77 (what CTest calls skipped) if not. */
static int check_fds(unsigned long long need)
{
    unsigned long long limit = raise_fd_limit();
    printf("%sRLIMIT_NOFILE hard limit %llu %s %llu\n",
           limit < need ? "SKIP: " : "", limit,
           limit < need ? "<" : ">=", need);
    return limit < need ? 77 : 0;
}

int main(int argc, char **argv)
{
    struct run run = {.nconns = 1, .size = 64}, *r = &run;
    const char *host = "localhost", *port = "10086";
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "--check-fds") &&
        number(argv[2], ~0ULL) > 0) {
        return check_fds(number(argv[2], ~0ULL));
    }
    if (parse_args(argc, argv, r, &host, &port) < 0) {
        usage(stderr);
        return 2;
    }
    setup(r, host, port);
    long long start = now_us();
    r->deadline = r->idle || r->duration == 0 ? 0 : start + r->duration;
    run_loop(r);
    report(r, now_us() - start);
    close(r->ep_fd);
    free(r->conns);
    freeaddrinfo(r->addrs);
    return r->made == r->nconns && r->errors == 0 && r->mismatches == 0 ? 0 : 1;
}
