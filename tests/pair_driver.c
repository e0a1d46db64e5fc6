/*
 * pair_driver - run a scenario of real programs talking over loopback.
 *
 * Usage: pair_driver [--timeout SECONDS] [--valgrind PATH] --bin DIR
 *                    --src DIR SCRIPT
 *
 * The script language is described in tests/README.md. In short: `serve`
 * starts a server and reads the port from its `listening on` line, `start`
 * starts a client, `send`/`close` drive stdin, `expect` checks stdout line
 * by line, `wait`/`stop`/`kill` end processes. Any failure prints every
 * transcript. Exit status: 0 pass, 1 fail, 77 skipped (CTest's
 * SKIP_RETURN_CODE), 2 bad usage or a bad script.
 *
 * Why C and not sh: each program runs in its own process group so that a
 * failure can kill it and everything it started, and a shell without a
 * terminal cannot make process groups reliably.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "common.h"

#define MAX_PROCS 64          /* processes (and sinks) in one scenario */
#define MAX_VARS 128          /* ${...} variables */
#define MAX_ARGS 64           /* arguments of one command */
#define MAX_LINE 8192         /* length of one script line */
#define MAX_OUTPUT (64 << 20) /* bytes kept of one process's output */
#define TICK_MS 20            /* poll interval while waiting for exits */

/* A growable byte buffer. */
struct bytes {
    char *data;
    size_t len, cap;
};

/* One program of the scenario (or a UDP sink). */
struct proc {
    char name[32];
    pid_t pid;             /* 0 for a sink */
    int in_fd;             /* our end of its stdin, -1 once closed */
    int out_fd, err_fd;    /* our ends of its stdout/stderr, -1 at EOF */
    int sink_fd;           /* the socket of a sink, else -1 */
    int is_socket;         /* a raw connection made by `connect` */
    struct bytes in;       /* stdin bytes not written yet */
    size_t in_off;         /* how much of `in` is written */
    int close_pending;     /* close stdin once `in` is written */
    struct bytes out, err; /* everything it printed */
    size_t out_pos;        /* stdout consumed by `expect` */
    size_t err_pos;        /* stderr searched by `expect-err` */
    int reaped, status;    /* waitpid done, and its status */
    int checked;           /* its exit was checked by wait/stop/kill */
    int binary;            /* stdout compared with `output`, not lines */
    int drained;           /* `drain`: the rest of stdout is not checked */
    int valgrind;          /* runs under valgrind */
};

/* Everything the driver knows; one instance, passed around. */
struct driver {
    const char *script;
    int lineno;
    const char *valgrind;
    char bin[4096], src[4096], tmp[4096];
    struct timespec deadline;
    struct proc procs[MAX_PROCS];
    int nprocs;
    char *var_names[MAX_VARS], *var_values[MAX_VARS];
    int nvars;
};

/* ---- small utilities ------------------------------------------------- */

static void bytes_append(struct bytes *b, const void *data, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len + 1) {
            cap *= 2;
        }
        char *p = realloc(b->data, cap);
        if (p == NULL) {
            die("out of memory");
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long deadline_ms(const struct driver *d)
{
    return (long long)d->deadline.tv_sec * 1000 + d->deadline.tv_nsec / 1000000;
}

/* Print every transcript: what each process printed and how it ended. */
static void dump_transcripts(const struct driver *d)
{
    for (int i = 0; i < d->nprocs; i++) {
        const struct proc *p = &d->procs[i];
        if (p->sink_fd >= 0) {
            continue;
        }
        fprintf(stderr, "---- %s: stdout (%zu bytes) ----\n", p->name,
                p->out.len);
        if (p->binary && p->out.len > 0) {
            fprintf(stderr, "(binary output, not shown)\n");
        } else if (p->out.len > 0) {
            fwrite(p->out.data, 1, p->out.len, stderr);
        }
        fprintf(stderr, "---- %s: stderr (%zu bytes) ----\n", p->name,
                p->err.len);
        if (p->err.len > 0) {
            fwrite(p->err.data, 1, p->err.len, stderr);
        }
        if (!p->reaped) {
            fprintf(stderr, "---- %s: still running ----\n", p->name);
        } else if (p->is_socket) {
            fprintf(stderr, "---- %s: connection closed ----\n", p->name);
        } else if (WIFEXITED(p->status)) {
            fprintf(stderr, "---- %s: exit status %d ----\n", p->name,
                    WEXITSTATUS(p->status));
        } else if (WIFSIGNALED(p->status)) {
            fprintf(stderr, "---- %s: killed by signal %d ----\n", p->name,
                    WTERMSIG(p->status));
        }
    }
}

/* Kill every process group that is still alive and reap it. */
static void kill_all(struct driver *d)
{
    for (int i = 0; i < d->nprocs; i++) {
        struct proc *p = &d->procs[i];
        if (p->pid > 0 && !p->reaped) {
            kill(-p->pid, SIGKILL);
            if (waitpid(p->pid, &p->status, 0) == p->pid) {
                p->reaped = 1;
            }
        }
    }
}

/* Remove the private temporary directory (it holds only plain files). */
static void remove_tmp(struct driver *d)
{
    DIR *dir = opendir(d->tmp);
    if (dir == NULL) {
        return;
    }
    struct dirent *e;
    char path[8192];
    while ((e = readdir(dir)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof path, "%s/%s", d->tmp, e->d_name);
            unlink(path);
        }
    }
    closedir(dir);
    rmdir(d->tmp);
}

