/*
 * test_common - unit tests for common/: errno names, ports, addresses,
 * listening and connecting, send_all, set_nonblocking, the line reader,
 * close_gracefully and wait_readable. Real sockets on loopback, port 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "common.h"

/* The port of a bound socket, as a string. */
static void port_of(int fd, char *port, size_t size)
{
    char addr[NET_ADDRSTRLEN];
    net_local_str(fd, addr, sizeof addr);
    snprintf(port, size, "%s", strrchr(addr, ':') + 1);
}

static void test_errno_names(void)
{
    CHECK_STR(errno_name(ECONNREFUSED), "ECONNREFUSED");
    CHECK_STR(errno_name(EAGAIN), "EAGAIN");
    CHECK_STR(errno_name(EPIPE), "EPIPE");
    CHECK_STR(errno_name(EINTR), "EINTR");
    CHECK_STR(errno_name(-12345), "E?");
}

static void test_parse_port(void)
{
    CHECK_INT(net_parse_port("0"), 0);
    CHECK_INT(net_parse_port("10086"), 10086);
    CHECK_INT(net_parse_port("65535"), 65535);
    CHECK_INT(net_parse_port("65536"), -1);
    CHECK_INT(net_parse_port("-1"), -1);
    CHECK_INT(net_parse_port(""), -1);
    CHECK_INT(net_parse_port("80a"), -1);
    CHECK_INT(net_parse_port(" 80"), -1);
    CHECK_INT(net_parse_port("http"), -1);
    CHECK_INT(net_parse_port("000080"), -1);
    CHECK_INT(net_parse_port(NULL), -1);
}

static void test_addr_str(void)
{
    char buf[NET_ADDRSTRLEN];
    struct sockaddr_in in4 = {0};
    in4.sin_family = AF_INET;
    in4.sin_port = htons(8080);
    inet_pton(AF_INET, "192.0.2.7", &in4.sin_addr);
    net_addr_str((struct sockaddr *)&in4, sizeof in4, buf, sizeof buf);
    CHECK_STR(buf, "192.0.2.7:8080");

    struct sockaddr_in6 in6 = {0};
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(443);
    inet_pton(AF_INET6, "2001:db8::1", &in6.sin6_addr);
    net_addr_str((struct sockaddr *)&in6, sizeof in6, buf, sizeof buf);
    CHECK_STR(buf, "[2001:db8::1]:443");

    inet_pton(AF_INET6, "::ffff:127.0.0.1", &in6.sin6_addr);
    net_addr_str((struct sockaddr *)&in6, sizeof in6, buf, sizeof buf);
    CHECK_STR(buf, "127.0.0.1:443");

    /* A short length is not trusted. */
    net_addr_str((struct sockaddr *)&in6, 4, buf, sizeof buf);
    CHECK_STR(buf, "?:0");
}

/* Port 0, the dual-stack wildcard, and both families connecting to it. */
static void test_listen_connect(void)
{
    int lfd = net_listen(NULL, "0", 8);
    CHECK(lfd >= 0);
    char addr[NET_ADDRSTRLEN], port[16];
    net_local_str(lfd, addr, sizeof addr);
    CHECK(strncmp(addr, "[::]:", 5) == 0 || strncmp(addr, "0.0.0.0:", 8) == 0);
    port_of(lfd, port, sizeof port);
    CHECK(net_parse_port(port) > 0);

    const char *hosts[] = {"127.0.0.1", "::1", "localhost"};
    for (size_t i = 0; i < 3; i++) {
        int cfd = net_connect(hosts[i], port);
        CHECK(cfd >= 0);
        int afd = accept(lfd, NULL, NULL);
        CHECK(afd >= 0);
        close(afd);
        close(cfd);
    }
    close(lfd);

    /* The same port again while it is listening: EADDRINUSE, reported. */
    lfd = net_listen("127.0.0.1", "0", 8);
    CHECK(lfd >= 0);
    net_local_str(lfd, addr, sizeof addr);
    CHECK(strncmp(addr, "127.0.0.1:", 10) == 0);
    port_of(lfd, port, sizeof port);
    errno = 0;
    CHECK_INT(net_listen("127.0.0.1", port, 8), -1);
    CHECK_STR(errno_name(errno), "EADDRINUSE");
    close(lfd);

    /* Nothing listens there any more: ECONNREFUSED, -1, no crash. */
    errno = 0;
    CHECK_INT(net_connect("127.0.0.1", port), -1);
    CHECK_STR(errno_name(errno), "ECONNREFUSED");
    CHECK_INT(net_connect("no-such-host.invalid", "80"), -1);
}

