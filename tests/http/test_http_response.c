/*
 * test_http_response.c - response heads, dates, content types, entity
 * tags and conditional requests, and the plans the servers follow, the
 * latter against a real directory tree (http_test.h) made under mkdtemp.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "http.h"
#include "http_test.h"

#define RFC_TIME 784111777 /* Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110) */
#define GET_A "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n" /* the plain file */

/* A head with every field, exactly; one that does not fit; a value that
 * would smuggle in a header. */
static void test_format_head(void)
{
    char buf[512];
    struct http_response res = {
        .status = 200,
        .date = RFC_TIME,
        .server = "t",
        .content_type = "text/plain",
        .content_length = 5,
        .has_last_modified = true,
        .last_modified = RFC_TIME,
        .etag = "\"a-5\"",
        .keep_alive = true,
    };
    size_t n = http_format_head(buf, sizeof buf, &res);
    const char *want = "HTTP/1.1 200 OK\r\n"
                       "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                       "Server: t\r\n"
                       "Content-Type: text/plain\r\n"
                       "Content-Length: 5\r\n"
                       "Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                       "ETag: \"a-5\"\r\n"
                       "Connection: keep-alive\r\n\r\n";
    CHECK_INT(n, strlen(want));
    CHECK_STR(buf, want);
    CHECK_INT(http_format_head(buf, strlen(want), &res), 0);
    CHECK_INT(http_format_head(buf, strlen(want) + 1, &res), strlen(want));

    struct http_response bare = {.status = 405,
                                 .date = 0,
                                 .allow = "GET, HEAD",
                                 .content_length = -1,
                                 .location = "/x/"};
    n = http_format_head(buf, sizeof buf, &bare);
    CHECK_STR(buf, "HTTP/1.1 405 Method Not Allowed\r\n"
                   "Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
                   "Location: /x/\r\nAllow: GET, HEAD\r\n"
                   "Connection: close\r\n\r\n");
    bare.location = "/x\r\nSet-Cookie: evil=1";
    CHECK_INT(http_format_head(buf, sizeof buf, &bare), 0);
    bare.location = "/x\n";
    CHECK_INT(http_format_head(buf, sizeof buf, &bare), 0);
}

/* Reason phrases and error pages. */
static void test_reasons(void)
{
    CHECK_STR(http_reason(200), "OK");
    CHECK_STR(http_reason(304), "Not Modified");
    CHECK_STR(http_reason(413), "Content Too Large");
    CHECK_STR(http_reason(414), "URI Too Long");
    CHECK_STR(http_reason(431), "Request Header Fields Too Large");
    CHECK_STR(http_reason(501), "Not Implemented");
    CHECK_STR(http_reason(505), "HTTP Version Not Supported");
    CHECK_STR(http_reason(299), "Unknown");
    size_t len = 0;
    const char *page = http_error_body(404, &len);
    CHECK(strstr(page, "<title>404 Not Found</title>") != NULL);
    CHECK_INT(len, strlen(page));
    page = http_error_body(431, &len);
    CHECK(strstr(page, "431 Request Header Fields Too Large") != NULL);
    page = http_error_body(999, &len);
    CHECK(strstr(page, "500 Internal Server Error") != NULL);
}

/* IMF-fixdate out; all three formats in; invalid dates refused. */
static void test_dates(void)
{
    char buf[HTTP_DATE_LEN];
    CHECK_INT(http_format_date(RFC_TIME, buf), 29);
    CHECK_STR(buf, "Sun, 06 Nov 1994 08:49:37 GMT");
    CHECK_INT(http_format_date(951782400, buf), 29); /* a leap day */
    CHECK_STR(buf, "Tue, 29 Feb 2000 00:00:00 GMT");

    static const char *const same[] = {
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
    };
    time_t now = 1735689600; /* 2025-01-01 */
    for (size_t i = 0; i < 3; i++) {
        time_t t = 0;
        CHECK_INT(http_parse_date(slice_of(same[i]), now, &t), 0);
        CHECK_INT(t, RFC_TIME);
    }
    static const char *const bad[] = {
        "",
        "Sun, 06 Nov 1994 08:49:37",      /* no zone */
        "Sun, 06 Nov 1994 08:49:37 UTC",  /* not GMT */
        "sun, 06 Nov 1994 08:49:37 GMT",  /* names are case-sensitive */
        "Sun, 6 Nov 1994 08:49:37 GMT",   /* two-digit day */
        "Sun, 06 Nov 1994 08:49:37 GMT ", /* trailing blank */
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 31 Apr 1994 08:49:37 GMT",
        "Sun, 29 Feb 1900 08:49:37 GMT", /* not a leap year */
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT",
        "Sun, 06-Nov-94 08:49:37 GMT", /* RFC 850 needs the long name */
        "Sun Nov 6 08:49:37 1994",     /* asctime pads the day */
        "1994-11-06T08:49:37Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        time_t t = 0;
        CHECK_INT(http_parse_date(slice_of(bad[i]), now, &t), -1);
    }
    time_t t = 0;
    CHECK_INT(
        http_parse_date(slice_of("Sat, 29 Feb 2020 00:00:00 GMT"), now, &t), 0);
    struct http_slice none = {NULL, 0};
    CHECK_INT(http_parse_date(none, now, &t), -1);
}

