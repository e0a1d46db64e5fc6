/*
 * hostile - run the hostile-client cases against one server of a protocol.
 *
 * Usage: hostile [--valgrind PATH] [--timeout SECONDS]
 *                [--no-growth-check 1] [--nofile N|max]
 *                [--exhaust N | --term-busy N]
 *                PROTOCOL CASE... -- SERVER ARGS...
 *
 * PROTOCOL is echo, chat, c2c or http. The server is started with ARGS
 * (which ask for port 0), its stdout and stderr in temporary files and its
 * stdin a pipe we hold open; its port is read from "listening on". Then,
 * for each CASE file meant for PROTOCOL: the case's commands run (a
 * misbehaving client, scripted), every connection it left is closed, and
 * the server must still be alive, answer a normal client (the probe: an
 * echoed line, a chat line relayed, a c2c line both ways, GET 200), and
 * come back (polled, bounded) to the descriptor count it had before the
 * first case. At the end SIGTERM: the server must exit 0 (under valgrind
 * also with no leak and no descriptor left open). A server that exits 77
 * at once cannot run here: the test is skipped (exit 77).
 *
 * Two more runs, instead of (or before) the cases, for issue #8:
 *   --exhaust N    N connections at once, held, to a server started with
 *                  few descriptors (--nofile 64): it must not die or spin
 *                  (its CPU time over a hold window), and afterwards it is
 *                  checked as after a case (alive, probe, descriptors).
 *   --term-busy N  N connections sending the protocol's traffic without
 *                  pause, then SIGTERM: the server must exit 0 in time
 *                  (no leak or descriptor left under valgrind), and its
 *                  stdout must be whole, well-formed lines.
 * --nofile sets the server's RLIMIT_NOFILE soft limit (max: the hard one).
 *
 * The case language is described in tests/hostile/README.md. Waiting for
 * the server is always polling with a bound; the only plain sleeps are
 * the ones a case asks for to pace its hostile client (pause, trickle),
 * and the --exhaust hold window, which is a measurement.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "common.h"

#define MAX_CONNS 2100      /* connections one case may hold */
#define MAX_LINE 8192       /* a case file's line, decoded */
#define WAIT_MS 5000        /* default bound of a case's waits */
#define PROBE_MS 15000      /* the probe: 01's server may first wait 10 s */
#define SETTLE_MS 15000     /* descriptors back: idle and flush timeouts */
#define OPEN_MS 2000        /* open: handshakes given this long */
#define FLOOD_STALL_MS 500  /* flood: the server took nothing this long */
#define VALGRIND_SLOWDOWN 4 /* every bound times this under valgrind */
#define DUMP_BYTES 8192L    /* of each server log, shown on failure */
#define STEADY_LOOKS 20     /* the first descriptor count: this many alike */
#define HOLD_MS 1000        /* --exhaust: the server's CPU measured this long */
#define BUSY_WARM_MS 1500   /* --term-busy: load first (past SYN retries) */
#define TERM_MS 10000       /* --term-busy: the server exits within this */
#define LOAD_BLOCK 4096     /* --term-busy: bytes of traffic one send offers */
#define LOAD_LINE "busy 0123456789 abcdefghijklmnopqrstuvwxyz"

/* --exhaust: the most CPU the server may use while the connections are
 * held, in percent of one CPU. A server that spins on a full accept
 * queue (EMFILE retried at once, level-triggered) uses close to 100%; a
 * waiting one near 0 (chapter 2's loops, which poll every 10 ms, a few
 * percent). 30 leaves room for a loaded machine's noise without letting
 * a spin through. Not checked under valgrind, whose translation makes
 * every wake-up many times dearer and a spin no dearer than 100%. */
#define CPU_MAX_PERCENT 30

/* One client connection of a case. Several may share a name (open). */
struct conn {
    char name[32];
    int fd;               /* -1: closed */
    int noread;           /* never read but when an expect asks */
    int eof;              /* recv gave 0 */
    int err;              /* recv failed with this errno */
    int send_err;         /* send failed with this errno: no more sending
                             (what was received can still be read) */
    struct byte_buf sent; /* every byte sent (expect-echo compares) */
    struct byte_buf got;  /* received, not yet taken by an expect */
};

/* The server under test. */
struct server {
    pid_t pid;
    int stdin_fd; /* the write end of its stdin */
    char port[16];
    char out[64], err[64]; /* its stdout and stderr files */
    long log_pos;          /* expect-log searches on from here */
    long rss_kb;           /* its resident memory as the case began */
};

