/*
 * hostile - run the hostile-client cases against one server of a protocol.
 *
 * Usage: hostile [--valgrind PATH] [--timeout SECONDS]
 *                [--no-growth-check 1] PROTOCOL CASE... -- SERVER ARGS...
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
 * The case language is described in tests/hostile/README.md. Waiting for
 * the server is always polling with a bound; the only plain sleeps are
 * the ones a case asks for to pace its hostile client (pause, trickle).
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
 * in its own process group, dying with us. */
static void start_server(struct server *s, char **argv)
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

/* Does TEXT (LEN bytes) match PAT (PLEN bytes), where "{*}" matches any
 * run of bytes? */
static int match(const char *pat, size_t plen, const char *text, size_t len)
{
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

/* open NAME N: N non-blocking connects at once, then up to OPEN_MS for
 * their handshakes (the server's accept queue may be full: the kernel
 * then drops SYNs, and the retries come a second later). */
static int cmd_open(struct run *r, const char *name, long n)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int probe = net_connect("localhost", r->srv.port);
    if (probe < 0 || getpeername(probe, (struct sockaddr *)&ss, &len) < 0) {
        if (probe >= 0) {
            close(probe);
        }
        return failed(r, "%s: could not connect", name);
    }
    close(probe);
    int first = r->count;
    for (long i = 0; i < n; i++) {
        int fd = socket(ss.ss_family, SOCK_STREAM, 0);
        if (fd < 0 || set_nonblocking(fd) < 0) {
            return failed(r, "socket: %s", errno_name(errno));
        }
        if (connect(fd, (struct sockaddr *)&ss, len) < 0 &&
            errno != EINPROGRESS) {
            close(fd);
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

static void usage(void)
{
    fprintf(stderr, "usage: hostile [--valgrind PATH] [--timeout SECONDS] "
                    "[--no-growth-check 1] echo|chat|c2c|http CASE... -- "
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

    start_server(&r.srv, server_argv);
    /* Room for a thousand connections at once (the server keeps the
     * limit it was started with). */
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
        int alive = server_alive(&r.srv);
        if (!alive) {
            failed(&r, "the server died");
        } else if (settled(&r, baseline) == 0 && probe(&r) < 0) {
            prefix_why(&r, "after the case, the probe: ", 27);
        } else {
            settled(&r, baseline);
        }
        if (r.why[0] != '\0') {
            printf("FAIL %s: %s\n", name, r.why);
            r.why[0] = '\0';
            status = 1;
            dead = !alive;
        } else {
            printf("ok   %s (%lld ms)\n", name, now_ms() - started);
        }
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
