/*
 * http.h - the HTTP/1.1 code the three HTTP servers share.
 *
 * Everything here is pure or close to it: the parser reads a byte buffer
 * and writes a struct, the formatters write into caller buffers, and only
 * the path mapping and the response plan touch the file system (realpath,
 * stat, open, readdir). No sockets: each server does its own I/O, blocking
 * (01_blocking), non-blocking (02_nonblocking) or event-driven (03_epoll),
 * around the same decisions. That is also what makes this code testable
 * and fuzzable (tests/http/).
 *
 *   parsing    http_parse_request, http_request_len, http_find_header
 *   paths      http_site_init, http_clean_path, http_map_path,
 *              http_listing
 *   responses  http_reason, http_format_head, http_format_date,
 *              http_parse_date, http_mime_type, http_make_etag,
 *              http_etag_matches, http_not_modified, http_error_body
 *   plans      http_plan_request, http_plan_cached, http_plan_error,
 *              http_plan_free
 *   cache      http_cache_new, http_cache_free (http_cache_find and
 *              http_cache_store are http_plan_cached's)
 *
 * A server's loop, whatever its I/O model:
 *
 *   switch (http_parse_request(buf, len, &req)) {
 *   case HTTP_PARSE_MORE:  read more (the buffer never needs more than
 *                          HTTP_MAX_HEAD bytes to decide); break;
 *   case HTTP_PARSE_ERROR: http_plan_error(&plan, req.status, ...);
 *                          send it, then close gracefully; break;
 *   case HTTP_PARSE_OK:    wait until len >= http_request_len(&req)
 *                          (send HTTP_CONTINUE first if req.expect_continue);
 *                          http_plan_request(&plan, &req, buf, ...);
 *                          send plan.head, then plan.body or plan.fd;
 *                          http_plan_free(&plan); drop http_request_len
 *                          bytes from buf and parse again (pipelining).
 *   }
 */
#ifndef TOUR_HTTP_H
#define TOUR_HTTP_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

/* ---- limits (what nginx does with its default buffers) --------------- */

#define HTTP_MAX_REQUEST_LINE 8192  /* request line, CRLF excluded: 414 */
#define HTTP_MAX_HEADER_BLOCK 16384 /* header lines + blank line: 431 */
#define HTTP_MAX_BODY (1024 * 1024) /* Content-Length: 413 */
#define HTTP_MAX_HEADERS 64         /* header field lines: 431 */

/* Given this many bytes, the parser never answers HTTP_PARSE_MORE: an
 * input buffer of this size is always enough to read a request head. */
#define HTTP_MAX_HEAD (HTTP_MAX_REQUEST_LINE + 2 + HTTP_MAX_HEADER_BLOCK + 1)

/* Room for any response head http_plan_request formats: a redirect's
 * Location can be as long as the request line. */
#define HTTP_RESPONSE_HEAD_MAX (HTTP_MAX_REQUEST_LINE + 1024)

#define HTTP_DATE_LEN 30 /* "Sun, 06 Nov 1994 08:49:37 GMT" and the NUL */
#define HTTP_ETAG_MAX 48 /* "hex mtime-hex size" with quotes, and NUL */

/* The interim answer to "Expect: 100-continue": send it, then the client
 * sends the body (curl otherwise waits a second before sending it). */
#define HTTP_CONTINUE "HTTP/1.1 100 Continue\r\n\r\n"

/* ---- parsing (http_parse.c) ------------------------------------------ */

/* Bytes inside the caller's buffer: valid only while that buffer is
 * unchanged. Print one with printf("%.*s", (int)s.len, s.ptr). */
struct http_slice {
    const char *ptr; /* NULL when the field is absent */
    size_t len;
};

/* One header field line as sent; VALUE is without surrounding blanks. */
struct http_header {
    struct http_slice name;
    struct http_slice value;
};