/* Everything a case runs with. */
struct run {
    const char *protocol;
    int slow;           /* 1, or VALGRIND_SLOWDOWN */
    int probes;         /* probes run so far */
    int no_growth;      /* max-growth unchecked: valgrind's or
                           AddressSanitizer's memory hides the server's */
    long nofile;        /* the server's RLIMIT_NOFILE: 0 as inherited,
                           -1 the hard limit */
    long exhaust;       /* --exhaust N, or 0 */
    long term_busy;     /* --term-busy N, or 0 */
    long long deadline; /* the whole run must end by then */
    int wait_ms;        /* the bound of the case's waits (timeout) */
    struct server srv;
    struct conn conns[MAX_CONNS];
    int count;     /* conns used */
    char why[512]; /* what went wrong, for the report */
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* Record why the case failed (the first reason wins); returns -1. */
TOUR_PRINTF(2, 3)
static int failed(struct run *r, const char *fmt, ...)
{
    if (r->why[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->why, sizeof r->why, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Put the LEN bytes of PREFIX in front of the reason recorded. */
static void prefix_why(struct run *r, const char *prefix, size_t len)
{
    size_t keep = strlen(r->why);
    if (len + keep >= sizeof r->why) {
        keep = sizeof r->why - 1 - len;
    }
    memmove(r->why + len, r->why, keep);
    memcpy(r->why, prefix, len);
    r->why[len + keep] = '\0';
}

/* A deadline MS from now (times the valgrind slowdown), never past the
 * run's own. */
static long long bound(const struct run *r, int ms)
{
    long long t = now_ms() + (long long)ms * r->slow;
    return t < r->deadline ? t : r->deadline;
}

/* Milliseconds left until T, for poll (0 when past). */
static int left(long long t)
{
    long long ms = t - now_ms();
    return ms > 0 ? (int)ms : 0;
}

/* ---- the server ------------------------------------------------------ */

/* Start ARGV with stdout/stderr in temporary files and a pipe on stdin,
 * in its own process group, dying with us, its RLIMIT_NOFILE soft limit
 * NOFILE (0: ours; -1: the hard limit). */
static void start_server(struct server *s, char **argv, long nofile)
{
    snprintf(s->out, sizeof s->out, "/tmp/hostile-out.XXXXXX");
    snprintf(s->err, sizeof s->err, "/tmp/hostile-err.XXXXXX");
    int out = mkstemp(s->out), err = mkstemp(s->err);
    int in[2];
    if (out < 0 || err < 0 || pipe(in) < 0) {
        die_errno("mkstemp/pipe");
    }
    s->pid = fork();
    if (s->pid < 0) {
        die_errno("fork");
    }
    if (s->pid == 0) {
        setpgid(0, 0);
#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
        dup2(in[0], 0);
        dup2(out, 1);
        dup2(err, 2);
        for (int fd = 3; fd < 1024; fd++) {
            close(fd);
        }
        signal(SIGPIPE, SIG_DFL);
        struct rlimit rl;
        if (nofile != 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
            if (nofile > 0 && (rlim_t)nofile < rl.rlim_max) {
                rl.rlim_cur = (rlim_t)nofile;
            } else {
                rl.rlim_cur = rl.rlim_max;
            }
            setrlimit(RLIMIT_NOFILE, &rl);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    close(out);
    close(err);
    close(in[0]);
    s->stdin_fd = in[1];
    set_nonblocking(s->stdin_fd); /* writes to it are bounded by polls */
}

/* Poll (every 10 ms, bounded) for "listening on ADDR:PORT". Returns 0,
 * 77 if the server exited with 77 (it cannot run here), or -1. */
static int read_port(struct run *r)
{
    struct server *s = &r->srv;
    for (long long end = bound(r, 10000); now_ms() < end; sleep_ms(10)) {
        FILE *f = fopen(s->out, "r");
        char line[256];
        int whole = f != NULL && fgets(line, sizeof line, f) != NULL &&
                    strchr(line, '\n') != NULL;
        if (f != NULL) {
            s->log_pos = ftell(f);
            fclose(f);
        }
        char *colon = whole ? strrchr(line, ':') : NULL;
        if (colon != NULL && strncmp(line, "listening on ", 13) == 0) {
            snprintf(s->port, sizeof s->port, "%.*s",
                     (int)strcspn(colon + 1, "\n"), colon + 1);
            return 0;
        }
        int status;
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            /* 77: the server cannot run here (io_uring refused): skip. */
            int skip = WIFEXITED(status) && WEXITSTATUS(status) == 77;
            return skip ? 77 : -1;
        }
    }
    return -1;
}

/* How many descriptors the server has open (-1 where /proc is missing). */
static int count_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/fd", (long)pid);
    DIR *dir = opendir(path);
    if (dir == NULL) {
        return -1;
    }
    int n = 0;
    while (readdir(dir) != NULL) {
        n++;
    }
    closedir(dir);
    return n;
}

/* For LINK "socket:[INODE]", " (TCP state N)" from the server's
 * /proc/PID/net/tcp and tcp6 (1 ESTABLISHED, 8 CLOSE_WAIT, 10 LISTEN...),
 * or "". */
static const char *tcp_state(pid_t pid, const char *link)
{
    static char state[32];
    unsigned long inode = 0, ino;
    unsigned st;
    state[0] = '\0';
    if (sscanf(link, "socket:[%lu]", &inode) != 1) {
        return state;
    }
    for (int v6 = 0; v6 < 2 && state[0] == '\0'; v6++) {
        char path[64], line[512];
        snprintf(path, sizeof path, "/proc/%ld/net/tcp%s", (long)pid,
                 v6 ? "6" : "");
        FILE *f = fopen(path, "r");
        while (f != NULL && fgets(line, sizeof line, f) != NULL) {
            if (sscanf(line, "%*s %*s %*s %x %*s %*s %*s %*s %*s %lu", &st,
                       &ino) == 2 &&
                ino == inode) {
                snprintf(state, sizeof state, " (TCP state %u)", st);
            }
        }
        if (f != NULL) {
            fclose(f);
        }
    }
    return state;
}

/* Say on stderr what each of the server's descriptors is. */
static void list_fds(pid_t pid)
{
    char path[64], link[256];
    snprintf(path, sizeof path, "/proc/%ld/fd", (long)pid);
    DIR *dir = opendir(path);
    struct dirent *e;
    while (dir != NULL && (e = readdir(dir)) != NULL) {
        char fd_path[sizeof path + sizeof e->d_name];
        snprintf(fd_path, sizeof fd_path, "%s/%s", path, e->d_name);
        ssize_t n = readlink(fd_path, link, sizeof link - 1);
        if (n > 0) {
            link[n] = '\0';
            fprintf(stderr, "server fd %s: %s%s\n", e->d_name, link,
                    tcp_state(pid, link));
        }
    }
    if (dir != NULL) {
        closedir(dir);
    }
}

/* Start measuring the server's peak memory afresh: "5" written to
 * clear_refs sets VmHWM back to the current VmRSS (Linux 4.0 and later;
 * where it fails, the peak is the server's highest ever, which is more
 * than this case's: a stricter test). */
static void start_peak(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/clear_refs", (long)pid);
    FILE *f = fopen(path, "w");
    if (f != NULL) {
        fputs("5", f);
        fclose(f);
    }
}

/* The server's resident memory in KiB, or -1: FIELD "VmRSS:" now, or
 * "VmHWM:" at its highest since start_peak. */
static long rss_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, field, 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return kb;
}

static int server_alive(const struct server *s)
{
    return waitpid(s->pid, NULL, WNOHANG) == 0;
}

/* Write LEN bytes to the server's stdin, waiting (bounded) while the
 * pipe is full. */
static int to_stdin(struct run *r, const char *data, size_t len)
{
    long long end = bound(r, r->wait_ms);
    while (len > 0) {
        ssize_t n = write(r->srv.stdin_fd, data, len);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
            errno != EINTR) {
            return failed(r, "stdin: %s", errno_name(errno));
        }
        struct pollfd p = {.fd = r->srv.stdin_fd, .events = POLLOUT};
        if (now_ms() >= end || poll(&p, 1, left(end)) == 0) {
            return failed(r, "the server stopped reading its stdin");
        }
    }
    return 0;
}

/* Whether byte C is one of class CLS of a pattern: '#' a digit, 'a' a
 * byte of an address ("127.0.0.1:5000", "[::1]:5000"), 't' text with no
 * bracket or control byte (so that no second "[ID]" hides in it). */
static int in_class(char cls, unsigned char c)
{
    if (cls == '#') {
        return isdigit(c);
    }
    if (cls == 'a') {
        return c != '\0' && strchr("0123456789abcdef.:[]", c) != NULL;
    }
    return c >= 0x20 && c != 0x7f && c != '[' && c != ']';
}

/* Does TEXT (LEN bytes) match PAT (PLEN bytes), where "{*}" matches any
 * run of bytes, and "{#}", "{a}" and "{t}" one or more bytes of a class
 * (in_class)? */
static int match(const char *pat, size_t plen, const char *text, size_t len)
{
    if (plen >= 3 && pat[0] == '{' && pat[2] == '}' &&
        strchr("#at", pat[1]) != NULL) {
        for (size_t k = 1; k <= len && in_class(pat[1], text[k - 1]); k++) {
            if (match(pat + 3, plen - 3, text + k, len - k)) {
                return 1;
            }
        }
        return 0;
    }
    if (plen >= 3 && memcmp(pat, "{*}", 3) == 0) {
        for (size_t skip = 0; skip <= len; skip++) {
            if (match(pat + 3, plen - 3, text + skip, len - skip)) {
                return 1;
            }
        }
        return 0;
    }
    if (plen == 0) {
        return len == 0;
    }
    return len > 0 && *pat == *text &&
           match(pat + 1, plen - 1, text + 1, len - 1);
}

/* Poll (bounded) the server's stdout, from where the last match ended,
 * for a line matching PAT. Returns 0, or -1 after saying why. */
static int expect_log(struct run *r, const char *pat, size_t plen, int ms)
{
    long long end = bound(r, ms);
    char line[MAX_LINE];
    for (;;) {
        FILE *f = fopen(r->srv.out, "r");
        if (f != NULL && fseek(f, r->srv.log_pos, SEEK_SET) == 0) {
            while (fgets(line, sizeof line, f) != NULL) {
                size_t n = strlen(line);
                if (n == 0 || line[n - 1] != '\n') {
                    break; /* half a line: look again later */
                }
                r->srv.log_pos = ftell(f);
                if (match(pat, plen, line, n - 1)) {
                    fclose(f);
                    return 0;
                }
            }
        }
        if (f != NULL) {
            fclose(f);
        }
        if (now_ms() >= end) {
            return failed(r, "no line '%.*s' on the server's stdout", (int)plen,
                          pat);
        }
        sleep_ms(10);
    }
}

/* ---- connections ----------------------------------------------------- */

/* Read what C has now (waiting at most MS): into C->got. Returns 1 if
 * anything happened (bytes, EOF, an error), 0 if nothing came. */
static int pump(struct conn *c, int ms)
{
    if (c->fd < 0 || c->eof || c->err) {
        return 0;
    }
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    if (poll(&p, 1, ms) <= 0) {
        return 0;
    }
    char *room = buf_reserve(&c->got, 65536);
    ssize_t n = room != NULL ? recv(c->fd, room, 65536, MSG_DONTWAIT) : -1;
    if (n > 0) {
        buf_commit(&c->got, (size_t)n);
    } else if (n == 0) {
        c->eof = 1;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        c->err = errno;
    } else {
        return 0;
    }
    return 1;
}

/* Send LEN bytes on C, waiting (bounded) while the socket is full and
 * reading meanwhile unless C is noread. A closed or reset peer ends it
 * quietly (the server may close first: that is for the expects to
 * judge). Returns 0, or -1 on timeout. */
static int send_bytes(struct run *r, struct conn *c, const char *data,
                      size_t len)
{
    long long end = bound(r, r->wait_ms);
    while (len > 0 && c->fd >= 0 && c->send_err == 0) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            buf_append(&c->sent, data, (size_t)n);
            data += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
            errno != EINTR) {
            c->send_err = errno; /* EPIPE, ECONNRESET: the server has gone */
            break;
        }
        struct pollfd p = {.fd = c->fd,
                           .events = POLLOUT | (c->noread ? 0 : POLLIN)};
        if (now_ms() >= end || poll(&p, 1, left(end)) == 0) {
            return failed(r, "%s: the server took no more bytes", c->name);
        }
        if (p.revents & POLLIN) {
            pump(c, 0);
        }
    }
    return 0;
}

