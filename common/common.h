/*
 * common.h - the only code the chapters share.
 *
 * Small and boring on purpose. Chapter 1 spells out the getaddrinfo,
 * socket, bind, listen, accept sequence by hand in tcp_server.c, and its
 * page walks through net_connect, send_all and read_line; everything else
 * calls these so that its own lesson stays in front.
 *
 *   diagnostics  die, die_errno, warn_errno, errno_name
 *   addresses    net_listen, net_bind_udp, net_connect, net_addr_str,
 *                net_local_str, net_parse_port
 *   I/O          send_all, set_nonblocking, close_gracefully
 *   lines        struct line_reader, read_line, print_text
 *   buffers      struct byte_buf, buf_append, buf_consume, buf_take_line
 *   signals      stop_requested, install_stop_handlers
 */
#ifndef TOUR_COMMON_H
#define TOUR_COMMON_H

#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#if defined(__GNUC__) || defined(__clang__)
#define TOUR_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define TOUR_PRINTF(fmt, args)
#endif

/* ---- diagnostics (diag.c) -------------------------------------------- */

/* Print the message and a newline on stderr, then exit with status 1. */
_Noreturn void die(const char *fmt, ...) TOUR_PRINTF(1, 2);

/* Like die, followed by ": ENAME (text)" for the current errno, e.g.
 * "connect: ECONNREFUSED (Connection refused)". */
_Noreturn void die_errno(const char *fmt, ...) TOUR_PRINTF(1, 2);

/* Like die_errno, but returns: for a failure that ends one connection,
 * not the program. errno is preserved. */
void warn_errno(const char *fmt, ...) TOUR_PRINTF(1, 2);

/* The symbolic name of an errno value ("EAGAIN"), or "E?" if unknown. */
const char *errno_name(int err);

/* ---- addresses (net.c) ----------------------------------------------- */

/* Longest string net_addr_str writes: "[" IPv6 "]:" port, and the NUL. */
#define NET_ADDRSTRLEN 64

/* A TCP listening socket on HOST:PORT (HOST NULL = every local address:
 * the IPv6 wildcard with IPV6_V6ONLY off, so IPv4 clients arrive too, or
 * 0.0.0.0 where the machine has no IPv6). SO_REUSEADDR is set. Returns the
 * descriptor, or -1 after printing why on stderr. */
int net_listen(const char *host, const char *port, int backlog);

/* A UDP socket bound to HOST:PORT, with the same address rules as
 * net_listen. Returns the descriptor, or -1 after printing why. */
int net_bind_udp(const char *host, const char *port);

/* A TCP socket connected to HOST:PORT, trying each address getaddrinfo
 * gives (::1 and 127.0.0.1 for "localhost") until one answers. Returns the
 * descriptor, or -1 after printing why the last attempt failed. */
int net_connect(const char *host, const char *port);

/* For a blocking server: wait (see wait_readable) for a connection on the
 * non-blocking listening socket LISTEN_FD and accept it. Returns the new
 * (blocking) descriptor with the peer's address in PEER, or -1 when a
 * stop was requested. Clients that vanish while queued are skipped, other
 * accept errors reported. 01_blocking/tcp_server.c writes this out. */
int net_accept(int listen_fd, char *peer, size_t size);

/* Format an address as "127.0.0.1:5000" or "[::1]:5000" into BUF (an
 * IPv4-mapped IPv6 address is shown as the IPv4 address it carries).
 * Returns BUF. */
char *net_addr_str(const struct sockaddr *sa, socklen_t len, char *buf,
                   size_t size);

/* The local address of socket FD, formatted as net_addr_str does. */
char *net_local_str(int fd, char *buf, size_t size);

/* A decimal port number 0..65535 from S, or -1 if S is anything else. */
int net_parse_port(const char *s);

/* ---- I/O (io.c) ------------------------------------------------------ */

/* Send all LEN bytes of BUF on the blocking socket FD, looping over short
 * sends and retrying EINTR; MSG_NOSIGNAL, so a closed peer is EPIPE rather
 * than a fatal SIGPIPE. Returns LEN, or -1 with errno set. */
ssize_t send_all(int fd, const void *buf, size_t len);

/* send_all for a gather list: the COUNT buffers of IOV go out as one
 * stream, in one sendmsg call when the socket takes them all. One call
 * instead of two also keeps Nagle's algorithm from holding back a short
 * second write (a body after its header) until the peer's delayed ACK,
 * 40 ms later. IOV is consumed (its entries are advanced). Returns the
 * total, or -1 with errno set. */
struct iovec;
ssize_t sendv_all(int fd, struct iovec *iov, int count);

/* After SENT bytes of the COUNT buffers at *IOV went out (a short
 * sendmsg or writev), step *IOV past them: whole buffers, then part of
 * the next. Returns how many buffers are left to send. */
int iov_skip(struct iovec **iov, int count, size_t sent);

/* Turn on O_NONBLOCK, keeping the other file status flags. 0 or -1. */
int set_nonblocking(int fd);

/* Close a blocking socket after an error answer so the peer gets the
 * answer instead of a reset: shut down our sending side (the peer sees
 * EOF after the answer), read and discard what the peer still sends for a
 * moment (a bounded amount, at most about a second), then close. Closing
 * with unread bytes in the receive buffer would send RST at once. */
