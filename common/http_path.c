/* realpath() is XSI in POSIX.1-2008 (base POSIX only since 2024). */
#define _XOPEN_SOURCE 700
/*
 * http_path.c - from a URL path to a file under the document root, and
 * the listing of a directory that has no index.html.
 *
 * The rule that keeps every file outside the root out of reach: the
 * candidate path is resolved with realpath(), which follows every symlink
 * and removes every "..", and the result must be the root or lie below
 * it. Whatever the encoding (%2e%2e, %2f, %5c, %00, overlong UTF-8) and
 * whatever symlinks the tree holds, what is opened is a file whose real
 * location was checked.
 *
 * Before that, the decoded path is cleaned and anything that looks like
 * an escape attempt is refused with 403 outright, so the log says what
 * happened and the check above is a second wall rather than the only one.
 *
 * Why not walk the path with openat(O_NOFOLLOW) one segment at a time?
 * It closes a race (a directory swapped for a symlink between realpath and
 * open), but only against someone who can already write inside the
 * document root, and it forbids every symlink, even those that stay
 * inside. realpath is one call the reader can follow; the file is then
 * opened with O_NOFOLLOW, so its last component cannot be swapped either.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"

#define SEGMENT_MAX 255 /* NAME_MAX on Linux: no longer file name exists */

/* The value of hex digit C (already known to be one). */
static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    return (c | 0x20) - 'a' + 10;
}

/* A hex digit, either case. */
static bool is_hex_digit(char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* Decode the raw segment S (N bytes, no '/') into OUT, CAP bytes free.
 * Returns 200 and *OUT_LEN, or 400 (bad escape), 403 (a byte that must
 * not be in a file name: a decoded '/', a '\' in any form, NUL), 404 (too
 * long). A '/' arriving as %2f is refused rather than taken as a
 * separator: a client that encodes it means it is not one (Apache's
 * default does the same). */
static int decode_segment(const char *s, size_t n, char *out, size_t cap,
                          size_t *out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (n - i < 3 || !is_hex_digit(s[i + 1]) ||
                !is_hex_digit(s[i + 2])) {
                return 400;
            }
            c = (char)(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        }
        if (c == '/' || c == '\\' || c == '\0') {
            return 403;
        }
        if (o == cap) {
            return 404;
        }
        out[o++] = c;
    }
    *out_len = o;
    return 200;
}

/* Segment by segment: decode, refuse what could climb or hide a
 * separator, drop what names the same directory, append the rest. */
int http_clean_path(struct http_slice path, char *out, size_t size)
{
    if (size == 0) {
        return 404;
    }
    out[0] = '\0';
    if (path.ptr == NULL || path.len == 0 || path.ptr[0] != '/') {
        return 400;
    }
    size_t o = 0, i = 0;
    while (i < path.len) {
        size_t start = i, n = 0;
        while (i < path.len && path.ptr[i] != '/') {
            i++;
        }
        char seg[SEGMENT_MAX];
        int status =
            decode_segment(path.ptr + start, i - start, seg, sizeof seg, &n);
        i++; /* past the '/' */
        if (status != 200) {
            out[0] = '\0';
            return status;
        }
        if (n == 2 && seg[0] == '.' && seg[1] == '.') {
            out[0] = '\0';
            return 403; /* never climb, not even within the root */
        }
        if (n == 0 || (n == 1 && seg[0] == '.')) {
            continue; /* "//" and "/./" name the same directory */
        }
        if ((o > 0 ? 1 : 0) + n >= size - o) {
            out[0] = '\0';
            return 404; /* no room for it, its '/' and the NUL */
        }
        if (o > 0) {
            out[o++] = '/';
        }
        memcpy(out + o, seg, n);
        o += n;
        out[o] = '\0';
    }
    return 200;
}

/* The status for a failed realpath/stat/open: a missing file is 404, a
 * forbidden one 403, anything else (EMFILE, EIO) a 500. */
