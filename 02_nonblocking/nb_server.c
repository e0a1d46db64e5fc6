/*
 * nb_server.c - the loop of chapter 2's servers: one thread, every socket
 * non-blocking, no select/poll/epoll (that is chapter 3).
 *
 * Each pass tries accept, then one recv on every connection, then one
 * send wherever output waits, then closes what is done. Every call returns
 * at once, with EAGAIN when there is nothing to do, so no client can hold
 * up another. When a whole pass did nothing, the loop sleeps 10 ms:
 * without that nap it would spin at 100% CPU asking idle sockets for
 * data, as the C++ original did. The price is up to 10 ms of latency and
 * a hundred passes a second of calls that find nothing; chapter 3 has the
 * kernel say which sockets are ready instead.
 *
 * The rest of what the original got wrong: a short send lost the rest of
 * its data (here it stays in c->out for the next pass), and a write to a
 * vanished client killed the server with SIGPIPE (here SIGPIPE is ignored
 * and MSG_NOSIGNAL set, so it is an EPIPE that closes that connection).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "nb_server.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* no per-call flag: the ignored SIGPIPE does it */
#endif

#define RECV_CHUNK 65536    /* bytes asked of one recv */
#define NAP_NS 10000000L    /* 10 ms: the sleep after an idle pass */
#define FLUSH_MS 10000      /* closing: the last output goes by then */
#define LINGER_MS 1000      /* after our FIN, wait this long for theirs */
#define LINGER_BYTES 65536  /* ... and discard at most this much input */
#define SHRINK_ABOVE 262144 /* free an emptied buffer bigger than this */

/* Mark C to be closed at the end of the pass; WHY is logged (NULL for a
 * normal close). */
static void finish(struct conn *c, const char *why)
{
    c->phase = PHASE_DONE;
    c->why = why;
}

/* A failed recv or send: a vanished peer (ECONNRESET, EPIPE) or worse. */
static void fail(struct conn *c, int err)
{
    finish(c, err == ECONNRESET ? "connection reset" : errno_name(err));
}

/* Free an empty buffer's storage if a burst made it big: an idle
 * connection should not keep megabytes. */
static void shrink(struct byte_buf *b)
{
    if (buf_len(b) == 0 && b->cap > SHRINK_ABOVE) {
        buf_free(b);
    }
}

/* Hand EV to the program, then act on its answer. A graceful close starts
 * when deal() asks for it, or when the peer has finished sending and
 * deal() has nothing more to say: no more deal(), the input is discarded,
 * and what c->out holds still goes out. */
static void call_deal(struct acceptor *a, struct conn *c, enum deal_event ev,
                      long long now)
{
    /* Stopping: no more answers. The loop sees the flag only between
     * passes, and one pass can hold a great deal of work (hundreds of
     * clients, each with 64 KiB of pipelined requests): SIGTERM under
     * load would wait for all of it (tests/hostile --term-busy). */
    if (stop_requested) {
        return;
    }
    enum deal_result r = a->proto->deal(c, ev, a->ctx);
    shrink(&c->in);
    if (r == DEAL_CLOSE || (c->eof && buf_len(&c->out) == 0)) {
        c->phase = PHASE_FLUSH;
        c->close_by = now + FLUSH_MS;
        buf_consume(&c->in, buf_len(&c->in));
    }
}

/* One recv on C, unless it must not read now: the peer has finished, or
 * back-pressure (too much output waiting for the peer to take it, or
 * input deal() has not taken). While closing, what arrives is discarded:
 * unread bytes at close() would make the kernel send RST, which can
 * destroy our last answer before the peer reads it. */
static bool conn_read(struct acceptor *a, struct conn *c, long long now)
{
    bool open = c->phase == PHASE_OPEN;
    if (c->phase == PHASE_DONE || c->eof ||
        (open && (buf_len(&c->out) >= OUTPUT_LIMIT ||
                  buf_len(&c->in) >= a->proto->max_input))) {
        return false;
    }
    size_t room = open ? a->proto->max_input - buf_len(&c->in) : RECV_CHUNK;
    size_t want = room < RECV_CHUNK ? room : RECV_CHUNK;
    char *p = buf_reserve(&c->in, want);
    if (p == NULL) {
        finish(c, "out of memory");
        return true;
    }
    ssize_t n = recv(c->fd, p, want, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            return false; /* nothing there: the usual answer */
        }
        fail(c, errno);
        return true;
    }
    buf_commit(&c->in, (size_t)n);
    c->eof = n == 0;
    if (open) {
        call_deal(a, c, c->eof ? DEAL_EOF : DEAL_INPUT, now);
        return true;
    }
    buf_consume(&c->in, buf_len(&c->in));
    c->discarded += (size_t)n;
    if (c->phase == PHASE_LINGER && (c->eof || c->discarded > LINGER_BYTES)) {
        finish(c, NULL);
    }
    return true;
}

/* After the last byte of a closing connection: FIN (shutdown SHUT_WR),
 * then wait a moment for the peer's own FIN, unless it came already. */