/* The methods RFC 9110 defines, plus PATCH (RFC 5789). */
enum http_method {
    HTTP_METHOD_UNKNOWN, /* a well-formed token we do not implement: 501 */
    HTTP_GET,
    HTTP_HEAD,
    HTTP_POST,
    HTTP_PUT,
    HTTP_DELETE,
    HTTP_CONNECT,
    HTTP_OPTIONS,
    HTTP_TRACE,
    HTTP_PATCH,
};

enum http_parse_result {
    HTTP_PARSE_OK,    /* a complete head: every field below is set */
    HTTP_PARSE_MORE,  /* no verdict yet: call again with more bytes */
    HTTP_PARSE_ERROR, /* answer req.status and close the connection */
};

/* A parsed request head. Slices point into the buffer that was parsed. */
struct http_request {
    enum http_method method;
    struct http_slice method_name; /* the method as sent */
    struct http_slice target;      /* the request-target as sent */
    struct http_slice path;        /* "/..." still percent-encoded, or "*";
                                      an absolute-form target is reduced to it */
    struct http_slice query; /* after '?', without it; .ptr NULL if none */
    int minor_version;       /* 0 for HTTP/1.0, 1 for HTTP/1.1 */
    struct http_slice host;  /* Host, or an absolute-form's authority */
    struct http_slice if_modified_since; /* first such line, or NULL */
    struct http_slice if_none_match;     /* first such line, or NULL */
    bool keep_alive;       /* the connection may carry another request */
    bool expect_continue;  /* HTTP/1.1 "Expect: 100-continue" */
    size_t content_length; /* body bytes after the head (<= HTTP_MAX_BODY) */
    size_t head_len;       /* request line + headers + blank line, in bytes */
    size_t header_count;
    struct http_header headers[HTTP_MAX_HEADERS];
    int status;        /* HTTP_PARSE_ERROR: 400 413 414 431 501 505 */
    const char *error; /* HTTP_PARSE_ERROR: why, a static string to log */
};

/* Parse the request head at the start of BUF, of which LEN bytes have been
 * received. Stateless: call it again from the start of the same request
 * each time more bytes arrive (the cost is linear in LEN, and LEN is
 * bounded by HTTP_MAX_HEAD). Reads nothing outside BUF[0..LEN), allocates
 * nothing. Returns HTTP_PARSE_OK, HTTP_PARSE_MORE or HTTP_PARSE_ERROR. */
enum http_parse_result http_parse_request(const char *buf, size_t len,
                                          struct http_request *req);

/* Bytes the whole request occupies, head and body: wait for that many,
 * answer, drop them, and what follows is the next pipelined request. */
size_t http_request_len(const struct http_request *req);

/* The first header field named NAME (case-insensitive), or NULL. */
const struct http_header *http_find_header(const struct http_request *req,
                                           const char *name);

/* "GET", "HEAD", ... ("?" for HTTP_METHOD_UNKNOWN). */
const char *http_method_name(enum http_method method);

/* ---- paths (http_path.c) --------------------------------------------- */

/* What the servers serve, set up once at start-up. */
struct http_site {
    char root[PATH_MAX]; /* the document root, canonical (realpath) */
    const char *server;  /* the Server header, e.g. "tour-ch03-http" */
};

/* Fill SITE for the document root DOCROOT, answering as SERVER. Returns
 * 0, or -1 with errno set (ENOTDIR if DOCROOT is not a directory). */
int http_site_init(struct http_site *site, const char *docroot,
                   const char *server);

/* Percent-decode the URL path PATH ("/a/b%20c/") into OUT as a relative
 * file path without dot or empty segments ("a/b c"; "" for "/").
 * Returns 200, or the status to answer: 403 for a ".." segment, a
 * decoded '/', '\' or NUL (%2f %5c %00), 400 for a malformed escape,
 * 404 if it does not fit in OUT. */
int http_clean_path(struct http_slice path, char *out, size_t size);

/* Map the URL path PATH onto the directory ROOT (absolute and canonical,
 * as realpath gives it): http_clean_path, then realpath of the result,
 * which must still be ROOT or below it, so no encoding and no symlink can
 * lead outside. On 200, OUT (PATH_MAX bytes) holds the resolved path and
 * ST its stat. Otherwise returns 400, 403, 404 or 500. */
