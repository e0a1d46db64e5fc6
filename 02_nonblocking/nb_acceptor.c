/*
 * nb_acceptor.c - the Acceptor: listening, accepting, refusing.
 *
 * The listening socket is non-blocking like every other one: accept()
 * returns a connection if one is queued and EAGAIN if not, so the loop
 * (nb_server.c) asks it once a pass and never waits on it. Three things
 * to get right here:
 *   - the C++ original made its Event object before knowing whether
 *     accept worked, and leaked it when accept failed (EAGAIN, nearly
 *     every pass): here the object is made after;
 *   - the number of clients is bounded, the bound lowered to fit the
 *     descriptor limit, and a client beyond it is told and closed;
 *   - out of descriptors (EMFILE), accept fails at once, every time, with
 *     the client still queued: a loop that simply retries spins and fills
 *     the log. Here accepting pauses until a connection closes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "nb_server.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* no per-call flag: the ignored SIGPIPE does it */
#endif

#define BACKLOG 128          /* completed handshakes the kernel queues */
#define ACCEPT_BATCH 64      /* most accepts in one pass */
#define ACCEPT_RETRY_MS 1000 /* after EMFILE, try again this soon anyway */
#define RESERVED_FDS 8       /* stdio, the listener, a directory listing */

long long clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *sock_addr_str(const struct sock_addr *a, char *buf, size_t size)
{
    return net_addr_str((const struct sockaddr *)&a->ss, a->len, buf, size);
}

/* The connection limit: WANTED, lowered so that every connection's
 * descriptors fit under RLIMIT_NOFILE (`ulimit -n`). Refusing a client
 * is clean; running out of descriptors half-way through one is not. */
static int fit_limit(int wanted, int fds_per_conn)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY) {
        return wanted;
    }
    long long fit = ((long long)rl.rlim_cur - RESERVED_FDS) / fds_per_conn;
    return fit < 1 ? 1 : fit < wanted ? (int)fit : wanted;
}

int acceptor_open(struct acceptor *a, const char *port,
                  const struct protocol *proto, void *ctx)
{
    memset(a, 0, sizeof *a);
    a->proto = proto;
    a->ctx = ctx;
    a->next_id = 1;
    a->max_conns = fit_limit(proto->max_conns, proto->fds_per_conn);
    a->conns = calloc((size_t)a->max_conns, sizeof *a->conns);
    if (a->conns == NULL) {
        warn_errno("calloc");
        return -1;
    }
    a->listen_fd = net_listen(NULL, port, BACKLOG);
    if (a->listen_fd < 0 || set_nonblocking(a->listen_fd) < 0) {
        if (a->listen_fd >= 0) {
            warn_errno("fcntl O_NONBLOCK");
            close(a->listen_fd);
        }
        free(a->conns);
        return -1;
    }
    char addr[NET_ADDRSTRLEN];
    printf("listening on %s\n", net_local_str(a->listen_fd, addr, sizeof addr));
    return 0;
}

/* No room: say so if the protocol has words for it, and close. What the
 * client sent already is read first, so that close sends FIN, not RST
 * (which could destroy our answer before the client reads it). */
static void refuse(struct acceptor *a, int fd, const struct sock_addr *peer,
                   int id)
{
    char addr[NET_ADDRSTRLEN];
    printf("[%d] refused %s: too many connections (limit %d)\n", id,
           sock_addr_str(peer, addr, sizeof addr), a->max_conns);
    if (a->proto->refusal != NULL) {
        send(fd, a->proto->refusal, strlen(a->proto->refusal),
             MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    shutdown(fd, SHUT_WR);
    char sink[4096];
    for (int i = 0; i < 16; i++) { /* bounded: it may keep sending */
        if (recv(fd, sink, sizeof sink, MSG_DONTWAIT) <= 0) {
            break;
        }
    }
    close(fd);
}

/* Make the connection object for the accepted socket FD, and append it
 * to the acceptor's list. */
static void add_conn(struct acceptor *a, int fd, const struct sock_addr *peer,
                     int id)
{
    struct conn *c = calloc(1, sizeof *c);
    size_t size = a->proto->state_size > 0 ? a->proto->state_size : 1;
    void *state = calloc(1, size);
    if (c == NULL || state == NULL || set_nonblocking(fd) < 0) {
        warn_errno("[%d] cannot set up the connection", id);
        free(c);
        free(state);
        close(fd);
        return;
    }
    c->fd = fd;
    c->id = id;
    c->peer = *peer;
    c->state = state;
    a->conns[a->count++] = c;
    char addr[NET_ADDRSTRLEN];
    printf("[%d] connected from %s\n", id,
           sock_addr_str(peer, addr, sizeof addr));
}

/* Whether accept's ERR is worth another try in this pass. A client that
 * gave up while queued (ECONNABORTED) is; an empty queue is not. Out of
 * descriptors or memory, accepting pauses until a connection closes, or
 * for a second, and only the first failure of a run is reported: the
 * condition can last, and a log line a pass would bury everything else.
 * Anything else is reported. */
static bool accept_again(struct acceptor *a, int err, long long now)
{
    if (err == ECONNABORTED || err == EINTR) {
        return true;
    }
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        if (a->starved++ == 0) {
            warn_errno("accept (not accepting until a connection closes)");
        }
        a->paused_until = now + ACCEPT_RETRY_MS;
    } else if (err != EAGAIN && err != EWOULDBLOCK) {
        warn_errno("accept");
    }
    return false;
}

bool accept_clients(struct acceptor *a, long long now)
{
    bool accepted = false;
    if (now < a->paused_until) {
        return false;
    }
    /* Until the queue is empty (EAGAIN), but at most a batch a pass: a
     * flood of connections must not starve the ones already open. */
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sock_addr peer = {.len = sizeof peer.ss};
        int fd = accept(a->listen_fd, (struct sockaddr *)&peer.ss, &peer.len);
        if (fd < 0) {
            if (accept_again(a, errno, now)) {
                continue;
            }
            break;
        }
        accepted = true;
        a->starved = 0;
        if (a->count == a->max_conns) {
            refuse(a, fd, &peer, a->next_id++);
        } else {
            add_conn(a, fd, &peer, a->next_id++);
        }
    }
    return accepted;
}
