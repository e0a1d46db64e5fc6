/*
 * http_parse.c - an incremental, strict HTTP/1.1 request parser.
 *
 * Bytes in, a verdict out: a complete request head, "need more bytes", or
 * an error with the status that answers it. It keeps no state between
 * calls: the caller passes everything received for the current request
 * and the parser reads it again from the start. That costs a re-scan of
 * at most HTTP_MAX_HEAD bytes per call, and buys an API that cannot be
 * misused: the caller's buffer may move (realloc, memmove) between calls.
 *
 * Strict where RFC 9112 says a server must be, and where being forgiving
 * is how request smuggling starts (framing: Content-Length and
 * Transfer-Encoding). Where the RFC leaves a choice, the comments below
 * say which one is taken and why; mostly it is what nginx does.
 *
 * Lines are checked as soon as they are complete, and an incomplete line
 * is checked for bytes no valid request could contain, so a client that
 * speaks something else (TLS, say) is answered at once instead of after
 * a timeout.
 */
#include <stdint.h>
#include <string.h>

#include "http.h"

/* What the header lines said, gathered while they are read. */
struct fields {
    int hosts;              /* Host lines seen */
    struct http_slice host; /* the Host value */
    bool has_length;        /* a Content-Length line was seen */
    uint64_t length;        /* its value */
    bool chunked;           /* a Transfer-Encoding line was seen */
    bool close;             /* Connection: close */
    bool keep_alive;        /* Connection: keep-alive */
    bool expect_continue;   /* Expect: 100-continue */
};

/* Record why the request is refused. Returns HTTP_PARSE_ERROR. */
static enum http_parse_result fail(struct http_request *req, int status,
                                   const char *why)
{
    req->status = status;
    req->error = why;
    req->keep_alive = false;
    return HTTP_PARSE_ERROR;
}

/* tchar of RFC 9110 5.6.2: the characters of methods and field names. */
static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9')) {
        return true;
    }
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Whether all N bytes of S are tchars (and there is at least one). */
static bool is_token(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!is_tchar((unsigned char)s[i])) {
            return false;
        }
    }
    return n > 0;
}

/* DIGIT of RFC 5234: ASCII only, whatever the locale. */
static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A hex digit, either case. */
static bool is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* ASCII lower case, whatever the locale. */
static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Whether the N bytes at S equal the string LIT, ignoring ASCII case. */
static bool iequal(const char *s, size_t n, const char *lit)
{
    if (strlen(lit) != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (lower(s[i]) != lower(lit[i])) {
            return false;
        }
    }
    return true;
}

/* ---- lines ----------------------------------------------------------- */

/* Find the line that starts at POS. A line ends at LF, and a CR just
 * before the LF is dropped: bare LF is accepted as a terminator, which
 * RFC 9112 2.2 allows and nginx does, so that a reader can type requests
 * into `nc`. Returns 1 with *N (the length without terminator) and *NEXT
 * set, 0 if no LF has arrived yet, -1 for a CR that ends nothing (a bare
 * CR, which RFC 9112 2.2 says to reject or replace: rejected). */
static int find_line(const char *buf, size_t len, size_t pos, size_t *n,
                     size_t *next)
{
    if (pos >= len) {
        return 0;
    }
    const char *lf = memchr(buf + pos, '\n', len - pos);
    if (lf == NULL) {
        return 0;
    }
    size_t end = (size_t)(lf - buf);
    *next = end + 1;
    if (end > pos && buf[end - 1] == '\r') {
        end--;
    }
    *n = end - pos;
    return memchr(buf + pos, '\r', *n) != NULL ? -1 : 1;
}

/* Whether byte C can never appear in a head line: controls other than
 * HTAB, and DEL. In the request line HTAB and non-ASCII are out too. */
