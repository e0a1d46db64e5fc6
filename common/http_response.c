/*
 * http_response.c - the pieces of an HTTP response head: reason phrases,
 * dates, content types, entity tags and conditional requests, error pages.
 *
 * Dates are formatted and parsed by hand rather than with strftime and
 * strptime: day and month names must be English whatever the locale,
 * strptime is not in POSIX's base, and timegm (UTC back to time_t) was not
 * in POSIX until 2024. The arithmetic is short.
 */
#include <stdio.h>
#include <string.h>

#include "http.h"

/* A status code, its reason phrase (RFC 9110 15), and the page that
 * explains an error status. The page is built by the preprocessor, so it
 * is static text any server can send without copying. */
#define PAGE(code, text)                                                       \
    "<!DOCTYPE html>\n<html><head><title>" #code " " text                      \
    "</title></head>\n<body><h1>" #code " " text "</h1></body></html>\n"
#define STATUS(code, text)                                                     \
    {                                                                          \
        code, text, PAGE(code, text)                                           \
    }

static const struct {
    int code;
    const char *reason;
    const char *page;
} statuses[] = {
    STATUS(100, "Continue"),
    STATUS(200, "OK"),
    STATUS(204, "No Content"),
    STATUS(301, "Moved Permanently"),
    STATUS(304, "Not Modified"),
    STATUS(400, "Bad Request"),
    STATUS(403, "Forbidden"),
    STATUS(404, "Not Found"),
    STATUS(405, "Method Not Allowed"),
    STATUS(408, "Request Timeout"),
    STATUS(413, "Content Too Large"),
    STATUS(414, "URI Too Long"),
    STATUS(431, "Request Header Fields Too Large"),
    STATUS(500, "Internal Server Error"),
    STATUS(501, "Not Implemented"),
    STATUS(503, "Service Unavailable"),
    STATUS(505, "HTTP Version Not Supported"),
};

#define N_STATUSES (sizeof statuses / sizeof statuses[0])

const char *http_reason(int status)
{
    for (size_t i = 0; i < N_STATUSES; i++) {
        if (statuses[i].code == status) {
            return statuses[i].reason;
        }
    }
    return "Unknown";
}

const char *http_error_body(int status, size_t *len)
{
    const char *page = PAGE(500, "Internal Server Error");
    for (size_t i = 0; i < N_STATUSES; i++) {
        if (statuses[i].code == status) {
            page = statuses[i].page;
        }
    }
    *len = strlen(page);
    return page;
}

/* ---- dates ----------------------------------------------------------- */

static const char day_names[7][4] = {"Sun", "Mon", "Tue", "Wed",
                                     "Thu", "Fri", "Sat"};
static const char *const long_day_names[7] = {
    "Sunday",   "Monday", "Tuesday", "Wednesday",
    "Thursday", "Friday", "Saturday"};
static const char month_names[12][4] = {"Jan", "Feb", "Mar", "Apr",
                                        "May", "Jun", "Jul", "Aug",
                                        "Sep", "Oct", "Nov", "Dec"};

