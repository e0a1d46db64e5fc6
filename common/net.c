/*
 * net.c - addresses: listening, connecting, printing.
 *
 * 01_blocking/tcp_server.c writes the listening loop out by hand with a
 * comment on every step; everything else calls these.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

/* Print a resolver failure. getaddrinfo does not use errno (except for
 * EAI_SYSTEM): its codes have their own text, from gai_strerror. */
static void report_gai(const char *host, const char *port, int rc)
{
    if (rc == EAI_SYSTEM) {
        warn_errno("getaddrinfo %s port %s", host, port);
    } else {
        fprintf(stderr, "getaddrinfo %s port %s: %s\n", host, port,
                gai_strerror(rc));
    }
}

/* A socket bound to the first address in LIST that works, listening with
 * BACKLOG if it is a stream socket.
 * On failure *STEP names the call that failed, errno says why. */
static int bind_first(const struct addrinfo *list, int backlog,
                      const char **step)
{
    int saved = EADDRNOTAVAIL;
    *step = "getaddrinfo";
    for (const struct addrinfo *ai = list; ai != NULL; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            *step = "socket";
            continue;
        }
        int on = 1, off = 0;
        if (ai->ai_family == AF_INET6) {
            /* Dual stack: accept IPv4 clients as ::ffff:a.b.c.d too. */
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
        }
        if (ai->ai_socktype == SOCK_STREAM &&
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0) {
            *step = "setsockopt SO_REUSEADDR";
        } else if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            *step = "bind";
        } else if (ai->ai_socktype == SOCK_STREAM && listen(fd, backlog) < 0) {
            *step = "listen";
        } else {
            return fd;
        }
        saved = errno;
        close(fd);
    }
    errno = saved;
    return -1;
}

/* The passive socket of net_listen and net_bind_udp. With no HOST, the
 * IPv6 wildcard comes first (it takes IPv4 too); 0.0.0.0 is the fallback
 * for a machine without IPv6. */
static int open_passive(const char *host, const char *port, int type,
                        int backlog)
{
    static const int families[] = {AF_INET6, AF_INET};
    const char *step = "getaddrinfo";
    int fd = -1;
    for (size_t i = 0; i < 2 && fd < 0; i++) {
        struct addrinfo hints = {0}, *list = NULL;
        hints.ai_family = host != NULL ? AF_UNSPEC : families[i];
        hints.ai_socktype = type;
        hints.ai_flags = AI_PASSIVE;
        int rc = getaddrinfo(host, port, &hints, &list);
        if (rc != 0) {
            if (host != NULL) {
                report_gai(host, port, rc);
                return -1;
            }
            continue; /* this family is not configured here */
        }
        fd = bind_first(list, backlog, &step);
        freeaddrinfo(list);
        if (host != NULL) {
            break;
        }
    }
    if (fd < 0) {
        warn_errno("%s %s port %s", step, host != NULL ? host : "*", port);
    }
    return fd;
}

int net_listen(const char *host, const char *port, int backlog)
{
    return open_passive(host, port, SOCK_STREAM, backlog);
}

int net_bind_udp(const char *host, const char *port)
{
    return open_passive(host, port, SOCK_DGRAM, 0);
}

/* connect(), finishing the handshake if a signal interrupts it: after
 * EINTR the connection goes on in the background, so wait for it to
 * become writable and read its outcome from SO_ERROR (a second connect
 * would only say EALREADY). */
static int connect_whole(int fd, const struct sockaddr *sa, socklen_t len)
{
    if (connect(fd, sa, len) == 0) {
        return 0;
    }
    if (errno != EINTR) {
        return -1;
    }
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    while (poll(&pfd, 1, -1) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    int err = 0;
    socklen_t errlen = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0) {
        return -1;
    }
    errno = err;
    return err == 0 ? 0 : -1;
}

int net_connect(const char *host, const char *port)
{
    struct addrinfo hints = {0}, *list = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, port, &hints, &list);
    if (rc != 0) {
        report_gai(host, port, rc);
        return -1;
    }
    int fd = -1, saved = 0;
    for (struct addrinfo *ai = list; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        if (connect_whole(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            break;
        }
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(list);
    if (fd < 0) {
        errno = saved;
        warn_errno("connect to %s port %s", host, port);
    }
    return fd;
}

int net_accept(int listen_fd, char *peer, size_t size)
{
    for (;;) {
        if (wait_readable(listen_fd, -1) <= 0) {
            return -1;
        }
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept(listen_fd, (struct sockaddr *)&ss, &len);
        if (fd >= 0) {
            int flags = fcntl(fd, F_GETFL); /* BSD: inherits O_NONBLOCK */
            if (flags >= 0) {
                fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
            }
            net_addr_str((struct sockaddr *)&ss, len, peer, size);
            return fd;
        }
        if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK &&
            errno != ECONNABORTED) {
            /* EMFILE and friends: the connection stays queued, so pause
             * rather than spin (see 01_blocking/tcp_server.c). */
            warn_errno("accept");
            struct timespec pause = {.tv_sec = 0, .tv_nsec = 100000000};
            nanosleep(&pause, NULL);
        }
    }
}

char *net_addr_str(const struct sockaddr *sa, socklen_t len, char *buf,
                   size_t size)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    int v6 = 0;
    if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6 &&
               len >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        port = ntohs(in6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            /* An IPv4 client of a dual-stack socket: show 127.0.0.1,
             * not ::ffff:127.0.0.1. The IPv4 address is the last 4 bytes. */
            inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], host, sizeof host);
        } else {
            inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
            v6 = 1;
        }
    }
    snprintf(buf, size, v6 ? "[%s]:%u" : "%s:%u", host, port);
    return buf;
}

char *net_local_str(int fd, char *buf, size_t size)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        snprintf(buf, size, "?");
        return buf;
    }
    return net_addr_str((struct sockaddr *)&ss, len, buf, size);
}

int net_parse_port(const char *s)
{
    long value = 0;
    if (s == NULL || *s == '\0' || strlen(s) > 5) {
        return -1;
    }
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') {
            return -1;
        }
        value = value * 10 + (*p - '0');
    }
    return value <= 65535 ? (int)value : -1;
}