static bool is_bad_byte(unsigned char c, bool request_line)
{
    if (request_line && (c == '\t' || c >= 0x80)) {
        return true;
    }
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* Check the unfinished line at POS: a final CR may be the start of a CRLF,
 * any other bad byte means the line can never become valid. Returns the
 * number of bytes so far (the final CR not counted), or -1. */
static long unfinished_line(const char *buf, size_t len, size_t pos,
                            bool request_line)
{
    size_t n = len - pos;
    if (n > 0 && buf[len - 1] == '\r') {
        n--;
    }
    for (size_t i = 0; i < n; i++) {
        if (is_bad_byte((unsigned char)buf[pos + i], request_line)) {
            return -1;
        }
    }
    return (long)n;
}

/* ---- the request line ------------------------------------------------ */

/* The method token, case-sensitive as RFC 9110 9.1 says. */
static enum http_method method_from(const char *s, size_t n)
{
    static const struct {
        const char *name;
        enum http_method method;
    } known[] = {
        {"GET", HTTP_GET},         {"HEAD", HTTP_HEAD},
        {"POST", HTTP_POST},       {"PUT", HTTP_PUT},
        {"DELETE", HTTP_DELETE},   {"CONNECT", HTTP_CONNECT},
        {"OPTIONS", HTTP_OPTIONS}, {"TRACE", HTTP_TRACE},
        {"PATCH", HTTP_PATCH},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strlen(known[i].name) == n && memcmp(known[i].name, s, n) == 0) {
            return known[i].method;
        }
    }
    return HTTP_METHOD_UNKNOWN;
}

/* Parse "HTTP/x.y", exactly: one digit each side of the dot, upper case
 * (RFC 9112 2.3). Returns 1 with *MINOR set for 1.0 and 1.1, 0 for any
 * other well-formed version (505), -1 if malformed (400). HTTP/1.2 is 505
 * too: RFC 9110 6.2 would let us treat it as 1.1, the tour's spec says
 * "versions other than 1.0/1.1: 505". */
static int parse_version(const char *v, size_t n, int *minor)
{
    if (n != 8 || memcmp(v, "HTTP/", 5) != 0 || !is_digit(v[5]) ||
        v[6] != '.' || !is_digit(v[7])) {
        return -1;
    }
    if (v[5] != '1' || (v[7] != '0' && v[7] != '1')) {
        return 0;
    }
    *minor = v[7] - '0';
    return 1;
}

/* Whether the target's bytes are all visible ASCII, with no '#' (a
 * fragment is never sent) and every '%' followed by two hex digits. The
 * exact URI grammar is not enforced: browsers send | ^ { } unencoded, and
 * nginx accepts them; controls, spaces and non-ASCII are refused. */
static bool target_chars_ok(const char *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c <= 0x20 || c >= 0x7f || c == '#') {
            return false;
        }
        if (c == '%' && (n - i < 3 || !is_hex(t[i + 1]) || !is_hex(t[i + 2]))) {
            return false;
        }
    }
    return true;
}

/* Whether S is a valid Host value or authority: uri-host [ ":" port ]
 * (RFC 9112 3.2, RFC 3986 3.2.2). An empty value is allowed by the RFC
 * (a URI without authority); userinfo ('@') is not. */
static bool valid_host(const char *s, size_t n)
{
    size_t i = 0;
    if (n > 0 && s[0] == '[') {
        /* An IP literal: hex digits, dots and colons, or IPvFuture. */
        for (i = 1; i < n && s[i] != ']'; i++) {
            if (!is_tchar((unsigned char)s[i]) && s[i] != ':') {
                return false;
            }
        }
        if (i == n) {
            return false;
        }
        i++;
    } else {
        for (; i < n && s[i] != ':'; i++) {
            unsigned char c = (unsigned char)s[i];
            bool reg =
                is_tchar(c) && c != '#' && c != '^' && c != '`' && c != '|';
            if (!reg && (c == '\0' || strchr("()*,;=", c) == NULL)) {
                return false;
            }
        }
    }
    if (i < n && s[i++] != ':') {
        return false;
    }
    for (; i < n; i++) {
        if (!is_digit(s[i])) {
            return false;
        }
    }
    return true;
}

