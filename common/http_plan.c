/*
 * http_plan.c - what to answer to a parsed request.
 *
 * The three HTTP servers differ in how they move bytes, not in what they
 * answer. So the answer is decided here, once: a plan holds the formatted
 * response head and says what follows it (bytes in memory, or an open
 * file and its length). A blocking server sends it with send_all and a
 * read loop; an event-driven one copies the head into its output buffer
 * and feeds the file in as the socket becomes writable. Deciding touches
 * the file system (realpath, stat, open, readdir) but never a socket.
 *
 * What is served (DESIGN.md, "HTTP servers"):
 *   GET/HEAD /path     the file, index.html of a directory, else a listing;
 *                      a directory without its trailing '/' is a 301 to it,
 *                      so that relative links in the page resolve
 *   OPTIONS            200 with Allow (for "*": everything the server does)
 *   POST /echo         the request body, back
 *   other methods      405 with Allow
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"

#define ECHO_PATH "/echo"                    /* the one POST resource */
#define ALLOW_FILES "GET, HEAD, OPTIONS"     /* methods of a file */
#define ALLOW_ECHO "OPTIONS, POST"           /* methods of /echo */
#define ALLOW_ALL "GET, HEAD, OPTIONS, POST" /* methods of the server */
#define HTML_TYPE "text/html; charset=utf-8" /* pages and listings */

/* Strings the response head points to until it is formatted. */
struct scratch {
    char path[PATH_MAX];                        /* the file's real path */
    char etag[HTTP_ETAG_MAX];                   /* its entity tag */
    char location[HTTP_MAX_REQUEST_LINE + 4];   /* a redirect's target */
    char index_url[HTTP_MAX_REQUEST_LINE + 16]; /* "/dir/index.html" */
};

void http_plan_free(struct http_plan *plan)
{
    if (plan->fd >= 0) {
        close(plan->fd);
        plan->fd = -1;
    }
    if (plan->owned != NULL) {
        if (plan->body == plan->owned) {
            plan->body = NULL;
            plan->body_len = 0;
        }
        free(plan->owned);
        plan->owned = NULL;
    }
}

/* An empty plan: nothing to send yet. */
static void plan_start(struct http_plan *plan, bool keep_alive)
{
    plan->status = 500;
    plan->keep_alive = keep_alive;
    plan->head_len = 0;
    plan->head[0] = '\0';
    plan->body = NULL;
    plan->body_len = 0;
    plan->fd = -1;
    plan->file_len = 0;
    plan->owned = NULL;
}

/* Make RES an error (or redirect) STATUS with its short HTML page. */
static void plan_page(struct http_plan *plan, struct http_response *res,
                      int status)
{
    size_t len = 0;
    res->status = status;
    res->content_type = HTML_TYPE;
    plan->body = http_error_body(status, &len);
    plan->body_len = len;
    res->content_length = (long long)len;
}

/* Format RES as PLAN's head (unless it is there already). A HEAD request gets
 * the head GET would get (Content-Length included) and nothing after it. */
static void plan_finish(struct http_plan *plan, struct http_response *res,
                        bool head_only)
{
    res->keep_alive = plan->keep_alive;
    plan->status = res->status;
    if (plan->head_len == 0) { /* else plan_known copied it */
        plan->head_len = http_format_head(plan->head, sizeof plan->head, res);
    }
    if (plan->head_len == 0) {
        /* Cannot happen with the buffer sized for the longest Location,
         * unless the Server name has a control character: answer 500. */
        http_plan_free(plan);
        struct http_response bare = {.date = res->date};
        plan->keep_alive = false;
        plan_page(plan, &bare, 500);
        plan->status = 500;
        plan->head_len = http_format_head(plan->head, sizeof plan->head, &bare);
    }
    if (head_only) {
        http_plan_free(plan);
        plan->body = NULL;
        plan->body_len = 0;
    }
}

/* The status for a failed open or fstat. */
static int open_status(int err)
{
    if (err == EACCES || err == EPERM) {
        return 403;
    }
    return err == ENOENT || err == ENOTDIR || err == ELOOP ? 404 : 500;
}

/* Open the regular file PATH for reading; *ST gets its stat.
 * O_NOFOLLOW: the path is already resolved, so a symlink there now was
 * put there since; O_NONBLOCK: should a FIFO appear there, open must not
 * wait for a writer. The flag stays: on a regular file it changes
 * nothing (a read of one never says EAGAIN), and clearing it would cost
 * two fcntl calls a request. Returns the descriptor, or minus the status. */
