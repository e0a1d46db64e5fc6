/*
 * http_server - an HTTP/1.1 file server: the echo server with deal() swapped.
 *
 * Usage: http_server [PORT [DOCROOT]]   (default 8080 and this tour's docs/)
 *
 * Protocol: HTTP/1.1 (docs/http.md): GET and HEAD of files under DOCROOT,
 * OPTIONS, POST /echo; keep-alive and pipelining; many clients at once.
 * Pairs with: curl, ab, wrk, a browser, 01_blocking/http_client.
 * Try it:   ./build/02_nonblocking/http_server
 *           curl -v http://localhost:8080/    (or open it in a browser)
 * What to notice:
 *   - the skeleton (nb_server.c) is the echo server's; only deal() differs,
 *     and the HTTP decisions are chapter 1's, from common/http;
 *   - a large file goes out a piece at a time, as the socket takes it:
 *     only the file's descriptor and what is left are kept per client;
 *   - timeouts are times kept per connection, checked by the loop, not
 *     socket options: nothing here ever waits.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "http.h"
#include "nb_server.h"

#define DEFAULT_PORT "8080"
#define MAX_CONNS 256            /* clients at once; more get 503 */
#define IDLE_TIMEOUT_MS 5000     /* wait for the next keep-alive request */
#define REQUEST_TIMEOUT_MS 10000 /* a whole request, from its first byte */
#define SEND_TIMEOUT_MS 10000    /* a client that takes none of the answer */
#define FILE_CHUNK 131072        /* bytes of a file read at a time */
#define REQUEST_MAX (HTTP_MAX_HEAD + HTTP_MAX_BODY) /* the largest request */

/* What the server says to a client it has no room for. */
#define REFUSAL                                                                \
    "HTTP/1.1 503 Service Unavailable\r\nServer: tour-ch02-http\r\n"           \
    "Content-Length: 0\r\nConnection: close\r\n\r\n"

/* One connection's HTTP state (c->state; zeroed means idle). */
struct http_conn {
    bool sending;       /* a file is being sent: file_fd is open */
    int file_fd;        /* that file */
    off_t file_left;    /* bytes of it not yet in c->out */
    bool close_after;   /* the answer in progress ends the connection */
    bool sent_continue; /* "100 Continue" went out for this request */
    long long started;  /* clock_ms() when this request began, or 0 */
};

static void usage(FILE *out)
{
    fprintf(out, "usage: http_server [PORT [DOCROOT]]\n");
}

/* Stop sending the file: close it. */
static void end_file(struct http_conn *h)
{
    if (h->sending) {
        close(h->file_fd);
        h->sending = false;
    }
}

/* The skeleton's release hook: a client gone mid-file. */
static void http_release(struct conn *c)
{
    end_file(c->state);
}

/* Put the next piece of the file into C->out. A regular file is always
 * "ready": O_NONBLOCK changes nothing for disks (chapter 5's io_uring
 * does). Returns 0, or -1 if the file came up short (it shrank since it
 * was opened): the answer cannot be completed, so the connection ends. */
static int refill(struct conn *c, struct http_conn *h)
{
    size_t want = h->file_left < FILE_CHUNK ? (size_t)h->file_left : FILE_CHUNK;
    char *room = buf_reserve(&c->out, want);
    ssize_t n;
    do {
        n = room != NULL ? read(h->file_fd, room, want) : -1;
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        end_file(h);
        return -1;
    }
    buf_commit(&c->out, (size_t)n);
    h->file_left -= n;
    if (h->file_left == 0) {
        end_file(h);
    }
    return 0;
}

/* Put PLAN's head and body into C->out, and take over its file (the first
 * piece goes in now, the rest as the client takes it). Returns 0, or -1
 * if the connection must end. */
static int start_answer(struct conn *c, struct http_conn *h,
                        struct http_plan *plan)
{
    h->close_after = !plan->keep_alive;
    if (buf_append(&c->out, plan->head, plan->head_len) < 0 ||
        (plan->body_len > 0 &&
         buf_append(&c->out, plan->body, plan->body_len) < 0)) {
        warn_errno("[%d] answer", c->id);
        return -1;
    }
    if (plan->fd >= 0 && plan->file_len > 0) {
        h->sending = true;
        h->file_fd = plan->fd;
        h->file_left = plan->file_len;
        plan->fd = -1; /* ours now: http_plan_free leaves it open */
        return refill(c, h);
    }
    return 0;
}

