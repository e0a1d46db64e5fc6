/*
 * buf.c - a growable byte queue, and lines out of it.
 *
 * A non-blocking socket takes and gives whatever it can: recv returns part
 * of a message, send takes part of a reply. The rest must wait somewhere;
 * this is that somewhere. Bytes are appended at `end` and consumed from
 * `start`; the storage is compacted (moved to the front) only when room
 * is needed, so consuming is O(1) and each byte moves at most once or
 * twice.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

size_t buf_len(const struct byte_buf *b)
{
    return b->end - b->start;
}

char *buf_data(const struct byte_buf *b)
{
    return b->data + b->start;
}

size_t buf_room(const struct byte_buf *b)
{
    return b->cap - b->end;
}

char *buf_reserve(struct byte_buf *b, size_t len)
{
    if (b->cap - b->end >= len) {
        return b->data + b->end;
    }
    size_t used = buf_len(b);
    if (b->start > 0 && b->cap - used >= len) { /* room at the front */
        memmove(b->data, b->data + b->start, used);
        b->start = 0;
        b->end = used;
        return b->data + b->end;
    }
    size_t cap = b->cap ? b->cap : 1024;
    while (cap - used < len) {
        if (cap > (size_t)-1 / 2) {
            errno = ENOMEM;
            return NULL;
        }
        cap *= 2;
    }
    char *p = malloc(cap);
    if (p == NULL) {
        return NULL;
    }
    if (used > 0) {
        memcpy(p, b->data + b->start, used);
    }
    free(b->data);
    b->data = p;
    b->cap = cap;
    b->start = 0;
    b->end = used;
    return b->data + b->end;
}

void buf_commit(struct byte_buf *b, size_t len)
{
    b->end += len;
}

int buf_append(struct byte_buf *b, const void *data, size_t len)
{
    if (len == 0) {
        return 0; /* nothing to add, and maybe no storage yet */
    }
    char *p = buf_reserve(b, len);
    if (p == NULL) {
        return -1;
    }
    memcpy(p, data, len);
    buf_commit(b, len);
    return 0;
}

void buf_consume(struct byte_buf *b, size_t len)
{
    b->start += len < buf_len(b) ? len : buf_len(b);
    if (b->start == b->end) {
        b->start = b->end = 0; /* empty: start over at the front */
    }
}

void buf_free(struct byte_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

enum line_result buf_take_line(struct byte_buf *b, char *out, size_t *len)
{
    size_t avail = buf_len(b);
    size_t look = avail < LINE_LIMIT ? avail : LINE_LIMIT;
    char *start = buf_data(b);
    char *nl = look > 0 ? memchr(start, '\n', look) : NULL;
    if (nl == NULL) {
        return avail >= LINE_LIMIT ? LINE_TOO_LONG : LINE_EOF;
    }
    size_t n = (size_t)(nl - start);
    size_t used = n + 1;
    if (n > 0 && start[n - 1] == '\r') {
        n--;
    }
    memcpy(out, start, n);
    out[n] = '\0';
    *len = n;
    buf_consume(b, used);
    return LINE_OK;
}