/* RFC 850's two-digit years, and format-then-parse round trips. */
static void test_date_years(void)
{
    time_t now = 1735689600, t = 0; /* 2025-01-01 */
    char buf[HTTP_DATE_LEN];
    CHECK_INT(
        http_parse_date(slice_of("Monday, 01-Jan-75 00:00:00 GMT"), now, &t),
        0);
    CHECK_INT(http_format_date(t, buf), 29);
    CHECK_STR(buf, "Tue, 01 Jan 2075 00:00:00 GMT"); /* 50 years: future */
    CHECK_INT(
        http_parse_date(slice_of("Monday, 01-Jan-76 00:00:00 GMT"), now, &t),
        0);
    http_format_date(t, buf);
    CHECK_STR(buf, "Thu, 01 Jan 1976 00:00:00 GMT"); /* 51 years: past */
    CHECK_INT(
        http_parse_date(slice_of("Friday, 31-Dec-99 23:59:59 GMT"), now, &t),
        0);
    CHECK_INT(t, 946684799);

    int failures = 0;
    for (long long s = 0; s < 4102444800LL; s += 86400LL * 97 + 3671) {
        time_t back = 0;
        if (http_format_date((time_t)s, buf) != 29 ||
            http_parse_date(slice_of(buf), now, &back) != 0 ||
            back != (time_t)s) {
            failures++;
        }
    }
    CHECK_INT(failures, 0);
}