/* Answer the error STATUS (the request is bad, or took too long). */
static enum deal_result answer_error(struct conn *c, struct http_conn *h,
                                     int status, const struct http_site *site)
{
    struct http_plan plan;
    http_plan_error(&plan, status, site, time(NULL));
    printf("[%d] bad request: %d\n", c->id, plan.status);
    start_answer(c, h, &plan);
    http_plan_free(&plan);
    return DEAL_CLOSE;
}

/* Answer the request at the front of C->in if all of it is there.
 * Returns 1 if one was answered (look for the next: pipelining), 0 if
 * more bytes are needed, -1 if the connection ends after this answer. */
static int answer_one(struct conn *c, struct http_conn *h,
                      const struct http_site *site)
{
    struct http_request req;
    size_t len = buf_len(&c->in);
    enum http_parse_result r = http_parse_request(buf_data(&c->in), len, &req);
    if (r == HTTP_PARSE_ERROR) {
        answer_error(c, h, req.status, site);
        return -1;
    }
    if (r == HTTP_PARSE_MORE || len < http_request_len(&req)) {
        if (h->started == 0 && len > 0) {
            h->started = clock_ms(); /* the request timer starts */
        }
        if (r == HTTP_PARSE_OK && req.expect_continue && !h->sent_continue) {
            h->sent_continue = true; /* the client waits for it */
            buf_append(&c->out, HTTP_CONTINUE, sizeof HTTP_CONTINUE - 1);
        }
        return 0;
    }
    struct http_plan plan;
    http_plan_request(&plan, &req, buf_data(&c->in), site, time(NULL));
    printf("[%d] %.*s %.*s %d\n", c->id, (int)req.method_name.len,
           req.method_name.ptr, (int)req.target.len, req.target.ptr,
           plan.status);
    int rc = start_answer(c, h, &plan);
    http_plan_free(&plan);
    /* Only now: a POST /echo body was still being read from c->in. */
    buf_consume(&c->in, http_request_len(&req));
    h->started = 0;
    h->sent_continue = false;
    return rc < 0 || (h->close_after && !h->sending) ? -1 : 1;
}

/* Set the connection's clock: none while an answer is going out (the
 * skeleton's send timeout watches that), the idle timeout between
 * requests, the request timeout once one has begun. */
static void arm_timer(struct conn *c, const struct http_conn *h)
{
    if (h->sending || buf_len(&c->out) > 0) {
        c->deadline = 0;
    } else if (buf_len(&c->in) == 0) {
        c->deadline = clock_ms() + IDLE_TIMEOUT_MS;
    } else {
        c->deadline = h->started + REQUEST_TIMEOUT_MS;
    }
}

/* HTTP's deal(): finish the answer in progress, then answer every whole
 * request that is buffered, in order, while the output has room. */
static enum deal_result http_deal(struct conn *c, enum deal_event ev, void *ctx)
{
    const struct http_site *site = ctx;
    struct http_conn *h = c->state;
    if (ev == DEAL_TIMEOUT) {
        /* Idle between requests: just close. Half a request: 408. */
        return buf_len(&c->in) == 0 ? DEAL_CLOSE
                                    : answer_error(c, h, 408, site);
    }
    if (h->sending && ev == DEAL_DRAINED && refill(c, h) < 0) {
        return DEAL_CLOSE;
    }
    if (h->sending) {
        return DEAL_KEEP;
    }
    if (h->close_after) {
        return DEAL_CLOSE; /* the last piece of the last answer is out */
    }
    int rc = 1;
    while (rc > 0 && !h->sending && buf_len(&c->out) < OUTPUT_LIMIT) {
        rc = answer_one(c, h, site);
    }
    arm_timer(c, h);
    return rc < 0 ? DEAL_CLOSE : DEAL_KEEP;
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
    if (http_site_init(&site, docroot, "tour-ch02-http") < 0) {
        die_errno("document root %s", docroot);
    }
    static const struct protocol http = {
        .deal = http_deal,
        .release = http_release,
        .state_size = sizeof(struct http_conn),
        .max_input = REQUEST_MAX,
        .max_conns = MAX_CONNS,
        .fds_per_conn = 2, /* the socket and the file being sent */
        .send_timeout_ms = SEND_TIMEOUT_MS,
        .refusal = REFUSAL,
    };
    install_stop_handlers();
    struct acceptor acceptor;
    if (acceptor_open(&acceptor, argc >= 2 ? argv[1] : DEFAULT_PORT, &http,
                      &site) < 0) {
        return 1;
    }
    run_loop(&acceptor);
    acceptor_close(&acceptor);
    return 0;
}
