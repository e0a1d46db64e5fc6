/*
 * test_http_cache.c - http_plan_cached against a real tree that changes
 * under it: its answers are http_plan_request's, byte for byte, except
 * for HTTP_CACHE_TTL after a change (a file rewritten, replaced by a
 * symlink out, removed, a directory above it swapped for a symlink out),
 * when the cached answer still goes out whole; never the outside file.
 *
 * The tree (BASE a fresh mkdtemp directory, removed afterwards):
 *   BASE/root/c.txt  big.bin (20 KiB)  dir/index.html  mov/f.txt
 *   BASE/outside/secret.txt
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "http.h"
#include "http_test.h"

#define BIG_SIZE 20480 /* above HTTP_CACHE_FILE_MAX: sent from the file */

/* The test's paths below BASE, in the order they are made. */
static const char *const dirs[] = {"root", "root/dir", "root/mov", "outside"};
static const char *const files[] = {"root/c.txt", "root/dir/index.html",
                                    "root/mov/f.txt", "outside/secret.txt"};

/* Plan RAW (a complete request) with CACHE, or without it if NULL. */
static void plan(struct http_plan *p, const struct http_site *site,
                 struct http_cache *cache, const char *raw, time_t now)
{
    struct http_request req;
    CHECK_INT(http_parse_request(raw, strlen(raw), &req), HTTP_PARSE_OK);
    http_plan_cached(p, &req, raw, site, cache, now);
}

/* The body PLAN sends (from memory or from its file), NUL-terminated in
 * OUT (SIZE bytes). */
static const char *body_of(const struct http_plan *p, char *out, size_t size)
{
    size_t n = 0;
    if (p->body != NULL) {
        n = p->body_len < size - 1 ? p->body_len : size - 1;
        memcpy(out, p->body, n);
    } else if (p->fd >= 0) {
        ssize_t got = pread(p->fd, out, size - 1, 0);
        n = got > 0 ? (size_t)got : 0;
    }
    out[n] = '\0';
    return out;
}

/* CHECK that RAW gets the same answer with CACHE as without, and STATUS;
 * return where the cached body came from: 'm' memory, 'f' file, '-'. */
static char same_answer(const struct http_site *site, struct http_cache *cache,
                        const char *raw, time_t now, int status)
{
    struct http_plan a, b;
    char body_a[BIG_SIZE + 1], body_b[BIG_SIZE + 1];
    plan(&a, site, cache, raw, now);
    plan(&b, site, NULL, raw, now);
    CHECK_INT(a.status, status);
    CHECK_INT(b.status, status);
    CHECK_STR(a.head, b.head);
    CHECK_STR(body_of(&a, body_a, sizeof body_a),
              body_of(&b, body_b, sizeof body_b));
    char from = a.fd >= 0 ? 'f' : a.body != NULL ? 'm' : '-';
    http_plan_free(&a);
    http_plan_free(&b);
    return from;
}

/* Rewrite PATH with CONTENT (the same file, new bytes). */
static void rewrite(const char *base, const char *path, const char *content)
{
    char full[4096];
    FILE *f = fopen(join(full, sizeof full, base, path), "w");
    CHECK(f != NULL);
    if (f != NULL) {
        fputs(content, f);
        fclose(f);
    }
}

/* CHECK that the cached answer to RAW at NOW is still the old one: STATUS
 * and BODY, from memory. */
static void old_answer(const struct http_site *site, struct http_cache *cache,
                       const char *raw, time_t now, int status,
                       const char *body)
{
    struct http_plan p;
    char got[64];
    plan(&p, site, cache, raw, now);
    CHECK_INT(p.status, status);
    CHECK(p.fd < 0);
    CHECK_STR(body_of(&p, got, sizeof got), body);
    http_plan_free(&p);
}