/* The test failed: say where and why, show everything, clean up, exit 1. */
TOUR_PRINTF(2, 3)
static _Noreturn void fail(struct driver *d, const char *fmt, ...)
{
    kill_all(d);
    fprintf(stderr, "FAIL %s:%d: ", d->script, d->lineno);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    dump_transcripts(d);
    remove_tmp(d);
    exit(1);
}

/* ---- variables and patterns ------------------------------------------ */

static void set_var(struct driver *d, const char *name, const char *value)
{
    for (int i = 0; i < d->nvars; i++) {
        if (strcmp(d->var_names[i], name) == 0) {
            free(d->var_values[i]);
            d->var_values[i] = strdup(value);
            return;
        }
    }
    if (d->nvars == MAX_VARS) {
        fail(d, "too many variables");
    }
    d->var_names[d->nvars] = strdup(name);
    d->var_values[d->nvars] = strdup(value);
    d->nvars++;
}

/* Replace every ${NAME} in IN by its value; an unknown name fails. */
static void expand(struct driver *d, const char *in, char *out, size_t size)
{
    size_t o = 0;
    while (*in != '\0') {
        const char *end = strchr(in, '}');
        if (in[0] == '$' && in[1] == '{' && end != NULL) {
            size_t n = (size_t)(end - in - 2);
            const char *value = NULL;
            for (int i = 0; i < d->nvars && value == NULL; i++) {
                if (strlen(d->var_names[i]) == n &&
                    strncmp(d->var_names[i], in + 2, n) == 0) {
                    value = d->var_values[i];
                }
            }
            if (value == NULL) {
                fail(d, "unknown variable %.*s", (int)n, in + 2);
            }
            for (; *value != '\0' && o + 1 < size; value++) {
                out[o++] = *value;
            }
            in = end + 1;
        } else if (o + 1 < size) {
            out[o++] = *in++;
        } else {
            fail(d, "line too long after expansion");
        }
    }
    out[o] = '\0';
}

/* Does TEXT (LEN bytes) match PATTERN, where "{*}" matches any run? */
static int match(const char *pat, const char *text, size_t len)
{
    if (strncmp(pat, "{*}", 3) == 0) {
        for (size_t skip = 0; skip <= len; skip++) {
            if (match(pat + 3, text + skip, len - skip)) {
                return 1;
            }
        }
        return 0;
    }
    if (*pat == '\0') {
        return len == 0;
    }
    return len > 0 && *pat == *text && match(pat + 1, text + 1, len - 1);
}

/* Decode the C escapes \n \r \t \\ \0 \xHH of IN into OUT; returns the
 * number of bytes written. */
static size_t unescape(const char *in, char *out)
{
    size_t o = 0;
    for (; *in != '\0'; in++) {
        if (*in != '\\' || in[1] == '\0') {
            out[o++] = *in;
            continue;
        }
        in++;
        switch (*in) {
        case 'n':
            out[o++] = '\n';
            break;
        case 'r':
            out[o++] = '\r';
            break;
        case 't':
            out[o++] = '\t';
            break;
        case '0':
            out[o++] = '\0';
            break;
        case 'x':
            if (isxdigit((unsigned char)in[1]) &&
                isxdigit((unsigned char)in[2])) {
                char hex[3] = {in[1], in[2], '\0'};
                out[o++] = (char)strtol(hex, NULL, 16);
                in += 2;
                break;
            }
            out[o++] = 'x';
            break;
        default:
            out[o++] = *in;
            break;
        }
    }
    return o;
}

/* ---- processes --------------------------------------------------------- */

