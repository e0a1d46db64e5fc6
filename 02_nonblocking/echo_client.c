/*
 * echo_client - send all of stdin to an echo server, print what comes back.
 *
 * Usage: echo_client [HOST [PORT]]     (default localhost 10086)
 *
 * Protocol: echo. At the end of stdin the client half-closes (FIN), and
 * exits 0 once the server has closed too and every byte came back.
 * Pairs with: echo_server (and 03_epoll's echo servers).
 * Try it:   ./build/02_nonblocking/echo_server
 *           ./build/02_nonblocking/echo_client < big.file > copy
 *           cmp big.file copy
 * What to notice:
 *   - sending and receiving at once, in one loop of non-blocking calls:
 *     a client that sent everything before reading would deadlock;
 *   - one small "pump" moves stdin to the socket and the socket to
 *     stdout, each with its own buffer and its own EAGAIN;
 *   - shutdown(SHUT_WR) says "no more from me" and keeps reading.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define DEFAULT_HOST "localhost"
#define DEFAULT_PORT "10086"
#define CHUNK 65536       /* bytes asked of one read */
#define PUMP_LIMIT 262144 /* stop reading while this much waits */
#define NAP_NS 10000000L  /* 10 ms: the sleep when nothing moved */

/* Bytes on their way from one descriptor to another. */
struct pump {
    int from, to;           /* read here, write there */
    const char *from_name;  /* "stdin" or "the server", for messages */
    const char *to_name;    /* "the server" or "stdout" */
    struct byte_buf buf;    /* read, not written yet */
    bool eof;               /* `from` has ended */
    unsigned long long out; /* bytes written to `to` */
};

static void usage(FILE *out)
{
    fprintf(out, "usage: echo_client [HOST [PORT]]\n");
}

/* EAGAIN (either spelling) and EINTR: "not now", not an error. */
static bool not_now(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

/* One read into P's buffer, unless `from` has ended or the buffer is
 * full (then the far side waits: back-pressure). Returns 1 if something
 * was read (or EOF), 0 if not, -1 on error. */
static int pump_in(struct pump *p)
{
    if (p->eof || buf_len(&p->buf) >= PUMP_LIMIT) {
        return 0;
    }
    char *room = buf_reserve(&p->buf, CHUNK);
    if (room == NULL) {
        warn_errno("echo_client");
        return -1;
    }
    ssize_t n = read(p->from, room, CHUNK);
    if (n < 0) {
        if (not_now(errno)) {
            return 0;
        }
        warn_errno("read from %s", p->from_name);
        return -1;
    }
    buf_commit(&p->buf, (size_t)n);
    p->eof = n == 0;
    return 1;
}

/* One write of what P's buffer holds, if anything: a short write leaves
 * the rest for the next pass. Returns 1, 0 or -1 like pump_in. */
static int pump_out(struct pump *p)
{
    if (buf_len(&p->buf) == 0) {
        return 0;
    }
    ssize_t n = write(p->to, buf_data(&p->buf), buf_len(&p->buf));
    if (n < 0) {
        if (not_now(errno)) {
            return 0;
        }
        warn_errno("write to %s", p->to_name);
        return -1;
    }
    buf_consume(&p->buf, (size_t)n);
    p->out += (unsigned long long)n;
    return 1;
}

/* Both halves of P once. Returns 1 if bytes moved, 0 if not, -1. */
static int pump_step(struct pump *p)
{
    int in = pump_in(p);
    int out = in < 0 ? -1 : pump_out(p);
    return out < 0 ? -1 : in || out;
}

/* At the server's EOF: all is well if it came after ours, with every
 * byte back. Returns the exit status. */
static int report_end(bool shut, unsigned long long got,
                      unsigned long long sent)
{
    if (!shut) {
        fprintf(stderr,
                "echo_client: the server closed the connection "
                "before the end of our input (%llu bytes echoed)\n",
                got);
        return 1;
    }
    if (got != sent) {
        fprintf(stderr,
                "echo_client: the server closed after echoing "
                "%llu of %llu bytes\n",
                got, sent);
        return 1;
    }
    return 0;
}

/* Run both pumps until the server's EOF. Returns the exit status. */
static int converse(int sock)
{
    struct pump up = {.from = STDIN_FILENO,
                      .to = sock,
                      .from_name = "stdin",
                      .to_name = "the server"};
    struct pump down = {.from = sock,
                        .to = STDOUT_FILENO,
                        .from_name = "the server",
                        .to_name = "stdout"};
    bool shut = false;
    int status = 1;
    while (!stop_requested) {
        int a = pump_step(&up), b = a < 0 ? -1 : pump_step(&down);
        if (b < 0) {
            break;
        }
        /* All of stdin is out: FIN. The server sees EOF after our last
         * byte, sends back what is left, and closes: our EOF. */
        if (up.eof && buf_len(&up.buf) == 0 && !shut) {
            shut = shutdown(sock, SHUT_WR) == 0;
        }
        if (down.eof && buf_len(&down.buf) == 0) {
            status = report_end(shut, down.out, up.out);
            break;
        }
        if (a == 0 && b == 0) {
            struct timespec nap = {.tv_sec = 0, .tv_nsec = NAP_NS};
            nanosleep(&nap, NULL); /* a signal ends it early: fine */
        }
    }
    if (stop_requested) {
        fprintf(stderr, "echo_client: interrupted\n");
    }
    buf_free(&up.buf);
    buf_free(&down.buf);
    return status;
}

int main(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        return 0;
    }
    if (argc > 3 || (argc == 3 && net_parse_port(argv[2]) <= 0)) {
        usage(stderr);
        return 2;
    }
    install_stop_handlers(); /* SIGPIPE ignored: write() gives EPIPE */
    int sock = net_connect(argc >= 2 ? argv[1] : DEFAULT_HOST,
                           argc == 3 ? argv[2] : DEFAULT_PORT);
    if (sock < 0) {
        return 1;
    }

    /* Why everything non-blocking: with blocking calls the client would
     * write its input in full before reading any echo. Once the server's
     * send buffer and our receive buffer are full (a few MiB), the server
     * stops reading from us, our write blocks for ever, and so does the
     * server's: a deadlock. Non-blocking, every pass does whichever of
     * the two can go on.
     * O_NONBLOCK is a flag of the open file, which stdin may share with
     * the shell (a terminal): so it is put back as it was at the end. On
     * a terminal stdout is that same open file, so its writes may say
     * EAGAIN too: pump_out takes that as "not now" like any other. */
    int stdin_flags = fcntl(STDIN_FILENO, F_GETFL);
    if (stdin_flags < 0 || set_nonblocking(STDIN_FILENO) < 0 ||
        set_nonblocking(sock) < 0) {
        warn_errno("fcntl O_NONBLOCK");
        close(sock);
        return 1;
    }
    int status = converse(sock);
    fcntl(STDIN_FILENO, F_SETFL, stdin_flags);
    close(sock);
    return status;
}