static int errno_status(int err)
{
    switch (err) {
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG:
    case ELOOP:
        return 404;
    case EACCES:
    case EPERM:
        return 403;
    default:
        return 500;
    }
}

/* Whether the canonical path REAL is the canonical ROOT or below it.
 * "/srv/docs-old" is not below "/srv/docs": the next byte must be '/'. */
static bool is_inside(const char *root, const char *real)
{
    size_t n = strlen(root);
    if (n == 1 && root[0] == '/') {
        return true;
    }
    return strncmp(real, root, n) == 0 && (real[n] == '\0' || real[n] == '/');
}

int http_map_path(const char *root, struct http_slice path, char *out,
                  size_t size, struct stat *st)
{
    char rel[PATH_MAX], candidate[PATH_MAX], real[PATH_MAX];
    int status = http_clean_path(path, rel, sizeof rel);
    if (status != 200) {
        return status;
    }
    /* A trailing '/' stays: "/a.txt/" names a directory, and realpath
     * says ENOTDIR (404) when a.txt is a file. */
    bool dir = rel[0] != '\0' && path.ptr[path.len - 1] == '/';
    int n = snprintf(candidate, sizeof candidate, "%s/%s%s", root, rel,
                     dir ? "/" : "");
    if (n < 0 || (size_t)n >= sizeof candidate) {
        return 404;
    }
    if (realpath(candidate, real) == NULL) {
        return errno_status(errno);
    }
    if (!is_inside(root, real)) {
        return 403; /* a symlink that leads out of the root */
    }
    if (stat(real, st) < 0) {
        return errno_status(errno);
    }
    size_t len = strlen(real);
    if (len >= size) {
        return 404;
    }
    memcpy(out, real, len + 1);
    return 200;
}

int http_site_init(struct http_site *site, const char *docroot,
                   const char *server)
{
    struct stat st;
    memset(site, 0, sizeof *site);
    if (realpath(docroot, site->root) == NULL || stat(site->root, &st) < 0) {
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    site->server = server != NULL ? server : "socket-tour";
    return 0;
}

/* ---- directory listings ---------------------------------------------- */

/* A growing string; FAILED once an allocation failed. */
struct strbuf {
    char *data;
    size_t len, cap;
    bool failed;
};

/* Append N bytes of S. */
static void sb_add(struct strbuf *sb, const char *s, size_t n)
{
    if (sb->failed) {
        return;
    }
    if (sb->cap - sb->len < n + 1) {
        size_t cap = sb->cap > 0 ? sb->cap : 1024;
        while (cap - sb->len < n + 1) {
            cap *= 2;
        }
        char *p = realloc(sb->data, cap);
        if (p == NULL) {
            sb->failed = true;
            return;
        }
        sb->data = p;
        sb->cap = cap;
    }
    memcpy(sb->data + sb->len, s, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
}

/* Append the string S. */
static void sb_str(struct strbuf *sb, const char *s)
{
    sb_add(sb, s, strlen(s));
}

/* Append S as HTML text: the five characters that mean something in HTML
 * are written as entities, so no file name can inject markup. */
static void sb_html(struct strbuf *sb, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '&':
            sb_str(sb, "&amp;");
            break;
        case '<':
            sb_str(sb, "&lt;");
            break;
        case '>':
            sb_str(sb, "&gt;");
            break;
        case '"':
            sb_str(sb, "&quot;");
            break;
        case '\'':
            sb_str(sb, "&#39;");
            break;
        default:
            sb_add(sb, s, 1);
        }
    }
}

/* Append S percent-encoded for a relative link: only unreserved bytes
 * (RFC 3986 2.3) stay as they are, so '?', '#', '%', ':', quotes and
 * non-ASCII cannot change what the link means. */
static void sb_href(struct strbuf *sb, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                     (c >= '0' && c <= '9') ||
                     (c != '\0' && strchr("-._~", c) != NULL);
        if (plain) {
            sb_add(sb, s, 1);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            sb_add(sb, esc, 3);
        }
    }
}