void close_gracefully(int fd);

/* ---- lines (lines.c) ------------------------------------------------- */

/* The longest line the line-based protocols accept, newline included. */
#define LINE_LIMIT 1024

enum line_result {
    LINE_OK,       /* a line was returned */
    LINE_EOF,      /* end of input, nothing buffered */
    LINE_TOO_LONG, /* LINE_LIMIT bytes and no newline */
    LINE_ERROR,    /* read failed; errno says why */
    LINE_STOPPED,  /* interrupted by a signal and stop_requested is set */
};

/* Lines from a blocking descriptor (socket, pipe or terminal). TCP is a
 * byte stream: one read may return half a line or three lines, so bytes
 * wait here until a newline arrives. */
struct line_reader {
    int fd;               /* where the bytes come from */
    char buf[LINE_LIMIT]; /* bytes read but not yet returned */
    size_t len;           /* how many of them */
    int skipping;         /* discarding the rest of an over-long line */
    int eof;              /* read returned 0 */
};

/* Start reading lines from FD. */
void line_reader_init(struct line_reader *lr, int fd);

/* The next line into OUT (LINE_LIMIT bytes; NUL-terminated, without its
 * "\n" or "\r\n"; *LEN its length, since it may contain NUL bytes). A
 * last line without a newline before EOF is returned as a line. After
 * LINE_TOO_LONG the next call skips to the end of that line. */
enum line_result read_line(struct line_reader *lr, char *out, size_t *len);

/* Print PREFIX, then LEN bytes of TEXT with control characters shown as
 * '?', then a newline, on stdout. Bytes from the network never reach a
 * terminal raw: escape sequences could rewrite the reader's screen. */
void print_text(const char *prefix, const char *text, size_t len);

/* ---- buffers (buf.c) -------------------------------------------------- */

/* A growable byte queue for non-blocking connections: bytes are appended
 * at the end and consumed from the front. The input side holds what recv
 * gave until a whole message is there; the output side holds what send
 * could not take yet (with write interest on only while it is non-empty).
 * Zero-initialised it is empty and ready. */
struct byte_buf {
    char *data;   /* malloc'd storage, or NULL */
    size_t start; /* first unconsumed byte */
    size_t end;   /* one past the last byte */
    size_t cap;   /* bytes allocated */
};

/* Bytes waiting in B, and where they start. */
size_t buf_len(const struct byte_buf *b);
char *buf_data(const struct byte_buf *b);

/* Bytes that fit after the last one without moving or allocating. */
size_t buf_room(const struct byte_buf *b);

/* Append LEN bytes; 0, or -1 (ENOMEM) with B unchanged. */
int buf_append(struct byte_buf *b, const void *data, size_t len);

/* Make room for at least LEN more bytes at the end and return where they
 * go (for recv straight into the buffer), or NULL (ENOMEM). Follow with
 * buf_commit of what was actually written. */
char *buf_reserve(struct byte_buf *b, size_t len);
void buf_commit(struct byte_buf *b, size_t len);

/* Drop the first LEN bytes (at most buf_len). */
void buf_consume(struct byte_buf *b, size_t len);

/* Free the storage; B is empty again. */
void buf_free(struct byte_buf *b);

/* Take the first line out of B for a line-based protocol: LINE_OK with
 * the line (without "\n" or "\r\n", NUL-terminated, LINE_LIMIT bytes
 * of room) in OUT and its length in *LEN; LINE_EOF if no whole line is
 * buffered yet; LINE_TOO_LONG if LINE_LIMIT bytes hold no newline (the
 * caller answers and drops the peer). Pure: fuzzed in tests/. */
enum line_result buf_take_line(struct byte_buf *b, char *out, size_t *len);

/* ---- signals (io.c) -------------------------------------------------- */

/* Set by SIGINT and SIGTERM once install_stop_handlers has run. */
extern volatile sig_atomic_t stop_requested;

/* Wait until FD is readable (or at EOF, or in error) for a blocking
 * program that must also notice SIGINT/SIGTERM, for at most TIMEOUT_MS
 * milliseconds (-1: no limit). Returns 1 when FD is ready, 0 when a stop
 * was requested, -1 on error or timeout (errno ETIMEDOUT).
 *
 * The race it closes: "if (!stop_requested) accept(...)" loses a signal
 * that lands between the check and the call, and then blocks until the
 * next client. Here the signals are blocked while the flag is checked, and
 * pselect() unblocks them only while it sleeps, atomically. */
int wait_readable(int fd, int timeout_ms);

/* wait_readable for two descriptors: returns 1 when FD is ready, 2 when
 * only OTHER is, 0 on a stop request, -1 on error or timeout. The
 * iterative HTTP server waits on a keep-alive connection and on its
 * listening socket at once, to notice that another client is waiting. */
int wait_either(int fd, int other, int timeout_ms);

/* Ignore SIGPIPE, and make SIGINT/SIGTERM set stop_requested. The handlers
 * are installed without SA_RESTART, so a blocking call returns EINTR and
 * the program's loop gets to look at the flag. Dies on failure. */
void install_stop_handlers(void);

#endif