/* A connection named NAME to the server; NULL after saying why. */
static struct conn *new_conn(struct run *r, const char *name, int fd)
{
    if (r->count == MAX_CONNS) {
        close(fd);
        failed(r, "more than %d connections", MAX_CONNS);
        return NULL;
    }
    struct conn *c = &r->conns[r->count++];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    c->fd = fd;
    return c;
}

/* A blocking connect (bounded by the kernel's own handshake timeout,
 * which on loopback is an answer at once). */
static int cmd_connect(struct run *r, const char *name)
{
    int fd = net_connect("localhost", r->srv.port);
    if (fd < 0) {
        return failed(r, "%s: could not connect", name);
    }
    return new_conn(r, name, fd) != NULL ? 0 : -1;
}

/* The server's address, as one blocking connect finds it (::1 or
 * 127.0.0.1), into *SS and *LEN. Returns 0, or -1 after saying why. */
static int server_addr(struct run *r, struct sockaddr_storage *ss,
                       socklen_t *len)
{
    *len = sizeof *ss;
    int probe = net_connect("localhost", r->srv.port);
    if (probe < 0 || getpeername(probe, (struct sockaddr *)ss, len) < 0) {
        if (probe >= 0) {
            close(probe);
        }
        return failed(r, "could not connect");
    }
    close(probe);
    return 0;
}

/* A non-blocking connect to SS; the socket, or -1 with errno set. */
static int connect_nb(const struct sockaddr_storage *ss, socklen_t len)
{
    int fd = socket(ss->ss_family, SOCK_STREAM, 0);
    if (fd < 0 || set_nonblocking(fd) < 0) {
        int err = errno;
        if (fd >= 0) {
            close(fd);
        }
        errno = err;
        return -1;
    }
    if (connect(fd, (const struct sockaddr *)ss, len) < 0 &&
        errno != EINPROGRESS) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

/* open NAME N: N non-blocking connects at once, then up to OPEN_MS for
 * their handshakes (the server's accept queue may be full: the kernel
 * then drops SYNs, and the retries come a second later). */
static int cmd_open(struct run *r, const char *name, long n)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (server_addr(r, &ss, &len) < 0) {
        return -1;
    }
    int first = r->count;
    for (long i = 0; i < n; i++) {
        int fd = connect_nb(&ss, len);
        if (fd < 0) {
            return failed(r, "connect: %s", errno_name(errno));
        }
        if (new_conn(r, name, fd) == NULL) {
            return -1;
        }
    }
    long long end = bound(r, OPEN_MS);
    int pending = 1;
    while (pending && now_ms() < end) {
        pending = 0;
        for (int i = first; i < r->count; i++) {
            struct pollfd p = {.fd = r->conns[i].fd, .events = POLLOUT};
            pending |= poll(&p, 1, 0) == 0;
        }
        if (pending) {
            sleep_ms(10);
        }
    }
    return 0;
}

/* flood NAME BYTES TEXT: TEXT again and again, never reading, until
 * BYTES have gone or the server has taken nothing for FLOOD_STALL_MS
 * (it pushes back: that is what this tests). */
static int flood(struct run *r, struct conn *c, long long bytes,
                 const char *text, size_t len)
{
    c->noread = 1;
    long long sent = 0;
    while (sent < bytes && c->fd >= 0 && c->send_err == 0) {
        ssize_t n = send(c->fd, text, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            sent += n; /* a short send may leave half a TEXT: no matter */
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
            errno != EINTR) {
            c->send_err = errno;
            break;
        }
        struct pollfd p = {.fd = c->fd, .events = POLLOUT};
        if (poll(&p, 1, FLOOD_STALL_MS * r->slow) == 0) {
            break;
        }
    }
    printf("     %s: flooded %lld bytes\n", c->name, sent);
    return 0;
}