static void shut_write(struct conn *c, long long now)
{
    shutdown(c->fd, SHUT_WR);
    if (c->eof) {
        finish(c, NULL);
        return;
    }
    c->phase = PHASE_LINGER;
    if (c->close_by > now + LINGER_MS) {
        c->close_by = now + LINGER_MS;
    }
}

/* One send of what waits in C->out; nothing is written while it is empty.
 * The kernel takes what fits in the socket's send buffer, perhaps not
 * all: the rest stays for the next pass. Once all is out, deal() hears
 * DEAL_DRAINED and may add more (the next piece of a file). */
static bool conn_write(struct acceptor *a, struct conn *c, long long now)
{
    bool sent = false;
    if (c->phase == PHASE_DONE || c->phase == PHASE_LINGER) {
        return false;
    }
    if (buf_len(&c->out) > 0) {
        ssize_t n =
            send(c->fd, buf_data(&c->out), buf_len(&c->out), MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
            errno != EINTR) {
            fail(c, errno);
            return true;
        }
        if (n <= 0) { /* the send buffer is full: the peer is behind */
            c->stalled_since = c->stalled_since ? c->stalled_since : now;
            return false;
        }
        sent = true;
        c->stalled_since = 0;
        buf_consume(&c->out, (size_t)n);
        shrink(&c->out);
        if (buf_len(&c->out) == 0 && c->phase == PHASE_OPEN) {
            call_deal(a, c, DEAL_DRAINED, now);
        }
    }
    if (c->phase == PHASE_FLUSH && buf_len(&c->out) == 0) {
        shut_write(c, now);
        return true;
    }
    return sent;
}

/* The clocks: deal()'s own deadline, the send timeout for a peer that
 * takes nothing, and the bounds on closing. Returns whether one rang. */
static bool check_timers(struct acceptor *a, struct conn *c, long long now)
{
    int limit = a->proto->send_timeout_ms;
    if (c->phase == PHASE_OPEN && c->deadline != 0 && now >= c->deadline) {
        c->deadline = 0;
        call_deal(a, c, DEAL_TIMEOUT, now);
        return true;
    }
    if (c->phase == PHASE_OPEN && limit > 0 && c->stalled_since != 0 &&
        now - c->stalled_since >= limit) {
        finish(c, "send timeout");
        return true;
    }
    if ((c->phase == PHASE_FLUSH || c->phase == PHASE_LINGER) &&
        now >= c->close_by) {
        finish(c, c->phase == PHASE_FLUSH ? "flush timeout" : NULL);
        return true;
    }
    return false;
}

/* Log the close, let the program release its state, close the socket and
 * free everything. Input already queued is read first (a bounded amount):
 * then close() sends FIN rather than RST wherever it can. */
static void free_conn(struct acceptor *a, struct conn *c)
{
    char sink[RECV_CHUNK];
    for (int i = 0; i < 4; i++) {
        if (recv(c->fd, sink, sizeof sink, MSG_DONTWAIT) <= 0) {
            break;
        }
    }
    if (c->why != NULL) {
        printf("[%d] closed (%s)\n", c->id, c->why);
    } else {
        printf("[%d] closed\n", c->id);
    }
    if (a->proto->release != NULL) {
        a->proto->release(c);
    }
    close(c->fd);
    buf_free(&c->in);
    buf_free(&c->out);
    free(c->state);
    free(c);
}

/* Run the timers, then free every connection that is done, keeping the
 * others in accept order. Returns whether anything happened. */
static bool reap(struct acceptor *a, long long now)
{
    bool busy = false;
    int kept = 0;
    for (int i = 0; i < a->count; i++) {
        struct conn *c = a->conns[i];
        busy |= check_timers(a, c, now);
        if (c->phase == PHASE_DONE) {
            free_conn(a, c);
            a->paused_until = 0; /* a descriptor is free: accept again */
            busy = true;
        } else {
            a->conns[kept++] = c;
        }
    }
    a->count = kept;
    return busy;
}

void run_loop(struct acceptor *a)
{
    while (!stop_requested) {
        long long now = clock_ms();
        int old = a->count;
        bool busy = accept_clients(a, now);
        for (int i = old; i < a->count; i++) {
            call_deal(a, a->conns[i], DEAL_OPEN, now);
        }
        for (int i = 0; i < a->count; i++) {
            busy |= conn_read(a, a->conns[i], now);
        }
        for (int i = 0; i < a->count; i++) {
            busy |= conn_write(a, a->conns[i], now);
        }
        busy |= reap(a, now);
        if (!busy) {
            /* Nothing anywhere: nap. SIGINT or SIGTERM cuts it short
             * (EINTR), and the loop's condition sees the flag. */
            struct timespec nap = {.tv_sec = 0, .tv_nsec = NAP_NS};
            nanosleep(&nap, NULL);
        }
    }
}

void acceptor_close(struct acceptor *a)
{
    for (int i = 0; i < a->count; i++) {
        finish(a->conns[i], "stopping");
        free_conn(a, a->conns[i]);
    }
    a->count = 0;
    free(a->conns);
    a->conns = NULL;
    close(a->listen_fd);
    a->listen_fd = -1;
}
