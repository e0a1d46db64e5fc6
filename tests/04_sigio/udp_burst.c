/*
 * udp_burst - send many datagrams to a UDP echo server without waiting for
 * the answers, then check that every answer came back, byte for byte.
 *
 * Usage: udp_burst HOST PORT COUNT [SIZE]    (SIZE 8..65507, default 16)
 *        udp_burst --flood HOST PORT
 *
 * Datagram i carries i as eight decimal digits, then SIZE - 8 letters that
 * depend on i: each answer says which datagram it echoes, and a corrupted,
 * cut or doubled one is caught. Prints "sending COUNT datagrams of SIZE
 * bytes to ADDR, at most W unanswered", then "answered: COUNT of COUNT"
 * and exits 0 when all came back; otherwise says what went wrong on
 * stderr and exits 1. Exit 2: bad arguments.
 *
 * --flood sends 1000-byte datagrams as fast as it can, never reading: it
 * prints "flooding ADDR" once FLOOD_MARK are out, and exits 0 when a send
 * fails with ECONNREFUSED (the server has gone). For the test that a
 * server under a flood still stops on SIGTERM.
 *
 * A datagram that finds a receive buffer full is dropped, so at most W
 * datagrams are unanswered at any time: half as many as our own receive
 * buffer (asked for 4 MiB, like the server's) holds. Where the kernel
 * grants that (net.core.rmem_max of 4 MiB: W is several thousand), a
 * burst of 1000 goes out at once; with the default, about 200 at a time.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define MAX_PAYLOAD 65507              /* the largest UDP payload over IPv4 */
#define NUMBER_DIGITS 8                /* the datagram's number, in front */
#define RCVBUF_BYTES (4 * 1024 * 1024) /* as sigio_udp_server asks */
#define OVERHEAD 1024 /* kernel bytes per datagram beyond its payload */
#define IDLE_MS 10000 /* give up after this long without an answer */
#define MAX_COUNT 10000000
#define FLOOD_MARK 10000 /* datagrams out before "flooding" is printed */

struct burst {
    int fd;              /* connected UDP socket */
    long count;          /* datagrams to send */
    size_t size;         /* bytes in each */
    long sent;           /* sent so far */
    long answered;       /* distinct correct answers */
    unsigned char *seen; /* seen[i]: datagram i was answered */
    char *out, *in;      /* payload buffers */
};

static void usage(FILE *out)
{
    fprintf(out, "usage: udp_burst HOST PORT COUNT [SIZE]\n"
                 "       udp_burst --flood HOST PORT\n");
}

/* A whole number in [MIN, MAX] from S, or -1. */
static long parse_number(const char *s, long min, long max)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        return -1;
    }
    return v;
}

/* The payload of datagram I into BUF (SIZE bytes). */
static void make_payload(char *buf, size_t size, long i)
{
    char digits[NUMBER_DIGITS + 1];
    snprintf(digits, sizeof digits, "%0*ld", NUMBER_DIGITS, i);
    memcpy(buf, digits, NUMBER_DIGITS);
    for (size_t k = NUMBER_DIGITS; k < size; k++) {
        buf[k] = (char)('a' + (size_t)(i + (long)k) % 26);
    }
}

/* A UDP socket connected to the first address of HOST:PORT (connected, so
 * that an ICMP "port unreachable" is reported as ECONNREFUSED). */
static int open_udp(const char *host, const char *port, char *addr, size_t size)
{
    struct addrinfo hints = {0}, *list = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    int rc = getaddrinfo(host, port, &hints, &list);
    if (rc != 0) {
        die("getaddrinfo %s port %s: %s", host, port, gai_strerror(rc));
    }
    int fd = socket(list->ai_family, list->ai_socktype, list->ai_protocol);
    if (fd < 0 || connect(fd, list->ai_addr, list->ai_addrlen) < 0) {
        die_errno("socket/connect %s port %s", host, port);
    }
    net_addr_str(list->ai_addr, list->ai_addrlen, addr, size);
    freeaddrinfo(list);
    int want = RCVBUF_BYTES;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want) < 0) {
        die_errno("setsockopt SO_RCVBUF");
    }
    return fd;
}

/* How many datagrams may be unanswered: half of what our receive buffer
 * holds (the server's is the same size), and at least one. */
static long window(const struct burst *b)
{
    int got = 0;
    socklen_t len = sizeof got;
    if (getsockopt(b->fd, SOL_SOCKET, SO_RCVBUF, &got, &len) < 0) {
        die_errno("getsockopt SO_RCVBUF");
    }
    long w = (long)((size_t)got / 2 / (b->size + OVERHEAD));
    return w < 1 ? 1 : w < b->count ? w : b->count;
}