/* Close C: plainly, or with SO_LINGER 0, which makes close() send RST. */
static void drop_conn(struct conn *c, int rst)
{
    if (c->fd >= 0) {
        if (rst) {
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        close(c->fd);
        c->fd = -1;
    }
    buf_free(&c->sent);
    buf_free(&c->got);
}

/* Wait (bounded) until C has at least N bytes in C->got, or ends. */
static int await_bytes(struct run *r, struct conn *c, size_t n, int ms)
{
    long long end = bound(r, ms);
    while (buf_len(&c->got) < n) {
        if (c->eof || c->err || c->fd < 0) {
            return failed(r, "%s: %s after %zu of %zu bytes", c->name,
                          c->err ? errno_name(c->err) : "end of file",
                          buf_len(&c->got), n);
        }
        if (now_ms() >= end) {
            return failed(r, "%s: %zu of %zu bytes within %d ms", c->name,
                          buf_len(&c->got), n, ms * r->slow);
        }
        pump(c, left(end) < 100 ? left(end) : 100);
    }
    return 0;
}

/* expect-echo: every byte sent so far comes back, in order. */
static int expect_echo(struct run *r, struct conn *c)
{
    size_t n = buf_len(&c->sent);
    if (await_bytes(r, c, n, r->wait_ms) < 0) {
        return -1;
    }
    if (n > 0 && memcmp(buf_data(&c->got), buf_data(&c->sent), n) != 0) {
        return failed(r, "%s: the echo differs from what was sent", c->name);
    }
    buf_consume(&c->got, n);
    buf_consume(&c->sent, n);
    return 0;
}

/* expect-line: lines of C are taken until one matches PAT. */
static int expect_line(struct run *r, struct conn *c, const char *pat,
                       size_t plen, int ms)
{
    long long end = bound(r, ms);
    for (;;) {
        char *data = buf_data(&c->got);
        char *nl =
            buf_len(&c->got) > 0 ? memchr(data, '\n', buf_len(&c->got)) : NULL;
        if (nl != NULL) {
            size_t len = (size_t)(nl - data);
            int hit = match(pat, plen, data,
                            len > 0 && nl[-1] == '\r' ? len - 1 : len);
            buf_consume(&c->got, len + 1);
            if (hit) {
                return 0;
            }
            continue;
        }
        if (c->eof || c->err || c->fd < 0 || now_ms() >= end) {
            return failed(r, "%s: no line '%.*s' (%s)", c->name, (int)plen, pat,
                          c->err   ? errno_name(c->err)
                          : c->eof ? "end of file first"
                                   : "timeout");
        }
        pump(c, left(end) < 100 ? left(end) : 100);
    }
}

/* expect-eof / expect-closed: C ends (what comes first is dropped) with
 * a clean end of file, or (RESET_OK) a reset too. */
static int expect_end(struct run *r, struct conn *c, int reset_ok)
{
    long long end = bound(r, r->wait_ms);
    while (!c->eof && !c->err && now_ms() < end) {
        pump(c, left(end) < 100 ? left(end) : 100);
        buf_consume(&c->got, buf_len(&c->got));
    }
    if (!c->eof && !c->err) {
        return failed(r, "%s: still open after %d ms", c->name,
                      r->wait_ms * r->slow);
    }
    if (c->err && !reset_ok) {
        return failed(r, "%s: %s instead of a clean end of file", c->name,
                      errno_name(c->err));
    }
    return 0;
}

/* slowloris C MS TEXT: TEXT a byte every MS ms, until the server says
 * something or closes; it must do so within the case's timeout. */
static int slowloris(struct run *r, struct conn *c, int ms, const char *text,
                     size_t len)
{
    long long end = bound(r, r->wait_ms);
    for (size_t i = 0; now_ms() < end; i++) {
        if (i < len) {
            send_bytes(r, c, text + i, 1);
        }
        if (pump(c, ms) || c->send_err) {
            return 0; /* an answer, or the end */
        }
    }
    return failed(r, "%s: no answer and still open after %d ms", c->name,
                  r->wait_ms * r->slow);
}

/* ---- the probe: a normal client, served correctly -------------------- */

static int probe_echo(struct run *r, struct conn *a, int serial)
{
    char line[64];
    int n = snprintf(line, sizeof line, "probe %d\n", serial);
    if (send_bytes(r, a, line, (size_t)n) < 0 || expect_echo(r, a) < 0) {
        return -1;
    }
    shutdown(a->fd, SHUT_WR);
    r->wait_ms = PROBE_MS;
    return expect_end(r, a, 0);
}

/* Two chat clients: A's line is printed by the server and relayed to B. */
static int probe_chat(struct run *r, struct conn *a, int serial)
{
    static const char you[] = "[server] you are {*}";
    if (expect_line(r, a, you, sizeof you - 1, PROBE_MS) < 0 ||
        cmd_connect(r, "probe-b") < 0) {
        return -1;
    }
    struct conn *b = &r->conns[r->count - 1];
    char line[64], pat[64];
    int n = snprintf(line, sizeof line, "probe %d\n", serial);
    int p = snprintf(pat, sizeof pat, "[{*}] probe %d", serial);
    if (expect_line(r, b, you, sizeof you - 1, PROBE_MS) < 0 ||
        send_bytes(r, a, line, (size_t)n) < 0 ||
        expect_line(r, b, pat, (size_t)p, PROBE_MS) < 0) {
        return -1;
    }
    return expect_log(r, pat, (size_t)p, PROBE_MS);
}

/* A c2c peer: our line is printed, a line typed on its stdin reaches us. */
static int probe_c2c(struct run *r, struct conn *a, int serial)
{
    char line[64], pat[64];
    int n = snprintf(line, sizeof line, "probe %d\n", serial);
    int p = snprintf(pat, sizeof pat, "[{*}] probe %d", serial);
    if (send_bytes(r, a, line, (size_t)n) < 0 ||
        expect_log(r, pat, (size_t)p, PROBE_MS) < 0) {
        return -1;
    }
    n = snprintf(line, sizeof line, "reply %d\n", serial);
    return to_stdin(r, line, (size_t)n) < 0
               ? -1
               : expect_line(r, a, line, (size_t)n - 1, PROBE_MS);
}

static int probe_http(struct run *r, struct conn *a)
{
    static const char get[] =
        "GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    static const char ok[] = "HTTP/1.1 200 OK", body[] = "hello";
    if (send_bytes(r, a, get, sizeof get - 1) < 0 ||
        expect_line(r, a, ok, sizeof ok - 1, PROBE_MS) < 0 ||
        expect_line(r, a, "", 0, PROBE_MS) < 0 ||
        expect_line(r, a, body, sizeof body - 1, PROBE_MS) < 0) {
        return -1;
    }
    r->wait_ms = PROBE_MS;
    return expect_end(r, a, 0);
}

/* The server serves a normal client correctly. Its connections are
 * closed again before this returns. */
static int probe(struct run *r)
{
    int saved_wait = r->wait_ms, first = r->count, rc;
    int serial = ++r->probes; /* each probe's line is its own */
    r->wait_ms = PROBE_MS;
    rc = cmd_connect(r, "probe");
    if (rc == 0) {
        struct conn *a = &r->conns[first];
        const char *p = r->protocol;
        rc = !strcmp(p, "echo")   ? probe_echo(r, a, serial)
             : !strcmp(p, "chat") ? probe_chat(r, a, serial)
             : !strcmp(p, "c2c")  ? probe_c2c(r, a, serial)
                                  : probe_http(r, a);
    }
    while (r->count > first) {
        drop_conn(&r->conns[--r->count], 0);
    }
    r->wait_ms = saved_wait;
    return rc;
}

/* ---- case files -------------------------------------------------------- */

/* Decode the escapes \r \n \t \0 \\ \xHH of IN into OUT (MAX_LINE bytes);
 * returns the length. */
static size_t unescape(const char *in, char *out)
{
    size_t n = 0;
    for (; *in != '\0' && n < MAX_LINE; in++) {
        if (*in != '\\' || in[1] == '\0') {
            out[n++] = *in;
            continue;
        }
        in++;
        const char *from = "rnt0\\", *to = "\r\n\t\0\\";
        const char *hit = strchr(from, *in);
        if (*in == 'x' && isxdigit((unsigned char)in[1]) &&
            isxdigit((unsigned char)in[2])) {
            char hex[3] = {in[1], in[2], '\0'};
            out[n++] = (char)strtol(hex, NULL, 16);
            in += 2;
        } else if (hit != NULL) {
            out[n++] = to[hit - from];
        } else {
            out[n++] = *in;
        }
    }
    return n;
}

/* Split the next blank-separated word off *LINE. */
static char *word(char **line)
{
    char *w = *line + strspn(*line, " \t");
    char *end = w + strcspn(w, " \t");
    *line = *end != '\0' ? end + 1 : end;
    *end = '\0';
    return w;
}

/* Whether the space-, comma- or bracket-separated LIST names PROTOCOL. */
static int lists(const char *list, const char *protocol)
{
    size_t n = strlen(protocol);
    for (const char *p = list; (p = strstr(p, protocol)) != NULL; p += n) {
        int starts = p == list || strchr(" ,[", p[-1]) != NULL;
        if (starts && (p[n] == '\0' || strchr(" ,]\n", p[n]) != NULL)) {
            return 1;
        }
    }
    return 0;
}

/* Run one command on every connection named NAME. */
static int each(struct run *r, const char *name, const char *cmd, long n,
                const char *text, size_t len)
{
    int found = 0;
    for (int i = 0; i < r->count; i++) {
        struct conn *c = &r->conns[i];
        if (strcmp(c->name, name) != 0 ||
            (c->fd < 0 && strcmp(cmd, "rst") && strcmp(cmd, "close"))) {
            continue;
        }
        found = 1;
        int rc = 0;
        if (!strcmp(cmd, "send") || !strcmp(cmd, "sendraw")) {
            rc = send_bytes(r, c, text, len);
        } else if (!strcmp(cmd, "sendrep")) {
            for (long k = 0; k < n && rc == 0 && c->send_err == 0; k++) {
                rc = send_bytes(r, c, text, len);
            }
        } else if (!strcmp(cmd, "trickle")) {
            for (size_t k = 0; k < len && rc == 0 && c->send_err == 0; k++) {
                rc = send_bytes(r, c, text + k, 1);
                sleep_ms(n); /* pacing the hostile client, not waiting */
            }
        } else if (!strcmp(cmd, "slowloris")) {
            rc = slowloris(r, c, (int)n, text, len);
        } else if (!strcmp(cmd, "flood")) {
            rc = flood(r, c, n, text, len);
        } else if (!strcmp(cmd, "noread")) {
            c->noread = 1;
        } else if (!strcmp(cmd, "read")) {
            rc = await_bytes(r, c, (size_t)n, r->wait_ms);
            buf_consume(&c->got, rc == 0 ? (size_t)n : 0);
        } else if (!strcmp(cmd, "shutdown-write")) {
            shutdown(c->fd, SHUT_WR);
        } else if (!strcmp(cmd, "close") || !strcmp(cmd, "rst")) {
            drop_conn(c, cmd[0] == 'r');
        } else if (!strcmp(cmd, "expect-echo")) {
            rc = expect_echo(r, c);
        } else if (!strcmp(cmd, "expect-line")) {
            rc = expect_line(r, c, text, len, r->wait_ms);
        } else if (!strcmp(cmd, "expect-eof") ||
                   !strcmp(cmd, "expect-closed")) {
            rc = expect_end(r, c, cmd[7] == 'c');
        } else {
            return failed(r, "unknown command '%s'", cmd);
        }
        if (rc < 0) {
            return -1;
        }
    }
    return found ? 0 : failed(r, "no connection named '%s'", name);
}

/* One command line of a case (its [PROTOCOLS] prefix already taken). */
static int command(struct run *r, char *line)
{
    static char text[MAX_LINE + 1];
    char *cmd = word(&line);
    if (!strcmp(cmd, "pause")) {
        sleep_ms(strtol(line, NULL, 10)); /* pacing, not waiting */
        return 0;
    }
    if (!strcmp(cmd, "timeout")) {
        r->wait_ms = (int)strtol(line, NULL, 10) * 1000;
        return 0;
    }
    if (!strcmp(cmd, "probe")) {
        return probe(r);
    }
    if (!strcmp(cmd, "max-growth")) {
        long kb = rss_kb(r->srv.pid, "VmHWM:");
        long limit = strtol(line, NULL, 10) * 1024;
        if (r->no_growth || kb < 0) {
            return 0;
        }
        printf("     the server peaked %ld KiB above its start\n",
               kb - r->srv.rss_kb);
        if (kb - r->srv.rss_kb <= limit) {
            return 0;
        }
        return failed(r, "the server grew by %ld KiB (limit %ld KiB)",
                      kb - r->srv.rss_kb, limit);
    }
    if (!strcmp(cmd, "expect-log") || !strcmp(cmd, "expect-logs")) {
        long n = cmd[10] == 's' ? strtol(word(&line), NULL, 10) : 1;
        size_t len = unescape(line, text);
        for (long k = 0; k < n; k++) {
            if (expect_log(r, text, len, r->wait_ms) < 0) {
                return -1;
            }
        }
        return 0;
    }
    if (!strcmp(cmd, "stdin") || !strcmp(cmd, "stdinrep")) {
        long n = cmd[5] == 'r' ? strtol(word(&line), NULL, 10) : 1;
        size_t len = unescape(line, text);
        if (cmd[5] != 'r') {
            text[len++] = '\n';
        }
        for (long k = 0; k < n; k++) {
            if (to_stdin(r, text, len) < 0) {
                return -1;
            }
        }
        return 0;
    }
    char *name = word(&line);
    if (*name == '\0') {
        return failed(r, "'%s' needs a connection name", cmd);
    }
    if (!strcmp(cmd, "connect")) {
        return cmd_connect(r, name);
    }
    long n = 0;
    if (!strcmp(cmd, "open") || !strcmp(cmd, "sendrep") ||
        !strcmp(cmd, "trickle") || !strcmp(cmd, "slowloris") ||
        !strcmp(cmd, "flood") || !strcmp(cmd, "read")) {
        char *end;
        n = strtol(word(&line), &end, 10);
        n *= *end == 'K' ? 1024 : *end == 'M' ? 1024 * 1024 : 1;
    }
    if (!strcmp(cmd, "open")) {
        return cmd_open(r, name, n);
    }
    size_t len = unescape(line, text);
    if (!strcmp(cmd, "send")) {
        text[len++] = '\n';
    }
    return each(r, name, cmd, n, text, len);
}

/* Run the case in PATH, if it is meant for our protocol. Returns 1 if it
 * ran, 0 if it is not for us, -1 if it failed (r->why says why). */
static int run_case(struct run *r, const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return failed(r, "%s: %s", path, errno_name(errno));
    }
    char *line = NULL;
    size_t cap = 0;
    int rc = 0, meant = -1;
    r->wait_ms = WAIT_MS;
    start_peak(r->srv.pid);
    r->srv.rss_kb = rss_kb(r->srv.pid, "VmRSS:");
    while (rc == 0 && getline(&line, &cap, f) >= 0) {
        line[strcspn(line, "\n")] = '\0';
        char *cmd = line + strspn(line, " \t");
        if (*cmd == '#' || *cmd == '\0') {
            continue;
        }
        if (meant < 0) { /* the first command: protocols P... */
            meant =
                strncmp(cmd, "protocols ", 10) == 0
                    ? lists(cmd + 10, r->protocol)
                    : failed(r, "%s: the first line must be 'protocols'", path);
            rc = meant <= 0 ? meant : 0;
            if (meant == 0) {
                break;
            }
            continue;
        }
        if (*cmd == '[') {
            char *close = strchr(cmd, ']');
            if (close == NULL) {
                rc = failed(r, "unclosed [");
                break;
            }
            *close = '\0';
            if (!lists(cmd + 1, r->protocol)) {
                continue;
            }
            cmd = close + 1;
        }
        if (now_ms() >= r->deadline) {
            rc = failed(r, "the run's time is up");
        } else {
            rc = command(r, cmd);
        }
        if (rc < 0) {
            char where[80];
            int n = snprintf(where, sizeof where, "'%.60s%s': ", cmd,
                             strlen(cmd) > 60 ? "..." : "");
            prefix_why(r, where, (size_t)n);
        }
    }
    free(line);
    fclose(f);
    while (r->count > 0) {
        drop_conn(&r->conns[--r->count], 0);
    }
    return rc < 0 ? -1 : meant > 0;
}

