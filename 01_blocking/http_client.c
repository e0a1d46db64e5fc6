/*
 * http_client - fetch one URL over HTTP/1.1 with a blocking socket.
 *
 * Usage: http_client [-I | -d DATA] http://HOST[:PORT][/PATH]
 *
 * Protocol: HTTP/1.1 (RFC 9112): one GET (HEAD with -I; with -d, a POST of
 * DATA as application/x-www-form-urlencoded, like curl -d) with
 * "Connection: close". Prints the response head line by line as it comes
 * (no CRs, control bytes as '?'), an empty line, and the body byte for
 * byte. Status 0 for any complete response, even a 404; 1 for a broken
 * one (the reason on stderr); 2 for bad arguments.
 * Pairs with: http_server (01, 02, 03), python3 -m http.server, nginx.
 * Try it:   python3 -m http.server 8000 --bind 127.0.0.1
 *           ./build/01_blocking/http_client http://localhost:8000/
 *           ./build/01_blocking/http_client -I http://[::1]:8080/
 * What to notice:
 *   - TCP is a stream: the end of the body is found by its framing, a
 *     Content-Length, chunked encoding, or the server closing;
 *   - HEAD, 1xx, 204 and 304 responses have no body, whatever the headers say;
 *   - all the server sends is bounded and checked: a hostile server gets an
 *     error message, not our memory, and not forever (SO_RCVTIMEO).
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common.h"

#define URL_MAX 8000         /* the longest URL taken, bytes */
#define DATA_MAX 49152       /* the longest -d DATA taken, bytes */
#define REQUEST_MAX 65536    /* our request: both of those and the fields */
#define HEAD_MAX (64 * 1024) /* response heads and trailers, all together */
#define TIMEOUT_SECONDS 10   /* a server silent this long is given up on */
#define NO_LENGTH (-1)       /* no Content-Length field */
#define BAD_LENGTH (-2)      /* not a number, or two fields that differ */
#define DIGITS "0123456789"
#define TRUNCATED "truncated: the server closed the connection mid-response"

/* The parts of a URL a request needs. */
struct url {
    char host[256];   /* the name or address (an IPv6 one without []) */
    char port[6];     /* decimal, "80" if the URL gave none */
    int ipv6;         /* the host was an [IPv6 address] */
    const char *path; /* from the first '/' or '?' on (may be empty) */
    int path_len;     /* up to a "#fragment", which is never sent */
};

/* The socket, and the bytes from it that are not used yet. */
struct reader {
    int fd;             /* the connected socket */
    size_t pos;         /* first unused byte of buf */
    size_t len;         /* bytes in buf */
    long head_left;     /* what the heads and trailers may still take */
    char buf[HEAD_MAX]; /* a line of a head fits; bodies pass through */
};

/* What a response head says about its body. */
struct head {
    int status;     /* 100..599 */
    int64_t length; /* Content-Length, or NO_LENGTH, or BAD_LENGTH */
    int transfer;   /* Transfer-Encoding: 0 none, 1 chunked, 2 other */
};

static void usage(FILE *out)
{
    fprintf(out, "usage: http_client [-I | -d DATA] "
                 "http://HOST[:PORT][/PATH]\n");
}

/* Take URL apart into *U. Returns NULL, or why the URL is refused. */
static const char *parse_url(const char *url, struct url *u)
{
    if (strncasecmp(url, "https://", 8) == 0) {
        return "https:// needs TLS, which this tour does not cover\n";
    }
    int bad = strncasecmp(url, "http://", 7) != 0 || strlen(url) > URL_MAX;
    /* A CR or LF in the URL would add lines of its own to our request. */
    for (const char *p = url; *p != '\0'; p++) {
        bad |= (unsigned char)*p <= ' ' || *p == 0x7f;
    }
    int n = 0, m = 0;
    u->ipv6 = !bad && url[7] == '[';
    if (bad ||
        sscanf(url + 7, u->ipv6 ? "[%255[0-9A-Fa-f:.]]%n" : "%255[^]:/?#@[]%n",
               u->host, &n) != 1 ||
        n == 0) {
        return "not a URL of the form http://HOST[:PORT][/PATH]\n";
    }
    url += 7 + n;
    strcpy(u->port, "80");
    if (*url == ':' && (sscanf(url, ":%5[0-9]%n", u->port, &m) != 1 ||
                        net_parse_port(u->port) <= 0)) {
        return "a bad port in the URL\n";
    }
    u->path = url + m;
    u->path_len = (int)strcspn(u->path, "#");
    /* strchr finds the '\0' too: an empty path is fine. */
    return strchr("/?#", *u->path) != NULL ? NULL : "a bad host in the URL\n";
}

