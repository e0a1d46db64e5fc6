/*
 * http_hostile - run the hostile-input cases against an HTTP server.
 *
 * Usage: http_hostile [--valgrind PATH] SERVER DOCROOT CASE.http...
 *
 * Starts SERVER on port 0 with DOCROOT (stdout and stderr to temporary
 * files, so its log never blocks it), then for each case file: connects,
 * sends the case's bytes, and checks the answer it must get — a status
 * line with the expected code, read to a clean end of file when the
 * status closes the connection (never a reset), or, for "close", no bytes
 * at all. After every case a normal GET must still be answered, and (on
 * Linux) the server's descriptor count must come back to where it was.
 * Finally SIGTERM: the server must exit 0 (and, under valgrind, leak no
 * memory or descriptor).
 *
 * A case file: lines starting with '#' are metadata ("# expect: 400",
 * "# expect: close", "# why: ..."); every other line is request bytes with
 * its newline dropped and the escapes \r \n \t \\ \0 \xHH decoded, so a
 * request is written "GET / HTTP/1.1\r\n" on a line of its own.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "common.h"

#define MAX_CASE (64 * 1024 * 1024) /* bytes of one request case */
#define ANSWER_MS 5000              /* wait for an answer */
#define SETTLE_MS 3000              /* wait for descriptors to be closed */

/* The server under test. */
struct server {
    pid_t pid;
    char port[16];
    char out[64], err[64]; /* its stdout and stderr files */
};

/* Start the server with stdout/stderr in temporary files. */
static void start_server(struct server *s, char **argv)
{
    snprintf(s->out, sizeof s->out, "/tmp/hostile-out.XXXXXX");
    snprintf(s->err, sizeof s->err, "/tmp/hostile-err.XXXXXX");
    int out = mkstemp(s->out), err = mkstemp(s->err);
    if (out < 0 || err < 0) {
        die_errno("mkstemp");
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
        dup2(out, 1);
        dup2(err, 2);
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        for (int fd = 3; fd < 1024; fd++) {
            close(fd);
        }
        signal(SIGPIPE, SIG_DFL);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(out);
    close(err);
}

/* Print a file (the server's log) on stderr. */
static void dump(const char *title, const char *path)
{
    fprintf(stderr, "---- server %s ----\n", title);
    FILE *f = fopen(path, "r");
    char line[4096];
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        fputs(line, stderr);
    }
    if (f != NULL) {
        fclose(f);
    }
}

/* Stop everything and remove the log files; exit with STATUS. */
static _Noreturn void finish(struct server *s, int status)
{
    if (status != 0) {
        kill(-s->pid, SIGKILL);
        dump("stdout", s->out);
        dump("stderr", s->err);
    }
    unlink(s->out);
    unlink(s->err);
    exit(status);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* Poll (every 10 ms, at most 20 s) for the "listening on" line. */
static int read_port(struct server *s)
{
    for (int i = 0; i < 2000; i++) {
        FILE *f = fopen(s->out, "r");
        char line[256];
        int found = f != NULL && fgets(line, sizeof line, f) != NULL &&
                    strchr(line, '\n') != NULL;
        if (f != NULL) {
            fclose(f);
        }
        char *colon = found ? strrchr(line, ':') : NULL;
        if (colon != NULL && strncmp(line, "listening on ", 13) == 0) {
            snprintf(s->port, sizeof s->port, "%.*s",
                     (int)strcspn(colon + 1, "\n"), colon + 1);
            return 0;
        }
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            return -1;
        }
        sleep_ms(10);
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

/* A case: the bytes to send and what must come back. */
struct test_case {
    const char *path;
    char *bytes;
    size_t len;
    int expect; /* a status code, or 0 for "closed without an answer" */
};

/* Decode the escapes of one request line of a case file into OUT. */
static size_t decode_line(const char *in, char *out)
{
    size_t n = 0;
    for (; *in != '\0' && *in != '\n'; in++) {
        if (*in != '\\' || in[1] == '\0' || in[1] == '\n') {
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

/* Read a case file. Returns 0, or -1 after saying what is wrong. */
static int load_case(struct test_case *tc, const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        warn_errno("%s", path);
        return -1;
    }
    tc->path = path;
    tc->len = 0;
    tc->expect = -1;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) >= 0) {
        if (strncmp(line, "# expect: close", 15) == 0) {
            tc->expect = 0;
        } else if (strncmp(line, "# expect: ", 10) == 0) {
            tc->expect = atoi(line + 10);
        } else if (line[0] != '#' && tc->len + strlen(line) < MAX_CASE) {
            tc->len += decode_line(line, tc->bytes + tc->len);
        }
    }
    free(line);
    fclose(f);
    if (tc->expect < 0) {
        fprintf(stderr, "%s: no '# expect: STATUS|close' line\n", path);
        return -1;
    }
    return 0;
}

/* Where NEEDLE first occurs in the LEN bytes at HAY, or NULL (memmem is
 * not POSIX). */
static const char *memmem_simple(const char *hay, size_t len,
                                 const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++) {
        if (memcmp(hay + i, needle, n) == 0) {
            return hay + i;
        }
    }
    return NULL;
}

/* Whether the head in BUF (LEN bytes) is complete and keeps the
 * connection open: then we must end it ourselves. */
static int kept_alive(const char *buf, size_t len)
{
    const char *end = memmem_simple(buf, len, "\r\n\r\n");
    return end != NULL &&
           memmem_simple(buf, (size_t)(end - buf), "Connection: keep-alive");
}

/* Read everything FD sends until EOF, reset or ANSWER_MS, half-closing
 * our side once the answer says keep-alive. Returns the byte count (at
 * most SIZE kept in BUF), or -1 with errno set. */
static ssize_t read_answer(int fd, char *buf, size_t size)
{
    size_t len = 0;
    int shut = 0;
    for (;;) {
        if (wait_readable(fd, ANSWER_MS) <= 0) {
            return -1;
        }
        char chunk[65536];
        ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        if (n == 0) {
            return (ssize_t)len;
        }
        if (n < 0 && errno != EINTR) {
            return -1;
        }
        if (n > 0 && len < size) {
            size_t keep = (size_t)n < size - len ? (size_t)n : size - len;
            memcpy(buf + len, chunk, keep);
            len += keep;
        }
        if (!shut && kept_alive(buf, len)) {
            shut = 1;
            shutdown(fd, SHUT_WR);
        }
    }
}

/* Send a case and check the answer. Returns NULL, or what went wrong. */
static const char *run_case(const struct test_case *tc, const char *port,
                            char *answer, size_t size)
{
    int fd = net_connect("localhost", port);
    if (fd < 0) {
        return "could not connect";
    }
    /* The server may answer and close before taking all the bytes (a 414
     * after 8 KiB of a 64 KiB line): EPIPE/ECONNRESET here is fine. */
    send_all(fd, tc->bytes, tc->len);
    if (tc->expect < 400) {
        shutdown(fd, SHUT_WR); /* nothing more: answer (or not) and close */
    }
    ssize_t n = read_answer(fd, answer, size - 1);
    int err = errno;
    close(fd);
    if (n < 0) {
        return err == ECONNRESET ? "connection reset instead of a clean close"
                                 : "no end of file within 5 s";
    }
    answer[n] = '\0';
    if (tc->expect == 0) {
        return n == 0 ? NULL : "expected a close without an answer";
    }
    char want[32];
    snprintf(want, sizeof want, "HTTP/1.1 %d ", tc->expect);
    return strncmp(answer, want, strlen(want)) == 0 ? NULL
                                                    : "wrong status line";
}

/* The server still serves: GET /hello.txt is 200 "hello". */
static const char *still_serving(const char *port, char *answer, size_t size)
{
    static char request[] =
        "GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    struct test_case get = {.path = "(normal request)",
                            .bytes = request,
                            .len = sizeof request - 1,
                            .expect = 200};
    const char *why = run_case(&get, port, answer, size);
    if (why == NULL && strstr(answer, "\r\n\r\nhello\n") == NULL) {
        why = "normal request: wrong body";
    }
    return why;
}