static int open_regular(const char *path, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        return -open_status(errno);
    }
    int status = 0;
    if (fstat(fd, st) < 0) {
        status = open_status(errno);
    } else if (!S_ISREG(st->st_mode)) {
        status = 403; /* swapped for something else since it was mapped */
    }
    if (status != 0) {
        close(fd);
        return -status;
    }
    return fd;
}

/* The header fields of a regular file with stat ST, entity tag ETAG and
 * content type TYPE: a 200, or a 304 if the client's copy is current.
 * Returns whether the file's bytes follow. */
static bool file_head(struct http_response *res, const struct http_request *req,
                      const struct stat *st, const char *etag, const char *type,
                      time_t now)
{
    res->etag = etag;
    res->has_last_modified = true;
    /* RFC 9110 8.8.2.1: never a Last-Modified later than Date. */
    res->last_modified = st->st_mtime < now ? st->st_mtime : now;
    if (http_not_modified(req, etag, st->st_mtime, now)) {
        /* No Content-Length: RFC 9110 8.6 allows only the 200's, and a
         * client that took it for a body length would hang. */
        res->status = 304;
        res->content_length = -1;
        return false;
    }
    res->status = 200;
    res->content_type = type;
    res->content_length = (long long)st->st_size;
    return true;
}

/* Plan the file of cache entry E: from the bytes it holds, or from a
 * copy of its descriptor (the plan's own, closed by http_plan_free); no
 * path to walk, nothing to read. The head too, but for the first request
 * of each second: E keeps the last one it was sent with. Returns 0, or
 * the error status. */
static int plan_known(struct http_plan *plan, struct http_response *res,
                      const struct http_request *req,
                      struct http_cache_entry *e, time_t now)
{
    if (!file_head(res, req, &e->st, e->etag, e->type, now)) {
        return 0; /* a 304 */
    }
    if (e->data != NULL) {
        plan->body = e->data;
        plan->body_len = (size_t)e->st.st_size;
    } else {
        plan->fd = fcntl(e->fd, F_DUPFD_CLOEXEC, 0);
        if (plan->fd < 0) { /* EMFILE: an error page, without these */
            res->etag = NULL;
            res->has_last_modified = false;
            return open_status(errno);
        }
        plan->file_len = e->st.st_size;
    }
    res->keep_alive = plan->keep_alive;
    if (e->head_len == 0 || e->head_date != now ||
        e->head_keep_alive != res->keep_alive) {
        e->head_len = http_format_head(e->head, sizeof e->head, res);
        e->head_date = now;
        e->head_keep_alive = res->keep_alive;
    }
    /* With its NUL; a head that did not fit is 0: plan_finish formats. */
    memcpy(plan->head, e->head, e->head_len + 1);
    plan->head_len = e->head_len;
    return 0;
}

/* Plan to send the regular file S->path, asked for as URL, or a 304 if
 * the client's copy is current. With a CACHE, remember it, and send it
 * the way the next request will. Returns 0, or the error status. */
static int plan_file(struct http_plan *plan, struct http_response *res,
                     const struct http_request *req, struct http_slice url,
                     struct http_cache *cache, struct scratch *s, time_t now)
{
    struct stat st;
    int fd = open_regular(s->path, &st);
    if (fd < 0) {
        return -fd;
    }
    struct http_cache_entry *e =
        http_cache_store(cache, url, s->path, &st, fd, now);
    if (e != NULL) {
        close(fd);
        return plan_known(plan, res, req, e, now);
    }
    http_make_etag(s->etag, st.st_size, st.st_mtime);
    if (!file_head(res, req, &st, s->etag, http_mime_type(s->path), now)) {
        close(fd);
        return 0;
    }
    plan->fd = fd;
    plan->file_len = st.st_size;
    return 0;
}

/* Plan the answer for the directory at S->path, asked for as URL path
 * REQ->path, which ends in '/': its index.html if it has a regular one,
 * else a generated listing. Returns 0, or the error status. */
static int plan_directory(struct http_plan *plan, struct http_response *res,
                          const struct http_request *req,
                          const struct http_site *site,
                          struct http_cache *cache, struct scratch *s,
                          time_t now)
{
    struct stat st;
    struct http_slice url = {s->index_url, req->path.len + 10};
    memcpy(s->index_url, req->path.ptr, req->path.len);
    memcpy(s->index_url + req->path.len, "index.html", 11);
    /* The index goes through the same checks: it may be a symlink out. */
    int status = http_map_path(site->root, url, s->path, sizeof s->path, &st);
    if (status == 200 && S_ISREG(st.st_mode)) {
        /* Cached under the directory's URL path: that is what the next
         * request for it will look up. */
        return plan_file(plan, res, req, req->path, cache, s, now);
    }
    if (status != 200 && status != 404) {
        return status;
    }
    status = http_map_path(site->root, req->path, s->path, sizeof s->path, &st);
    if (status != 200) {
        return status;
    }
    size_t len = 0;
    plan->owned = http_listing(s->path, req->path, &len);
    if (plan->owned == NULL) {
        return open_status(errno);
    }
    res->status = 200;
    res->content_type = HTML_TYPE;
    res->content_length = (long long)len;
    plan->body = plan->owned;
    plan->body_len = len;
    return 0;
}

