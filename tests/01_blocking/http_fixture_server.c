/*
 * http_fixture_server - canned HTTP responses, good and hostile, for the
 * http_client tests.
 *
 * Usage: http_fixture_server [-t] MODE [EXPECTED]
 *
 * Listens on a free port, prints "listening on ADDR:PORT" and nothing else
 * on stdout, then answers each connection in turn, whatever it asks, with
 * the response MODE names (see the table below; to a HEAD request, only
 * that response's head), and closes it. -t trickles the response a byte
 * at a time, so that the client sees every possible split. SIGTERM stops
 * it with status 0.
 *   echo      200 with the request (CRs removed) as the body
 *   stall     a head and part of the body, then silence until the client
 *             leaves
 *   big, big-length  1 MiB of binary data, chunked or with Content-Length;
 *             the exact stdout expected of http_client goes to EXPECTED
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define REQUEST_MAX 16384           /* request head and body, bytes */
#define REQUEST_TIMEOUT_MS 5000     /* for the whole request */
#define BIG_SIZE (1024 * 1024 + 17) /* body of the big modes, bytes */
#define FILLER_KIB 72               /* header bytes of huge-head, long-line */

/* A fixed response: its mode, its bytes and their count (sizeof rather
 * than strlen, so that a response may hold a NUL byte). */
#define CANNED(mode, text)                                                     \
    {                                                                          \
        mode, text, sizeof text - 1                                            \
    }

/* The fixed responses, by mode. */
static const struct canned {
    const char *mode;     /* the name on the command line */
    const char *response; /* the bytes sent (NUL bytes allowed) */
    size_t len;           /* how many */
} canned[] = {
    CANNED("length", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                     "Content-Length: 25\r\n\r\nhello, world\nsecond line\n"),
    /* Chunk extensions (one with a quoted ';'), upper-case hex with
     * leading zeros, a trailer field after the last chunk. */
    CANNED("chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                      "Trailer: X-Checksum\r\n\r\n"
                      "7;name=value\r\nhello, \r\n"
                      "7 ; q=\"a;b\"\r\nworld!\n\r\n"
                      "000C\r\nsecond line\n\r\n"
                      "0\r\nX-Checksum: 42\r\n\r\n"),
    /* HTTP/1.0 and no Content-Length: the body ends at the close. */
    CANNED("close", "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                    "no length: the body\nends with the connection\n"),
    /* Bare LF line ends, which RFC 9112 2.2 lets a client accept. */
    CANNED("bare-lf", "HTTP/1.1 200 OK\nContent-Length: 3\n\nok\n"),
    /* No body, whatever Content-Length says: a client that reads one
     * finds the connection closed and reports a truncated response. */
    CANNED("204", "HTTP/1.1 204 No Content\r\nContent-Length: 42\r\n\r\n"),
    CANNED("304", "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n"
                  "Content-Length: 1234\r\n\r\n"),
    CANNED("continue", "HTTP/1.1 100 Continue\r\n\r\n"
                       "HTTP/1.1 103 Early Hints\r\n"
                       "Link: </style.css>; rel=preload\r\n\r\n"
                       "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"),
    CANNED("not-found", "HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\n"
                        "not found\n"),
    /* Hostile or broken. */
    CANNED("truncated", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
                        "cut short\n"),
    CANNED("truncated-chunk",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
           "\r\n20\r\ncut short\n"),
    CANNED("truncated-head", "HTTP/1.1 200 OK\r\nContent-Le"),
    CANNED("empty", ""),
    CANNED("bad-status", "HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n"),
    CANNED("not-http", "SSH-2.0-OpenSSH_9.2\r\n"),
    CANNED("bad-field", "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello"),
    CANNED("bad-chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "0x5\r\nhello\r\n0\r\n\r\n"),
    CANNED("no-crlf", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "3\r\nhello\r\n0\r\n\r\n"),
    CANNED("both-lengths", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n"
                           "5\r\nhello\r\n0\r\n\r\n"),
    CANNED("two-lengths", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                          "Content-Length: 6\r\n\r\nhello!"),
    CANNED("gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n?"),
    CANNED("nul",
           "HTTP/1.1 200 OK\r\nX-Evil: a\0b\r\nContent-Length: 0\r\n\r\n"),
};

/* The modes whose responses are made at run time (send_built). */
static const char *const built_modes[] = {
    "echo", "stall", "big", "big-length", "huge-head", "long-line"};

/* What this run serves. */
struct fixture {
    const char *mode;            /* the MODE argument */
    int trickle;                 /* -t: a byte at a time */
    char *big;                   /* the body of the big modes, else NULL */
    const struct canned *canned; /* the response of a fixed mode, or NULL */
};

static void usage(FILE *out)
{
    fprintf(out, "usage: http_fixture_server [-t] MODE [EXPECTED]\n");
}

/* Send LEN bytes of P; with -t one at a time, 1 ms apart. Returns 0, or
 * -1 with errno set. */
static int send_bytes(const struct fixture *f, int fd, const char *p,
                      size_t len)
{
    if (!f->trickle) {
        return send_all(fd, p, len) < 0 ? -1 : 0;
    }
    const struct timespec ms = {.tv_sec = 0, .tv_nsec = 1000000};
    for (size_t i = 0; i < len; i++) {
        if (send_all(fd, p + i, 1) < 0) {
            return -1;
        }
        nanosleep(&ms, NULL);
    }
    return 0;
}

/* The value of the request's Content-Length field, 0 if it has none. */
static size_t content_length(const char *head)
{
    for (const char *p = strstr(head, "\r\n"); p != NULL;
         p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, "Content-Length:", 15) == 0) {
            return strtoul(p + 17, NULL, 10);
        }
    }
    return 0;
}