/* Split an origin-form "/path?query" into the request's path and query. */
static void split_path(struct http_request *req, const char *s, size_t n)
{
    const char *q = memchr(s, '?', n);
    req->path.ptr = s;
    req->path.len = q != NULL ? (size_t)(q - s) : n;
    if (q != NULL) {
        req->query.ptr = q + 1;
        req->query.len = n - req->path.len - 1;
    }
}

/* Take apart an absolute-form target "http://authority/path?query" (the
 * scheme already skipped: S is the rest). Its authority stands in for Host
 * (RFC 9112 3.2.2); with no path, the path is "/". False if malformed. */
static bool split_absolute(struct http_request *req, const char *s, size_t n)
{
    size_t a = 0;
    while (a < n && s[a] != '/' && s[a] != '?') {
        a++;
    }
    /* An http URI with an empty host is invalid (RFC 9110 4.2.1). */
    if (a == 0 || !valid_host(s, a)) {
        return false;
    }
    req->host.ptr = s;
    req->host.len = a;
    if (a < n && s[a] == '/') {
        split_path(req, s + a, n - a);
    } else {
        req->path.ptr = "/";
        req->path.len = 1;
        if (a < n) {
            req->query.ptr = s + a + 1;
            req->query.len = n - a - 1;
        }
    }
    return true;
}

/* Recognise the form of target T (RFC 9112 3.2): origin-form, "*" (the
 * OPTIONS check comes later), or absolute-form with an http or https
 * scheme. Authority-form (CONNECT's) is not served. False if none. */
static bool split_target(struct http_request *req, const char *t, size_t n)
{
    if (t[0] == '/') {
        split_path(req, t, n);
        return true;
    }
    if (n == 1 && t[0] == '*') {
        req->path.ptr = t;
        req->path.len = 1;
        return true;
    }
    if (n > 7 && iequal(t, 7, "http://")) {
        return split_absolute(req, t + 7, n - 7);
    }
    if (n > 8 && iequal(t, 8, "https://")) {
        return split_absolute(req, t + 8, n - 8);
    }
    return false;
}

/* Check the syntax of the three parts of the request line, and fill in
 * the method, target and version. Returns 400 or 505, 0 if all is well.
 * A method is any token: a long one is an unknown method (501), not a
 * malformed request; the request-line limit (414) bounds it anyway. */
static int check_request_parts(struct http_request *req, struct http_slice m,
                               struct http_slice t, struct http_slice v,
                               const char **why)
{
    *why = "malformed method";
    if (!is_token(m.ptr, m.len)) {
        return 400;
    }
    *why = "malformed request-target";
    if (t.len == 0 || !target_chars_ok(t.ptr, t.len) ||
        !split_target(req, t.ptr, t.len)) {
        return 400;
    }
    int v_ok = parse_version(v.ptr, v.len, &req->minor_version);
    *why = "malformed HTTP version";
    if (v_ok < 0) {
        return 400;
    }
    *why = "HTTP version not supported";
    if (v_ok == 0) {
        return 505;
    }
    req->method_name = m;
    req->target = t;
    req->method = method_from(m.ptr, m.len);
    return 0;
}

/* Parse a complete request line "METHOD SP TARGET SP VERSION", with one
 * space each: RFC 9112 3 lets a server split on any whitespace; a strict
 * server takes single SPs only. Returns HTTP_PARSE_OK or an error. */