/* Give up: say why on stderr (naming errno value ERR unless it is 0),
 * close the connection and exit with status 1. */
TOUR_PRINTF(3, 4)
static _Noreturn void fail(struct reader *r, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (err == EAGAIN || err == EWOULDBLOCK) { /* SO_RCVTIMEO, SO_SNDTIMEO */
        fprintf(stderr, ": timed out after %d seconds", TIMEOUT_SECONDS);
    } else if (err != 0) {
        fprintf(stderr, ": %s (%s)", errno_name(err), strerror(err));
    }
    fputc('\n', stderr);
    close(r->fd);
    exit(1);
}

/* Send the request, head and body, in one send_all: two small sends in a
 * row would meet Nagle's algorithm, the second waiting for the server to
 * acknowledge the first. */
static void send_request(struct reader *r, const struct url *u,
                         const char *method, const char *data)
{
    /* Host names the server as the URL did: brackets around an IPv6
     * address (else its colons would look like a port), the port if not 80. */
    char host[sizeof u->host + 16], fields[128] = "", req[REQUEST_MAX];
    int port80 = strcmp(u->port, "80") == 0;
    snprintf(host, sizeof host, u->ipv6 ? "[%s]%s%s" : "%s%s%s", u->host,
             port80 ? "" : ":", port80 ? "" : u->port);
    if (data != NULL) {
        snprintf(fields, sizeof fields,
                 "Content-Type: application/x-www-form-urlencoded\r\n"
                 "Content-Length: %zu\r\n",
                 strlen(data));
    }
    int n = snprintf(req, sizeof req,
                     "%s %s%.*s HTTP/1.1\r\nHost: %s\r\n"
                     "User-Agent: tour-http-client\r\nAccept: */*\r\n"
                     "Connection: close\r\n%s\r\n%s",
                     method, *u->path == '/' ? "" : "/", u->path_len, u->path,
                     host, fields, data != NULL ? data : "");
    if (n < 0 || n >= (int)sizeof req) {
        fail(r, 0, "request longer than %zu bytes", sizeof req);
    }
    if (send_all(r->fd, req, (size_t)n) < 0) {
        fail(r, errno, "send");
    }
}

/* Read more bytes after the unused ones, which first move to the front.
 * Returns how many arrived, 0 at EOF; fails on an error or a timeout. */
static size_t fill(struct reader *r)
{
    memmove(r->buf, r->buf + r->pos, r->len - r->pos);
    r->len -= r->pos;
    r->pos = 0;
    ssize_t n;
    while ((n = recv(r->fd, r->buf + r->len, sizeof r->buf - r->len, 0)) < 0) {
        if (errno != EINTR) { /* EINTR: after Ctrl-Z and fg, for one */
            fail(r, errno, "recv");
        }
    }
    r->len += (size_t)n;
    return (size_t)n;
}

/* The next line, reading more until it is all there. It ends at LF; a
 * CR before the LF is dropped (a bare LF is accepted, RFC 9112 2.2).
 * Returns it NUL-terminated, in the buffer until the next fill. */
static char *next_line(struct reader *r)
{
    char *line, *lf;
    while ((lf = memchr(r->buf + r->pos, '\n', r->len - r->pos)) == NULL) {
        if (r->len - r->pos == sizeof r->buf) {
            fail(r, 0, "a line longer than %d KiB", HEAD_MAX / 1024);
        }
        if (fill(r) == 0) {
            fail(r, 0, TRUNCATED);
        }
    }
    line = r->buf + r->pos;
    r->pos += (size_t)(lf - line) + 1;
    if (lf > line && lf[-1] == '\r') {
        lf--;
    }
    *lf = '\0'; /* a C string, and one with no NUL inside (RFC 9110 5.5) */
    if (strlen(line) != (size_t)(lf - line)) {
        fail(r, 0, "a NUL byte in a line");
    }
    return line;
}

