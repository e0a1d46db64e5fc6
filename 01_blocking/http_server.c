/*
 * http_server - an iterative, blocking HTTP/1.1 file server.
 *
 * Usage: http_server [PORT [DOCROOT]]   (default 8080 and this tour's docs/)
 *
 * Protocol: HTTP/1.1 (docs/http.md): GET and HEAD of files under DOCROOT,
 * OPTIONS, POST /echo; keep-alive and pipelining on one connection.
 * Pairs with: http_client, curl, ab, wrk, a browser.
 * Try it:   ./build/01_blocking/http_server
 *           curl -v http://localhost:8080/    (or open it in a browser)
 *           ./build/01_blocking/http_client http://localhost:8080/http.md
 * What to notice:
 *   - a request is found by parsing, not by one recv: it may arrive in
 *     pieces, or several may arrive at once (pipelining);
 *   - every decision is in common/http (shared with chapters 2 and 3);
 *     this file is only the blocking I/O around it;
 *   - one connection at a time: the timeouts are all that keep one slow
 *     client from holding everybody else up (chapters 2 and 3 fix that).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "http.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* no per-call flag: the ignored SIGPIPE does it */
#endif

#define DEFAULT_PORT "8080"
#define BACKLOG 64
#define IDLE_TIMEOUT_MS 5000     /* wait for the next keep-alive request */
#define REQUEST_TIMEOUT_MS 10000 /* a whole request, from its first byte */
#define SEND_TIMEOUT_MS 10000    /* a whole response, to a slow reader */
#define FILE_CHUNK 65536         /* bytes of a file read per send */
#define BUF_SIZE (HTTP_MAX_HEAD + HTTP_MAX_BODY) /* the largest request */

/* One connection's input: the bytes received and not yet answered. */
struct conn {
    int fd;
    int listen_fd; /* to see whether other clients are waiting */
    int id;        /* shown in the log as [id] */
    int served;    /* requests answered on this connection */
    char *buf;     /* BUF_SIZE bytes, shared by every connection */
    size_t len;    /* bytes in buf */
    char *chunk;   /* FILE_CHUNK bytes to copy files through */
};

static void usage(FILE *out)
{
    fprintf(out, "usage: http_server [PORT [DOCROOT]]\n");
}

/* Receive more bytes into C->buf, waiting at most TIMEOUT_MS. Returns the
 * count, 0 at EOF, -1 on error, timeout (ETIMEDOUT) or a stop request.
 * Between requests (one answered, nothing of the next buffered), a new
 * client waiting in the listen queue ends the wait too, as if at EOF: an
 * idle keep-alive connection must not keep others out of a one-at-a-time
 * server. */
static ssize_t receive_more(struct conn *c, int timeout_ms)
{
    int idle = c->len == 0 && c->served > 0;
    int ready = idle ? wait_either(c->fd, c->listen_fd, timeout_ms)
                     : wait_readable(c->fd, timeout_ms);
    if (ready == 2) {
        return 0;
    }
    if (ready <= 0) {
        return -1;
    }
    ssize_t n;
    do {
        n = recv(c->fd, c->buf + c->len, BUF_SIZE - c->len, 0);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
        c->len += (size_t)n;
    }
    return n;
}

/* Milliseconds left until DEADLINE (a time() value times 1000). */
static int ms_left(long long deadline)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long left =
        deadline - ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    return left > 0 ? (int)left : 0;
}

/* A deadline MS milliseconds from now, for ms_left. */
static long long deadline_in(int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + ms;
}

/* Read until C->buf starts with a whole request (head and body). Returns
 * HTTP_PARSE_OK or HTTP_PARSE_ERROR with *REQ filled in, or
 * HTTP_PARSE_MORE when the connection should just be closed: EOF, error,
 * idle timeout or stop. A request that stalls half-way gets 408. */
static enum http_parse_result read_request(struct conn *c,
                                           struct http_request *req)
{
    long long deadline = 0; /* set when the request's first byte is in */
    int sent_continue = 0;
    for (;;) {
        if (deadline == 0 && c->len > 0) {
            deadline = deadline_in(REQUEST_TIMEOUT_MS);
        }
        enum http_parse_result r = http_parse_request(c->buf, c->len, req);
        if (r == HTTP_PARSE_ERROR ||
            (r == HTTP_PARSE_OK && c->len >= http_request_len(req))) {
            return r;
        }
        if (r == HTTP_PARSE_OK && req->expect_continue && !sent_continue) {
            sent_continue = 1; /* the client waits for this before the body */
            send_all(c->fd, HTTP_CONTINUE, sizeof HTTP_CONTINUE - 1);
        }
        int timeout = c->len == 0 ? IDLE_TIMEOUT_MS : ms_left(deadline);
        ssize_t n = receive_more(c, timeout);
        if (n > 0) {
            continue;
        }
        if (n < 0 && errno == ETIMEDOUT && c->len > 0) {
            req->status = 408; /* started a request, never finished it */
            return HTTP_PARSE_ERROR;
        }
        return HTTP_PARSE_MORE;
    }
}

/* Read up to FILE_CHUNK bytes of PLAN's file into C->chunk, for at most
 * *LEFT more. Returns the count; 0 or -1 if the file came up short. */