/* Read a request into BUF (SIZE bytes, NUL-terminated): the head up to
 * its empty line, then the body its Content-Length announces. Returns the
 * length, or 0 if the client left, took too long or sent too much. */
static size_t read_request(int fd, char *buf, size_t size)
{
    size_t len = 0, want = SIZE_MAX;
    while (len < want && len + 1 < size) {
        if (wait_readable(fd, REQUEST_TIMEOUT_MS) <= 0) {
            return 0;
        }
        ssize_t n = recv(fd, buf + len, size - 1 - len, 0);
        if (n <= 0) {
            return 0;
        }
        len += (size_t)n;
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end != NULL && want == SIZE_MAX) {
            want = (size_t)(end - buf) + 4 + content_length(buf);
        }
    }
    return len >= want ? len : 0;
}

/* Answer REQ with the request itself (CRs removed) as a text body. */
static int send_echo(const struct fixture *f, int fd, const char *req,
                     size_t len)
{
    char body[REQUEST_MAX], head[128];
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (req[i] != '\r') {
            body[n++] = req[i];
        }
    }
    int h = snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     n);
    return send_bytes(f, fd, head, (size_t)h) < 0 ? -1
                                                  : send_bytes(f, fd, body, n);
}

/* The head of the big modes, with line ends EOL: "\r\n" to send it,
 * "\n" for the stdout of http_client. Returns its length. */
static int big_head(const struct fixture *f, char *buf, size_t size,
                    const char *eol)
{
    if (strcmp(f->mode, "big") == 0) {
        return snprintf(buf, size,
                        "HTTP/1.1 200 OK%sTransfer-Encoding: "
                        "chunked%s%s",
                        eol, eol, eol);
    }
    return snprintf(buf, size, "HTTP/1.1 200 OK%sContent-Length: %d%s%s", eol,
                    BIG_SIZE, eol, eol);
}

/* Send the big body in chunks of many sizes (1 to 9000 bytes), some with
 * an extension, so chunk boundaries fall everywhere in the client's reads. */
static int send_big_chunked(const struct fixture *f, int fd)
{
    size_t pos = 0;
    for (unsigned i = 0; pos < BIG_SIZE; i++) {
        size_t n = 1 + (i * 7919u) % 9000;
        n = n < BIG_SIZE - pos ? n : BIG_SIZE - pos;
        char line[64];
        int len = snprintf(line, sizeof line, "%zx%s\r\n", n,
                           i % 3 == 0 ? ";ext=1" : "");
        if (send_bytes(f, fd, line, (size_t)len) < 0 ||
            send_bytes(f, fd, f->big + pos, n) < 0 ||
            send_bytes(f, fd, "\r\n", 2) < 0) {
            return -1;
        }
        pos += n;
    }
    return send_bytes(f, fd, "0\r\n\r\n", 5);
}

/* The responses built at run time. Returns 0, or -1 with errno set. */
static int send_built(const struct fixture *f, int fd, int head_request,
                      const char *req, size_t len)
{
    char line[64];
    if (strcmp(f->mode, "echo") == 0) {
        return send_echo(f, fd, req, len);
    }
    if (f->big != NULL) {
        int n = big_head(f, line, sizeof line, "\r\n");
        if (send_bytes(f, fd, line, (size_t)n) < 0 || head_request) {
            return head_request ? 0 : -1;
        }
        return strcmp(f->mode, "big") == 0
                   ? send_big_chunked(f, fd)
                   : send_bytes(f, fd, f->big, BIG_SIZE);
    }
    if (strcmp(f->mode, "stall") == 0) {
        const char *part = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
                           "the rest never comes\n";
        return send_bytes(f, fd, part, strlen(part));
    }
    /* huge-head: 8 header lines of 9 KiB, more in all than a client
     * should take; long-line: one line of 72 KiB. */
    int per_line = strcmp(f->mode, "huge-head") == 0 ? 9 : FILLER_KIB;
    char xs[1024];
    memset(xs, 'x', sizeof xs);
    if (send_bytes(f, fd, "HTTP/1.1 200 OK\r\n", 17) < 0) {
        return -1;
    }
    for (int k = 0; k < FILLER_KIB; k++) {
        int n = snprintf(line, sizeof line, "X-Filler-%02d: ", k / per_line);
        if ((k % per_line == 0 && send_bytes(f, fd, line, (size_t)n) < 0) ||
            send_bytes(f, fd, xs, sizeof xs) < 0 ||
            (k % per_line == per_line - 1 &&
             send_bytes(f, fd, "\r\n", 2) < 0)) {
            return -1;
        }
    }
    return send_bytes(f, fd, "\r\n", 2);
}