/* The next line of a head or of the trailers: all of them together may
 * take HEAD_MAX bytes, so a server cannot make us read forever. */
static char *head_line(struct reader *r)
{
    char *line = next_line(r);
    r->head_left -= (long)strlen(line) + 2;
    if (r->head_left < 0) {
        fail(r, 0, "response head larger than %d KiB", HEAD_MAX / 1024);
    }
    return line;
}

/* Print a line of a head with any control byte as '?': bytes from the
 * network never reach a terminal raw. */
static void print_line(const char *line)
{
    for (const char *p = line; *p != '\0'; p++) {
        putchar((unsigned char)*p < ' ' || *p == 0x7f ? '?' : *p);
    }
    putchar('\n');
}

/* The status code of a status line, "HTTP/1.1 200 OK" (RFC 9112 4), or
 * -1 if it is anything else. */
static int parse_status(const char *s)
{
    if (strncmp(s, "HTTP/1.", 7) != 0 || strspn(s + 7, DIGITS) != 1 ||
        s[8] != ' ' || strspn(s + 9, DIGITS) != 3 ||
        (s[12] != ' ' && s[12] != '\0')) {
        return -1;
    }
    int code = atoi(s + 9);
    return code >= 100 && code <= 599 ? code : -1;
}

/* Check a header field line, "Name: value", and note in *H the fields
 * that frame the body. A blank in or before the name is refused: it is
 * how smuggled Content-Lengths hide (and obs-fold, which is obsolete). */
static void parse_field(struct reader *r, char *s, struct head *h)
{
    size_t name_len = strcspn(s, ":");
    if (name_len == 0 || s[name_len] == '\0' || strcspn(s, " \t") < name_len) {
        fail(r, 0, "malformed header field");
    }
    char *v = s + name_len + 1 + strspn(s + name_len + 1, " \t");
    size_t v_len = strlen(v);
    while (v_len > 0 && (v[v_len - 1] == ' ' || v[v_len - 1] == '\t')) {
        v[--v_len] = '\0';
    }
    if (name_len == 14 && strncasecmp(s, "Content-Length", 14) == 0) {
        int64_t n = v_len > 0 && v_len <= 18 && strspn(v, DIGITS) == v_len
                        ? strtoll(v, NULL, 10)
                        : BAD_LENGTH;
        h->length = h->length == NO_LENGTH || h->length == n ? n : BAD_LENGTH;
    } else if (name_len == 17 && strncasecmp(s, "Transfer-Encoding", 17) == 0) {
        h->transfer = h->transfer == 0 && strcasecmp(v, "chunked") == 0 ? 1 : 2;
    }
}

/* Read one response head, printing each line as it arrives before it is
 * checked, and gather into *H what frames the body. */
static void read_head(struct reader *r, struct head *h)
{
    char *line = head_line(r);
    print_line(line);
    *h = (struct head){.status = parse_status(line), .length = NO_LENGTH};
    if (h->status < 0) {
        fail(r, 0, "malformed status line (not \"HTTP/1.x NNN reason\")");
    }
    while (*(line = head_line(r)) != '\0') {
        print_line(line);
        parse_field(r, line, h);
    }
    putchar('\n');
}

/* Copy N body bytes to stdout, or with UNTIL_CLOSE all of them until the
 * server closes. Fails if the server closes before N. */
static void copy_body(struct reader *r, uint64_t n, int until_close)
{
    while (n > 0) {
        if (r->pos == r->len && fill(r) == 0) {
            if (until_close) {
                return;
            }
            fail(r, 0, TRUNCATED);
        }
        size_t take = r->len - r->pos;
        take = take < n ? take : (size_t)n;
        if (fwrite(r->buf + r->pos, 1, take, stdout) != take) {
            fail(r, errno, "stdout");
        }
        r->pos += take;
        n -= take;
    }
}

/* A chunked body (RFC 9112 7.1): chunks "SIZE[;extensions] CRLF DATA CRLF"
 * up to one of size 0, then trailer fields up to an empty line. Extensions
 * and trailers are read and ignored. At most 15 hex digits: no overflow. */