static enum http_parse_result parse_request_line(struct http_request *req,
                                                 const char *line, size_t n)
{
    const char *sp1 = memchr(line, ' ', n);
    if (sp1 == NULL) {
        return fail(req, 400, "request line without spaces");
    }
    const char *rest = sp1 + 1;
    const char *sp2 = memchr(rest, ' ', n - (size_t)(rest - line));
    if (sp2 == NULL) {
        /* "GET /path": an HTTP/0.9 request, long obsolete. */
        return fail(req, 400, "no HTTP version (HTTP/0.9 is not served)");
    }
    struct http_slice m = {line, (size_t)(sp1 - line)};
    struct http_slice t = {rest, (size_t)(sp2 - rest)};
    struct http_slice v = {sp2 + 1, n - (size_t)(sp2 + 1 - line)};
    const char *why = NULL;
    int status = check_request_parts(req, m, t, v, &why);
    if (status != 0) {
        return fail(req, status, why);
    }
    if (req->method == HTTP_METHOD_UNKNOWN) {
        return fail(req, 501, "unknown method");
    }
    if (t.len == 1 && t.ptr[0] == '*' && req->method != HTTP_OPTIONS) {
        return fail(req, 400, "target \"*\" is only for OPTIONS");
    }
    return HTTP_PARSE_OK;
}

/* Find, check and parse the request line; *POS is left after it.
 * Empty lines before it are skipped (RFC 9112 2.2: a server SHOULD ignore
 * at least one), but they count towards the request-line limit: the
 * request line must end within HTTP_MAX_REQUEST_LINE bytes. */
static enum http_parse_result read_request_line(struct http_request *req,
                                                const char *buf, size_t len,
                                                size_t *pos)
{
    size_t start = 0, n = 0, next = 0;
    for (;;) {
        int found = find_line(buf, len, start, &n, &next);
        if (found < 0) {
            return fail(req, 400, "bare CR in the request line");
        }
        if (found == 0) {
            long sofar = unfinished_line(buf, len, start, true);
            if (start + (sofar < 0 ? 0 : (size_t)sofar) >
                HTTP_MAX_REQUEST_LINE) {
                return fail(req, 414, "request line too long");
            }
            if (sofar < 0) {
                return fail(req, 400, "invalid byte in the request line");
            }
            return HTTP_PARSE_MORE;
        }
        if (start + n > HTTP_MAX_REQUEST_LINE) {
            return fail(req, 414, "request line too long");
        }
        if (n > 0) {
            break;
        }
        start = next;
    }
    *pos = next;
    return parse_request_line(req, buf + start, n);
}

/* ---- header fields --------------------------------------------------- */

/* Content-Length: 1*DIGIT and nothing else (RFC 9110 8.6); no sign, no
 * blanks inside, no list. Values beyond what an off_t holds are invalid
 * (400, as nginx does); merely large ones are checked later (413). */
static bool parse_length(struct http_slice v, uint64_t *out)
{
    uint64_t n = 0;
    if (v.len == 0) {
        return false;
    }
    for (size_t i = 0; i < v.len; i++) {
        if (!is_digit(v.ptr[i])) {
            return false;
        }
        unsigned d = (unsigned)(v.ptr[i] - '0');
        if (n > ((uint64_t)INT64_MAX - d) / 10) {
            return false;
        }
        n = n * 10 + d;
    }
    *out = n;
    return true;
}

/* Note the "close" and "keep-alive" options of a Connection value, a
 * comma-separated list of case-insensitive tokens (RFC 9110 7.6.1). */
static void scan_connection(struct fields *f, struct http_slice v)
{
    size_t i = 0;
    while (i < v.len) {
        while (i < v.len &&
               (v.ptr[i] == ',' || v.ptr[i] == ' ' || v.ptr[i] == '\t')) {
            i++;
        }
        size_t start = i;
        while (i < v.len && v.ptr[i] != ',') {
            i++;
        }
        size_t end = i;
        while (end > start &&
               (v.ptr[end - 1] == ' ' || v.ptr[end - 1] == '\t')) {
            end--;
        }
        if (iequal(v.ptr + start, end - start, "close")) {
            f->close = true;
        } else if (iequal(v.ptr + start, end - start, "keep-alive")) {
            f->keep_alive = true;
        }
    }
}

/* Act on the header fields the parser itself cares about. Duplicate
 * Content-Length lines are refused even with equal values (RFC 9110 8.6
 * allows either; nginx refuses): framing is where leniency lets two
 * parsers disagree about where a request ends. Returns an error or OK. */