static ssize_t read_chunk(struct conn *c, const struct http_plan *plan,
                          off_t *left)
{
    size_t want = *left < FILE_CHUNK ? (size_t)*left : FILE_CHUNK;
    ssize_t n;
    do {
        n = read(plan->fd, c->chunk, want);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
        *left -= n;
    }
    return n;
}

/* sendv_all (common/io.c) with a DEADLINE for the whole response. A
 * client that stops reading makes send() block; SO_SNDTIMEO bounds that
 * wait, but per call: a send that copies a little and then times out
 * returns that much, and the next one waits the full time again. A
 * client reading a trickle (or none at all: the kernel finds it a little
 * room now and then) would hold this one-at-a-time server for as long as
 * it cared. So before each sendmsg the timeout is set to the time left.
 * Returns 0, or -1 with errno set (EAGAIN: the time is up). */
static int send_within(int fd, struct iovec *iov, int count, long long deadline)
{
    while (count > 0) {
        int ms = ms_left(deadline);
        struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = ms % 1000 * 1000};
        if (ms == 0) {
            errno = EAGAIN; /* and a zero timeval would mean "no limit" */
            return -1;
        }
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = count};
        ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (n < 0 && errno != EINTR) {
            return -1;
        }
        count = iov_skip(&iov, count, n > 0 ? (size_t)n : 0);
    }
    return 0;
}

/* Send what PLAN says: the head, then the body or the file, all within
 * SEND_TIMEOUT_MS. The head and the first part of the body leave in one
 * call (see sendv_all). Returns 0, or -1 if the client went away, did not
 * take the response in time, or the file came up short. */
static int send_plan(struct conn *c, const struct http_plan *plan)
{
    long long deadline = deadline_in(SEND_TIMEOUT_MS);
    off_t left = plan->fd >= 0 ? plan->file_len : 0;
    struct iovec iov[2] = {
        {.iov_base = (void *)(uintptr_t)plan->head, .iov_len = plan->head_len},
        {.iov_base = (void *)(uintptr_t)plan->body, .iov_len = plan->body_len},
    };
    if (left > 0) {
        ssize_t n = read_chunk(c, plan, &left);
        if (n <= 0) {
            return -1; /* the file shrank: the response cannot be finished */
        }
        iov[1].iov_base = c->chunk;
        iov[1].iov_len = (size_t)n;
    }
    if (send_within(c->fd, iov, 2, deadline) < 0) {
        return -1;
    }
    while (left > 0) {
        ssize_t n = read_chunk(c, plan, &left);
        if (n <= 0) {
            return -1;
        }
        struct iovec chunk = {.iov_base = c->chunk, .iov_len = (size_t)n};
        if (send_within(c->fd, &chunk, 1, deadline) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Answer requests on one connection until it closes or must close. */
static void serve_connection(struct conn *c, const struct http_site *site)
{
    c->len = 0;
    for (c->served = 0;; c->served++) {
        struct http_request req;
        struct http_plan plan;
        enum http_parse_result r = read_request(c, &req);
        if (r == HTTP_PARSE_MORE) {
            break;
        }
        if (r == HTTP_PARSE_ERROR) {
            http_plan_error(&plan, req.status, site, time(NULL));
            printf("[%d] bad request: %d\n", c->id, plan.status);
        } else {
            http_plan_request(&plan, &req, c->buf, site, time(NULL));
            printf("[%d] %.*s %.*s %d\n", c->id, (int)req.method_name.len,
                   req.method_name.ptr, (int)req.target.len, req.target.ptr,
                   plan.status);
        }
        int sent = send_plan(c, &plan);
        int keep_alive = plan.keep_alive && sent == 0;
        http_plan_free(&plan);
        if (!keep_alive) {
            break;
        }
        /* Pipelining: what follows this request stays for the next one. */
        size_t used = http_request_len(&req);
        memmove(c->buf, c->buf + used, c->len - used);
        c->len -= used;
    }
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        return 0;
    }
    if (argc > 3 || (argc >= 2 && net_parse_port(argv[1]) < 0)) {
        usage(stderr);
        return 2;
    }
    static struct http_site site;
    const char *docroot = argc == 3 ? argv[2] : TOUR_DOCS_DIR;
    if (http_site_init(&site, docroot, "tour-ch01-http") < 0) {
        die_errno("document root %s", docroot);
    }
    install_stop_handlers();
    int listen_fd =
        net_listen(NULL, argc >= 2 ? argv[1] : DEFAULT_PORT, BACKLOG);
    if (listen_fd < 0 || set_nonblocking(listen_fd) < 0) {
        return 1;
    }
    char addr[NET_ADDRSTRLEN];
    printf("listening on %s\n", net_local_str(listen_fd, addr, sizeof addr));

    struct conn c = {.listen_fd = listen_fd,
                     .buf = malloc(BUF_SIZE),
                     .chunk = malloc(FILE_CHUNK)};
    if (c.buf == NULL || c.chunk == NULL) {
        die("out of memory");
    }
    for (c.id = 1; (c.fd = net_accept(listen_fd, addr, sizeof addr)) >= 0;
         c.id++) {
        printf("[%d] connected from %s\n", c.id, addr);
        serve_connection(&c, &site);
        close_gracefully(c.fd);
        printf("[%d] closed\n", c.id);
    }
    free(c.buf);
    free(c.chunk);
    close(listen_fd);
    return 0;
}