static struct proc *find_proc(struct driver *d, const char *name)
{
    for (int i = 0; i < d->nprocs; i++) {
        if (strcmp(d->procs[i].name, name) == 0) {
            return &d->procs[i];
        }
    }
    fail(d, "no process named '%s'", name);
}

static struct proc *new_proc(struct driver *d, const char *name)
{
    for (int i = 0; i < d->nprocs; i++) {
        if (strcmp(d->procs[i].name, name) == 0) {
            fail(d, "a process named '%s' exists already", name);
        }
    }
    if (d->nprocs == MAX_PROCS || strlen(name) >= sizeof d->procs[0].name) {
        fail(d, "too many processes, or name too long: '%s'", name);
    }
    struct proc *p = &d->procs[d->nprocs++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->in_fd = p->out_fd = p->err_fd = p->sink_fd = -1;
    return p;
}

/* A pipe whose ends are both close-on-exec (pipe2 is not POSIX.1-2008). */
static void cloexec_pipe(struct driver *d, int fds[2])
{
    if (pipe(fds) < 0) {
        fail(d, "pipe: %s", strerror(errno));
    }
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
}

/* In the child: its own process group, dies with the driver, the pipes as
 * 0/1/2, no other descriptor, default SIGPIPE; then exec. */
static _Noreturn void exec_child(char **argv, int in[2], int out[2], int err[2],
                                 pid_t parent)
{
    setpgid(0, 0);
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) {
        _exit(127); /* the driver died before prctl took effect */
    }
#else
    (void)parent;
#endif
    if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0) {
        _exit(127);
    }
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = 3; fd < (max > 0 && max < 65536 ? max : 65536); fd++) {
        close((int)fd);
    }
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execvp(argv[0], argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* Start ARGV as process NAME, wrapped in valgrind when asked and when the
 * program is one of ours (under the build directory). */
static struct proc *spawn(struct driver *d, const char *name, char **argv)
{
    struct proc *p = new_proc(d, name);
    char *vargv[MAX_ARGS + 16];
    if (d->valgrind != NULL && strncmp(argv[0], d->bin, strlen(d->bin)) == 0) {
        static const char *const opts[] = {
            "--quiet",
            "--error-exitcode=99",
            "--leak-check=full",
            "--show-leak-kinds=definite,indirect,possible",
            "--errors-for-leak-kinds=definite,indirect,possible",
            "--track-fds=yes"};
        int n = 0;
        vargv[n++] = (char *)(uintptr_t)d->valgrind;
        for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
            vargv[n++] = (char *)(uintptr_t)opts[i];
        }
        for (int i = 0; argv[i] != NULL; i++) {
            vargv[n++] = argv[i];
        }
        vargv[n] = NULL;
        argv = vargv;
        p->valgrind = 1;
    }
    int in[2], out[2], err[2];
    cloexec_pipe(d, in);
    cloexec_pipe(d, out);
    cloexec_pipe(d, err);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        fail(d, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        exec_child(argv, in, out, err, parent);
    }
    setpgid(pid, pid); /* also here, so the group exists before we use it */
    close(in[0]);
    close(out[1]);
    close(err[1]);
    p->pid = pid;
    p->in_fd = in[1];
    p->out_fd = out[0];
    p->err_fd = err[0];
    set_nonblocking(p->in_fd);
    return p;
}

/* Has P finished: reaped, and its stdout and stderr read to EOF? */
static int finished(const struct proc *p)
{
    return p->reaped && p->out_fd < 0 && p->err_fd < 0;
}

/* Read what is available on *FD into B; close *FD at EOF. */
static void drain_fd(struct driver *d, struct proc *p, int *fd, struct bytes *b)
{
    char chunk[65536];
    ssize_t n = read(*fd, chunk, sizeof chunk);
    if (n > 0) {
        if (b->len + (size_t)n > MAX_OUTPUT) {
            fail(d, "%s printed more than %d bytes", p->name, MAX_OUTPUT);
        }
        bytes_append(b, chunk, (size_t)n);
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        if (n < 0 && p->is_socket) {
            p->status = 1 << 8; /* ECONNRESET and friends: "exit status" 1 */
            bytes_append(&p->err, strerror(errno), strlen(strerror(errno)));
        }
        close(*fd);
        *fd = -1;
    }
}

