/*
 * fuzz_http_parser.c - the libFuzzer target for the HTTP request parser.
 *
 * Build with clang and -DTOUR_FUZZ=ON, then run it over the seed corpus:
 *   build/tests/http/fuzz_http_parser -dict=tests/http/http.dict \
 *       /tmp/new-corpus tests/http/corpus
 * The same entry point runs over every corpus file (and every prefix of
 * it) in the normal test suite, under gcc too: unit.http_parser_corpus
 * (tests/fuzz_replay.c).
 *
 * Besides "no crash, no read outside the input" (AddressSanitizer), it
 * checks what the parser promises: every slice lies inside the input; a
 * complete head parses the same from exactly its own bytes and is "need
 * more" one byte short; errors carry one of the documented statuses;
 * HTTP_MAX_HEAD bytes always get a verdict. Then it feeds what it parsed
 * to the path cleaner, the date parser and the entity-tag matcher, and
 * goes on to the next pipelined request.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stop with a message if a promise is broken (abort: the fuzzer and the
 * replay test both report it as a crash with the input that caused it). */
static void require(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_http_parser: broken promise: %s\n", what);
        abort();
    }
}

/* Whether slice S lies within BUF[0..LEN), compared as addresses. */
static bool inside(struct http_slice s, const char *buf, size_t len)
{
    if (s.ptr == NULL) {
        return s.len == 0;
    }
    uintptr_t p = (uintptr_t)s.ptr, b = (uintptr_t)buf;
    return p >= b && p - b <= len && s.len <= len - (p - b);
}

/* The promises about a complete head of LEN bytes at BUF. */
static void check_ok(const char *buf, const struct http_request *req)
{
    size_t n = req->head_len;
    require(n > 0, "empty head");
    require(req->method != HTTP_METHOD_UNKNOWN, "unknown method accepted");
    require(req->minor_version == 0 || req->minor_version == 1, "version");
    require(req->content_length <= HTTP_MAX_BODY, "body limit");
    require(req->header_count <= HTTP_MAX_HEADERS, "header limit");
    require(inside(req->method_name, buf, n) && inside(req->target, buf, n),
            "request line slices");
    require(inside(req->path, buf, n) ||
                (req->path.len == 1 && req->path.ptr[0] == '/'),
            "path slice");
    require(req->path.len > 0 &&
                (req->path.ptr[0] == '/' ||
                 (req->path.len == 1 && req->path.ptr[0] == '*' &&
                  req->method == HTTP_OPTIONS)),
            "path form");
    require(inside(req->query, buf, n) && inside(req->host, buf, n) &&
                inside(req->if_modified_since, buf, n) &&
                inside(req->if_none_match, buf, n),
            "field slices");
    for (size_t i = 0; i < req->header_count; i++) {
        require(inside(req->headers[i].name, buf, n) &&
                    inside(req->headers[i].value, buf, n),
                "header slices");
    }
}

/* Parse BUF[0..LEN) again and compare with the first verdict. */
static void check_again(const char *buf, const struct http_request *req)
{
    struct http_request again;
    require(http_parse_request(buf, req->head_len, &again) == HTTP_PARSE_OK,
            "head alone does not parse");
    require(again.head_len == req->head_len &&
                again.header_count == req->header_count &&
                again.content_length == req->content_length &&
                again.keep_alive == req->keep_alive,
            "head alone parses differently");
    require(http_parse_request(buf, req->head_len - 1, &again) ==
                HTTP_PARSE_MORE,
            "head minus one byte is not \"need more\"");
}

/* Feed the parsed fields to the other pure functions. */
static void exercise_helpers(const struct http_request *req)
{
    char clean[512];
    if (req->path.ptr[0] == '/' &&
        http_clean_path(req->path, clean, sizeof clean) == 200) {
        require(clean[0] != '/' && strstr(clean, "//") == NULL,
                "clean path not clean");
        require(strcmp(clean, "..") != 0 && strncmp(clean, "../", 3) != 0 &&
                    strstr(clean, "/../") == NULL &&
                    strchr(clean, '\\') == NULL,
                "clean path climbs");
        size_t k = strlen(clean);
        require(k < 3 || strcmp(clean + k - 3, "/..") != 0,
                "clean path ends climbing");
    }
    time_t t = 0;
    if (http_parse_date(req->if_modified_since, 1735689600, &t) == 0) {
        char date[HTTP_DATE_LEN];
        time_t back = 0;
        if (http_format_date(t, date) > 0) {
            require(http_parse_date((struct http_slice){date, strlen(date)},
                                    1735689600, &back) == 0 &&
                        back == t,
                    "date round trip");
        }
    }
    (void)http_etag_matches(req->if_none_match, "\"5f5e100-6\"");
    (void)http_not_modified(req, "W/\"1-2\"", 0, 1735689600);
}

/* Parse one request at BUF; returns the bytes it used, or 0 to stop. */
static size_t one_request(const char *buf, size_t len)
{
    struct http_request req;
    enum http_parse_result r = http_parse_request(buf, len, &req);
    if (r == HTTP_PARSE_MORE) {
        require(len < HTTP_MAX_HEAD, "no verdict on HTTP_MAX_HEAD bytes");
        return 0;
    }
    if (r == HTTP_PARSE_ERROR) {
        int s = req.status;
        require(s == 400 || s == 413 || s == 414 || s == 431 || s == 501 ||
                    s == 505,
                "undocumented error status");
        require(req.error != NULL && !req.keep_alive, "error details");
        return 0;
    }
    require(req.head_len <= len, "head longer than the input");
    check_ok(buf, &req);
    check_again(buf, &req);
    exercise_helpers(&req);
    size_t total = http_request_len(&req);
    return total <= len ? total : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    size_t all = size;
    /* Pipelining: each request consumed, the next parsed from there. */
    for (int i = 0; i < 16 && size > 0; i++) {
        size_t used = one_request(buf, size);
        if (used == 0) {
            break;
        }
        buf += used;
        size -= used;
    }
    /* The date parser on raw bytes too: it must stay inside them. */
    time_t t;
    (void)http_parse_date(
        (struct http_slice){(const char *)data, all < 40 ? all : 40},
        1735689600, &t);
    return 0;
}