static enum http_parse_result note_field(struct http_request *req,
                                         struct fields *f,
                                         const struct http_header *h)
{
    struct http_slice n = h->name, v = h->value;
    if (iequal(n.ptr, n.len, "host")) {
        if (++f->hosts > 1) {
            return fail(req, 400, "more than one Host");
        }
        if (!valid_host(v.ptr, v.len)) {
            return fail(req, 400, "invalid Host");
        }
        f->host = v;
    } else if (iequal(n.ptr, n.len, "content-length")) {
        if (f->has_length) {
            return fail(req, 400, "more than one Content-Length");
        }
        if (!parse_length(v, &f->length)) {
            return fail(req, 400, "invalid Content-Length");
        }
        f->has_length = true;
    } else if (iequal(n.ptr, n.len, "transfer-encoding")) {
        f->chunked = true;
    } else if (iequal(n.ptr, n.len, "connection")) {
        scan_connection(f, v);
    } else if (iequal(n.ptr, n.len, "expect")) {
        f->expect_continue = iequal(v.ptr, v.len, "100-continue");
    } else if (iequal(n.ptr, n.len, "if-modified-since")) {
        if (req->if_modified_since.ptr == NULL) {
            req->if_modified_since = v;
        }
    } else if (iequal(n.ptr, n.len, "if-none-match")) {
        if (req->if_none_match.ptr == NULL) {
            req->if_none_match = v;
        }
    }
    return HTTP_PARSE_OK;
}

/* Parse one complete header line "name: value" (RFC 9112 5). The name is
 * a token right up to the colon: whitespace before the colon is a 400
 * (RFC 9112 5.1 says MUST). The value loses its surrounding blanks and
 * may hold visible ASCII, blanks and obs-text, no controls. */
static enum http_parse_result parse_field(struct http_request *req,
                                          struct fields *f, const char *line,
                                          size_t n)
{
    if (line[0] == ' ' || line[0] == '\t') {
        /* obs-fold, or whitespace before the first field (RFC 9112 5.2
         * and 2.2): rejecting is one of the two choices given. */
        return fail(req, 400, "folded or indented header line");
    }
    const char *colon = memchr(line, ':', n);
    if (colon == NULL) {
        return fail(req, 400, "header line without a colon");
    }
    size_t name_len = (size_t)(colon - line);
    if (name_len > 0 && (colon[-1] == ' ' || colon[-1] == '\t')) {
        return fail(req, 400, "whitespace between header name and colon");
    }
    if (!is_token(line, name_len)) {
        return fail(req, 400, "malformed header name");
    }
    const char *v = colon + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t')) {
        v++;
    }
    while (end > v && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }
    for (const char *c = v; c < end; c++) {
        if (is_bad_byte((unsigned char)*c, false)) {
            return fail(req, 400, "control character in a header value");
        }
    }
    if (req->header_count == HTTP_MAX_HEADERS) {
        return fail(req, 431, "too many header fields");
    }
    struct http_header *h = &req->headers[req->header_count++];
    h->name = (struct http_slice){line, name_len};
    h->value = (struct http_slice){v, (size_t)(end - v)};
    return note_field(req, f, h);
}

/* The verdict on a header block whose line at POS has not ended yet:
 * already over the limit, already invalid, or "need more". */
static enum http_parse_result unfinished_field(struct http_request *req,
                                               const char *buf, size_t len,
                                               size_t block, size_t pos)
{
    if (len - block > HTTP_MAX_HEADER_BLOCK) {
        return fail(req, 431, "header block too large");
    }
    if (unfinished_line(buf, len, pos, false) < 0) {
        return fail(req, 400, "invalid byte in a header line");
    }
    if (pos < len && (buf[pos] == ' ' || buf[pos] == '\t')) {
        return fail(req, 400, "folded or indented header line");
    }
    return HTTP_PARSE_MORE;
}