int http_map_path(const char *root, struct http_slice path, char *out,
                  size_t size, struct stat *st);

/* An HTML page listing directory DIR, shown as URL path URL_PATH: the
 * entries sorted by name (bytewise), dot files left out, directories with
 * a trailing '/', names HTML-escaped and links percent-encoded. Returns a
 * malloc'd page and its length in *LEN, or NULL with errno set. */
char *http_listing(const char *dir, struct http_slice url_path, size_t *len);

/* ---- responses (http_response.c) ------------------------------------- */

/* What http_format_head writes. NULL strings and negative lengths are
 * left out. */
struct http_response {
    int status;
    time_t date;              /* Date: usually time(NULL) */
    const char *server;       /* Server */
    const char *location;     /* Location (redirects) */
    const char *allow;        /* Allow (405 and OPTIONS) */
    const char *content_type; /* Content-Type */
    long long content_length; /* Content-Length; < 0 omits it (304) */
    bool has_last_modified;   /* send Last-Modified: last_modified */
    time_t last_modified;     /* Last-Modified */
    const char *etag;         /* ETag */
    bool keep_alive;          /* Connection: keep-alive, or close */
};

/* The reason phrase of STATUS ("Not Found"), "Unknown" for others. */
const char *http_reason(int status);

/* Write the status line and header fields of RES, and the blank line,
 * into BUF. Returns the length, or 0 if it does not fit or a value holds
 * a control character (which could smuggle in a header). */
size_t http_format_head(char *buf, size_t size,
                        const struct http_response *res);

/* Write T as an IMF-fixdate into BUF. Returns its length (29), 0 if T is
 * outside years 0-9999. */
size_t http_format_date(time_t t, char buf[HTTP_DATE_LEN]);

/* Parse an HTTP-date in any of the three formats RFC 9110 says a
 * recipient must accept: IMF-fixdate, RFC 850 (two-digit year, read as
 * within 50 years of NOW) and asctime. 0 and *OUT, or -1. */
int http_parse_date(struct http_slice s, time_t now, time_t *out);

/* The Content-Type for PATH, by its extension (case-insensitive);
 * "application/octet-stream" when unknown. */
const char *http_mime_type(const char *path);

/* A strong entity tag from size and modification time, like nginx's:
 * "<mtime hex>-<size hex>" with its quotes. Returns its length. */
size_t http_make_etag(char buf[HTTP_ETAG_MAX], off_t size, time_t mtime);

/* Whether the If-None-Match value LIST ("*" alone, or a list of maybe-weak
 * entity tags) matches ETAG, by weak comparison (RFC 9110 13.1.2). */
bool http_etag_matches(struct http_slice list, const char *etag);

/* Whether a GET or HEAD of a file with ETAG and MTIME may be answered 304:
 * If-None-Match, when present (any line of it), decides alone; otherwise a
 * valid If-Modified-Since no earlier than MTIME does. */
bool http_not_modified(const struct http_request *req, const char *etag,
                       time_t mtime, time_t now);

/* A short static HTML page for an error STATUS; its length in *LEN. */
const char *http_error_body(int status, size_t *len);

/* ---- plans (http_plan.c) --------------------------------------------- */

/* Everything a server needs to answer one request: send HEAD, then
 * BODY_LEN bytes of BODY, then FILE_LEN bytes of FD from its start (at
 * most one of the two is set). If the file turns out shorter than
 * FILE_LEN, the response cannot be completed: close the connection. */
struct http_plan {
    int status;      /* for the log */
    bool keep_alive; /* false: close (gracefully) once this is sent */
    char head[HTTP_RESPONSE_HEAD_MAX];
    size_t head_len;
    const char *body; /* static text, the request's own body (POST /echo:
                         inside the caller's buffer), or OWNED */
    size_t body_len;
    int fd;         /* a regular file open for reading, or -1 */
    off_t file_len; /* its size when it was opened */
    char *owned;    /* a generated body (a listing), freed by plan_free */
};

