/*
 * tcp_client - the other half of the lock-step chat.
 *
 * Usage: tcp_client [HOST [PORT]]      (default localhost 10086)
 *
 * Protocol: send a line typed on stdin, wait for the server's line and
 * print it as "server: TEXT"; repeat. EOF on stdin (Ctrl-D) ends the
 * conversation: we shut down our sending side and wait for the server to
 * close too.
 * Pairs with: tcp_server.
 * Try it:   ./build/01_blocking/tcp_server
 *           ./build/01_blocking/tcp_client        (in a second terminal)
 *           ./build/01_blocking/tcp_client ::1    (the same over IPv6)
 * What to notice:
 *   - net_connect tries every address of HOST until one answers;
 *   - shutdown(SHUT_WR) says "I am done sending" but keeps reading;
 *   - recv returning 0 is the server's EOF; ECONNRESET is its crash.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

#define DEFAULT_HOST "localhost"
#define DEFAULT_PORT "10086"

static void usage(FILE *out)
{
    fprintf(out, "usage: tcp_client [HOST [PORT]]\n");
}

/* We are done: half-close, then wait for the server's EOF so that both
 * sides agree the conversation is over. Returns the exit status. */
static int finish(int fd, struct line_reader *from_server)
{
    /* shutdown(SHUT_WR) sends FIN: the server's recv returns 0. close()
     * would do that too, but we could then not read what it still says. */
    if (shutdown(fd, SHUT_WR) < 0) {
        /* ENOTCONN: the server reset the connection before we spoke. */
        warn_errno("shutdown");
        return 1;
    }
    char line[LINE_LIMIT + 1];
    size_t len;
    enum line_result r;
    while ((r = read_line(from_server, line, &len)) == LINE_OK) {
        print_text("server: ", line, len);
    }
    if (r == LINE_ERROR && errno != ECONNRESET) {
        warn_errno("recv");
        return 1;
    }
    printf("closed\n");
    return 0;
}

/* Wait for the server's answer and print it. Returns 1 to go on, or 0
 * with *STATUS set when the conversation is over. */
static int print_answer(struct line_reader *from_server, int *status)
{
    char line[LINE_LIMIT + 1];
    size_t len;
    enum line_result r = read_line(from_server, line, &len);
    if (r == LINE_OK) {
        print_text("server: ", line, len);
        return 1;
    }
    if (r == LINE_EOF) {
        printf("server closed the connection\n");
        *status = 0;
    } else if (r == LINE_TOO_LONG) {
        fprintf(stderr, "answer longer than %d bytes\n", LINE_LIMIT - 1);
        *status = 1;
    } else if (r == LINE_STOPPED) {
        *status = 1; /* Ctrl-C while waiting */
    } else {
        warn_errno("recv");
        *status = 1;
    }
    return 0;
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
    const char *host = argc >= 2 ? argv[1] : DEFAULT_HOST;
    const char *port = argc == 3 ? argv[2] : DEFAULT_PORT;
    install_stop_handlers(); /* for SIGPIPE; SIGINT then ends us at EOF */

    int fd = net_connect(host, port);
    if (fd < 0) {
        return 1;
    }
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof ss;
    char addr[NET_ADDRSTRLEN] = "?";
    if (getpeername(fd, (struct sockaddr *)&ss, &sslen) == 0) {
        net_addr_str((struct sockaddr *)&ss, sslen, addr, sizeof addr);
    }
    printf("connected to %s\n", addr);

    struct line_reader in, from_server;
    line_reader_init(&in, STDIN_FILENO);
    line_reader_init(&from_server, fd);
    char line[LINE_LIMIT + 1];
    size_t len;
    int status = 0;
    for (;;) {
        enum line_result r = read_line(&in, line, &len);
        if (r == LINE_TOO_LONG) {
            fprintf(stderr, "line too long (limit %d bytes); not sent\n",
                    LINE_LIMIT - 1);
            continue;
        }
        if (r != LINE_OK) {
            status = finish(fd, &from_server);
            break;
        }
        line[len] = '\n';
        if (send_all(fd, line, len + 1) < 0) {
            warn_errno("send");
            status = 1;
            break;
        }
        if (!print_answer(&from_server, &status)) {
            break;
        }
    }
    close(fd);
    return status;
}