/* Wait (bounded) until the server holds BASELINE descriptors again. */
static int settled(struct run *r, int baseline)
{
    long long end = bound(r, SETTLE_MS);
    int n = count_fds(r->srv.pid);
    while (n != baseline && now_ms() < end) {
        sleep_ms(10);
        n = count_fds(r->srv.pid);
    }
    if (n == baseline) {
        return 0;
    }
    list_fds(r->srv.pid);
    return failed(r, "%d descriptors open, %d before", n, baseline);
}

/* The server's descriptor count once it is steady: the same for
 * STEADY_LOOKS looks 10 ms apart (bounded). After the first probe, the
 * server has finished setting up (the epoll servers make their epoll
 * descriptor after "listening on") and closed the probe's connections. */
static int steady_fds(struct run *r)
{
    long long end = bound(r, SETTLE_MS);
    int n = count_fds(r->srv.pid), same = 0;
    while (same < STEADY_LOOKS * r->slow && now_ms() < end) {
        sleep_ms(10);
        int now = count_fds(r->srv.pid);
        same = now == n ? same + 1 : 0;
        n = now;
    }
    return n;
}

/* ---- --exhaust and --term-busy ------------------------------------------ */

/* The CPU time the server has used so far, user and system, all its
 * threads, in milliseconds; -1 where /proc is missing. */