/* One entry of a listing. */
struct entry {
    char *name; /* malloc'd */
    bool dir;   /* a directory (or a symlink to one) */
};

/* qsort order: bytewise by name, the same in every locale. */
static int by_name(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    return strcmp(x->name, y->name);
}

/* Free the N entries of E, and E. */
static void free_entries(struct entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(e[i].name);
    }
    free(e);
}

/* Add NAME of directory D to the array *E of *N entries (*CAP room). */
static bool add_entry(DIR *d, const char *name, struct entry **e, size_t *n,
                      size_t *cap)
{
    if (*n == *cap) {
        size_t more = *cap > 0 ? *cap * 2 : 32;
        struct entry *p = realloc(*e, more * sizeof **e);
        if (p == NULL) {
            return false;
        }
        *e = p;
        *cap = more;
    }
    struct stat st;
    struct entry *it = &(*e)[*n];
    it->dir = fstatat(dirfd(d), name, &st, 0) == 0 && S_ISDIR(st.st_mode);
    it->name = strdup(name);
    if (it->name == NULL) {
        return false;
    }
    (*n)++;
    return true;
}

/* The entries of DIR, dot files left out, sorted by name. Returns the
 * array and *N, or NULL with errno set (an empty directory gives a
 * non-NULL array of 0). */
static struct entry *read_entries(const char *dir, size_t *n)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return NULL;
    }
    size_t cap = 1;
    struct entry *e = malloc(cap * sizeof *e);
    int err = e != NULL ? 0 : ENOMEM;
    *n = 0;
    while (err == 0) {
        /* readdir says "end" and "error" both with NULL: only errno,
         * cleared before the call, tells them apart. */
        errno = 0;
        struct dirent *de = readdir(d);
        if (de == NULL) {
            err = errno;
            break;
        }
        if (de->d_name[0] != '.' && !add_entry(d, de->d_name, &e, n, &cap)) {
            err = ENOMEM;
        }
    }
    closedir(d);
    if (err != 0) {
        free_entries(e, *n);
        errno = err;
        return NULL;
    }
    qsort(e, *n, sizeof *e, by_name);
    return e;
}

/* The page around the entries: title, heading, and a link up. */
static void listing_page(struct strbuf *sb, const char *shown,
                         const struct entry *e, size_t n)
{
    sb_str(sb, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
               "<title>Index of ");
    sb_html(sb, shown);
    sb_str(sb, "</title></head>\n<body><h1>Index of ");
    sb_html(sb, shown);
    sb_str(sb, "</h1>\n<ul>\n");
    if (strcmp(shown, "/") != 0) {
        sb_str(sb, "<li><a href=\"../\">../</a></li>\n");
    }
    for (size_t i = 0; i < n; i++) {
        const char *slash = e[i].dir ? "/" : "";
        sb_str(sb, "<li><a href=\"");
        sb_href(sb, e[i].name);
        sb_str(sb, slash);
        sb_str(sb, "\">");
        sb_html(sb, e[i].name);
        sb_str(sb, slash);
        sb_str(sb, "</a></li>\n");
    }
    sb_str(sb, "</ul>\n</body></html>\n");
}

char *http_listing(const char *dir, struct http_slice url_path, size_t *len)
{
    /* The heading shows the decoded, cleaned path: "/a/b c/". */
    char shown[PATH_MAX + 2] = "/";
    if (http_clean_path(url_path, shown + 1, sizeof shown - 2) == 200 &&
        shown[1] != '\0') {
        strcat(shown, "/");
    } else {
        shown[1] = '\0';
    }
    size_t n = 0;
    struct entry *e = read_entries(dir, &n);
    if (e == NULL) {
        return NULL;
    }
    struct strbuf sb = {0};
    listing_page(&sb, shown, e, n);
    free_entries(e, n);
    if (sb.failed) {
        free(sb.data);
        errno = ENOMEM;
        return NULL;
    }
    *len = sb.len;
    return sb.data;
}