/* Plan a GET or HEAD of REQ->path: from CACHE if it knows the path. */
static void plan_get(struct http_plan *plan, struct http_response *res,
                     const struct http_request *req,
                     const struct http_site *site, struct http_cache *cache,
                     struct scratch *s, time_t now)
{
    struct stat st;
    struct http_slice p = req->path;
    struct http_cache_entry *e = http_cache_find(cache, p, now);
    if (e != NULL) {
        int status = plan_known(plan, res, req, e, now);
        if (status != 0) {
            plan_page(plan, res, status);
        }
        return;
    }
    int status = http_map_path(site->root, p, s->path, sizeof s->path, &st);
    if (status == 200 && S_ISDIR(st.st_mode) && p.ptr[p.len - 1] != '/') {
        /* "/dir" -> "/dir/", the query kept, as nginx does. */
        snprintf(s->location, sizeof s->location, "%.*s/%s%.*s", (int)p.len,
                 p.ptr, req->query.ptr != NULL ? "?" : "", (int)req->query.len,
                 req->query.ptr != NULL ? req->query.ptr : "");
        res->location = s->location;
        plan_page(plan, res, 301);
        return;
    }
    if (status == 200 && S_ISDIR(st.st_mode)) {
        status = plan_directory(plan, res, req, site, cache, s, now);
    } else if (status == 200 && S_ISREG(st.st_mode)) {
        status = plan_file(plan, res, req, p, cache, s, now);
    } else if (status == 200) {
        status = 403; /* a FIFO, socket or device: never opened */
    }
    if (status != 0) {
        plan_page(plan, res, status);
    }
}

/* Plan the answer for the one POST resource, /echo. */
static void plan_echo(struct http_plan *plan, struct http_response *res,
                      const struct http_request *req, const char *buf)
{
    res->allow = ALLOW_ECHO;
    if (req->method == HTTP_POST) {
        /* Octet-stream, never the client's own type: echoing text/html
         * from another site's form would be a reflected-XSS gadget. */
        res->status = 200;
        res->content_type = "application/octet-stream";
        res->content_length = (long long)req->content_length;
        plan->body = buf + req->head_len;
        plan->body_len = req->content_length;
    } else if (req->method == HTTP_OPTIONS) {
        res->status = 200;
        res->content_length = 0;
    } else {
        plan_page(plan, res, 405);
    }
}

/* Whether slice S is exactly the string LIT. */
static bool slice_is(struct http_slice s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

void http_plan_cached(struct http_plan *plan, const struct http_request *req,
                      const char *buf, const struct http_site *site,
                      struct http_cache *cache, time_t now)
{
    struct scratch s;
    struct http_response res = {.date = now, .server = site->server};
    plan_start(plan, req->keep_alive);
    if (slice_is(req->path, "*")) {
        res.status = 200; /* the parser let "*" through for OPTIONS only */
        res.allow = ALLOW_ALL;
        res.content_length = 0;
    } else if (slice_is(req->path, ECHO_PATH)) {
        plan_echo(plan, &res, req, buf);
    } else if (req->method == HTTP_GET || req->method == HTTP_HEAD) {
        plan_get(plan, &res, req, site, cache, &s, now);
    } else if (req->method == HTTP_OPTIONS) {
        res.status = 200;
        res.allow = ALLOW_FILES;
        res.content_length = 0;
    } else {
        res.allow = ALLOW_FILES;
        plan_page(plan, &res, 405);
    }
    plan_finish(plan, &res, req->method == HTTP_HEAD);
}

void http_plan_request(struct http_plan *plan, const struct http_request *req,
                       const char *buf, const struct http_site *site,
                       time_t now)
{
    http_plan_cached(plan, req, buf, site, NULL, now);
}

void http_plan_error(struct http_plan *plan, int status,
                     const struct http_site *site, time_t now)
{
    struct http_response res = {.date = now};
    res.server = site != NULL ? site->server : NULL;
    /* After a parse error the framing of what follows is unknown: the
     * connection ends with this answer. */
    plan_start(plan, false);
    plan_page(plan, &res, status);
    plan_finish(plan, &res, false);
}