static long long cpu_ms(pid_t pid)
{
    char path[64], stat[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    size_t n = f != NULL ? fread(stat, 1, sizeof stat - 1, f) : 0;
    if (f != NULL) {
        fclose(f);
    }
    stat[n] = '\0';
    /* Fields 14 and 15, utime and stime, in clock ticks. The name, field
     * 2, is in parentheses and may hold blanks: count from its ')'. */
    char *p = strrchr(stat, ')');
    unsigned long long user, sys;
    long tick = sysconf(_SC_CLK_TCK);
    if (p == NULL || tick <= 0 ||
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
               &user, &sys) != 2) {
        return -1;
    }
    return (long long)((user + sys) * 1000 / (unsigned long long)tick);
}

/* --exhaust N: N non-blocking connects at once (open), all held, to a
 * server with few descriptors. Some it accepts, some it refuses, some
 * wait in its accept queue or in SYN retries: none may kill it, nor make
 * it spin. The hold window is a measurement, not a wait for the server:
 * its CPU time over HOLD_MS. The connections are closed at the end; the
 * caller then checks the server as after a case. */
static int exhaust(struct run *r, long n)
{
    pid_t pid = r->srv.pid;
    int rc = cmd_open(r, "exhaust", n);
    long long cpu0 = cpu_ms(pid), t0 = now_ms();
    if (rc == 0) {
        sleep_ms(HOLD_MS); /* the measurement window (see above) */
    }
    long long cpu1 = cpu_ms(pid), t1 = now_ms();
    int fds = count_fds(pid) - 2; /* not "." and ".." */
    /* With RST: a FIN to a connection still in the handshake (its ACK
     * dropped from a full accept queue) waits on TCP's retransmission
     * backoff, and the server would hold it for seconds (many.case). */
    for (; r->count > 0; r->count--) {
        drop_conn(&r->conns[r->count - 1], 1);
    }
    if (rc < 0) {
        return -1;
    }
    if (!server_alive(&r->srv)) {
        return failed(r, "the server died with %ld connections held", n);
    }
    long long used = cpu1 - cpu0, percent = used * 100 / (t1 - t0);
    printf("     %ld connections held %lld ms: the server had %d "
           "descriptors and used %lld ms of CPU (%lld%%)%s\n",
           n, t1 - t0, fds, used, percent,
           r->slow > 1 ? ", not checked under valgrind" : "");
    if (cpu0 >= 0 && cpu1 >= 0 && r->slow == 1 && percent > CPU_MAX_PERCENT) {
        return failed(r, "the server spins: %lld%% of a CPU (limit %d%%)",
                      percent, CPU_MAX_PERCENT);
    }
    return 0;
}

/* One busy connection of --term-busy. */
struct busy {
    size_t pos;      /* the next byte of the load block to send */
    long long bytes; /* received */
    long long sent;  /* sent */
};

/* The protocol's traffic, a whole number of messages LOAD_BLOCK bytes at
 * most, into BLOCK; returns its length. HTTP: pipelined GETs of a small
 * file; the others: lines. */
static size_t load_block(const char *protocol, char *block)
{
    const char *unit = !strcmp(protocol, "http")
                           ? "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"
                           : LOAD_LINE "\n";
    size_t ulen = strlen(unit), len = 0;
    while (len + ulen <= LOAD_BLOCK) {
        memcpy(block + len, unit, ulen);
        len += ulen;
    }
    return len;
}

/* Serve one busy connection P whose poll said REVENTS: read (and drop)
 * what came, send more of BLOCK. Returns 0, or -1 when it has ended (its
 * socket is closed then). */