size_t http_format_date(time_t t, char buf[HTTP_DATE_LEN])
{
    struct tm tm;
    buf[0] = '\0';
    if (gmtime_r(&t, &tm) == NULL || tm.tm_year < -1900 ||
        tm.tm_year > 9999 - 1900) {
        return 0;
    }
    int n = snprintf(buf, HTTP_DATE_LEN, "%s, %02d %s %04d %02d:%02d:%02d GMT",
                     day_names[tm.tm_wday], tm.tm_mday, month_names[tm.tm_mon],
                     tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return n == HTTP_DATE_LEN - 1 ? (size_t)n : 0;
}

/* Days from 1970-01-01 to Y-M-D in the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil). */
static long long days_from_civil(long long y, int m, int d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* A cursor over the date being parsed. */
struct scan {
    const char *s;
    size_t n, i;
};

/* Take the literal LIT, case-sensitively (RFC 9110 5.6.7). */
static bool take(struct scan *c, const char *lit)
{
    size_t k = strlen(lit);
    if (c->n - c->i < k || memcmp(c->s + c->i, lit, k) != 0) {
        return false;
    }
    c->i += k;
    return true;
}

/* Take exactly COUNT digits into *V. */
static bool take_num(struct scan *c, int count, int *v)
{
    *v = 0;
    for (int k = 0; k < count; k++) {
        if (c->i == c->n || c->s[c->i] < '0' || c->s[c->i] > '9') {
            return false;
        }
        *v = *v * 10 + (c->s[c->i++] - '0');
    }
    return true;
}

/* Take one of the N names of TABLE; *INDEX says which. */
static bool take_name(struct scan *c, const char *const *table, int n,
                      int *index)
{
    for (int k = 0; k < n; k++) {
        if (take(c, table[k])) {
            *index = k;
            return true;
        }
    }
    return false;
}

/* Fields of a date as parsed: year, month 0-11, day, time of day. */
struct civil {
    int year, mon, mday, hour, min, sec;
};

/* Take "HH:MM:SS". */
static bool take_time(struct scan *c, struct civil *t)
{
    return take_num(c, 2, &t->hour) && take(c, ":") &&
           take_num(c, 2, &t->min) && take(c, ":") && take_num(c, 2, &t->sec);
}

/* Take a short day name and a month name (3 letters each). */
static bool take_short(struct scan *c, bool day, int *index)
{
    const char *names[12];
    int n = day ? 7 : 12;
    for (int k = 0; k < n; k++) {
        names[k] = day ? day_names[k] : month_names[k];
    }
    return take_name(c, names, n, index);
}

/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT". */
static bool imf_fixdate(struct scan *c, struct civil *t)
{
    int wday;
    return take_short(c, true, &wday) && take(c, ", ") &&
           take_num(c, 2, &t->mday) && take(c, " ") &&
           take_short(c, false, &t->mon) && take(c, " ") &&
           take_num(c, 4, &t->year) && take(c, " ") && take_time(c, t) &&
           take(c, " GMT") && c->i == c->n;
}

/* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"; the year is fixed later. */
static bool rfc850_date(struct scan *c, struct civil *t)
{
    int wday;
    return take_name(c, long_day_names, 7, &wday) && take(c, ", ") &&
           take_num(c, 2, &t->mday) && take(c, "-") &&
           take_short(c, false, &t->mon) && take(c, "-") &&
           take_num(c, 2, &t->year) && take(c, " ") && take_time(c, t) &&
           take(c, " GMT") && c->i == c->n;
}

/* asctime: "Sun Nov  6 08:49:37 1994" (the day padded with a space). */
static bool asctime_date(struct scan *c, struct civil *t)
{
    int wday;
    if (!take_short(c, true, &wday) || !take(c, " ") ||
        !take_short(c, false, &t->mon) || !take(c, " ")) {
        return false;
    }
    bool day =
        take(c, " ") ? take_num(c, 1, &t->mday) : take_num(c, 2, &t->mday);
    return day && take(c, " ") && take_time(c, t) && take(c, " ") &&
           take_num(c, 4, &t->year) && c->i == c->n;
}

/* RFC 9110 5.6.7: a two-digit year more than 50 years in the future is
 * the most recent past year with those digits. */
static int full_year(int yy, time_t now)
{
    struct tm tm;
    int this_year = gmtime_r(&now, &tm) != NULL ? tm.tm_year + 1900 : 1970;
    int year = this_year - this_year % 100 + yy;
    return year > this_year + 50 ? year - 100 : year;
}

/* Whether T is a real date and time (a leap second is allowed). */
static bool civil_ok(const struct civil *t)
{
    static const int days[12] = {31, 29, 31, 30, 31, 30,
                                 31, 31, 30, 31, 30, 31};
    bool leap = t->year % 4 == 0 && (t->year % 100 != 0 || t->year % 400 == 0);
    int last = t->mon == 1 && !leap ? 28 : days[t->mon];
    return t->mday >= 1 && t->mday <= last && t->hour <= 23 && t->min <= 59 &&
           t->sec <= 60;
}

int http_parse_date(struct http_slice s, time_t now, time_t *out)
{
    struct civil t = {0};
    struct scan c = {s.ptr, s.ptr != NULL ? s.len : 0, 0};
    bool ok = imf_fixdate(&c, &t);
    if (!ok) {
        c.i = 0;
        ok = rfc850_date(&c, &t);
        t.year = ok ? full_year(t.year, now) : t.year;
    }
    if (!ok) {
        c.i = 0;
        ok = asctime_date(&c, &t);
    }
    if (!ok || !civil_ok(&t)) {
        return -1;
    }
    long long secs = days_from_civil(t.year, t.mon + 1, t.mday) * 86400 +
                     t.hour * 3600 + t.min * 60 + t.sec;
    if ((long long)(time_t)secs != secs) {
        return -1; /* beyond a 32-bit time_t */
    }
    *out = (time_t)secs;
    return 0;
}

/* ---- content types, entity tags, conditional requests ---------------- */

const char *http_mime_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {"html", "text/html; charset=utf-8"},
        {"htm", "text/html; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"},
        {"mjs", "text/javascript; charset=utf-8"},
        {"json", "application/json"},
        {"txt", "text/plain; charset=utf-8"},
        /* Markdown as plain text, so a browser shows the tutorial's
         * chapters instead of offering to download them. */
        {"md", "text/plain; charset=utf-8"},
        {"svg", "image/svg+xml"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"ico", "image/x-icon"},
        {"pdf", "application/pdf"},
        {"wasm", "application/wasm"},
    };
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash != NULL ? slash : path, '.');
    for (size_t i = 0; dot != NULL && i < sizeof types / sizeof types[0]; i++) {
        const char *a = dot + 1, *b = types[i].ext;
        while (*a != '\0' && (*a | 0x20) == *b) {
            a++;
            b++;
        }
        if (*a == '\0' && *b == '\0') {
            return types[i].type;
        }
    }
    return "application/octet-stream";
}