static void test_cache(const char *base, const struct http_site *site)
{
    const char *get_c = "GET /c.txt HTTP/1.1\r\nHost: x\r\n\r\n";
    struct http_cache *cache = http_cache_new();
    CHECK(cache != NULL);
    time_t now = time(NULL);

    /* A small file: from memory, the same head and bytes as uncached. */
    CHECK_INT(same_answer(site, cache, get_c, now, 200), 'm');
    CHECK_INT(same_answer(site, cache, get_c, now, 200), 'm');
    CHECK_INT(same_answer(site, cache,
                          "HEAD /c.txt HTTP/1.1\r\nHost: x\r\n\r\n", now, 200),
              '-');
    CHECK_INT(same_answer(site, cache, "GET /c.txt HTTP/1.0\r\n\r\n", now, 200),
              'm');
    /* A conditional GET of the cached file: 304, no body. */
    char raw[256];
    struct http_cache_entry *e =
        http_cache_find(cache, slice_of("/c.txt"), now);
    CHECK(e != NULL);
    if (e != NULL) {
        snprintf(raw, sizeof raw,
                 "GET /c.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: %s\r\n\r\n",
                 e->etag);
        CHECK_INT(same_answer(site, cache, raw, now, 304), '-');
    }

    /* Rewritten: the old bytes, whole, for the rest of the TTL; then the
     * new ones. */
    rewrite(base, "root/c.txt", "CCCCCC\n");
    old_answer(site, cache, get_c, now, 200, "one\n");
    now += HTTP_CACHE_TTL;
    CHECK_INT(same_answer(site, cache, get_c, now, 200), 'm');

    /* Replaced by a symlink out of the root: the old bytes (never the
     * secret), then 403. */
    char a[4096], b[4096];
    join(a, sizeof a, base, "root/c.txt");
    CHECK_INT(unlink(a), 0);
    CHECK_INT(symlink("../outside/secret.txt", a), 0);
    old_answer(site, cache, get_c, now, 200, "CCCCCC\n");
    now += HTTP_CACHE_TTL;
    CHECK_INT(same_answer(site, cache, get_c, now, 403), 'm');
    /* Gone: 404. */
    CHECK_INT(unlink(a), 0);
    CHECK_INT(same_answer(site, cache, get_c, now, 404), 'm');

    /* A directory's index.html, cached under the directory's URL; once
     * it is gone, the listing. */
    const char *get_dir = "GET /dir/ HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK_INT(same_answer(site, cache, get_dir, now, 200), 'm');
    CHECK(http_cache_find(cache, slice_of("/dir/"), now) != NULL);
    CHECK_INT(same_answer(site, cache, get_dir, now, 200), 'm');
    CHECK_INT(unlink(join(a, sizeof a, base, "root/dir/index.html")), 0);
    now += HTTP_CACHE_TTL;
    CHECK_INT(same_answer(site, cache, get_dir, now, 200), 'm');
    CHECK(http_cache_find(cache, slice_of("/dir/"), now) == NULL);

    /* A large file: sent from a copy of the descriptor the cache keeps,
     * which is checked with fstat each time. Moved out of the root (a
     * rename changes its ctime) and a symlink left in its place: 403 at
     * once. */
    const char *get_big = "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK_INT(same_answer(site, cache, get_big, now, 200), 'f');
    CHECK(http_cache_find(cache, slice_of("/big.bin"), now) != NULL);
    CHECK_INT(same_answer(site, cache, get_big, now, 200), 'f');
    join(a, sizeof a, base, "root/big.bin");
    join(b, sizeof b, base, "outside/big.bin");
    CHECK_INT(rename(a, b), 0);
    CHECK_INT(symlink("../outside/big.bin", a), 0);
    CHECK_INT(same_answer(site, cache, get_big, now, 403), 'm');
    CHECK_INT(unlink(a), 0);
    CHECK_INT(rename(b, a), 0);
    /* Rewritten in place: the new bytes at once. */
    CHECK_INT(same_answer(site, cache, get_big, now, 200), 'f');
    rewrite(base, "root/big.bin", "short\n");
    CHECK_INT(same_answer(site, cache, get_big, now, 200), 'm');

    /* A directory above the file moved out of the root, a symlink left in
     * its place: trusted for the rest of the TTL, then 403. */
    const char *get_f = "GET /mov/f.txt HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK_INT(same_answer(site, cache, get_f, now, 200), 'm');
    join(a, sizeof a, base, "root/mov");
    join(b, sizeof b, base, "outside/mov");
    CHECK_INT(rename(a, b), 0);
    CHECK_INT(symlink("../outside/mov", a), 0);
    old_answer(site, cache, get_f, now, 200, "one\n");
    now += HTTP_CACHE_TTL;
    CHECK_INT(same_answer(site, cache, get_f, now, 403), 'm');
    CHECK(http_cache_find(cache, slice_of("/mov/f.txt"), now) == NULL);
    CHECK_INT(unlink(a), 0);
    CHECK_INT(rename(b, a), 0);

    http_cache_free(cache);
}

/* Make the tree below BASE (a new temporary directory). */
static bool make_cache_tree(char *base)
{
    char path[4096];
    join(base, 4096, "/tmp", "tour-cache-XXXXXX");
    if (mkdtemp(base) == NULL) {
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        ok = ok && mkdir(join(path, sizeof path, base, dirs[i]), 0755) == 0;
    }
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        ok = ok && write_file(join(path, sizeof path, base, files[i]), "one\n");
    }
    char *big = malloc(BIG_SIZE + 1);
    ok = ok && big != NULL;
    if (big != NULL) {
        memset(big, 'x', BIG_SIZE);
        big[BIG_SIZE] = '\0';
        ok = ok &&
             write_file(join(path, sizeof path, base, "root/big.bin"), big);
    }
    free(big);
    return ok;
}

/* Remove whatever of the tree is left. */
static void remove_cache_tree(const char *base)
{
    char path[4096];
    const char *extra[] = {"root/big.bin", "outside/big.bin",
                           "outside/mov/f.txt"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        unlink(join(path, sizeof path, base, files[i]));
    }
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
        unlink(join(path, sizeof path, base, extra[i]));
    }
    rmdir(join(path, sizeof path, base, "outside/mov"));
    for (size_t i = sizeof dirs / sizeof dirs[0]; i-- > 0;) {
        rmdir(join(path, sizeof path, base, dirs[i]));
    }
    rmdir(base);
}

int main(void)
{
    char base[4096], root[4200];
    if (!make_cache_tree(base)) {
        perror("cannot make the test tree");
        remove_cache_tree(base);
        return 1;
    }
    struct http_site site;
    CHECK_INT(http_site_init(&site, join(root, sizeof root, base, "root"),
                             "test-server"),
              0);
    test_cache(base, &site);
    remove_cache_tree(base);
    return check_exit_status("test_http_cache");
}