/* Write what the pipe takes of P's pending stdin; close it when asked. */
static void feed_stdin(struct proc *p)
{
    while (p->in_fd >= 0 && p->in_off < p->in.len) {
        ssize_t n =
            write(p->in_fd, p->in.data + p->in_off, p->in.len - p->in_off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            return;
        }
        if (n < 0) { /* EPIPE: it closed its stdin or exited; drop the rest */
            p->in_off = p->in.len;
            break;
        }
        p->in_off += (size_t)n;
    }
    if (p->in_fd >= 0 && p->close_pending && p->in_off == p->in.len) {
        if (p->is_socket) {
            shutdown(p->in_fd, SHUT_WR); /* FIN; we still read */
        }
        close(p->in_fd);
        p->in_fd = -1;
    }
}

/* One round of the event loop: move bytes between the driver and every
 * process for at most TICK_MS, and reap processes that exited. */
static void pump(struct driver *d)
{
    struct pollfd pfds[MAX_PROCS * 3];
    int nfds = 0;
    for (int i = 0; i < d->nprocs; i++) {
        struct proc *p = &d->procs[i];
        feed_stdin(p);
        if (p->out_fd >= 0) {
            pfds[nfds++] = (struct pollfd){.fd = p->out_fd, .events = POLLIN};
        }
        if (p->err_fd >= 0) {
            pfds[nfds++] = (struct pollfd){.fd = p->err_fd, .events = POLLIN};
        }
        if (p->in_fd >= 0 && p->in_off < p->in.len) {
            pfds[nfds++] = (struct pollfd){.fd = p->in_fd, .events = POLLOUT};
        }
    }
    if (poll(pfds, (nfds_t)nfds, TICK_MS) < 0 && errno != EINTR) {
        fail(d, "poll: %s", strerror(errno));
    }
    for (int i = 0; i < d->nprocs; i++) {
        struct proc *p = &d->procs[i];
        for (int k = 0; k < nfds; k++) {
            if (pfds[k].revents == 0) {
                continue;
            }
            if (pfds[k].fd == p->out_fd) {
                drain_fd(d, p, &p->out_fd, &p->out);
            } else if (pfds[k].fd == p->err_fd) {
                drain_fd(d, p, &p->err_fd, &p->err);
            }
        }
        if (p->pid > 0 && !p->reaped &&
            waitpid(p->pid, &p->status, WNOHANG) == p->pid) {
            p->reaped = 1;
        }
        if (p->is_socket && !p->reaped && p->out_fd < 0) {
            p->reaped = 1; /* the peer closed: "exit status" 0 */
        }
    }
}

/* Pump until COND(P) holds; fail with WHAT at the deadline. */
static void wait_for(struct driver *d, struct proc *p,
                     int (*cond)(const struct proc *), const char *what)
{
    while (!cond(p)) {
        if (now_ms() >= deadline_ms(d)) {
            fail(d, "timed out waiting for %s %s", p->name, what);
        }
        pump(d);
    }
}

/* ---- conditions the commands wait for -------------------------------- */

/* A whole line waits at the stdout cursor, or no more will ever come. */
static int line_ready(const struct proc *p)
{
    return finished(p) ||
           (p->out.len > p->out_pos &&
            memchr(p->out.data + p->out_pos, '\n', p->out.len - p->out_pos));
}

/* Take the next stdout line of P (without its newline); NULL if none. */
static char *next_line(struct proc *p, size_t *len)
{
    if (p->out.len <= p->out_pos) {
        return NULL;
    }
    char *start = p->out.data + p->out_pos;
    char *nl = memchr(start, '\n', p->out.len - p->out_pos);
    if (nl == NULL) { /* a last line without newline, after exit */
        nl = p->out.data + p->out.len;
        p->out_pos = p->out.len;
    } else {
        p->out_pos = (size_t)(nl - p->out.data) + 1;
    }
    *len = (size_t)(nl - start);
    if (*len > 0 && start[*len - 1] == '\r') {
        (*len)--; /* CRLF ends a line too (HTTP) */
    }
    return start;
}

/* Under valgrind, a descriptor still open at exit is a leak: memcheck
 * lists each one as "Open file descriptor N" or "Open AF_... socket N"
 * (standard descriptors are not listed). */
static void check_valgrind_fds(struct driver *d, struct proc *p)
{
    if (p->valgrind && p->err.data != NULL &&
        strstr(p->err.data, "== Open ") != NULL) {
        fail(d, "%s left descriptors open at exit (see its stderr)", p->name);
    }
}