/* Answer one connection: read its request, send the response, close. */
static void serve(const struct fixture *f, int fd)
{
    char req[REQUEST_MAX];
    size_t len = read_request(fd, req, sizeof req);
    if (len == 0) {
        fprintf(stderr, "no complete request\n");
        close(fd);
        return;
    }
    /* -t: no Nagle, so that each byte leaves in a segment of its own. */
    int on = 1;
    if (f->trickle &&
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) < 0) {
        warn_errno("setsockopt TCP_NODELAY");
    }
    /* To HEAD, a server sends the head alone: up to the first empty line. */
    int head_request = strncmp(req, "HEAD ", 5) == 0;
    int rc;
    if (f->canned != NULL) {
        const char *head_end = strstr(f->canned->response, "\r\n\r\n");
        size_t n = f->canned->len;
        if (head_request && head_end != NULL) {
            n = (size_t)(head_end + 4 - f->canned->response);
        }
        rc = send_bytes(f, fd, f->canned->response, n);
    } else {
        rc = send_built(f, fd, head_request, req, len);
    }
    if (rc < 0) {
        warn_errno("send"); /* a client that gave up on a hostile answer */
    }
    if (strcmp(f->mode, "stall") == 0) {
        /* Silence, until the client gives up and closes (or SIGTERM). */
        char sink[256];
        while (wait_readable(fd, -1) > 0 &&
               recv(fd, sink, sizeof sink, 0) > 0) {
            continue;
        }
    }
    close_gracefully(fd);
}

/* Make the big body (every byte value, deterministic) and write to PATH
 * the exact stdout expected of http_client. Returns the body. */
static char *make_big(const struct fixture *f, const char *path)
{
    char *big = malloc(BIG_SIZE);
    if (big == NULL) {
        die_errno("malloc");
    }
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < BIG_SIZE; i++) {
        x = x * 1103515245u + 12345u; /* an LCG: fast, and the same each time */
        big[i] = (char)(unsigned char)(x >> 16);
    }
    char head[128];
    size_t n = (size_t)big_head(f, head, sizeof head, "\n");
    FILE *out = fopen(path, "wb");
    if (out == NULL) {
        die_errno("%s", path);
    }
    size_t written = fwrite(head, 1, n, out) + fwrite(big, 1, BIG_SIZE, out);
    if (fclose(out) != 0 || written != n + BIG_SIZE) {
        die_errno("%s", path);
    }
    return big;
}

/* Find MODE: set f->canned, or check that it is a built mode. Returns 0,
 * or -1 for a mode that does not exist. */
static int find_mode(struct fixture *f, const char *mode)
{
    f->mode = mode;
    for (size_t i = 0; i < sizeof canned / sizeof canned[0]; i++) {
        if (strcmp(mode, canned[i].mode) == 0) {
            f->canned = &canned[i];
            return 0;
        }
    }
    for (size_t i = 0; i < sizeof built_modes / sizeof built_modes[0]; i++) {
        if (strcmp(mode, built_modes[i]) == 0) {
            return 0;
        }
    }
    return -1;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct fixture f = {0};
    int arg = 1;
    if (argc > arg && strcmp(argv[arg], "-t") == 0) {
        f.trickle = 1;
        arg++;
    }
    int big = argc > arg && strncmp(argv[arg], "big", 3) == 0;
    if (argc != arg + 1 + big || find_mode(&f, argv[arg]) < 0) {
        usage(stderr);
        return 2;
    }
    if (big) {
        f.big = make_big(&f, argv[arg + 1]);
    }
    install_stop_handlers();
    int listen_fd = net_listen(NULL, "0", 16);
    if (listen_fd < 0) {
        return 1;
    }
    if (set_nonblocking(listen_fd) < 0) { /* net_accept waits, then accepts */
        die_errno("fcntl O_NONBLOCK");
    }
    char addr[NET_ADDRSTRLEN];
    printf("listening on %s\n", net_local_str(listen_fd, addr, sizeof addr));
    int fd;
    while ((fd = net_accept(listen_fd, addr, sizeof addr)) >= 0) {
        serve(&f, fd);
    }
    close(listen_fd);
    free(f.big);
    return 0;
}
