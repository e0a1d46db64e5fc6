/*
 * udp_client - send each line as a datagram, print the echo.
 *
 * Usage: udp_client [HOST [PORT]]      (default localhost 10086)
 *
 * Protocol: each stdin line (without its newline) is one datagram; the
 * answer is printed as "echo: TEXT". No answer within 2 seconds, or an
 * ICMP "port unreachable", ends the program with status 1.
 * Pairs with: udp_server, 04_sigio/sigio_udp_server.
 * Try it:   ./build/01_blocking/udp_server
 *           ./build/01_blocking/udp_client        (in a second terminal)
 *           ./build/01_blocking/udp_client localhost 9   (no server there)
 * What to notice:
 *   - connect() on a UDP socket sends nothing: it fixes the peer, so the
 *     kernel drops datagrams from anyone else and reports ICMP errors;
 *   - UDP may lose a datagram, so a client must never wait forever:
 *     SO_RCVTIMEO makes recv give up with EAGAIN.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common.h"

#define DEFAULT_HOST "localhost"
#define DEFAULT_PORT "10086"
#define TIMEOUT_SECONDS 2  /* how long to wait for each answer */
#define MAX_DATAGRAM 65536 /* larger than any UDP payload (65507) */

static void usage(FILE *out)
{
    fprintf(out, "usage: udp_client [HOST [PORT]]\n");
}

/* A UDP socket connected to the first address of HOST:PORT. There is no
 * handshake, so nothing tells us which address has a server: the first
 * one getaddrinfo gives is the one to use. */
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
    if (fd < 0) {
        die_errno("socket");
    }
    if (connect(fd, list->ai_addr, list->ai_addrlen) < 0) {
        die_errno("connect");
    }
    net_addr_str(list->ai_addr, list->ai_addrlen, addr, size);
    freeaddrinfo(list);

    struct timeval tv = {.tv_sec = TIMEOUT_SECONDS, .tv_usec = 0};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) {
        die_errno("setsockopt SO_RCVTIMEO");
    }
    return fd;
}

/* Send LINE as one datagram and print the answer. Returns 0 on success,
 * 1 (after saying why) when no answer came. */
static int ask(int fd, const char *addr, const char *line, size_t len,
               char *answer)
{
    if (send(fd, line, len, 0) < 0) {
        warn_errno("send to %s", addr); /* EMSGSIZE: over 65507 bytes */
        return 1;
    }
    ssize_t n;
    do {
        n = recv(fd, answer, MAX_DATAGRAM, 0);
    } while (n < 0 && errno == EINTR);
    if (n >= 0) {
        print_text("echo: ", answer, (size_t)n);
        return 0;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        fprintf(stderr, "no answer from %s within %d seconds\n", addr,
                TIMEOUT_SECONDS);
    } else if (errno == ECONNREFUSED) {
        /* The ICMP "port unreachable" for our datagram, delivered to the
         * connected socket. An unconnected socket never hears of it. */
        fprintf(stderr, "no server at %s: ECONNREFUSED (port unreachable)\n",
                addr);
    } else {
        warn_errno("recv from %s", addr);
    }
    return 1;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        return 0;
    }
    if (argc > 3 || (argc == 3 && net_parse_port(argv[2]) <= 0)) {
        usage(stderr);
        return 2;
    }
    char addr[NET_ADDRSTRLEN];
    int fd = open_udp(argc >= 2 ? argv[1] : DEFAULT_HOST,
                      argc == 3 ? argv[2] : DEFAULT_PORT, addr, sizeof addr);
    printf("sending to %s\n", addr);

    /* getline (POSIX.1-2008) grows its buffer: a line of any length is
     * read whole, so an over-long one fails visibly at send or at the
     * server instead of being cut here. */
    char *line = NULL, *answer = malloc(MAX_DATAGRAM);
    size_t cap = 0;
    ssize_t len;
    int status = 0;
    if (answer == NULL) {
        die("out of memory");
    }
    while (status == 0 && (len = getline(&line, &cap, stdin)) >= 0) {
        if (len > 0 && line[len - 1] == '\n') {
            len--;
        }
        status = ask(fd, addr, line, (size_t)len, answer);
    }
    free(line);
    free(answer);
    close(fd);
    return status;
}