/* Check how P ended: exit status WANT, or (WANT < 0) anything. */
static void check_exit(struct driver *d, struct proc *p, int want)
{
    p->checked = 1;
    if (want >= 0 &&
        !(WIFEXITED(p->status) && WEXITSTATUS(p->status) == want)) {
        if (WIFSIGNALED(p->status)) {
            fail(d, "%s was killed by signal %d, expected exit status %d",
                 p->name, WTERMSIG(p->status), want);
        }
        fail(d, "%s exited with status %d, expected %d", p->name,
             WEXITSTATUS(p->status), want);
    }
    if (want >= 0) {
        check_valgrind_fds(d, p);
    }
}

/* ---- the commands ---------------------------------------------------- */

/* A server that exits with status 77 before it listens says that this
 * machine cannot run it (uring_echo_server where the kernel refuses
 * io_uring): skip the test (exit 77) with the reason it gave on stderr. */
static void skip_if_refused(struct driver *d, const struct proc *p)
{
    if (!finished(p) || p->out.len > 0 || !WIFEXITED(p->status) ||
        WEXITSTATUS(p->status) != 77) {
        return;
    }
    size_t len = p->err.len;
    while (len > 0 && p->err.data[len - 1] == '\n') {
        len--;
    }
    if (len > 0) {
        printf("SKIP: %.*s\n", (int)len, p->err.data);
    } else {
        printf("SKIP: %s exited with status 77 before listening\n", p->name);
    }
    kill_all(d);
    remove_tmp(d);
    exit(77);
}

/* serve NAME PROG ARGS...: start, then read "listening on ADDR:PORT". */
static void cmd_serve(struct driver *d, char **argv)
{
    struct proc *p = spawn(d, argv[1], argv + 2);
    wait_for(d, p, line_ready, "to print its 'listening on' line");
    skip_if_refused(d, p);
    size_t len = 0;
    char *line = next_line(p, &len);
    char *colon = line != NULL ? memchr(line, ':', len) : NULL;
    if (line == NULL || len < 14 || strncmp(line, "listening on ", 13) != 0) {
        fail(d, "%s: first line is not 'listening on ADDR:PORT'", p->name);
    }
    for (char *c = colon; c != NULL && c < line + len; c++) {
        if (*c == ':') {
            colon = c; /* the last colon: IPv6 addresses have many */
        }
    }
    char port[16];
    snprintf(port, sizeof port, "%.*s", (int)(line + len - colon - 1),
             colon + 1);
    if (net_parse_port(port) <= 0) {
        fail(d, "%s: no port in its 'listening on' line", p->name);
    }
    char var[64];
    snprintf(var, sizeof var, "%s.port", p->name);
    set_var(d, var, port);
}

/* sink NAME: a UDP socket that receives and never answers. */
static void cmd_sink(struct driver *d, char **argv)
{
    struct proc *p = new_proc(d, argv[1]);
    p->sink_fd = net_bind_udp(NULL, "0");
    if (p->sink_fd < 0) {
        fail(d, "cannot open a UDP sink");
    }
    char addr[NET_ADDRSTRLEN], var[64];
    net_local_str(p->sink_fd, addr, sizeof addr);
    snprintf(var, sizeof var, "%s.port", p->name);
    set_var(d, var, strrchr(addr, ':') + 1);
    p->reaped = p->checked = 1;
}

/* connect NAME HOST PORT: a raw TCP connection driven like a process:
 * send writes to it, expect reads its lines, close is shutdown(SHUT_WR),
 * and it "exits" with 0 when the peer closes (1 on a reset). kill makes
 * it vanish abruptly: SO_LINGER 0, so close sends RST. */
static void cmd_connect(struct driver *d, char **argv)
{
    struct proc *p = new_proc(d, argv[1]);
    int fd = net_connect(argv[2], argv[3]);
    if (fd < 0) {
        fail(d, "connect %s %s failed", argv[2], argv[3]);
    }
    p->is_socket = 1;
    p->out_fd = fd;
    p->in_fd = dup(fd);
    if (p->in_fd < 0 || set_nonblocking(fd) < 0) {
        fail(d, "dup/fcntl: %s", strerror(errno));
    }
}

/* Make a `connect` socket vanish: RST instead of FIN. */
static void abort_socket(struct proc *p)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    if (p->out_fd >= 0) {
        setsockopt(p->out_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(p->out_fd);
        p->out_fd = -1;
    }
    if (p->in_fd >= 0) {
        close(p->in_fd);
        p->in_fd = -1;
    }
    p->reaped = 1;
}

