/*
 * test_http_parser.c - the HTTP request parser against valid, malformed
 * and hostile requests.
 *
 * First a table: raw request -> verdict (complete, need more, or the error
 * status). Every request is parsed from a heap copy of exactly its size,
 * so AddressSanitizer catches a read past the end. Then the fields of
 * valid requests, the limits at their exact edges, pipelined requests in
 * one buffer, and requests delivered one byte at a time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "http.h"
#include "http_test.h"

#define OK 0   /* expected verdict: a complete head */
#define MORE 1 /* expected verdict: need more bytes */

/* A string literal and its length, NUL bytes included. */
#define RAW(s) s, sizeof(s) - 1

/* One row of the table: a name for the log, the bytes, the verdict. */
struct verdict_case {
    const char *name;
    const char *raw;
    size_t len;
    int expect; /* OK, MORE, or the error status */
};

#define H11 " HTTP/1.1\r\nHost: x\r\n" /* the end of a minimal 1.1 head */

static const struct verdict_case cases[] = {
    /* ---- valid requests ---- */
    {"simple GET", RAW("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), OK},
    {"HEAD", RAW("HEAD /a HTTP/1.1\r\nHost: x\r\n\r\n"), OK},
    {"POST with body", RAW("POST /echo" H11 "Content-Length: 3\r\n\r\nabc"),
     OK},
    {"PUT reported", RAW("PUT /a" H11 "\r\n"), OK},
    {"DELETE reported", RAW("DELETE /a" H11 "\r\n"), OK},
    {"TRACE reported", RAW("TRACE /a" H11 "\r\n"), OK},
    {"PATCH reported", RAW("PATCH /a" H11 "\r\n"), OK},
    {"CONNECT origin-form", RAW("CONNECT /a" H11 "\r\n"), OK},
    {"OPTIONS *", RAW("OPTIONS *" H11 "\r\n"), OK},
    {"OPTIONS path", RAW("OPTIONS /a" H11 "\r\n"), OK},
    {"HTTP/1.0 without Host", RAW("GET / HTTP/1.0\r\n\r\n"), OK},
    {"HTTP/1.0 with Host", RAW("GET / HTTP/1.0\r\nHost: x\r\n\r\n"), OK},
    {"bare LF everywhere", RAW("GET / HTTP/1.1\nHost: x\n\n"), OK},
    {"LF and CRLF mixed", RAW("GET / HTTP/1.1\r\nHost: x\n\r\n"), OK},
    {"one empty line first", RAW("\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"), OK},
    {"empty LF lines first", RAW("\n\n\nGET /" H11 "\r\n"), OK},
    {"absolute-form", RAW("GET http://example.com/a?b" H11 "\r\n"), OK},
    {"absolute-form HTTPS", RAW("GET HTTPS://example.com/a" H11 "\r\n"), OK},
    {"absolute-form no path", RAW("GET http://example.com" H11 "\r\n"), OK},
    {"absolute-form query only", RAW("GET http://h?q=1" H11 "\r\n"), OK},
    {"absolute-form port", RAW("GET http://h:8080/x" H11 "\r\n"), OK},
    {"query string", RAW("GET /a?b=c&d=%20" H11 "\r\n"), OK},
    {"percent-encoded path", RAW("GET /a%20b%2Fc" H11 "\r\n"), OK},
    {"pipe and braces in path", RAW("GET /a|b{c}^" H11 "\r\n"), OK},
    {"obs-text in value", RAW("GET /" H11 "X-Name: caf\xc3\xa9\r\n\r\n"), OK},
    {"tab inside value", RAW("GET /" H11 "X: a\tb  c\r\n\r\n"), OK},
    {"empty value", RAW("GET /" H11 "X:\r\n\r\n"), OK},
    {"blanks around value", RAW("GET /" H11 "X: \t v \t\r\n\r\n"), OK},
    {"empty Host", RAW("GET / HTTP/1.1\r\nHost:\r\n\r\n"), OK},
    {"Host with port", RAW("GET / HTTP/1.1\r\nHost: h:80\r\n\r\n"), OK},
    {"Host IPv6", RAW("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"), OK},
    {"Host IPv4", RAW("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), OK},
    {"Content-Length 0", RAW("POST /echo" H11 "Content-Length: 0\r\n\r\n"), OK},
    {"Content-Length zeros",
     RAW("POST /echo" H11 "Content-Length: 0007\r\n\r\n1234567"), OK},
    {"Content-Length 1 MiB",
     RAW("POST /echo" H11 "Content-Length: 1048576\r\n\r\n"), OK},
    {"Connection close", RAW("GET /" H11 "Connection: close\r\n\r\n"), OK},
    {"1.0 keep-alive", RAW("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"),
     OK},
    {"Connection list", RAW("GET /" H11 "Connection: a, , CLOSE\r\n\r\n"), OK},
    {"names any case",
     RAW("GET / HTTP/1.1\r\nhOsT: x\r\ncontent-LENGTH: 0\r\n\r\n"), OK},
    {"token symbols in name", RAW("GET /" H11 "X!#$%&'*+-.^_`|~9: v\r\n\r\n"),
     OK},
    {"Expect 100-continue",
     RAW("POST /echo" H11 "Expect: 100-continue\r\nContent-Length: 1\r\n\r\n"),
     OK},
    {"conditional headers",
     RAW("GET /" H11 "If-None-Match: \"x\"\r\nIf-Modified-Since: a\r\n\r\n"),
     OK},
    {"GET with a body", RAW("GET /" H11 "Content-Length: 2\r\n\r\nhi"), OK},

    /* ---- not complete yet ---- */
    {"nothing", "", 0, MORE},
    {"half a method", RAW("GE"), MORE},
    {"request line, no end", RAW("GET / HTTP/1.1"), MORE},
    {"request line and CR", RAW("GET / HTTP/1.1\r"), MORE},
    {"request line only", RAW("GET / HTTP/1.1\r\n"), MORE},
    {"half a header", RAW("GET / HTTP/1.1\r\nHo"), MORE},
    {"no blank line", RAW("GET / HTTP/1.1\r\nHost: x\r\n"), MORE},
    {"blank line half there", RAW("GET / HTTP/1.1\r\nHost: x\r\n\r"), MORE},
    {"only empty lines", RAW("\r\n\r\n\n"), MORE},
    {"a lone CR", RAW("\r"), MORE},
    {"partial obs-text value", RAW("GET /" H11 "X: caf\xc3"), MORE},

    /* ---- line endings and forbidden bytes ---- */
    {"bare CR in request line", RAW("GET /\rx HTTP/1.1\r\nHost: x\r\n\r\n"),
     400},
    {"CR CR LF", RAW("GET / HTTP/1.1\r\r\nHost: x\r\n\r\n"), 400},
    {"CR-only line ends", RAW("GET / HTTP/1.1\rHost: x\r\r"), 400},
    {"bare CR in value", RAW("GET /" H11 "X: a\rb\r\n\r\n"), 400},
    {"bare CR ends header", RAW("GET /" H11 "X: a\rY: b\r\n\r\n"), 400},
    {"bare CR in blank line", RAW("GET /" H11 "\rx\r\n\r\n"), 400},
    {"bare CR before request", RAW("\rGET / HTTP/1.1\r\nHost: x\r\n\r\n"), 400},
    {"NUL in method", RAW("G\0T / HTTP/1.1\r\nHost: x\r\n\r\n"), 400},
    {"NUL in target", RAW("GET /a\0b HTTP/1.1\r\nHost: x\r\n\r\n"), 400},
    {"NUL in version", RAW("GET / HTTP/1.1\0\r\nHost: x\r\n\r\n"), 400},
    {"NUL in header name", RAW("GET /" H11 "X\0: v\r\n\r\n"), 400},
    {"NUL in header value", RAW("GET /" H11 "X: a\0b\r\n\r\n"), 400},
    {"NUL in partial line", RAW("GET /a\0"), 400},
    {"NUL in partial header", RAW("GET /" H11 "X: \0"), 400},
    {"control char in value", RAW("GET /" H11 "X: a\x01z\r\n\r\n"), 400},
    {"DEL in value", RAW("GET /" H11 "X: a\x7fz\r\n\r\n"), 400},
    {"TLS ClientHello", RAW("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
     400},

    /* ---- Host ---- */
    {"1.1 without Host", RAW("GET / HTTP/1.1\r\nX: y\r\n\r\n"), 400},
    {"1.1 no headers", RAW("GET / HTTP/1.1\r\n\r\n"), 400},
    {"two Hosts", RAW("GET /" H11 "Host: x\r\n\r\n"), 400},
    {"two Hosts, differing", RAW("GET /" H11 "host: y\r\n\r\n"), 400},
    {"two Hosts in 1.0", RAW("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n"),
     400},
    {"Host with space", RAW("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400},
    {"Host with slash", RAW("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400},
    {"Host with userinfo", RAW("GET / HTTP/1.1\r\nHost: u@h\r\n\r\n"), 400},
    {"Host bad port", RAW("GET / HTTP/1.1\r\nHost: h:8o\r\n\r\n"), 400},
    {"Host open bracket", RAW("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"), 400},

    /* ---- header syntax ---- */
    {"space before colon", RAW("GET / HTTP/1.1\r\nHost : x\r\n\r\n"), 400},
    {"tab before colon", RAW("GET /" H11 "X\t: v\r\n\r\n"), 400},
    {"obs-fold", RAW("GET /" H11 "X: a\r\n b\r\n\r\n"), 400},
    {"obs-fold with tab", RAW("GET /" H11 "X: a\r\n\tb\r\n\r\n"), 400},
    {"blank first header", RAW("GET / HTTP/1.1\r\n Host: x\r\n\r\n"), 400},
    {"no colon", RAW("GET /" H11 "Xvalue\r\n\r\n"), 400},
    {"empty name", RAW("GET /" H11 ": v\r\n\r\n"), 400},
    {"space in name", RAW("GET /" H11 "X Y: v\r\n\r\n"), 400},
    {"separator in name", RAW("GET /" H11 "X(y): v\r\n\r\n"), 400},
    {"non-ASCII in name", RAW("GET /" H11 "X\xc3\xa9: v\r\n\r\n"), 400},

    /* ---- Content-Length and Transfer-Encoding ---- */
    {"CL negative", RAW("POST /echo" H11 "Content-Length: -1\r\n\r\n"), 400},
    {"CL hex", RAW("POST /echo" H11 "Content-Length: 0x10\r\n\r\n"), 400},
    {"CL plus", RAW("POST /echo" H11 "Content-Length: +5\r\n\r\n"), 400},
    {"CL space inside", RAW("POST /echo" H11 "Content-Length: 1 2\r\n\r\n"),
     400},
    {"CL empty", RAW("POST /echo" H11 "Content-Length:\r\n\r\n"), 400},
    {"CL decimal point", RAW("POST /echo" H11 "Content-Length: 1.0\r\n\r\n"),
     400},
    {"CL absurd",
     RAW("POST /echo" H11 "Content-Length: 99999999999999999999999\r\n\r\n"),
     400},
    {"CL one past int64",
     RAW("POST /echo" H11 "Content-Length: 9223372036854775808\r\n\r\n"), 400},
    {"CL int64 max",
     RAW("POST /echo" H11 "Content-Length: 9223372036854775807\r\n\r\n"), 413},
    {"CL 1 MiB + 1", RAW("POST /echo" H11 "Content-Length: 1048577\r\n\r\n"),
     413},
    {"CL twice, same",
     RAW("POST /echo" H11 "Content-Length: 1\r\nContent-Length: 1\r\n\r\nx"),
     400},
    {"CL twice, differing",
     RAW("POST /echo" H11 "Content-Length: 1\r\nContent-Length: 2\r\n\r\nxy"),
     400},
    {"CL list", RAW("POST /echo" H11 "Content-Length: 1, 1\r\n\r\nx"), 400},
    {"TE chunked", RAW("POST /echo" H11 "Transfer-Encoding: chunked\r\n\r\n"),
     501},
    {"TE gzip", RAW("POST /echo" H11 "Transfer-Encoding: gzip\r\n\r\n"), 501},
    {"TE and CL",
     RAW("POST /echo" H11
         "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"),
     400},
    {"CL and TE",
     RAW("POST /echo" H11
         "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
     400},

    /* ---- methods ---- */
    {"unknown method", RAW("BREW /pot" H11 "\r\n"), 501},
    {"lower-case method", RAW("get /" H11 "\r\n"), 501},
    {"overlong method",
     RAW("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
         " /" H11 "\r\n"),
     501},
    {"separator in method", RAW("GE(T /" H11 "\r\n"), 400},
    {"no method", RAW(" / HTTP/1.1\r\nHost: x\r\n\r\n"), 400},

    /* ---- request line shape and versions ---- */
    {"HTTP/0.9", RAW("GET /\r\n\r\n"), 400},
    {"HTTP/0.9, bare LF", RAW("GET /index.html\n"), 400},
    {"method alone", RAW("GET\r\n\r\n"), 400},
    {"two spaces", RAW("GET  / HTTP/1.1\r\nHost: x\r\n\r\n"), 400},
    {"trailing space", RAW("GET / HTTP/1.1 \r\nHost: x\r\n\r\n"), 400},
    {"tab separator", RAW("GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n"), 400},
    {"four parts", RAW("GET / x HTTP/1.1\r\nHost: x\r\n\r\n"), 400},
    {"HTTP/2.0", RAW("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 505},
    {"HTTP/1.2", RAW("GET / HTTP/1.2\r\nHost: x\r\n\r\n"), 505},
    {"HTTP/3.0", RAW("GET / HTTP/3.0\r\nHost: x\r\n\r\n"), 505},
    {"explicit HTTP/0.9", RAW("GET / HTTP/0.9\r\n\r\n"), 505},
    {"HTTP/2 preface", RAW("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 505},
    {"HTTP/1.10", RAW("GET / HTTP/1.10\r\nHost: x\r\n\r\n"), 400},
    {"HTTP/11.1", RAW("GET / HTTP/11.1\r\nHost: x\r\n\r\n"), 400},
    {"lower-case http/1.1", RAW("GET / http/1.1\r\nHost: x\r\n\r\n"), 400},
    {"mixed-case Http/1.1", RAW("GET / Http/1.1\r\nHost: x\r\n\r\n"), 400},
    {"HTTP/1", RAW("GET / HTTP/1\r\nHost: x\r\n\r\n"), 400},
    {"HTTP/1.x", RAW("GET / HTTP/1.x\r\nHost: x\r\n\r\n"), 400},
    {"no version after space", RAW("GET / \r\nHost: x\r\n\r\n"), 400},
    {"bad version beats 501", RAW("BREW / HTTP/1.x\r\n\r\n"), 400},
    {"505 beats 501", RAW("BREW / HTTP/2.0\r\n\r\n"), 505},

    /* ---- targets ---- */
    {"relative target", RAW("GET index.html" H11 "\r\n"), 400},
    {"authority-form", RAW("CONNECT example.com:443" H11 "\r\n"), 400},
    {"* with GET", RAW("GET *" H11 "\r\n"), 400},
    {"*/ with OPTIONS", RAW("OPTIONS */" H11 "\r\n"), 400},
    {"ftp scheme", RAW("GET ftp://h/x" H11 "\r\n"), 400},
    {"empty authority", RAW("GET http:///x" H11 "\r\n"), 400},
    {"scheme only", RAW("GET http://" H11 "\r\n"), 400},
    {"userinfo", RAW("GET http://u:p@h/x" H11 "\r\n"), 400},
    {"fragment", RAW("GET /a#b" H11 "\r\n"), 400},
    {"bad escape", RAW("GET /a%zz" H11 "\r\n"), 400},
    {"cut escape", RAW("GET /a%2" H11 "\r\n"), 400},
    {"escape at end", RAW("GET /a%" H11 "\r\n"), 400},
    {"non-ASCII target", RAW("GET /caf\xc3\xa9" H11 "\r\n"), 400},
    {"DEL in target", RAW("GET /a\x7f" H11 "\r\n"), 400},
    {"space in target", RAW("GET /a b" H11 "\r\n"), 400},
};

#define N_CASES (sizeof cases / sizeof cases[0])

/* For some rows, words the error's reason must contain: where the status
 * alone would not show which check refused the request. */
static const struct {
    const char *name, *why;
} reasons[] = {
    {"bare CR in request line", "bare CR"},
    {"CR CR LF", "bare CR"},
    {"bare CR in value", "bare CR"},
    {"bare CR ends header", "bare CR"},
    {"bare CR in blank line", "bare CR"},
    {"bare CR before request", "bare CR"},
    {"NUL in partial line", "invalid byte"},
    {"TLS ClientHello", "invalid byte"},
    {"1.1 without Host", "without Host"},
    {"two Hosts", "more than one Host"},
    {"space before colon", "and colon"},
    {"tab before colon", "and colon"},
    {"obs-fold", "folded"},
    {"obs-fold with tab", "folded"},
    {"blank first header", "folded"},
    {"no colon", "without a colon"},
    {"CL twice, same", "more than one Content-Length"},
    {"TE and CL", "both"},
    {"CL and TE", "both"},
    {"HTTP/0.9", "HTTP/0.9"},
    {"* with GET", "only for OPTIONS"},
};

/* The reason words expected for the row named NAME, or NULL. */
static const char *reason_for(const char *name)
{
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
        if (strcmp(reasons[i].name, name) == 0) {
            return reasons[i].why;
        }
    }
    return NULL;
}

/* A request parsed from a heap copy of exactly its bytes. */
struct parsed {
    char *buf;
    struct http_request req;
    int verdict; /* OK, MORE or the error status */
};

/* Parse LEN bytes of RAW into P (release it with unparse). */
static void parse(struct parsed *p, const char *raw, size_t len)
{
    p->buf = malloc(len > 0 ? len : 1);
    if (p->buf == NULL) {
        perror("malloc");
        exit(1);
    }
    memcpy(p->buf, raw, len);
    enum http_parse_result r = http_parse_request(p->buf, len, &p->req);
    p->verdict = r == HTTP_PARSE_OK     ? OK
                 : r == HTTP_PARSE_MORE ? MORE
                                        : p->req.status;
}

static void unparse(struct parsed *p)
{
    free(p->buf);
    p->buf = NULL;
}

/* Every row of the table gets its verdict; an error has a reason. */
static void test_table(void)
{
    size_t with_reason = 0;
    for (size_t i = 0; i < N_CASES; i++) {
        with_reason += reason_for(cases[i].name) != NULL;
        struct parsed p;
        parse(&p, cases[i].raw, cases[i].len);
        CHECK_INT(p.verdict, cases[i].expect);
        if (p.verdict != cases[i].expect) {
            fprintf(stderr, "  ^ case \"%s\" (%s)\n", cases[i].name,
                    p.req.error != NULL ? p.req.error : "no error");
        }
        if (p.verdict != OK && p.verdict != MORE) {
            CHECK(p.req.error != NULL);
            CHECK(!p.req.keep_alive);
        }
        const char *why = reason_for(cases[i].name);
        if (why != NULL) {
            CHECK(p.req.error != NULL && strstr(p.req.error, why) != NULL);
            if (p.req.error == NULL || !strstr(p.req.error, why)) {
                fprintf(stderr, "  ^ case \"%s\": \"%s\"\n", cases[i].name,
                        p.req.error != NULL ? p.req.error : "no error");
            }
        }
        unparse(&p);
    }
    /* Every reason row names a row of the table. */
    CHECK_INT(with_reason, sizeof reasons / sizeof reasons[0]);
}

/* Parse the string RAW, which must be a complete head. */
static void parse_ok(struct parsed *p, const char *raw)
{
    parse(p, raw, strlen(raw));
    CHECK_INT(p->verdict, OK);
    if (p->verdict != OK) {
        fprintf(stderr, "  ^ %s\n", p->req.error ? p->req.error : "MORE");
    }
}

/* The fields of a plain GET, and of a POST with a body. */
static void test_fields_basic(void)
{
    struct parsed p;
    const char *get = "GET /a/b?x=1&y HTTP/1.1\r\nHost: example.com:8080\r\n"
                      "User-Agent: test\r\nAccept: */*\r\n\r\n";
    parse_ok(&p, get);
    CHECK_INT(p.req.method, HTTP_GET);
    CHECK_SLICE(p.req.method_name, "GET");
    CHECK_SLICE(p.req.target, "/a/b?x=1&y");
    CHECK_SLICE(p.req.path, "/a/b");
    CHECK_SLICE(p.req.query, "x=1&y");
    CHECK_SLICE(p.req.host, "example.com:8080");
    CHECK_INT(p.req.minor_version, 1);
    CHECK(p.req.keep_alive);
    CHECK(!p.req.expect_continue);
    CHECK_INT(p.req.content_length, 0);
    CHECK_INT(p.req.head_len, strlen(get));
    CHECK_INT(p.req.header_count, 3);
    CHECK_SLICE(p.req.headers[1].name, "User-Agent");
    CHECK_SLICE(p.req.headers[1].value, "test");
    CHECK(p.req.if_modified_since.ptr == NULL);
    CHECK(p.req.if_none_match.ptr == NULL);
    const struct http_header *h = http_find_header(&p.req, "accept");
    CHECK(h != NULL && slice_eq(h->value, "*/*"));
    CHECK(http_find_header(&p.req, "cookie") == NULL);
    unparse(&p);

    const char *post = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5"
                       "\r\nExpect: 100-Continue\r\n\r\nhello";
    parse_ok(&p, post);
    CHECK_INT(p.req.method, HTTP_POST);
    CHECK_INT(p.req.content_length, 5);
    CHECK_INT(p.req.head_len, strlen(post) - 5);
    CHECK_INT(http_request_len(&p.req), strlen(post));
    CHECK(p.req.expect_continue);
    CHECK(p.req.query.ptr == NULL);
    unparse(&p);
}

/* Keep-alive by version and Connection; the If-* and Host slices. */
static void test_fields_connection(void)
{
    static const struct {
        const char *raw;
        bool keep_alive;
    } rows[] = {
        {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", true},
        {"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, CLOSE\r\n\r\n",
         false},
        {"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n"
         "Connection: close\r\n\r\n",
         false},
        {"GET / HTTP/1.1\r\nHost: x\r\nConnection: closed\r\n\r\n", true},
        {"GET / HTTP/1.0\r\n\r\n", false},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\nConnection: x ,Keep-Alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct parsed p;
        parse_ok(&p, rows[i].raw);
        CHECK_INT(p.req.keep_alive, rows[i].keep_alive);
        unparse(&p);
    }

    struct parsed p;
    parse_ok(&p, "GET / HTTP/1.0\r\nExpect: 100-continue\r\n"
                 "If-None-Match: W/\"a\", \"b\"\r\nIf-None-Match: \"c\"\r\n"
                 "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n");
    CHECK_INT(p.req.minor_version, 0);
    CHECK(!p.req.expect_continue); /* ignored in HTTP/1.0 */
    CHECK(p.req.host.ptr == NULL);
    CHECK_SLICE(p.req.if_none_match, "W/\"a\", \"b\"");
    CHECK_SLICE(p.req.if_modified_since, "Sun, 06 Nov 1994 08:49:37 GMT");
    unparse(&p);
}

/* Absolute-form and "*" targets, and values with odd blanks. */
static void test_fields_targets(void)
{
    struct parsed p;
    parse_ok(&p, "GET http://Example.COM:81/p/q?r HTTP/1.1\r\nHost: other"
                 "\r\n\r\n");
    CHECK_SLICE(p.req.path, "/p/q");
    CHECK_SLICE(p.req.query, "r");
    CHECK_SLICE(p.req.host, "Example.COM:81"); /* RFC 9112 3.2.2 */
    unparse(&p);

    parse_ok(&p, "GET http://h HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK_SLICE(p.req.path, "/");
    CHECK(p.req.query.ptr == NULL);
    unparse(&p);

    parse_ok(&p, "GET https://h?a=b HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK_SLICE(p.req.path, "/");
    CHECK_SLICE(p.req.query, "a=b");
    unparse(&p);

    parse_ok(&p, "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK_INT(p.req.method, HTTP_OPTIONS);
    CHECK_SLICE(p.req.path, "*");
    unparse(&p);

    parse_ok(&p, "GET /? HTTP/1.1\r\nHost: h\r\nX-A: \t spaced  out \t\r\n"
                 "X-B:\r\n\r\n");
    CHECK_SLICE(p.req.query, "");
    CHECK_SLICE(p.req.headers[1].value, "spaced  out");
    CHECK_INT(p.req.headers[2].value.len, 0);
    unparse(&p);

    const char *del = "\r\n\nDELETE /x HTTP/1.1\nHost: h\n\n";
    parse_ok(&p, del);
    CHECK_INT(p.req.method, HTTP_DELETE);
    CHECK_SLICE(p.req.method_name, "DELETE");
    CHECK_INT(p.req.head_len, strlen(del));
    unparse(&p);
}

/* A request whose request line is LINE_LEN bytes (method and version
 * included), followed by HEADERS. malloc'd. */
static char *long_request(size_t line_len, const char *headers, bool finish)
{
    size_t hl = strlen(headers);
    char *s = malloc(line_len + hl + 3);
    if (s == NULL) {
        perror("malloc");
        exit(1);
    }
    memcpy(s, "GET /", 5);
    memset(s + 5, 'a', line_len - 5 - 9);
    memcpy(s + line_len - 9, " HTTP/1.1", 9);
    size_t n = line_len;
    if (finish) {
        memcpy(s + n, "\r\n", 2);
        memcpy(s + n + 2, headers, hl);
        n += 2 + hl;
    }
    s[n] = '\0';
    return s;
}

/* The request-line limit, 8 KiB: 414 from one byte over, complete or not;
 * empty lines before the request line count towards it. */
static void test_request_line_limit(void)
{
    struct parsed p;
    char *s = long_request(HTTP_MAX_REQUEST_LINE, "Host: x\r\n\r\n", true);
    parse(&p, s, strlen(s));
    CHECK_INT(p.verdict, OK);
    CHECK_INT(p.req.path.len, HTTP_MAX_REQUEST_LINE - 4 - 9);
    unparse(&p);
    free(s);

    s = long_request(HTTP_MAX_REQUEST_LINE + 1, "Host: x\r\n\r\n", true);
    parse(&p, s, strlen(s));
    CHECK_INT(p.verdict, 414);
    unparse(&p);
    free(s);

    /* Unfinished: a line already over the limit cannot become valid. */
    s = long_request(HTTP_MAX_REQUEST_LINE, "", false);
    parse(&p, s, strlen(s));
    CHECK_INT(p.verdict, MORE);
    unparse(&p);
    free(s);
    s = long_request(HTTP_MAX_REQUEST_LINE + 1, "", false);
    parse(&p, s, strlen(s));
    CHECK_INT(p.verdict, 414);
    unparse(&p);
    free(s);

    size_t blank = HTTP_MAX_REQUEST_LINE + 2;
    char *empties = malloc(blank);
    memset(empties, '\n', blank);
    parse(&p, empties, blank);
    CHECK_INT(p.verdict, 414);
    unparse(&p);
    free(empties);
}

/* Append to S (room for it is the caller's) the header line that makes
 * the header block exactly BLOCK bytes with the blank line, then it. */
static size_t fill_block(char *s, size_t block)
{
    /* "X: " + value + "\r\n" + "\r\n" == block */
    size_t value = block - 3 - 2 - 2;
    memcpy(s, "X: ", 3);
    memset(s + 3, 'v', value);
    memcpy(s + 3 + value, "\r\n\r\n", 4);
    return block;
}

/* The header-block limit, 16 KiB, and the header-count limit, 64. */
static void test_header_limits(void)
{
    const char *start = "GET / HTTP/1.1\r\n";
    size_t sl = strlen(start), hl = strlen("Host: x\r\n");
    char *s = malloc(sl + HTTP_MAX_HEADER_BLOCK + 16);
    struct parsed p;
    for (int over = 0; over <= 1; over++) {
        memcpy(s, start, sl);
        memcpy(s + sl, "Host: x\r\n", hl);
        size_t n =
            sl + hl +
            fill_block(s + sl + hl, HTTP_MAX_HEADER_BLOCK - hl + (size_t)over);
        parse(&p, s, n);
        CHECK_INT(p.verdict, over ? 431 : OK);
        unparse(&p);
        /* The blank line not complete: at most the limit so far. */
        parse(&p, s, n - 1);
        CHECK_INT(p.verdict, MORE);
        unparse(&p);
    }
    /* A header line that goes past the limit before it ends. */
    memcpy(s, start, sl);
    memcpy(s + sl, "Host: x\r\nX: ", hl + 3);
    memset(s + sl + hl + 3, 'v', HTTP_MAX_HEADER_BLOCK - hl - 3 + 1);
    parse(&p, s, sl + HTTP_MAX_HEADER_BLOCK);
    CHECK_INT(p.verdict, MORE);
    unparse(&p);
    parse(&p, s, sl + HTTP_MAX_HEADER_BLOCK + 1);
    CHECK_INT(p.verdict, 431);
    unparse(&p);
    free(s);

    char many[HTTP_MAX_HEADERS * 16 + 64];
    for (int extra = 0; extra <= 1; extra++) {
        size_t n = (size_t)snprintf(many, sizeof many, "%s", start);
        n += (size_t)snprintf(many + n, sizeof many - n, "Host: x\r\n");
        for (int i = 1; i < HTTP_MAX_HEADERS + extra; i++) {
            n += (size_t)snprintf(many + n, sizeof many - n, "X%d: y\r\n", i);
        }
        n += (size_t)snprintf(many + n, sizeof many - n, "\r\n");
        parse(&p, many, n);
        CHECK_INT(p.verdict, extra ? 431 : OK);
        CHECK_INT(p.req.header_count, HTTP_MAX_HEADERS);
        unparse(&p);
    }
}

/* Given HTTP_MAX_HEAD bytes, the parser always decides. */
static void test_max_head_decides(void)
{
    char *s = malloc(HTTP_MAX_HEAD);
    const char *start = "GET / HTTP/1.1\r\nHost: x\r\nX: ";
    struct parsed p;
    memset(s, 'a', HTTP_MAX_HEAD);
    parse(&p, s, HTTP_MAX_HEAD);
    CHECK_INT(p.verdict, 414); /* all request line */
    unparse(&p);
    memcpy(s, start, strlen(start));
    parse(&p, s, HTTP_MAX_HEAD);
    CHECK_INT(p.verdict, 431); /* a header line that never ends */
    unparse(&p);
    /* The longest request line, then the longest header line. */
    char *l = long_request(HTTP_MAX_REQUEST_LINE, "", true);
    memcpy(s, l, HTTP_MAX_REQUEST_LINE + 2);
    memcpy(s + HTTP_MAX_REQUEST_LINE + 2, "X: ", 3);
    memset(s + HTTP_MAX_REQUEST_LINE + 5, 'b',
           HTTP_MAX_HEAD - HTTP_MAX_REQUEST_LINE - 5);
    parse(&p, s, HTTP_MAX_HEAD - 1);
    CHECK_INT(p.verdict, MORE);
    unparse(&p);
    parse(&p, s, HTTP_MAX_HEAD);
    CHECK_INT(p.verdict, 431);
    unparse(&p);
    free(l);
    free(s);
}

/* Three requests in one buffer: parse, consume, parse the next. */
static void test_pipelined(void)
{
    const char *all = "GET /one HTTP/1.1\r\nHost: x\r\n\r\n"
                      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4"
                      "\r\n\r\nbodyGET /three HTTP/1.1\r\nHost: x\r\n"
                      "Connection: close\r\n\r\nGET /fo";
    static const char *const paths[] = {"/one", "/echo", "/three"};
    struct parsed p;
    parse(&p, all, strlen(all));
    size_t at = 0, len = strlen(all);
    for (int i = 0; i < 3; i++) {
        struct http_request req;
        CHECK_INT(http_parse_request(p.buf + at, len - at, &req),
                  HTTP_PARSE_OK);
        CHECK_SLICE(req.path, paths[i]);
        CHECK_INT(req.keep_alive, i < 2);
        if (i == 1) {
            CHECK_INT(req.content_length, 4);
            CHECK(memcmp(p.buf + at + req.head_len, "body", 4) == 0);
        }
        CHECK(len - at >= http_request_len(&req));
        at += http_request_len(&req);
    }
    struct http_request rest;
    CHECK_INT(http_parse_request(p.buf + at, len - at, &rest), HTTP_PARSE_MORE);
    unparse(&p);
}

/* Deliver RAW one byte more at a time: "need more" until the last byte,
 * then the same verdict and fields as all at once. */
static void byte_at_a_time(const char *raw, int expect)
{
    size_t len = strlen(raw);
    struct parsed whole, p;
    parse(&whole, raw, len);
    CHECK_INT(whole.verdict, expect);
    for (size_t n = 0; n < len; n++) {
        parse(&p, raw, n);
        CHECK_INT(p.verdict, MORE);
        if (p.verdict != MORE) {
            fprintf(stderr, "  ^ after %zu of %zu bytes of %s\n", n, len, raw);
            unparse(&p);
            break;
        }
        unparse(&p);
    }
    parse(&p, raw, len);
    CHECK_INT(p.verdict, expect);
    CHECK_INT(p.req.head_len, whole.req.head_len);
    CHECK_INT(p.req.header_count, whole.req.header_count);
    CHECK_INT(p.req.method, whole.req.method);
    CHECK_INT(p.req.path.len, whole.req.path.len);
    CHECK_INT(p.req.keep_alive, whole.req.keep_alive);
    CHECK_INT(p.req.content_length, whole.req.content_length);
    CHECK_INT(p.req.status, whole.req.status);
    unparse(&p);
    unparse(&whole);
}

static void test_byte_at_a_time(void)
{
    byte_at_a_time("GET /a?b HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n", OK);
    byte_at_a_time("\r\n\nHEAD / HTTP/1.0\nConnection: keep-alive\n\n", OK);
    byte_at_a_time("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3"
                   "\r\n\r\n",
                   OK);
    byte_at_a_time("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", OK);
    /* Errors that only the whole head reveals come at the last byte. */
    byte_at_a_time("GET / HTTP/1.1\r\n\r\n", 400);
    byte_at_a_time("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000"
                   "\r\n\r\n",
                   413);
    byte_at_a_time("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
                   "\r\n\r\n",
                   501);
}

/* Errors in a line are reported as soon as its last byte arrives, and a
 * forbidden byte as soon as it arrives: no waiting for the whole head. */
static void test_early_errors(void)
{
    static const struct {
        const char *raw;
        int expect;
    } rows[] = {
        {"GET / HTTP/2.0\r\n", 505},
        {"BREW / HTTP/1.1\r\n", 501},
        {"GET / HTTP/1.1\r\nHost : x\r\n", 400},
        {"GET / HTTP/1.1\r\nX: a\r\n b", 400},
        {"GET /\x01", 400},
        {"GET / HTTP/1.1\r\nX: \x02", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n", 400},
        {"POST / HTTP/1.1\r\nContent-Length: -1\r\n", 400},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct parsed p;
        parse(&p, rows[i].raw, strlen(rows[i].raw));
        CHECK_INT(p.verdict, rows[i].expect);
        unparse(&p);
    }
}

/* Methods by name, for logs. */
static void test_method_names(void)
{
    CHECK_STR(http_method_name(HTTP_GET), "GET");
    CHECK_STR(http_method_name(HTTP_PATCH), "PATCH");
    CHECK_STR(http_method_name(HTTP_METHOD_UNKNOWN), "?");
    CHECK_STR(http_method_name((enum http_method)99), "?");
}

int main(void)
{
    test_table();
    test_fields_basic();
    test_fields_connection();
    test_fields_targets();
    test_request_line_limit();
    test_header_limits();
    test_max_head_decides();
    test_pipelined();
    test_byte_at_a_time();
    test_early_errors();
    test_method_names();
    printf("%zu table cases\n", N_CASES);
    return check_exit_status("test_http_parser");
}
