/*
 * lines.c - lines out of a byte stream, and printing them safely.
 *
 * TCP delivers bytes, not messages: "hello\n" may arrive as "he" + "llo\n",
 * and two lines may arrive in one read. So a line-based program keeps what
 * it has read in a buffer and hands out a line only once its newline is
 * there. Why not fdopen() the socket and call fgets()? stdio hides how much
 * it has buffered, mixes badly with the socket's own reads and writes, and
 * cannot say "this line is too long" without a second buffer; this is the
 * small version of the same thing with every case visible.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

void line_reader_init(struct line_reader *lr, int fd)
{
    memset(lr, 0, sizeof *lr);
    lr->fd = fd;
}

/* Hand out the first COUNT buffered bytes as a line (dropping the newline
 * and a CR before it), and keep the rest; USED bytes leave the buffer. */
static void take_line(struct line_reader *lr, size_t count, size_t used,
                      char *out, size_t *len)
{
    if (count > 0 && lr->buf[count - 1] == '\r') {
        count--;
    }
    memcpy(out, lr->buf, count);
    out[count] = '\0';
    *len = count;
    memmove(lr->buf, lr->buf + used, lr->len - used);
    lr->len -= used;
}

/* Look for a whole line in the buffer. While skipping an over-long line,
 * drop bytes up to and including its newline first. Returns 1 if a line
 * was taken. */
static int find_line(struct line_reader *lr, char *out, size_t *len)
{
    char *nl = memchr(lr->buf, '\n', lr->len);
    if (lr->skipping) {
        size_t drop = nl != NULL ? (size_t)(nl - lr->buf) + 1 : lr->len;
        memmove(lr->buf, lr->buf + drop, lr->len - drop);
        lr->len -= drop;
        lr->skipping = nl == NULL;
        nl = memchr(lr->buf, '\n', lr->len);
    }
    if (nl == NULL) {
        return 0;
    }
    size_t count = (size_t)(nl - lr->buf);
    take_line(lr, count, count + 1, out, len);
    return 1;
}

enum line_result read_line(struct line_reader *lr, char *out, size_t *len)
{
    for (;;) {
        if (find_line(lr, out, len)) {
            return LINE_OK;
        }
        if (lr->len == sizeof lr->buf) {
            lr->len = 0; /* the caller learns; the rest is skipped */
            lr->skipping = 1;
            return LINE_TOO_LONG;
        }
        if (lr->eof) {
            if (lr->len == 0 || lr->skipping) {
                return LINE_EOF;
            }
            take_line(lr, lr->len, lr->len, out, len); /* no final '\n' */
            return LINE_OK;
        }
        /* Sleep until there is something to read, or a stop signal. */
        int ready = wait_readable(lr->fd, -1);
        if (ready == 0) {
            return LINE_STOPPED;
        }
        /* Then read() returns at once: some bytes, 0 at EOF, or an error
         * (ECONNRESET). On a socket it is recv() without flags. */
        ssize_t n = ready < 0 ? -1
                              : read(lr->fd, lr->buf + lr->len,
                                     sizeof lr->buf - lr->len);
        if (n > 0) {
            lr->len += (size_t)n;
        } else if (n == 0) {
            lr->eof = 1;
        } else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
            return LINE_ERROR;
        }
    }
}

void print_text(const char *prefix, const char *text, size_t len)
{
    char safe[LINE_LIMIT];
    size_t n = 0;
    for (size_t i = 0; i < len && n < sizeof safe; i++) {
        unsigned char c = (unsigned char)text[i];
        safe[n++] = (c < 0x20 && c != '\t') || c == 0x7f ? '?' : (char)c;
    }
    printf("%s%.*s%s\n", prefix, (int)n, safe, n < len ? "..." : "");
}