/* expect NAME PATTERN: the next stdout line matches. */
static void cmd_expect(struct driver *d, struct proc *p, const char *pattern)
{
    wait_for(d, p, line_ready, "to print a line");
    size_t len = 0;
    char *line = next_line(p, &len);
    if (line == NULL) {
        fail(d, "%s ended without printing a line matching: %s", p->name,
             pattern);
    }
    if (!match(pattern, line, len)) {
        fail(d, "%s printed:\n    %.*s\nexpected:\n    %s", p->name, (int)len,
             line, pattern);
    }
}

/* find NAME PATTERN: skip stdout lines until one matches (for chatty
 * tools such as ab, whose other lines vary). */
static void cmd_find(struct driver *d, struct proc *p, const char *pattern)
{
    for (;;) {
        wait_for(d, p, line_ready, "to print a line");
        size_t len = 0;
        char *line = next_line(p, &len);
        if (line == NULL) {
            fail(d, "%s ended without printing a line matching: %s", p->name,
                 pattern);
        }
        if (match(pattern, line, len)) {
            return;
        }
    }
}

/* expect-err NAME PATTERN: a later stderr line matches; waits for it. */
static void cmd_expect_err(struct driver *d, struct proc *p,
                           const char *pattern)
{
    for (;;) {
        while (p->err_pos < p->err.len) {
            char *start = p->err.data + p->err_pos;
            char *nl = memchr(start, '\n', p->err.len - p->err_pos);
            if (nl == NULL && !finished(p)) {
                break; /* a partial line: wait for the rest */
            }
            size_t len = nl ? (size_t)(nl - start) : p->err.len - p->err_pos;
            p->err_pos += len + (nl != NULL);
            if (match(pattern, start, len)) {
                return;
            }
        }
        if (finished(p)) {
            fail(d, "%s never printed on stderr a line matching: %s", p->name,
                 pattern);
        }
        if (now_ms() >= deadline_ms(d)) {
            fail(d, "timed out waiting for %s's stderr: %s", p->name, pattern);
        }
        pump(d);
    }
}

/* output NAME PATH: after exit, stdout equals the file byte for byte. */
static void cmd_output(struct driver *d, struct proc *p, const char *path)
{
    p->binary = 1;
    wait_for(d, p, finished, "to exit");
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fail(d, "%s: %s", path, strerror(errno));
    }
    struct bytes want = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        bytes_append(&want, chunk, n);
    }
    fclose(f);
    size_t at = 0;
    while (at < want.len && at < p->out.len &&
           want.data[at] == p->out.data[at]) {
        at++;
    }
    int same = want.len == p->out.len && at == want.len;
    free(want.data);
    if (!same) {
        fail(d, "%s's stdout (%zu bytes) differs from %s from byte %zu",
             p->name, p->out.len, path, at);
    }
    p->out_pos = p->out.len;
}

/* genfile PATH SIZE[K|M]: deterministic pseudo-random bytes. */
static void cmd_genfile(struct driver *d, const char *path, const char *size)
{
    char *end;
    unsigned long long n = strtoull(size, &end, 10);
    n <<= (*end == 'K') ? 10 : (*end == 'M') ? 20 : 0;
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        fail(d, "%s: %s", path, strerror(errno));
    }
    unsigned long long x = 88172645463325252ULL; /* xorshift64 */
    for (unsigned long long i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        putc((int)(x & 0xff), f);
    }
    if (fclose(f) != 0) {
        fail(d, "%s: %s", path, strerror(errno));
    }
}

/* require TOOL: skip the whole test unless TOOL is on PATH. */
static void cmd_require(struct driver *d, const char *tool)
{
    const char *path = getenv("PATH");
    char dir[4096];
    while (path != NULL && *path != '\0') {
        size_t n = strcspn(path, ":");
        snprintf(dir, sizeof dir, "%.*s/%s", (int)n, path, tool);
        if (access(dir, X_OK) == 0) {
            return;
        }
        path += n + (path[n] == ':');
    }
    printf("SKIP: %s is not installed (needed by %s)\n", tool, d->script);
    kill_all(d);
    remove_tmp(d);
    exit(77);
}

/* Split LINE in place on blanks; "double quotes" keep blanks. */
static int split(char *line, char **argv, int max)
{
    int argc = 0;
    char *p = line;
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        if (argc == max - 1) {
            return -1;
        }
        char *w = p;
        argv[argc++] = w;
        int quoted = 0;
        for (; *p != '\0' && (quoted || (*p != ' ' && *p != '\t')); p++) {
            if (*p == '"') {
                quoted = !quoted;
            } else {
                *w++ = *p;
            }
        }
        if (*p != '\0') {
            p++;
        }
        *w = '\0';
    }
    argv[argc] = NULL;
    return argc;
}