/* Check one answer of N bytes in b->in. Returns 0, or -1 after saying
 * what is wrong with it. */
static int check_answer(struct burst *b, ssize_t n)
{
    char digits[NUMBER_DIGITS + 1] = {0};
    if (n >= NUMBER_DIGITS) {
        memcpy(digits, b->in, NUMBER_DIGITS);
    }
    long i = parse_number(digits, 0, b->sent - 1);
    if (i < 0 || b->seen[i]) {
        fprintf(stderr, "answer %ld: %s (%zd bytes starting \"%s\")\n",
                b->answered + 1, i < 0 ? "not a datagram we sent" : "twice", n,
                digits);
        return -1;
    }
    make_payload(b->out, b->size, i);
    if ((size_t)n != b->size || memcmp(b->in, b->out, b->size) != 0) {
        fprintf(stderr,
                "answer to datagram %ld differs (%zd bytes, %zu sent)\n", i, n,
                b->size);
        return -1;
    }
    b->seen[i] = 1;
    b->answered++;
    return 0;
}

/* Milliseconds on the monotonic clock. */
static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Send while fewer than W are unanswered, then take every answer that is
 * there, until all are answered. Returns 0, or 1 after saying why not. */
static int run(struct burst *b, long w)
{
    long long deadline = now_ms() + IDLE_MS;
    while (b->answered < b->count) {
        while (b->sent < b->count && b->sent - b->answered < w) {
            make_payload(b->out, b->size, b->sent);
            if (send(b->fd, b->out, b->size, 0) < 0) {
                warn_errno("send datagram %ld", b->sent); /* ECONNREFUSED */
                return 1;
            }
            b->sent++;
        }
        long long left = deadline - now_ms();
        struct pollfd pfd = {.fd = b->fd, .events = POLLIN};
        int ready = left > 0 ? poll(&pfd, 1, (int)left) : 0;
        if (ready < 0 && errno != EINTR) {
            die_errno("poll");
        }
        if (ready == 0) {
            fprintf(stderr, "no answer for %d ms: %ld of %ld answered\n",
                    IDLE_MS, b->answered, b->count);
            return 1;
        }
        ssize_t n;
        while ((n = recv(b->fd, b->in, MAX_PAYLOAD + 1, MSG_DONTWAIT)) >= 0) {
            if (check_answer(b, n) < 0) {
                return 1;
            }
            deadline = now_ms() + IDLE_MS;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            warn_errno("recv (%ld of %ld answered)", b->answered, b->count);
            return 1;
        }
    }
    return 0;
}

/* --flood: send until the server has gone. Returns the exit status. */
static int flood(const char *host, const char *port)
{
    char addr[NET_ADDRSTRLEN], payload[1000] = "flood";
    int fd = open_udp(host, port, addr, sizeof addr);
    for (long sent = 0;; sent++) {
        if (sent == FLOOD_MARK) {
            printf("flooding %s\n", addr);
        }
        if (send(fd, payload, sizeof payload, 0) < 0) {
            int status = errno == ECONNREFUSED ? 0 : 1;
            if (status != 0) {
                warn_errno("send");
            }
            close(fd);
            return status;
        }
    }
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 4 && strcmp(argv[1], "--flood") == 0) {
        return flood(argv[2], argv[3]);
    }
    struct burst b = {0};
    long size = 16;
    if (argc < 4 || argc > 5 || net_parse_port(argv[2]) <= 0 ||
        (b.count = parse_number(argv[3], 1, MAX_COUNT)) < 0 ||
        (argc == 5 &&
         (size = parse_number(argv[4], NUMBER_DIGITS, MAX_PAYLOAD)) < 0)) {
        usage(stderr);
        return 2;
    }
    b.size = (size_t)size;
    char addr[NET_ADDRSTRLEN];
    b.fd = open_udp(argv[1], argv[2], addr, sizeof addr);
    b.seen = calloc((size_t)b.count, 1);
    b.out = malloc(b.size);
    b.in = malloc(MAX_PAYLOAD + 1); /* one more: a longer answer shows */
    if (b.seen == NULL || b.out == NULL || b.in == NULL) {
        die("out of memory");
    }
    long w = window(&b);
    printf("sending %ld datagrams of %zu bytes to %s, at most %ld unanswered\n",
           b.count, b.size, addr, w);
    int status = run(&b, w);
    if (status == 0) {
        printf("answered: %ld of %ld\n", b.answered, b.count);
    }
    free(b.seen);
    free(b.out);
    free(b.in);
    close(b.fd);
    return status;
}
