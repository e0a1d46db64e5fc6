/*
 * libevent_echo - the echo protocol on libevent 2 (bufferevents), as a
 * yardstick for the tour's echo servers in bench/run. Not part of the tour.
 *
 * Usage: libevent_echo [PORT]     (default 10086; 0 picks a free port)
 * Build: cc -O2 -o libevent_echo libevent_echo.c -levent
 * Prints "listening on 127.0.0.1:PORT" first, like the tour's servers;
 * SIGINT or SIGTERM stops it.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Whatever arrived goes straight back: the input buffer's chains move to
 * the output buffer without a copy. */
static void on_read(struct bufferevent *bev, void *arg)
{
    (void)arg;
    evbuffer_add_buffer(bufferevent_get_output(bev),
                        bufferevent_get_input(bev));
}

/* EOF or an error: done with this client. */
static void on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        bufferevent_free(bev);
    }
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd,
                      struct sockaddr *sa, int len, void *arg)
{
    (void)sa, (void)len, (void)arg;
    struct event_base *base = evconnlistener_get_base(l);
    struct bufferevent *bev =
        bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        evutil_closesocket(fd);
        return;
    }
    bufferevent_setcb(bev, on_read, NULL, on_event, NULL);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig, (void)what;
    event_base_loopbreak(arg);
}

int main(int argc, char **argv)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons((unsigned short)atoi(argc > 1 ? argv[1] : "10086"));
    signal(SIGPIPE, SIG_IGN);
    struct event_base *base = event_base_new();
    struct evconnlistener *l =
        base == NULL
            ? NULL
            : evconnlistener_new_bind(base, on_accept, NULL,
                                      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                                      4096, (struct sockaddr *)&sin,
                                      sizeof sin);
    if (l == NULL) {
        perror("libevent_echo: listen");
        return 1;
    }
    socklen_t slen = sizeof sin;
    getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&sin, &slen);
    printf("listening on 127.0.0.1:%d\n", ntohs(sin.sin_port));
    fflush(stdout);
    struct event *sigint = evsignal_new(base, SIGINT, on_signal, base);
    struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    event_add(sigint, NULL);
    event_add(sigterm, NULL);
    event_base_dispatch(base);
    event_free(sigint);
    event_free(sigterm);
    evconnlistener_free(l);
    event_base_free(base);
    return 0;
}
