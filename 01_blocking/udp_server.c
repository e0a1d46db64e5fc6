/*
 * udp_server - UDP echo: every datagram goes back to whoever sent it.
 *
 * Usage: udp_server [PORT]             (default 10086; 0 picks a free port)
 *
 * Protocol: each datagram received is sent back, byte for byte, to its
 * sender; any number of clients, no connections.
 * Pairs with: udp_client (or `nc -u localhost 10086`).
 * Try it:   ./build/01_blocking/udp_server
 *           ./build/01_blocking/udp_client        (in a second terminal)
 * What to notice:
 *   - one socket serves every client: recvfrom tells who sent each datagram
 *     and sendto answers exactly that address;
 *   - a datagram is read whole or not at all: one bigger than the buffer is
 *     cut, and only MSG_TRUNC says so;
 *   - no accept, no per-client state, nothing to close per client.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common.h"

#define DEFAULT_PORT "10086"
#define MAX_DATAGRAM 2048 /* bigger datagrams are reported and dropped */

static void usage(FILE *out)
{
    fprintf(out, "usage: udp_server [PORT]\n");
}

/* Receive one datagram and send it back. Returns 0 when a signal asks us
 * to stop, 1 otherwise (whatever happened to this one datagram). */
static int echo_one(int fd)
{
    char buf[MAX_DATAGRAM];
    struct sockaddr_storage peer;
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
    struct msghdr msg = {0};
    msg.msg_name = &peer;
    msg.msg_namelen = sizeof peer;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;

    /* Sleep until a datagram is queued or SIGINT/SIGTERM arrives (see
     * wait_readable in common/io.c). */
    int ready = wait_readable(fd, -1);
    if (ready < 0) {
        warn_errno("select");
    }
    if (ready <= 0) {
        return 0;
    }
    /* recvmsg rather than recvfrom: only msghdr.msg_flags can tell us
     * (MSG_TRUNC) that the datagram did not fit and the rest is gone.
     * MSG_DONTWAIT: "readable" is a hint, not a promise (Linux drops a
     * datagram with a bad checksum only when it is read). */
    ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);
    if (n < 0) {
        if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
            warn_errno("recvmsg"); /* one bad datagram is not the end */
        }
        return 1;
    }
    char addr[NET_ADDRSTRLEN], prefix[NET_ADDRSTRLEN + 4];
    net_addr_str((struct sockaddr *)&peer, msg.msg_namelen, addr, sizeof addr);
    if (msg.msg_flags & MSG_TRUNC) {
        printf("[%s] datagram longer than %d bytes: dropped\n", addr,
               MAX_DATAGRAM);
        return 1;
    }
    snprintf(prefix, sizeof prefix, "[%s] ", addr);
    print_text(prefix, buf, (size_t)n);

    /* A datagram is sent whole or not at all: no short writes to handle.
     * If the client has gone, the answer is simply lost (UDP has no
     * connection to fail). */
    if (sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&peer,
               msg.msg_namelen) < 0) {
        warn_errno("sendto %s", addr);
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
    if (argc > 2 || (argc == 2 && net_parse_port(argv[1]) < 0)) {
        usage(stderr);
        return 2;
    }
    install_stop_handlers();

    /* The same getaddrinfo/socket/bind steps as tcp_server's
     * open_listener, with SOCK_DGRAM and no listen. */
    int fd = net_bind_udp(NULL, argc == 2 ? argv[1] : DEFAULT_PORT);
    if (fd < 0) {
        return 1;
    }
    char addr[NET_ADDRSTRLEN];
    printf("listening on %s\n", net_local_str(fd, addr, sizeof addr));

    while (!stop_requested && echo_one(fd)) {
    }
    close(fd);
    return 0;
}