/* The text after "COMMAND NAME " on LINE, verbatim: only the one blank
 * after NAME is a separator, so leading blanks of the text count. */
static const char *rest_of_line(const char *line)
{
    const char *p = line + strspn(line, " \t");
    p += strcspn(p, " \t");
    p += strspn(p, " \t");
    p += strcspn(p, " \t");
    return *p != '\0' ? p + 1 : p;
}

/* Commands that take a process name and the rest of the line as text. */
static int run_text_command(struct driver *d, const char *cmd, struct proc *p,
                            const char *text)
{
    if (strcmp(cmd, "send") == 0 || strcmp(cmd, "sendraw") == 0) {
        char bytes[MAX_LINE + 1];
        size_t n = unescape(text, bytes);
        if (cmd[4] == '\0') {
            bytes[n++] = '\n';
        }
        if (p->in_fd < 0 && !p->close_pending) {
            fail(d, "%s's stdin is closed", p->name);
        }
        bytes_append(&p->in, bytes, n);
        feed_stdin(p);
    } else if (strcmp(cmd, "sendrep") == 0) {
        char *end;
        long count = strtol(text, &end, 10);
        char bytes[MAX_LINE + 1];
        size_t n = unescape(end + strspn(end, " "), bytes);
        for (long i = 0; i < count; i++) {
            bytes_append(&p->in, bytes, n);
        }
        feed_stdin(p);
    } else if (strcmp(cmd, "expect") == 0) {
        cmd_expect(d, p, text);
    } else if (strcmp(cmd, "find") == 0) {
        cmd_find(d, p, text);
    } else if (strcmp(cmd, "expect-err") == 0) {
        cmd_expect_err(d, p, text);
    } else {
        return 0;
    }
    return 1;
}

/* Commands that end a process or look at its end. */
static int run_proc_command(struct driver *d, char **argv, int argc)
{
    const char *cmd = argv[0];
    static const char *const names[] = {"wait",     "stop",  "interrupt",
                                        "kill",     "close", "output",
                                        "sendfile", "drain"};
    size_t i = 0;
    while (i < sizeof names / sizeof names[0] && strcmp(cmd, names[i]) != 0) {
        i++;
    }
    if (argc < 2 || i == sizeof names / sizeof names[0]) {
        return 0;
    }
    struct proc *p = find_proc(d, argv[1]);
    if (strcmp(cmd, "drain") == 0) {
        p->drained = 1;
    } else if (strcmp(cmd, "close") == 0) {
        p->close_pending = 1;
        feed_stdin(p);
    } else if (strcmp(cmd, "wait") == 0 && argc == 3) {
        wait_for(d, p, finished, "to exit");
        check_exit(d, p, atoi(argv[2]));
    } else if (strcmp(cmd, "stop") == 0 && p->pid > 0) {
        kill(p->pid, SIGTERM);
        wait_for(d, p, finished, "to stop after SIGTERM");
        check_exit(d, p, 0);
    } else if (strcmp(cmd, "interrupt") == 0 && p->pid > 0) {
        kill(p->pid, SIGINT); /* Ctrl-C */
        wait_for(d, p, finished, "to stop after SIGINT");
        check_exit(d, p, 0);
    } else if (strcmp(cmd, "kill") == 0 && p->is_socket) {
        abort_socket(p);
        check_exit(d, p, -1);
    } else if (strcmp(cmd, "kill") == 0) {
        kill(-p->pid, SIGKILL);
        wait_for(d, p, finished, "to die after SIGKILL");
        check_exit(d, p, -1);
    } else if (strcmp(cmd, "output") == 0 && argc == 3) {
        cmd_output(d, p, argv[2]);
    } else if (strcmp(cmd, "sendfile") == 0 && argc == 3) {
        FILE *f = fopen(argv[2], "rb");
        if (f == NULL) {
            fail(d, "%s: %s", argv[2], strerror(errno));
        }
        char chunk[65536];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
            bytes_append(&p->in, chunk, n);
        }
        fclose(f);
        feed_stdin(p);
    } else {
        fail(d, "bad arguments to %s", cmd);
    }
    return 1;
}

