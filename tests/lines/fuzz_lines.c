/*
 * fuzz_lines.c - the libFuzzer target for the line framing of the
 * line-based programs: buf_take_line (the non-blocking chat servers, the
 * chat client, c2c_peer) and read_line (the blocking chat of chapter 1).
 *
 * Build with clang and -DTOUR_FUZZ=ON (the clang preset does), then:
 *   build-clang/tests/lines/fuzz_lines /tmp/new-corpus tests/lines/corpus
 * The same entry point runs over every corpus file in the normal test
 * suite, under gcc too (unit.lines_corpus, fuzz_replay.c).
 *
 * The input's first byte chooses how the stream is cut into the pieces a
 * socket might deliver; the rest is the stream. Both readers must hand out
 * exactly what a plain reference reading of the whole stream says, however
 * it is cut: the same lines (without "\n" or "\r\n"), "too long" at the
 * same place, never more than LINE_LIMIT bytes written into the line, and
 * (buf_take_line) the unfinished last line left in the buffer.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stop with a message if a promise is broken (abort: the fuzzer and the
 * replay test both report it as a crash with the input that caused it). */
static void require(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_lines: broken promise: %s\n", what);
        abort();
    }
}

/* The reference reading: the next line of S[0..LEN) from *POS, as
 * buf_take_line promises it. Returns LINE_OK (the line is S[*start..+*n)),
 * LINE_TOO_LONG, or LINE_EOF (no whole line: the rest is unfinished). */
static enum line_result next_line(const char *s, size_t len, size_t *pos,
                                  size_t *start, size_t *n)
{
    size_t rest = len - *pos;
    size_t look = rest < LINE_LIMIT ? rest : LINE_LIMIT;
    const char *nl = memchr(s + *pos, '\n', look);
    if (nl == NULL) {
        return rest >= LINE_LIMIT ? LINE_TOO_LONG : LINE_EOF;
    }
    *start = *pos;
    *n = (size_t)(nl - (s + *pos));
    *pos += *n + 1;
    if (*n > 0 && s[*start + *n - 1] == '\r') {
        (*n)--;
    }
    return LINE_OK;
}

/* Compare a line handed out (in a LINE_LIMIT block, so ASan sees any
 * write past it) with the reference. */
static void same_line(const char *got, size_t got_len, const char *want,
                      size_t want_len)
{
    require(got_len == want_len, "line length");
    require(memcmp(got, want, want_len) == 0, "line bytes");
    require(got[got_len] == '\0', "line NUL-terminated");
}

/* buf_take_line, fed in pieces as a non-blocking server reads them, and
 * used as the chat servers use it: take lines after each piece until none
 * is whole; "too long" ends the connection. */
static void check_buf(const char *s, size_t len, unsigned seed)
{
    struct byte_buf b = {0};
    char *line = malloc(LINE_LIMIT);
    require(line != NULL, "malloc");
    size_t fed = 0, pos = 0, start = 0, n = 0, got = 0;
    unsigned max_piece = 1 + seed * 8;
    int done = 0;
    while (fed < len && !done) {
        seed = seed * 1103515245u + 12345u;
        size_t piece = 1 + (seed >> 16) % max_piece;
        piece = piece < len - fed ? piece : len - fed;
        require(buf_append(&b, s + fed, piece) == 0, "buf_append");
        fed += piece;
        enum line_result r;
        while ((r = buf_take_line(&b, line, &got)) == LINE_OK) {
            require(next_line(s, len, &pos, &start, &n) == LINE_OK,
                    "a line the reference does not see");
            same_line(line, got, s + start, n);
        }
        if (r == LINE_TOO_LONG) {
            require(next_line(s, len, &pos, &start, &n) == LINE_TOO_LONG,
                    "too long where the reference is not");
            done = 1;
        }
        require(r == LINE_TOO_LONG || r == LINE_EOF, "result value");
    }
    if (!done) { /* all fed: what is left is the unfinished last line */
        require(next_line(s, len, &pos, &start, &n) == LINE_EOF,
                "the reference has more lines");
        require(buf_len(&b) == len - pos, "unfinished line length");
        require(len == pos || memcmp(buf_data(&b), s + pos, len - pos) == 0,
                "unfinished line bytes");
    }
    buf_free(&b);
    free(line);
}

/* read_line over a pipe holding the whole stream, then EOF: after "too
 * long" it skips to the end of that line; a last line without a newline
 * is handed out at EOF. */
static void check_read_line(const char *s, size_t len)
{
    int fds[2];
    if (len > 60000 || pipe(fds) < 0) { /* must fit the pipe's buffer */
        return;
    }
    ssize_t w = len > 0 ? write(fds[1], s, len) : 0;
    require(w == (ssize_t)len, "pipe write");
    close(fds[1]);
    struct line_reader lr;
    line_reader_init(&lr, fds[0]);
    char *line = malloc(LINE_LIMIT);
    require(line != NULL, "malloc");
    size_t pos = 0, start = 0, n = 0, got = 0;
    for (;;) {
        enum line_result r = read_line(&lr, line, &got);
        enum line_result want = next_line(s, len, &pos, &start, &n);
        if (want == LINE_EOF && pos < len) { /* the last line, no '\n' */
            want = LINE_OK;
            start = pos;
            n = len - pos;
            pos = len;
            if (s[start + n - 1] == '\r') {
                n--;
            }
        }
        require(r == want, "read_line result");
        if (r == LINE_OK) {
            same_line(line, got, s + start, n);
        } else if (r == LINE_TOO_LONG) { /* skip the rest of that line */
            const char *nl = memchr(s + pos, '\n', len - pos);
            pos = nl != NULL ? (size_t)(nl - s) + 1 : len;
        } else {
            break;
        }
    }
    close(fds[0]);
    free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    const char *stream = (const char *)data + 1;
    check_buf(stream, size - 1, data[0]);
    check_read_line(stream, size - 1);
    return 0;
}