size_t http_make_etag(char buf[HTTP_ETAG_MAX], off_t size, time_t mtime)
{
    int n = snprintf(buf, HTTP_ETAG_MAX, "\"%llx-%llx\"",
                     (unsigned long long)mtime, (unsigned long long)size);
    return n > 0 && n < HTTP_ETAG_MAX ? (size_t)n : 0;
}

/* The opaque part of an entity tag (quotes included), without "W/". */
static struct http_slice opaque_tag(const char *s, size_t n)
{
    struct http_slice t = {s, n};
    if (n >= 2 && s[0] == 'W' && s[1] == '/') {
        t.ptr += 2;
        t.len -= 2;
    }
    return t;
}

/* Take the entity tag at LIST[*I]: [W/] DQUOTE *etagc DQUOTE. Returns its
 * opaque part, or a NULL slice if malformed. */
static struct http_slice next_tag(struct http_slice list, size_t *i)
{
    struct http_slice none = {NULL, 0};
    size_t start = *i, k = *i;
    if (list.len - k >= 2 && list.ptr[k] == 'W' && list.ptr[k + 1] == '/') {
        k += 2;
    }
    if (k == list.len || list.ptr[k] != '"') {
        return none;
    }
    for (k++; k < list.len && list.ptr[k] != '"'; k++) {
        unsigned char c = (unsigned char)list.ptr[k];
        if (c < 0x21 || c == 0x7f) {
            return none;
        }
    }
    if (k == list.len) {
        return none;
    }
    *i = k + 1;
    return opaque_tag(list.ptr + start, *i - start);
}

bool http_etag_matches(struct http_slice list, const char *etag)
{
    struct http_slice mine = opaque_tag(etag, strlen(etag));
    size_t i = 0;
    while (list.ptr != NULL && i < list.len) {
        /* Elements are separated by commas and optional blanks; empty
         * elements are allowed (RFC 9110 5.6.1.2). */
        char c = list.ptr[i];
        if (c == ' ' || c == '\t' || c == ',') {
            i++;
            continue;
        }
        if (c == '*') {
            /* "*", alone: any current representation matches. */
            size_t k = i + 1;
            while (k < list.len &&
                   (list.ptr[k] == ' ' || list.ptr[k] == '\t')) {
                k++;
            }
            return k == list.len;
        }
        struct http_slice tag = next_tag(list, &i);
        if (tag.ptr == NULL) {
            return false; /* malformed: the full response is the safe one */
        }
        if (tag.len == mine.len && memcmp(tag.ptr, mine.ptr, tag.len) == 0) {
            return true;
        }
    }
    return false;
}