static int busy_io(struct pollfd *p, struct busy *b, const char *block,
                   size_t blen)
{
    char sink[65536];
    if (p->revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = recv(p->fd, sink, sizeof sink, MSG_DONTWAIT);
        if (n > 0) {
            b->bytes += n;
        } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK &&
                              errno != EINTR)) {
            close(p->fd);
            p->fd = -1;
            return -1; /* refused, closed, reset: all the server's right */
        }
    }
    if (p->revents & POLLOUT) {
        ssize_t n = send(p->fd, block + b->pos, blen - b->pos,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            b->sent += n;
            b->pos = (b->pos + (size_t)n) % blen;
        }
    }
    return 0;
}

/* --term-busy N: N connections that send the protocol's traffic without
 * pause and read whatever comes back; one the server ends is replaced
 * until SIGTERM, which comes after BUSY_WARM_MS of this. The traffic
 * goes on until the server has exited, within TERM_MS. Returns 0 with
 * *STATUS the server's wait status, or -1 (then it was killed). */
static int term_busy(struct run *r, long n, int *status)
{
    struct sockaddr_storage ss;
    socklen_t len;
    static char block[LOAD_BLOCK];
    size_t blen = load_block(r->protocol, block);
    struct pollfd *p = calloc((size_t)n, sizeof *p);
    struct busy *b = calloc((size_t)n, sizeof *b);
    if (p == NULL || b == NULL || server_addr(r, &ss, &len) < 0) {
        free(p);
        free(b);
        return failed(r, "no room, or no server to load");
    }
    for (long i = 0; i < n; i++) {
        p[i].fd = connect_nb(&ss, len);
        p[i].events = POLLIN | POLLOUT;
    }
    long long term_at = now_ms() + (long long)BUSY_WARM_MS * r->slow;
    long long end = 0, before = 0, sent = 0, got = 0, term = 0;
    pid_t done = 0;
    int rc = 0;
    while (done == 0 && rc == 0) {
        poll(p, (nfds_t)n, 10);
        for (long i = 0; i < n; i++) {
            if (p[i].fd >= 0 && p[i].revents != 0 &&
                busy_io(&p[i], &b[i], block, blen) < 0 && end == 0) {
                p[i].fd = connect_nb(&ss, len); /* the next one */
                b[i].pos = 0;
            }
        }
        if (end == 0 && now_ms() >= term_at) {
            for (long i = 0; i < n; i++) {
                before += b[i].bytes;
            }
            kill(r->srv.pid, SIGTERM);
            term = now_ms();
            end = bound(r, TERM_MS);
        }
        if (end != 0) {
            done = waitpid(r->srv.pid, status, WNOHANG);
            rc = done < 0 || (done == 0 && now_ms() >= end) ? -1 : 0;
        }
    }
    for (long i = 0; i < n; i++) {
        if (p[i].fd >= 0) {
            close(p[i].fd);
        }
        sent += b[i].sent;
        got += b[i].bytes;
    }
    free(p);
    free(b);
    printf("     %ld busy connections: %lld bytes sent, %lld received "
           "(%lld before SIGTERM); exit %lld ms after SIGTERM\n",
           n, sent, got, before, now_ms() - term);
    if (rc < 0) {
        kill(-r->srv.pid, SIGKILL);
        waitpid(r->srv.pid, status, 0);
        return failed(r, "the server did not exit within %d ms of SIGTERM",
                      TERM_MS * r->slow);
    }
    if (got == 0 && strcmp(r->protocol, "echo") == 0) {
        return failed(r,
                      "no echo came back: no load"); /* the others: the log */
    }
    return 0;
}

/* What a server prints on stdout, line by line (see each server's
 * header): a line matching none of these is torn or garbled. */
static const char load_log[] = "[{#}] " LOAD_LINE; /* chat, c2c: the load */
static const char *const log_forms[] = {
    "listening on {a}",         /* every server, first */
    "[{#}] connected from {a}", /* every server */
    "[{#}] connected to {a}",   /* c2c, a peer it dialled */
    "[{#}] closed",             /* every server */
    "[{#}] closed ({t})",       /* with the reason: stopping, an errno */
    "[{#}] refused {a}: {t}",   /* echo, http: too many */
    "refused {a}: {t}",         /* chat, c2c: full */
    "[{#}] {t}: dropped",       /* chat, c2c: too slow, too long */
    "[{#}] bad request: {#}",   /* http */
    "[{#}] probe {#}",          /* chat, c2c: the probe's line */
    "[{#}] GET /hello.txt 200", /* http: the load */
    load_log,
};

/* After --term-busy: the server's stdout ends with a newline and each
 * line is one of log_forms, so nothing was half written; with the load's
 * lines there (every protocol's server but echo logs its traffic). */
static int check_log(struct run *r)
{
    FILE *f = fopen(r->srv.out, "r");
    char *line = NULL;
    size_t cap = 0, forms = sizeof log_forms / sizeof log_forms[0];
    ssize_t n;
    long count = 0, load = 0;
    int last_nl = 0;
    while (f != NULL && (n = getline(&line, &cap, f)) > 0) {
        count++;
        last_nl = line[n - 1] == '\n';
        size_t len = (size_t)n - (size_t)last_nl, k = 0;
        while (k < forms &&
               !match(log_forms[k], strlen(log_forms[k]), line, len)) {
            k++;
        }
        if (k == forms || !last_nl) {
            failed(r, "stdout line %ld is %s: '%.*s'", count,
                   last_nl ? "not well-formed" : "cut short (no newline)",
                   (int)(len < 200 ? len : 200), line);
            break;
        }
        load += k >= forms - 2; /* the last two forms: the load's lines */
    }
    free(line);
    if (f != NULL) {
        fclose(f);
    }
    printf("     the server's stdout: %ld lines, %ld of the load's\n", count,
           load);
    if (r->why[0] != '\0') {
        return -1;
    }
    if (count == 0 || !last_nl) {
        return failed(r, "the server's stdout is empty or cut short");
    }
    if (load == 0 && strcmp(r->protocol, "echo") != 0) {
        return failed(r, "none of the load's lines on the server's stdout");
    }
    return 0;
}

/* ---- main --------------------------------------------------------------- */

/* Print the end of a file (the server's log) on stderr: its last
 * DUMP_BYTES, where a thousand connections log a line each. */
static void dump(const char *title, const char *path)
{
    fprintf(stderr, "---- server %s (the end) ----\n", title);
    FILE *f = fopen(path, "r");
    char line[4096];
    if (f != NULL && fseek(f, 0, SEEK_END) == 0 && ftell(f) > DUMP_BYTES) {
        fseek(f, -DUMP_BYTES, SEEK_END);
        fgets(line, sizeof line, f); /* from the next whole line */
    } else if (f != NULL) {
        rewind(f);
    }
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        fputs(line, stderr);
    }
    if (f != NULL) {
        fclose(f);
    }
}

/* The server exited after SIGTERM with STATUS: it must be 0, and under
 * valgrind no descriptor may be left open. Returns 0 or -1. */