/* Read header lines from *POS up to and including the blank line that
 * ends the head, which is then where *POS is left. The header block,
 * blank line included, may not exceed HTTP_MAX_HEADER_BLOCK bytes. */
static enum http_parse_result read_fields(struct http_request *req,
                                          struct fields *f, const char *buf,
                                          size_t len, size_t *pos)
{
    size_t block = *pos;
    for (;;) {
        size_t n = 0, next = 0;
        int found = find_line(buf, len, *pos, &n, &next);
        if (found < 0) {
            return fail(req, 400, "bare CR in a header line");
        }
        if (found == 0) {
            return unfinished_field(req, buf, len, block, *pos);
        }
        if (next - block > HTTP_MAX_HEADER_BLOCK) {
            return fail(req, 431, "header block too large");
        }
        size_t line = *pos;
        *pos = next;
        if (n == 0) {
            return HTTP_PARSE_OK;
        }
        enum http_parse_result r = parse_field(req, f, buf + line, n);
        if (r != HTTP_PARSE_OK) {
            return r;
        }
    }
}

/* The checks that need the whole head (RFC 9112 3.2 and 6.1-6.3), and
 * the fields that follow from it. HTTP/1.1 keeps the connection unless
 * "close"; HTTP/1.0 closes it unless "keep-alive" (RFC 9112 9.3). */
static enum http_parse_result finish_head(struct http_request *req,
                                          const struct fields *f, size_t pos)
{
    if (req->minor_version == 1 && f->hosts == 0) {
        return fail(req, 400, "HTTP/1.1 request without Host");
    }
    if (f->chunked && f->has_length) {
        return fail(req, 400, "both Transfer-Encoding and Content-Length");
    }
    if (f->chunked) {
        /* Request bodies in chunks are not implemented (RFC 9112 6.1:
         * an unknown transfer coding is a 501). */
        return fail(req, 501, "Transfer-Encoding in a request");
    }
    if (f->length > HTTP_MAX_BODY) {
        return fail(req, 413, "body too large");
    }
    if (req->host.ptr == NULL) {
        req->host = f->host; /* absolute-form already set it */
    }
    req->content_length = (size_t)f->length;
    req->keep_alive = !f->close && (req->minor_version == 1 || f->keep_alive);
    /* RFC 9110 10.1.1: an HTTP/1.0 request's 100-continue is ignored. */
    req->expect_continue = f->expect_continue && req->minor_version == 1;
    req->head_len = pos;
    return HTTP_PARSE_OK;
}

/* Request line, header lines, then the checks on the whole head: each
 * stage returns OK to go on, or the verdict (MORE or ERROR) as it is. */
enum http_parse_result http_parse_request(const char *buf, size_t len,
                                          struct http_request *req)
{
    memset(req, 0, offsetof(struct http_request, headers));
    req->status = 0;
    req->error = NULL;
    if (len == 0) {
        return HTTP_PARSE_MORE;
    }
    size_t pos = 0;
    enum http_parse_result r = read_request_line(req, buf, len, &pos);
    if (r != HTTP_PARSE_OK) {
        return r;
    }
    struct fields f = {0};
    r = read_fields(req, &f, buf, len, &pos);
    if (r != HTTP_PARSE_OK) {
        return r;
    }
    return finish_head(req, &f, pos);
}

size_t http_request_len(const struct http_request *req)
{
    return req->head_len + req->content_length;
}

const struct http_header *http_find_header(const struct http_request *req,
                                           const char *name)
{
    for (size_t i = 0; i < req->header_count; i++) {
        const struct http_header *h = &req->headers[i];
        if (iequal(h->name.ptr, h->name.len, name)) {
            return h;
        }
    }
    return NULL;
}

const char *http_method_name(enum http_method method)
{
    static const char *const names[] = {
        "?",      "GET",     "HEAD",    "POST",  "PUT",
        "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    };
    if ((size_t)method >= sizeof names / sizeof names[0]) {
        return "?";
    }
    return names[method];
}