/* Whether header H is named NAME (lower case), ignoring case. */
static bool named(const struct http_header *h, const char *name)
{
    if (h->name.len != strlen(name)) {
        return false;
    }
    for (size_t k = 0; k < h->name.len; k++) {
        char c = h->name.ptr[k];
        if ((c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c) != name[k]) {
            return false;
        }
    }
    return true;
}

bool http_not_modified(const struct http_request *req, const char *etag,
                       time_t mtime, time_t now)
{
    /* RFC 9110 13.2.2: If-None-Match, when present, is evaluated and
     * If-Modified-Since ignored. It is a list, and may come in several
     * lines: any of them matching is a match. */
    bool has_inm = false;
    for (size_t i = 0; i < req->header_count; i++) {
        const struct http_header *h = &req->headers[i];
        if (named(h, "if-none-match")) {
            has_inm = true;
            if (etag != NULL && http_etag_matches(h->value, etag)) {
                return true;
            }
        }
    }
    if (has_inm) {
        return false;
    }
    /* RFC 9110 13.1.3: an invalid date is ignored; "not modified since"
     * means modified at or before it. */
    time_t since;
    return req->if_modified_since.ptr != NULL &&
           http_parse_date(req->if_modified_since, now, &since) == 0 &&
           mtime <= since;
}

/* ---- the response head ----------------------------------------------- */

/* A bounded writer: FAILED once something did not fit or was refused. */
struct out {
    char *buf;
    size_t size, len;
    bool failed;
};

/* Append the string S. */
static void put(struct out *o, const char *s)
{
    size_t n = strlen(s);
    if (o->failed || o->size - o->len <= n) {
        o->failed = true;
        return;
    }
    memcpy(o->buf + o->len, s, n + 1);
    o->len += n;
}

/* Append the header line "NAME: VALUE" if VALUE is set. A value with a
 * control character in it (a CR, an LF) is refused outright: it could
 * end the line and forge another header. */
static void put_header(struct out *o, const char *name, const char *value)
{
    if (value == NULL) {
        return;
    }
    for (const char *c = value; *c != '\0'; c++) {
        if ((unsigned char)*c < 0x20 && *c != '\t') {
            o->failed = true;
        }
    }
    put(o, name);
    put(o, ": ");
    put(o, value);
    put(o, "\r\n");
}

size_t http_format_head(char *buf, size_t size, const struct http_response *res)
{
    struct out o = {buf, size, 0, size == 0};
    char line[64], date[HTTP_DATE_LEN], modified[HTTP_DATE_LEN], length[32];
    /* Always HTTP/1.1, also to a 1.0 client: RFC 9110 6.2 has a server
     * send the highest minor version it conforms to. */
    snprintf(line, sizeof line, "HTTP/1.1 %03d %s\r\n", res->status,
             http_reason(res->status));
    put(&o, line);
    put_header(&o, "Date", http_format_date(res->date, date) ? date : NULL);
    put_header(&o, "Server", res->server);
    put_header(&o, "Location", res->location);
    put_header(&o, "Allow", res->allow);
    put_header(&o, "Content-Type", res->content_type);
    snprintf(length, sizeof length, "%lld", res->content_length);
    put_header(&o, "Content-Length", res->content_length >= 0 ? length : NULL);
    if (res->has_last_modified &&
        http_format_date(res->last_modified, modified) > 0) {
        put_header(&o, "Last-Modified", modified);
    }
    put_header(&o, "ETag", res->etag);
    put_header(&o, "Connection", res->keep_alive ? "keep-alive" : "close");
    put(&o, "\r\n");
    return o.failed ? 0 : o.len;
}