/* Content types by extension, case-insensitive, on the last component. */
static void test_mime(void)
{
    static const struct {
        const char *path, *type;
    } rows[] = {
        {"/d/index.html", "text/html; charset=utf-8"},
        {"INDEX.HTM", "text/html; charset=utf-8"},
        {"s.css", "text/css; charset=utf-8"},
        {"a.js", "text/javascript; charset=utf-8"},
        {"a.json", "application/json"},
        {"a.txt", "text/plain; charset=utf-8"},
        {"/docs/01_blocking.md", "text/plain; charset=utf-8"},
        {"a.MD", "text/plain; charset=utf-8"},
        {"i.svg", "image/svg+xml"},
        {"i.png", "image/png"},
        {"i.jpg", "image/jpeg"},
        {"i.JPEG", "image/jpeg"},
        {"i.gif", "image/gif"},
        {"favicon.ico", "image/x-icon"},
        {"a.pdf", "application/pdf"},
        {"m.wasm", "application/wasm"},
        {"a.tar.gz", "application/octet-stream"},
        {"noext", "application/octet-stream"},
        {"dir.html/noext", "application/octet-stream"},
        {"trailing.", "application/octet-stream"},
        {"a.htmlx", "application/octet-stream"},
        {"a.htm", "text/html; charset=utf-8"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        CHECK_STR(http_mime_type(rows[i].path), rows[i].type);
    }
}

/* Entity tags: making one, and weak comparison against lists. */
static void test_etags(void)
{
    char tag[HTTP_ETAG_MAX];
    CHECK_INT(http_make_etag(tag, 6, 0x5f5e100), 11);
    CHECK_STR(tag, "\"5f5e100-6\"");
    static const struct {
        const char *list, *etag;
        bool match;
    } rows[] = {
        {"\"a\"", "\"a\"", true},
        {"W/\"a\"", "\"a\"", true},
        {"\"a\"", "W/\"a\"", true},
        {"\"b\", \"a\"", "\"a\"", true},
        {" ,\"b\" ,, W/\"a\" ", "\"a\"", true},
        {"*", "\"a\"", true},
        {" * ", "\"a\"", true},
        {"*x", "\"a\"", false},
        {"*, \"b\"", "\"a\"", false},
        {"\"b\"", "\"a\"", false},
        {"\"ab\"", "\"a\"", false},
        {"a", "\"a\"", false},
        {"\"a", "\"a\"", false},
        {"", "\"a\"", false},
        {"\"b\"x, \"a\"", "\"a\"", false},
        {"\"a b\"", "\"a b\"", false},
        {"w/\"a\"", "\"a\"", false},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        bool got = http_etag_matches(slice_of(rows[i].list), rows[i].etag);
        CHECK_INT(got, rows[i].match);
        if (got != rows[i].match) {
            fprintf(stderr, "  ^ list '%s'\n", rows[i].list);
        }
    }
}

/* Whether the request RAW, for a file with ETAG and MTIME, is a 304. */
static bool not_modified(const char *raw, const char *etag, time_t mtime)
{
    struct http_request req;
    if (http_parse_request(raw, strlen(raw), &req) != HTTP_PARSE_OK) {
        fprintf(stderr, "cannot parse %s\n", raw);
        return false;
    }
    return http_not_modified(&req, etag, mtime, RFC_TIME + 1000);
}

#define GET_ROOT "GET / HTTP/1.1\r\nHost: x\r\n" /* a head to finish */
#define IMS_AT "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"

/* If-None-Match decides alone when present; If-Modified-Since otherwise. */
static void test_not_modified(void)
{
    const char *tag = "\"t\"";
    CHECK(!not_modified(GET_ROOT "\r\n", tag, RFC_TIME));
    CHECK(not_modified(GET_ROOT "If-None-Match: \"t\"\r\n\r\n", tag, RFC_TIME));
    CHECK(not_modified(GET_ROOT "If-None-Match: *\r\n\r\n", tag, RFC_TIME));
    CHECK(not_modified(GET_ROOT "If-None-Match: \"x\"\r\nIf-None-Match: W/\"t\""
                                "\r\n\r\n",
                       tag, RFC_TIME));
    CHECK(
        !not_modified(GET_ROOT "If-None-Match: \"x\"\r\n\r\n", tag, RFC_TIME));
    CHECK(!not_modified(GET_ROOT "If-None-Match: \"x\"\r\n" IMS_AT "\r\n", tag,
                        RFC_TIME));
    CHECK(not_modified(GET_ROOT IMS_AT "\r\n", tag, RFC_TIME));
    CHECK(not_modified(GET_ROOT IMS_AT "\r\n", tag, RFC_TIME - 1));
    CHECK(!not_modified(GET_ROOT IMS_AT "\r\n", tag, RFC_TIME + 1));
    CHECK(not_modified(GET_ROOT "If-Modified-Since: Sunday, 06-Nov-94 08:49:37 "
                                "GMT\r\n\r\n",
                       tag, RFC_TIME));
    CHECK(!not_modified(GET_ROOT "If-Modified-Since: yesterday\r\n\r\n", tag,
                        RFC_TIME));
}

/* Parse RAW (a complete request) and plan its answer. */
static void plan_for(struct http_plan *plan, const struct http_site *site,
                     const char *raw, time_t now)
{
    struct http_request req;
    enum http_parse_result r = http_parse_request(raw, strlen(raw), &req);
    CHECK_INT(r, HTTP_PARSE_OK);
    if (r != HTTP_PARSE_OK) {
        http_plan_error(plan, req.status, site, now);
        return;
    }
    CHECK(strlen(raw) >= http_request_len(&req));
    http_plan_request(plan, &req, raw, site, now);
}

/* Whether PLAN's head has the text WANT in it. */
static bool has(const struct http_plan *plan, const char *want)
{
    bool found = strstr(plan->head, want) != NULL;
    if (!found) {
        fprintf(stderr, "no \"%s\" in:\n%s", want, plan->head);
    }
    return found;
}

/* GET and HEAD of a file: status, headers, the open file. */
static void test_plan_file(const struct http_site *site, time_t now)
{
    struct http_plan plan;
    plan_for(&plan, site, GET_A, now);
    CHECK_INT(plan.status, 200);
    CHECK(plan.keep_alive);
    CHECK(has(&plan, "HTTP/1.1 200 OK\r\n"));
    CHECK(has(&plan, "\r\nServer: test-server\r\n"));
    CHECK(has(&plan, "\r\nContent-Type: text/plain; charset=utf-8\r\n"));
    CHECK(has(&plan, "\r\nContent-Length: 6\r\n"));
    CHECK(has(&plan, "\r\nETag: \""));
    CHECK(has(&plan, "\r\nLast-Modified: "));
    CHECK(has(&plan, "\r\nConnection: keep-alive\r\n\r\n"));
    CHECK_INT(plan.head_len, strlen(plan.head));
    CHECK(plan.body == NULL && plan.body_len == 0);
    CHECK(plan.fd >= 0);
    CHECK_INT(plan.file_len, 6);
    char got[16] = "";
    CHECK_INT(read(plan.fd, got, sizeof got - 1), 6);
    CHECK_STR(got, "hello\n");
    http_plan_free(&plan);
    CHECK_INT(plan.fd, -1);

    plan_for(&plan, site, "HEAD /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", now);
    CHECK_INT(plan.status, 200);
    CHECK(has(&plan, "\r\nContent-Length: 6\r\n"));
    CHECK(plan.fd < 0 && plan.body == NULL && plan.body_len == 0);
    http_plan_free(&plan);

    plan_for(&plan, site, "GET /notes.md HTTP/1.0\r\n\r\n", now);
    CHECK_INT(plan.status, 200);
    CHECK(!plan.keep_alive);
    CHECK(has(&plan, "text/plain; charset=utf-8"));
    CHECK(has(&plan, "\r\nConnection: close\r\n"));
    http_plan_free(&plan);

    plan_for(&plan, site,
             "GET /link_in HTTP/1.1\r\nHost: x\r\n"
             "Connection: close\r\n\r\n",
             now);
    CHECK_INT(plan.status, 200);
    CHECK(!plan.keep_alive);
    CHECK_INT(plan.file_len, 6);
    http_plan_free(&plan);
}

/* Directories: index.html, a listing, or a redirect to add the '/'. */
static void test_plan_directories(const struct http_site *site, time_t now)
{
    struct http_plan plan;
    plan_for(&plan, site, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", now);
    CHECK_INT(plan.status, 200);
    CHECK(has(&plan, "text/html; charset=utf-8"));
    CHECK_INT(plan.file_len, 14); /* "<h1>home</h1>\n" */
    CHECK(plan.fd >= 0);
    http_plan_free(&plan);

    plan_for(&plan, site, "GET /withindex/ HTTP/1.1\r\nHost: x\r\n\r\n", now);
    CHECK_INT(plan.status, 200);
    CHECK_INT(plan.file_len, 20);
    http_plan_free(&plan);

    plan_for(&plan, site, "GET /withindex HTTP/1.1\r\nHost: x\r\n\r\n", now);
    CHECK_INT(plan.status, 301);
    CHECK(has(&plan, "\r\nLocation: /withindex/\r\n"));
    http_plan_free(&plan);

    plan_for(&plan, site, "GET /sub?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", now);
    CHECK_INT(plan.status, 301);
    CHECK(has(&plan, "\r\nLocation: /sub/?x=1\r\n"));
    http_plan_free(&plan);

    plan_for(&plan, site, "GET /sub/ HTTP/1.1\r\nHost: x\r\n\r\n", now);
    CHECK_INT(plan.status, 200);
    CHECK(plan.fd < 0 && plan.owned != NULL && plan.body == plan.owned);
    CHECK(plan.body != NULL && strstr(plan.body, "Zed.txt") != NULL);
    char length[64];
    snprintf(length, sizeof length, "\r\nContent-Length: %zu\r\n",
             plan.body_len);
    CHECK(has(&plan, length));
    CHECK(strstr(plan.head, "ETag") == NULL);
    http_plan_free(&plan);
    CHECK(plan.owned == NULL && plan.body == NULL);

    plan_for(&plan, site, "HEAD /sub/ HTTP/1.1\r\nHost: x\r\n\r\n", now);
    CHECK_INT(plan.status, 200);
    CHECK(plan.owned == NULL && plan.body == NULL && plan.body_len == 0);
    http_plan_free(&plan);
}

/* Errors that keep the connection, and the escape attempts. */
static void test_plan_refusals(const struct http_site *site, time_t now)
{
    static const struct {
        const char *raw;
        int status;
    } rows[] = {
        {"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 404},
        {"GET /a.txt/ HTTP/1.1\r\nHost: x\r\n\r\n", 404},
        {"GET /dangling HTTP/1.1\r\nHost: x\r\n\r\n", 404},
        {"GET /link_out HTTP/1.1\r\nHost: x\r\n\r\n", 403},
        {"GET /link_dir_out/secret.txt HTTP/1.1\r\nHost: x\r\n\r\n", 403},
        {"GET /link_abs_out HTTP/1.1\r\nHost: x\r\n\r\n", 403},
        {"GET /sib HTTP/1.1\r\nHost: x\r\n\r\n", 403},
        {"GET /fifo HTTP/1.1\r\nHost: x\r\n\r\n", 403},
        {"GET /../outside/secret.txt HTTP/1.1\r\nHost: x\r\n\r\n", 403},
        {"GET /%2e%2e/outside/secret.txt HTTP/1.1\r\nHost: x\r\n\r\n", 403},
        {"GET /sub%2f..%2f..%2foutside/secret.txt HTTP/1.1\r\nHost: x\r\n\r\n",
         403},
        {"GET /a.txt%00 HTTP/1.1\r\nHost: x\r\n\r\n", 403},
        {"GET http://x/../outside/secret.txt HTTP/1.1\r\nHost: x\r\n\r\n", 403},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct http_plan plan;
        plan_for(&plan, site, rows[i].raw, now);
        CHECK_INT(plan.status, rows[i].status);
        CHECK(plan.fd < 0);
        CHECK(plan.keep_alive); /* the framing is intact: carry on */
        CHECK(plan.body != NULL && strstr(plan.body, "secret") == NULL);
        CHECK(has(&plan, "text/html; charset=utf-8"));
        http_plan_free(&plan);
    }
}

/* Conditional GETs: 304 with the validators and no Content-Length. */
static void test_plan_conditional(const struct http_site *site, time_t now)
{
    struct http_plan plan;
    plan_for(&plan, site, GET_A, now);
    const char *e = strstr(plan.head, "ETag: ");
    char etag[HTTP_ETAG_MAX] = "";
    if (e != NULL) {
        sscanf(e + 6, "%47[^\r]", etag);
    }
    http_plan_free(&plan);

    char raw[256];
    snprintf(raw, sizeof raw,
             "GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: %s\r\n\r\n",
             etag);
    plan_for(&plan, site, raw, now);
    CHECK_INT(plan.status, 304);
    CHECK(plan.fd < 0 && plan.body == NULL);
    CHECK(strstr(plan.head, "Content-Length") == NULL);
    CHECK(has(&plan, etag));
    CHECK(has(&plan, "\r\nLast-Modified: "));
    http_plan_free(&plan);

    struct stat st;
    char path[PATH_MAX + 16], date[HTTP_DATE_LEN];
    join(path, sizeof path, site->root, "a.txt");
    CHECK(stat(path, &st) == 0);
    http_format_date(st.st_mtime, date);
    snprintf(raw, sizeof raw,
             "GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: %s\r\n\r\n",
             date);
    plan_for(&plan, site, raw, now);
    CHECK_INT(plan.status, 304);
    http_plan_free(&plan);

    http_format_date(st.st_mtime - 1, date);
    snprintf(raw, sizeof raw,
             "GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: %s\r\n\r\n",
             date);
    plan_for(&plan, site, raw, now);
    CHECK_INT(plan.status, 200);
    http_plan_free(&plan);

    /* A clock behind the file: Last-Modified is never after Date. */
    plan_for(&plan, site, GET_A, st.st_mtime - 100);
    http_format_date(st.st_mtime - 100, date);
    char lm[64];
    snprintf(lm, sizeof lm, "Last-Modified: %s\r\n", date);
    CHECK(has(&plan, lm));
    http_plan_free(&plan);
}

/* Methods: POST /echo, OPTIONS, and 405 for the rest. */
static void test_plan_methods(const struct http_site *site, time_t now)
{
    struct http_plan plan;
    const char *post = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5"
                       "\r\n\r\nhello";
    plan_for(&plan, site, post, now);
    CHECK_INT(plan.status, 200);
    CHECK_INT(plan.body_len, 5);
    CHECK(plan.body == post + strlen(post) - 5);
    CHECK(has(&plan, "\r\nContent-Type: application/octet-stream\r\n"));
    CHECK(has(&plan, "\r\nContent-Length: 5\r\n"));
    http_plan_free(&plan);

    static const struct {
        const char *raw, *want;
        int status;
    } rows[] = {
        {"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n", "Allow: OPTIONS, POST\r\n",
         405},
        {"OPTIONS /echo HTTP/1.1\r\nHost: x\r\n\r\n",
         "Allow: OPTIONS, POST\r\n", 200},
        {"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
         "Allow: GET, HEAD, OPTIONS, POST\r\n", 200},
        {"OPTIONS /a.txt HTTP/1.1\r\nHost: x\r\n\r\n",
         "Allow: GET, HEAD, OPTIONS\r\n", 200},
        {"PUT /a.txt HTTP/1.1\r\nHost: x\r\n\r\n",
         "Allow: GET, HEAD, OPTIONS\r\n", 405},
        {"DELETE /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", "Content-Length: ", 405},
        {"POST /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", "Allow: GET, HEAD", 405},
        {"PATCH /nope HTTP/1.1\r\nHost: x\r\n\r\n", "Allow: GET, HEAD", 405},
        {"TRACE / HTTP/1.1\r\nHost: x\r\n\r\n", "Allow: GET, HEAD", 405},
        {"CONNECT / HTTP/1.1\r\nHost: x\r\n\r\n", "Allow: GET, HEAD", 405},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        plan_for(&plan, site, rows[i].raw, now);
        CHECK_INT(plan.status, rows[i].status);
        CHECK(has(&plan, rows[i].want));
        if (rows[i].status == 200) {
            CHECK(has(&plan, "\r\nContent-Length: 0\r\n"));
        }
        http_plan_free(&plan);
    }

    /* A HEAD of an error: the head only, with the page's length. */
    plan_for(&plan, site, "HEAD /echo HTTP/1.1\r\nHost: x\r\n\r\n", now);
    CHECK_INT(plan.status, 405);
    CHECK(plan.body == NULL && plan.body_len == 0);
    CHECK(has(&plan, "\r\nContent-Length: "));
    http_plan_free(&plan);
}

/* Parse errors: the page, and the connection closed after it. */
static void test_plan_errors(const struct http_site *site, time_t now)
{
    static const int statuses[] = {400, 408, 413, 414, 431, 501, 505};
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        struct http_plan plan;
        char line[64];
        http_plan_error(&plan, statuses[i], site, now);
        snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", statuses[i],
                 http_reason(statuses[i]));
        CHECK_INT(plan.status, statuses[i]);
        CHECK(!plan.keep_alive);
        CHECK(strncmp(plan.head, line, strlen(line)) == 0);
        CHECK(has(&plan, "\r\nConnection: close\r\n\r\n"));
        CHECK(plan.body != NULL && plan.body_len > 0 && plan.fd < 0);
        http_plan_free(&plan);
    }
    struct http_plan plan;
    http_plan_error(&plan, 400, NULL, now);
    CHECK(strstr(plan.head, "Server") == NULL);
    http_plan_free(&plan);
}

/* A file the server may not read: 403 (not testable as root). */
static void test_plan_unreadable(const struct http_site *site, time_t now)
{
    char path[PATH_MAX + 16];
    join(path, sizeof path, site->root, "a.txt");
    if (geteuid() == 0 || chmod(path, 0) < 0) {
        return;
    }
    struct http_plan plan;
    plan_for(&plan, site, GET_A, now);
    CHECK_INT(plan.status, 403);
    http_plan_free(&plan);
    chmod(path, 0644);
}

int main(void)
{
    test_format_head();
    test_reasons();
    test_dates();
    test_date_years();
    test_mime();
    test_etags();
    test_not_modified();

    char base[4096];
    if (!make_tree(base)) {
        fprintf(stderr, "cannot make the test tree\n");
        return 1;
    }
    char root[PATH_MAX + 8];
    join(root, sizeof root, base, "root");
    struct http_site site;
    CHECK_INT(http_site_init(&site, root, "test-server"), 0);
    time_t now = time(NULL);
    test_plan_file(&site, now);
    test_plan_directories(&site, now);
    test_plan_refusals(&site, now);
    test_plan_conditional(&site, now);
    test_plan_methods(&site, now);
    test_plan_errors(&site, now);
    test_plan_unreadable(&site, now);
    remove_tree(base);
    return check_exit_status("test_http_response");
}