static void copy_chunked(struct reader *r)
{
    for (;;) {
        char *line = next_line(r);
        size_t zeros = strspn(line, "0");
        size_t digits = strspn(line + zeros, DIGITS "abcdefABCDEF");
        uint64_t size = strtoull(line, NULL, 16);
        char *end = line + zeros + digits;
        end += strspn(end, " \t");
        if (zeros + digits == 0 || digits > 15 ||
            (*end != '\0' && *end != ';')) {
            fail(r, 0, "malformed chunk size line");
        }
        if (size == 0) {
            break;
        }
        copy_body(r, size, 0);
        if (*next_line(r) != '\0') {
            fail(r, 0, "malformed chunk: no CRLF after its data");
        }
    }
    while (*head_line(r) != '\0') {
        continue;
    }
}

/* Copy the body of the final response to stdout, framed as RFC 9112 6.3
 * says. Framing that cannot be trusted is an error: with both
 * Content-Length and Transfer-Encoding, a proxy on the way may have seen
 * a different body than we would. */
static void read_body(struct reader *r, const struct head *h, int head_request)
{
    if (head_request || h->status == 204 || h->status == 304) {
        return; /* no body, whatever the fields say */
    }
    if (h->transfer != 0 && h->length != NO_LENGTH) {
        fail(r, 0, "both Content-Length and Transfer-Encoding");
    }
    if (h->transfer == 2 || h->length == BAD_LENGTH) {
        fail(r, 0,
             "a Transfer-Encoding other than chunked, or a bad "
             "Content-Length");
    }
    if (h->transfer == 1) {
        copy_chunked(r);
    } else { /* no Content-Length: the body ends when the server closes */
        copy_body(r, h->length >= 0 ? (uint64_t)h->length : UINT64_MAX,
                  h->length < 0);
    }
}

/* Read the options and the URL into *U, *METHOD and *DATA. Returns -1 to
 * go on, or the exit status: 0 after -h, 2 after a usage line. */
static int parse_args(int argc, char **argv, struct url *u, const char **method,
                      const char **data)
{
    int opt;
    while ((opt = getopt(argc, argv, "hId:")) != -1) {
        if (opt == 'h') {
            usage(stdout);
            return 0;
        }
        if (opt == '?' || (*method)[0] != 'G') { /* -I and -d: one of them */
            usage(stderr);
            return 2;
        }
        *method = opt == 'I' ? "HEAD" : "POST";
        *data = opt == 'd' ? optarg : NULL;
    }
    const char *why = optind + 1 != argc ? ""
                      : *data != NULL && strlen(*data) > DATA_MAX
                          ? "DATA longer than 48 KiB\n"
                          : parse_url(argv[optind], u);
    if (why != NULL) {
        fprintf(stderr, "%s", why);
        usage(stderr);
        return 2;
    }
    return -1;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct url u;
    const char *method = "GET", *data = NULL;
    int status = parse_args(argc, argv, &u, &method, &data);
    if (status >= 0) {
        return status;
    }
    /* MSG_NOSIGNAL keeps send from raising SIGPIPE on Linux; ignoring the
     * signal does it everywhere, and for a closed stdout too (EPIPE). */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        die_errno("signal");
    }
    struct reader r = {.fd = net_connect(u.host, u.port),
                       .head_left = HEAD_MAX};
    if (r.fd < 0) {
        return 1;
    }
    /* A blocking recv waits forever for a server that stops sending:
     * SO_RCVTIMEO makes it fail with EAGAIN after TIMEOUT_SECONDS of
     * silence; SO_SNDTIMEO does the same for one that stops reading. */
    struct timeval tv = {.tv_sec = TIMEOUT_SECONDS};
    if (setsockopt(r.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
        setsockopt(r.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0) {
        fail(&r, errno, "setsockopt");
    }
    send_request(&r, &u, method, data);

    /* Interim 1xx responses (100 Continue, 103 Early Hints) come before
     * the final one; each is printed, as curl -i does. */
    struct head h;
    do {
        read_head(&r, &h);
    } while (h.status < 200);
    read_body(&r, &h, *method == 'H');
    if (fflush(stdout) != 0) {
        fail(&r, errno, "stdout");
    }
    close(r.fd);
    return 0;
}