static void test_udp_bind(void)
{
    int fd = net_bind_udp(NULL, "0");
    CHECK(fd >= 0);
    int type = 0;
    socklen_t len = sizeof type;
    CHECK_INT(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len), 0);
    CHECK_INT(type, SOCK_DGRAM);
    close(fd);
}

/* send_all to a peer that has closed: -1 with EPIPE (or ECONNRESET),
 * and the process is still alive although SIGPIPE is not ignored here:
 * MSG_NOSIGNAL does it per call. */
static void test_send_all_closed_peer(void)
{
    int sv[2];
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    static char big[1 << 20];
    memset(big, 'x', sizeof big);
    close(sv[1]);
    errno = 0;
    CHECK_INT(send_all(sv[0], big, sizeof big), -1);
    CHECK(errno == EPIPE || errno == ECONNRESET);
    close(sv[0]);

    /* A megabyte through a socket whose buffer is far smaller: send
     * returns short counts and send_all carries on. */
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        size_t got = 0;
        char chunk[4096];
        ssize_t n;
        while ((n = read(sv[1], chunk, sizeof chunk)) > 0) {
            got += (size_t)n;
        }
        _exit(got == sizeof big ? 0 : 1);
    }
    close(sv[1]);
    CHECK_INT(send_all(sv[0], big, sizeof big), (long long)sizeof big);
    close(sv[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_nonblocking(void)
{
    int sv[2];
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int before = fcntl(sv[0], F_GETFL);
    CHECK_INT(set_nonblocking(sv[0]), 0);
    int after = fcntl(sv[0], F_GETFL);
    CHECK(after & O_NONBLOCK);
    CHECK_INT(after & ~O_NONBLOCK, before & ~O_NONBLOCK);
    char c;
    errno = 0;
    CHECK_INT(recv(sv[0], &c, 1, 0), -1);
    CHECK(errno == EAGAIN || errno == EWOULDBLOCK);
    CHECK_INT(set_nonblocking(-1), -1);
    close(sv[0]);
    close(sv[1]);
}

/* A reader over a pipe that holds DATA, then EOF. */
static int pipe_with(const char *data, size_t len)
{
    int p[2];
    if (pipe(p) < 0) {
        return -1;
    }
    CHECK_INT(write(p[1], data, len), (long long)len);
    close(p[1]);
    return p[0];
}

static void test_read_line(void)
{
    struct line_reader lr;
    char line[LINE_LIMIT + 1];
    size_t len;

    static const char text[] = "one\ntwo\r\n\nthr\0ee";
    int fd = pipe_with(text, sizeof text - 1);
    line_reader_init(&lr, fd);
    CHECK_INT(read_line(&lr, line, &len), LINE_OK);
    CHECK_STR(line, "one");
    CHECK_INT(read_line(&lr, line, &len), LINE_OK);
    CHECK_STR(line, "two"); /* CRLF ends a line too */
    CHECK_INT(read_line(&lr, line, &len), LINE_OK);
    CHECK_INT(len, 0);
    CHECK_INT(read_line(&lr, line, &len), LINE_OK); /* last, no newline */
    CHECK_INT(len, 6);
    CHECK(memcmp(line, "thr\0ee", 6) == 0);
    CHECK_INT(read_line(&lr, line, &len), LINE_EOF);
    CHECK_INT(read_line(&lr, line, &len), LINE_EOF);
    close(fd);

    /* The longest line that fits, then one byte more, then a normal one. */
    static char big[3 * LINE_LIMIT];
    memset(big, 'x', sizeof big);
    big[LINE_LIMIT - 1] = '\n';          /* line 1: LINE_LIMIT-1 bytes */
    big[LINE_LIMIT + LINE_LIMIT] = '\n'; /* line 2: LINE_LIMIT bytes */
    memcpy(big + 2 * LINE_LIMIT + 1, "ok\n", 3);
    fd = pipe_with(big, 2 * LINE_LIMIT + 4);
    line_reader_init(&lr, fd);
    CHECK_INT(read_line(&lr, line, &len), LINE_OK);
    CHECK_INT(len, LINE_LIMIT - 1);
    CHECK_INT(read_line(&lr, line, &len), LINE_TOO_LONG);
    CHECK_INT(read_line(&lr, line, &len), LINE_OK);
    CHECK_STR(line, "ok");
    CHECK_INT(read_line(&lr, line, &len), LINE_EOF);
    close(fd);

    /* An over-long line that runs into EOF is not returned in pieces. */
    static char xs[LINE_LIMIT + 500];
    memset(xs, 'x', sizeof xs);
    fd = pipe_with(xs, sizeof xs);
    line_reader_init(&lr, fd);
    CHECK_INT(read_line(&lr, line, &len), LINE_TOO_LONG);
    CHECK_INT(read_line(&lr, line, &len), LINE_EOF);
    close(fd);
}

/* A peer that resets the connection: LINE_ERROR with ECONNRESET. */
static void test_read_line_reset(void)
{
    int lfd = net_listen("127.0.0.1", "0", 4);
    char port[16];
    port_of(lfd, port, sizeof port);
    int cfd = net_connect("127.0.0.1", port);
    int afd = accept(lfd, NULL, NULL);
    CHECK(cfd >= 0 && afd >= 0);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(cfd); /* RST */
    struct line_reader lr;
    char line[LINE_LIMIT + 1];
    size_t len;
    line_reader_init(&lr, afd);
    errno = 0;
    CHECK_INT(read_line(&lr, line, &len), LINE_ERROR);
    CHECK_STR(errno_name(errno), "ECONNRESET");
    close(afd);
    close(lfd);
}

/* A stop signal that arrives at any moment ends the wait: before it
 * starts (pending while blocked) or during it. */
static void test_wait_readable_stop(void)
{
    install_stop_handlers();
    int p[2];
    CHECK_INT(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) {
        kill(getppid(), SIGTERM);
        _exit(0);
    }
    CHECK_INT(wait_readable(p[0], -1), 0);
    CHECK_INT(stop_requested, 1);
    struct line_reader lr;
    char line[LINE_LIMIT + 1];
    size_t len;
    line_reader_init(&lr, p[0]);
    CHECK_INT(read_line(&lr, line, &len), LINE_STOPPED);
    waitpid(pid, NULL, 0);
    stop_requested = 0;

    errno = 0;
    CHECK_INT(wait_readable(p[0], 10), -1); /* nothing to read yet */
    CHECK_STR(errno_name(errno), "ETIMEDOUT");
    CHECK_INT(write(p[1], "x", 1), 1);
    CHECK_INT(wait_readable(p[0], 0), 1);
    CHECK_INT(wait_readable(p[0], -1), 1);
    CHECK_INT(wait_readable(-1, -1), -1);
    close(p[0]);
    close(p[1]);
}

/* close_gracefully after an error answer: the peer reads the answer and a
 * clean EOF although it had sent bytes we never read (a plain close()
 * would have answered them with RST). */
static void test_close_gracefully(void)
{
    int lfd = net_listen("127.0.0.1", "0", 4);
    char port[16];
    port_of(lfd, port, sizeof port);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = net_connect("127.0.0.1", port);
        static char junk[10000];
        char got[64];
        size_t n = 0;
        ssize_t r;
        send_all(fd, junk, sizeof junk);
        while (n < sizeof got && (r = read(fd, got + n, sizeof got - n)) > 0) {
            n += (size_t)r;
        }
        _exit(r == 0 && n == 4 && memcmp(got, "err\n", 4) == 0 ? 0 : 1);
    }
    int afd = accept(lfd, NULL, NULL);
    CHECK(afd >= 0);
    char first;
    CHECK_INT(recv(afd, &first, 1, 0), 1); /* the junk has started */
    CHECK_INT(send_all(afd, "err\n", 4), 4);
    close_gracefully(afd);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(lfd);
}

static void test_byte_buf(void)
{
    struct byte_buf b = {0};
    CHECK_INT(buf_len(&b), 0);
    CHECK_INT(buf_append(&b, "", 0), 0); /* nothing, on no storage: fine */
    CHECK_INT(buf_append(&b, "hello ", 6), 0);
    CHECK_INT(buf_append(&b, "world", 5), 0);
    CHECK_INT(buf_len(&b), 11);
    CHECK(memcmp(buf_data(&b), "hello world", 11) == 0);
    buf_consume(&b, 6);
    CHECK_INT(buf_len(&b), 5);
    CHECK(memcmp(buf_data(&b), "world", 5) == 0);
    buf_consume(&b, 100); /* more than there is: empty, not negative */
    CHECK_INT(buf_len(&b), 0);

    /* Growth far past the first allocation keeps every byte in order. */
    int ok = 1;
    for (int i = 0; i < 100000; i++) {
        char c = (char)('a' + i % 26);
        ok &= buf_append(&b, &c, 1) == 0;
        if (i % 3 == 0) {
            buf_consume(&b, 1);
        }
    }
    for (size_t i = 1; i < buf_len(&b); i++) {
        char prev = buf_data(&b)[i - 1], cur = buf_data(&b)[i];
        ok &= cur == (prev == 'z' ? 'a' : prev + 1);
    }
    CHECK(ok);

    /* reserve/commit: recv straight into the buffer. */
    buf_free(&b);
    char *room = buf_reserve(&b, 4096);
    CHECK(room != NULL);
    memcpy(room, "abc", 3);
    buf_commit(&b, 3);
    CHECK_INT(buf_len(&b), 3);
    buf_free(&b);
    CHECK(b.data == NULL && buf_len(&b) == 0);
}

static void test_buf_take_line(void)
{
    struct byte_buf b = {0};
    char line[LINE_LIMIT + 1];
    size_t len = 0;
    CHECK_INT(buf_take_line(&b, line, &len), LINE_EOF);
    buf_append(&b, "one\r\ntw", 7);
    CHECK_INT(buf_take_line(&b, line, &len), LINE_OK);
    CHECK_STR(line, "one");
    CHECK_INT(buf_take_line(&b, line, &len), LINE_EOF); /* "tw" waits */
    buf_append(&b, "o\n\nthree\n", 9);
    CHECK_INT(buf_take_line(&b, line, &len), LINE_OK);
    CHECK_STR(line, "two");
    CHECK_INT(buf_take_line(&b, line, &len), LINE_OK);
    CHECK_INT(len, 0);
    CHECK_INT(buf_take_line(&b, line, &len), LINE_OK);
    CHECK_STR(line, "three");
    CHECK_INT(buf_len(&b), 0);

    /* The longest line, then one byte too many. */
    static char big[LINE_LIMIT + 1];
    memset(big, 'x', sizeof big);
    big[LINE_LIMIT - 1] = '\n';
    buf_append(&b, big, LINE_LIMIT);
    CHECK_INT(buf_take_line(&b, line, &len), LINE_OK);
    CHECK_INT(len, LINE_LIMIT - 1);
    memset(big, 'y', sizeof big);
    buf_append(&b, big, LINE_LIMIT - 1);
    CHECK_INT(buf_take_line(&b, line, &len), LINE_EOF); /* may still end */
    buf_append(&b, "y", 1);
    CHECK_INT(buf_take_line(&b, line, &len), LINE_TOO_LONG);
    buf_free(&b);
}

int main(void)
{
    test_errno_names();
    test_parse_port();
    test_addr_str();
    test_listen_connect();
    test_udp_bind();
    test_send_all_closed_peer();
    test_nonblocking();
    test_read_line();
    test_read_line_reset();
    test_wait_readable_stop();
    test_close_gracefully();
    test_byte_buf();
    test_buf_take_line();
    return check_exit_status("test_common");
}
