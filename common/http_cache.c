/*
 * http_cache.c - what the file system said about a URL path, kept for a
 * second: the real path realpath() proved to be inside the document root,
 * the file's stat, its entity tag, and, for a small file, its bytes and
 * its last response head.
 *
 * Without it, a GET of /index.html costs realpath (an lstat or readlink
 * per path component), a stat, an open, an fstat, a read and a close:
 * nine system calls around the recv and the sendmsg that carry the
 * request and the answer. With it, none for a small file; a large one,
 * sent with sendfile from a descriptor the cache keeps open, costs an
 * fstat and a dup instead of the open, with its path walk.
 *
 * The price is a second. An entry is used for HTTP_CACHE_TTL seconds
 * after realpath checked it (lighttpd's stat cache works the same way),
 * and is then checked again from scratch. A small file's bytes are a
 * copy: rewritten, replaced or removed, the file is seen within that
 * second, and until then the old answer goes out, whole. A large file's
 * bytes are read as they are sent, so its kept descriptor is checked
 * with fstat on every request (no path walk): changed, or removed, or
 * replaced by a rename over it, the entry is dropped at once. Checking a
 * small file's path with an lstat each time would see a rewrite at once
 * too, but costs a path walk a request, an eighth of the server's CPU
 * time (perf), and still could not see a directory higher up swapped for
 * a symlink: the uncached code has that race too, between realpath and
 * open (http_path.c), open only to someone who can write inside the
 * root. The TTL bounds every such window to a second. What the cache
 * never does: serve a file the uncached code would have refused when
 * the entry was made.
 *
 * One cache per thread (no locks), a fixed number of slots chosen by a
 * hash of the URL path (a new entry replaces the old one in its slot):
 * at most HTTP_CACHE_SLOTS * HTTP_CACHE_FILE_MAX bytes of files, and
 * HTTP_CACHE_SLOTS descriptors.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"

/* FNV-1a: a short hash that spreads short strings well. */
static size_t slot_of(struct http_slice url)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < url.len; i++) {
        h = (h ^ (unsigned char)url.ptr[i]) * 16777619u;
    }
    return h % HTTP_CACHE_SLOTS;
}

/* Empty entry E, freeing what it holds: its bytes, or its descriptor. */
static void clear(struct http_cache_entry *e)
{
    if (e->url_len > 0 && e->data == NULL) {
        close(e->fd);
    }
    free(e->data);
    memset(e, 0, sizeof *e);
}

/* Whether the file behind a kept descriptor, now ST, still is what was
 * cached (CACHED): same size, times, and still has a name (a file
 * deleted, or replaced by a rename over it, has none). */
static bool unchanged(const struct stat *st, const struct stat *cached)
{
    return st->st_nlink > 0 && st->st_size == cached->st_size &&
           st->st_mtim.tv_sec == cached->st_mtim.tv_sec &&
           st->st_mtim.tv_nsec == cached->st_mtim.tv_nsec &&
           st->st_ctim.tv_sec == cached->st_ctim.tv_sec &&
           st->st_ctim.tv_nsec == cached->st_ctim.tv_nsec;
}

struct http_cache_entry *http_cache_find(struct http_cache *cache,
                                         struct http_slice url, time_t now)
{
    if (cache == NULL || url.len >= sizeof cache->slot[0].url) {
        return NULL;
    }
    struct http_cache_entry *e = &cache->slot[slot_of(url)];
    if (e->url_len != url.len || memcmp(e->url, url.ptr, url.len) != 0) {
        return NULL;
    }
    struct stat st;
    if (now - e->checked >= HTTP_CACHE_TTL ||
        (e->data == NULL &&
         (fstat(e->fd, &st) < 0 || !unchanged(&st, &e->st)))) {
        clear(e); /* realpath again, and read again */
        return NULL;
    }
    return e;
}

struct http_cache_entry *
http_cache_store(struct http_cache *cache, struct http_slice url,
                 const char *real, const struct stat *st, int fd, time_t now)
{
    size_t real_len = strlen(real);
    if (cache == NULL || url.len >= sizeof cache->slot[0].url ||
        real_len >= sizeof cache->slot[0].real) {
        return NULL;
    }
    struct http_cache_entry *e = &cache->slot[slot_of(url)];
    clear(e);
    /* Small: keep the bytes. Large: keep a descriptor (close-on-exec,
     * like the original). */
    size_t size = (size_t)st->st_size;
    if (st->st_size <= HTTP_CACHE_FILE_MAX) {
        e->data = malloc(size > 0 ? size : 1);
        if (e->data == NULL || pread(fd, e->data, size, 0) != st->st_size) {
            clear(e);
            return NULL; /* an error, or it shrank: serve it uncached */
        }
    } else if ((e->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
        return NULL;
    }
    memcpy(e->url, url.ptr, url.len);
    e->url_len = url.len;
    memcpy(e->real, real, real_len + 1);
    e->st = *st;
    e->checked = now;
    e->type = http_mime_type(real);
    http_make_etag(e->etag, st->st_size, st->st_mtime);
    return e;
}

struct http_cache *http_cache_new(void)
{
    return calloc(1, sizeof(struct http_cache)); /* every slot empty */
}

void http_cache_free(struct http_cache *cache)
{
    if (cache == NULL) {
        return;
    }
    for (size_t i = 0; i < HTTP_CACHE_SLOTS; i++) {
        clear(&cache->slot[i]);
    }
    free(cache);
}