/* Run one (expanded) script line. */
static void run_line(struct driver *d, char *line)
{
    char copy[MAX_LINE];
    char *argv[MAX_ARGS];
    snprintf(copy, sizeof copy, "%s", line);
    int argc = split(copy, argv, MAX_ARGS);
    if (argc < 0) {
        fail(d, "too many arguments");
    }
    if (argc == 0) {
        return;
    }
    const char *cmd = argv[0];
    if (argc >= 3 && strcmp(cmd, "serve") == 0) {
        cmd_serve(d, argv);
    } else if (argc >= 3 && strcmp(cmd, "start") == 0) {
        spawn(d, argv[1], argv + 2);
    } else if (argc == 4 && strcmp(cmd, "connect") == 0) {
        cmd_connect(d, argv);
    } else if (argc == 2 && strcmp(cmd, "sink") == 0) {
        cmd_sink(d, argv);
    } else if (argc == 3 && strcmp(cmd, "genfile") == 0) {
        cmd_genfile(d, argv[1], argv[2]);
    } else if (argc == 2 && strcmp(cmd, "require") == 0) {
        cmd_require(d, argv[1]);
    } else if (argc == 3 && strcmp(cmd, "set") == 0) {
        set_var(d, argv[1], argv[2]);
    } else if (argc >= 2 && run_text_command(d, cmd, find_proc(d, argv[1]),
                                             rest_of_line(line))) {
        return;
    } else if (!run_proc_command(d, argv, argc)) {
        fail(d, "unknown command or wrong arguments: %s", line);
    }
}

/* At the end: nothing may still run, every line must have been expected. */
static void check_end(struct driver *d)
{
    for (int i = 0; i < d->nprocs; i++) {
        struct proc *p = &d->procs[i];
        if (!p->reaped) {
            fail(d, "%s is still running at the end of the script", p->name);
        }
        if (!p->checked) {
            fail(d, "%s ended but no wait/stop/kill checked how", p->name);
        }
        size_t len = 0;
        char *line = p->binary || p->drained ? NULL : next_line(p, &len);
        if (line != NULL) {
            fail(d, "%s printed a line no expect consumed:\n    %.*s", p->name,
                 (int)len, line);
        }
        if (p->sink_fd >= 0) {
            close(p->sink_fd);
        }
        if (p->is_socket && p->in_fd >= 0) {
            close(p->in_fd);
        }
    }
}

static _Noreturn void usage(void)
{
    fprintf(stderr, "usage: pair_driver [--timeout SECONDS] [--valgrind "
                    "PATH] --bin DIR --src DIR SCRIPT\n");
    exit(2);
}

/* Read the options; set up the variables and the deadline. */
static const char *parse_args(struct driver *d, int argc, char **argv)
{
    long timeout = 25;
    int i = 1;
    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (strcmp(argv[i], "--timeout") == 0) {
            timeout = atol(argv[i + 1]);
        } else if (strcmp(argv[i], "--valgrind") == 0) {
            d->valgrind = argv[i + 1];
        } else if (strcmp(argv[i], "--bin") == 0) {
            snprintf(d->bin, sizeof d->bin, "%s", argv[i + 1]);
        } else if (strcmp(argv[i], "--src") == 0) {
            snprintf(d->src, sizeof d->src, "%s", argv[i + 1]);
        } else {
            usage();
        }
    }
    if (i != argc - 1 || d->bin[0] == '\0' || d->src[0] == '\0' ||
        timeout <= 0) {
        usage();
    }
    clock_gettime(CLOCK_MONOTONIC, &d->deadline);
    d->deadline.tv_sec += timeout;
    return argv[i];
}

int main(int argc, char **argv)
{
    static struct driver d;
    d.script = parse_args(&d, argc, argv);
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);

    const char *tmpdir = getenv("TMPDIR");
    snprintf(d.tmp, sizeof d.tmp, "%s/pair.XXXXXX", tmpdir ? tmpdir : "/tmp");
    if (mkdtemp(d.tmp) == NULL) {
        die_errno("mkdtemp %s", d.tmp);
    }
    set_var(&d, "BIN", d.bin);
    set_var(&d, "SRC", d.src);
    set_var(&d, "TMP", d.tmp);

    FILE *f = fopen(d.script, "r");
    if (f == NULL) {
        die_errno("%s", d.script);
    }
    char line[MAX_LINE], expanded[MAX_LINE];
    while (fgets(line, sizeof line, f) != NULL) {
        d.lineno++;
        line[strcspn(line, "\n")] = '\0';
        if (line[strspn(line, " \t")] == '#') {
            continue;
        }
        expand(&d, line, expanded, sizeof expanded);
        run_line(&d, expanded);
    }
    fclose(f);
    check_end(&d);
    printf("PASS %s (%d processes)\n", d.script, d.nprocs);
    remove_tmp(&d);
    return 0;
}