/* Wait (bounded) until the server holds BASELINE descriptors again. */
static int settled(pid_t pid, int baseline)
{
    for (int waited = 0; waited < SETTLE_MS; waited += 10) {
        if (count_fds(pid) == baseline) {
            return 1;
        }
        sleep_ms(10);
    }
    return 0;
}

int main(int argc, char **argv)
{
    static char vg_opts[] = "--quiet --error-exitcode=99 --leak-check=full "
                            "--errors-for-leak-kinds=definite,indirect "
                            "--track-fds=yes";
    int first = 1;
    char *server_argv[16];
    int n = 0;
    if (argc > 3 && strcmp(argv[1], "--valgrind") == 0) {
        server_argv[n++] = argv[2];
        for (char *opt = strtok(vg_opts, " "); opt; opt = strtok(NULL, " ")) {
            server_argv[n++] = opt;
        }
        first = 3;
    }
    if (argc - first < 3) {
        fprintf(stderr, "usage: http_hostile [--valgrind PATH] SERVER "
                        "DOCROOT CASE.http...\n");
        return 2;
    }
    static char port_zero[] = "0";
    server_argv[n++] = argv[first];
    server_argv[n++] = port_zero;
    server_argv[n++] = argv[first + 1];
    server_argv[n] = NULL;
    signal(SIGPIPE, SIG_IGN);

    static struct server s;
    start_server(&s, server_argv);
    if (read_port(&s) < 0) {
        fprintf(stderr, "the server did not print 'listening on'\n");
        finish(&s, 1);
    }
    static char answer[1 << 20];
    static struct test_case tc;
    tc.bytes = malloc(MAX_CASE);
    int baseline = count_fds(s.pid), failed = 0;
    const char *why = still_serving(s.port, answer, sizeof answer);
    for (int i = first + 2; i < argc && why == NULL; i++) {
        if (load_case(&tc, argv[i]) < 0) {
            finish(&s, 2);
        }
        why = run_case(&tc, s.port, answer, sizeof answer);
        if (why == NULL) {
            why = still_serving(s.port, answer, sizeof answer);
        }
        if (why == NULL && baseline >= 0 && !settled(s.pid, baseline)) {
            why = "descriptors not back to where they were";
        }
        printf("%s %s (expect %d)\n", why == NULL ? "ok  " : "FAIL", argv[i],
               tc.expect);
        if (why != NULL) {
            fprintf(stderr, "%s: %s; answer:\n%.300s\n", argv[i], why, answer);
            failed = 1;
        }
    }
    free(tc.bytes);
    kill(s.pid, SIGTERM);
    int status = 0;
    waitpid(s.pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "the server did not exit 0 after SIGTERM\n");
        failed = 1;
    }
    FILE *f = fopen(s.err, "r");
    char line[1024];
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        if (strstr(line, "== Open ") != NULL) {
            fprintf(stderr, "descriptor left open at exit: %s", line);
            failed = 1;
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    printf("%d cases, %s\n", argc - first - 2, failed ? "FAILED" : "all ok");
    finish(&s, failed);
}