/* Decide the answer to REQ, parsed from BUF, which must hold
 * http_request_len(REQ) bytes; NOW is the time for Date. GET/HEAD serve
 * files (index.html for a directory, else a listing; 301 to add a missing
 * trailing '/'), OPTIONS answers Allow, POST /echo echoes the body, other
 * known methods get 405. Only stat/open/realpath/readdir, no socket I/O:
 * a blocking and an event-driven server use it alike. */
void http_plan_request(struct http_plan *plan, const struct http_request *req,
                       const char *buf, const struct http_site *site,
                       time_t now);

struct http_cache; /* below */

/* http_plan_request, remembering in CACHE (http_cache_new; one per
 * thread, for one SITE) what the file system said, for HTTP_CACHE_TTL:
 * a GET of a small file asked for in the last second then costs no
 * system call at all (http_cache.c says what that second costs). PLAN->
 * body may point into CACHE: send or copy it before CACHE is used again.
 * PLAN->fd may share its file offset with CACHE's descriptor: send it with
 * pread or sendfile and an explicit offset, never read or lseek. */
void http_plan_cached(struct http_plan *plan, const struct http_request *req,
                      const char *buf, const struct http_site *site,
                      struct http_cache *cache, time_t now);

/* The answer to a request that could not be parsed (or timed out, 408):
 * STATUS with a short page and "Connection: close". */
void http_plan_error(struct http_plan *plan, int status,
                     const struct http_site *site, time_t now);

/* Close PLAN's file and free its body, once it has been sent. */
void http_plan_free(struct http_plan *plan);

/* ---- the file cache (http_cache.c) ----------------------------------- */

#define HTTP_CACHE_SLOTS 64       /* entries, one per slot */
#define HTTP_CACHE_URL_MAX 256    /* longer URL paths are not cached */
#define HTTP_CACHE_FILE_MAX 16384 /* files up to this size are kept */
#define HTTP_CACHE_TTL 1          /* seconds a realpath check is trusted */
#define HTTP_CACHE_HEAD_MAX 512   /* a cached file's response head */

/* What was learned about the regular file a URL path maps to. */
struct http_cache_entry {
    char url[HTTP_CACHE_URL_MAX]; /* the key: the URL path as sent */
    size_t url_len;               /* its length; 0: the slot is empty */
    char real[PATH_MAX];          /* realpath's answer, inside the root */
    struct stat st;               /* the file's fstat when it was cached */
    time_t checked;               /* when realpath said it is inside */
    const char *type;             /* its Content-Type */
    char etag[HTTP_ETAG_MAX];     /* its entity tag */
    char *data;                   /* a small file's bytes, or NULL */
    int fd; /* without data: the large file, open (a dup of it is sent,
               sharing its file offset: sendfile with an offset) */
    char head[HTTP_CACHE_HEAD_MAX]; /* data's: the last 200 head sent */
    size_t head_len;                /* its length; 0: none */
    time_t head_date;               /* its Date */
    bool head_keep_alive;           /* its Connection: keep-alive */
};

struct http_cache {
    struct http_cache_entry slot[HTTP_CACHE_SLOTS];
};

/* An empty cache (about 330 KiB, untouched until used), or NULL. It may
 * hold up to HTTP_CACHE_SLOTS descriptors open. */
struct http_cache *http_cache_new(void);

/* Free CACHE and what it holds; NULL is allowed. */
void http_cache_free(struct http_cache *cache);

/* The entry for URL, if there is one and realpath proved it inside the
 * root less than HTTP_CACHE_TTL seconds before NOW. Else NULL (and the
 * slot is emptied). */
struct http_cache_entry *http_cache_find(struct http_cache *cache,
                                         struct http_slice url, time_t now);

/* Remember that URL maps to the regular file REAL, open as FD with stat
 * ST, keeping its bytes if it is small; checked at NOW. Returns the
 * entry, or NULL if it cannot be cached (CACHE NULL, a path too long, a
 * read failing). */
struct http_cache_entry *
http_cache_store(struct http_cache *cache, struct http_slice url,
                 const char *real, const struct stat *st, int fd, time_t now);

#endif