static int check_exit(struct run *r, int status)
{
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return failed(r, "the server's exit status after SIGTERM: %d",
                      WIFEXITED(status) ? WEXITSTATUS(status)
                                        : 128 + WTERMSIG(status));
    }
    FILE *f = fopen(r->srv.err, "r");
    char line[1024];
    int open = 0;
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        open |= strstr(line, "== Open ") != NULL;
    }
    if (f != NULL) {
        fclose(f);
    }
    return open ? failed(r, "a descriptor was left open at exit") : 0;
}

/* SIGTERM; the server must exit 0 (bounded), and under valgrind with no
 * descriptor left open. Returns 0 or -1. */
static int stop_server(struct run *r)
{
    kill(r->srv.pid, SIGTERM);
    long long end = now_ms() + 4000LL * (r->slow > 1 ? 2 : 1);
    int status = 0;
    pid_t done = 0;
    while ((done = waitpid(r->srv.pid, &status, WNOHANG)) == 0 &&
           now_ms() < end) {
        sleep_ms(10);
    }
    if (done != r->srv.pid) {
        kill(-r->srv.pid, SIGKILL);
        waitpid(r->srv.pid, &status, 0);
        return failed(r, "the server did not stop on SIGTERM");
    }
    return check_exit(r, status);
}

/* After a case (or --exhaust) named NAME, begun at STARTED, whose
 * connections are closed: the server must be alive, back to BASELINE
 * descriptors and serve a normal client. Prints the verdict; returns 0,
 * or 1 (*DEAD set if the server has died). */
static int after_case(struct run *r, const char *name, long long started,
                      int baseline, int *dead)
{
    int alive = server_alive(&r->srv);
    if (!alive) {
        failed(r, "the server died");
    } else if (settled(r, baseline) == 0 && probe(r) < 0) {
        prefix_why(r, "after the case, the probe: ", 27);
    } else {
        settled(r, baseline);
    }
    if (r->why[0] != '\0') {
        printf("FAIL %s: %s\n", name, r->why);
        r->why[0] = '\0';
        *dead = !alive;
        return 1;
    }
    printf("ok   %s (%lld ms)\n", name, now_ms() - started);
    return 0;
}

/* --term-busy: SIGTERM under load (term_busy), then the exit status and
 * the server's stdout. Prints the verdict; returns 0 or 1. */
static int term_test(struct run *r)
{
    long long started = now_ms();
    int status = 0;
    if (term_busy(r, r->term_busy, &status) == 0 &&
        check_exit(r, status) == 0) {
        check_log(r);
    }
    if (r->why[0] != '\0') {
        printf("FAIL term-busy: %s\n", r->why);
        return 1;
    }
    printf("ok   term-busy (%lld ms)\n", now_ms() - started);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: hostile [--valgrind PATH] [--timeout SECONDS] "
                    "[--no-growth-check 1] [--nofile N|max] [--exhaust N | "
                    "--term-busy N] echo|chat|c2c|http CASE... -- "
                    "SERVER ARGS...\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static char vg_opts[] = "--quiet --error-exitcode=99 --leak-check=full "
                            "--errors-for-leak-kinds=definite,indirect "
                            "--track-fds=yes";
    static struct run r = {.slow = 1};
    setvbuf(stdout, NULL, _IOLBF, 0);
    char *server_argv[64];
    int n = 0, i = 1;
    long timeout = 90;
    for (; i + 1 < argc && argv[i][0] == '-' && argv[i][1] == '-'; i += 2) {
        if (!strcmp(argv[i], "--valgrind")) {
            server_argv[n++] = argv[i + 1];
            for (char *o = strtok(vg_opts, " "); o; o = strtok(NULL, " ")) {
                server_argv[n++] = o;
            }
            r.slow = VALGRIND_SLOWDOWN;
            r.no_growth = 1;
        } else if (!strcmp(argv[i], "--no-growth-check")) {
            r.no_growth = 1;
        } else if (!strcmp(argv[i], "--timeout")) {
            timeout = strtol(argv[i + 1], NULL, 10);
        } else if (!strcmp(argv[i], "--nofile")) {
            r.nofile = !strcmp(argv[i + 1], "max")
                           ? -1
                           : strtol(argv[i + 1], NULL, 10);
        } else if (!strcmp(argv[i], "--exhaust")) {
            r.exhaust = strtol(argv[i + 1], NULL, 10);
        } else if (!strcmp(argv[i], "--term-busy")) {
            r.term_busy = strtol(argv[i + 1], NULL, 10);
        } else {
            usage();
        }
    }
    if (i >= argc) {
        usage();
    }
    r.protocol = argv[i++];
    int first_case = i;
    while (i < argc && strcmp(argv[i], "--") != 0) {
        i++;
    }
    int last_case = i;
    if (i + 1 >= argc || argc - i + n > 62 ||
        !lists("echo chat c2c http", r.protocol)) {
        usage();
    }
    for (i++; i < argc; i++) {
        server_argv[n++] = argv[i];
    }
    server_argv[n] = NULL;
    signal(SIGPIPE, SIG_IGN);
    r.deadline = now_ms() + timeout * 1000;

    start_server(&r.srv, server_argv, r.nofile);
    /* Room for a thousand connections at once (the server keeps the
     * limit it was started with, unless --nofile). */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int status = 0, baseline = -1;
    int listening = read_port(&r);
    if (listening == 77) {
        dump("stderr", r.srv.err);
        printf("SKIPPED: the server exited with status 77\n");
        unlink(r.srv.out);
        unlink(r.srv.err);
        return 77;
    }
    if (listening < 0) {
        failed(&r, "the server did not print 'listening on'");
        status = 1;
    } else {
        status = probe(&r) < 0;
        baseline = steady_fds(&r);
    }
    if (status != 0) {
        printf("FAIL start: %s\n", r.why);
    }
    int dead = status != 0;
    if (r.exhaust > 0 && !dead) {
        long long started = now_ms();
        exhaust(&r, r.exhaust);
        status |= after_case(&r, "exhaust", started, baseline, &dead);
    }
    for (int k = first_case; k < last_case && !dead; k++) {
        long long started = now_ms();
        const char *name = strrchr(argv[k], '/');
        name = name != NULL ? name + 1 : argv[k];
        int ran = run_case(&r, argv[k]);
        if (ran == 0) {
            printf("skip %s (not for %s)\n", name, r.protocol);
            continue;
        }
        /* The case's connections are closed: the server must notice,
         * serve a normal client, and be back where it started. */
        status |= after_case(&r, name, started, baseline, &dead);
    }
    if (r.term_busy > 0 && !dead) {
        status |= term_test(&r);
        dead = 1; /* it has exited, or been killed */
    }
    if (!dead && server_alive(&r.srv)) {
        if (stop_server(&r) < 0) {
            printf("FAIL stop: %s\n", r.why);
            status = 1;
        }
    }
    if (status != 0) {
        kill(-r.srv.pid, SIGKILL);
        dump("stdout", r.srv.out);
        dump("stderr", r.srv.err);
    }
    unlink(r.srv.out);
    unlink(r.srv.err);
    printf("%s: %s\n", r.protocol, status ? "FAILED" : "all ok");
    return status;
}
